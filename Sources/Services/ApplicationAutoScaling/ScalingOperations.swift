#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ApplicationAutoScalingShapes
import ECS
import ECSShapes
import StevedoreCore

/// A scalable target with its policies, scheduled actions, alarms and recent activities.
public struct ScalableTargetRecord: StoredRecord, Equatable {
    public var target: AASScalableTarget
    public var policies: [String: AASScalingPolicy] = [:]
    public var scheduledActions: [String: AASScheduledAction] = [:]
    /// Step-scaling alarms (CloudWatch's role), by name.
    public var alarms: [String: ScalingAlarm] = [:]
    /// Newest first, at most ``ECSState/activityHistory``.
    public var activities: [AASScalingActivity] = []
    public var lastScaleOut: Date?
    public var lastScaleIn: Date?
    /// When each scheduled action last ran, and each step policy last acted.
    public var lastRuns: [String: Date] = [:]

    public static var recordKind: RecordKind { .scalableTargets }
    public var recordKey: String { Self.key(target.ServiceNamespace.rawValue, target.ResourceId, target.ScalableDimension.rawValue) }

    public static func key(_ namespace: String, _ resourceId: String, _ dimension: String) -> String {
        "\(namespace)|\(resourceId)|\(dimension)"
    }

    public init(target: AASScalableTarget) {
        self.target = target
    }
}

/// A metric alarm that triggers a step-scaling policy (what CloudWatch's PutMetricAlarm sets up
/// on AWS): the service's average CPU or memory utilisation against a threshold.
public struct ScalingAlarm: Codable, Sendable, Equatable {
    public enum Comparison: String, Codable, Sendable, CaseIterable, AWSEnum {
        case greaterThanOrEqualToThreshold = "GreaterThanOrEqualToThreshold"
        case greaterThanThreshold = "GreaterThanThreshold"
        case lessThanThreshold = "LessThanThreshold"
        case lessThanOrEqualToThreshold = "LessThanOrEqualToThreshold"

        public init(from decoder: any Decoder) throws {
            self = try Self.decodeValue(from: decoder)
        }

        func breached(_ value: Double, _ threshold: Double) -> Bool {
            switch self {
            case .greaterThanOrEqualToThreshold: return value >= threshold
            case .greaterThanThreshold: return value > threshold
            case .lessThanThreshold: return value < threshold
            case .lessThanOrEqualToThreshold: return value <= threshold
            }
        }
    }

    public var AlarmName: String
    /// `CPUUtilization` or `MemoryUtilization` (namespace AWS/ECS, dimensions ClusterName and ServiceName).
    public var MetricName: String
    public var ComparisonOperator: Comparison
    public var Threshold: Double
    public var EvaluationPeriods: Int
    /// The step-scaling policy ARNs to trigger (AlarmActions).
    public var AlarmActions: [String]
    public var StateValue: String?

    public func breached(_ datapoints: [Double]) -> Bool {
        let recent = datapoints.suffix(EvaluationPeriods)
        return recent.count == EvaluationPeriods && recent.allSatisfy { ComparisonOperator.breached($0, Threshold) }
    }
}

extension ScalableTargetRecord {
    /// A successful activity, newest first, keeping at most ``ECSState/activityHistory``.
    mutating func recordActivity(description: String, cause: String, message: String, now: Date, using generator: inout some RandomNumberGenerator) {
        activities.insert(
            AASScalingActivity(
                ActivityId: Identifiers.uuid(using: &generator), ServiceNamespace: .ecs, ResourceId: target.ResourceId,
                ScalableDimension: .ecsServiceDesiredCount, Description: description, Cause: cause, StartTime: now, EndTime: now,
                StatusCode: .successful, StatusMessage: message),
            at: 0)
        if activities.count > ScalingState.activityHistory { activities.removeLast(activities.count - ScalingState.activityHistory) }
    }
}

extension AWSError {
    static func aasValidation(_ message: String) -> AWSError { AWSError(type: "ValidationException", message: message) }
    static func aasNotFound(_ message: String) -> AWSError { AWSError(type: "ObjectNotFoundException", message: message) }
}

/// The Application Auto Scaling API for ECS services (`AnyScaleFrontendService.<Operation>`).
extension ScalingState {
    public static let activityHistory = 200

    public func scalableTargetArn(_ id: String) -> String {
        "arn:\(names.partition):application-autoscaling:\(names.region):\(names.accountId):scalable-target/\(id)"
    }

