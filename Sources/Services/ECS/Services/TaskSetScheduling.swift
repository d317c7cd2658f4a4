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

/// The service scheduler's pass over services deployed through task sets (EXTERNAL).
extension ECSState {
    // MARK: Task sets

    /// Keeps each task set of an EXTERNAL service at its computed count (the service's desired
    /// count times the set's scale): tasks of sets being deleted, or of none, stop; tasks on
    /// draining instances are replaced; each set scales in and out on its own.
    mutating func reconcileTaskSets(
        _ record: inout ServiceRecord,
        cluster: ClusterRef,
        pass: inout ServicePass,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) {
        let desired = record.service.desiredCount ?? 0
        var live = liveTasks(of: record)
        stopUnhealthy(&live, pass: &pass, changes: &changes)
        let protectionHolds = record.service.serviceStatus != .draining
        func isProtected(_ task: TaskRecord) -> Bool { protectionHolds && task.isProtected(at: pass.now) }
        let sets = (record.service.taskSets ?? []).filter { $0.status != TaskSetStatus.draining.rawValue }
        let kept = Set(sets.compactMap(\.id))
        for task in live where !kept.contains(task.task.startedBy ?? "") && !isProtected(task) {
            stop(task, reason: "Scaling activity initiated by (deployment \(task.task.startedBy ?? ""))", pass: &pass, changes: &changes)
        }
        live.removeAll { pass.isStopped($0) }
        let launchesWait = record.scheduler.nextLaunchAt.map { pass.now < $0 } ?? false
        for set in sets {
            let id = set.id ?? ""
            let computed = Self.computedDesiredCount(desired: desired, scale: set.scale)
            for task in live where task.task.startedBy == id && isOnDrainingInstance(task) {
                stop(task, reason: replacementReason(task, draining: true, primaryId: id), pass: &pass, changes: &changes)
            }
            let keep = live.filter { $0.task.startedBy == id && !pass.isStopped($0) }
            if keep.count > computed {
                for task in scaleInOrder(keep.filter { !isProtected($0) }).prefix(keep.count - computed) {
                    stop(task, reason: "Scaling activity initiated by (deployment \(id))", pass: &pass, changes: &changes)
                }
            }
            let starts = computed - keep.count
            guard starts > 0 else { continue }
            if launchesWait {
                pass.warn("is unable to consistently start tasks successfully.", last: &record.scheduler.lastThrottleEventAt, interval: settings.repeatedEventInterval)
                continue
            }
            let deployment = Deployment(
                id: id, taskDefinition: set.taskDefinition, capacityProviderStrategy: set.capacityProviderStrategy, launchType: set.launchType)
            launch(starts, for: &record, deployment: deployment, cluster: cluster, onlyOn: nil, pass: &pass, using: &generator, changes: &changes)
        }
    }

    /// A task set's counts and stability after a pass; sets being deleted go once their tasks
    /// have stopped, with their tags.
    mutating func updateTaskSets(_ record: inout ServiceRecord, pass: inout ServicePass, changes: inout ChangeSet) {
        let live = liveTasks(of: record).filter { !pass.isStopped($0) }
        reportStoppedTasks(&pass)
        let desired = record.service.desiredCount ?? 0
        var sets = record.service.taskSets ?? []
        var allSteady = true
        // A set being deleted stays DRAINING until its tasks have stopped, not just been told to.
        let unstopped = Set((tasksByService[record.arn] ?? []).compactMap { tasks[$0] }.filter { !$0.isStopped }.compactMap(\.task.startedBy))
        for index in sets.indices.reversed() {
            let id = sets[index].id ?? ""
            let own = live.filter { $0.task.startedBy == id }
            let draining = sets[index].status == TaskSetStatus.draining.rawValue
            if draining, !unstopped.contains(id) {
                replaceTags(of: sets[index].taskSetArn ?? "", with: [], changes: &changes)
                record.scheduler.taskSetClientTokens = record.scheduler.taskSetClientTokens?.filter { $0.value != id }
                sets.remove(at: index)
                continue
            }
            let computed = draining ? 0 : Self.computedDesiredCount(desired: desired, scale: sets[index].scale)
            let running = own.filter { $0.lastStatus == .running }.count
            let healthy = own.filter { isHealthy($0) }.count
            sets[index].computedDesiredCount = computed
            sets[index].runningCount = running
            sets[index].pendingCount = own.count - running
            let stability: StabilityStatus = own.count == computed && running == computed && healthy == computed ? .steadyState : .stabilizing
            if stability != .steadyState { allSteady = false }
            if sets[index].stabilityStatus != stability {
                sets[index].stabilityStatus = stability
                sets[index].stabilityStatusAt = pass.now
                sets[index].updatedAt = pass.now
            }
        }
        record.service.taskSets = sets
        record.service.runningCount = live.filter { $0.lastStatus == .running }.count
        record.service.pendingCount = live.filter { $0.lastStatus != .running }.count
        // Deleted: INACTIVE once its task sets are gone (their tasks stopped, their tags removed).
        if record.service.serviceStatus == .draining, live.isEmpty, sets.isEmpty {
            record.service.serviceStatus = .inactive
            return
        }
        noteSteadyState(&record, steady: allSteady && !pass.changed, pass: &pass)
    }
}
