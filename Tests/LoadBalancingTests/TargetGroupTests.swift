import AWSProtocols
import Foundation
@testable import LoadBalancing
import StevedoreCore
import Testing

/// Target groups: their settings as ELB checks them, and targets' health as checks move it.
struct TargetGroupTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func groupsAreCheckedAndTheSameSettingsReturnTheSameGroup() throws {
        var state = TargetGroupState(names: ResourceNames())
        var random = Xoshiro256(seed: 1)
        var changes = ChangeSet()
        var settings = TargetGroupState.Settings()
        settings.healthCheckPath = "/health"
        settings.intervalSeconds = 10
        let group = try state.createTargetGroup(name: "web-1", settings, now: now, using: &random, changes: &changes)
        #expect(group.arn.hasPrefix("arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web-1/") && group.arn.count == 86)
        #expect(group.healthCheck.timeoutSeconds == 5 && group.healthCheck.path == "/health")
        #expect(try state.createTargetGroup(name: "web-1", settings, now: now, using: &random, changes: &changes).arn == group.arn)
        settings.healthCheckPath = "/other"
        let duplicate = try #require(throws: AWSError.self) { try state.createTargetGroup(name: "web-1", settings, now: now, using: &random, changes: &changes) }
        #expect(duplicate.type == "DuplicateTargetGroupName")
        for bad in ["-web", "web_1", String(repeating: "a", count: 33)] {
            #expect(throws: AWSError.self) { try state.createTargetGroup(name: bad, TargetGroupState.Settings(), now: now, using: &random, changes: &changes) }
        }
        var wrong = TargetGroupState.Settings()
        wrong.matcher = "600"
        #expect(throws: AWSError.self) { try state.modifyTargetGroup(group.arn, wrong, changes: &changes) }
        wrong = TargetGroupState.Settings()
        wrong.timeoutSeconds = 10
        #expect(throws: AWSError.self) { try state.modifyTargetGroup(group.arn, wrong, changes: &changes) }
        #expect(throws: AWSError.self) { try state.describeTargetGroups(arns: [], names: ["web-1", "nope"]) }
        #expect(throws: AWSError.self) { try state.deleteTargetGroup(group.arn, inUseBy: "arn:aws:ecs:service/web", changes: &changes) }
        try state.deleteTargetGroup(group.arn, inUseBy: nil, changes: &changes)
        #expect(state.groups.isEmpty)
    }

    @Test func matchersTakeCodesListsAndRanges() {
        var check = HealthCheck()
        #expect(check.matches(200) && !check.matches(204))
        check.matcher = "200,202"
        #expect(check.matches(202) && !check.matches(201))
        check.matcher = "200-299"
        #expect(check.matches(204) && !check.matches(301))
    }

    @Test func aNewTargetIsJudgedByItsFirstCheckThenByThresholds() {
        var check = HealthCheck()
        check.healthyThreshold = 3
        check.unhealthyThreshold = 2
        var health = TargetHealth()
        #expect(health.state == .initial && health.reason == "Elb.RegistrationInProgress")
        health.record(status: 200, timedOut: false, check: check)
        #expect(health.state == .healthy && health.reason == nil)
        health.record(status: 500, timedOut: false, check: check)
        #expect(health.state == .healthy)
        health.record(status: nil, timedOut: true, check: check)
        #expect(health.state == .unhealthy && health.reason == "Target.Timeout")
        health.record(status: 200, timedOut: false, check: check)
        health.record(status: 200, timedOut: false, check: check)
        #expect(health.state == .unhealthy)
        health.record(status: 200, timedOut: false, check: check)
        #expect(health.state == .healthy)
        var failing = TargetHealth()
        failing.record(status: 404, timedOut: false, check: check)
        #expect(failing.state == .unhealthy && failing.description == "Health checks failed with these codes: [404]")
    }

    @Test func theRegistryChecksTargetsWhenDueAndForgetsThoseThatLeft() {
        let registry = TargetHealthRegistry()
        var check = HealthCheck()
        check.intervalSeconds = 5
        let start = ContinuousClock.now
        #expect(registry.due(group: "g", targets: ["a:1", "b:2"], interval: .seconds(5), now: start) == ["a:1", "b:2"])
        // Handed out, not due again until the interval has passed, answered or not.
        #expect(registry.due(group: "g", targets: ["a:1", "b:2"], interval: .seconds(5), now: start + .seconds(1)).isEmpty)
        registry.record(group: "g", target: "a:1", status: 200, timedOut: false, check: check, now: start + .seconds(1))
        registry.record(group: "g", target: "b:2", status: 500, timedOut: false, check: check, now: start + .seconds(1))
        #expect(registry.due(group: "g", targets: ["a:1", "b:2"], interval: .seconds(5), now: start + .seconds(6)) == ["a:1", "b:2"])
        #expect(registry.health(group: "g", target: "a:1").state == .healthy)
        #expect(registry.health(group: "g", target: "b:2").state == .unhealthy)
        // b:2 left the group: it is forgotten, and a new b:2 starts over.
        _ = registry.due(group: "g", targets: ["a:1"], interval: .seconds(5), now: start + .seconds(7))
        #expect(registry.health(group: "g", target: "b:2").state == .initial)
        registry.keep(groups: [])
        #expect(registry.health(group: "g", target: "a:1").state == .initial)
    }
}
