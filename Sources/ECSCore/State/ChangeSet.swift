import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The kinds of records the control plane persists, one store table each.
public enum RecordKind: String, CaseIterable, Sendable {
    case clusters
    case taskDefinitions = "task_definitions"
    case families
    case tags
    case containerInstances = "container_instances"
    case tasks
    case services
    case meta
    case functions
    case layers
    case asyncEvents = "async_events"
    case queues
    case queueMessages = "queue_messages"
    case scalableTargets = "scalable_targets"
    case capacityProviders = "capacity_providers"
    case autoScalingGroups = "auto_scaling_groups"
}

/// A value the store keeps: its table and its primary key.
public protocol StoredRecord: Codable, Sendable {
    static var recordKind: RecordKind { get }
    var recordKey: String { get }
}

/// One row to write (`body` is JSON) or delete (`body` is `nil`).
public struct StateChange: Sendable, Equatable {
    public var kind: RecordKind
    public var key: String
    public var body: [UInt8]?

    public init(kind: RecordKind, key: String, body: [UInt8]?) {
        self.kind = kind
        self.key = key
        self.body = body
    }
}

/// The rows an operation changed, in order; the committer writes them in one transaction.
public struct ChangeSet: Sendable {
    public private(set) var changes: [StateChange] = []
    /// Container instances whose agents have new assignments to pick up once this is durable.
    public var assignedInstances: Set<String> = []

    public init() {}

    public var isEmpty: Bool { changes.isEmpty }

    public mutating func put<Record: StoredRecord>(_ record: Record) {
        changes.append(StateChange(kind: Record.recordKind, key: record.recordKey, body: RecordCoding.encode(record)))
    }

    public mutating func delete<Record: StoredRecord>(_ type: Record.Type, key: String) {
        changes.append(StateChange(kind: Record.recordKind, key: key, body: nil))
    }

    public mutating func append(contentsOf other: ChangeSet) {
        changes.append(contentsOf: other.changes)
        assignedInstances.formUnion(other.assignedInstances)
    }
}

/// JSON as the store keeps it: AWS field names in declaration order, dates as epoch seconds.
public enum RecordCoding {
    public static func encode<Record: Encodable>(_ record: Record) -> [UInt8] {
        // Records are plain Codable value types with finite numbers; encoding them cannot fail.
        (try? StreamingJSONEncoder.encode(record)) ?? Array("{}".utf8)
    }

    public static func decode<Record: Decodable>(_ type: Record.Type, from bytes: [UInt8]) throws -> Record {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode(type, from: Data(bytes))
    }
}
