import Archives
import ECS
import EventBridge
import EventsShapes
import Foundation
import IAM
import Lambda
import LambdaShapes
import S3
import S3Notifications
import SNS
import SQS
import SQSShapes
import StevedoreCore
import StevedoreTestSupport
import Testing

/// S3 event notifications: configurations as S3 takes and answers them, and each change to an
/// object reaching the functions, queues, topics and EventBridge rules that want it.
struct BucketNotificationTests {
    struct Host: EventBridgeHost, SNSHost, S3Host {
        var fixture = SchedulerFixture()
        var sns = SNSState(names: ResourceNames())
        var events = EventBridgeState(names: ResourceNames())
        var s3 = S3State(names: ResourceNames())
        var ecs: ECSState { get { fixture.ecs } set { fixture.ecs = newValue } }
        var sqs: SQSState { get { fixture.sqs } set { fixture.sqs = newValue } }
        var lambda: FunctionsState { get { fixture.lambda } set { fixture.lambda = newValue } }
        mutating func containerInstanceRegistered(_ arn: String, changes: inout ChangeSet) {}
    }

    var host = Host()
    var random = Xoshiro256(seed: 5)
    var changes = ChangeSet()
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let account = "000000000000"
    var topic = ""
    var functionArn: String { "arn:aws:lambda:us-east-1:\(account):function:thumbs" }
    var queueArn: String { "arn:aws:sqs:us-east-1:\(account):uploads" }
    let bucketArn = "arn:aws:s3:::photos"

    init() throws {
        try host.s3.createBucket("photos", locationConstraint: nil, now: now, changes: &changes)
        _ = try host.sqs.createQueue(SQSCreateQueueRequest(QueueName: "uploads"), now: now, changes: &changes)
        var writer = ZipWriter()
        writer.add(path: "bootstrap", contents: [1], mode: 0o755)
        let code = try CodeBundle.inspect(writer.finish(), settings: FunctionSettings())
        _ = try host.lambda.createFunction(
            LambdaCreateFunctionRequest(
                FunctionName: "thumbs", Runtime: .providedAl2023, Role: "arn:aws:iam::\(account):role/r", Handler: "h", Code: LambdaFunctionCode(ZipFile: Data([1]))),
            code: code, sqs: host.sqs, now: now, using: &random, changes: &changes)
        topic = try host.sns.createTopic(name: "objects", attributes: [:], tags: [:], changes: &changes)
    }

    mutating func put(_ xml: String, skip: Bool = false) throws(AWSError) {
        let configuration = try S3XML.parseNotification(Array(xml.utf8))
        try host.putBucketNotification(
            bucket: "photos", configuration, skipDestinationValidation: skip, requestId: "REQ1", now: now, using: &random, changes: &changes)
    }

