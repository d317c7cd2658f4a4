import Foundation
import AgentProtocol
import APIGatewayShapes
import Lambda
import StevedoreCore
import Synchronization

/// integration and back. The state comes from the committer; functions run through the runtime.
public struct GatewayDataPlane: Sendable {
    /// The largest request body (API Gateway's payload limit).
    public static let maximumBody = 10 << 20

    let snapshot: @Sendable () async -> GatewayState?
    /// The state when it can be read without waiting (nil when it cannot, and for tests' data planes).
    let immediateSnapshot: (@Sendable () -> GatewayState?)?
    let routeTables = RouteTables()
    let throttles = RouteThrottles()
    let signingKeys = SigningKeys()
    let authorizations = AuthorizationCache()
    let functions: any FunctionRuntime
    let http: any HTTPForwarding
    /// The services AWS service integrations call (none: such integrations answer 500).
    let services: (any ServiceActions)?
    /// Function URLs by their id (none: the gateway serves no function URL).
    let functionUrls: (@Sendable (String) async -> FunctionUrlTarget?)?
    let targets: any TargetDirectory
    let signing: (any RequestSigning)?
    let accessLogs: (any AccessLogSink)?
    let requestCounts: TargetGroupRequestCounts?
    let rotation = RoundRobin()
    /// Requests per API per minute, for the console.
    public let traffic: APITraffic
    let webSockets = WebSocketConnections()
    let quotas: UsageQuotas
    public let webSocketLimits: WebSocketLimits
    let names: ResourceNames
    var accountId: String { names.accountId }

    public init(
        names: ResourceNames, functions: any FunctionRuntime, http: any HTTPForwarding, targets: any TargetDirectory,
        services: (any ServiceActions)? = nil, functionUrls: (@Sendable (String) async -> FunctionUrlTarget?)? = nil, signing: (any RequestSigning)? = nil, accessLogs: (any AccessLogSink)? = nil, requestCounts: TargetGroupRequestCounts? = nil,
        webSocketLimits: WebSocketLimits = WebSocketLimits(), quotas: UsageQuotas = UsageQuotas(), traffic: APITraffic = APITraffic(),
        immediateSnapshot: (@Sendable () -> GatewayState?)? = nil, snapshot: @escaping @Sendable () async -> GatewayState?
    ) {
        self.traffic = traffic
        self.quotas = quotas
        self.immediateSnapshot = immediateSnapshot
        self.webSocketLimits = webSocketLimits
        self.targets = targets
        self.services = services
        self.functionUrls = functionUrls
        self.signing = signing
        self.accessLogs = accessLogs
        self.requestCounts = requestCounts
        self.names = names
        self.functions = functions
        self.http = http
        self.snapshot = snapshot
    }

    public func handle(host: String?, path: String, request: GatewayRequest) async -> GatewayResponse {
        let started = ContinuousClock.now
        var trace = RequestTrace()
        let response = await answer(host: host, path: path, request: request, trace: &trace)
        return finished(response, request: request, trace: trace, since: started)
    }

    /// A request's last step, however it was answered: its id on the response, and its access log line.
    func finished(_ response: GatewayResponse, request: GatewayRequest, trace: RequestTrace, since started: ContinuousClock.Instant) -> GatewayResponse {
        var response = response
        response.headers.append(("apigw-requestid", request.requestId))
        if let api = trace.destination?.api.id ?? trace.restValues["apiId"] {
            let latency = ContinuousClock.now - started
            traffic.record(
                api: api, at: request.time, status: response.status,
                latencyMs: Double(latency.components.seconds) * 1000 + Double(latency.components.attoseconds) / 1e15)
        }
        let settings = trace.destination.map { ($0.stage.accessLogSettings?.format, $0.stage.accessLogSettings?.destinationArn) } ?? trace.restLog
        if let accessLogs, let format = settings?.0, let group = settings?.1.flatMap(AccessLogFormat.logGroup) {
            accessLogs.write(group: group, line: AccessLogFormat.render(format, values: trace.values(request, response: response, since: started)) + "\n")
        }
        return response
    }

