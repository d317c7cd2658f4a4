import AgentProtocol
import Archives
import Foundation
@testable import Lambda
import LambdaShapes
import SQS
import StevedoreCore
import Testing

/// The function router's decisions as tables: events in (admit, placed, placementFailed, deliver,
/// reconcile), actions out (place, dispatch, finish, log, stop, markFailed).
struct FunctionRoutingTests {
    typealias Action = FunctionRouting.Action

    var routing = FunctionRouting(settings: FunctionSettings(), startedAt: t0)

    // MARK: Admitting and placing

    @Test mutating func anInvocationWithNoIdleEnvironmentPlacesOneAndIsDispatchedToIt() throws {
        let spec = environmentSpec()
        #expect(try routing.admit(request("i1"), target: target(spec), now: t0) == [.place(invocation: "i1", spec: spec)])
        #expect(routing.concurrencyInUse("f") == 1)
        #expect(routing.unreservedExecuting == 1)
        #expect(routing.inflightCount == 1)
        // The deadline the agent gets: admission time plus the function's timeout (3 s).
        let dispatched = AgentInvocation(
            id: "i1", environment: "env-1", payload: Data(#"{"n":"i1"}"#.utf8), deadline: 1_800_000_000_000 + 3000,
            invokedFunctionArn: functionArn, traceId: "trace-i1")
        #expect(routing.placed("i1", environment: "env-1", instance: "inst-1", now: t0) == [.dispatch(dispatched, instance: "inst-1")])
        let environment = try #require(routing.environments["env-1"])
        #expect(environment.busy == "i1")
        #expect(environment.instance == "inst-1")
        #expect(environment.poolKey == spec.poolKey)
        #expect(routing.idleEnvironments(spec.poolKey).isEmpty)
        // Reports about invocations the router does not know change nothing; an environment placed
        // for one is stopped rather than left running unmanaged.
        #expect(routing.placed("unknown", environment: "env-9", instance: "inst-9", now: t0) == [.stop(["env-9"])])
        #expect(routing.environments["env-9"] == nil)
        #expect(routing.placementFailed("unknown", error: .server("no room")) == [])
    }

    @Test mutating func aSuccessfulResultFinishesTheInvocationAndTheEnvironmentBecomesIdle() throws {
        try start("i1", on: "env-1")
        let actions = routing.deliver([success("i1", on: "env-1")], retired: [], now: t0 + 1)
        #expect(actions == [.finish(invocation: "i1", outcome(.success, Data("ok i1".utf8)))])
        #expect(routing.concurrencyInUse("f") == 0)
        #expect(routing.unreservedExecuting == 0)
        #expect(routing.inflightCount == 0)
        #expect(routing.idleEnvironments(poolKey) == ["env-1"])
        let environment = try #require(routing.environments["env-1"])
        #expect(environment.busy == nil)
        #expect(environment.idleSince == t0 + 1)
        // A second result for the same invocation is ignored.
        #expect(routing.deliver([success("i1", on: "env-1")], retired: [], now: t0 + 2) == [])
    }

    @Test mutating func anAgentReportsOnlyForEnvironmentsOnItsOwnInstance() throws {
        try start("i1", on: "env-1", instance: "inst-1")
        // Another instance's agent can neither finish the invocation nor retire the environment.
        #expect(routing.deliver([success("i1", on: "env-1")], retired: ["env-1"], from: "inst-2", now: t0 + 1) == [])
        #expect(routing.inflightCount == 1)
        #expect(routing.environments["env-1"]?.busy == "i1")
        let actions = routing.deliver([success("i1", on: "env-1")], retired: [], from: "inst-1", now: t0 + 1)
        #expect(actions == [.finish(invocation: "i1", outcome(.success, Data("ok i1".utf8)))])
    }

    @Test mutating func theInvocationsOutputIsLoggedBeforeItFinishes() throws {
        try start("i1", on: "env-1")
        var result = success("i1", on: "env-1")
        result.log = Data("START RequestId: i1\nEND RequestId: i1\n".utf8)
        var expected = outcome(.success, Data("ok i1".utf8))
        expected.log = result.log
        #expect(
            routing.deliver([result], retired: [], now: t0 + 1) == [
                .log(function: "f", version: "$LATEST", environment: "env-1", Data("START RequestId: i1\nEND RequestId: i1\n".utf8)),
                .finish(invocation: "i1", expected),
            ])
    }

