import StevedoreCore

/// A template as CloudFormation reads it (JSON or YAML, short tags in their long forms): its
/// parameters, mappings, conditions, resources and outputs, checked the way CloudFormation checks
/// a template before it creates anything.
public struct StackTemplate: Sendable {
    public var document: Document
    public var description: String?
    public var transforms: [String]
    public var parameters: [ParameterDeclaration]
    public var mappings: Document
    public var conditions: [(String, Document)]
    public var resources: [ResourceDeclaration]
    public var outputs: [OutputDeclaration]

    public struct ParameterDeclaration: Sendable {
        public var name: String
        public var type: String
        public var defaultValue: String?
        public var allowedValues: [String]?
        public var allowedPattern: String?
        public var noEcho: Bool
        public var description: String?
        public var minLength: Int?
        public var maxLength: Int?
        public var minValue: Double?
        public var maxValue: Double?
        public var constraintDescription: String?
        /// Comma-delimited lists and `List<…>` types are lists when referenced.
        public var isList: Bool { type == "CommaDelimitedList" || type.hasPrefix("List<") }
    }

    public struct ResourceDeclaration: Sendable {
        public var logicalId: String
        public var type: String
        public var properties: Document
        public var dependsOn: [String]
        public var condition: String?
        /// `Delete` (the default), `Retain` or `Snapshot` (treated as Delete: nothing here snapshots).
        public var deletionPolicy: String
        public var updateReplacePolicy: String
        var policies: (deletion: String, updateReplace: String) { (deletionPolicy, updateReplacePolicy) }
        /// The declaration as written, to tell whether an update changes it.
        public var fragment: Document
    }

    public struct OutputDeclaration: Sendable {
        public var name: String
        public var value: Document
        public var description: String?
        public var exportName: Document?
        public var condition: String?
    }

    public static let maximumBytes = 1_000_000

    /// Reads a template's text; CloudFormation's `ValidationError` for text it cannot read.
    public static func parse(_ text: String) throws(AWSError) -> StackTemplate {
        guard text.utf8.count <= maximumBytes else {
            throw .cfnValidation("Template may not exceed \(maximumBytes) bytes in size.")
        }
        let trimmed = text.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        let document: Document
        if trimmed.hasPrefix("{") {
            guard let parsed = Document.parseJSON(Array(text.utf8)) else {
                throw .cfnValidation("Template format error: JSON not well-formed.")
            }
            document = parsed
        } else {
            do {
                document = try YAMLReader.read(text)
            } catch {
                throw .cfnValidation("Template format error: YAML not well-formed. (\(error.description))")
            }
        }
        return try StackTemplate(document)
    }

