import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import StevedoreCore

/// Live figures a cluster reports; derived from the state, never stored.
public struct ClusterCounts: Sendable, Equatable {
    public var registeredContainerInstances = 0
    public var runningTasks = 0
    public var pendingTasks = 0
    public var activeServices = 0
    public var drainingServices = 0
    public var activeEC2Services = 0

    public init() {}
}

extension ECSState {
    // MARK: Lookup

    /// The ACTIVE cluster a `cluster` request member names (name or ARN; `default` when absent).
    public func activeCluster(_ reference: String?) throws(AWSError) -> Cluster {
        let name = try activeClusterName(reference)
        guard let cluster = clusters[name] else { throw .clusterNotFound }
        return cluster
    }

    /// The ACTIVE cluster a name or ARN refers to, with its name.
    func activeClusterRef(_ reference: String?) throws(AWSError) -> ClusterRef {
        let name = try activeClusterName(reference)
        guard let cluster = clusters[name] else { throw .clusterNotFound }
        return ClusterRef(name: name, cluster: cluster)
    }

    /// The name of the ACTIVE cluster a name or ARN refers to (`default` when none is given).
    public func activeClusterName(_ reference: String?) throws(AWSError) -> String {
        let name = try Self.checkedName(reference ?? "default", kind: "Cluster", names: names.clusterName(fromReference:))
        guard !names.isForeign(reference ?? "", resourceType: "cluster"), let cluster = clusters[name], cluster.clusterStatus == .active else {
            throw .clusterNotFound
        }
        return name
    }

    /// The name in a name-or-ARN reference, refused as ECS refuses it when it cannot be a name at
    /// all (reads included, so an over-long reference costs nothing).
    static func checkedName(_ reference: String, kind: String, names toName: (String) -> String) throws(AWSError) -> String {
        let name = toName(reference)
        guard NameRules.isValidName(name) else {
            let shown = reference.count > 1024 ? String(reference.prefix(1024)) + "..." : reference
            throw .invalidParameter("\(kind) must match ^[a-zA-Z0-9\\-_]{1,255}$, but was \(shown)")
        }
        return name
    }

    /// A cluster as DescribeClusters shows it, with counts and the requested optional parts.
    public func clusterView(_ stored: Cluster, include: Set<ClusterField>) -> Cluster {
        var cluster = stored
        let counts = clusterCounts(stored.clusterName ?? "")
        cluster.registeredContainerInstancesCount = counts.registeredContainerInstances
        cluster.runningTasksCount = counts.runningTasks
        cluster.pendingTasksCount = counts.pendingTasks
        cluster.activeServicesCount = counts.activeServices
        cluster.statistics = []
        if include.contains(.statistics) {
            cluster.statistics = [
                KeyValuePair(name: "runningEC2TasksCount", value: String(counts.runningTasks)),
                KeyValuePair(name: "runningFargateTasksCount", value: "0"),
                KeyValuePair(name: "pendingEC2TasksCount", value: String(counts.pendingTasks)),
                KeyValuePair(name: "pendingFargateTasksCount", value: "0"),
                KeyValuePair(name: "activeEC2ServiceCount", value: String(counts.activeEC2Services)),
                KeyValuePair(name: "activeFargateServiceCount", value: "0"),
                KeyValuePair(name: "drainingEC2ServiceCount", value: String(counts.drainingServices)),
                KeyValuePair(name: "drainingFargateServiceCount", value: "0"),
            ]
        }
        cluster.tags = include.contains(.tags) ? (tags[stored.clusterArn ?? ""] ?? []) : nil
        if !include.contains(.settings) { cluster.settings = nil }
        if !include.contains(.configurations) { cluster.configuration = nil }
        if include.contains(.attachments) {
            cluster.attachments = []
        } else {
            cluster.attachments = nil
            cluster.attachmentsStatus = nil
        }
        return cluster
    }

    // MARK: Operations

