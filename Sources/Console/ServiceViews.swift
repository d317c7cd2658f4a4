import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import ECS
import ECSShapes
import Foundation
import StevedoreCore

/// A service's page: its deployments and their rollout, its events, its counts over time, and the
/// scaling that moves its desired count.
public enum ServiceViews {
    public struct DeploymentView: Encodable, Sendable, Equatable {
        public var id: String
        public var status: String
        public var taskDefinition: String
        public var desired: Int
        public var running: Int
        public var pending: Int
        public var failed: Int
        public var rolloutState: String?
        public var rolloutStateReason: String?
        public var createdAt: Date?
        public var updatedAt: Date?
    }

    public struct EventView: Encodable, Sendable, Equatable {
        public var id: String
        public var createdAt: Date?
        public var message: String
    }

    public struct PolicyView: Encodable, Sendable, Equatable {
        public var name: String
        public var type: String
        public var metric: String?
        public var targetValue: Double?
    }

    public struct ActivityView: Encodable, Sendable, Equatable {
        public var description: String
        public var cause: String
        public var status: String
        public var startTime: Date
        public var endTime: Date?
    }

    public struct ScalingView: Encodable, Sendable, Equatable {
        public var minCapacity: Int
        public var maxCapacity: Int
        public var policies: [PolicyView]
        public var activities: [ActivityView]
    }

    /// A target as its group's health checks last found it.
    public struct TargetView: Encodable, Sendable, Equatable {
        public var target: String
        public var task: String
        public var state: String
        public var reason: String?
        public var description: String?

        public init(target: String, task: String, state: String, reason: String? = nil, description: String? = nil) {
            self.target = target
            self.task = task
            self.state = state
            self.reason = reason
            self.description = description
        }
    }

    public struct TargetGroupView: Encodable, Sendable, Equatable {
        public var arn: String
        public var name: String
        public var targets: [TargetView]
    }

    /// How a group's target's health is found: (group ARN, host, port) to its view.
    public typealias HealthLookup = (_ group: String, _ target: LoadBalancerTarget) -> TargetView

    public struct ServicePage: Encodable, Sendable {
        public var cluster: String
        public var name: String
        public var arn: String
        public var status: String
        public var desired: Int
        public var running: Int
        public var pending: Int
        public var taskDefinition: String
        public var launchType: String?
        public var deployments: [DeploymentView]
        public var events: [EventView]
        public var scaling: ScalingView?
        public var history: [ServiceHistory.Sample]
        public var loadBalancers: [String]
        public var targetGroups: [TargetGroupView]
        /// The utilisation the scaling policies track, per scaling period (newest last).
        public var metrics: [UtilizationDatapoint]
    }

    /// At most this many of a service's events are shown (ECS keeps 100; the newest first).
    public static let eventLimit = 50

    /// The page of a service; its history ends with its counts at `now`.
    public static func service(
        cluster: String, name: String, ecs: ECSState, scaling: ScalingState, history: [ServiceHistory.Sample], now: Date,
        metrics: [UtilizationDatapoint] = [], health: HealthLookup? = nil
    ) -> ServicePage? {
        let arn = ecs.names.service(cluster: cluster, name: name)
        guard let record = ecs.services[arn], record.service.status != "INACTIVE" else { return nil }
        let service = ecs.serviceView(record)
        let deployments = (service.deployments ?? []).map(deploymentView)
        let events: [EventView] = (service.events ?? []).prefix(eventLimit).map { event in
            EventView(id: event.id ?? "", createdAt: event.createdAt, message: event.message ?? "")
        }
        let key = ScalableTargetRecord.key("ecs", "service/\(cluster)/\(name)", "ecs:service:DesiredCount")
        let scalingView = scaling.scalableTargets[key].map(scalingView)
        let balancers: [String] = (service.loadBalancers ?? []).map { balancer in
            let parts: [String?] = [balancer.targetGroupArn.map { ARN($0)?.lastPathComponent ?? $0 }, balancer.containerName, balancer.containerPort.map(String.init)]
            return parts.compactMap { $0 }.joined(separator: " → ")
        }
        let groupArns = Array(Set((service.loadBalancers ?? []).compactMap(\.targetGroupArn))).sorted()
        let targetGroups = groupArns.map { group in
            TargetGroupView(
                arn: group, name: ARN(group)?.lastPathComponent ?? group,
                targets: ecs.loadBalancerTargets(group: group).map { target in
                    health?(group, target) ?? TargetView(target: "\(target.host):\(target.port)", task: target.taskArn, state: "initial")
                })
        }
        let current = ServiceHistory.Sample(
            time: ServiceHistory.milliseconds(now), running: service.runningCount ?? 0, pending: service.pendingCount ?? 0,
            desired: service.desiredCount ?? 0)
        return ServicePage(
            cluster: cluster, name: name, arn: arn, status: service.status ?? "", desired: service.desiredCount ?? 0,
            running: service.runningCount ?? 0, pending: service.pendingCount ?? 0,
            taskDefinition: ClusterViews.shortDefinition(service.taskDefinition), launchType: service.launchType?.rawValue,
            deployments: deployments, events: events, scaling: scalingView, history: history + [current], loadBalancers: balancers, targetGroups: targetGroups,
            metrics: Array(metrics.suffix(ServiceHistory.limit)))
    }

