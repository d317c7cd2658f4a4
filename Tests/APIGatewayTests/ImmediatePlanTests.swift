@testable import APIGateway
import APIGatewayShapes
import Foundation
import StevedoreCore
import Testing

/// The plans the data plane makes without waiting, which the listener carries out on its event
/// loop: they must answer as ``GatewayDataPlane/handle(host:path:request:)`` would, and leave to it
/// (without counting the request) whatever needs a function, an authorizer or a signature.
struct ImmediatePlanTests {
    typealias Twins = GatewayDataPlaneTests

    /// A directory that can answer at once, unless told it cannot.
    struct Directory: TargetDirectory {
        let hosts: [String]?
        func targets(of group: String) async -> [(host: String, port: Int)] { (hosts ?? []).map { ($0, 80) } }
        func targetsNow(of group: String) -> [(host: String, port: Int)]? { hosts.map { $0.map { ($0, 80) } } }
    }

    let twins = GatewayDataPlaneTests()
    let function = "arn:aws:lambda:us-east-1:000000000000:function:f"

    func plane(_ state: GatewayState, hosts: [String]? = [], immediate: Bool = true) -> GatewayDataPlane {
        let read: @Sendable () -> GatewayState? = { state }
        let now = immediate ? read : nil
        return GatewayDataPlane(
            names: ResourceNames(), functions: Twins.EchoFunctions(), http: Twins.Backends(), targets: Directory(hosts: hosts),
            immediateSnapshot: now
        ) { state }
    }

    /// The state with the API's `$default` stage changed by `update`.
    func state(target: String, cors: V2Cors? = nil, stage update: V2UpdateStageRequest? = nil, route: V2UpdateRouteRequest? = nil) throws
        -> (GatewayState, String)
    {
        var (state, api) = try twins.state(target: target, cors: cors)
        var random = Xoshiro256(seed: 3)
        var changes = ChangeSet()
        if let update { _ = try state.updateStage(api, "$default", update, now: Date(), using: &random, changes: &changes) }
        if let route {
            let found = try #require(try state.getRoutes(api, maxResults: nil, nextToken: nil).items?.first)
            _ = try state.updateRoute(api, found.routeId ?? "", route, now: Date(), using: &random, changes: &changes)
        }
        return (state, api)
    }

    func forward(_ plan: ImmediatePlan?) throws -> PlannedForward {
        guard case .forward(let planned)? = plan else { throw PlanMismatch(plan: plan) }
        return planned
    }

    func response(_ plan: ImmediatePlan?) throws -> GatewayResponse {
        guard case .respond(let response)? = plan else { throw PlanMismatch(plan: plan) }
        return response
    }

    struct PlanMismatch: Error { let plan: ImmediatePlan? }

    @Test func urlRoutesForwardTheRequestAndFinishAsTheAsyncPathDoes() throws {
        let (state, api) = try state(target: "http://backend:8080/base")
        let gateway = plane(state)
        let request = twins.request(
            "/\(api)/items", method: "POST",
            headers: [("Host", "gw"), ("Connection", "keep-alive"), ("X-Forwarded-For", "1.2.3.4"), ("Content-Length", "0"), ("Expect", "100-continue")])
        let planned = try forward(gateway.immediatePlan(host: "gw", path: "/\(api)/items", request: request))
        let exchange = try #require(planned.candidates.first)
        // The integration's URL as it is, with the request's query string.
        #expect(planned.candidates.count == 1 && exchange.method == "POST" && exchange.url == "http://backend:8080/base?q=1")
        #expect(!exchange.headers.contains { ["host", "connection", "content-length", "expect"].contains($0.name.lowercased()) })
        #expect(exchange.headers.contains { $0 == ("X-Forwarded-For", "1.2.3.4, 10.1.1.1") })
        #expect(exchange.headers.contains { $0.name == "X-Amzn-Trace-Id" && $0.value.hasPrefix("Root=1-") })

        let answered = gateway.finish(
            planned, result: .answered(GatewayResponse(status: 201, headers: [("Content-Length", "2"), ("Connection", "close"), ("x-b", "1")], body: [1, 2])))
        #expect(answered.status == 201 && answered.body == [1, 2])
        #expect(answered.headers.map(\.0) == ["x-b", "apigw-requestid"])
        // A HEAD's answer keeps the length the backend gave (of the body it did not send).
        var head = request
        head.method = "HEAD"
        let headPlan = try forward(gateway.immediatePlan(host: "gw", path: "/\(api)/items", request: head))
        #expect(gateway.finish(headPlan, result: .answered(GatewayResponse(status: 200, headers: [("Content-Length", "42")]))).headers.contains { $0 == ("Content-Length", "42") })
        #expect(gateway.finish(planned, result: .refused).status == 500)
        #expect(gateway.finish(planned, result: .failed).status == 500)
        #expect(gateway.finish(planned, result: .timedOut).status == 503)
    }

