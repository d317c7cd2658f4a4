@testable import APIGateway
import APIGatewayShapes
import Foundation
import StevedoreCore
import Testing

/// Edge functions: CloudFront's event shape, and how request and response functions' answers apply.
struct EdgeFunctionTests {
    let request = GatewayRequest(
        method: "GET", rawPath: "/prod/old", routePath: "/old", rawQueryString: "a=1", headers: [("Host", "x.example"), ("X-A", "1"), ("x-a", "2")],
        body: [], sourceIp: "10.0.0.9", requestId: "r1", time: Date(timeIntervalSince1970: 1_800_000_000))

    @Test func stagesNameTheirFunctionsByTag() {
        let stage = V2Stage(
            stageName: "prod",
            tags: [
                "stevedore:edge:viewer-request": "arn:aws:lambda:us-east-1:000000000000:function:rewrite",
                "stevedore:edge:origin-response": "not an arn",
            ])
        #expect(EdgeEvent.viewerRequest.function(of: stage) == "arn:aws:lambda:us-east-1:000000000000:function:rewrite")
        #expect(EdgeEvent.originResponse.function(of: stage) == nil && EdgeEvent.viewerResponse.function(of: stage) == nil)
        #expect(EdgeEvent.viewerRequest.timeoutMilliseconds == 5_000 && EdgeEvent.originRequest.timeoutMilliseconds == 30_000)
    }

    @Test func eventsAreCloudFronts() throws {
        let event = try #require(
            try JSONSerialization.jsonObject(
                with: Data(EdgeShapes.event(.originResponse, request: request, uri: "/old", distribution: "api1", response: GatewayResponse(status: 404)))
            ) as? [String: Any])
        let cf = try #require(((event["Records"] as? [[String: Any]])?.first?["cf"]) as? [String: Any])
        let config = try #require(cf["config"] as? [String: String])
        #expect(config == ["distributionDomainName": "x.example", "distributionId": "api1", "eventType": "origin-response", "requestId": "r1"])
        let sent = try #require(cf["request"] as? [String: Any])
        #expect(sent["uri"] as? String == "/old" && sent["querystring"] as? String == "a=1" && sent["clientIp"] as? String == "10.0.0.9")
        let headers = try #require(sent["headers"] as? [String: [[String: String]]])
        #expect(headers["x-a"] == [["key": "X-A", "value": "1"], ["key": "x-a", "value": "2"]])
        let response = try #require(cf["response"] as? [String: Any])
        #expect(response["status"] as? String == "404" && response["statusDescription"] as? String == "Not Found")
    }

    @Test func requestFunctionsRewriteOrAnswer() {
        let rewritten = EdgeShapes.requestOutcome(
            Array(#"{"uri": "/new", "querystring": "b=2", "method": "POST", "headers": {"x-b": [{"key": "X-B", "value": "3"}]}}"#.utf8), original: request)
        #expect(rewritten == .request(method: "POST", uri: "/new", querystring: "b=2", headers: [("X-B", "3")]))
        let kept = EdgeShapes.requestOutcome(Array(#"{"uri": "/same"}"#.utf8), original: request)
        #expect(kept == .request(method: "GET", uri: "/same", querystring: "a=1", headers: request.headers))
        let answered = EdgeShapes.requestOutcome(
            Array(#"{"status": "302", "headers": {"location": [{"key": "Location", "value": "/elsewhere"}]}}"#.utf8), original: request)
        #expect(answered == .response(GatewayResponse(status: 302, headers: [("Location", "/elsewhere")], body: [])))
        for bad in ["[]", #"{"uri": "relative"}"#, #"{"status": "abc"}"#, #"{"uri": "/x", "headers": {"a": "b"}}"#, "nope"] {
            #expect(EdgeShapes.requestOutcome(Array(bad.utf8), original: request) == nil, "\(bad)")
        }
    }

    @Test func responseFunctionsChangeStatusHeadersOrBody() throws {
        let original = GatewayResponse(status: 200, headers: [("content-type", "text/plain")], body: Array("hi".utf8))
        let headersOnly = try #require(Document.parseJSON(Array(#"{"status": "200", "headers": {"x-edge": [{"key": "X-Edge", "value": "1"}]}}"#.utf8)))
        #expect(EdgeShapes.response(headersOnly, fallback: original) == GatewayResponse(status: 200, headers: [("X-Edge", "1")], body: Array("hi".utf8)))
        let replaced = try #require(Document.parseJSON(Array(#"{"status": "201", "body": "aGk=", "bodyEncoding": "base64"}"#.utf8)))
        #expect(EdgeShapes.response(replaced, fallback: original) == GatewayResponse(status: 201, headers: original.headers, body: Array("hi".utf8)))
        let broken = try #require(Document.parseJSON(Array(#"{"status": "999"}"#.utf8)))
        #expect(EdgeShapes.response(broken, fallback: original) == nil)
    }
}
