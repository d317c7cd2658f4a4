import AgentProtocol
@testable import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import ECS
import ECSShapes
import Foundation
import StevedoreCore
import StevedoreTestSupport
import XCTest

/// Service auto scaling (Application Auto Scaling's API, target tracking, step scaling, scheduled
/// actions) and cluster auto scaling (capacity providers, auto scaling groups, PROVISIONING tasks).
final class ScalingTests: XCTestCase {

    // MARK: Schedule expressions

    func testAtExpressionFiresOnceAtItsLocalTime() throws {
        let schedule = try ScheduleExpression.parse("at(2026-12-31T23:00:00)")
        XCTAssertEqual(schedule, .at(DateComponents(year: 2026, month: 12, day: 31, hour: 23, minute: 0, second: 0)))
        // 23:00 in Paris (UTC+1 in winter) is 22:00 UTC.
        let paris = try XCTUnwrap(TimeZone(identifier: "Europe/Paris"))
        let fires = utc("2026-12-31T22:00:00Z")
        XCTAssertEqual(schedule.next(after: utc("2026-06-01T00:00:00Z"), start: epoch, timeZone: paris), fires)
        XCTAssertEqual(schedule.next(after: utc("2026-06-01T00:00:00Z"), start: epoch, timeZone: utcZone), utc("2026-12-31T23:00:00Z"))
        // Once it has fired (strictly after), it never fires again.
        XCTAssertNil(schedule.next(after: fires, start: epoch, timeZone: paris))
    }

    func testRateExpressionsAreAnchoredOnTheirStart() throws {
        XCTAssertEqual(try ScheduleExpression.parse("rate(5 minutes)"), .rate(300))
        XCTAssertEqual(try ScheduleExpression.parse("rate(1 minute)"), .rate(60))
        XCTAssertEqual(try ScheduleExpression.parse("rate(1 hour)"), .rate(3600))
        XCTAssertEqual(try ScheduleExpression.parse("rate(2 days)"), .rate(2 * 86400))
        let schedule = try ScheduleExpression.parse("rate(5 minutes)")
        let start = epoch
        // Before the start: the start itself.
        XCTAssertEqual(schedule.next(after: start.addingTimeInterval(-10), start: start, timeZone: utcZone), start)
        // Strictly after: a run exactly at a period boundary waits for the next one.
        XCTAssertEqual(schedule.next(after: start, start: start, timeZone: utcZone), start.addingTimeInterval(300))
        XCTAssertEqual(schedule.next(after: start.addingTimeInterval(300), start: start, timeZone: utcZone), start.addingTimeInterval(600))
        XCTAssertEqual(schedule.next(after: start.addingTimeInterval(301), start: start, timeZone: utcZone), start.addingTimeInterval(600))
    }

    func testCronWeekdaysInParisFollowDaylightSavingTime() throws {
        let schedule = try ScheduleExpression.parse("cron(0 9 ? * MON-FRI *)")
        let paris = try XCTUnwrap(TimeZone(identifier: "Europe/Paris"))
        // Friday 27 March 2026 is still winter time (UTC+1): 09:00 Paris is 08:00 UTC.
        XCTAssertEqual(schedule.next(after: utc("2026-03-27T07:00:00Z"), start: epoch, timeZone: paris), utc("2026-03-27T08:00:00Z"))
        // From Friday after 09:00, the weekend is skipped; clocks went forward on Sunday 29 March,
        // so Monday 09:00 Paris is 07:00 UTC.
        XCTAssertEqual(schedule.next(after: utc("2026-03-27T08:00:00Z"), start: epoch, timeZone: paris), utc("2026-03-30T07:00:00Z"))
        XCTAssertEqual(schedule.next(after: utc("2026-03-28T12:00:00Z"), start: epoch, timeZone: paris), utc("2026-03-30T07:00:00Z"))
        // The same expression in UTC.
        XCTAssertEqual(schedule.next(after: utc("2026-03-28T12:00:00Z"), start: epoch, timeZone: utcZone), utc("2026-03-30T09:00:00Z"))
    }

    func testCronStepsRangesListsAndYears() throws {
        let schedule = try ScheduleExpression.parse("cron(*/15 8-9 1,15 * ? 2027)")
        // Nothing in 2026: the first run is 1 January 2027 at 08:00.
        XCTAssertEqual(schedule.next(after: utc("2026-06-01T00:00:00Z"), start: epoch, timeZone: utcZone), utc("2027-01-01T08:00:00Z"))
        XCTAssertEqual(schedule.next(after: utc("2027-01-01T08:00:00Z"), start: epoch, timeZone: utcZone), utc("2027-01-01T08:15:00Z"))
        // After 09:45 on the 1st comes the 15th.
        XCTAssertEqual(schedule.next(after: utc("2027-01-01T09:45:00Z"), start: epoch, timeZone: utcZone), utc("2027-01-15T08:00:00Z"))
        // Past the only year: never again.
        XCTAssertNil(schedule.next(after: utc("2027-12-15T09:45:00Z"), start: epoch, timeZone: utcZone))
        // Month names, and an offset step: minute 5, 25, 45 at noon on 1 June.
        let june = try ScheduleExpression.parse("cron(5/20 12 1 JUN ? *)")
        XCTAssertEqual(june.next(after: utc("2026-06-01T12:05:00Z"), start: epoch, timeZone: utcZone), utc("2026-06-01T12:25:00Z"))
        XCTAssertEqual(june.next(after: utc("2026-06-01T12:45:00Z"), start: epoch, timeZone: utcZone), utc("2027-06-01T12:05:00Z"))
    }

    func testInvalidSchedulesAreRefusedWithTheReason() {
        assertParseError("rate(1 minutes)", "singular only for 1")
        assertParseError("rate(5 minute)", "units are minute(s)")
        assertParseError("rate(5 weeks)", "'weeks'")
        assertParseError("rate(0 minutes)", "positive number")
        assertParseError("rate(minutes)", "positive number")
        assertParseError("at(2026-13-01T00:00:00)", "yyyy-mm-ddThh:mm:ss")
        assertParseError("at(2026-12-31)", "yyyy-mm-ddThh:mm:ss")
        assertParseError("cron(0 9 L * ? *)", "L, W and # are not supported")
        assertParseError("cron(0 9 15W * ? *)", "L, W and # are not supported")
        assertParseError("cron(0 9 ? * 2#1 *)", "L, W and # are not supported")
        assertParseError("cron(0 9 * *)", "six fields")
        assertParseError("cron(0 9 * * * *)", "exactly one of day-of-month and day-of-week")
        assertParseError("cron(0 9 ? * ? *)", "exactly one of day-of-month and day-of-week")
        assertParseError("cron(60 9 ? * MON *)", "minutes field: '60'")
        assertParseError("cron(0 24 ? * MON *)", "hours field: '24'")
        assertParseError("cron(0 9 ? * FRI-MON *)", "runs backwards")
        assertParseError("cron(*/0 9 ? * MON *)", "bad step")
        assertParseError("every 5 minutes", "at(...), rate(...) or cron(...)")
    }