    static func deploymentView(_ deployment: Deployment) -> DeploymentView {
        DeploymentView(
            id: deployment.id ?? "", status: deployment.status ?? "", taskDefinition: ClusterViews.shortDefinition(deployment.taskDefinition),
            desired: deployment.desiredCount ?? 0, running: deployment.runningCount ?? 0, pending: deployment.pendingCount ?? 0,
            failed: deployment.failedTasks ?? 0, rolloutState: deployment.rolloutState?.rawValue, rolloutStateReason: deployment.rolloutStateReason,
            createdAt: deployment.createdAt, updatedAt: deployment.updatedAt)
    }

    static func scalingView(_ target: ScalableTargetRecord) -> ScalingView {
        let policies = target.policies.values.sorted { $0.PolicyName < $1.PolicyName }.map { policy -> PolicyView in
            let tracking = policy.TargetTrackingScalingPolicyConfiguration
            let metric: String? = tracking?.PredefinedMetricSpecification?.PredefinedMetricType.rawValue ?? tracking?.CustomizedMetricSpecification?.MetricName
            return PolicyView(name: policy.PolicyName, type: policy.PolicyType.rawValue, metric: metric, targetValue: tracking?.TargetValue)
        }
        let activities = target.activities.sorted { $0.StartTime > $1.StartTime }.prefix(20).map { activity in
            ActivityView(
                description: activity.Description, cause: activity.Cause, status: activity.StatusCode.rawValue, startTime: activity.StartTime,
                endTime: activity.EndTime)
        }
        return ScalingView(minCapacity: target.target.MinCapacity, maxCapacity: target.target.MaxCapacity, policies: policies, activities: Array(activities))
    }
}

/// Each service's running, pending and desired counts over the last minutes, sampled by the
/// control plane (memory only: a restart starts the charts afresh).
public struct ServiceHistory: Sendable {
    public struct Sample: Encodable, Sendable, Equatable {
        /// Milliseconds since 1970.
        public var time: Int64
        public var running: Int
        public var pending: Int
        public var desired: Int

        public init(time: Int64, running: Int, pending: Int, desired: Int) {
            self.time = time
            self.running = running
            self.pending = pending
            self.desired = desired
        }
    }

    /// Samples kept per service: 10 minutes at one every 2 seconds.
    public static let limit = 300
    private var samples: [String: [Sample]] = [:]

    public init() {}

    public func samples(of serviceArn: String) -> [Sample] { samples[serviceArn] ?? [] }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    /// A sample of every active service now, by service ARN.
    public static func samples(_ ecs: ECSState, now: Date) -> [String: Sample] {
        let time = milliseconds(now)
        var taken: [String: Sample] = [:]
        for (arn, record) in ecs.services where record.service.status != "INACTIVE" {
            let view = ecs.serviceView(record)
            taken[arn] = Sample(time: time, running: view.runningCount ?? 0, pending: view.pendingCount ?? 0, desired: view.desiredCount ?? 0)
        }
        return taken
    }

    /// Adds the samples taken; services without one (deleted) are forgotten.
    public mutating func record(_ taken: [String: Sample]) {
        var kept: [String: [Sample]] = [:]
        for (arn, sample) in taken {
            var series = samples[arn] ?? []
            series.append(sample)
            if series.count > Self.limit { series.removeFirst(series.count - Self.limit) }
            kept[arn] = series
        }
        samples = kept
    }

    public mutating func record(_ ecs: ECSState, now: Date) {
        record(Self.samples(ecs, now: now))
    }
}
