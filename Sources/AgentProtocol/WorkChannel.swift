#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ECSShapes
import StevedoreCore

/// The work channel between `ecsd` and its agents.
///
/// Agents connect outbound only and long-poll `POST /v1/agent/poll`. Every change an agent must
/// act on (a task placed on its instance, a task to stop) gets an increasing assignment sequence
/// number. A poll asks for everything after the last sequence it processed; the answer carries the
/// tasks whose last change is newer, each with its desired status, and the sequence to ask after
/// next time. Because the answer is state, not a stream of events, a poll repeated after a lost
/// answer or a reconnect neither loses nor repeats work: the agent reconciles each task by ARN.
/// Each poll is also the agent's heartbeat.
public enum WorkChannel {
    public static let pollPath = "/v1/agent/poll"
    /// Longest a poll is held open when nothing changes.
    public static let maximumWait = 30
}

public struct AgentPollRequest: Codable, Sendable, Equatable {
    public var cluster: String
    public var containerInstanceArn: String
    /// The `sequence` of the last answer processed; 0 on first contact.
    public var since: Int
    /// Seconds to hold the poll open when there is nothing new (capped by the server).
    public var waitSeconds: Int?
    /// Task definitions the agent already holds, as `family:revision` (at most
    /// ``HeldDefinitions/capacity``): assignments to start tasks of these carry no definition,
    /// which keeps a busy instance's polls small. A definition never changes under its ARN.
    public var heldDefinitions: [String]?
    /// The control plane's state epoch the agent's cursor and held definitions belong to (the last
    /// answer's); nil before the first answer.
    public var epoch: String?

    public init(
        cluster: String, containerInstanceArn: String, since: Int, waitSeconds: Int? = nil, heldDefinitions: [String]? = nil, epoch: String? = nil
    ) {
        self.cluster = cluster
        self.containerInstanceArn = containerInstanceArn
        self.since = since
        self.waitSeconds = waitSeconds
        self.heldDefinitions = heldDefinitions
        self.epoch = epoch
    }
}

public struct AgentAssignment: Codable, Sendable, Equatable {
    public var sequence: Int
    /// The task with its desired status; its containers as ECS reports them.
    public var task: ECSTask
    /// The task definition to run it from, sent with every assignment that starts a task (so an
    /// agent never needs a DescribeTaskDefinition round trip) unless the poll said the agent holds
    /// it; nil for stops and for function environments, whose definition the agent builds from
    /// `function` once it has prepared it.
    public var taskDefinition: TaskDefinition?
    /// Set when the task is a function's execution environment (its definition is built from this).
    public var function: FunctionEnvironmentSpec?

    public init(sequence: Int, task: ECSTask, taskDefinition: TaskDefinition?, function: FunctionEnvironmentSpec? = nil) {
        self.sequence = sequence
        self.task = task
        self.taskDefinition = taskDefinition
        self.function = function
    }
}

public struct AgentPollResponse: Codable, Sendable, Equatable {
    /// Ask for changes after this next time.
    public var sequence: Int
    /// `ACTIVE`, `DRAINING` or `INACTIVE` (deregistered: the agent should stop polling).
    public var instanceStatus: InstanceStatus
    public var assignments: [AgentAssignment]
    /// Someone asked for a task's logs: the agent streams them to `/v1/agent/logs/<id>`.
    public var logRequests: [LogRequest]?
    /// Someone runs a command in one of the instance's containers (ExecuteCommand): the agent
    /// starts it and relays its streams (see ``ExecChannel``).
    public var execRequests: [ExecRequest]?
    /// The control plane's state epoch: it changes when the state may have gone back in time (a
    /// restored backup, an imported store), so sequences and definitions an agent knows from
    /// another epoch mean nothing. An answer to a poll from another epoch holds everything again.
    public var epoch: String?

    public init(
        sequence: Int, instanceStatus: InstanceStatus, assignments: [AgentAssignment], logRequests: [LogRequest]? = nil, epoch: String? = nil
    ) {
        self.sequence = sequence
        self.instanceStatus = instanceStatus
        self.assignments = assignments
        self.logRequests = logRequests
        self.epoch = epoch
    }
}

/// A request for a task's container logs, relayed to the agent that runs the task.
public struct LogRequest: Codable, Sendable, Equatable {
    public var id: String
    public var taskArn: String
    /// One container, or every container of the task (lines prefixed with the container's name).
    public var container: String?
    public var follow: Bool
    public var tail: Int?

    public init(id: String, taskArn: String, container: String?, follow: Bool, tail: Int?) {
        self.id = id
        self.taskArn = taskArn
        self.container = container
        self.follow = follow
        self.tail = tail
    }
}

/// What a task used between two samples: CPU units (1024 per core) and MiB of memory in use.
public struct TaskUsageSample: Codable, Sendable, Equatable {
    public var taskArn: String
    public var cpuUnits: Double
    public var memoryMiB: Double
    public var at: Date