    @Test mutating func aLogThatCameAfterTheAnswerIsLoggedOnItsOwn() throws {
        try start("i1", on: "env-1", instance: "inst-1")
        _ = routing.deliver([success("i1", on: "env-1")], retired: [], now: t0 + 1)
        var late = InvocationResult(id: "i1", environment: "env-1", status: .success, payload: Data())
        late.log = Data("START RequestId: i1\nprinted\nEND RequestId: i1\n".utf8)
        late.lateLog = true
        late.version = "3"
        // Another instance's agent cannot log for this environment; its own can, once.
        #expect(routing.deliver([late], retired: [], from: "inst-2", now: t0 + 2) == [])
        #expect(
            routing.deliver([late], retired: [], from: "inst-1", now: t0 + 2) == [
                .log(function: "f", version: "3", environment: "env-1", Data("START RequestId: i1\nprinted\nEND RequestId: i1\n".utf8))
            ])
        // It finishes nothing and leaves the environment idle.
        #expect(routing.idleEnvironments(poolKey) == ["env-1"])
    }

    @Test mutating func theNextInvocationGoesToTheIdleEnvironmentAtOnce() throws {
        try start("i1", on: "env-1")
        _ = routing.deliver([success("i1", on: "env-1")], retired: [], now: t0 + 1)
        let actions = try routing.admit(request("i2"), target: target(), now: t0 + 2)
        let dispatched = AgentInvocation(
            id: "i2", environment: "env-1", payload: Data(#"{"n":"i2"}"#.utf8), deadline: 1_800_000_002_000 + 3000,
            invokedFunctionArn: functionArn, traceId: "trace-i2")
        #expect(actions == [.dispatch(dispatched, instance: "inst-1")])
        #expect(routing.environments["env-1"]?.busy == "i2")
        #expect(routing.idleEnvironments(poolKey).isEmpty)
    }

    @Test mutating func theMostRecentlyUsedIdleEnvironmentIsChosenFirst() throws {
        try start("i1", on: "env-1")
        try start("i2", on: "env-2")
        // env-2 finishes first, env-1 last: env-1 is the most recently used.
        _ = routing.deliver([success("i2", on: "env-2")], retired: [], now: t0 + 1)
        _ = routing.deliver([success("i1", on: "env-1")], retired: [], now: t0 + 2)
        #expect(routing.idleEnvironments(poolKey) == ["env-2", "env-1"])
        #expect(dispatchedEnvironments(try routing.admit(request("i3"), target: target(), now: t0 + 3)) == ["env-1"])
        #expect(dispatchedEnvironments(try routing.admit(request("i4"), target: target(), now: t0 + 3)) == ["env-2"])
        // Both busy: the next needs a new one.
        #expect(try routing.admit(request("i5"), target: target(), now: t0 + 3) == [.place(invocation: "i5", spec: environmentSpec())])
    }

    @Test mutating func anotherVersionsIdleEnvironmentIsNotUsed() throws {
        try start("i1", on: "env-1")
        _ = routing.deliver([success("i1", on: "env-1")], retired: [], now: t0 + 1)
        let published = environmentSpec(version: "1")
        #expect(try routing.admit(request("i2"), target: target(published), now: t0 + 2) == [.place(invocation: "i2", spec: published)])
        #expect(routing.idleEnvironments(poolKey) == ["env-1"])
    }

    @Test mutating func aResultFromAnotherEnvironmentIsIgnored() throws {
        try start("i1", on: "env-1")
        #expect(routing.deliver([success("i1", on: "env-2")], retired: [], now: t0 + 1) == [])
        #expect(routing.inflightCount == 1)
        #expect(routing.environments["env-1"]?.busy == "i1")
    }

    // MARK: Concurrency

    @Test mutating func reservedConcurrencyThrottlesTheFunction() throws {
        let reserved = target(reserved: 1, totalReserved: 1)
        #expect(try routing.admit(request("i1"), target: reserved, now: t0) == [.place(invocation: "i1", spec: environmentSpec())])
        let error = try #require(refusal { try routing.admit(request("i2"), target: reserved, now: t0) })
        #expect(error.type == "TooManyRequestsException")
        #expect(error.httpStatus == 429)
        #expect(error.extraFields["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded")
        // The refused invocation holds nothing; reserved invocations are not in the unreserved pool.
        #expect(routing.concurrencyInUse("f") == 1)
        #expect(routing.inflightCount == 1)
        #expect(routing.unreservedExecuting == 0)
        // Once the first is over, there is room again.
        _ = routing.placed("i1", environment: "env-1", instance: "inst-1", now: t0)
        _ = routing.deliver([success("i1", on: "env-1")], retired: [], now: t0 + 1)
        #expect(routing.concurrencyInUse("f") == 0)
        #expect(dispatchedEnvironments(try routing.admit(request("i3"), target: reserved, now: t0 + 2)) == ["env-1"])
    }

    @Test mutating func theUnreservedPoolIsTheLimitMinusEveryReservation() throws {
        routing.settings.concurrencyLimit = 3
        // One of the three is reserved (by some function): two remain for f and g together.
        let f = target(totalReserved: 1)
        let g = target(environmentSpec("g"), totalReserved: 1)
        _ = try routing.admit(request("f1"), target: f, now: t0)
        _ = try routing.admit(request("g1"), target: g, now: t0)
        let error = try #require(refusal { try routing.admit(request("f2"), target: f, now: t0) })
        #expect(error.type == "TooManyRequestsException")
        #expect(error.httpStatus == 429)
        #expect(error.extraFields["Reason"] == "ConcurrentInvocationLimitExceeded")
        #expect(routing.unreservedExecuting == 2)
        // The function holding the reservation still runs within it.
        let h = target(environmentSpec("h"), reserved: 1, totalReserved: 1)
        #expect(try routing.admit(request("h1"), target: h, now: t0) == [.place(invocation: "h1", spec: environmentSpec("h"))])
        // Without reservations the same two would leave room for a third.
        var open = FunctionRouting(settings: routing.settings, startedAt: t0)
        for id in ["a", "b", "c"] { _ = try open.admit(request(id), target: target(), now: t0) }
        #expect(open.concurrencyInUse("f") == 3)
        #expect(refusal { try open.admit(request("d"), target: target(), now: t0) }?.extraFields["Reason"] == "ConcurrentInvocationLimitExceeded")
    }

    @Test func pendingAndFailedFunctionsAreRefused() throws {
        var routing = FunctionRouting(settings: FunctionSettings(), startedAt: t0)
        let pending = try #require(refusal { try routing.admit(request("i1"), target: target(state: .pending), now: t0) })
        #expect(pending.type == "ResourceConflictException")
        #expect(pending.httpStatus == 409)
        #expect(pending.message.hasSuffix("The function is currently in the following state: Pending"))
        let failed = try #require(
            refusal { try routing.admit(request("i2"), target: target(state: .failed, reason: "exec format error"), now: t0) })
        #expect(failed.type == "InvalidImageException")
        #expect(failed.httpStatus == 502)
        #expect(failed.message.contains("exec format error"))
        #expect(routing.concurrencyInUse("f") == 0)
        #expect(routing.unreservedExecuting == 0)
        #expect(routing.inflightCount == 0)
        // An active one is admitted.
        #expect(throws: Never.self) { try FunctionRouting.checkReady(target(state: .active)) }
    }

    // MARK: Placement failures and retries

    @Test mutating func aFailedPlacementWaitsForAnEnvironmentOfTheVersionThatHasOne() throws {
        try start("i1", on: "env-1")
        #expect(try routing.admit(request("i2"), target: target(), now: t0) == [.place(invocation: "i2", spec: environmentSpec())])
        #expect(routing.placementFailed("i2", error: .server("No container instance has room.")) == [])
        #expect(routing.inflightCount == 2)
        #expect(routing.concurrencyInUse("f") == 2)
        // env-1 finishes i1 and takes the waiting i2 at once.
        let waited = AgentInvocation(
            id: "i2", environment: "env-1", payload: Data(#"{"n":"i2"}"#.utf8), deadline: 1_800_000_000_000 + 3000,
            invokedFunctionArn: functionArn, traceId: "trace-i2")
        #expect(
            routing.deliver([success("i1", on: "env-1")], retired: [], now: t0 + 1) == [
                .finish(invocation: "i1", outcome(.success, Data("ok i1".utf8))), .dispatch(waited, instance: "inst-1"),
            ])
        #expect(routing.environments["env-1"]?.busy == "i2")
        #expect(routing.idleEnvironments(poolKey).isEmpty)
    }

    @Test mutating func aFailedPlacementWithNoEnvironmentOfTheVersionFinishesWithTheError() throws {
        // An environment of another revision does not count.
        try start("old", on: "env-0", spec: environmentSpec(revision: "r0"))
        _ = try routing.admit(request("i1"), target: target(), now: t0)
        let error = AWSError(type: "ResourceNotReadyException", message: "No container instance has room.", httpStatus: 500)
        #expect(
            routing.placementFailed("i1", error: error) == [
                .finish(
                    invocation: "i1",
                    outcome(.environmentFailure, InvocationErrorBody.encoded(error.type, error.message), errorType: "ResourceNotReadyException"))
            ])
        #expect(routing.concurrencyInUse("f") == 1)  // only "old"
        #expect(routing.inflightCount == 1)
    }

    @Test mutating func aRetryableResultIsPlacedAgainAtMostThreeTimes() throws {
        _ = try routing.admit(request("i1"), target: target(), now: t0)
        for attempt in 1...3 {
            #expect(dispatchedEnvironments(routing.placed("i1", environment: "env-\(attempt)", instance: "inst-1", now: t0)) == ["env-\(attempt)"])
            #expect(
                routing.deliver([retryable("i1", on: "env-\(attempt)")], retired: [], now: t0 + 1) == [
                    .place(invocation: "i1", spec: environmentSpec())
                ], "attempt \(attempt)")
            // The environment that could not run it is forgotten.
            #expect(routing.environments["env-\(attempt)"] == nil)
            #expect(routing.inflightCount == 1)
        }
        _ = routing.placed("i1", environment: "env-4", instance: "inst-1", now: t0)
        let actions = routing.deliver([retryable("i1", on: "env-4")], retired: [], now: t0 + 2)
        let (id, finished) = try #require(finishes(actions).first)
        #expect(actions.count == 1)
        #expect(id == "i1")
        #expect(finished.status == .environmentFailure)
        #expect(finished.errorType == "Runtime.Unavailable")
        #expect(routing.concurrencyInUse("f") == 0)
    }

    @Test mutating func aRetryGoesToAnIdleEnvironmentOfTheVersionWhenThereIsOne() throws {
        try start("i1", on: "env-1")
        try start("i2", on: "env-2")
        _ = routing.deliver([success("i2", on: "env-2")], retired: [], now: t0 + 1)
        let actions = routing.deliver([retryable("i1", on: "env-1")], retired: [], now: t0 + 2)
        #expect(dispatchedEnvironments(actions) == ["env-2"])
        #expect(actions.count == 1)
        #expect(routing.environments["env-1"] == nil)
    }

    // MARK: Environments lost

    @Test mutating func aRetiredEnvironmentFailsTheInvocationItHeld() throws {
        try start("i1", on: "env-1")
        try start("i2", on: "env-2")
        _ = routing.deliver([success("i2", on: "env-2")], retired: [], now: t0 + 1)
        let actions = routing.deliver([], retired: ["env-1", "env-2", "env-unknown"], now: t0 + 2)
        let (id, finished) = try #require(finishes(actions).first)
        #expect(actions.count == 1)
        #expect(id == "i1")
        #expect(finished.status == .environmentFailure)
        #expect(finished.errorType == "ServiceException")
        #expect(errorMessage(finished) == "The execution environment stopped before the invocation finished.")
        #expect(routing.environments.isEmpty)
        #expect(routing.idleEnvironments(poolKey).isEmpty)
        #expect(routing.concurrencyInUse("f") == 0)
    }

    @Test mutating func aResultThatRetiresItsEnvironmentFinishesAndForgetsIt() throws {
        try start("i1", on: "env-1")
        var result = InvocationResult(
            id: "i1", environment: "env-1", status: .functionError, payload: Data(#"{"errorMessage":"timed out"}"#.utf8),
            errorType: "Sandbox.Timedout", retired: true)
        result.retryable = false
        let actions = routing.deliver([result], retired: [], now: t0 + 1)
        #expect(actions == [.finish(invocation: "i1", outcome(.functionError, result.payload, errorType: "Sandbox.Timedout"))])
        #expect(routing.environments["env-1"] == nil)
        #expect(try routing.admit(request("i2"), target: target(), now: t0 + 2) == [.place(invocation: "i2", spec: environmentSpec())])
    }

    @Test mutating func anImageThatCannotStartMarksTheFunctionFailed() throws {
        let image = environmentSpec(revision: "r9", kind: .image)
        try start("i1", on: "env-1", spec: image)
        let failure = InvocationResult(
            id: "i1", environment: "env-1", status: .environmentFailure,
            payload: InvocationErrorBody.encoded("Runtime.InvalidEntrypoint", "exec /app/run: no such file or directory"),
            errorType: "Runtime.InvalidEntrypoint", retired: true)
        let actions = routing.deliver([failure], retired: [], now: t0 + 1)
        #expect(actions.count == 2)
        #expect(actions.first == .markFailed(function: "f", revisionId: "r9", reason: "exec /app/run: no such file or directory"))
        #expect(finishes(actions).map(\.0) == ["i1"])
        // A payload that is not an error body is the reason as it is.
        try start("i2", on: "env-2", spec: image)
        var raw = failure
        raw.id = "i2"
        raw.environment = "env-2"
        raw.payload = Data("container exited with code 127".utf8)
        #expect(
            routing.deliver([raw], retired: [], now: t0 + 2).first
                == .markFailed(function: "f", revisionId: "r9", reason: "container exited with code 127"))
    }

    @Test mutating func onlyAnImagesEnvironmentFailureMarksTheFunctionFailed() throws {
        // A zip function's environment failure, and an image function's own error, do not.
        try start("i1", on: "env-1")
        let lost = InvocationResult(
            id: "i1", environment: "env-1", status: .environmentFailure, payload: InvocationErrorBody.encoded("Runtime.ExitError", "exit 1"),
            retired: true)
        #expect(!routing.deliver([lost], retired: [], now: t0 + 1).contains { if case .markFailed = $0 { true } else { false } })
        try start("i2", on: "env-2", spec: environmentSpec(revision: "r9", kind: .image))
        let handled = InvocationResult(id: "i2", environment: "env-2", status: .functionError, payload: Data("{}".utf8), errorType: "Unhandled")
        #expect(!routing.deliver([handled], retired: [], now: t0 + 1).contains { if case .markFailed = $0 { true } else { false } })
    }

    // MARK: Housekeeping

    @Test mutating func anEnvironmentWhoseTaskStoppedIsRetiredAndItsInvocationFails() throws {
        try start("i1", on: "env-1")
        try start("i2", on: "env-2")
        // env-1's task stopped; env-2's is not in the state any more.
        let live = ["env-1": liveEnvironment(stopped: true, reason: "Essential container in task exited")]
        let actions = routing.reconcile(live: live, currentPoolKeys: [poolKey], now: t0 + 1)
        let finished = Dictionary(uniqueKeysWithValues: finishes(actions))
        #expect(actions.count == 2)
        #expect(finished.keys.sorted() == ["i1", "i2"])
        #expect(finished["i1"].flatMap(errorMessage) == "The execution environment stopped: Essential container in task exited.")
        #expect(finished["i2"].flatMap(errorMessage) == "The execution environment stopped: its task is no longer running.")
        #expect(finished.values.allSatisfy { $0.errorType == "ServiceException" && $0.status == .environmentFailure })
        #expect(routing.environments.isEmpty)
        #expect(routing.inflightCount == 0)
    }

    @Test mutating func anInvocationPastItsDeadlineFinishesWithServiceException() throws {
        try start("i1", on: "env-1")
        let live = ["env-1": liveEnvironment()]
        // Deadline: the timeout (3 s), the start timeout (120 s) and 5 s of margin.
        #expect(routing.reconcile(live: live, currentPoolKeys: [poolKey], now: t0 + 128) == [])
        let actions = routing.reconcile(live: live, currentPoolKeys: [poolKey], now: t0 + 128.5)
        let (id, finished) = try #require(finishes(actions).first)
        #expect(actions.count == 2)
        #expect(id == "i1")
        #expect(finished.errorType == "ServiceException")
        #expect(finished.status == .environmentFailure)
        #expect(errorMessage(finished) == "The execution environment did not answer in time.")
        // The silent environment is given up and stopped, once.
        #expect(actions.last == .stop(["env-1"]))
        #expect(routing.environments["env-1"] == nil)
        #expect(routing.concurrencyInUse("f") == 0)
        #expect(routing.reconcile(live: live, currentPoolKeys: [poolKey], now: t0 + 129) == [])
    }

    @Test mutating func anInvocationNeverPlacedFinishesAtItsDeadline() throws {
        _ = try routing.admit(request("i1"), target: target(), now: t0)
        let actions = routing.reconcile(live: [:], currentPoolKeys: [poolKey], now: t0 + 129)
        let (id, finished) = try #require(finishes(actions).first)
        #expect(id == "i1")
        #expect(finished.errorType == "ServiceException")
        #expect(errorMessage(finished) == "The invocation did not finish in time; its environment was lost.")
        // Its placement, answered late, dispatches nothing and finishes nothing again.
        let late = routing.placed("i1", environment: "env-1", instance: "inst-1", now: t0 + 130)
        #expect(late == [.stop(["env-1"])])
        #expect(routing.inflightCount == 0)
    }

    @Test mutating func anIdleEnvironmentPastTheIdleTimeoutIsStopped() throws {
        // A long timeout, so that i2 is still within its deadline.
        let long = environmentSpec(timeout: 900)
        try start("i1", on: "env-1", spec: long)
        try start("i2", on: "env-2", spec: long)
        _ = routing.deliver([success("i1", on: "env-1")], retired: [], now: t0 + 1)
        let live = ["env-1": liveEnvironment(), "env-2": liveEnvironment()]
        // Idle exactly the timeout (300 s): kept.
        #expect(routing.reconcile(live: live, currentPoolKeys: [poolKey], now: t0 + 301) == [])
        #expect(routing.idleEnvironments(poolKey) == ["env-1"])
        // Busy env-2 is never reaped for idleness, however long it has existed.
        #expect(routing.reconcile(live: live, currentPoolKeys: [poolKey], now: t0 + 301.5) == [.stop(["env-1"])])
        #expect(routing.environments["env-1"] == nil)
        #expect(routing.environments["env-2"]?.busy == "i2")
        #expect(routing.idleEnvironments(poolKey).isEmpty)
    }

    @Test mutating func environmentsOfAnOutdatedPoolKeyAreStoppedOnceIdle() throws {
        try start("i1", on: "env-1")
        try start("i2", on: "env-2")
        try start("i3", on: "env-3")
        _ = routing.deliver([success("i1", on: "env-1"), success("i2", on: "env-2")], retired: [], now: t0 + 1)
        let live = ["env-1": liveEnvironment(), "env-2": liveEnvironment(), "env-3": liveEnvironment()]
        // $LATEST changed: its revision is now r2.
        let current: Set = ["f:$LATEST:r2"]
        #expect(routing.reconcile(live: live, currentPoolKeys: current, now: t0 + 2) == [.stop(["env-1", "env-2"])])
        #expect(routing.environments["env-3"]?.busy == "i3")
        _ = routing.deliver([success("i3", on: "env-3")], retired: [], now: t0 + 3)
        #expect(routing.reconcile(live: live, currentPoolKeys: current, now: t0 + 4) == [.stop(["env-3"])])
        #expect(routing.environments.isEmpty)
    }

    @Test mutating func environmentsFromBeforeTheStartAreAdoptedAsIdle() throws {
        let live = [
            "old-1": liveEnvironment(createdAt: t0 - 60, instance: "inst-7"),
            "old-stopped": liveEnvironment(createdAt: t0 - 60, stopped: true),
            // Placed by this process, not yet reported placed: not adopted.
            "new-1": liveEnvironment(createdAt: t0 + 5),
        ]
        #expect(routing.reconcile(live: live, currentPoolKeys: [poolKey], now: t0 + 10) == [])
        #expect(routing.idleEnvironments(poolKey) == ["old-1"])
        #expect(Set(routing.environments.keys) == ["old-1"])
        let adopted = try #require(routing.environments["old-1"])
        #expect(adopted.instance == "inst-7")
        #expect(adopted.functionName == "f")
        #expect(adopted.busy == nil)
        #expect(adopted.idleSince == t0 + 10)
        // The next invocation runs there without a cold start.
        #expect(dispatchedEnvironments(try routing.admit(request("i1"), target: target(), now: t0 + 11)) == ["old-1"])
    }

    // MARK: Races between placements, deadlines and restarts

    /// A burst asks for more placements than it needs: by the time a placement runs, an
    /// environment of the version may have become idle, and takes the invocation instead.
    @Test mutating func aPlacementAboutToRunUsesAnEnvironmentThatBecameIdle() throws {
        try start("i1", on: "env-1")
        #expect(try routing.admit(request("i2"), target: target(), now: t0) == [.place(invocation: "i2", spec: environmentSpec())])
        _ = routing.deliver([success("i1", on: "env-1")], retired: [], now: t0 + 1)
        let instead = routing.beforePlacing("i2")
        #expect(dispatchedEnvironments(try #require(instead)) == ["env-1"])
        // With nothing idle, the placement goes ahead; for an invocation that is over, nothing happens.
        #expect(try routing.admit(request("i3"), target: target(), now: t0 + 2) == [.place(invocation: "i3", spec: environmentSpec())])
        let placing = routing.beforePlacing("i3")
        #expect(placing == nil)
        let gone = routing.beforePlacing("never-admitted")
        #expect(gone == [])
    }

    /// An invocation that waited (placement failed) and then passed its deadline leaves its pool's
    /// waiting list: the next environment to become idle stays idle for the next invocation.
    @Test mutating func anExpiredWaitingInvocationLeavesTheWaitingList() throws {
        var settings = FunctionSettings()
        settings.idleTimeout = 3600
        routing = FunctionRouting(settings: settings, startedAt: t0)
        let long = environmentSpec(timeout: 900)  // deadline: admission + 900 + 120 + 5 s
        try start("i1", on: "env-1", spec: long, at: t0)
        _ = try routing.admit(request("i2"), target: target(long), now: t0 + 10)
        #expect(routing.placementFailed("i2", error: .server("No container instance has room.")) == [])
        // Room again: i3 gets a new environment while i2 keeps waiting for one.
        try start("i3", on: "env-2", spec: long, at: t0 + 20)
        let live = ["env-1": liveEnvironment(), "env-2": liveEnvironment()]
        let expired = routing.reconcile(live: live, currentPoolKeys: [poolKey], now: t0 + 1036)
        #expect(finishes(expired).map(\.0).sorted() == ["i1", "i2"])
        #expect(routing.inflightCount == 1)
        _ = routing.deliver([success("i3", on: "env-2")], retired: [], now: t0 + 1040)
        let idle = routing.idleEnvironments(poolKey)
        let next = try routing.admit(request("i4"), target: target(long), now: t0 + 1041)
        #expect(idle == ["env-2"])
        #expect(dispatchedEnvironments(next) == ["env-2"])
    }

    /// A placement that fails after the version's only environment became idle (the invocation
    /// finished while the placement was being written) goes to that environment at once.
    @Test mutating func aFailedPlacementTakesAnEnvironmentThatBecameIdleMeanwhile() throws {
        try start("i1", on: "env-1")
        #expect(try routing.admit(request("i2"), target: target(), now: t0) == [.place(invocation: "i2", spec: environmentSpec())])
        // i1 ends while i2's placement is under way: nobody waits yet, so env-1 becomes idle.
        #expect(
            routing.deliver([success("i1", on: "env-1")], retired: [], now: t0 + 1) == [
                .finish(invocation: "i1", outcome(.success, Data("ok i1".utf8)))
            ])
        #expect(routing.idleEnvironments(poolKey) == ["env-1"])
        let actions = routing.placementFailed("i2", error: .server("No container instance has room."))
        #expect(dispatchedEnvironments(actions) == ["env-1"])
    }

    /// An environment adopted from a previous process and then stopped by ``reconcile`` (idle too
    /// long) is not adopted again while the committed state still shows its task running.
    @Test mutating func anAdoptedEnvironmentStoppedForIdlenessIsNotAdoptedAgain() throws {
        let live = ["old-1": liveEnvironment(createdAt: t0 - 60)]
        #expect(routing.reconcile(live: live, currentPoolKeys: [poolKey], now: t0) == [])
        #expect(routing.idleEnvironments(poolKey) == ["old-1"])
        #expect(routing.reconcile(live: live, currentPoolKeys: [poolKey], now: t0 + 301) == [.stop(["old-1"])])
        let idle = routing.idleEnvironments(poolKey)
        let next = try routing.admit(request("i1"), target: target(), now: t0 + 302)
        #expect(idle.isEmpty)
        #expect(next == [.place(invocation: "i1", spec: environmentSpec())])
        // Still shown running on the next pass (the stop is under way): neither adopted nor stopped again.
        #expect(routing.reconcile(live: live, currentPoolKeys: [poolKey], now: t0 + 303) == [])
        #expect(routing.idleEnvironments(poolKey).isEmpty)
    }

    // MARK: Helpers

    /// Admits `id` and places it on a new environment `arn`.
    mutating func start(
        _ id: String, on arn: String, spec: FunctionEnvironmentSpec = environmentSpec(), instance: String = "inst-1", at now: Date = t0
    ) throws {
        #expect(try routing.admit(request(id), target: target(spec), now: now) == [.place(invocation: id, spec: spec)])
        #expect(dispatchedEnvironments(routing.placed(id, environment: arn, instance: instance, now: now)) == [arn])
    }
}

