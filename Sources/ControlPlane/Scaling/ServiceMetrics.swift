import AgentProtocol
import APIGateway
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import Foundation
import Lambda
import LambdaShapes
import StevedoreCore

/// Per-service datapoints at the scaling resolution: the average of the agents' utilisation
/// samples (``UsageStore``) over each period. Memory only: after a restart, policies wait for
/// fresh datapoints before acting, as an alarm without data would.
actor ServiceMetrics {
    typealias Datapoint = UtilizationDatapoint

    let usage: UsageStore
    let requests: TargetGroupRequestCounts
    let retention: Int
    private var series: [String: [Datapoint]] = [:]

    init(usage: UsageStore, requests: TargetGroupRequestCounts = TargetGroupRequestCounts(), retention: Int = 360) {
        self.usage = usage
        self.requests = requests
        self.retention = retention
    }

    /// A scaled service as the metrics see it: its target groups and how many targets they have.
    struct Scaled: Sendable {
        var arn: String
        var targetGroups: [String: Int] = [:]
    }

    /// Closes the period ending at `now` for each service: one datapoint, if it had samples.
    func collect(services: [String], now: Date, resolution: TimeInterval) async {
        await collect(services: services.map { Scaled(arn: $0) }, now: now, resolution: resolution)
    }

    func collect(services scaled: [Scaled], now: Date, resolution: TimeInterval) async {
        let counts = requests.take()
        for entry in scaled {
            let service = entry.arn
            var points = await usage.points(service: service, since: now.addingTimeInterval(-resolution))
            if points.isEmpty {
                // Agents sample every ECS_STATS_INTERVAL (and Docker takes its time): a period with
                // no new sample repeats the latest one while it is fresh, so the series has no gaps.
                points = Array(await usage.points(service: service, since: now.addingTimeInterval(-max(3 * resolution, 15))).suffix(1))
            }
            guard !points.isEmpty else { continue }
            let count = Double(points.count)
            // Requests per target per minute, as ELB's RequestCountPerTarget (a minute's sum per target).
            var perTarget: Double?
            if !entry.targetGroups.isEmpty {
                let requests = entry.targetGroups.keys.reduce(0) { $0 + (counts[$1] ?? 0) }
                let targets = max(1, entry.targetGroups.values.reduce(0, +))
                perTarget = Double(requests) * 60 / max(resolution, 0.001) / Double(targets)
            }
            let datapoint = Datapoint(
                at: now, cpuUtilization: points.reduce(0) { $0 + $1.cpuUtilization } / count,
                memoryUtilization: points.reduce(0) { $0 + $1.memoryUtilization } / count, tasks: points.last?.tasks ?? 0,
                requestCountPerTarget: perTarget)
            var list = series[service] ?? []
            list.append(datapoint)
            if list.count > retention { list.removeFirst(list.count - retention) }
            series[service] = list
        }
    }

    func datapoints(service: String) -> [Datapoint] { series[service] ?? [] }
}
