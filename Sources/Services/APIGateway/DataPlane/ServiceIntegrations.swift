import APIGatewayShapes
import AWSProtocols
import Foundation
import StevedoreCore

/// The AWS services an integration calls on its caller's behalf (HTTP APIs' AWS service
/// integrations): an AWS JSON operation, answered with its status and body. The control plane's
/// runs the services' own operations.
public protocol ServiceActions: Sendable {
    func call(target: String, body: [UInt8]) async -> (status: Int, body: [UInt8])
}

/// HTTP APIs' first-class AWS service integrations (`AWS_PROXY` with an `integrationSubtype`):
/// each subtype's parameters, mapped from the request by `requestParameters`, make the service's
/// request; its answer goes back to the client as the service gives it.
public enum ServiceIntegration: String, Sendable, CaseIterable {
    case sqsSendMessage = "SQS-SendMessage"
    case sqsReceiveMessage = "SQS-ReceiveMessage"
    case sqsDeleteMessage = "SQS-DeleteMessage"
    case sqsPurgeQueue = "SQS-PurgeQueue"
    case eventBridgePutEvents = "EventBridge-PutEvents"

    /// How a parameter's mapped text becomes the service's member.
    enum Kind { case text, integer, json, list }

    /// The subtype's parameters (as the integration subtype reference lists them), and whether each is required.
    var parameters: [(name: String, required: Bool, kind: Kind)] {
        switch self {
        case .sqsSendMessage:
            [("QueueUrl", true, .text), ("MessageBody", true, .text), ("DelaySeconds", false, .integer), ("MessageAttributes", false, .json),
             ("MessageDeduplicationId", false, .text), ("MessageGroupId", false, .text), ("MessageSystemAttributes", false, .json), ("Region", false, .text)]
        case .sqsReceiveMessage:
            [("QueueUrl", true, .text), ("AttributeNames", false, .list), ("MaxNumberOfMessages", false, .integer), ("MessageAttributeNames", false, .list),
             ("ReceiveRequestAttemptId", false, .text), ("VisibilityTimeout", false, .integer), ("WaitTimeSeconds", false, .integer), ("Region", false, .text)]
        case .sqsDeleteMessage:
            [("ReceiptHandle", true, .text), ("QueueUrl", true, .text), ("Region", false, .text)]
        case .sqsPurgeQueue:
            [("QueueUrl", true, .text), ("Region", false, .text)]
        case .eventBridgePutEvents:
            [("Detail", true, .text), ("DetailType", true, .text), ("Source", true, .text), ("Time", false, .text), ("EventBusName", false, .text),
             ("Resources", false, .list), ("Region", false, .text), ("TraceHeader", false, .text)]
        }
    }

    /// The service operation the subtype calls.
    var target: String {
        switch self {
        case .sqsSendMessage: "AmazonSQS.SendMessage"
        case .sqsReceiveMessage: "AmazonSQS.ReceiveMessage"
        case .sqsDeleteMessage: "AmazonSQS.DeleteMessage"
        case .sqsPurgeQueue: "AmazonSQS.PurgeQueue"
        case .eventBridgePutEvents: "AWSEvents.PutEvents"
        }
    }

    var action: String { String(rawValue.split(separator: "-").last ?? "") }
    var isSQS: Bool { rawValue.hasPrefix("SQS-") }

