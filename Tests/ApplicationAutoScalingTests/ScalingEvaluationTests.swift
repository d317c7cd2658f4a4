@testable import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import Foundation
import StevedoreCore
import Testing

/// One evaluation of a scalable target (`ScalingPolicyEvaluation.evaluate`): each policy or alarm
/// reads its own metric, a stopped series decides nothing, the largest capacity wins, and a step
/// alarm's decision names its policy (the key its cooldown is kept under).
struct ScalingEvaluationTests {
    // MARK: Which metric

    @Test func aMemoryTargetTrackingPolicyReadsMemoryNotCPU() throws {
        let record = targetRecord(policies: [trackingPolicy("mem", .ecsserviceaveragememoryutilization, target: 60)])
        #expect(evaluate(record, series(cpu: [90, 90, 90], memory: [10, 10, 10]))?.decision == nil)
        let result = try #require(evaluate(record, series(cpu: [10, 10, 10], memory: [90, 90, 90])))
        // ceil(2 × 90 / 60) = 3.
        let cause = "monitor alarm TargetTracking-service/c/svc-AlarmHigh in state ALARM triggered policy mem"
        #expect(result.decision == ScalingDecision(capacity: 3, cause: cause, scaleOut: true))
        #expect(result.ruleKey == nil)
    }

    @Test func aCPUTargetTrackingPolicyReadsCPUNotMemory() throws {
        let record = targetRecord(policies: [trackingPolicy("cpu", .ecsserviceaveragecpuutilization, target: 60)])
        #expect(evaluate(record, series(cpu: [10, 10, 10], memory: [90, 90, 90]))?.decision == nil)
        let result = try #require(evaluate(record, series(cpu: [90, 90, 90], memory: [10, 10, 10])))
        #expect(result.decision.capacity == 3)
        #expect(result.decision.cause.hasSuffix("triggered policy cpu"))
        #expect(result.ruleKey == nil)
    }

    @Test func aPolicyOnAMetricThatIsNotAServiceMetricDecidesNothing() {
        let record = targetRecord(policies: [trackingPolicy("dynamo", .dynamoDBReadCapacityUtilization, target: 60)])
        #expect(evaluate(record, series(cpu: [90, 90, 90], memory: [90, 90, 90]))?.decision == nil)
        // Nor does a step policy no alarm triggers.
        let steps = targetRecord(policies: [stepPolicy("steps")])
        #expect(evaluate(steps, series(cpu: [90, 90, 90], memory: [90, 90, 90]))?.decision == nil)
    }

    @Test func aRequestCountPerTargetPolicyReadsTheGatewaysRequests() throws {
        let record = targetRecord(policies: [trackingPolicy("alb", .albrequestcountpertarget, target: 1000)])
        var points = series(cpu: [10, 10, 10], memory: [10, 10, 10])
        // No gateway requests: nothing to do (and too few datapoints to scale in).
        #expect(evaluate(record, points)?.decision == nil)
        for index in points.indices { points[index].requestCountPerTarget = 2500 }
        let result = try #require(evaluate(record, points))
        // ceil(2 × 2500 / 1000) = 5.
        #expect(result.decision.capacity == 5 && result.decision.scaleOut && result.decision.cause.hasSuffix("triggered policy alb"))
    }

