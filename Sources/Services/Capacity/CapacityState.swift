#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECS
import ECSShapes
import StevedoreCore

/// Cluster auto scaling's state: capacity providers (ECS resources backed by groups) and
/// Stevedore's auto scaling groups, whose instances are ECS container instances.
public struct CapacityState: Sendable {
    public let names: ResourceNames
    /// Capacity providers by name, including INACTIVE (deleted) ones.
    public package(set) var providers: [String: CapacityProviderRecord] = [:]
    public package(set) var groups: [String: AutoScalingGroupRecord] = [:]
    /// Since when each provider's reservation has been below its target (memory only).
    package var lowSince: [String: Date] = [:]

    public init(names: ResourceNames) {
        self.names = names
    }

    public static let recordKinds: [RecordKind] = [.capacityProviders, .autoScalingGroups]

    public static func restore(names: ResourceNames, rows: StoredRows) throws -> CapacityState {
        var state = CapacityState(names: names)
        for record in try rows.decode(CapacityProviderRecord.self) {
            state.providers[record.recordKey] = record
        }
        for record in try rows.decode(AutoScalingGroupRecord.self) {
            state.groups[record.recordKey] = record
        }
        return state
    }
}

/// The composed state cluster auto scaling runs in: its own, and ECS's clusters, container
/// instances and tasks, which it reads (reservations) and changes (draining, deregistration).
public protocol CapacityHost: ECSHost {
    var capacity: CapacityState { get set }
}

extension RecordKind {
    public static let capacityProviders = RecordKind("capacity_providers")
    public static let autoScalingGroups = RecordKind("auto_scaling_groups")
}

extension CapacityHost {
    public func capacityProviderTags(_ name: String) -> [ResourceTag]? {
        guard let record = capacity.providers[name], record.provider.status == .active else { return nil }
        return record.provider.tags ?? []
    }

    public mutating func setCapacityProviderTags(_ name: String, _ tags: [ResourceTag], changes: inout ChangeSet) {
        guard var record = capacity.providers[name] else { return }
        record.provider.tags = tags
        capacity.providers[name] = record
        changes.put(record)
    }

    public func capacityProviderRefusal(_ name: String, forCluster cluster: String) -> AWSError? {
        guard capacity.providers[name]?.provider.status == .active else { return .capacityProviderNotFound }
        if let other = ecs.clusters.values.first(where: { $0.clusterStatus == .active && $0.clusterName != cluster && ($0.capacityProviders ?? []).contains(name) }) {
            return .capacityProviderTaken(name, by: other.clusterName ?? "")
        }
        return nil
    }
}