    public init(taskArn: String, cpuUnits: Double, memoryMiB: Double, at: Date) {
        self.taskArn = taskArn
        self.cpuUnits = cpuUnits
        self.memoryMiB = memoryMiB
        self.at = at
    }
}

/// `POST /v1/agent/metrics`: an agent's latest usage samples (for service auto scaling).
public struct AgentMetricsReport: Codable, Sendable, Equatable {
    public var containerInstanceArn: String
    public var samples: [TaskUsageSample]

    public init(containerInstanceArn: String, samples: [TaskUsageSample]) {
        self.containerInstanceArn = containerInstanceArn
        self.samples = samples
    }
}

extension WorkChannel {
    public static let metricsPath = "/v1/agent/metrics"
    /// `POST <logsPath>/<id>[?done=1]`: a batch of log bytes for a log request.
    public static let logsPath = "/v1/agent/logs"
    /// `GET /v1/tasks/logs?cluster=&task=&container=&follow=&tail=`: what ecsctl task logs reads.
    public static let taskLogsPath = "/v1/tasks/logs"
    /// `GET /v1/metrics/services?cluster=&service=`: a service's utilisation series.
    public static let serviceMetricsPath = "/v1/metrics/services"
    /// The header agents present their registration token in.
    public static let tokenHeader = "X-Stevedore-Agent-Token"
    /// `PUT`/`GET`: step-scaling alarms (CloudWatch's PutMetricAlarm role).
    public static let scalingAlarmsPath = "/v1/scaling/alarms"
}

extension WorkChannel {
    /// `POST`: the values of a task's `secrets`, resolved for the agent starting it.
    public static let secretsPath = "/v1/agent/secrets"
}

/// Names a task on the asking instance: what the agent sends for a task's secrets and for its
/// role's credentials (the control plane checks that the task runs there).
public struct InstanceTaskRequest: Codable, Sendable, Equatable {
    public var containerInstanceArn: String
    public var taskArn: String

    public init(containerInstanceArn: String, taskArn: String) {
        self.containerInstanceArn = containerInstanceArn
        self.taskArn = taskArn
    }
}

/// Asks for the secrets a task's containers name (`valueFrom`).
public typealias TaskSecretsRequest = InstanceTaskRequest

/// Values by `valueFrom`. Held by the agent in memory only, for creating the containers.
public struct TaskSecretsResponse: Codable, Sendable, Equatable {
    public var values: [String: String]

    public init(values: [String: String]) {
        self.values = values
    }
}

extension WorkChannel {
    /// `POST`: temporary credentials of a task's role (`taskRoleArn`) or a function's (`Role`).
    public static let credentialsPath = "/v1/agent/credentials"
}

/// Asks for the credentials of the role of a task.
public typealias TaskCredentialsRequest = InstanceTaskRequest

/// Temporary credentials in the shape the ECS credentials endpoint serves them (and botocore's
/// container provider reads): `Expiration` in ISO 8601.
public struct TaskCredentials: Codable, Sendable, Equatable {
    public var RoleArn: String
    public var AccessKeyId: String
    public var SecretAccessKey: String
    public var Token: String
    public var Expiration: String

    public init(RoleArn: String, AccessKeyId: String, SecretAccessKey: String, Token: String, Expiration: String) {
        self.RoleArn = RoleArn
        self.AccessKeyId = AccessKeyId
        self.SecretAccessKey = SecretAccessKey
        self.Token = Token
        self.Expiration = Expiration
    }
}

extension WorkChannel {
    /// Answer header of a `RegisterContainerInstance` admitted by the registration token: the
    /// credentials of the registered instance alone (``InstanceCredentials`` as JSON). With them the
    /// agent signs every later call (Signature Version 4, the token as `X-Amz-Security-Token`).
    public static let instanceCredentialsHeader = "X-Stevedore-Instance-Credentials"
    /// `POST` (``InstanceCredentialsRequest``): fresh credentials for the calling instance, signed
    /// with its current ones; agents ask when half of their lifetime has passed.
    public static let instanceCredentialsPath = "/v1/agent/instance-credentials"
}

public struct InstanceCredentialsRequest: Codable, Sendable, Equatable {
    public var containerInstanceArn: String

    public init(containerInstanceArn: String) {
        self.containerInstanceArn = containerInstanceArn
    }
}

/// Temporary credentials of one container instance.
public struct InstanceCredentials: Codable, Sendable, Equatable {
    public var containerInstanceArn: String
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String
    /// Seconds since 1970.
    public var issuedAt: Int64
    /// Seconds since 1970.
    public var expiresAt: Int64

    public init(containerInstanceArn: String, accessKeyId: String, secretAccessKey: String, sessionToken: String, issuedAt: Int64, expiresAt: Int64) {
        self.containerInstanceArn = containerInstanceArn
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }

    /// Time to ask for new ones: half their lifetime has passed.
    public func needsRenewal(now: Int64) -> Bool {
        now >= issuedAt + (expiresAt - issuedAt) / 2
    }
}
