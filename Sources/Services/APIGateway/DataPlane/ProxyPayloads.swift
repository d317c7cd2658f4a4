import Foundation
import StevedoreCore

/// A request as the gateway received it, after the API and stage were told from its host and path.
public struct GatewayRequest: Sendable {
    public var method: String
    /// The path as sent, less the path-form prefix (`/{api-id}`); it still holds the stage.
    public var rawPath: String
    /// The path routes are matched against: `rawPath` without the stage.
    public var routePath: String
    public var rawQueryString: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var sourceIp: String
    public var httpProtocol = "HTTP/1.1"
    public var requestId: String
    public var time: Date
    /// The path and query as they arrived (a signature covers them, before any prefix is taken off).
    public var receivedPath: String

    public init(
        method: String, rawPath: String, routePath: String, rawQueryString: String, headers: [(name: String, value: String)], body: [UInt8],
        sourceIp: String, requestId: String, time: Date
    ) {
        self.method = method
        self.rawPath = rawPath
        self.routePath = routePath
        self.rawQueryString = rawQueryString
        self.headers = headers
        self.body = body
        self.sourceIp = sourceIp
        self.requestId = requestId
        self.time = time
        receivedPath = rawPath
    }

    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }

    /// Query parameters in order, percent-decoded (`+` is a space).
    var queryItems: [(name: String, value: String)] { Self.queryItems(of: rawQueryString) }

    static func queryItems(of rawQueryString: String) -> [(name: String, value: String)] {
        rawQueryString.split(separator: "&").map { item in
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(pair[0]), pair.count > 1 ? decode(pair[1]) : "")
        }
    }

    /// The body as the event carries it: text as is, anything else base64 (`isBase64Encoded`).
    var eventBody: (text: String?, isBase64Encoded: Bool) {
        guard !body.isEmpty else { return (nil, false) }
        if Self.isText(contentType: header("content-type")), let text = String(validating: body, as: UTF8.self) {
            return (text, false)
        }
        return (Data(body).base64EncodedString(), true)
    }

    static func isText(contentType: String?) -> Bool {
        guard let type = contentType?.lowercased() else { return true }
        return type.hasPrefix("text/") || type.contains("json") || type.contains("xml") || type.contains("javascript")
            || type.hasPrefix("application/x-www-form-urlencoded") || type.contains("yaml") || type.contains("graphql")
    }
}

/// What the event says about the route, API and stage that took a request.
public struct ProxyContext: Sendable {
    public var accountId: String
    public var apiId: String
    public var stage: String
    public var routeKey: String
    public var pathParameters: [String: String]
    public var stageVariables: [String: String]
    /// What the route's authorizer passes on (`requestContext.authorizer`), per payload format.
    public var authorizer: AuthorizerContext?

    public init(accountId: String, apiId: String, stage: String, routeKey: String, pathParameters: [String: String], stageVariables: [String: String]) {
        self.accountId = accountId
        self.apiId = apiId
        self.stage = stage
        self.routeKey = routeKey
        self.pathParameters = pathParameters
        self.stageVariables = stageVariables
    }
}

/// What an authorizer found out about the caller, as integrations' events carry it.
public enum AuthorizerContext: Sendable, Equatable {
    case jwt(claims: [String: String], scopes: [String]?)
    case lambda([String: JSONValue])
    /// AWS_IAM: who signed the request.
    case iam([String: JSONValue])

    /// Format 2.0: `{"jwt": {"claims", "scopes"}}` or `{"lambda": {…}}`.
    var v2: JSONValue {
        switch self {
        case .jwt(let claims, let scopes):
            .object(["jwt": .object(["claims": .object(claims.mapValues(JSONValue.string)), "scopes": scopes.map { .array($0.map(JSONValue.string)) } ?? .null])])
        case .lambda(let context): .object(["lambda": .object(context)])
        case .iam(let caller): .object(["iam": .object(caller)])
        }
    }

    /// Format 1.0: `{"claims", "scopes"}` or the context itself.
    var v1: JSONValue {
        switch self {
        case .jwt(let claims, let scopes):
            .object(["claims": .object(claims.mapValues(JSONValue.string)), "scopes": scopes.map { .array($0.map(JSONValue.string)) } ?? .null])
        case .lambda(let context): .object(context)
        case .iam(let caller): .object(["iam": .object(caller)])
        }
    }
}

/// The Lambda proxy integration's events (payload formats 1.0 and 2.0) and how a function's
/// answer becomes the HTTP response, field for field as HTTP APIs do it.
public enum ProxyPayload {
    public enum Format: String, Sendable {
        case v1 = "1.0"
        case v2 = "2.0"
    }

