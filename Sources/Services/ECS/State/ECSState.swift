#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import HashTreeCollections
import Dispatch
import ECSShapes
import StevedoreCore
import Synchronization

/// ECS's desired and known state, in memory: clusters, task definitions, container instances,
/// tasks and services, with the indexes and placement capacity derived from them. Operations are
/// pure functions over it: they read the request and the time they are given, change the state,
/// and list the rows to persist in a ``ChangeSet``. The control plane composes it with the other
/// services' states (see ``ECSHost``) and its committer serialises the writes.
public struct ECSState: Sendable {
    public let names: ResourceNames
    public var settings = SchedulerSettings()
    /// Clusters by name, including INACTIVE ones (kept so describe calls can still show them).
    public package(set) var clusters: [String: Cluster] = [:]
    public package(set) var families: [String: TaskDefinitionFamily] = [:]
    /// Tags by resource ARN.
    public package(set) var tags: [String: [ResourceTag]] = [:]

    /// Container instances by ARN, including INACTIVE (deregistered) ones until they are pruned.
    public package(set) var instances: [String: ContainerInstance] = [:]
    /// Tasks by ARN: live ones, and those stopped since this process started. A hash trie: once
    /// the state is published to readers, a write copies the path to the task it changes, not the
    /// table (nor a shard of it).
    public package(set) var tasks = TrieDictionary<TaskRecord>()
    /// Tasks stopped before this process started, decoded only when read.
    public package(set) var archive = StoppedTaskArchive()
    public package(set) var services: [String: ServiceRecord] = [:]
    public package(set) var counters = ControlPlaneCounters()
    /// Per cluster name: what each instance has left, for placement. Derived, never stored.
    public package(set) var capacity: [String: ClusterCapacity] = [:]
    /// When each instance's agent was last heard from. Memory only: after a restart every agent
    /// gets a full timeout to reconnect.
    public package(set) var lastContact: [String: Date] = [:]
    /// Task ARNs per instance and per service (hash tries, as `tasks`: an instance may hold
    /// thousands, and each task started there would otherwise copy them all after a publication).
    package var tasksByInstance: [String: TreeSet<String>] = [:]
    package var tasksByService: [String: TreeSet<String>] = [:]
    /// The ARNs in `tasks` per cluster name and desired status, in ARN order: ListTasks pages
    /// straight from it (AWS lists task ARNs in ascending order).
    package var taskOrder: [String: [DesiredTaskStatus: SortedKeys]] = [:]
    /// Running and pending tasks per cluster name, kept as tasks change (DescribeClusters reads
    /// them on every call; counting would scan every task of the cluster).
    package var taskCounts: [String: TaskCounts] = [:]
    /// Service ARNs per cluster name and service name.
    var serviceIndex: [String: [String: String]] = [:]
    /// RunTask's client tokens: honoured for 24 hours (AWS), across restarts.
    public package(set) var runTaskTokens = IdempotencyTokens(lifetime: 24 * 3600)
    /// Tasks waiting in PROVISIONING.
    package var provisioningTasks: Set<String> = []
    /// Tasks DEACTIVATING: deregistered from their target groups, stopped once the delay passes.
    package var deactivatingTasks: Set<String> = []
    /// Account settings per principal (PutAccountSetting and its kin).
    public package(set) var accountSettings = AccountSettings()
    /// Service deployments and revisions by ARN (ListServiceDeployments and its kin).
    public package(set) var serviceDeployments: [String: ServiceDeployment] = [:]
    public package(set) var serviceRevisions: [String: ServiceRevision] = [:]
    /// Service deployment ARNs per service ARN (ListServiceDeployments reads one service's).
    package var serviceDeploymentsByService: [String: Set<String>] = [:]

    public init(names: ResourceNames) {
        self.names = names
    }

    /// The record kinds ECS keeps, in the order they are restored.
    public static let recordKinds: [RecordKind] = [
        .clusters, .families, .taskDefinitions, .tags, .meta, .containerInstances, .services, .tasks, .stoppedTasks, .clientTokens,
        .accountSettings, .serviceDeployments, .serviceRevisions,
    ]

