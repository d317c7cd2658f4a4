import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import Foundation
import HTTPTypes
import Hummingbird
import IAM
import Lambda
import LambdaShapes
import Logging
import NIOCore
import ServiceLifecycle
import SNS
import StevedoreCore

/// The HTTP face of `ecsd`, the one place requests are read: AWS JSON protocol calls on `POST /`,
/// every service's REST routes, the agents' work channel, log streams, and `GET /healthz`. Each
/// request is handled the one way: read the body within the route's limit, authenticate, hand it
/// to the route (which decodes, runs and encodes), write the answer.
struct APIServer {
    let dispatcher: AWSJSONDispatcher
    /// Query-protocol services (IAM, STS): `POST /` with a form body naming an `Action`.
    let queryServices: QueryDispatcher
    let routes: [RESTRoute]
    /// How REST services answer requests to their paths that no route takes.
    let fallbacks: [RESTFallback]
    let agents: AgentChannel
    /// API Gateway stages' access logs, by log group.
    let gatewayLogs: AccessLogStore
    let maxRequestBytes: Int
    /// When set, agents register with the registration token and sign everything else with
    /// their instance's credentials.
    let agentAuthenticator: AgentAuthenticator?
    /// When set, every AWS API request must be signed by a known key (agents' operations excepted)
    /// and be allowed by the signer's policies.
    let authenticator: RequestAuthenticator?
    let names: ResourceNames
    let metrics: MetricsEndpoint
    /// S3, which takes requests by their signature's service or a bucket's virtual host, whatever their path.
    let s3: S3Endpoint
    /// The web console's sessions and sources (`/console`).
    let console: ConsoleBackend
    /// Whether the listener serves TLS (the console's cookie is then `Secure`).
    var consoleSecureCookies = false
    let requestIds = RequestIdGenerator()
    /// Whether this replica may answer now (replicas on PostgreSQL: its leader lease renewed
    /// within the term); otherwise every request but `/healthz` and `/metrics` is answered 503.
    var serving: @Sendable () -> Bool = { true }

    static let targetHeader = HTTPField.Name("X-Amz-Target")!
    static let requestIdHeader = HTTPField.Name("x-amzn-RequestId")!

