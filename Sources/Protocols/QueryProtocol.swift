import StevedoreCore

/// A request in AWS's query protocol (IAM, STS, and later CloudFormation and SNS): `POST /` with a
/// form-encoded body `Action=<Operation>&Version=<date>&Name=value…`. Lists are flattened as
/// `Name.member.1`, `Name.member.2`.
public struct QueryRequest: Sendable, Equatable {
    public var parameters: [String: String]

    public init(parameters: [String: String]) {
        self.parameters = parameters
    }

    /// Parses `application/x-www-form-urlencoded` text (`+` is a space, `%XX` a byte). Nil when a
    /// percent escape is malformed or the bytes are not UTF-8.
    public init?(form bytes: [UInt8]) {
        var parameters: [String: String] = [:]
        for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]) else { return nil }
            guard let value = parts.count > 1 ? Self.decode(parts[1]) : "" else { return nil }
            parameters[name] = value
        }
        self.parameters = parameters
    }

    public subscript(name: String) -> String? { parameters[name] }

    public var action: String? { parameters["Action"] }
    /// A required parameter, refused in the query services' words when absent.
    public func required(_ name: String) throws(AWSError) -> String {
        guard let value = self[name] else {
            let member = name.prefix(1).lowercased() + name.dropFirst()
            throw AWSError(
                type: "ValidationError", message: "1 validation error detected: Value null at '\(member)' failed to satisfy constraint: Member must not be null")
        }
        return value
    }

    public func integer(_ name: String) throws(AWSError) -> Int? {
        guard let text = self[name] else { return nil }
        guard let value = Int(text) else {
            throw AWSError(type: "ValidationError", message: "1 validation error detected: Value '\(text)' at '\(name.prefix(1).lowercased() + name.dropFirst())' failed to satisfy constraint: Member must be a number")
        }
        return value
    }
    public var version: String? { parameters["Version"] }

    /// The members of a flattened list `Name.member.N`, in order of N.
    public func list(_ name: String) -> [String] {
        let prefix = name + ".member."
        return parameters.compactMap { key, value in key.hasPrefix(prefix) ? Int(key.dropFirst(prefix.count)).map { ($0, value) } : nil }
            .sorted { $0.0 < $1.0 }.map(\.1)
    }

    private static func decode(_ bytes: ArraySlice<UInt8>) -> String? {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex, let high = ASCIIHex.value(bytes[index + 1]), let low = ASCIIHex.value(bytes[index + 2])
                else { return nil }
                output.append(high << 4 | low)
                index += 3
            } else {
                output.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index += 1
            }
        }
        return String(validating: output, as: UTF8.self)
    }
}

/// Writes the XML the query protocol answers with: elements in order, text escaped.
public struct XMLWriter: Sendable {
    public private(set) var text = ""

    public init() {}

    public mutating func element(_ name: String, _ body: (inout XMLWriter) -> Void) {
        text += "<\(name)>"
        body(&self)
        text += "</\(name)>"
    }

    public mutating func element(_ name: String, attributes: String, _ body: (inout XMLWriter) -> Void) {
        text += "<\(name) \(attributes)>"
        body(&self)
        text += "</\(name)>"
    }

    /// A text element; nil writes nothing (absent members are left out, as AWS leaves them).
    public mutating func element(_ name: String, _ value: String?) {
        guard let value else { return }
        text += "<\(name)>\(Self.escape(value))</\(name)>"
    }

    /// Another writer's elements, in order.
    public mutating func append(_ other: XMLWriter) {
        text += other.text
    }

    public static func escape(_ value: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(value.utf8.count)
        for character in value.unicodeScalars {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            // XML 1.0 allows no other control characters (a parser would refuse the answer).
            case _ where character.value < 0x20 && character != "\t" && character != "\n" && character != "\r":
                escaped += "\u{FFFD}"
            case "\u{FFFE}", "\u{FFFF}": escaped += "\u{FFFD}"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }
}

/// One query-protocol service's actions (IAM's, STS's) and how it answers: `<Action>Response`
/// holding `<Action>Result` and the request id, or `ErrorResponse`, in the service's namespace.
public struct QueryService: Sendable {
    /// The members of an action's result, or the refusal.
    public typealias Handler = @Sendable (QueryRequest, OperationContext) async throws(AWSError) -> XMLWriter