    /// Rebuilds the state from stored rows (as ``RecordCoding`` wrote them).
    public static func restore(names: ResourceNames, rows: StoredRows) throws -> ECSState {
        var state = ECSState(names: names)
        for cluster in try rows.decode(Cluster.self) {
            state.clusters[cluster.recordKey] = cluster
        }
        for family in try rows.decode(TaskDefinitionFamily.self) {
            state.families[family.family] = family
        }
        for definition in try rows.decode(TaskDefinition.self) {
            let name = definition.family ?? ""
            state.families[name, default: TaskDefinitionFamily(family: name, lastRevision: 0)].insert(definition)
        }
        for set in try rows.decode(TagSet.self) {
            state.tags[set.resourceArn] = set.tags
        }
        for setting in try rows.decode(AccountSettingRecord.self) {
            state.accountSettings.restore(setting)
        }
        for deployment in try rows.decode(ServiceDeployment.self) {
            state.serviceDeployments[deployment.recordKey] = deployment
            state.serviceDeploymentsByService[deployment.serviceArn ?? "", default: []].insert(deployment.recordKey)
        }
        for revision in try rows.decode(ServiceRevision.self) {
            state.serviceRevisions[revision.recordKey] = revision
        }
        for counters in try rows.decode(ControlPlaneCounters.self) {
            // Other services keep rows of their own in the same table; the largest sequence wins.
            state.counters.assignmentSequence = max(state.counters.assignmentSequence, counters.assignmentSequence)
            if !counters.epoch.isEmpty { state.counters.epoch = counters.epoch }
        }
        var scratch = ChangeSet()
        for instance in try rows.decode(ContainerInstance.self) {
            state.putInstance(instance, changes: &scratch)
        }
        for service in try rows.decode(ServiceRecord.self) {
            state.putService(service, changes: &scratch)
        }
        // The three long parts side by side, so that one's single-threaded stretches (building
        // an index) overlap the others' decoding. Stopped tasks stay encoded behind their
        // summaries (see StoppedTaskArchive).
        let archive = Mutex<Result<StoppedTaskArchive, any Error>>(.success(StoppedTaskArchive()))
        let live = Mutex<Result<[TaskRecord], any Error>>(.success([]))
        let noTokens = state.runTaskTokens
        let tokens = Mutex<Result<IdempotencyTokens, any Error>>(.success(noTokens))
        DispatchQueue.concurrentPerform(iterations: 3) { part in
            switch part {
            case 0:
                let loaded = Result { () throws -> StoppedTaskArchive in
                    var archive = StoppedTaskArchive()
                    archive.load(
                        try (rows[.stoppedTasks] ?? []).concurrentMap { row in
                            guard let entry = StoppedTaskArchive.entry(row: row) else { throw StoredRowError(kind: .stoppedTasks) }
                            return entry
                        })
                    return archive
                }
                archive.withLock { $0 = loaded }
            case 1:
                let decoded = Result { try rows.decode(TaskRecord.self) }
                live.withLock { $0 = decoded }
            default:
                let restored = Result { () throws -> IdempotencyTokens in
                    var tokens = noTokens
                    tokens.restore(try rows.decode(IdempotencyTokens.Record.self))
                    return tokens
                }
                tokens.withLock { $0 = restored }
            }
        }
        state.archive = try archive.withLock { $0 }.get()
        for summary in state.archive.summaries {
            state.counters.assignmentSequence = max(state.counters.assignmentSequence, summary.assignmentSequence)
        }
        for record in try live.withLock({ $0 }).get() where !state.archive.contains(record.arn) {
            state.counters.assignmentSequence = max(state.counters.assignmentSequence, record.assignmentSequence)
            state.restoreTask(record, ordering: false)
        }
        state.orderAllTasks()
        state.runTaskTokens = try tokens.withLock { $0 }.get()
        state.adoptTokensKeptOnTasks()
        return state
    }
}

/// The composed state ECS's operations run in: ECS's own state, and what other services do when
/// ECS's state changes in ways they care about. The control plane's state conforms.
public protocol ECSHost: Sendable {
    var ecs: ECSState { get set }

