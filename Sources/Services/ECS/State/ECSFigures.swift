import AgentProtocol
import ECSShapes
import StevedoreCore

/// What the control plane's metrics say of ECS at a moment: tasks by last status, and instances
/// registered and with their agent connected, per cluster.
public struct ECSFigures: Sendable, Equatable {
    public var tasksByStatus: [String: Int] = [:]
    public var instancesByCluster: [String: (registered: Int, connected: Int)] = [:]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.tasksByStatus == rhs.tasksByStatus
            && lhs.instancesByCluster.mapValues { [$0.registered, $0.connected] } == rhs.instancesByCluster.mapValues { [$0.registered, $0.connected] }
    }
}

extension ECSState {
    /// Counted now: a pass over the tasks kept (a scrape's worth of work, not a request's).
    public var figures: ECSFigures {
        var figures = ECSFigures()
        for record in tasks.values { figures.tasksByStatus[record.task.lastStatus ?? "PROVISIONING", default: 0] += 1 }
        for (cluster, capacity) in capacity {
            let active = capacity.slots.filter { $0.status == .active || $0.status == .draining }
            figures.instancesByCluster[cluster] = (active.count, active.filter(\.connected).count)
        }
        return figures
    }
}