    /// What a request met on its way, for its access log line.
    struct RequestTrace {
        var destination: GatewayDestination?
        /// A REST stage's access log (format, log group ARN) and what REST requests add to the line.
        var restLog: (String?, String?)?
        var restValues: [String: String] = [:]
        var routeKey: String?
        var integrationLatency: Duration?
        var integrationStatus: Int?
        var authorizerError: String?

        func values(_ request: GatewayRequest, response: GatewayResponse, since started: ContinuousClock.Instant) -> [String: String] {
            func ms(_ duration: Duration) -> String { String(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000) }
            let domain = request.header("host") ?? ""
            var values = [
                "requestId": request.requestId, "extendedRequestId": request.requestId, "httpMethod": request.method, "path": request.rawPath,
                "protocol": request.httpProtocol, "status": String(response.status), "responseLength": String(response.body.count),
                "requestTime": ProxyPayload.commonLogTime(request.time),
                "requestTimeEpoch": String(Int64((request.time.timeIntervalSince1970 * 1000).rounded(.down))),
                "identity.sourceIp": request.sourceIp, "identity.userAgent": request.header("user-agent") ?? "", "domainName": domain,
                "domainPrefix": String(domain.split(separator: ".").first ?? ""), "responseLatency": ms(ContinuousClock.now - started),
            ]
            values["apiId"] = destination?.api.id
            values["stage"] = destination?.stage.stageName
            values["routeKey"] = routeKey
            values["integrationLatency"] = integrationLatency.map(ms)
            values["integration.latency"] = values["integrationLatency"]
            values["integrationStatus"] = integrationStatus.map(String.init)
            values["integration.status"] = values["integrationStatus"]
            values["authorizer.error"] = authorizerError
            values.merge(restValues) { _, rest in rest }
            if response.status >= 400, case .object(let body) = (try? JSONDecoder().decode(JSONValue.self, from: Data(response.body))),
                case .string(let message) = body["message"]
            {
                values["error.message"] = message
            }
            return values
        }
    }

    func answer(host: String?, path: String, request: GatewayRequest, trace: inout RequestTrace) async -> GatewayResponse {
        if let urlId = FunctionUrlEndpoint.urlId(fromHost: host) { return await serveFunctionUrl(urlId, request: request) }
        // The API's id is read from the host or the path once; REST APIs and the others are
        // looked up by it.
        guard let state = await snapshot(), let reference = GatewayState.apiReference(host: host, path: path) else { return .notFound }
        if let rest = state.restDestination(reference) {
            // A REST API: a stage that is not there is 403 Forbidden, as AWS answers.
            guard let destination = rest else { return .forbidden }
            var request = request
            request.routePath = destination.resourcePath
            trace.restLog = (destination.stage.accessLogSettings?.format, destination.stage.accessLogSettings?.destinationArn)
            trace.restValues = ["apiId": destination.api.id, "stage": destination.stage.stageName ?? "", "path": request.rawPath]
            let started = ContinuousClock.now
            let response = await serveRest(request, to: destination, state: state, trace: &trace)
            trace.integrationLatency = trace.integrationLatency ?? (ContinuousClock.now - started)
            return response
        }
        guard let destination = state.destination(reference) else { return .notFound }
        trace.destination = destination
        var request = request
        request.rawPath = destination.rawPath
        request.routePath = destination.routePath
        if destination.api.isWebSocket { return await manageConnection(request, destination: destination) }
        let cors = destination.api.api.corsConfiguration.map(CrossOrigin.init)
        if let cors, CrossOrigin.isPreflight(request) { return cors.preflight(request) }
        // Edge functions: a viewer-request function may rewrite the request or answer it itself.
        if let function = EdgeEvent.viewerRequest.function(of: destination.stage) {
            switch await edgeRequest(.viewerRequest, function: function, request: request, apiId: destination.api.id) {
            case .proceed(let rewritten): request = rewritten
            case .respond(let response): return cors?.decorate(response, origin: request.header("origin")) ?? response
            }
        }
        var response = await route(request, to: destination, trace: &trace)
        if let function = EdgeEvent.viewerResponse.function(of: destination.stage) {
            response = await edgeResponse(.viewerResponse, function: function, request: request, response: response, apiId: destination.api.id)
        }
        return cors?.decorate(response, origin: request.header("origin")) ?? response
    }


