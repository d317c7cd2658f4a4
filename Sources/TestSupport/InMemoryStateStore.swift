import AgentProtocol
import StevedoreCore
import Storage
import Synchronization

/// A store that keeps rows in memory, for unit tests of what sits above the store (the committer).
/// Tests can make commits fail, or hold their completions to see what happens while a commit is
/// not yet durable.
public final class InMemoryStateStore: StateStore {
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var description: String { "the disk is full (a test said so)" }
    }

    private struct Tables {
        var rows: [RecordKind: [String: [UInt8]]] = [:]
        var order: [RecordKind: [String]] = [:]
        /// Submissions in the order they arrived.
        var submissions: [[StateChange]] = []
        var failures = 0
        var holding = false
        var held: [@Sendable (Result<Void, any Error>) -> Void] = []
    }

    private let tables = Mutex(Tables())

    public init() {}

    /// Transactions submitted so far.
    public var commitCount: Int { tables.withLock { $0.submissions.count } }

    /// Every submission's changes, in order.
    public var submissions: [[StateChange]] { tables.withLock { $0.submissions } }

    /// The next `count` submissions fail (and write nothing).
    public func failNext(_ count: Int = 1) {
        tables.withLock { $0.failures += count }
    }

    /// From now on, submissions are written but their completions wait for ``release()``.
    public func hold() {
        tables.withLock { $0.holding = true }
    }

    /// Completes every held submission, in order, and stops holding.
    public func release() {
        let held = tables.withLock { tables in
            tables.holding = false
            defer { tables.held = [] }
            return tables.held
        }
        for completion in held { completion(.success(())) }
    }

    /// Submissions whose completion waits for ``release()``.
    public var heldCount: Int { tables.withLock { $0.held.count } }

    public func loadAll() -> StoredRows {
        tables.withLock { tables in
            var result: StoredRows = [:]
            for (kind, rows) in tables.rows {
                result[kind] = (tables.order[kind] ?? []).compactMap { rows[$0] }
            }
            return result
        }
    }

    public func submit(_ changes: [StateChange], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        let outcome = tables.withLock { tables -> Result<Void, any Error>? in
            tables.submissions.append(changes)
            if tables.failures > 0 {
                tables.failures -= 1
                return .failure(Failure())
            }
            for change in changes {
                if let body = change.body {
                    if tables.rows[change.kind, default: [:]].updateValue(body, forKey: change.key) == nil {
                        tables.order[change.kind, default: []].append(change.key)
                    }
                } else if tables.rows[change.kind]?.removeValue(forKey: change.key) != nil {
                    tables.order[change.kind]?.removeAll { $0 == change.key }
                }
            }
            if tables.holding {
                tables.held.append(completion)
                return nil
            }
            return .success(())
        }
        if let outcome { completion(outcome) }
    }
}