    /// - Parameter caller: who asks: a cluster made without a containerInsights setting takes the
    ///   caller's account setting (its own, the account's default, or AWS's: disabled).
    public mutating func createCluster(
        _ request: CreateClusterRequest,
        caller: String? = nil,
        changes: inout ChangeSet
    ) throws(AWSError) -> CreateClusterResponse {
        let name = request.clusterName ?? "default"
        guard NameRules.isValidName(name) else {
            throw .invalidParameter(
                "Invalid clusterName '\(name)': up to 255 letters (uppercase and lowercase), numbers, underscores and hyphens are allowed."
            )
        }
        let settings = try validateClusterSettings(request.settings ?? [])
        try TagRules.validate(request.tags ?? [])
        try validateCapacityProviderStrategy(request.defaultCapacityProviderStrategy ?? [], providers: request.capacityProviders ?? [])
        let arn = names.cluster(name)
        if let existing = clusters[name], existing.clusterStatus == .active {
            // CreateCluster is idempotent: an existing cluster is returned as it is.
            return CreateClusterResponse(cluster: clusterView(existing, include: [.settings, .configurations, .tags]))
        }
        let cluster = Cluster(
            clusterArn: arn,
            clusterName: name,
            configuration: request.configuration,
            status: ClusterStatus.active.rawValue,
            settings: settings.isEmpty
                ? [ClusterSetting(
                    name: .containerInsights,
                    value: accountSettings.effective(.containerInsights, principal: Self.settingsOwner(caller) ?? rootPrincipal, root: rootPrincipal).value)]
                : settings,
            capacityProviders: request.capacityProviders ?? [],
            defaultCapacityProviderStrategy: request.defaultCapacityProviderStrategy ?? [],
            serviceConnectDefaults: request.serviceConnectDefaults.map { ClusterServiceConnectDefaults(namespace: $0.namespace) }
        )
        clusters[name] = cluster
        changes.put(cluster)
        replaceTags(of: arn, with: request.tags ?? [], changes: &changes)
        return CreateClusterResponse(cluster: clusterView(cluster, include: [.settings, .configurations, .tags]))
    }

    public func describeClusters(_ request: DescribeClustersRequest) throws(AWSError) -> DescribeClustersResponse {
        let references = request.clusters ?? ["default"]
        guard references.count <= 100 else {
            throw .invalidParameter("clusters can list at most 100 clusters; got \(references.count).")
        }
        let include = Set(request.include ?? [])
        var found: [Cluster] = []
        var failures: [Failure] = []
        for reference in references {
            let name = try Self.checkedName(reference, kind: "Cluster", names: names.clusterName(fromReference:))
            if !names.isForeign(reference, resourceType: "cluster"), let cluster = clusters[name] {
                found.append(clusterView(cluster, include: include))
            } else {
                failures.append(Failure(arn: reference.hasPrefix("arn:") ? reference : names.cluster(name), reason: "MISSING"))
            }
        }
        return DescribeClustersResponse(clusters: found, failures: failures)
    }

    public func listClusters(_ request: ListClustersRequest) throws(AWSError) -> ListClustersResponse {
        let arns = clusters.values.filter { $0.clusterStatus == .active }.compactMap(\.clusterArn).sorted()
        let (page, token) = try Pagination.page(
            arns, key: { $0 }, maxResults: request.maxResults, nextToken: request.nextToken, comesAfter: >)
        return ListClustersResponse(clusterArns: page, nextToken: token)
    }

    public mutating func deleteCluster(
        _ request: DeleteClusterRequest,
        changes: inout ChangeSet
    ) throws(AWSError) -> DeleteClusterResponse {
        var cluster = try activeCluster(request.cluster)
        let counts = clusterCounts(cluster.clusterName ?? "")
        if counts.registeredContainerInstances > 0 {
            throw AWSError(
                type: "ClusterContainsContainerInstancesException",
                message: "The Cluster cannot be deleted while Container Instances are active or draining. Deregister its \(counts.registeredContainerInstances) container instance(s) first."
            )
        }
        if counts.activeServices + counts.drainingServices > 0 {
            throw AWSError(
                type: "ClusterContainsServicesException",
                message: "The Cluster cannot be deleted while Services are active. Delete its \(counts.activeServices + counts.drainingServices) service(s) first."
            )
        }
        if counts.runningTasks + counts.pendingTasks > 0 {
            throw AWSError(
                type: "ClusterContainsTasksException",
                message: "The Cluster cannot be deleted while Tasks are active. Stop its \(counts.runningTasks + counts.pendingTasks) task(s) first."
            )
        }
        cluster.clusterStatus = .inactive
        clusters[cluster.recordKey] = cluster
        changes.put(cluster)
        return DeleteClusterResponse(cluster: clusterView(cluster, include: [.settings, .configurations]))
    }