    @Test func aCPUUtilizationAlarmWatchesCPUAndAMemoryUtilizationAlarmWatchesMemory() throws {
        let cpuAlarm = targetRecord(policies: [stepPolicy("steps")], alarms: [alarm("cpu-high", "CPUUtilization", action: "steps")])
        let memoryAlarm = targetRecord(policies: [stepPolicy("steps")], alarms: [alarm("mem-high", "MemoryUtilization", action: "steps")])
        let busyCPU = series(cpu: [80, 80, 80], memory: [10, 10, 10])
        let busyMemory = series(cpu: [10, 10, 10], memory: [80, 80, 80])

        let cpu = try #require(evaluate(cpuAlarm, busyCPU))
        #expect(cpu.decision == ScalingDecision(capacity: 3, cause: "monitor alarm cpu-high in state ALARM triggered policy steps", scaleOut: true))
        #expect(cpu.ruleKey == "steps")
        #expect(evaluate(cpuAlarm, busyMemory)?.decision == nil)

        let memory = try #require(evaluate(memoryAlarm, busyMemory))
        #expect(
            memory.decision == ScalingDecision(capacity: 3, cause: "monitor alarm mem-high in state ALARM triggered policy steps", scaleOut: true))
        #expect(memory.ruleKey == "steps")
        #expect(evaluate(memoryAlarm, busyCPU)?.decision == nil)
    }

    @Test func aStepAlarmsBreachIsItsLatestDatapointAgainstTheThreshold() throws {
        // Threshold 70: a breach in [0, 20) adds 1 task, from 20 on adds 3.
        let record = targetRecord(policies: [stepPolicy("steps")], alarms: [alarm("cpu-high", "CPUUtilization", action: "steps")])
        // Latest 95 (breach 25), though the average is below 90.
        #expect(try #require(evaluate(record, series(cpu: [75, 75, 95], memory: [0, 0, 0]))).decision.capacity == 5)
        // Latest 75 (breach 5).
        #expect(try #require(evaluate(record, series(cpu: [95, 95, 75], memory: [0, 0, 0]))).decision.capacity == 3)
        // Not breached for EvaluationPeriods (3) datapoints in a row.
        #expect(evaluate(record, series(cpu: [95, 60, 95], memory: [0, 0, 0]))?.decision == nil)
    }

    @Test func alarmsOnUnknownMetricsOrWithoutTheirPolicyDecideNothing() {
        let busy = series(cpu: [90, 90, 90], memory: [90, 90, 90])
        let disk = targetRecord(policies: [stepPolicy("steps")], alarms: [alarm("disk", "DiskUsage", action: "steps")])
        #expect(evaluate(disk, busy)?.decision == nil)
        let orphan = targetRecord(policies: [stepPolicy("steps")], alarms: [alarm("cpu-high", "CPUUtilization", action: "deleted")])
        #expect(evaluate(orphan, busy)?.decision == nil)
    }

    // MARK: Missing data

    @Test func aSeriesWhoseLastDatapointIsTooOldDecidesNothing() throws {
        let tracking = targetRecord(policies: [trackingPolicy("cpu", .ecsserviceaveragecpuutilization, target: 60)])
        let stepping = targetRecord(policies: [stepPolicy("steps")], alarms: [alarm("cpu-high", "CPUUtilization", action: "steps")])
        // Resolution 10 s: a last datapoint up to 2 × 10 + 1 = 21 s old still counts.
        let recent = series(cpu: [90, 90, 90], memory: [0, 0, 0], lastAt: now.addingTimeInterval(-21))
        let stopped = series(cpu: [90, 90, 90], memory: [0, 0, 0], lastAt: now.addingTimeInterval(-22))
        #expect(try #require(evaluate(tracking, recent)).decision.capacity == 3)
        // Breach 90 − 70 = 20: three more tasks.
        #expect(try #require(evaluate(stepping, recent)).decision.capacity == 5)
        #expect(evaluate(tracking, stopped)?.decision == nil)
        #expect(evaluate(stepping, stopped)?.decision == nil)
        #expect(evaluate(tracking, [])?.decision == nil)
        // The limit follows the resolution.
        var slow = ScalingSettings()
        slow.resolution = 60
        #expect(evaluate(tracking, stopped, settings: slow)?.decision.capacity == 3)
    }

    @Test func withoutDataCapacityOutsideTheBoundsIsStillBroughtBackWithinThem() throws {
        let record = targetRecord(policies: [trackingPolicy("cpu", .ecsserviceaveragecpuutilization, target: 60)])
        let stopped = series(cpu: [90, 90, 90], memory: [0, 0, 0], lastAt: now.addingTimeInterval(-600))
        let result = try #require(evaluate(record, stopped, desiredCount: 12))
        #expect(result.decision == ScalingDecision(capacity: 10, cause: "minimum or maximum capacity changed", scaleOut: false))
    }

    // MARK: Several policies

    @Test func whenTwoPoliciesScaleOutTheLargerCapacityWins() throws {
        let busy = series(cpu: [90, 90, 90], memory: [90, 90, 90])
        // ceil(2 × 90 / 60) = 3 against ceil(2 × 90 / 30) = 6, whichever policy comes first.
        let memoryLarger = targetRecord(policies: [
            trackingPolicy("a-cpu", .ecsserviceaveragecpuutilization, target: 60),
            trackingPolicy("b-mem", .ecsserviceaveragememoryutilization, target: 30),
        ])
        let first = try #require(evaluate(memoryLarger, busy))
        #expect(first.decision.capacity == 6)
        #expect(first.decision.cause.hasSuffix("triggered policy b-mem"))
        let cpuLarger = targetRecord(policies: [
            trackingPolicy("a-cpu", .ecsserviceaveragecpuutilization, target: 30),
            trackingPolicy("b-mem", .ecsserviceaveragememoryutilization, target: 60),
        ])
        let second = try #require(evaluate(cpuLarger, busy))
        #expect(second.decision.capacity == 6)
        #expect(second.decision.cause.hasSuffix("triggered policy a-cpu"))
    }

    @Test func aScaleOutBeatsAScaleIn() throws {
        let record = targetRecord(policies: [
            trackingPolicy("cpu", .ecsserviceaveragecpuutilization, target: 60),
            trackingPolicy("mem", .ecsserviceaveragememoryutilization, target: 60),
        ])
        // CPU idle for 15 datapoints (alone it would scale in to 1); memory busy.
        let mixed = series(cpu: Array(repeating: 10, count: 15), memory: Array(repeating: 90, count: 15))
        let cpuOnly = targetRecord(policies: [trackingPolicy("cpu", .ecsserviceaveragecpuutilization, target: 60)])
        #expect(try #require(evaluate(cpuOnly, mixed, desiredCount: 4)).decision == ScalingDecision(
            capacity: 1, cause: "monitor alarm TargetTracking-service/c/svc-AlarmLow in state ALARM triggered policy cpu", scaleOut: false))
        let result = try #require(evaluate(record, mixed, desiredCount: 4))
        #expect(result.decision.capacity == 6)
        #expect(result.decision.scaleOut)
        #expect(result.decision.cause.hasSuffix("triggered policy mem"))
    }

    @Test func trackingScalesInOnlyWhenEveryPolicyAgrees() throws {
        let record = targetRecord(policies: [
            trackingPolicy("cpu", .ecsserviceaveragecpuutilization, target: 60),
            trackingPolicy("mem", .ecsserviceaveragememoryutilization, target: 60),
        ])
        // CPU idle, memory on target: memory is not ready to scale in, so nothing happens.
        let onTarget = series(cpu: Array(repeating: 10, count: 15), memory: Array(repeating: 58, count: 15))
        #expect(evaluate(record, onTarget, desiredCount: 4) == nil)
        // Both idle: the smaller reduction wins (memory wants ceil(4 × 30 / 60) = 2, CPU 1).
        let idle = series(cpu: Array(repeating: 10, count: 15), memory: Array(repeating: 30, count: 15))
        let both = try #require(evaluate(record, idle, desiredCount: 4))
        #expect(both.decision.capacity == 2)
        #expect(both.decision.cause.hasSuffix("triggered policy mem"))
    }

    @Test func aPolicyWithScaleInDisabledDoesNotHoldOthersBack() throws {
        var memory = trackingPolicy("mem", .ecsserviceaveragememoryutilization, target: 60)
        memory.TargetTrackingScalingPolicyConfiguration?.DisableScaleIn = true
        let record = targetRecord(policies: [trackingPolicy("cpu", .ecsserviceaveragecpuutilization, target: 60), memory])
        let onTarget = series(cpu: Array(repeating: 10, count: 15), memory: Array(repeating: 58, count: 15))
        #expect(try #require(evaluate(record, onTarget, desiredCount: 4)).decision.capacity == 1)
    }

    @Test func aStepAlarmAndATargetTrackingPolicyTheLargerWinsWithItsRuleKey() throws {
        let busy = series(cpu: [95, 95, 95], memory: [0, 0, 0])
        // Tracking: ceil(2 × 95 / 60) = 4; steps: breach 25 adds 3 → 5.
        let record = targetRecord(
            policies: [trackingPolicy("cpu", .ecsserviceaveragecpuutilization, target: 60), stepPolicy("steps")],
            alarms: [alarm("cpu-high", "CPUUtilization", action: "steps")])
        let stepWins = try #require(evaluate(record, busy))
        #expect(stepWins.decision.capacity == 5)
        #expect(stepWins.ruleKey == "steps")
        // Tracking against 20: ceil(2 × 95 / 20) = 10.
        let aggressive = targetRecord(
            policies: [trackingPolicy("cpu", .ecsserviceaveragecpuutilization, target: 20), stepPolicy("steps")],
            alarms: [alarm("cpu-high", "CPUUtilization", action: "steps")])
        let trackingWins = try #require(evaluate(aggressive, busy))
        #expect(trackingWins.decision.capacity == 10)
        #expect(trackingWins.ruleKey == nil)
    }

    @Test func aStepPolicysCooldownIsKeptUnderItsRuleKey() throws {
        var record = targetRecord(policies: [stepPolicy("steps", cooldown: 60)], alarms: [alarm("cpu-high", "CPUUtilization", action: "steps")])
        let busy = series(cpu: [80, 80, 80], memory: [0, 0, 0])
        let first = try #require(evaluate(record, busy))
        let ruleKey = try #require(first.ruleKey)
        // The scaler records the run under the rule key; within the cooldown nothing more happens.
        record.lastRuns[ruleKey] = now.addingTimeInterval(-59)
        #expect(evaluate(record, busy)?.decision == nil)
        record.lastRuns[ruleKey] = now.addingTimeInterval(-60)
        #expect(evaluate(record, busy)?.decision.capacity == 3)
        // Another policy's run is not this one's.
        record.lastRuns = ["other": now]
        #expect(evaluate(record, busy)?.decision.capacity == 3)
    }
}

