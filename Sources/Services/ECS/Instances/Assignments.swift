import AgentProtocol
import ECSShapes
import StevedoreCore
import HashTreeCollections

/// The ECS side of the agents' work channel (see ``WorkChannel``).
extension ECSState {
    /// What an agent must act on: tasks of its instance changed after `since`, up to the last
    /// sequence known to be durable (so no agent ever acts on a change a crash could undo).
    public func assignments(
        for request: AgentPollRequest,
        durableSequence: Int
    ) throws(AWSError) -> AgentPollResponse {
        let cluster = try activeClusterName(request.cluster)
        guard let instance = instance(request.containerInstanceArn, inCluster: cluster) else {
            throw AWSError(
                type: "InvalidInstanceException",
                message: "Container instance \(request.containerInstanceArn) is not registered in cluster \(cluster); register again."
            )
        }
        let status = instance.instanceStatus
        // A poll from an agent whose cursor is ahead of this control plane (its state was reset),
        // or comes from another epoch of it (a restored backup), gets everything again.
        let otherEpoch = request.epoch.map { $0 != counters.epoch } ?? false
        let since = request.since > durableSequence || otherEpoch ? 0 : request.since
        // Definitions the agent holds need not travel again; after a reset it may hold others.
        let held = since == request.since && !otherEpoch ? request.heldDefinitions?.prefix(HeldDefinitions.capacity) ?? [] : []
        var assignments: [AgentAssignment] = []
        for arn in tasksByInstance[instance.containerInstanceArn ?? ""] ?? [] {
            guard let record = tasks[arn], record.assignmentSequence > since, record.assignmentSequence <= durableSequence
            else { continue }
            // A task that has stopped and is known stopped needs nothing from the agent.
            if record.isStopped && since == 0 { continue }
            // A task to start travels with its definition (unless the agent holds it), so the
            // agent needs no round trip for it.
            var definition: TaskDefinition?
            if record.function == nil, record.desiredStatus == .running, let arn = record.task.taskDefinitionArn,
                held.isEmpty || !held.contains(HeldDefinitions.name(ofArn: arn))
            {
                definition = try? taskDefinition(arn)
            }
            assignments.append(
                AgentAssignment(
                    sequence: record.assignmentSequence, task: record.task, taskDefinition: definition, function: record.function))
        }
        assignments.sort { $0.sequence < $1.sequence }
        return AgentPollResponse(sequence: durableSequence, instanceStatus: status, assignments: assignments, epoch: counters.epoch)
    }

    /// Whether an execution environment placed on the instance (and not stopped) uses the code or
    /// layer zip with this content hash: what an agent may fetch from the code store.
    public func instance(_ instance: String, usesCode hash: String) -> Bool {
        (tasksByInstance[instance] ?? []).contains { arn in
            guard let record = tasks[arn], !record.isStopped, let function = record.function else { return false }
            return function.codeHash == hash || function.layerHashes.contains(hash)
        }
    }

    /// Whether the instance has something after `since` that is durable.
    public func hasAssignments(instance: String, since: Int, durableSequence: Int) -> Bool {
        (tasksByInstance[instance] ?? []).contains { arn in
            guard let record = tasks[arn] else { return false }
            return record.assignmentSequence > since && record.assignmentSequence <= durableSequence
        }
    }
}

