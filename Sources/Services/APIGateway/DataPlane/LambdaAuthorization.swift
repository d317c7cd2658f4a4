import APIGatewayShapes
import Foundation
import StevedoreCore

/// REQUEST (Lambda) authorizers of HTTP APIs: the event the function gets and how its answer is
/// read, a simple `{"isAuthorized": …}` or an IAM policy for the route's ARN.
public enum LambdaAuthorization {
    /// The values of an authorizer's identity sources, or nil when one is missing (401 without
    /// calling the function).
    public static func identity(
        _ sources: [String], request: GatewayRequest, stage: V2Stage, context: [String: String], webSocket: Bool = false
    ) -> [String]? {
        var values: [String] = []
        for source in sources {
            let value: String?
            switch webSocket ? IdentitySource(webSocket: source) : IdentitySource(source) {
            case .header(let name): value = request.header(name)
            case .query(let name): value = request.queryItems.first { $0.name == name }?.value
            case .context(let name): value = context[name]
            case .stageVariable(let name): value = stage.stageVariables?[name]
            case nil: value = nil
            }
            guard let value, !value.isEmpty else { return nil }
            values.append(value)
        }
        return values
    }

    /// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}{path}`.
    public static func routeArn(names: ResourceNames, apiId: String, stage: String, method: String, path: String) -> String {
        "arn:\(names.partition):execute-api:\(names.region):\(names.accountId):\(apiId)/\(stage)/\(method)\(path)"
    }

    /// The authorizer's event: the request in the authorizer's payload format, with `type`,
    /// the route ARN and the identity values.
    public static func event(
        _ request: GatewayRequest, context: ProxyContext, format: ProxyPayload.Format, routeArn: String, identity: [String]
    ) -> [UInt8] {
        switch format {
        case .v2:
            var event = ProxyPayload.eventV2(request, context: context)
            event.type = "REQUEST"
            event.routeArn = routeArn
            event.identitySource = identity
            return AWSJSONEncoding.encode(event)
        case .v1:
            var event = ProxyPayload.eventV1(request, context: context)
            event.type = "REQUEST"
            event.methodArn = routeArn
            event.identitySource = identity.joined(separator: ",")
            return AWSJSONEncoding.encode(event)
        }
    }

    /// The function's verdict: allowed or not, with the context it passes on; nil when the answer
    /// is malformed (500).
    public static func decide(_ payload: [UInt8], simpleResponses: Bool, routeArn: String) -> (allowed: Bool, context: [String: JSONValue])? {
        guard case .object(let answer) = (try? JSONDecoder().decode(JSONValue.self, from: Data(payload))) else { return nil }
        var context: [String: JSONValue] = [:]
        if let value = answer["context"], value != .null {
            guard case .object(let fields) = value else { return nil }
            context = fields
        }
        if simpleResponses {
            guard case .bool(let allowed) = answer["isAuthorized"] else { return nil }
            return (allowed, context)
        }
        guard case .object(let policy) = answer["policyDocument"] else { return nil }
        if let principal = answer["principalId"], principal != .null { context["principalId"] = principal }
        var statements: [[String: JSONValue]] = []
        switch policy["Statement"] {
        case .object(let one): statements = [one]
        case .array(let many): statements = many.compactMap { if case .object(let s) = $0 { s } else { nil } }
        default: return nil
        }
        var allowed = false
        for statement in statements {
            let actions = strings(statement["Action"])
            guard actions.contains(where: { matches($0, "execute-api:Invoke") }) else { continue }
            guard strings(statement["Resource"]).contains(where: { matches($0, routeArn) }) else { continue }
            switch statement["Effect"] {
            case .string("Deny"): return (false, context)
            case .string("Allow"): allowed = true
            default: return nil
            }
        }
        return (allowed, context)
    }

    /// Whether a policy answer denies the route in so many words (REST APIs say so).
    public static func deniesExplicitly(_ payload: [UInt8], routeArn: String) -> Bool {
        guard case .object(let answer) = (try? JSONDecoder().decode(JSONValue.self, from: Data(payload))),
            case .object(let policy) = answer["policyDocument"]
        else { return false }
        var statements: [[String: JSONValue]] = []
        switch policy["Statement"] {
        case .object(let one): statements = [one]
        case .array(let many): statements = many.compactMap { if case .object(let s) = $0 { s } else { nil } }
        default: return false
        }
        return statements.contains { statement in
            statement["Effect"] == .string("Deny") && strings(statement["Action"]).contains { matches($0, "execute-api:Invoke") }
                && strings(statement["Resource"]).contains { matches($0, routeArn) }
        }
    }

    static func strings(_ value: JSONValue?) -> [String] {
        switch value {
        case .string(let one): [one]
        case .array(let many): many.compactMap { if case .string(let s) = $0 { s } else { nil } }
        default: []
        }
    }

    /// IAM's wildcard match: `*` any run of characters, `?` one.
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.utf8)
        let t = Array(text.utf8)
        var (i, j, star, mark) = (0, 0, -1, 0)
        while j < t.count {
            if i < p.count, p[i] == UInt8(ascii: "?") || p[i] == t[j] {
                i += 1
                j += 1
            } else if i < p.count, p[i] == UInt8(ascii: "*") {
                star = i
                mark = j
                i += 1
            } else if star >= 0 {
                i = star + 1
                mark += 1
                j = mark
            } else {
                return false
            }
        }
        while i < p.count, p[i] == UInt8(ascii: "*") { i += 1 }
        return i == p.count
    }
}
