import Foundation
import AgentProtocol
import APIGatewayShapes
import Lambda
import StevedoreCore
import Synchronization

/// A client's open WebSocket, as the data plane reaches it: the gateway's listener implements it
/// over the upgraded connection.
public protocol WebSocketClient: Sendable {
    /// Sends a message; false when the connection is already gone.
    func send(_ message: WebSocketMessage) async -> Bool
    /// Closes the connection with a close frame.
    func close(code: UInt16, reason: String) async
}

/// WebSocket APIs' connection limits (AWS's quotas).
public struct WebSocketLimits: Sendable {
    /// A connection with no message either way for this long is closed.
    public var idleTimeout: Duration = .seconds(600)
    /// No connection lives longer than this.
    public var maximumLifetime: Duration = .seconds(7200)
    /// Frames are at most 32 KB and messages (frames together) 128 KB.
    public static let maximumFrame = 32 << 10
    public static let maximumMessage = 128 << 10

    public init(idleTimeout: Duration = .seconds(600), maximumLifetime: Duration = .seconds(7200)) {
        self.idleTimeout = idleTimeout
        self.maximumLifetime = maximumLifetime
    }
}

/// How a WebSocket handshake ends.
public enum WebSocketHandshake: Sendable {
    /// The `$connect` route let the client in.
    case accepted(WebSocketConnectionInfo)
    /// The `$connect` route (or its authorization) refused: the HTTP answer the client gets.
    case refused(GatewayResponse)
    /// The request is not for a WebSocket API: it is served as an HTTP request.
    case notWebSocket
}

/// The open connections of every WebSocket API, by connection id.
final class WebSocketConnections: Sendable {
    struct Entry {
        var info: WebSocketConnectionInfo
        var client: any WebSocketClient
        var lastActiveAt: Date
    }

    private let entries = Mutex<[String: Entry]>([:])

    func add(_ info: WebSocketConnectionInfo, client: any WebSocketClient) {
        entries.withLock { $0[info.connectionId] = Entry(info: info, client: client, lastActiveAt: info.connectedAt) }
    }

    @discardableResult
    func remove(_ connectionId: String) -> Entry? {
        entries.withLock { $0.removeValue(forKey: connectionId) }
    }

    func entry(_ connectionId: String) -> Entry? {
        entries.withLock { $0[connectionId] }
    }

    func touch(_ connectionId: String, at time: Date) {
        entries.withLock { $0[connectionId]?.lastActiveAt = time }
    }
}

extension GatewayDataPlane {
    /// A new connection id: 16 characters as API Gateway's (URL-safe, so it sits in `@connections`
    /// paths as is), never starting with `-` (a command line would take it for an option).
    static func newConnectionId() -> String {
        var generator = SystemRandomNumberGenerator()
        while true {
            let bytes = (0..<11).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let id = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            if !id.hasPrefix("-") { return id }
        }
    }

    /// A WebSocket handshake: the API its host or path names must be a WebSocket API; its
    /// `$connect` route (when it has one) decides whether the client is let in.
    public func openWebSocket(host: String?, path: String, request: GatewayRequest) async -> WebSocketHandshake {
        guard let state = await snapshot(), let destination = state.destination(host: host, path: path) else { return .notWebSocket }
        guard destination.api.isWebSocket else { return .notWebSocket }
        var info = WebSocketConnectionInfo(
            connectionId: Self.newConnectionId(), apiId: destination.api.id, stage: destination.stage.stageName, connectedAt: request.time,
            sourceIp: request.sourceIp, userAgent: request.header("user-agent"),
            domainName: ProxyPayload.domainName(request, apiId: destination.api.id), headers: ProxyPayload.forwardingHeaders(request),
            rawQueryString: request.rawQueryString)
        guard let route = destination.deployment.routes.first(where: { $0.routeKey == WebSocketRouteKey.connect }) else {
            return .accepted(info)
        }
        var occurrence = WebSocketEvent.Occurrence(type: .connect, routeKey: WebSocketRouteKey.connect, requestId: request.requestId, time: request.time)
        occurrence.stageVariables = destination.stage.stageVariables ?? [:]
        let methodArn =
            "arn:\(names.partition):execute-api:\(names.region):\(names.accountId):\(destination.api.id)/\(destination.stage.stageName)/$connect"
        switch route.authorizationType {
        case .awsIam:
            if let signing, case .refused(let response) = await signing.authorize(request, routeArn: methodArn) { return .refused(response) }
        case .custom:
            guard let authorizer = route.authorizerId.flatMap({ destination.deployment.authorizers?[$0] }) else {
                return .refused(.internalServerError)
            }
            switch await authorizeConnection(request, authorizer: authorizer, destination: destination, occurrence: occurrence, info: info, methodArn: methodArn) {
            case .refused(let response): return .refused(response)
            case .allowed(let context): info.authorizer = context
            }
        default:
            break
        }
        let result = await callIntegration(of: route, in: destination, occurrence: occurrence, connection: info)
        logWebSocket(destination, occurrence, connection: info, result: result)
        switch result {
        case .answered(let status, _) where (200...299).contains(status):
            return .accepted(info)
        case .answered(let status, let message):
            return .refused(GatewayResponse(status: status, headers: [("content-type", "application/json")], body: message?.bytes ?? []))
        case .noIntegration:
            return .accepted(info)
        case .failed(let response):
            return .refused(response)
        }
    }