    /// `L`, `W` and `#` are refused, but day and month names containing those letters (WED, JUL,
    /// APR-JUL) are ordinary values and must parse.
    func testCronAcceptsNamesContainingTheLettersLAndW() throws {
        XCTAssertNoThrow(try ScheduleExpression.parse("cron(0 12 ? * WED *)"))
        XCTAssertNoThrow(try ScheduleExpression.parse("cron(0 12 ? * MON,WED,FRI *)"))
        XCTAssertNoThrow(try ScheduleExpression.parse("cron(0 0 1 JUL ? *)"))
        XCTAssertNoThrow(try ScheduleExpression.parse("cron(0 0 1 APR-JUL ? *)"))
        if let schedule = try? ScheduleExpression.parse("cron(0 12 ? * WED *)") {
            // Friday 15 January 2027 → Wednesday 20 January.
            XCTAssertEqual(schedule.next(after: epoch, start: epoch, timeZone: utcZone), utc("2027-01-20T12:00:00Z"))
        }
    }

    // MARK: Target tracking

    func testTargetTrackingScalesOutAfterSustainedBreach() {
        // Average 90 over the last three datapoints against 60: ceil(2 × 90 / 60) = 3.
        XCTAssertEqual(
            track(capacity: 2, datapoints: [10, 90, 90, 90]),
            ScalingDecision(capacity: 3, cause: "monitor alarm TargetTracking-service/c/svc-AlarmHigh in state ALARM triggered policy cpu", scaleOut: true))
        // Two datapoints above the target are not enough.
        XCTAssertNil(track(capacity: 2, datapoints: [10, 10, 90, 90]))
        XCTAssertNil(track(capacity: 2, datapoints: [90, 90]))
        // Exactly at the target is not above it.
        XCTAssertNil(track(capacity: 2, datapoints: [60, 60, 60]))
        // A service at 0 tasks scales as if it had 1.
        XCTAssertEqual(track(capacity: 0, datapoints: [90, 90, 90])?.capacity, 2)
        // The cause names the policy's own high alarm when it has one.
        let alarms = [
            AASAlarm(AlarmName: "TargetTracking-service/c/svc-AlarmHigh-1234", AlarmARN: "arn:high"),
            AASAlarm(AlarmName: "TargetTracking-service/c/svc-AlarmLow-1234", AlarmARN: "arn:low"),
        ]
        XCTAssertEqual(
            track(trackingPolicy(alarms: alarms), capacity: 2, datapoints: [90, 90, 90])?.cause,
            "monitor alarm TargetTracking-service/c/svc-AlarmHigh-1234 in state ALARM triggered policy cpu")
    }

    func testTargetTrackingScaleOutIsClampedToMaxAndWaitsForItsCooldown() {
        // 4 × 100 / 10 = 40, clamped to the maximum of 10.
        XCTAssertEqual(track(trackingPolicy(target: 10), capacity: 4, datapoints: [100, 100, 100])?.capacity, 10)
        // Already at the maximum: nothing to do.
        XCTAssertNil(track(trackingPolicy(target: 10), capacity: 10, datapoints: [100, 100, 100]))
        let policy = trackingPolicy(scaleOutCooldown: 120)
        XCTAssertNil(track(policy, capacity: 2, datapoints: [90, 90, 90], lastScaleOut: epoch.addingTimeInterval(-119)))
        XCTAssertEqual(track(policy, capacity: 2, datapoints: [90, 90, 90], lastScaleOut: epoch.addingTimeInterval(-120))?.capacity, 3)
        // Without a cooldown in the policy, the default (300 s) applies.
        XCTAssertNil(track(capacity: 2, datapoints: [90, 90, 90], lastScaleOut: epoch.addingTimeInterval(-299)))
        XCTAssertNotNil(track(capacity: 2, datapoints: [90, 90, 90], lastScaleOut: epoch.addingTimeInterval(-300)))
        // A recent scale-in does not hold back a scale-out.
        XCTAssertNotNil(track(capacity: 2, datapoints: [90, 90, 90], lastScaleIn: epoch.addingTimeInterval(-1)))
    }

    func testTargetTrackingScalesInBelowNinetyPercentOfTheTarget() {
        let low = Array(repeating: 30.0, count: 15)
        // ceil(10 × 30 / 60) = 5.
        XCTAssertEqual(
            track(capacity: 10, datapoints: low),
            ScalingDecision(capacity: 5, cause: "monitor alarm TargetTracking-service/c/svc-AlarmLow in state ALARM triggered policy cpu", scaleOut: false))
        // 14 datapoints are not enough; one at 90% of the target (54) is not below it.
        XCTAssertNil(track(capacity: 10, datapoints: Array(low.prefix(14))))
        XCTAssertNil(track(capacity: 10, datapoints: Array(low.prefix(14)) + [54]))
        XCTAssertEqual(track(capacity: 10, datapoints: Array(low.prefix(14)) + [53.9])?.scaleOut, false)
        // Never below the minimum.
        XCTAssertEqual(track(target: scalableTarget(minimum: 7), capacity: 10, datapoints: low)?.capacity, 7)
        XCTAssertNil(track(target: scalableTarget(minimum: 10), capacity: 10, datapoints: low))
    }

    func testTargetTrackingScaleInRespectsDisableScaleInSuspensionAndCooldowns() {
        let low = Array(repeating: 30.0, count: 15)
        XCTAssertNil(track(trackingPolicy(disableScaleIn: true), capacity: 10, datapoints: low))
        XCTAssertNil(track(target: scalableTarget(suspended: AASSuspendedState(DynamicScalingInSuspended: true)), capacity: 10, datapoints: low))
        let policy = trackingPolicy(scaleOutCooldown: 100, scaleInCooldown: 60)
        XCTAssertNil(track(policy, capacity: 10, datapoints: low, lastScaleIn: epoch.addingTimeInterval(-59)))
        XCTAssertEqual(track(policy, capacity: 10, datapoints: low, lastScaleIn: epoch.addingTimeInterval(-60))?.capacity, 5)
        // A recent scale-out holds back scale-in for the scale-out cooldown.
        XCTAssertNil(track(policy, capacity: 10, datapoints: low, lastScaleOut: epoch.addingTimeInterval(-99)))
        XCTAssertEqual(track(policy, capacity: 10, datapoints: low, lastScaleOut: epoch.addingTimeInterval(-100))?.capacity, 5)
    }

