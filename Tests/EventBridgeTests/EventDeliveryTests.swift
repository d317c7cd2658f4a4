import ECS
import ECSShapes
import EventsShapes
import Foundation
import Lambda
import LambdaShapes
import SNS
import SQS
import SQSShapes
import StevedoreCore
import Testing

@testable import EventBridge

/// The services EventBridge delivers into, composed as the control plane composes them.
struct EventsHost: EventBridgeHost, SNSHost {
    var ecs: ECSState
    var sqs: SQSState
    var lambda: FunctionsState
    var events: EventBridgeState
    var sns: SNSState

    init() {
        let names = ResourceNames()
        ecs = ECSState(names: names)
        sqs = SQSState(names: names)
        lambda = FunctionsState(names: names)
        events = EventBridgeState(names: names)
        sns = SNSState(names: names)
    }

    mutating func containerInstanceRegistered(_ arn: String, changes: inout ChangeSet) {}
}

/// Rules, targets and delivery: what PutEvents, schedules and retries leave in the other services.
struct EventDeliveryTests {
    var host = EventsHost()
    var random = Xoshiro256(seed: 3)
    var changes = ChangeSet()
    var now = Date(timeIntervalSince1970: 1_800_000_000)
    let account = "000000000000"

    init() throws {
        for queue in ["out", "dlq"] {
            _ = try host.sqs.createQueue(SQSCreateQueueRequest(QueueName: queue), now: now, changes: &changes)
        }
    }

    mutating func rule(_ name: String, pattern: String? = nil, schedule: String? = nil, targets: [EVBTarget]) throws {
        _ = try host.events.putRule(EVBPutRuleRequest(Name: name, ScheduleExpression: schedule, EventPattern: pattern), now: now, changes: &changes)
        let answer = try host.events.putTargets(EVBPutTargetsRequest(Rule: name, Targets: targets), changes: &changes)
        #expect(answer.FailedEntryCount == 0, "\(answer)")
    }

    mutating func put(_ entries: [EVBPutEventsRequestEntry]) throws -> EVBPutEventsResponse {
        try host.putEvents(EVBPutEventsRequest(Entries: entries), now: now, using: &random, changes: &changes)
    }

    func messages(_ queue: String) -> [QueueMessageRecord] {
        (host.sqs.messages[queue] ?? [:]).values.sorted { $0.sequence < $1.sequence }
    }