    func checkECSDimension(_ namespace: AASServiceNamespace, _ dimension: AASScalableDimension) throws(AWSError) {
        guard namespace == .ecs else {
            throw .aasValidation("Service namespace \(namespace.rawValue) is not supported by Stevedore; only ecs scalable targets exist here.")
        }
        guard dimension == .ecsServiceDesiredCount else {
            throw .aasValidation("Unsupported scalable dimension \(dimension.rawValue) for namespace ecs; use ecs:service:DesiredCount.")
        }
    }

    func scalableTarget(_ namespace: AASServiceNamespace, _ resourceId: String, _ dimension: AASScalableDimension) throws(AWSError) -> ScalableTargetRecord {
        guard let record = scalableTargets[ScalableTargetRecord.key(namespace.rawValue, resourceId, dimension.rawValue)] else {
            throw .aasNotFound(
                "No scalable target registered for service namespace: \(namespace.rawValue), resource ID: \(resourceId), scalable dimension: \(dimension.rawValue)")
        }
        return record
    }

    public mutating func registerScalableTarget(
        _ request: AASRegisterScalableTargetRequest, ecs: ECSState, now: Date, using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> AASRegisterScalableTargetResponse {
        try checkECSDimension(request.ServiceNamespace, request.ScalableDimension)
        _ = try ecs.scalingService(request.ResourceId)
        let key = ScalableTargetRecord.key(request.ServiceNamespace.rawValue, request.ResourceId, request.ScalableDimension.rawValue)
        var record: ScalableTargetRecord
        if let existing = scalableTargets[key] {
            record = existing
        } else {
            guard let minimum = request.MinCapacity, let maximum = request.MaxCapacity else {
                throw .aasValidation("MinCapacity and MaxCapacity are required when registering a new scalable target.")
            }
            record = ScalableTargetRecord(
                target: AASScalableTarget(
                    ServiceNamespace: request.ServiceNamespace, ResourceId: request.ResourceId, ScalableDimension: request.ScalableDimension,
                    MinCapacity: minimum, MaxCapacity: maximum,
                    RoleARN: request.RoleARN ?? "arn:\(names.partition):iam::\(names.accountId):role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService",
                    CreationTime: now, SuspendedState: AASSuspendedState(DynamicScalingInSuspended: false, DynamicScalingOutSuspended: false, ScheduledScalingSuspended: false),
                    ScalableTargetARN: scalableTargetArn(Identifiers.hex32(using: &generator))))
        }
        if let minimum = request.MinCapacity { record.target.MinCapacity = minimum }
        if let maximum = request.MaxCapacity { record.target.MaxCapacity = maximum }
        guard record.target.MinCapacity >= 0 else {
            throw .aasValidation("MinCapacity must be 0 or more; got \(record.target.MinCapacity).")
        }
        guard record.target.MinCapacity <= record.target.MaxCapacity else {
            throw .aasValidation("Minimum capacity cannot be greater than maximum capacity (min \(record.target.MinCapacity), max \(record.target.MaxCapacity)).")
        }
        if let suspended = request.SuspendedState {
            var state = record.target.SuspendedState ?? AASSuspendedState()
            state.DynamicScalingInSuspended = suspended.DynamicScalingInSuspended ?? state.DynamicScalingInSuspended
            state.DynamicScalingOutSuspended = suspended.DynamicScalingOutSuspended ?? state.DynamicScalingOutSuspended
            state.ScheduledScalingSuspended = suspended.ScheduledScalingSuspended ?? state.ScheduledScalingSuspended
            // Resuming runs only actions still to come (as AWS does), not those missed meanwhile.
            if record.target.SuspendedState?.ScheduledScalingSuspended == true, state.ScheduledScalingSuspended != true {
                for name in record.scheduledActions.keys { record.lastRuns[name] = now }
            }
            record.target.SuspendedState = state
        }
        scalableTargets[key] = record
        changes.put(record)
        return AASRegisterScalableTargetResponse(ScalableTargetARN: record.target.ScalableTargetARN)
    }

    public mutating func deregisterScalableTarget(_ request: AASDeregisterScalableTargetRequest, changes: inout ChangeSet) throws(AWSError) {
        let record = try scalableTarget(request.ServiceNamespace, request.ResourceId, request.ScalableDimension)
        scalableTargets[record.recordKey] = nil
        changes.delete(ScalableTargetRecord.self, key: record.recordKey)
    }

    public func describeScalableTargets(_ request: AASDescribeScalableTargetsRequest) throws(AWSError) -> AASDescribeScalableTargetsResponse {
        let all = scalableTargets.keys.sorted().compactMap { scalableTargets[$0]?.target }.filter { target in
            target.ServiceNamespace == request.ServiceNamespace
                && (request.ResourceIds.map { $0.contains(target.ResourceId) } ?? true)
                && (request.ScalableDimension.map { $0 == target.ScalableDimension } ?? true)
        }
        let (page, next) = try scalingPage(all, request.MaxResults, request.NextToken)
        return AASDescribeScalableTargetsResponse(ScalableTargets: page, NextToken: next)
    }

    public mutating func putScalingPolicy(
        _ request: AASPutScalingPolicyRequest, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) throws(AWSError) -> AASPutScalingPolicyResponse {
        try checkECSDimension(request.ServiceNamespace, request.ScalableDimension)
        var record = try scalableTarget(request.ServiceNamespace, request.ResourceId, request.ScalableDimension)
        guard (1...256).contains(request.PolicyName.count), !request.PolicyName.contains(":") else {
            throw .aasValidation("PolicyName must be 1-256 characters without ':'; got '\(request.PolicyName)'.")
        }
        let type = request.PolicyType ?? .stepScaling
        var alarms: [AASAlarm]?
        switch type {
        case .targetTrackingScaling:
            guard let configuration = request.TargetTrackingScalingPolicyConfiguration else {
                throw .aasValidation("TargetTrackingScalingPolicyConfiguration is required for PolicyType TargetTrackingScaling.")
            }
            guard configuration.TargetValue > 0, configuration.TargetValue <= 1e9 else {
                throw .aasValidation("TargetValue must be above 0; got \(configuration.TargetValue).")
            }
            guard configuration.CustomizedMetricSpecification == nil else {
                throw .aasValidation("CustomizedMetricSpecification is not supported by Stevedore; use PredefinedMetricSpecification with ECSServiceAverageCPUUtilization or ECSServiceAverageMemoryUtilization.")
            }
            guard let metric = configuration.PredefinedMetricSpecification?.PredefinedMetricType else {
                throw .aasValidation("PredefinedMetricSpecification is required (ECSServiceAverageCPUUtilization or ECSServiceAverageMemoryUtilization).")
            }
            switch metric {
            case .ecsserviceaveragecpuutilization, .ecsserviceaveragememoryutilization: break
            case .albrequestcountpertarget:
                // app/{load-balancer-name}/{id}/targetgroup/{target-group-name}/{id}, as AWS requires.
                let label = configuration.PredefinedMetricSpecification?.ResourceLabel ?? ""
                let parts = label.split(separator: "/", omittingEmptySubsequences: false)
                guard parts.count == 6, parts[0] == "app", parts[3] == "targetgroup", !parts.contains(where: \.isEmpty) else {
                    throw .aasValidation(
                        "ResourceLabel is required for ALBRequestCountPerTarget, as app/<load-balancer-name>/<load-balancer-id>/targetgroup/<target-group-name>/<target-group-id>")
                }
            default:
                throw .aasValidation("PredefinedMetricType \(metric.rawValue) does not apply to ECS services.")
            }
            for cooldown in [configuration.ScaleInCooldown, configuration.ScaleOutCooldown].compactMap({ $0 }) where cooldown < 0 {
                throw .aasValidation("Cooldowns must be 0 or more seconds; got \(cooldown).")
            }
            let suffix = Identifiers.uuid(using: &generator)
            alarms = ["AlarmHigh", "AlarmLow"].map { kind in
                let name = "TargetTracking-\(request.ResourceId)-\(kind)-\(suffix)"
                return AASAlarm(AlarmName: name, AlarmARN: "arn:\(names.partition):cloudwatch:\(names.region):\(names.accountId):alarm:\(name)")
            }
        case .stepScaling:
            guard let configuration = request.StepScalingPolicyConfiguration else {
                throw .aasValidation("StepScalingPolicyConfiguration is required for PolicyType StepScaling.")
            }
            guard configuration.AdjustmentType != nil else { throw .aasValidation("AdjustmentType is required for step scaling.") }
            guard let steps = configuration.StepAdjustments, !steps.isEmpty else {
                throw .aasValidation("StepAdjustments must list at least one step.")
            }
            for step in steps {
                if let low = step.MetricIntervalLowerBound, let high = step.MetricIntervalUpperBound, low >= high {
                    throw .aasValidation("A step's MetricIntervalLowerBound (\(low)) must be below its MetricIntervalUpperBound (\(high)).")
                }
            }
        case .predictiveScaling:
            throw .aasValidation("Predictive scaling is not supported by Stevedore; use TargetTrackingScaling or StepScaling.")
        }
        let arn = record.policies[request.PolicyName]?.PolicyARN
            ?? "arn:\(names.partition):autoscaling:\(names.region):\(names.accountId):scalingPolicy:\(Identifiers.uuid(using: &generator)):resource/\(request.ServiceNamespace.rawValue)/\(request.ResourceId):policyName/\(request.PolicyName)"
        let policy = AASScalingPolicy(
            PolicyARN: arn, PolicyName: request.PolicyName, ServiceNamespace: request.ServiceNamespace, ResourceId: request.ResourceId,
            ScalableDimension: request.ScalableDimension, PolicyType: type,
            StepScalingPolicyConfiguration: request.StepScalingPolicyConfiguration,
            TargetTrackingScalingPolicyConfiguration: request.TargetTrackingScalingPolicyConfiguration,
            Alarms: alarms ?? record.policies[request.PolicyName]?.Alarms, CreationTime: record.policies[request.PolicyName]?.CreationTime ?? now)
        record.policies[request.PolicyName] = policy
        scalableTargets[record.recordKey] = record
        changes.put(record)
        return AASPutScalingPolicyResponse(PolicyARN: arn, Alarms: alarms)
    }

    public mutating func deleteScalingPolicy(_ request: AASDeleteScalingPolicyRequest, changes: inout ChangeSet) throws(AWSError) {
        var record = try scalableTarget(request.ServiceNamespace, request.ResourceId, request.ScalableDimension)
        guard record.policies.removeValue(forKey: request.PolicyName) != nil else {
            throw .aasNotFound("No scaling policy found for service namespace: \(request.ServiceNamespace.rawValue), resource ID: \(request.ResourceId), scalable dimension: \(request.ScalableDimension.rawValue), policy name: \(request.PolicyName)")
        }
        scalableTargets[record.recordKey] = record
        changes.put(record)
    }

    public func describeScalingPolicies(_ request: AASDescribeScalingPoliciesRequest) throws(AWSError) -> AASDescribeScalingPoliciesResponse {
        let all = targets(request.ServiceNamespace, request.ResourceId, request.ScalableDimension)
            .flatMap { record in record.policies.keys.sorted().compactMap { record.policies[$0] } }
            .filter { policy in request.PolicyNames.map { $0.contains(policy.PolicyName) } ?? true }
        let (page, next) = try scalingPage(all, request.MaxResults, request.NextToken)
        return AASDescribeScalingPoliciesResponse(ScalingPolicies: page, NextToken: next)
    }

    public mutating func putScheduledAction(
        _ request: AASPutScheduledActionRequest, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) throws(AWSError) -> AASPutScheduledActionResponse {
        try checkECSDimension(request.ServiceNamespace, request.ScalableDimension)
        var record = try scalableTarget(request.ServiceNamespace, request.ResourceId, request.ScalableDimension)
        guard (1...256).contains(request.ScheduledActionName.count), !request.ScheduledActionName.contains(":") else {
            throw .aasValidation("ScheduledActionName must be 1-256 characters without ':'.")
        }
        var action = record.scheduledActions[request.ScheduledActionName]
        guard let schedule = request.Schedule ?? action?.Schedule else { throw .aasValidation("Schedule is required for a new scheduled action.") }
        do {
            _ = try ScheduleExpression.parse(schedule)
        } catch {
            throw .aasValidation(error.description)
        }
        if let zone = request.Timezone, TimeZone(identifier: zone) == nil {
            throw .aasValidation("Timezone '\(zone)' is not a time zone name (e.g. UTC, Europe/Paris, America/New_York).")
        }
        if let target = request.ScalableTargetAction, let low = target.MinCapacity, let high = target.MaxCapacity, low > high {
            throw .aasValidation("ScalableTargetAction: MinCapacity (\(low)) cannot be greater than MaxCapacity (\(high)).")
        }
        if action == nil {
            guard request.ScalableTargetAction?.MinCapacity != nil || request.ScalableTargetAction?.MaxCapacity != nil else {
                throw .aasValidation("ScalableTargetAction needs MinCapacity, MaxCapacity or both.")
            }
            action = AASScheduledAction(
                ScheduledActionName: request.ScheduledActionName,
                ScheduledActionARN: "arn:\(names.partition):autoscaling:\(names.region):\(names.accountId):scheduledAction:\(Identifiers.uuid(using: &generator)):resource/ecs/\(request.ResourceId):scheduledActionName/\(request.ScheduledActionName)",
                ServiceNamespace: request.ServiceNamespace, Schedule: schedule, ResourceId: request.ResourceId, CreationTime: now)
        }
        action!.Schedule = schedule
        action!.Timezone = request.Timezone ?? action!.Timezone ?? "UTC"
        action!.ScalableDimension = request.ScalableDimension
        action!.StartTime = request.StartTime ?? action!.StartTime
        action!.EndTime = request.EndTime ?? action!.EndTime
        action!.ScalableTargetAction = request.ScalableTargetAction ?? action!.ScalableTargetAction
        record.scheduledActions[request.ScheduledActionName] = action
        record.lastRuns[request.ScheduledActionName] = now
        scalableTargets[record.recordKey] = record
        changes.put(record)
        return AASPutScheduledActionResponse()
    }

    public mutating func deleteScheduledAction(_ request: AASDeleteScheduledActionRequest, changes: inout ChangeSet) throws(AWSError) {
        var record = try scalableTarget(request.ServiceNamespace, request.ResourceId, request.ScalableDimension)
        guard record.scheduledActions.removeValue(forKey: request.ScheduledActionName) != nil else {
            throw .aasNotFound("No scheduled action found for service namespace: ecs, resource ID: \(request.ResourceId), scheduled action name: \(request.ScheduledActionName)")
        }
        scalableTargets[record.recordKey] = record
        changes.put(record)
    }

    public func describeScheduledActions(_ request: AASDescribeScheduledActionsRequest) throws(AWSError) -> AASDescribeScheduledActionsResponse {
        let all = targets(request.ServiceNamespace, request.ResourceId, request.ScalableDimension)
            .flatMap { record in record.scheduledActions.keys.sorted().compactMap { record.scheduledActions[$0] } }
            .filter { action in request.ScheduledActionNames.map { $0.contains(action.ScheduledActionName) } ?? true }
        let (page, next) = try scalingPage(all, request.MaxResults, request.NextToken)
        return AASDescribeScheduledActionsResponse(ScheduledActions: page, NextToken: next)
    }

    public func describeScalingActivities(_ request: AASDescribeScalingActivitiesRequest) throws(AWSError) -> AASDescribeScalingActivitiesResponse {
        let all = targets(request.ServiceNamespace, request.ResourceId, request.ScalableDimension)
            .flatMap(\.activities)
            .sorted { $0.StartTime > $1.StartTime }
        let (page, next) = try scalingPage(all, request.MaxResults, request.NextToken)
        return AASDescribeScalingActivitiesResponse(ScalingActivities: page, NextToken: next)
    }

    /// Scheduled actions due at `now`.
    public func dueScheduledActions(now: Date) -> [(key: String, action: String)] {
        var due: [(String, String)] = []
        for (key, record) in scalableTargets where record.target.SuspendedState?.ScheduledScalingSuspended != true {
            for (name, action) in record.scheduledActions {
                guard let schedule = try? ScheduleExpression.parse(action.Schedule) else { continue }
                if let start = action.StartTime, now < start { continue }
                if let end = action.EndTime, now > end { continue }
                let last = record.lastRuns[name] ?? action.CreationTime
                let zone = TimeZone(identifier: action.Timezone ?? "UTC") ?? TimeZone(identifier: "UTC")!
                if let next = schedule.next(after: last, start: action.StartTime ?? action.CreationTime, timeZone: zone), next <= now {
                    due.append((key, name))
                }
            }
        }
        return due
    }

    public mutating func putScalingAlarm(_ alarm: ScalingAlarm, changes: inout ChangeSet) throws(AWSError) {
        guard ["CPUUtilization", "MemoryUtilization"].contains(alarm.MetricName) else {
            throw .aasValidation("MetricName must be CPUUtilization or MemoryUtilization (AWS/ECS); got '\(alarm.MetricName)'.")
        }
        guard alarm.EvaluationPeriods >= 1 else { throw .aasValidation("EvaluationPeriods must be at least 1.") }
        guard let policyArn = alarm.AlarmActions.first, alarm.AlarmActions.count == 1 else {
            throw .aasValidation("AlarmActions must name exactly one step-scaling policy ARN.")
        }
        guard let key = scalableTargets.first(where: { $0.value.policies.values.contains { $0.PolicyARN == policyArn } })?.key else {
            throw .aasNotFound("No scaling policy has the ARN \(policyArn).")
        }
        var record = scalableTargets[key]!
        record.alarms[alarm.AlarmName] = alarm
        scalableTargets[key] = record
        changes.put(record)
    }

    /// The scalable targets a describe call asks about, in key order.
    private func targets(_ namespace: AASServiceNamespace, _ resourceId: String?, _ dimension: AASScalableDimension?) -> [ScalableTargetRecord] {
        scalableTargets.keys.sorted().compactMap { scalableTargets[$0] }.filter { record in
            record.target.ServiceNamespace == namespace && (resourceId.map { $0 == record.target.ResourceId } ?? true)
                && (dimension.map { $0 == record.target.ScalableDimension } ?? true)
        }
    }

    private func scalingPage<Item>(_ all: [Item], _ maxResults: Int?, _ token: String?) throws(AWSError) -> ([Item], String?) {
        let limit = maxResults ?? 50
        guard (1...50).contains(limit) else { throw .aasValidation("MaxResults must be between 1 and 50; got \(limit).") }
        let start = token.flatMap(Int.init) ?? 0
        guard start <= all.count else { throw .aasValidation("Invalid NextToken.") }
        let end = min(all.count, start + limit)
        return (Array(all[start..<end]), end < all.count ? String(end) : nil)
    }
}

/// What scaling decisions do to ECS: desired counts set, activities recorded, in one write.
extension ScalingHost {
    /// Sets a service's desired count for a scaling decision and records the activity.
    public mutating func applyScaling(
        _ key: String, capacity: Int, cause: String, scaleOut: Bool?, ruleKey: String? = nil, now: Date,
        using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) {
        guard var record = scaling.scalableTargets[key], var service = try? ecs.scalingService(record.target.ResourceId) else { return }
        let current = service.service.desiredCount ?? 0
        guard capacity != current else { return }
        service.service.desiredCount = capacity
        ecs.putService(service, changes: &changes)
        if scaleOut == true { record.lastScaleOut = now }
        if scaleOut == false { record.lastScaleIn = now }
        if let ruleKey { record.lastRuns[ruleKey] = now }
        record.recordActivity(
            description: "Setting desired count to \(capacity).", cause: cause,
            message: "Successfully set desired count to \(capacity). Change successfully fulfilled by ecs.", now: now, using: &generator)
        scaling.scalableTargets[key] = record
        changes.put(record)
    }

