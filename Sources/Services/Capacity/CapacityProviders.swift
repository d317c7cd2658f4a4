#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECS
import ECSShapes
import StevedoreCore

/// A capacity provider: an auto scaling group (Stevedore's own) with managed scaling and
/// managed termination protection settings.
public struct CapacityProviderRecord: StoredRecord, Equatable {
    public var provider: CapacityProvider

    public static var recordKind: RecordKind { .capacityProviders }
    public var recordKey: String { provider.name ?? "" }
    public var name: String { provider.name ?? "" }
}

/// The CapacityProviderReservation metric of one provider, and what it is made of.
public struct CapacityReservation: Codable, Sendable, Equatable {
    public var capacityProvider: String
    public var cluster: String?
    public var autoScalingGroup: String?
    /// M: instances that have (or, for waiting tasks, would need) tasks.
    public var instancesNeeded: Int
    /// N: instances in the group that are, or are becoming, capacity.
    public var instances: Int
    /// M / N × 100 (200 when N is 0 and tasks wait, as ECS reports it).
    public var capacityProviderReservation: Double
    public var targetCapacity: Int
    public var provisioningTasks: Int
    public var desiredCapacity: Int
    public var managedScaling: Bool
}

/// What managed scaling decided for a group on one pass.
public struct ManagedScalingDecision: Sendable, Equatable {
    public var group: String
    public var from: Int
    public var to: Int
    public var reservation: Double
}

/// Capacity providers: ECS's API for them, and managed scaling of their groups.
extension CapacityState {
    public static let reservedProviderPrefixes = ["aws", "ecs", "fargate"]

    public mutating func createCapacityProvider(
        _ request: CreateCapacityProviderRequest, changes: inout ChangeSet
    ) throws(AWSError) -> CreateCapacityProviderResponse {
        let name = request.name
        guard NameRules.isValidName(name), !CapacityState.reservedProviderPrefixes.contains(where: { name.lowercased().hasPrefix($0) }) else {
            throw .client(
                "The capacity provider name '\(name)' is not valid: up to 255 letters, numbers, underscores and hyphens, not starting with aws, ecs or fargate.")
        }
        if let existing = providers[name], existing.provider.status == .active {
            throw .client("The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.")
        }
        guard request.managedInstancesProvider == nil else {
            throw .invalidParameter("managedInstancesProvider is not available: Stevedore's capacity providers use auto scaling groups (autoScalingGroupProvider).")
        }
        guard var groupProvider = request.autoScalingGroupProvider else {
            throw .invalidParameter("autoScalingGroupProvider is required.")
        }
        guard let group = try? autoScalingGroup(groupProvider.autoScalingGroupArn) else {
            throw .client(
                "The specified Auto Scaling group ARN '\(groupProvider.autoScalingGroupArn)' is not valid.")
        }
        if let user = capacityProvider(usingGroup: group.AutoScalingGroupARN) {
            throw .client("The specified Auto Scaling group is already in use by capacity provider \(user.name); a group backs one capacity provider.")
        }
        groupProvider.autoScalingGroupArn = group.AutoScalingGroupARN
        groupProvider.managedScaling = try validateManagedScaling(groupProvider.managedScaling, defaultStatus: .disabled)
        groupProvider.managedTerminationProtection = groupProvider.managedTerminationProtection ?? .disabled
        groupProvider.managedDraining = groupProvider.managedDraining ?? .enabled
        try checkTerminationProtection(groupProvider)
        try TagRules.validate(request.tags ?? [])
        let provider = CapacityProvider(
            capacityProviderArn: names.capacityProvider(name), name: name, status: .active, autoScalingGroupProvider: groupProvider,
            tags: request.tags ?? [], type: .ec2Autoscaling)
        let record = CapacityProviderRecord(provider: provider)
        providers[name] = record
        changes.put(record)
        return CreateCapacityProviderResponse(capacityProvider: provider)
    }