    @Test func targetGroupsGiveEveryTargetToTryFromTheNextInRotation() async throws {
        let group = twins.group
        let (state, api) = try state(target: group)
        let gateway = plane(state, hosts: ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"])
        let first = try forward(gateway.immediatePlan(host: nil, path: "/\(api)/a", request: twins.request("/\(api)/a")))
        let second = try forward(gateway.immediatePlan(host: nil, path: "/\(api)/a", request: twins.request("/\(api)/a")))
        // Three tries at most, starting one further on each request.
        #expect(first.candidates.map(\.url) == ["http://10.0.0.1:80/a?q=1", "http://10.0.0.2:80/a?q=1", "http://10.0.0.3:80/a?q=1"])
        #expect(second.candidates.first?.url == "http://10.0.0.2:80/a?q=1")
        // Every target refused: no target for the request (503), as the async path answers.
        #expect(gateway.finish(first, result: .refused).status == 503)
        #expect(try response(plane(state, hosts: []).immediatePlan(host: nil, path: "/\(api)/a", request: twins.request("/\(api)/a"))).status == 503)
        // Targets that cannot be read at once: the async path, with the request not yet counted by
        // throttling (a burst of one still lets it through there).
        let (tight, tightApi) = try self.state(
            target: group, stage: V2UpdateStageRequest(defaultRouteSettings: V2RouteSettings(throttlingBurstLimit: 1, throttlingRateLimit: 0.001)))
        let unreadable = plane(tight, hosts: nil)
        #expect(unreadable.immediatePlan(host: nil, path: "/\(tightApi)/a", request: twins.request("/\(tightApi)/a")) == nil)
        #expect(await unreadable.handle(host: nil, path: "/\(tightApi)/a", request: twins.request("/\(tightApi)/a")).status == 503)
    }

    @Test func theGatewaysOwnAnswersAreImmediate() throws {
        let cors = V2Cors(allowMethods: ["GET"], allowOrigins: ["https://a"])
        let (state, api) = try state(
            target: "http://backend/", cors: cors,
            stage: V2UpdateStageRequest(defaultRouteSettings: V2RouteSettings(throttlingBurstLimit: 1, throttlingRateLimit: 0.001)))
        let gateway = plane(state)
        let missing = try response(gateway.immediatePlan(host: "nope.execute-api.localhost", path: "/", request: twins.request("/")))
        #expect(missing.status == 404 && missing.headers.contains { $0 == ("apigw-requestid", "r") })
        let preflight = twins.request("/\(api)/x", method: "OPTIONS", headers: [("Origin", "https://a"), ("Access-Control-Request-Method", "GET")])
        #expect(try response(gateway.immediatePlan(host: nil, path: "/\(api)/x", request: preflight)).status == 204)
        // The burst of one goes to the first request; the second is throttled, with CORS headers.
        let withOrigin = twins.request("/\(api)/x", headers: [("Origin", "https://a")])
        let first = try forward(gateway.immediatePlan(host: nil, path: "/\(api)/x", request: withOrigin))
        #expect(gateway.finish(first, result: .answered(GatewayResponse(status: 200))).headers.contains { $0.0 == "access-control-allow-origin" })
        let throttled = try response(gateway.immediatePlan(host: nil, path: "/\(api)/x", request: withOrigin))
        #expect(throttled.status == 429 && throttled.headers.contains { $0 == ("access-control-allow-origin", "https://a") })
    }

    @Test func whatNeedsWaitingIsLeftToTheAsyncPathUncounted() async throws {
        let tight = V2UpdateStageRequest(defaultRouteSettings: V2RouteSettings(throttlingBurstLimit: 1, throttlingRateLimit: 0.001))
        // A function route: the plan declines before throttling counts the request, so the async
        // path still has the burst's one token.
        let (functions, functionApi) = try state(target: function, stage: tight)
        let gateway = plane(functions)
        #expect(gateway.immediatePlan(host: nil, path: "/\(functionApi)/x", request: twins.request("/\(functionApi)/x")) == nil)
        #expect(await gateway.handle(host: nil, path: "/\(functionApi)/x", request: twins.request("/\(functionApi)/x")).status == 200)
        // An AWS_IAM route to a URL: its signature is checked on the async path.
        let (signed, signedApi) = try state(target: "http://backend/", route: V2UpdateRouteRequest(authorizationType: .awsIam))
        #expect(plane(signed).immediatePlan(host: nil, path: "/\(signedApi)/x", request: twins.request("/\(signedApi)/x")) == nil)
        // A stage with an edge function, and a data plane that cannot read the state at once.
        let (edged, edgedApi) = try state(target: "http://backend/", stage: V2UpdateStageRequest())
        var tagged = edged
        tagged.apis[edgedApi]?.stages["$default"]?.tags = ["stevedore:edge:viewer-request": function]
        #expect(plane(tagged).immediatePlan(host: nil, path: "/\(edgedApi)/x", request: twins.request("/\(edgedApi)/x")) == nil)
        #expect(plane(edged, immediate: false).immediatePlan(host: nil, path: "/\(edgedApi)/x", request: twins.request("/\(edgedApi)/x")) == nil)
        #expect(plane(edged).immediatePlan(host: nil, path: "/\(edgedApi)/x", request: twins.request("/\(edgedApi)/x")) != nil)
    }
}

extension ImmediatePlan: Equatable {
    /// Plans compare by kind only (enough for "the async path takes it").
    public static func == (lhs: ImmediatePlan, rhs: ImmediatePlan) -> Bool {
        switch (lhs, rhs) {
        case (.respond(let a), .respond(let b)): a == b
        case (.forward, .forward): true
        default: false
        }
    }
}
