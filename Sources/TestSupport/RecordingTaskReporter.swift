import AgentProtocol
import ECSShapes
import StevedoreCore
import Synchronization

/// The control plane as a task engine sees it, recording what it was told: state changes,
/// metrics and log batches. Task definitions come from `definitions` (by ARN or family:revision).
public final class RecordingTaskReporter: TaskReporter {
    private struct Record {
        var taskChanges: [SubmitTaskStateChangeRequest] = []
        var containerChanges: [SubmitContainerStateChangeRequest] = []
        var metrics: [AgentMetricsReport] = []
        var logs: [String: [UInt8]] = [:]
        var logEvents: [LogEventsBatch] = []
    }

    private let record = Mutex(Record())
    private let definitions: [String: TaskDefinition]
    /// Secret values by `valueFrom` (a container naming one not here fails to be created).
    private let secrets: [String: String]

    public init(definitions: [String: TaskDefinition] = [:], secrets: [String: String] = [:]) {
        self.definitions = definitions
        self.secrets = secrets
    }

    public var taskChanges: [SubmitTaskStateChangeRequest] { record.withLock { $0.taskChanges } }
    public var containerChanges: [SubmitContainerStateChangeRequest] { record.withLock { $0.containerChanges } }
    public var metrics: [AgentMetricsReport] { record.withLock { $0.metrics } }
    public var logEvents: [LogEventsBatch] { record.withLock { $0.logEvents } }
    /// The task statuses reported, in order.
    public var statuses: [String] { taskChanges.compactMap(\.status) }
    /// Log bytes posted under a log request's id.
    public func logs(_ id: String) -> [UInt8] { record.withLock { $0.logs[id] ?? [] } }

    public func submit(_ change: SubmitTaskStateChangeRequest) async throws { record.withLock { $0.taskChanges.append(change) } }
    public func submit(_ change: SubmitContainerStateChangeRequest) async throws { record.withLock { $0.containerChanges.append(change) } }

    public func describeTaskDefinition(_ reference: String) async throws -> TaskDefinition {
        guard let definition = definitions[reference] else {
            throw AWSError.client("Unable to describe task definition \(reference).")
        }
        return definition
    }

    public func resolveSecrets(_ request: TaskSecretsRequest) async throws -> [String: String] {
        secrets
    }

    /// Made-up credentials naming the task (the test twin of a role's).
    public func credentials(_ request: TaskCredentialsRequest) async throws -> TaskCredentials {
        TaskCredentials(
            RoleArn: "arn:aws:iam::000000000000:role/test", AccessKeyId: "ASIATEST", SecretAccessKey: "secret-of-" + request.taskArn,
            Token: "token", Expiration: "2099-01-01T00:00:00Z")
    }

    public func publishMetrics(_ report: AgentMetricsReport) async throws { record.withLock { $0.metrics.append(report) } }

    public func postLogs(id: String, bytes: [UInt8], done: Bool) async throws -> Bool {
        record.withLock { $0.logs[id, default: []] += bytes }
        return true
    }

    @discardableResult
    public func putLogEvents(_ batch: LogEventsBatch) async throws -> LogEventsAccepted {
        record.withLock { $0.logEvents.append(batch) }
        return LogEventsAccepted(lastEventTimestamp: batch.events.last?.timestamp)
    }
}
