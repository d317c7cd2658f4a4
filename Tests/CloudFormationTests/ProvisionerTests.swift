import Archives
@testable import CloudFormation
import Foundation
import S3
import StevedoreCore
import Synchronization
import Testing

/// The provisioners' requests, recorded by a twin of the services: the members each API takes,
/// spelled as it spells them, and the order of the calls.
struct ProvisionerTests {
    final class RecordingCalls: ServiceCalls, Sendable {
        struct Call: Sendable {
            var kind: String
            var target: String
            var body: Document?
        }

        let calls = Mutex<[Call]>([])
        let answers: [String: Document]

        init(answers: [String: Document] = [:]) {
            self.answers = answers
        }

        var recorded: [Call] { calls.withLock { $0 } }

        func rest(_ method: String, _ path: String, body: Document?) async throws(AWSError) -> Document {
            calls.withLock { $0.append(Call(kind: method, target: path, body: body)) }
            return answers[method + " " + path] ?? .object([])
        }

        func json(_ target: String, _ body: Document) async throws(AWSError) -> Document {
            calls.withLock { $0.append(Call(kind: "JSON", target: target, body: body)) }
            return answers[target] ?? .object([])
        }

        func query(_ action: String, _ parameters: [(String, String)]) async throws(AWSError) -> XMLNode {
            calls.withLock { $0.append(Call(kind: "QUERY", target: action, body: .object(parameters.map { ($0.0, .string($0.1)) }))) }
            return XMLNode(name: action + "Result")
        }

        func createBucket(_ name: String) async throws(AWSError) { calls.withLock { $0.append(Call(kind: "S3", target: "create " + name)) } }
        func deleteBucket(_ name: String) async throws(AWSError) { calls.withLock { $0.append(Call(kind: "S3", target: "delete " + name)) } }
        func setBucketPolicy(_ name: String, policy: String?) async throws(AWSError) {
            calls.withLock { $0.append(Call(kind: "S3", target: "policy " + name, body: policy.map { .string($0) })) }
        }
        func setBucketTags(_ name: String, tags: [S3Tag]?) async throws(AWSError) {
            calls.withLock { $0.append(Call(kind: "S3", target: "tags " + name, body: .array((tags ?? []).map { .string($0.key + "=" + $0.value) }))) }
        }
        func invokeEvent(_ functionArn: String, payload: [UInt8]) async throws(AWSError) {
            calls.withLock { $0.append(Call(kind: "INVOKE", target: functionArn, body: Document.parseJSON(payload))) }
        }
        func customResourceResponseURL(stackId: String, logicalId: String, requestId: String) async throws(AWSError) -> String {
            "http://127.0.0.1/responses/\(logicalId)/\(requestId)"
        }
        func customResourceResponse(stackId: String, logicalId: String, requestId: String, timeout: Duration) async throws(AWSError) -> [UInt8]? {
            answers["custom"].map { Array($0.json().utf8) }
        }
        func newRequestId() -> String { "req-1" }
        func setBucketNotification(_ name: String, _ configuration: NotificationConfiguration) async throws(AWSError) {
            let described = configuration.destinations.map { "\($0.kind.rawValue) \($0.arn) \($0.events.joined(separator: ",")) \($0.filterRules.map { $0.name + "=" + $0.value }.joined(separator: ","))" }
            calls.withLock { $0.append(Call(kind: "S3", target: "notification " + name, body: .array((described + (configuration.eventBridge ? ["eventbridge"] : [])).map { .string($0) }))) }
        }
    }

    func context(_ calls: RecordingCalls, logicalId: String = "Thing") -> ProvisioningContext {
        ProvisioningContext(
            calls: calls, names: ResourceNames(), stackName: "app", stackId: "arn:stack", logicalId: logicalId,
            stackTags: [StackTag(key: "team", value: "web")])
    }

    func yaml(_ text: String) throws -> Document { try YAMLReader.read(text) }

