import Foundation
import AgentProtocol
import APIGatewayShapes
import Lambda
import StevedoreCore
import Synchronization

/// The function an AWS_PROXY integration invokes: its URI is the function's ARN, or API Gateway's
/// invocation URI around it (`arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations`).
public struct FunctionTarget: Sendable, Equatable {
    public var functionArn: String

    public init?(integrationUri: String) {
        var uri = Substring(integrationUri)
        if uri.hasPrefix("arn:"), uri.contains(":apigateway:"), let range = uri.range(of: ":lambda:path/2015-03-31/functions/") {
            uri = uri[range.upperBound...]
            guard uri.hasSuffix("/invocations") else { return nil }
            uri = uri.dropLast("/invocations".count)
        }
        let parts = uri.split(separator: ":", omittingEmptySubsequences: false)
        // arn:partition:lambda:region:account:function:name[:qualifier]; a stage variable may stand for any part.
        guard parts.count == 7 || parts.count == 8, parts[0] == "arn", parts[2] == "lambda", parts[5] == "function", !parts[6].isEmpty else {
            return nil
        }
        functionArn = String(uri)
    }
}

/// Sends a request to an HTTP backend (HTTP_PROXY integrations); the control plane's is libcurl's.
public protocol HTTPForwarding: Sendable {
    func forward(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration) async
        -> ForwardingResult
}

/// How a forwarded request ended.
public enum ForwardingResult: Sendable {
    case answered(GatewayResponse)
    /// No answer within the integration's timeout.
    case timedOut
    /// No connection could be made: nothing was sent, so another target may be tried.
    case refused
    /// A broken exchange.
    case failed
}

/// AWS_IAM routes: the request's Signature Version 4 (service `execute-api`) checked against the
/// control plane's keys, and the signer's policies against `execute-api:Invoke` on the route.
public protocol RequestSigning: Sendable {
    func authorize(_ request: GatewayRequest, routeArn: String) async -> IAMVerdict
}

public enum IAMVerdict: Sendable {
    /// Who signed: `accessKey`, `accountId`, `callerId`, `userArn`, `userId`, as the event's `authorizer.iam`.
    case allowed([String: JSONValue])
    case refused(GatewayResponse)
}

/// The targets of a target group (an ECS service's `loadBalancers` entry): where its healthy
/// tasks listen. The control plane's reads ECS's state.
public protocol TargetDirectory: Sendable {
    func targets(of group: String) async -> [(host: String, port: Int)]
}

/// A target group's ARN, as ECS services' `loadBalancers` name them and HTTP_PROXY integrations
/// may name them instead of a URL: `arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/{name}/{id}`.
public enum TargetGroup {
    public static func isArn(_ text: String) -> Bool {
        let parts = text.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        return parts.count == 6 && parts[0] == "arn" && parts[2] == "elasticloadbalancing" && parts[5].hasPrefix("targetgroup/")
    }
}

/// Where a request goes: the API and stage its host and path name, and the deployment the stage serves.
public struct GatewayDestination: Sendable {
    public var api: GatewayAPIRecord
    public var stage: V2Stage
    public var deployment: GatewayDeployment
    /// The path as the event's `rawPath` gives it (with a named stage's prefix).
    public var rawPath: String
    /// The path routes are matched against.
    public var routePath: String
}

extension GatewayState {
    /// The API a request is for, by its `Host` (`{api-id}.execute-api.localhost[:port]`) or, for any
    /// other host, by the first segment of its path (`/{api-id}/…`); then the stage, by the next
    /// segment, or `$default`. nil when nothing serves it (404).
    public func destination(host: String?, path: String) -> GatewayDestination? {
        var path = Substring(path.isEmpty ? "/" : path)
        let apiId: Substring
        let hostName = host.map { $0.split(separator: ":").first ?? "" } ?? ""
        if let dot = hostName.firstIndex(of: "."), hostName[dot...].hasPrefix(".execute-api.") {
            apiId = hostName[..<dot]
        } else {
            let segments = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true)
            guard let first = segments.first else { return nil }
            apiId = first
            path = segments.count > 1 ? "/" + segments[1] : "/"
            if path == "/" && !path.isEmpty && segments.count > 1 && segments[1].isEmpty { path = "/" }
        }
        guard let api = apis[String(apiId)], api.api.disableExecuteApiEndpoint != true else { return nil }
        let first = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true).first.map(String.init)
        let stage: V2Stage
        var routePath = String(path)
        if let first, first != Self.defaultStage, let named = api.stages[first] {
            stage = named
            routePath = String(path.dropFirst(1 + first.utf8.count))
            if routePath.isEmpty { routePath = "/" }
        } else if let fallback = api.stages[Self.defaultStage] {
            stage = fallback
        } else {
            return nil
        }
        guard let deploymentId = stage.deploymentId, let deployment = api.deployments[deploymentId] else { return nil }
        return GatewayDestination(api: api, stage: stage, deployment: deployment, rawPath: String(path), routePath: routePath)
    }
}

