import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import StevedoreCore

/// A task as stored: the API's task plus what the scheduler needs to keep about it.
///
/// Its fields live in one copy-on-write box: copying a record (out of a dictionary, into a
/// published state) costs one reference count instead of one per string and array of the task,
/// and reads borrow the fields in place. Readers scan thousands of records per ListTasks or
/// DescribeClusters, and every publication of the state copies the task dictionary.
public struct TaskRecord: StoredRecord, Equatable {
    private struct Fields: Equatable, Sendable {
        var arn: String
        var task: ECSTask
        var assignmentSequence: Int
        var serviceArn: String?
        var clientToken: String?
        var requirements: TaskRequirements
        var function: FunctionEnvironmentSpec?
        var provisioning: PendingPlacement?
        var protectedUntil: Date?
    }

    /// Mutated only when uniquely referenced (see `fields`), so sharing it across threads is safe.
    private final class Box: @unchecked Sendable {
        var fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var box: Box

    private var fields: Fields {
        _read { yield box.fields }
        _modify {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.fields) }
            yield &box.fields
        }
    }

    /// Its identity (the task's ARN), set once.
    public var arn: String { box.fields.arn }
    public var task: ECSTask {
        _read { yield box.fields.task }
        _modify { yield &fields.task }
    }
    /// The assignment sequence of the last change its agent must act on (placement, stop).
    public var assignmentSequence: Int {
        get { box.fields.assignmentSequence }
        set { fields.assignmentSequence = newValue }
    }
    /// The service that started it, if any.
    public var serviceArn: String? {
        get { box.fields.serviceArn }
        set { fields.serviceArn = newValue }
    }
    /// The RunTask idempotency token it was started with.
    public var clientToken: String? {
        get { box.fields.clientToken }
        set { fields.clientToken = newValue }
    }
    /// What it takes from its instance while it holds resources.
    public var requirements: TaskRequirements {
        _read { yield box.fields.requirements }
        _modify { yield &fields.requirements }
    }
    /// Set for a function's execution environment.
    public var function: FunctionEnvironmentSpec? {
        _read { yield box.fields.function }
        _modify { yield &fields.function }
    }
    /// Set while it waits in PROVISIONING for capacity.
    public var provisioning: PendingPlacement? {
        _read { yield box.fields.provisioning }
        _modify { yield &fields.provisioning }
    }
    /// Scale-in protection (UpdateTaskProtection): until when its service's scale-in and
    /// deployments, and capacity scale-in, leave it (and its instance) alone.
    public var protectedUntil: Date? {
        get { box.fields.protectedUntil }
        set { fields.protectedUntil = newValue }
    }

    /// Whether it is protected from scale-in at `now`.
    public func isProtected(at now: Date) -> Bool { protectedUntil.map { now < $0 } ?? false }

    public init(
        arn: String,
        task: ECSTask,
        assignmentSequence: Int,
        serviceArn: String? = nil,
        clientToken: String? = nil,
        requirements: TaskRequirements
    ) {
        var task = task
        task.taskArn = arn
        box = Box(
            Fields(
                arn: arn, task: task, assignmentSequence: assignmentSequence, serviceArn: serviceArn, clientToken: clientToken,
                requirements: requirements))
    }

    public static func == (lhs: TaskRecord, rhs: TaskRecord) -> Bool {
        lhs.box === rhs.box || lhs.box.fields == rhs.box.fields
    }

    enum CodingKeys: String, CodingKey {
        case task, assignmentSequence, serviceArn, clientToken, requirements, function, provisioning, protectedUntil
    }

    /// Rows hold the task (whose ARN is the identity); a row without one is refused, not guessed.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let task = try container.decode(ECSTask.self, forKey: .task)
        guard let arn = task.taskArn, !arn.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .task, in: container, debugDescription: "a stored task has no taskArn")
        }
        box = Box(
            Fields(
                arn: arn, task: task, assignmentSequence: try container.decode(Int.self, forKey: .assignmentSequence),
                serviceArn: try container.decodeIfPresent(String.self, forKey: .serviceArn),
                clientToken: try container.decodeIfPresent(String.self, forKey: .clientToken),
                requirements: try container.decode(TaskRequirements.self, forKey: .requirements),
                function: try container.decodeIfPresent(FunctionEnvironmentSpec.self, forKey: .function),
                provisioning: try container.decodeIfPresent(PendingPlacement.self, forKey: .provisioning),
                protectedUntil: try container.decodeIfPresent(Date.self, forKey: .protectedUntil)))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(task, forKey: .task)
        try container.encode(assignmentSequence, forKey: .assignmentSequence)
        try container.encodeIfPresent(serviceArn, forKey: .serviceArn)
        try container.encodeIfPresent(clientToken, forKey: .clientToken)
        try container.encode(requirements, forKey: .requirements)
        try container.encodeIfPresent(function, forKey: .function)
        try container.encodeIfPresent(provisioning, forKey: .provisioning)
        try container.encodeIfPresent(protectedUntil, forKey: .protectedUntil)
    }

    public static var recordKind: RecordKind { .tasks }
    public var recordKey: String { arn }
    public var lastStatus: TaskStatus {
        get { task.taskStatus ?? .pending }
        set { task.taskStatus = newValue }
    }

    public var desiredStatus: DesiredTaskStatus {
        get { task.desiredTaskStatus ?? .running }
        set { task.desiredTaskStatus = newValue }
    }

    public var isStopped: Bool { lastStatus == .stopped }

    /// Placed and not yet stopped: its CPU, memory and ports are taken on its instance.
    public var holdsResources: Bool { task.containerInstanceArn != nil && !isStopped }

    /// RUNNING, or on its way out from RUNNING.
    public var hasRun: Bool { lastStatus.hasRun }
}