    func testTargetTrackingSuspendedScaleOutAndBoundsCorrection() {
        let suspended = scalableTarget(suspended: AASSuspendedState(DynamicScalingOutSuspended: true))
        XCTAssertNil(track(target: suspended, capacity: 2, datapoints: [90, 90, 90]))
        // A policy without a positive target never decides.
        XCTAssertNil(track(trackingPolicy(target: 0), capacity: 2, datapoints: [90, 90, 90]))
        // Outside min/max with no breach either way (e.g. not enough datapoints): back within them.
        XCTAssertEqual(
            track(capacity: 12, datapoints: []),
            ScalingDecision(capacity: 10, cause: "minimum or maximum capacity changed", scaleOut: false))
        XCTAssertEqual(
            track(target: scalableTarget(minimum: 3), capacity: 1, datapoints: [50]),
            ScalingDecision(capacity: 3, cause: "minimum or maximum capacity changed", scaleOut: true))
    }

    /// Bounds changed by RegisterScalableTarget apply whatever the load: a minimum raised while the
    /// service is idle, or a maximum lowered while it is busy, must not leave it outside them.
    func testTargetTrackingBringsCapacityWithinNewBoundsWhateverTheLoad() {
        let idle = track(target: scalableTarget(minimum: 3), capacity: 1, datapoints: Array(repeating: 5, count: 15))
        XCTAssertEqual(idle?.capacity, 3, "an idle service below its new minimum")
        XCTAssertEqual(idle?.scaleOut, true)
        let busy = track(capacity: 12, datapoints: [90, 90, 90])
        XCTAssertEqual(busy?.capacity, 10, "a busy service above its new maximum")
        XCTAssertEqual(busy?.scaleOut, false)
    }

    // MARK: Step scaling

    func testStepScalingChangeInCapacityPicksTheStepContainingTheBreach() {
        let policy = stepPolicy(.changeInCapacity, [
            AASStepAdjustment(MetricIntervalUpperBound: 0, ScalingAdjustment: -1),
            AASStepAdjustment(MetricIntervalLowerBound: 0, MetricIntervalUpperBound: 10, ScalingAdjustment: 1),
            AASStepAdjustment(MetricIntervalLowerBound: 10, MetricIntervalUpperBound: 30, ScalingAdjustment: 2),
            AASStepAdjustment(MetricIntervalLowerBound: 30, ScalingAdjustment: 4),
        ])
        XCTAssertEqual(
            step(policy, capacity: 3, breach: 0),
            ScalingDecision(capacity: 4, cause: "monitor alarm cpu-high in state ALARM triggered policy step", scaleOut: true))
        // Lower bounds are inclusive, upper bounds exclusive.
        XCTAssertEqual(step(policy, capacity: 3, breach: 9.9)?.capacity, 4)
        XCTAssertEqual(step(policy, capacity: 3, breach: 10)?.capacity, 5)
        XCTAssertEqual(step(policy, capacity: 3, breach: 55)?.capacity, 7)
        XCTAssertEqual(step(policy, capacity: 3, breach: -5), ScalingDecision(capacity: 2, cause: "monitor alarm cpu-high in state ALARM triggered policy step", scaleOut: false))
        // No step covers the breach: nothing.
        let outOnly = stepPolicy(.changeInCapacity, [AASStepAdjustment(MetricIntervalLowerBound: 0, ScalingAdjustment: 1)])
        XCTAssertNil(step(outOnly, capacity: 3, breach: -5))
        // Without an AdjustmentType, ChangeInCapacity.
        XCTAssertEqual(step(stepPolicy(nil, [AASStepAdjustment(MetricIntervalLowerBound: 0, ScalingAdjustment: 2)]), capacity: 3, breach: 1)?.capacity, 5)
        // Clamped to the maximum.
        XCTAssertEqual(step(policy, capacity: 9, breach: 55)?.capacity, 10)
    }

    func testStepScalingExactCapacityIsClampedAndIgnoresNoChange() {
        func exact(_ value: Int) -> AASScalingPolicy { stepPolicy(.exactCapacity, [AASStepAdjustment(MetricIntervalLowerBound: 0, ScalingAdjustment: value)]) }
        XCTAssertEqual(step(exact(6), capacity: 2, breach: 1)?.capacity, 6)
        XCTAssertEqual(step(exact(6), capacity: 8, breach: 1)?.scaleOut, false)
        XCTAssertEqual(step(exact(20), capacity: 2, breach: 1)?.capacity, 10)
        XCTAssertEqual(step(exact(0), capacity: 2, breach: 1)?.capacity, 1)
        XCTAssertNil(step(exact(6), capacity: 6, breach: 1))
    }

    func testStepScalingPercentChangeInCapacityWithMinAdjustmentMagnitude() {
        func percent(_ value: Int, minimum: Int? = nil) -> AASScalingPolicy {
            stepPolicy(.percentChangeInCapacity, [AASStepAdjustment(MetricIntervalLowerBound: 0, ScalingAdjustment: value)], minimumMagnitude: minimum)
        }
        let roomy = scalableTarget(maximum: 20)
        // 25% of 10 is 2.5, rounded toward zero: 12.
        XCTAssertEqual(step(percent(25), target: roomy, capacity: 10, breach: 1)?.capacity, 12)
        XCTAssertEqual(step(percent(-50), target: roomy, capacity: 10, breach: 1)?.capacity, 5)
        // AWS's example: 25% of 4 tasks is 1, but MinAdjustmentMagnitude 2 scales out by 2.
        XCTAssertEqual(step(percent(25, minimum: 2), target: roomy, capacity: 4, breach: 1)?.capacity, 6)
        // A change above the minimum magnitude is kept.
        XCTAssertEqual(step(percent(50, minimum: 2), target: roomy, capacity: 8, breach: 1)?.capacity, 12)
        XCTAssertEqual(step(percent(-25, minimum: 2), target: roomy, capacity: 4, breach: 1)?.capacity, 2)
        // Still within the maximum.
        XCTAssertEqual(step(percent(100), capacity: 8, breach: 1)?.capacity, 10)
    }

    /// A negative percentage too small to round to a whole task, with MinAdjustmentMagnitude, is
    /// a scale-in by that magnitude, never a scale-out.
    func testStepScalingSmallNegativePercentWithMinAdjustmentMagnitudeScalesIn() {
        let policy = stepPolicy(
            .percentChangeInCapacity, [AASStepAdjustment(MetricIntervalUpperBound: 0, ScalingAdjustment: -10)], minimumMagnitude: 2)
        let decision = step(policy, capacity: 4, breach: -5)
        XCTAssertEqual(decision?.capacity, 2)
        XCTAssertEqual(decision?.scaleOut, false)
    }

