@testable import ECSCore
import Foundation

/// A control-plane state with a clock and seeded randomness, driven the way the committer and
/// agents drive the real one.
struct SchedulerFixture {
    var state: ECSState
    var now = Date(timeIntervalSince1970: 1_800_000_000)
    var random = Xoshiro256(seed: 7)
    var changes = ChangeSet()

    init(settings: SchedulerSettings = SchedulerSettings()) {
        state = ECSState(names: ResourceNames())
        state.settings = settings
        _ = try! state.createCluster(CreateClusterRequest(clusterName: "c"), changes: &changes)
    }

    mutating func advance(_ seconds: TimeInterval) { now = now.addingTimeInterval(seconds) }

    /// Runs an operation with the fixture's clock, randomness and change set, as one access to the
    /// fixture (so tests may call it from closures).
    mutating func apply<Result>(
        _ body: (inout ECSState, Date, inout Xoshiro256, inout ChangeSet) throws -> Result
    ) rethrows -> Result {
        try body(&state, now, &random, &changes)
    }

    @discardableResult
    mutating func addInstance(zone: String = "a", cpu: Int = 4096, memory: Int = 8192, attributes: [String: String] = [:]) throws -> String {
        var list = [
            Attribute(name: "ecs.availability-zone", value: zone), Attribute(name: "ecs.capability.container-health-check"),
            Attribute(name: "com.amazonaws.ecs.capability.docker-remote-api.1.18"),
            Attribute(name: "com.amazonaws.ecs.capability.docker-remote-api.1.24"),
        ]
        list += attributes.map { Attribute(name: $0.key, value: $0.value) }
        let response = try state.registerContainerInstance(
            RegisterContainerInstanceRequest(
                cluster: "c",
                totalResources: [
                    Resource(name: "CPU", type: "INTEGER", integerValue: cpu), Resource(name: "MEMORY", type: "INTEGER", integerValue: memory),
                    Resource(name: "PORTS", type: "STRINGSET", stringSetValue: ["22"]),
                ],
                attributes: list),
            now: now, using: &random, changes: &changes)
        return response.containerInstance!.containerInstanceArn!
    }

    @discardableResult
    mutating func register(_ family: String = "web", memory: Int = 512, labels: [String: String]? = nil, healthCheck: Bool = false) throws -> String {
        let container = ContainerDefinition(
            name: "app", image: "\(family):1", memory: memory, dockerLabels: labels,
            healthCheck: healthCheck ? HealthCheck(command: ["CMD", "true"]) : nil)
        return try state.registerTaskDefinition(
            RegisterTaskDefinitionRequest(family: family, containerDefinitions: [container]), requestBytes: 100, now: now, changes: &changes
        ).taskDefinition!.taskDefinitionArn!
    }

    mutating func createService(
        _ name: String = "svc",
        taskDefinition: String = "web",
        desired: Int,
        minimum: Int? = nil,
        maximum: Int? = nil,
        breaker: DeploymentCircuitBreaker? = nil,
        daemon: Bool = false,
        strategies: [PlacementStrategy]? = nil
    ) throws {
        _ = try state.createService(
            CreateServiceRequest(
                cluster: "c", serviceName: name, taskDefinition: taskDefinition, desiredCount: daemon ? nil : desired,
                deploymentConfiguration: DeploymentConfiguration(
                    deploymentCircuitBreaker: breaker, maximumPercent: maximum, minimumHealthyPercent: minimum),
                placementStrategy: strategies, schedulingStrategy: daemon ? .daemon : .replica),
            now: now, using: &random, changes: &changes)
    }

    mutating func pass() {
        state.reconcileServices(now: now, using: &random, changes: &changes)
    }

    var serviceArn: String { state.names.service(cluster: "c", name: "svc") }
    var service: ECSService { state.serviceView(state.services[serviceArn]!) }
    func service(_ name: String) -> ECSService { state.serviceView(state.services[state.names.service(cluster: "c", name: name)]!) }

    /// Tasks with desired RUNNING that have not stopped.
    var live: [TaskRecord] { state.tasks.values.filter { $0.desiredStatus == "RUNNING" && !$0.isStopped } }
    var running: [TaskRecord] { live.filter { $0.lastStatus == "RUNNING" } }

    /// What agents would report: every assignment moves forward.
    mutating func agentsReport(fail: Bool = false) throws {
        for record in state.tasks.values.sorted(by: { $0.arn < $1.arn }) where !record.isStopped {
            if record.desiredStatus == "STOPPED" {
                try report(record.arn, "STOPPED", exitCode: 0)
            } else if record.lastStatus == "PENDING" {
                if fail {
                    try report(record.arn, "STOPPED", reason: "CannotPullContainerError: not found")
                } else {
                    try report(record.arn, "RUNNING")
                }
            }
        }
    }

    mutating func report(_ arn: String, _ status: String, exitCode: Int? = nil, reason: String? = nil) throws {
        _ = try state.submitTaskStateChange(
            SubmitTaskStateChangeRequest(
                cluster: "c", task: arn, status: status, reason: reason,
                containers: [ContainerStateChange(containerName: "app", exitCode: exitCode, reason: reason, status: status)]),
            now: now, changes: &changes)
    }

    /// Healthy tasks as the scheduler counts them.
    var healthy: Int { live.filter { state.isHealthy($0) }.count }

    func events(_ name: String = "svc") -> [String] {
        (state.services[state.names.service(cluster: "c", name: name)]?.service.events ?? []).compactMap(\.message)
    }
}