// MARK: - Fixtures

private let now = Date(timeIntervalSince1970: 1_800_000_000)
private let resourceId = "service/c/svc"

private func policyARN(_ name: String) -> String {
    "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:1:resource/ecs/\(resourceId):policyName/\(name)"
}

private func trackingPolicy(_ name: String, _ metric: AASMetricType, target: Double) -> AASScalingPolicy {
    AASScalingPolicy(
        PolicyARN: policyARN(name), PolicyName: name, ServiceNamespace: .ecs, ResourceId: resourceId, ScalableDimension: .ecsServiceDesiredCount,
        PolicyType: .targetTrackingScaling,
        TargetTrackingScalingPolicyConfiguration: AASTargetTrackingScalingPolicyConfiguration(
            TargetValue: target, PredefinedMetricSpecification: AASPredefinedMetricSpecification(PredefinedMetricType: metric)),
        CreationTime: now)
}

/// Adds 1 task for a breach in [0, 20), 3 from 20 on.
private func stepPolicy(_ name: String, cooldown: Int? = nil) -> AASScalingPolicy {
    AASScalingPolicy(
        PolicyARN: policyARN(name), PolicyName: name, ServiceNamespace: .ecs, ResourceId: resourceId, ScalableDimension: .ecsServiceDesiredCount,
        PolicyType: .stepScaling,
        StepScalingPolicyConfiguration: AASStepScalingPolicyConfiguration(
            AdjustmentType: .changeInCapacity,
            StepAdjustments: [
                AASStepAdjustment(MetricIntervalLowerBound: 0, MetricIntervalUpperBound: 20, ScalingAdjustment: 1),
                AASStepAdjustment(MetricIntervalLowerBound: 20, ScalingAdjustment: 3),
            ],
            Cooldown: cooldown),
        CreationTime: now)
}