    func testStepScalingCooldownAndSuspendedStates() {
        let policy = stepPolicy(.changeInCapacity, [
            AASStepAdjustment(MetricIntervalUpperBound: 0, ScalingAdjustment: -1),
            AASStepAdjustment(MetricIntervalLowerBound: 0, ScalingAdjustment: 1),
        ], cooldown: 60)
        XCTAssertNil(step(policy, capacity: 3, breach: 5, lastAction: epoch.addingTimeInterval(-59)))
        XCTAssertEqual(step(policy, capacity: 3, breach: 5, lastAction: epoch.addingTimeInterval(-60))?.capacity, 4)
        let noOut = scalableTarget(suspended: AASSuspendedState(DynamicScalingOutSuspended: true))
        XCTAssertNil(step(policy, target: noOut, capacity: 3, breach: 5))
        XCTAssertEqual(step(policy, target: noOut, capacity: 3, breach: -5)?.capacity, 2)
        let noIn = scalableTarget(suspended: AASSuspendedState(DynamicScalingInSuspended: true))
        XCTAssertNil(step(policy, target: noIn, capacity: 3, breach: -5))
        XCTAssertEqual(step(policy, target: noIn, capacity: 3, breach: 5)?.capacity, 4)
    }

    // MARK: The Application Auto Scaling API

    func testRegisterDescribeUpdateAndDeregisterAScalableTarget() throws {
        var fixture = try scalingFixture()
        let response = try fixture.registerTarget(minimum: 1, maximum: 10)
        let arn = try XCTUnwrap(response.ScalableTargetARN)
        XCTAssertTrue(arn.hasPrefix("arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target/"), arn)
        var targets = try fixture.scaling.describeScalableTargets(AASDescribeScalableTargetsRequest(ServiceNamespace: .ecs)).ScalableTargets ?? []
        XCTAssertEqual(targets.count, 1)
        XCTAssertEqual(targets.first?.ResourceId, resourceId)
        XCTAssertEqual(targets.first?.MinCapacity, 1)
        XCTAssertEqual(targets.first?.MaxCapacity, 10)
        XCTAssertEqual(targets.first?.CreationTime, fixture.now)
        XCTAssertEqual(
            targets.first?.SuspendedState,
            AASSuspendedState(DynamicScalingInSuspended: false, DynamicScalingOutSuspended: false, ScheduledScalingSuspended: false))
        XCTAssertTrue(targets.first?.RoleARN.hasSuffix("AWSServiceRoleForApplicationAutoScaling_ECSService") == true)

        // Registering again updates what is given and keeps the rest (and the ARN).
        let again = try fixture.registerTarget(minimum: nil, maximum: 20, suspended: AASSuspendedState(DynamicScalingInSuspended: true))
        XCTAssertEqual(again.ScalableTargetARN, arn)
        targets = try fixture.scaling.describeScalableTargets(AASDescribeScalableTargetsRequest(ServiceNamespace: .ecs)).ScalableTargets ?? []
        XCTAssertEqual(targets.map(\.MinCapacity), [1])
        XCTAssertEqual(targets.map(\.MaxCapacity), [20])
        XCTAssertEqual(targets.first?.SuspendedState?.DynamicScalingInSuspended, true)
        XCTAssertEqual(targets.first?.SuspendedState?.DynamicScalingOutSuspended, false)
        XCTAssertEqual(
            try fixture.scaling.describeScalableTargets(AASDescribeScalableTargetsRequest(ServiceNamespace: .ecs, ResourceIds: ["service/c/other"])).ScalableTargets,
            [])

        try fixture.act { state, _, _, changes in
            try state.scaling.deregisterScalableTarget(
                AASDeregisterScalableTargetRequest(ServiceNamespace: .ecs, ResourceId: resourceId, ScalableDimension: .ecsServiceDesiredCount), changes: &changes)
        }
        XCTAssertEqual(try fixture.scaling.describeScalableTargets(AASDescribeScalableTargetsRequest(ServiceNamespace: .ecs)).ScalableTargets, [])
        assertAWSError("ObjectNotFoundException", "resource ID: service/c/svc") {
            try fixture.act { state, _, _, changes in
                try state.scaling.deregisterScalableTarget(
                    AASDeregisterScalableTargetRequest(ServiceNamespace: .ecs, ResourceId: resourceId, ScalableDimension: .ecsServiceDesiredCount),
                    changes: &changes)
            }
        }
    }

    func testRegisterScalableTargetRefusals() throws {
        var fixture = try scalingFixture()
        assertAWSError("ValidationException", "ECS service doesn't exist: service/c/nope") {
            try fixture.registerTarget("service/c/nope", minimum: 1, maximum: 2)
        }
        assertAWSError("ValidationException", "ResourceId must look like service/<cluster>/<service>") {
            try fixture.registerTarget("svc", minimum: 1, maximum: 2)
        }
        assertAWSError("ValidationException", "Minimum capacity cannot be greater than maximum capacity (min 5, max 2)") {
            try fixture.registerTarget(minimum: 5, maximum: 2)
        }
        assertAWSError("ValidationException", "MinCapacity and MaxCapacity are required") {
            try fixture.registerTarget(minimum: 1, maximum: nil)
        }
        assertAWSError("ValidationException", "Service namespace dynamodb") {
            try fixture.registerTarget(minimum: 1, maximum: 2, namespace: .dynamodb)
        }
        assertAWSError("ValidationException", "ecs:service:DesiredCount") {
            try fixture.registerTarget(minimum: 1, maximum: 2, dimension: .dynamodbTableReadCapacityUnits)
        }
        XCTAssertTrue(fixture.scaling.scalableTargets.isEmpty, "a refused registration stores nothing")
        // An existing target cannot be updated into min > max either.
        try fixture.registerTarget(minimum: 1, maximum: 4)
        assertAWSError("ValidationException", "(min 6, max 4)") { try fixture.registerTarget(minimum: 6, maximum: nil) }
        XCTAssertEqual(fixture.scaling.scalableTargets[targetKey]?.target.MinCapacity, 1)
    }

