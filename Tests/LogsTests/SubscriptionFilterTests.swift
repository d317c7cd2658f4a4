import Archives
import ECS
import Foundation
import Lambda
import LambdaShapes
import LogSubscriptions
import Logs
import LogsShapes
import SQS
import StevedoreCore
import StevedoreTestSupport
import Testing

/// Subscription filters: what PutSubscriptionFilter takes and refuses, and the events a filter
/// matches queued for its function as CloudWatch Logs delivers them.
struct SubscriptionFilterTests {
    struct Host: LambdaHost, LogsHost {
        var fixture = SchedulerFixture()
        var logs = LogsState(names: ResourceNames())
        var ecs: ECSState { get { fixture.ecs } set { fixture.ecs = newValue } }
        var sqs: SQSState { get { fixture.sqs } set { fixture.sqs = newValue } }
        var lambda: FunctionsState { get { fixture.lambda } set { fixture.lambda = newValue } }
        mutating func containerInstanceRegistered(_ arn: String, changes: inout ChangeSet) {}
    }

    var host = Host()
    var random = Xoshiro256(seed: 11)
    var changes = ChangeSet()
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let functionArn = "arn:aws:lambda:us-east-1:000000000000:function:shipper"

    init() throws {
        try host.logs.createLogGroup(CWLCreateLogGroupRequest(logGroupName: "/app/web"), now: now, using: &random, changes: &changes)
        var writer = ZipWriter()
        writer.add(path: "bootstrap", contents: [1], mode: 0o755)
        let code = try CodeBundle.inspect(writer.finish(), settings: FunctionSettings())
        _ = try host.lambda.createFunction(
            LambdaCreateFunctionRequest(
                FunctionName: "shipper", Runtime: .providedAl2023, Role: "arn:aws:iam::000000000000:role/r", Handler: "h",
                Code: LambdaFunctionCode(ZipFile: Data([1]))),
            code: code, sqs: host.sqs, now: now, using: &random, changes: &changes)
    }

    mutating func allowLogs() throws {
        let input = try JSONDecoder().decode(
            LambdaAddPermissionInput.self,
            from: Data(#"{"StatementId":"logs","Action":"lambda:InvokeFunction","Principal":"logs.amazonaws.com","SourceArn":"arn:aws:logs:us-east-1:000000000000:log-group:/app/*"}"#.utf8))
        _ = try host.lambda.addPermission("shipper", qualifier: nil, input, changes: &changes)
    }

    mutating func put(_ name: String, pattern: String = "", group: String = "/app/web", destination: String? = nil) throws(AWSError) {
        try host.putSubscriptionFilter(
            CWLPutSubscriptionFilterRequest(logGroupName: group, filterName: name, filterPattern: pattern, destinationArn: destination ?? functionArn),
            now: now, changes: &changes)
    }

    /// The DATA_MESSAGE inside a queued invocation's `awslogs.data`.
    func message(_ event: AsyncEventRecord) throws -> JSONValue {
        let outer = try JSONDecoder().decode([String: [String: String]].self, from: event.payload)
        let compressed = try #require(Data(base64Encoded: outer["awslogs"]?["data"] ?? ""))
        let inflated = try #require(Gzip.decompress(Array(compressed)))
        return try JSONDecoder().decode(JSONValue.self, from: Data(inflated))
    }

    @Test mutating func aFilterNeedsItsFunctionToLetCloudWatchLogsInvokeIt() throws {
        let refusal = AWSError.invalidParameter(
            "Could not execute the lambda function. Make sure you have given CloudWatch Logs permission to execute your function.")
        #expect(throws: refusal) { try put("errors") }
        #expect(throws: refusal) { try put("errors", destination: functionArn + "-missing") }
        try allowLogs()
        try put("errors", pattern: "ERROR")
        try put("errors", pattern: "?ERROR ?WARN")
        try put("all")
        #expect(throws: AWSError(type: "LimitExceededException", message: "Resource limit exceeded.")) { try put("third") }
        #expect(throws: LogsState.noGroup) { try put("x", group: "/nope") }
        #expect(throws: AWSError.self) { try put("bad", pattern: "{ $.x = ") }
        #expect(throws: AWSError.self) { try put("q", destination: "arn:aws:kinesis:us-east-1:000000000000:stream/s") }
        let described = try host.logs.describeSubscriptionFilters(CWLDescribeSubscriptionFiltersRequest(logGroupName: "/app/web"))
        #expect(described.subscriptionFilters?.map(\.filterName) == ["errors", "all"])
        #expect(described.subscriptionFilters?.first?.filterPattern == "?ERROR ?WARN" && described.subscriptionFilters?.first?.distribution == .byLogStream)
        try host.logs.deleteSubscriptionFilter("/app/web", "all", changes: &changes)
        #expect(throws: AWSError(type: "ResourceNotFoundException", message: "The specified subscription filter does not exist.")) {
            try host.logs.deleteSubscriptionFilter("/app/web", "all", changes: &changes)
        }
    }

    @Test mutating func matchedEventsReachTheFunctionGzippedUnderAwslogsData() throws {
        try allowLogs()
        try put("errors", pattern: "ERROR")
        let queued = host.deliverSubscribed(
            group: "/app/web", stream: "web/1", events: [(1000, "INFO up"), (1001, "ERROR down"), (1002, "ERROR again")], now: now, using: &random,
            changes: &changes)
        #expect(queued == 1)
        let event = try #require(host.lambda.asyncEvents.values.first)
        #expect(event.functionName == "shipper" && event.qualifier == nil)
        guard case .object(let fields) = try message(event), case .array(let events)? = fields["logEvents"] else {
            Issue.record("not a data message")
            return
        }
        #expect(fields["messageType"] == .string("DATA_MESSAGE") && fields["owner"] == .string("000000000000"))
        #expect(fields["logGroup"] == .string("/app/web") && fields["logStream"] == .string("web/1"))
        #expect(fields["subscriptionFilters"] == .array([.string("errors")]))
        #expect(events.count == 2)
        guard case .object(let first) = events[0], case .string(let id)? = first["id"] else {
            Issue.record("not an event with an id: \(events[0])")
            return
        }
        #expect(first["message"] == .string("ERROR down") && first["timestamp"] == .number(1001))
        #expect(id.count == 56 && id.allSatisfy(\.isNumber))
        // Nothing matched, nothing queued; a group without filters costs nothing.
        #expect(host.deliverSubscribed(group: "/app/web", stream: "web/1", events: [(1003, "INFO")], now: now, using: &random, changes: &changes) == 0)
        #expect(host.deliverSubscribed(group: "/other", stream: "s", events: [(1003, "ERROR")], now: now, using: &random, changes: &changes) == 0)
    }

    @Test mutating func largeBatchesAreSplitUnderLambdasAsynchronousLimit() throws {
        try allowLogs()
        try put("all")
        let line = String(repeating: "x", count: 50_000)
        let events = (0..<20).map { (timestamp: 1000 + $0, message: "\($0) " + line) }
        let queued = host.deliverSubscribed(group: "/app/web", stream: "s", events: events, now: now, using: &random, changes: &changes)
        #expect(queued > 1)
        var seen = 0
        for event in host.lambda.asyncEvents.values {
            #expect(event.payload.count < 256 * 1024)
            guard case .object(let fields) = try message(event), case .array(let list)? = fields["logEvents"] else { continue }
            seen += list.count
        }
        #expect(seen == 20)
    }
}
