#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import StevedoreCore

/// Why an execution environment could not be placed.
public enum EnvironmentPlacementFailure: Error, Sendable, Equatable {
    case noCluster
    case noInstances
    /// No instance qualifies; the closest one's reason (nil: none came close).
    case noRoom(PlacementFailureReason?)
}

/// Tasks that run another service's work (functions' execution environments): placed by the
/// same engine, run by the same agents, stopped the same way as any task.
extension ECSState {
    public static let environmentStartedBy = "stevedore-functions"

    /// Places one environment task for `spec` in `clusterName`, binpacked by memory (so warm
    /// environments gather on few instances), and queues it for its agent. Memory is reserved;
    /// CPU is a proportional share (cpu shares), not a reservation, as Lambda packs hosts.
    public mutating func launchEnvironmentTask(
        _ spec: FunctionEnvironmentSpec,
        definition: TaskDefinition,
        cluster clusterName: String,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) -> Result<TaskRecord, EnvironmentPlacementFailure> {
        guard let cluster = try? activeClusterRef(clusterName) else { return .failure(.noCluster) }
        let group = "function:\(spec.functionName)"
        var requirements = TaskRequirements(definition: definition, overrides: nil)
        requirements.cpu = 0
        let request = PlacementRequest(requirements: requirements, count: 1, group: group, rules: [.binpackMemory])
        guard capacity[clusterName]?.isEmpty == false else { return .failure(.noInstances) }
        let result = place(request, inCluster: clusterName, using: &generator, changes: &changes)
        guard let instance = result.placed.first else { return .failure(.noRoom(result.closest?.reason)) }
        capacity[clusterName]?.release(requirements, group: group, on: instance, wasRunning: false)
        let launch = LaunchSpec(
            definition: definition, overrides: nil, group: group, startedBy: Self.environmentStartedBy, serviceArn: nil,
            clientToken: nil, tags: [], launchType: .ec2, enableExecuteCommand: false)
        var record = launchTask(launch, requirements: requirements, on: instance, cluster: cluster, now: now, using: &generator, changes: &changes)
        record.function = spec
        putTask(record, changes: &changes)
        return .success(record)
    }

    /// Stops an environment task (idle too long, or its version changed).
    public mutating func stopEnvironmentTask(_ arn: String, reason: String, now: Date, changes: inout ChangeSet) {
        guard tasks[arn]?.function != nil else { return }
        requestStop(arn, code: .serviceSchedulerInitiated, reason: reason, now: now, changes: &changes)
    }

    /// Environment tasks of a cluster the agents still run or are starting.
    public func liveEnvironmentTasks(inCluster clusterName: String) -> [TaskRecord] {
        tasks(inCluster: clusterName).filter { $0.function != nil && !$0.isStopped }
    }
}
