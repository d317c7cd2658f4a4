@testable import APIGateway
import APIGatewayShapes
import Foundation
import Testing

/// CORS as HTTP APIs answer it, and the token buckets behind stage and route throttling.
struct CrossOriginAndThrottlingTests {
    func request(_ method: String, _ headers: [(name: String, value: String)]) -> GatewayRequest {
        GatewayRequest(
            method: method, rawPath: "/x", routePath: "/x", rawQueryString: "", headers: headers, body: [], sourceIp: "127.0.0.1", requestId: "r",
            time: Date())
    }

    let cors = CrossOrigin(
        configuration: V2Cors(
            allowCredentials: true, allowHeaders: ["content-type", "x-api-key"], allowMethods: ["GET", "POST"], allowOrigins: ["https://app.example"],
            exposeHeaders: ["x-total"], maxAge: 300))

    @Test func preflightsOfAllowedOriginsGetTheConfiguredHeaders() {
        let preflight = request("OPTIONS", [("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "Content-Type")])
        #expect(CrossOrigin.isPreflight(preflight))
        let answer = cors.preflight(preflight)
        #expect(answer.status == 204)
        #expect(
            answer.headers.map { "\($0.0): \($0.1)" } == [
                "access-control-allow-origin: https://app.example", "access-control-allow-methods: GET,POST",
                "access-control-allow-headers: content-type,x-api-key", "access-control-max-age: 300", "access-control-allow-credentials: true",
            ])
    }

    @Test func preflightsOutsideTheConfigurationGetNoCORSHeaders() {
        for headers in [
            [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "GET")],
            [("Origin", "https://app.example"), ("Access-Control-Request-Method", "DELETE")],
            [("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET"), ("Access-Control-Request-Headers", "x-secret")],
        ] {
            let answer = cors.preflight(request("OPTIONS", headers))
            #expect(answer.status == 204 && answer.headers.isEmpty)
        }
        #expect(!CrossOrigin.isPreflight(request("OPTIONS", [("Origin", "https://app.example")])))
    }

    @Test func answersToAllowedOriginsCarryTheHeadersAndTheIntegrationsOwnAreReplaced() {
        let answer = GatewayResponse(status: 200, headers: [("access-control-allow-origin", "*"), ("x-a", "1")], body: [])
        let decorated = cors.decorate(answer, origin: "https://app.example")
        #expect(
            decorated.headers.map { "\($0.0): \($0.1)" } == [
                "x-a: 1", "access-control-allow-origin: https://app.example", "access-control-expose-headers: x-total",
                "access-control-allow-credentials: true",
            ])
        #expect(cors.decorate(answer, origin: "https://evil.example").headers.map(\.0) == ["x-a"])
        let anyOrigin = CrossOrigin(configuration: V2Cors(allowMethods: ["*"], allowOrigins: ["*"]))
        #expect(anyOrigin.allowedOrigin("https://x") == "*")
        let preflight = anyOrigin.preflight(request("OPTIONS", [("Origin", "https://x"), ("Access-Control-Request-Method", "PATCH")]))
        #expect(preflight.headers.map { "\($0.0): \($0.1)" } == ["access-control-allow-origin: *", "access-control-allow-methods: PATCH"])
    }

    @Test func bucketsAllowTheBurstThenTheRate() {
        var bucket = TokenBucket(rate: 2, burst: 3, now: 0)
        #expect((0..<5).map { _ in bucket.take(now: 0) } == [true, true, true, false, false])
        #expect(bucket.take(now: 0.4) == false)
        #expect(bucket.take(now: 0.5) == true)
        #expect(bucket.take(now: 100) == true && bucket.tokens == 2)
    }

    @Test func routeSettingsWinOverTheStageDefaults() {
        let stage = V2Stage(
            defaultRouteSettings: V2RouteSettings(throttlingBurstLimit: 10, throttlingRateLimit: 5),
            routeSettings: ["GET /a": V2RouteSettings(throttlingBurstLimit: 1)], stageName: "s")
        #expect(throttlingLimits(stage: stage, routeKey: "GET /a").map { "\($0.rate) \($0.burst)" } == "5.0 1")
        #expect(throttlingLimits(stage: stage, routeKey: "GET /b").map { "\($0.rate) \($0.burst)" } == "5.0 10")
        #expect(throttlingLimits(stage: V2Stage(stageName: "free"), routeKey: "GET /a") == nil)
        let throttles = RouteThrottles()
        let tight = V2Stage(defaultRouteSettings: V2RouteSettings(throttlingBurstLimit: 2, throttlingRateLimit: 0.001), stageName: "t")
        #expect((0..<4).map { _ in throttles.admit(api: "a", stage: tight, routeKey: "GET /") } == [true, true, false, false])
        #expect(throttles.admit(api: "b", stage: tight, routeKey: "GET /"))
    }
}
