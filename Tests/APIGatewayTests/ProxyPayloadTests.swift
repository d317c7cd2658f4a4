@testable import APIGateway
import Foundation
import StevedoreCore
import Testing

/// The Lambda proxy events (formats 1.0 and 2.0) and how a function's answer maps to HTTP.
struct ProxyPayloadTests {
    let time = Date(timeIntervalSince1970: 1_583_349_317.123)

    func request(
        method: String = "GET", headers: [(name: String, value: String)] = [], query: String = "", body: [UInt8] = []
    ) -> GatewayRequest {
        GatewayRequest(
            method: method, rawPath: "/prod/pets/7", routePath: "/pets/7", rawQueryString: query, headers: headers, body: body, sourceIp: "10.0.0.1",
            requestId: "req-1", time: time)
    }

    let context = ProxyContext(
        accountId: "000000000000", apiId: "abcdefghij", stage: "prod", routeKey: "GET /pets/{id}", pathParameters: ["id": "7"],
        stageVariables: ["color": "blue"])

    func json(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func formatTwoJoinsRepeatsLowercasesHeadersAndSplitsCookies() throws {
        let event = try json(
            ProxyPayload.event(
                request(headers: [("Host", "abcdefghij.execute-api.localhost"), ("X-Multi", "a"), ("x-multi", "b"), ("Cookie", "s=1; t=2")], query: "a=1&a=2&b=x%20y"),
                context: context, format: .v2))
        #expect(event["version"] as? String == "2.0" && event["routeKey"] as? String == "GET /pets/{id}")
        #expect(event["rawPath"] as? String == "/prod/pets/7" && event["rawQueryString"] as? String == "a=1&a=2&b=x%20y")
        #expect(
            event["headers"] as? [String: String] == [
                "host": "abcdefghij.execute-api.localhost", "x-multi": "a,b", "x-forwarded-for": "10.0.0.1", "x-forwarded-port": "80",
                "x-forwarded-proto": "http",
            ])
        #expect(event["cookies"] as? [String] == ["s=1", "t=2"])
        #expect(event["queryStringParameters"] as? [String: String] == ["a": "1,2", "b": "x y"])
        #expect(event["pathParameters"] as? [String: String] == ["id": "7"] && event["stageVariables"] as? [String: String] == ["color": "blue"])
        #expect(event["body"] == nil && event["isBase64Encoded"] as? Bool == false)
        let context = try #require(event["requestContext"] as? [String: Any])
        #expect(context["time"] as? String == "04/Mar/2020:19:15:17 +0000" && context["timeEpoch"] as? Int == 1_583_349_317_123)
        #expect(context["domainPrefix"] as? String == "abcdefghij" && context["stage"] as? String == "prod")
        let http = try #require(context["http"] as? [String: String])
        #expect(http == ["method": "GET", "path": "/prod/pets/7", "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1", "userAgent": ""])
    }

    @Test func formatOneHasMultiValuesAndNulls() throws {
        let event = try json(
            ProxyPayload.event(request(headers: [("X-Multi", "a"), ("X-Multi", "b")], query: "x=1&x=2"), context: context, format: .v1))
        #expect(event["version"] as? String == "1.0" && event["resource"] as? String == "/pets/{id}" && event["httpMethod"] as? String == "GET")
        let forwarded = ["X-Forwarded-For": "10.0.0.1", "X-Forwarded-Port": "80", "X-Forwarded-Proto": "http"]
        #expect(event["headers"] as? [String: String] == forwarded.merging(["X-Multi": "b"]) { $1 })
        #expect(event["multiValueHeaders"] as? [String: [String]] == forwarded.mapValues { [$0] }.merging(["X-Multi": ["a", "b"]]) { $1 })
        #expect(event["queryStringParameters"] as? [String: String] == ["x": "2"])
        #expect(event["multiValueQueryStringParameters"] as? [String: [String]] == ["x": ["1", "2"]])
        #expect(event["body"] is NSNull && event["isBase64Encoded"] as? Bool == false)
        let empty = try json(ProxyPayload.event(request(), context: context, format: .v1))
        #expect(empty["queryStringParameters"] is NSNull && empty["multiValueQueryStringParameters"] is NSNull && empty["body"] is NSNull)
        let requestContext = try #require(event["requestContext"] as? [String: Any])
        #expect(requestContext["resourcePath"] as? String == "/pets/{id}" && requestContext["requestTime"] as? String == "04/Mar/2020:19:15:17 +0000")
    }