    func buildRouter() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: RequestMetrics())
        router.add(middleware: LeadershipGate(serving: serving))
        router.add(middleware: S3Requests(endpoint: s3))
        router.get("/metrics") { request, _ -> Response in
            OperationLabel.name("GET /metrics")
            return Self.response(metrics.answer(authorization: request.headers[.authorization]))
        }
        router.get("/healthz") { _, _ -> Response in
            OperationLabel.name("GET /healthz")
            return Self.response(APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array(#"{"role":"leader","status":"ok"}"#.utf8)))
        }
        // SNS's SubscribeURL and UnsubscribeURL: links an endpoint follows without signing them.
        router.get("/") { request, _ -> Response in
            OperationLabel.name("GET /")
            return await handleSNSLink(request)
        }
        router.post("/") { request, _ -> Response in
            if request.headers[Self.targetHeader] == nil, request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true {
                return await handleQuery(request)
            }
            return await handleAWSJSON(request)
        }
        for route in routes {
            guard let method = HTTPRequest.Method(route.method) else { continue }
            router.on(RouterPath(route.path), method: method) { request, context -> Response in
                await handle(route, request, context)
            }
        }
        router.get(RouterPath(WorkChannel.taskLogsPath)) { request, _ -> Response in
            OperationLabel.name("GET " + WorkChannel.taskLogsPath)
            return await handleTaskLogs(request)
        }
        router.get(RouterPath(ExecChannel.sessionPath + "/{id}")) { request, context -> Response in
            OperationLabel.name("GET " + ExecChannel.sessionPath)
            return handleExecAttach(request, id: context.parameters.get("id") ?? "")
        }
        router.post(RouterPath(ExecChannel.sessionPath + "/{id}/input")) { request, context -> Response in
            OperationLabel.name("POST " + ExecChannel.sessionPath + "/input")
            return await handleExecInput(request, id: context.parameters.get("id") ?? "")
        }
        router.get(RouterPath(Self.gatewayLogsPath)) { request, _ -> Response in
            OperationLabel.name("GET " + Self.gatewayLogsPath)
            return handleGatewayLogs(request)
        }
        addConsoleRoutes(to: router)
        // Added last: it only sees requests that no route above took.
        router.add(middleware: UnroutedRequests(fallbacks: fallbacks, requestIds: requestIds))
        return router
    }

    // MARK: Requests

    /// AWS JSON 1.0/1.1: `X-Amz-Target` names the operation; agents' operations need the agent token.
    func handleAWSJSON(_ request: Request) async -> Response {
        let requestId = requestIds.next()
        var request = request
        guard let body = try? await request.collectBody(upTo: maxRequestBytes) else {
            let tooLarge = AWSError(
                type: "RequestEntityTooLargeException", message: "The request body is larger than \(maxRequestBytes) bytes.", httpStatus: 413)
            return Self.response(.error(tooLarge), requestId: requestId)
        }
        let bytes = Array(body.readableBytesView)
        let target = request.headers[Self.targetHeader]
        // Only operations served name a series: a client's made-up targets would add one each.
        OperationLabel.name(target.map { dispatcher.knows(target: $0) ? $0 : "unknown" } ?? "POST /")
        var caller: Caller?
        var agentInstance: String?
        if let target, let agentAuthenticator, Self.isAgentCreatingDefault(target: target, request, body: bytes, agentAuthenticator) {
            // An agent joining `default` creates it (as the real agent does): the registration token
            // admits that one call, for that one name.
        } else if let target, isAgentOperation(target) {
            if let agentAuthenticator {
                if target == Self.registerTarget {
                    return await register(request, body: bytes, authenticator: agentAuthenticator, requestId: requestId)
                }
                switch await authenticateAgent(request, body: bytes, agentAuthenticator) {
                case .failure(let refusal): return Self.response(.error(refusal), requestId: requestId)
                case .success(let instance): agentInstance = instance
                }
            }
        } else if let authenticator {
            switch authenticator.authenticate(request, body: bytes, style: .json) {
            case .failure(let refusal): return Self.response(.error(refusal), requestId: requestId)
            case .success(let principal):
                if let refusal = await refusal(principal, target: target ?? "", body: bytes) {
                    return Self.response(.error(refusal), requestId: requestId)
                }
                caller = principal.caller
            }
        }
        let answer = await dispatcher.handle(
            target: target, body: bytes,
            context: OperationContext(requestId: requestId, bodySize: bytes.count, caller: caller, agentInstance: agentInstance))
        return Self.response(answer, requestId: requestId)
    }

    /// Why `principal`'s policies refuse an AWS JSON operation, or nil when they allow it (the
    /// root's requests need no decision, nor the action and resource it would judge).
    func refusal(_ principal: AccessKeyring.Principal, target: String, body: [UInt8]) async -> AWSError? {
        guard principal.policies != nil else { return nil }
        let stored = await storedResources()
        if let refusal = AccessPolicy.refusal(
            principal, AccessPolicy.json(target: target, body: body, names: names, secret: stored.secret), style: .json, stored: stored.arn)
        {
            return refusal
        }
        let roles = await passedRoles(target: target, body: body)
        return AccessPolicy.passRoleRefusal(principal, roles: roles, names: names, style: .json, stored: stored.arn)
    }

    /// Why `principal`'s policies refuse a REST operation, or nil when they allow it.
    func refusal(
        _ principal: AccessKeyring.Principal, route: RESTRoute, parameters: [String: String], query: [String: String], body: [UInt8]
    ) async -> AWSError? {
        let style: RefusalStyle = route.errorStyle == .json ? .json : .restJSON
        let requested = AccessPolicy.rest(route, parameters: parameters, query: query, body: body, names: names)
        if let refusal = AccessPolicy.refusal(principal, requested, style: style) { return refusal }
        // A function's Role, and a schedule's target's, are passed to them: the caller needs iam:PassRole on it.
        let passed: String? =
            switch requested.action {
            case "lambda:CreateFunction", "lambda:UpdateFunctionConfiguration": (try? AWSJSONCodec.decode(FunctionRole.self, from: body))?.Role
            case "scheduler:CreateSchedule", "scheduler:UpdateSchedule": (try? AWSJSONCodec.decode(ScheduleRole.self, from: body))?.Target?.RoleArn
            default: nil
            }
        if principal.policies != nil, let role = passed,
            let refusal = AccessPolicy.passRoleRefusal(principal, roles: [role], names: names, style: style, stored: await storedResources().arn)
        {
            return refusal
        }
        // Code read from the object store is read as the caller: it needs s3:GetObject on it, as with Lambda.
        if principal.policies != nil, let location = CodeLocation.of(action: requested.action, body: body),
            let refusal = AccessPolicy.refusal(principal, RequestedAction(action: "s3:GetObject") { location }, style: style)
        {
            return refusal
        }
        return nil
    }

    /// The current state's view of how the resources a request names are stored (see ``StoredResources``).
    func storedResources() async -> StoredResources {
        StoredResources(root: try? await agents.committer.read({ root, _ in root }), names: names)
    }

    /// The roles a request hands over: those it names, and for the operations that run a task
    /// definition, the definition's own task and execution roles (running it gives them to its
    /// containers, so the caller needs iam:PassRole on them as on roles it names itself).
    func passedRoles(target: String, body: [UInt8]) async -> [String] {
        var roles = AccessPolicy.passedRoles(target: target, body: body)
        if Self.runsDefinition.contains(target), let reference = AccessPolicy.taskDefinition(body),
            let definition = try? await agents.committer.readLatest({ root, _ throws(AWSError) in try root.ecs.taskDefinition(reference) })
        {
            roles += [definition.taskRoleArn, definition.executionRoleArn].compactMap { $0 }
        }
        return roles
    }

    static let runsDefinition: Set<String> = Set(["RunTask", "StartTask", "CreateService", "UpdateService"].map { ECSAPI.targetPrefix + "." + $0 })

    static let registerTarget = ECSAPI.targetPrefix + ".RegisterContainerInstance"
    static let createClusterTarget = ECSAPI.targetPrefix + ".CreateCluster"

    /// An unsigned `CreateCluster` of the `default` cluster carrying the registration token.
    static func isAgentCreatingDefault(target: String, _ request: Request, body: [UInt8], _ authenticator: AgentAuthenticator) -> Bool {
        guard target == createClusterTarget, request.headers[.authorization] == nil, request.headers[AgentAuthenticator.tokenHeader] != nil,
            authenticator.checkRegistrationToken(request) == nil,
            let input = try? AWSJSONCodec.decode(CreateClusterRequest.self, from: body)
        else { return false }
        return (input.clusterName ?? "default") == "default" && input == CreateClusterRequest(clusterName: input.clusterName)
    }

    /// `RegisterContainerInstance` when agents must authenticate: the registration token admits
    /// it; re-registering an existing instance also takes that instance's credentials (expired
    /// ones do), so the token alone cannot take an instance over. The answer carries credentials
    /// of the registered instance.
    func register(_ request: Request, body: [UInt8], authenticator: AgentAuthenticator, requestId: String) async -> Response {
        if let refusal = authenticator.checkRegistrationToken(request) { return Self.response(.error(refusal), requestId: requestId) }
        if let existing = (try? AWSJSONCodec.decode(RegisterContainerInstanceRequest.self, from: body))?.containerInstanceArn {
            switch authenticator.instance(request, body: body, allowExpired: true) {
            case .failure(let refusal): return Self.response(.error(refusal), requestId: requestId)
            case .success(let instance) where instance != existing:
                return Self.response(.error(.notThisInstance(instance, actingFor: existing)), requestId: requestId)
            case .success: break
            }
        }
        var answer = await dispatcher.handle(
            target: Self.registerTarget, body: body, context: OperationContext(requestId: requestId, bodySize: body.count))
        if answer.status == 200, let arn = (try? AWSJSONCodec.decode(RegisterContainerInstanceResponse.self, from: answer.body))?.containerInstance?.containerInstanceArn {
            let credentials = AWSJSONCodec.encode(authenticator.issue(instanceArn: arn))
            answer.headers.append((WorkChannel.instanceCredentialsHeader, String(decoding: credentials, as: UTF8.self)))
        }
        return Self.response(answer, requestId: requestId)
    }

    /// The instance whose credentials signed an agent's request, while it is registered.
    func authenticateAgent(_ request: Request, body: [UInt8], _ authenticator: AgentAuthenticator) async -> Result<String, AWSError> {
        switch authenticator.instance(request, body: body) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let instance):
            do throws(AWSError) {
                try await agents.checkRegistered(instance)
            } catch {
                return .failure(error)
            }
            return .success(instance)
        }
    }

    /// The query protocol (IAM, STS): a form body naming the `Action`; answers and refusals in XML.
    func handleQuery(_ request: Request) async -> Response {
        let requestId = requestIds.next()
        var request = request
        guard let body = try? await request.collectBody(upTo: maxRequestBytes) else {
            let tooLarge = AWSError(type: "RequestEntityTooLarge", message: "The request body is larger than \(maxRequestBytes) bytes.", httpStatus: 413)
            return Self.response(QueryService.errorResponse(tooLarge, requestId: requestId, namespace: IAMAPI.namespace), requestId: requestId)
        }
        let bytes = Array(body.readableBytesView)
        let parsed = QueryRequest(form: bytes)
        OperationLabel.name(parsed?.action.map { queryServices.service(for: $0) == nil ? "unknown" : $0 } ?? "POST /")
        let namespace = queryServices.service(for: parsed?.action)?.namespace ?? IAMAPI.namespace
        var caller: Caller?
        if let authenticator {
            switch authenticator.authenticate(request, body: bytes, style: .query) {
            case .failure(let refusal):
                return Self.response(QueryService.errorResponse(refusal, requestId: requestId, namespace: namespace), requestId: requestId)
            case .success(let principal):
                // GetCallerIdentity needs no permission, as in AWS.
                if let parsed, parsed.action != "GetCallerIdentity", principal.policies != nil,
                    let refusal = AccessPolicy.refusal(principal, AccessPolicy.query(parsed, namespace: namespace, names: names), style: .query, stored: await storedResources().arn)
                {
                    return Self.response(QueryService.errorResponse(refusal, requestId: requestId, namespace: namespace), requestId: requestId)
                }
                caller = principal.caller
            }
        }
        let answer = await queryServices.handle(bytes, context: OperationContext(requestId: requestId, bodySize: bytes.count, caller: caller))
        return Self.response(answer, requestId: requestId)
    }

    /// `GET /?Action=ConfirmSubscription&TopicArn=…&Token=…` or `?Action=Unsubscribe&SubscriptionArn=…`:
    /// the token or the subscription's ARN is the credential, as in SNS. Other actions are refused.
    func handleSNSLink(_ request: Request) async -> Response {
        let requestId = requestIds.next()
        let query = request.uri.query ?? ""
        guard let parsed = QueryRequest(form: Array(query.utf8)), ["ConfirmSubscription", "Unsubscribe"].contains(parsed.action ?? "") else {
            // Any other GET / is no operation, answered as requests no route takes.
            return Self.response(UnroutedRequests.answer(method: "GET", path: "/", requestId: requestId, fallbacks: fallbacks))
        }
        // With authentication on, a link stands in for a signature only where SNS lets it: the
        // token confirms; an unsigned unsubscribe is for HTTP(S) endpoints (whose messages carry
        // the link), anything else must be signed and allowed by policy.
        if authenticator != nil, parsed.action == "Unsubscribe" {
            let arn = parsed["SubscriptionArn"] ?? ""
            let kind = try? await agents.committer.read { root, _ throws(AWSError) in try root.sns.subscription(arn).1.protocol }
            guard kind == "http" || kind == "https" else {
                let refusal = AWSError(type: "AuthorizationError", message: "Unsubscribing this subscription needs a signed request.", httpStatus: 403)
                return Self.response(QueryService.errorResponse(refusal, requestId: requestId, namespace: SNSAPI.namespace), requestId: requestId)
            }
        }
        let answer = await queryServices.handle(Array(query.utf8), context: OperationContext(requestId: requestId, bodySize: 0, caller: nil))
        return Self.response(answer, requestId: requestId)
    }

    func isAgentOperation(_ target: String) -> Bool {
        ECSAPI.agentTargets.contains(target)
    }

    /// A REST route: body within its limit, caller checked, then the route's own handler.
    func handle(_ route: RESTRoute, _ request: Request, _ context: APIRequestContext) async -> Response {
        OperationLabel.name(route.method + " " + route.path)
        let requestId = requestIds.next()
        var request = request
        var body: [UInt8] = []
        if route.bodyLimit > 0 {
            guard let buffer = try? await request.collectBody(upTo: route.bodyLimit) else {
                return Self.response(route.errorStyle.response(route.tooLargeError, requestId: requestId))
            }
            body = Array(buffer.readableBytesView)
        }
        var agentInstance: String?
        if route.access == .agent, let agentAuthenticator {
            switch await authenticateAgent(request, body: body, agentAuthenticator) {
            case .failure(let refusal): return Self.response(route.errorStyle.response(refusal, requestId: requestId))
            case .success(let instance): agentInstance = instance
            }
        }
        var parameters: [String: String] = [:]
        for (name, value) in context.parameters {
            let text = String(value)
            parameters[String(name)] = text.removingPercentEncoding ?? text
        }
        if route.access == .api, let authenticator {
            let style: RefusalStyle = route.errorStyle == .json ? .json : .restJSON
            switch authenticator.authenticate(request, body: body, style: style) {
            case .failure(let refusal): return Self.response(route.errorStyle.response(refusal, requestId: requestId))
            case .success(let principal):
                let query = Dictionary(request.uri.queryParameters.map { (String($0.key), String($0.value)) }) { first, _ in first }
                if let refusal = await refusal(principal, route: route, parameters: parameters, query: query, body: body) {
                    return Self.response(route.errorStyle.response(refusal, requestId: requestId))
                }
            }
        }
        let rest = RESTRequest(
            method: route.method, path: request.uri.path, parameters: parameters,
            query: request.uri.queryParameters.map { (String($0.key), String($0.value)) },
            headers: request.headers.map { ($0.name.rawName, $0.value) }, body: body, requestId: requestId, agentInstance: agentInstance)
        return Self.response(await route.handler(rest))
    }

    /// The member of a schedule's body that passes a role.
    struct ScheduleRole: Decodable {
        struct Target: Decodable { var RoleArn: String? }
        var Target: Target?
    }

    /// The member of a Lambda request body that passes a role.
    struct FunctionRole: Decodable {
        var Role: String?
    }

    /// The object a Lambda request takes code from, as an S3 ARN: CreateFunction's `Code`,
    /// UpdateFunctionCode's own members, PublishLayerVersion's `Content` (the members each
    /// handler reads, and only those). Any value in them counts, whatever its type.
    enum CodeLocation {
        static func of(action: String, body: [UInt8]) -> String? {
            let member: String? =
                switch action {
                case "lambda:CreateFunction": "Code"
                case "lambda:UpdateFunctionCode": nil
                case "lambda:PublishLayerVersion": "Content"
                default: ""
                }
            guard member != "", case .object(let document)? = try? JSONDecoder().decode(JSONValue.self, from: Data(body)) else { return nil }
            let location: [String: JSONValue]
            if let member {
                guard case .object(let inner)? = document[member] else { return nil }
                location = inner
            } else {
                location = document
            }
            guard location["S3Bucket"] != nil || location["S3Key"] != nil else { return nil }
            let text = { (value: JSONValue?) -> String in
                switch value {
                case .string(let text)?: text
                case nil: ""
                // A value of another type names no object any caller may have: judged as such.
                default: "\u{FFFD}"
                }
            }
            return "arn:aws:s3:::\(text(location["S3Bucket"]))/\(text(location["S3Key"]))"
        }
    }

    // MARK: Streams

    /// Streams a task's logs as plain text for as long as the caller (and, with follow, the task) lasts.
    func handleTaskLogs(_ request: Request) async -> Response {
        if let refusal = authorizeStream(request, style: .json) {
            return Self.response(.error(refusal, contentType: "application/json"))
        }
        let query = request.uri.queryParameters
        let stream: AsyncStream<[UInt8]>
        do throws(AWSError) {
            guard let task = query["task"].map(String.init) else {
                throw AWSError.invalidParameter("Add ?task=<task id or ARN> (and cluster=, container=, follow=1, tail=N).")
            }
            stream = try await agents.openLogs(
                cluster: query["cluster"].map(String.init) ?? "default", task: task, container: query["container"].map(String.init),
                follow: query["follow"] == "1" || query["follow"] == "true", tail: query["tail"].flatMap { Int($0) })
        } catch {
            return Self.response(.error(error, contentType: "application/json"))
        }
        return Self.streaming(stream)
    }

    /// The caller of ExecuteCommand attaches to its session (the session's token is the
    /// credential, as ECS's session token): the command starts, its frames stream back.
    func handleExecAttach(_ request: Request, id: String) -> Response {
        let query = request.uri.queryParameters
        let size = query.get("columns", as: Int.self).flatMap { columns in query.get("rows", as: Int.self).map { (columns, $0) } }
        guard let token = query.get("token"),
            let stream = agents.execs.attach(id, token: token, tty: query.get("tty") == "1", size: size)
        else {
            return Self.response(.error(Self.unknownExecSession, contentType: "application/json"))
        }
        if let instance = agents.execs.instance(of: id) { agents.committer.notifier.poke(instance) }
        let execs = agents.execs
        Task { await execs.watch(id) }
        return Self.streaming(stream)
    }

    /// Input frames for a session (keystrokes, a resize, the end of input).
    func handleExecInput(_ request: Request, id: String) async -> Response {
        guard let token = request.uri.queryParameters.get("token") else {
            return Self.response(.error(Self.unknownExecSession, contentType: "application/json"))
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: 1 << 20)
        } catch {
            return Self.response(.error(AWSError.invalidParameter("Send at most 1 MiB of input at a time."), contentType: "application/json"))
        }
        guard agents.execs.send(id, token: token, bytes: Array(buffer: body)) else {
            return Self.response(.error(Self.unknownExecSession, contentType: "application/json"))
        }
        return Self.response(APIResponse(status: 200, body: []))
    }

    static let unknownExecSession = AWSError(
        type: "InvalidParameterException", message: "The session does not exist, has ended, or its token does not match.", httpStatus: 404)

    /// Streams a function's log (`ecsctl fn logs`).
    /// API Gateway's access logs by log group, until CloudWatch Logs serves them.
    static let gatewayLogsPath = "/v1/gateway/logs"

    func handleGatewayLogs(_ request: Request) -> Response {
        if let refusal = authorizeStream(request, style: .restJSON) {
            return Self.response(RESTErrorStyle.apiGateway.response(refusal, requestId: nil))
        }
        let query = request.uri.queryParameters
        guard let group = query.get("group"), !group.isEmpty, group.utf8.count <= 512 else {
            return Self.response(
                RESTErrorStyle.apiGateway.response(
                    AWSError(type: "BadRequestException", message: "Add ?group=<log group name> (and follow=1, tail=BYTES)."), requestId: nil))
        }
        let follow = query.get("follow") == "1" || query.get("follow") == "true"
        return Self.streaming(gatewayLogs.read(group, tailBytes: query.get("tail", as: Int.self) ?? 64 * 1024, follow: follow))
    }

    /// Log streams are reads of CloudWatch Logs' kind: `logs:GetLogEvents`.
    func authorizeStream(_ request: Request, style: RefusalStyle) -> AWSError? {
        guard let authenticator else { return nil }
        switch authenticator.authenticate(request, body: [], style: style) {
        case .failure(let refusal): return refusal
        case .success(let principal): return AccessPolicy.refusal(principal, RequestedAction(action: "logs:GetLogEvents") { "*" }, style: style)
        }
    }

    static func streaming(_ stream: AsyncStream<[UInt8]>) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                for await chunk in stream { try await writer.write(ByteBuffer(bytes: chunk)) }
                try await writer.finish(nil)
            })
    }

    static func response(_ answer: APIResponse, requestId: String? = nil) -> Response {
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            // Nearly every answer names only its content type: skip parsing that name each time.
            if name == "Content-Type" {
                fields[.contentType] = value
            } else if let fieldName = HTTPField.Name(name) {
                fields[fieldName] = value
            }
        }
        if let requestId { fields[requestIdHeader] = requestId }
        return Response(status: HTTPResponse.Status(code: answer.status), headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}

/// Ends held polls when the control plane stops, so the HTTP server can drain at once. Listed
/// after the server so the service group shuts it down first.
struct PollReleaser: Service {
    let notifier: AssignmentNotifier
    let router: FunctionRouter

    func run() async throws {
        try? await gracefulShutdown()
        notifier.shutdown()
        await router.releasePolls()
    }
}

/// Answers 503 while this replica cannot tell it still leads (its lease not renewed within the
/// term): clients retry, and agents move on to another replica. Health and metrics still answer.
struct LeadershipGate<Context: RequestContext>: RouterMiddleware {
    let serving: @Sendable () -> Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if serving() || request.uri.path == "/healthz" || request.uri.path == "/metrics" { return try await next(request, context) }
        return APIServer.response(
            APIResponse(
                status: 503, headers: [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", "ServiceUnavailableException")],
                body: Array(#"{"__type":"ServiceUnavailableException","message":"This control plane replica cannot reach its store to confirm it leads; retry shortly."}"#.utf8)))
    }
}

/// The API listener's request context: Hummingbird's basics and the peer's address (S3's event
/// notifications name the address a change came from).
struct APIRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