/// Which alias version an invocation runs.
struct ResolvedFunctionTests {
    @Test func anAliasWeightSendsThatShareOfDrawsToTheSecondVersion() {
        let one = target(environmentSpec(version: "1"))
        let two = target(environmentSpec(version: "2"))
        let resolved = ResolvedFunction(primary: one, secondary: two, secondaryWeight: 0.3)
        #expect(resolved.target(draw: 0) == two)
        #expect(resolved.target(draw: 0.2999) == two)
        #expect(resolved.target(draw: 0.3) == one)
        #expect(resolved.target(draw: 0.9999) == one)
        // Without a second version every draw runs the first.
        let single = ResolvedFunction(primary: one)
        #expect([0, 0.1, 0.5, 0.9999].allSatisfy { single.target(draw: $0) == one })
        // A second version with no weight never runs.
        let unweighted = ResolvedFunction(primary: one, secondary: two, secondaryWeight: 0)
        #expect(unweighted.target(draw: 0) == one)
    }

    @Test func resolvingAnAliasCarriesItsWeightAndBothVersions() throws {
        var state = FunctionsState(names: ResourceNames())
        let sqs = SQSState(names: ResourceNames())
        var random = Xoshiro256(seed: 7)
        var changes = ChangeSet()
        let now = t0
        var writer = ZipWriter()
        writer.add(path: "bootstrap", contents: Array("x".utf8), mode: 0o755)
        let code = try CodeBundle.inspect(writer.finish(), settings: FunctionSettings())
        let create = LambdaCreateFunctionRequest(
            FunctionName: "v", Runtime: .providedAl2023, Role: "arn:aws:iam::000000000000:role/lambda", Handler: "function.handler",
            Code: LambdaFunctionCode(ZipFile: Data([1])))
        let created = try state.createFunction(create, code: code, sqs: sqs, now: now, using: &random, changes: &changes)
        state.activateFunction("v", revisionId: try #require(created.RevisionId), changes: &changes)
        _ = try state.publishVersion("v", LambdaPublishVersionRequest(), now: now, using: &random, changes: &changes)
        let updated = try state.updateFunctionConfiguration(
            "v", LambdaUpdateFunctionConfigurationRequest(MemorySize: 256), sqs: sqs, now: now, using: &random, changes: &changes)
        state.activateFunction("v", revisionId: try #require(updated.RevisionId), changes: &changes)
        _ = try state.publishVersion("v", LambdaPublishVersionRequest(), now: now, using: &random, changes: &changes)
        _ = try state.createAlias(
            "v",
            LambdaCreateAliasRequest(
                Name: "live", FunctionVersion: "1", RoutingConfig: LambdaAliasRoutingConfiguration(AdditionalVersionWeights: ["2": 0.3])),
            using: &random, changes: &changes)

        let resolved = try state.resolve("v:live", qualifier: nil)
        let secondary = try #require(resolved.secondary)
        #expect(resolved.secondaryWeight == 0.3)
        #expect(resolved.primary.executedVersion == "1")
        #expect(secondary.executedVersion == "2")
        #expect(resolved.primary.invokedArn == "arn:aws:lambda:us-east-1:000000000000:function:v:live")
        #expect(secondary.invokedArn == resolved.primary.invokedArn)
        #expect(secondary.spec.memory == 256 && resolved.primary.spec.memory == 128)
        #expect(resolved.primary.spec.poolKey != secondary.spec.poolKey)
        #expect(resolved.target(draw: 0.1).executedVersion == "2")
        #expect(resolved.target(draw: 0.5).executedVersion == "1")
        // A version asked for by number has no second version.
        let plain = try state.resolve("v", qualifier: "2")
        #expect(plain.secondary == nil)
        #expect(plain.target(draw: 0).executedVersion == "2")
    }
}

// MARK: - Fixtures

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)
private let functionArn = "arn:aws:lambda:us-east-1:000000000000:function:f"
private let poolKey = "f:$LATEST:r1"

private func environmentSpec(
    _ function: String = "f", version: String = "$LATEST", revision: String = "r1", kind: FunctionEnvironmentSpec.Kind = .provided,
    timeout: Int = 3
) -> FunctionEnvironmentSpec {
    FunctionEnvironmentSpec(
        functionName: function, version: version, revisionId: revision, kind: kind, runtime: kind == .image ? nil : "provided.al2023",
        handler: kind == .image ? nil : "function.handler", image: kind == .image ? "registry/app:1" : RuntimeImages.provided,
        entryPoint: nil, command: nil, workingDirectory: nil, memory: 128, timeout: timeout, ephemeralStorage: 512, environment: [:],
        codeHash: kind == .image ? nil : "abc", layerHashes: [])
}

private func target(
    _ spec: FunctionEnvironmentSpec = environmentSpec(), reserved: Int? = nil, totalReserved: Int = 0, state: LambdaState = .active,
    reason: String? = nil
) -> InvokeTarget {
    InvokeTarget(
        spec: spec, invokedArn: "arn:aws:lambda:us-east-1:000000000000:function:\(spec.functionName)", executedVersion: spec.version,
        reserved: reserved, totalReserved: totalReserved, state: state, stateReason: reason)
}

private func request(_ id: String) -> InvocationRequest {
    InvocationRequest(reference: "f", qualifier: nil, payload: Data(#"{"n":"\#(id)"}"#.utf8), requestId: id, traceId: "trace-\(id)")
}

private func success(_ id: String, on environment: String) -> InvocationResult {
    InvocationResult(id: id, environment: environment, status: .success, payload: Data("ok \(id)".utf8), durationMs: 2)
}

/// The environment could not run the invocation (it never started).
private func retryable(_ id: String, on environment: String) -> InvocationResult {
    var result = InvocationResult(
        id: id, environment: environment, status: .environmentFailure, payload: InvocationErrorBody.encoded("Runtime.Unavailable", "gone"),
        errorType: "Runtime.Unavailable", retired: true)
    result.retryable = true
    return result
}

private func outcome(
    _ status: InvocationResult.Status, _ payload: Data, errorType: String? = nil, function: String = "f", version: String = "$LATEST"
) -> InvocationOutcome {
    InvocationOutcome(status: status, payload: payload, errorType: errorType, log: nil, executedVersion: version, functionName: function)
}

private func liveEnvironment(
    createdAt: Date = t0, stopped: Bool = false, reason: String? = nil, instance: String = "inst-1", pool: String = poolKey
) -> FunctionRouting.LiveEnvironment {
    FunctionRouting.LiveEnvironment(createdAt: createdAt, stopped: stopped, reason: reason, instance: instance, poolKey: pool, functionName: "f")
}

/// The environments the actions dispatch to, in order.
private func dispatchedEnvironments(_ actions: [FunctionRouting.Action]) -> [String] {
    actions.compactMap { if case .dispatch(let invocation, _) = $0 { invocation.environment } else { nil } }
}

/// The invocations the actions finish, with their outcomes.
private func finishes(_ actions: [FunctionRouting.Action]) -> [(String, InvocationOutcome)] {
    actions.compactMap { if case .finish(let id, let outcome) = $0 { (id, outcome) } else { nil } }
}

/// The message of a platform error body.
private func errorMessage(_ outcome: InvocationOutcome) -> String? {
    InvocationErrorBody(outcome.payload)?.errorMessage
}

/// The error `body` throws, or nil.
private func refusal(_ body: () throws -> [FunctionRouting.Action]) -> AWSError? {
    do {
        _ = try body()
        return nil
    } catch let error as AWSError {
        return error
    } catch {
        Issue.record("not an AWSError: \(error)")
        return nil
    }
}

/// Where functions' output goes in CloudWatch Logs, as Lambda names it.
struct FunctionLogNamesTests {
    @Test func groupsStreamsAndEventsAreNamedAsLambdaNamesThem() {
        #expect(FunctionLogNames.group("orders") == "/aws/lambda/orders")
        let began = Date(timeIntervalSince1970: 1_796_083_200 + 3_600)  // 2026-12-01 01:00 UTC
        let environment = "arn:aws:ecs:us-east-1:000000000000:task/functions/0123456789abcdef0123456789abcdef"
        #expect(FunctionLogNames.stream(version: "$LATEST", environment: environment, began: began) == "2026/12/01/[$LATEST]0123456789abcdef0123456789abcdef")
        #expect(FunctionLogNames.stream(version: "3", environment: "env", began: Date(timeIntervalSince1970: 0)) == "1970/01/01/[3]env")
        #expect(FunctionLogNames.events(Data("START a\r\n\nline two\nEND a\n".utf8)) == ["START a", "line two", "END a"])
    }
}
