@testable import ControlPlane
import Foundation
import Logging
import StevedoreCore
import StevedoreTestSupport
import Storage
import Synchronization
import Testing

/// The committer over a small state of its own (named integers), an in-memory store and a test
/// clock: writes are serialised against memory, their rows reach the store in write order, each
/// answers once the store completed it, and a failed commit or operation restores the store's truth.
@Suite(.timeLimit(.minutes(1)))
struct CommitterTests {
    // MARK: Order and durability

    @Test func concurrentWritesRunOneAtATimeAndReachTheStoreInWriteOrder() async throws {
        let fixture = CommitterFixture()
        let committer = fixture.committer
        // Each write reads the counter and bumps it: lost updates would repeat a number.
        let numbers = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await committer.write { root, mutation in
                        root.counter += 1
                        let number = root.counter
                        root.items["n\(number)"] = number
                        mutation.changes.put(TestItem(name: "n\(number)", value: number))
                        return number
                    }
                }
            }
            var numbers: [Int] = []
            for try await number in group { numbers.append(number) }
            return numbers
        }
        #expect(numbers.sorted() == Array(1...20))
        // One submission per write, in the order the writes ran against memory.
        #expect(fixture.store.submissions.map { $0.map(\.key) } == (1...20).map { ["n\($0)"] })
        let stored = try fixture.store.loadAll().decode(TestItem.self)
        #expect(stored.map(\.value) == Array(1...20))
    }

    @Test func aWriteAnswersOnlyAfterTheStoreCompletedIt() async throws {
        let fixture = CommitterFixture()
        let events = EventLog()
        fixture.store.hold()
        let write = Task {
            try await fixture.put("a", 1)
            events.append("returned")
        }
        try await eventually("the write reaches the store") { fixture.store.heldCount == 1 }
        // Submitted (the row is in the store) but not completed: the write must still be waiting.
        #expect(try fixture.store.loadAll().decode(TestItem.self) == [TestItem(name: "a", value: 1)])
        await settle()
        #expect(events.entries.isEmpty)
        events.append("released")
        fixture.store.release()
        try await write.value
        #expect(events.entries == ["released", "returned"])
    }

    // MARK: Reads

    @Test func aReadDuringACommitCompletesAndLaterReadsSeeTheAnsweredWrite() async throws {
        let fixture = CommitterFixture()
        try await fixture.put("a", 1)
        fixture.store.hold()
        let write = Task { try await fixture.put("b", 2) }
        try await eventually("b submitted") { fixture.store.heldCount == 1 }
        // The write waits for the disk; a read completes meanwhile (it may or may not see b: the
        // commit is in flight) and sees every answered write.
        let seen = try await fixture.committer.read { root, _ in root.items }
        #expect(seen["a"] == 1)
        fixture.store.release()
        try await write.value
        // Once the write has answered, every read sees it.
        #expect(try await fixture.committer.read { root, _ in root.items } == ["a": 1, "b": 2])
    }

    @Test func aReadCompletesWhileAWriteIsRunningOnTheCommitter() async throws {
        let fixture = CommitterFixture()
        try await fixture.put("a", 1)
        // The first read after a write has the state published (a short visit to the committer);
        // the ones after it do not enter the committer at all.
        #expect(try await fixture.committer.read { root, _ in root.items["a"] } == 1)
        let readDone = Mutex(false)
        let writeRunning = Mutex(false)
        // The write occupies the committer until the read has finished (or 20 s pass): if reads
        // entered the committer, the read would wait for it and the write would see false.
        let write = Task {
            try await fixture.committer.write { _, _ -> Bool in
                writeRunning.withLock { $0 = true }
                let deadline = Date().addingTimeInterval(20)
                while !readDone.withLock({ $0 }) && Date() < deadline { usleep(1000) }
                return readDone.withLock { $0 }
            }
        }
        try await eventually("the write is running") { writeRunning.withLock { $0 } }
        let value = try await fixture.committer.read { root, _ in root.items["a"] }
        readDone.withLock { $0 = true }
        #expect(value == 1)
        #expect(try await write.value)
    }

    @Test func memoryOnlyChangesAreVisibleAtOnce() async throws {
        let fixture = CommitterFixture()
        await fixture.committer.updateMemory { root, _ in
            root.counter = 7
            return true
        }
        #expect(try await fixture.committer.read { root, _ in root.counter } == 7)
    }

    @Test func whileOneWriteWaitsForTheDiskTheNextOnesRunAndAreSubmitted() async throws {
        let fixture = CommitterFixture()
        let events = EventLog()
        fixture.store.hold()
        let first = Task {
            try await fixture.put("a", 1)
            events.append("a")
        }
        try await eventually("a submitted") { fixture.store.heldCount == 1 }
        // The second write runs against memory that already has the first's change, not yet durable.
        let second = Task {
            let sawA = try await fixture.committer.write { root, mutation in
                let sawA = root.items["a"]
                root.items["b"] = 2
                mutation.changes.put(TestItem(name: "b", value: 2))
                return sawA
            }
            events.append("b")
            return sawA
        }
        try await eventually("b submitted while a is held") { fixture.store.heldCount == 2 }
        let third = Task {
            try await fixture.put("c", 3)
            events.append("c")
        }
        try await eventually("c submitted while a and b are held") { fixture.store.heldCount == 3 }
        #expect(fixture.store.submissions.map { $0.map(\.key) } == [["a"], ["b"], ["c"]])
        #expect(events.entries.isEmpty)
        fixture.store.release()
        try await first.value
        #expect(try await second.value == 1)
        try await third.value
        #expect(Set(events.entries) == ["a", "b", "c"])
        #expect(try await fixture.items() == ["a": 1, "b": 2, "c": 3])
    }

    // MARK: Failures

    @Test func aFailedCommitAnswersServerExceptionAndRestoresTheStoresTruth() async throws {
        let fixture = CommitterFixture()
        try await fixture.put("a", 1)
        #expect(fixture.restores.value == 0)
        fixture.store.failNext()
        do {
            try await fixture.put("b", 2)
            Issue.record("a failed commit answered success")
        } catch {
            #expect(error.type == "ServerException")
            #expect(error.httpStatus == 500)
        }
        // Memory had b; the store does not: memory is loaded from the store again, on its own
        // (the caller was answered at once); writes are refused until then, then taken again.
        var refusals = 0
        while true {
            do {
                try await fixture.put("c", 3)
                break
            } catch {
                #expect(error.message.contains("reloading its state"))
                refusals += 1
                try #require(refusals < 400)
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        #expect(fixture.restores.value == 1)
        #expect(try await fixture.items() == ["a": 1, "c": 3])
        #expect(try fixture.store.loadAll().decode(TestItem.self).map(\.name) == ["a", "c"])
    }

    @Test func anOperationThatThrowsAfterChangingTheStateLeavesTheStoresState() async throws {
        let fixture = CommitterFixture()
        try await fixture.put("a", 1)
        let refusal = AWSError.client("refused halfway")
        do {
            try await fixture.committer.write { root, mutation throws(AWSError) in
                root.items["a"] = 99
                mutation.changes.put(TestItem(name: "a", value: 99))
                root.items["b"] = 2
                throw refusal
            }
            Issue.record("the refusal was not thrown")
        } catch {
            // The operation's own error, not a server fault.
            #expect(error == refusal)
        }
        #expect(fixture.restores.value == 1)
        #expect(try await fixture.items() == ["a": 1])
        // Nothing of the refused write was submitted.
        #expect(fixture.store.commitCount == 1)
    }

    @Test func anOperationThatThrowsBeforeChangingAnythingReloadsNothing() async throws {
        let fixture = CommitterFixture()
        try await fixture.put("a", 1)
        let before = fixture.committer.version.current
        await #expect(throws: AWSError.invalidParameter("no")) {
            try await fixture.committer.write { (_: inout TestRoot, _: inout Mutation) throws(AWSError) -> Void in
                throw AWSError.invalidParameter("no")
            }
        }
        #expect(fixture.restores.value == 0)
        #expect(fixture.committer.version.current == before)
        #expect(fixture.store.commitCount == 1)
    }

    // MARK: Time, randomness, version

    @Test func readsAndWritesSeeTheCommittersClock() async throws {
        let fixture = CommitterFixture()
        let start = fixture.clock.now
        #expect(try await fixture.committer.read { _, now in now } == start)
        #expect(try await fixture.committer.write { _, mutation in mutation.now } == start)
        fixture.clock.advance(by: 90)
        #expect(try await fixture.committer.read { _, now in now } == start.addingTimeInterval(90))
        #expect(fixture.committer.now() == start.addingTimeInterval(90))
        let written = try await fixture.committer.write { root, mutation in
            root.items["t"] = 1
            mutation.changes.put(TestItem(name: "t", value: 1))
            return mutation.now
        }
        #expect(written == start.addingTimeInterval(90))
    }

    @Test func writesDrawFromOneSeededGeneratorThatCarriesOver() async throws {
        let fixture = CommitterFixture(seed: 42)
        var expected = Xoshiro256(seed: 42)
        let first = try await fixture.committer.write { _, mutation in mutation.random.next() }
        let second = try await fixture.committer.write { root, mutation in
            root.items["x"] = 1
            mutation.changes.put(TestItem(name: "x", value: 1))
            return mutation.random.next()
        }
        #expect(first == expected.next())
        #expect(second == expected.next())
    }

    @Test func theVersionAdvancesOnlyWhenSomethingChanged() async throws {
        let fixture = CommitterFixture()
        let version = fixture.committer.version
        let start = version.current
        try await fixture.put("a", 1)
        #expect(version.current == start + 1)
        // A write that changed no rows.
        let answer = try await fixture.committer.write { root, _ in root.items.count }
        #expect(answer == 1)
        #expect(version.current == start + 1)
        #expect(fixture.store.commitCount == 1)
        // Memory-only changes advance it when they report a difference.
        #expect(await fixture.committer.updateMemory { root, _ in false } == false)
        #expect(version.current == start + 1)
        #expect(await fixture.committer.updateMemory { root, _ in
            root.counter += 1
            return true
        })
        #expect(version.current == start + 2)
        #expect(await fixture.committer.updateMemoryReturning { _, _ -> [String] in [] }.isEmpty)
        #expect(version.current == start + 2)
        #expect(await fixture.committer.updateMemoryReturning { _, _ in ["touched"] } == ["touched"])
        #expect(version.current == start + 3)
    }

    @Test func theVersionRemembersTheKindsEachChangeTouched() async throws {
        let fixture = CommitterFixture()
        let version = fixture.committer.version
        let start = version.current
        try await fixture.put("a", 1)
        #expect(!version.unchanged(since: start, in: [TestItem.recordKind]))
        #expect(version.unchanged(since: start, in: [RecordKind("elsewhere")]))
        #expect(!version.unchanged(since: start, in: nil))
        let afterWrite = version.current
        // A memory-only change may touch anything.
        #expect(await fixture.committer.updateMemory { root, _ in
            root.counter += 1
            return true
        })
        #expect(!version.unchanged(since: afterWrite, in: [RecordKind("elsewhere")]))
    }

    @Test func aReadAfterAWriteFindsItPublishedWithoutWaitingForTheActor() async throws {
        let fixture = CommitterFixture()
        // Someone reads, so the next durable write publishes the state itself.
        _ = try await fixture.items()
        try await fixture.put("a", 1)
        #expect(try await fixture.items() == ["a": 1])
        // Nobody read since: the next write leaves publishing to the first read, which still sees it.
        try await fixture.put("b", 2)
        try await fixture.put("c", 3)
        #expect(try await fixture.items() == ["a": 1, "b": 2, "c": 3])
    }

    @Test func writesCommittedTogetherArePublishedOnceAndEachWriterReadsItsOwn() async throws {
        let fixture = CommitterFixture()
        _ = try await fixture.items()
        fixture.store.hold()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<5 {
                group.addTask {
                    try await fixture.put("w\(index)", index)
                    // Each writer, once answered, reads its own write.
                    #expect(try await fixture.items()["w\(index)"] == index)
                }
            }
            while fixture.store.heldCount < 5 { try await Task.sleep(for: .milliseconds(1)) }
            let before = fixture.committer.publications
            // A reader while the five wait for the disk: it sees none of them yet.
            #expect(try await fixture.items().isEmpty)
            fixture.store.release()
            try await group.waitForAll()
            // The first write made visible published the state holding all five.
            #expect(fixture.committer.publications == before + 1)
        }
    }

    @Test func loadRestoresTheStoredStateAtTheClocksTime() async throws {
        let fixture = CommitterFixture()
        try await fixture.put("a", 1)
        try await fixture.put("b", 2)
        fixture.clock.advance(by: 5)
        let loaded = try await Committer.load(
            store: fixture.store, clock: fixture.clock.read, restore: fixture.restore, assignmentSequence: { $0.sequence },
            logger: fixture.logger)
        #expect(try await loaded.read { root, _ in root.items } == ["a": 1, "b": 2])
        #expect(try await loaded.read { root, _ in root.restoredAt } == fixture.clock.now)
        // The notifier starts from the stored state's sequence.
        #expect(loaded.notifier.durableSequence == 2)
    }

    // MARK: Assignments

    @Test func theNotifierLearnsAnAssignmentOnlyOnceTheStoreCompletedIt() async throws {
        let fixture = CommitterFixture()
        let notifier = fixture.committer.notifier
        let events = EventLog()
        #expect(notifier.durableSequence == 0)
        fixture.store.hold()
        let write = Task {
            try await fixture.committer.write { root, mutation in
                root.sequence += 1
                root.items["task"] = root.sequence
                mutation.changes.put(TestItem(name: "task", value: root.sequence))
                mutation.changes.assignedInstances.insert("i-1")
            }
        }
        try await eventually("the assignment is submitted") { fixture.store.heldCount == 1 }
        let poll = Task {
            await notifier.wait(for: "i-1", after: 0, timeout: .seconds(60))
            events.append("woken")
        }
        try await eventually("the poll waits") { notifier.waitingCount == 1 }
        // In memory, not on disk: nobody may hear of it yet.
        #expect(notifier.durableSequence == 0)
        await settle()
        #expect(events.entries.isEmpty)
        events.append("released")
        fixture.store.release()
        try await write.value
        // Woken by the commit, well before the poll's own timeout.
        try await eventually("the poll is woken") { events.entries.count == 2 }
        await poll.value
        #expect(events.entries == ["released", "woken"])
        #expect(notifier.durableSequence == 1)
    }

    @Test func aFailedCommitWakesNoPoll() async throws {
        let fixture = CommitterFixture()
        let notifier = fixture.committer.notifier
        fixture.store.failNext()
        await #expect(throws: AWSError.self) {
            try await fixture.committer.write { root, mutation in
                root.sequence = 1
                root.items["task"] = 1
                mutation.changes.put(TestItem(name: "task", value: 1))
                mutation.changes.assignedInstances.insert("i-1")
            }
        }
        #expect(notifier.durableSequence == 0)
        // A poll after sequence 0 is not answered by the lost assignment: it times out.
        let clock = ContinuousClock()
        let elapsed = await clock.measure { await notifier.wait(for: "i-1", after: 0, timeout: .milliseconds(100)) }
        #expect(elapsed >= .milliseconds(100))
    }
}

