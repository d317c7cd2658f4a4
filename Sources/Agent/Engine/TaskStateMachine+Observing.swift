#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes

/// What Docker says about containers, and what follows: exits, health, restarts of the agent and
/// of dockerd.
extension TaskStateMachine {
    /// Records what an inspection saw. A container that is gone counts as killed; one that could
    /// not be inspected keeps what was known (a container just started runs until an event says otherwise).
    mutating func apply(_ inspection: ContainerInspection, to arn: String, _ name: String, started: Bool) {
        update(arn) { task in
            task.updateContainer(name) { container in
                let observation: ContainerObservation
                switch inspection {
                case .unavailable:
                    if started { container.status = .running }
                    return
                case .gone:
                    if started {
                        container.status = .running
                    } else if container.status != .notCreated {
                        container.status = .stopped
                        container.reason = container.reason ?? "ContainerVanishedError: the container no longer exists on this host"
                        container.exitCode = container.exitCode ?? 137
                    }
                    return
                case .seen(let seen):
                    observation = seen
                }
                container.dockerId = observation.dockerId
                container.health = observation.health ?? container.health
                switch observation.status {
                case .running:
                    container.status = .running
                case .created:
                    container.status = .created
                case .exited:
                    container.status = .stopped
                    container.exitCode = observation.exitCode
                    if observation.oomKilled {
                        container.reason = "OutOfMemoryError: Container killed due to memory usage"
                    } else if let error = observation.error, !error.isEmpty {
                        container.reason = "DockerStateError: \(error)"
                    }
                }
                if !observation.bindings.isEmpty {
                    container.bindings = observation.bindings.sorted { ($0.containerPort, $0.bindIP) < ($1.containerPort, $1.bindIP) }
                }
            }
        }
    }

    mutating func observe(_ arn: String, _ name: String, _ inspection: ContainerInspection, now: Date, actions: inout [TaskAction]) {
        guard let before = state.tasks[arn]?.container(name) else { return }
        apply(inspection, to: arn, name, started: false)
        if progress[arn]?.adopting.remove(name) != nil {
            if progress[arn]?.adopting.isEmpty == true { adopt(arn, now: now, actions: &actions) }
            return
        }
        let exited = before.status != .stopped && state.tasks[arn]?.container(name)?.status == .stopped
        if exited {
            containerExited(arn, name, now: now, actions: &actions)
        } else {
            containerChanged(arn, name, now: now, actions: &actions)
        }
    }

    /// A container's state changed: a dependency may now allow the next one to start.
    mutating func containerChanged(_ arn: String, _ name: String, now: Date, actions: inout [TaskAction]) {
        if let container = state.tasks[arn]?.container(name), container.status == .stopped {
            return containerExited(arn, name, now: now, actions: &actions)
        }
        advance(arn, now: now, actions: &actions)
    }

    /// A container stopped on its own: an essential one ends the task, others are reported.
    mutating func containerExited(_ arn: String, _ name: String, now: Date, actions: inout [TaskAction]) {
        guard let task = state.tasks[arn], let container = task.container(name) else { return }
        switch task.phase {
        case .stopping, .stopped:
            return
        case .pending, .running:
            if container.essential {
                update(arn) {
                    $0.desiredStopped = true
                    $0.stopReason = $0.stopReason ?? "Essential container in task exited"
                }
            } else if task.phase == .running {
                actions.append(
                    .reportContainer(
                        SubmitContainerStateChangeRequest(
                            task: arn, containerName: name, runtimeId: container.dockerId, status: ContainerRunStatus.stopped.rawValue, exitCode: container.exitCode,
                            reason: container.reason)))
            }
            // While starting, the sequence notices at its next step (a success dependency may have finished).
            advance(arn, now: now, actions: &actions)
        }
    }

    /// Docker's events: a container of a task started, died, was killed or stopped.
    mutating func dockerEvent(_ arn: String, _ name: String, _ kind: String, actions: inout [TaskAction]) {
        guard let task = state.tasks[arn], let container = task.container(name) else { return }
        switch kind {
        case "die", "oom", "kill", "stop", "start":
            actions.append(.inspect(task: arn, container: name, reference: container.dockerId ?? container.dockerName))
        default:
            return
        }
    }

