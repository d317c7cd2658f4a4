import AgentProtocol
import AWSProtocols
import ECSShapes
import StevedoreClient
import StevedoreCore

/// Runs what the control plane assigns to one instance. Assignments arrive in sequence order and
/// may repeat (after a reconnect); an engine reconciles each task by ARN, so a repeat is harmless.
public protocol TaskEngine: Sendable {
    func handle(_ assignment: AgentAssignment) async
    /// Someone asked for a task's logs: send them to the control plane (without blocking the caller).
    func streamLogs(_ request: LogRequest) async
    /// Someone runs a command in a task's container: start it and relay its streams (without
    /// blocking the caller).
    func exec(_ request: ExecRequest) async
    /// Background work (timers, event streams) for as long as the instance runs.
    func run() async throws
}

extension TaskEngine {
    public func exec(_ request: ExecRequest) async {}
}

extension ControlPlaneLink: TaskReporter {}

/// Retries a call to the control plane with back-off until it succeeds or the task is cancelled.
func withRetries<Result: Sendable>(
    isolation: isolated (any Actor)? = #isolation,
    _ what: String,
    initialDelay: Duration = .milliseconds(250),
    maximumDelay: Duration = .seconds(30),
    _ body: () async throws -> Result
) async throws -> Result {
    var delay = initialDelay
    while true {
        do {
            return try await body()
        } catch let error as AWSError where !error.isRetryable {
            throw error
        } catch {
            try Task.checkCancellation()
            try await Task.sleep(for: delay)
            delay = min(maximumDelay, delay * 2)
        }
    }
}
