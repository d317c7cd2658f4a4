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

    /// Keeps the definitions the assignments carry and fills in those they left out because
    /// this agent holds them.
    public mutating func complete(_ assignments: [AgentAssignment]) -> [AgentAssignment] {
        assignments.map { assignment in
            var assignment = assignment
            guard assignment.function == nil, let arn = assignment.task.taskDefinitionArn else { return assignment }
            let name = Self.name(ofArn: arn)
            if let definition = assignment.taskDefinition {
                keep(name, definition)
            } else if assignment.task.desiredTaskStatus != .stopped, let index = entries.firstIndex(where: { $0.name == name }) {
                let entry = entries.remove(at: index)
                entries.append(entry)
                assignment.taskDefinition = entry.definition
            }
            return assignment
        }
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
