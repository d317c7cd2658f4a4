#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ApplicationAutoScalingShapes
import StevedoreCore

/// How quickly scaling reacts: the metric resolution and the datapoints a breach must last.
public struct ScalingSettings: Sendable, Equatable {
    /// Seconds per datapoint (ECS: 60).
    public var resolution: TimeInterval = 10
    /// Consecutive datapoints above the target before scaling out (ECS: 3 of 60 s). With 10 s
    /// datapoints a sustained breach is acted on within about 30-40 s.
    public var scaleOutDatapoints = 3
    /// Consecutive datapoints below 90% of the target before scaling in (ECS: 15 of 60 s).
    public var scaleInDatapoints = 15
    /// Cooldowns when a policy sets none (Application Auto Scaling's default for ECS: 300 s).
    public var defaultCooldown: TimeInterval = 300

    public init() {}
}

/// A scaling decision: the new capacity and why, in Application Auto Scaling's words.
public struct ScalingDecision: Sendable, Equatable {
    public var capacity: Int
    public var cause: String
    public var scaleOut: Bool

    public init(capacity: Int, cause: String, scaleOut: Bool) {
        self.capacity = capacity
        self.cause = cause
        self.scaleOut = scaleOut
    }
}

/// Target tracking as Application Auto Scaling does it, on datapoints Stevedore computes itself:
/// scale out when the last `scaleOutDatapoints` are above the target, to
/// ceil(capacity × metric ÷ target); scale in when the last `scaleInDatapoints` are below 90% of
/// it; respect min/max, cooldowns, DisableScaleIn and suspended states.
public enum ScalingPolicyEvaluation {
    public static func targetTracking(
        policy: AASScalingPolicy,
        target: AASScalableTarget,
        capacity: Int,
        datapoints: [Double],
        lastScaleOut: Date?,
        lastScaleIn: Date?,
        now: Date,
        settings: ScalingSettings
    ) -> ScalingDecision? {
        guard let configuration = policy.TargetTrackingScalingPolicyConfiguration, configuration.TargetValue > 0 else { return nil }
        let goal = configuration.TargetValue
        let high = alarmName(policy, "AlarmHigh")
        let low = alarmName(policy, "AlarmLow")
        let scaleOutCooldown = TimeInterval(configuration.ScaleOutCooldown ?? Int(settings.defaultCooldown))
        let scaleInCooldown = TimeInterval(configuration.ScaleInCooldown ?? Int(settings.defaultCooldown))
        let suspended = target.SuspendedState
        let recentOut = datapoints.suffix(settings.scaleOutDatapoints)
        if recentOut.count == settings.scaleOutDatapoints, recentOut.allSatisfy({ $0 > goal }),
            suspended?.DynamicScalingOutSuspended != true
        {
            let metric = recentOut.reduce(0, +) / Double(recentOut.count)
            let wanted = min(target.MaxCapacity, max(target.MinCapacity, Int((Double(max(capacity, 1)) * metric / goal).rounded(.up))))
            if wanted > capacity {
                if let last = lastScaleOut, now.timeIntervalSince(last) < scaleOutCooldown { return nil }
                return ScalingDecision(
                    capacity: wanted, cause: "monitor alarm \(high) in state ALARM triggered policy \(policy.PolicyName)", scaleOut: true)
            }
        }
        let recentIn = datapoints.suffix(settings.scaleInDatapoints)
        if configuration.DisableScaleIn != true, suspended?.DynamicScalingInSuspended != true,
            recentIn.count == settings.scaleInDatapoints, recentIn.allSatisfy({ $0 < goal * 0.9 })
        {
            let metric = recentIn.reduce(0, +) / Double(recentIn.count)
            let wanted = min(target.MaxCapacity, max(target.MinCapacity, Int((Double(capacity) * metric / goal).rounded(.up))))
            if wanted < capacity {
                if let last = lastScaleIn, now.timeIntervalSince(last) < scaleInCooldown { return nil }
                if let last = lastScaleOut, now.timeIntervalSince(last) < scaleOutCooldown { return nil }
                return ScalingDecision(
                    capacity: wanted, cause: "monitor alarm \(low) in state ALARM triggered policy \(policy.PolicyName)", scaleOut: false)
            }
        }
        // Outside min/max (they changed): bring capacity back within them.
        if capacity < target.MinCapacity || capacity > target.MaxCapacity {
            let wanted = min(target.MaxCapacity, max(target.MinCapacity, capacity))
            return ScalingDecision(capacity: wanted, cause: "minimum or maximum capacity changed", scaleOut: wanted > capacity)
        }
        return nil
    }

