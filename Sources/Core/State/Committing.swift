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
    }

    private let value = Atomic<UInt64>(0)
    private let marks = Mutex(Marks())

    public init() {}

    public var current: UInt64 { value.load(ordering: .acquiring) }

    /// A change to anything readers see.
    public func advance() {
        marks.withLock { marks in
            let next = value.load(ordering: .relaxed) + 1
            marks.everything = next
            value.store(next, ordering: .releasing)
        }
    }

    /// A change to the rows of `kinds` only (and what the state derives from them).
    public func advance(changing kinds: some Sequence<RecordKind>) {
        marks.withLock { marks in
            let next = value.load(ordering: .relaxed) + 1
            for kind in kinds { marks.byKind[kind] = next }
            value.store(next, ordering: .releasing)
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
