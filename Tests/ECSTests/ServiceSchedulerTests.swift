import AgentProtocol
@testable import ECS
import ECSShapes
import Foundation
import StevedoreCore
import StevedoreTestSupport
import Testing

struct ServiceSchedulerTests {
    @Test func startsDesiredTasksThenReportsSteadyState() throws {
        var fixture = SchedulerFixture()
        for zone in ["a", "b", "c"] { try fixture.addInstance(zone: zone) }
        try fixture.register()
        try fixture.createService(desired: 3)
        fixture.pass()
        #expect(fixture.live.count == 3)
        #expect(fixture.service.pendingCount == 3)
        // Spread over zones by default.
        let zones = Set(fixture.live.compactMap(\.task.availabilityZone))
        #expect(zones == ["a", "b", "c"])
        #expect(fixture.live.allSatisfy { $0.task.group == "service:svc" && $0.task.startedBy?.hasPrefix("ecs-svc/") == true })
        #expect(fixture.events().first?.hasPrefix("(service svc) has started 3 tasks: (task ") == true)
        try fixture.agentsReport()
        fixture.pass()
        #expect(fixture.service.runningCount == 3)
        #expect(fixture.service.deployments?.first?.rolloutState == .completed)
        #expect(fixture.events().prefix(2) == ["(service svc) has reached a steady state.", "(service svc) (deployment \(fixture.service.deployments![0].id!)) deployment completed."])
        // Nothing changes: no repeated steady-state event until the interval passes.
        fixture.pass()
        #expect(fixture.events().filter { $0.contains("steady state") }.count == 1)
        fixture.advance(6 * 3600 + 1)
        fixture.pass()
        #expect(fixture.events().filter { $0.contains("steady state") }.count == 2)
    }