    /// A container instance registered (or registered again): services composed around ECS act
    /// on it in the same write (capacity groups link it to their instance).
    mutating func containerInstanceRegistered(_ arn: String, changes: inout ChangeSet)

    /// Why a new cluster may not name this capacity provider (it does not exist, or serves another
    /// cluster); nil when it may.
    func capacityProviderRefusal(_ name: String, forCluster cluster: String) -> AWSError?

    /// The tags of an active capacity provider (the capacity service keeps them with it); nil
    /// when there is none by that name.
    func capacityProviderTags(_ name: String) -> [ResourceTag]?

    /// Replaces an existing capacity provider's tags.
    mutating func setCapacityProviderTags(_ name: String, _ tags: [ResourceTag], changes: inout ChangeSet)
}

extension ECSHost {
    /// Without the capacity service every name is taken as given.
    public func capacityProviderRefusal(_ name: String, forCluster cluster: String) -> AWSError? { nil }
    public func capacityProviderTags(_ name: String) -> [ResourceTag]? { nil }
    public mutating func setCapacityProviderTags(_ name: String, _ tags: [ResourceTag], changes: inout ChangeSet) {}

    /// TagResource: capacity providers' tags live with them; every other resource's in ECS's state.
    public mutating func tagResource(_ request: TagResourceRequest, changes: inout ChangeSet) throws(AWSError) -> TagResourceResponse {
        guard let name = try capacityProvider(named: request.resourceArn) else { return try ecs.tagResource(request, changes: &changes) }
        let merged = TagRules.merge(capacityProviderTags(name) ?? [], request.tags)
        try TagRules.validate(merged)
        setCapacityProviderTags(name, merged, changes: &changes)
        return TagResourceResponse()
    }

    public mutating func untagResource(_ request: UntagResourceRequest, changes: inout ChangeSet) throws(AWSError) -> UntagResourceResponse {
        guard let name = try capacityProvider(named: request.resourceArn) else { return try ecs.untagResource(request, changes: &changes) }
        let keys = Set(request.tagKeys)
        setCapacityProviderTags(name, (capacityProviderTags(name) ?? []).filter { !keys.contains($0.key ?? "") }, changes: &changes)
        return UntagResourceResponse()
    }

    public func listTagsForResource(_ request: ListTagsForResourceRequest) throws(AWSError) -> ListTagsForResourceResponse {
        guard let name = try capacityProvider(named: request.resourceArn) else { return try ecs.listTagsForResource(request) }
        return ListTagsForResourceResponse(tags: capacityProviderTags(name) ?? [])
    }

    /// The name of the existing capacity provider an ARN names; nil for other resources.
    private func capacityProvider(named arnText: String) throws(AWSError) -> String? {
        guard let arn = ARN(arnText), arn.service == "ecs", arn.resourceType == "capacity-provider" else { return nil }
        guard !ecs.names.isForeign(arnText, resourceType: "capacity-provider"), capacityProviderTags(arn.resourceId) != nil else {
            throw .resourceNotFound("The specified capacity provider \(arnText) was not found.")
        }
        return arn.resourceId
    }

    /// CreateCluster, refusing capacity providers a new cluster cannot take (one naming a provider
    /// that does not exist would leave its tasks waiting in PROVISIONING forever). AWS's own
    /// FARGATE and FARGATE_SPOT are taken as named, as before (scripts create clusters with them);
    /// an existing cluster is answered as it is, whatever the request names (CreateCluster is
    /// idempotent).
    public mutating func createCluster(
        _ request: CreateClusterRequest, caller: String? = nil, changes: inout ChangeSet
    ) throws(AWSError) -> CreateClusterResponse {
        let name = request.clusterName ?? "default"
        if ecs.clusters[name]?.clusterStatus != .active {
            for provider in request.capacityProviders ?? [] where !["FARGATE", "FARGATE_SPOT"].contains(provider) {
                if let refusal = capacityProviderRefusal(provider, forCluster: name) { throw refusal }
            }
        }
        return try ecs.createCluster(request, caller: caller, changes: &changes)
    }
}