    public init(_ document: Document) throws(AWSError) {
        guard case .object(let sections) = document else {
            throw .cfnValidation("Template format error: unsupported structure.")
        }
        self.document = document
        let known: Set<String> = [
            "AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Mappings", "Conditions", "Transform", "Resources", "Outputs", "Rules",
        ]
        // `Globals` is the SAM transform's section: the transform removes it.
        let transformed = document["Transform"] != nil
        if let unknown = sections.map(\.0).first(where: { !known.contains($0) && !(transformed && $0 == "Globals") }) {
            throw .cfnValidation("Template format error: Invalid template property or properties [\(unknown)]")
        }
        if let version = document["AWSTemplateFormatVersion"], version.string != "2010-09-09" {
            throw .cfnValidation("Template format error: Unsupported template version")
        }
        description = document["Description"]?.string
        switch document["Transform"] {
        case .string(let name)?: transforms = [name]
        case .array(let names)?: transforms = names.compactMap(\.string)
        default: transforms = []
        }
        parameters = []
        for (name, declaration) in document["Parameters"]?.members ?? [] {
            guard let type = declaration["Type"]?.string else {
                throw .cfnValidation("Template format error: Every Parameters object must contain a Type member.")
            }
            guard Self.parameterTypes.contains(type) || type.hasPrefix("AWS::") || type.hasPrefix("List<") else {
                throw .cfnValidation("Template format error: Unrecognized parameter type: \(type)")
            }
            parameters.append(
                ParameterDeclaration(
                    name: name, type: type, defaultValue: declaration["Default"]?.string,
                    allowedValues: declaration["AllowedValues"].map { $0.items.compactMap(\.string) },
                    allowedPattern: declaration["AllowedPattern"]?.string, noEcho: declaration["NoEcho"]?.string == "true",
                    description: declaration["Description"]?.string, minLength: declaration["MinLength"]?.string.flatMap { Int($0) },
                    maxLength: declaration["MaxLength"]?.string.flatMap { Int($0) }, minValue: declaration["MinValue"]?.string.flatMap { Double($0) },
                    maxValue: declaration["MaxValue"]?.string.flatMap { Double($0) }, constraintDescription: declaration["ConstraintDescription"]?.string))
        }
        mappings = document["Mappings"] ?? .object([])
        conditions = document["Conditions"]?.members ?? []
        guard let resourceSection = document["Resources"], case .object(let declared) = resourceSection, !declared.isEmpty else {
            throw .cfnValidation("Template format error: At least one Resources member must be defined.")
        }
        resources = []
        for (logicalId, declaration) in declared {
            guard logicalId.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }), !logicalId.isEmpty, logicalId.count <= 255 else {
                throw .cfnValidation("Template format error: Resource name \(logicalId) is non alphanumeric.")
            }
            guard case .object = declaration, let type = declaration["Type"]?.string else {
                throw .cfnValidation("Template format error: [/Resources/\(logicalId)] Every Resources object must contain a Type member.")
            }
            let dependsOn: [String] =
                switch declaration["DependsOn"] {
                case .string(let one)?: [one]
                case .array(let many)?: many.compactMap(\.string)
                default: []
                }
            resources.append(
                ResourceDeclaration(
                    logicalId: logicalId, type: type, properties: declaration["Properties"] ?? .object([]), dependsOn: dependsOn,
                    condition: declaration["Condition"]?.string, deletionPolicy: declaration["DeletionPolicy"]?.string ?? "Delete",
                    updateReplacePolicy: declaration["UpdateReplacePolicy"]?.string ?? "Delete", fragment: declaration))
        }
        outputs = (document["Outputs"]?.members ?? []).map { name, output in
            OutputDeclaration(
                name: name, value: output["Value"] ?? .string(""), description: output["Description"]?.string, exportName: output["Export"]?["Name"],
                condition: output["Condition"]?.string)
        }
        // A transformed template's references are checked once it is processed (SAM makes the
        // resources its outputs name).
        if transforms.isEmpty { try checkReferences() }
    }

    static let parameterTypes: Set<String> = ["String", "Number", "CommaDelimitedList", "List<Number>"]

    public func resource(_ logicalId: String) -> ResourceDeclaration? { resources.first { $0.logicalId == logicalId } }

    /// Every Ref, GetAtt, Sub and DependsOn names a parameter, pseudo parameter or resource;
    /// conditions named exist; the resources' dependencies have no cycle.
    func checkReferences() throws(AWSError) {
        let resourceIds = Set(resources.map(\.logicalId))
        let parameterNames = Set(parameters.map(\.name))
        let conditionNames = Set(conditions.map(\.0))
        for resource in resources {
            for dependency in resource.dependsOn where !resourceIds.contains(dependency) {
                throw .cfnValidation("Template format error: Unresolved resource dependencies [\(dependency)] in the Resources block of the template")
            }
            if let condition = resource.condition, !conditionNames.contains(condition) {
                throw .cfnValidation("Template format error: Unresolved dependencies [\(condition)]. Cannot reference resources in the Conditions block of the template")
            }
            for reference in References.of(resource.properties) {
                switch reference {
                case .ref(let name):
                    guard resourceIds.contains(name) || parameterNames.contains(name) || PseudoParameters.names.contains(name) else {
                        throw .cfnValidation("Template format error: Unresolved resource dependencies [\(name)] in the Resources block of the template")
                    }
                case .getAtt(let name, _):
                    guard resourceIds.contains(name) else {
                        throw .cfnValidation("Template error: instance of Fn::GetAtt references undefined resource \(name)")
                    }
                case .condition(let name):
                    guard conditionNames.contains(name) else { throw .cfnValidation("Template error: unresolved condition dependency \(name) in Fn::If") }
                }
            }
        }
        for output in outputs {
            if let condition = output.condition, !conditionNames.contains(condition) {
                throw .cfnValidation("Template format error: Unresolved dependencies [\(condition)]. Cannot reference resources in the Conditions block of the template")
            }
            for case .getAtt(let name, _) in References.of(output.value) where !resourceIds.contains(name) {
                throw .cfnValidation("Template error: instance of Fn::GetAtt references undefined resource \(name)")
            }
        }
        _ = try creationOrder()
    }

    /// The resources each resource depends on (DependsOn, Ref, GetAtt, Sub), by logical id.
    public func dependencies() -> [String: Set<String>] {
        let resourceIds = Set(resources.map(\.logicalId))
        var graph: [String: Set<String>] = [:]
        for resource in resources {
            var needs = Set(resource.dependsOn)
            for reference in References.of(resource.properties) {
                switch reference {
                case .ref(let name), .getAtt(let name, _): if resourceIds.contains(name) { needs.insert(name) }
                case .condition: break
                }
            }
            needs.remove(resource.logicalId)
            graph[resource.logicalId] = needs
        }
        return graph
    }

    /// Logical ids in an order where every resource comes after those it depends on; refused
    /// with CloudFormation's words when they depend on each other in a circle.
    public func creationOrder() throws(AWSError) -> [String] {
        let graph = dependencies()
        var order: [String] = []
        var placed = Set<String>()
        var remaining = resources.map(\.logicalId)
        while !remaining.isEmpty {
            let ready = remaining.filter { graph[$0, default: []].isSubset(of: placed) }
            guard !ready.isEmpty else {
                throw .cfnValidation("Circular dependency between resources: [\(remaining.sorted().joined(separator: ", "))]")
            }
            order += ready
            placed.formUnion(ready)
            remaining.removeAll { placed.contains($0) }
        }
        return order
    }

    /// What a template needs acknowledged: IAM resources (named ones need CAPABILITY_NAMED_IAM).
    public func requiredCapabilities() -> [String] {
        var needed: [String] = []
        let iam = resources.filter { $0.type.hasPrefix("AWS::IAM::") }
        if iam.contains(where: { $0.properties["RoleName"] != nil || $0.properties["UserName"] != nil || $0.properties["GroupName"] != nil }) {
            needed.append("CAPABILITY_NAMED_IAM")
        } else if !iam.isEmpty {
            needed.append("CAPABILITY_IAM")
        }
        return needed
    }
}

