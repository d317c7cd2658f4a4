import ECSCore
import ECSStore
import Foundation
import Logging

/// The one place the control plane's state changes.
///
/// Every write runs against the in-memory ``ECSState`` in turn (so two requests can never both
/// take the last free resource), then waits for its rows to be durable before it answers. While a
/// write waits for the disk, the next ones already run, and the store commits them together.
public actor Committer {
    public private(set) var state: ECSState
    /// Advanced by every write, read without entering the actor.
    public nonisolated let version = StateVersion()
    private let store: any StateStore
    private let clock: @Sendable () -> Date
    private let logger: Logger

    public init(
        state: ECSState,
        store: any StateStore,
        clock: @escaping @Sendable () -> Date = { Date() },
        logger: Logger
    ) {
        self.state = state
        self.store = store
        self.clock = clock
        self.logger = logger
    }

    /// Loads the stored state and returns a committer over it.
    public static func load(names: ResourceNames, store: any StateStore, logger: Logger) async throws -> Committer {
        let state = try ECSState.restore(names: names, rows: try await store.loadAll())
        return Committer(state: state, store: store, logger: logger)
    }

    public func read<Result: Sendable>(
        _ body: @Sendable (ECSState, Date) throws(AWSError) -> Result
    ) throws(AWSError) -> Result {
        try body(state, clock())
    }

    public func write<Result: Sendable>(
        _ body: @Sendable (inout ECSState, inout ChangeSet, Date) throws(AWSError) -> Result
    ) async throws(AWSError) -> Result {
        var changes = ChangeSet()
        defer { version.advance() }
        let result = try body(&state, &changes, clock())
        guard !changes.isEmpty else { return result }
        do {
            try await store.commit(changes.changes)
        } catch {
            logger.error("store commit failed", metadata: ["error": "\(error)"])
            await resynchronize()
            throw .server("The change could not be saved (\(error)); nothing was changed. Try again.")
        }
        return result
    }

    /// After a failed commit the memory may be ahead of the disk: reload the disk's truth.
    private func resynchronize() async {
        defer { version.advance() }
        do {
            state = try ECSState.restore(names: state.names, rows: try await store.loadAll())
        } catch {
            logger.critical("store reload failed", metadata: ["error": "\(error)"])
        }
    }
}