    // MARK: Events

    public static func event(_ request: GatewayRequest, context: ProxyContext, format: Format) -> [UInt8] {
        switch format {
        case .v2: AWSJSONEncoding.encode(eventV2(request, context: context))
        case .v1: AWSJSONEncoding.encode(eventV1(request, context: context))
        }
    }

    static func domainName(_ request: GatewayRequest, apiId: String) -> String {
        request.header("host") ?? GatewayEndpoint.host(of: apiId)
    }

    /// `04/Mar/2020:19:15:17 +0000`, the requests' time in the common log format.
    static func commonLogTime(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let (year, month, day) = CivilCalendar.date(days: Int(seconds.quotientAndRemainder(dividingBy: 86_400).quotient))
        let secondOfDay = Int(((seconds % 86_400) + 86_400) % 86_400)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(two(day))/\(months[month - 1])/\(year):\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) +0000"
    }

    /// The headers API Gateway adds to what it passes on: where the request came from.
    static func forwardingHeaders(_ request: GatewayRequest) -> [(name: String, value: String)] {
        let port = request.header("host").flatMap { host in host.split(separator: ":").count == 2 ? host.split(separator: ":").last.map(String.init) : nil }
        var added: [(String, String)] = []
        added.append(("X-Forwarded-For", request.header("x-forwarded-for").map { "\($0), \(request.sourceIp)" } ?? request.sourceIp))
        if request.header("x-forwarded-port") == nil { added.append(("X-Forwarded-Port", port ?? "80")) }
        if request.header("x-forwarded-proto") == nil { added.append(("X-Forwarded-Proto", "http")) }
        return request.headers.filter { $0.name.lowercased() != "x-forwarded-for" } + added
    }

    static func eventV2(_ request: GatewayRequest, context: ProxyContext) -> EventV2 {
        var headers: [String: String] = [:]
        var cookies: [String] = []
        for (name, value) in forwardingHeaders(request) {
            let lowered = name.lowercased()
            if lowered == "cookie" {
                cookies += value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                continue
            }
            headers[lowered] = headers[lowered].map { "\($0),\(value)" } ?? value
        }
        var query: [String: String] = [:]
        for (name, value) in request.queryItems {
            query[name] = query[name].map { "\($0),\(value)" } ?? value
        }
        let body = request.eventBody
        let domain = domainName(request, apiId: context.apiId)
        return EventV2(
            routeKey: context.routeKey, rawPath: request.rawPath, rawQueryString: request.rawQueryString, cookies: cookies.isEmpty ? nil : cookies,
            headers: headers, queryStringParameters: query.isEmpty ? nil : query,
            requestContext: .init(
                accountId: context.accountId, apiId: context.apiId, domainName: domain,
                domainPrefix: String(domain.split(separator: ".").first ?? ""),
                http: .init(
                    method: request.method, path: request.rawPath, protocol: request.httpProtocol, sourceIp: request.sourceIp,
                    userAgent: request.header("user-agent") ?? ""),
                requestId: request.requestId, routeKey: context.routeKey, stage: context.stage, time: commonLogTime(request.time),
                timeEpoch: Int64((request.time.timeIntervalSince1970 * 1000).rounded(.down)), authorizer: context.authorizer?.v2),
            body: body.text, pathParameters: context.pathParameters.isEmpty ? nil : context.pathParameters,
            isBase64Encoded: body.isBase64Encoded, stageVariables: context.stageVariables.isEmpty ? nil : context.stageVariables)
    }

    static func eventV1(_ request: GatewayRequest, context: ProxyContext) -> EventV1 {
        var headers: [String: String] = [:]
        var multiHeaders: [String: [String]] = [:]
        for (name, value) in forwardingHeaders(request) {
            headers[name] = value
            multiHeaders[name, default: []].append(value)
        }
        var query: [String: String] = [:]
        var multiQuery: [String: [String]] = [:]
        for (name, value) in request.queryItems {
            query[name] = value
            multiQuery[name, default: []].append(value)
        }
        let body = request.eventBody
        let domain = domainName(request, apiId: context.apiId)
        let resource = context.routeKey.split(separator: " ", maxSplits: 1).dropFirst().first.map(String.init) ?? context.routeKey
        return EventV1(
            resource: resource, path: request.rawPath, httpMethod: request.method, headers: headers.isEmpty ? nil : headers,
            multiValueHeaders: multiHeaders.isEmpty ? nil : multiHeaders, queryStringParameters: query.isEmpty ? nil : query,
            multiValueQueryStringParameters: multiQuery.isEmpty ? nil : multiQuery,
            requestContext: .init(
                accountId: context.accountId, apiId: context.apiId, domainName: domain,
                domainPrefix: String(domain.split(separator: ".").first ?? ""), extendedRequestId: request.requestId,
                httpMethod: request.method, identity: .init(sourceIp: request.sourceIp, userAgent: request.header("user-agent")),
                path: request.rawPath, protocol: request.httpProtocol, requestId: request.requestId, requestTime: commonLogTime(request.time),
                requestTimeEpoch: Int64((request.time.timeIntervalSince1970 * 1000).rounded(.down)), resourceId: context.routeKey,
                resourcePath: resource, stage: context.stage, authorizer: context.authorizer?.v1),
            pathParameters: context.pathParameters.isEmpty ? nil : context.pathParameters,
            stageVariables: context.stageVariables.isEmpty ? nil : context.stageVariables, body: body.text, isBase64Encoded: body.isBase64Encoded)
    }

    // MARK: Responses

    /// The HTTP answer for a function's result, or nil when the result is malformed (the gateway
    /// then answers 500 Internal Server Error).
    public static func response(from payload: [UInt8], format: Format) -> GatewayResponse? {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)) else { return nil }
        guard case .object(let fields) = value, fields["statusCode"] != nil else {
            // Format 2.0 takes any JSON without a statusCode as the body of a 200.
            guard format == .v2 else { return nil }
            return GatewayResponse(status: 200, headers: [("content-type", "application/json")], body: payload)
        }
        guard case .number(let code) = fields["statusCode"], code == code.rounded(), (100...599).contains(code) else { return nil }
        var headers: [(String, String)] = []
        if let value = fields["headers"], value != .null {
            guard case .object(let single) = value else { return nil }
            for (name, value) in single.sorted(by: { $0.key < $1.key }) {
                guard let text = value.headerText else { return nil }
                headers.append((name, text))
            }
        }
        if let value = fields["multiValueHeaders"], value != .null {
            guard case .object(let multi) = value else { return nil }
            for (name, values) in multi.sorted(by: { $0.key < $1.key }) {
                guard case .array(let list) = values else { return nil }
                // Multi-value headers win over single ones of the same name.
                headers.removeAll { $0.0.lowercased() == name.lowercased() }
                for value in list {
                    guard let text = value.headerText else { return nil }
                    headers.append((name, text))
                }
            }
        }
        if format == .v2, let value = fields["cookies"], value != .null {
            guard case .array(let cookies) = value else { return nil }
            for cookie in cookies {
                guard case .string(let text) = cookie else { return nil }
                headers.append(("set-cookie", text))
            }
        }
        var body: [UInt8] = []
        if let value = fields["body"], value != .null {
            guard case .string(let text) = value else { return nil }
            if case .bool(true) = fields["isBase64Encoded"] {
                guard let data = Data(base64Encoded: text) else { return nil }
                body = Array(data)
            } else {
                body = Array(text.utf8)
            }
        }
        if format == .v2, !body.isEmpty, !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
            headers.append(("content-type", "text/plain; charset=utf-8"))
        }
        return GatewayResponse(status: Int(code), headers: headers, body: body)
    }

    // MARK: Shapes

    struct EventV2: Encodable {
        var version = "2.0"
        /// Set for REQUEST authorizers' events.
        var type: String?
        var routeArn: String?
        var identitySource: [String]?
        var routeKey: String
        var rawPath: String
        var rawQueryString: String
        var cookies: [String]?
        var headers: [String: String]
        var queryStringParameters: [String: String]?
        var requestContext: Context
        var body: String?
        var pathParameters: [String: String]?
        var isBase64Encoded: Bool
        var stageVariables: [String: String]?

        struct Context: Encodable {
            var accountId: String
            var apiId: String
            var domainName: String
            var domainPrefix: String
            var http: HTTP
            var requestId: String
            var routeKey: String
            var stage: String
            var time: String
            var timeEpoch: Int64
            var authorizer: JSONValue?
        }

        struct HTTP: Encodable {
            var method: String
            var path: String
            var `protocol`: String
            var sourceIp: String
            var userAgent: String
        }
    }

    /// Format 1.0 writes absent collections as `null`, as API Gateway does.
    struct EventV1: Encodable {
        /// REST APIs' events have no version.
        var version: String? = "1.0"
        /// Set for REQUEST authorizers' events.
        var type: String?
        var methodArn: String?
        var identitySource: String?
        var resource: String
        var path: String
        var httpMethod: String
        var headers: [String: String]?
        var multiValueHeaders: [String: [String]]?
        var queryStringParameters: [String: String]?
        var multiValueQueryStringParameters: [String: [String]]?
        var requestContext: Context
        var pathParameters: [String: String]?
        var stageVariables: [String: String]?
        var body: String?
        var isBase64Encoded: Bool

        enum CodingKeys: String, CodingKey {
            case version, type, methodArn, identitySource, resource, path, httpMethod, headers, multiValueHeaders, queryStringParameters, multiValueQueryStringParameters
            case requestContext, pathParameters, stageVariables, body, isBase64Encoded
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(version, forKey: .version)
            try container.encodeIfPresent(type, forKey: .type)
            try container.encodeIfPresent(methodArn, forKey: .methodArn)
            try container.encodeIfPresent(identitySource, forKey: .identitySource)
            try container.encode(resource, forKey: .resource)
            try container.encode(path, forKey: .path)
            try container.encode(httpMethod, forKey: .httpMethod)
            try container.encode(headers, forKey: .headers)
            try container.encode(multiValueHeaders, forKey: .multiValueHeaders)
            try container.encode(queryStringParameters, forKey: .queryStringParameters)
            try container.encode(multiValueQueryStringParameters, forKey: .multiValueQueryStringParameters)
            try container.encode(requestContext, forKey: .requestContext)
            try container.encode(pathParameters, forKey: .pathParameters)
            try container.encode(stageVariables, forKey: .stageVariables)
            try container.encode(body, forKey: .body)
            try container.encode(isBase64Encoded, forKey: .isBase64Encoded)
        }

        struct Context: Encodable {
            var accountId: String
            var apiId: String
            var domainName: String
            var domainPrefix: String
            var extendedRequestId: String
            var httpMethod: String
            var identity: Identity
            var path: String
            var `protocol`: String
            var requestId: String
            var requestTime: String
            var requestTimeEpoch: Int64
            var resourceId: String
            var resourcePath: String
            var stage: String
            var authorizer: JSONValue?
        }

        struct Identity: Encodable {
            var sourceIp: String
            var userAgent: String?
            /// REST APIs: the caller's API key and its id, when the method requires one.
            var apiKey: String?
            var apiKeyId: String?

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encodeIfPresent(apiKey, forKey: .apiKey)
                try container.encodeIfPresent(apiKeyId, forKey: .apiKeyId)
                try container.encode(sourceIp, forKey: .sourceIp)
                try container.encode(userAgent, forKey: .userAgent)
            }

            enum CodingKeys: String, CodingKey { case apiKey, apiKeyId, sourceIp, userAgent }
        }
    }
}