    /// A route's integration, what its event or request carries, and the route itself.
    struct RouteTarget {
        var route: V2Route
        var integration: V2Integration
        var context: ProxyContext
    }

    enum RouteStep {
        case answered(GatewayResponse)
        case proceed(RouteTarget)
        /// `accepting` turned the route down before anything was counted.
        case declined
    }

    /// The part of a request's way through its route that waits on nothing: the route selected,
    /// its integration found, the request let through by throttling.
    /// - Parameter accepting: whether to go on with the route and integration (before throttling counts the request).
    func prepareRoute(
        _ request: GatewayRequest, to destination: GatewayDestination, trace: inout RequestTrace,
        accepting: (V2Route, V2Integration) -> Bool = { _, _ in true }
    ) -> RouteStep {
        let table = routeTables.table(api: destination.api.id, deployment: destination.deployment)
        guard let selection = table.select(method: request.method, path: request.routePath) else { return .answered(.notFound) }
        trace.routeKey = selection.routeKey
        let integrationId = selection.target.flatMap { $0.hasPrefix("integrations/") ? String($0.dropFirst("integrations/".count)) : nil }
        let route = destination.deployment.routes[selection.index]
        guard let integrationId, let integration = destination.deployment.integrations[integrationId] else {
            // A route without an integration has nothing to call.
            return throttles.admit(api: destination.api.id, stage: destination.stage, routeKey: selection.routeKey)
                ? .answered(.notFound) : .answered(.tooManyRequests)
        }
        guard accepting(route, integration) else { return .declined }
        guard throttles.admit(api: destination.api.id, stage: destination.stage, routeKey: selection.routeKey) else { return .answered(.tooManyRequests) }
        let context = ProxyContext(
            accountId: accountId, apiId: destination.api.id, stage: destination.stage.stageName, routeKey: selection.routeKey,
            pathParameters: selection.pathParameters, stageVariables: destination.stage.stageVariables ?? [:])
        return .proceed(RouteTarget(route: route, integration: integration, context: context))
    }

    func route(_ request: GatewayRequest, to destination: GatewayDestination, trace: inout RequestTrace) async -> GatewayResponse {
        let target: RouteTarget
        switch prepareRoute(request, to: destination, trace: &trace) {
        case .answered(let response): return response
        case .declined: return .internalServerError
        case .proceed(let found): target = found
        }
        let (route, integration) = (target.route, target.integration)
        var context = target.context
        if route.authorizationType == .awsIam {
            // Without a signing check (authentication off), IAM routes are open, as every API is.
            if let signing {
                let routeArn = LambdaAuthorization.routeArn(
                    names: names, apiId: destination.api.id, stage: destination.stage.stageName, method: request.method, path: request.routePath)
                switch await signing.authorize(request, routeArn: routeArn) {
                case .refused(let response): return response
                case .allowed(let caller): context.authorizer = .iam(caller)
                }
            }
        }
        if route.authorizationType == .jwt || route.authorizationType == .custom {
            guard let authorizer = route.authorizerId.flatMap({ destination.deployment.authorizers?[$0] }) else { return .internalServerError }
            switch await authorize(request, route: route, authorizer: authorizer, destination: destination, context: context) {
            case .refused(let response):
                trace.authorizerError = response.status == 500 ? "The authorizer failed or answered malformed output" : nil
                return response
            case .allowed(let found): context.authorizer = found
            }
        }
        let integrationStarted = ContinuousClock.now
        defer { trace.integrationLatency = ContinuousClock.now - integrationStarted }
        var request = request
        if let function = EdgeEvent.originRequest.function(of: destination.stage) {
            switch await edgeRequest(.originRequest, function: function, request: request, apiId: destination.api.id) {
            case .proceed(let rewritten): request = rewritten
            case .respond(let response): return response
            }
        }
        var response: GatewayResponse
        switch integration.integrationType {
        case .awsProxy where integration.integrationSubtype != nil: response = await callService(integration, request: request, context: context)
        case .awsProxy: response = await invokeFunction(integration, request: request, context: context)
        case .httpProxy: response = await forward(integration, request: request, context: context)
        default: response = .internalServerError
        }
        trace.integrationStatus = response.status
        if let function = EdgeEvent.originResponse.function(of: destination.stage) {
            response = await edgeResponse(.originResponse, function: function, request: request, response: response, apiId: destination.api.id)
        }
        return response
    }


