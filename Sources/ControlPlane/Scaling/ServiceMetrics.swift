import AgentProtocol
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
    let retention: Int
    private var series: [String: [Datapoint]] = [:]

    init(usage: UsageStore, retention: Int = 360) {
        self.usage = usage
        self.retention = retention
    }

    /// Closes the period ending at `now` for each service: one datapoint, if it had samples.
    func collect(services: [String], now: Date, resolution: TimeInterval) async {
        for service in services {
            var points = await usage.points(service: service, since: now.addingTimeInterval(-resolution))
            if points.isEmpty {
                // Agents sample every ECS_STATS_INTERVAL (and Docker takes its time): a period with
                // no new sample repeats the latest one while it is fresh, so the series has no gaps.
                points = Array(await usage.points(service: service, since: now.addingTimeInterval(-max(3 * resolution, 15))).suffix(1))
            }
            guard !points.isEmpty else { continue }
            let count = Double(points.count)
            let datapoint = Datapoint(
                at: now, cpuUtilization: points.reduce(0) { $0 + $1.cpuUtilization } / count,
                memoryUtilization: points.reduce(0) { $0 + $1.memoryUtilization } / count, tasks: points.last?.tasks ?? 0)
            var list = series[service] ?? []
            list.append(datapoint)
            if list.count > retention { list.removeFirst(list.count - retention) }
            series[service] = list
        }
    }

    func datapoints(service: String) -> [Datapoint] { series[service] ?? [] }
}
