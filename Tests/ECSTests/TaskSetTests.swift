import AgentProtocol
@testable import ECS
import ECSShapes
import Foundation
import StevedoreCore
import StevedoreTestSupport
import Testing

/// Services with the EXTERNAL deployment controller: task sets created, scaled, promoted and
/// deleted, what the scheduler does with each, and the refusals with AWS's words.
struct TaskSetTests {
    /// An EXTERNAL service `svc` with `desired` tasks on one instance, task definitions web:1 and
    /// web2:1 registered.
    func externalFixture(desired: Int = 4) throws -> SchedulerFixture {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        try fixture.register("web2")
        _ = try fixture.apply { ecs, now, random, changes in
            try ecs.createService(
                CreateServiceRequest(
                    cluster: "c", serviceName: "svc", desiredCount: desired, deploymentController: DeploymentController(type: .external)),
                now: now, using: &random, changes: &changes)
        }
        return fixture
    }

    func createSet(
        _ fixture: inout SchedulerFixture, _ definition: String = "web", scale: Double? = 100, token: String? = nil,
        loadBalancers: [LoadBalancer]? = nil, tags: [ResourceTag]? = nil
    ) throws -> TaskSet {
        try fixture.apply { ecs, now, random, changes in
            try ecs.createTaskSet(
                CreateTaskSetRequest(
                    service: "svc", cluster: "c", externalId: "pipeline-1", taskDefinition: definition, loadBalancers: loadBalancers,
                    scale: scale.map { Scale(value: $0, unit: .percent) }, clientToken: token, tags: tags),
                now: now, using: &random, changes: &changes)
        }.taskSet!
    }

    func scale(_ fixture: inout SchedulerFixture, _ set: TaskSet, to value: Double) throws -> TaskSet {
        try fixture.apply { ecs, now, _, changes in
            try ecs.updateTaskSet(
                UpdateTaskSetRequest(cluster: "c", service: "svc", taskSet: set.id!, scale: Scale(value: value, unit: .percent)), now: now,
                changes: &changes)
        }.taskSet!
    }

    func delete(_ fixture: inout SchedulerFixture, _ reference: String, force: Bool? = nil) throws -> TaskSet {
        try fixture.apply { ecs, now, _, changes in
            try ecs.deleteTaskSet(DeleteTaskSetRequest(cluster: "c", service: "svc", taskSet: reference, force: force), now: now, changes: &changes)
        }.taskSet!
    }

    func promote(_ fixture: inout SchedulerFixture, _ reference: String) throws -> TaskSet {
        try fixture.apply { ecs, now, _, changes in
            try ecs.updateServicePrimaryTaskSet(
                UpdateServicePrimaryTaskSetRequest(cluster: "c", service: "svc", primaryTaskSet: reference), now: now, changes: &changes)
        }.taskSet!
    }

    func describe(_ fixture: SchedulerFixture, _ references: [String]? = nil, tags: Bool = false) throws -> DescribeTaskSetsResponse {
        try fixture.ecs.describeTaskSets(
            DescribeTaskSetsRequest(cluster: "c", service: "svc", taskSets: references, include: tags ? [.tags] : nil))
    }

    func tasks(of set: TaskSet, in fixture: SchedulerFixture) -> [TaskRecord] { fixture.live.filter { $0.task.startedBy == set.id } }