    enum ConnectionAuthorization {
        case allowed(Document)
        case refused(GatewayResponse)
    }

    /// A `$connect` REQUEST authorizer: its function asked with the connect event (its answer
    /// cached by identity for the TTL), an IAM policy allowing `execute-api:Invoke` on the
    /// `$connect` route's ARN lets the client in.
    func authorizeConnection(
        _ request: GatewayRequest, authorizer: V2Authorizer, destination: GatewayDestination, occurrence: WebSocketEvent.Occurrence,
        info: WebSocketConnectionInfo, methodArn: String
    ) async -> ConnectionAuthorization {
        let requestContext = [
            "requestId": request.requestId, "stage": destination.stage.stageName, "apiId": destination.api.id, "connectionId": info.connectionId,
            "identity.sourceIp": request.sourceIp, "routeKey": WebSocketRouteKey.connect,
        ]
        guard
            let identity = LambdaAuthorization.identity(
                authorizer.identitySource ?? [], request: request, stage: destination.stage, context: requestContext, webSocket: true)
        else { return .refused(.unauthorized) }
        guard
            let answer = await authorizerAnswer(
                authorizer, identity: identity, apiId: destination.api.id, stageVariables: destination.stage.stageVariables ?? [:],
                routeArn: methodArn, simpleResponses: false, time: request.time,
                event: WebSocketEvent.authorizerEvent(occurrence, connection: info, methodArn: methodArn))
        else { return .refused(.internalServerError) }
        guard let verdict = LambdaAuthorization.decide(answer, simpleResponses: false, routeArn: methodArn) else {
            return .refused(.internalServerError)
        }
        guard verdict.allowed else { return .refused(.forbidden) }
        // The principal first, then the context's values, as REST and WebSocket APIs flatten them.
        var members: [(String, Document)] = []
        if case .string(let principal)? = verdict.context["principalId"] { members.append(("principalId", .string(principal))) }
        for (key, value) in verdict.context.sorted(by: { $0.key < $1.key }) where key != "principalId" {
            if let text = value.selectionText { members.append((key, .string(text))) }
        }
        return .allowed(.object(members))
    }

    /// An accepted connection is open: `@connections` can reach it from now on.
    public func attach(_ info: WebSocketConnectionInfo, client: any WebSocketClient) {
        webSockets.add(info, client: client)
    }

    /// The time a connection was last active, or nil once it is gone (for the idle timeout).
    public func lastActive(_ connectionId: String) -> Date? {
        webSockets.entry(connectionId)?.lastActiveAt
    }