    /// Step scaling on an alarm of ours: the adjustment whose interval (relative to the
    /// threshold) contains `breach` (metric − threshold).
    public static func stepScaling(
        policy: AASScalingPolicy,
        target: AASScalableTarget,
        capacity: Int,
        breach: Double,
        lastAction: Date?,
        now: Date,
        alarm: String,
        settings: ScalingSettings
    ) -> ScalingDecision? {
        guard let configuration = policy.StepScalingPolicyConfiguration, let steps = configuration.StepAdjustments else { return nil }
        if let last = lastAction, now.timeIntervalSince(last) < TimeInterval(configuration.Cooldown ?? Int(settings.defaultCooldown)) {
            return nil
        }
        guard
            let step = steps.first(where: { step in
                (step.MetricIntervalLowerBound.map { breach >= $0 } ?? true) && (step.MetricIntervalUpperBound.map { breach < $0 } ?? true)
            })
        else { return nil }
        var wanted: Int
        switch configuration.AdjustmentType ?? .changeInCapacity {
        case .changeInCapacity:
            wanted = capacity + step.ScalingAdjustment
        case .exactCapacity:
            wanted = step.ScalingAdjustment
        case .percentChangeInCapacity:
            var change = Int((Double(capacity) * Double(step.ScalingAdjustment) / 100).rounded(.towardZero))
            if let minimum = configuration.MinAdjustmentMagnitude, abs(change) < minimum { change = step.ScalingAdjustment < 0 ? -minimum : minimum }
            wanted = capacity + change
        }
        if step.ScalingAdjustment > 0, target.SuspendedState?.DynamicScalingOutSuspended == true { return nil }
        if step.ScalingAdjustment < 0, target.SuspendedState?.DynamicScalingInSuspended == true { return nil }
        wanted = min(target.MaxCapacity, max(target.MinCapacity, wanted))
        guard wanted != capacity else { return nil }
        return ScalingDecision(
            capacity: wanted, cause: "monitor alarm \(alarm) in state ALARM triggered policy \(policy.PolicyName)", scaleOut: wanted > capacity)
    }

