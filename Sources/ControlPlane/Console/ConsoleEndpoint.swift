import APIGateway
import AWSProtocols
import Console
import ECS
import Foundation
import HTTPTypes
import Hummingbird
import Lambda
import LoadBalancing
import Logs
import NIOCore
import ServiceLifecycle
import StevedoreCore
import Synchronization

/// What the console keeps besides the state: signed-in sessions, services' counts over time,
/// and the sources its pages read (logs, throttles, the REST routes its actions call).
final class ConsoleBackend: Sendable {
    let sessions = Mutex(ConsoleSessions())
    let history = Mutex(ServiceHistory())
    /// Set once ecsd stops: open event streams end so the server can drain.
    let closed = Atomic<Bool>(false)
    /// The CSRF token when authentication is off (no sign-in, so no session of its own).
    let openToken: String
    let logEvents: any LogEventStorage
    let functions: FunctionRouter
    let routes: RouteTable
    let targetHealth: TargetHealthRegistry
    let metrics: ServiceMetrics
    let traffic: APITraffic

    init(
        logEvents: any LogEventStorage, functions: FunctionRouter, routes: [RESTRoute], targetHealth: TargetHealthRegistry, metrics: ServiceMetrics,
        traffic: APITraffic
    ) {
        self.logEvents = logEvents
        self.functions = functions
        self.routes = RouteTable(routes)
        self.targetHealth = targetHealth
        self.metrics = metrics
        self.traffic = traffic
        var random = SystemRandomNumberGenerator()
        openToken = Identifiers.hex32(using: &random) + Identifiers.hex32(using: &random)
    }
}

/// Samples every service's counts for the console's charts, every two seconds; on shutdown it
/// ends the console's event streams.
struct ConsoleSampler: Service {
    let backend: ConsoleBackend
    let committer: Committer<ControlPlaneState>

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if let (ecs, now) = try? await committer.readLatest({ root, now in (root.ecs, now) }) {
                    // Built outside the lock, so a page reading the history never waits for it.
                    let samples = ServiceHistory.samples(ecs, now: now)
                    backend.history.withLock { $0.record(samples) }
                }
                try? await Task.sleep(for: .seconds(2))
            }
        }
        backend.closed.store(true, ordering: .releasing)
    }
}

extension APIServer {
    static let consoleBase = "/console"

