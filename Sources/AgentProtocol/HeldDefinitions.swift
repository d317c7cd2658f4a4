import ECSShapes
import StevedoreCore

/// The task definitions an agent keeps from earlier assignments, so the control plane need not
/// send a definition with every task of it (an instance running one service gets the same one
/// again and again). A definition never changes under its ARN, so one held is never stale while
/// the agent talks to the same control plane; the session forgets them all when it may not be.
public struct HeldDefinitions: Sendable {
    /// Most definitions held (and named in each poll): enough for the few a host runs at once.
    public static let capacity = 16

    /// Most recently used last.
    private var entries: [(name: String, definition: TaskDefinition)] = []

    public init() {}

    /// `family:revision` of a task definition ARN: how a poll names what it holds.
    public static func name(ofArn arn: String) -> String {
        ARN(arn)?.lastPathComponent ?? arn
    }

    /// What the next poll says it holds.
    public var names: [String] { entries.map(\.name) }

    /// Fills in the definitions the assignments left out because this agent holds them, then
    /// keeps the ones they carry (in that order: a definition arriving now must not push out one
    /// that a later assignment of the same answer relies on).
    public mutating func complete(_ assignments: [AgentAssignment]) -> [AgentAssignment] {
        let completed = assignments.map { assignment in
            var assignment = assignment
            guard assignment.function == nil, assignment.taskDefinition == nil, assignment.task.desiredTaskStatus != .stopped,
                let arn = assignment.task.taskDefinitionArn, let index = entries.firstIndex(where: { $0.name == Self.name(ofArn: arn) })
            else { return assignment }
            let entry = entries.remove(at: index)
            entries.append(entry)
            assignment.taskDefinition = entry.definition
            return assignment
        }
        for assignment in assignments where assignment.function == nil {
            if let arn = assignment.task.taskDefinitionArn, let definition = assignment.taskDefinition { keep(Self.name(ofArn: arn), definition) }
        }
        return completed
    }

    /// Forgets every definition (the control plane may have lost its state, so an ARN may now
    /// name another definition).
    public mutating func removeAll() { entries.removeAll() }

    private mutating func keep(_ name: String, _ definition: TaskDefinition) {
        entries.removeAll { $0.name == name }
        entries.append((name, definition))
        if entries.count > Self.capacity { entries.removeFirst(entries.count - Self.capacity) }
    }
}
