#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// An IAM policy in its JSON form: statements that allow or deny actions on resources. Actions
/// (`ecs:RunTask`, `ecs:Describe*`) match without regard to case; resources (ARNs) match exactly.
/// Both take `*` (any run of characters) and `?` (one character).
public struct PolicyDocument: Sendable, Equatable {
    public enum Effect: String, Sendable {
        case allow = "Allow"
        case deny = "Deny"
    }

    public struct Statement: Sendable, Equatable {
        public var effect: Effect
        /// `Action`, or `NotAction` when `actionsNegated`.
        public var actions: [String]
        public var actionsNegated: Bool
        /// `Resource`, or `NotResource` when `resourcesNegated`.
        public var resources: [String]
        public var resourcesNegated: Bool

        public func matches(action: String, resource: String) -> Bool {
            let actionMatches = actions.contains { Wildcard.matches($0, action, ignoringCase: true) }
            guard actionMatches != actionsNegated else { return false }
            let resourceMatches = resources.contains { Wildcard.matches($0, resource, ignoringCase: false) }
            return resourceMatches != resourcesNegated
        }
    }

    public var statements: [Statement]

    public init(statements: [Statement]) {
        self.statements = statements
    }

    /// Everything, everywhere: the administrator's policy.
    public static let allowAll = PolicyDocument(statements: [
        Statement(effect: .allow, actions: ["*"], actionsNegated: false, resources: ["*"], resourcesNegated: false)
    ])

    /// Parses a policy; the error says what to fix, in IAM's `MalformedPolicyDocument` terms.
    public init(json text: String) throws(AWSError) {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)), case .object(let root) = value else {
            throw Self.malformed("Syntax errors in policy.")
        }
        for key in root.keys where !["Version", "Id", "Statement"].contains(key) {
            throw Self.malformed("Policy document contains an unknown field: \(key)")
        }
        if let version = root["Version"] {
            guard case .string(let version) = version, ["2012-10-17", "2008-10-17"].contains(version) else {
                throw Self.malformed("The policy failed legacy parsing")
            }
        }
        let raw: [JSONValue]
        switch root["Statement"] {
        case .array(let list): raw = list
        case .object(let single): raw = [.object(single)]
        default: throw Self.malformed("Missing required field Statement")
        }
        guard !raw.isEmpty else { throw Self.malformed("Missing required field Statement") }
        var statements: [Statement] = []
        for item in raw {
            guard case .object(let fields) = item else { throw Self.malformed("Syntax errors in policy.") }
            statements.append(try Self.statement(fields))
        }
        self.statements = statements
    }

    private static func statement(_ fields: [String: JSONValue]) throws(AWSError) -> Statement {
        for key in fields.keys where !["Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal", "NotPrincipal"].contains(key) {
            throw malformed("Statement contains an unknown field: \(key)")
        }
        if fields["Principal"] != nil || fields["NotPrincipal"] != nil {
            throw malformed("Policy document should not specify a principal.")
        }
        // Conditions are not evaluated here: refusing them is safer than ignoring them.
        if fields["Condition"] != nil { throw malformed("Condition is not supported: remove the statement's Condition.") }
        guard case .string(let effectText) = fields["Effect"] else { throw malformed("Missing required field Effect") }
        guard let effect = Effect(rawValue: effectText) else { throw malformed("Invalid effect: \(effectText)") }
        let (actions, actionsNegated) = try pair(fields, "Action", "NotAction")
        for action in actions where action != "*" {
            let parts = action.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw malformed("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.") }
        }
        let (resources, resourcesNegated) = try pair(fields, "Resource", "NotResource")
        for resource in resources where resource != "*" && !resource.hasPrefix("arn:") {
            throw malformed("Resource \(resource) must be in ARN format or \"*\".")
        }
        return Statement(effect: effect, actions: actions, actionsNegated: actionsNegated, resources: resources, resourcesNegated: resourcesNegated)
    }

    /// `Action` or `NotAction` (exactly one), each a string or a list of strings.
    private static func pair(_ fields: [String: JSONValue], _ name: String, _ negated: String) throws(AWSError) -> ([String], Bool) {
        switch (fields[name], fields[negated]) {
        case (nil, nil): throw malformed("Missing required field \(name)")
        case (.some, .some): throw malformed("Statement cannot have both \(name) and \(negated).")
        case (let value?, nil): return (try strings(value, name), false)
        case (nil, let value?): return (try strings(value, negated), true)
        }
    }

    private static func strings(_ value: JSONValue, _ name: String) throws(AWSError) -> [String] {
        switch value {
        case .string(let single): return [single]
        case .array(let list) where !list.isEmpty:
            var strings: [String] = []
            for item in list {
                guard case .string(let text) = item else { break }
                strings.append(text)
            }
            if strings.count == list.count { return strings }
        default: break
        }
        throw malformed("\(name) must be a string or a non-empty list of strings.")
    }

    static func malformed(_ message: String) -> AWSError {
        AWSError(type: "MalformedPolicyDocument", message: message)
    }
}

/// What a set of policies says about one action on one resource: an explicit deny wins over any
/// allow; with neither, the answer is no.
public enum PolicyDecision: Equatable, Sendable {
    case allowed
    case implicitlyDenied
    case explicitlyDenied

    public init(policies: [PolicyDocument], action: String, resource: String) {
        var allowed = false
        for policy in policies {
            for statement in policy.statements where statement.matches(action: action, resource: resource) {
                if statement.effect == .deny {
                    self = .explicitlyDenied
                    return
                }
                allowed = true
            }
        }
        self = allowed ? .allowed : .implicitlyDenied
    }
}
