import Archives
import ECS
import Foundation
import Lambda
import LambdaShapes
@testable import SNS
import SQS
import SQSShapes
import StevedoreCore
import StevedoreTestSupport
import Testing

/// Publishing: what queues, functions and HTTP endpoints get, and what filter policies let through.
struct SNSTests {
    struct Host: SNSHost {
        var fixture = SchedulerFixture()
        var sns = SNSState(names: ResourceNames())
        var ecs: ECSState { get { fixture.ecs } set { fixture.ecs = newValue } }
        var sqs: SQSState { get { fixture.sqs } set { fixture.sqs = newValue } }
        var lambda: FunctionsState { get { fixture.lambda } set { fixture.lambda = newValue } }
        mutating func containerInstanceRegistered(_ arn: String, changes: inout ChangeSet) {}
    }

    var host = Host()
    var random = Xoshiro256(seed: 9)
    var changes = ChangeSet()
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    var topic = ""

    init() throws {
        for queue in ["all", "raw", "orders"] {
            _ = try host.sqs.createQueue(SQSCreateQueueRequest(QueueName: queue), now: now, changes: &changes)
        }
        var writer = ZipWriter()
        writer.add(path: "bootstrap", contents: [1], mode: 0o755)
        let code = try CodeBundle.inspect(writer.finish(), settings: FunctionSettings())
        _ = try host.lambda.createFunction(
            LambdaCreateFunctionRequest(
                FunctionName: "f", Runtime: .providedAl2023, Role: "arn:aws:iam::000000000000:role/r", Handler: "h", Code: LambdaFunctionCode(ZipFile: Data([1]))),
            code: code, sqs: host.sqs, now: now, using: &random, changes: &changes)
        topic = try host.sns.createTopic(name: "events", attributes: [:], tags: [:], changes: &changes)
    }

    mutating func subscribe(_ kind: String, _ endpoint: String, _ attributes: [String: String] = [:]) throws -> String {
        try host.sns.subscribe(
            topicArn: topic, protocol: kind, endpoint: endpoint, attributes: attributes, returnArn: true, token: "t0k3n", now: now, using: &random, changes: &changes)
    }

    mutating func publish(_ message: String, _ attributes: [String: SNSMessageAttribute] = [:], subject: String? = nil) throws -> String {
        try host.publish(topicArn: topic, message: message, subject: subject, structure: nil, attributes: attributes, now: now, using: &random, changes: &changes)
    }

    func bodies(_ queue: String) -> [String] { (host.sqs.messages[queue] ?? [:]).values.sorted { $0.sequence < $1.sequence }.map(\.body) }

