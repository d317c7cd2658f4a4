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
public struct TaskRecord: StoredRecord, Equatable {
    public var task: ECSTask
    /// The assignment sequence of the last change its agent must act on (placement, stop).
    public var assignmentSequence: Int
    /// The service that started it, if any.
    public var serviceArn: String?
    /// The RunTask idempotency token it was started with.
    public var clientToken: String?
    /// What it takes from its instance while it holds resources.
    public var requirements: TaskRequirements
    /// Set for a function's execution environment.
    public var function: FunctionEnvironmentSpec?
    /// Set while it waits in PROVISIONING for capacity.
    public var provisioning: PendingPlacement?

    public init(
        task: ECSTask,
        assignmentSequence: Int,
        serviceArn: String? = nil,
        clientToken: String? = nil,
        requirements: TaskRequirements
    ) {
        self.task = task
        self.assignmentSequence = assignmentSequence
        self.serviceArn = serviceArn
        self.clientToken = clientToken
        self.requirements = requirements
    }

    public static var recordKind: RecordKind { .tasks }
    public var recordKey: String { task.taskArn ?? "" }

    public var arn: String { task.taskArn ?? "" }
    public var lastStatus: String { task.lastStatus ?? "PENDING" }
    public var desiredStatus: String { task.desiredStatus ?? "RUNNING" }
    public var isStopped: Bool { lastStatus == "STOPPED" }

    /// Placed and not yet stopped: its CPU, memory and ports are taken on its instance.
    public var holdsResources: Bool { task.containerInstanceArn != nil && !isStopped }

    /// RUNNING, or on its way out from RUNNING.
    public var hasRun: Bool { ["RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING"].contains(lastStatus) }
}

/// A service as stored: the API's service (with deployments and events) and the scheduler's notes.
public struct ServiceRecord: StoredRecord, Equatable {
    public var service: ECSService
    public var scheduler: ServiceSchedulerState

    public init(service: ECSService, scheduler: ServiceSchedulerState = ServiceSchedulerState()) {
        self.service = service
        self.scheduler = scheduler
    }

    public static var recordKind: RecordKind { .services }
    public var recordKey: String { service.serviceArn ?? "" }
    public var arn: String { service.serviceArn ?? "" }
    public var name: String { service.serviceName ?? "" }
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

    public init() {}

    enum CodingKeys: String, CodingKey {
        case assignmentSequence
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        assignmentSequence = try container.decodeIfPresent(Int.self, forKey: .assignmentSequence) ?? 0
    }

    public static var recordKind: RecordKind { .meta }
    public var recordKey: String { "counters" }
}

extension ContainerInstance: StoredRecord {
    public static var recordKind: RecordKind { .containerInstances }
    public var recordKey: String { containerInstanceArn ?? "" }
}
