import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Execution environments are tasks: placed by the same engine, run by the same agents, stopped
/// the same way. These are the function router's writes.
extension ECSState {
    public static let environmentStartedBy = "stevedore-functions"

    /// Places a new environment for `spec` in the functions cluster (binpacked by memory, so warm
    /// environments gather on few instances) and queues it for its agent.
    public mutating func launchEnvironment(
        _ spec: FunctionEnvironmentSpec,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> TaskRecord {
        let clusterName = functionSettings.cluster
        let cluster: Cluster
        do {
            cluster = try activeCluster(clusterName)
        } catch {
            throw AWSError.lambdaService(
                "Execution environments run in cluster '\(clusterName)', which does not exist; start an agent (ecsd --dev runs one) or set --functions-cluster.")
        }
        let definition = Self.environmentDefinition(spec, names: names)
        let group = "function:\(spec.functionName)"
        // Memory is reserved; CPU is a proportional share (cpu shares), not a reservation, so a
        // host packs environments by memory as Lambda does.
        var requirements = TaskRequirements(definition: definition, overrides: nil)
        requirements.cpu = 0
        let request = PlacementRequest(requirements: requirements, count: 1, group: group, rules: [.binpackMemory])
        guard capacity[clusterName] != nil, !(capacity[clusterName]?.isEmpty ?? true) else {
            throw AWSError(
                type: "ResourceNotReadyException",
                message: "No container instance is registered in cluster '\(clusterName)' to run an execution environment; start an agent.",
                httpStatus: 502, extraFields: ["Type": "Service"])
        }
        let result = PlacementEngine.place(request, capacity: &capacity[clusterName]!, using: &generator)
        guard let instance = result.placed.first else {
            throw AWSError(
                type: "ResourceNotReadyException",
                message: "No container instance in cluster '\(clusterName)' can take an execution environment of \(spec.functionName) (\(spec.memory) MB): \(Self.describe(result.closest?.reason)).",
                httpStatus: 502, extraFields: ["Type": "Service"])
        }
        capacity[clusterName]?.release(requirements, group: group, on: instance, wasRunning: false)
        let launch = LaunchSpec(
            definition: definition, overrides: nil, group: group, startedBy: Self.environmentStartedBy, serviceArn: nil,
            clientToken: nil, tags: [], launchType: .ec2, enableExecuteCommand: false)
        var record = launchTask(launch, requirements: requirements, on: instance, cluster: cluster, now: now, using: &generator, changes: &changes)
        record.function = spec
        putTask(record, changes: &changes)
        return record
    }

    static func describe(_ reason: PlacementFailureReason?) -> String {
        switch reason {
        case .agent: return "its agent is disconnected"
        case .memory: return "not enough memory free"
        case .cpu: return "not enough CPU free"
        case .draining: return "the instances are draining"
        case .some(let other): return other.rawValue
        case nil: return "no instance qualifies"
        }
    }

    /// Stops an environment (idle too long, or its version changed).
    public mutating func stopEnvironment(_ arn: String, reason: String, now: Date, changes: inout ChangeSet) {
        guard tasks[arn]?.function != nil else { return }
        requestStop(arn, code: .serviceSchedulerInitiated, reason: reason, now: now, changes: &changes)
    }

    /// Environments the agents still run or are starting.
    public var liveEnvironments: [TaskRecord] {
        (tasksByCluster[functionSettings.cluster] ?? []).compactMap { tasks[$0] }.filter { $0.function != nil && !$0.isStopped }
    }

    /// What a control plane's task views show for an environment: one container running the runtime.
    static func environmentDefinition(_ spec: FunctionEnvironmentSpec, names: ResourceNames) -> TaskDefinition {
        TaskDefinition(
            taskDefinitionArn: names.function(spec.functionName, qualifier: spec.version),
            containerDefinitions: [
                ContainerDefinition(
                    name: "function", image: spec.image, cpu: FunctionSettings.cpuUnits(memory: spec.memory), memory: spec.memory,
                    essential: true)
            ],
            family: "lambda-\(spec.functionName)",
            revision: Int(spec.version) ?? 0)
    }
}
