import ECSAPI
import ECSCore
import Foundation
import Logging

/// One invocation as the router takes it (from Invoke or from the asynchronous queue).
struct InvocationRequest: Sendable {
    var reference: String
    var qualifier: String?
    var payload: Data
    var requestId: String
    var traceId: String
    var clientContext: String?
    var tailLogs = false
}

/// How an invocation ended, for the caller.
struct InvocationOutcome: Sendable {
    var status: InvocationResult.Status
    var payload: Data
    var errorType: String?
    var log: Data?
    var executedVersion: String
    var functionName: String
}

/// A function version resolved for invoking: what to run and the limits that apply.
struct InvokeTarget: Sendable {
    var spec: FunctionEnvironmentSpec
    var invokedArn: String
    var executedVersion: String
    var reserved: Int?
    var totalReserved: Int
    var state: LambdaState
    var stateReason: String?
}

/// Routes invocations to execution environments.
///
/// An invocation goes to an idle warm environment of its function version (the most recently used
/// first, so a hot set stays warm and the rest age out) or, when none is idle and concurrency
/// allows, to a new environment placed like a task. Each environment runs one invocation at a
/// time. Dispatches wait in a per-agent queue that the agent's long poll takes; results come back
/// on the results call. Nothing here is persisted: environments are tasks (in the store), and an
/// invocation in flight when `ecsd` stops is answered with an error (asynchronous events stay in
/// their durable queue and are retried).
actor FunctionRouter {
    struct Environment {
        let arn: String
        let instance: String
        let poolKey: String
        let functionName: String
        var busy: String?
        var idleSince: ContinuousClock.Instant
    }

    struct Pool {
        var idle: [String] = []
        /// Invocations waiting for an environment of this pool to become idle (no capacity for a new one).
        var waiting: [String] = []
    }

    struct Inflight {
        var functionName: String
        var reserved: Bool
        var environment: String?
        var dispatch: AgentInvocation
        var executedVersion: String
        var spec: FunctionEnvironmentSpec
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<InvocationOutcome, Never>?
        /// Environments that were gone before they could run it.
        var placements = 0
    }

    struct AgentQueue {
        var invocations: [AgentInvocation] = []
        var waiter: (deadline: ContinuousClock.Instant, continuation: CheckedContinuation<[AgentInvocation], Never>)?
    }

    let committer: Committer
    let settings: FunctionSettings
    let logs: FunctionLogStore
    let logger: Logger
    private var environments: [String: Environment] = [:]
    private var pools: [String: Pool] = [:]
    private var inflight: [String: Inflight] = [:]
    private var executing: [String: Int] = [:]
    private var unreservedExecuting = 0
    private var agentQueues: [String: AgentQueue] = [:]
    private var random = Xoshiro256()
    /// Environments created before this are a previous process's (see ``reconcile()``).
    private let startedAt = Date()
    private var targets: [String: (version: UInt64, target: ResolvedFunction)] = [:]

    init(committer: Committer, settings: FunctionSettings, logs: FunctionLogStore, logger: Logger) {
        self.committer = committer
        self.settings = settings
        self.logs = logs
        self.logger = logger
    }

    // MARK: Invoking

    /// Runs an invocation to its end. Refusals (unknown function, not ready, throttled) throw.
    func invoke(_ request: InvocationRequest) async throws(AWSError) -> InvocationOutcome {
        let target = try await resolve(request.reference, qualifier: request.qualifier)
        try admit(target)
        let deadlineMs = Int64(Date().timeIntervalSince1970 * 1000) + Int64(target.spec.timeout) * 1000
        let invocation = AgentInvocation(
            id: request.requestId, environment: "", payload: request.payload, deadline: deadlineMs,
            invokedFunctionArn: target.invokedArn, traceId: request.traceId, clientContext: request.clientContext,
            tailLogs: request.tailLogs)
        let grace = Duration.seconds(target.spec.timeout) + .seconds(settings.startTimeout) + .seconds(5)
        inflight[request.requestId] = Inflight(
            functionName: target.spec.functionName, reserved: target.reserved != nil, environment: nil, dispatch: invocation,
            executedVersion: target.executedVersion, spec: target.spec, deadline: .now + grace)
        let id = request.requestId
        // The common case, a warm environment idle, is dispatched in this same actor turn.
        let idle = pools[target.spec.poolKey]?.idle.popLast()
        return await withCheckedContinuation { continuation in
            inflight[id]?.continuation = continuation
            if let idle {
                dispatch(id, to: idle)
            } else {
                Task { await self.place(id) }
            }
        }
    }

    /// Resolves and checks a function for invoking without running it (DryRun, Event).
    func check(_ reference: String, qualifier: String?) async throws(AWSError) -> InvokeTarget {
        let target = try await resolve(reference, qualifier: qualifier)
        try checkReady(target)
        return target
    }

    func concurrencyInUse(_ function: String) -> Int { executing[function] ?? 0 }

    private func checkReady(_ target: InvokeTarget) throws(AWSError) {
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

    private func admit(_ target: InvokeTarget) throws(AWSError) {
        try checkReady(target)
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
    }

    private func release(_ item: Inflight) {
        executing[item.functionName, default: 1] -= 1
        if !item.reserved { unreservedExecuting -= 1 }
    }

    /// Gives an admitted invocation an environment: an idle one, a new one, or the next to free up.
    private func place(_ id: String) async {
        guard let item = inflight[id] else { return }
        let key = item.spec.poolKey
        if let arn = pools[key]?.idle.popLast() {
            return dispatch(id, to: arn)
        }
        let spec = item.spec
        do {
            let record = try await committer.write { state, mutation throws(AWSError) in
                try state.launchEnvironment(spec, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
            }
            let instance = record.task.containerInstanceArn ?? ""
            environments[record.arn] = Environment(
                arn: record.arn, instance: instance, poolKey: key, functionName: spec.functionName, busy: nil, idleSince: .now)
            logger.debug("execution environment placed", metadata: ["function": "\(spec.functionName)", "task.arn": "\(record.arn)"])
            dispatch(id, to: record.arn)
        } catch {
            if environments.values.contains(where: { $0.poolKey == key }) {
                // No room for another environment: wait for one of this version's to finish.
                pools[key, default: Pool()].waiting.append(id)
            } else {
                finish(id, InvocationResult(id: id, environment: "", status: .environmentFailure, payload: Self.errorBody(error.type, error.message)), errorType: error.type)
            }
        }
    }

    private func dispatch(_ id: String, to arn: String) {
        guard var item = inflight[id], var environment = environments[arn] else { return }
        environment.busy = id
        environments[arn] = environment
        item.environment = arn
        item.dispatch.environment = arn
        inflight[id] = item
        enqueue(item.dispatch, for: environment.instance)
    }

    private func enqueue(_ invocation: AgentInvocation, for instance: String) {
        var queue = agentQueues[instance, default: AgentQueue()]
        queue.invocations.append(invocation)
        if let waiter = queue.waiter {
            queue.waiter = nil
            let batch = queue.invocations
            queue.invocations = []
            agentQueues[instance] = queue
            waiter.continuation.resume(returning: batch)
        } else {
            agentQueues[instance] = queue
        }
    }

    // MARK: The agents' side

    /// An agent's long poll: the invocations queued for it, or an empty batch after the wait.
    func poll(instance: String, waitMilliseconds: Int) async -> [AgentInvocation] {
        var queue = agentQueues[instance, default: AgentQueue()]
        if !queue.invocations.isEmpty || waitMilliseconds <= 0 {
            let batch = queue.invocations
            queue.invocations = []
            agentQueues[instance] = queue
            return batch
        }
        if let previous = queue.waiter {
            queue.waiter = nil
            previous.continuation.resume(returning: [])
        }
        return await withCheckedContinuation { continuation in
            // Expired by ``expirePolls()`` (no timer per poll: under load polls return at once).
            queue.waiter = (.now + .milliseconds(waitMilliseconds), continuation)
            agentQueues[instance] = queue
        }
    }

    /// Answers polls whose wait is over with an empty batch (run on a short tick).
    func expirePolls() {
        let now = ContinuousClock.now
        for (instance, queue) in agentQueues {
            guard let waiter = queue.waiter, waiter.deadline <= now else { continue }
            agentQueues[instance]?.waiter = nil
            waiter.continuation.resume(returning: [])
        }
    }

    /// Ends every held poll (the control plane is stopping).
    func releasePolls() {
        for (instance, queue) in agentQueues {
            if let waiter = queue.waiter {
                agentQueues[instance]?.waiter = nil
                waiter.continuation.resume(returning: [])
            }
        }
    }

    /// Results from an agent; answers with what is queued for it meanwhile.
    func deliver(_ request: InvocationResultsRequest) -> [AgentInvocation] {
        for result in request.results {
            guard let item = inflight[result.id], item.environment == result.environment else { continue }
            if result.retryable == true, item.placements < 3 {
                // It never ran: forget the environment and place the invocation again.
                inflight[result.id]?.environment = nil
                inflight[result.id]?.placements += 1
                retire(result.environment)
                Task { await self.place(result.id) }
                continue
            }
            if result.status == .environmentFailure, item.spec.kind == .image, !item.spec.revisionId.isEmpty {
                // An image that cannot start is the function's fault: it is Failed until its code changes.
                markFailed(item.spec, reason: String(decoding: result.payload, as: UTF8.self))
            }
            // Finished first, so retiring the environment does not fail this invocation again.
            finish(result.id, result, errorType: result.errorType)
            if result.retired { retire(result.environment) } else { becomeIdle(result.environment) }
        }
        for arn in request.retiredEnvironments ?? [] { retire(arn) }
        var queue = agentQueues[request.containerInstanceArn, default: AgentQueue()]
        let batch = queue.invocations
        queue.invocations = []
        agentQueues[request.containerInstanceArn] = queue
        return batch
    }

    private func markFailed(_ spec: FunctionEnvironmentSpec, reason: String) {
        let message = (try? JSONSerialization.jsonObject(with: Data(reason.utf8)) as? [String: Any])?["errorMessage"] as? String ?? reason
        Task {
            _ = try? await committer.write { state, mutation throws(AWSError) in
                state.failFunction(spec.functionName, revisionId: spec.revisionId, reason: message, changes: &mutation.changes)
            }
        }
    }

    private func finish(_ id: String, _ result: InvocationResult, errorType: String?) {
        guard let item = inflight.removeValue(forKey: id) else { return }
        release(item)
        if let log = result.log, !log.isEmpty { logs.append(item.functionName, log) }
        item.continuation?.resume(
            returning: InvocationOutcome(
                status: result.status, payload: result.payload, errorType: errorType ?? result.errorType, log: result.log,
                executedVersion: item.executedVersion, functionName: item.functionName))
    }

    private func becomeIdle(_ arn: String) {
        guard var environment = environments[arn] else { return }
        environment.busy = nil
        environment.idleSince = .now
        environments[arn] = environment
        if let next = pools[environment.poolKey]?.waiting.first {
            pools[environment.poolKey]?.waiting.removeFirst()
            dispatch(next, to: arn)
        } else {
            pools[environment.poolKey, default: Pool()].idle.append(arn)
        }
    }

    /// The environment is gone: forget it; an invocation it held fails.
    private func retire(_ arn: String, reason: String? = nil) {
        guard let environment = environments.removeValue(forKey: arn) else { return }
        pools[environment.poolKey]?.idle.removeAll { $0 == arn }
        if let id = environment.busy, inflight[id]?.environment == arn {
            let message = reason ?? "The execution environment stopped before the invocation finished."
            finish(id, InvocationResult(id: id, environment: arn, status: .environmentFailure, payload: Self.errorBody("ServiceException", message)), errorType: "ServiceException")
        }
        // Invocations waiting for this version with no environment left get a new one.
        if let waiting = pools[environment.poolKey]?.waiting, !waiting.isEmpty,
            !environments.values.contains(where: { $0.poolKey == environment.poolKey })
        {
            pools[environment.poolKey]?.waiting = []
            for id in waiting { Task { await self.place(id) } }
        }
    }

    // MARK: Housekeeping

    /// Notices environments whose task stopped, reaps idle and outdated ones, fails invocations
    /// past their deadline, and stops environments this router does not know (after a restart).
    func reconcile() async {
        typealias Live = (createdAt: Date, stopped: Bool, reason: String?, instance: String, poolKey: String, function: String)
        let live = (try? await committer.read { state, now -> [String: Live] in
            var live: [String: Live] = [:]
            for record in state.liveEnvironments {
                live[record.arn] = (
                    record.task.createdAt ?? now, record.desiredStatus == "STOPPED", record.task.stoppedReason,
                    record.task.containerInstanceArn ?? "", record.function?.poolKey ?? "", record.function?.functionName ?? ""
                )
            }
            return live
        }) ?? [:]
        let current = await currentPoolKeys()
        // Environments whose task is gone or stopping.
        for (arn, environment) in environments where live[arn] == nil || live[arn]!.stopped {
            retire(arn, reason: "The execution environment stopped: \(live[arn]?.reason ?? "its task is no longer running").")
            _ = environment
        }
        // Invocations past their deadline (their agent went silent).
        let now = ContinuousClock.now
        for (id, item) in inflight where item.deadline < now {
            if let arn = item.environment { retire(arn, reason: "The execution environment did not answer in time.") }
            finish(id, InvocationResult(id: id, environment: item.environment ?? "", status: .environmentFailure, payload: Self.errorBody("ServiceException", "The invocation did not finish in time; its environment was lost.")), errorType: "ServiceException")
        }
        // Idle too long, or serving a configuration that changed.
        var toStop: [String] = []
        for (arn, environment) in environments where environment.busy == nil {
            let expired = now - environment.idleSince > .seconds(settings.idleTimeout)
            if expired || !current.contains(environment.poolKey) {
                toStop.append(arn)
                environments[arn] = nil
                pools[environment.poolKey]?.idle.removeAll { $0 == arn }
            }
        }
        // Environments placed before this router started (ecsd restarted; the agents kept them):
        // adopted as idle, so a restart costs no cold starts. An invocation they were still running
        // finishes first on the agent.
        for (arn, info) in live where environments[arn] == nil && !info.stopped && info.createdAt < startedAt {
            environments[arn] = Environment(
                arn: arn, instance: info.instance, poolKey: info.poolKey, functionName: info.function, busy: nil, idleSince: .now)
            pools[info.poolKey, default: Pool()].idle.append(arn)
        }
        for key in pools.keys where pools[key]!.idle.isEmpty && pools[key]!.waiting.isEmpty { pools[key] = nil }
        guard !toStop.isEmpty else { return }
        let arns = toStop
        do {
            try await committer.write { state, mutation throws(AWSError) in
                for arn in arns {
                    state.stopEnvironment(arn, reason: "Execution environment idle or outdated", now: mutation.now, changes: &mutation.changes)
                }
            }
        } catch {
            logger.warning("could not stop idle environments", metadata: ["error": "\(error)"])
        }
    }

    private func currentPoolKeys() async -> Set<String> {
        (try? await committer.read { state, _ -> Set<String> in
            var keys: Set<String> = []
            for record in state.functions.values {
                for version in [record.latest] + record.versions {
                    keys.insert("\(record.name):\(version.version):\(version.revisionId)")
                }
            }
            return keys
        }) ?? []
    }

    // MARK: Resolution

    /// A function as invocations see it: one version, or an alias's two with the weight of the second.
    struct ResolvedFunction: Sendable {
        var primary: InvokeTarget
        var secondary: (target: InvokeTarget, weight: Double)?
    }

    private func resolve(_ reference: String, qualifier: String?) async throws(AWSError) -> InvokeTarget {
        let key = "\(reference)|\(qualifier ?? "")"
        let version = committer.version.current
        let resolved: ResolvedFunction
        if let cached = targets[key], cached.version == version {
            resolved = cached.target
        } else {
            resolved = try await committer.read { state, _ throws(AWSError) in try Self.resolve(state, reference, qualifier) }
            if targets.count > 10_000 { targets.removeAll() }
            targets[key] = (version, resolved)
        }
        if let secondary = resolved.secondary, Double.random(in: 0..<1, using: &random) < secondary.weight {
            return secondary.target
        }
        return resolved.primary
    }

    static func resolve(_ state: ECSState, _ reference: String, _ qualifier: String?) throws(AWSError) -> ResolvedFunction {
        let (name, embedded) = try FunctionNames.parse(reference)
        if let qualifier, let embedded, qualifier != embedded {
            throw AWSError.lambdaInvalidParameter("The derived qualifier from the function name does not match the specified qualifier.")
        }
        let qualifier = qualifier ?? embedded
        guard let record = state.functions[name] else {
            throw AWSError.lambdaNotFound("Function not found: \(state.names.function(name))")
        }
        let totalReserved = state.functions.values.reduce(0) { $0 + ($1.reservedConcurrency ?? 0) }
        let invokedArn = qualifier.map { state.names.function(name, qualifier: $0) } ?? state.names.function(name)
        func target(_ version: FunctionVersionRecord) -> InvokeTarget {
            InvokeTarget(
                spec: state.environmentSpec(record, version), invokedArn: invokedArn, executedVersion: version.version,
                reserved: record.reservedConcurrency, totalReserved: totalReserved,
                state: version.configuration.State ?? .active, stateReason: version.configuration.StateReason)
        }
        let q = qualifier ?? FunctionNames.latest
        if let version = record.version(q) { return ResolvedFunction(primary: target(version)) }
        guard let alias = record.aliases[q], let primary = record.version(alias.FunctionVersion ?? FunctionNames.latest) else {
            throw AWSError.lambdaNotFound("Function not found: \(state.names.function(name, qualifier: q))")
        }
        var resolved = ResolvedFunction(primary: target(primary))
        if let (extra, weight) = alias.RoutingConfig?.AdditionalVersionWeights?.first, let version = record.version(extra) {
            resolved.secondary = (target(version), weight)
        }
        return resolved
    }

    static func errorBody(_ type: String, _ message: String) -> Data {
        Data(AWSJSONCodec.encode(["errorType": type, "errorMessage": message]))
    }
}
