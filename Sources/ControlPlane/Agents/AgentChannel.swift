import ECSAPI
import ECSCore
import Foundation

/// Serves agents' long polls (`POST /v1/agent/poll`), see ``AgentProtocol``.
struct AgentChannel: Sendable {
    let committer: Committer

    func poll(_ request: AgentPollRequest) async throws(AWSError) -> AgentPollResponse {
        let arn = request.containerInstanceArn
        await committer.updateMemory { state, now in state.agentContact(arn, now: now, polling: 1) }
        let wait = max(0, min(request.waitSeconds ?? 20, AgentProtocol.maximumWait))
        let deadline = ContinuousClock.now + .seconds(wait)
        var outcome: Result<AgentPollResponse, AWSError>
        while true {
            let durable = committer.notifier.durableSequence
            do {
                let response = try await committer.read { state, _ throws(AWSError) in
                    try state.assignments(for: request, durableSequence: durable)
                }
                if !response.assignments.isEmpty || response.instanceStatus == "INACTIVE" || ContinuousClock.now >= deadline
                    || Task.isCancelled
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
        await committer.updateMemory { state, now in state.agentContact(arn, now: now, polling: -1) }
        return try outcome.get()
    }
}
