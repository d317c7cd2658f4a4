import AgentProtocol
import ECSShapes
import StevedoreCore

/// What the control plane's metrics say of ECS at a moment: tasks by last status, and instances
/// registered and with their agent connected, per cluster.
public struct ECSFigures: Sendable {
    public var tasksByStatus: [String: Int] = [:]
    public var instancesByCluster: [String: (registered: Int, connected: Int)] = [:]
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

extension ECSState {
    /// Placement attempts, counted in the metrics as `ecsd_placements_total{outcome}`: `placed`, or
    /// the reason a task found no instance (`RESOURCE:MEMORY`, `NO_INSTANCES`, …). Tasks waiting for
    /// capacity are tried again each scheduler pass, and counted each time.
    static func placementTally(_ outcome: String) -> ChangeSet.Tally {
        ChangeSet.Tally(metric: "ecsd_placements_total", label: "outcome", value: outcome)
    }

    /// The placement engine over a cluster's capacity, its outcomes tallied.
    mutating func place(
        _ request: PlacementRequest, inCluster cluster: String, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) -> PlacementResult {
        let result = PlacementEngine.place(request, capacity: &capacity[cluster]!, using: &generator)
        changes.tally(Self.placementTally("placed"), by: result.placed.count)
        changes.tally(Self.placementTally(result.closest?.reason.rawValue ?? "NO_INSTANCES"), by: request.count - result.placed.count)
        return result
    }
}