    @Test func aFunctionWithInlineCodeIsZippedAsIndexAndItsTextNumbersAreNumbers() async throws {
        let calls = RecordingCalls(answers: ["POST /2015-03-31/functions": .object([("FunctionArn", .string("arn:fn"))])])
        let properties = try yaml("""
            Runtime: python3.11
            Handler: index.handler
            Role: arn:role
            Timeout: "10"
            ReservedConcurrentExecutions: "2"
            Code:
              ZipFile: "def handler(e, c): return 1"
            Tags: [{Key: tier, Value: api}]
            """)
        let values = try await LambdaFunctionProvisioner().create(properties, name: "app-Fn-ABC", context: context(calls))
        #expect(values == ResourceValues(ref: "app-Fn-ABC", attributes: ["Arn": "arn:fn"]))
        let recorded = calls.recorded
        #expect(recorded.map(\.target) == ["/2015-03-31/functions", "/2017-10-31/functions/app-Fn-ABC/concurrency"])
        let body = try #require(recorded[0].body)
        #expect(body["FunctionName"]?.string == "app-Fn-ABC" && body["Timeout"] == .integer(10))
        #expect(body["Tags"] == .object([("team", .string("web")), ("tier", .string("api"))]), "the stack's and its own, no aws: tags")
        let zip = try #require(Data(base64Encoded: body["Code"]?["ZipFile"]?.string ?? ""))
        let directory = try ZipDirectory(Array(zip))
        #expect(directory.entries.map(\.path) == ["index.py"])
        #expect(recorded[1].body?["ReservedConcurrentExecutions"] == .integer(2))
    }