    /// The console's page, its assets, and the JSON its pages read and act through.
    func addConsoleRoutes(to router: Router<APIRequestContext>) {
        router.get(RouterPath(Self.consoleBase)) { _, _ in Self.asset(ConsoleAssets.page, type: "text/html; charset=utf-8") }
        router.get(RouterPath(Self.consoleBase + "/console.css")) { _, _ in Self.asset(ConsoleAssets.styles, type: "text/css; charset=utf-8") }
        router.get(RouterPath(Self.consoleBase + "/console.js")) { _, _ in
            Self.asset(ConsoleAssets.script, type: "text/javascript; charset=utf-8")
        }
        let api = Self.consoleBase + "/api"
        router.get(RouterPath(api + "/session")) { request, _ in consoleSession(request) }
        router.post(RouterPath(api + "/sign-in")) { request, _ in await consoleSignIn(request) }
        router.post(RouterPath(api + "/sign-out")) { request, _ in consoleSignOut(request) }
        router.get(RouterPath(api + "/events")) { request, _ in
            OperationLabel.name("GET /console/api/events")
            if case .refused(let response) = consoleCaller(request) { return response }
            return consoleEvents(request)
        }
        // List pages need the list action (on every resource, as AWS's list actions are) and show
        // the resources the caller may describe; a resource's page needs the describe action on it.
        router.get(RouterPath(api + "/clusters")) { request, _ in
            await consolePage(request, "ecs:ListClusters") { root, _, reader in
                var overview = ClusterViews.overview(root.ecs)
                overview.clusters.removeAll { !reader.allows("ecs:DescribeClusters", root.ecs.names.cluster($0.name)) }
                return overview
            }
        }
        router.get(RouterPath(api + "/clusters/{name}")) { request, context in
            let name = context.parameters.get("name") ?? ""
            return await consolePage(request, "ecs:DescribeContainerInstances", on: { $0.ecs.names.cluster(name) }, missing: "No active cluster is named \(name).") {
                root, _, _ in ClusterViews.cluster(name, in: root)
            }
        }
        router.get(RouterPath(api + "/services/{cluster}/{name}")) { request, context in
            let cluster = context.parameters.get("cluster") ?? ""
            let name = context.parameters.get("name") ?? ""
            OperationLabel.name("GET /console/api/services")
            switch await consoleReader(request, "ecs:DescribeServices", on: { $0.ecs.names.service(cluster: cluster, name: name) }) {
            case .failure(let refusal): return refusal.response
            case .success: return await consoleService(cluster: cluster, name: name)
            }
        }
        router.get(RouterPath(api + "/tasks")) { request, _ in
            let query = request.uri.queryParameters
            func value(_ name: String) -> String? { query.get(name).flatMap { $0.isEmpty ? nil : $0 } }
            let filter = TaskViews.Filter(
                cluster: value("cluster"), status: value("status"), family: value("family"), instance: value("instance"), service: value("service"),
                limit: min(max(query.get("limit", as: Int.self) ?? 200, 1), 1000))
            return await consolePage(request, "ecs:ListTasks") { root, _, reader in
                var filter = filter
                if reader.isLimited { filter.allowed = { reader.allows("ecs:DescribeTasks", $0) } }
                return TaskViews.tasks(root.ecs, filter: filter)
            }
        }
        router.get(RouterPath(api + "/tasks/{cluster}/{id}")) { request, context in
            let cluster = context.parameters.get("cluster") ?? ""
            let id = context.parameters.get("id") ?? ""
            return await consolePage(
                request, "ecs:DescribeTasks", on: { $0.ecs.task(id, inCluster: cluster)?.arn ?? $0.ecs.names.task(cluster: cluster, id: id) },
                missing: "No task \(id) in cluster \(cluster)."
            ) { root, _, _ in TaskViews.task(root.ecs, cluster: cluster, id: id) }
        }
        router.get(RouterPath(api + "/tasks/{cluster}/{id}/logs")) { request, context in
            let cluster = context.parameters.get("cluster") ?? ""
            let id = context.parameters.get("id") ?? ""
            OperationLabel.name("GET /console/api/tasks/logs")
            if case .failure(let refusal) = await consoleReader(request, "logs:GetLogEvents") { return refusal.response }
            do throws(AWSError) {
                let logs = try await agents.openLogs(cluster: cluster, task: id, container: nil, follow: true, tail: 500)
                // No line is sent once the session has ended (signed out, expired, its key deleted).
                let server = self
                let ended = AsyncStream<[UInt8]> { continuation in
                    let forwarding = Task {
                        for await chunk in logs {
                            if case .refused = server.consoleCaller(request) { break }
                            continuation.yield(chunk)
                        }
                        continuation.finish()
                    }
                    continuation.onTermination = { _ in forwarding.cancel() }
                }
                var response = Self.streaming(ended)
                for field in Self.consoleHeaders { response.headers.append(field) }
                return response
            } catch {
                return Self.consoleError(error.message, status: .notFound)
            }
        }
        router.get(RouterPath(api + "/functions")) { request, _ in
            await consolePage(request, "lambda:ListFunctions") { root, _, reader in
                ["functions": FunctionViews.list(root.lambda).filter { reader.allows("lambda:GetFunction", root.lambda.names.function($0.name)) }]
            }
        }
        router.get(RouterPath(api + "/functions/{name}")) { request, context in
            let name = context.parameters.get("name") ?? ""
            OperationLabel.name("GET /console/api/functions")
            switch await consoleReader(request, "lambda:GetFunction", on: { $0.lambda.names.function(name) }) {
            case .failure(let refusal): return refusal.response
            case .success: return await consoleFunction(name)
            }
        }
        router.get(RouterPath(api + "/apis")) { request, _ in
            let traffic = console.traffic
            let names = self.names
            return await consolePage(request, "apigateway:GET", on: { _ in "arn:aws:apigateway:\(names.region)::/apis" }) { root, now, reader in
                let apis = ResourceViews.apis(root.gateway, traffic: { traffic.minutes(of: $0, now: now) }, now: now).filter { api in
                    reader.allows("apigateway:GET", "arn:aws:apigateway:\(names.region)::/\(api.kind == "REST" ? "restapis" : "apis")/\(api.id)")
                }
                return ["apis": apis]
            }
        }
        router.get(RouterPath(api + "/stacks")) { request, _ in
            await consolePage(request, "cloudformation:ListStacks") { root, _, reader in
                ["stacks": ResourceViews.stacks(root.cloudFormation).filter { reader.allows("cloudformation:DescribeStacks", $0.id) }]
            }
        }
        router.get(RouterPath(api + "/stacks/{name}")) { request, context in
            let name = context.parameters.get("name") ?? ""
            return await consolePage(
                request, "cloudformation:DescribeStacks", on: { root in ResourceViews.stack(name, in: root.cloudFormation)?.summary.id ?? "*" },
                missing: "Stack with id \(name) does not exist"
            ) { root, _, _ in ResourceViews.stack(name, in: root.cloudFormation) }
        }
        router.post(RouterPath(api + "/aws")) { request, _ in await consoleAWSCall(request) }
        router.post(RouterPath(api + "/lambda")) { request, _ in await consoleLambdaCall(request) }
    }