    @Test func scalesInPendingTasksFirst() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        try fixture.createService(desired: 2)
        fixture.pass()
        try fixture.agentsReport()
        _ = try fixture.apply { try $0.updateService(UpdateServiceRequest(cluster: "c", service: "svc", desiredCount: 4), now: $1, using: &$2, changes: &$3) }
        fixture.pass()
        #expect(fixture.live.count == 4)
        _ = try fixture.apply { try $0.updateService(UpdateServiceRequest(cluster: "c", service: "svc", desiredCount: 2), now: $1, using: &$2, changes: &$3) }
        fixture.pass()
        #expect(fixture.live.count == 2)
        #expect(fixture.live.allSatisfy { $0.lastStatus == .running }, "pending tasks go first when scaling in")
        let stopped = fixture.ecs.tasks.values.filter { $0.desiredStatus == .stopped }
        #expect(stopped.allSatisfy { $0.task.stopCode == .serviceSchedulerInitiated && $0.task.stoppedReason?.hasPrefix("Scaling activity initiated by (deployment ecs-svc/") == true })
    }

    @Test(arguments: [(100, 200), (50, 100), (75, 125), (0, 100), (50, 150)])
    func rollingDeploymentsStayWithinLimits(minimum: Int, maximum: Int) throws {
        var fixture = SchedulerFixture()
        for zone in ["a", "b"] { try fixture.addInstance(zone: zone, memory: 16384) }
        try fixture.register()
        let desired = 4
        try fixture.createService(desired: desired, minimum: minimum, maximum: maximum)
        fixture.pass()
        try fixture.agentsReport()
        fixture.pass()
        #expect(fixture.service.deployments?.first?.rolloutState == .completed)
        let newDefinition = try fixture.register()
        _ = try fixture.apply { try $0.updateService(
            UpdateServiceRequest(cluster: "c", service: "svc", taskDefinition: newDefinition), now: $1, using: &$2,
            changes: &$3) }
        #expect(fixture.service.deployments?.count == 2)
        let floorHealthy = Int((Double(desired) * Double(minimum) / 100).rounded(.up))
        let ceilingTotal = Int((Double(desired) * Double(maximum) / 100).rounded(.down))
        for _ in 0..<20 {
            fixture.pass()
            #expect(fixture.healthy >= floorHealthy, "healthy tasks fell below minimumHealthyPercent")
            #expect(fixture.live.count <= ceilingTotal, "tasks exceeded maximumPercent")
            try fixture.agentsReport()
            #expect(fixture.healthy >= floorHealthy)
            fixture.advance(1)
        }
        #expect(fixture.service.deployments?.count == 1)
        #expect(fixture.service.deployments?.first?.taskDefinition == newDefinition)
        #expect(fixture.service.deployments?.first?.rolloutState == .completed)
        #expect(fixture.running.count == desired)
        #expect(fixture.running.allSatisfy { $0.task.taskDefinitionArn == newDefinition })
    }

    @Test func reportsADeploymentConfigurationThatCannotMove() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        try fixture.createService(desired: 2, minimum: 100, maximum: 100)
        fixture.pass()
        try fixture.agentsReport()
        fixture.pass()
        let next = try fixture.register()
        _ = try fixture.apply { try $0.updateService(
            UpdateServiceRequest(cluster: "c", service: "svc", taskDefinition: next), now: $1, using: &$2, changes: &$3) }
        fixture.pass()
        #expect(fixture.events().first == "(service svc) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.")
        #expect(fixture.running.count == 2)
    }

    @Test func replacesTasksOfLostAgents() throws {
        var fixture = SchedulerFixture()
        let doomed = try fixture.addInstance(zone: "a")
        try fixture.addInstance(zone: "b")
        try fixture.register()
        try fixture.createService(desired: 4)
        fixture.pass()
        try fixture.agentsReport()
        fixture.pass()
        let onDoomed = fixture.live.filter { $0.task.containerInstanceArn == doomed }
        #expect(!onDoomed.isEmpty)
        // The other agent keeps polling; the doomed one goes silent.
        fixture.advance(31)
        for instance in fixture.ecs.instances.keys where instance != doomed { fixture.ecs.agentContact(instance, now: fixture.now) }
        #expect(fixture.ecs.detectLostAgents(now: fixture.now, timeout: 30) == [doomed])
        fixture.pass()
        #expect(fixture.live.count == 4)
        #expect(fixture.live.allSatisfy { $0.task.containerInstanceArn != doomed })
        let replaced = onDoomed.map { fixture.ecs.tasks[$0.arn]! }
        #expect(replaced.allSatisfy { $0.desiredStatus == .stopped && $0.task.stoppedReason?.contains("stopped responding") == true })
        // No placements on a disconnected instance.
        _ = try fixture.apply { try $0.updateService(UpdateServiceRequest(cluster: "c", service: "svc", desiredCount: 8), now: $1, using: &$2, changes: &$3) }
        fixture.pass()
        #expect(fixture.live.allSatisfy { $0.task.containerInstanceArn != doomed })
        // The agent comes back: it gets the stops it missed.
        let reconnected = fixture.ecs.agentContact(doomed, now: fixture.now)
        #expect(reconnected)
        let assignments = try fixture.ecs.assignments(
            for: AgentPollRequest(cluster: "c", containerInstanceArn: doomed, since: 0), durableSequence: fixture.ecs.counters.assignmentSequence)
        #expect(Set(assignments.assignments.map { $0.task.taskArn! }) == Set(onDoomed.map(\.arn)))
        #expect(assignments.assignments.allSatisfy { $0.task.desiredStatus == "STOPPED" })
    }

    @Test func drainingReplacesTasksWithinTheLimits() throws {
        var fixture = SchedulerFixture()
        let draining = try fixture.addInstance(zone: "a")
        try fixture.register()
        try fixture.createService(desired: 2)
        fixture.pass()
        try fixture.agentsReport()
        fixture.pass()
        try fixture.addInstance(zone: "b")
        _ = try fixture.apply { try $0.updateContainerInstancesState(
            UpdateContainerInstancesStateRequest(cluster: "c", containerInstances: [draining], status: .draining), changes: &$3) }
        fixture.pass()
        // Replacements first (maximumPercent 200), the old ones keep running meanwhile.
        #expect(fixture.running.count == 2)
        #expect(fixture.live.count == 4)
        try fixture.agentsReport()
        fixture.pass()
        #expect(fixture.live.count == 2)
        #expect(fixture.live.allSatisfy { $0.task.containerInstanceArn != draining })
        try fixture.agentsReport()
        #expect(fixture.ecs.capacity["c"]?[draining]?.runningTasksCount == 0)
    }

    @Test func drainingStopsPendingTasksAtOnce() throws {
        var fixture = SchedulerFixture()
        let instance = try fixture.addInstance()
        try fixture.register()
        try fixture.createService(desired: 2)
        fixture.pass()
        _ = try fixture.apply { try $0.updateContainerInstancesState(
            UpdateContainerInstancesStateRequest(cluster: "c", containerInstances: [instance], status: .draining), changes: &$3) }
        #expect(fixture.live.isEmpty)
        #expect(fixture.ecs.tasks.values.allSatisfy { $0.task.stoppedReason == "Container instance is draining" })
    }

    @Test func backsOffFromTasksThatFailToStart() throws {
        var settings = SchedulerSettings()
        settings.launchBackoffBase = 10
        var fixture = SchedulerFixture(settings: settings)
        try fixture.addInstance()
        try fixture.register()
        try fixture.createService(desired: 1)
        fixture.pass()
        try fixture.agentsReport(fail: true)
        let failed = Array(fixture.ecs.tasks.values)[0]
        #expect(failed.task.stopCode == .taskFailedToStart)
        #expect(failed.task.stoppedReason == "CannotPullContainerError: not found")
        fixture.advance(1)
        fixture.pass()
        #expect(fixture.live.isEmpty, "no relaunch inside the back-off")
        #expect(fixture.events().first == "(service svc) is unable to consistently start tasks successfully.")
        fixture.advance(10)
        fixture.pass()
        #expect(fixture.live.count == 1)
        try fixture.agentsReport(fail: true)
        fixture.advance(11)
        fixture.pass()
        #expect(fixture.live.isEmpty, "the second delay is twice the first")
        fixture.advance(10)
        fixture.pass()
        #expect(fixture.live.count == 1)
        // Success resets the back-off.
        try fixture.agentsReport()
        #expect(fixture.ecs.services[fixture.serviceArn]!.scheduler.consecutiveFailedLaunches == 0)
    }

    @Test func circuitBreakerFailsTheDeploymentAndRollsBack() throws {
        var settings = SchedulerSettings()
        settings.launchBackoffBase = 0.001
        settings.circuitBreakerMinimumThreshold = 3
        var fixture = SchedulerFixture(settings: settings)
        try fixture.addInstance()
        let good = try fixture.register()
        try fixture.createService(desired: 2, breaker: DeploymentCircuitBreaker(enable: true, rollback: true))
        fixture.pass()
        try fixture.agentsReport()
        fixture.pass()
        let bad = try fixture.register(labels: ["broken": "yes"])
        _ = try fixture.apply { try $0.updateService(
            UpdateServiceRequest(cluster: "c", service: "svc", taskDefinition: bad), now: $1, using: &$2, changes: &$3) }
        var failedDeployment: String?
        for _ in 0..<20 {
            fixture.advance(1)
            fixture.pass()
            for record in fixture.ecs.tasks.values where !record.isStopped && record.lastStatus == .pending {
                if record.task.taskDefinitionArn == bad {
                    try fixture.report(record.arn, "STOPPED", reason: "CannotPullContainerError: broken image")
                } else if record.desiredStatus == .running {
                    try fixture.report(record.arn, "RUNNING")
                }
            }
            try fixture.agentsReport()
            if let failed = fixture.service.deployments?.first(where: { $0.rolloutState == .failed }) { failedDeployment = failed.id }
        }
        let failedId = try #require(failedDeployment, "\(fixture.service.deployments!) \(fixture.events())")
        #expect(fixture.events().contains("(service svc) (deployment \(failedId)) deployment failed: tasks failed to start."))
        #expect(fixture.events().contains { $0.contains("deployment rolling back") })
        #expect(fixture.service.taskDefinition == good)
        #expect(fixture.service.deployments?.count == 1)
        #expect(fixture.service.deployments?.first?.rolloutState == .completed)
        #expect(fixture.running.count == 2 && fixture.running.allSatisfy { $0.task.taskDefinitionArn == good })
    }

    @Test func circuitBreakerWithoutRollbackStopsLaunching() throws {
        var settings = SchedulerSettings()
        settings.launchBackoffBase = 0.001
        settings.circuitBreakerMinimumThreshold = 2
        var fixture = SchedulerFixture(settings: settings)
        try fixture.addInstance()
        try fixture.register()
        try fixture.createService(desired: 1, breaker: DeploymentCircuitBreaker(enable: true, rollback: false))
        for _ in 0..<6 {
            fixture.advance(1)
            fixture.pass()
            try fixture.agentsReport(fail: true)
        }
        #expect(fixture.service.deployments?.first?.rolloutState == .failed)
        #expect(fixture.service.deployments?.first?.failedTasks == 2)
        fixture.advance(60)
        fixture.pass()
        #expect(fixture.live.isEmpty)
    }

    @Test func reportsPlacementFailuresWithTheClosestInstance() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance(memory: 256)
        try fixture.register(memory: 512)
        try fixture.createService(desired: 1)
        fixture.pass()
        let event = try #require(fixture.events().first)
        #expect(event.hasPrefix("(service svc) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance "))
        #expect(event.contains("has insufficient memory available."))
        // Repeated at most once a minute.
        fixture.advance(10)
        fixture.pass()
        #expect(fixture.events().filter { $0.contains("unable to place") }.count == 1)
    }

    @Test func daemonRunsOneTaskPerInstance() throws {
        var fixture = SchedulerFixture()
        let first = try fixture.addInstance(zone: "a")
        try fixture.addInstance(zone: "b")
        try fixture.register()
        try fixture.createService(desired: 0, daemon: true)
        fixture.pass()
        #expect(fixture.live.count == 2)
        #expect(fixture.service.desiredCount == 2)
        try fixture.agentsReport()
        fixture.pass()
        try fixture.addInstance(zone: "c")
        fixture.pass()
        #expect(fixture.live.count == 3)
        #expect(Set(fixture.live.map(\.task.containerInstanceArn)).count == 3)
        _ = try fixture.apply { try $0.updateContainerInstancesState(
            UpdateContainerInstancesStateRequest(cluster: "c", containerInstances: [first], status: .draining), changes: &$3) }
        try fixture.agentsReport()
        fixture.pass()
        #expect(fixture.live.count == 2)
        #expect(fixture.service.desiredCount == 2)
        #expect(fixture.live.allSatisfy { $0.task.containerInstanceArn != first })
    }

    @Test func deleteDrainsThenRetiresTheService() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        try fixture.createService(desired: 2)
        fixture.pass()
        try fixture.agentsReport()
        var copy = fixture
        #expect(throws: AWSError.self) {
            try copy.apply { try $0.deleteService(DeleteServiceRequest(cluster: "c", service: "svc"), now: $1, changes: &$3) }
        }
        _ = try fixture.apply { try $0.deleteService(DeleteServiceRequest(cluster: "c", service: "svc", force: true), now: $1, changes: &$3) }
        #expect(fixture.service.status == "DRAINING")
        fixture.pass()
        #expect(fixture.live.isEmpty)
        try fixture.agentsReport()
        fixture.pass()
        #expect(fixture.service.status == "INACTIVE")
        #expect(try fixture.ecs.listServices(ListServicesRequest(cluster: "c")).serviceArns == [])
    }

    @Test func serviceValidation() throws {
        var fixture = SchedulerFixture()
        try fixture.register()
        func refusal(_ request: CreateServiceRequest) -> String? {
            var copy = fixture
            do {
                _ = try copy.apply { try $0.createService(request, now: $1, using: &$2, changes: &$3) }
                return nil
            } catch {
                return (error as? AWSError)?.message
            }
        }
        #expect(refusal(CreateServiceRequest(cluster: "c", serviceName: "bad name", taskDefinition: "web", desiredCount: 1))?.contains("serviceName") == true)
        #expect(refusal(CreateServiceRequest(cluster: "c", serviceName: "s", taskDefinition: "web"))?.contains("desiredCount is required") == true)
        #expect(refusal(CreateServiceRequest(cluster: "c", serviceName: "s", taskDefinition: "ghost", desiredCount: 1))?.contains("Unable to describe") == true)
        #expect(refusal(CreateServiceRequest(
            cluster: "c", serviceName: "s", taskDefinition: "web", desiredCount: 1,
            deploymentConfiguration: DeploymentConfiguration(minimumHealthyPercent: 150)))?.contains("minimumHealthyPercent") == true)
        #expect(refusal(CreateServiceRequest(
            cluster: "c", serviceName: "s", taskDefinition: "web", desiredCount: 1, placementStrategy: [PlacementStrategy(type: .binpack, field: "disk")]))?.contains("binpack") == true)
        #expect(refusal(CreateServiceRequest(
            cluster: "c", serviceName: "s", taskDefinition: "web",
            loadBalancers: [LoadBalancer(targetGroupArn: "tg", containerName: "app", containerPort: 80)], desiredCount: 1))?.contains("containerPort 80") == true)
        #expect(refusal(CreateServiceRequest(
            cluster: "c", serviceName: "s", taskDefinition: "web", desiredCount: 1, schedulingStrategy: .daemon))?.contains("DAEMON") == true)
        #expect(refusal(CreateServiceRequest(
            cluster: "c", serviceName: "s", taskDefinition: "web", desiredCount: 1, launchType: .fargate))?.contains("FARGATE") == true)
        try fixture.createService(desired: 1)
        #expect(refusal(CreateServiceRequest(cluster: "c", serviceName: "svc", taskDefinition: "web", desiredCount: 1))?.contains("not idempotent") == true)
    }
}
