import AgentProtocol
import Capacity
import ECS
import ECSShapes
import Foundation
import StevedoreCore

/// What the console's cluster pages show, built from ECS's and capacity's state: pure, so a
/// page's answer depends only on the state it was read from.
public enum ClusterViews {
    public struct Overview: Encodable, Sendable {
        public var clusters: [ClusterSummary]
    }

    public struct ClusterSummary: Encodable, Sendable, Equatable {
        public var name: String
        public var status: String
        public var instances: Int
        public var connectedInstances: Int
        public var runningTasks: Int
        public var pendingTasks: Int
        public var services: Int
    }

    /// Registered and remaining units of one resource (CPU units, MiB of memory).
    public struct Usage: Encodable, Sendable, Equatable {
        public var registered: Int
        public var remaining: Int
    }

    public struct InstanceBar: Encodable, Sendable, Equatable {
        public var id: String
        public var arn: String
        public var ec2InstanceId: String?
        public var zone: String
        public var status: String
        public var connected: Bool
        public var capacityProvider: String?
        public var cpu: Usage
        public var memory: Usage
        public var runningTasks: Int
        public var pendingTasks: Int
    }

    public struct ProviderView: Encodable, Sendable, Equatable {
        public var name: String
        public var status: String
        public var autoScalingGroup: String?
        public var targetCapacity: Int?
        /// The reservation the provider's metric reports (percent), and the instances it wants.
        public var reservation: Double?
        public var instances: Int?
        public var desiredInstances: Int?
    }

    public struct ServiceSummary: Encodable, Sendable, Equatable {
        public var name: String
        public var status: String
        public var desired: Int
        public var running: Int
        public var pending: Int
        public var taskDefinition: String
        public var rolloutState: String?
    }

    public struct ClusterPage: Encodable, Sendable {
        public var name: String
        public var arn: String
        public var status: String
        public var instances: [InstanceBar]
        /// Instances per availability zone, zones in name order (instances without one under "-").
        public var zones: [String]
        public var capacityProviders: [ProviderView]
        public var services: [ServiceSummary]
        public var runningTasks: Int
        public var pendingTasks: Int
    }

    public static func overview(_ ecs: ECSState) -> Overview {
        let clusters = ecs.clusters.values.filter { $0.status != "INACTIVE" }.map { stored in
            let name = stored.clusterName ?? ""
            let view = ecs.clusterView(stored, include: [])
            let slots = ecs.capacity[name]?.slots ?? []
            return ClusterSummary(
                name: name, status: view.status ?? "ACTIVE", instances: view.registeredContainerInstancesCount ?? 0,
                connectedInstances: slots.filter { $0.connected && $0.status != .inactive }.count, runningTasks: view.runningTasksCount ?? 0,
                pendingTasks: view.pendingTasksCount ?? 0, services: view.activeServicesCount ?? 0)
        }
        return Overview(clusters: clusters.sorted { $0.name < $1.name })
    }

    /// One cluster's page, or nil when no active cluster has that name.
    public static func cluster(_ name: String, in host: some CapacityHost) -> ClusterPage? {
        let ecs = host.ecs
        guard let stored = ecs.clusters[name], stored.status != "INACTIVE" else { return nil }
        let view = ecs.clusterView(stored, include: [])
        var bars: [InstanceBar] = []
        for slot in ecs.capacity[name]?.slots ?? [] where slot.status != .inactive {
            guard let instance = ecs.instances[slot.arn] else { continue }
            bars.append(bar(instance, slot: slot))
        }
        bars.sort { ($0.zone, $0.id) < ($1.zone, $1.id) }
        let zones = Array(Set(bars.map(\.zone))).sorted()
        let providers = (view.capacityProviders ?? []).sorted().map { provider(named: $0, in: host) }
        let services = ecs.services.values.filter { $0.service.clusterArn == stored.clusterArn && $0.service.status != "INACTIVE" }
            .map { summary(ecs.serviceView($0)) }.sorted { $0.name < $1.name }
        return ClusterPage(
            name: name, arn: stored.clusterArn ?? "", status: view.status ?? "ACTIVE", instances: bars, zones: zones,
            capacityProviders: providers, services: services, runningTasks: view.runningTasksCount ?? 0, pendingTasks: view.pendingTasksCount ?? 0)
    }

    static func bar(_ instance: ContainerInstance, slot: InstanceSlot) -> InstanceBar {
        func registered(_ name: String) -> Int { instance.registeredResources?.first { $0.name == name }?.integerValue ?? 0 }
        let zone = slot.attributes["ecs.availability-zone"].flatMap { $0 } ?? "-"
        return InstanceBar(
            id: slot.id, arn: slot.arn, ec2InstanceId: slot.ec2InstanceId, zone: zone, status: slot.status.rawValue, connected: slot.connected,
            capacityProvider: slot.capacityProviderName, cpu: Usage(registered: registered("CPU"), remaining: slot.cpuRemaining),
            memory: Usage(registered: registered("MEMORY"), remaining: slot.memoryRemaining), runningTasks: slot.runningTasksCount,
            pendingTasks: slot.pendingTasksCount)
    }

    static func provider(named name: String, in host: some CapacityHost) -> ProviderView {
        guard let record = host.capacity.providers[name] else {
            // FARGATE and FARGATE_SPOT are AWS's own, named by clusters without a record here.
            return ProviderView(name: name, status: "ACTIVE")
        }
        let provider = record.provider
        let reservation = host.capacityReservation(name)
        return ProviderView(
            name: name, status: provider.status?.rawValue ?? "ACTIVE", autoScalingGroup: reservation?.autoScalingGroup,
            targetCapacity: provider.autoScalingGroupProvider?.managedScaling?.targetCapacity,
            reservation: reservation?.capacityProviderReservation, instances: reservation?.instances,
            desiredInstances: reservation?.desiredCapacity)
    }

    static func summary(_ service: ECSService) -> ServiceSummary {
        ServiceSummary(
            name: service.serviceName ?? "", status: service.status ?? "", desired: service.desiredCount ?? 0, running: service.runningCount ?? 0,
            pending: service.pendingCount ?? 0, taskDefinition: shortDefinition(service.taskDefinition),
            rolloutState: service.deployments?.first { $0.status == "PRIMARY" }?.rolloutState?.rawValue)
    }

    /// `family:revision` of a task definition ARN.
    public static func shortDefinition(_ arn: String?) -> String {
        guard let arn else { return "" }
        return arn.split(separator: "/").last.map(String.init) ?? arn
    }
}
