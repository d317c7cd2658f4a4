@testable import ControlPlane
import Foundation
import Testing

/// Agents' long polls: woken by durable changes for their instance, never losing one that landed
/// between their read and their wait, and released by timeouts, pokes, shutdown and cancellation.
/// (`eventually`, `settle` and `EventLog` are in CommitterTests.swift.)
@Suite(.timeLimit(.minutes(1)))
struct AssignmentNotifierTests {
    /// Long enough that a test passing because of it would be noticed (and fail on `elapsed`).
    static let forever: Duration = .seconds(30)

    /// A long poll running in its own task.
    struct Poll {
        let task: Task<Void, Never>
        let events: EventLog
        var returned: Bool { !events.entries.isEmpty }

        /// Waits (a few seconds at most) for the poll to return: a wake-up that never comes fails
        /// here instead of passing when the poll's long timeout runs out.
        func expectReturned(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            try await eventually(what, sourceLocation: sourceLocation) { returned }
            await task.value
        }
    }

    /// Starts a poll of `instance` for changes after `after`, and waits until it is registered.
    func startWaiting(_ notifier: AssignmentNotifier, for instance: String, after: Int, expectedWaiting: Int = 1) async throws -> Poll {
        let events = EventLog()
        let task = Task {
            await notifier.wait(for: instance, after: after, timeout: Self.forever)
            events.append("returned")
        }
        try await eventually("\(expectedWaiting) poll(s) wait") { notifier.waitingCount == expectedWaiting }
        return Poll(task: task, events: events)
    }

    @Test func aCommitForTheInstanceWakesItsWaiter() async throws {
        let notifier = AssignmentNotifier(durableSequence: 0)
        let poll = try await startWaiting(notifier, for: "i-1", after: 0)
        notifier.committed(upTo: 1, instances: ["i-1"])
        try await poll.expectReturned("the commit wakes the poll")
        #expect(notifier.waitingCount == 0)
        #expect(notifier.durableSequence == 1)
    }

    @Test func aCommitForAnotherInstanceDoesNotWakeTheWaiter() async throws {
        let notifier = AssignmentNotifier(durableSequence: 0)
        let poll = try await startWaiting(notifier, for: "i-1", after: 0)
        notifier.committed(upTo: 1, instances: ["i-2"])
        // A commit naming no instance (durable, but news for nobody) wakes nobody either.
        notifier.committed(upTo: 2, instances: [])
        await settle()
        #expect(!poll.returned)
        #expect(notifier.waitingCount == 1)
        #expect(notifier.durableSequence == 2)
        notifier.committed(upTo: 3, instances: ["i-1"])
        try await poll.expectReturned("the commit for i-1 wakes the poll")
    }

    @Test func aCommitBetweenReadingAndWaitingIsNotLost() async throws {
        let notifier = AssignmentNotifier(durableSequence: 4)
        // The poll read sequence 4; the commit of 5 lands before it starts waiting.
        notifier.committed(upTo: 5, instances: ["i-1"])
        let elapsed = await ContinuousClock().measure {
            await notifier.wait(for: "i-1", after: 4, timeout: Self.forever)
        }
        #expect(elapsed < .seconds(10))
        #expect(notifier.waitingCount == 0)
        // A poll that already saw 5 waits for the next change.
        let poll = try await startWaiting(notifier, for: "i-1", after: 5)
        #expect(!poll.returned)
        notifier.committed(upTo: 6, instances: ["i-1"])
        try await poll.expectReturned("the commit of 6 wakes the poll")
    }

    @Test func theDurableSequenceNeverGoesBack() {
        let notifier = AssignmentNotifier(durableSequence: 3)
        #expect(notifier.durableSequence == 3)
        notifier.committed(upTo: 7, instances: ["i-1"])
        notifier.committed(upTo: 5, instances: ["i-2"])
        #expect(notifier.durableSequence == 7)
    }

    @Test func aWaitReturnsAfterItsTimeout() async throws {
        let notifier = AssignmentNotifier(durableSequence: 0)
        let elapsed = await ContinuousClock().measure {
            await notifier.wait(for: "i-1", after: 0, timeout: .milliseconds(100))
        }
        #expect(elapsed >= .milliseconds(100))
        #expect(elapsed < .seconds(10))
        // The timed-out waiter is gone: a later commit finds nobody to resume.
        #expect(notifier.waitingCount == 0)
    }

    @Test func aPokeWakesTheWaiter() async throws {
        let notifier = AssignmentNotifier(durableSequence: 0)
        let poll = try await startWaiting(notifier, for: "i-1", after: 0)
        notifier.poke("i-1")
        try await poll.expectReturned("the poke wakes the poll")
        #expect(notifier.waitingCount == 0)
        // The poke was used up by that waiter: the next wait waits.
        let elapsed = await ContinuousClock().measure {
            await notifier.wait(for: "i-1", after: 0, timeout: .milliseconds(100))
        }
        #expect(elapsed >= .milliseconds(100))
    }

    @Test func aPokeWithNobodyWaitingWakesTheNextWaitOnce() async throws {
        let notifier = AssignmentNotifier(durableSequence: 0)
        notifier.poke("i-1")
        let first = await ContinuousClock().measure {
            await notifier.wait(for: "i-1", after: 0, timeout: Self.forever)
        }
        #expect(first < .seconds(10))
        // Once only; and a poke for one instance is not one for another.
        notifier.poke("i-2")
        let second = await ContinuousClock().measure {
            await notifier.wait(for: "i-1", after: 0, timeout: .milliseconds(100))
        }
        #expect(second >= .milliseconds(100))
    }

    @Test func shutdownReleasesEveryWaiterAndLaterWaitsReturnAtOnce() async throws {
        let notifier = AssignmentNotifier(durableSequence: 0)
        #expect(!notifier.isShutDown)
        let one = try await startWaiting(notifier, for: "i-1", after: 0, expectedWaiting: 1)
        let two = try await startWaiting(notifier, for: "i-2", after: 0, expectedWaiting: 2)
        let three = try await startWaiting(notifier, for: "i-2", after: 0, expectedWaiting: 3)
        notifier.shutdown()
        try await one.expectReturned("shutdown releases the poll of i-1")
        try await two.expectReturned("shutdown releases the first poll of i-2")
        try await three.expectReturned("shutdown releases the second poll of i-2")
        #expect(notifier.isShutDown)
        #expect(notifier.waitingCount == 0)
        let elapsed = await ContinuousClock().measure {
            await notifier.wait(for: "i-3", after: 0, timeout: Self.forever)
        }
        #expect(elapsed < .seconds(10))
        #expect(notifier.waitingCount == 0)
    }

    @Test func cancellingTheWaitingTaskEndsTheWait() async throws {
        let notifier = AssignmentNotifier(durableSequence: 0)
        let poll = try await startWaiting(notifier, for: "i-1", after: 0)
        poll.task.cancel()
        try await poll.expectReturned("cancellation ends the wait")
        #expect(notifier.waitingCount == 0)
        // A wait started in an already-cancelled task returns too.
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await notifier.wait(for: "i-1", after: 0, timeout: Self.forever)
        }
        let elapsed = await ContinuousClock().measure { await cancelled.value }
        #expect(elapsed < .seconds(10))
        #expect(notifier.waitingCount == 0)
    }
}
