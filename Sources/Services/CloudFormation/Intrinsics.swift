#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// What a resource that exists answers to `Ref` and `Fn::GetAtt`.
public struct ResourceValues: Codable, Sendable, Equatable {
    public var ref: String
    public var attributes: [String: String]

    public init(ref: String, attributes: [String: String] = [:]) {
        self.ref = ref
        self.attributes = attributes
    }
}

/// A parameter's value: text, or a list for list types.
public enum ParameterValue: Sendable, Equatable {
    case text(String)
    case list([String])

    var document: Document {
        switch self {
        case .text(let text): .string(text)
        case .list(let items): .array(items.map { .string($0) })
        }
    }
}

/// Everything the intrinsic functions read: parameters, pseudo parameters, conditions, mappings,
/// the resources made so far, and the exports of other stacks.
public struct IntrinsicContext: Sendable {
    public var parameters: [String: ParameterValue] = [:]
    public var stackName = ""
    public var stackId = ""
    public var region = "us-east-1"
    public var accountId = "123456789012"
    public var partition = "aws"
    public var urlSuffix = "amazonaws.com"
    public var notificationARNs: [String] = []
    public var mappings: Document = .object([])
    public var conditionDeclarations: [(String, Document)] = []
    public var resources: [String: ResourceValues] = [:]
    public var exports: [String: String] = [:]

    public init() {}

    /// The conditions' values, each evaluated once (a condition may use others, not in a circle).
    public func evaluateConditions() throws(AWSError) -> [String: Bool] {
        var values: [String: Bool] = [:]
        var evaluating: Set<String> = []
        func value(_ name: String) throws(AWSError) -> Bool {
            if let known = values[name] { return known }
            guard let declaration = conditionDeclarations.first(where: { $0.0 == name })?.1 else {
                throw .cfnValidation("Template format error: Unresolved dependencies [\(name)]. Cannot reference resources in the Conditions block of the template")
            }
            guard evaluating.insert(name).inserted else {
                throw .cfnValidation("Template error: circular condition dependency detected in \(name)")
            }
            let result = try condition(declaration, lookup: value)
            values[name] = result
            return result
        }
        for (name, _) in conditionDeclarations { _ = try value(name) }
        return values
    }

    private func condition(_ value: Document, lookup: (String) throws(AWSError) -> Bool) throws(AWSError) -> Bool {
        guard case .object(let members) = value, members.count == 1, let (function, argument) = members.first else {
            if case .bool(let flag) = value { return flag }
            if value.string == "true" { return true }
            if value.string == "false" { return false }
            throw .cfnValidation("Template error: every Conditions member must be a condition function")
        }
        switch function {
        case "Condition":
            guard let name = argument.string else { throw .cfnValidation("Template error: Condition must name a condition") }
            return try lookup(name)
        case "Fn::Equals":
            let items = argument.items
            guard items.count == 2 else { throw .cfnValidation("Template error: Fn::Equals requires a list of two values") }
            let evaluator = Evaluator(context: self, conditions: [:])
            return try evaluator.comparable(items[0]) == evaluator.comparable(items[1])
        case "Fn::And", "Fn::Or":
            let items = argument.items
            guard (2...10).contains(items.count) else { throw .cfnValidation("Template error: \(function) requires a list of 2 to 10 conditions") }
            var results: [Bool] = []
            for item in items { results.append(try condition(item, lookup: lookup)) }
            return function == "Fn::And" ? results.allSatisfy { $0 } : results.contains(true)
        case "Fn::Not":
            let items = argument.items
            guard items.count == 1 else { throw .cfnValidation("Template error: Fn::Not requires a list of one condition") }
            return try !condition(items[0], lookup: lookup)
        default:
            throw .cfnValidation("Template error: \(function) is not a condition function")
        }
    }

    /// A value with every intrinsic function worked out; nil where `AWS::NoValue` leaves it out.
    public func resolve(_ value: Document, conditions: [String: Bool]) throws(AWSError) -> Document? {
        try Evaluator(context: self, conditions: conditions).resolve(value)
    }
}

/// Works out intrinsic functions inside a value.
struct Evaluator {
    let context: IntrinsicContext
    let conditions: [String: Bool]

    func resolve(_ value: Document) throws(AWSError) -> Document? {
        switch value {
        case .object(let members):
            if members.count == 1, let (key, argument) = members.first, key == "Ref" || key.hasPrefix("Fn::") {
                return try function(key, argument)
            }
            var resolved: [(String, Document)] = []
            for (key, member) in members {
                if let value = try resolve(member) { resolved.append((key, value)) }
            }
            return .object(resolved)
        case .array(let items):
            var resolved: [Document] = []
            for item in items {
                if let value = try resolve(item) { resolved.append(value) }
            }
            return .array(resolved)
        default:
            return value
        }
    }

