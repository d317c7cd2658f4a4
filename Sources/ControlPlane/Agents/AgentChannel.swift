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
import ServiceLifecycle
import StevedoreCore

/// Serves agents' long polls (`POST /v1/agent/poll`), see ``WorkChannel``.
struct AgentChannel: Sendable {
    let committer: Committer<ControlPlaneState>
    let logs: LogRelay
    let execs: ExecRelay
    let usage: UsageStore
    /// Longest a poll is held: half the agent timeout, so a live agent is always heard from in time.
    let maximumHold: Int

    func poll(_ request: AgentPollRequest) async throws(AWSError) -> AgentPollResponse {
        let arn = request.containerInstanceArn
        await committer.updateMemory { root, now in root.ecs.agentContact(arn, now: now) }
        let wait = max(0, min(request.waitSeconds ?? 20, WorkChannel.maximumWait, maximumHold))
        let deadline = ContinuousClock.now + .seconds(wait)
        var outcome: Result<AgentPollResponse, AWSError>
        while true {
            let durable = committer.notifier.durableSequence
            do {
                var response = try await committer.readLatest { root, _ throws(AWSError) in
                    try root.ecs.assignments(for: request, durableSequence: durable)
                }
                let logRequests = logs.takeRequests(for: arn)
                if !logRequests.isEmpty { response.logRequests = logRequests }
                let execRequests = execs.takeRequests(for: arn)
                if !execRequests.isEmpty { response.execRequests = execRequests }
                // An agent from another epoch learns of this one at once.
                if !response.assignments.isEmpty || !logRequests.isEmpty || !execRequests.isEmpty || response.instanceStatus == .inactive
                    || (request.epoch != nil && request.epoch != response.epoch)
                    || ContinuousClock.now >= deadline || Task.isCancelled || committer.notifier.isShutDown
                {
                    outcome = .success(response)
                    break
                }
            } catch {
                outcome = .failure(error)
                break
            }
            await committer.notifier.wait(for: arn, after: durable, timeout: deadline - ContinuousClock.now)
        }
        await committer.updateMemory { root, now in root.ecs.agentContact(arn, now: now) }
        return try outcome.get()
    }
}

extension AgentChannel {
    /// Samples from an agent: kept with what their tasks reserve, for service utilisation. Only
    /// samples of tasks placed on the reporting instance count (an agent cannot skew the
    /// utilisation, and so the scaling, of services it does not run).
    func recordMetrics(_ report: AgentMetricsReport) async {
        let arns = report.samples.map(\.taskArn)
        let instance = report.containerInstanceArn
        let info: [String: UsageStore.TaskInfo] = (try? await committer.read { root, _ -> [String: UsageStore.TaskInfo] in
            var info: [String: UsageStore.TaskInfo] = [:]
            for arn in arns {
                guard let record = root.ecs.tasks[arn], record.task.containerInstanceArn == instance else { continue }
                info[arn] = UsageStore.TaskInfo(
                    serviceArn: record.serviceArn, reservedCPU: record.requirements.cpu, reservedMemory: record.requirements.memory)
            }
            return info
        }) ?? [:]
        await usage.record(report.samples.filter { info[$0.taskArn] != nil }, info: info, now: committer.now())
    }

    /// Refuses the calls of an agent whose instance is no longer registered.
    func checkRegistered(_ instance: String) async throws(AWSError) {
        let registered = (try? await committer.readLatest { root, _ in root.ecs.isRegisteredInstance(instance) }) ?? false
        if !registered { throw .instanceRevoked(instance) }
    }

    /// Starts relaying a task's logs: finds its instance, queues the request, wakes the agent.
    func openLogs(cluster: String, task: String, container: String?, follow: Bool, tail: Int?) async throws(AWSError) -> AsyncStream<[UInt8]> {
        let (taskArn, instance) = try await committer.read { root, _ throws(AWSError) in
            let clusterName = try root.ecs.activeClusterName(cluster)
            guard let record = root.ecs.task(task, inCluster: clusterName) else {
                throw AWSError.invalidParameter("The referenced task was not found: '\(task)' in cluster \(clusterName).")
            }
            guard let instance = record.task.containerInstanceArn else {
                throw AWSError.invalidParameter("Task \(task) was never placed on an instance, so it has no logs.")
            }
            if let container, !(record.task.containers ?? []).contains(where: { $0.name == container }) {
                throw AWSError.invalidParameter("Task \(task) has no container named '\(container)'.")
            }
            return (record.arn, instance)
        }
        let request = LogRequest(
            id: UUID().uuidString, taskArn: taskArn, container: container, follow: follow, tail: tail)
        let stream = logs.open(request, instance: instance)
        committer.notifier.poke(instance)
        return stream
    }
}

extension AgentChannel {
    /// ECS's ExecuteCommand: ECS's checks on the task (pure, in the ECS module), then a session in
    /// the relay whose token the caller presents when it attaches to `streamUrl`.
    func executeCommand(endpoint: String) -> JSONOperations<Committer<ControlPlaneState>> {
        var operations = JSONOperations(targetPrefix: ECSAPI.targetPrefix, committer: committer)
        let execs = self.execs
        let committer = self.committer
        operations.custom("ExecuteCommand") { (input: ExecuteCommandRequest, _) throws(AWSError) -> ExecuteCommandResponse in
            let target = try await committer.read { root, _ throws(AWSError) in try root.ecs.execTarget(input) }
            let id = "ecs-execute-command-" + UUID().uuidString.lowercased()
            // A capability: 64 hex characters from the system's generator (not the state's seeded one).
            var system = SystemRandomNumberGenerator()
            let token = Identifiers.hex32(using: &system) + Identifiers.hex32(using: &system)
            execs.create(
                ExecRequest(id: id, taskArn: target.taskArn, container: target.containerName, command: target.command, tty: true),
                instance: target.instanceArn, token: token)
            return ExecuteCommandResponse(
                clusterArn: target.clusterArn, containerArn: target.containerArn, containerName: target.containerName, interactive: true,
                session: Session(sessionId: id, streamUrl: endpoint + ExecChannel.sessionPath + "/" + id, tokenValue: token),
                taskArn: target.taskArn)
        }
        return operations
    }
}
