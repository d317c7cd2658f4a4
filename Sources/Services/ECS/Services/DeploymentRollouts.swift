import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import StevedoreCore
import HashTreeCollections

/// Rolling deployments after each pass: counts, completion, steady state, rollbacks, and what a
/// service's tasks reaching RUNNING or stopping mean for them.
extension ECSState {
    // MARK: Deployments

    mutating func updateDeployments(_ record: inout ServiceRecord, pass: inout ServicePass, changes: inout ChangeSet) {
        guard var deployments = record.service.deployments, !deployments.isEmpty else { return }
        let live = liveTasks(of: record).filter { !pass.isStopped($0) }
        var perDeployment: [String: (running: Int, pending: Int, healthy: Int)] = [:]
        for task in live {
            var counts = perDeployment[task.task.startedBy ?? ""] ?? (0, 0, 0)
            if task.lastStatus == .running { counts.running += 1 } else { counts.pending += 1 }
            if isHealthy(task) { counts.healthy += 1 }
            perDeployment[task.task.startedBy ?? ""] = counts
        }
        reportStoppedTasks(&pass)
        let desired = record.service.desiredCount ?? 0
        // Older deployments without tasks are done.
        deployments.removeAll { deployment in
            deployment.deploymentStatus != .primary && (perDeployment[deployment.id ?? ""].map { $0.running + $0.pending } ?? 0) == 0
        }
        for index in deployments.indices {
            let counts = perDeployment[deployments[index].id ?? ""] ?? (0, 0, 0)
            deployments[index].runningCount = counts.running
            deployments[index].pendingCount = counts.pending
        }
        guard let primaryIndex = deployments.firstIndex(where: { $0.deploymentStatus == .primary }) else {
            record.service.deployments = deployments
            return
        }
        let primaryCounts = perDeployment[deployments[primaryIndex].id ?? ""] ?? (0, 0, 0)
        let settled = deployments.count == 1 && primaryCounts.pending == 0 && primaryCounts.healthy == desired
            && primaryCounts.running == desired
        if settled, deployments[primaryIndex].rolloutState == .inProgress {
            let id = deployments[primaryIndex].id ?? ""
            deployments[primaryIndex].rolloutState = .completed
            deployments[primaryIndex].rolloutStateReason = "ECS deployment \(id) completed."
            deployments[primaryIndex].updatedAt = pass.now
            record.scheduler.lastCompletedTaskDefinition = deployments[primaryIndex].taskDefinition
            record.scheduler.lastCompletedRevision = record.scheduler.revisionOfDeployment?[id]
            pass.events.append("(deployment \(id)) deployment completed.")
            serviceDeploymentCompleted(record, deploymentId: id, now: pass.now, changes: &changes)
        }
        record.service.deployments = deployments
        record.service.runningCount = live.filter { $0.lastStatus == .running }.count
        record.service.pendingCount = live.filter { $0.lastStatus != .running }.count

        if record.service.serviceStatus == .draining, live.isEmpty {
            record.service.serviceStatus = .inactive
            return
        }
        let steady = settled && deployments[primaryIndex].rolloutState == .completed && !pass.changed
        noteSteadyState(&record, steady: steady, pass: &pass)
    }

    /// "has stopped N running tasks" for the running tasks this pass stopped.
    func reportStoppedTasks(_ pass: inout ServicePass) {
        let running = pass.stopped.filter(\.hasRun)
        guard !running.isEmpty else { return }
        let ids = running.map { "(task \(ARN($0.arn)?.lastPathComponent ?? $0.arn))" }.joined(separator: " ")
        pass.events.append("has stopped \(running.count) running tasks: \(ids).")
    }

    /// ECS's steady-state event: when a service becomes steady, and again every
    /// `steadyStateEventInterval` while it stays so.
    func noteSteadyState(_ record: inout ServiceRecord, steady: Bool, pass: inout ServicePass) {
        if steady {
            let last = record.scheduler.lastSteadyStateEventAt ?? .distantPast
            if !record.scheduler.steady || pass.now.timeIntervalSince(last) >= settings.steadyStateEventInterval {
                pass.events.append("has reached a steady state.")
                record.scheduler.lastSteadyStateEventAt = pass.now
            }
        }
        record.scheduler.steady = steady
    }

