import APIGatewayShapes
import Foundation
import StevedoreCore
import Testing

@testable import APIGateway

/// AWS service integrations: parameters mapped from the request, typed as the service takes them,
/// CreateIntegration's checks, and SQS's answers in its query protocol's XML.
struct ServiceIntegrationTests {
    let request = GatewayRequest(
        method: "POST", rawPath: "/orders/7", routePath: "/orders/7", rawQueryString: "max=3&tag=a&tag=b",
        headers: [("X-Source", "web"), ("x-source", "app")], body: Array(#"{"order": {"id": 7, "lines": [{"sku": "a1"}]}, "note": "hi"}"#.utf8),
        sourceIp: "127.0.0.1", requestId: "req-1", time: Date(timeIntervalSince1970: 1_800_000_000))
    let context = ProxyContext(
        accountId: "000000000000", apiId: "api1", stage: "$default", routeKey: "POST /orders/{id}", pathParameters: ["id": "7"],
        stageVariables: ["queue": "https://q/1"])

    func mapped(_ expression: String) -> String { ParameterMapping.value(expression, request: request, context: context) }

    @Test func sourcesAreReadAsHTTPAPIsMapThem() {
        #expect(mapped("$request.body.note") == "hi")
        #expect(mapped("$request.body.order") == #"{"id":7,"lines":[{"sku":"a1"}]}"#)
        #expect(mapped("$request.body.order.lines[0].sku") == "a1")
        #expect(mapped("$request.body.missing") == "")
        #expect(mapped("$request.header.x-source") == "web,app")
        #expect(mapped("$request.querystring.tag") == "a,b")
        #expect(mapped("$request.path.id") == "7" && mapped("$request.path") == "/orders/7")
        #expect(mapped("$context.requestId") == "req-1" && mapped("$stageVariables.queue") == "https://q/1")
        #expect(mapped("order-${request.path.id}-${context.apiId}") == "order-7-api1")
        #expect(mapped("static text") == "static text" && mapped("${unclosed") == "${unclosed")
    }

    @Test func parametersBecomeTheServicesRequest() throws {
        let body = try ServiceIntegration.sqsReceiveMessage.requestBody(
            ["QueueUrl": "$stageVariables.queue", "MaxNumberOfMessages": "$request.querystring.max", "AttributeNames": "All, SentTimestamp",
             "Region": "eu-west-1"], request: request, context: context)
        #expect(String(decoding: body, as: UTF8.self) == #"{"QueueUrl":"https://q/1","AttributeNames":["All","SentTimestamp"],"MaxNumberOfMessages":3}"#)
        let events = try ServiceIntegration.eventBridgePutEvents.requestBody(
            ["Source": "shop", "DetailType": "Placed", "Detail": "$request.body.order", "Resources": #"["r1"]"#], request: request, context: context)
        #expect(String(decoding: events, as: UTF8.self) == #"{"Entries":[{"Detail":"{\"id\":7,\"lines\":[{\"sku\":\"a1\"}]}","DetailType":"Placed","Source":"shop","Resources":["r1"]}]}"#)
        #expect(throws: AWSError.self) {
            try ServiceIntegration.sqsSendMessage.requestBody(
                ["QueueUrl": "q", "MessageBody": "m", "DelaySeconds": "$request.body.note"], request: request, context: context)
        }
    }

    @Test func createIntegrationChecksTheSubtypeAndItsParameters() throws {
        func refusal(_ input: V2CreateIntegrationRequest) -> String? {
            do {
                _ = try GatewayState.checkIntegration(input, names: ResourceNames())
                return nil
            } catch { return error.message }
        }
        var input = V2CreateIntegrationRequest(
            credentialsArn: "arn:aws:iam::000000000000:role/r", integrationSubtype: "SQS-SendMessage", integrationType: .awsProxy,
            requestParameters: ["QueueUrl": "q", "MessageBody": "$request.body"])
        #expect(refusal(input) == nil)
        let made = try GatewayState.checkIntegration(input, names: ResourceNames())
        #expect(made.payloadFormatVersion == "1.0" && made.integrationSubtype == "SQS-SendMessage" && made.integrationUri == nil)
        input.requestParameters = ["QueueUrl": "q"]
        #expect(refusal(input) == "Invalid request parameters specified: SQS-SendMessage requires MessageBody.")
        input.requestParameters = ["QueueUrl": "q", "MessageBody": "m"]
        input.credentialsArn = nil
        #expect(refusal(input) == "CredentialsArn is required for AWS service integrations.")
        input.credentialsArn = "arn:aws:iam::000000000000:role/r"
        input.integrationType = .httpProxy
        #expect(refusal(input) == "IntegrationSubtype is supported only for AWS_PROXY integrations.")
        input.integrationType = .awsProxy
        input.integrationSubtype = "Kinesis-PutRecord"
        #expect(refusal(input)?.hasPrefix("Integration subtype Kinesis-PutRecord is not supported") == true)
    }

    @Test func sqsAnswersAreItsQueryProtocolsXML() {
        let received = ServiceIntegration.sqsReceiveMessage.response(
            status: 200,
            body: Array(#"{"Messages":[{"MessageId":"m1","ReceiptHandle":"r<1>","Body":"b","Attributes":{"SentTimestamp":"5"},"MessageAttributes":{"k":{"DataType":"String","StringValue":"v"}}}]}"#.utf8),
            requestId: "req-1")
        #expect(received.status == 200 && received.headers.first?.1 == "text/xml")
        #expect(
            String(decoding: received.body, as: UTF8.self)
                == #"<?xml version="1.0"?><ReceiveMessageResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><ReceiveMessageResult><Message><MessageId>m1</MessageId><ReceiptHandle>r&lt;1&gt;</ReceiptHandle><Body>b</Body><Attribute><Name>SentTimestamp</Name><Value>5</Value></Attribute><MessageAttribute><Name>k</Name><Value><DataType>String</DataType><StringValue>v</StringValue></Value></MessageAttribute></Message></ReceiveMessageResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></ReceiveMessageResponse>"#)
        let failed = ServiceIntegration.sqsSendMessage.response(
            status: 400, body: Array(#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#.utf8), requestId: "req-2")
        #expect(
            String(decoding: failed.body, as: UTF8.self)
                == #"<?xml version="1.0"?><ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>The specified queue does not exist.</Message><Detail></Detail></Error><RequestId>req-2</RequestId></ErrorResponse>"#)
    }
}
