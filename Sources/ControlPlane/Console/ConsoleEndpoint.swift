import AWSProtocols
import Console
import ECS
import Foundation
import HTTPTypes
import Hummingbird
import Lambda
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

    init(logEvents: any LogEventStorage, functions: FunctionRouter, routes: [RESTRoute]) {
        self.logEvents = logEvents
        self.functions = functions
        self.routes = RouteTable(routes)
        var random = SystemRandomNumberGenerator()
        var sessions = ConsoleSessions()
        openToken = sessions.open(accessKeyId: "", now: Date(), random: &random).csrfToken
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
                let ecs = committer.readPublished { $0.ecs }
                let now = committer.now()
                backend.history.withLock { $0.record(ecs, now: now) }
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
            consoleRead(request, action: "ecs:DescribeClusters") { consoleEvents() }
        }
        router.get(RouterPath(api + "/clusters")) { request, _ in
            consoleRead(request, action: "ecs:DescribeClusters") { consoleJSON(committer.readPublished { ClusterViews.overview($0.ecs) }) }
        }
        router.get(RouterPath(api + "/clusters/{name}")) { request, context in
            let name = context.parameters.get("name") ?? ""
            return consoleRead(request, action: "ecs:DescribeContainerInstances") {
                consoleJSON(committer.readPublished { ClusterViews.cluster(name, in: $0) }, missing: "No active cluster is named \(name).")
            }
        }
        router.get(RouterPath(api + "/services/{cluster}/{name}")) { request, context in
            let cluster = context.parameters.get("cluster") ?? ""
            let name = context.parameters.get("name") ?? ""
            return consoleRead(request, action: "ecs:DescribeServices") {
                let now = committer.now()
                let page = committer.readPublished { root in
                    let arn = root.ecs.names.service(cluster: cluster, name: name)
                    let history = console.history.withLock { $0.samples(of: arn) }
                    return ServiceViews.service(cluster: cluster, name: name, ecs: root.ecs, scaling: root.scaling, history: history, now: now)
                }
                return consoleJSON(page, missing: "No active service \(name) in cluster \(cluster).")
            }
        }
        router.get(RouterPath(api + "/tasks")) { request, _ in
            let query = request.uri.queryParameters
            func value(_ name: String) -> String? { query.get(name).flatMap { $0.isEmpty ? nil : $0 } }
            let filter = TaskViews.Filter(
                cluster: value("cluster"), status: value("status"), family: value("family"), instance: value("instance"), service: value("service"),
                limit: min(max(query.get("limit", as: Int.self) ?? 200, 1), 1000))
            return consoleRead(request, action: "ecs:DescribeTasks") { consoleJSON(committer.readPublished { TaskViews.tasks($0.ecs, filter: filter) }) }
        }
        router.get(RouterPath(api + "/tasks/{cluster}/{id}")) { request, context in
            let cluster = context.parameters.get("cluster") ?? ""
            let id = context.parameters.get("id") ?? ""
            return consoleRead(request, action: "ecs:DescribeTasks") {
                consoleJSON(committer.readPublished { TaskViews.task($0.ecs, cluster: cluster, id: id) }, missing: "No task \(id) in cluster \(cluster).")
            }
        }
        router.get(RouterPath(api + "/tasks/{cluster}/{id}/logs")) { request, context in
            let cluster = context.parameters.get("cluster") ?? ""
            let id = context.parameters.get("id") ?? ""
            if let refused = consoleRefusal(request, action: "logs:GetLogEvents") { return refused }
            do throws(AWSError) {
                return Self.streaming(try await agents.openLogs(cluster: cluster, task: id, container: nil, follow: true, tail: 500))
            } catch {
                return Self.consoleError(error.message, status: .notFound)
            }
        }
        router.get(RouterPath(api + "/functions")) { request, _ in
            consoleRead(request, action: "lambda:ListFunctions") {
                consoleJSON(committer.readPublished { ["functions": FunctionViews.list($0.lambda)] })
            }
        }
        router.get(RouterPath(api + "/functions/{name}")) { request, context in
            let name = context.parameters.get("name") ?? ""
            if let refused = consoleRefusal(request, action: "lambda:GetFunction") { return refused }
            return await consoleFunction(name)
        }
        router.get(RouterPath(api + "/apis")) { request, _ in
            consoleRead(request, action: "apigateway:GET") { consoleJSON(committer.readPublished { ["apis": ResourceViews.apis($0.gateway)] }) }
        }
        router.get(RouterPath(api + "/stacks")) { request, _ in
            consoleRead(request, action: "cloudformation:DescribeStacks") {
                consoleJSON(committer.readPublished { ["stacks": ResourceViews.stacks($0.cloudFormation)] })
            }
        }
        router.get(RouterPath(api + "/stacks/{name}")) { request, context in
            let name = context.parameters.get("name") ?? ""
            return consoleRead(request, action: "cloudformation:DescribeStacks") {
                consoleJSON(committer.readPublished { ResourceViews.stack(name, in: $0.cloudFormation) }, missing: "Stack with id \(name) does not exist")
            }
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

    /// The refusal of a read when the caller may not make it (a page needs its read action on every resource).
    func consoleRefusal(_ request: Request, action: String) -> Response? {
        switch consoleCaller(request) {
        case .open: return nil
        case .refused(let response): return response
        case .principal(let principal, _):
            guard let refusal = AccessPolicy.refusal(principal, RequestedAction(action: action) { "*" }, style: .json) else { return nil }
            return Self.consoleError(refusal.message, status: .forbidden)
        }
    }

    func consoleRead(_ request: Request, action: String, _ answer: () -> Response) -> Response {
        consoleRefusal(request, action: action) ?? answer()
    }

    /// A change's caller, with its CSRF token checked: the principal (nil when authentication is off) or the refusal.
    func consoleChanger(_ request: Request) -> Result<AccessKeyring.Principal?, ConsoleRefusal> {
        let header = request.headers[HTTPField.Name(ConsoleSessions.csrfHeader)!]
        switch consoleCaller(request) {
        case .refused(let response): return .failure(ConsoleRefusal(response: response))
        case .open:
            guard ConsoleSessions.constantTimeEqual(Array((header ?? "").utf8), Array(console.openToken.utf8)) else {
                return .failure(ConsoleRefusal(response: Self.consoleError("The request lacks the console's CSRF token: reload the page.", status: .forbidden)))
            }
            return .success(nil)
        case .principal(let principal, let session):
            guard ConsoleSessions.csrfMatches(session, header: header) else {
                return .failure(ConsoleRefusal(response: Self.consoleError("The request lacks the console's CSRF token: reload the page.", status: .forbidden)))
            }
            return .success(principal)
        }
    }

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
        let session = console.sessions.withLock { $0.open(accessKeyId: input.accessKeyId, now: now, random: &random) }
        var answer = consoleJSON(SessionAnswer(signedIn: true, csrf: session.csrfToken, user: principal.caller.arn, authentication: true))
        answer.headers[.setCookie] = ConsoleSessions.setCookie(session, secure: isTLS)
        return answer
    }

    func consoleSignOut(_ request: Request) -> Response {
        if case .principal(_, let session) = consoleCaller(request) {
            guard case .success = consoleChanger(request) else {
                return Self.consoleError("The request lacks the console's CSRF token: reload the page.", status: .forbidden)
            }
            console.sessions.withLock { $0.close(id: session.id) }
        }
        var answer = consoleJSON(SessionAnswer(signedIn: false, authentication: authenticator != nil))
        answer.headers[.setCookie] = ConsoleSessions.clearCookie(secure: isTLS)
        return answer
    }

    // MARK: Live

    /// Server-sent events: one `data:` line whenever the state changed (at most four a second),
    /// a comment every 15 seconds so idle connections stay open.
    func consoleEvents() -> Response {
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
                            try await writer.write(ByteBuffer(string: ": still here\n\n"))
                        }
                    }
                }
                try await writer.finish(nil)
            })
    }

    // MARK: Functions

    /// A function's page: the REPORT lines of its last half hour, read from its log group's files.
    func consoleFunction(_ name: String) async -> Response {
        let window = FunctionViews.window
        let read = committer.readPublished { root -> (FunctionRecord, [ClusterLogTables.Stream])? in
            guard let record = root.lambda.functions[name] else { return nil }
            let group = root.logs.groups.values.first { $0.name == "/aws/lambda/\(name)" }
            let streams = group.map { group in
                group.streams.values.map {
                    ClusterLogTables.Stream(group: group.name, name: $0.name, groupStorage: group.storageId, streamStorage: $0.storageId)
                }
            } ?? []
            return (record, streams)
        }
        guard let (record, streams) = read else { return Self.consoleError("Function not found: \(name)", status: .notFound) }
        let now = committer.now()
        var query = EventQuery()
        query.from = Int((now.timeIntervalSince1970 - window - FunctionViews.bucketWidth) * 1000)
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
        let throttles = await console.functions.throttles(of: name, since: now.addingTimeInterval(-window - FunctionViews.bucketWidth))
        return consoleJSON(FunctionViews.page(record, invocations: invocations, throttles: throttles, now: now))
    }

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
        let principal: AccessKeyring.Principal?
        switch consoleChanger(request) {
        case .failure(let refusal): return refusal.response
        case .success(let caller): principal = caller
        }
        var request = request
        guard let collected = try? await request.collectBody(upTo: maxRequestBytes),
            let call = try? JSONDecoder().decode(AWSCall.self, from: Data(collected.readableBytesView))
        else {
            return Self.consoleError("Send {\"target\": \"<X-Amz-Target>\", \"input\": {…}} as JSON.", status: .badRequest)
        }
        guard dispatcher.knows(target: call.target), !isAgentOperation(call.target) else {
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

    struct LambdaCall: Decodable {
        var method: String
        var path: String
        var body: String?
    }

    /// A Lambda REST operation made from the console (Invoke, UpdateAlias, …), as the signed-in user.
    func consoleLambdaCall(_ request: Request) async -> Response {
        let principal: AccessKeyring.Principal?
        switch consoleChanger(request) {
        case .failure(let refusal): return refusal.response
        case .success(let caller): principal = caller
        }
        var request = request
        guard let collected = try? await request.collectBody(upTo: maxRequestBytes),
            let call = try? JSONDecoder().decode(LambdaCall.self, from: Data(collected.readableBytesView))
        else {
            return Self.consoleError("Send {\"method\": …, \"path\": \"/2015-03-31/functions/…\", \"body\": \"…\"} as JSON.", status: .badRequest)
        }
        guard call.path.hasPrefix("/2015-03-31/functions/"), let (route, rawParameters) = console.routes.match(method: call.method, path: call.path) else {
            return Self.consoleError("\(call.method) \(call.path) is not a Lambda function operation.", status: .badRequest)
        }
        let parameters = rawParameters.mapValues { $0.removingPercentEncoding ?? $0 }
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

    /// Whether ecsd serves TLS (the session cookie is then `Secure`).
    var isTLS: Bool { consoleSecureCookies }

    static let consoleEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        return encoder
    }()

    func consoleJSON(_ value: (some Encodable)?, missing: String = "Not found.") -> Response {
        guard let value else { return Self.consoleError(missing, status: .notFound) }
        guard let data = try? Self.consoleEncoder.encode(value) else { return Self.consoleError("The page could not be encoded.", status: .internalServerError) }
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