    mutating func healthChanged(_ arn: String, _ name: String, _ health: String, now: Date, actions: inout [TaskAction]) {
        guard let task = state.tasks[arn], task.container(name) != nil else { return }
        update(arn) { $0.updateContainer(name) { $0.health = health } }
        if task.phase == .running, health == "healthy" || health == "unhealthy", let report = report(arn) {
            actions.append(report)
        }
        // A dependency's health may be what the next container waits for.
        if task.phase == .pending { advance(arn, now: now, actions: &actions) }
    }

    // MARK: Restarts

    /// Registered: remembers the identity and, the first time, adopts what runs already.
    mutating func attach(_ instanceArn: String, now: Date, actions: inout [TaskAction]) {
        if state.instanceArn != instanceArn {
            state.instanceArn = instanceArn
            isDirty = true
        }
        guard !attached else { return }
        attached = true
        let known = Set(state.tasks.values.flatMap { $0.containers.map(\.dockerName) })
        actions.append(.removeOrphans(instance: instanceArn, keeping: known))
        for arn in state.tasks.keys.sorted() {
            guard let task = state.tasks[arn] else { continue }
            var progress = Progress()
            if task.definition != nil { progress.step = .images(task.function == nil ? startOrderImages(of: task) : []) }
            progress.adopting = Set(task.containers.map(\.name))
            self.progress[arn] = progress
            for container in task.containers {
                actions.append(.inspect(task: arn, container: container.name, reference: container.dockerId ?? container.dockerName))
            }
            if task.containers.isEmpty { adopt(arn, now: now, actions: &actions) }
        }
    }

    private func startOrderImages(of task: ManagedTask) -> [String] {
        let byName = Dictionary(
            (task.definition?.containerDefinitions ?? []).compactMap { c in c.name.map { ($0, c) } }, uniquingKeysWith: { a, _ in a })
        return task.startOrder.compactMap { byName[$0]?.image }
    }

    /// Every container of a saved task was inspected: carry on from where the previous agent
    /// stopped, without starting anything twice.
    mutating func adopt(_ arn: String, now: Date, actions: inout [TaskAction]) {
        guard let task = state.tasks[arn] else { return }
        if task.function != nil, task.phase == .pending || task.phase == .running {
            // An environment's Runtime API lived in the previous agent process: it cannot be resumed.
            update(arn) {
                $0.phase = .running
                $0.desiredStopped = true
                $0.stopReason = "The agent restarted; execution environments do not survive that"
            }
            return beginStop(arn, now: now, actions: &actions)
        }
        switch task.phase {
        case .pending:
            // Restart the start sequence: pulls find the images, volumes and ports are kept,
            // containers already created or running are adopted, not created again.
            advance(arn, now: now, actions: &actions)
        case .running:
            if task.containers.contains(where: { $0.essential && $0.status == .stopped }) {
                update(arn) {
                    $0.desiredStopped = true
                    $0.stopReason = $0.stopReason ?? "Essential container in task exited"
                }
                beginStop(arn, now: now, actions: &actions)
            } else if !task.reportedRunning, let report = report(arn) {
                actions.append(report)
            }
        case .stopping:
            update(arn) { $0.phase = .running }
            beginStop(arn, now: now, actions: &actions)
        case .stopped:
            if !task.reportedStopped, let report = report(arn) { actions.append(report) }
        }
    }

    /// After dockerd restarted: re-read every container of every live task (events were missed).
    mutating func resynchronize(actions: inout [TaskAction]) {
        for arn in state.tasks.keys.sorted() {
            guard let task = state.tasks[arn], task.phase == .running || task.phase == .pending else { continue }
            for container in task.containers where container.status != .notCreated {
                actions.append(.inspect(task: arn, container: container.name, reference: container.dockerId ?? container.dockerName))
            }
        }
    }
}
