import AgentProtocol
@testable import ECS
import ECSShapes
import Foundation
import StevedoreCore
import StevedoreTestSupport
import Testing

/// Service deployments and revisions: made by the deployments a service starts, their status
/// following the rollout, the circuit breaker and StopServiceDeployment.
struct ServiceDeploymentTests {
    func list(_ fixture: SchedulerFixture, status: [ServiceDeploymentStatus]? = nil, maxResults: Int? = nil, token: String? = nil) throws
        -> ListServiceDeploymentsResponse
    {
        try fixture.ecs.listServiceDeployments(
            ListServiceDeploymentsRequest(service: "svc", cluster: "c", status: status, nextToken: token, maxResults: maxResults))
    }

    func deployment(_ fixture: SchedulerFixture, _ arn: String) throws -> ServiceDeployment {
        try #require(fixture.ecs.describeServiceDeployments(DescribeServiceDeploymentsRequest(serviceDeploymentArns: [arn])).serviceDeployments?.first)
    }

    func revision(_ fixture: SchedulerFixture, _ arn: String?) throws -> ServiceRevision {
        try #require(fixture.ecs.describeServiceRevisions(DescribeServiceRevisionsRequest(serviceRevisionArns: [arn ?? ""])).serviceRevisions?.first)
    }

    func update(_ fixture: inout SchedulerFixture, _ request: UpdateServiceRequest) throws {
        _ = try fixture.apply { try $0.updateService(request, now: $1, using: &$2, changes: &$3) }
    }

    func settle(_ fixture: inout SchedulerFixture, failing bad: String? = nil, passes: Int = 6) throws {
        for _ in 0..<passes {
            fixture.advance(1)
            fixture.pass()
            for record in fixture.ecs.tasks.values where !record.isStopped && record.lastStatus == .pending && record.task.taskDefinitionArn == bad {
                try fixture.report(record.arn, "STOPPED", reason: "CannotPullContainerError: broken image")
            }
            try fixture.agentsReport()
        }
    }

    @Test func eachDeploymentHasARevisionAndAStatusThatFollowsTheRollout() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        let first = try fixture.register()
        try fixture.createService(desired: 2)
        let created = try list(fixture).serviceDeployments!
        #expect(created.count == 1 && created[0].status == .inProgress)
        let arn = try #require(created[0].serviceDeploymentArn)
        #expect(arn.hasPrefix("arn:aws:ecs:us-east-1:000000000000:service-deployment/c/svc/") && ARN(arn)!.resourceId.split(separator: "/").last!.count == 22)
        #expect(fixture.service.currentServiceDeployment == arn)
        let target = try revision(fixture, created[0].targetServiceRevisionArn)
        #expect(target.taskDefinition == first && target.containerImages == [ContainerImage(containerName: "app", image: "web:1")])
        #expect(target.serviceRevisionArn!.hasPrefix("arn:aws:ecs:us-east-1:000000000000:service-revision/c/svc/"))
        #expect(try deployment(fixture, arn).sourceServiceRevisions == [])