    /// CreateIntegration's checks of a service integration, and AWS's defaults for one.
    static func check(_ input: V2CreateIntegrationRequest, subtype text: String) throws(AWSError) -> ServiceIntegration {
        guard let subtype = ServiceIntegration(rawValue: text) else {
            let supported = allCases.map(\.rawValue).joined(separator: ", ")
            throw .gatewayBadRequest("Integration subtype \(text) is not supported by Stevedore; use one of \(supported).")
        }
        guard input.integrationType == .awsProxy else { throw .gatewayBadRequest("IntegrationSubtype is supported only for AWS_PROXY integrations.") }
        guard input.integrationUri == nil || input.integrationUri == "" else {
            throw .gatewayBadRequest("Invalid integration URI specified: an integration with an IntegrationSubtype takes no IntegrationUri.")
        }
        guard input.payloadFormatVersion == nil || input.payloadFormatVersion == "1.0" else {
            throw .gatewayBadRequest("AWS service integrations support payload format version 1.0 only")
        }
        guard input.credentialsArn != nil else { throw .gatewayBadRequest("CredentialsArn is required for AWS service integrations.") }
        let given = input.requestParameters ?? [:]
        let known = Set(subtype.parameters.map(\.name))
        for (name, _) in given.sorted(by: { $0.key < $1.key }) where !known.contains(name) {
            throw .gatewayBadRequest("Invalid mapping expression specified: \(name) is not a parameter of \(text).")
        }
        for parameter in subtype.parameters where parameter.required && given[parameter.name] == nil {
            throw .gatewayBadRequest("Invalid request parameters specified: \(text) requires \(parameter.name).")
        }
        return subtype
    }

    // MARK: The request

    /// The service's request body: each parameter's mapped value, typed as the operation takes it.
    func requestBody(_ parameters: [String: String], request: GatewayRequest, context: ProxyContext) throws(AWSError) -> [UInt8] {
        var members: [(String, Document)] = []
        for parameter in self.parameters where parameter.name != "Region" {
            guard let expression = parameters[parameter.name] else { continue }
            let value = ParameterMapping.value(expression, request: request, context: context)
            guard let typed = Self.typed(value, parameter.kind) else {
                throw .gatewayBadRequest("Unable to resolve property \(parameter.name) from source \(expression)")
            }
            members.append((parameter.name, typed))
        }
        if self == .eventBridgePutEvents { members = [("Entries", .array([.object(members)]))] }
        return Array(Document.object(members).json().utf8)
    }

    static func typed(_ value: String, _ kind: Kind) -> Document? {
        switch kind {
        case .text: return .string(value)
        case .integer: return Int(value.trimmingCharacters(in: .whitespaces)).map(Document.integer)
        case .json: return Document.parseJSON(Array(value.utf8))
        case .list:
            if let array = Document.parseJSON(Array(value.utf8)), case .array = array { return array }
            return .array(value.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) })
        }
    }

    // MARK: The answer

    /// The service's answer as the client gets it: SQS's in its query protocol's XML (as API
    /// Gateway passes SQS's answers on), EventBridge's JSON as it is.
    func response(status: Int, body: [UInt8], requestId: String) -> GatewayResponse {
        guard isSQS else { return GatewayResponse(status: status, headers: [("content-type", "application/x-amz-json-1.1")], body: body) }
        let json = Document.parseJSON(body) ?? .object([])
        var xml = XMLWriter()
        if status >= 300 {
            let code = json["__type"]?.string.map { String($0.split(separator: "#").last ?? Substring($0)) } ?? "InternalFailure"
            xml.element("ErrorResponse", attributes: Self.namespace) { xml in
                xml.element("Error") { xml in
                    xml.element("Type", status >= 500 ? "Receiver" : "Sender")
                    xml.element("Code", Self.queryCode(code))
                    xml.element("Message", json["message"]?.string ?? json["Message"]?.string ?? "")
                    xml.element("Detail", "")
                }
                xml.element("RequestId", requestId)
            }
        } else {
            xml.element("\(action)Response", attributes: Self.namespace) { xml in
                xml.element("\(action)Result") { Self.members(json, into: &$0) }
                xml.element("ResponseMetadata") { $0.element("RequestId", requestId) }
            }
        }
        return GatewayResponse(status: status, headers: [("content-type", "text/xml")], body: Array(("<?xml version=\"1.0\"?>" + xml.text).utf8))
    }

    static let namespace = "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\""

    /// SQS's query-protocol error codes where they differ from its JSON protocol's.
    static func queryCode(_ code: String) -> String {
        switch code {
        case "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue"
        case "ReceiptHandleIsInvalid": "ReceiptHandleIsInvalid"
        case "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress"
        default: code
        }
    }

    /// A JSON answer's members as the query protocol writes them: lists flattened under their
    /// singular names (`Messages` → `Message`), maps as `Attribute` name/value pairs.
    static func members(_ json: Document, into xml: inout XMLWriter) {
        for (name, value) in json.members {
            switch value {
            case .array(let items):
                let singular = name.hasSuffix("s") ? String(name.dropLast()) : name
                for item in items {
                    if case .object = item { xml.element(singular) { members(item, into: &$0) } } else { xml.element(singular, item.string ?? "") }
                }
            case .object(let entries) where name == "Attributes":
                for (key, entry) in entries {
                    xml.element("Attribute") { xml in
                        xml.element("Name", key)
                        xml.element("Value", entry.string ?? "")
                    }
                }
            case .object(let entries) where name == "MessageAttributes":
                for (key, entry) in entries {
                    xml.element("MessageAttribute") { xml in
                        xml.element("Name", key)
                        xml.element("Value") { members(entry, into: &$0) }
                    }
                }
            case .object:
                xml.element(name) { members(value, into: &$0) }
            default:
                xml.element(name, value.string ?? "")
            }
        }
    }
}

