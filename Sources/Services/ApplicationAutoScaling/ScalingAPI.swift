import AgentProtocol
import ApplicationAutoScalingShapes
import AWSProtocols
import ECS
import StevedoreCore

/// Application Auto Scaling (`AnyScaleFrontendService.<Operation>`, AWS JSON 1.1) for ECS
/// services, and the step-scaling alarms (CloudWatch's PutMetricAlarm role) over REST.
public enum ScalingAPI {
    public static let targetPrefix = "AnyScaleFrontendService"

    public static func operations<Committer: StateCommitting>(committer: Committer) -> JSONOperations<Committer>
    where Committer.Root: ScalingHost {
        var api = JSONOperations(targetPrefix: targetPrefix, decodeErrorType: "ValidationException", committer: committer)
        api.write("RegisterScalableTarget") { root, input, m, _ in
            try root.scaling.registerScalableTarget(input, ecs: root.ecs, now: m.now, using: &m.random, changes: &m.changes)
        }
        api.write("DeregisterScalableTarget") { (root, input: AASDeregisterScalableTargetRequest, m, _) throws(AWSError) in
            try root.scaling.deregisterScalableTarget(input, changes: &m.changes)
            return EmptyOutput()
        }
        api.read("DescribeScalableTargets") { root, input, _ in try root.scaling.describeScalableTargets(input) }
        api.write("PutScalingPolicy") { root, input, m, _ in
            try root.scaling.putScalingPolicy(input, now: m.now, using: &m.random, changes: &m.changes)
        }
        api.write("DeleteScalingPolicy") { (root, input: AASDeleteScalingPolicyRequest, m, _) throws(AWSError) in
            try root.scaling.deleteScalingPolicy(input, changes: &m.changes)
            return EmptyOutput()
        }
        api.read("DescribeScalingPolicies") { root, input, _ in try root.scaling.describeScalingPolicies(input) }
        api.write("PutScheduledAction") { root, input, m, _ in
            try root.scaling.putScheduledAction(input, now: m.now, using: &m.random, changes: &m.changes)
        }
        api.write("DeleteScheduledAction") { (root, input: AASDeleteScheduledActionRequest, m, _) throws(AWSError) in
            try root.scaling.deleteScheduledAction(input, changes: &m.changes)
            return EmptyOutput()
        }
        api.read("DescribeScheduledActions") { root, input, _ in try root.scaling.describeScheduledActions(input) }
        api.read("DescribeScalingActivities") { root, input, _ in try root.scaling.describeScalingActivities(input) }
        return api
    }

    /// `PUT`/`GET /v1/scaling/alarms`: step-scaling alarms in CloudWatch PutMetricAlarm's field
    /// names (AlarmName, MetricName, ComparisonOperator, Threshold, EvaluationPeriods,
    /// AlarmActions; the rest is accepted and ignored).
    public static func alarmRoutes<Committer: StateCommitting>(committer: Committer) -> RESTRoutes where Committer.Root: ScalingHost {
        var routes = RESTRoutes(errorStyle: .json)
        routes.json("PUT", WorkChannel.scalingAlarmsPath, limit: 1 << 16) { (alarm: ScalingAlarm, _) throws(AWSError) in
            try await committer.write { root, mutation throws(AWSError) in try root.scaling.putScalingAlarm(alarm, changes: &mutation.changes) }
            return EmptyOutput()
        }
        routes.respond("GET", WorkChannel.scalingAlarmsPath) { _ throws(AWSError) in
            try await committer.read { root, _ in AlarmList(MetricAlarms: root.scaling.scalableTargets.values.flatMap { $0.alarms.values }) }
        }
        return routes
    }

    struct AlarmList: Encodable, Sendable {
        var MetricAlarms: [ScalingAlarm]
    }
}