    public mutating func updateCluster(
        _ request: UpdateClusterRequest,
        changes: inout ChangeSet
    ) throws(AWSError) -> UpdateClusterResponse {
        var cluster = try activeCluster(request.cluster)
        if let settings = request.settings {
            cluster.settings = mergeSettings(cluster.settings ?? [], try validateClusterSettings(settings))
        }
        if let configuration = request.configuration { cluster.configuration = configuration }
        if let defaults = request.serviceConnectDefaults {
            cluster.serviceConnectDefaults = ClusterServiceConnectDefaults(namespace: defaults.namespace)
        }
        clusters[cluster.recordKey] = cluster
        changes.put(cluster)
        return UpdateClusterResponse(cluster: clusterView(cluster, include: [.settings, .configurations, .tags]))
    }

    public mutating func updateClusterSettings(
        _ request: UpdateClusterSettingsRequest,
        changes: inout ChangeSet
    ) throws(AWSError) -> UpdateClusterSettingsResponse {
        var cluster = try activeCluster(request.cluster)
        cluster.settings = mergeSettings(cluster.settings ?? [], try validateClusterSettings(request.settings))
        clusters[cluster.recordKey] = cluster
        changes.put(cluster)
        return UpdateClusterSettingsResponse(cluster: clusterView(cluster, include: [.settings, .configurations, .tags]))
    }

    // MARK: Helpers


    func clusterCounts(_ name: String) -> ClusterCounts {
        var counts = ClusterCounts()
        counts.registeredContainerInstances = capacity[name]?.slots.count ?? 0
        counts.runningTasks = taskCounts[name]?.running ?? 0
        counts.pendingTasks = taskCounts[name]?.pending ?? 0
        for arn in serviceIndex[name]?.values ?? [:].values {
            switch services[arn]?.service.serviceStatus {
            case .active:
                counts.activeServices += 1
                counts.activeEC2Services += 1
            case .draining: counts.drainingServices += 1
            default: break
            }
        }
        return counts
    }

    private func validateClusterSettings(_ settings: [ClusterSetting]) throws(AWSError) -> [ClusterSetting] {
        for setting in settings {
            guard setting.name == .containerInsights else {
                throw .invalidParameter("Cluster settings need a name; the only supported setting is containerInsights.")
            }
            guard let value = setting.value, ["enabled", "disabled", "enhanced"].contains(value) else {
                throw .invalidParameter(
                    "Invalid value '\(setting.value ?? "")' for cluster setting containerInsights: use enabled, disabled or enhanced."
                )
            }
        }
        return settings
    }

    private func mergeSettings(_ existing: [ClusterSetting], _ new: [ClusterSetting]) -> [ClusterSetting] {
        var result = existing
        for setting in new {
            if let index = result.firstIndex(where: { $0.name == setting.name }) {
                result[index] = setting
            } else {
                result.append(setting)
            }
        }
        return result
    }

    package func validateCapacityProviderStrategy(_ strategy: [CapacityProviderStrategyItem], providers: [String]) throws(AWSError) {
        guard strategy.count <= 20 else {
            throw .invalidParameter("A capacity provider strategy can have at most 20 items; got \(strategy.count).")
        }
        guard strategy.filter({ ($0.base ?? 0) > 0 }).count <= 1 else {
            throw .invalidParameter("Only one capacity provider in a strategy can have a base.")
        }
        for item in strategy {
            if let base = item.base, !(0...100_000).contains(base) {
                throw .invalidParameter("Capacity provider '\(item.capacityProvider)': base must be between 0 and 100000.")
            }
            if let weight = item.weight, !(0...1000).contains(weight) {
                throw .invalidParameter("Capacity provider '\(item.capacityProvider)': weight must be between 0 and 1000.")
            }
        }
        if !strategy.isEmpty, strategy.allSatisfy({ ($0.weight ?? 0) == 0 }) {
            throw .invalidParameter("A capacity provider strategy needs at least one provider with a weight above 0.")
        }
    }
}

/// An ACTIVE cluster with its name (the key it is stored under), as operations pass it on.
struct ClusterRef {
    let name: String
    let cluster: Cluster
}