    func testPutTargetTrackingPolicyCreatesAlarmsAndKeepsItsArn() throws {
        var fixture = try scalingFixture()
        try fixture.registerTarget(minimum: 1, maximum: 10)
        let created = try fixture.putPolicy(tracking: trackingConfiguration(70))
        XCTAssertTrue(created.PolicyARN.contains(":scalingPolicy:"), created.PolicyARN)
        XCTAssertTrue(created.PolicyARN.hasSuffix(":resource/ecs/service/c/svc:policyName/cpu"), created.PolicyARN)
        let names = (created.Alarms ?? []).map(\.AlarmName)
        XCTAssertEqual(names.count, 2)
        XCTAssertTrue(names[0].hasPrefix("TargetTracking-service/c/svc-AlarmHigh-"), names[0])
        XCTAssertTrue(names[1].hasPrefix("TargetTracking-service/c/svc-AlarmLow-"), names[1])
        XCTAssertTrue((created.Alarms ?? []).allSatisfy { $0.AlarmARN.hasPrefix("arn:aws:cloudwatch:us-east-1:000000000000:alarm:TargetTracking-") })

        let updated = try fixture.putPolicy(tracking: trackingConfiguration(50))
        XCTAssertEqual(updated.PolicyARN, created.PolicyARN)
        let step = try fixture.putPolicy(
            "steps", type: .stepScaling,
            step: AASStepScalingPolicyConfiguration(
                AdjustmentType: .changeInCapacity, StepAdjustments: [AASStepAdjustment(MetricIntervalLowerBound: 0, ScalingAdjustment: 1)]))
        XCTAssertNil(step.Alarms)
        let policies = try fixture.scaling.describeScalingPolicies(AASDescribeScalingPoliciesRequest(ServiceNamespace: .ecs, ResourceId: resourceId)).ScalingPolicies ?? []
        XCTAssertEqual(policies.map(\.PolicyName), ["cpu", "steps"])
        XCTAssertEqual(policies.first?.PolicyType, .targetTrackingScaling)
        XCTAssertEqual(policies.first?.TargetTrackingScalingPolicyConfiguration?.TargetValue, 50)

        try fixture.act { state, _, _, changes in
            try state.scaling.deleteScalingPolicy(
                AASDeleteScalingPolicyRequest(PolicyName: "cpu", ServiceNamespace: .ecs, ResourceId: resourceId, ScalableDimension: .ecsServiceDesiredCount),
                changes: &changes)
        }
        XCTAssertEqual(fixture.scaling.scalableTargets[targetKey]?.policies.keys.sorted(), ["steps"])
        assertAWSError("ObjectNotFoundException", "policy name: cpu") {
            try fixture.act { state, _, _, changes in
                try state.scaling.deleteScalingPolicy(
                    AASDeleteScalingPolicyRequest(PolicyName: "cpu", ServiceNamespace: .ecs, ResourceId: resourceId, ScalableDimension: .ecsServiceDesiredCount),
                    changes: &changes)
            }
        }
    }

    func testARequestCountPerTargetPolicyNeedsItsTargetGroupsLabel() throws {
        var fixture = try scalingFixture()
        try fixture.registerTarget(minimum: 1, maximum: 10)
        let policy = try fixture.putPolicy(
            "requests",
            tracking: AASTargetTrackingScalingPolicyConfiguration(
                TargetValue: 100,
                PredefinedMetricSpecification: AASPredefinedMetricSpecification(
                    PredefinedMetricType: .albrequestcountpertarget, ResourceLabel: "app/gateway/1/targetgroup/web/2")))
        XCTAssertEqual(policy.Alarms?.count, 2)
    }

    func testPutScalingPolicyRefusals() throws {
        var fixture = try scalingFixture()
        assertAWSError("ObjectNotFoundException", "No scalable target registered") {
            try fixture.putPolicy(tracking: trackingConfiguration(70))
        }
        try fixture.registerTarget(minimum: 1, maximum: 10)
        assertAWSError("ValidationException", "PolicyName") { try fixture.putPolicy("a:b", tracking: trackingConfiguration(70)) }
        assertAWSError("ValidationException", "TargetTrackingScalingPolicyConfiguration is required") { try fixture.putPolicy(tracking: nil) }
        assertAWSError("ValidationException", "TargetValue must be above 0") { try fixture.putPolicy(tracking: trackingConfiguration(0)) }
        assertAWSError("ValidationException", "CustomizedMetricSpecification is not supported") {
            try fixture.putPolicy(
                tracking: AASTargetTrackingScalingPolicyConfiguration(
                    TargetValue: 70, CustomizedMetricSpecification: AASCustomizedMetricSpecification(MetricName: "Queue", Namespace: "Mine")))
        }
        assertAWSError("ValidationException", "PredefinedMetricSpecification is required") {
            try fixture.putPolicy(tracking: AASTargetTrackingScalingPolicyConfiguration(TargetValue: 70))
        }
        assertAWSError("ValidationException", "ResourceLabel is required for ALBRequestCountPerTarget") {
            try fixture.putPolicy(tracking: trackingConfiguration(100, metric: .albrequestcountpertarget))
        }
        assertAWSError("ValidationException", "PredefinedMetricType DynamoDBReadCapacityUtilization does not apply") {
            try fixture.putPolicy(tracking: trackingConfiguration(70, metric: .dynamoDBReadCapacityUtilization))
        }
        assertAWSError("ValidationException", "Cooldowns must be 0 or more seconds; got -1") {
            var configuration = trackingConfiguration(70)
            configuration.ScaleInCooldown = -1
            return try fixture.putPolicy(tracking: configuration)
        }
        assertAWSError("ValidationException", "Predictive scaling is not supported") { try fixture.putPolicy(type: .predictiveScaling) }
        // PolicyType defaults to StepScaling.
        assertAWSError("ValidationException", "StepScalingPolicyConfiguration is required") { try fixture.putPolicy(type: nil) }
        assertAWSError("ValidationException", "AdjustmentType is required") {
            try fixture.putPolicy(
                type: .stepScaling, step: AASStepScalingPolicyConfiguration(StepAdjustments: [AASStepAdjustment(ScalingAdjustment: 1)]))
        }
        assertAWSError("ValidationException", "StepAdjustments must list at least one step") {
            try fixture.putPolicy(type: .stepScaling, step: AASStepScalingPolicyConfiguration(AdjustmentType: .changeInCapacity, StepAdjustments: []))
        }
        assertAWSError("ValidationException", "MetricIntervalLowerBound (10.0) must be below its MetricIntervalUpperBound (10.0)") {
            try fixture.putPolicy(
                type: .stepScaling,
                step: AASStepScalingPolicyConfiguration(
                    AdjustmentType: .changeInCapacity,
                    StepAdjustments: [AASStepAdjustment(MetricIntervalLowerBound: 10, MetricIntervalUpperBound: 10, ScalingAdjustment: 1)]))
        }
        XCTAssertEqual(fixture.scaling.scalableTargets[targetKey]?.policies, [:], "refused policies are not stored")
    }

