import Foundation
import StevedoreCore

/// A message on a WebSocket connection, either way.
public enum WebSocketMessage: Sendable, Equatable {
    case text(String)
    case binary([UInt8])

    public var bytes: [UInt8] {
        switch self {
        case .text(let text): Array(text.utf8)
        case .binary(let bytes): bytes
        }
    }
}

/// A WebSocket API's route selection: the route key a message's body names by the API's
/// `routeSelectionExpression` (`$request.body.action`), else `$default`.
public enum WebSocketRouteSelection {
    /// The member path the expression names (`$request.body.a.b` or `${request.body.a.b}`), or nil.
    static func path(_ expression: String) -> [String]? {
        var text = Substring(expression)
        if text.hasPrefix("${"), text.hasSuffix("}") { text = "$" + text.dropFirst(2).dropLast() }
        guard text.hasPrefix("$request.body.") else { return nil }
        let path = text.dropFirst("$request.body.".count).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !path.isEmpty, path.allSatisfy({ !$0.isEmpty && !$0.contains(" ") }) else { return nil }
        return path
    }

    static func check(_ expression: String) throws(AWSError) {
        guard path(expression) != nil else {
            throw .gatewayBadRequest("Invalid route selection expression \(expression): use $request.body.NAME, such as $request.body.action")
        }
    }

    /// The route for a message: the key its body names when a route has it, else `$default` when
    /// there is one, else nil (API Gateway answers the client `Forbidden`).
    public static func routeKey(expression: String, message: [UInt8], routeKeys: Set<String>) -> String? {
        if let path = path(expression), let value = JSONPath.value(at: path, in: message)?.selectionText, routeKeys.contains(value) {
            return value
        }
        return routeKeys.contains(WebSocketRouteKey.default) ? WebSocketRouteKey.default : nil
    }
}

/// Values in a JSON message by member path.
enum JSONPath {
    static func value(at path: [String], in message: [UInt8]) -> JSONValue? {
        guard var value = try? JSONDecoder().decode(JSONValue.self, from: Data(message)) else { return nil }
        for member in path {
            guard case .object(let members) = value, let next = members[member] else { return nil }
            value = next
        }
        return value
    }

    enum Step: Equatable {
        case member(String)
        case index(Int)
    }

    /// `$.a.b[0]['c d']` (or `$` for the whole document) as steps; nil for another expression.
    static func steps(_ expression: String) -> [Step]? {
        var text = Substring(expression.trimmingWhitespace)
        guard text.hasPrefix("$") else { return nil }
        text = text.dropFirst()
        var steps: [Step] = []
        while let first = text.first {
            if first == "." {
                text = text.dropFirst()
                let name = text.prefix { $0 != "." && $0 != "[" }
                guard !name.isEmpty else { return nil }
                steps.append(.member(String(name)))
                text = text.dropFirst(name.count)
            } else if first == "[" {
                guard let close = text.firstIndex(of: "]") else { return nil }
                let inside = text[text.index(after: text.startIndex)..<close]
                if let index = Int(inside) {
                    steps.append(.index(index))
                } else if inside.count >= 2, inside.first == "'" || inside.first == "\"", inside.last == inside.first {
                    steps.append(.member(String(inside.dropFirst().dropLast())))
                } else {
                    return nil
                }
                text = text[text.index(after: close)...]
            } else {
                return nil
            }
        }
        return steps
    }

    static func value(at steps: [Step], in document: JSONValue) -> JSONValue? {
        var value = document
        for step in steps {
            switch (step, value) {
            case (.member(let name), .object(let members)):
                guard let next = members[name] else { return nil }
                value = next
            case (.index(let index), .array(let items)):
                guard items.indices.contains(index) else { return nil }
                value = items[index]
            default: return nil
            }
        }
        return value
    }

    /// `$.a.b` (or `$` for the whole document) as a member path.
    static func members(_ expression: String) -> [String]? {
        guard expression.hasPrefix("$") else { return nil }
        let rest = expression.dropFirst()
        if rest.isEmpty { return [] }
        guard rest.hasPrefix(".") else { return nil }
        return rest.dropFirst().split(separator: ".").map(String.init)
    }
}

extension JSONValue {
    /// A selected value as text: strings as they are, numbers and booleans as JSON writes them.
    var selectionText: String? {
        switch self {
        case .string(let text): text
        case .number(let number): number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .bool(let flag): flag ? "true" : "false"
        default: nil
        }
    }

    /// Compact JSON text of the value (members by name, so the same value reads the same).
    var jsonText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "null"
    }
}