    var committer: Committer<ControlPlaneState> { agents.committer }

    // MARK: Who is asking

    /// The principal a console request acts as: nil when authentication is off (anyone may act),
    /// the signed-in key's holder otherwise; or the answer refusing it.
    enum ConsoleCaller {
        case open
        case principal(AccessKeyring.Principal, ConsoleSessions.Session)
        case refused(Response)
    }

    func consoleCaller(_ request: Request) -> ConsoleCaller {
        guard let authenticator else { return .open }
        let now = committer.now()
        guard let session = console.sessions.withLock({ $0.session(cookieHeader: request.headers[.cookie], now: now) }) else {
            return .refused(Self.consoleError("Sign in to the console again: the session has ended.", status: .unauthorized))
        }
        guard let principal = authenticator.keyring.principal(session.accessKeyId) else {
            console.sessions.withLock { $0.close(id: session.id) }
            return .refused(Self.consoleError("Sign in to the console again: the access key was deleted or deactivated.", status: .unauthorized))
        }
        return .principal(principal, session)
    }

    /// Who reads a page, and what their policies let them see (everything, when authentication
    /// is off or for the root).
    struct ConsoleReader: Sendable {
        let principal: AccessKeyring.Principal?

        var isLimited: Bool { principal?.policies != nil }

        func allows(_ action: String, _ resource: String) -> Bool {
            guard let principal, principal.policies != nil else { return true }
            return AccessPolicy.refusal(principal, RequestedAction(action: action) { resource }, style: .json) == nil
        }
    }

    /// The reader of a page, once signed in and allowed `action` on the resource `on` names in the
    /// newest state (every resource when nil); or the refusal.
    func consoleReader(_ request: Request, _ action: String, on resource: (@Sendable (ControlPlaneState) -> String)? = nil) async
        -> Result<ConsoleReader, ConsoleRefusal>
    {
        let reader: ConsoleReader
        switch consoleCaller(request) {
        case .open: return .success(ConsoleReader(principal: nil))
        case .refused(let response): return .failure(ConsoleRefusal(response: response))
        case .principal(let principal, _): reader = ConsoleReader(principal: principal)
        }
        guard reader.isLimited, let principal = reader.principal else { return .success(reader) }
        var named = "*"
        if let resource, let found = try? await committer.read({ root, _ in resource(root) }) { named = found }
        if let refusal = AccessPolicy.refusal(principal, RequestedAction(action: action) { named }, style: .json) {
            return .failure(ConsoleRefusal(response: Self.consoleError(refusal.message, status: .forbidden)))
        }
        return .success(reader)
    }

