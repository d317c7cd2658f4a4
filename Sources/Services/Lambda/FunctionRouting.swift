#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import LambdaShapes
import StevedoreCore

/// The function router's decisions, apart from its doing: which environment runs an invocation,
/// whether concurrency admits it, when an environment is idle, outdated or lost. Events go in
/// (an invocation admitted, an environment placed, a result delivered, a reconcile tick with the
/// committer's time); actions come out for the router to carry out (send an invocation to an
/// agent, place a new environment, answer the caller, stop environments). Nothing here waits,
/// reads a clock or does IO, so every decision is unit-tested as a table.
///
/// An invocation goes to an idle warm environment of its function version (the most recently used
/// first, so a hot set stays warm and the rest age out) or, when none is idle and concurrency
/// allows, to a new environment placed like a task. Each environment runs one invocation at a time.
public struct FunctionRouting: Sendable {
    public struct Environment: Sendable, Equatable {
        public var arn: String
        public var instance: String
        public var poolKey: String
        public var functionName: String
        /// The invocation it runs, if any.
        public var busy: String?
        public var idleSince: Date
    }

    struct Pool: Sendable, Equatable {
        var idle: [String] = []
        /// Invocations waiting for an environment of this pool to become idle (no room for a new one).
        var waiting: [String] = []
    }

    struct Inflight: Sendable, Equatable {
        var functionName: String
        var reserved: Bool
        var environment: String?
        var dispatch: AgentInvocation
        var executedVersion: String
        var spec: FunctionEnvironmentSpec
        var deadline: Date
        /// Environments that were gone before they could run it.
        var placements = 0
    }

    /// What the router must do.
    public enum Action: Sendable, Equatable {
        /// Hand the invocation to the agent of `instance`.
        case dispatch(AgentInvocation, instance: String)
        /// Place a new environment for the invocation (then report ``placed`` or ``placementFailed``).
        case place(invocation: String, spec: FunctionEnvironmentSpec)
        /// The invocation is over: answer its caller.
        case finish(invocation: String, InvocationOutcome)
        /// Append output to a function's log (its version's and environment's stream, for CloudWatch Logs).
        case log(function: String, version: String, environment: String, Data)
        /// Stop these environments' tasks (idle too long, or their version changed).
        case stop([String])
        /// An image that cannot start: the function version is Failed until its code changes.
        case markFailed(function: String, revisionId: String, reason: String)
    }

    public var settings: FunctionSettings
    /// Environments placed before this are a previous process's (adopted by ``reconcile``).
    public let startedAt: Date
    public private(set) var environments: [String: Environment] = [:]
    var pools: [String: Pool] = [:]
    var inflight: [String: Inflight] = [:]
    public private(set) var executing: [String: Int] = [:]
    public private(set) var unreservedExecuting = 0
    /// Environments this router asked to stop, until the committed state shows them stopped: never
    /// adopted again meanwhile.
    private(set) var stopping: Set<String> = []

    public init(settings: FunctionSettings, startedAt: Date) {
        self.settings = settings
        self.startedAt = startedAt
    }

    // MARK: Invoking

    /// Admits an invocation of `target` (or refuses it: not ready, throttled) and says where it goes.
    public mutating func admit(_ request: InvocationRequest, target: InvokeTarget, now: Date) throws(AWSError) -> [Action] {
        try Self.checkReady(target)
        let name = target.spec.functionName
        if let reserved = target.reserved {
            guard (executing[name] ?? 0) < reserved else {
                throw AWSError.lambdaThrottled("ReservedFunctionConcurrentInvocationLimitExceeded")
            }
        } else {
            guard unreservedExecuting < settings.concurrencyLimit - target.totalReserved else {
                throw AWSError.lambdaThrottled("ConcurrentInvocationLimitExceeded")
            }
            unreservedExecuting += 1
        }
        executing[name, default: 0] += 1
        let deadlineMs = Int64(now.timeIntervalSince1970 * 1000) + Int64(target.spec.timeout) * 1000
        let invocation = AgentInvocation(
            id: request.requestId, environment: "", payload: request.payload, deadline: deadlineMs,
            invokedFunctionArn: target.invokedArn, traceId: request.traceId, clientContext: request.clientContext,
            tailLogs: request.tailLogs)
        // Past this, the invocation's agent went silent: start time, the function's timeout, a margin.
        let grace = TimeInterval(target.spec.timeout) + settings.startTimeout + 5
        inflight[request.requestId] = Inflight(
            functionName: name, reserved: target.reserved != nil, environment: nil, dispatch: invocation,
            executedVersion: target.executedVersion, spec: target.spec, deadline: now.addingTimeInterval(grace))
        return place(request.requestId)
    }

    /// Whether a function version can be invoked at all (its state).
    public static func checkReady(_ target: InvokeTarget) throws(AWSError) {
        switch target.state {
        case .pending:
            throw AWSError.lambdaConflict(
                "The operation cannot be performed at this time. The function is currently in the following state: Pending")
        case .failed:
            throw AWSError(
                type: "InvalidImageException", message: "The function could not be started: \(target.stateReason ?? "its environment failed")",
                httpStatus: 502, extraFields: ["Type": "User"])
        default:
            return
        }
    }