    /// A client's message: to the route its body selects, and the route's answer (with a route
    /// response) back to the client.
    public func receive(_ message: WebSocketMessage, connectionId: String, requestId: String, time: Date) async {
        guard let entry = webSockets.entry(connectionId) else { return }
        webSockets.touch(connectionId, at: time)
        guard let state = await snapshot(), let destination = state.destination(connection: entry.info) else {
            _ = await entry.client.send(WebSocketEvent.errorMessage("Forbidden", connectionId: connectionId, requestId: requestId))
            return
        }
        let routes = destination.deployment.routes
        let keys = Set(routes.map(\.routeKey)).subtracting([WebSocketRouteKey.connect, WebSocketRouteKey.disconnect])
        guard
            let key = WebSocketRouteSelection.routeKey(
                expression: destination.api.api.routeSelectionExpression, message: message.bytes, routeKeys: keys),
            let route = routes.first(where: { $0.routeKey == key })
        else {
            _ = await entry.client.send(WebSocketEvent.errorMessage("Forbidden", connectionId: connectionId, requestId: requestId))
            return
        }
        guard throttles.admit(api: destination.api.id, stage: destination.stage, routeKey: key) else {
            _ = await entry.client.send(WebSocketEvent.errorMessage("Too Many Requests", connectionId: connectionId, requestId: requestId))
            return
        }
        var occurrence = WebSocketEvent.Occurrence(type: .message, routeKey: key, requestId: requestId, time: time)
        occurrence.message = message
        occurrence.messageId = Self.newConnectionId()
        occurrence.stageVariables = destination.stage.stageVariables ?? [:]
        let result = await callIntegration(of: route, in: destination, occurrence: occurrence, connection: entry.info)
        logWebSocket(destination, occurrence, connection: entry.info, result: result)
        switch result {
        case .answered(_, let answer):
            // Only a route with a route response answers its client.
            let answers = destination.deployment.routeResponses?[route.routeId ?? ""]?.isEmpty == false
            if answers, let answer { _ = await entry.client.send(answer) }
        case .noIntegration:
            _ = await entry.client.send(WebSocketEvent.errorMessage("Forbidden", connectionId: connectionId, requestId: requestId))
        case .failed:
            _ = await entry.client.send(WebSocketEvent.errorMessage("Internal server error", connectionId: connectionId, requestId: requestId))
        }
    }

    /// A connection closed (by either side): it leaves `@connections`, and the `$disconnect`
    /// route hears of it (best effort: its answer goes nowhere).
    public func detach(connectionId: String, statusCode: Int, reason: String, requestId: String, time: Date) async {
        guard let entry = webSockets.remove(connectionId) else { return }
        await disconnect(entry.info, statusCode: statusCode, reason: reason, requestId: requestId, time: time)
    }

    /// The `$disconnect` route of a connection that ended (or never got past its upgrade).
    public func disconnect(_ info: WebSocketConnectionInfo, statusCode: Int, reason: String, requestId: String, time: Date) async {
        guard let state = await snapshot(), let destination = state.destination(connection: info),
            let route = destination.deployment.routes.first(where: { $0.routeKey == WebSocketRouteKey.disconnect })
        else { return }
        var occurrence = WebSocketEvent.Occurrence(type: .disconnect, routeKey: WebSocketRouteKey.disconnect, requestId: requestId, time: time)
        occurrence.disconnect = (statusCode, reason)
        occurrence.stageVariables = destination.stage.stageVariables ?? [:]
        let result = await callIntegration(of: route, in: destination, occurrence: occurrence, connection: info)
        logWebSocket(destination, occurrence, connection: info, result: result)
    }

    /// A line in the stage's access log (its format's `$context` variables) for each event a
    /// route handled.
    func logWebSocket(
        _ destination: GatewayDestination, _ occurrence: WebSocketEvent.Occurrence, connection: WebSocketConnectionInfo,
        result: WebSocketIntegrationResult
    ) {
        guard let accessLogs, let settings = destination.stage.accessLogSettings, let format = settings.format,
            let group = settings.destinationArn.flatMap(AccessLogFormat.logGroup)
        else { return }
        var values = Self.templateContext(occurrence, connection: connection)
        switch result {
        case .answered(let status, _):
            values["status"] = String(status)
            values["integrationStatus"] = String(status)
        case .noIntegration:
            values["status"] = "403"
            values["error.message"] = "Forbidden"
        case .failed(let response):
            values["status"] = String(response.status)
            values["error.message"] = "Internal server error"
        }
        accessLogs.write(group: group, line: AccessLogFormat.render(format, values: values) + "\n")
    }

    /// What a WebSocket route's integration answered.
    enum WebSocketIntegrationResult {
        case answered(status: Int, message: WebSocketMessage?)
        case noIntegration
        case failed(GatewayResponse)
    }