    public let namespace: String
    public let version: String
    /// Answers only the response metadata (no `<Action>Result`).
    public typealias EmptyHandler = @Sendable (QueryRequest, OperationContext) async throws(AWSError) -> Void

    public private(set) var actions: [String: Handler] = [:]
    public private(set) var emptyActions: [String: EmptyHandler] = [:]
    public var actionNames: [String] { Array(actions.keys) + Array(emptyActions.keys) }

    public init(namespace: String, version: String) {
        self.namespace = namespace
        self.version = version
    }

    public mutating func action(_ name: String, _ handler: @escaping Handler) {
        actions[name] = handler
    }

    /// An action whose answer has no result element (DeleteUser, PutUserPolicy…).
    public mutating func actionWithoutResult(_ name: String, _ handler: @escaping EmptyHandler) {
        emptyActions[name] = handler
    }

    public func handle(_ request: QueryRequest, context: OperationContext) async -> APIResponse {
        guard let action = request.action, actions[action] != nil || emptyActions[action] != nil else {
            return errorResponse(
                AWSError(type: "InvalidAction", message: "Could not find operation \(request.action ?? "") for version \(request.version ?? "NO_VERSION_SPECIFIED")"),
                requestId: context.requestId)
        }
        do throws(AWSError) {
            var result: XMLWriter?
            if let handler = actions[action] {
                result = try await handler(request, context)
            } else if let handler = emptyActions[action] {
                try await handler(request, context)
            }
            var xml = XMLWriter()
            xml.element("\(action)Response", attributes: "xmlns=\"\(namespace)\"") { xml in
                if let result { xml.element("\(action)Result") { $0.append(result) } }
                xml.element("ResponseMetadata") { $0.element("RequestId", context.requestId) }
            }
            return APIResponse(status: 200, headers: [("Content-Type", "text/xml")], body: Array(xml.text.utf8))
        } catch {
            return errorResponse(error, requestId: context.requestId)
        }
    }

    /// `ErrorResponse` with the error's code (its type without any namespace) and whether the
    /// sender or the service is at fault.
    public func errorResponse(_ error: AWSError, requestId: String) -> APIResponse {
        Self.errorResponse(error, requestId: requestId, namespace: namespace)
    }

    public static func errorResponse(_ error: AWSError, requestId: String, namespace: String) -> APIResponse {
        let code = error.type.split(separator: "#").last.map(String.init) ?? error.type
        var xml = XMLWriter()
        xml.element("ErrorResponse", attributes: "xmlns=\"\(namespace)\"") { xml in
            xml.element("Error") { xml in
                xml.element("Type", error.httpStatus >= 500 ? "Receiver" : "Sender")
                xml.element("Code", code)
                xml.element("Message", error.message)
            }
            xml.element("RequestId", requestId)
        }
        return APIResponse(
            status: error.httpStatus, headers: [("Content-Type", "text/xml")] + error.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            body: Array(xml.text.utf8))
    }
}

/// The query-protocol services on the endpoint, told apart by `Action` (their actions do not overlap).
public struct QueryDispatcher: Sendable {
    public private(set) var services: [QueryService] = []
    private var byAction: [String: Int] = [:]

    public init() {}

    public mutating func add(_ service: QueryService) {
        services.append(service)
        for action in service.actionNames { byAction[action] = services.count - 1 }
    }

    /// The service that answers `action`, if any.
    public func service(for action: String?) -> QueryService? {
        action.flatMap { byAction[$0] }.map { services[$0] }
    }

    public func handle(_ body: [UInt8], context: OperationContext) async -> APIResponse {
        let fallbackNamespace = services.first?.namespace ?? "https://iam.amazonaws.com/doc/2010-05-08/"
        guard let request = QueryRequest(form: body) else {
            return QueryService.errorResponse(
                AWSError(type: "MalformedQueryString", message: "The request body is not valid application/x-www-form-urlencoded text.", httpStatus: 400),
                requestId: context.requestId, namespace: fallbackNamespace)
        }
        guard let service = service(for: request.action) else {
            let message =
                request.action == nil
                ? "Missing Action" : "Could not find operation \(request.action ?? "") for version \(request.version ?? "NO_VERSION_SPECIFIED")"
            return QueryService.errorResponse(
                AWSError(type: request.action == nil ? "MissingAction" : "InvalidAction", message: message), requestId: context.requestId,
                namespace: fallbackNamespace)
        }
        return await service.handle(request, context: context)
    }
}
