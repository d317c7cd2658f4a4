import StevedoreCore
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

/// A store the control plane opens at start and closes after everything else stopped: what was
/// submitted before `close` is written first.
public protocol ClosableStateStore: StateStore {
    func close() async
}

extension SQLiteStateStore: CopyableStateStore {}
extension PostgresStateStore: CopyableStateStore {}

extension StateStore {
    /// Writes the changes and returns once they are durable.
    public func commit(_ changes: [StateChange]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            submit(changes) { continuation.resume(with: $0) }
        }
    }
}