    @Test func bodiesAreTextOrBase64ByContentType() throws {
        let text = try json(ProxyPayload.event(request(headers: [("Content-Type", "application/json")], body: Array(#"{"a":1}"#.utf8)), context: context, format: .v2))
        #expect(text["body"] as? String == #"{"a":1}"# && text["isBase64Encoded"] as? Bool == false)
        let binary = try json(ProxyPayload.event(request(headers: [("Content-Type", "image/png")], body: [0x89, 0x50]), context: context, format: .v2))
        #expect(binary["body"] as? String == "iVA=" && binary["isBase64Encoded"] as? Bool == true)
        let broken = try json(ProxyPayload.event(request(headers: [("Content-Type", "text/plain")], body: [0xFF, 0xFE]), context: context, format: .v2))
        #expect(broken["isBase64Encoded"] as? Bool == true)
    }

    func response(_ text: String, _ format: ProxyPayload.Format = .v2) -> GatewayResponse? {
        ProxyPayload.response(from: Array(text.utf8), format: format)
    }

    @Test func structuredAnswersMapFieldForField() throws {
        let answer = try #require(
            response(
                #"{"statusCode": 201, "headers": {"x-a": "1", "x-n": 2, "x-b": true}, "multiValueHeaders": {"x-m": ["p", "q"], "x-a": ["3"]}, "cookies": ["c=1"], "body": "hi"}"#
            ))
        #expect(answer.status == 201 && answer.body == Array("hi".utf8))
        #expect(answer.headers.map { "\($0.0)=\($0.1)" } == ["x-b=true", "x-n=2", "x-a=3", "x-m=p", "x-m=q", "set-cookie=c=1", "content-type=text/plain; charset=utf-8"])
        // Format 1.0 has no cookies and adds no content type.
        let one = try #require(response(#"{"statusCode": 200, "cookies": ["c=1"], "body": "x"}"#, .v1))
        #expect(one.headers.isEmpty)
        let binary = try #require(response(#"{"statusCode": 200, "isBase64Encoded": true, "body": "AAE="}"#))
        #expect(binary.body == [0, 1])
        let empty = try #require(response(#"{"statusCode": 204}"#))
        #expect(empty.body.isEmpty && empty.headers.isEmpty)
    }

    @Test func anyOtherJSONIsAFormatTwoBody() throws {
        for text in [#"{"a": 1}"#, #""hello""#, "[1,2]", "3", "null"] {
            let answer = try #require(response(text), "\(text)")
            #expect(answer.status == 200 && answer.body == Array(text.utf8) && answer.headers.map(\.1) == ["application/json"])
            #expect(response(text, .v1) == nil)
        }
    }

    @Test(arguments: [
        "not json", #"{"statusCode": "200"}"#, #"{"statusCode": 99}"#, #"{"statusCode": 200.5}"#, #"{"statusCode": 200, "body": 5}"#,
        #"{"statusCode": 200, "headers": {"a": [1]}}"#, #"{"statusCode": 200, "headers": "x"}"#, #"{"statusCode": 200, "isBase64Encoded": true, "body": "!!"}"#,
        #"{"statusCode": 200, "cookies": "c=1"}"#, #"{"statusCode": 200, "multiValueHeaders": {"a": "b"}}"#,
    ])
    func malformedAnswersAreRefused(_ text: String) {
        #expect(response(text) == nil)
    }

    @Test func integrationURIsNameFunctions() {
        let arn = "arn:aws:lambda:us-east-1:000000000000:function:echo"
        #expect(FunctionTarget(integrationUri: arn)?.functionArn == arn)
        #expect(FunctionTarget(integrationUri: arn + ":live")?.functionArn == arn + ":live")
        #expect(FunctionTarget(integrationUri: "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/\(arn)/invocations")?.functionArn == arn)
        #expect(FunctionTarget(integrationUri: "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/\(arn)") == nil)
        #expect(FunctionTarget(integrationUri: "arn:aws:s3:::bucket") == nil)
        #expect(FunctionTarget(integrationUri: "echo") == nil)
        #expect(GatewayDataPlane.substitute("arn:aws:lambda:us-east-1:1:function:${stageVariables.fn}", stageVariables: ["fn": "x"]) == "arn:aws:lambda:us-east-1:1:function:x")
    }

    @Test func deadlinesTimeOutWithoutWaitingForTheWork() async {
        let start = ContinuousClock.now
        let outcome = await Deadline.race(milliseconds: 50) { () async -> Int in
            try? await Task.sleep(for: .seconds(60))
            return 1
        }
        guard case .timedOut = outcome else {
            Issue.record("expected a timeout")
            return
        }
        // The caller did not wait for the work (60 s); the bound is loose for busy machines.
        #expect(ContinuousClock.now - start < .seconds(30))
        let quick = await Deadline.race(milliseconds: 5000) { 7 }
        guard case .finished(7) = quick else {
            Issue.record("expected the work's value")
            return
        }
    }
}