    /// Concurrency in use by a function.
    public func concurrencyInUse(_ function: String) -> Int { executing[function] ?? 0 }

    /// An idle environment of the invocation's version, or a new one.
    mutating func place(_ id: String) -> [Action] {
        guard let item = inflight[id] else { return [] }
        if let arn = pools[item.spec.poolKey]?.idle.popLast() {
            return dispatch(id, to: arn)
        }
        return [.place(invocation: id, spec: item.spec)]
    }

    /// The router is about to place an environment for the invocation (placements run after the
    /// turn that asked for them): an environment of its version that became idle meanwhile takes
    /// it instead. nil: place one; empty: the invocation is over, place nothing.
    public mutating func beforePlacing(_ id: String) -> [Action]? {
        guard let item = inflight[id] else { return [] }
        guard let arn = pools[item.spec.poolKey]?.idle.popLast() else { return nil }
        return dispatch(id, to: arn)
    }

    /// A new environment was placed for the invocation.
    public mutating func placed(_ id: String, environment arn: String, instance: String, now: Date) -> [Action] {
        guard let item = inflight[id] else {
            // The invocation ended (its deadline passed) while its environment was being placed.
            stopping.insert(arn)
            return [.stop([arn])]
        }
        environments[arn] = Environment(
            arn: arn, instance: instance, poolKey: item.spec.poolKey, functionName: item.spec.functionName, busy: nil, idleSince: now)
        return dispatch(id, to: arn)
    }

    /// No environment could be placed: wait for one of the version's to finish, or fail.
    public mutating func placementFailed(_ id: String, error: AWSError) -> [Action] {
        guard let item = inflight[id] else { return [] }
        // An environment of the version may have become idle while the placement was written.
        if let arn = pools[item.spec.poolKey]?.idle.popLast() {
            return dispatch(id, to: arn)
        }
        if environments.values.contains(where: { $0.poolKey == item.spec.poolKey }) {
            pools[item.spec.poolKey, default: Pool()].waiting.append(id)
            return []
        }
        return finish(
            id, InvocationResult(id: id, environment: "", status: .environmentFailure, payload: InvocationErrorBody.encoded(error.type, error.message)),
            errorType: error.type)
    }

    mutating func dispatch(_ id: String, to arn: String) -> [Action] {
        guard var item = inflight[id], var environment = environments[arn] else { return [] }
        environment.busy = id
        environments[arn] = environment
        item.environment = arn
        item.dispatch.environment = arn
        inflight[id] = item
        return [.dispatch(item.dispatch, instance: environment.instance)]
    }

    // MARK: Results

    /// Results from an agent, and environments it no longer runs.
    /// - Parameter instance: when given, the agent that proved it is that instance: results and
    ///   retirements of environments on other instances are not its to report, and are dropped.
    public mutating func deliver(_ results: [InvocationResult], retired: [String], from instance: String? = nil, now: Date) -> [Action] {
        func reportable(_ environment: String) -> Bool { instance == nil || environments[environment]?.instance == instance }
        var actions: [Action] = []
        for result in results where reportable(result.environment) {
            if result.lateLog == true {
                if let log = result.log, !log.isEmpty, let environment = environments[result.environment], let version = result.version {
                    actions.append(.log(function: environment.functionName, version: version, environment: result.environment, log))
                }
                continue
            }
            guard let item = inflight[result.id], item.environment == result.environment else { continue }
            if result.retryable == true, item.placements < 3 {
                // It never ran: forget the environment and place the invocation again.
                inflight[result.id]?.environment = nil
                inflight[result.id]?.placements += 1
                actions += retire(result.environment, now: now)
                actions += place(result.id)
                continue
            }
            if result.status == .environmentFailure, item.spec.kind == .image, !item.spec.revisionId.isEmpty {
                let reason = String(decoding: result.payload, as: UTF8.self)
                let message = InvocationErrorBody(result.payload)?.errorMessage ?? reason
                actions.append(.markFailed(function: item.spec.functionName, revisionId: item.spec.revisionId, reason: message))
            }
            // Finished first, so retiring the environment does not fail this invocation again.
            actions += finish(result.id, result, errorType: result.errorType)
            actions += result.retired ? retire(result.environment, now: now) : becomeIdle(result.environment, now: now)
        }
        for arn in retired where reportable(arn) { actions += retire(arn, now: now) }
        return actions
    }

    mutating func finish(_ id: String, _ result: InvocationResult, errorType: String?) -> [Action] {
        guard let item = inflight.removeValue(forKey: id) else { return [] }
        pools[item.spec.poolKey]?.waiting.removeAll { $0 == id }
        executing[item.functionName, default: 1] -= 1
        if !item.reserved { unreservedExecuting -= 1 }
        var actions: [Action] = []
        if let log = result.log, !log.isEmpty {
            actions.append(.log(function: item.functionName, version: item.executedVersion, environment: result.environment, log))
        }
        actions.append(
            .finish(
                invocation: id,
                InvocationOutcome(
                    status: result.status, payload: result.payload, errorType: errorType ?? result.errorType, log: result.log,
                    executedVersion: item.executedVersion, functionName: item.functionName)))
        return actions
    }