    mutating func allowS3(queuePolicy: Bool = true, function: Bool = true, topicPolicy: Bool = true) throws {
        if function {
            let input = try JSONDecoder().decode(
                LambdaAddPermissionInput.self,
                from: Data(#"{"StatementId":"s3","Action":"lambda:InvokeFunction","Principal":"s3.amazonaws.com","SourceArn":"\#(bucketArn)"}"#.utf8))
            _ = try host.lambda.addPermission("thumbs", qualifier: nil, input, changes: &changes)
        }
        if queuePolicy {
            let policy = #"{"Statement":[{"Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"\#(queueArn)","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::photo*"}}}]}"#
            try host.sqs.setQueueAttributes(
                SQSSetQueueAttributesRequest(QueueUrl: host.sqs.queueUrl("uploads"), Attributes: ["Policy": policy]), now: now, changes: &changes)
        }
        if topicPolicy {
            let policy = #"{"Statement":{"Effect":"Allow","Principal":{"Service":["s3.amazonaws.com"]},"Action":["sns:*"],"Resource":"\#(topic)"}}"#
            try host.sns.setTopicAttribute(arn: topic, name: "Policy", value: policy, changes: &changes)
        }
    }

    func event(_ name: String, key: String, size: Int? = nil) -> ObjectEvent {
        ObjectEvent(
            name: name, bucket: "photos", key: key, size: size, etag: size.map { _ in "d41d8cd98f00b204e9800998ecf8427e" }, time: now, requestId: "REQ2",
            principalId: "AWS:AIDAEXAMPLE", sourceIPAddress: "127.0.0.1", sequencer: ObjectEvent.sequencer(at: now))
    }

    func bodies() -> [String] { (host.sqs.messages["uploads"] ?? [:]).values.sorted { $0.sequence < $1.sequence }.map(\.body) }

    func json(_ text: String) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }

    @Test mutating func changesReachEachDestinationThatWantsThem() throws {
        try allowS3()
        try put(
            """
            <NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <CloudFunctionConfiguration><Id>thumbnails</Id><CloudFunction>\(functionArn)</CloudFunction><Event>s3:ObjectCreated:*</Event>
                <Filter><S3Key><FilterRule><Name>prefix</Name><Value>images/</Value></FilterRule><FilterRule><Name>SUFFIX</Name><Value>.jpg</Value></FilterRule></S3Key></Filter>
              </CloudFunctionConfiguration>
              <QueueConfiguration><Queue>\(queueArn)</Queue><Event>s3:ObjectRemoved:Delete</Event></QueueConfiguration>
            </NotificationConfiguration>
            """)
        // Putting the configuration sends the queue S3's test event; the function gets none.
        let test = try json(try #require(bodies().first))
        #expect(test == .object(["Service": .string("Amazon S3"), "Event": .string("s3:TestEvent"), "Time": .string("2027-01-15T08:00:00.000Z"),
            "Bucket": .string("photos"), "RequestId": .string("REQ1"), "HostId": .string(S3XML.hostId("REQ1"))]))
        #expect(host.lambda.asyncEvents.isEmpty)

        // Stored as S3 answers it: rule names capitalised, an id made for the queue's.
        let stored = try #require(host.s3.buckets["photos"]?.notification)
        #expect(stored.destinations[0].filterRules.map(\.name) == ["Prefix", "Suffix"])
        let madeId = stored.destinations[1].id
        #expect(Data(base64Encoded: madeId).flatMap { String(data: $0, encoding: .utf8) }?.count == 36)
        let answer = String(decoding: S3XML.notification(stored), as: UTF8.self)
        #expect(answer.contains("<QueueConfiguration><Id>\(madeId)</Id><Queue>\(queueArn)</Queue><Event>s3:ObjectRemoved:Delete</Event></QueueConfiguration>"))
        #expect(answer.contains("<FilterRule><Name>Prefix</Name><Value>images/</Value></FilterRule>"))
        // Answered topics first, then queues, then functions: read back, the same destinations.
        let readBack = try S3XML.parseNotification(S3XML.notification(stored))
        #expect(readBack.destinations.sorted { $0.id < $1.id } == stored.destinations.sorted { $0.id < $1.id })

        host.notify(event("ObjectCreated:Put", key: "images/red flower@1.jpg", size: 11), requester: account, now: now, using: &random, changes: &changes)
        host.notify(event("ObjectCreated:Put", key: "images/notes.txt", size: 3), requester: account, now: now, using: &random, changes: &changes)
        host.notify(event("ObjectCreated:Put", key: "other/x.jpg", size: 3), requester: account, now: now, using: &random, changes: &changes)
        #expect(host.lambda.asyncEvents.count == 1)
        let invocation = try #require(host.lambda.asyncEvents.values.first)
        #expect(invocation.functionName == "thumbs")
        let payload = String(decoding: invocation.payload, as: UTF8.self)
        #expect(
            payload == #"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2027-01-15T08:00:00.000Z","eventName":"ObjectCreated:Put","userIdentity":{"principalId":"AWS:AIDAEXAMPLE"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},"responseElements":{"x-amz-request-id":"REQ2","x-amz-id-2":"\#(S3XML.hostId("REQ2"))"},"s3":{"s3SchemaVersion":"1.0","configurationId":"thumbnails","bucket":{"name":"photos","ownerIdentity":{"principalId":"\#(S3State.ownerId(ResourceNames()))"},"arn":"arn:aws:s3:::photos"},"object":{"key":"images/red+flower%401.jpg","size":11,"eTag":"d41d8cd98f00b204e9800998ecf8427e","sequencer":"18FAE27693B40000"}}}]}"#)