    func testPutScheduledActionStoresItAndRefusesBadInput() throws {
        var fixture = try scalingFixture()
        assertAWSError("ObjectNotFoundException", "No scalable target registered") {
            try fixture.putAction("nightly", schedule: "cron(0 22 * * ? *)", minimum: 0, maximum: 1)
        }
        try fixture.registerTarget(minimum: 1, maximum: 10)
        try fixture.putAction("morning", schedule: "cron(0 9 ? * MON-FRI *)", timezone: "Europe/Paris", minimum: 4, maximum: 8)
        try fixture.putAction("once", schedule: "at(2027-02-01T00:00:00)", maximum: 3)
        let actions = try fixture.scaling.describeScheduledActions(AASDescribeScheduledActionsRequest(ServiceNamespace: .ecs)).ScheduledActions ?? []
        XCTAssertEqual(actions.map(\.ScheduledActionName), ["morning", "once"])
        XCTAssertEqual(actions.map(\.Timezone), ["Europe/Paris", "UTC"])
        XCTAssertEqual(actions.first?.ScalableTargetAction, AASScalableTargetAction(MinCapacity: 4, MaxCapacity: 8))
        XCTAssertEqual(actions.first?.ScalableDimension, .ecsServiceDesiredCount)
        // Updating an action may omit its schedule.
        try fixture.putAction("morning", schedule: nil, minimum: 5, maximum: 8)
        XCTAssertEqual(fixture.scaling.scalableTargets[targetKey]?.scheduledActions["morning"]?.Schedule, "cron(0 9 ? * MON-FRI *)")
        XCTAssertEqual(fixture.scaling.scalableTargets[targetKey]?.scheduledActions["morning"]?.Timezone, "Europe/Paris")

        assertAWSError("ValidationException", "singular only for 1") { try fixture.putAction("a", schedule: "rate(1 minutes)", minimum: 1) }
        assertAWSError("ValidationException", "L, W and # are not supported") { try fixture.putAction("a", schedule: "cron(0 9 L * ? *)", minimum: 1) }
        assertAWSError("ValidationException", "Timezone 'Mars/Olympus'") {
            try fixture.putAction("a", schedule: "rate(5 minutes)", timezone: "Mars/Olympus", minimum: 1)
        }
        assertAWSError("ValidationException", "MinCapacity (5) cannot be greater than MaxCapacity (2)") {
            try fixture.putAction("a", schedule: "rate(5 minutes)", minimum: 5, maximum: 2)
        }
        assertAWSError("ValidationException", "ScalableTargetAction needs MinCapacity, MaxCapacity or both") {
            try fixture.putAction("a", schedule: "rate(5 minutes)")
        }
        assertAWSError("ValidationException", "Schedule is required") { try fixture.putAction("a", schedule: nil, minimum: 1) }
        assertAWSError("ValidationException", "ScheduledActionName") { try fixture.putAction("a:b", schedule: "rate(5 minutes)", minimum: 1) }
        XCTAssertEqual(fixture.scaling.scalableTargets[targetKey]?.scheduledActions.keys.sorted(), ["morning", "once"])
    }

    func testApplyScalingSetsTheDesiredCountAndRecordsTheActivity() throws {
        var fixture = try scalingFixture()
        try fixture.registerTarget(minimum: 1, maximum: 10)
        let cause = "monitor alarm TargetTracking-service/c/svc-AlarmHigh in state ALARM triggered policy cpu"
        fixture.act { state, now, random, changes in
            state.applyScaling(targetKey, capacity: 5, cause: cause, scaleOut: true, now: now, using: &random, changes: &changes)
        }
        XCTAssertEqual(fixture.service.desiredCount, 5)
        let record = try XCTUnwrap(fixture.scaling.scalableTargets[targetKey])
        XCTAssertEqual(record.lastScaleOut, fixture.now)
        XCTAssertNil(record.lastScaleIn)
        XCTAssertEqual(record.activities.count, 1)
        let activity = try XCTUnwrap(record.activities.first)
        XCTAssertEqual(activity.Description, "Setting desired count to 5.")
        XCTAssertEqual(activity.Cause, cause)
        XCTAssertEqual(activity.StatusCode, .successful)
        XCTAssertEqual(activity.StatusMessage, "Successfully set desired count to 5. Change successfully fulfilled by ecs.")
        XCTAssertEqual(activity.ResourceId, resourceId)
        XCTAssertEqual(activity.StartTime, fixture.now)

        // Already there: no activity. A step policy's rule key records when it acted.
        fixture.act { state, now, random, changes in
            state.applyScaling(targetKey, capacity: 5, cause: cause, scaleOut: true, now: now, using: &random, changes: &changes)
        }
        XCTAssertEqual(fixture.scaling.scalableTargets[targetKey]?.activities.count, 1)
        fixture.advance(60)
        fixture.act { state, now, random, changes in
            state.applyScaling(targetKey, capacity: 3, cause: "monitor alarm low in state ALARM triggered policy steps", scaleOut: false, ruleKey: "steps", now: now, using: &random, changes: &changes)
        }
        XCTAssertEqual(fixture.service.desiredCount, 3)
        XCTAssertEqual(fixture.scaling.scalableTargets[targetKey]?.lastScaleIn, fixture.now)
        XCTAssertEqual(fixture.scaling.scalableTargets[targetKey]?.lastRuns["steps"], fixture.now)
        let listed = try fixture.scaling.describeScalingActivities(AASDescribeScalingActivitiesRequest(ServiceNamespace: .ecs, ResourceId: resourceId))
        XCTAssertEqual(listed.ScalingActivities?.map(\.Description), ["Setting desired count to 3.", "Setting desired count to 5."])
    }

    func testApplyScheduledActionSetsBoundsAndClampsTheDesiredCount() throws {
        var fixture = try scalingFixture()
        try fixture.registerTarget(minimum: 1, maximum: 10)
        try fixture.putAction("busy", schedule: "cron(0 9 ? * MON-FRI *)", minimum: 4, maximum: 8)
        fixture.act { state, now, random, changes in
            state.applyScheduledAction(targetKey, action: "busy", now: now, using: &random, changes: &changes)
        }
        XCTAssertEqual(fixture.service.desiredCount, 4, "desired 2 is raised to the new minimum")
        let record = try XCTUnwrap(fixture.scaling.scalableTargets[targetKey])
        XCTAssertEqual(record.target.MinCapacity, 4)
        XCTAssertEqual(record.target.MaxCapacity, 8)
        XCTAssertEqual(record.activities.first?.Description, "Setting min capacity to 4 and max capacity to 8 and desired count to 4.")
        XCTAssertEqual(record.activities.first?.Cause, "scheduled action name busy was triggered")
        XCTAssertEqual(record.activities.first?.StatusMessage, "Successfully set min capacity to 4 and max capacity to 8")

        // Only a new maximum, below the desired count: lowered to it.
        try fixture.putAction("quiet", schedule: "cron(0 20 ? * MON-FRI *)", maximum: 3)
        fixture.act { state, now, random, changes in
            state.applyScheduledAction(targetKey, action: "quiet", now: now, using: &random, changes: &changes)
        }
        XCTAssertEqual(fixture.service.desiredCount, 3)
        XCTAssertEqual(fixture.scaling.scalableTargets[targetKey]?.target.MinCapacity, 3, "the minimum follows a maximum set below it")
        XCTAssertEqual(fixture.scaling.scalableTargets[targetKey]?.target.MaxCapacity, 3)
        XCTAssertEqual(fixture.scaling.scalableTargets[targetKey]?.activities.first?.Description, "Setting min capacity to 3 and max capacity to 3 and desired count to 3.")
    }