    public mutating func updateCapacityProvider(
        _ request: UpdateCapacityProviderRequest, changes: inout ChangeSet
    ) throws(AWSError) -> UpdateCapacityProviderResponse {
        var record = try activeCapacityProvider(request.name)
        guard let update = request.autoScalingGroupProvider else {
            throw .invalidParameter("autoScalingGroupProvider is required: the managedScaling, managedTerminationProtection or managedDraining to change.")
        }
        var groupProvider = record.provider.autoScalingGroupProvider!
        if let scaling = update.managedScaling {
            var merged = groupProvider.managedScaling ?? ManagedScaling()
            merged.status = scaling.status ?? merged.status
            merged.targetCapacity = scaling.targetCapacity ?? merged.targetCapacity
            merged.minimumScalingStepSize = scaling.minimumScalingStepSize ?? merged.minimumScalingStepSize
            merged.maximumScalingStepSize = scaling.maximumScalingStepSize ?? merged.maximumScalingStepSize
            merged.instanceWarmupPeriod = scaling.instanceWarmupPeriod ?? merged.instanceWarmupPeriod
            groupProvider.managedScaling = try validateManagedScaling(merged, defaultStatus: .enabled)
        }
        groupProvider.managedTerminationProtection = update.managedTerminationProtection ?? groupProvider.managedTerminationProtection
        groupProvider.managedDraining = update.managedDraining ?? groupProvider.managedDraining
        try checkTerminationProtection(groupProvider)
        record.provider.autoScalingGroupProvider = groupProvider
        record.provider.updateStatus = .updateComplete
        providers[record.name] = record
        changes.put(record)
        return UpdateCapacityProviderResponse(capacityProvider: record.provider)
    }

    public func describeCapacityProviders(_ request: DescribeCapacityProvidersRequest) throws(AWSError) -> DescribeCapacityProvidersResponse {
        let limit = request.maxResults ?? 10
        guard (1...10).contains(limit) else { throw .invalidParameter("maxResults must be between 1 and 10; got \(limit).") }
        let includeTags = (request.include ?? []).contains(.tags)
        func view(_ record: CapacityProviderRecord) -> CapacityProvider {
            var provider = record.provider
            if !includeTags { provider.tags = nil }
            return provider
        }
        if let wanted = request.capacityProviders {
            guard wanted.count <= 100 else { throw .invalidParameter("providers can list at most 100 names.") }
            var found: [CapacityProvider] = []
            var failures: [Failure] = []
            for reference in wanted {
                let name = reference.hasPrefix("arn:") ? String(reference.split(separator: "/").last ?? "") : reference
                if let record = providers[name] { found.append(view(record)) } else {
                    failures.append(Failure(arn: reference.hasPrefix("arn:") ? reference : names.capacityProvider(name), reason: "MISSING"))
                }
            }
            return DescribeCapacityProvidersResponse(capacityProviders: found, failures: failures)
        }
        let all = providers.keys.sorted().compactMap { providers[$0] }.filter { $0.provider.status == .active }
        let start = request.nextToken.flatMap(Int.init) ?? 0
        guard start <= all.count else { throw .invalidParameter("nextToken is not valid; pass the nextToken of the previous response.") }
        let end = min(all.count, start + limit)
        return DescribeCapacityProvidersResponse(
            capacityProviders: all[start..<end].map(view), failures: [], nextToken: end < all.count ? String(end) : nil)
    }

    func activeCapacityProvider(_ reference: String) throws(AWSError) -> CapacityProviderRecord {
        let name = reference.hasPrefix("arn:") ? String(reference.split(separator: "/").last ?? "") : reference
        guard let record = providers[name], record.provider.status == .active else {
            throw .client("The specified capacity provider does not exist: \(reference).")
        }
        return record
    }