    mutating func becomeIdle(_ arn: String, now: Date) -> [Action] {
        guard var environment = environments[arn] else { return [] }
        environment.busy = nil
        environment.idleSince = now
        environments[arn] = environment
        if let next = pools[environment.poolKey]?.waiting.first {
            pools[environment.poolKey]?.waiting.removeFirst()
            return dispatch(next, to: arn)
        }
        pools[environment.poolKey, default: Pool()].idle.append(arn)
        return []
    }

    /// The environment is gone: forget it; an invocation it held fails.
    mutating func retire(_ arn: String, reason: String? = nil, now: Date) -> [Action] {
        guard let environment = environments.removeValue(forKey: arn) else { return [] }
        var actions: [Action] = []
        pools[environment.poolKey]?.idle.removeAll { $0 == arn }
        if let id = environment.busy, inflight[id]?.environment == arn {
            let message = reason ?? "The execution environment stopped before the invocation finished."
            actions += finish(
                id, InvocationResult(id: id, environment: arn, status: .environmentFailure, payload: InvocationErrorBody.encoded("ServiceException", message)),
                errorType: "ServiceException")
        }
        // Invocations waiting for this version with no environment left get a new one.
        if let waiting = pools[environment.poolKey]?.waiting, !waiting.isEmpty,
            !environments.values.contains(where: { $0.poolKey == environment.poolKey })
        {
            pools[environment.poolKey]?.waiting = []
            for id in waiting { actions += place(id) }
        }
        return actions
    }

    // MARK: Housekeeping

    /// An environment task as the committed state shows it.
    public struct LiveEnvironment: Sendable, Equatable {
        public var createdAt: Date
        public var stopped: Bool
        public var reason: String?
        public var instance: String
        public var poolKey: String
        public var functionName: String

        public init(createdAt: Date, stopped: Bool, reason: String?, instance: String, poolKey: String, functionName: String) {
            self.createdAt = createdAt
            self.stopped = stopped
            self.reason = reason
            self.instance = instance
            self.poolKey = poolKey
            self.functionName = functionName
        }
    }

    /// Notices environments whose task stopped, fails invocations past their deadline, reaps idle
    /// and outdated environments, and adopts environments a previous process placed (after a
    /// restart the agents kept them: a restart costs no cold starts).
    public mutating func reconcile(live: [String: LiveEnvironment], currentPoolKeys: Set<String>, now: Date) -> [Action] {
        var actions: [Action] = []
        stopping = stopping.filter { arn in live[arn].map { !$0.stopped } ?? false }
        var toStop: [String] = []
        for arn in environments.keys.sorted() where live[arn] == nil || live[arn]!.stopped {
            actions += retire(arn, reason: "The execution environment stopped: \(live[arn]?.reason ?? "its task is no longer running").", now: now)
        }
        for id in inflight.keys.sorted() {
            guard let item = inflight[id], item.deadline < now else { continue }
            if let arn = item.environment {
                // Silent past the deadline: forgotten here and stopped, so it cannot linger unmanaged.
                actions += retire(arn, reason: "The execution environment did not answer in time.", now: now)
                toStop.append(arn)
            }
            actions += finish(
                id,
                InvocationResult(
                    id: id, environment: item.environment ?? "", status: .environmentFailure,
                    payload: InvocationErrorBody.encoded("ServiceException", "The invocation did not finish in time; its environment was lost.")),
                errorType: "ServiceException")
        }
        for arn in environments.keys.sorted() {
            guard let environment = environments[arn], environment.busy == nil else { continue }
            let expired = now.timeIntervalSince(environment.idleSince) > settings.idleTimeout
            if expired || !currentPoolKeys.contains(environment.poolKey) {
                toStop.append(arn)
                environments[arn] = nil
                pools[environment.poolKey]?.idle.removeAll { $0 == arn }
            }
        }
        for arn in live.keys.sorted() {
            guard let info = live[arn], environments[arn] == nil, !stopping.contains(arn), !toStop.contains(arn), !info.stopped,
                info.createdAt < startedAt
            else { continue }
            environments[arn] = Environment(
                arn: arn, instance: info.instance, poolKey: info.poolKey, functionName: info.functionName, busy: nil, idleSince: now)
            pools[info.poolKey, default: Pool()].idle.append(arn)
        }
        for key in pools.keys where pools[key]!.idle.isEmpty && pools[key]!.waiting.isEmpty { pools[key] = nil }
        if !toStop.isEmpty {
            stopping.formUnion(toStop)
            actions.append(.stop(toStop))
        }
        return actions
    }

    /// Idle environments of a pool, most recently used last.
    public func idleEnvironments(_ poolKey: String) -> [String] { pools[poolKey]?.idle ?? [] }

    /// Invocations in flight.
    public var inflightCount: Int { inflight.count }
}
