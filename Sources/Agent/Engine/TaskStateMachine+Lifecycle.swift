#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes

/// Starting and stopping: the sequences each task goes through, one action at a time.
extension TaskStateMachine {
    /// Moves a task's sequence on when nothing of it is in flight: the next start step, or the
    /// stop once a stop is wanted.
    mutating func advance(_ arn: String, now: Date, actions: inout [TaskAction]) {
        guard let task = state.tasks[arn], var progress = progress[arn], progress.inFlight == 0, progress.adopting.isEmpty else { return }
        switch task.phase {
        case .pending:
            if task.desiredStopped { return beginStop(arn, now: now, actions: &actions) }
        case .running:
            if task.desiredStopped { return beginStop(arn, now: now, actions: &actions) }
            return
        case .stopping:
            return continueStop(arn, now: now, actions: &actions)
        case .stopped:
            return
        }
        switch progress.step {
        case .definition:
            if let spec = task.function {
                actions.append(.prepareEnvironment(task: arn, spec))
            } else {
                actions.append(.fetchDefinition(task: arn, reference: "\(task.family):\(task.revision)"))
            }
            progress.inFlight += 1
        case .images(let remaining):
            if task.pullStartedAt == nil { update(arn) { $0.pullStartedAt = now } }
            if let image = remaining.first {
                actions.append(.ensureImage(task: arn, image: image))
                progress.inFlight += 1
            } else {
                update(arn) { $0.pullStoppedAt = now }
                progress.step = .prepare
                self.progress[arn] = progress
                return advance(arn, now: now, actions: &actions)
            }
        case .prepare:
            actions.append(.prepare(task: arn))
            progress.inFlight += 1
        case .containers:
            self.progress[arn] = progress
            return startNextContainer(arn, now: now, actions: &actions)
        }
        self.progress[arn] = progress
    }

    /// Creates or starts the next container in start order once its dependencies allow; when
    /// every container has started, the task is RUNNING.
    private mutating func startNextContainer(_ arn: String, now: Date, actions: inout [TaskAction]) {
        guard let task = state.tasks[arn] else { return }
        guard let name = task.startOrder.first(where: { [.notCreated, .created].contains(task.container($0)?.status) }),
            let container = task.container(name)
        else {
            update(arn) { $0.phase = .running }
            progress[arn]?.waitingSince = nil
            if let report = report(arn) { actions.append(report) }
            return
        }
        let definition = task.definition?.containerDefinitions?.first { $0.name == name }
        switch dependencies(of: definition, in: task) {
        case .failed(let reason):
            fail(arn, reason)
            return advance(arn, now: now, actions: &actions)
        case .waiting:
            let since = progress[arn]?.waitingSince ?? now
            progress[arn]?.waitingSince = since
            let timeout = definition?.startTimeout.map(TimeInterval.init) ?? settings.containerStartTimeout
            if now.timeIntervalSince(since) >= timeout {
                fail(arn, "DockerTimeoutError: container \(name) timed out after \(Self.seconds(timeout)) waiting for its dependencies (startTimeout)")
                return advance(arn, now: now, actions: &actions)
            }
        case .met:
            progress[arn]?.waitingSince = nil
            progress[arn]?.inFlight += 1
            if let dockerId = container.dockerId, container.status == .created {
                actions.append(.startContainer(task: arn, container: name, dockerId: dockerId, environment: task.function != nil))
            } else {
                actions.append(.createContainer(task: arn, container: name))
            }
        }
    }

    enum Dependencies: Equatable {
        case met
        case waiting
        case failed(String)
    }

    /// Whether a container's `dependsOn` conditions and linked containers allow it to start.
    func dependencies(of definition: ContainerDefinition?, in task: ManagedTask) -> Dependencies {
        var waiting = false
        for (name, condition) in Self.conditions(of: definition) {
            guard let dependency = task.container(name) else { continue }
            switch condition {
            case .start:
                if dependency.status == .notCreated || dependency.status == .created { waiting = true }
            case .complete:
                if dependency.status != .stopped { waiting = true }
            case .success:
                if dependency.status != .stopped {
                    waiting = true
                } else if dependency.exitCode != 0 {
                    return .failed(
                        "DependencyConditionFailed: container \(name) exited with code \(dependency.exitCode ?? -1); \(definition?.name ?? "") needs it to succeed")
                }
            case .healthy:
                if dependency.status == .stopped {
                    return .failed("DependencyConditionFailed: container \(name) stopped before it became healthy")
                }
                if dependency.health != "healthy" { waiting = true }
            }
        }
        return waiting ? .waiting : .met
    }

    /// `dependsOn` conditions, plus START for each linked container.
    static func conditions(of definition: ContainerDefinition?) -> [(String, ContainerCondition)] {
        var conditions = (definition?.dependsOn ?? []).map { ($0.containerName, $0.condition) }
        for link in definition?.links ?? [] {
            let target = String(link.split(separator: ":").first ?? "")
            if !conditions.contains(where: { $0.0 == target }) { conditions.append((target, .start)) }
        }
        return conditions
    }

    static func seconds(_ interval: TimeInterval) -> String {
        interval == interval.rounded() ? "\(Int(interval)) seconds" : "\(interval) seconds"
    }

    // MARK: Stopping

    /// Stops every container in reverse start order (see ``continueStop``).
    mutating func beginStop(_ arn: String, now: Date, actions: inout [TaskAction]) {
        guard let task = state.tasks[arn], task.phase == .pending || task.phase == .running else { return }
        update(arn) { $0.phase = .stopping }
        continueStop(arn, now: now, actions: &actions)
    }