/// The gateway's data plane: takes a request to a deployed stage through its route to the
/// integration and back. The state comes from the committer; functions run through the runtime.
public struct GatewayDataPlane: Sendable {
    /// The largest request body (API Gateway's payload limit).
    public static let maximumBody = 10 << 20

    let snapshot: @Sendable () async -> GatewayState?
    let routeTables = RouteTables()
    let throttles = RouteThrottles()
    let signingKeys = SigningKeys()
    let authorizations = AuthorizationCache()
    let functions: any FunctionRuntime
    let http: any HTTPForwarding
    let targets: any TargetDirectory
    let signing: (any RequestSigning)?
    let accessLogs: (any AccessLogSink)?
    let requestCounts: TargetGroupRequestCounts?
    let rotation = RoundRobin()
    let names: ResourceNames
    var accountId: String { names.accountId }

    public init(
        names: ResourceNames, functions: any FunctionRuntime, http: any HTTPForwarding, targets: any TargetDirectory,
        signing: (any RequestSigning)? = nil, accessLogs: (any AccessLogSink)? = nil, requestCounts: TargetGroupRequestCounts? = nil,
        snapshot: @escaping @Sendable () async -> GatewayState?
    ) {
        self.targets = targets
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
        var response = await answer(host: host, path: path, request: request, trace: &trace)
        response.headers.append(("apigw-requestid", request.requestId))
        if let accessLogs, let settings = trace.destination?.stage.accessLogSettings, let format = settings.format,
            let group = settings.destinationArn.flatMap(AccessLogFormat.logGroup)
        {
            accessLogs.write(group: group, line: AccessLogFormat.render(format, values: trace.values(request, response: response, since: started)) + "\n")
        }
        return response
    }