    /// HTTP_PROXY: the request, as it came, to the integration's URL (path variables and stage
    /// variables filled in, the query string kept); the backend's answer, as it came, back.
    func forward(_ integration: V2Integration, request: GatewayRequest, context: ProxyContext) async -> GatewayResponse {
        let uri = Self.substitute(integration.integrationUri ?? "", stageVariables: context.stageVariables)
        guard TargetGroup.isArn(uri) else { return await forward(integration, to: uri, request: request, context: context) }
        // A target group: its healthy tasks in turn; one that refuses the connection is skipped
        // (nothing was sent to it), up to three tries.
        let group = await targets.targets(of: uri)
        requestCounts?.record(uri)
        guard !group.isEmpty else { return .serviceUnavailable }
        let first = rotation.next(uri)
        let path = request.routePath + (request.rawQueryString.isEmpty ? "" : "?" + request.rawQueryString)
        for attempt in 0..<min(3, group.count) {
            let target = group[(first + attempt) % group.count]
            var direct = request
            direct.rawQueryString = ""
            let response = await forward(
                integration, to: "http://\(target.host):\(target.port)" + path, request: direct, context: context, retryable: true)
            if let response { return response }
        }
        return .serviceUnavailable
    }

    func forward(_ integration: V2Integration, to uri: String, request: GatewayRequest, context: ProxyContext) async -> GatewayResponse {
        await forward(integration, to: uri, request: request, context: context, retryable: false) ?? .internalServerError
    }

    /// One forwarded exchange; nil when the target refused the connection and another may be tried.
    /// - Parameter timedOut: the answer past the integration's timeout (HTTP APIs' 503, REST APIs' 504).
    func forward(
        _ integration: V2Integration, to uri: String, request: GatewayRequest, context: ProxyContext, retryable: Bool,
        timedOut: GatewayResponse = .serviceUnavailable
    ) async -> GatewayResponse? {
        let exchange = Self.exchange(integration, to: uri, request: request, context: context)
        // The client keeps the deadline itself: no timer per request.
        let result = await http.forward(
            method: exchange.method, url: exchange.url, headers: exchange.headers, body: exchange.body, timeout: exchange.timeout)
        return Self.answer(result, retryable: retryable, timedOut: timedOut, head: request.method == "HEAD")
    }

    /// The request an HTTP_PROXY integration sends to `uri`: path variables filled in, the query
    /// string kept, hop-by-hop headers left out, `X-Forwarded-*` added.
    static func exchange(_ integration: V2Integration, to uri: String, request: GatewayRequest, context: ProxyContext) -> ForwardedExchange {
        var url = uri
        for (name, value) in context.pathParameters {
            url = url.replacingOccurrences(of: "{\(name)}", with: value.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? value)
        }
        if !request.rawQueryString.isEmpty { url += (url.contains("?") ? "&" : "?") + request.rawQueryString }
        let method = integration.integrationMethod == nil || integration.integrationMethod == "ANY" ? request.method : integration.integrationMethod ?? ""
        // The length (and `Expect`) are the forwarding client's to set for the body it sends.
        var headers = request.headers.filter { header in
            let name = header.name.lowercased()
            return !Self.hopByHop.contains(name) && name != "content-length" && name != "expect"
        }
        let forwardedFor = request.header("x-forwarded-for").map { "\($0), \(request.sourceIp)" } ?? request.sourceIp
        headers.removeAll { $0.name.lowercased() == "x-forwarded-for" }
        headers += [("X-Forwarded-For", forwardedFor), ("X-Forwarded-Proto", "http"), ("X-Amzn-Trace-Id", LambdaAPI.newTraceId(at: request.time))]
        return ForwardedExchange(
            method: method, url: url, headers: headers, body: request.body, timeout: .milliseconds(integration.timeoutInMillis ?? 30000))
    }