    func testDueScheduledActionsFollowTheirTimeZoneAndSuspension() throws {
        // The fixture's clock: Friday 15 January 2027, 08:00 UTC (09:00 in Paris).
        var fixture = try scalingFixture()
        XCTAssertEqual(fixture.now, utc("2027-01-15T08:00:00Z"))
        try fixture.registerTarget(minimum: 1, maximum: 10)
        try fixture.putAction("morning", schedule: "cron(0 9 ? * MON-FRI *)", timezone: "Europe/Paris", minimum: 4)
        try fixture.putAction("often", schedule: "rate(5 minutes)", maximum: 10)
        XCTAssertTrue(due(fixture).isEmpty)
        fixture.advance(299)
        XCTAssertTrue(due(fixture).isEmpty)
        fixture.advance(1)
        XCTAssertEqual(due(fixture), ["often"])
        fixture.act { state, now, random, changes in
            state.applyScheduledAction(targetKey, action: "often", now: now, using: &random, changes: &changes)
        }
        XCTAssertTrue(due(fixture).isEmpty, "a run is recorded, so the action waits for its next time")

        // Monday 18 January, 09:00 Paris = 08:00 UTC.
        fixture.now = utc("2027-01-18T07:59:59Z")
        XCTAssertEqual(due(fixture), ["often"])
        fixture.now = utc("2027-01-18T08:00:00Z")
        XCTAssertEqual(due(fixture), ["morning", "often"])

        // Suspended scheduled scaling: nothing is due.
        try fixture.registerTarget(minimum: nil, maximum: nil, suspended: AASSuspendedState(ScheduledScalingSuspended: true))
        XCTAssertTrue(due(fixture).isEmpty)
        // Resuming runs only what is still to come, as AWS does: the missed runs are skipped.
        try fixture.registerTarget(minimum: nil, maximum: nil, suspended: AASSuspendedState(ScheduledScalingSuspended: false))
        XCTAssertTrue(due(fixture).isEmpty)
        fixture.advance(300)
        XCTAssertEqual(due(fixture), ["often"])
    }

    func testDueScheduledActionsRespectStartAndEndTimes() throws {
        var fixture = try scalingFixture()
        try fixture.registerTarget(minimum: 1, maximum: 10)
        let start = fixture.now.addingTimeInterval(3600)
        try fixture.act { state, now, random, changes in
            _ = try state.scaling.putScheduledAction(
                AASPutScheduledActionRequest(
                    ServiceNamespace: .ecs, Schedule: "rate(5 minutes)", ScheduledActionName: "window", ResourceId: resourceId,
                    ScalableDimension: .ecsServiceDesiredCount, StartTime: start, EndTime: start.addingTimeInterval(3600),
                    ScalableTargetAction: AASScalableTargetAction(MinCapacity: 2)),
                now: now, using: &random, changes: &changes)
        }
        fixture.advance(1800)
        XCTAssertTrue(due(fixture).isEmpty, "before its StartTime")
        fixture.now = start
        XCTAssertEqual(due(fixture), ["window"], "a rate fires first at its StartTime")
        fixture.now = start.addingTimeInterval(3601)
        XCTAssertTrue(due(fixture).isEmpty, "after its EndTime")
    }

    func testPutScalingAlarmLinksAStepPolicyAndEvaluatesBreaches() throws {
        var fixture = try scalingFixture()
        try fixture.registerTarget(minimum: 1, maximum: 10)
        let policy = try fixture.putPolicy(
            "steps", type: .stepScaling,
            step: AASStepScalingPolicyConfiguration(
                AdjustmentType: .changeInCapacity, StepAdjustments: [AASStepAdjustment(MetricIntervalLowerBound: 0, ScalingAdjustment: 1)]))
        let alarm = ScalingAlarm(
            AlarmName: "cpu-high", MetricName: "CPUUtilization", ComparisonOperator: .greaterThanThreshold, Threshold: 70, EvaluationPeriods: 3,
            AlarmActions: [policy.PolicyARN])
        try fixture.act { state, _, _, changes in try state.scaling.putScalingAlarm(alarm, changes: &changes) }
        XCTAssertEqual(fixture.scaling.scalableTargets[targetKey]?.alarms["cpu-high"], alarm)

        XCTAssertTrue(alarm.breached([10, 80, 75, 71]))
        XCTAssertFalse(alarm.breached([80, 70, 80]), "70 is not greater than 70")
        XCTAssertFalse(alarm.breached([80, 80]), "fewer datapoints than EvaluationPeriods")
        var low = alarm
        low.ComparisonOperator = .lessThanOrEqualToThreshold
        low.Threshold = 20
        XCTAssertTrue(low.breached([20, 5, 20]))

        func refused(_ change: (inout ScalingAlarm) -> Void) -> ScalingAlarm {
            var copy = alarm
            change(&copy)
            return copy
        }
        assertAWSError("ValidationException", "MetricName must be CPUUtilization or MemoryUtilization") {
            try fixture.act { state, _, _, changes in try state.scaling.putScalingAlarm(refused { $0.MetricName = "DiskUsage" }, changes: &changes) }
        }
        assertAWSError("ValidationException", "EvaluationPeriods must be at least 1") {
            try fixture.act { state, _, _, changes in try state.scaling.putScalingAlarm(refused { $0.EvaluationPeriods = 0 }, changes: &changes) }
        }
        assertAWSError("ValidationException", "AlarmActions must name exactly one") {
            try fixture.act { state, _, _, changes in try state.scaling.putScalingAlarm(refused { $0.AlarmActions = [] }, changes: &changes) }
        }
        assertAWSError("ObjectNotFoundException", "No scaling policy has the ARN arn:nope") {
            try fixture.act { state, _, _, changes in try state.scaling.putScalingAlarm(refused { $0.AlarmActions = ["arn:nope"] }, changes: &changes) }
        }
    }

}

// MARK: - Helpers

private let epoch = Date(timeIntervalSince1970: 1_800_000_000)
private let resourceId = "service/c/svc"
private let targetKey = ScalableTargetRecord.key("ecs", "service/c/svc", "ecs:service:DesiredCount")
private let utcZone = TimeZone(identifier: "UTC")!

private func utc(_ text: String) -> Date {
    guard let date = ISO8601DateFormatter().date(from: text) else { preconditionFailure("not an ISO 8601 date: \(text)") }
    return date
}