    mutating func rollBack(
        _ record: inout ServiceRecord,
        now: Date,
        pass: inout ServicePass,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) {
        record.scheduler.rollbackPending = false
        // StopServiceDeployment names where to go (even the same task definition, restarted);
        // the circuit breaker goes back to the last deployment that completed.
        let requested = record.scheduler.rollbackTarget
        let requestedRevision = record.scheduler.rollbackRevision
        record.scheduler.rollbackTarget = nil
        record.scheduler.rollbackRevision = nil
        guard let target = requested ?? record.scheduler.lastCompletedTaskDefinition,
            var deployments = record.service.deployments,
            let failedIndex = deployments.firstIndex(where: { $0.deploymentStatus == .primary }),
            requested != nil || deployments[failedIndex].taskDefinition != target
        else {
            if let primary = record.service.deployments?.first(where: { $0.deploymentStatus == .primary })?.id {
                serviceDeploymentRollbackImpossible(record, deploymentId: primary, now: now, changes: &changes)
            }
            return
        }
        let failedId = deployments[failedIndex].id ?? ""
        deployments[failedIndex].deploymentStatus = .active
        if deployments[failedIndex].rolloutState == .inProgress {
            // Rolled back on request: its tasks failing now no longer count against it.
            deployments[failedIndex].rolloutState = .failed
            deployments[failedIndex].rolloutStateReason = "ECS deployment \(failedId) rolled back on request."
            deployments[failedIndex].updatedAt = now
        }
        // The revision gone back to brings its settings back with its task definition.
        if let revision = (requested != nil ? requestedRevision : record.scheduler.lastCompletedRevision).flatMap({ serviceRevisions[$0] }),
            revision.taskDefinition == target
        {
            record.service.loadBalancers = revision.loadBalancers
            record.service.serviceRegistries = revision.serviceRegistries
            record.service.networkConfiguration = revision.networkConfiguration
            record.service.capacityProviderStrategy = revision.capacityProviderStrategy
            record.service.launchType = revision.launchType
        }
        let rollback = newDeployment(
            taskDefinition: target, desiredCount: record.service.desiredCount ?? 0, launchType: record.service.launchType,
            strategy: record.service.capacityProviderStrategy, now: now, scheduler: &record.scheduler, using: &generator)
        deployments.insert(rollback, at: 0)
        record.service.deployments = deployments
        serviceDeploymentRollingBack(&record, failedId: failedId, rollback: rollback, now: now, changes: &changes)
        record.service.taskDefinition = target
        record.scheduler.consecutiveFailedLaunches = 0
        record.scheduler.nextLaunchAt = nil
        pass.events.append("(deployment \(rollback.id ?? "")) deployment rolling back: deployment \(failedId) failed and was rolled back to \(target).")
        pass.changed = true
    }

    // MARK: Task outcomes

    /// Bookkeeping when one of a service's tasks reached RUNNING.
    mutating func noteServiceTaskRunning(_ task: TaskRecord, now: Date, changes: inout ChangeSet) {
        guard let arn = task.serviceArn, var record = services[arn] else { return }
        var changed = false
        if record.scheduler.consecutiveFailedLaunches != 0 || record.scheduler.nextLaunchAt != nil {
            record.scheduler.consecutiveFailedLaunches = 0
            record.scheduler.nextLaunchAt = nil
            changed = true
        }
        // ECS's words when a task joins its service's target groups.
        for (index, group) in Set(record.loadBalancers(of: task).compactMap(\.targetGroupArn)).sorted().enumerated() {
            record.service.events = Self.prependDeterministic(
                event: "(service \(record.name)) registered 1 targets in (target-group \(group))", to: record.service.events, now: now,
                seed: task.assignmentSequence &+ index)
            changed = true
        }
        if changed { putService(record, changes: &changes) }
    }

    /// Bookkeeping when one of a service's tasks stopped without being asked to: the launch
    /// back-off, the deployment's failed-task count and its circuit breaker.
    mutating func noteServiceTaskStopped(_ task: TaskRecord, now: Date, changes: inout ChangeSet) {
        guard let arn = task.serviceArn, var record = services[arn] else { return }
        if task.task.stopCode == .userInitiated || task.task.stopCode == .serviceSchedulerInitiated { return }
        record.scheduler.steady = false
        if task.task.stopCode == .taskFailedToStart {
            record.scheduler.consecutiveFailedLaunches += 1
            let delay = settings.launchDelay(afterFailures: record.scheduler.consecutiveFailedLaunches)
            record.scheduler.nextLaunchAt = now.addingTimeInterval(delay)
        }
        if var deployments = record.service.deployments,
            let index = deployments.firstIndex(where: { $0.id == task.task.startedBy }),
            deployments[index].rolloutState == .inProgress
        {
            deployments[index].failedTasks = (deployments[index].failedTasks ?? 0) + 1
            let breaker = record.service.deploymentConfiguration?.deploymentCircuitBreaker
            let threshold = settings.circuitBreakerThreshold(desired: deployments[index].desiredCount ?? 0)
            let tripped = breaker?.enable == true && deployments[index].failedTasks! >= threshold
            // As rollBack decides: there must be a completed task definition other than this one.
            let canRollBack = record.scheduler.lastCompletedTaskDefinition.map { $0 != deployments[index].taskDefinition } ?? false
            serviceDeploymentTaskFailed(
                record, deploymentId: deployments[index].id ?? "", failures: deployments[index].failedTasks!, tripped: tripped,
                rollingBack: tripped && breaker?.rollback == true && deployments[index].deploymentStatus == .primary && canRollBack,
                now: now, changes: &changes)
            if tripped {
                let id = deployments[index].id ?? ""
                deployments[index].rolloutState = .failed
                deployments[index].rolloutStateReason =
                    "ECS deployment circuit breaker: tasks failed to start or stay running (\(deployments[index].failedTasks!) failures, threshold \(threshold))."
                deployments[index].updatedAt = now
                record.service.events = Self.prependDeterministic(
                    event: "(service \(record.name)) (deployment \(id)) deployment failed: tasks failed to start.",
                    to: record.service.events, now: now, seed: record.service.events?.count ?? 0)
                if breaker?.rollback == true, deployments[index].deploymentStatus == .primary {
                    record.scheduler.rollbackPending = true
                }
            }
            record.service.deployments = deployments
        }
        putService(record, changes: &changes)
    }
}