    @Test mutating func aTopicFansOutToQueuesAndFunctions() throws {
        _ = try subscribe("sqs", "arn:aws:sqs:us-east-1:000000000000:all")
        _ = try subscribe("sqs", "arn:aws:sqs:us-east-1:000000000000:raw", ["RawMessageDelivery": "true"])
        let function = try subscribe("lambda", "arn:aws:lambda:us-east-1:000000000000:function:f")
        let id = try publish("hello", ["kind": SNSMessageAttribute(dataType: "String", stringValue: "greeting")], subject: "Hi")
        let envelope = try JSONDecoder().decode([String: JSONValue].self, from: Data(try #require(bodies("all").first).utf8))
        #expect(envelope["Type"] == .string("Notification") && envelope["MessageId"] == .string(id) && envelope["TopicArn"] == .string(topic))
        #expect(envelope["Message"] == .string("hello") && envelope["Subject"] == .string("Hi"))
        #expect(envelope["MessageAttributes"] == .object(["kind": .object(["Type": .string("String"), "Value": .string("greeting")])]))
        #expect(bodies("raw") == ["hello"])
        #expect(host.sqs.messages["raw"]?.values.first?.attributes?["kind"]?.StringValue == "greeting")
        let event = try #require(host.lambda.asyncEvents.values.first)
        let payload = try JSONDecoder().decode(JSONValue.self, from: event.payload)
        guard case .object(let root) = payload, case .array(let records)? = root["Records"], case .object(let record)? = records.first,
            case .object(let sns)? = record["Sns"]
        else {
            Issue.record("not an SNS event")
            return
        }
        #expect(record["EventSource"] == .string("aws:sns") && record["EventSubscriptionArn"] == .string(function))
        #expect(sns["Message"] == .string("hello") && sns["MessageId"] == .string(id))
    }

    @Test mutating func filterPoliciesChooseWhatASubscriptionGets() throws {
        _ = try subscribe("sqs", "arn:aws:sqs:us-east-1:000000000000:orders", ["FilterPolicy": #"{"kind": ["order"], "total": [{"numeric": [">", 100]}]}"#])
        _ = try subscribe("sqs", "arn:aws:sqs:us-east-1:000000000000:all", ["FilterPolicy": #"{"region": [{"prefix": "eu-"}]}"#, "FilterPolicyScope": "MessageBody"])
        _ = try publish("big", ["kind": SNSMessageAttribute(dataType: "String", stringValue: "order"), "total": SNSMessageAttribute(dataType: "Number", stringValue: "250")])
        _ = try publish("small", ["kind": SNSMessageAttribute(dataType: "String", stringValue: "order"), "total": SNSMessageAttribute(dataType: "Number", stringValue: "5")])
        _ = try publish(#"{"region": "eu-west-1"}"#)
        _ = try publish(#"{"region": "us-east-1"}"#)
        #expect(bodies("orders").count == 1 && bodies("orders").first?.contains(#""Message":"big""#) == true)
        #expect(bodies("all").count == 1 && bodies("all").first?.contains("eu-west-1") == true)
        #expect(throws: AWSError.self) {
            try host.sns.subscribe(
                topicArn: topic, protocol: "sqs", endpoint: "arn:aws:sqs:us-east-1:000000000000:raw", attributes: ["FilterPolicy": "{}"], returnArn: true, token: "t0k3n",
                now: now, using: &random, changes: &changes)
        }
    }

    @Test mutating func httpEndpointsConfirmThenGetNotifications() throws {
        let pending = try host.sns.subscribe(
            topicArn: topic, protocol: "http", endpoint: "http://127.0.0.1:9/hook", attributes: [:], returnArn: false, token: "t0k3n", now: now, using: &random,
            changes: &changes)
        #expect(pending == "pending confirmation")
        let confirmation = try #require(host.sns.httpDeliveries.values.first)
        #expect(confirmation.messageType == "SubscriptionConfirmation")
        let token = try #require(host.sns.topics["events"]?.subscriptions.values.first?.confirmationToken)
        #expect(confirmation.body.contains(token))
        // Nothing is sent to an endpoint that did not confirm.
        _ = try publish("before")
        #expect(host.sns.httpDeliveries.count == 1)
        host.sns.recordHTTPAttempt(confirmation.id, delivered: true, now: now, changes: &changes)
        let arn = try host.sns.confirmSubscription(topicArn: topic, token: token, changes: &changes)
        #expect(arn.hasPrefix(topic + ":"))
        _ = try publish("after")
        let notification = try #require(host.sns.httpDeliveries.values.first)
        #expect(notification.messageType == "Notification" && notification.body.contains(#""Message":"after""#))
        // Failed attempts are retried three times, then dropped.
        for attempt in 0..<4 {
            host.sns.recordHTTPAttempt(notification.id, delivered: false, now: now, changes: &changes)
            #expect(host.sns.httpDeliveries.isEmpty == (attempt == 3))
        }
    }

    @Test mutating func badInputGetsSNSErrors() throws {
        #expect(throws: AWSError(type: "NotFound", message: "Topic does not exist", httpStatus: 404)) {
            try host.publish(
                topicArn: "arn:aws:sns:us-east-1:000000000000:none", message: "x", subject: nil, structure: nil, attributes: [:], now: now, using: &random,
                changes: &changes)
        }
        #expect(throws: AWSError.self) { try publish("") }
        #expect(throws: AWSError.self) { try publish("x", ["n": SNSMessageAttribute(dataType: "Number", stringValue: "abc")]) }
        #expect(throws: AWSError.self) { try subscribe("email", "someone@example.com") }
        #expect(throws: AWSError.self) {
            try host.publish(topicArn: topic, message: #"{"sqs":"x"}"#, subject: nil, structure: "json", attributes: [:], now: now, using: &random, changes: &changes)
        }
    }
}
