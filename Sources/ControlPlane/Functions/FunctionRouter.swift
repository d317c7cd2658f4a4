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

/// Carries out the function router's decisions (``FunctionRouting``): it holds each caller until
/// its invocation ends, places environments through the committer, queues invocations for the
/// agents' long polls and takes their results back. Nothing here is persisted: environments are
/// tasks (in the store), and an invocation in flight when `ecsd` stops is answered with an error
/// (asynchronous events stay in their durable queue and are retried).
actor FunctionRouter {
    struct AgentQueue {
        var invocations: [AgentInvocation] = []
        var waiter: (deadline: ContinuousClock.Instant, continuation: CheckedContinuation<[AgentInvocation], Never>)?
    }

    let committer: Committer<ControlPlaneState>
    /// Functions' output, to CloudWatch Logs (`/aws/lambda/<name>`).
    let cloudWatch: LogIngest
    /// When each environment's stream began (its name holds the day).
    private var streamDays: [String: Date] = [:]
    let logger: Logger
    private var routing: FunctionRouting
    private var callers: [String: CheckedContinuation<InvocationOutcome, Never>] = [:]
    private var agentQueues: [String: AgentQueue] = [:]
    /// Picks between an alias's two versions by their weights.
    private var random: Xoshiro256
    private var targets: [String: (version: UInt64, target: ResolvedFunction)] = [:]

    init(
        committer: Committer<ControlPlaneState>, settings: FunctionSettings, cloudWatch: LogIngest, random: Xoshiro256 = Xoshiro256(),
        logger: Logger
    ) {
        self.committer = committer
        self.cloudWatch = cloudWatch
        self.logger = logger
        self.random = random
        routing = FunctionRouting(settings: settings, startedAt: committer.now())
    }

    /// Invocations of each function refused for want of concurrency, per minute (minutes since
    /// 1970) over the last hour: the console charts them.
    private var throttleCounts: [String: [Int64: Int]] = [:]

    private func noteThrottle(_ function: String) {
        let minute = Int64((committer.now().timeIntervalSince1970 / 60).rounded(.down))
        var counts = throttleCounts[function, default: [:]]
        counts[minute, default: 0] += 1
        if counts.count > 60 { counts = counts.filter { $0.key > minute - 60 } }
        throttleCounts[function] = counts
    }

    func throttles(of function: String) -> [Int64: Int] {
        throttleCounts[function] ?? [:]
    }

    // MARK: Invoking

    /// Runs an invocation to its end. Refusals (unknown function, not ready, throttled) throw.
    func invoke(_ request: InvocationRequest) async throws(AWSError) -> InvocationOutcome {
        let target = try await resolve(request.reference, qualifier: request.qualifier)
        let function = [("function", target.spec.functionName)]
        let actions: [FunctionRouting.Action]
        do {
            actions = try routing.admit(request, target: target, now: committer.now())
        } catch {
            if error.type == "TooManyRequestsException" {
                Counter(label: "ecsd_function_throttles_total", dimensions: function).increment()
                noteThrottle(target.spec.functionName)
            }
            throw error
        }
        Counter(label: "ecsd_function_invocations_total", dimensions: function).increment()
        let started = ContinuousClock.now
        let outcome = await withCheckedContinuation { continuation in
            callers[request.requestId] = continuation
            // The common case, a warm environment idle, is dispatched in this same actor turn.
            perform(actions)
        }
        Timer(label: "ecsd_function_duration_seconds", dimensions: function).recordNanoseconds((ContinuousClock.now - started).nanoseconds)
        return outcome
    }

    /// Resolves and checks a function for invoking without running it (DryRun, Event).
    func check(_ reference: String, qualifier: String?) async throws(AWSError) -> InvokeTarget {
        let target = try await resolve(reference, qualifier: qualifier)
        try FunctionRouting.checkReady(target)
        return target
    }

    func concurrencyInUse(_ function: String) -> Int { routing.concurrencyInUse(function) }

    private func perform(_ actions: [FunctionRouting.Action]) {
        for action in actions {
            switch action {
            case .dispatch(let invocation, let instance):
                enqueue(invocation, for: instance)
            case .place(let id, let spec):
                // A new execution environment: the invocation waiting for it starts cold.
                Counter(label: "ecsd_function_cold_starts_total", dimensions: [("function", spec.functionName)]).increment()
                Task { await self.place(id, spec) }
            case .finish(let id, let outcome):
                callers.removeValue(forKey: id)?.resume(returning: outcome)
            case .log(let function, let version, let environment, let data):
                let now = committer.now()
                if streamDays.count > 10_000 { streamDays.removeAll() }
                let began = streamDays[environment] ?? now
                streamDays[environment] = began
                cloudWatch.submit(
                    group: FunctionLogNames.group(function), stream: FunctionLogNames.stream(version: version, environment: environment, began: began),
                    messages: FunctionLogNames.events(data), time: now)
            case .stop(let arns):
                Task { await self.stop(arns) }
            case .markFailed(let function, let revisionId, let reason):
                Task {
                    _ = try? await committer.write { root, m throws(AWSError) in
                        root.lambda.failFunction(function, revisionId: revisionId, reason: reason, changes: &m.changes)
                    }
                }
            }
        }
    }

    private func place(_ id: String, _ spec: FunctionEnvironmentSpec) async {
        // Under a burst, environments free up between the admission and this turn: reuse them.
        if let instead = routing.beforePlacing(id) { return perform(instead) }
        do {
            let record = try await committer.write { root, m throws(AWSError) in
                try root.launchEnvironment(spec, now: m.now, using: &m.random, changes: &m.changes)
            }
            logger.debug("execution environment placed", metadata: ["function": "\(spec.functionName)", "task.arn": "\(record.arn)"])
            perform(routing.placed(id, environment: record.arn, instance: record.task.containerInstanceArn ?? "", now: committer.now()))
        } catch {
            perform(routing.placementFailed(id, error: error))
        }
    }

    private func stop(_ arns: [String]) async {
        do {
            try await committer.write { root, m throws(AWSError) in
                for arn in arns {
                    root.stopEnvironment(arn, reason: "Execution environment idle or outdated", now: m.now, changes: &m.changes)
                }
            }
        } catch {
            logger.warning("could not stop idle environments", metadata: ["error": "\(error)"])
        }
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

    /// Set when the control plane stops: polls no longer wait.
    private var pollsReleased = false

    /// An agent's long poll: the invocations queued for it, or an empty batch after the wait.
    func poll(instance: String, waitMilliseconds: Int) async -> [AgentInvocation] {
        var queue = agentQueues[instance, default: AgentQueue()]
        // Once the control plane is stopping, a poll made after the release must not hold the
        // server's graceful shutdown for its whole wait.
        if !queue.invocations.isEmpty || waitMilliseconds <= 0 || pollsReleased {
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
        pollsReleased = true
        for (instance, queue) in agentQueues {
            if let waiter = queue.waiter {
                agentQueues[instance]?.waiter = nil
                waiter.continuation.resume(returning: [])
            }
        }
    }

    /// Results from an agent; answers with what is queued for it meanwhile.
    /// - Parameter verified: whether the agent proved it is `request.containerInstanceArn` (with
    ///   its credentials): then it reports only for environments on that instance.
    func deliver(_ request: InvocationResultsRequest, verified: Bool = false) -> [AgentInvocation] {
        perform(
            routing.deliver(
                request.results, retired: request.retiredEnvironments ?? [], from: verified ? request.containerInstanceArn : nil,
                now: committer.now()))
        var queue = agentQueues[request.containerInstanceArn, default: AgentQueue()]
        let batch = queue.invocations
        queue.invocations = []
        agentQueues[request.containerInstanceArn] = queue
        return batch
    }

    // MARK: Housekeeping

    /// Feeds the committed environments to the router's housekeeping (see ``FunctionRouting/reconcile``).
    func reconcile() async {
        let snapshot = try? await committer.readLatest { root, now -> ([String: FunctionRouting.LiveEnvironment], Set<String>) in
            var live: [String: FunctionRouting.LiveEnvironment] = [:]
            for record in root.liveEnvironments {
                live[record.arn] = FunctionRouting.LiveEnvironment(
                    createdAt: record.task.createdAt ?? now, stopped: record.desiredStatus == .stopped, reason: record.task.stoppedReason,
                    instance: record.task.containerInstanceArn ?? "", poolKey: record.function?.poolKey ?? "",
                    functionName: record.function?.functionName ?? "")
            }
            return (live, root.lambda.currentPoolKeys)
        }
        guard let (live, keys) = snapshot else { return }
        perform(routing.reconcile(live: live, currentPoolKeys: keys, now: committer.now()))
    }

    // MARK: Resolution

    private func resolve(_ reference: String, qualifier: String?) async throws(AWSError) -> InvokeTarget {
        let key = "\(reference)|\(qualifier ?? "")"
        let version = committer.version.current
        let resolved: ResolvedFunction
        if let cached = targets[key], cached.version == version {
            resolved = cached.target
        } else {
            resolved = try await committer.read { root, _ throws(AWSError) in try root.lambda.resolve(reference, qualifier: qualifier) }
            if targets.count > 10_000 { targets.removeAll() }
            targets[key] = (version, resolved)
        }
        return resolved.target(draw: Double.random(in: 0..<1, using: &random))
    }
}