// MARK: - Fixture

/// A stored row of the test state.
struct TestItem: StoredRecord, Equatable {
    static let recordKind = RecordKind("test_items")
    var name: String
    var value: Int
    var recordKey: String { name }
}

/// The committer's state in these tests: named values (stored), a counter and a sequence (memory).
struct TestRoot: Sendable, Equatable {
    var items: [String: Int] = [:]
    /// The highest assignment sequence (restored as the largest stored value).
    var sequence = 0
    var counter = 0
    var restoredAt: Date?
}

/// Counts calls across tasks.
final class CallCounter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}

/// What happened, in order, across tasks.
final class EventLog: Sendable {
    private let events = Mutex<[String]>([])
    var entries: [String] { events.withLock { $0 } }
    func append(_ event: String) { events.withLock { $0.append(event) } }
}

struct CommitterFixture: Sendable {
    let store = InMemoryStateStore()
    let clock = TestClock()
    let restores = CallCounter()
    let logger = Logger(label: "committer-tests", factory: { _ in SwiftLogNoOpLogHandler() })
    let committer: Committer<TestRoot>

    init(seed: UInt64 = 1) {
        committer = Committer(
            state: TestRoot(), store: store, clock: clock.read, random: Xoshiro256(seed: seed), restore: Self.restoring(restores),
            assignmentSequence: { $0.sequence }, logger: logger)
    }