    /// One evaluation of a scalable target: every target-tracking policy on its metric and every
    /// step-scaling alarm on its own, resolved as Application Auto Scaling resolves several
    /// policies: the largest capacity wins, so scale-out beats scale-in, and target tracking
    /// scales in only when all its policies (those with scale-in enabled) are ready to. `datapoints` are the
    /// service's latest utilisation datapoints, oldest first, one per scaling period, with no gap
    /// before `now` (a series that stopped is missing data: nothing is decided on it).
    public static func evaluate(
        _ record: ScalableTargetRecord, desiredCount: Int, datapoints: [UtilizationDatapoint], now: Date, settings: ScalingSettings
    ) -> (decision: ScalingDecision, ruleKey: String?)? {
        var points = datapoints
        if let last = points.last, now.timeIntervalSince(last.at) > 2 * settings.resolution + 1 { points = [] }
        func values(_ metric: UtilizationMetric) -> [Double] { points.map { $0.value(metric) } }
        var best: (decision: ScalingDecision, ruleKey: String?)?
        func consider(_ decision: ScalingDecision?, ruleKey: String?) {
            guard let decision, best == nil || decision.capacity > best!.decision.capacity else { return }
            best = (decision, ruleKey)
        }
        // Target tracking scales in only when every policy that may scale in wants to.
        var trackingDecisions: [ScalingDecision] = []
        var scaleInVetoed = false
        for name in record.policies.keys.sorted() {
            let policy = record.policies[name]!
            guard policy.PolicyType == .targetTrackingScaling,
                let predefined = policy.TargetTrackingScalingPolicyConfiguration?.PredefinedMetricSpecification?.PredefinedMetricType,
                let metric = UtilizationMetric(predefined)
            else { continue }
            let decision = targetTracking(
                policy: policy, target: record.target, capacity: desiredCount, datapoints: values(metric),
                lastScaleOut: record.lastScaleOut, lastScaleIn: record.lastScaleIn, now: now, settings: settings)
            if let decision { trackingDecisions.append(decision) }
            if policy.TargetTrackingScalingPolicyConfiguration?.DisableScaleIn != true, (decision?.capacity ?? desiredCount) >= desiredCount {
                scaleInVetoed = true
            }
        }
        for decision in trackingDecisions {
            // Above a lowered maximum, capacity comes down whatever the metrics say.
            if decision.capacity < desiredCount, scaleInVetoed, desiredCount <= record.target.MaxCapacity { continue }
            consider(decision, ruleKey: nil)
        }
        for alarmName in record.alarms.keys.sorted() {
            let alarm = record.alarms[alarmName]!
            guard let metric = UtilizationMetric(metricName: alarm.MetricName) else { continue }
            let series = values(metric)
            guard alarm.breached(series), let latest = series.last,
                let policy = record.policies.values.first(where: { $0.PolicyARN == alarm.AlarmActions.first })
            else { continue }
            consider(
                stepScaling(
                    policy: policy, target: record.target, capacity: desiredCount, breach: latest - alarm.Threshold,
                    lastAction: record.lastRuns[policy.PolicyName], now: now, alarm: alarmName, settings: settings),
                ruleKey: policy.PolicyName)
        }
        return best
    }

    static func alarmName(_ policy: AASScalingPolicy, _ kind: String) -> String {
        policy.Alarms?.first { $0.AlarmName.contains(kind) }?.AlarmName ?? "TargetTracking-\(policy.ResourceId)-\(kind)"
    }
}

/// The service metrics scaling reads: ECS's CPUUtilization and MemoryUtilization.
public enum UtilizationMetric: Sendable, Equatable {
    case cpu
    case memory
    /// Requests the gateway sent the service's target groups per target, per minute (ELB's RequestCountPerTarget).
    case requestsPerTarget

    /// The metric a target-tracking policy's predefined metric type tracks (nil: not a service metric).
    public init?(_ type: AASMetricType) {
        switch type {
        case .ecsserviceaveragecpuutilization: self = .cpu
        case .ecsserviceaveragememoryutilization: self = .memory
        case .albrequestcountpertarget: self = .requestsPerTarget
        default: return nil
        }
    }

    /// The metric a step-scaling alarm watches, by its CloudWatch name.
    public init?(metricName: String) {
        switch metricName {
        case "CPUUtilization": self = .cpu
        case "MemoryUtilization": self = .memory
        case "RequestCountPerTarget": self = .requestsPerTarget
        default: return nil
        }
    }
}

/// One scaling period of a service: the average utilisation of its tasks, in percent of what they reserve.
public struct UtilizationDatapoint: Codable, Sendable, Equatable {
    public var at: Date
    public var cpuUtilization: Double
    public var memoryUtilization: Double
    /// Tasks with a sample in this period.
    public var tasks: Int
    /// Requests per target per minute through the service's target groups (none: not behind the gateway).
    public var requestCountPerTarget: Double?

    public init(at: Date, cpuUtilization: Double, memoryUtilization: Double, tasks: Int, requestCountPerTarget: Double? = nil) {
        self.at = at
        self.cpuUtilization = cpuUtilization
        self.memoryUtilization = memoryUtilization
        self.tasks = tasks
        self.requestCountPerTarget = requestCountPerTarget
    }

    public func value(_ metric: UtilizationMetric) -> Double {
        switch metric {
        case .cpu: cpuUtilization
        case .memory: memoryUtilization
        case .requestsPerTarget: requestCountPerTarget ?? 0
        }
    }
}
