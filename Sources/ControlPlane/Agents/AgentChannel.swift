import ECSAPI
import ECSCore
import Foundation
import ServiceLifecycle

/// Serves agents' long polls (`POST /v1/agent/poll`), see ``AgentProtocol``.
struct AgentChannel: Sendable {
    let committer: Committer
    /// Longest a poll is held: half the agent timeout, so a live agent is always heard from in time.
    let maximumHold: Int

    func poll(_ request: AgentPollRequest) async throws(AWSError) -> AgentPollResponse {
        let arn = request.containerInstanceArn
        await committer.updateMemory { state, now in state.agentContact(arn, now: now) }
        let wait = max(0, min(request.waitSeconds ?? 20, AgentProtocol.maximumWait, maximumHold))
        let deadline = ContinuousClock.now + .seconds(wait)
        var outcome: Result<AgentPollResponse, AWSError>
        while true {
            let durable = committer.notifier.durableSequence
            do {
                let response = try await committer.read { state, _ throws(AWSError) in
                    try state.assignments(for: request, durableSequence: durable)
                }
                if !response.assignments.isEmpty || response.instanceStatus == "INACTIVE" || ContinuousClock.now >= deadline
                    || Task.isCancelled || committer.notifier.isShutDown
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
        await committer.updateMemory { state, now in state.agentContact(arn, now: now) }
        return try outcome.get()
    }
}

/// Ends held polls when the control plane stops, so the HTTP server can drain at once. Listed
/// after the server so the service group shuts it down first.
struct PollReleaser: Service {
    let notifier: AssignmentNotifier

    func run() async throws {
        try? await gracefulShutdown()
        notifier.shutdown()
    }
}
