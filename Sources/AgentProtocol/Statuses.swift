import ECSShapes

/// ECS's statuses as types. The wire carries them as strings (ECS's model says so); the control
/// plane and the agent compare and set them only through these.

/// A task's `lastStatus`, in the order a task goes through them.
public enum TaskStatus: String, Codable, Sendable, CaseIterable, Comparable {
    case provisioning = "PROVISIONING"
    case pending = "PENDING"
    case activating = "ACTIVATING"
    case running = "RUNNING"
    case deactivating = "DEACTIVATING"
    case stopping = "STOPPING"
    case deprovisioning = "DEPROVISIONING"
    case stopped = "STOPPED"

    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// RUNNING, or on its way out from RUNNING.
    public var hasRun: Bool { self >= .running && self != .stopped }
}

/// A task's `desiredStatus`.
public enum DesiredTaskStatus: String, Codable, Sendable, CaseIterable {
    case pending = "PENDING"
    case running = "RUNNING"
    case stopped = "STOPPED"
}

/// A container's `lastStatus` (and what state changes report).
public enum ContainerRunStatus: String, Codable, Sendable, CaseIterable, Comparable {
    case pending = "PENDING"
    case running = "RUNNING"
    case stopped = "STOPPED"

    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// A container instance's `status`.
public enum InstanceStatus: String, Codable, Sendable, CaseIterable {
    case registering = "REGISTERING"
    case registrationFailed = "REGISTRATION_FAILED"
    case active = "ACTIVE"
    case draining = "DRAINING"
    case deregistering = "DEREGISTERING"
    case inactive = "INACTIVE"
}

/// A cluster's `status`.
public enum ClusterStatus: String, Codable, Sendable, CaseIterable {
    case active = "ACTIVE"
    case provisioning = "PROVISIONING"
    case deprovisioning = "DEPROVISIONING"
    case failed = "FAILED"
    case inactive = "INACTIVE"
}

/// A service's `status`.
public enum ServiceStatus: String, Codable, Sendable, CaseIterable {
    case active = "ACTIVE"
    case draining = "DRAINING"
    case inactive = "INACTIVE"
}

extension ECSTask {
    /// `lastStatus`, typed (nil when absent or not one of ECS's).
    public var taskStatus: TaskStatus? {
        get { lastStatus.flatMap(TaskStatus.init(rawValue:)) }
        set { lastStatus = newValue?.rawValue }
    }

    /// `desiredStatus`, typed.
    public var desiredTaskStatus: DesiredTaskStatus? {
        get { desiredStatus.flatMap(DesiredTaskStatus.init(rawValue:)) }
        set { desiredStatus = newValue?.rawValue }
    }
}

extension Container {
    /// `lastStatus`, typed.
    public var runStatus: ContainerRunStatus? {
        get { lastStatus.flatMap(ContainerRunStatus.init(rawValue:)) }
        set { lastStatus = newValue?.rawValue }
    }
}

extension ContainerInstance {
    /// `status`, typed (an instance without one is ACTIVE).
    public var instanceStatus: InstanceStatus {
        get { status.flatMap(InstanceStatus.init(rawValue:)) ?? .active }
        set { status = newValue.rawValue }
    }
}

extension Cluster {
    /// `status`, typed (a cluster without one is ACTIVE).
    public var clusterStatus: ClusterStatus {
        get { status.flatMap(ClusterStatus.init(rawValue:)) ?? .active }
        set { status = newValue.rawValue }
    }
}

extension ECSService {
    /// `status`, typed (a service without one is ACTIVE).
    public var serviceStatus: ServiceStatus {
        get { status.flatMap(ServiceStatus.init(rawValue:)) ?? .active }
        set { status = newValue.rawValue }
    }
}

/// A service deployment's `status`.
public enum DeploymentStatus: String, Codable, Sendable, CaseIterable {
    case primary = "PRIMARY"
    case active = "ACTIVE"
    case inactive = "INACTIVE"
}

extension Deployment {
    /// `status`, typed.
    public var deploymentStatus: DeploymentStatus? {
        get { status.flatMap(DeploymentStatus.init(rawValue:)) }
        set { status = newValue?.rawValue }
    }
}
