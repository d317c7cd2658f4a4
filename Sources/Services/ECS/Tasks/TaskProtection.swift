#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import HashTreeCollections
import StevedoreCore

/// Task scale-in protection (UpdateTaskProtection, GetTaskProtection): a service's task marked
/// protected is left alone by its service's scale-in and deployments, and its instance by
/// capacity scale-in, until the protection is unset or expires.
extension ECSState {
    /// The most minutes a protection lasts (48 hours), and how long one lasts when not said.
    static let protectionMinutes = 1...2880
    static let defaultProtectionMinutes = 120

    public mutating func updateTaskProtection(
        _ request: UpdateTaskProtectionRequest, now: Date, changes: inout ChangeSet
    ) throws(AWSError) -> UpdateTaskProtectionResponse {
        let cluster = try activeClusterName(request.cluster)
        guard (1...10).contains(request.tasks.count) else {
            throw .invalidParameter("tasks must list 1 to 10 tasks; got \(request.tasks.count).")
        }
        let minutes = request.expiresInMinutes ?? Self.defaultProtectionMinutes
        guard Self.protectionMinutes.contains(minutes) else {
            throw .invalidParameter("expiresInMinutes must be between 1 and 2880 (48 hours); got \(minutes).")
        }
        var protected: [ProtectedTask] = []
        var failures: [Failure] = []
        for reference in request.tasks {
            guard var record = task(reference, inCluster: cluster), !record.isStopped else {
                failures.append(Failure(arn: reference, reason: "MISSING"))
                continue
            }
            // Only a service's tasks can be protected: standalone tasks scale in with nothing.
            guard let serviceArn = record.serviceArn, let service = services[serviceArn] else {
                failures.append(Failure(arn: record.arn, reason: "TASK_NOT_VALID"))
                continue
            }
            if request.protectionEnabled {
                let alreadyProtected = liveTasks(of: service).filter { $0.arn != record.arn && $0.isProtected(at: now) }.count
                guard alreadyProtected < (service.service.desiredCount ?? 0) else {
                    failures.append(Failure(arn: record.arn, reason: "DEPLOYMENT_BLOCKED"))
                    continue
                }
                record.protectedUntil = now.addingTimeInterval(TimeInterval(minutes * 60))
            } else {
                record.protectedUntil = nil
            }
            putTask(record, changes: &changes)
            protected.append(protection(of: record, now: now))
        }
        return UpdateTaskProtectionResponse(protectedTasks: protected, failures: failures)
    }

    /// GetTaskProtection: the tasks named (up to 100), or without names every protected task of the cluster.
    public func getTaskProtection(_ request: GetTaskProtectionRequest, now: Date) throws(AWSError) -> GetTaskProtectionResponse {
        let cluster = try activeClusterName(request.cluster)
        guard let references = request.tasks else {
            let protected = (taskOrder[cluster]?[.running]?.keys ?? []).compactMap { tasks[$0] }.filter { $0.isProtected(at: now) }
            return GetTaskProtectionResponse(protectedTasks: protected.map { protection(of: $0, now: now) }, failures: [])
        }
        guard (1...100).contains(references.count) else {
            throw .invalidParameter("tasks must list 1 to 100 tasks; got \(references.count).")
        }
        var found: [ProtectedTask] = []
        var failures: [Failure] = []
        for reference in references {
            guard let record = task(reference, inCluster: cluster), !record.isStopped else {
                failures.append(Failure(arn: reference, reason: "MISSING"))
                continue
            }
            guard record.serviceArn != nil else {
                failures.append(Failure(arn: record.arn, reason: "TASK_NOT_VALID"))
                continue
            }
            found.append(protection(of: record, now: now))
        }
        return GetTaskProtectionResponse(protectedTasks: found, failures: failures)
    }

    /// A task's protection as the API shows it: an expired one is shown unset.
    private func protection(of record: TaskRecord, now: Date) -> ProtectedTask {
        let enabled = record.isProtected(at: now)
        return ProtectedTask(taskArn: record.arn, protectionEnabled: enabled, expirationDate: enabled ? record.protectedUntil : nil)
    }

    /// Whether a task on the instance is protected from scale-in now (capacity scale-in leaves it).
    public func runsProtectedTask(_ instanceArn: String, at now: Date) -> Bool {
        (tasksByInstance[instanceArn] ?? []).contains { arn in
            guard let task = tasks[arn], !task.isStopped else { return false }
            return task.isProtected(at: now)
        }
    }
}