extension RecordKind {
    public static let clusters = RecordKind("clusters")
    public static let taskDefinitions = RecordKind("task_definitions")
    public static let families = RecordKind("families")
    public static let tags = RecordKind("tags")
    public static let containerInstances = RecordKind("container_instances")
    public static let tasks = RecordKind("tasks")
    public static let services = RecordKind("services")
    /// Not a table: marks changes to tasks that belong to a service (DescribeServices counts
    /// them), so that reads of services stay cached while other tasks come and go.
    public static let serviceTasks = RecordKind("service_tasks")
    /// Not a table: marks services made, removed, or changing status (what ListServices lists), so
    /// that lists stay cached while services are updated.
    public static let serviceMembership = RecordKind("service_membership")
    /// Not a table: marks instances registered, removed, or changing status (what
    /// ListContainerInstances lists), so that lists stay cached while tasks take their resources.
    public static let instanceMembership = RecordKind("instance_membership")
}

extension Cluster: StoredRecord {
    public static var recordKind: RecordKind { .clusters }
    public var recordKey: String { clusterName ?? "" }
}

extension TaskDefinition: StoredRecord {
    public static var recordKind: RecordKind { .taskDefinitions }
    public var recordKey: String { taskDefinitionArn ?? "" }
}

/// A family's revisions and its revision counter; revisions are never reused, even after deletion.
public struct TaskDefinitionFamily: StoredRecord, Equatable {
    public var family: String
    public var lastRevision: Int
    /// Live revisions in ascending order (persisted as their own rows, not in the family row).
    public var revisions: [TaskDefinition] = []

    enum CodingKeys: String, CodingKey {
        case family, lastRevision
    }

    public init(family: String, lastRevision: Int) {
        self.family = family
        self.lastRevision = lastRevision
    }

    public static var recordKind: RecordKind { .families }
    public var recordKey: String { family }

    mutating func insert(_ definition: TaskDefinition) {
        let revision = definition.revision ?? 0
        lastRevision = max(lastRevision, revision)
        let index = revisions.firstIndex { ($0.revision ?? 0) > revision } ?? revisions.count
        revisions.insert(definition, at: index)
    }

    func index(ofRevision revision: Int) -> Int? {
        revisions.firstIndex { $0.revision == revision }
    }

    /// The newest ACTIVE revision.
    var latestActive: TaskDefinition? {
        revisions.last { $0.status == .active }
    }
}

/// The tags of one resource.
public struct TagSet: StoredRecord, Equatable {
    public var resourceArn: String
    public var tags: [ResourceTag]

    public static var recordKind: RecordKind { .tags }
    public var recordKey: String { resourceArn }
}

extension ECSHost {
    /// RegisterContainerInstance, with the composed services' part in the same write (see
    /// ``containerInstanceRegistered(_:changes:)``); the answer shows the instance after it.
    public mutating func registerContainerInstance(
        _ request: RegisterContainerInstanceRequest,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> RegisterContainerInstanceResponse {
        let response = try ecs.registerContainerInstance(request, now: now, using: &generator, changes: &changes)
        guard let arn = response.containerInstance?.containerInstanceArn else { return response }
        containerInstanceRegistered(arn, changes: &changes)
        return RegisterContainerInstanceResponse(containerInstance: ecs.instances[arn].map { ecs.instanceView($0) })
    }
}

/// A stored row this version cannot read.
public struct StoredRowError: Error, CustomStringConvertible {
    public var kind: RecordKind
    public var description: String { "a row of \(kind) is damaged or from a newer ecsd" }
}

/// A cluster's running and pending tasks (pending: PROVISIONING, PENDING, ACTIVATING).
package struct TaskCounts: Sendable, Equatable {
    package var running = 0
    package var pending = 0

    package mutating func add(_ status: TaskStatus, _ delta: Int) {
        switch status {
        case .running: running += delta
        case .provisioning, .pending, .activating: pending += delta
        default: break
        }
    }
}

extension AWSError {
    /// A capacity provider named that is not (or no longer) ACTIVE: AWS's words.
    public static let capacityProviderNotFound = AWSError.invalidParameter(
        "The specified capacity provider was not found. Specify a valid capacity provider and try again.")
}
