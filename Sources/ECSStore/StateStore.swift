import ECSCore
import Synchronization

/// Where the control plane's state lives between restarts.
///
/// `submit` queues the rows synchronously, in call order, and calls `completion` once they are
/// durable; so an acknowledged write survives a crash, and writes become durable in the order
/// they were made.
public protocol StateStore: Sendable {
    /// Every stored row, by kind (JSON bodies as ``RecordCoding`` wrote them).
    func loadAll() async throws -> [RecordKind: [[UInt8]]]
    /// Queues the changes to be written in one transaction (possibly with others queued beside them).
    func submit(_ changes: [StateChange], completion: @escaping @Sendable (Result<Void, any Error>) -> Void)
}

extension StateStore {
    /// Writes the changes and returns once they are durable.
    public func commit(_ changes: [StateChange]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            submit(changes) { continuation.resume(with: $0) }
        }
    }
}

/// A store that keeps rows in memory: for unit tests of logic above the store.
public final class InMemoryStateStore: StateStore {
    private struct Tables {
        var rows: [RecordKind: [String: [UInt8]]] = [:]
        var order: [RecordKind: [String]] = [:]
        var commits = 0
    }

    private let tables = Mutex(Tables())

    public init() {}

    public var commitCount: Int { tables.withLock { $0.commits } }

    public func loadAll() -> [RecordKind: [[UInt8]]] {
        tables.withLock { tables in
            var result: [RecordKind: [[UInt8]]] = [:]
            for (kind, rows) in tables.rows {
                result[kind] = (tables.order[kind] ?? []).compactMap { rows[$0] }
            }
            return result
        }
    }

    public func submit(_ changes: [StateChange], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        tables.withLock { tables in
            tables.commits += 1
            for change in changes {
                if let body = change.body {
                    if tables.rows[change.kind, default: [:]].updateValue(body, forKey: change.key) == nil {
                        tables.order[change.kind, default: []].append(change.key)
                    }
                } else if tables.rows[change.kind]?.removeValue(forKey: change.key) != nil {
                    tables.order[change.kind]?.removeAll { $0 == change.key }
                }
            }
        }
        completion(.success(()))
    }
}