/// Above 70 for 3 datapoints, triggering the policy named `action`.
private func alarm(_ name: String, _ metric: String, action: String) -> ScalingAlarm {
    ScalingAlarm(
        AlarmName: name, MetricName: metric, ComparisonOperator: .greaterThanThreshold, Threshold: 70, EvaluationPeriods: 3,
        AlarmActions: [policyARN(action)])
}

private func targetRecord(policies: [AASScalingPolicy], alarms: [ScalingAlarm] = []) -> ScalableTargetRecord {
    var record = ScalableTargetRecord(
        target: AASScalableTarget(
            ServiceNamespace: .ecs, ResourceId: resourceId, ScalableDimension: .ecsServiceDesiredCount, MinCapacity: 1, MaxCapacity: 10,
            RoleARN: "arn:aws:iam::000000000000:role/scaling", CreationTime: now))
    for policy in policies { record.policies[policy.PolicyName] = policy }
    for alarm in alarms { record.alarms[alarm.AlarmName] = alarm }
    return record
}

/// One datapoint per 10 s period, oldest first, the last at `lastAt`.
private func series(cpu: [Double], memory: [Double], lastAt: Date = now) -> [UtilizationDatapoint] {
    precondition(cpu.count == memory.count)
    return zip(cpu, memory).enumerated().map { index, values in
        UtilizationDatapoint(
            at: lastAt.addingTimeInterval(-10 * Double(cpu.count - 1 - index)), cpuUtilization: values.0, memoryUtilization: values.1, tasks: 2)
    }
}

private func evaluate(
    _ record: ScalableTargetRecord, _ datapoints: [UtilizationDatapoint], desiredCount: Int = 2, settings: ScalingSettings = ScalingSettings()
) -> (decision: ScalingDecision, ruleKey: String?)? {
    ScalingPolicyEvaluation.evaluate(record, desiredCount: desiredCount, datapoints: datapoints, now: now, settings: settings)
}
