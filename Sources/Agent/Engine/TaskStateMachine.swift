#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import StevedoreCore

/// The agent's decisions about the tasks it runs, apart from doing them: events go in (an
/// assignment, a Docker event, the answer to an action, a timer tick), actions come out for the
/// executor to carry out (pull, create, start, inspect, stop, report, remove). Nothing here waits,
/// reads a clock or touches Docker, so every rule is tested as a table, without Docker.
///
/// A task moves pending → running → stopping → stopped. Starting it fetches what it runs (its
/// definition travels with its assignment; an execution environment is prepared by the function
/// host), pulls its images, prepares its volumes and ports, then creates and starts each container
/// in `dependsOn`/`links` order, waiting for dependency conditions within `startTimeout`. Stopping
/// it stops containers in reverse dependency order, each with its `stopTimeout`. Every change the
/// control plane must know is reported; stopped tasks are removed after the cleanup wait. After a
/// restart of the agent the saved tasks are inspected and adopted; after a restart of dockerd their
/// containers are inspected again.
public struct TaskStateMachine: Sendable {
    /// What the agent's configuration decides for every task.
    public struct Settings: Sendable, Equatable {
        public var cluster: String
        /// Seconds a container gets between SIGTERM and SIGKILL, unless its definition says otherwise.
        public var defaultStopTimeout: Int
        /// Seconds a container may wait for its dependencies, unless its definition says otherwise.
        public var containerStartTimeout: TimeInterval
        /// Seconds a stopped task's containers are kept before removal.
        public var taskCleanupWait: TimeInterval

        public init(cluster: String, defaultStopTimeout: Int = 30, containerStartTimeout: TimeInterval = 180, taskCleanupWait: TimeInterval = 3 * 3600) {
            self.cluster = cluster
            self.defaultStopTimeout = defaultStopTimeout
            self.containerStartTimeout = containerStartTimeout
            self.taskCleanupWait = taskCleanupWait
        }
    }

    /// Where a pending task's start sequence is.
    enum Step: Sendable, Equatable {
        /// Waiting for its definition (fetched, or prepared for an execution environment).
        case definition
        case images([String])
        case prepare
        case containers
    }

    /// What the machine tracks about a task beyond what is saved (memory only).
    struct Progress: Sendable, Equatable {
        var step: Step = .definition
        /// Actions of the start or stop sequence not answered yet.
        var inFlight = 0
        /// Since when the next container has waited for its dependencies.
        var waitingSince: Date?
        /// Containers to inspect after a restart before the task is adopted.
        var adopting: Set<String> = []
        /// Containers whose stop is under way.
        var stopping: Set<String> = []
        /// Waiting for the function host to release the environment before reporting STOPPED.
        var releasing = false
        var cleaning = false
    }

    public let settings: Settings
    /// Saved across restarts (``AgentState``); `isDirty` says when it changed.
    public internal(set) var state: AgentState
    var progress: [String: Progress] = [:]
    var random: Xoshiro256
    var attached = false
    /// Set by any change to ``state``; the executor saves the state and clears it.
    public internal(set) var isDirty = false

    public init(state: AgentState, settings: Settings, random: Xoshiro256 = Xoshiro256()) {
        self.state = state
        self.settings = settings
        self.random = random
    }

    /// The executor saved the state.
    public mutating func saved() { isDirty = false }