    /// A value resolved to text or a list of texts, for comparing and joining.
    func comparable(_ value: Document) throws(AWSError) -> Document {
        Self.asText(try resolve(value) ?? .string(""))
    }

    /// Scalars as the text CloudFormation compares them as (`7` equals `"7"`, a Number parameter's value).
    static func asText(_ value: Document) -> Document {
        switch value {
        case .array(let items): .array(items.map(asText))
        case .object(let members): .object(members.map { ($0.0, asText($0.1)) })
        default: .string(value.string ?? "")
        }
    }

    private func text(_ value: Document, _ function: String) throws(AWSError) -> String {
        guard let resolved = try resolve(value), let text = resolved.string else {
            throw .cfnValidation("Template error: every \(function) object requires a string parameter")
        }
        return text
    }

    private func list(_ value: Document, _ function: String) throws(AWSError) -> [Document] {
        guard let resolved = try resolve(value), case .array(let items) = resolved else {
            throw .cfnValidation("Template error: \(function) requires a list")
        }
        return items
    }

    private func function(_ name: String, _ argument: Document) throws(AWSError) -> Document? {
        switch name {
        case "Ref":
            guard let target = argument.string else { throw .cfnValidation("Template error: every Ref object must have a single String value.") }
            return try ref(target)
        case "Fn::GetAtt":
            guard let (resource, attribute) = References.getAttTarget(argument) else {
                throw .cfnValidation("Template error: every Fn::GetAtt object requires two non-empty parameters")
            }
            let attributeName = try text(.string(attribute), name)
            return .string(try getAtt(resource, attributeName))
        case "Fn::Sub":
            return .string(try sub(argument))
        case "Fn::Join":
            let items = argument.items
            guard items.count == 2, let delimiter = items[0].string else {
                throw .cfnValidation("Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined.")
            }
            var parts: [String] = []
            for item in try list(items[1], name) {
                guard let part = item.string else { throw .cfnValidation("Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined") }
                parts.append(part)
            }
            return .string(parts.joined(separator: delimiter))
        case "Fn::Select":
            let items = argument.items
            guard items.count == 2 else { throw .cfnValidation("Template error: Fn::Select requires a list argument with two elements: an integer index and a list") }
            guard let index = Int(try text(items[0], name)) else { throw .cfnValidation("Template error: Fn::Select requires a list argument with two elements: an integer index and a list") }
            let values = try list(items[1], name)
            guard values.indices.contains(index) else { throw .cfnValidation("Template error: Fn::Select cannot select nonexistent value at index \(index)") }
            return values[index]
        case "Fn::Split":
            let items = argument.items
            guard items.count == 2, let delimiter = items[0].string, !delimiter.isEmpty else {
                throw .cfnValidation("Template error: every Fn::Split object requires two parameters, (1) a string delimiter and (2) a string to be split or a function that returns a string to be split.")
            }
            let source = try text(items[1], name)
            return .array(source.split(separator: delimiter, omittingEmptySubsequences: false).map { .string(String($0)) })
        case "Fn::If":
            let items = argument.items
            guard items.count == 3, let condition = items[0].string else {
                throw .cfnValidation("Template error: Fn::If requires a list argument with three elements")
            }
            guard let value = conditions[condition] else { throw .cfnValidation("Template error: unresolved condition dependency \(condition) in Fn::If") }
            return try resolve(items[value ? 1 : 2])
        case "Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not":
            var scratch = context
            scratch.conditionDeclarations = [("__inline__", .object([(name, argument)]))] + context.conditionDeclarations
            return .bool(try scratch.evaluateConditions()["__inline__"] ?? false)
        case "Fn::FindInMap":
            let items = argument.items
            guard items.count == 3 || items.count == 4 else {
                throw .cfnValidation("Template error: every Fn::FindInMap object requires three parameters, the map name, map key and the attribute for return value")
            }
            let (map, key, attribute) = (try text(items[0], name), try text(items[1], name), try text(items[2], name))
            guard let mapping = context.mappings[map] else { throw .cfnValidation("Template error: Unable to get mapping for \(map)::\(key)::\(attribute)") }
            guard let value = mapping[key]?[attribute] else {
                if items.count == 4, let fallback = items[3]["DefaultValue"] { return try resolve(fallback) }
                throw .cfnValidation("Template error: Unable to get mapping for \(map)::\(key)::\(attribute)")
            }
            return value
        case "Fn::GetAZs":
            let region = try text(argument, name)
            let zone = region.isEmpty ? context.region : region
            return .array(["a", "b", "c"].map { .string(zone + $0) })
        case "Fn::Base64":
            return .string(Data(try text(argument, name).utf8).base64EncodedString())
        case "Fn::ImportValue":
            let export = try text(argument, name)
            guard let value = context.exports[export] else {
                throw .cfnValidation("No export named \(export) found. Rollback requested by user.")
            }
            return .string(value)
        case "Fn::Length":
            return .integer(try list(argument, name).count)
        case "Fn::ToJsonString":
            guard let resolved = try resolve(argument) else { return .string("") }
            return .string(resolved.json())
        case "Fn::Cidr":
            let items = argument.items
            guard items.count == 3, let count = Int(try text(items[1], name)), let bits = Int(try text(items[2], name)) else {
                throw .cfnValidation("Template error: Fn::Cidr requires a list of three values: an address block, a count and the subnet mask bits")
            }
            return .array(try Cidr.subnets(of: try text(items[0], name), count: count, hostBits: bits).map { .string($0) })
        default:
            throw .cfnValidation("Template format error: Unrecognized function \(name)")
        }
    }