        // A removal carries no size or ETag, and goes to the queue only.
        host.notify(event("ObjectRemoved:Delete", key: "images/a.jpg"), requester: account, now: now, using: &random, changes: &changes)
        #expect(host.lambda.asyncEvents.count == 1)
        let removal = try json(try #require(bodies().last))
        guard case .object(let root) = removal, case .array(let records)? = root["Records"], case .object(let record)? = records.first,
            case .object(let s3)? = record["s3"], case .object(let object)? = s3["object"]
        else {
            Issue.record("not an S3 event: \(removal)")
            return
        }
        #expect(record["eventName"] == .string("ObjectRemoved:Delete") && s3["configurationId"] == .string(madeId))
        #expect(object == ["key": .string("images/a.jpg"), "sequencer": .string("18FAE27693B40000")])
    }

    @Test mutating func topicsGetS3sSubjectAndEventBridgeGetsS3sEvents() throws {
        try allowS3()
        _ = try host.sns.subscribe(
            topicArn: topic, protocol: "sqs", endpoint: queueArn, attributes: [:], returnArn: true, token: "t", now: now, using: &random, changes: &changes)
        try put(
            """
            <NotificationConfiguration><TopicConfiguration><Topic>\(topic)</Topic><Event>s3:ObjectCreated:Copy</Event></TopicConfiguration>
            <EventBridgeConfiguration/></NotificationConfiguration>
            """)
        _ = try host.events.putRule(.init(Name: "s3", EventPattern: #"{"source":["aws.s3"],"detail-type":["Object Deleted"]}"#), now: now, changes: &changes)
        _ = try host.events.putTargets(.init(Rule: "s3", Targets: [.init(Id: "q", Arn: queueArn)]), changes: &changes)
        host.notify(event("ObjectCreated:Copy", key: "k", size: 1), requester: account, now: now, using: &random, changes: &changes)
        host.notify(event("ObjectRemoved:Delete", key: "k"), requester: account, now: now, using: &random, changes: &changes)
        let delivered = try bodies().map(json)
        // The topic's test event and the copy, both with S3's subject; then EventBridge's deletion.
        #expect(delivered.count == 3)
        guard case .object(let copy) = delivered[1], case .object(let deleted) = delivered[2] else {
            Issue.record("\(delivered)")
            return
        }
        #expect(copy["Subject"] == .string("Amazon S3 Notification"))
        #expect(deleted["source"] == .string("aws.s3") && deleted["detail-type"] == .string("Object Deleted"))
        #expect(deleted["resources"] == .array([.string("arn:aws:s3:::photos")]))
        #expect(
            deleted["detail"] == .object([
                "version": .string("0"), "bucket": .object(["name": .string("photos")]),
                "object": .object(["key": .string("k"), "sequencer": .string("18fae27693b40000")]), "request-id": .string("REQ2"),
                "requester": .string(account), "source-ip-address": .string("127.0.0.1"), "reason": .string("DeleteObject"),
                "deletion-type": .string("Permanently Deleted"),
            ]))
        // An empty configuration turns notifications off.
        try put("<NotificationConfiguration/>")
        #expect(host.s3.buckets["photos"]?.notification == nil)
        host.notify(event("ObjectCreated:Copy", key: "k", size: 1), requester: account, now: now, using: &random, changes: &changes)
        #expect(bodies().count == 3)
    }

    @Test mutating func destinationsS3MayNotUseAreRefusedTogether() throws {
        let both = """
            <NotificationConfiguration>
              <CloudFunctionConfiguration><CloudFunction>\(functionArn)</CloudFunction><Event>s3:ObjectCreated:*</Event></CloudFunctionConfiguration>
              <QueueConfiguration><Queue>\(queueArn)</Queue><Event>s3:ObjectRemoved:*</Event></QueueConfiguration>
              <TopicConfiguration><Topic>arn:aws:sns:us-east-1:\(account):gone</Topic><Event>s3:ObjectRestore:*</Event></TopicConfiguration>
            </NotificationConfiguration>
            """
        #expect(
            throws: AWSError(
                type: "InvalidArgument", message: "Unable to validate the following destination configurations", httpStatus: 400,
                extraFields: [
                    "ArgumentName1": functionArn + ", null", "ArgumentValue1": "Not authorized to invoke function [\(functionArn)]",
                    "ArgumentName2": queueArn,
                    "ArgumentValue2": "Permissions on the destination queue do not allow S3 to publish notifications from this bucket",
                    "ArgumentName3": "arn:aws:sns:us-east-1:\(account):gone", "ArgumentValue3": "The destination topic does not exist",
                ])
        ) { try put(both) }
        #expect(host.s3.buckets["photos"]?.notification == nil)
        // A policy for another bucket does not do.
        try allowS3(queuePolicy: false)
        try host.sqs.setQueueAttributes(
            SQSSetQueueAttributesRequest(
                QueueUrl: host.sqs.queueUrl("uploads"),
                Attributes: ["Policy": #"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*","Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:s3:::other"}}}]}"#]),
            now: now, changes: &changes)
        #expect(throws: AWSError.self) { try put(both) }
        // Skipping validation stores it as given.
        try put(both, skip: true)
        #expect(host.s3.buckets["photos"]?.notification?.destinations.count == 3)
    }

    @Test mutating func destinationsAreCheckedAgainForEveryMessage() throws {
        // Skipped validation stores a queue whose policy lets S3 send nothing: nothing is sent.
        try put("<NotificationConfiguration><QueueConfiguration><Queue>\(queueArn)</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>", skip: true)
        host.notify(event("ObjectCreated:Put", key: "a", size: 1), requester: account, now: now, using: &random, changes: &changes)
        #expect(bodies().isEmpty, "neither the test event nor the change")
        try allowS3()
        host.notify(event("ObjectCreated:Put", key: "b", size: 1), requester: account, now: now, using: &random, changes: &changes)
        #expect(bodies().count == 1)
        // A policy taken back stops deliveries.
        try host.sqs.setQueueAttributes(
            SQSSetQueueAttributesRequest(QueueUrl: host.sqs.queueUrl("uploads"), Attributes: ["Policy": #"{"Statement":[]}"#]), now: now, changes: &changes)
        host.notify(event("ObjectCreated:Put", key: "c", size: 1), requester: account, now: now, using: &random, changes: &changes)
        #expect(bodies().count == 1)
        // Another account's queue of the same name, and a FIFO queue, are refused.
        _ = try host.sqs.createQueue(SQSCreateQueueRequest(QueueName: "jobs.fifo", Attributes: ["FifoQueue": "true"]), now: now, changes: &changes)
        let foreign = "arn:aws:sqs:us-east-1:111111111111:uploads"
        for (arn, reason) in [
            (foreign, "The destination queue does not exist"),
            ("arn:aws:sqs:us-east-1:\(account):jobs.fifo", "FIFO queues are not supported as S3 event notification destinations"),
        ] {
            #expect(throws: AWSError(
                type: "InvalidArgument", message: "Unable to validate the following destination configurations", httpStatus: 400,
                extraFields: ["ArgumentName1": arn, "ArgumentValue1": reason])) {
                try put("<NotificationConfiguration><QueueConfiguration><Queue>\(arn)</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>")
            }
        }
        // Bounds: at most 100 destinations.
        let many = (0..<101).map { "<QueueConfiguration><Queue>\(queueArn)</Queue><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>p\($0)/</Value></FilterRule></S3Key></Filter></QueueConfiguration>" }.joined()
        #expect(throws: AWSError.self) { try put("<NotificationConfiguration>\(many)</NotificationConfiguration>", skip: true) }
    }

    /// Why S3 refuses a configuration (validation of destinations skipped), or nil.
    func refusal(_ xml: String) -> AWSError? {
        var copy = self
        do {
            try copy.put(xml, skip: true)
            return nil
        } catch { return error }
    }

    @Test func malformedConfigurationsGetS3sErrors() throws {
        let queueArn = self.queueArn
        let queue = { (body: String) in "<NotificationConfiguration><QueueConfiguration><Queue>\(queueArn)</Queue>\(body)</QueueConfiguration></NotificationConfiguration>" }
        #expect(refusal(queue("<Event>s3:ObjectCreated:Put</Event>")) == nil)
        #expect(refusal(queue("<Event>s3:ObjectMade:*</Event>"))?.message == "The event is not supported for notifications")
        #expect(refusal(queue(""))?.type == "MalformedXML")
        #expect(refusal("<Wrong/>")?.type == "MalformedXML")
        let badName = refusal(queue("<Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>middle</Name><Value>x</Value></FilterRule></S3Key></Filter>"))
        #expect(badName?.message == "filter rule name must be either prefix or suffix" && badName?.extraFields["ArgumentValue"] == "middle")
        let twice = refusal(queue("<Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>suffix</Name><Value>a</Value></FilterRule><FilterRule><Name>Suffix</Name><Value>b</Value></FilterRule></S3Key></Filter>"))
        #expect(twice?.message == "Cannot specify more than one suffix rule in a filter.")
        let unparsed = refusal("<NotificationConfiguration><TopicConfiguration><Topic>\(queueArn)</Topic><Event>s3:ObjectCreated:*</Event></TopicConfiguration></NotificationConfiguration>")
        #expect(unparsed == S3Error.invalidArgument("The ARN could not be parsed", name: "Topic", value: queueArn))
        // Two destinations for the same event on the same keys overlap; different prefixes do not.
        let twoQueues = { (first: String, second: String) in
            "<NotificationConfiguration><QueueConfiguration><Queue>\(queueArn)</Queue><Event>s3:ObjectCreated:*</Event>\(first)</QueueConfiguration><QueueConfiguration><Queue>\(queueArn)</Queue><Event>s3:ObjectCreated:Put</Event>\(second)</QueueConfiguration></NotificationConfiguration>"
        }
        let prefix = { (value: String) in "<Filter><S3Key><FilterRule><Name>prefix</Name><Value>\(value)</Value></FilterRule></S3Key></Filter>" }
        #expect(
            refusal(twoQueues("", "")) == S3Error.invalidArgument(
                "Configurations overlap. Configurations on the same bucket cannot share a common event type.", name: "Event",
                value: "s3:ObjectCreated:*, s3:ObjectCreated:Put"))
        #expect(refusal(twoQueues(prefix("a/"), prefix("a/b")))?.message.hasPrefix("Configuration is ambiguously defined.") == true)
        #expect(refusal(twoQueues(prefix("a/"), prefix("b/"))) == nil)
    }

    @Test func resourcePoliciesGrantServicesAsIAMReadsThem() {
        let grant = { (policy: String) in
            ServiceGrant.allows(
                policy: policy, service: "s3.amazonaws.com", action: "sqs:SendMessage", resource: "arn:aws:sqs:us-east-1:1:q", sourceArn: "arn:aws:s3:::b",
                sourceAccount: "1")
        }
        #expect(grant(#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*","Resource":"*"}]}"#))
        #expect(grant(#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"SQS:SendMessage","Condition":{"StringEquals":{"aws:SourceAccount":"1"}}}]}"#))
        #expect(!grant(#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage"}]}"#))
        #expect(!grant(#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:ReceiveMessage"}]}"#))
        #expect(!grant(#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*","Resource":"arn:aws:sqs:us-east-1:1:other"}]}"#))
        #expect(!grant(#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*","Condition":{"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::b*"}}}]}"#))
        #expect(!grant(#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:*"},{"Effect":"Deny","Principal":"*","Action":"sqs:SendMessage"}]}"#))
        #expect(!grant("not json"))
    }
}