    func callIntegration(
        of route: V2Route, in destination: GatewayDestination, occurrence: WebSocketEvent.Occurrence, connection: WebSocketConnectionInfo
    ) async -> WebSocketIntegrationResult {
        let integrationId = route.target.flatMap { $0.hasPrefix("integrations/") ? String($0.dropFirst("integrations/".count)) : nil }
        guard let integrationId, let integration = destination.deployment.integrations[integrationId] else { return .noIntegration }
        let stageVariables = destination.stage.stageVariables ?? [:]
        let body = occurrence.message?.bytes ?? []
        switch integration.integrationType {
        case .awsProxy:
            let uri = Self.substitute(integration.integrationUri ?? "", stageVariables: stageVariables)
            guard let target = FunctionTarget(integrationUri: uri) else { return .failed(.internalServerError) }
            let invocation = InvocationRequest(
                reference: target.functionArn, qualifier: nil, payload: Data(WebSocketEvent.event(occurrence, connection: connection)),
                requestId: UUID().uuidString.lowercased(), traceId: LambdaAPI.newTraceId(at: occurrence.time))
            let functions = self.functions
            switch await Deadline.race(milliseconds: integration.timeoutInMillis ?? 29000, { try? await functions.invoke(invocation) }) {
            case .timedOut: return .failed(.gatewayTimeout)
            case .finished(nil): return .failed(.internalServerError)
            case .finished(let outcome?):
                guard outcome.status == .success, let answer = WebSocketEvent.answer(from: Array(outcome.payload)) else {
                    return .failed(.internalServerError)
                }
                return .answered(status: answer.status, message: answer.message)
            }
        case .httpProxy:
            let url = Self.substitute(integration.integrationUri ?? "", stageVariables: stageVariables)
            let method = integration.integrationMethod == nil || integration.integrationMethod == "ANY" ? "POST" : integration.integrationMethod ?? "POST"
            let headers: [(name: String, value: String)] = [
                ("Content-Type", "application/json"), ("connectionId", connection.connectionId), ("X-Forwarded-For", connection.sourceIp),
            ]
            switch await http.forward(method: method, url: url, headers: headers, body: body, timeout: .milliseconds(integration.timeoutInMillis ?? 29000)) {
            case .timedOut: return .failed(.gatewayTimeout)
            case .refused, .failed: return .failed(.internalServerError)
            case .answered(let response):
                return .answered(status: response.status, message: response.body.isEmpty ? nil : .text(String(decoding: response.body, as: UTF8.self)))
            }
        case .mock:
            return mockAnswer(integration, in: destination, occurrence: occurrence, connection: connection)
        default:
            return .failed(.internalServerError)
        }
    }

    /// MOCK: the request template's `statusCode` (200 without one) picks the integration response,
    /// whose response template is the answer.
    func mockAnswer(
        _ integration: V2Integration, in destination: GatewayDestination, occurrence: WebSocketEvent.Occurrence, connection: WebSocketConnectionInfo
    ) -> WebSocketIntegrationResult {
        let body = occurrence.message?.bytes ?? []
        let stageVariables = destination.stage.stageVariables ?? [:]
        let context = Self.templateContext(occurrence, connection: connection)
        var status = 200
        if let template = MappingTemplates.select(integration.requestTemplates, expression: integration.templateSelectionExpression, message: body) {
            let rendered = MappingTemplates.render(template, context: context, stageVariables: stageVariables, body: body)
            if let code = JSONPath.value(at: ["statusCode"], in: Array(rendered.utf8))?.selectionText.flatMap(Int.init) { status = code }
        }
        let responses = destination.deployment.integrationResponses?[integration.integrationId ?? ""] ?? []
        let chosen =
            responses.first { response in
                let key = response.integrationResponseKey
                guard key.count > 2, key.hasPrefix("/"), key.hasSuffix("/"), let pattern = try? Regex(String(key.dropFirst().dropLast())) else {
                    return false
                }
                return String(status).wholeMatch(of: pattern) != nil
            } ?? responses.first { $0.integrationResponseKey == "$default" }
        guard let chosen,
            let template = MappingTemplates.select(chosen.responseTemplates, expression: chosen.templateSelectionExpression, message: body)
        else {
            return .answered(status: status, message: nil)
        }
        return .answered(status: status, message: .text(MappingTemplates.render(template, context: context, stageVariables: stageVariables, body: body)))
    }