    func ref(_ target: String) throws(AWSError) -> Document? {
        switch target {
        case "AWS::AccountId": return .string(context.accountId)
        case "AWS::Region": return .string(context.region)
        case "AWS::StackName": return .string(context.stackName)
        case "AWS::StackId": return .string(context.stackId)
        case "AWS::Partition": return .string(context.partition)
        case "AWS::URLSuffix": return .string(context.urlSuffix)
        case "AWS::NotificationARNs": return .array(context.notificationARNs.map { .string($0) })
        case "AWS::NoValue": return nil
        default:
            if let parameter = context.parameters[target] { return parameter.document }
            if let resource = context.resources[target] { return .string(resource.ref) }
            throw .cfnValidation("Template format error: Unresolved resource dependencies [\(target)] in the Resources block of the template")
        }
    }

    func getAtt(_ resource: String, _ attribute: String) throws(AWSError) -> String {
        guard let values = context.resources[resource] else {
            throw .cfnValidation("Template error: instance of Fn::GetAtt references undefined resource \(resource)")
        }
        guard let value = values.attributes[attribute] else {
            throw .cfnValidation("Template error: resource \(resource) does not support attribute type \(attribute) in Fn::GetAtt")
        }
        return value
    }

    private func sub(_ argument: Document) throws(AWSError) -> String {
        let template: String
        var variables: [String: String] = [:]
        switch argument {
        case .string(let text): template = text
        case .array(let items) where items.count == 2:
            guard let text = items[0].string else { throw .cfnValidation("Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string") }
            template = text
            for (key, value) in items[1].members {
                guard let resolved = try resolve(value), let text = resolved.string else {
                    throw .cfnValidation("Template error: every Fn::Sub variable must resolve to a string")
                }
                variables[key] = text
            }
        default:
            throw .cfnValidation("Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string")
        }
        var out = ""
        for piece in SubText.pieces(template) {
            switch piece {
            case .literal(let text): out += text
            case .variable(let name):
                if let value = variables[name] {
                    out += value
                } else if let dot = name.firstIndex(of: "."), !name.hasPrefix("AWS::") {
                    out += try getAtt(String(name[..<dot]), String(name[name.index(after: dot)...]))
                } else {
                    guard let value = try ref(name) else { continue }
                    switch value {
                    case .array(let items): out += items.compactMap(\.string).joined(separator: ",")
                    default: out += value.string ?? ""
                    }
                }
            }
        }
        return out
    }
}

/// `Fn::Cidr`: the first `count` subnets of an IPv4 block, each with `hostBits` bits for hosts.
enum Cidr {
    static func subnets(of block: String, count: Int, hostBits: Int) throws(AWSError) -> [String] {
        let parts = block.split(separator: "/")
        let octets = parts.first?.split(separator: ".").compactMap { UInt32($0) } ?? []
        guard parts.count == 2, octets.count == 4, octets.allSatisfy({ $0 < 256 }), let prefix = Int(parts[1]), (0...32).contains(prefix),
            (1...256).contains(count), (0...32).contains(hostBits), 32 - hostBits >= prefix
        else {
            throw .cfnValidation("Template error: Fn::Cidr could not divide \(block) into \(count) subnets of /\(32 - hostBits)")
        }
        let base = octets.reduce(0) { $0 << 8 | $1 } & (prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix))
        let available = 1 << ((32 - hostBits) - prefix)
        guard count <= available else { throw .cfnValidation("Template error: Fn::Cidr could not divide \(block) into \(count) subnets of /\(32 - hostBits)") }
        return (0..<count).map { index in
            let address = base + UInt32(index) << hostBits
            return "\(address >> 24).\(address >> 16 & 255).\(address >> 8 & 255).\(address & 255)/\(32 - hostBits)"
        }
    }
}
