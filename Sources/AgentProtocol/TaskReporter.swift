import ECSShapes

/// The control-plane calls a task engine makes: the seam tests replace with a recorder.
public protocol TaskReporter: Sendable {
    func submit(_ change: SubmitTaskStateChangeRequest) async throws
    func submit(_ change: SubmitContainerStateChangeRequest) async throws
    func describeTaskDefinition(_ reference: String) async throws -> TaskDefinition
    /// The values of the task's `secrets`, by `valueFrom`, for creating its containers.
    func resolveSecrets(_ request: TaskSecretsRequest) async throws -> [String: String]
    /// Temporary credentials of the task's role (a function environment's: its function's).
    func credentials(_ request: TaskCredentialsRequest) async throws -> TaskCredentials
    func publishMetrics(_ report: AgentMetricsReport) async throws
    /// Posts a batch of log bytes; `false` when nobody listens any more.
    func postLogs(id: String, bytes: [UInt8], done: Bool) async throws -> Bool
    /// Stores a batch of a container's events in CloudWatch Logs (an `awslogs` container's output).
    @discardableResult
    func putLogEvents(_ batch: LogEventsBatch) async throws -> LogEventsAccepted
    /// Posts an exec session's output frames; `false` when nobody listens any more (other
    /// failures throw: the post may be tried again).
    func postExecOutput(id: String, bytes: [UInt8], done: Bool) async throws -> Bool
    /// Waits for an exec session's input frames; nil when the session is gone.
    func execInput(id: String) async throws -> [UInt8]?
}

extension TaskReporter {
    public func postExecOutput(id: String, bytes: [UInt8], done: Bool) async throws -> Bool { false }
    public func execInput(id: String) async throws -> [UInt8]? { nil }
}
