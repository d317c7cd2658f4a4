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

/// What tasks use, as agents report it: the latest sample per task, and per service a time series
/// of average CPU and memory utilisation (used ÷ reserved, as ECS's CPUUtilization and
/// MemoryUtilization metrics), which service auto scaling reads.
public actor UsageStore {
    public struct ServicePoint: Codable, Sendable, Equatable {
        public var at: Date
        /// Percent of the CPU the service's tasks reserve.
        public var cpuUtilization: Double
        /// Percent of the memory the service's tasks reserve.
        public var memoryUtilization: Double
        /// Tasks with a sample in this point.
        public var tasks: Int
    }

    /// What the store needs to know about a task besides its sample.
    public struct TaskInfo: Sendable {
        public var serviceArn: String?
        public var reservedCPU: Int
        public var reservedMemory: Int
    }

    private var latest: [String: (sample: TaskUsageSample, info: TaskInfo)] = [:]
    private var series: [String: [ServicePoint]] = [:]
    /// Samples older than this are not averaged (the task stopped, or its agent went quiet).
    let freshness: TimeInterval
    let retention: TimeInterval

    public init(freshness: TimeInterval = 30, retention: TimeInterval = 3600) {
        self.freshness = freshness
        self.retention = retention
    }

    public func record(_ samples: [TaskUsageSample], info: [String: TaskInfo], now: Date) {
        var services = Set<String>()
        for sample in samples {
            guard let taskInfo = info[sample.taskArn] else { continue }
            latest[sample.taskArn] = (sample, taskInfo)
            if let service = taskInfo.serviceArn { services.insert(service) }
        }
        latest = latest.filter { now.timeIntervalSince($0.value.sample.at) <= freshness }
        for service in services {
            let members = latest.values.filter { $0.info.serviceArn == service }
            guard !members.isEmpty else { continue }
            let used = members.reduce(0.0) { $0 + $1.sample.cpuUnits }
            let reserved = members.reduce(0.0) { $0 + Double($1.info.reservedCPU > 0 ? $1.info.reservedCPU : 1024) }
            let memoryUsed = members.reduce(0.0) { $0 + $1.sample.memoryMiB }
            let memoryReserved = members.reduce(0.0) { $0 + Double(max(1, $1.info.reservedMemory)) }
            let point = ServicePoint(
                at: now, cpuUtilization: 100 * used / reserved, memoryUtilization: 100 * memoryUsed / memoryReserved, tasks: members.count)
            var points = series[service] ?? []
            // One point per second at most: a burst of reports updates the newest point.
            if let last = points.last, now.timeIntervalSince(last.at) < 1 { points.removeLast() }
            points.append(point)
            points.removeAll { now.timeIntervalSince($0.at) > retention }
            series[service] = points
        }
    }

    public func latestSample(task: String) -> TaskUsageSample? { latest[task]?.sample }

    public func points(service: String, since: Date? = nil) -> [ServicePoint] {
        let points = series[service] ?? []
        guard let since else { return points }
        return points.filter { $0.at >= since }
    }
}
