import AgentProtocol
@testable import APIGateway
import APIGatewayShapes
import Foundation
import Lambda
import StevedoreCore
import Synchronization
import Testing

/// WebSocket APIs: their control operations, route selection, mapping templates, events, and the
/// data plane's handshakes, messages and `@connections` with twins of the client and functions.
struct WebSocketTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let function = "arn:aws:lambda:us-east-1:000000000000:function:chat"

    /// A client that keeps what it is sent.
    final class Client: WebSocketClient {
        let sent = Mutex<[WebSocketMessage]>([])
        let closedWith = Mutex<UInt16?>(nil)
        func send(_ message: WebSocketMessage) async -> Bool {
            guard closedWith.withLock({ $0 }) == nil else { return false }
            sent.withLock { $0.append(message) }
            return true
        }
        func close(code: UInt16, reason: String) async { closedWith.withLock { $0 = code } }
        var texts: [String] { sent.withLock { $0.map { String(decoding: $0.bytes, as: UTF8.self) } } }
    }

    /// Functions that answer with what the test says, and keep the events they were given.
    final class Functions: FunctionRuntime {
        let answer: @Sendable ([String: Any]) -> String
        let events = Mutex<[Data]>([])
        init(answer: @escaping @Sendable ([String: Any]) -> String) { self.answer = answer }
        func invoke(_ request: InvocationRequest) async throws(AWSError) -> InvocationOutcome {
            events.withLock { $0.append(request.payload) }
            let event = (try? JSONSerialization.jsonObject(with: request.payload) as? [String: Any]) ?? [:]
            return InvocationOutcome(
                status: .success, payload: Data(answer(event).utf8), errorType: nil, log: nil, executedVersion: "$LATEST", functionName: "chat")
        }
        func check(_ reference: String, qualifier: String?) async throws(AWSError) -> InvokeTarget { throw AWSError.server("unused") }
        func enqueue(requestId: String, function: String, qualifier: String?, payload: Data) async throws(AWSError) {}
        func storeCode(_ zip: [UInt8], settings: FunctionSettings) throws(AWSError) -> CodeBundle { throw AWSError.server("unused") }
        func objectBytes(bucket: String, key: String) async throws(AWSError) -> [UInt8] { throw AWSError.server("unused") }
        func now() -> Date { Date() }
    }

    struct NoBackends: HTTPForwarding {
        func forward(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration) async
            -> ForwardingResult
        { .refused }
    }

    struct NoTargets: TargetDirectory {
        func targets(of group: String) async -> [(host: String, port: Int)] { [] }
    }

    /// A chat API: `$connect`, `$default` (answering through a route response) and `quiet`
    /// (without one) go to the function; `ping` to a MOCK whose template answers.
    func chat() throws -> (GatewayState, String) {
        var state = GatewayState(names: ResourceNames())
        var random = Xoshiro256(seed: 3)
        var changes = ChangeSet()
        let api = try state.createApi(
            V2CreateApiRequest(name: "chat", protocolType: .websocket, routeSelectionExpression: "$request.body.action"), now: now,
            using: &random, changes: &changes)
        let id = try #require(api.apiId)
        let integration = try state.createIntegration(
            id, V2CreateIntegrationRequest(integrationType: .awsProxy, integrationUri: function), now: now, using: &random, changes: &changes)
        let target = "integrations/\(integration.integrationId ?? "")"
        _ = try state.createRoute(id, V2CreateRouteRequest(routeKey: "$connect", target: target), now: now, using: &random, changes: &changes)
        let fallback = try state.createRoute(
            id, V2CreateRouteRequest(routeKey: "$default", routeResponseSelectionExpression: "$default", target: target), now: now,
            using: &random, changes: &changes)
        _ = try state.createRouteResponse(
            id, fallback.routeId ?? "", V2CreateRouteResponseRequest(routeResponseKey: "$default"), now: now, using: &random, changes: &changes)
        _ = try state.createRoute(id, V2CreateRouteRequest(routeKey: "quiet", target: target), now: now, using: &random, changes: &changes)
        let mock = try state.createIntegration(
            id, V2CreateIntegrationRequest(integrationType: .mock, requestTemplates: ["$default": #"{"statusCode": $input.path('$.code')}"#]),
            now: now, using: &random, changes: &changes)
        _ = try state.createIntegrationResponse(
            id, mock.integrationId ?? "",
            V2CreateIntegrationResponseRequest(integrationResponseKey: "/2\\d\\d/", responseTemplates: ["$default": "pong $context.routeKey"]),
            now: now, using: &random, changes: &changes)
        _ = try state.createIntegrationResponse(
            id, mock.integrationId ?? "",
            V2CreateIntegrationResponseRequest(integrationResponseKey: "$default", responseTemplates: ["$default": "failed"]), now: now,
            using: &random, changes: &changes)
        let ping = try state.createRoute(
            id, V2CreateRouteRequest(routeKey: "ping", routeResponseSelectionExpression: "$default", target: "integrations/\(mock.integrationId ?? "")"),
            now: now, using: &random, changes: &changes)
        _ = try state.createRouteResponse(
            id, ping.routeId ?? "", V2CreateRouteResponseRequest(routeResponseKey: "$default"), now: now, using: &random, changes: &changes)
        _ = try state.createStage(id, V2CreateStageRequest(autoDeploy: true, stageName: "prod"), now: now, using: &random, changes: &changes)
        _ = try state.createStage(id, V2CreateStageRequest(autoDeploy: true, stageName: "dev"), now: now, using: &random, changes: &changes)
        return (state, id)
    }

    func handshake(_ api: String, query: String = "") -> GatewayRequest {
        GatewayRequest(
            method: "GET", rawPath: "/\(api)/prod", routePath: "/\(api)/prod", rawQueryString: query,
            headers: [("Host", "127.0.0.1:8380"), ("User-Agent", "test")], body: [], sourceIp: "10.0.0.9", requestId: "h", time: now)
    }

    // MARK: Control operations

    @Test func webSocketAPIsNeedABodyRouteSelectionAndRefuseWhatOnlyHTTPAPIsHave() throws {
        var state = GatewayState(names: ResourceNames())
        var random = Xoshiro256(seed: 1)
        var changes = ChangeSet()
        func create(_ input: V2CreateApiRequest) throws(AWSError) -> V2Api {
            try state.createApi(input, now: now, using: &random, changes: &changes)
        }
        #expect(throws: AWSError.self) { try create(V2CreateApiRequest(name: "a", protocolType: .websocket)) }
        #expect(throws: AWSError.self) { try create(V2CreateApiRequest(name: "a", protocolType: .websocket, routeSelectionExpression: "action")) }
        #expect(throws: AWSError.self) {
            try create(V2CreateApiRequest(name: "a", protocolType: .websocket, routeSelectionExpression: "$request.body.action", target: function))
        }
        let api = try create(V2CreateApiRequest(name: "a", protocolType: .websocket, routeSelectionExpression: "${request.body.type}"))
        let id = try #require(api.apiId)
        #expect(api.apiEndpoint == "ws://\(id).execute-api.localhost:8380" && api.routeSelectionExpression == "${request.body.type}")
        let error = try #require(throws: AWSError.self) {
            try state.createRoute(
                id, V2CreateRouteRequest(authorizationType: .awsIam, routeKey: "send"), now: now, using: &random, changes: &changes)
        }
        #expect(error.message == "Currently, authorization is restricted to the $connect route only")
        #expect(throws: AWSError.self) {
            try state.createRoute(id, V2CreateRouteRequest(routeKey: "$other"), now: now, using: &random, changes: &changes)
        }
        #expect(throws: AWSError.self) {
            try state.createIntegration(
                id, V2CreateIntegrationRequest(integrationType: .awsProxy, integrationUri: function, payloadFormatVersion: "2.0"), now: now,
                using: &random, changes: &changes)
        }
        let http = try create(V2CreateApiRequest(name: "h", protocolType: .http))
        let route = try state.createRoute(http.apiId ?? "", V2CreateRouteRequest(routeKey: "GET /x"), now: now, using: &random, changes: &changes)
        #expect(throws: AWSError.self) {
            try state.createRouteResponse(
                http.apiId ?? "", route.routeId ?? "", V2CreateRouteResponseRequest(routeResponseKey: "$default"), now: now, using: &random,
                changes: &changes)
        }
    }

    @Test func routeAndIntegrationResponsesAreDeployedWithTheirRoutes() throws {
        let (state, id) = try chat()
        let record = try state.api(id)
        let deployment = try #require(record.deployments[record.stages["prod"]?.deploymentId ?? ""])
        let answering = Set(deployment.routes.filter { deployment.routeResponses?[$0.routeId ?? ""] != nil }.map(\.routeKey))
        #expect(answering == ["$default", "ping"])
        #expect(deployment.integrationResponses?.values.first?.map(\.integrationResponseKey) == ["$default", "/2\\d\\d/"])
        // A route's responses go with it.
        var changed = state
        var random = Xoshiro256(seed: 9)
        var changes = ChangeSet()
        let quiet = try #require(record.routes.values.first { $0.routeKey == "$default" })
        try changed.deleteRoute(id, quiet.routeId ?? "", now: now, using: &random, changes: &changes)
        #expect(try changed.api(id).routeResponses[quiet.routeId ?? ""] == nil)
    }

    // MARK: Pure pieces

    @Test func messagesSelectTheirRouteByTheExpressionElseDefault() {
        let keys: Set = ["send", "$default"]
        #expect(WebSocketRouteSelection.routeKey(expression: "$request.body.action", message: Array(#"{"action":"send"}"#.utf8), routeKeys: keys) == "send")
        #expect(WebSocketRouteSelection.routeKey(expression: "${request.body.a.b}", message: Array(#"{"a":{"b":"send"}}"#.utf8), routeKeys: keys) == "send")
        #expect(WebSocketRouteSelection.routeKey(expression: "$request.body.action", message: Array(#"{"action":"other"}"#.utf8), routeKeys: keys) == "$default")
        #expect(WebSocketRouteSelection.routeKey(expression: "$request.body.action", message: Array("plain text".utf8), routeKeys: keys) == "$default")
        #expect(WebSocketRouteSelection.routeKey(expression: "$request.body.action", message: Array(#"{"action":"x"}"#.utf8), routeKeys: ["send"]) == nil)
        #expect(WebSocketRouteSelection.routeKey(expression: "$request.body.n", message: Array(#"{"n":7}"#.utf8), routeKeys: ["7"]) == "7")
    }

    @Test func templatesReplaceContextStageAndInputVariables() {
        let body = Array(#"{"user":{"name":"ann","age":30},"tags":["a"]}"#.utf8)
        let rendered = MappingTemplates.render(
            #"{"id":"$context.connectionId","by":"${context.routeKey}","name":"$input.path('$.user.name')","user":$input.json('$.user'),"missing":$input.json('$.nope'),"v":"$stageVariables.version","cost":"$5"}"#,
            context: ["connectionId": "c1", "routeKey": "send"], stageVariables: ["version": "2"], body: body)
        #expect(rendered == #"{"id":"c1","by":"send","name":"ann","user":{"age":30,"name":"ann"},"missing":null,"v":"2","cost":"$5"}"#)
        #expect(MappingTemplates.render("$input.body", context: [:], stageVariables: [:], body: Array("raw".utf8)) == "raw")
        // Velocity's directives run (VelocityTests); a template that does not parse is refused when put.
        #expect(throws: AWSError.self) { try MappingTemplates.check(["$default": "#if($x)y"]) }
        #expect(MappingTemplates.render("#if($x)y#{else}n#end", context: [:], stageVariables: [:], body: []) == "n")
    }

    @Test func eventsCarryAPIGatewaysFieldsForEachKindOfEvent() throws {
        let connection = WebSocketConnectionInfo(
            connectionId: "c1", apiId: "api", stage: "prod", connectedAt: now, sourceIp: "10.0.0.9", userAgent: "ua",
            domainName: "api.execute-api.localhost", headers: [("Host", "h"), ("X-Multi", "1"), ("X-Multi", "2")], rawQueryString: "name=ann&name=bob")
        var connect = WebSocketEvent.Occurrence(type: .connect, routeKey: "$connect", requestId: "r1", time: now)
        connect.stageVariables = ["v": "1"]
        let connectEvent = try #require(try JSONSerialization.jsonObject(with: Data(WebSocketEvent.event(connect, connection: connection))) as? [String: Any])
        let context = try #require(connectEvent["requestContext"] as? [String: Any])
        #expect(context["eventType"] as? String == "CONNECT" && context["connectionId"] as? String == "c1" && context["messageDirection"] as? String == "IN")
        #expect(context["connectedAt"] as? Int == 1_800_000_000_000 && context["requestTime"] as? String == "15/Jan/2027:08:00:00 +0000")
        #expect((context["identity"] as? [String: String]) == ["userAgent": "ua", "sourceIp": "10.0.0.9"])
        #expect((connectEvent["multiValueHeaders"] as? [String: [String]])?["X-Multi"] == ["1", "2"])
        #expect((connectEvent["queryStringParameters"] as? [String: String]) == ["name": "bob"])
        #expect((connectEvent["multiValueQueryStringParameters"] as? [String: [String]]) == ["name": ["ann", "bob"]])
        #expect((connectEvent["stageVariables"] as? [String: String]) == ["v": "1"] && connectEvent["body"] == nil)

        var message = WebSocketEvent.Occurrence(type: .message, routeKey: "$default", requestId: "r2", time: now)
        message.message = .binary([0, 1])
        message.messageId = "m1"
        let messageEvent = try #require(try JSONSerialization.jsonObject(with: Data(WebSocketEvent.event(message, connection: connection))) as? [String: Any])
        #expect(messageEvent["headers"] == nil && messageEvent["body"] as? String == "AAE=" && messageEvent["isBase64Encoded"] as? Bool == true)
        #expect((messageEvent["requestContext"] as? [String: Any])?["messageId"] as? String == "m1")

        var disconnect = WebSocketEvent.Occurrence(type: .disconnect, routeKey: "$disconnect", requestId: "r3", time: now)
        disconnect.disconnect = (1001, "Going away")
        let disconnectEvent = try #require(
            try JSONSerialization.jsonObject(with: Data(WebSocketEvent.event(disconnect, connection: connection))) as? [String: Any])
        let disconnectContext = try #require(disconnectEvent["requestContext"] as? [String: Any])
        #expect(disconnectContext["disconnectStatusCode"] as? Int == 1001 && disconnectContext["disconnectReason"] as? String == "Going away")
        #expect(disconnectEvent["queryStringParameters"] == nil && disconnectEvent["headers"] != nil)
    }

    @Test func functionAnswersGiveAStatusAndAMessage() {
        #expect(WebSocketEvent.answer(from: Array(#"{"statusCode":403,"body":"no"}"#.utf8))?.status == 403)
        #expect(WebSocketEvent.answer(from: Array(#"{"statusCode":200,"body":"hi"}"#.utf8))?.message == .text("hi"))
        #expect(WebSocketEvent.answer(from: Array(#"{"body":"AAE=","isBase64Encoded":true}"#.utf8))?.message == .binary([0, 1]))
        #expect(WebSocketEvent.answer(from: Array(#"{"statusCode":200}"#.utf8))?.message == nil)
        #expect(WebSocketEvent.answer(from: Array(#""bare""#.utf8))?.message == .text("bare"))
        #expect(WebSocketEvent.answer(from: Array(#"{"statusCode":"x"}"#.utf8)) == nil)
        #expect(WebSocketEvent.answer(from: Array(#"{"statusCode":1e300}"#.utf8)) == nil)
        #expect(WebSocketEvent.answer(from: Array("not json".utf8)) == nil)
    }

    // MARK: Data plane

    @Test func connectDecidesTheHandshakeAndMessagesAreAnsweredByRouteResponsesOnly() async throws {
        let (state, id) = try chat()
        let functions = Functions { event in
            let context = event["requestContext"] as? [String: Any] ?? [:]
            if context["eventType"] as? String == "CONNECT" {
                return (event["queryStringParameters"] as? [String: String])?["name"] == nil ? #"{"statusCode":401,"body":"who?"}"# : "{}"
            }
            let answer = ["statusCode": 200, "body": "heard \(event["body"] as? String ?? "")"] as [String: Any]
            return String(decoding: (try? JSONSerialization.data(withJSONObject: answer)) ?? Data(), as: UTF8.self)
        }
        let gateway = GatewayDataPlane(names: ResourceNames(), functions: functions, http: NoBackends(), targets: NoTargets()) { state }
        guard case .refused(let refusal) = await gateway.openWebSocket(host: nil, path: "/\(id)/prod", request: handshake(id)) else {
            Issue.record("an anonymous handshake is refused")
            return
        }
        #expect(refusal.status == 401 && refusal.body == Array("who?".utf8))
        guard case .accepted(let info) = await gateway.openWebSocket(host: nil, path: "/\(id)/prod", request: handshake(id, query: "name=ann")) else {
            Issue.record("a named handshake is accepted")
            return
        }
        #expect(info.stage == "prod" && info.apiId == id && info.connectionId.count == 16 && info.sourceIp == "10.0.0.9")
        let client = Client()
        gateway.attach(info, client: client)
        await gateway.receive(.text(#"{"action":"quiet"}"#), connectionId: info.connectionId, requestId: "m1", time: now)
        await gateway.receive(.text("hello"), connectionId: info.connectionId, requestId: "m2", time: now)
        await gateway.receive(.text(#"{"action":"ping","code":204}"#), connectionId: info.connectionId, requestId: "m3", time: now)
        await gateway.receive(.text(#"{"action":"ping","code":500}"#), connectionId: info.connectionId, requestId: "m4", time: now)
        // quiet has no route response: the function ran (4 events: connect ×2, quiet, hello) but the client heard nothing of it.
        #expect(client.texts == ["heard hello", "pong ping", "failed"])
        let quiet = try #require(functions.events.withLock { $0.last(where: { String(decoding: $0, as: UTF8.self).contains("quiet") }) })
        #expect(String(decoding: quiet, as: UTF8.self).contains(#""routeKey":"quiet""#))
        #expect(functions.events.withLock { $0.count } == 4)
        #expect(gateway.lastActive(info.connectionId) == now)
        await gateway.detach(connectionId: info.connectionId, statusCode: 1000, reason: "bye", requestId: "d", time: now)
        #expect(gateway.lastActive(info.connectionId) == nil)
    }

    @Test func unroutableMessagesAndFailingFunctionsAreAnsweredWithAPIGatewaysErrors() async throws {
        var (state, id) = try chat()
        var random = Xoshiro256(seed: 5)
        var changes = ChangeSet()
        let fallback = try #require(try state.api(id).routes.values.first { $0.routeKey == "$default" })
        try state.deleteRoute(id, fallback.routeId ?? "", now: now, using: &random, changes: &changes)
        let frozen = state
        let gateway = GatewayDataPlane(
            names: ResourceNames(), functions: Functions { _ in "not json" }, http: NoBackends(), targets: NoTargets()
        ) { frozen }
        let info = WebSocketConnectionInfo(
            connectionId: "c1", apiId: id, stage: "prod", connectedAt: now, sourceIp: "1.1.1.1", userAgent: nil, domainName: "d", headers: [],
            rawQueryString: "")
        let client = Client()
        gateway.attach(info, client: client)
        await gateway.receive(.text("no route for this"), connectionId: "c1", requestId: "r1", time: now)
        await gateway.receive(.text(#"{"action":"quiet"}"#), connectionId: "c1", requestId: "r2", time: now)
        #expect(client.texts == [
            #"{"message":"Forbidden","connectionId":"c1","requestId":"r1"}"#,
            #"{"message":"Internal server error","connectionId":"c1","requestId":"r2"}"#,
        ])
    }

    @Test func connectionsAreReachedThroughTheirStagesManagementPath() async throws {
        let (state, id) = try chat()
        let gateway = GatewayDataPlane(names: ResourceNames(), functions: Functions { _ in "{}" }, http: NoBackends(), targets: NoTargets()) { state }
        let info = WebSocketConnectionInfo(
            connectionId: "c-1=", apiId: id, stage: "prod", connectedAt: now, sourceIp: "1.1.1.1", userAgent: "ua", domainName: "d", headers: [],
            rawQueryString: "")
        let client = Client()
        gateway.attach(info, client: client)
        func call(_ method: String, _ connection: String, body: String = "", stage: String = "prod") async -> GatewayResponse {
            let path = "/\(id)/\(stage)/@connections/\(connection)"
            return await gateway.handle(
                host: nil, path: path,
                request: GatewayRequest(
                    method: method, rawPath: path, routePath: path, rawQueryString: "", headers: [], body: Array(body.utf8), sourceIp: "1.1.1.1",
                    requestId: "r", time: now.addingTimeInterval(5)))
        }
        #expect(await call("POST", "c-1%3D", body: "pushed").status == 200)
        #expect(client.texts == ["pushed"])
        let described = await call("GET", "c-1=")
        #expect(String(decoding: described.body, as: UTF8.self)
            == #"{"connectedAt":"2027-01-15T08:00:00.000Z","identity":{"sourceIp":"1.1.1.1","userAgent":"ua"},"lastActiveAt":"2027-01-15T08:00:05.000Z"}"#)
        let gone = await call("POST", "nobody", body: "x")
        #expect(gone.status == 410 && gone.headers.contains { $0 == ("x-amzn-ErrorType", "GoneException") })
        let tooLarge = await call("POST", "c-1=", body: String(repeating: "x", count: WebSocketLimits.maximumMessage + 1))
        #expect(tooLarge.status == 413)
        // A connection is reached through its own stage only.
        #expect(await call("GET", "c-1=", stage: "dev").status == 410)
        #expect(await call("DELETE", "c-1=").status == 204)
        #expect(client.closedWith.withLock { $0 } == 1000)
        #expect(await call("GET", "", stage: "prod").status == 410)
    }

    /// Signs for one action only: the management API must ask for `execute-api:ManageConnections`.
    struct ManagerOnly: RequestSigning {
        func authorize(_ request: GatewayRequest, routeArn: String, action: String) async -> IAMVerdict {
            action == "execute-api:ManageConnections" && routeArn.hasSuffix("/prod/GET/@connections/c1") ? .allowed([:]) : .refused(.forbidden)
        }
    }

    @Test func theManagementAPIIsAuthorizedAsManageConnections() async throws {
        let (state, id) = try chat()
        let gateway = GatewayDataPlane(
            names: ResourceNames(), functions: Functions { _ in "{}" }, http: NoBackends(), targets: NoTargets(), signing: ManagerOnly()
        ) { state }
        gateway.attach(
            WebSocketConnectionInfo(
                connectionId: "c1", apiId: id, stage: "prod", connectedAt: now, sourceIp: "1.1.1.1", userAgent: nil, domainName: "d", headers: [],
                rawQueryString: ""), client: Client())
        let path = "/\(id)/prod/@connections/c1"
        let response = await gateway.handle(
            host: nil, path: path,
            request: GatewayRequest(method: "GET", rawPath: path, routePath: path, rawQueryString: "", headers: [], body: [], sourceIp: "1.1.1.1", requestId: "r", time: now))
        #expect(response.status == 200)
    }

    @Test func aConnectAuthorizerLetsInByPolicyAndItsContextReachesEveryRoute() async throws {
        var (state, id) = try chat()
        var random = Xoshiro256(seed: 11)
        var changes = ChangeSet()
        #expect(throws: AWSError.self) {
            try state.createAuthorizer(
                id, V2CreateAuthorizerRequest(authorizerType: .request, authorizerUri: function, identitySource: ["$request.header.Auth"], name: "a"),
                now: now, using: &random, changes: &changes)
        }
        let authorizer = try state.createAuthorizer(
            id, V2CreateAuthorizerRequest(
                authorizerResultTtlInSeconds: 300, authorizerType: .request, authorizerUri: function, identitySource: ["route.request.header.Auth"],
                name: "gate"), now: now, using: &random, changes: &changes)
        let connect = try #require(try state.api(id).routes.values.first { $0.routeKey == "$connect" })
        _ = try state.updateRoute(
            id, connect.routeId ?? "", V2UpdateRouteRequest(authorizationType: .custom, authorizerId: authorizer.authorizerId), now: now,
            using: &random, changes: &changes)
        let frozen = state
        let functions = Functions { event in
            if event["type"] as? String == "REQUEST" {
                let allowed = (event["headers"] as? [String: String])?["Auth"] == "letmein"
                let arn = event["methodArn"] as? String ?? ""
                return #"{"principalId":"ann","context":{"team":"blue","level":3},"policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"\#(allowed ? "Allow" : "Deny")","Resource":"\#(arn)"}]}}"#
            }
            let context = event["requestContext"] as? [String: Any] ?? [:]
            let authorizer = context["authorizer"] as? [String: String] ?? [:]
            return #"{"statusCode":200,"body":"\#(authorizer["principalId"] ?? "")/\#(authorizer["team"] ?? "")/\#(authorizer["level"] ?? "")"}"#
        }
        let gateway = GatewayDataPlane(names: ResourceNames(), functions: functions, http: NoBackends(), targets: NoTargets()) { frozen }
        var request = handshake(id, query: "name=ann")
        guard case .refused(let missing) = await gateway.openWebSocket(host: nil, path: "/\(id)/prod", request: request) else {
            Issue.record("no identity, no connection")
            return
        }
        #expect(missing.status == 401 && functions.events.withLock { $0.isEmpty })
        request.headers.append(("Auth", "wrong"))
        guard case .refused(let denied) = await gateway.openWebSocket(host: nil, path: "/\(id)/prod", request: request) else {
            Issue.record("a denying policy refuses")
            return
        }
        #expect(denied.status == 403)
        request.headers[request.headers.count - 1].value = "letmein"
        guard case .accepted(let info) = await gateway.openWebSocket(host: nil, path: "/\(id)/prod", request: request) else {
            Issue.record("an allowing policy lets in")
            return
        }
        let authorizerEvent = try #require(functions.events.withLock { $0.first { String(decoding: $0, as: UTF8.self).contains("letmein") } })
        #expect(String(decoding: authorizerEvent, as: UTF8.self).hasPrefix(#"{"type":"REQUEST","methodArn":"arn:aws:execute-api:us-east-1:000000000000:\#(id)/prod/$connect""#))
        let client = Client()
        gateway.attach(info, client: client)
        await gateway.receive(.text("hi"), connectionId: info.connectionId, requestId: "m", time: now)
        #expect(client.texts == ["ann/blue/3"])
        // The allowing answer is cached for its TTL: the next handshake with the same identity asks no function.
        let asked = functions.events.withLock { $0.count }
        _ = await gateway.openWebSocket(host: nil, path: "/\(id)/prod", request: request)
        #expect(functions.events.withLock { $0.count } == asked + 1)
    }
}
