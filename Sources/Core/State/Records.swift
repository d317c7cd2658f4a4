#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A kind of record the control plane persists: one store table each. Each service declares its
/// own kinds (`extension RecordKind { static let clusters = RecordKind("clusters") }`) and adds a
/// migration creating their tables to the store.
public struct RecordKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The table's name.
    public var rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public init(_ table: String) {
        rawValue = table
    }

    public var description: String { rawValue }

    /// Counters that must never go backwards: one row per service that needs one.
    public static let meta = RecordKind("meta")
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
    /// Kinds of derived state that changed without a row of their own (see ``touch(_:)``).
    public private(set) var touched: Set<RecordKind> = []
    /// Container instances whose agents have new assignments to pick up once this is durable.
    public var assignedInstances: Set<String> = []
    /// What the operation did that no row records, for the committer to count in its metrics
    /// (placement attempts and their outcomes); counted even when no row changed.
    public private(set) var tallies: [Tally: Int] = [:]

    /// A counter of the metrics and one of its labels.
    public struct Tally: Hashable, Sendable {
        public var metric: String
        public var label: String
        public var value: String

        public init(metric: String, label: String, value: String) {
            self.metric = metric
            self.label = label
            self.value = value
        }
    }

    public init() {}

    public mutating func tally(_ tally: Tally, by count: Int = 1) {
        guard count > 0 else { return }
        tallies[tally, default: 0] += count
    }

    public var isEmpty: Bool { changes.isEmpty }

    public mutating func put<Record: StoredRecord>(_ record: Record) {
        changes.append(StateChange(kind: Record.recordKind, key: record.recordKey, body: RecordCoding.encode(record)))
    }

    public mutating func delete<Record: StoredRecord>(_ type: Record.Type, key: String) {
        changes.append(StateChange(kind: Record.recordKind, key: key, body: nil))
    }

    /// A row in a format of the record kind's own (not a ``StoredRecord``'s JSON).
    public mutating func put(_ kind: RecordKind, key: String, body: [UInt8]) {
        changes.append(StateChange(kind: kind, key: key, body: body))
    }

    public mutating func delete(_ kind: RecordKind, key: String) {
        changes.append(StateChange(kind: kind, key: key, body: nil))
    }

    /// Marks a change to state that is derived rather than stored, under a kind of its own, so
    /// that reads depending on it need not depend on everything it is derived from (the read
    /// cache invalidates by kind; see `StateVersion`).
    public mutating func touch(_ kind: RecordKind) {
        touched.insert(kind)
    }

    /// The kinds this change set writes or touches, each once.
    public var kinds: [RecordKind] { Array(Set(changes.lazy.map(\.kind)).union(touched)) }

    public mutating func append(contentsOf other: ChangeSet) {
        changes.append(contentsOf: other.changes)
        touched.formUnion(other.touched)
        assignedInstances.formUnion(other.assignedInstances)
    }
}

/// Stored rows by kind, as the store hands them back at start (JSON bodies in insertion order).
public typealias StoredRows = [RecordKind: [[UInt8]]]

extension Dictionary where Key == RecordKind, Value == [[UInt8]] {
    /// Decodes every row of a kind as `Record` (on every core when there are many).
    public func decode<Record: StoredRecord>(_ type: Record.Type) throws -> [Record] {
        try (self[Record.recordKind] ?? []).concurrentMap { try RecordCoding.decode(Record.self, from: $0) }
    }
}

/// JSON as the store keeps it: AWS field names in declaration order, dates as epoch seconds.
public enum RecordCoding {
    public static func encode<Record: Encodable>(_ record: Record) -> [UInt8] {
        // Records are plain Codable value types with finite numbers; encoding them cannot fail.
        (try? StreamingJSONEncoder.encode(record)) ?? Array("{}".utf8)
    }

    public static func decode<Record: Decodable>(_ type: Record.Type, from bytes: [UInt8]) throws -> Record {
        try TapeJSONDecoder.decode(type, from: bytes)
    }
}
