import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import StevedoreCore

/// How a task waiting in PROVISIONING is to be placed once capacity arrives.
public struct PendingPlacement: Codable, Sendable, Equatable {
    public var strategies: [PlacementStrategy]
    public var constraints: [PlacementConstraint]
    /// The capacity providers it may run on (nil: any instance).
    public var capacityProviders: [String]?
    public var since: Date
}

/// Tasks launched through capacity providers wait in PROVISIONING when no instance fits them,
/// as on ECS; managed scaling grows the group, and each scheduler pass places what now fits.
extension ECSState {
    /// ECS stops a task that waited this long: "Capacity is unavailable at this time".
    public static let provisioningTimeout: TimeInterval = 30 * 60

    /// Places PROVISIONING tasks that fit now, oldest first; stops those that waited too long.
    public mutating func placeProvisioningTasks(now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet) {
        guard !provisioningTasks.isEmpty else { return }
        let waiting = provisioningTasks.compactMap { tasks[$0] }.sorted { ($0.task.createdAt ?? now, $0.arn) < ($1.task.createdAt ?? now, $1.arn) }
        for record in waiting {
            guard let pending = record.provisioning else { continue }
            if now.timeIntervalSince(pending.since) > Self.provisioningTimeout {
                if let stopped = requestStop(
                    record.arn, code: .taskFailedToStart,
                    reason: "Capacity is unavailable at this time. Please try again later or in a different availability zone",
                    now: now, changes: &changes)
                {
                    // A failed start for its service: back-off and the circuit breaker apply.
                    noteServiceTaskStopped(stopped, now: now, changes: &changes)
                }
                continue
            }
            let clusterName = clusterName(ofTask: record)
            guard let cluster = clusters[clusterName], cluster.clusterStatus == .active, capacity[clusterName]?.isEmpty == false,
                let definition = record.task.taskDefinitionArn.flatMap({ try? taskDefinition($0) }),
                var request = try? placementRequest(
                    definition: definition, overrides: record.task.overrides, count: 1, group: record.task.group ?? "",
                    strategies: pending.strategies, constraints: pending.constraints,
                    defaultRules: record.serviceArn == nil ? [.random] : PlacementRule.serviceDefault)
            else { continue }
            request.capacityProviders = pending.capacityProviders.map(Set.init)
            let result = place(request, inCluster: clusterName, using: &generator, changes: &changes)
            guard let instanceArn = result.placed.first else { continue }
            capacity[clusterName]?.release(request.requirements, group: request.group, on: instanceArn, wasRunning: false)
            assign(record, to: instanceArn, changes: &changes)
        }
    }

    /// A PROVISIONING task gets its instance and becomes PENDING for that instance's agent.
    private mutating func assign(_ waiting: TaskRecord, to instanceArn: String, changes: inout ChangeSet) {
        var record = waiting
        let instance = instances[instanceArn]
        let architecture = instance?.attributes?.first { $0.name == "ecs.cpu-architecture" }?.value
        record.task.containerInstanceArn = instanceArn
        record.task.capacityProviderName = instance?.capacityProviderName
        record.task.availabilityZone = instance?.attributes?.first { $0.name == "ecs.availability-zone" }?.value ?? nil
        record.task.attributes = architecture.map { [Attribute(name: "ecs.cpu-architecture", value: $0)] } ?? []
        record.lastStatus = .pending
        record.task.version = (record.task.version ?? 0) + 1
        record.provisioning = nil
        record.assignmentSequence = nextAssignmentSequence(changes: &changes)
        putTask(record, changes: &changes)
        changes.assignedInstances.insert(instanceArn)
    }
}