/// A service as stored: the API's service (with deployments and events) and the scheduler's notes.
public struct ServiceRecord: StoredRecord, Equatable {
    /// Its identity: the service's ARN and name, set once.
    public let arn: String
    public let name: String
    public var service: ECSService
    public var scheduler: ServiceSchedulerState

    public init(arn: String, name: String, service: ECSService, scheduler: ServiceSchedulerState = ServiceSchedulerState()) {
        self.arn = arn
        self.name = name
        self.service = service
        self.service.serviceArn = arn
        self.service.serviceName = name
        self.scheduler = scheduler
    }

    enum CodingKeys: String, CodingKey {
        case service, scheduler
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        service = try container.decode(ECSService.self, forKey: .service)
        guard let arn = service.serviceArn, let name = service.serviceName, !arn.isEmpty, !name.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .service, in: container, debugDescription: "a stored service has no ARN or name")
        }
        self.arn = arn
        self.name = name
        scheduler = try container.decode(ServiceSchedulerState.self, forKey: .scheduler)
    }

    public static var recordKind: RecordKind { .services }
    public var recordKey: String { arn }
}

/// What the service scheduler remembers between passes.
public struct ServiceSchedulerState: Codable, Sendable, Equatable {
    /// Source of the `ecs-svc/<number>` deployment ids.
    public var deploymentCounter: Int = 0
    /// Tasks that stopped before reaching RUNNING, in a row; drives the launch back-off.
    public var consecutiveFailedLaunches: Int = 0
    /// No new tasks before this time (back-off after failed launches).
    public var nextLaunchAt: Date?
    public var lastPlacementFailureEventAt: Date?
    public var lastThrottleEventAt: Date?
    public var lastDeploymentConfigEventAt: Date?
    public var lastSteadyStateEventAt: Date?
    public var steady: Bool = false
    /// The token CreateService was called with, for idempotent retries.
    public var clientToken: String?
    /// The task definition of the last deployment that completed: where a rollback goes.
    public var lastCompletedTaskDefinition: String?
    /// Set when the circuit breaker tripped with rollback on; the next pass rolls back.
    public var rollbackPending: Bool = false
    /// The task definition a rollback goes to when StopServiceDeployment asked for it (else the
    /// last that completed).
    public var rollbackTarget: String?
    /// The service revision that rollback goes back to: its load balancers, registries, network
    /// and launch settings come back with its task definition.
    public var rollbackRevision: String?
    /// The service revision of the last deployment that completed.
    public var lastCompletedRevision: String?
    /// The service revision each rolling deployment deploys, and the service deployment it
    /// belongs to (a rollback's belongs to the deployment it rolls back).
    public var revisionOfDeployment: [String: String]?
    public var serviceDeploymentOf: [String: String]?
    /// CreateTaskSet's client tokens and the task sets they made, for idempotent retries.
    public var taskSetClientTokens: [String: String]?

    public init() {}
}

/// Tunables of the scheduler loops. Defaults follow ECS where ECS states a number.
public struct SchedulerSettings: Sendable, Equatable {
    /// First delay after a task of a service failed to start; doubles per failure in a row.
    public var launchBackoffBase: TimeInterval = 5
    /// Longest delay between launch attempts (ECS: 15 minutes).
    public var launchBackoffMax: TimeInterval = 900
    /// Failures needed to trip a circuit breaker at the least (ECS: 10).
    public var circuitBreakerMinimumThreshold = 10
    /// Least time between two identical warning events of a service.
    public var repeatedEventInterval: TimeInterval = 60
    /// Steady-state events repeat this often while nothing changes (ECS: 6 hours).
    public var steadyStateEventInterval: TimeInterval = 6 * 3600
    /// How long stopped tasks and deregistered instances stay visible.
    public var stoppedRetention: TimeInterval = 3600
    /// Seconds a service's task behind a target group is DEACTIVATING (deregistered from the
    /// gateway, its open requests finishing) before its agent stops it; ELB's
    /// `deregistration_delay.timeout_seconds` (default 300).
    public var deregistrationDelay: TimeInterval = 300

    public init() {}

    /// ECS's classic threshold: half the desired count, at least the minimum, at most 200.
    public func circuitBreakerThreshold(desired: Int) -> Int {
        min(200, max(circuitBreakerMinimumThreshold, Int((Double(desired) * 0.5).rounded(.up))))
    }

    public func launchDelay(afterFailures failures: Int) -> TimeInterval {
        guard failures > 0 else { return 0 }
        return min(launchBackoffMax, launchBackoffBase * pow(2, Double(min(failures - 1, 30))))
    }
}

/// ECS's counters that must never go backwards, even across restarts.
public struct ControlPlaneCounters: StoredRecord, Equatable {
    /// Numbers every change an agent must act on, so polls can ask for "everything after n".
    public var assignmentSequence: Int = 0
    /// Set anew on a copy of the state that may be started in the original's place (a backup, an
    /// import), so agents can tell its sequences from the original's; "" for a store never copied.
    public var epoch: String = ""

    public init() {}

    enum CodingKeys: String, CodingKey {
        case assignmentSequence
        case epoch
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        assignmentSequence = try container.decodeIfPresent(Int.self, forKey: .assignmentSequence) ?? 0
        epoch = try container.decodeIfPresent(String.self, forKey: .epoch) ?? ""
    }

    public static var recordKind: RecordKind { .meta }
    public var recordKey: String { "counters" }
}

extension ContainerInstance: StoredRecord {
    public static var recordKind: RecordKind { .containerInstances }
    public var recordKey: String { containerInstanceArn ?? "" }
}
