import ECSShapes

/// The control-plane calls a task engine makes: the seam tests replace with a recorder.
public protocol TaskReporter: Sendable {
    func submit(_ change: SubmitTaskStateChangeRequest) async throws
    func submit(_ change: SubmitContainerStateChangeRequest) async throws
    func describeTaskDefinition(_ reference: String) async throws -> TaskDefinition
    func publishMetrics(_ report: AgentMetricsReport) async throws
    /// Posts a batch of log bytes; `false` when nobody listens any more.
    func postLogs(id: String, bytes: [UInt8], done: Bool) async throws -> Bool
}