    @Test func aBucketsNotificationConfigurationIsPutAfterItsTagsAndChangedOnlyWhenItChanges() async throws {
        let calls = RecordingCalls()
        let properties = try yaml("""
            NotificationConfiguration:
              LambdaConfigurations:
                - Event: s3:ObjectCreated:*
                  Function: arn:aws:lambda:us-east-1:000000000000:function:f
                  Filter: {S3Key: {Rules: [{Name: prefix, Value: in/}, {Name: suffix, Value: .csv}]}}
              QueueConfigurations: [{Event: s3:ObjectRemoved:*, Queue: arn:aws:sqs:us-east-1:000000000000:q}]
              EventBridgeConfiguration: {EventBridgeEnabled: true}
            """)
        let values = try await BucketProvisioner().create(properties, name: "app-b-x", context: context(calls))
        let recorded = calls.recorded
        #expect(recorded.map(\.target) == ["create app-b-x", "tags app-b-x", "notification app-b-x"])
        #expect(
            recorded[2].body == .array([
                .string("queue arn:aws:sqs:us-east-1:000000000000:q s3:ObjectRemoved:* "),
                .string("function arn:aws:lambda:us-east-1:000000000000:function:f s3:ObjectCreated:* prefix=in/,suffix=.csv"), .string("eventbridge"),
            ]))
        _ = try await BucketProvisioner().update(properties, previous: properties, current: values, context: context(calls))
        #expect(calls.recorded.count == 4, "unchanged: tags only")
        _ = try await BucketProvisioner().update(.object([]), previous: properties, current: values, context: context(calls))
        #expect(calls.recorded.last?.target == "notification app-b-x" && calls.recorded.last?.body == .array([]))
        await #expect(throws: AWSError.self) {
            _ = try await BucketProvisioner().create(try yaml("NotificationConfiguration: {QueueConfigurations: [{Event: x}]}"), name: "b", context: context(calls))
        }
    }

    @Test func aCustomResourceAsksItsFunctionAndTakesItsAnswer() async throws {
        let token = "arn:aws:lambda:us-east-1:000000000000:function:provider"
        let properties = Document.object([("ServiceToken", .string(token)), ("Size", .integer(3))])
        func step(_ action: ResourceStep.Action, answer: Document?, properties: Document = properties) async -> (StepOutcome, RecordingCalls) {
            let calls = RecordingCalls(answers: answer.map { ["custom": $0] } ?? [:])
            var context = context(calls, logicalId: "Thing")
            context.resourceType = "Custom::Widget"
            var step = ResourceStep(action: action, logicalId: "Thing", type: "Custom::Widget", physicalId: "app-Thing-X1", properties: properties)
            step.previousProperties = properties
            step.values = ResourceValues(ref: "widget-1")
            return (await Provisioners.run(step, context: context), calls)
        }
        let success = Document.object([
            ("Status", .string("SUCCESS")), ("PhysicalResourceId", .string("widget-1")), ("Data", .object([("Url", .string("http://w")), ("Count", .integer(3))])),
        ])
        let (created, calls) = await step(.create, answer: success)
        #expect(created == .succeeded(physicalId: "widget-1", values: ResourceValues(ref: "widget-1", attributes: ["Url": "http://w", "Count": "3"])))
        let request = try #require(calls.recorded.first { $0.kind == "INVOKE" })
        #expect(request.target == token)
        #expect(request.body?["RequestType"] == .string("Create") && request.body?["ResourceType"] == .string("Custom::Widget"))
        #expect(request.body?["ResponseURL"] == .string("http://127.0.0.1/responses/Thing/req-1") && request.body?["RequestId"] == .string("req-1"))
        #expect(request.body?["ResourceProperties"] == properties && request.body?["PhysicalResourceId"] == nil)
        let (updated, updateCalls) = await step(.update, answer: success)
        #expect(updated == .succeeded(physicalId: "widget-1", values: ResourceValues(ref: "widget-1", attributes: ["Url": "http://w", "Count": "3"])))
        let update = try #require(updateCalls.recorded.first { $0.kind == "INVOKE" })
        #expect(update.body?["PhysicalResourceId"] == .string("widget-1") && update.body?["OldResourceProperties"] == properties)

        let (failed, _) = await step(.create, answer: .object([("Status", .string("FAILED")), ("Reason", .string("no room"))]))
        #expect(failed == .failed("Received response status [FAILED] from custom resource. Message returned: no room (RequestId: req-1)"))
        let (silent, _) = await step(.create, answer: nil)
        guard case .failed(let reason) = silent else {
            Issue.record("no answer must fail the resource: \(silent)")
            return
        }
        #expect(reason.hasPrefix("CloudFormation did not receive a response from your Custom Resource. Please check your logs for requestId [req-1]."))
        // Any change is an Update request, never a replacement.
        #expect(ResourceTypes.replacement(type: "Custom::Widget", old: properties, new: .object([("ServiceToken", .string(token))])) == "False")
        let (noToken, _) = await step(.create, answer: success, properties: .object([("Size", .integer(3))]))
        #expect(noToken == .failed("Property ServiceToken cannot be empty."))
        let (tooLong, _) = await step(.create, answer: .object([("Status", .string("SUCCESS")), ("Data", .object([("x", .string(String(repeating: "a", count: 5000)))]))]))
        #expect(tooLong == .failed("Response object is too long."))

        // A topic's ARN: the request is published to it, for whatever subscribes.
        let topic = "arn:aws:sns:us-east-1:000000000000:provisioning"
        let (published, topicCalls) = await step(.create, answer: success, properties: .object([("ServiceToken", .string(topic))]))
        #expect(published == .succeeded(physicalId: "widget-1", values: ResourceValues(ref: "widget-1", attributes: ["Url": "http://w", "Count": "3"])))
        let publish = try #require(topicCalls.recorded.first { $0.kind == "QUERY" && $0.target == "Publish" })
        #expect(publish.body?["TopicArn"] == .string(topic) && publish.body?["Subject"] == .string("AWS CloudFormation custom resource request"))
        let message = publish.body?["Message"]?.string.flatMap { Document.parseJSON(Array($0.utf8)) }
        #expect(message?["RequestType"] == .string("Create") && message?["ServiceToken"] == .string(topic))
        #expect(!topicCalls.recorded.contains { $0.kind == "INVOKE" })
        let (wrong, _) = await step(.create, answer: success, properties: .object([("ServiceToken", .string("arn:aws:sqs:us-east-1:000000000000:q"))]))
        #expect(wrong == .failed("Invalid service token: arn:aws:sqs:us-east-1:000000000000:q. A custom resource's ServiceToken is a Lambda function's or an SNS topic's ARN."))
    }

    @Test func aNestedStacksParametersAreTextAndEveryCapabilityIsGranted() throws {
        let properties = try yaml("""
            TemplateURL: https://s3.us-east-1.amazonaws.com/artifacts/child.template
            Parameters: {Name: jobs, Size: 3, Subnets: [a, b], Public: true}
            """)
        let parameters = try NestedStackProvisioner.parameters(properties, context: context(RecordingCalls()))
        let byName = Dictionary(parameters, uniquingKeysWith: { first, _ in first })
        #expect(byName["TemplateURL"] == "https://s3.us-east-1.amazonaws.com/artifacts/child.template")
        let given = (1...4).map { (byName["Parameters.member.\($0).ParameterKey"] ?? "", byName["Parameters.member.\($0).ParameterValue"] ?? "") }
        #expect(given.map(\.0) == ["Name", "Size", "Subnets", "Public"] && given.map(\.1) == ["jobs", "3", "a,b", "true"])
        #expect((1...3).compactMap { byName["Capabilities.member.\($0)"] } == NestedStackProvisioner.capabilities)
        #expect(throws: AWSError.self) { try NestedStackProvisioner.parameters(try yaml("Parameters: {}"), context: context(RecordingCalls())) }
        #expect(NestedStackProvisioner.values("stack-1", outputs: [("Url", "http://x")]) == ResourceValues(ref: "stack-1", attributes: ["Outputs.Url": "http://x"]))
    }

    @Test func queueAndTopicPoliciesAreSetOnEachAndRemovedWithTheResource() async throws {
        let calls = RecordingCalls()
        let properties = try yaml("""
            PolicyDocument: {Statement: [{Effect: Allow, Principal: {Service: s3.amazonaws.com}, Action: "sqs:SendMessage", Resource: "*"}]}
            Queues: [http://q/1, http://q/2]
            """)
        let queues = ResourcePolicyProvisioner(kind: .queues)
        let values = try await queues.create(properties, name: "app-Policy-X", context: context(calls))
        #expect(values.ref == "app-Policy-X")
        #expect(calls.recorded.map(\.target) == ["AmazonSQS.SetQueueAttributes", "AmazonSQS.SetQueueAttributes"])
        #expect(calls.recorded[0].body?["QueueUrl"] == .string("http://q/1"))
        #expect(calls.recorded[0].body?["Attributes"]?["Policy"]?.string?.contains("s3.amazonaws.com") == true)
        // A queue left out by an update loses the policy; deleting removes it from the rest.
        let fewer = try yaml("""
            PolicyDocument: {Statement: []}
            Queues: [http://q/2]
            """)
        _ = try await queues.update(fewer, previous: properties, current: values, context: context(calls))
        #expect(calls.recorded[2].body?["QueueUrl"] == .string("http://q/1") && calls.recorded[2].body?["Attributes"]?["Policy"] == .string(""))
        try await queues.delete(values.ref, properties: fewer, values: values, context: context(calls))
        #expect(calls.recorded.last?.body?["Attributes"]?["Policy"] == .string(""))
        let topics = ResourcePolicyProvisioner(kind: .topics)
        _ = try await topics.create(try yaml("{PolicyDocument: {Statement: []}, Topics: [arn:aws:sns:us-east-1:000000000000:t]}"), name: "p", context: context(calls))
        #expect(calls.recorded.last?.kind == "QUERY" && calls.recorded.last?.target == "SetTopicAttributes")
        #expect(calls.recorded.last?.body?["AttributeName"] == .string("Policy") && calls.recorded.last?.body?["TopicArn"] == .string("arn:aws:sns:us-east-1:000000000000:t"))
    }

    @Test func aliasWeightsBecomeAMapOfVersionsToFractions() {
        let properties = Document.object([
            ("FunctionName", .string("fn")), ("Name", .string("live")), ("FunctionVersion", .string("2")),
            ("RoutingConfig", .object([("AdditionalVersionWeights", .array([.object([("FunctionVersion", .string("3")), ("FunctionWeight", .string("0.25"))])]))])),
        ])
        let body = LambdaAliasProvisioner.body(properties, includeName: true)
        #expect(body.json() == #"{"Name":"live","FunctionVersion":"2","RoutingConfig":{"AdditionalVersionWeights":{"3":0.25}}}"#)
    }

    @Test func ecsMembersAreCamelCasedWithTheirAcronymsAndUserKeysKept() async throws {
        let calls = RecordingCalls()
        let properties = try yaml("""
            Cpu: 256
            Memory: "512"
            ContainerDefinitions:
              - Name: web
                Image: busybox
                Memory: "64"
                PortMappings: [{ContainerPort: "8080"}]
                DockerLabels: {Team.Name: web}
            Volumes:
              - Name: data
                EFSVolumeConfiguration: {FilesystemId: fs-1, RootDirectory: /}
            """)
        _ = try await TaskDefinitionProvisioner().create(properties, name: "app-Web-XYZ", context: context(calls))
        let body = try #require(calls.recorded.first?.body)
        #expect(body["cpu"] == .string("256") && body["memory"] == .string("512"), "the task's sizes are text")
        let container = try #require(body["containerDefinitions"]?.items.first)
        #expect(container["memory"] == .integer(64) && container["portMappings"]?.items.first?["containerPort"] == .integer(8080))
        #expect(container["dockerLabels"] == .object([("Team.Name", .string("web"))]))
        #expect(body["volumes"]?.items.first?["efsVolumeConfiguration"]?["fileSystemId"] == .string("fs-1"))
        #expect(body["family"] == .string("app-Web-XYZ"))
    }

    @Test func aRestMethodPutsItsIntegrationAndResponses() async throws {
        let calls = RecordingCalls()
        let properties = try yaml("""
            RestApiId: api1
            ResourceId: res1
            HttpMethod: GET
            RequestParameters: {method.request.querystring.q: "true"}
            Integration:
              Type: MOCK
              RequestTemplates: {application/json: '{"statusCode": 200}'}
              IntegrationResponses:
                - StatusCode: "200"
                  ResponseTemplates: {application/json: '{"ok": true}'}
            MethodResponses:
              - StatusCode: "200"
            """)
        _ = try await RestMethodProvisioner().create(properties, name: "m", context: context(calls))
        let recorded = calls.recorded
        let method = "/restapis/api1/resources/res1/methods/GET"
        #expect(recorded.map { $0.kind + " " + $0.target } == [
            "PUT \(method)", "PUT \(method)/responses/200", "PUT \(method)/integration", "PUT \(method)/integration/responses/200",
        ])
        #expect(recorded[0].body?["authorizationType"] == .string("NONE"))
        #expect(recorded[0].body?["requestParameters"] == .object([("method.request.querystring.q", .bool(true))]))
        #expect(recorded[2].body?["type"] == .string("MOCK"))
        #expect(recorded[2].body?["requestTemplates"]?["application/json"] == .string(#"{"statusCode": 200}"#))
    }

    @Test func stageRouteSettingsKeepTheirRouteKeysAndCamelCaseTheirValues() {
        let properties = Document.object([
            ("ApiId", .string("a")), ("StageName", .string("$default")),
            ("RouteSettings", .object([("GET /pets", .object([("ThrottlingBurstLimit", .integer(5))]))])),
        ])
        let body = properties.picking(HTTPApiPartProvisioner.stage.members).camelCased(keeping: HTTPApiPartProvisioner.stage.keptKeys)
        #expect(body["routeSettings"] == .object([("GET /pets", .object([("throttlingBurstLimit", .integer(5))]))]))
    }

    @Test func aFailedStepAfterTheFirstCallRemovesWhatItMade() async throws {
        struct RefusingTags: ServiceCalls {
            let inner: RecordingCalls
            func rest(_ method: String, _ path: String, body: Document?) async throws(AWSError) -> Document { try await inner.rest(method, path, body: body) }
            func json(_ target: String, _ body: Document) async throws(AWSError) -> Document { try await inner.json(target, body) }
            func query(_ action: String, _ parameters: [(String, String)]) async throws(AWSError) -> XMLNode { try await inner.query(action, parameters) }
            func createBucket(_ name: String) async throws(AWSError) { try await inner.createBucket(name) }
            func deleteBucket(_ name: String) async throws(AWSError) { try await inner.deleteBucket(name) }
            func setBucketPolicy(_ name: String, policy: String?) async throws(AWSError) {}
            func setBucketTags(_ name: String, tags: [S3Tag]?) async throws(AWSError) { throw AWSError(type: "InvalidTag", message: "no") }
            func setBucketNotification(_ name: String, _ configuration: NotificationConfiguration) async throws(AWSError) {}
            func invokeEvent(_ functionArn: String, payload: [UInt8]) async throws(AWSError) {}
            func customResourceResponseURL(stackId: String, logicalId: String, requestId: String) async throws(AWSError) -> String { "" }
            func customResourceResponse(stackId: String, logicalId: String, requestId: String, timeout: Duration) async throws(AWSError) -> [UInt8]? { nil }
            func newRequestId() -> String { "" }
        }
        let calls = RecordingCalls()
        let context = ProvisioningContext(calls: RefusingTags(inner: calls), names: ResourceNames(), stackName: "app", stackId: "s", logicalId: "B", stackTags: [])
        await #expect(throws: AWSError(type: "InvalidTag", message: "no")) {
            _ = try await BucketProvisioner().create(.object([]), name: "app-b-x", context: context)
        }
        #expect(calls.recorded.map(\.target) == ["create app-b-x", "delete app-b-x"])
    }

    @Test func anUnknownTypeFailsNamingIt() async {
        let outcome = await Provisioners.run(
            ResourceStep(action: .create, logicalId: "V", type: "AWS::EC2::VPC", physicalId: "x", properties: .object([])), context: context(RecordingCalls()))
        guard case .failed(let reason) = outcome else {
            Issue.record("expected a failure")
            return
        }
        #expect(reason.hasPrefix("Stevedore does not provision resources of type AWS::EC2::VPC."))
    }
}