    /// Reverse dependency order: a container stops once nothing still running depends on it;
    /// containers at the same level stop together. When none runs any more, the task is STOPPED.
    mutating func continueStop(_ arn: String, now: Date, actions: inout [TaskAction]) {
        guard let task = state.tasks[arn], task.phase == .stopping, progress[arn]?.stopping.isEmpty ?? true else { return }
        let running = task.containers.filter { ($0.status == .running || $0.status == .created) && $0.dockerId != nil }
        guard !running.isEmpty else { return finishStop(arn, now: now, actions: &actions) }
        var prerequisites: [String: [String]] = [:]
        for container in task.definition?.containerDefinitions ?? [] {
            if let name = container.name { prerequisites[name] = StartOrder.prerequisites(of: container) }
        }
        let ready = running.filter { candidate in
            !running.contains { other in other.name != candidate.name && (prerequisites[other.name] ?? []).contains(candidate.name) }
        }
        for container in ready.isEmpty ? running : ready {
            guard let dockerId = container.dockerId else { continue }
            progress[arn, default: Progress()].stopping.insert(container.name)
            actions.append(.stopContainer(task: arn, container: container.name, dockerId: dockerId, timeout: container.stopTimeout))
        }
    }

    mutating func stopFinished(_ arn: String, _ name: String, _ inspection: ContainerInspection, now: Date, actions: inout [TaskAction]) {
        progress[arn]?.stopping.remove(name)
        apply(inspection, to: arn, name, started: false)
        if state.tasks[arn]?.container(name)?.status != .stopped {
            update(arn) { $0.updateContainer(name) { $0.status = .stopped } }
        }
        continueStop(arn, now: now, actions: &actions)
    }

    /// Containers never started count as stopped; an environment is released before STOPPED is reported.
    private mutating func finishStop(_ arn: String, now: Date, actions: inout [TaskAction]) {
        update(arn) { task in
            for name in task.startOrder where [.notCreated, .created].contains(task.container(name)?.status) {
                task.updateContainer(name) { $0.status = .stopped }
            }
            task.phase = .stopped
            task.stoppedAt = now
        }
        guard let task = state.tasks[arn] else { return }
        if task.function != nil {
            let container = task.containers.first
            progress[arn, default: Progress()].releasing = true
            actions.append(
                .releaseEnvironment(
                    task: arn, started: container?.dockerId != nil && container?.exitCode != nil, exitCode: container?.exitCode,
                    outOfMemory: container?.reason?.hasPrefix("OutOfMemoryError") ?? false, reason: task.stopReason))
            return
        }
        if let report = report(arn) { actions.append(report) }
    }

    // MARK: Reporting

    /// RUNNING or STOPPED with every container, as SubmitTaskStateChange takes it.
    func report(_ arn: String) -> TaskAction? {
        guard let task = state.tasks[arn] else { return nil }
        let status: ContainerRunStatus
        switch task.phase {
        case .running: status = .running
        case .stopped: status = .stopped
        default: return nil
        }
        return .report(
            SubmitTaskStateChangeRequest(
                task: arn, status: status.rawValue, reason: status == .stopped ? task.stopReason : nil,
                containers: task.containers.map(Self.containerChange),
                pullStartedAt: task.pullStartedAt, pullStoppedAt: task.pullStoppedAt,
                executionStoppedAt: status == .stopped ? task.stoppedAt : nil))
    }

    static func containerChange(_ container: ManagedContainer) -> ContainerStateChange {
        ContainerStateChange(
            containerName: container.name,
            runtimeId: container.dockerId,
            exitCode: container.status == .stopped ? container.exitCode : nil,
            networkBindings: container.bindings.map {
                NetworkBinding(bindIP: $0.bindIP, containerPort: $0.containerPort, hostPort: $0.hostPort, protocol: $0.proto == "udp" ? .udp : .tcp)
            },
            reason: container.reason,
            status: (container.status == .running ? ContainerRunStatus.running : container.status == .stopped ? .stopped : .pending).rawValue)
    }

    mutating func reported(_ arn: String, _ status: ContainerRunStatus, accepted: Bool) {
        guard accepted, state.tasks[arn] != nil else { return }
        update(arn) {
            if status == .running { $0.reportedRunning = true }
            if status == .stopped {
                $0.reportedStopped = true
                // Its dynamic host ports are free for other tasks.
                $0.dynamicPorts = [:]
            }
        }
    }

    // MARK: Time

    mutating func tick(now: Date, actions: inout [TaskAction]) {
        for arn in state.tasks.keys.sorted() {
            guard let task = state.tasks[arn] else { continue }
            if task.phase == .pending, progress[arn]?.waitingSince != nil {
                // Health shows up in Docker's events only on change; ask the engine too.
                let definition = task.definition?.containerDefinitions?.first { $0.name == nextContainer(of: task) }
                for (name, condition) in Self.conditions(of: definition) where condition == .healthy {
                    guard let dependency = task.container(name), dependency.health != "healthy" else { continue }
                    actions.append(.inspect(task: arn, container: name, reference: dependency.dockerId ?? dependency.dockerName))
                }
                advance(arn, now: now, actions: &actions)
            }
            if task.phase == .stopped, task.reportedStopped, !(progress[arn]?.cleaning ?? false), let stoppedAt = task.stoppedAt {
                // Execution environments leave nothing worth inspecting: they go after a minute.
                let keep = task.function != nil ? min(settings.taskCleanupWait, 60) : settings.taskCleanupWait
                guard now.timeIntervalSince(stoppedAt) >= keep else { continue }
                progress[arn, default: Progress()].cleaning = true
                actions.append(.remove(task: arn, containers: task.containers.map { $0.dockerId ?? $0.dockerName }, volumes: task.taskVolumes))
            }
        }
    }

    func nextContainer(of task: ManagedTask) -> String? {
        task.startOrder.first { [.notCreated, .created].contains(task.container($0)?.status) }
    }
}
