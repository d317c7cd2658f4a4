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

/// Counts changes to the state; a read computed at one version is valid until the next write.
public final class StateVersion: Sendable {
    private let value = Atomic<UInt64>(0)

    public init() {}

    public var current: UInt64 { value.load(ordering: .acquiring) }

    public func advance() {
        value.add(1, ordering: .releasing)
    }
}