    /// The capacity provider of the cluster whose group holds this instance.
    func providerForInstance(_ instance: ContainerInstance, cluster: Cluster) -> String? {
        guard let id = instance.ec2InstanceId,
            let group = groups.values.first(where: { $0.Instances.contains { $0.InstanceId == id } }),
            let provider = capacityProvider(usingGroup: group.AutoScalingGroupARN)?.name,
            (cluster.capacityProviders ?? []).contains(provider)
        else { return nil }
        return provider
    }

    private func validateManagedScaling(_ scaling: ManagedScaling?, defaultStatus: ManagedScalingStatus) throws(AWSError) -> ManagedScaling {
        var scaling = scaling ?? ManagedScaling(status: .disabled)
        scaling.status = scaling.status ?? defaultStatus
        scaling.targetCapacity = scaling.targetCapacity ?? 100
        scaling.minimumScalingStepSize = scaling.minimumScalingStepSize ?? 1
        scaling.maximumScalingStepSize = scaling.maximumScalingStepSize ?? 10000
        scaling.instanceWarmupPeriod = scaling.instanceWarmupPeriod ?? 300
        guard (1...100).contains(scaling.targetCapacity!) else {
            throw .invalidParameter("managedScaling.targetCapacity must be between 1 and 100 (percent); got \(scaling.targetCapacity!).")
        }
        guard (1...10000).contains(scaling.minimumScalingStepSize!), (1...10000).contains(scaling.maximumScalingStepSize!),
            scaling.minimumScalingStepSize! <= scaling.maximumScalingStepSize!
        else {
            throw .invalidParameter("managedScaling step sizes must be 1-10000 with minimumScalingStepSize at most maximumScalingStepSize.")
        }
        guard (0...10000).contains(scaling.instanceWarmupPeriod!) else {
            throw .invalidParameter("managedScaling.instanceWarmupPeriod must be 0-10000 seconds.")
        }
        return scaling
    }

    private func checkTerminationProtection(_ provider: AutoScalingGroupProvider) throws(AWSError) {
        if provider.managedTerminationProtection == .enabled, provider.managedScaling?.status != .enabled {
            throw .invalidParameter("The managed termination protection setting for the capacity provider is invalid. To enable managed termination protection for a capacity provider, the capacity provider must have managed scaling enabled.")
        }
    }

    /// First-fit decreasing on instances of `shape`; without a known shape, one task per instance.
    static func instancesFor(_ tasks: [TaskRequirements], shape: (cpu: Int, memory: Int)?) -> Int {
        guard let shape, shape.memory > 0 else { return tasks.count }
        var bins: [(cpu: Int, memory: Int)] = []
        for task in tasks.sorted(by: { $0.memory > $1.memory }) {
            if let index = bins.firstIndex(where: { $0.cpu >= task.cpu && $0.memory >= task.memory }) {
                bins[index].cpu -= task.cpu
                bins[index].memory -= task.memory
            } else {
                bins.append((max(0, shape.cpu - task.cpu), max(0, shape.memory - task.memory)))
            }
        }
        return bins.count
    }

    /// The group size managed scaling wants: enough instances for M at the target capacity, moved
    /// by at least the minimum and at most the maximum step. Scale-in waits until the reservation
    /// has been below the target for `scaleInAfter` seconds.
    public static func managedScalingTarget(
        _ reservation: CapacityReservation, scaling: ManagedScaling, group: AutoScalingGroupRecord, lowSince: Date?, now: Date, scaleInAfter: TimeInterval
    ) -> Int? {
        let target = Double(scaling.targetCapacity ?? 100)
        let wanted = Int((Double(reservation.instancesNeeded) * 100 / target).rounded(.up))
        let current = reservation.instances
        let minimumStep = scaling.minimumScalingStepSize ?? 1
        let maximumStep = scaling.maximumScalingStepSize ?? 10000
        var next = current
        if wanted > current {
            next = current + min(max(wanted - current, minimumStep), maximumStep)
        } else if wanted < current {
            guard let lowSince, now.timeIntervalSince(lowSince) >= scaleInAfter else { return nil }
            next = current - min(max(current - wanted, minimumStep), maximumStep)
            next = max(next, wanted)
        }
        next = min(group.MaxSize, max(group.MinSize, next))
        return next == group.DesiredCapacity ? nil : next
    }

}

