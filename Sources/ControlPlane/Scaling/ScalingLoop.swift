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
import Logging
import Metrics
import ServiceLifecycle
import StevedoreCore

/// Service auto scaling: every `resolution` seconds, a datapoint per scaled service, then each
/// scalable target is evaluated (``ScalingPolicyEvaluation/evaluate(_:desiredCount:datapoints:now:settings:)``,
/// a pure function of the target, its service's datapoints and the committer's time) and
/// scheduled actions that fell due are run. Decisions are ordinary writes (the service's desired
/// count and an activity), so the service scheduler acts on them at once.
struct ScalingLoop: Service {
    let committer: Committer<ControlPlaneState>
    let metrics: ServiceMetrics
    let settings: ScalingSettings
    let logger: Logger

    struct Target: Sendable {
        var key: String
        var record: ScalableTargetRecord
        var serviceArn: String
        var desired: Int
        /// The service's target groups and their targets now.
        var targetGroups: [String: Int]
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: .milliseconds(Int(settings.resolution * 1000)))
                } catch {
                    return
                }
                await tick()
            }
        }
    }

    func tick() async {
        let now = committer.now()
        let targets = (try? await committer.readLatest { root, _ -> [Target] in
            root.scaling.scalableTargets.compactMap { key, record in
                guard let service = try? root.ecs.scalingService(record.target.ResourceId) else { return nil }
                var groups: [String: Int] = [:]
                for group in Set(service.allLoadBalancers.compactMap(\.targetGroupArn)) {
                    groups[group] = root.ecs.loadBalancerTargets(group: group).count
                }
                return Target(
                    key: key, record: record, serviceArn: service.arn, desired: service.service.desiredCount ?? 0, targetGroups: groups)
            }
        }) ?? []
        await metrics.collect(
            services: targets.map { ServiceMetrics.Scaled(arn: $0.serviceArn, targetGroups: $0.targetGroups) }, now: now,
            resolution: settings.resolution)
        for target in targets {
            let datapoints = await metrics.datapoints(service: target.serviceArn)
            guard
                let (made, ruleKey) = ScalingPolicyEvaluation.evaluate(
                    target.record, desiredCount: target.desired, datapoints: datapoints, now: now, settings: settings)
            else { continue }
            logger.notice(
                "scaling", metadata: ["scaling.target": "\(target.record.target.ResourceId)", "desired": "\(made.capacity)", "cause": "\(made.cause)"])
            let key = target.key
            Counter(label: "ecsd_scaling_actions_total", dimensions: [("direction", made.scaleOut ? "out" : "in")]).increment()
            _ = try? await committer.write { root, m throws(AWSError) in
                root.applyScaling(
                    key, capacity: made.capacity, cause: made.cause, scaleOut: made.scaleOut, ruleKey: ruleKey, now: m.now,
                    using: &m.random, changes: &m.changes)
            }
        }
        let due = (try? await committer.readLatest { root, now in root.scaling.dueScheduledActions(now: now) }) ?? []
        for (key, action) in due {
            logger.info("scheduled action", metadata: ["scaling.target": "\(key)", "scaling.action": "\(action)"])
            Counter(label: "ecsd_scaling_actions_total", dimensions: [("direction", "scheduled")]).increment()
            _ = try? await committer.write { root, m throws(AWSError) in
                root.applyScheduledAction(key, action: action, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
    }
}