/// Mapping templates of WebSocket and REST integrations (MOCK's, and integration responses'):
/// Velocity templates (see ``Velocity``) over API Gateway's variables: `$context`,
/// `$stageVariables`, `$input` (`body`, `json('$.path')`, `path('$.path')`, `params()`,
/// `params('name')`) and `$util` (`escapeJavaScript`, `parseJson`, `urlEncode`, `urlDecode`,
/// `base64Encode`, `base64Decode`).
public enum MappingTemplates {
    /// A template's size limit: a WebSocket frame's (32 KB).
    static let maximumSize = 32 << 10

    /// Refuses a template too large or not valid Velocity (macros, includes and `#evaluate` are not run).
    static func check(_ templates: [String: String]?) throws(AWSError) {
        for (key, template) in templates ?? [:] {
            guard template.utf8.count <= maximumSize else { throw .gatewayBadRequest("Template \(key) is larger than 32 KB.") }
            do throws(Velocity.Failure) {
                _ = try Velocity.Template(template)
            } catch {
                throw .gatewayBadRequest("Invalid mapping expression specified: Validation Result: warnings : [], errors : [Template \(key): \(error.message)]")
            }
        }
    }

    /// The template a selection value picks (`$default` when none matches, or the only one).
    static func select(_ templates: [String: String]?, expression: String?, message: [UInt8]) -> String? {
        guard let templates, !templates.isEmpty else { return nil }
        if let expression, let path = WebSocketRouteSelection.path(expression),
            let key = JSONPath.value(at: path, in: message)?.selectionText, let template = templates[key]
        {
            return template
        }
        if let expression, let template = templates[expression.replacingOccurrences(of: "\\", with: "")] { return template }
        return templates["$default"] ?? (templates.count == 1 ? templates.first?.value : nil)
    }

    /// The request's parameters as `$input.params()` gives them.
    public struct Parameters: Sendable {
        public var path: [String: String] = [:]
        public var querystring: [String: String] = [:]
        public var header: [(name: String, value: String)] = []

        public init(path: [String: String] = [:], querystring: [String: String] = [:], header: [(name: String, value: String)] = []) {
            self.path = path
            self.querystring = querystring
            self.header = header
        }
    }

