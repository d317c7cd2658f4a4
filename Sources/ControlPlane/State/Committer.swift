import ECSCore
import ECSStore
import Foundation
import Logging

/// What a write gets besides the state: the time, its randomness, and the rows it changes.
public struct Mutation {
    public let now: Date
    public var random: Xoshiro256
    public var changes = ChangeSet()
}

/// The one place the control plane's state changes.
///
/// Every write runs against the in-memory ``ECSState`` in turn (so two requests can never both
/// take the last free resource), queues its rows to the store in that same turn (so rows become
/// durable in the order the writes happened), and answers once they are durable. While a write
/// waits for the disk, the next ones already run, and the store commits them together.
public actor Committer {
    public private(set) var state: ECSState
    /// Advanced by every write, read without entering the actor.
    public nonisolated let version = StateVersion()
    /// Wakes agents' long polls when their assignments become durable.
    public nonisolated let notifier: AssignmentNotifier
    private let store: any StateStore
    private let clock: @Sendable () -> Date
    private var random: Xoshiro256
    private let logger: Logger

    public init(
        state: ECSState,
        store: any StateStore,
        clock: @escaping @Sendable () -> Date = { Date() },
        random: Xoshiro256 = Xoshiro256(),
        logger: Logger
    ) {
        self.state = state
        self.store = store
        self.clock = clock
        self.random = random
        self.logger = logger
        notifier = AssignmentNotifier(durableSequence: state.counters.assignmentSequence)
    }

    /// Loads the stored state and returns a committer over it.
    public static func load(
        names: ResourceNames,
        settings: SchedulerSettings,
        functionSettings: FunctionSettings = FunctionSettings(),
        queueEndpoint: String = "http://127.0.0.1:8340",
        store: any StateStore,
        clock: @escaping @Sendable () -> Date = { Date() },
        logger: Logger
    ) async throws -> Committer {
        var state = try ECSState.restore(names: names, rows: try await store.loadAll())
        state.settings = settings
        state.functionSettings = functionSettings
        state.queueEndpoint = queueEndpoint
        state.resetLiveness(now: clock())
        return Committer(state: state, store: store, clock: clock, logger: logger)
    }

    public func read<Result: Sendable>(
        _ body: @Sendable (ECSState, Date) throws(AWSError) -> Result
    ) throws(AWSError) -> Result {
        try body(state, clock())
    }

    public func write<Result: Sendable>(
        _ body: @Sendable (inout ECSState, inout Mutation) throws(AWSError) -> Result
    ) async throws(AWSError) -> Result {
        var mutation = Mutation(now: clock(), random: random)
        let result: Result
        do {
            result = try body(&state, &mutation)
            random = mutation.random
        } catch {
            random = mutation.random
            if !mutation.changes.isEmpty {
                // An operation refused after it had started changing the state: restore the disk's truth.
                logger.error("operation failed after changing state", metadata: ["error": "\(error)"])
                await resynchronize()
            }
            throw error
        }
        let changes = mutation.changes
        guard !changes.isEmpty else { return result }
        version.advance()
        let sequence = state.counters.assignmentSequence
        do {
            // Queued synchronously, still inside this actor turn: durability follows write order.
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                store.submit(changes.changes) { continuation.resume(with: $0) }
            }
        } catch {
            logger.error("store commit failed", metadata: ["error": "\(error)"])
            await resynchronize()
            throw .server("The change could not be saved (\(error)); nothing was changed. Try again.")
        }
        notifier.committed(upTo: sequence, instances: changes.assignedInstances)
        return result
    }

    /// Changes to memory-only state (agent liveness). Returns whether readers could see a difference.
    @discardableResult
    public func updateMemory(_ body: @Sendable (inout ECSState, Date) -> Bool) -> Bool {
        let changed = body(&state, clock())
        if changed { version.advance() }
        return changed
    }

    /// Like ``updateMemory(_:)`` for changes that report what they touched; non-empty means changed.
    public func updateMemoryReturning<Item: Sendable>(_ body: @Sendable (inout ECSState, Date) -> [Item]) -> [Item] {
        let touched = body(&state, clock())
        if !touched.isEmpty { version.advance() }
        return touched
    }

    /// After a failed commit the memory may be ahead of the disk: reload the disk's truth.
    private func resynchronize() async {
        defer { version.advance() }
        do {
            var restored = try ECSState.restore(names: state.names, rows: try await store.loadAll())
            restored.settings = state.settings
            restored.functionSettings = state.functionSettings
            restored.queueEndpoint = state.queueEndpoint
            restored.resetLiveness(now: clock())
            state = restored
        } catch {
            logger.critical("store reload failed", metadata: ["error": "\(error)"])
        }
    }
}