    /// What a request met on its way, for its access log line.
    struct RequestTrace {
        var destination: GatewayDestination?
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
            if response.status >= 400, case .object(let body) = (try? JSONDecoder().decode(JSONValue.self, from: Data(response.body))),
                case .string(let message) = body["message"]
            {
                values["error.message"] = message
            }
            return values
        }
    }

    func answer(host: String?, path: String, request: GatewayRequest, trace: inout RequestTrace) async -> GatewayResponse {
        guard let state = await snapshot(), let destination = state.destination(host: host, path: path) else { return .notFound }
        trace.destination = destination
        var request = request
        request.rawPath = destination.rawPath
        request.routePath = destination.routePath
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

    enum EdgeStep {
        case proceed(GatewayRequest)
        case respond(GatewayResponse)
    }

    /// A request event's function: the request it returns goes on; a response it returns is the answer.
    func edgeRequest(_ event: EdgeEvent, function: String, request: GatewayRequest, apiId: String) async -> EdgeStep {
        let payload = EdgeShapes.event(event, request: request, uri: request.routePath, distribution: apiId)
        guard let answer = await invokeEdge(function, payload: payload, event: event, time: request.time) else { return .respond(.badGateway) }
        switch answer {
        case .failure(let failed): return .respond(failed.response)
        case .success(let bytes):
            switch EdgeShapes.requestOutcome(bytes, original: request) {
            case .response(let response)?: return .respond(response)
            case .request(let method, let uri, let querystring, let headers)?:
                var rewritten = request
                // The stage's prefix stays on the raw path; routes see the new URI.
                rewritten.rawPath = String(request.rawPath.dropLast(request.routePath.count)) + uri
                rewritten.routePath = uri
                rewritten.method = method
                rewritten.rawQueryString = querystring
                rewritten.headers = headers
                return .proceed(rewritten)
            case nil: return .respond(.badGateway)
            }
        }
    }

    /// A response event's function: the response it returns replaces the answer.
    func edgeResponse(_ event: EdgeEvent, function: String, request: GatewayRequest, response: GatewayResponse, apiId: String) async
        -> GatewayResponse
    {
        let payload = EdgeShapes.event(event, request: request, uri: request.routePath, distribution: apiId, response: response)
        guard let answer = await invokeEdge(function, payload: payload, event: event, time: request.time) else { return .badGateway }
        switch answer {
        case .failure(let failed): return failed.response
        case .success(let bytes):
            guard let document = Document.parseJSON(bytes), let changed = EdgeShapes.response(document, fallback: response) else { return .badGateway }
            return changed
        }
    }

    /// Runs an edge function within its event's limit: its answer, or the gateway's (503 past the
    /// limit, 502 for a function error).
    func invokeEdge(_ function: String, payload: [UInt8], event: EdgeEvent, time: Date) async -> Result<[UInt8], EdgeFailure>? {
        let invocation = InvocationRequest(
            reference: function, qualifier: nil, payload: Data(payload), requestId: UUID().uuidString.lowercased(),
            traceId: LambdaAPI.newTraceId(at: time))
        let functions = self.functions
        // Lambda@Edge runs viewer events' functions with 128 MB at most.
        if event == .viewerRequest || event == .viewerResponse {
            guard let target = try? await functions.check(function, qualifier: nil), target.spec.memory <= 128 else { return nil }
        }
        switch await Deadline.race(milliseconds: event.timeoutMilliseconds, { try? await functions.invoke(invocation) }) {
        case .timedOut: return .failure(EdgeFailure(response: .serviceUnavailable))
        case .finished(let outcome?) where outcome.status == .success: return .success(Array(outcome.payload))
        case .finished: return nil
        }
    }

    struct EdgeFailure: Error {
        var response: GatewayResponse
    }

    func route(_ request: GatewayRequest, to destination: GatewayDestination, trace: inout RequestTrace) async -> GatewayResponse {
        let table = routeTables.table(api: destination.api.id, deployment: destination.deployment)
        guard let selection = table.select(method: request.method, path: request.routePath) else { return .notFound }
        trace.routeKey = selection.routeKey
        guard throttles.admit(api: destination.api.id, stage: destination.stage, routeKey: selection.routeKey) else { return .tooManyRequests }
        let integrationId = selection.target.flatMap { $0.hasPrefix("integrations/") ? String($0.dropFirst("integrations/".count)) : nil }
        guard let integrationId, let integration = destination.deployment.integrations[integrationId] else {
            // A route without an integration has nothing to call.
            return .notFound
        }
        let stageVariables = destination.stage.stageVariables ?? [:]
        var context = ProxyContext(
            accountId: accountId, apiId: destination.api.id, stage: destination.stage.stageName, routeKey: selection.routeKey,
            pathParameters: selection.pathParameters, stageVariables: stageVariables)
        let route = destination.deployment.routes[selection.index]
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

    enum Authorization {
        case allowed(AuthorizerContext)
        case refused(GatewayResponse)
    }

    /// The route's authorizer at work: a JWT checked against its issuer's keys, or a REQUEST
    /// authorizer's function asked (its answers cached by identity for their TTL).
    func authorize(
        _ request: GatewayRequest, route: V2Route, authorizer: V2Authorizer, destination: GatewayDestination, context: ProxyContext
    ) async -> Authorization {
        let sources = authorizer.identitySource ?? []
        let requestContext = ["requestId": request.requestId, "stage": destination.stage.stageName, "apiId": destination.api.id,
                              "identity.sourceIp": request.sourceIp, "routeKey": context.routeKey]
        switch authorizer.authorizerType {
        case .jwt:
            guard let configuration = authorizer.jwtConfiguration, let issuer = configuration.issuer else { return .refused(.internalServerError) }
            let token = LambdaAuthorization.identity(sources, request: request, stage: destination.stage, context: requestContext)?.first
            guard token != nil else { return .refused(.unauthorized) }
            var refreshed = false
            while true {
                guard let keys = await signingKeys.keys(issuer: issuer, refresh: refreshed, http: http) else { return .refused(.unauthorized) }
                switch JWTAuthorization.decide(token: token, configuration: configuration, keys: keys, routeScopes: route.authorizationScopes, now: request.time) {
                case .allow(let claims, let scopes): return .allowed(.jwt(claims: claims, scopes: scopes))
                case .unauthorized: return .refused(.unauthorized)
                case .forbidden: return .refused(.forbidden)
                case .unknownKey:
                    // A key made after the last fetch: fetch the issuer's keys once more.
                    if refreshed { return .refused(.unauthorized) }
                    refreshed = true
                }
            }
        default:
            guard let identity = LambdaAuthorization.identity(sources, request: request, stage: destination.stage, context: requestContext) else {
                return .refused(.unauthorized)
            }
            let ttl = authorizer.authorizerResultTtlInSeconds ?? 0
            let cacheKey = ([destination.api.id, authorizer.authorizerId ?? ""] + identity).joined(separator: "\u{1}")
            let routeArn = LambdaAuthorization.routeArn(
                names: names, apiId: destination.api.id, stage: destination.stage.stageName, method: request.method, path: request.routePath)
            let simple = authorizer.enableSimpleResponses == true
            // The function's answer is cached, not the verdict: a policy is judged against each
            // request's own route.
            var answer = ttl > 0 ? authorizations.lookup(cacheKey, now: request.time) : nil
            if answer == nil {
                let uri = Self.substitute(authorizer.authorizerUri ?? "", stageVariables: context.stageVariables)
                guard let target = FunctionTarget(integrationUri: uri) else { return .refused(.internalServerError) }
                let format = ProxyPayload.Format(rawValue: authorizer.authorizerPayloadFormatVersion ?? "2.0") ?? .v2
                let event = LambdaAuthorization.event(request, context: context, format: format, routeArn: routeArn, identity: identity)
                let invocation = InvocationRequest(
                    reference: target.functionArn, qualifier: nil, payload: Data(event), requestId: UUID().uuidString.lowercased(),
                    traceId: LambdaAPI.newTraceId(at: request.time))
                let functions = self.functions
                // Authorizers have 10 seconds to answer.
                guard case .finished(let outcome?) = await Deadline.race(milliseconds: 10_000, { try? await functions.invoke(invocation) }),
                    outcome.status == .success
                else { return .refused(.internalServerError) }
                answer = Array(outcome.payload)
                if ttl > 0, LambdaAuthorization.decide(answer ?? [], simpleResponses: simple, routeArn: routeArn) != nil {
                    authorizations.store(cacheKey, answer ?? [], until: request.time.addingTimeInterval(Double(ttl)))
                }
            }
            guard let verdict = LambdaAuthorization.decide(answer ?? [], simpleResponses: simple, routeArn: routeArn) else {
                return .refused(.internalServerError)
            }
            return verdict.allowed ? .allowed(.lambda(verdict.context)) : .refused(.forbidden)
        }
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
    func forward(_ integration: V2Integration, to uri: String, request: GatewayRequest, context: ProxyContext, retryable: Bool) async
        -> GatewayResponse?
    {
        var url = uri
        for (name, value) in context.pathParameters {
            url = url.replacingOccurrences(of: "{\(name)}", with: value.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? value)
        }
        if !request.rawQueryString.isEmpty { url += (url.contains("?") ? "&" : "?") + request.rawQueryString }
        let method = integration.integrationMethod == nil || integration.integrationMethod == "ANY" ? request.method : integration.integrationMethod ?? ""
        var headers = request.headers.filter { !Self.hopByHop.contains($0.name.lowercased()) }
        let forwardedFor = request.header("x-forwarded-for").map { "\($0), \(request.sourceIp)" } ?? request.sourceIp
        headers.removeAll { $0.name.lowercased() == "x-forwarded-for" }
        headers += [("X-Forwarded-For", forwardedFor), ("X-Forwarded-Proto", "http"), ("X-Amzn-Trace-Id", LambdaAPI.newTraceId(at: request.time))]
        let timeout = integration.timeoutInMillis ?? 30000
        // The client keeps the deadline itself: no timer per request.
        switch await http.forward(method: method, url: url, headers: headers, body: request.body, timeout: .milliseconds(timeout)) {
        case .timedOut: return .serviceUnavailable
        case .refused: return retryable ? nil : .internalServerError
        case .failed: return .internalServerError
        case .answered(var response):
            response.headers.removeAll { Self.hopByHop.contains($0.0.lowercased()) || $0.0.lowercased() == "content-length" }
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

    /// `${stageVariables.name}` in an integration URI, replaced by the stage's value.
    static func substitute(_ text: String, stageVariables: [String: String]) -> String {
        guard text.contains("${stageVariables.") else { return text }
        var result = text
        for (name, value) in stageVariables {
            result = result.replacingOccurrences(of: "${stageVariables.\(name)}", with: value)
        }
        return result
    }
}

/// Runs work against a deadline. The work goes on after the deadline passes (a function the
/// gateway stopped waiting for still runs to its end, as in AWS); the caller does not wait for it.
enum Deadline {
    enum Outcome<Value: Sendable>: Sendable {
        case finished(Value)
        case timedOut
    }

    private struct Race: Sendable {
        var settled = false
        var timer: Task<Void, Never>?

        /// Whether the caller is the first to settle the race.
        mutating func settle() -> Bool {
            defer { settled = true }
            return !settled
        }
    }

    /// The race, shared by the work, the timer and the caller.
    private final class Shared: Sendable {
        let race = Mutex(Race())
    }

    static func race<Value: Sendable>(milliseconds: Int, _ work: @escaping @Sendable () async -> Value) async -> Outcome<Value> {
        let shared = Shared()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Outcome<Value>, Never>) in
            Task {
                let value = await work()
                let (first, timer) = shared.race.withLock { race in (race.settle(), race.timer) }
                timer?.cancel()
                if first { continuation.resume(returning: .finished(value)) }
            }
            let timer = Task {
                try? await Task.sleep(for: .milliseconds(milliseconds))
                guard !Task.isCancelled, shared.race.withLock({ $0.settle() }) else { return }
                continuation.resume(returning: .timedOut)
            }
            let finished = shared.race.withLock { race in
                race.timer = timer
                return race.settled
            }
            if finished { timer.cancel() }
        }
    }
}

/// Deployments' route tables, made once each: a deployment never changes.
final class RouteTables: Sendable {
    private let tables = Mutex<[String: RouteTable]>([:])

    func table(api: String, deployment: GatewayDeployment) -> RouteTable {
        let key = api + "/" + (deployment.deployment.deploymentId ?? "")
        if let table = tables.withLock({ $0[key] }) { return table }
        let table = RouteTable(routes: deployment.routes.map { ($0.routeKey, $0.target) })
        tables.withLock { tables in
            // Deleted APIs' and replaced deployments' tables go too, sooner or later.
            if tables.count >= 4096 { tables.removeAll() }
            tables[key] = table
        }
        return table
    }
}

/// Issuers' signing keys, fetched from their OpenID configuration's `jwks_uri` and kept an hour
/// (fetched again sooner for a key not seen yet, at most every 30 seconds).
final class SigningKeys: Sendable {
    private struct Entry {
        var keys: JSONWebKeySet?
        var fetched: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])

    func keys(issuer: String, refresh: Bool, http: any HTTPForwarding) async -> JSONWebKeySet? {
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[issuer] }) {
            let age = now - entry.fetched
            // A failed fetch is remembered for 30 seconds: requests do not each wait on an issuer that is down.
            if entry.keys == nil, age < .seconds(30) { return nil }
            if let keys = entry.keys, age < .seconds(3600), !refresh || age < .seconds(30) { return keys }
        }
        let base = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        guard case .answered(let discovery) = await http.forward(
            method: "GET", url: base + "/.well-known/openid-configuration", headers: [], body: [], timeout: .milliseconds(1500)),
            discovery.status == 200,
            case .object(let document) = (try? JSONDecoder().decode(JSONValue.self, from: Data(discovery.body))),
            case .string(let jwksURI) = document["jwks_uri"],
            case .answered(let answer) = await http.forward(method: "GET", url: jwksURI, headers: [], body: [], timeout: .milliseconds(1500)),
            answer.status == 200, answer.body.count <= 150_000, let keys = JSONWebKeySet(json: answer.body)
        else {
            return entries.withLock { entries in
                // Keys fetched before stay in use; with none, the failure is what is remembered.
                if let keys = entries[issuer]?.keys { return keys }
                if entries.count >= 1024 { entries.removeAll() }
                entries[issuer] = Entry(keys: nil, fetched: now)
                return nil
            }
        }
        entries.withLock { entries in
            if entries.count >= 1024 { entries.removeAll() }
            entries[issuer] = Entry(keys: keys, fetched: now)
        }
        return keys
    }
}

/// REQUEST authorizers' answers, by API, authorizer and identity, until their TTL runs out.
final class AuthorizationCache: Sendable {
    private let answers = Mutex<[String: (payload: [UInt8], until: Date)]>([:])

    func lookup(_ key: String, now: Date) -> [UInt8]? {
        answers.withLock { answers in
            guard let answer = answers[key] else { return nil }
            guard answer.until > now else {
                answers[key] = nil
                return nil
            }
            return answer.payload
        }
    }

    func store(_ key: String, _ payload: [UInt8], until: Date) {
        answers.withLock { answers in
            // Answers are small (AWS limits them to 8 KB); the count bounds the memory.
            guard payload.count <= 8192 else { return }
            if answers.count >= 10_000 { answers.removeAll() }
            answers[key] = (payload, until)
        }
    }
}

/// Where each target group's next request starts, so that requests go round its targets.
final class RoundRobin: Sendable {
    private let positions = Mutex<[String: Int]>([:])

    func next(_ group: String) -> Int {
        positions.withLock { positions in
            let position = positions[group, default: 0]
            positions[group] = position &+ 1
            return position & Int.max
        }
    }
}
