#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// Whether a resource's own policy (a queue's or a topic's `Policy` attribute) lets an AWS service
/// act on it for a source: S3 checks this before it sends a bucket's notifications to a queue or a
/// topic. An explicit deny wins; with no statement that allows, the answer is no.
public enum ServiceGrant {
    /// The source is the resource acting (a bucket's ARN) and its account; conditions on
    /// `aws:SourceArn` and `aws:SourceAccount` are judged, other condition keys are not.
    public static func allows(
        policy text: String?, service: String, action: String, resource: String, sourceArn: String, sourceAccount: String
    ) -> Bool {
        guard let text, case .object(let document)? = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else { return false }
        let statements: [JSONValue]
        switch document["Statement"] {
        case .array(let list)?: statements = list
        case .object(let one)?: statements = [.object(one)]
        default: return false
        }
        var allowed = false
        for case .object(let statement) in statements {
            guard names(statement["Principal"], service: service), strings(statement["Action"]).contains(where: { Wildcard.matches($0, action, ignoringCase: true) }),
                statement["Resource"] == nil || strings(statement["Resource"]).contains(where: { Wildcard.matches($0, resource, ignoringCase: false) }),
                conditionsHold(statement["Condition"], sourceArn: sourceArn, sourceAccount: sourceAccount)
            else { continue }
            if case .string("Deny")? = statement["Effect"] { return false }
            if case .string("Allow")? = statement["Effect"] { allowed = true }
        }
        return allowed
    }

    /// `"*"`, `{"AWS": "*"}` or `{"Service": …}` naming the service.
    static func names(_ principal: JSONValue?, service: String) -> Bool {
        switch principal {
        case .string("*")?: return true
        case .object(let kinds)?:
            return strings(kinds["Service"]).contains(service) || strings(kinds["AWS"]).contains("*")
        default: return false
        }
    }

    static func strings(_ value: JSONValue?) -> [String] {
        switch value {
        case .string(let text)?: [text]
        case .array(let list)?: list.compactMap { if case .string(let text) = $0 { text } else { nil } }
        default: []
        }
    }

    /// Conditions on the source, by operator: ArnLike/ArnEquals/StringLike/StringEquals and their
    /// `Not` forms. A condition this cannot judge (another key or operator) does not hold, so a
    /// statement that depends on one grants nothing.
    static func conditionsHold(_ condition: JSONValue?, sourceArn: String, sourceAccount: String) -> Bool {
        guard let condition else { return true }
        guard case .object(let operators) = condition else { return false }
        let known: Set<String> = ["arnlike", "arnequals", "stringlike", "stringequals", "arnnotlike", "arnnotequals", "stringnotlike", "stringnotequals"]
        for (operatorName, value) in operators {
            let name = operatorName.lowercased()
            guard known.contains(name), case .object(let keys) = value else { return false }
            let negated = name.contains("not")
            let wildcards = name.contains("like")
            for (key, expected) in keys {
                let actual: String
                switch key.lowercased() {
                case "aws:sourcearn": actual = sourceArn
                case "aws:sourceaccount": actual = sourceAccount
                default: return false
                }
                let matched = strings(expected).contains { wildcards ? Wildcard.matches($0, actual, ignoringCase: false) : $0 == actual }
                if matched == negated { return false }
            }
        }
        return true
    }
}