        try settle(&fixture)
        let done = try deployment(fixture, arn)
        #expect(done.status == .successful && done.finishedAt != nil)
        #expect(done.targetServiceRevision == ServiceRevisionSummary(arn: target.serviceRevisionArn, requestedTaskCount: 2, runningTaskCount: 2, pendingTaskCount: 0))
        #expect(done.deploymentCircuitBreaker?.status == .disabled)
        #expect(fixture.service.currentServiceRevisions == [
            ServiceCurrentRevisionSummary(arn: target.serviceRevisionArn, requestedTaskCount: 2, runningTaskCount: 2, pendingTaskCount: 0)
        ])

        // A count alone starts no deployment; a new task definition does, from the running revision.
        try update(&fixture, UpdateServiceRequest(cluster: "c", service: "svc", desiredCount: 3))
        #expect(try list(fixture).serviceDeployments!.count == 1)
        let second = try fixture.register("web2")
        try update(&fixture, UpdateServiceRequest(cluster: "c", service: "svc", taskDefinition: second))
        let listed = try list(fixture).serviceDeployments!
        #expect(listed.count == 2 && listed[0].status == .inProgress && listed[1].serviceDeploymentArn == arn)
        let rolling = try deployment(fixture, listed[0].serviceDeploymentArn!)
        #expect(rolling.sourceServiceRevisions?.map(\.arn) == [target.serviceRevisionArn])
        #expect(try revision(fixture, rolling.targetServiceRevision?.arn).taskDefinition == second)
        try settle(&fixture)
        #expect(try deployment(fixture, listed[0].serviceDeploymentArn!).status == .successful)
        #expect(try list(fixture, status: [.inProgress]).serviceDeployments == [])
        // Pages, newest first.
        let page = try list(fixture, maxResults: 1)
        #expect(page.serviceDeployments!.map(\.serviceDeploymentArn) == [listed[0].serviceDeploymentArn])
        #expect(try list(fixture, maxResults: 1, token: page.nextToken).serviceDeployments!.map(\.serviceDeploymentArn) == [arn])
    }

    @Test func finishedDeploymentsExpireAfterNinetyDaysAndADeletedServiceTakesItsHistory() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        try fixture.createService(desired: 1)
        try settle(&fixture)
        let old = try list(fixture).serviceDeployments![0]
        fixture.advance(ECSState.serviceDeploymentRetention + 1)
        try update(&fixture, UpdateServiceRequest(cluster: "c", service: "svc", taskDefinition: try fixture.register("web2")))
        // The old one went; its revision stays while the rollout still runs its tasks.
        let listed = try list(fixture).serviceDeployments!
        #expect(listed.map(\.serviceDeploymentArn) != [old.serviceDeploymentArn] && listed.count == 1)
        #expect(fixture.ecs.serviceRevisions[old.targetServiceRevisionArn!] != nil)
        _ = try fixture.apply { ecs, now, _, changes in
            try ecs.deleteService(DeleteServiceRequest(cluster: "c", service: "svc", force: true), now: now, changes: &changes)
        }
        try settle(&fixture)
        #expect(fixture.ecs.services[fixture.serviceArn]?.service.status == "INACTIVE")
        try fixture.createService(desired: 0)
        #expect(try list(fixture).serviceDeployments!.count == 1)
        #expect(fixture.ecs.serviceRevisions.count == 1)
    }

    @Test func aNewerDeploymentStopsTheOneInProgress() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        try fixture.createService(desired: 1)
        let first = try list(fixture).serviceDeployments![0].serviceDeploymentArn!
        try update(&fixture, UpdateServiceRequest(cluster: "c", service: "svc", forceNewDeployment: true))
        let stopped = try deployment(fixture, first)
        #expect(stopped.status == .stopped && stopped.stoppedAt != nil)
    }

    @Test func theCircuitBreakerRollsTheServiceDeploymentBack() throws {
        var settings = SchedulerSettings()
        settings.launchBackoffBase = 0.001
        settings.circuitBreakerMinimumThreshold = 3
        var fixture = SchedulerFixture(settings: settings)
        try fixture.addInstance()
        try fixture.register()
        try fixture.createService(desired: 2, breaker: DeploymentCircuitBreaker(enable: true, rollback: true))
        try settle(&fixture)
        let good = try list(fixture).serviceDeployments![0].targetServiceRevisionArn
        let bad = try fixture.register(labels: ["broken": "yes"])
        try update(&fixture, UpdateServiceRequest(cluster: "c", service: "svc", taskDefinition: bad))
        let arn = try list(fixture).serviceDeployments![0].serviceDeploymentArn!
        #expect(try deployment(fixture, arn).deploymentCircuitBreaker == ServiceDeploymentCircuitBreaker(status: .monitoring, failureCount: 0, threshold: 3))
        try settle(&fixture, failing: bad, passes: 20)
        let rolledBack = try deployment(fixture, arn)
        #expect(rolledBack.status == .rollbackSuccessful)
        #expect(rolledBack.deploymentCircuitBreaker?.status == .triggered && (rolledBack.deploymentCircuitBreaker?.failureCount ?? 0) >= 3)
        #expect(rolledBack.rollback?.serviceRevisionArn == good && rolledBack.rollback?.startedAt != nil)
        #expect(rolledBack.statusReason == "ECS deployment circuit breaker: tasks failed to start.")
        // No revision is made for a rollback: the service runs the earlier one again.
        #expect(fixture.service.currentServiceRevisions?.map(\.arn) == [good])
    }

    @Test func aBreakerWithNothingToRollBackToEndsRollbackFailedOrStopped() throws {
        var settings = SchedulerSettings()
        settings.launchBackoffBase = 0.001
        settings.circuitBreakerMinimumThreshold = 2
        var fixture = SchedulerFixture(settings: settings)
        try fixture.addInstance()
        let bad = try fixture.register(labels: ["broken": "yes"])
        try fixture.createService(desired: 1, breaker: DeploymentCircuitBreaker(enable: true, rollback: true))
        let arn = try list(fixture).serviceDeployments![0].serviceDeploymentArn!
        try settle(&fixture, failing: bad, passes: 10)
        // The first deployment failed: no earlier revision, so it stops rather than waiting to roll back.
        let stopped = try deployment(fixture, arn)
        #expect(stopped.status == .stopped && stopped.deploymentCircuitBreaker?.status == .triggered && stopped.stoppedAt != nil)
    }

    @Test func anUpdateAfterAStopRequestReplacesTheRollback() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        let first = try fixture.register()
        try fixture.createService(desired: 1)
        try settle(&fixture)
        try update(&fixture, UpdateServiceRequest(cluster: "c", service: "svc", taskDefinition: try fixture.register("web2")))
        let stoppedArn = try list(fixture).serviceDeployments![0].serviceDeploymentArn!
        _ = try fixture.apply { ecs, now, _, changes in
            try ecs.stopServiceDeployment(StopServiceDeploymentRequest(serviceDeploymentArn: stoppedArn), now: now, changes: &changes)
        }
        let third = try fixture.register("web3")
        fixture.advance(1)
        try update(&fixture, UpdateServiceRequest(cluster: "c", service: "svc", taskDefinition: third))
        try settle(&fixture)
        #expect(fixture.service.taskDefinition == third && fixture.service.taskDefinition != first)
        #expect(try list(fixture).serviceDeployments![0].status == .successful)
        #expect(try deployment(fixture, stoppedArn).status == .stopped)
    }

    @Test func aRollbackBringsTheRevisionsSettingsBack() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        let container = ContainerDefinition(name: "app", image: "web:1", memory: 64, portMappings: [PortMapping(containerPort: 8080, hostPort: 0)])
        _ = try fixture.apply {
            try $0.registerTaskDefinition(RegisterTaskDefinitionRequest(family: "web", containerDefinitions: [container]), requestBytes: 100, now: $1, changes: &$3)
        }
        try fixture.createService(desired: 1)
        try settle(&fixture)
        let group = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/1"
        // Same task definition, new target group: a deployment of its own, rolled back on request.
        try update(&fixture, UpdateServiceRequest(
            cluster: "c", service: "svc", loadBalancers: [LoadBalancer(targetGroupArn: group, containerName: "app", containerPort: 8080)]))
        let arn = try list(fixture).serviceDeployments![0].serviceDeploymentArn!
        #expect(try revision(fixture, try deployment(fixture, arn).targetServiceRevision?.arn).loadBalancers?.map(\.targetGroupArn) == [group])
        _ = try fixture.apply { ecs, now, _, changes in
            try ecs.stopServiceDeployment(StopServiceDeploymentRequest(serviceDeploymentArn: arn), now: now, changes: &changes)
        }
        try settle(&fixture)
        #expect(fixture.service.loadBalancers == [])
        #expect(try deployment(fixture, arn).status == .rollbackSuccessful)
    }

    @Test func stopServiceDeploymentRollsBackOnRequest() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        let first = try fixture.register()
        try fixture.createService(desired: 2)
        let initial = try list(fixture).serviceDeployments![0].serviceDeploymentArn!
        func stop(_ arn: String, _ type: StopServiceDeploymentStopType? = nil) throws -> StopServiceDeploymentResponse {
            try fixture.apply { ecs, now, _, changes in
                try ecs.stopServiceDeployment(StopServiceDeploymentRequest(serviceDeploymentArn: arn, stopType: type), now: now, changes: &changes)
            }
        }
        #expect(throws: AWSError(type: "ConflictException", message: "The service deployment has no earlier service revision to roll back to.")) {
            try stop(initial)
        }
        try settle(&fixture)
        #expect(throws: AWSError(type: "ConflictException", message: "The service deployment is SUCCESSFUL and can no longer be stopped.")) {
            try stop(initial)
        }
        try update(&fixture, UpdateServiceRequest(cluster: "c", service: "svc", taskDefinition: try fixture.register("web2")))
        let arn = try list(fixture).serviceDeployments![0].serviceDeploymentArn!
        #expect(throws: AWSError(type: "InvalidParameterException", message: "Invalid stopType ABORT: the only supported stop type is ROLLBACK.")) {
            try stop(arn, .abort)
        }
        #expect(try stop(arn, .rollback).serviceDeploymentArn == arn)
        #expect(try deployment(fixture, arn).status == .rollbackRequested)
        fixture.pass()
        #expect(try deployment(fixture, arn).status == .rollbackInProgress)
        try settle(&fixture)
        #expect(try deployment(fixture, arn).status == .rollbackSuccessful)
        #expect(fixture.service.taskDefinition == first && fixture.running.allSatisfy { $0.task.taskDefinitionArn == first })
        let missing = "arn:aws:ecs:us-east-1:000000000000:service-deployment/c/svc/nope"
        #expect(throws: AWSError(
            type: "ServiceDeploymentNotFoundException",
            message: "The service deployment \(missing) does not exist. You can use ListServiceDeployments to retrieve the service deployment ARNs.")) {
            try stop(missing)
        }
        let described = try fixture.ecs.describeServiceDeployments(DescribeServiceDeploymentsRequest(serviceDeploymentArns: [missing]))
        #expect(described.failures == [Failure(arn: missing, reason: "MISSING")])
        #expect(throws: AWSError.invalidParameter("serviceRevisionArns must contain between 1 and 20 ARNs; got 0.")) {
            _ = try fixture.ecs.describeServiceRevisions(DescribeServiceRevisionsRequest(serviceRevisionArns: []))
        }
    }
}