/// The capacity provider operations and managed scaling that read or change ECS's state.
extension CapacityHost {
    public mutating func deleteCapacityProvider(
        _ request: DeleteCapacityProviderRequest, changes: inout ChangeSet
    ) throws(AWSError) -> DeleteCapacityProviderResponse {
        var record = try capacity.activeCapacityProvider(request.capacityProvider)
        if let cluster = ecs.clusters.values.first(where: { $0.clusterStatus == .active && ($0.capacityProviders ?? []).contains(record.name) }) {
            throw AWSError(
                type: "ResourceInUseException",
                message: "The specified capacity provider is in use by cluster \(cluster.clusterName ?? ""): remove it with PutClusterCapacityProviders first.")
        }
        if let service = ecs.services.values.first(where: { ($0.service.capacityProviderStrategy ?? []).contains { $0.capacityProvider == record.name } && $0.service.serviceStatus == .active }) {
            throw AWSError(
                type: "ResourceInUseException",
                message: "The specified capacity provider is in use by service \(service.name); update its capacityProviderStrategy first.")
        }
        record.provider.status = .inactive
        record.provider.updateStatus = .deleteComplete
        capacity.providers[record.name] = record
        changes.put(record)
        return DeleteCapacityProviderResponse(capacityProvider: record.provider)
    }

    public mutating func putClusterCapacityProviders(
        _ request: PutClusterCapacityProvidersRequest, changes: inout ChangeSet
    ) throws(AWSError) -> PutClusterCapacityProvidersResponse {
        var cluster = try ecs.activeCluster(request.cluster)
        let name = cluster.clusterName ?? ""
        for provider in request.capacityProviders {
            guard capacity.providers[provider]?.provider.status == .active else {
                throw .capacityProviderNotFound
            }
            if let other = ecs.clusters.values.first(where: { $0.clusterStatus == .active && $0.clusterName != name && ($0.capacityProviders ?? []).contains(provider) }) {
                throw .capacityProviderTaken(provider, by: other.clusterName ?? "")
            }
        }
        try ecs.validateCapacityProviderStrategy(request.defaultCapacityProviderStrategy, providers: request.capacityProviders)
        for item in request.defaultCapacityProviderStrategy where !request.capacityProviders.contains(item.capacityProvider) {
            throw .invalidParameter(
                "The default capacity provider strategy names '\(item.capacityProvider)', which is not among the cluster's capacityProviders.")
        }
        let removed = Set(cluster.capacityProviders ?? []).subtracting(request.capacityProviders)
        for provider in removed {
            let inUse = ecs.tasks(inCluster: name).contains { task in
                !task.isStopped && task.task.capacityProviderName == provider
            }
            if inUse {
                throw AWSError(type: "ResourceInUseException", message: "The capacity provider '\(provider)' has tasks in cluster \(name); stop them before removing it.")
            }
        }
        cluster.capacityProviders = request.capacityProviders
        cluster.defaultCapacityProviderStrategy = request.defaultCapacityProviderStrategy
        ecs.clusters[name] = cluster
        changes.put(cluster)
        // Instances of groups behind the new providers now count for them.
        for (arn, instance) in ecs.instances where ecs.clusterName(ofInstance: arn) == name && instance.instanceStatus != .inactive {
            let provider = capacity.providerForInstance(instance, cluster: cluster)
            guard provider != instance.capacityProviderName else { continue }
            var updated = instance
            updated.capacityProviderName = provider
            ecs.putInstance(updated, changes: &changes)
        }
        return PutClusterCapacityProvidersResponse(cluster: ecs.clusterView(cluster, include: [.settings, .configurations]))
    }

