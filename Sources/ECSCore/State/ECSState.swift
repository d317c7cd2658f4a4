import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The control plane's whole desired and known state, in memory. Operations are pure functions
/// over it: they read the request and the time they are given, change the state, and list the rows
/// to persist in a ``ChangeSet``. The committer in `ControlPlane` serialises them and writes the rows.
public struct ECSState: Sendable {
    public let names: ResourceNames
    public var settings = SchedulerSettings()
    /// Clusters by name, including INACTIVE ones (kept so describe calls can still show them).
    public internal(set) var clusters: [String: Cluster] = [:]
    public internal(set) var families: [String: TaskDefinitionFamily] = [:]
    /// Tags by resource ARN.
    public internal(set) var tags: [String: [ResourceTag]] = [:]

    /// Container instances by ARN, including INACTIVE (deregistered) ones until they are pruned.
    public internal(set) var instances: [String: ContainerInstance] = [:]
    public internal(set) var tasks: [String: TaskRecord] = [:]
    public internal(set) var services: [String: ServiceRecord] = [:]
    public internal(set) var counters = ControlPlaneCounters()
    /// Per cluster name: what each instance has left, for placement. Derived, never stored.
    public internal(set) var capacity: [String: ClusterCapacity] = [:]
    /// When each instance's agent was last heard from. Memory only: after a restart every agent
    /// gets a full timeout to reconnect.
    public internal(set) var lastContact: [String: Date] = [:]
    var tasksByInstance: [String: Set<String>] = [:]
    var tasksByCluster: [String: Set<String>] = [:]
    var tasksByService: [String: Set<String>] = [:]
    /// Service ARNs per cluster name and service name.
    var serviceIndex: [String: [String: String]] = [:]
    var clientTokens: [String: [String]] = [:]

    // Functions (the Lambda API) and queues (the SQS API).
    public var functionSettings = FunctionSettings()
    /// Where queue URLs point: this control plane's endpoint.
    public var queueEndpoint = "http://127.0.0.1:8340"
    public internal(set) var functions: [String: FunctionRecord] = [:]
    public internal(set) var layers: [String: LayerRecord] = [:]
    public internal(set) var asyncEvents: [String: AsyncEventRecord] = [:]
    public internal(set) var queues: [String: QueueRecord] = [:]
    /// Messages by queue name and message id.
    public internal(set) var queueMessages: [String: [String: QueueMessageRecord]] = [:]

    // Auto scaling.
    public var scalingSettings = ScalingSettings()
    /// By ``ScalableTargetRecord/key(_:_:_:)``.
    public internal(set) var scalableTargets: [String: ScalableTargetRecord] = [:]
    /// Capacity providers by name, including INACTIVE (deleted) ones.
    public internal(set) var capacityProviders: [String: CapacityProviderRecord] = [:]
    public internal(set) var autoScalingGroups: [String: AutoScalingGroupRecord] = [:]
    /// Since when each provider's reservation has been below its target (memory only).
    var capacityLowSince: [String: Date] = [:]
    /// Tasks waiting in PROVISIONING.
    var provisioningTasks: Set<String> = []

    public init(names: ResourceNames) {
        self.names = names
    }

    /// Rebuilds the state from stored rows (as ``RecordCoding`` wrote them).
    public static func restore(names: ResourceNames, rows: [RecordKind: [[UInt8]]]) throws -> ECSState {
        var state = ECSState(names: names)
        for body in rows[.clusters] ?? [] {
            let cluster = try RecordCoding.decode(Cluster.self, from: body)
            state.clusters[cluster.recordKey] = cluster
        }
        for body in rows[.families] ?? [] {
            let family = try RecordCoding.decode(TaskDefinitionFamily.self, from: body)
            state.families[family.family] = family
        }
        for body in rows[.taskDefinitions] ?? [] {
            let definition = try RecordCoding.decode(TaskDefinition.self, from: body)
            let name = definition.family ?? ""
            state.families[name, default: TaskDefinitionFamily(family: name, lastRevision: 0)].insert(definition)
        }
        for body in rows[.tags] ?? [] {
            let set = try RecordCoding.decode(TagSet.self, from: body)
            state.tags[set.resourceArn] = set.tags
        }
        for body in rows[.meta] ?? [] {
            state.counters = try RecordCoding.decode(ControlPlaneCounters.self, from: body)
        }
        for body in rows[.functions] ?? [] {
            let record = try RecordCoding.decode(FunctionRecord.self, from: body)
            state.functions[record.name] = record
        }
        for body in rows[.layers] ?? [] {
            let record = try RecordCoding.decode(LayerRecord.self, from: body)
            state.layers[record.name] = record
        }
        for body in rows[.asyncEvents] ?? [] {
            let record = try RecordCoding.decode(AsyncEventRecord.self, from: body)
            state.asyncEvents[record.requestId] = record
        }
        for body in rows[.queues] ?? [] {
            let record = try RecordCoding.decode(QueueRecord.self, from: body)
            state.queues[record.name] = record
        }
        for body in rows[.queueMessages] ?? [] {
            let record = try RecordCoding.decode(QueueMessageRecord.self, from: body)
            state.queueMessages[record.queue, default: [:]][record.id] = record
        }
        for body in rows[.scalableTargets] ?? [] {
            let record = try RecordCoding.decode(ScalableTargetRecord.self, from: body)
            state.scalableTargets[record.recordKey] = record
        }
        for body in rows[.capacityProviders] ?? [] {
            let record = try RecordCoding.decode(CapacityProviderRecord.self, from: body)
            state.capacityProviders[record.recordKey] = record
        }
        for body in rows[.autoScalingGroups] ?? [] {
            let record = try RecordCoding.decode(AutoScalingGroupRecord.self, from: body)
            state.autoScalingGroups[record.recordKey] = record
        }
        var scratch = ChangeSet()
        for body in rows[.containerInstances] ?? [] {
            state.putInstance(try RecordCoding.decode(ContainerInstance.self, from: body), changes: &scratch)
        }
        for body in rows[.services] ?? [] {
            state.putService(try RecordCoding.decode(ServiceRecord.self, from: body), changes: &scratch)
        }
        for body in rows[.tasks] ?? [] {
            let record = try RecordCoding.decode(TaskRecord.self, from: body)
            state.counters.assignmentSequence = max(state.counters.assignmentSequence, record.assignmentSequence)
            state.putTask(record, changes: &scratch)
        }
        return state
    }
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