    static func templateContext(_ occurrence: WebSocketEvent.Occurrence, connection: WebSocketConnectionInfo) -> [String: String] {
        var context = [
            "connectionId": connection.connectionId, "routeKey": occurrence.routeKey, "eventType": occurrence.type.rawValue,
            "requestId": occurrence.requestId, "extendedRequestId": occurrence.requestId, "apiId": connection.apiId, "stage": connection.stage,
            "domainName": connection.domainName, "connectedAt": String(WebSocketConnectionInfo.milliseconds(connection.connectedAt)),
            "requestTimeEpoch": String(WebSocketConnectionInfo.milliseconds(occurrence.time)),
            "requestTime": ProxyPayload.commonLogTime(occurrence.time), "identity.sourceIp": connection.sourceIp,
            "identity.userAgent": connection.userAgent ?? "",
        ]
        context["messageId"] = occurrence.messageId
        return context
    }

    // MARK: @connections

    /// The management API (`apigatewaymanagementapi`) under a WebSocket stage:
    /// POST (PostToConnection), GET (GetConnection), DELETE (DeleteConnection) `@connections/{id}`.
    func manageConnection(_ request: GatewayRequest, destination: GatewayDestination) async -> GatewayResponse {
        let prefix = "/@connections/"
        guard request.routePath.hasPrefix(prefix) else {
            // Plain HTTP to a WebSocket stage: only the handshake is served there.
            return GatewayResponse.message(426, "Upgrade Required")
        }
        let encoded = String(request.routePath.dropFirst(prefix.count))
        let connectionId = encoded.removingPercentEncoding ?? encoded
        if let signing {
            let arn = "arn:\(names.partition):execute-api:\(names.region):\(names.accountId):\(destination.api.id)/\(destination.stage.stageName)/\(request.method)/@connections/\(connectionId)"
            // The management API is its own action (AWS's): invoking the API is not enough.
            if case .refused(let response) = await signing.authorize(request, routeArn: arn, action: "execute-api:ManageConnections") {
                return response
            }
        }
        guard let entry = webSockets.entry(connectionId), entry.info.apiId == destination.api.id, entry.info.stage == destination.stage.stageName
        else {
            return Self.managementError(410, "GoneException")
        }
        switch request.method {
        case "POST":
            guard request.body.count <= WebSocketLimits.maximumMessage else {
                return GatewayResponse(
                    status: 413, headers: [("content-type", "application/json"), ("x-amzn-ErrorType", "PayloadTooLargeException")],
                    body: Array(#"{"message":"Message too long"}"#.utf8))
            }
            let message: WebSocketMessage = String(validating: request.body, as: UTF8.self).map { .text($0) } ?? .binary(request.body)
            guard await entry.client.send(message) else { return Self.managementError(410, "GoneException") }
            webSockets.touch(connectionId, at: request.time)
            return GatewayResponse(status: 200, headers: [("content-type", "application/json")], body: [])
        case "GET":
            let body = Document.object([
                ("connectedAt", .string(Self.iso8601(entry.info.connectedAt))),
                ("identity", .object([("sourceIp", .string(entry.info.sourceIp)), ("userAgent", .string(entry.info.userAgent ?? ""))])),
                ("lastActiveAt", .string(Self.iso8601(entry.lastActiveAt))),
            ])
            return GatewayResponse(status: 200, headers: [("content-type", "application/json")], body: Array(body.json().utf8))
        case "DELETE":
            await entry.client.close(code: 1000, reason: "Connection deleted")
            return GatewayResponse(status: 204, headers: [], body: [])
        default:
            return GatewayResponse.message(405, "Method Not Allowed")
        }
    }

    static func managementError(_ status: Int, _ type: String) -> GatewayResponse {
        GatewayResponse(status: status, headers: [("content-type", "application/json"), ("x-amzn-ErrorType", type)], body: Array("{}".utf8))
    }

    static func iso8601(_ date: Date) -> String {
        CivilCalendar.iso8601(millisecondsSince1970: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }
}

extension GatewayState {
    /// The stage a connection was opened on, as it is deployed now.
    func destination(connection: WebSocketConnectionInfo) -> GatewayDestination? {
        guard let api = apis[connection.apiId], let stage = api.stages[connection.stage], let deploymentId = stage.deploymentId,
            let deployment = api.deployments[deploymentId]
        else { return nil }
        return GatewayDestination(api: api, stage: stage, deployment: deployment, rawPath: "/", routePath: "/")
    }
}
