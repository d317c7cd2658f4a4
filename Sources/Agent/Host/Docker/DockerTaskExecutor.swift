import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentEngine
import AgentProtocol
import DockerClient
import ECSShapes
import Logging
import StevedoreCore

/// Runs tasks on a Docker engine by carrying out the decisions of a ``TaskStateMachine``: every
/// event (an assignment, a Docker event, the answer to an action, a tick) goes into the machine,
/// the state is saved when it changed, and the actions that come out run concurrently, each
/// answering with an event. What is decided lives in the machine; this type only does it.
public actor DockerTaskExecutor: TaskEngine {
    /// Work for the run loop's task group.
    enum Job: Sendable {
        case action(TaskAction)
        /// Registered: follow Docker's events, sample statistics, serve invocations.
        case watch(instanceArn: String)
        case logs(LogRequest)
        case exec(ExecRequest)
    }

    let docker: any DockerEngine
    let reporter: any TaskReporter
    let configuration: AgentConfiguration
    /// Events received and not yet handled (see ``receive(_:)``).
    private var pendingEvents: [TaskEvent] = []
    private var handlingScheduled = false
    let stateFile: AgentStateFile
    let logger: Logger
    let bindIP: String
    /// Runs functions' execution environments (nil: this engine runs only plain tasks).
    let functions: FunctionHost?
    /// Serves tasks' role credentials to their containers (nil: tasks get none).
    let credentialsEndpoint: CredentialsEndpoint?
    let clock: @Sendable () -> Date
    var machine: TaskStateMachine
    var ports: PortAllocator
    let jobs: AsyncStream<Job>
    let jobQueue: AsyncStream<Job>.Continuation
    /// The previous CPU sample per container, for utilisation between two samples.
    var cpuSamples: [String: (usage: UInt64, at: ContinuousClock.Instant)] = [:]
    private var watching = false
    /// Containers whose `awslogs` output is being shipped (by Docker id).
    var shipping: Set<String> = []

    public init(
        docker: any DockerEngine,
        reporter: any TaskReporter,
        configuration: AgentConfiguration,
        bindIP: String = "0.0.0.0",
        functions: FunctionHost? = nil,
        credentialsEndpoint: CredentialsEndpoint? = nil,
        clock: @escaping @Sendable () -> Date = { Date() },
        logger: Logger
    ) throws {
        self.docker = docker
        self.reporter = reporter
        self.configuration = configuration
        self.bindIP = bindIP
        self.functions = functions
        self.credentialsEndpoint = credentialsEndpoint
        self.clock = clock
        self.logger = logger
        stateFile = AgentStateFile(directory: configuration.dataDirectory)
        var loaded = configuration.checkpoint ? try stateFile.load() : nil
        if let saved = loaded, saved.cluster != configuration.cluster {
            throw AgentConfiguration.Error(
                key: "ECS_CLUSTER",
                message: "data mismatch: the saved state in \(configuration.dataDirectory) is for cluster \(saved.cluster), not \(configuration.cluster); remove agent-state.json to join another cluster")
        }
        if loaded == nil { loaded = AgentState(cluster: configuration.cluster) }
        machine = TaskStateMachine(
            state: loaded!,
            settings: TaskStateMachine.Settings(
                cluster: configuration.cluster, defaultStopTimeout: Int(configuration.containerStopTimeout.components.seconds),
                containerStartTimeout: TimeInterval(configuration.containerStartTimeout.components.seconds),
                taskCleanupWait: TimeInterval(configuration.taskCleanupWait.components.seconds)))
        ports = PortAllocator(range: configuration.dynamicHostPortRange, bindIP: bindIP)
        (jobs, jobQueue) = AsyncStream<Job>.makeStream()
    }

    /// The instance this agent registered as last time, to re-register with.
    public var savedInstanceArn: String? { machine.state.instanceArn }

    /// What the machine knows now (for tests and the benchmark).
    public var state: AgentState { machine.state }

    /// Called once registered: remembers the identity and adopts what runs already.
    public func attach(instanceArn: String) async {
        if !watching {
            watching = true
            await functions?.setStopTask { [weak self] arn, reason in await self?.receive(.stopRequested(task: arn, reason: reason)) }
            jobQueue.yield(.watch(instanceArn: instanceArn))
        }
        functions?.attach(instanceArn: instanceArn)
        receive(.attached(instanceArn: instanceArn))
    }

    // MARK: TaskEngine

    public func handle(_ assignment: AgentAssignment) async {
        receive(.assigned(assignment))
    }

    public func streamLogs(_ request: LogRequest) async {
        jobQueue.yield(.logs(request))
    }

    public func exec(_ request: ExecRequest) async {
        jobQueue.yield(.exec(request))
    }

    public func run() async throws {
        // The loops end when the agent stops (cancellation); nothing else ends them. A discarding
        // group frees each finished action at once (a plain group keeps every child until it is
        // awaited: ~200 KB per task started, for the agent's life).
        await withDiscardingTaskGroup { group in
            group.addTask { await self.tickLoop() }
            for await job in jobs {
                switch job {
                case .action(let action):
                    group.addTask { await self.perform(action) }
                case .watch(let instanceArn):
                    group.addTask { try? await self.watchEvents() }
                    group.addTask { try? await self.sampleStatistics() }
                    group.addTask { await self.resumeLogShipping() }
                    if let functions { group.addTask { await functions.run(instanceArn: instanceArn) } }
                case .logs(let request):
                    group.addTask { await self.relayLogs(request) }
                case .exec(let request):
                    group.addTask { await self.runExec(request) }
                }
            }
            group.cancelAll()
        }
    }

    // MARK: Events in, actions out

    /// Feeds an event to the machine. Events that arrive together (a burst of starts, Docker's
    /// events for them) are handled in one turn and the state is saved once for all of them,
    /// before anything they decided is done (so a container's name is on disk before the
    /// container exists); then the actions run.
    func receive(_ event: TaskEvent) {
        pendingEvents.append(event)
        guard !handlingScheduled else { return }
        handlingScheduled = true
        Task { self.handlePending() }
    }

    private func handlePending() {
        handlingScheduled = false
        let events = pendingEvents
        pendingEvents = []
        var actions: [TaskAction] = []
        for event in events { actions += machine.handle(event, now: clock()) }
        if machine.isDirty {
            persist()
            machine.saved()
        }
        for action in actions { jobQueue.yield(.action(action)) }
    }

    private func persist() {
        guard configuration.checkpoint else { return }
        do {
            try stateFile.save(machine.state)
        } catch {
            logger.error("cannot save agent state", metadata: ["path": "\(stateFile.path)", "error": "\(error)"])
        }
    }

    /// Time passes for the machine: dependency waits, cleanup.
    private func tickLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            receive(.tick)
        }
    }

    // MARK: Docker's events

    /// Follows the engine's container events; after an interruption (dockerd restarted) the
    /// machine re-reads every container, since events may have been missed.
    func watchEvents() async throws {
        var delay: Duration = .milliseconds(250)
        while !Task.isCancelled {
            do {
                let events = try await docker.eventStream(labels: ["\(ContainerSpec.clusterLabel)=\(configuration.cluster)"])
                delay = .milliseconds(250)
                receive(.resynchronize)
                for try await event in events {
                    guard let labels = event.actor?.attributes, let arn = labels[ContainerSpec.taskLabel],
                        let name = labels[ContainerSpec.containerLabel]
                    else { continue }
                    if event.action.hasPrefix("health_status") {
                        let health = event.action.split(separator: ":").last.map { $0.trimmingWhitespace } ?? ""
                        receive(.health(task: arn, container: name, status: health))
                    } else {
                        receive(.dockerEvent(task: arn, container: name, action: event.action))
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                logger.info("Docker events interrupted; reconnecting", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: delay)
            delay = min(.seconds(10), delay * 2)
        }
    }
}
