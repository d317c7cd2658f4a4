import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import Foundation
import Lambda
import LambdaShapes
import Logging
import Metrics
import StevedoreCore
import Storage
import Synchronization

/// The one place the control plane's state changes, and its only clock.
///
/// Every write runs against the in-memory state in turn (so two requests can never both take the
/// last free resource), queues its rows to the store in that same turn (so rows become durable in
/// the order the writes happened), and answers once they are durable. While a write waits for the
/// disk, the next ones already run, and the store commits them together. Reads and writes get the
/// time and the seeded randomness from here; nothing they call reads a clock of its own.
///
/// Reads do not run in the actor: they run on a published copy of the state, concurrently and
/// without waiting behind writes. Publishing costs one copy-on-write of each collection the next
/// write touches, so it happens only while someone reads: a write that becomes durable publishes
/// the state at once if a read came since the last publication (so under a steady read load no
/// read ever enters the actor, where it would queue behind the writes), and otherwise only marks
/// the published copy stale, to be published by the first read that finds it so (one visit to the
/// actor). Either way a client always reads its own writes, and writes nobody reads cost no copy.
/// (As before reads left the actor, a read may also see a write whose commit is still in flight.)
public actor Committer<Root: Sendable>: StateCommitting {
    public private(set) var state: Root
    /// Advanced by every publication of a changed state, read without entering the actor.
    public nonisolated let version = StateVersion()
    /// The state readers see, and how many changes it holds.
    private nonisolated let published: Mutex<Snapshot>
    /// Changes readers must see: those of answered writes and memory-only changes.
    private nonisolated let visibleChanges = Atomic<UInt64>(0)
    /// Whether a read came since the last publication: the next visible change publishes at once.
    private nonisolated let readSincePublication = Atomic<Bool>(false)
    /// How many times a changed state was published (each costs the next writes a copy).
    public nonisolated var publications: Int { publicationCount.load(ordering: .relaxed) }
    private nonisolated let publicationCount = Atomic<Int>(0)
    /// Changes applied to `state`.
    private var changeCount: UInt64 = 0
    private var resynchronizing = false
    /// Writes submitted to the store and not yet durable, with when each was submitted.
    private var submissions: [UInt64: ContinuousClock.Instant] = [:]
    /// How many writes wait for the disk (a gauge of `/metrics`).
    public nonisolated let writesInFlight = Atomic<Int>(0)
    /// Wakes agents' long polls when their assignments become durable.
    public nonisolated let notifier: AssignmentNotifier
    private let store: any StateStore
    private let clock: @Sendable () -> Date
    private var random: Xoshiro256
    /// Rebuilds the state from the store's rows (after a failed commit, memory may be ahead of the disk).
    private let restore: @Sendable (StoredRows, Date) throws -> Root
    /// The highest assignment sequence the state holds: what the notifier learns is durable after a commit.
    private let assignmentSequence: @Sendable (Root) -> Int
    /// Runs after each write's body, in its turn, to add what follows from its changes.
    private let finish: @Sendable (inout Root, inout Mutation) -> Void
    private let logger: Logger

    /// - Parameters:
    ///   - restore: rebuilds the state from stored rows at a given time.
    ///   - assignmentSequence: reads the state's highest assignment sequence (agents' work channel).
    public init(
        state: Root,
        store: any StateStore,
        clock: @escaping @Sendable () -> Date = { Date() },
        random: Xoshiro256 = Xoshiro256(),
        restore: @escaping @Sendable (StoredRows, Date) throws -> Root,
        assignmentSequence: @escaping @Sendable (Root) -> Int = { _ in 0 },
        finish: @escaping @Sendable (inout Root, inout Mutation) -> Void = { _, _ in },
        logger: Logger
    ) {
        self.finish = finish
        self.state = state
        self.store = store
        self.clock = clock
        self.random = random
        self.restore = restore
        self.assignmentSequence = assignmentSequence
        self.logger = logger
        published = Mutex(Snapshot(state: state, changes: 0))
        notifier = AssignmentNotifier(durableSequence: assignmentSequence(state))
    }

    /// Loads the stored state and returns a committer over it.
    public static func load(
        store: any StateStore,
        clock: @escaping @Sendable () -> Date = { Date() },
        random: Xoshiro256 = Xoshiro256(),
        restore: @escaping @Sendable (StoredRows, Date) throws -> Root,
        assignmentSequence: @escaping @Sendable (Root) -> Int = { _ in 0 },
        finish: @escaping @Sendable (inout Root, inout Mutation) -> Void = { _, _ in },
        logger: Logger
    ) async throws -> Committer {
        let began = ContinuousClock.now
        let rows = try await store.loadAll()
        let read = ContinuousClock.now
        let state = try restore(rows, clock())
        logger.info(
            "state loaded",
            metadata: [
                "store.rows": "\(rows.values.reduce(0) { $0 + $1.count })",
                "store.read.ms": "\((read - began).milliseconds)", "state.restore.ms": "\((ContinuousClock.now - read).milliseconds)",
            ])
        return Committer(
            state: state, store: store, clock: clock, random: random, restore: restore, assignmentSequence: assignmentSequence,
            finish: finish, logger: logger)
    }

    /// The committer's time.
    public nonisolated func now() -> Date { clock() }

    /// Runs `body` on a published state that holds every answered write, outside the actor.
    public nonisolated func read<Result: Sendable>(
        _ body: @Sendable (Root, Date) throws(AWSError) -> Result
    ) async throws(AWSError) -> Result {
        if !readSincePublication.load(ordering: .relaxed) { readSincePublication.store(true, ordering: .relaxed) }
        let needed = visibleChanges.load(ordering: .acquiring)
        var snapshot = published.withLock { $0 }
        if snapshot.changes < needed {
            await publish()
            snapshot = published.withLock { $0 }
        }
        return try body(snapshot.state, clock())
    }

    /// Runs `body` on the published state when it holds every answered write, without waiting;
    /// nil when it does not (``read(_:)`` then publishes it). For the gateway's requests, answered
    /// on their connection's event loop.
    /// `body` runs under the publication's lock (no copy of the whole state): keep it short.
    public nonisolated func readNow<Result: Sendable>(_ body: (Root) -> Result) -> Result? {
        if !readSincePublication.load(ordering: .relaxed) { readSincePublication.store(true, ordering: .relaxed) }
        let needed = visibleChanges.load(ordering: .acquiring)
        return published.withLock { snapshot in snapshot.changes >= needed ? body(snapshot.state) : nil }
    }

    /// The last published state, however old (a publication follows the next write once read):
    /// for figures that need not see the latest writes (metrics). `body` runs outside the lock.
    public nonisolated func readPublished<Result: Sendable>(_ body: (Root) -> Result) -> Result {
        if !readSincePublication.load(ordering: .relaxed) { readSincePublication.store(true, ordering: .relaxed) }
        let state = published.withLock { $0.state }
        return body(state)
    }

    /// Runs `body` in the actor on the newest state, which may hold writes not yet durable.
    /// For small reads that must not cause a publication: agents' polls (which filter by the
    /// durable assignment sequence themselves) and the background loops. A loop that read through
    /// ``read(_:)`` every few hundred milliseconds would publish as often, and each publication
    /// makes the next writes copy what they touch (at 30,000 tasks that cost RunTask 10%).
    public func readLatest<Result: Sendable>(
        _ body: @Sendable (Root, Date) throws(AWSError) -> Result
    ) throws(AWSError) -> Result {
        try body(state, clock())
    }

    /// Runs a write and answers once its rows are durable; then the agents its changes name
    /// (`assignedInstances`) are woken for the assignments it made.
    public func write<Result: Sendable>(
        _ body: @Sendable (inout Root, inout Mutation) throws(AWSError) -> Result
    ) async throws(AWSError) -> Result {
        // A write on memory the store may not hold would store what depends on it: none until reloaded.
        guard !resynchronizing else { throw .server("The control plane is reloading its state after a failed write; try again.") }
        var mutation = Mutation(now: clock(), random: random)
        let result: Result
        do {
            result = try body(&state, &mutation)
            if !mutation.changes.isEmpty { finish(&state, &mutation) }
            random = mutation.random
        } catch {
            random = mutation.random
            if !mutation.changes.isEmpty {
                // An operation refused after it had started changing the state: restore the disk's truth.
                logger.error("operation failed after changing state", metadata: ["error": "\(error)"])
                // Waited for: the store is fine, and readers must not see the half-made change.
                await resynchronize(waiting: true)
            }
            throw error
        }
        let changes = mutation.changes
        for (tally, count) in changes.tallies {
            Counter(label: tally.metric, dimensions: [(tally.label, tally.value)]).increment(by: Int64(count))
        }
        guard !changes.isEmpty else { return result }
        changeCount += 1
        let change = changeCount
        let sequence = assignmentSequence(state)
        let submitted = ContinuousClock.now
        submissions[change] = submitted
        writesInFlight.add(1, ordering: .relaxed)
        defer {
            submissions.removeValue(forKey: change)
            writesInFlight.subtract(1, ordering: .relaxed)
            CommitMetrics.duration.recordNanoseconds((ContinuousClock.now - submitted).nanoseconds)
        }
        do {
            // Queued synchronously, still inside this actor turn: durability follows write order.
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                store.submit(changes.changes) { continuation.resume(with: $0) }
            }
        } catch {
            logger.error("store commit failed", metadata: ["error": "\(error)"])
            await resynchronize(waiting: false)
            throw .server("The change may not have been saved (\(error)); the state was reloaded from the store. Try again.")
        }
        // Visible before anyone hears of the write: its caller, then the agents it assigned work to.
        makeVisible(upTo: change, changing: changes.kinds)
        notifier.committed(upTo: sequence, instances: changes.assignedInstances)
        return result
    }

    /// Whether the committer works: it answers (this runs on it), and no write has waited for
    /// the disk longer than `stall`. systemd's watchdog is fed only while this holds.
    public func isWorking(stall: Duration) -> Bool {
        let now = ContinuousClock.now
        return submissions.values.allSatisfy { now - $0 < stall }
    }

    /// Changes to memory-only state (agent liveness). Returns whether readers could see a difference.
    @discardableResult
    public func updateMemory(_ body: @Sendable (inout Root, Date) -> Bool) -> Bool {
        let changed = body(&state, clock())
        if changed { changedInMemory() }
        return changed
    }

    /// Like ``updateMemory(_:)`` for changes that report what they touched; non-empty means changed.
    public func updateMemoryReturning<Item: Sendable>(_ body: @Sendable (inout Root, Date) -> [Item]) -> [Item] {
        let touched = body(&state, clock())
        if !touched.isEmpty { changedInMemory() }
        return touched
    }

    /// After a failed commit the memory may be ahead of the disk: reload the disk's truth.
    /// Memory taken back to what the store holds, after a write that failed part way or whose
    /// commit failed. Writes wait out the reload (refused meanwhile): one computed on the memory
    /// being replaced would store rows that depend on changes the store never got.
    /// After a failed commit the reload runs on its own (`waiting` false): the caller hears of
    /// the failure at once, even while the store cannot be read yet (a database that went away),
    /// and writes are refused until it is done.
    private func resynchronize(waiting: Bool) async {
        guard !resynchronizing else { return }
        resynchronizing = true
        if waiting { await reload() } else { Task { await self.reload() } }
    }

    private func reload() async {
        defer {
            resynchronizing = false
            changedInMemory()
        }
        do {
            state = try restore(try await store.loadAll(), clock())
        } catch {
            logger.critical("store reload failed", metadata: ["error": "\(error)"])
        }
    }

    /// Memory-only changes have nothing to wait for: readers see them at once.
    private func changedInMemory() {
        changeCount += 1
        makeVisible(upTo: changeCount)
    }

    /// Readers must now see changes up to `change`: published now if someone reads and no earlier
    /// publication holds them already, else at the next read. Writes committed together become
    /// visible one after another, and the first publishes for all (each publication makes the next
    /// writes copy what they touch). `kinds` names what changed (nil: anything may have).
    private func makeVisible(upTo change: UInt64, changing kinds: [RecordKind]? = nil) {
        if published.withLock({ $0.changes }) < change, readSincePublication.exchange(false, ordering: .relaxed) { publish() }
        if visibleChanges.load(ordering: .relaxed) < change { visibleChanges.store(change, ordering: .releasing) }
        if let kinds { version.advance(changing: kinds) } else { version.advance() }
    }

    /// Makes `state` what readers see, unless they already do.
    private func publish() {
        guard published.withLock({ $0.changes }) != changeCount else { return }
        var previous = Snapshot(state: state, changes: changeCount)
        published.withLock { swap(&$0, &previous) }
        publicationCount.add(1, ordering: .relaxed)
        // `previous` (possibly the last reference to an old state) is released here, outside the lock.
    }
}

extension Committer {
    /// A published state, boxed so a read takes one reference instead of copying every field
    /// of the root state (each a retain and a release).
    final class Snapshot: Sendable {
        let state: Root
        let changes: UInt64

        init(state: Root, changes: UInt64) {
            self.state = state
            self.changes = changes
        }
    }
}

/// The committer's timer (not in the generic actor: statics cannot be).
enum CommitMetrics {
    static let duration = Metrics.Timer(label: "ecsd_commit_duration_seconds")
}
