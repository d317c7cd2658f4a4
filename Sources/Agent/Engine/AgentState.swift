#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes

/// What the agent must remember across restarts, in `$ECS_DATADIR/agent-state.json`: its identity
/// and every task it runs, with its definition and each container's Docker name (recorded before
/// the container is created, so a crash mid-create can still be adopted by name).
public struct AgentState: Codable, Sendable, Equatable {
    public var cluster: String
    public var instanceArn: String?
    public var tasks: [String: ManagedTask] = [:]

    public init(cluster: String, instanceArn: String? = nil) {
        self.cluster = cluster
        self.instanceArn = instanceArn
    }
}

/// A task this agent runs.
public struct ManagedTask: Codable, Sendable, Equatable {
    public enum Phase: String, Codable, Sendable {
        case pending, running, stopping, stopped
    }

    public var arn: String
    public var family: String
    public var revision: Int
    public var phase: Phase
    public var desiredStopped = false
    public var stopReason: String?
    /// Whether RUNNING / STOPPED has been accepted by the control plane.
    public var reportedRunning = false
    public var reportedStopped = false
    public var containers: [ManagedContainer]
    /// Container names in start order.
    public var startOrder: [String]
    /// Host ports this task took from the dynamic range.
    public var dynamicPorts: [String: Int] = [:]
    /// Docker volumes created for this task only (removed at cleanup).
    public var taskVolumes: [String] = []
    public var pullStartedAt: Date?
    public var pullStoppedAt: Date?
    public var stoppedAt: Date?
    /// Set when the task is a function's execution environment.
    public var function: FunctionEnvironmentSpec?
    /// What it runs: from its assignment, or for an environment once the function host prepared it.
    public var definition: TaskDefinition?
    public var overrides: TaskOverride?
    /// How each of the definition's volumes is provided (once prepared).
    public var volumeSources: [String: VolumeSource]?

    public init(
        arn: String, family: String, revision: Int, phase: Phase, containers: [ManagedContainer], startOrder: [String],
        function: FunctionEnvironmentSpec? = nil, definition: TaskDefinition? = nil, overrides: TaskOverride? = nil
    ) {
        self.arn = arn
        self.family = family
        self.revision = revision
        self.phase = phase
        self.containers = containers
        self.startOrder = startOrder
        self.function = function
        self.definition = definition
        self.overrides = overrides
    }

    public func container(_ name: String) -> ManagedContainer? { containers.first { $0.name == name } }

    /// Replaces one container's record.
    mutating func updateContainer(_ name: String, _ change: (inout ManagedContainer) -> Void) {
        guard let index = containers.firstIndex(where: { $0.name == name }) else { return }
        change(&containers[index])
    }
}

/// How a task volume is provided to its containers.
public enum VolumeSource: Codable, Sendable, Equatable {
    case hostPath(String)
    case dockerVolume(String)
}

public struct ManagedContainer: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case notCreated, created, running, stopped
    }

    public var name: String
    public var dockerName: String
    public var dockerId: String?
    public var essential: Bool
    public var status: Status = .notCreated
    public var exitCode: Int?
    public var reason: String?
    public var health: String?
    public var bindings: [PortBindingRecord] = []
    public var stopTimeout: Int

    public init(name: String, dockerName: String, essential: Bool, stopTimeout: Int) {
        self.name = name
        self.dockerName = dockerName
        self.essential = essential
        self.stopTimeout = stopTimeout
    }

    public struct PortBindingRecord: Codable, Sendable, Equatable {
        public var containerPort: Int
        public var hostPort: Int
        public var proto: String
        public var bindIP: String

        public init(containerPort: Int, hostPort: Int, proto: String, bindIP: String) {
            self.containerPort = containerPort
            self.hostPort = hostPort
            self.proto = proto
            self.bindIP = bindIP
        }
    }
}