    /// The gateway's answer for a forwarded exchange's result; nil when the target refused the
    /// connection and another may be tried (`retryable`).
    /// - Parameter head: the request was a HEAD: the backend's `Content-Length` (of the body it
    ///   did not send) stays, for the listener to pass on.
    static func answer(_ result: ForwardingResult, retryable: Bool, timedOut: GatewayResponse = .serviceUnavailable, head: Bool = false)
        -> GatewayResponse?
    {
        switch result {
        case .timedOut: return timedOut
        case .refused: return retryable ? nil : .internalServerError
        case .failed: return .internalServerError
        case .answered(var response):
            response.headers.removeAll { header in
                let name = header.0.lowercased()
                return Self.hopByHop.contains(name) || (name == "content-length" && !head)
            }
            return response
        }
    }

    /// Headers that belong to one connection, not to the request or response passed on.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host",
    ]

    func invokeFunction(_ integration: V2Integration, request: GatewayRequest, context: ProxyContext) async -> GatewayResponse {
        let uri = Self.substitute(integration.integrationUri ?? "", stageVariables: context.stageVariables)
        guard let target = FunctionTarget(integrationUri: uri) else { return .internalServerError }
        let format = ProxyPayload.Format(rawValue: integration.payloadFormatVersion ?? "2.0") ?? .v2
        let event = ProxyPayload.event(request, context: context, format: format)
        let invocation = InvocationRequest(
            reference: target.functionArn, qualifier: nil, payload: Data(event), requestId: UUID().uuidString.lowercased(),
            traceId: LambdaAPI.newTraceId(at: request.time))
        let functions = self.functions
        let outcome = await Deadline.race(milliseconds: integration.timeoutInMillis ?? 30000) {
            try? await functions.invoke(invocation)
        }
        switch outcome {
        case .timedOut:
            return .serviceUnavailable
        case .finished(nil):
            return .internalServerError
        case .finished(let outcome?):
            guard outcome.status == .success, let response = ProxyPayload.response(from: Array(outcome.payload), format: format) else {
                return .internalServerError
            }
            return response
        }
    }

    /// An AWS service integration: the subtype's operation with the mapped parameters, its
    /// answer passed back. A parameter that cannot be read as its type answers 400.
    func callService(_ integration: V2Integration, request: GatewayRequest, context: ProxyContext) async -> GatewayResponse {
        guard let services, let subtype = integration.integrationSubtype.flatMap(ServiceIntegration.init(rawValue:)) else { return .internalServerError }
        let body: [UInt8]
        do throws(AWSError) {
            body = try subtype.requestBody(integration.requestParameters ?? [:], request: request, context: context)
        } catch {
            return .message(400, error.message)
        }
        let (status, answer) = await services.call(target: subtype.target, body: body)
        return subtype.response(status: status, body: answer, requestId: request.requestId)
    }

    /// `${stageVariables.name}` in an integration URI, replaced by the stage's value.
    static func substitute(_ text: String, stageVariables: [String: String]) -> String {
        // Most URIs have no variable: one pass over their bytes.
        guard text.utf8.contains(UInt8(ascii: "$")), text.contains("${stageVariables.") else { return text }
        var result = text
        for (name, value) in stageVariables {
            result = result.replacingOccurrences(of: "${stageVariables.\(name)}", with: value)
        }
        return result
    }
}