    func expectError(_ type: String, _ message: String, _ body: () throws -> Void) {
        #expect {
            try body()
        } throws: { error in
            guard let error = error as? AWSError else { return false }
            return error.type == type && error.message == message
        }
    }

    @Test func anExternalServiceRunsEachTaskSetAtItsShareOfTheDesiredCount() throws {
        var fixture = try externalFixture(desired: 3)
        #expect(fixture.service.deploymentController?.type == .external)
        #expect(fixture.service.taskSets == [] && fixture.service.deployments == [] && fixture.service.taskDefinition == nil)
        let blue = try createSet(&fixture, scale: 50)
        // 3 × 50% = 1.5, rounded up.
        #expect(blue.computedDesiredCount == 2)
        #expect(blue.status == "ACTIVE" && blue.stabilityStatus == .stabilizing && blue.externalId == "pipeline-1")
        #expect(blue.taskSetArn == "arn:aws:ecs:us-east-1:000000000000:task-set/c/svc/\(blue.id!)")
        #expect(blue.id!.hasPrefix("ecs-svc/") && blue.id!.count == 8 + 19)
        fixture.pass()
        #expect(tasks(of: blue, in: fixture).count == 2)
        try fixture.agentsReport()
        fixture.pass()
        let described = try describe(fixture).taskSets!
        #expect(described.count == 1)
        #expect(described[0].runningCount == 2 && described[0].pendingCount == 0 && described[0].stabilityStatus == .steadyState)
        #expect(fixture.service.runningCount == 2)
        #expect(fixture.events().contains("(service svc) has reached a steady state."))

        // A second task set beside it, at 100%: both run, each to its own count.
        let green = try createSet(&fixture, "web2", scale: 100)
        fixture.pass()
        try fixture.agentsReport()
        fixture.pass()
        #expect(tasks(of: green, in: fixture).count == 3 && tasks(of: blue, in: fixture).count == 2)
        #expect(tasks(of: green, in: fixture).allSatisfy { $0.task.taskDefinitionArn!.hasSuffix("task-definition/web2:1") })
        #expect(fixture.service.runningCount == 5)

        // The desired count drives both.
        _ = try fixture.apply { ecs, now, random, changes in
            try ecs.updateService(UpdateServiceRequest(cluster: "c", service: "svc", desiredCount: 2), now: now, using: &random, changes: &changes)
        }
        #expect(fixture.service.taskSets!.map(\.computedDesiredCount) == [1, 2])
        fixture.pass()
        #expect(tasks(of: green, in: fixture).count == 2 && tasks(of: blue, in: fixture).count == 1)
        #expect(fixture.ecs.tasks.values.filter { $0.desiredStatus == .stopped }.allSatisfy {
            $0.task.stoppedReason?.hasPrefix("Scaling activity initiated by (deployment ecs-svc/") == true
        })
    }

    @Test func promotingDrainingAndDeletingTaskSets() throws {
        var fixture = try externalFixture(desired: 2)
        let blue = try createSet(&fixture)
        let green = try createSet(&fixture, "web2", scale: 0)
        #expect(try promote(&fixture, blue.taskSetArn!).status == "PRIMARY")
        #expect(fixture.service.taskDefinition?.hasSuffix("web:1") == true && fixture.service.launchType == .ec2)
        fixture.pass()
        try fixture.agentsReport()

        // Shift: green up, promoted; blue down and deleted.
        _ = try scale(&fixture, green, to: 100)
        fixture.pass()
        try fixture.agentsReport()
        let promoted = try promote(&fixture, green.id!)
        #expect(promoted.status == "PRIMARY")
        #expect(fixture.service.taskSets!.first { $0.id == blue.id }?.status == "ACTIVE")
        #expect(fixture.service.taskDefinition?.hasSuffix("web2:1") == true)
        expectError("InvalidParameterException", "Primary TaskSet cannot be deleted") { _ = try delete(&fixture, green.id!) }
        expectError(
            "InvalidParameterException", "The task set cannot be deleted while it is scaled above 0. Scale it to 0 first, or delete it with force."
        ) { _ = try delete(&fixture, blue.id!) }
        // A task set's task definition is in use: not deletable.
        #expect(fixture.ecs.isTaskDefinitionInUse(green.taskDefinition!))
        let deleted = try delete(&fixture, blue.id!, force: true)
        #expect(deleted.status == "DRAINING" && deleted.computedDesiredCount == 0 && deleted.scale?.value == 0)
        expectError("InvalidParameterException", "The task set \(blue.id!) is being deleted and cannot be updated.") {
            _ = try scale(&fixture, blue, to: 50)
        }
        fixture.pass()
        #expect(tasks(of: blue, in: fixture).isEmpty)
        #expect(fixture.service.taskSets!.map(\.id) == [blue.id, green.id])
        try fixture.agentsReport()
        fixture.pass()
        // Gone once its tasks have stopped.
        #expect(fixture.service.taskSets!.map(\.id) == [green.id])
        #expect(tasks(of: green, in: fixture).count == 2)
        let missing = try describe(fixture, [blue.id!, green.taskSetArn!])
        #expect(missing.taskSets!.map(\.id) == [green.id])
        #expect(missing.failures == [Failure(arn: blue.id!, reason: "MISSING")])
        expectError("TaskSetNotFoundException", "The specified task set does not exist.") { _ = try scale(&fixture, blue, to: 10) }
        expectError("TaskSetNotFoundException", "The specified task set does not exist.") { _ = try promote(&fixture, blue.id!) }
    }

    @Test func deletingTheServiceDrainsItsTaskSets() throws {
        var fixture = try externalFixture(desired: 2)
        let blue = try createSet(&fixture, token: "t", tags: [ResourceTag(key: "k", value: "v")])
        fixture.pass()
        try fixture.agentsReport()
        _ = try fixture.apply { ecs, now, _, changes in
            try ecs.deleteService(DeleteServiceRequest(cluster: "c", service: "svc", force: true), now: now, changes: &changes)
        }
        #expect(fixture.ecs.services[fixture.serviceArn]!.service.taskSets!.allSatisfy { $0.status == "DRAINING" })
        fixture.pass()
        #expect(tasks(of: blue, in: fixture).isEmpty)
        // Told to stop, not yet stopped: still DRAINING with its set.
        #expect(fixture.ecs.services[fixture.serviceArn]!.service.status == "DRAINING")
        try fixture.agentsReport()
        fixture.pass()
        let record = fixture.ecs.services[fixture.serviceArn]!
        #expect(record.service.status == "INACTIVE" && record.service.taskSets == [])
        #expect(fixture.ecs.tags[blue.taskSetArn!] == nil && record.scheduler.taskSetClientTokens == [:])
    }

    @Test func createTaskSetIsIdempotentWithAClientTokenAndLimitedToFive() throws {
        var fixture = try externalFixture()
        let first = try createSet(&fixture, scale: 10, token: "token-1", tags: [ResourceTag(key: "team", value: "blue")])
        let again = try createSet(&fixture, scale: 10, token: "token-1")
        #expect(again.id == first.id && fixture.service.taskSets!.count == 1)
        #expect(try describe(fixture, tags: true).taskSets![0].tags == [ResourceTag(key: "team", value: "blue")])
        #expect(try describe(fixture).taskSets![0].tags == nil)
        for _ in 0..<4 { _ = try createSet(&fixture, scale: 0) }
        expectError(
            "InvalidParameterException", "5 deployments exist on the service. Unable to create new TaskSet since this exceeds the maximum limit."
        ) { _ = try createSet(&fixture) }
        expectError("InvalidParameterException", "Scale value must be between 0 and 100.") {
            _ = try scale(&fixture, fixture.service.taskSets![1], to: 150)
        }
    }

    @Test func refusalsInAWSWords() throws {
        var fixture = try externalFixture()
        let external = DeploymentController(type: .external)
        func create(_ request: CreateServiceRequest) throws {
            _ = try fixture.apply { ecs, now, random, changes in try ecs.createService(request, now: now, using: &random, changes: &changes) }
        }
        expectError("InvalidParameterException", "TaskDefinition must be blank.") {
            try create(CreateServiceRequest(cluster: "c", serviceName: "x", taskDefinition: "web", desiredCount: 1, deploymentController: external))
        }
        expectError("InvalidParameterException", "NetworkConfiguration must be null.") {
            try create(
                CreateServiceRequest(
                    cluster: "c", serviceName: "x", desiredCount: 1,
                    networkConfiguration: NetworkConfiguration(awsvpcConfiguration: AwsVpcConfiguration(subnets: ["s"])), deploymentController: external))
        }
        expectError("InvalidParameterException", "Unable to update task definition on services with a EXTERNAL deployment controller. Create a new task set to deploy it.") {
            _ = try fixture.apply { ecs, now, random, changes in
                try ecs.updateService(UpdateServiceRequest(cluster: "c", service: "svc", taskDefinition: "web"), now: now, using: &random, changes: &changes)
            }
        }
        // Task sets belong to EXTERNAL services only.
        try fixture.createService("rolling", desired: 1)
        expectError("InvalidParameterException", ECSState.externalControllerOnly) {
            _ = try fixture.apply { ecs, now, random, changes in
                try ecs.createTaskSet(
                    CreateTaskSetRequest(service: "rolling", cluster: "c", taskDefinition: "web"), now: now, using: &random, changes: &changes)
            }
        }
        expectError("InvalidParameterException", ECSState.externalControllerOnly) {
            _ = try fixture.ecs.describeTaskSets(DescribeTaskSetsRequest(cluster: "c", service: "rolling"))
        }
        expectError("ServiceNotFoundException", "Service not found: 'nope' in cluster c.") {
            _ = try fixture.ecs.describeTaskSets(DescribeTaskSetsRequest(cluster: "c", service: "nope"))
        }
        // Omitted, the scale is 0%: nothing runs until the set is scaled.
        let idle = try createSet(&fixture, scale: nil)
        #expect(idle.scale == Scale(value: 0, unit: .percent) && idle.computedDesiredCount == 0)
    }

    @Test func eachTaskSetIsTheTargetOfItsOwnTargetGroups() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        let container = ContainerDefinition(name: "app", image: "web:1", memory: 64, portMappings: [PortMapping(containerPort: 8080, hostPort: 0)])
        _ = try fixture.apply {
            try $0.registerTaskDefinition(RegisterTaskDefinitionRequest(family: "web", containerDefinitions: [container]), requestBytes: 100, now: $1, changes: &$3)
        }
        _ = try fixture.apply {
            try $0.createService(
                CreateServiceRequest(cluster: "c", serviceName: "svc", desiredCount: 1, deploymentController: DeploymentController(type: .external)),
                now: $1, using: &$2, changes: &$3)
        }
        let production = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/production/1"
        let test = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/test/2"
        let blue = try createSet(&fixture, loadBalancers: [LoadBalancer(targetGroupArn: production, containerName: "app", containerPort: 8080)])
        let green = try createSet(&fixture, loadBalancers: [LoadBalancer(targetGroupArn: test, containerName: "app", containerPort: 8080)])
        fixture.pass()
        for (index, record) in fixture.live.enumerated() {
            _ = try fixture.apply {
                try $0.submitTaskStateChange(
                    SubmitTaskStateChangeRequest(
                        cluster: "c", task: record.arn, status: "RUNNING",
                        containers: [
                            ContainerStateChange(
                                containerName: "app", networkBindings: [NetworkBinding(bindIP: "127.0.0.1", containerPort: 8080, hostPort: 32000 + index)],
                                status: "RUNNING")
                        ]),
                    now: $1, changes: &$3)
            }
        }
        #expect(fixture.ecs.loadBalancerTargets(group: production).map(\.taskArn) == tasks(of: blue, in: fixture).map(\.arn))
        #expect(fixture.ecs.loadBalancerTargets(group: test).map(\.taskArn) == tasks(of: green, in: fixture).map(\.arn))
        #expect(fixture.ecs.serviceNaming(targetGroup: test) == fixture.serviceArn)
    }
}