    func json(_ text: String) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }

    var queueArn: String { "arn:aws:sqs:us-east-1:\(account):out" }

    @Test mutating func matchingEventsReachTheQueueInEventBridgesEnvelope() throws {
        try rule("orders", pattern: #"{"source":["shop"],"detail":{"total":[{"numeric":[">",100]}]}}"#, targets: [EVBTarget(Id: "q", Arn: queueArn)])
        let answer = try put([
            EVBPutEventsRequestEntry(Source: "shop", DetailType: "Order", Detail: #"{"total": 250, "id": "a1"}"#),
            EVBPutEventsRequestEntry(Source: "shop", DetailType: "Order", Detail: #"{"total": 5}"#),
            EVBPutEventsRequestEntry(Source: "shop", DetailType: "Order", Detail: "[1]"),
            EVBPutEventsRequestEntry(DetailType: "Order", Detail: "{}"),
        ])
        #expect(answer.FailedEntryCount == 2)
        #expect(answer.Entries?[2] == EVBPutEventsResultEntry(ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."))
        #expect(answer.Entries?[3].ErrorMessage == "Parameter Source is not valid. Reason: Source is a required argument.")
        let delivered = messages("out")
        #expect(delivered.count == 1)
        let body = try #require(delivered.first?.body)
        #expect(body.hasPrefix(#"{"version":"0","id":"\#(answer.Entries![0].EventId!)","detail-type":"Order","source":"shop","account":"\#(account)","time":"2027-01-15T08:00:00Z","region":"us-east-1","resources":[],"detail":{"total": 250"#))
        // Disabled rules deliver nothing.
        try host.events.setRuleEnabled("orders", bus: nil, enabled: false, now: now, changes: &changes)
        _ = try put([EVBPutEventsRequestEntry(Source: "shop", DetailType: "Order", Detail: #"{"total": 250}"#)])
        #expect(messages("out").count == 1)
    }

    @Test mutating func inputsAreShapedPerTarget() throws {
        let transformer = EVBInputTransformer(
            InputPathsMap: ["status": "$.detail.status", "first": "$.resources[0]", "gone": "$.detail.nothing"],
            InputTemplate: #"{"text": "<status> at <first>", "status": <status>, "gone": <gone>, "rule": "<aws.events.rule-name>"}"#)
        try rule(
            "shapes", pattern: #"{"source":["app"]}"#,
            targets: [
                EVBTarget(Id: "constant", Arn: queueArn, Input: #"{"fixed":true}"#),
                EVBTarget(Id: "path", Arn: queueArn, InputPath: "$.detail"),
                EVBTarget(Id: "template", Arn: queueArn, InputTransformer: transformer),
            ])
        _ = try put([EVBPutEventsRequestEntry(Source: "app", Resources: ["r-1"], DetailType: "T", Detail: #"{"status":"UP"}"#)])
        let bodies = messages("out").map(\.body)
        #expect(bodies.count == 3)
        #expect(bodies.contains(#"{"fixed":true}"#))
        #expect(bodies.contains(#"{"status":"UP"}"#))
        #expect(bodies.contains(#"{"text": "UP at r-1", "status": "UP", "gone": "", "rule": "shapes"}"#))
    }

    @Test mutating func targetsAreValidated() throws {
        _ = try host.events.putRule(EVBPutRuleRequest(Name: "r", EventPattern: #"{"source":["a"]}"#), now: now, changes: &changes)
        #expect(throws: AWSError.eventsValidation("Only one of Input, InputPath, or InputTransformer must be provided for target t.")) {
            try host.events.putTargets(EVBPutTargetsRequest(Rule: "r", Targets: [EVBTarget(Id: "t", Arn: queueArn, Input: "{}", InputPath: "$")]), changes: &changes)
        }
        let transformer = EVBInputTransformer(InputPathsMap: [:], InputTemplate: #""<nope>""#)
        #expect(throws: AWSError.eventsValidation("InputTemplate for target t contains invalid placeholder nope.")) {
            try host.events.putTargets(EVBPutTargetsRequest(Rule: "r", Targets: [EVBTarget(Id: "t", Arn: queueArn, InputTransformer: transformer)]), changes: &changes)
        }
        let answer = try host.events.putTargets(
            EVBPutTargetsRequest(Rule: "r", Targets: [EVBTarget(Id: "kinesis", Arn: "arn:aws:kinesis:us-east-1:\(account):stream/s")]), changes: &changes)
        #expect(answer.FailedEntryCount == 1)
        #expect(throws: AWSError.ruleNotFound("missing", bus: "default")) {
            try host.events.putTargets(EVBPutTargetsRequest(Rule: "missing", Targets: [EVBTarget(Id: "t", Arn: queueArn)]), changes: &changes)
        }
        for index in 0..<5 {
            _ = try host.events.putTargets(EVBPutTargetsRequest(Rule: "r", Targets: [EVBTarget(Id: "t\(index)", Arn: queueArn)]), changes: &changes)
        }
        #expect(throws: AWSError.self) {
            try host.events.putTargets(EVBPutTargetsRequest(Rule: "r", Targets: [EVBTarget(Id: "t5", Arn: queueArn)]), changes: &changes)
        }
        #expect(throws: AWSError.eventsValidation("Rule can't be deleted since it has targets.")) {
            try host.events.deleteRule(EVBDeleteRuleRequest(Name: "r"), changes: &changes)
        }
        try host.events.deleteRule(EVBDeleteRuleRequest(Name: "r", Force: true), changes: &changes)
        #expect(host.events.rules["default"]?["r"] == nil)
    }

    @Test mutating func rulesAreValidated() throws {
        func refusal(_ request: EVBPutRuleRequest) -> AWSError? {
            var state = host.events
            do {
                _ = try state.putRule(request, now: now, changes: &changes)
                return nil
            } catch {
                return error
            }
        }
        #expect(refusal(EVBPutRuleRequest(Name: "r"))?.message == "Parameter(s) EventPattern or ScheduleExpression must be specified.")
        #expect(refusal(EVBPutRuleRequest(Name: "r", ScheduleExpression: "rate(1 minutes)"))?.message == "Parameter ScheduleExpression is not valid.")
        #expect(refusal(EVBPutRuleRequest(Name: "r", ScheduleExpression: "at(2027-01-01T00:00:00)"))?.message == "Parameter ScheduleExpression is not valid.")
        #expect(refusal(EVBPutRuleRequest(Name: "r", EventPattern: "{}"))?.type == "InvalidEventPatternException")
        #expect(refusal(EVBPutRuleRequest(Name: "bad name", EventPattern: #"{"a":["b"]}"#))?.type == "ValidationException")
        #expect(refusal(EVBPutRuleRequest(Name: "r", EventPattern: #"{"a":["b"]}"#, EventBusName: "nope"))?.message == "Event bus nope does not exist.")
        _ = try host.events.createEventBus(EVBCreateEventBusRequest(Name: "custom"), now: now, changes: &changes)
        #expect(refusal(EVBPutRuleRequest(Name: "r", ScheduleExpression: "rate(5 minutes)", EventBusName: "custom"))?.message
            == "ScheduleExpression is supported only on the default event bus.")
        #expect(throws: AWSError(type: "ResourceAlreadyExistsException", message: "Event bus custom already exists.")) {
            try host.events.createEventBus(EVBCreateEventBusRequest(Name: "custom"), now: now, changes: &changes)
        }
    }

    @Test mutating func eventsGoFromBusToBusAndToTheirOwnRules() throws {
        _ = try host.events.createEventBus(EVBCreateEventBusRequest(Name: "orders"), now: now, changes: &changes)
        _ = try host.events.putRule(EVBPutRuleRequest(Name: "on-orders", EventPattern: #"{"source":["shop"]}"#, EventBusName: "orders"), now: now, changes: &changes)
        _ = try host.events.putTargets(EVBPutTargetsRequest(Rule: "on-orders", EventBusName: "orders", Targets: [EVBTarget(Id: "q", Arn: queueArn)]), changes: &changes)
        try rule("forward", pattern: #"{"source":["shop"]}"#, targets: [EVBTarget(Id: "bus", Arn: host.events.names.eventBus("orders"))])
        let answer = try put([
            EVBPutEventsRequestEntry(Source: "shop", DetailType: "Order", Detail: "{}"),
            EVBPutEventsRequestEntry(Source: "shop", DetailType: "Order", Detail: "{}", EventBusName: "no-such-bus"),
        ])
        #expect(answer.FailedEntryCount == 0)
        #expect(messages("out").count == 1)
    }

    @Test mutating func topicsPassEventsOnToTheirSubscribers() throws {
        let topic = try host.sns.createTopic(name: "alerts", attributes: [:], tags: [:], changes: &changes)
        _ = try host.sns.subscribe(
            topicArn: topic, protocol: "sqs", endpoint: queueArn, attributes: ["RawMessageDelivery": "true"], returnArn: true, token: "t0k3n", now: now, using: &random,
            changes: &changes)
        try rule("alerting", pattern: #"{"source":["app"]}"#, targets: [EVBTarget(Id: "topic", Arn: topic, InputPath: "$.detail")])
        _ = try put([EVBPutEventsRequestEntry(Source: "app", DetailType: "Alarm", Detail: #"{"level":"high"}"#)])
        #expect(messages("out").map(\.body) == [#"{"level":"high"}"#])
    }

    @Test mutating func undeliverableEventsGoToTheDeadLetterQueue() throws {
        let dlq = EVBDeadLetterConfig(Arn: "arn:aws:sqs:us-east-1:\(account):dlq")
        try rule(
            "broken", pattern: #"{"source":["app"]}"#,
            targets: [EVBTarget(Id: "f", Arn: "arn:aws:lambda:us-east-1:\(account):function:absent", DeadLetterConfig: dlq)])
        _ = try put([EVBPutEventsRequestEntry(Source: "app", DetailType: "T", Detail: #"{"n":1}"#)])
        let letter = try #require(messages("dlq").first)
        #expect(letter.body.contains(#""detail":{"n":1}"#))
        #expect(letter.attributes?["ERROR_CODE"]?.StringValue == "ResourceNotFoundException")
        #expect(letter.attributes?["RULE_ARN"]?.StringValue == "arn:aws:events:us-east-1:\(account):rule/broken")
        #expect(letter.attributes?["TARGET_ARN"]?.StringValue == "arn:aws:lambda:us-east-1:\(account):function:absent")
        #expect(host.events.pendingDeliveries.isEmpty)
    }

    @Test mutating func failedTasksAreRetriedThenDeadLettered() throws {
        // A cluster whose one instance is too small: RunTask fails to place, which may pass
        // (capacity may come), so it is retried.
        _ = try host.ecs.createCluster(CreateClusterRequest(clusterName: "empty"), changes: &changes)
        try addInstance(cluster: "empty", memory: 64)
        let definition = try host.ecs.registerTaskDefinition(
            RegisterTaskDefinitionRequest(
                family: "job", containerDefinitions: [ContainerDefinition(name: "c", image: "busybox", memory: 512, essential: true)]),
            requestBytes: 100, now: now, changes: &changes)
        let target = EVBTarget(
            Id: "task", Arn: "arn:aws:ecs:us-east-1:\(account):cluster/empty",
            EcsParameters: EVBEcsParameters(TaskDefinitionArn: definition.taskDefinition!.taskDefinitionArn!),
            DeadLetterConfig: EVBDeadLetterConfig(Arn: "arn:aws:sqs:us-east-1:\(account):dlq"),
            RetryPolicy: EVBRetryPolicy(MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600))
        try rule("job", pattern: #"{"source":["app"]}"#, targets: [target])
        _ = try put([EVBPutEventsRequestEntry(Source: "app", DetailType: "T", Detail: "{}")])
        #expect(host.events.pendingDeliveries.count == 1)
        #expect(!host.events.hasDueWork(now: now))
        for _ in 0..<2 {
            now = now.addingTimeInterval(301)
            #expect(host.events.hasDueWork(now: now))
            host.retryDueDeliveries(now: now, using: &random, changes: &changes)
        }
        #expect(host.events.pendingDeliveries.isEmpty)
        let letter = try #require(messages("dlq").first)
        #expect(letter.attributes?["EXHAUSTED_RETRY_CONDITION"]?.StringValue == "MaximumRetryAttemptsExceeded")
        #expect(letter.attributes?["RETRY_ATTEMPTS"]?.StringValue == "2")
    }

    mutating func addInstance(cluster: String, memory: Int) throws {
        let request = RegisterContainerInstanceRequest(
            cluster: cluster,
            totalResources: [
                Resource(name: "CPU", type: "INTEGER", integerValue: 1024), Resource(name: "MEMORY", type: "INTEGER", integerValue: memory),
            ])
        _ = try host.registerContainerInstance(request, now: now, using: &random, changes: &changes)
    }

    @Test mutating func schedulesFireOnTimeAndOncePerDueTime() throws {
        try rule("tick", schedule: "rate(5 minutes)", targets: [EVBTarget(Id: "q", Arn: queueArn)])
        #expect(host.fireDueSchedules(now: now, using: &random, changes: &changes) == 0)
        now = now.addingTimeInterval(300)
        #expect(host.fireDueSchedules(now: now, using: &random, changes: &changes) == 1)
        #expect(host.fireDueSchedules(now: now, using: &random, changes: &changes) == 0)
        // Behind by three periods: fires once, then keeps its rhythm.
        now = now.addingTimeInterval(900)
        #expect(host.fireDueSchedules(now: now, using: &random, changes: &changes) == 1)
        let event = try json(try #require(messages("out").last?.body))
        guard case .object(let fields) = event else { Issue.record("not an object"); return }
        #expect(fields["detail-type"] == .string("Scheduled Event"))
        #expect(fields["source"] == .string("aws.events"))
        #expect(fields["resources"] == .array([.string("arn:aws:events:us-east-1:\(account):rule/tick")]))
        #expect(messages("out").count == 2)
        #expect(host.events.rules["default"]?["tick"]?.nextFireAt == now.addingTimeInterval(300))
    }

    @Test mutating func ecsTaskChangesBecomeEvents() throws {
        try rule(
            "stopped", pattern: #"{"source":["aws.ecs"],"detail-type":["ECS Task State Change"],"detail":{"desiredStatus":["STOPPED"]}}"#,
            targets: [EVBTarget(Id: "q", Arn: queueArn)])
        _ = try host.ecs.createCluster(CreateClusterRequest(clusterName: "c"), changes: &changes)
        try addInstance(cluster: "c", memory: 1024)
        _ = try host.ecs.registerTaskDefinition(
            RegisterTaskDefinitionRequest(
                family: "job", containerDefinitions: [ContainerDefinition(name: "c", image: "busybox", memory: 32, essential: true)]),
            requestBytes: 100, now: now, changes: &changes)
        var made = ChangeSet()
        let run = try host.ecs.runTask(RunTaskRequest(cluster: "c", taskDefinition: "job"), now: now, using: &random, changes: &made)
        let arn = try #require(run.tasks?.first?.taskArn)
        host.publishECSEvents(of: made, now: now, using: &random, changes: &changes)
        #expect(messages("out").isEmpty)
        var stopped = ChangeSet()
        _ = try host.ecs.stopTask(StopTaskRequest(cluster: "c", task: arn, reason: "done"), now: now, changes: &stopped)
        host.publishECSEvents(of: stopped, now: now, using: &random, changes: &changes)
        let body = try #require(messages("out").first?.body)
        guard case .object(let event) = try json(body), case .object(let detail)? = event["detail"] else { Issue.record("no detail"); return }
        #expect(event["resources"] == .array([.string(arn)]))
        // Asked to stop before its agent started it: the agent will report it stopped (another event).
        #expect(detail["desiredStatus"] == .string("STOPPED"))
        #expect(detail["lastStatus"] == .string("PENDING"))
        #expect(detail["taskArn"] == .string(arn))
        #expect(detail["stoppedReason"] == .string("done"))
        guard case .string(let created)? = detail["createdAt"] else { Issue.record("createdAt is not text"); return }
        #expect(created == "2027-01-15T08:00:00.000Z")
    }

    @Test mutating func onlyRulesThatCouldMatchECSMakeECSEvents() throws {
        try rule("shop", pattern: #"{"source":["shop"]}"#, targets: [EVBTarget(Id: "q", Arn: queueArn)])
        #expect(!host.events.listensForECSEvents)
        try rule("any", pattern: #"{"detail-type":[{"prefix":"ECS"}]}"#, targets: [EVBTarget(Id: "q", Arn: queueArn)])
        #expect(host.events.listensForECSEvents)
        try host.events.setRuleEnabled("any", bus: nil, enabled: false, now: now, changes: &changes)
        #expect(!host.events.listensForECSEvents)
        try rule("ecs", pattern: #"{"$or":[{"source":["aws.ecs"]},{"source":["aws.ec2"]}]}"#, targets: [EVBTarget(Id: "q", Arn: queueArn)])
        #expect(host.events.listensForECSEvents)
    }

    @Test mutating func reportsThatChangeNoStatusAreNotEvents() throws {
        try rule("all-ecs", pattern: #"{"source":["aws.ecs"]}"#, targets: [EVBTarget(Id: "q", Arn: queueArn)])
        _ = try host.ecs.createCluster(CreateClusterRequest(clusterName: "c"), changes: &changes)
        try addInstance(cluster: "c", memory: 1024)
        _ = try host.ecs.registerTaskDefinition(
            RegisterTaskDefinitionRequest(family: "job", containerDefinitions: [ContainerDefinition(name: "c", image: "busybox", memory: 32, essential: true)]),
            requestBytes: 100, now: now, changes: &changes)
        var made = ChangeSet()
        _ = try host.ecs.runTask(RunTaskRequest(cluster: "c", taskDefinition: "job"), now: now, using: &random, changes: &made)
        host.publishECSEvents(of: made, now: now, using: &random, changes: &changes)
        host.publishECSEvents(of: made, now: now, using: &random, changes: &changes)
        #expect(messages("out").filter { $0.body.contains("ECS Task State Change") }.count == 1)
    }

    @Test mutating func servicesReportDeploymentsAndSteadyState() throws {
        try rule("services", pattern: #"{"source":["aws.ecs"],"detail-type":["ECS Deployment State Change","ECS Service Action"]}"#,
            targets: [EVBTarget(Id: "q", Arn: queueArn)])
        _ = try host.ecs.createCluster(CreateClusterRequest(clusterName: "c"), changes: &changes)
        try addInstance(cluster: "c", memory: 1024)
        _ = try host.ecs.registerTaskDefinition(
            RegisterTaskDefinitionRequest(family: "web", containerDefinitions: [ContainerDefinition(name: "app", image: "busybox", memory: 32, essential: true)]),
            requestBytes: 100, now: now, changes: &changes)
        var made = ChangeSet()
        _ = try host.ecs.createService(
            CreateServiceRequest(cluster: "c", serviceName: "svc", taskDefinition: "web", desiredCount: 1), now: now, using: &random, changes: &made)
        host.ecs.reconcileServices(now: now, using: &random, changes: &made)
        host.publishECSEvents(of: made, now: now, using: &random, changes: &changes)
        for arn in host.ecs.tasks.keys {
            var reported = ChangeSet()
            _ = try host.ecs.submitTaskStateChange(
                SubmitTaskStateChangeRequest(cluster: "c", task: arn, status: "RUNNING", containers: [ContainerStateChange(containerName: "app", status: "RUNNING")]),
                now: now, changes: &reported)
        }
        for _ in 0..<3 {
            now = now.addingTimeInterval(30)
            var passed = ChangeSet()
            host.ecs.reconcileServices(now: now, using: &random, changes: &passed)
            host.publishECSEvents(of: passed, now: now, using: &random, changes: &changes)
        }
        let names = try messages("out").map { message -> String in
            guard case .object(let event) = try json(message.body), case .object(let detail)? = event["detail"], case .string(let name)? = detail["eventName"]
            else { return "?" }
            return name
        }
        #expect(names.first == "SERVICE_DEPLOYMENT_IN_PROGRESS")
        #expect(names.contains("SERVICE_DEPLOYMENT_COMPLETED"))
        #expect(names.contains("SERVICE_STEADY_STATE"))
        #expect(names.filter { $0 == "SERVICE_DEPLOYMENT_IN_PROGRESS" }.count == 1)
    }

    @Test mutating func eventTimesOutsideWhatAnEventCanSayAreRefused() throws {
        let answer = try put([EVBPutEventsRequestEntry(Time: Date(timeIntervalSince1970: 1e19), Source: "a", DetailType: "b", Detail: "{}")])
        #expect(answer.FailedEntryCount == 1 && answer.Entries?.first?.ErrorCode == "InvalidArgument")
        #expect(ECSEventDetail.iso8601(1e19) == "9999-12-31T23:59:59.000Z")
    }

    @Test mutating func schedulesEnabledAgainCountFromThen() throws {
        try rule("hourly", schedule: "rate(1 hour)", targets: [EVBTarget(Id: "q", Arn: queueArn)])
        try host.events.setRuleEnabled("hourly", bus: nil, enabled: false, now: now, changes: &changes)
        now = now.addingTimeInterval(3590)
        try host.events.setRuleEnabled("hourly", bus: nil, enabled: true, now: now, changes: &changes)
        now = now.addingTimeInterval(3600)
        #expect(host.fireDueSchedules(now: now, using: &random, changes: &changes) == 1)
        // The next is an hour after that firing, not at the creation time's rhythm ten seconds later.
        now = now.addingTimeInterval(10)
        #expect(host.fireDueSchedules(now: now, using: &random, changes: &changes) == 0)
        #expect(host.events.rules["default"]?["hourly"]?.nextFireAt == now.addingTimeInterval(3590))
    }

    @Test func testEventPatternNeedsAWholeEvent() throws {
        let event = #"{"id":"1","account":"1","source":"a","time":"t","region":"r","resources":[],"detail-type":"d","detail":{"x":1}}"#
        #expect(try EventBridgeState.testEventPattern(EVBTestEventPatternRequest(EventPattern: #"{"detail":{"x":[1]}}"#, Event: event)).Result == true)
        #expect(try EventBridgeState.testEventPattern(EVBTestEventPatternRequest(EventPattern: #"{"detail":{"x":[2]}}"#, Event: event)).Result == false)
        #expect(throws: AWSError.self) { try EventBridgeState.testEventPattern(EVBTestEventPatternRequest(EventPattern: #"{"a":["b"]}"#, Event: "{}")) }
    }
}
