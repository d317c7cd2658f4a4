#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes

/// What happens to the tasks of an agent, as ``TaskStateMachine`` takes it.
public enum TaskEvent: Sendable {
    /// The control plane assigned a task (to run, or to stop).
    case assigned(AgentAssignment)
    /// The agent registered: adopt what runs already (after a restart).
    case attached(instanceArn: String)
    /// The answer to ``TaskAction/fetchDefinition(task:reference:)`` (nil: it could not be fetched).
    case definitionFetched(task: String, TaskDefinition?)
    /// The function host prepared an execution environment: its container's definition.
    case environmentPrepared(task: String, TaskDefinition)
    case environmentFailed(task: String, reason: String)
    case imageReady(task: String)
    case imageFailed(task: String, reason: String)
    /// Volumes and host ports are ready.
    case prepared(task: String, volumes: [String: VolumeSource], taskVolumes: [String], ports: [String: Int])
    case prepareFailed(task: String, reason: String)
    case containerCreated(task: String, container: String, dockerId: String)
    /// Started, and what an inspection saw right after.
    case containerStarted(task: String, container: String, ContainerInspection)
    /// Create or start refused; the reason is reported as the task's stop reason.
    case containerFailed(task: String, container: String, reason: String)
    /// An inspection's answer.
    case observed(task: String, container: String, ContainerInspection)
    /// Docker's event stream: `die`, `oom`, `kill`, `stop`, `start`, … for one of the task's containers.
    case dockerEvent(task: String, container: String, action: String)
    /// Docker's `health_status` event.
    case health(task: String, container: String, status: String)
    /// A stop (SIGTERM, then SIGKILL after the timeout) returned, with an inspection after it.
    case containerStopFinished(task: String, container: String, ContainerInspection)
    /// The function host released a stopped execution environment.
    case environmentReleased(task: String)
    /// A state change report's answer: accepted, or refused for good (retries are the executor's).
    case reported(task: String, status: ContainerRunStatus, accepted: Bool)
    /// The stopped task's containers and volumes were removed (or not: it is tried again).
    case removed(task: String, succeeded: Bool)
    /// Someone on this host wants the task stopped (the function host retires an environment).
    case stopRequested(task: String, reason: String)
    /// Docker's event stream was interrupted (dockerd restarted): events may have been missed.
    case resynchronize
    /// Time passed: dependency waits expire, stopped tasks are cleaned up.
    case tick
}

/// What the executor must do for the state machine; each answer comes back as a ``TaskEvent``.
public enum TaskAction: Sendable, Equatable {
    /// DescribeTaskDefinition (only for tasks saved by an agent whose assignments carried no definition).
    case fetchDefinition(task: String, reference: String)
    /// Code, layers, runtime image and Runtime API of an execution environment.
    case prepareEnvironment(task: String, FunctionEnvironmentSpec)
    /// Pull per ECS_IMAGE_PULL_BEHAVIOR.
    case ensureImage(task: String, image: String)
    /// Volumes (task-scoped ones created) and host ports for mappings without a static one.
    case prepare(task: String)
    /// Create (or adopt by name, after a crash mid-create) one container from the task's definition.
    case createContainer(task: String, container: String)
    /// Start a created container, then inspect it (an environment's host follows its output first).
    case startContainer(task: String, container: String, dockerId: String, environment: Bool)
    /// Read a container's state (by Docker id, or by name when it has none yet).
    case inspect(task: String, container: String, reference: String)
    /// SIGTERM, SIGKILL after `timeout` seconds, then inspect.
    case stopContainer(task: String, container: String, dockerId: String, timeout: Int)
    /// Tell the function host an environment's task stopped (before reporting STOPPED).
    case releaseEnvironment(task: String, started: Bool, exitCode: Int?, outOfMemory: Bool, reason: String?)
    /// SubmitTaskStateChange, retried while the control plane is unreachable.
    case report(SubmitTaskStateChangeRequest)
    /// SubmitContainerStateChange (a non-essential container exited).
    case reportContainer(SubmitContainerStateChangeRequest)
    /// Remove containers of this instance that no saved task knows.
    case removeOrphans(instance: String, keeping: Set<String>)
    /// Remove a cleaned-up task's containers and task-scoped volumes.
    case remove(task: String, containers: [String], volumes: [String])
}

/// What inspecting a container found.
public enum ContainerInspection: Sendable, Equatable {
    case seen(ContainerObservation)
    /// The engine does not know the container (any more).
    case gone
    /// The engine did not answer (it may be restarting): nothing is known.
    case unavailable
}

/// A container as an inspection saw it.
public struct ContainerObservation: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        case created
        case running
        case exited
    }

    public var dockerId: String
    public var status: Status
    public var exitCode: Int
    public var oomKilled: Bool
    /// Docker's error for a container that could not run.
    public var error: String?
    public var health: String?
    public var bindings: [ManagedContainer.PortBindingRecord]

    public init(
        dockerId: String, status: Status, exitCode: Int = 0, oomKilled: Bool = false, error: String? = nil, health: String? = nil,
        bindings: [ManagedContainer.PortBindingRecord] = []
    ) {
        self.dockerId = dockerId
        self.status = status
        self.exitCode = exitCode
        self.oomKilled = oomKilled
        self.error = error
        self.health = health
        self.bindings = bindings
    }
}
