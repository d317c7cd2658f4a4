#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// What a write gets besides the state: the committer's time, its seeded randomness, and the rows
/// the write changes. The committer is the only clock: operations never read one themselves.
public struct Mutation: Sendable {
    public let now: Date
    public var random: Xoshiro256
    public var changes = ChangeSet()

    public init(now: Date, random: Xoshiro256) {
        self.now = now
        self.random = random
    }
}

/// Runs pure operations against the control plane's committed state. Service modules bind their
/// wire operations through it without knowing the committer or the other services: reads see the
/// last committed state with the committer's time, writes run one at a time and return once
/// their rows are durable.
public protocol StateCommitting<Root>: Sendable {
    /// The composed state of every service (the control plane's).
    associatedtype Root: Sendable

    func read<Result: Sendable>(_ body: @Sendable (Root, Date) throws(AWSError) -> Result) async throws(AWSError) -> Result

    func write<Result: Sendable>(
        _ body: @Sendable (inout Root, inout Mutation) throws(AWSError) -> Result
    ) async throws(AWSError) -> Result
}

/// Counts changes to the state, and remembers which kinds of record each change touched, so a
/// read computed at one version stays valid until a change to a kind it depends on.
public final class StateVersion: Sendable {
    private struct Marks {
        /// The version of the last change that touched everything (memory-only changes, reloads).
        var everything: UInt64 = 0
        /// The version of the last change to each kind.
        var byKind: [RecordKind: UInt64] = [:]
        /// Those waiting for a change to some kinds (long polls), by a number of their own.
        var waiters: [Int: Waiter] = [:]
        var lastWaiter = 0

        func changed(since version: UInt64, in kinds: [RecordKind]) -> Bool {
            everything > version || kinds.contains { (byKind[$0] ?? 0) > version }
        }
    }

    private struct Waiter {
        var kinds: [RecordKind]
        var continuation: CheckedContinuation<Void, Never>
    }

    private let value = Atomic<UInt64>(0)
    private let marks = Mutex(Marks())

    public init() {}

    public var current: UInt64 { value.load(ordering: .acquiring) }

    /// A change to anything readers see.
    public func advance() {
        let woken = marks.withLock { marks in
            let next = value.load(ordering: .relaxed) + 1
            marks.everything = next
            value.store(next, ordering: .releasing)
            defer { marks.waiters.removeAll() }
            return Array(marks.waiters.values)
        }
        for waiter in woken { waiter.continuation.resume() }
    }

    /// A change to the rows of `kinds` only (and what the state derives from them).
    public func advance(changing kinds: some Sequence<RecordKind>) {
        let woken = marks.withLock { marks in
            let next = value.load(ordering: .relaxed) + 1
            var changed: Set<RecordKind> = []
            for kind in kinds {
                marks.byKind[kind] = next
                changed.insert(kind)
            }
            value.store(next, ordering: .releasing)
            guard !marks.waiters.isEmpty else { return [Waiter]() }
            let due = marks.waiters.filter { $0.value.kinds.contains(where: changed.contains) }
            for id in due.keys { marks.waiters[id] = nil }
            return Array(due.values)
        }
        for waiter in woken { waiter.continuation.resume() }
    }

    /// Returns once a change to `kinds` (or to everything) comes after `version`, at once if one
    /// came already, or when the task is cancelled (a long poll's deadline).
    public func waitForChange(after version: UInt64, in kinds: [RecordKind]) async {
        let id = marks.withLock { marks in
            marks.lastWaiter += 1
            return marks.lastWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = marks.withLock { marks in
                    if marks.changed(since: version, in: kinds) || Task.isCancelled { return true }
                    marks.waiters[id] = Waiter(kinds: kinds, continuation: continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            marks.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume()
        }
    }

    /// Whether nothing that `kinds` names changed after `version` (`nil`: depends on everything).
    public func unchanged(since version: UInt64, in kinds: [RecordKind]?) -> Bool {
        if current == version { return true }
        guard let kinds else { return false }
        return marks.withLock { marks in
            marks.everything <= version && kinds.allSatisfy { (marks.byKind[$0] ?? 0) <= version }
        }
    }
}
