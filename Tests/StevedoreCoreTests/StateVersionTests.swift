import Synchronization
import StevedoreCore
import Testing

/// The state's version and the kinds of record each change touched: what the read cache asks
/// before serving an answer computed at an older version.
struct StateVersionTests {
    let tasks = RecordKind("tasks")
    let clusters = RecordKind("clusters")

    @Test func nothingChangedSinceTheCurrentVersion() {
        let version = StateVersion()
        #expect(version.unchanged(since: version.current, in: nil))
        #expect(version.unchanged(since: version.current, in: [tasks]))
    }

    @Test func aChangeOfOneKindLeavesTheOthersUnchanged() {
        let version = StateVersion()
        let start = version.current
        version.advance(changing: [tasks])
        #expect(version.current == start + 1)
        #expect(!version.unchanged(since: start, in: [tasks]))
        #expect(!version.unchanged(since: start, in: [clusters, tasks]))
        #expect(version.unchanged(since: start, in: [clusters]))
        #expect(version.unchanged(since: start, in: []))
        // Depending on everything: any change counts.
        #expect(!version.unchanged(since: start, in: nil))
        // Since the change itself, nothing changed.
        #expect(version.unchanged(since: start + 1, in: [tasks]))
    }

    @Test func aChangeOfEverythingCountsForEveryKind() {
        let version = StateVersion()
        version.advance(changing: [tasks])
        let before = version.current
        version.advance()
        #expect(!version.unchanged(since: before, in: [clusters]))
        #expect(!version.unchanged(since: before, in: []))
        #expect(version.unchanged(since: version.current, in: [clusters]))
    }

    @Test func laterChangesOfTheSameKindMoveItsMark() {
        let version = StateVersion()
        version.advance(changing: [tasks])
        let first = version.current
        version.advance(changing: [clusters])
        #expect(version.unchanged(since: first, in: [tasks]))
        version.advance(changing: [tasks])
        #expect(!version.unchanged(since: first, in: [tasks]))
        #expect(version.unchanged(since: version.current - 1, in: [clusters]))
    }
}

/// Long polls wait on the version for the kinds they read.
struct StateVersionWaitTests {
    @Test func aWaitEndsWithAChangeToItsKindsOnly() async {
        let version = StateVersion()
        let start = version.current
        final class Flag: Sendable { let raised = Mutex(false) }
        let woken = Flag()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await version.waitForChange(after: start, in: [RecordKind("messages")])
                woken.raised.withLock { $0 = true }
            }
            try? await Task.sleep(for: .milliseconds(20))
            version.advance(changing: [RecordKind("other")])
            try? await Task.sleep(for: .milliseconds(20))
            let early = woken.raised.withLock { $0 }
            #expect(!early)
            version.advance(changing: [RecordKind("messages")])
            await group.waitForAll()
        }
        let late = woken.raised.withLock { $0 }
        #expect(late)
        // A change already made: no wait at all.
        await version.waitForChange(after: start, in: [RecordKind("messages")])
    }

    @Test func aCancelledWaitEnds() async {
        let version = StateVersion()
        let waiting = Task { await version.waitForChange(after: version.current, in: [RecordKind("messages")]) }
        try? await Task.sleep(for: .milliseconds(10))
        waiting.cancel()
        await waiting.value
    }
}

/// A bell between a producer and a consumer: a ring is never lost, and a wait ends at its deadline.
struct DoorbellTests {
    @Test func aRingBeforeTheWaitIsKeptOnce() async {
        let bell = Doorbell()
        bell.ring()
        bell.ring()
        let start = ContinuousClock.now
        await bell.wait(until: .now + .seconds(30))
        #expect(ContinuousClock.now - start < .seconds(5))
        // Both rings counted as one: the next wait runs to its deadline.
        let second = ContinuousClock.now
        await bell.wait(until: .now + .milliseconds(50))
        #expect(ContinuousClock.now - second >= .milliseconds(50))
    }

    @Test func aRingWakesTheWaiter() async {
        let bell = Doorbell()
        let start = ContinuousClock.now
        async let waited: Void = bell.wait()
        try? await Task.sleep(for: .milliseconds(20))
        bell.ring()
        await waited
        // A bell that did not wake it would leave it waiting for good; the bound only has to be
        // far above what a starved test pool adds (CPU-bound suites beside it took it past 5 s).
        #expect(ContinuousClock.now - start < .seconds(60))
    }

    @Test func cancellationEndsAWait() async {
        let bell = Doorbell()
        let waiter = Task { await bell.wait() }
        try? await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        await waiter.value
    }
}