    /// The CapacityProviderReservation of a provider: M instances needed (those with tasks, plus
    /// a bin-packing estimate for tasks waiting in PROVISIONING) over N instances in its group.
    public func capacityReservation(_ name: String) -> CapacityReservation? {
        guard let record = capacity.providers[name], record.provider.status == .active,
            let groupProvider = record.provider.autoScalingGroupProvider,
            let group = try? capacity.autoScalingGroup(groupProvider.autoScalingGroupArn)
        else { return nil }
        let cluster = ecs.clusters.values.first { $0.clusterStatus == .active && ($0.capacityProviders ?? []).contains(name) }?.clusterName
        let active = group.activeInstances
        let busy = active.filter { instance in instance.ContainerInstanceArn.map { ecs.isBusy($0) } ?? false }.count
        var waiting: [TaskRequirements] = []
        if let cluster {
            for arn in ecs.provisioningTasks {
                // Each waiting task counts for the provider it waits for (its preferred one).
                guard let task = ecs.tasks[arn], ecs.clusterName(ofTask: task) == cluster, task.task.capacityProviderName == name else { continue }
                waiting.append(task.requirements)
            }
        }
        // The instance shape: what the group's registered instances offer.
        let shapes = active.compactMap { $0.ContainerInstanceArn.flatMap { ecs.instances[$0] } }.map {
            (cpu: ECSState.integerResource("CPU", $0.registeredResources), memory: ECSState.integerResource("MEMORY", $0.registeredResources))
        }
        let shape = shapes.max { $0.memory < $1.memory }
        let needed = busy + CapacityState.instancesFor(waiting, shape: shape)
        let target = groupProvider.managedScaling?.targetCapacity ?? 100
        let reservation: Double =
            active.isEmpty ? (needed > 0 ? 200 : 100) : Double(needed) / Double(active.count) * 100
        return CapacityReservation(
            capacityProvider: name, cluster: cluster, autoScalingGroup: group.AutoScalingGroupName, instancesNeeded: needed,
            instances: active.count, capacityProviderReservation: reservation, targetCapacity: target, provisioningTasks: waiting.count,
            desiredCapacity: group.DesiredCapacity, managedScaling: groupProvider.managedScaling?.status == .enabled)
    }

    /// One managed-scaling pass over every provider with managed scaling enabled.
    public mutating func applyManagedScaling(now: Date, scaleInAfter: TimeInterval, changes: inout ChangeSet) -> [ManagedScalingDecision] {
        var decisions: [ManagedScalingDecision] = []
        for name in capacity.providers.keys.sorted() {
            guard let record = capacity.providers[name], let scaling = record.provider.autoScalingGroupProvider?.managedScaling,
                scaling.status == .enabled, let reservation = capacityReservation(name), reservation.cluster != nil,
                var group = capacity.groups[reservation.autoScalingGroup ?? ""], group.Status == nil
            else { continue }
            let wantedInstances = Int((Double(reservation.instancesNeeded) * 100 / Double(scaling.targetCapacity ?? 100)).rounded(.up))
            if wantedInstances < reservation.instances {
                if capacity.lowSince[name] == nil { capacity.lowSince[name] = now }
            } else {
                capacity.lowSince[name] = nil
            }
            guard let next = CapacityState.managedScalingTarget(
                reservation, scaling: scaling, group: group, lowSince: capacity.lowSince[name], now: now, scaleInAfter: scaleInAfter)
            else { continue }
            decisions.append(ManagedScalingDecision(group: group.AutoScalingGroupName, from: group.DesiredCapacity, to: next, reservation: reservation.capacityProviderReservation))
            group.DesiredCapacity = next
            capacity.groups[group.AutoScalingGroupName] = group
            changes.put(group)
            if next < reservation.instances { capacity.lowSince[name] = now }
        }
        return decisions
    }
}

extension AWSError {
    /// A capacity provider serves one cluster.
    static func capacityProviderTaken(_ provider: String, by cluster: String) -> AWSError {
        .invalidParameter("The capacity provider '\(provider)' is already associated with cluster \(cluster); a capacity provider serves one cluster.")
    }
}
