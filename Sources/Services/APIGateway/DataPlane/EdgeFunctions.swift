import AgentProtocol
import APIGatewayShapes
import Foundation
import Lambda
import StevedoreCore

/// Edge functions, as Lambda@Edge runs them in front of CloudFront: a stage's functions for the
/// four events, named by the stage's tags `stevedore:edge:viewer-request` (and `origin-request`,
/// `origin-response`, `viewer-response`) with a function ARN. A request function may rewrite the
/// request or answer it itself; a response function may change the answer. They receive
/// CloudFront's event (`Records[0].cf.config/request/response`).
public enum EdgeEvent: String, Sendable, CaseIterable {
    case viewerRequest = "viewer-request"
    case originRequest = "origin-request"
    case originResponse = "origin-response"
    case viewerResponse = "viewer-response"


    /// Lambda@Edge's limits: viewer events 5 s, origin events 30 s.
    public var timeoutMilliseconds: Int { self == .viewerRequest || self == .viewerResponse ? 5_000 : 30_000 }

    /// The function a stage runs for this event, if its tags name one.
    public func function(of stage: V2Stage) -> String? {
        stage.tags?[tagKey].flatMap { FunctionTarget(integrationUri: $0)?.functionArn }
    }

    /// The stage tag that associates a function with the event.
    var tagKey: String {
        switch self {
        case .viewerRequest: "stevedore:edge:viewer-request"
        case .originRequest: "stevedore:edge:origin-request"
        case .originResponse: "stevedore:edge:origin-response"
        case .viewerResponse: "stevedore:edge:viewer-response"
        }
    }

    /// Whether the stage has any edge function (most have none: one look at its tags).
    static func any(on stage: V2Stage) -> Bool {
        guard let tags = stage.tags, !tags.isEmpty else { return false }
        return allCases.contains { $0.function(of: stage) != nil }
    }

    var isRequestEvent: Bool { self == .viewerRequest || self == .originRequest }
}

/// CloudFront's event and answer shapes for edge functions.
public enum EdgeShapes {
    /// `{"Records": [{"cf": {"config", "request", "response"?}}]}`.
    public static func event(
        _ type: EdgeEvent, request: GatewayRequest, uri: String, distribution: String, response: GatewayResponse? = nil
    ) -> [UInt8] {
        var cf: [(String, Document)] = [
            (
                "config",
                .object([
                    ("distributionDomainName", .string(request.header("host") ?? distribution)), ("distributionId", .string(distribution)),
                    ("eventType", .string(type.rawValue)), ("requestId", .string(request.requestId)),
                ])
            ),
            (
                "request",
                .object([
                    ("clientIp", .string(request.sourceIp)), ("headers", headers(request.headers)), ("method", .string(request.method)),
                    ("querystring", .string(request.rawQueryString)), ("uri", .string(uri)),
                ])
            ),
        ]
        if let response {
            cf.append(
                (
                    "response",
                    .object([
                        ("headers", headers(response.headers.map { (name: $0.0, value: $0.1) })), ("status", .string(String(response.status))),
                        ("statusDescription", .string(statusDescription(response.status))),
                    ])
                ))
        }
        return Array(Document.object([("Records", .array([.object([("cf", .object(cf))])]))]).json().utf8)
    }

    /// Headers as CloudFront gives them: lowercase names, each a list of `{key, value}`.
    static func headers(_ list: [(name: String, value: String)]) -> Document {
        var order: [String] = []
        var grouped: [String: [Document]] = [:]
        for (name, value) in list {
            let key = name.lowercased()
            if grouped[key] == nil { order.append(key) }
            grouped[key, default: []].append(.object([("key", .string(name)), ("value", .string(value))]))
        }
        return .object(order.map { ($0, .array(grouped[$0] ?? [])) })
    }

    static func statusDescription(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: ""
        }
    }

    /// What a request function answered: the request to go on with, or a response of its own.
    public enum RequestOutcome: Sendable, Equatable {
        case request(method: String, uri: String, querystring: String, headers: [(name: String, value: String)])
        case response(GatewayResponse)

        public static func == (lhs: RequestOutcome, rhs: RequestOutcome) -> Bool {
            switch (lhs, rhs) {
            case (.response(let a), .response(let b)): a == b
            case (.request(let m1, let u1, let q1, let h1), .request(let m2, let u2, let q2, let h2)):
                m1 == m2 && u1 == u2 && q1 == q2 && h1.map { "\($0.name)=\($0.value)" } == h2.map { "\($0.name)=\($0.value)" }
            default: false
            }
        }
    }

    /// Reads a request function's answer; nil when it is neither a request nor a response (502).
    public static func requestOutcome(_ payload: [UInt8], original: GatewayRequest) -> RequestOutcome? {
        guard let answer = Document.parseJSON(payload), case .object = answer else { return nil }
        if answer["status"] != nil { return response(answer, fallback: nil).map(RequestOutcome.response) }
        guard let uri = answer["uri"]?.string, uri.hasPrefix("/") else { return nil }
        var headers = original.headers
        if let given = answer["headers"] {
            guard let parsed = parseHeaders(given) else { return nil }
            headers = parsed
        }
        return .request(
            method: answer["method"]?.string ?? original.method, uri: uri, querystring: answer["querystring"]?.string ?? original.rawQueryString,
            headers: headers)
    }

    /// Reads a response (a request function's own answer, or a response function's change);
    /// `fallback` is the response a response function was given (its body stays unless replaced).
    public static func response(_ answer: Document, fallback: GatewayResponse?) -> GatewayResponse? {
        guard let statusText = answer["status"]?.string, let status = Int(statusText), (100...599).contains(status) else { return nil }
        var headers = fallback?.headers ?? []
        if let given = answer["headers"] {
            guard let parsed = parseHeaders(given) else { return nil }
            headers = parsed.map { ($0.name, $0.value) }
        }
        var body = fallback?.body ?? []
        if let text = answer["body"]?.string {
            if answer["bodyEncoding"]?.string == "base64" {
                guard let data = Data(base64Encoded: text) else { return nil }
                body = Array(data)
            } else {
                body = Array(text.utf8)
            }
        }
        return GatewayResponse(status: status, headers: headers, body: body)
    }

    /// `{"name": [{"key": "Name", "value": "v"}, …]}` as a header list.
    static func parseHeaders(_ document: Document) -> [(name: String, value: String)]? {
        guard case .object(let members) = document else { return nil }
        var headers: [(name: String, value: String)] = []
        for (name, values) in members {
            guard case .array(let items) = values else { return nil }
            for item in items {
                guard let value = item["value"]?.string else { return nil }
                headers.append((item["key"]?.string ?? name, value))
            }
        }
        return headers
    }
}

/// Edge functions at work in the data plane.
extension GatewayDataPlane {
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
}