/// Asserts that `body` throws an AWSError of `type` whose message contains `fragment`.
private func assertAWSError<Result>(
    _ type: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Result
) {
    do {
        _ = try body()
        XCTFail("expected \(type) mentioning '\(fragment)', but nothing was thrown", file: file, line: line)
    } catch let error as AWSError {
        XCTAssertEqual(error.type, type, error.message, file: file, line: line)
        XCTAssertTrue(error.message.contains(fragment), "'\(error.message)' does not mention '\(fragment)'", file: file, line: line)
    } catch {
        XCTFail("expected an AWSError, got \(error)", file: file, line: line)
    }
}

private func assertParseError(_ text: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
    do {
        let schedule = try ScheduleExpression.parse(text)
        XCTFail("'\(text)' parsed as \(schedule)", file: file, line: line)
    } catch {
        XCTAssertTrue(error.description.contains(fragment), "'\(error.description)' does not mention '\(fragment)'", file: file, line: line)
    }
}

private func scalableTarget(minimum: Int = 1, maximum: Int = 10, suspended: AASSuspendedState? = nil) -> AASScalableTarget {
    AASScalableTarget(
        ServiceNamespace: .ecs, ResourceId: resourceId, ScalableDimension: .ecsServiceDesiredCount, MinCapacity: minimum, MaxCapacity: maximum,
        RoleARN: "arn:aws:iam::000000000000:role/scaling", CreationTime: epoch, SuspendedState: suspended)
}

private func trackingConfiguration(_ value: Double, metric: AASMetricType = .ecsserviceaveragecpuutilization) -> AASTargetTrackingScalingPolicyConfiguration {
    AASTargetTrackingScalingPolicyConfiguration(TargetValue: value, PredefinedMetricSpecification: AASPredefinedMetricSpecification(PredefinedMetricType: metric))
}

private func trackingPolicy(
    target: Double = 60, scaleOutCooldown: Int? = nil, scaleInCooldown: Int? = nil, disableScaleIn: Bool? = nil, alarms: [AASAlarm]? = nil
) -> AASScalingPolicy {
    var configuration = trackingConfiguration(target)
    configuration.ScaleOutCooldown = scaleOutCooldown
    configuration.ScaleInCooldown = scaleInCooldown
    configuration.DisableScaleIn = disableScaleIn
    return AASScalingPolicy(
        PolicyARN: "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:1:resource/ecs/service/c/svc:policyName/cpu", PolicyName: "cpu",
        ServiceNamespace: .ecs, ResourceId: resourceId, ScalableDimension: .ecsServiceDesiredCount, PolicyType: .targetTrackingScaling,
        TargetTrackingScalingPolicyConfiguration: configuration, Alarms: alarms, CreationTime: epoch)
}

private func track(
    _ policy: AASScalingPolicy = trackingPolicy(), target: AASScalableTarget = scalableTarget(), capacity: Int, datapoints: [Double],
    lastScaleOut: Date? = nil, lastScaleIn: Date? = nil
) -> ScalingDecision? {
    ScalingPolicyEvaluation.targetTracking(
        policy: policy, target: target, capacity: capacity, datapoints: datapoints, lastScaleOut: lastScaleOut, lastScaleIn: lastScaleIn,
        now: epoch, settings: ScalingSettings())
}

private func stepPolicy(
    _ type: AASAdjustmentType?, _ steps: [AASStepAdjustment], minimumMagnitude: Int? = nil, cooldown: Int? = nil
) -> AASScalingPolicy {
    AASScalingPolicy(
        PolicyARN: "arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:2:resource/ecs/service/c/svc:policyName/step", PolicyName: "step",
        ServiceNamespace: .ecs, ResourceId: resourceId, ScalableDimension: .ecsServiceDesiredCount, PolicyType: .stepScaling,
        StepScalingPolicyConfiguration: AASStepScalingPolicyConfiguration(
            AdjustmentType: type, StepAdjustments: steps, MinAdjustmentMagnitude: minimumMagnitude, Cooldown: cooldown),
        CreationTime: epoch)
}

private func step(
    _ policy: AASScalingPolicy, target: AASScalableTarget = scalableTarget(), capacity: Int, breach: Double, lastAction: Date? = nil
) -> ScalingDecision? {
    ScalingPolicyEvaluation.stepScaling(
        policy: policy, target: target, capacity: capacity, breach: breach, lastAction: lastAction, now: epoch, alarm: "cpu-high",
        settings: ScalingSettings())
}

/// A fixture with service `svc` (desired 2) in cluster `c`.
private func scalingFixture() throws -> SchedulerFixture {
    var fixture = SchedulerFixture()
    try fixture.register()
    try fixture.createService(desired: 2)
    return fixture
}

/// The names of the scheduled actions due now.
private func due(_ fixture: SchedulerFixture) -> [String] {
    fixture.scaling.dueScheduledActions(now: fixture.now).map(\.action).sorted()
}

extension SchedulerFixture {
    @discardableResult
    fileprivate mutating func registerTarget(
        _ id: String = resourceId, minimum: Int?, maximum: Int?, suspended: AASSuspendedState? = nil, namespace: AASServiceNamespace = .ecs,
        dimension: AASScalableDimension = .ecsServiceDesiredCount
    ) throws -> AASRegisterScalableTargetResponse {
        try scaling.registerScalableTarget(
            AASRegisterScalableTargetRequest(
                ServiceNamespace: namespace, ResourceId: id, ScalableDimension: dimension, MinCapacity: minimum, MaxCapacity: maximum,
                SuspendedState: suspended),
            ecs: ecs, now: now, using: &random, changes: &changes)
    }

    @discardableResult
    fileprivate mutating func putPolicy(
        _ name: String = "cpu", type: AASPolicyType? = .targetTrackingScaling, tracking: AASTargetTrackingScalingPolicyConfiguration? = nil,
        step: AASStepScalingPolicyConfiguration? = nil
    ) throws -> AASPutScalingPolicyResponse {
        try scaling.putScalingPolicy(
            AASPutScalingPolicyRequest(
                PolicyName: name, ServiceNamespace: .ecs, ResourceId: resourceId, ScalableDimension: .ecsServiceDesiredCount, PolicyType: type,
                StepScalingPolicyConfiguration: step, TargetTrackingScalingPolicyConfiguration: tracking),
            now: now, using: &random, changes: &changes)
    }

    fileprivate mutating func putAction(_ name: String, schedule: String?, timezone: String? = nil, minimum: Int? = nil, maximum: Int? = nil) throws {
        let action = minimum == nil && maximum == nil ? nil : AASScalableTargetAction(MinCapacity: minimum, MaxCapacity: maximum)
        _ = try scaling.putScheduledAction(
            AASPutScheduledActionRequest(
                ServiceNamespace: .ecs, Schedule: schedule, Timezone: timezone, ScheduledActionName: name, ResourceId: resourceId,
                ScalableDimension: .ecsServiceDesiredCount, ScalableTargetAction: action),
            now: now, using: &random, changes: &changes)
    }
}