    /// The template rendered.
    public static func render(
        _ template: String, context: [String: String], stageVariables: [String: String], body: [UInt8], parameters: Parameters = Parameters()
    ) -> String {
        // Templates were checked when they were put; one that no longer parses renders as text.
        // (Parsed per render: a few microseconds for a template. A cache of parsed trees kept for
        // the process's life shows up as leaked to the fuzzers' leak checker, which cannot follow
        // the tagged pointers of Swift's enums.)
        guard let parsed = try? Velocity.Template(template) else { return template }
        let variables: [String: Velocity.Value] = [
            "context": .map(context.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }),
            "stageVariables": .map(stageVariables.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }),
        ]
        return parsed.render(variables: variables, host: TemplateHost(body: body, parameters: parameters))
    }

    /// `$input` and `$util`; the body is decoded once, the first time a template asks for it.
    final class TemplateHost: Velocity.Host {
        let body: [UInt8]
        let parameters: Parameters
        private var decoded: JSONValue??

        init(body: [UInt8], parameters: Parameters) {
            self.body = body
            self.parameters = parameters
        }

        var document: JSONValue? {
            if let decoded { return decoded }
            let value = try? JSONDecoder().decode(JSONValue.self, from: Data(body))
            decoded = .some(value)
            return value
        }

        func call(_ object: String, _ method: String, _ arguments: [Velocity.Value]) -> Velocity.Value? {
            let first = arguments.first?.text
            switch (object, method) {
            case ("input", "body"): return .string(String(decoding: body, as: UTF8.self))
            case ("input", "json"):
                guard let first, let steps = JSONPath.steps(first), let document else { return .string("null") }
                return .string(JSONPath.value(at: steps, in: document)?.jsonText ?? "null")
            case ("input", "path"):
                guard let first, let steps = JSONPath.steps(first), let document else { return nil }
                return JSONPath.value(at: steps, in: document).map(Velocity.Value.init)
            case ("input", "params"):
                let header = parameters.header.map { ($0.name, Velocity.Value.string($0.value)) }
                guard let name = first else {
                    return .map([
                        ("path", .map(parameters.path.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
                        ("querystring", .map(parameters.querystring.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
                        ("header", .map(header)),
                    ])
                }
                // A path parameter, then a query string parameter, then a header, as API Gateway looks.
                if let value = parameters.path[name] ?? parameters.querystring[name] { return .string(value) }
                if let value = parameters.header.first(where: { $0.name.lowercased() == name.lowercased() })?.value { return .string(value) }
                return .string("")
            case ("util", "escapeJavaScript"):
                return first.map { .string(Self.escapeJavaScript($0)) }
            case ("util", "parseJson"):
                guard let first, let value = try? JSONDecoder().decode(JSONValue.self, from: Data(first.utf8)) else { return nil }
                return Velocity.Value(value)
            case ("util", "urlEncode"):
                return first.map { .string(Self.formEncode($0)) }
            case ("util", "urlDecode"):
                return first.map { .string(PercentEncoding.decode(Substring($0.replacingOccurrences(of: "+", with: " ")))) }
            case ("util", "base64Encode"):
                return first.map { .string(Data($0.utf8).base64EncodedString()) }
            case ("util", "base64Decode"):
                return first.flatMap { Data(base64Encoded: $0) }.map { .string(String(decoding: $0, as: UTF8.self)) }
            default: return nil
            }
        }

        /// Java's `URLEncoder`: letters, digits and `.-*_` kept, a space as `+`, the rest
        /// percent-encoded UTF-8 in upper case.
        static func formEncode(_ text: String) -> String {
            var out = ""
            let digits = Array("0123456789ABCDEF")
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                    UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "*"), UInt8(ascii: "_"):
                    out.unicodeScalars.append(Unicode.Scalar(byte))
                case UInt8(ascii: " "): out += "+"
                default:
                    out += "%"
                    out.append(digits[Int(byte >> 4)])
                    out.append(digits[Int(byte & 0x0f)])
                }
            }
            return out
        }

        /// JavaScript string escapes, as commons-lang's `escapeJavaScript` (behind
        /// `$util.escapeJavaScript`) writes them: quotes (`'` too), backslashes, `/`, the short
        /// control escapes, and every other character outside printable ASCII as `\uXXXX` (UTF-16).
        static func escapeJavaScript(_ text: String) -> String {
            var out = ""
            for unit in text.utf16 {
                let scalar = Unicode.Scalar(unit)
                guard let scalar, unit <= 0x7f else {
                    let hex = String(unit, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    continue
                }
                switch scalar {
                case "\u{08}": out += "\\b"
                case "\u{0C}": out += "\\f"
                case "\"": out += "\\\""
                case "'": out += "\\'"
                case "\\": out += "\\\\"
                case "/": out += "\\/"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out
        }
    }
}

extension Substring {
    fileprivate func trimmingSuffix(_ suffix: String) -> Substring {
        var text = self
        while text.hasSuffix(suffix) { text = text.dropLast(suffix.count) }
        return text
    }
}

/// A WebSocket connection as its events and `@connections` describe it.
public struct WebSocketConnectionInfo: Sendable {
    public var connectionId: String
    public var apiId: String
    public var stage: String
    public var connectedAt: Date
    public var sourceIp: String
    public var userAgent: String?
    public var domainName: String
    /// The handshake's headers and query string (`$connect`'s and `$disconnect`'s events carry them).
    public var headers: [(name: String, value: String)]
    public var rawQueryString: String
    /// What the `$connect` route's authorizer passed on (its principal and context), given to
    /// every route of the connection as `requestContext.authorizer`.
    public var authorizer: Document?

    public init(
        connectionId: String, apiId: String, stage: String, connectedAt: Date, sourceIp: String, userAgent: String?, domainName: String,
        headers: [(name: String, value: String)], rawQueryString: String
    ) {
        self.connectionId = connectionId
        self.apiId = apiId
        self.stage = stage
        self.connectedAt = connectedAt
        self.sourceIp = sourceIp
        self.userAgent = userAgent
        self.domainName = domainName
        self.headers = headers
        self.rawQueryString = rawQueryString
    }

    static func milliseconds(_ date: Date) -> Int { Int((date.timeIntervalSince1970 * 1000).rounded(.down)) }
}

/// What happened on a connection, as the event's `requestContext.eventType` names it.
public enum WebSocketEventType: String, Sendable {
    case connect = "CONNECT"
    case message = "MESSAGE"
    case disconnect = "DISCONNECT"
}

/// The Lambda proxy event of a WebSocket route, field for field as API Gateway sends it.
public enum WebSocketEvent {
    public struct Occurrence: Sendable {
        public var type: WebSocketEventType
        public var routeKey: String
        public var requestId: String
        public var time: Date
        public var message: WebSocketMessage?
        public var messageId: String?
        public var disconnect: (statusCode: Int, reason: String)?
        public var stageVariables: [String: String] = [:]

        public init(type: WebSocketEventType, routeKey: String, requestId: String, time: Date) {
            self.type = type
            self.routeKey = routeKey
            self.requestId = requestId
            self.time = time
        }
    }

    public static func event(_ occurrence: Occurrence, connection: WebSocketConnectionInfo) -> [UInt8] {
        Array(Document.object(members(occurrence, connection: connection)).json().utf8)
    }

    /// A `$connect` REQUEST authorizer's event: the connect event with its `type` and `methodArn`.
    public static func authorizerEvent(_ occurrence: Occurrence, connection: WebSocketConnectionInfo, methodArn: String) -> [UInt8] {
        let members = [("type", Document.string("REQUEST")), ("methodArn", .string(methodArn))] + members(occurrence, connection: connection)
        return Array(Document.object(members).json().utf8)
    }

    static func members(_ occurrence: Occurrence, connection: WebSocketConnectionInfo) -> [(String, Document)] {
        var members: [(String, Document)] = []
        if occurrence.type != .message {
            var headers: [(String, Document)] = []
            var multi: [(String, [Document])] = []
            for (name, value) in connection.headers {
                if let index = multi.firstIndex(where: { $0.0 == name }) {
                    multi[index].1.append(.string(value))
                } else {
                    headers.append((name, .string(value)))
                    multi.append((name, [.string(value)]))
                }
            }
            members.append(("headers", .object(headers)))
            members.append(("multiValueHeaders", .object(multi.map { ($0.0, .array($0.1)) })))
        }
        if occurrence.type == .connect, !connection.rawQueryString.isEmpty {
            var query: [(String, Document)] = []
            var multi: [(String, [Document])] = []
            for (name, value) in GatewayRequest.queryItems(of: connection.rawQueryString) {
                if let index = multi.firstIndex(where: { $0.0 == name }) {
                    multi[index].1.append(.string(value))
                    query.removeAll { $0.0 == name }
                    query.append((name, .string(value)))
                } else {
                    query.append((name, .string(value)))
                    multi.append((name, [.string(value)]))
                }
            }
            members.append(("queryStringParameters", .object(query)))
            members.append(("multiValueQueryStringParameters", .object(multi.map { ($0.0, .array($0.1)) })))
        }
        var context: [(String, Document)] = [("routeKey", .string(occurrence.routeKey))]
        if let messageId = occurrence.messageId { context.append(("messageId", .string(messageId))) }
        if let disconnect = occurrence.disconnect {
            context.append(("disconnectStatusCode", .integer(disconnect.statusCode)))
            context.append(("disconnectReason", .string(disconnect.reason)))
        }
        context += [
            ("eventType", .string(occurrence.type.rawValue)), ("extendedRequestId", .string(occurrence.requestId)),
            ("requestTime", .string(ProxyPayload.commonLogTime(occurrence.time))), ("messageDirection", .string("IN")),
            ("stage", .string(connection.stage)), ("connectedAt", .integer(WebSocketConnectionInfo.milliseconds(connection.connectedAt))),
            ("requestTimeEpoch", .integer(WebSocketConnectionInfo.milliseconds(occurrence.time))),
            ("identity", .object([("userAgent", connection.userAgent.map(Document.string) ?? .string("")), ("sourceIp", .string(connection.sourceIp))])),
            ("requestId", .string(occurrence.requestId)), ("domainName", .string(connection.domainName)),
            ("connectionId", .string(connection.connectionId)), ("apiId", .string(connection.apiId)),
        ]
        if let authorizer = connection.authorizer { context.append(("authorizer", authorizer)) }
        members.append(("requestContext", .object(context)))
        if let message = occurrence.message {
            switch message {
            case .text(let text): members.append(("body", .string(text)))
            case .binary(let bytes): members.append(("body", .string(Data(bytes).base64EncodedString())))
            }
        }
        if !occurrence.stageVariables.isEmpty {
            members.append(("stageVariables", .object(occurrence.stageVariables.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        if case .binary = occurrence.message {
            members.append(("isBase64Encoded", .bool(true)))
        } else {
            members.append(("isBase64Encoded", .bool(false)))
        }
        return members
    }

    /// A function's answer to a WebSocket route: its status (200 unless it names one) and the
    /// message for the client (its `body`), or nil when the answer is not JSON.
    public static func answer(from payload: [UInt8]) -> (status: Int, message: WebSocketMessage?)? {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)) else { return nil }
        guard case .object(let fields) = value, fields["statusCode"] != nil || fields["body"] != nil else {
            // Anything else is the message itself.
            if case .null = value { return (200, nil) }
            return (200, .text(value.selectionText ?? value.jsonText))
        }
        var status = 200
        if let code = fields["statusCode"] {
            guard case .number(let number) = code, number == number.rounded(), (100...599).contains(number) else { return nil }
            status = Int(number)
        }
        guard case .string(let body) = fields["body"] else { return (status, nil) }
        if case .bool(true) = fields["isBase64Encoded"] {
            guard let bytes = Data(base64Encoded: body) else { return nil }
            return (status, .binary(Array(bytes)))
        }
        return (status, .text(body))
    }

    /// What API Gateway sends a client when its message cannot be delivered: `Forbidden` (no
    /// route) or `Internal server error`.
    public static func errorMessage(_ message: String, connectionId: String, requestId: String) -> WebSocketMessage {
        .text(Document.object([("message", .string(message)), ("connectionId", .string(connectionId)), ("requestId", .string(requestId))]).json())
    }
}