/// The gateway's answer to one request.
public struct GatewayResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func == (lhs: GatewayResponse, rhs: GatewayResponse) -> Bool {
        lhs.status == rhs.status && lhs.body == rhs.body && lhs.headers.map { "\($0.0): \($0.1)" } == rhs.headers.map { "\($0.0): \($0.1)" }
    }

    /// One of the gateway's own answers: `{"message":"…"}` with its status.
    public static func message(_ status: Int, _ message: String) -> GatewayResponse {
        // Through the document writer: a message may hold quotes or backslashes.
        GatewayResponse(status: status, headers: [("content-type", "application/json")], body: Array(Document.object([("message", .string(message))]).json().utf8))
    }

    public static let notFound = message(404, "Not Found")
    public static let forbidden = message(403, "Forbidden")
    public static let internalServerError = message(500, "Internal Server Error")
    public static let serviceUnavailable = message(503, "Service Unavailable")
    public static let requestTooLarge = message(413, "Request Entity Too Large")
    public static let badGateway = message(502, "Bad Gateway")
    public static let gatewayTimeout = message(504, "Endpoint request timed out")
    public static let tooManyRequests = message(429, "Too Many Requests")
    public static let unauthorized = message(401, "Unauthorized")
}

extension JSONValue {
    /// A header value a function gave: text, or a number or boolean written as text.
    var headerText: String? {
        switch self {
        case .string(let text): text
        case .number(let number): number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .bool(let flag): flag ? "true" : "false"
        default: nil
        }
    }
}

/// Events are written as outputs are: members in declaration order, nil left out (format 1.0
/// writes its nulls itself).
enum AWSJSONEncoding {
    static func encode<Value: Encodable>(_ value: Value) -> [UInt8] {
        (try? StreamingJSONEncoder.encode(value)) ?? Array("{}".utf8)
    }
}
