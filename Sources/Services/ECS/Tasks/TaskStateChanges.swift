import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import StevedoreCore

/// What agents report about their tasks: SubmitTaskStateChange and SubmitContainerStateChange.
extension ECSState {
    public mutating func submitTaskStateChange(
        _ request: SubmitTaskStateChangeRequest,
        reporter: String? = nil,
        now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> SubmitTaskStateChangeResponse {
        let cluster = try activeClusterName(request.cluster)
        guard let reference = request.task, var record = task(reference, inCluster: cluster) else {
            throw .invalidParameter("Task '\(request.task ?? "")' was not found in cluster \(cluster).")
        }
        try Self.checkReporter(reporter, of: record)
        let status = try request.status.map { text throws(AWSError) -> ContainerRunStatus in
            guard let status = ContainerRunStatus(rawValue: text) else {
                throw .invalidParameter("status must be PENDING, RUNNING or STOPPED; got \(text).")
            }
            return status
        }
        for change in request.containers ?? [] {
            try applyContainerChange(
                &record, name: change.containerName, status: change.status, exitCode: change.exitCode,
                reason: change.reason, networkBindings: change.networkBindings, runtimeId: change.runtimeId,
                imageDigest: change.imageDigest, now: now)
        }
        if let pull = request.pullStartedAt { record.task.pullStartedAt = record.task.pullStartedAt ?? pull }
        if let pull = request.pullStoppedAt { record.task.pullStoppedAt = pull }
        if let stopped = request.executionStoppedAt { record.task.executionStoppedAt = stopped }
        let hadRun = record.hasRun || record.isStopped
        let wasStopped = record.isStopped
        if let status {
            advanceTask(&record, to: status, reason: request.reason, now: now)
        }
        record.task.healthStatus = Self.taskHealth(record.task.containers ?? [], definition: record.task.taskDefinitionArn.flatMap({ try? taskDefinition($0) }))
        record.task.version = (record.task.version ?? 0) + 1
        putTask(record, changes: &changes)
        if !hadRun && record.hasRun { noteServiceTaskRunning(record, now: now, changes: &changes) }
        if !wasStopped && record.isStopped { noteServiceTaskStopped(record, now: now, changes: &changes) }
        return SubmitTaskStateChangeResponse(acknowledgment: "ACK")
    }

    public mutating func submitContainerStateChange(
        _ request: SubmitContainerStateChangeRequest,
        reporter: String? = nil,
        now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> SubmitContainerStateChangeResponse {
        let cluster = try activeClusterName(request.cluster)
        guard let reference = request.task, var record = task(reference, inCluster: cluster) else {
            throw .invalidParameter("Task '\(request.task ?? "")' was not found in cluster \(cluster).")
        }
        try Self.checkReporter(reporter, of: record)
        try applyContainerChange(
            &record, name: request.containerName, status: request.status, exitCode: request.exitCode,
            reason: request.reason, networkBindings: request.networkBindings, runtimeId: request.runtimeId, imageDigest: nil, now: now)
        record.task.version = (record.task.version ?? 0) + 1
        putTask(record, changes: &changes)
        return SubmitContainerStateChangeResponse(acknowledgment: "ACK")
    }

    /// An agent reports only for the tasks on its own instance (`reporter`: the instance whose
    /// credentials signed the report; nil when agents need none).
    static func checkReporter(_ reporter: String?, of record: TaskRecord) throws(AWSError) {
        guard let reporter, record.task.containerInstanceArn != reporter else { return }
        throw AWSError(
            type: "AccessDeniedException",
            message: "Container instance \(reporter) may not report for task \(record.arn), which is not placed on it.")
    }

    func applyContainerChange(
        _ record: inout TaskRecord,
        name: String?,
        status: String?,
        exitCode: Int?,
        reason: String?,
        networkBindings: [NetworkBinding]?,
        runtimeId: String?,
        imageDigest: String?,
        now: Date
    ) throws(AWSError) {
        guard let name, let index = record.task.containers?.firstIndex(where: { $0.name == name }) else {
            throw .invalidParameter("Task \(record.arn) has no container named '\(name ?? "")'.")
        }
        var container = record.task.containers![index]
        if let status {
            guard let reported = ContainerRunStatus(rawValue: status) else {
                throw .invalidParameter("Container status must be PENDING, RUNNING or STOPPED; got \(status).")
            }
            if reported >= (container.runStatus ?? .pending) { container.runStatus = reported }
        }
        if record.task.enableExecuteCommand == true, let status = container.runStatus {
            // ECS Exec's agent, as ECS shows it (tools check it before ExecuteCommand): the agent's
            // exec runs while the container does.
            let agentStatus = status == .running ? "RUNNING" : status == .stopped ? "STOPPED" : "PENDING"
            if container.managedAgents?.first?.lastStatus != agentStatus {
                container.managedAgents = [
                    ManagedAgent(
                        lastStartedAt: status == .running ? now : container.managedAgents?.first?.lastStartedAt, name: .executeCommandAgent,
                        lastStatus: agentStatus)
                ]
            }
        }
        if let exitCode { container.exitCode = exitCode }
        if let reason { container.reason = String(reason.prefix(1024)) }
        if let networkBindings { container.networkBindings = networkBindings }
        if let runtimeId { container.runtimeId = String(runtimeId.prefix(255)) }
        if let imageDigest { container.imageDigest = String(imageDigest.prefix(255)) }
        record.task.containers![index] = container
    }

    /// Moves a task forward (never back) to what its agent reports.
    func advanceTask(_ record: inout TaskRecord, to status: ContainerRunStatus, reason: String?, now: Date) {
        let reported = TaskStatus(rawValue: status.rawValue) ?? .pending
        guard reported > record.lastStatus || (reported == .stopped && !record.isStopped) else {
            return
        }
        switch status {
        case .running:
            record.lastStatus = record.desiredStatus == .stopped ? .stopping : .running
            record.task.startedAt = record.task.startedAt ?? now
            record.task.connectivity = .connected
            record.task.connectivityAt = record.task.connectivityAt ?? now
        case .stopped:
            let everRan = record.hasRun || record.task.startedAt != nil
            markStopped(&record, now: now)
            if record.task.stopCode == nil {
                if !everRan {
                    record.task.stopCode = .taskFailedToStart
                    record.task.stoppedReason = reason.map { String($0.prefix(1024)) } ?? "Task failed to start"
                } else {
                    record.task.stopCode = .essentialContainerExited
                    record.task.stoppedReason = reason.map { String($0.prefix(1024)) } ?? "Essential container in task exited"
                }
            }
        case .pending:
            record.lastStatus = .pending
        }
    }

    /// A task is HEALTHY when every essential container with a health check is, UNHEALTHY when one
    /// of them is, UNKNOWN otherwise (ECS tracks only task-definition health checks).
    static func taskHealth(_ containers: [Container], definition: TaskDefinition?) -> HealthStatus {
        let checked = (definition?.containerDefinitions ?? []).filter { $0.essential != false && $0.healthCheck != nil }.compactMap(\.name)
        guard !checked.isEmpty else { return .unknown }
        let states = containers.filter { checked.contains($0.name ?? "") }.map { $0.healthStatus ?? .unknown }
        if states.contains(.unhealthy) { return .unhealthy }
        if states.count == checked.count, states.allSatisfy({ $0 == .healthy }) { return .healthy }
        return .unknown
    }
}
