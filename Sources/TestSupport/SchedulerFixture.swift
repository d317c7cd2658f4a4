import AgentProtocol
import ApplicationAutoScaling
import Capacity
import ECS
import ECSShapes
import Foundation
import Lambda
import SQS
import StevedoreCore

/// Every service's state with a clock and seeded randomness, driven the way the committer and
/// agents drive the real one: cluster `c` exists; helpers register instances and task
/// definitions, create services, and report what agents would report.
public struct SchedulerFixture: LambdaHost, ScalingHost, CapacityHost {
    public var ecs: ECSState
    public var sqs: SQSState
    public var lambda: FunctionsState
    public var scaling: ScalingState
    public var capacity: CapacityState
    public var now = Date(timeIntervalSince1970: 1_800_000_000)
    public var random = Xoshiro256(seed: 7)
    public var changes = ChangeSet()

    public init(settings: SchedulerSettings = SchedulerSettings()) {
        let names = ResourceNames()
        ecs = ECSState(names: names)
        sqs = SQSState(names: names)
        lambda = FunctionsState(names: names)
        scaling = ScalingState(names: names)
        capacity = CapacityState(names: names)
        ecs.settings = settings
        _ = try! ecs.createCluster(CreateClusterRequest(clusterName: "c"), changes: &changes)
    }

    /// As in the control plane: capacity groups link a registered instance to theirs.
    public mutating func containerInstanceRegistered(_ arn: String, changes: inout ChangeSet) {
        linkRegisteredInstance(arn, changes: &changes)
    }

    public mutating func advance(_ seconds: TimeInterval) { now = now.addingTimeInterval(seconds) }

    /// Runs an operation with the fixture's clock, randomness and change set, as one access to the
    /// fixture (so tests may call it from closures).
    public mutating func apply<Result>(
        _ body: (inout ECSState, Date, inout Xoshiro256, inout ChangeSet) throws -> Result
    ) rethrows -> Result {
        try body(&ecs, now, &random, &changes)
    }

    /// Runs an operation on the composed state (operations that cross services) with the
    /// fixture's clock, randomness and change set, as one access to the fixture.
    public mutating func act<Result>(
        _ body: (inout SchedulerFixture, Date, inout Xoshiro256, inout ChangeSet) throws -> Result
    ) rethrows -> Result {
        var random = self.random
        var changes = self.changes
        defer {
            self.random = random
            self.changes = changes
        }
        return try body(&self, now, &random, &changes)
    }

    /// Registers an agent's instance (through the composed registration, as the API does).
    @discardableResult
    public mutating func addInstance(
        zone: String = "a", cpu: Int = 4096, memory: Int = 8192, attributes: [String: String] = [:], identity: String? = nil
    ) throws -> String {
        var list = [
            Attribute(name: "ecs.availability-zone", value: zone), Attribute(name: "ecs.capability.container-health-check"),
            Attribute(name: "com.amazonaws.ecs.capability.docker-remote-api.1.18"),
            Attribute(name: "com.amazonaws.ecs.capability.docker-remote-api.1.24"),
        ]
        list += attributes.sorted { $0.key < $1.key }.map { Attribute(name: $0.key, value: $0.value) }
        let request = RegisterContainerInstanceRequest(
            cluster: "c", instanceIdentityDocument: identity,
            totalResources: [
                Resource(name: "CPU", type: "INTEGER", integerValue: cpu), Resource(name: "MEMORY", type: "INTEGER", integerValue: memory),
                Resource(name: "PORTS", type: "STRINGSET", stringSetValue: ["22"]),
            ],
            attributes: list)
        let response = try act { host, now, random, changes in
            try host.registerContainerInstance(request, now: now, using: &random, changes: &changes)
        }
        return response.containerInstance!.containerInstanceArn!
    }

    @discardableResult
    public mutating func register(_ family: String = "web", memory: Int = 512, labels: [String: String]? = nil, healthCheck: Bool = false) throws
        -> String
    {
        let container = ContainerDefinition(
            name: "app", image: "\(family):1", memory: memory, dockerLabels: labels,
            healthCheck: healthCheck ? HealthCheck(command: ["CMD", "true"]) : nil)
        return try ecs.registerTaskDefinition(
            RegisterTaskDefinitionRequest(family: family, containerDefinitions: [container]), requestBytes: 100, now: now, changes: &changes
        ).taskDefinition!.taskDefinitionArn!
    }

    public mutating func createService(
        _ name: String = "svc",
        taskDefinition: String = "web",
        desired: Int,
        minimum: Int? = nil,
        maximum: Int? = nil,
        breaker: DeploymentCircuitBreaker? = nil,
        daemon: Bool = false,
        strategies: [PlacementStrategy]? = nil
    ) throws {
        _ = try ecs.createService(
            CreateServiceRequest(
                cluster: "c", serviceName: name, taskDefinition: taskDefinition, desiredCount: daemon ? nil : desired,
                deploymentConfiguration: DeploymentConfiguration(
                    deploymentCircuitBreaker: breaker, maximumPercent: maximum, minimumHealthyPercent: minimum),
                placementStrategy: strategies, schedulingStrategy: daemon ? .daemon : .replica),
            now: now, using: &random, changes: &changes)
    }

    /// One service scheduler pass.
    public mutating func pass() {
        ecs.reconcileServices(now: now, using: &random, changes: &changes)
    }

    public var serviceArn: String { ecs.names.service(cluster: "c", name: "svc") }
    public var service: ECSService { ecs.serviceView(ecs.services[serviceArn]!) }
    public func service(_ name: String) -> ECSService { ecs.serviceView(ecs.services[ecs.names.service(cluster: "c", name: name)]!) }

    /// Tasks with desired RUNNING that have not stopped.
    public var live: [TaskRecord] { ecs.tasks.values.filter { $0.desiredStatus == .running && !$0.isStopped } }
    public var running: [TaskRecord] { live.filter { $0.lastStatus == .running } }

    /// What agents would report: every assignment moves forward.
    public mutating func agentsReport(fail: Bool = false) throws {
        for record in ecs.tasks.values.sorted(by: { $0.arn < $1.arn }) where !record.isStopped {
            if record.desiredStatus == .stopped {
                try report(record.arn, "STOPPED", exitCode: 0)
            } else if record.lastStatus == .pending {
                if fail {
                    try report(record.arn, "STOPPED", reason: "CannotPullContainerError: not found")
                } else {
                    try report(record.arn, "RUNNING")
                }
            }
        }
    }

    public mutating func report(_ arn: String, _ status: String, exitCode: Int? = nil, reason: String? = nil) throws {
        _ = try ecs.submitTaskStateChange(
            SubmitTaskStateChangeRequest(
                cluster: "c", task: arn, status: status, reason: reason,
                containers: [ContainerStateChange(containerName: "app", exitCode: exitCode, reason: reason, status: status)]),
            now: now, changes: &changes)
    }

    /// Healthy tasks as the scheduler counts them.
    public var healthy: Int { live.filter { ecs.isHealthy($0) }.count }

    public func events(_ name: String = "svc") -> [String] {
        (ecs.services[ecs.names.service(cluster: "c", name: name)]?.service.events ?? []).compactMap(\.message)
    }
}
