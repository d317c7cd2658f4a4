import AgentProtocol
@testable import ECS
import ECSShapes
import Foundation
import StevedoreCore
import StevedoreTestSupport
import Testing

/// A service's tasks as a target group's targets: running, healthy, at their bound host port.
struct LoadBalancerTargetTests {
    let group = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/1"

    func fixture(healthCheck: Bool = false, bindIP: String = "127.0.0.1") throws -> SchedulerFixture {
        var fixture = SchedulerFixture()
        try fixture.addInstance(attributes: [ECSState.hostAddressAttribute: "10.0.0.7"])
        let container = ContainerDefinition(
            name: "app", image: "web:1", memory: 64, portMappings: [PortMapping(containerPort: 8080, hostPort: 0)],
            healthCheck: healthCheck ? HealthCheck(command: ["CMD", "true"]) : nil)
        _ = try fixture.apply {
            try $0.registerTaskDefinition(RegisterTaskDefinitionRequest(family: "web", containerDefinitions: [container]), requestBytes: 100, now: $1, changes: &$3)
        }
        _ = try fixture.apply {
            try $0.createService(
                CreateServiceRequest(
                    cluster: "c", serviceName: "svc", taskDefinition: "web", loadBalancers: [LoadBalancer(targetGroupArn: group, containerName: "app", containerPort: 8080)],
                    desiredCount: 2),
                now: $1, using: &$2, changes: &$3)
        }
        fixture.pass()
        for (index, record) in fixture.live.sorted(by: { $0.arn < $1.arn }).enumerated() {
            _ = try fixture.apply {
                try $0.submitTaskStateChange(
                    SubmitTaskStateChangeRequest(
                        cluster: "c", task: record.arn, status: "RUNNING",
                        containers: [
                            ContainerStateChange(
                                containerName: "app", networkBindings: [NetworkBinding(bindIP: bindIP, containerPort: 8080, hostPort: 32000 + index)],
                                status: "RUNNING")
                        ]),
                    now: $1, changes: &$3)
            }
        }
        return fixture
    }

    @Test func runningTasksAreTargetsAtTheirHostPorts() throws {
        var fixture = try fixture()
        #expect(fixture.events().filter { $0 == "(service svc) registered 1 targets in (target-group \(group))" }.count == 2)
        let targets = fixture.ecs.loadBalancerTargets(group: group)
        #expect(targets.map { "\($0.host):\($0.port)" }.sorted() == ["127.0.0.1:32000", "127.0.0.1:32001"])
        #expect(fixture.ecs.loadBalancerTargets(group: group + "x").isEmpty)
        // A task the scheduler stops is no target from that moment.
        _ = try fixture.apply { try $0.updateService(UpdateServiceRequest(cluster: "c", service: "svc", desiredCount: 1), now: $1, using: &$2, changes: &$3) }
        fixture.pass()
        #expect(fixture.ecs.loadBalancerTargets(group: group).count == 1)
    }

    @Test func unboundAddressesAreTheInstancesHostAddress() throws {
        let fixture = try fixture(bindIP: "0.0.0.0")
        #expect(Set(fixture.ecs.loadBalancerTargets(group: group).map(\.host)) == ["10.0.0.7"])
    }

    @Test func healthCheckedTasksAreTargetsOnlyOnceHealthy() throws {
        var fixture = try fixture(healthCheck: true)
        #expect(fixture.ecs.loadBalancerTargets(group: group).isEmpty)
        let arn = try #require(fixture.live.sorted(by: { $0.arn < $1.arn }).first?.arn)
        var record = try #require(fixture.ecs.tasks[arn])
        var task = record.task
        task.containers = task.containers?.map { container in
            var container = container
            container.healthStatus = .healthy
            return container
        }
        record.task = task
        fixture.apply { ecs, _, _, changes in ecs.putTask(record, changes: &changes) }
        #expect(fixture.ecs.loadBalancerTargets(group: group).map(\.taskArn) == [arn])
    }

    @Test func tasksBehindATargetGroupDrainBeforeTheirAgentIsTold() throws {
        var fixture = try fixture()
        fixture.changes = ChangeSet()
        _ = try fixture.apply { try $0.updateService(UpdateServiceRequest(cluster: "c", service: "svc", desiredCount: 1), now: $1, using: &$2, changes: &$3) }
        fixture.pass()
        let draining = try #require(fixture.ecs.tasks.values.first { $0.desiredStatus == .stopped })
        #expect(draining.lastStatus == .deactivating)
        #expect(fixture.changes.assignedInstances.isEmpty, "the agent is not told during the deregistration delay")
        #expect(!fixture.ecs.loadBalancerTargets(group: group).map(\.taskArn).contains(draining.arn))
        #expect(fixture.ecs.loadBalancerTargets(group: group).count == 1)
        #expect(fixture.events().prefix(2) == ["(service svc) deregistered 1 targets in (target-group \(group))", "(service svc) has begun draining connections on 1 tasks."])
        // An agent's report of RUNNING does not bring it back.
        try fixture.report(draining.arn, "RUNNING")
        #expect(fixture.ecs.tasks[draining.arn]?.lastStatus == .deactivating)
        fixture.advance(fixture.ecs.settings.deregistrationDelay - 1)
        fixture.pass()
        #expect(fixture.ecs.tasks[draining.arn]?.lastStatus == .deactivating)
        fixture.advance(2)
        fixture.pass()
        let stopping = try #require(fixture.ecs.tasks[draining.arn])
        #expect(stopping.lastStatus == .stopping && stopping.assignmentSequence > draining.assignmentSequence)
        #expect(!fixture.changes.assignedInstances.isEmpty)
        try fixture.report(draining.arn, "STOPPED", exitCode: 0)
        #expect(fixture.ecs.tasks[draining.arn]?.isStopped == true)
    }

    @Test func aDrainingTaskStopsEvenWhenItsServiceNoLongerHasTargetGroups() throws {
        var fixture = try fixture()
        _ = try fixture.apply { try $0.updateService(UpdateServiceRequest(cluster: "c", service: "svc", desiredCount: 1), now: $1, using: &$2, changes: &$3) }
        fixture.pass()
        let draining = try #require(fixture.ecs.tasks.values.first { $0.lastStatus == .deactivating })
        _ = try fixture.apply { try $0.updateService(UpdateServiceRequest(cluster: "c", service: "svc", loadBalancers: []), now: $1, using: &$2, changes: &$3) }
        fixture.advance(fixture.ecs.settings.deregistrationDelay + 1)
        fixture.pass()
        #expect(fixture.ecs.tasks[draining.arn]?.lastStatus == .stopping)
    }

    @Test func stopTaskCutsADrainShort() throws {
        var fixture = try fixture()
        _ = try fixture.apply { try $0.updateService(UpdateServiceRequest(cluster: "c", service: "svc", desiredCount: 1), now: $1, using: &$2, changes: &$3) }
        fixture.pass()
        let draining = try #require(fixture.ecs.tasks.values.first { $0.lastStatus == .deactivating })
        fixture.changes = ChangeSet()
        _ = try fixture.apply { try $0.stopTask(StopTaskRequest(cluster: "c", task: draining.arn), now: $1, changes: &$3) }
        #expect(fixture.ecs.tasks[draining.arn]?.lastStatus == .stopping && !fixture.changes.assignedInstances.isEmpty)
    }
}