    /// A page built from the newest state (every write answered so far is in it), as JSON.
    func consolePage<Page: Encodable & Sendable>(
        _ request: Request, _ action: String, on resource: (@Sendable (ControlPlaneState) -> String)? = nil, missing: String = "Not found.",
        _ build: @escaping @Sendable (ControlPlaneState, Date, ConsoleReader) -> Page?
    ) async -> Response {
        OperationLabel.name("GET /" + request.uri.path.split(separator: "/").prefix(3).joined(separator: "/"))
        let reader: ConsoleReader
        switch await consoleReader(request, action, on: resource) {
        case .failure(let refusal): return refusal.response
        case .success(let allowed): reader = allowed
        }
        let page = try? await committer.read { root, now in build(root, now, reader) }
        return consoleJSON(page ?? nil, missing: missing)
    }

    /// A change's caller, with its CSRF token checked: the principal (nil when authentication is off) or the refusal.
    func consoleChanger(_ request: Request) -> Result<AccessKeyring.Principal?, ConsoleRefusal> {
        let header = request.headers[HTTPField.Name(ConsoleSessions.csrfHeader)!]
        switch consoleCaller(request) {
        case .refused(let response): return .failure(ConsoleRefusal(response: response))
        case .open:
            guard ConsoleSessions.constantTimeEqual(Array((header ?? "").utf8), Array(console.openToken.utf8)) else {
                return .failure(ConsoleRefusal(response: Self.missingCSRFToken))
            }
            return .success(nil)
        case .principal(let principal, let session):
            guard ConsoleSessions.csrfMatches(session, header: header) else {
                return .failure(ConsoleRefusal(response: Self.missingCSRFToken))
            }
            return .success(principal)
        }
    }

