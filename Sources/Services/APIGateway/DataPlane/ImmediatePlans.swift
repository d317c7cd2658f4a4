import Foundation
import APIGatewayShapes
import Lambda

/// What the data plane decides about a request without waiting on anything: most requests to
/// HTTP_PROXY routes and every answer the gateway gives itself (404, 429, CORS preflights). The
/// listener carries such a plan out on the connection's own event loop, as a reverse proxy would,
/// instead of going through ``GatewayDataPlane/handle(host:path:request:)``.
public enum ImmediatePlan: Sendable {
    /// The finished answer.
    case respond(GatewayResponse)
    /// Send the exchange to its first candidate (the next on `.refused`), then ``GatewayDataPlane/finish(_:result:)``.
    case forward(PlannedForward)
}

/// An HTTP_PROXY exchange and what its answer needs to be finished.
public struct PlannedForward: Sendable {
    /// The same request for each target to try in turn (a target group's, from the next in rotation).
    public let candidates: [ForwardedExchange]
    let request: GatewayRequest
    let trace: GatewayDataPlane.RequestTrace
    let cors: CrossOrigin?
    /// Whether the URL is a target group's (no target left: 503) or the integration's own (500).
    let throughGroup: Bool
    let started: ContinuousClock.Instant
    let integrationStarted: ContinuousClock.Instant
}

extension GatewayDataPlane {
    /// The request's plan when it needs no function, authorizer, signature check, WebSocket or
    /// REST API, and the state can be read at once; nil sends it through ``handle(host:path:request:)``.
    public func immediatePlan(host: String?, path: String, request: GatewayRequest) -> ImmediatePlan? {
        let started = ContinuousClock.now
        // Function URLs always invoke a function.
        guard FunctionUrlEndpoint.urlId(fromHost: host) == nil, let immediateSnapshot, let state = immediateSnapshot() else { return nil }
        var trace = RequestTrace()
        guard let reference = GatewayState.apiReference(host: host, path: path) else {
            return .respond(finished(.notFound, request: request, trace: trace, since: started))
        }
        guard state.restDestination(reference) == nil else { return nil }
        guard let destination = state.destination(reference) else {
            return .respond(finished(.notFound, request: request, trace: trace, since: started))
        }
        guard !destination.api.isWebSocket, !EdgeEvent.any(on: destination.stage) else { return nil }
        trace.destination = destination
        var request = request
        request.rawPath = destination.rawPath
        request.routePath = destination.routePath
        let cors = destination.api.api.corsConfiguration.map(CrossOrigin.init)
        if let cors, CrossOrigin.isPreflight(request) {
            return .respond(finished(cors.preflight(request), request: request, trace: trace, since: started))
        }
        func respond(_ response: GatewayResponse) -> ImmediatePlan {
            .respond(finished(cors?.decorate(response, origin: request.header("origin")) ?? response, request: request, trace: trace, since: started))
        }
        // A target group's targets are read before throttling counts the request: when they cannot
        // be read at once, the async path takes the request, uncounted.
        var groupTargets: [(host: String, port: Int)]?
        let step = prepareRoute(request, to: destination, trace: &trace) { route, integration in
            guard route.authorizationType == nil || route.authorizationType == .none_, integration.integrationType == .httpProxy else { return false }
            let uri = Self.substitute(integration.integrationUri ?? "", stageVariables: destination.stage.stageVariables ?? [:])
            guard TargetGroup.isArn(uri) else { return true }
            groupTargets = targets.targetsNow(of: uri)
            return groupTargets != nil
        }
        switch step {
        case .declined:
            return nil
        case .answered(let response):
            return respond(response)
        case .proceed(let target):
            let integrationStarted = ContinuousClock.now
            let uri = Self.substitute(target.integration.integrationUri ?? "", stageVariables: target.context.stageVariables)
            var candidates: [ForwardedExchange] = []
            let throughGroup = TargetGroup.isArn(uri)
            if throughGroup, let group = groupTargets {
                // A target group: its healthy tasks in turn, from the next in rotation; up to three tries.
                requestCounts?.record(uri)
                let first = group.isEmpty ? 0 : rotation.next(uri)
                let path = request.routePath + (request.rawQueryString.isEmpty ? "" : "?" + request.rawQueryString)
                var direct = request
                direct.rawQueryString = ""
                for attempt in 0..<min(3, group.count) {
                    let member = group[(first + attempt) % group.count]
                    candidates.append(
                        Self.exchange(target.integration, to: "http://\(member.host):\(member.port)" + path, request: direct, context: target.context))
                }
            } else {
                candidates = [Self.exchange(target.integration, to: uri, request: request, context: target.context)]
            }
            guard !candidates.isEmpty else {
                trace.integrationLatency = ContinuousClock.now - integrationStarted
                return respond(.serviceUnavailable)
            }
            return .forward(
                PlannedForward(
                    candidates: candidates, request: request, trace: trace, cors: cors, throughGroup: throughGroup, started: started,
                    integrationStarted: integrationStarted))
        }
    }

    /// The answer to a planned exchange, given how its last try ended (`.refused` by every candidate
    /// counts as no target: 503 for a group, 500 for a URL).
    public func finish(_ plan: PlannedForward, result: ForwardingResult) -> GatewayResponse {
        var trace = plan.trace
        trace.integrationLatency = ContinuousClock.now - plan.integrationStarted
        var response = Self.answer(result, retryable: plan.throughGroup, head: plan.request.method == "HEAD") ?? .serviceUnavailable
        trace.integrationStatus = response.status
        if let cors = plan.cors { response = cors.decorate(response, origin: plan.request.header("origin")) }
        return finished(response, request: plan.request, trace: trace, since: plan.started)
    }
}