    /// Runs a scheduled action: new min and max, and the desired count brought within them.
    public mutating func applyScheduledAction(
        _ key: String, action name: String, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) {
        guard var record = scaling.scalableTargets[key], let action = record.scheduledActions[name] else { return }
        let minimum = action.ScalableTargetAction?.MinCapacity ?? record.target.MinCapacity
        let maximum = action.ScalableTargetAction?.MaxCapacity ?? record.target.MaxCapacity
        record.target.MinCapacity = min(minimum, maximum)
        record.target.MaxCapacity = maximum
        record.lastRuns[name] = now
        var details = "Setting min capacity to \(record.target.MinCapacity) and max capacity to \(record.target.MaxCapacity)"
        if let service = try? ecs.scalingService(record.target.ResourceId) {
            let current = service.service.desiredCount ?? 0
            let clamped = min(record.target.MaxCapacity, max(record.target.MinCapacity, current))
            if clamped != current {
                var updated = service
                updated.service.desiredCount = clamped
                ecs.putService(updated, changes: &changes)
                details += " and desired count to \(clamped)"
            }
        }
        record.recordActivity(
            description: details + ".", cause: "scheduled action name \(name) was triggered",
            message: "Successfully set min capacity to \(record.target.MinCapacity) and max capacity to \(record.target.MaxCapacity)",
            now: now, using: &generator)
        scaling.scalableTargets[key] = record
        changes.put(record)
    }

}