    /// Whether a browser says the request comes from a page of this origin (`Sec-Fetch-Site`, else
    /// `Origin` against `Host`); requests without either (curl, scripts) are not a browser's.
    static func isSameOrigin(_ request: Request) -> Bool {
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!] { return site == "same-origin" || site == "none" }
        guard let origin = request.headers[HTTPField.Name("Origin")!] else { return true }
        guard let host = request.head.authority else { return false }
        return origin == "http://" + host || origin == "https://" + host
    }

    static var missingCSRFToken: Response { consoleError("The request lacks the console's CSRF token: reload the page.", status: .forbidden) }

    struct ConsoleRefusal: Error {
        let response: Response
    }

    // MARK: Signing in

    func consoleSession(_ request: Request) -> Response {
        switch consoleCaller(request) {
        case .open: return consoleJSON(SessionAnswer(signedIn: true, csrf: console.openToken, user: nil, authentication: false))
        case .refused: return consoleJSON(SessionAnswer(signedIn: false, csrf: nil, user: nil, authentication: true))
        case .principal(let principal, let session):
            return consoleJSON(SessionAnswer(signedIn: true, csrf: session.csrfToken, user: principal.caller.arn, authentication: true))
        }
    }

    struct SessionAnswer: Encodable {
        var signedIn: Bool
        var csrf: String?
        var user: String?
        var authentication: Bool
        var message: String?
    }

    struct SignIn: Decodable {
        var accessKeyId: String
        var secretAccessKey: String
    }

    /// Checks an access key and its secret; a match opens a session in an HttpOnly,
    /// SameSite=Strict cookie.
    func consoleSignIn(_ request: Request) async -> Response {
        guard let authenticator else { return consoleSession(request) }
        // A form on another site cannot sign a browser in as someone else: JSON only, from this origin.
        guard request.headers[.contentType]?.hasPrefix("application/json") == true, Self.isSameOrigin(request) else {
            return Self.consoleError("Sign in from the console's page (a JSON request from its own origin).", status: .forbidden)
        }
        var request = request
        guard let body = try? await request.collectBody(upTo: 16 * 1024),
            let input = try? JSONDecoder().decode(SignIn.self, from: Data(body.readableBytesView))
        else {
            return Self.consoleError("Send {\"accessKeyId\": …, \"secretAccessKey\": …} as JSON.", status: .badRequest)
        }
        guard let principal = authenticator.keyring.principal(input.accessKeyId),
            ConsoleSessions.constantTimeEqual(Array(principal.secret.utf8), Array(input.secretAccessKey.utf8))
        else {
            var answer = consoleJSON(
                SessionAnswer(
                    signedIn: false, authentication: true,
                    message: "The access key ID or the secret access key is not right: use a key of this cluster's administrator or of an active IAM user."))
            answer.status = .unauthorized
            return answer
        }
        let now = committer.now()
        var random = SystemRandomNumberGenerator()
        let cookie = request.headers[.cookie]
        let session = console.sessions.withLock { sessions in
            // Signing in again ends the session this browser had.
            if let old = sessions.session(cookieHeader: cookie, now: now) { sessions.close(id: old.id) }
            return sessions.open(accessKeyId: input.accessKeyId, now: now, random: &random)
        }
        var answer = consoleJSON(SessionAnswer(signedIn: true, csrf: session.csrfToken, user: principal.caller.arn, authentication: true))
        answer.headers[.setCookie] = ConsoleSessions.setCookie(session, secure: consoleSecureCookies)
        return answer
    }

    func consoleSignOut(_ request: Request) -> Response {
        if case .principal(_, let session) = consoleCaller(request) {
            guard ConsoleSessions.csrfMatches(session, header: request.headers[HTTPField.Name(ConsoleSessions.csrfHeader)!]) else {
                return Self.missingCSRFToken
            }
            console.sessions.withLock { $0.close(id: session.id) }
        }
        var answer = consoleJSON(SessionAnswer(signedIn: false, authentication: authenticator != nil))
        answer.headers[.setCookie] = ConsoleSessions.clearCookie(secure: consoleSecureCookies)
        return answer
    }

    // MARK: Live

    /// Server-sent events: one `data:` line whenever the state changed (at most four a second),
    /// a comment every 15 seconds so idle connections stay open.
    func consoleEvents(_ request: Request) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let version = committer.version
        let backend = console
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                var seen = version.current
                var quiet = 0
                while !Task.isCancelled, !backend.closed.load(ordering: .acquiring) {
                    try await Task.sleep(for: .milliseconds(250))
                    let now = version.current
                    if now != seen {
                        seen = now
                        quiet = 0
                        try await writer.write(ByteBuffer(string: "data: \(now)\n\n"))
                    } else {
                        quiet += 1
                        if quiet >= 60 {
                            quiet = 0
                            // The stream lasts as long as its session: signed out, expired or a key deleted ends it.
                            if case .refused = consoleCaller(request) { break }
                            try await writer.write(ByteBuffer(string: ": still here\n\n"))
                        }
                    }
                }
                try await writer.finish(nil)
            })
    }

    // MARK: Services

    /// A service's page: its counts over time, deployments, scaling with the metric it tracks, and its targets' health.
    func consoleService(cluster: String, name: String) async -> Response {
        let arn = names.arn("ecs", "service/\(cluster)/\(name)")
        let metrics = await console.metrics.datapoints(service: arn)
        let registry = console.targetHealth
        let history = console.history.withLock { $0.samples(of: arn) }
        let page = try? await committer.read { root, now in
            ServiceViews.service(
                cluster: cluster, name: name, ecs: root.ecs, scaling: root.scaling, history: history, now: now, metrics: metrics,
                health: { group, target in
                    let health = registry.health(group: group, target: TargetHealthRegistry.key(host: target.host, port: target.port))
                    return ServiceViews.TargetView(
                        target: "\(target.host):\(target.port)", task: target.taskArn, state: health.state.rawValue, reason: health.reason,
                        description: health.description)
                })
        }
        return consoleJSON(page ?? nil, missing: "No active service \(name) in cluster \(cluster).")
    }

    // MARK: Functions

    /// A function's page: the REPORT lines of its last half hour, read from its log group's files.
    func consoleFunction(_ name: String) async -> Response {
        let window = FunctionViews.window
        let read = try? await committer.read { root, _ -> (FunctionRecord, [ClusterLogTables.Stream])? in
            guard let record = root.lambda.functions[name] else { return nil }
            let group = root.logs.groups.values.first { $0.name == "/aws/lambda/\(name)" }
            let streams = group.map { group in
                group.streams.values.map {
                    ClusterLogTables.Stream(group: group.name, name: $0.name, groupStorage: group.storageId, streamStorage: $0.storageId)
                }
            } ?? []
            return (record, streams)
        }
        guard let (record, streams) = read ?? nil else { return Self.consoleError("Function not found: \(name)", status: .notFound) }
        let now = committer.now()
        var query = EventQuery()
        query.from = Int((now.timeIntervalSince1970 - window - FunctionViews.bucketWidth) * 1000)
        query.matching = { bytes in
            Self.invocationLinePrefixes.contains { prefix in bytes.count >= prefix.count && bytes.starts(with: prefix) }
        }
        var invocations: [FunctionViews.Invocation] = []
        for stream in streams {
            let events = console.logEvents.events(group: stream.groupStorage, stream: stream.streamStorage, query)
            for invocation in ClusterLogTables.invocations(events, stream: stream) {
                invocations.append(
                    FunctionViews.Invocation(
                        endedAt: Int64(invocation.endedAt), durationMs: invocation.report.duration ?? 0, coldStart: invocation.report.initDuration != nil,
                        errorType: invocation.errorType, report: invocation.line))
            }
        }
        let throttles = await console.functions.throttles(of: name)
        return consoleJSON(FunctionViews.page(record, invocations: invocations, throttles: throttles, now: now))
    }

    /// The lines an invocation is read from: its START, the runtime's error, its REPORT.
    static let invocationLinePrefixes: [[UInt8]] = ["START RequestId: ", "[ERROR] ", "REPORT RequestId: "].map { Array($0.utf8) }

    // MARK: Acting

    struct AWSCall: Decodable {
        var target: String
        var input: JSONValue?
    }

    struct CallAnswer: Encodable {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    /// An AWS JSON operation made from the console, as the signed-in user and allowed by the
    /// same policies as a signed request. The operation's answer, whatever its status, comes
    /// back inside a 200 (the page shows AWS's error).
    func consoleAWSCall(_ request: Request) async -> Response {
        let (principal, call): (AccessKeyring.Principal?, AWSCall)
        switch await consoleCall(request, AWSCall.self, shape: "{\"target\": \"<X-Amz-Target>\", \"input\": {…}}") {
        case .failure(let refusal): return refusal.response
        case .success(let made): (principal, call) = made
        }
        guard Self.consoleTargets.contains(call.target), dispatcher.knows(target: call.target) else {
            return Self.consoleError("\(call.target) is not an operation the console can call.", status: .badRequest)
        }
        let body = Array(AWSJSONCodec.encode(call.input ?? .object([:])))
        let requestId = requestIds.next()
        if let principal, let refusal = await refusal(principal, target: call.target, body: body) {
            return consoleJSON(Self.callAnswer(.error(refusal)))
        }
        let answer = await dispatcher.handle(
            target: call.target, body: body, context: OperationContext(requestId: requestId, bodySize: body.count, caller: principal?.caller))
        return consoleJSON(Self.callAnswer(answer))
    }

    /// A call through the console: its caller, CSRF token checked, and its body decoded as `Call`.
    func consoleCall<Call: Decodable>(_ request: Request, _ type: Call.Type, shape: String) async
        -> Result<(AccessKeyring.Principal?, Call), ConsoleRefusal>
    {
        let principal: AccessKeyring.Principal?
        switch consoleChanger(request) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let caller): principal = caller
        }
        var request = request
        guard let collected = try? await request.collectBody(upTo: maxRequestBytes),
            let call = try? JSONDecoder().decode(Call.self, from: Data(collected.readableBytesView))
        else {
            return .failure(ConsoleRefusal(response: Self.consoleError("Send \(shape) as JSON.", status: .badRequest)))
        }
        return .success((principal, call))
    }

    /// The AWS JSON operations the console's pages make: its actions and the queries page.
    static let consoleTargets: Set<String> = Set(
        ["UpdateService", "StopTask", "UpdateContainerInstancesState", "DescribeServices", "DescribeTasks"].map { ECSAPI.targetPrefix + "." + $0 }
            + ["StartQueryExecution", "GetQueryExecution", "GetQueryResults", "StopQueryExecution"].map { "AmazonAthena." + $0 })

    /// The Lambda routes the console's pages call: Invoke and UpdateAlias.
    static let consoleLambdaRoutes: Set<String> = ["/2015-03-31/functions/{name}/invocations", "/2015-03-31/functions/{name}/aliases/{alias}"]

    struct LambdaCall: Decodable {
        var method: String
        var path: String
        var body: String?
    }

    /// A Lambda REST operation made from the console (Invoke, UpdateAlias, …), as the signed-in user.
    func consoleLambdaCall(_ request: Request) async -> Response {
        let (principal, call): (AccessKeyring.Principal?, LambdaCall)
        switch await consoleCall(request, LambdaCall.self, shape: "{\"method\": …, \"path\": \"/2015-03-31/functions/…\", \"body\": \"…\"}") {
        case .failure(let refusal): return refusal.response
        case .success(let made): (principal, call) = made
        }
        guard let (route, parameters) = console.routes.match(method: call.method, path: call.path), route.access == .api,
            Self.consoleLambdaRoutes.contains(route.path), ["POST", "PUT"].contains(route.method)
        else {
            return Self.consoleError("\(call.method) \(call.path) is not a function operation the console can call (Invoke, UpdateAlias).", status: .badRequest)
        }
        let body = Array((call.body ?? "").utf8)
        guard body.count <= route.bodyLimit || route.bodyLimit == 0 else { return consoleJSON(Self.callAnswer(route.errorStyle.response(route.tooLargeError, requestId: nil))) }
        let requestId = requestIds.next()
        if let principal, let refusal = await refusal(principal, route: route, parameters: parameters, query: [:], body: body) {
            return consoleJSON(Self.callAnswer(route.errorStyle.response(refusal, requestId: requestId)))
        }
        let answer = await route.handler(
            RESTRequest(method: route.method, path: call.path, parameters: parameters, headers: [("content-type", "application/json")], body: body, requestId: requestId))
        return consoleJSON(Self.callAnswer(answer))
    }

    static func callAnswer(_ answer: APIResponse) -> CallAnswer {
        var headers: [String: String] = [:]
        for (name, value) in answer.headers { headers[name] = value }
        return CallAnswer(status: answer.status, headers: headers, body: String(decoding: answer.body, as: UTF8.self))
    }

    // MARK: Answers

    func consoleJSON(_ value: (some Encodable)?, missing: String = "Not found.") -> Response {
        guard let value else { return Self.consoleError(missing, status: .notFound) }
        // Streaming (several times faster than Foundation's encoder); dates as epoch seconds.
        guard let data = try? StreamingJSONEncoder.encode(value) else {
            return Self.consoleError("The page could not be encoded.", status: .internalServerError)
        }
        var headers = Self.consoleHeaders
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func consoleError(_ message: String, status: HTTPResponse.Status) -> Response {
        var headers = consoleHeaders
        headers[.contentType] = "application/json"
        let data = (try? JSONEncoder().encode(["message": message])) ?? Data()
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Nothing the console shows may load from elsewhere, be framed, or be cached.
    static var consoleHeaders: HTTPFields {
        var headers = HTTPFields()
        headers[.contentSecurityPolicy] =
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        headers[.cacheControl] = "no-store"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return headers
    }

    static func asset(_ bytes: [UInt8], type: String) -> Response {
        var headers = consoleHeaders
        headers[.contentType] = type
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