    /// Feeds one event; returns what to do, in order.
    public mutating func handle(_ event: TaskEvent, now: Date) -> [TaskAction] {
        var actions: [TaskAction] = []
        switch event {
        case .assigned(let assignment):
            accept(assignment, now: now, actions: &actions)
        case .attached(let instanceArn):
            attach(instanceArn, now: now, actions: &actions)
        case .definitionFetched(let arn, let definition):
            finishStep(arn)
            if let definition {
                define(arn, definition)
            } else if let task = state.tasks[arn] {
                fail(arn, "CannotStartContainerError: the task definition \(task.family):\(task.revision) could not be fetched")
            }
            advance(arn, now: now, actions: &actions)
        case .environmentPrepared(let arn, let definition):
            finishStep(arn)
            define(arn, definition)
            advance(arn, now: now, actions: &actions)
        case .environmentFailed(let arn, let reason):
            finishStep(arn)
            fail(arn, "CannotStartContainerError: \(reason)")
            advance(arn, now: now, actions: &actions)
        case .imageReady(let arn):
            finishStep(arn)
            if case .images(let remaining) = progress[arn]?.step { progress[arn]?.step = .images(Array(remaining.dropFirst())) }
            advance(arn, now: now, actions: &actions)
        case .imageFailed(let arn, let reason), .prepareFailed(let arn, let reason):
            finishStep(arn)
            fail(arn, reason)
            advance(arn, now: now, actions: &actions)
        case .prepared(let arn, let volumes, let taskVolumes, let ports):
            finishStep(arn)
            update(arn) {
                $0.volumeSources = volumes
                $0.taskVolumes = taskVolumes
                $0.dynamicPorts = ports
            }
            progress[arn]?.step = .containers
            advance(arn, now: now, actions: &actions)
        case .containerCreated(let arn, let name, let dockerId):
            finishStep(arn)
            update(arn) {
                $0.updateContainer(name) { container in
                    container.dockerId = dockerId
                    container.status = .created
                }
            }
            advance(arn, now: now, actions: &actions)
        case .containerStarted(let arn, let name, let observation):
            finishStep(arn)
            apply(observation, to: arn, name, started: true)
            containerChanged(arn, name, now: now, actions: &actions)
        case .containerFailed(let arn, _, let reason):
            finishStep(arn)
            fail(arn, reason)
            advance(arn, now: now, actions: &actions)
        case .observed(let arn, let name, let observation):
            observe(arn, name, observation, now: now, actions: &actions)
        case .dockerEvent(let arn, let name, let kind):
            dockerEvent(arn, name, kind, actions: &actions)
        case .health(let arn, let name, let health):
            healthChanged(arn, name, health, now: now, actions: &actions)
        case .containerStopFinished(let arn, let name, let observation):
            stopFinished(arn, name, observation, now: now, actions: &actions)
        case .environmentReleased(let arn):
            progress[arn]?.releasing = false
            if let report = report(arn) { actions.append(report) }
        case .reported(let arn, let status, let accepted):
            reported(arn, status, accepted: accepted)
        case .removed(let arn, let succeeded):
            progress[arn]?.cleaning = false
            if succeeded, state.tasks[arn] != nil {
                state.tasks[arn] = nil
                progress[arn] = nil
                isDirty = true
            }
        case .stopRequested(let arn, let reason):
            guard let task = state.tasks[arn], !task.desiredStopped else { break }
            update(arn) {
                $0.desiredStopped = true
                $0.stopReason = $0.stopReason ?? String(reason.prefix(255))
            }
            advance(arn, now: now, actions: &actions)
        case .resynchronize:
            resynchronize(actions: &actions)
        case .tick:
            tick(now: now, actions: &actions)
        }
        return actions
    }

    // MARK: Assignments

    func isKnown(_ arn: String) -> Bool { state.tasks[arn] != nil }

