import ECSCore
import Foundation
import Logging
import ServiceLifecycle

/// Service auto scaling: every `resolution` seconds, a datapoint per scaled service, then each
/// target-tracking policy and step-scaling alarm is evaluated and scheduled actions that fell due
/// are run. Decisions are ordinary writes (the service's desired count and an activity), so the
/// service scheduler acts on them at once.
struct ScalingLoop: Service {
    let committer: Committer
    let metrics: ServiceMetrics
    let settings: ScalingSettings
    let logger: Logger

    struct Target: Sendable {
        var key: String
        var record: ScalableTargetRecord
        var serviceArn: String
        var desired: Int
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: .milliseconds(Int(settings.resolution * 1000)))
                } catch {
                    return
                }
                await tick(now: Date())
            }
        }
    }

    func tick(now: Date) async {
        let targets = (try? await committer.read { state, _ -> [Target] in
            state.scalableTargets.compactMap { key, record in
                guard let service = try? state.scalingService(record.target.ResourceId) else { return nil }
                return Target(key: key, record: record, serviceArn: service.arn, desired: service.service.desiredCount ?? 0)
            }
        }) ?? []
        await metrics.collect(services: targets.map(\.serviceArn), now: now, resolution: settings.resolution)
        for target in targets {
            await evaluate(target, now: now)
        }
        let due = (try? await committer.read { state, now in state.dueScheduledActions(now: now) }) ?? []
        for (key, action) in due {
            logger.info("scheduled action", metadata: ["scaling.target": "\(key)", "scaling.action": "\(action)"])
            _ = try? await committer.write { state, mutation throws(AWSError) in
                state.applyScheduledAction(key, action: action, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
            }
        }
    }

    private func evaluate(_ target: Target, now: Date) async {
        // The last datapoints, as long as the series is current (a gap means the data is missing).
        var points = await metrics.datapoints(service: target.serviceArn)
        if let last = points.last, now.timeIntervalSince(last.at) > 2 * settings.resolution + 1 { points = [] }
        func values(_ metric: String) -> [Double] {
            points.map { metric.contains("Memory") ? $0.memoryUtilization : $0.cpuUtilization }
        }
        var decision: (ScalingDecision, ruleKey: String?)?
        for name in target.record.policies.keys.sorted() {
            let policy = target.record.policies[name]!
            guard policy.PolicyType == .targetTrackingScaling,
                let metric = policy.TargetTrackingScalingPolicyConfiguration?.PredefinedMetricSpecification?.PredefinedMetricType.rawValue
            else { continue }
            if let made = ScalingPolicyEvaluation.targetTracking(
                policy: policy, target: target.record.target, capacity: target.desired, datapoints: values(metric),
                lastScaleOut: target.record.lastScaleOut, lastScaleIn: target.record.lastScaleIn, now: now, settings: settings)
            {
                // Several policies: scale-out wins, then the largest capacity (as AWS resolves them).
                if decision == nil || made.capacity > decision!.0.capacity { decision = (made, nil) }
            }
        }
        for alarmName in target.record.alarms.keys.sorted() {
            let alarm = target.record.alarms[alarmName]!
            let series = values(alarm.MetricName)
            guard alarm.breached(series), let latest = series.last,
                let policy = target.record.policies.values.first(where: { $0.PolicyARN == alarm.AlarmActions.first })
            else { continue }
            if let made = ScalingPolicyEvaluation.stepScaling(
                policy: policy, target: target.record.target, capacity: target.desired, breach: latest - alarm.Threshold,
                lastAction: target.record.lastRuns[policy.PolicyName], now: now, alarm: alarmName, settings: settings)
            {
                if decision == nil || made.capacity > decision!.0.capacity { decision = (made, policy.PolicyName) }
            }
        }
        guard let (made, ruleKey) = decision else { return }
        logger.notice(
            "scaling", metadata: ["scaling.target": "\(target.record.target.ResourceId)", "desired": "\(made.capacity)", "cause": "\(made.cause)"])
        let key = target.key
        _ = try? await committer.write { state, mutation throws(AWSError) in
            state.applyScaling(
                key, capacity: made.capacity, cause: made.cause, scaleOut: made.scaleOut, ruleKey: ruleKey, now: mutation.now,
                using: &mutation.random, changes: &mutation.changes)
        }
    }
}
