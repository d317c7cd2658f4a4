import ECSCore

/// Where the control plane's state lives between restarts.
///
/// `commit` returns only once the rows are durable, so an acknowledged write survives a crash.
public protocol StateStore: Sendable {
    /// Every stored row, by kind (JSON bodies as ``RecordCoding`` wrote them).
    func loadAll() async throws -> [RecordKind: [[UInt8]]]
    /// Writes the changes in one transaction.
    func commit(_ changes: [StateChange]) async throws
}

/// A store that keeps rows in memory: for unit tests of logic above the store.
public actor InMemoryStateStore: StateStore {
    private var tables: [RecordKind: [String: [UInt8]]] = [:]
    private var order: [RecordKind: [String]] = [:]
    public private(set) var commitCount = 0

    public init() {}

    public func loadAll() -> [RecordKind: [[UInt8]]] {
        var result: [RecordKind: [[UInt8]]] = [:]
        for (kind, rows) in tables {
            result[kind] = (order[kind] ?? []).compactMap { rows[$0] }
        }
        return result
    }

    public func commit(_ changes: [StateChange]) {
        commitCount += 1
        for change in changes {
            if let body = change.body {
                if tables[change.kind, default: [:]].updateValue(body, forKey: change.key) == nil {
                    order[change.kind, default: []].append(change.key)
                }
            } else if tables[change.kind]?.removeValue(forKey: change.key) != nil {
                order[change.kind]?.removeAll { $0 == change.key }
            }
        }
    }
}