    private mutating func accept(_ assignment: AgentAssignment, now: Date, actions: inout [TaskAction]) {
        let task = assignment.task
        guard let arn = task.taskArn else { return }
        let desired = task.desiredTaskStatus ?? .running
        if let managed = state.tasks[arn] {
            if desired == .stopped, !managed.desiredStopped {
                update(arn) {
                    $0.desiredStopped = true
                    $0.stopReason = $0.stopReason ?? task.stoppedReason
                }
                advance(arn, now: now, actions: &actions)
            }
            return
        }
        guard desired == .running else {
            // Stopped before this agent ever ran it (or after it forgot it): tell the control plane.
            if task.taskStatus != .stopped {
                actions.append(.report(SubmitTaskStateChangeRequest(task: arn, status: TaskStatus.stopped.rawValue, reason: task.stoppedReason)))
            }
            return
        }
        let reference = ARN(task.taskDefinitionArn ?? "")?.lastPathComponent ?? ""
        let family = assignment.function.map { "lambda-\($0.functionName)" } ?? String(reference.split(separator: ":").first ?? "")
        let revision = assignment.function.map { Int($0.version) ?? 0 } ?? Int(reference.split(separator: ":").last ?? "") ?? 0
        state.tasks[arn] = ManagedTask(
            arn: arn, family: family, revision: revision, phase: .pending, containers: [], startOrder: [], function: assignment.function,
            overrides: task.overrides)
        isDirty = true
        progress[arn] = Progress()
        if let definition = assignment.taskDefinition, assignment.function == nil { define(arn, definition) }
        advance(arn, now: now, actions: &actions)
    }

    /// The task's definition is known: its containers get their Docker names (saved before any is created).
    mutating func define(_ arn: String, _ definition: TaskDefinition) {
        guard let task = state.tasks[arn] else { return }
        let suffix = String(random.next(), radix: 16)
        let defaultStopTimeout = settings.defaultStopTimeout
        update(arn) { managed in
            managed.definition = definition
            if let family = definition.family { managed.family = family }
            if let revision = definition.revision { managed.revision = revision }
            guard managed.containers.isEmpty else { return }
            managed.containers = (definition.containerDefinitions ?? []).map { container in
                ManagedContainer(
                    name: container.name ?? "",
                    dockerName: ContainerNaming.dockerName(
                        family: managed.family, revision: managed.revision, container: container.name ?? "", suffix: suffix),
                    essential: container.essential ?? true,
                    stopTimeout: container.stopTimeout ?? defaultStopTimeout)
            }
            managed.startOrder = StartOrder.sorted(definition.containerDefinitions ?? [])
        }
        if progress[arn]?.step == .definition {
            // An execution environment's image is the function host's; a task's are pulled here.
            let images = task.function == nil ? startOrderImages(definition, order: state.tasks[arn]?.startOrder ?? []) : []
            progress[arn]?.step = .images(images)
        }
    }

    private func startOrderImages(_ definition: TaskDefinition, order: [String]) -> [String] {
        let byName = Dictionary((definition.containerDefinitions ?? []).compactMap { c in c.name.map { ($0, c) } }, uniquingKeysWith: { a, _ in a })
        return order.compactMap { byName[$0]?.image }
    }

    // MARK: State

    /// Changes a saved task and marks the state for saving.
    mutating func update(_ arn: String, _ change: (inout ManagedTask) -> Void) {
        guard var managed = state.tasks[arn] else { return }
        let before = managed
        change(&managed)
        guard managed != before else { return }
        state.tasks[arn] = managed
        isDirty = true
    }

    /// An action of the sequence was answered.
    mutating func finishStep(_ arn: String) {
        guard let count = progress[arn]?.inFlight, count > 0 else { return }
        progress[arn]?.inFlight = count - 1
    }

    /// The task cannot start: it stops with this reason (the first reason wins).
    mutating func fail(_ arn: String, _ reason: String) {
        update(arn) {
            $0.stopReason = $0.stopReason ?? String(reason.prefix(1024))
            $0.desiredStopped = true
        }
    }

    /// Tasks this agent runs, for the executor's statistics and logs.
    public func task(_ arn: String) -> ManagedTask? { state.tasks[arn] }
}

/// The Docker names of a task's containers: `ecs-<family>-<revision>-<name>-<hex>`, as the real agent names them.
public enum ContainerNaming {
    public static func dockerName(family: String, revision: Int, container: String, suffix: String) -> String {
        let clean = { (text: String) in String(text.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) }
        return "ecs-\(clean(family))-\(revision)-\(clean(container))-\(suffix)"
    }
}
