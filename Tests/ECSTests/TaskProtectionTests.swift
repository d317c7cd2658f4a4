import AgentProtocol
@testable import ECS
import ECSShapes
import Foundation
import StevedoreCore
import StevedoreTestSupport
import Testing

/// Task scale-in protection: what UpdateTaskProtection and GetTaskProtection answer, and that the
/// service scheduler leaves protected tasks through scale-in and deployments until they expire.
struct TaskProtectionTests {
    func protect(_ fixture: inout SchedulerFixture, _ tasks: [String], enabled: Bool = true, minutes: Int? = nil) throws -> UpdateTaskProtectionResponse {
        try fixture.apply { ecs, now, _, changes in
            try ecs.updateTaskProtection(
                UpdateTaskProtectionRequest(cluster: "c", tasks: tasks, protectionEnabled: enabled, expiresInMinutes: minutes), now: now, changes: &changes)
        }
    }

    @Test func scaleInLeavesProtectedTasksUntilTheirProtectionExpires() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        try fixture.createService(desired: 3)
        fixture.pass()
        try fixture.agentsReport()
        fixture.pass()
        let protectedArns = fixture.running.map(\.arn).sorted().prefix(2).map { $0 }
        let answer = try protect(&fixture, protectedArns, minutes: 10)
        #expect(answer.failures == [])
        #expect(answer.protectedTasks?.allSatisfy { $0.protectionEnabled == true && $0.expirationDate == fixture.now.addingTimeInterval(600) } == true)
        _ = try fixture.apply { ecs, now, random, changes in
            try ecs.updateService(UpdateServiceRequest(cluster: "c", service: "svc", desiredCount: 0), now: now, using: &random, changes: &changes)
        }
        fixture.pass()
        // Only the unprotected task stops.
        #expect(Set(fixture.live.map(\.arn)) == Set(protectedArns))
        fixture.advance(601)
        fixture.pass()
        #expect(fixture.live.isEmpty)
    }

    @Test func aServiceDeletedWithForceStopsItsProtectedTasksToo() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        try fixture.createService(desired: 2)
        fixture.pass()
        #expect(try protect(&fixture, fixture.live.map(\.arn)).failures == [])
        _ = try fixture.apply { ecs, now, _, changes in
            try ecs.deleteService(DeleteServiceRequest(cluster: "c", service: "svc", force: true), now: now, changes: &changes)
        }
        fixture.pass()
        #expect(fixture.live.isEmpty)
    }

    @Test func aDeploymentWaitsForAProtectedTaskOfTheOldOne() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        try fixture.register("web2")
        try fixture.createService(desired: 1, minimum: 0, maximum: 200)
        fixture.pass()
        try fixture.agentsReport()
        fixture.pass()
        let old = try #require(fixture.running.first?.arn)
        _ = try protect(&fixture, [old])
        _ = try fixture.apply { ecs, now, random, changes in
            try ecs.updateService(UpdateServiceRequest(cluster: "c", service: "svc", taskDefinition: "web2"), now: now, using: &random, changes: &changes)
        }
        for _ in 0..<3 {
            fixture.pass()
            try fixture.agentsReport()
        }
        #expect(fixture.live.contains { $0.arn == old })
        _ = try protect(&fixture, [old], enabled: false)
        fixture.pass()
        #expect(!fixture.live.contains { $0.arn == old })
    }

    @Test func standaloneMissingAndTooManyProtectedTasksAreFailures() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        try fixture.createService(desired: 1)
        fixture.pass()
        let serviceTask = try #require(fixture.live.first?.arn)
        let standalone = try #require(
            try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }.tasks?.first?.taskArn)
        let answer = try protect(&fixture, [serviceTask, standalone, "0123456789abcdef0123456789abcdef"])
        #expect(answer.protectedTasks?.map(\.taskArn) == [serviceTask])
        #expect(answer.failures?.map(\.reason) == ["TASK_NOT_VALID", "MISSING"])
        #expect(throws: AWSError.self) { try protect(&fixture, [serviceTask], minutes: 2881) }
        #expect(throws: AWSError.self) { try protect(&fixture, []) }
        let got = try fixture.apply { ecs, now, _, _ in try ecs.getTaskProtection(GetTaskProtectionRequest(cluster: "c", tasks: [serviceTask, standalone]), now: now) }
        #expect(got.protectedTasks?.first?.protectionEnabled == true)
        #expect(got.failures?.map(\.reason) == ["TASK_NOT_VALID"])
        fixture.advance(121 * 60)
        let expired = try fixture.apply { ecs, now, _, _ in try ecs.getTaskProtection(GetTaskProtectionRequest(cluster: "c", tasks: [serviceTask]), now: now) }
        #expect(expired.protectedTasks == [ProtectedTask(taskArn: serviceTask, protectionEnabled: false)])
        let all = try fixture.apply { ecs, now, _, _ in try ecs.getTaskProtection(GetTaskProtectionRequest(cluster: "c"), now: now) }
        #expect(all.protectedTasks == [])
    }

    @Test func aProtectionBeyondTheDesiredCountIsBlocked() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        try fixture.createService(desired: 2)
        fixture.pass()
        let arns = fixture.live.map(\.arn).sorted()
        #expect(try protect(&fixture, arns).failures == [])
        _ = try fixture.apply { ecs, now, random, changes in
            try ecs.updateService(UpdateServiceRequest(cluster: "c", service: "svc", desiredCount: 1), now: now, using: &random, changes: &changes)
        }
        // Both are still protected, one more than desired: renewing either is blocked.
        #expect(try protect(&fixture, [arns[0]]).failures?.map(\.reason) == ["DEPLOYMENT_BLOCKED"])
    }
}