/// HTTP APIs' parameter mapping: `$request.header.name`, `$request.querystring.name`,
/// `$request.path.name`, `$request.path`, `$request.body`, `$request.body.a.b`,
/// `$context.name`, `$stageVariables.name`, each also as `${…}` inside text; the rest is static.
/// A value the request does not have maps to an empty string.
enum ParameterMapping {
    static func value(_ expression: String, request: GatewayRequest, context: ProxyContext) -> String {
        if expression.hasPrefix("$"), !expression.hasPrefix("${") { return resolve(String(expression.dropFirst()), request: request, context: context) }
        var result = ""
        var rest = Substring(expression)
        while let open = rest.range(of: "${") {
            result += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                result += rest[open.lowerBound...]
                return result
            }
            result += resolve(String(rest[open.upperBound..<close]), request: request, context: context)
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }

    /// One source, without its `$`: `request.header.x`, `context.requestId`, …
    static func resolve(_ source: String, request: GatewayRequest, context: ProxyContext) -> String {
        let parts = source.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        switch (parts.first, parts.count) {
        case ("request", 2) where parts[1] == "body":
            return String(decoding: request.body, as: UTF8.self)
        case ("request", 2) where parts[1] == "path":
            return request.routePath
        case ("request", 3):
            switch parts[1] {
            case "header": return request.headers.filter { $0.name.lowercased() == parts[2].lowercased() }.map(\.value).joined(separator: ",")
            case "querystring": return request.queryItems.filter { $0.name == parts[2] }.map(\.value).joined(separator: ",")
            case "path": return context.pathParameters[parts[2]] ?? ""
            case "body": return bodyMember(parts[2], of: request.body)
            default: return ""
            }
        case ("context", _):
            let name = parts.dropFirst().joined(separator: ".")
            switch name {
            case "requestId": return request.requestId
            case "apiId": return context.apiId
            case "stage": return context.stage
            case "routeKey": return context.routeKey
            case "accountId": return context.accountId
            case "httpMethod": return request.method
            case "path": return request.rawPath
            case "identity.sourceIp": return request.sourceIp
            case "requestTimeEpoch": return String(Int64((request.time.timeIntervalSince1970 * 1000).rounded(.down)))
            default: return ""
            }
        case ("stageVariables", 2):
            return context.stageVariables[parts[1]] ?? ""
        default:
            return ""
        }
    }

    /// A member of a JSON body by its path (`a.b`, `items[0]`): text as it is, other values as JSON.
    static func bodyMember(_ path: String, of body: [UInt8]) -> String {
        guard var value = Document.parseJSON(Array(body.prefix(100 * 1024))) else { return "" }
        for step in path.split(separator: ".") {
            var name = Substring(step)
            var index: Int?
            if let bracket = name.firstIndex(of: "["), name.hasSuffix("]") {
                index = Int(name[name.index(after: bracket)..<name.index(before: name.endIndex)])
                name = name[..<bracket]
            }
            guard let member = value[String(name)] else { return "" }
            value = member
            if let index {
                guard case .array(let items) = value, items.indices.contains(index) else { return "" }
                value = items[index]
            }
        }
        if case .string(let text) = value { return text }
        return value.json()
    }
}