/// The names a piece of template refers to.
enum References {
    enum Reference: Equatable {
        case ref(String)
        case getAtt(String, String)
        case condition(String)
    }

    static func of(_ value: Document) -> [Reference] {
        var found: [Reference] = []
        collect(value, into: &found)
        return found
    }

    private static func collect(_ value: Document, into found: inout [Reference]) {
        switch value {
        case .object(let members):
            if members.count == 1, let (key, argument) = members.first {
                switch key {
                case "Ref":
                    if let name = argument.string { found.append(.ref(name)) }
                    return
                case "Fn::GetAtt":
                    if let target = getAttTarget(argument) { found.append(.getAtt(target.0, target.1)) }
                    return
                case "Fn::Sub":
                    let (text, variables): (String?, [(String, Document)]) =
                        switch argument {
                        case .string(let text): (text, [])
                        case .array(let items): (items.first?.string, items.count > 1 ? items[1].members : [])
                        default: (nil, [])
                        }
                    let local = Set(variables.map(\.0))
                    for (_, variable) in variables { collect(variable, into: &found) }
                    for name in SubText.variables(in: text ?? "") where !local.contains(name) {
                        if let dot = name.firstIndex(of: ".") {
                            found.append(.getAtt(String(name[..<dot]), String(name[name.index(after: dot)...])))
                        } else {
                            found.append(.ref(name))
                        }
                    }
                    return
                case "Fn::If":
                    if let name = argument.items.first?.string { found.append(.condition(name)) }
                    for item in argument.items.dropFirst() { collect(item, into: &found) }
                    return
                default: break
                }
            }
            for (_, member) in members { collect(member, into: &found) }
        case .array(let items):
            for item in items { collect(item, into: &found) }
        default: break
        }
    }

    static func getAttTarget(_ argument: Document) -> (String, String)? {
        switch argument {
        case .array(let items) where items.count == 2:
            guard let name = items[0].string else { return nil }
            return (name, items[1].string ?? "")
        case .string(let text):
            guard let dot = text.firstIndex(of: ".") else { return nil }
            return (String(text[..<dot]), String(text[text.index(after: dot)...]))
        default: return nil
        }
    }
}

/// `Fn::Sub`'s text: `${Name}` and `${Resource.Attribute}` placeholders, `${!Literal}` written as `${Literal}`.
enum SubText {
    enum Piece: Equatable {
        case literal(String)
        case variable(String)
    }

    static func pieces(_ text: String) -> [Piece] {
        var pieces: [Piece] = []
        var literal = ""
        var rest = Substring(text)
        while let start = rest.firstRange(of: "${") {
            literal += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                literal += rest[start.lowerBound...]
                rest = ""
                break
            }
            let name = rest[start.upperBound..<end]
            if name.hasPrefix("!") {
                literal += "${" + name.dropFirst() + "}"
            } else {
                if !literal.isEmpty { pieces.append(.literal(literal)) }
                literal = ""
                pieces.append(.variable(name.trimmingSpaces))
            }
            rest = rest[rest.index(after: end)...]
        }
        literal += rest
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        return pieces
    }

    static func variables(in text: String) -> [String] {
        pieces(text).compactMap { if case .variable(let name) = $0 { name } else { nil } }
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

/// The pseudo parameters every template may Ref.
public enum PseudoParameters {
    public static let names: Set<String> = [
        "AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition", "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
    ]
}

extension AWSError {
    /// CloudFormation's refusal of a request or template.
    public static func cfnValidation(_ message: String) -> AWSError {
        AWSError(type: "ValidationError", message: message)
    }
}