    var restore: @Sendable (StoredRows, Date) throws -> TestRoot { Self.restoring(CallCounter()) }

    static func restoring(_ counter: CallCounter) -> @Sendable (StoredRows, Date) throws -> TestRoot {
        { rows, now in
            counter.increment()
            let items = try rows.decode(TestItem.self)
            var root = TestRoot()
            for item in items { root.items[item.name] = item.value }
            root.sequence = items.map(\.value).max() ?? 0
            root.restoredAt = now
            return root
        }
    }

    func put(_ name: String, _ value: Int) async throws(AWSError) {
        try await committer.write { root, mutation in
            root.items[name] = value
            mutation.changes.put(TestItem(name: name, value: value))
        }
    }

    func items() async throws(AWSError) -> [String: Int] {
        try await committer.read { root, _ in root.items }
    }
}

// MARK: - Waiting without timing luck

struct TimedOut: Error {}

/// Polls `condition` until it holds, for at most `seconds`; records an issue and throws if it never does.
func eventually(
    _ what: String, within seconds: Int = 5, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async -> Bool
) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while !(await condition()) {
        guard ContinuousClock.now < deadline else {
            Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
            throw TimedOut()
        }
        try await Task.sleep(for: .milliseconds(2))
    }
}

/// Gives work that should NOT happen (a wrong early answer) the chance to happen before a test
/// checks that it did not. Correct code passes however long this takes; it only makes a wrong
/// implementation more likely to be caught.
func settle() async {
    for _ in 0..<10 { await Task.yield() }
    try? await Task.sleep(for: .milliseconds(20))
}
