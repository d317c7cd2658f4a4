#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// A parameter as a request gives it.
public struct ParameterInput: Sendable, Equatable {
    public var key: String
    public var value: String?
    public var usePreviousValue: Bool

    public init(key: String, value: String?, usePreviousValue: Bool = false) {
        self.key = key
        self.value = value
        self.usePreviousValue = usePreviousValue
    }
}

/// What CreateStack, UpdateStack and CreateChangeSet ask for, the template already read and transformed.
public struct StackRequest: Sendable {
    public var stackName: String
    public var originalTemplate: String
    public var template: StackTemplate
    public var parameters: [ParameterInput]
    public var tags: [StackTag]?
    public var capabilities: [String]
    public var disableRollback: Bool
    public var notificationARNs: [String]

    public init(
        stackName: String, originalTemplate: String, template: StackTemplate, parameters: [ParameterInput], tags: [StackTag]?, capabilities: [String],
        disableRollback: Bool = false, notificationARNs: [String] = []
    ) {
        self.stackName = stackName
        self.originalTemplate = originalTemplate
        self.template = template
        self.parameters = parameters
        self.tags = tags
        self.capabilities = capabilities
        self.disableRollback = disableRollback
        self.notificationARNs = notificationARNs
    }
}

extension CloudFormationState {
    static let updatableStatuses: Set<String> = [
        "CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE",
    ]

    static func checkStackName(_ name: String) throws(AWSError) {
        let valid =
            (1...128).contains(name.count) && name.first.map { $0.isASCII && $0.isLetter } == true
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        guard valid else {
            throw .cfnValidation(
                "1 validation error detected: Value '\(name)' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*|arn:[-a-zA-Z0-9:/._+]*"
            )
        }
    }

    static func checkCapabilities(_ template: StackTemplate, granted: [String]) throws(AWSError) {
        for capability in granted where !["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"].contains(capability) {
            throw .cfnValidation(
                "1 validation error detected: Value '[\(capability)]' at 'capabilities' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [CAPABILITY_AUTO_EXPAND, CAPABILITY_NAMED_IAM, CAPABILITY_IAM]]"
            )
        }
        let needed = template.requiredCapabilities()
        let satisfied = needed.allSatisfy { need in
            granted.contains(need) || need == "CAPABILITY_IAM" && granted.contains("CAPABILITY_NAMED_IAM")
        }
        guard satisfied else {
            throw AWSError(type: "InsufficientCapabilitiesException", message: "Requires capabilities : [\(needed.joined(separator: ", "))]")
        }
    }

    /// The parameters' values: given, previous or default, each checked against its declaration.
    public static func resolveParameters(
        _ declarations: [StackTemplate.ParameterDeclaration], _ inputs: [ParameterInput], previous: [StackParameter]
    ) throws(AWSError) -> [StackParameter] {
        let declared = Set(declarations.map(\.name))
        let unknown = inputs.map(\.key).filter { !declared.contains($0) }
        guard unknown.isEmpty else { throw .cfnValidation("Parameters: [\(unknown.joined(separator: ", "))] do not exist in the template") }
        var resolved: [StackParameter] = []
        var missing: [String] = []
        for declaration in declarations {
            let input = inputs.first { $0.key == declaration.name }
            let value: String?
            if let input, input.usePreviousValue {
                guard let old = previous.first(where: { $0.key == declaration.name }) else {
                    throw .cfnValidation("Invalid input for parameter key \(declaration.name). Cannot specify usePreviousValue as true for a parameter key not in the previous template")
                }
                value = old.value
            } else {
                value = input?.value ?? declaration.defaultValue
            }
            guard let value else {
                missing.append(declaration.name)
                continue
            }
            try check(value, against: declaration)
            resolved.append(StackParameter(key: declaration.name, value: value, noEcho: declaration.noEcho))
        }
        guard missing.isEmpty else { throw .cfnValidation("Parameters: [\(missing.joined(separator: ", "))] must have values") }
        return resolved
    }

    static func check(_ value: String, against declaration: StackTemplate.ParameterDeclaration) throws(AWSError) {
        let name = declaration.name
        let described = { (message: String) -> AWSError in
            .cfnValidation(declaration.constraintDescription.map { "Parameter '\(name)' failed to satisfy constraint: \($0)" } ?? message)
        }
        if declaration.type == "Number" || declaration.type == "List<Number>" {
            let items = declaration.type == "Number" ? [value] : value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            for item in items {
                guard let number = Double(Substring(item).trimmingSpaces) else { throw .cfnValidation("Parameter '\(name)' must be a number.") }
                if let minimum = declaration.minValue, number < minimum { throw described("Parameter '\(name)' must be a number not less than \(Self.format(minimum))") }
                if let maximum = declaration.maxValue, number > maximum { throw described("Parameter '\(name)' must be a number not greater than \(Self.format(maximum))") }
            }
        }
        if let allowed = declaration.allowedValues, !allowed.isEmpty {
            let items = declaration.isList ? value.split(separator: ",", omittingEmptySubsequences: false).map(String.init) : [value]
            for item in items where !allowed.contains(item) { throw described("Parameter '\(name)' must be one of AllowedValues") }
        }
        if let minimum = declaration.minLength, value.count < minimum {
            throw described("Parameter '\(name)' must contain at least \(minimum) characters")
        }
        if let maximum = declaration.maxLength, value.count > maximum {
            throw described("Parameter '\(name)' must contain at most \(maximum) characters")
        }
        if let pattern = declaration.allowedPattern {
            let regex = try? Regex("^(?:" + pattern + ")$")
            if let regex, (try? regex.wholeMatch(in: value)) == nil { throw described("Parameter '\(name)' must match pattern \(pattern)") }
        }
    }

    static func format(_ number: Double) -> String {
        number == number.rounded() ? String(Int(number)) : String(number)
    }

    /// The context a stack's intrinsic functions are worked out in.
    public func context(for stack: StackRecord, template: StackTemplate) -> IntrinsicContext {
        var context = IntrinsicContext()
        context.stackName = stack.stackName
        context.stackId = stack.stackId
        context.region = names.region
        context.accountId = names.accountId
        context.partition = names.partition
        context.notificationARNs = stack.notificationARNs
        context.mappings = template.mappings
        context.conditionDeclarations = template.conditions
        for parameter in stack.parameters {
            let declaration = template.parameters.first { $0.name == parameter.key }
            context.parameters[parameter.key] =
                declaration?.isList == true
                ? .list(parameter.value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces })
                : .text(parameter.value)
        }
        for (logicalId, resource) in stack.resources {
            if let values = resource.values, resource.status != "DELETE_COMPLETE" { context.resources[logicalId] = values }
        }
        context.exports = exports.mapValues(\.value)
        return context
    }

    // MARK: CreateStack, UpdateStack, DeleteStack

    public mutating func createStack(_ request: StackRequest, now: Date, using random: inout some RandomNumberGenerator, changes: inout ChangeSet)
        throws(AWSError) -> String
    {
        try Self.checkStackName(request.stackName)
        if let existing = stack(request.stackName), existing.status != "REVIEW_IN_PROGRESS" || !existing.resources.isEmpty {
            throw AWSError(type: "AlreadyExistsException", message: "Stack [\(request.stackName)] already exists")
        }
        try Self.checkCapabilities(request.template, granted: request.capabilities)
        if !request.template.transforms.isEmpty, !request.capabilities.contains("CAPABILITY_AUTO_EXPAND") {
            throw AWSError(type: "InsufficientCapabilitiesException", message: "Requires capabilities : [CAPABILITY_AUTO_EXPAND]")
        }
        let parameters = try Self.resolveParameters(request.template.parameters, request.parameters, previous: [])
        var stack = StackRecord(
            stackId: stack(request.stackName)?.stackId ?? stackId(name: request.stackName, using: &random), stackName: request.stackName,
            status: "CREATE_IN_PROGRESS", description: request.template.description, originalTemplate: request.originalTemplate,
            template: request.template.document.json(), parameters: parameters, tags: request.tags ?? [], capabilities: request.capabilities,
            notificationARNs: request.notificationARNs, disableRollback: request.disableRollback, creationTime: now)
        _ = try context(for: stack, template: request.template).evaluateConditions()
        stack.operation = StackOperation(kind: .create)
        Self.stackEvent(&stack, status: "CREATE_IN_PROGRESS", reason: "User Initiated", now: now, using: &random)
        save(stack, changes: &changes)
        return stack.stackId
    }

    public mutating func updateStack(_ request: StackRequest, now: Date, using random: inout some RandomNumberGenerator, changes: inout ChangeSet)
        throws(AWSError)
        -> String
    {
        var stack = try existingStack(request.stackName)
        try Self.checkUpdatable(stack)
        try Self.checkCapabilities(request.template, granted: request.capabilities)
        let parameters = try Self.resolveParameters(request.template.parameters, request.parameters, previous: stack.parameters)
        let tags = request.tags ?? stack.tags
        guard !Self.sameTemplate(request.template.document.json(), stack.template) || parameters != stack.parameters || tags != stack.tags else {
            throw .cfnValidation("No updates are to be performed.")
        }
        try beginUpdate(&stack, request: request, parameters: parameters, tags: tags, now: now, using: &random)
        save(stack, changes: &changes)
        return stack.stackId
    }

    /// Whether two templates (JSON text) hold the same values, whatever their members' order.
    static func sameTemplate(_ one: String, _ other: String) -> Bool {
        one == other || Document.parseJSON(Array(one.utf8)) == Document.parseJSON(Array(other.utf8))
    }

    static func checkUpdatable(_ stack: StackRecord) throws(AWSError) {
        guard updatableStatuses.contains(stack.status) else {
            throw .cfnValidation("Stack:\(stack.stackId) is in \(stack.status) state and can not be updated.")
        }
    }

    private func beginUpdate(
        _ stack: inout StackRecord, request: StackRequest, parameters: [StackParameter], tags: [StackTag], now: Date,
        using random: inout some RandomNumberGenerator
    ) throws(AWSError) {
        let previous = PreviousStack(
            template: stack.template, originalTemplate: stack.originalTemplate, parameters: stack.parameters, resources: stack.resources,
            outputs: stack.outputs, tags: stack.tags, capabilities: stack.capabilities, description: stack.description,
            disableRollback: stack.disableRollback)
        stack.adopt(
            template: request.template.document.json(), originalTemplate: request.originalTemplate, description: request.template.description,
            parameters: parameters, tags: tags, capabilities: request.capabilities)
        stack.disableRollback = request.disableRollback
        _ = try context(for: stack, template: request.template).evaluateConditions()
        stack.operation = StackOperation(kind: .update, previous: previous)
        stack.status = "UPDATE_IN_PROGRESS"
        stack.statusReason = "User Initiated"
        stack.lastUpdatedTime = now
        Self.stackEvent(&stack, status: "UPDATE_IN_PROGRESS", reason: "User Initiated", now: now, using: &random)
    }

    public mutating func deleteStack(_ nameOrId: String, retain: [String], now: Date, using random: inout some RandomNumberGenerator, changes: inout ChangeSet)
        throws(AWSError)
    {
        guard var stack = stack(nameOrId), !stack.isDeleted else { return }
        if stack.status == "DELETE_IN_PROGRESS" { return }
        if stack.terminationProtection {
            throw .cfnValidation("Stack [\(stack.stackName)] cannot be deleted while TerminationProtection is enabled")
        }
        if stack.operation != nil {
            throw .cfnValidation("Stack [\(stack.stackName)] cannot be deleted while in status \(stack.status)")
        }
        for output in stack.outputs {
            guard let export = output.exportName else { continue }
            if let importer = stacks.values.first(where: { !$0.isDeleted && $0.stackId != stack.stackId && $0.imports.contains(export) }) {
                throw .cfnValidation("Export \(export) cannot be deleted as it is in use by \(importer.stackName)")
            }
        }
        if !retain.isEmpty {
            guard stack.status == "DELETE_FAILED" else {
                throw .cfnValidation("Invalid operation on stack [\(stack.stackId)]. RetainResources can only be specified when the stack is in the DELETE_FAILED state")
            }
            for logicalId in retain { stack.resources[logicalId]?.deletionPolicy = "Retain" }
        }
        // What an earlier delete (or rollback) failed to delete is tried again.
        for (logicalId, resource) in stack.resources where resource.status == "DELETE_FAILED" {
            stack.resources[logicalId]?.status = "DELETE_IN_PROGRESS"
        }
        stack.changeSets = []
        stack.status = "DELETE_IN_PROGRESS"
        stack.statusReason = "User Initiated"
        Self.stackEvent(&stack, status: "DELETE_IN_PROGRESS", reason: "User Initiated", now: now, using: &random)
        stack.operation = StackOperation(kind: .delete)
        save(stack, changes: &changes)
    }

    // MARK: Change sets

    public struct ChangeSetRequest: Sendable {
        public var stack: StackRequest
        public var changeSetName: String
        public var changeSetType: String
        public var description: String?
        /// Why the template could not be transformed: the change set is made, FAILED, with this reason.
        public var failure: String?

        public init(stack: StackRequest, changeSetName: String, changeSetType: String, description: String?, failure: String? = nil) {
            self.stack = stack
            self.changeSetName = changeSetName
            self.changeSetType = changeSetType
            self.description = description
            self.failure = failure
        }
    }

    public mutating func createChangeSet(
        _ request: ChangeSetRequest, now: Date, using random: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) throws(AWSError) -> (id: String, stackId: String) {
        let name = request.changeSetName
        guard (1...128).contains(name.count), name.first?.isLetter == true, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw .cfnValidation(
                "1 validation error detected: Value '\(name)' at 'changeSetName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"
            )
        }
        try Self.checkStackName(request.stack.stackName)
        var stack: StackRecord
        switch request.changeSetType {
        case "CREATE":
            if let existing = self.stack(request.stack.stackName) {
                guard existing.status == "REVIEW_IN_PROGRESS" else {
                    throw AWSError(
                        type: "AlreadyExistsException",
                        message: "Stack [\(request.stack.stackName)] already exists and cannot be created again with the changeSet [\(name)].")
                }
                stack = existing
            } else {
                stack = StackRecord(
                    stackId: stackId(name: request.stack.stackName, using: &random), stackName: request.stack.stackName, status: "REVIEW_IN_PROGRESS",
                    description: request.stack.template.description, originalTemplate: "", template: "{}", parameters: [], tags: request.stack.tags ?? [],
                    capabilities: [], disableRollback: false, creationTime: now)
                Self.stackEvent(&stack, status: "REVIEW_IN_PROGRESS", reason: "User Initiated", now: now, using: &random)
            }
        case "UPDATE":
            guard let existing = self.stack(request.stack.stackName), existing.status != "REVIEW_IN_PROGRESS" else {
                throw .cfnValidation("Stack [\(request.stack.stackName)] does not exist")
            }
            stack = existing
            if stack.operation != nil || !Self.updatableStatuses.contains(stack.status) {
                throw .cfnValidation("Stack:\(stack.stackId) is in \(stack.status) state and can not be updated.")
            }
        case "IMPORT":
            throw .cfnValidation("Stevedore does not import existing resources into stacks: ChangeSetType IMPORT is not supported.")
        default:
            throw .cfnValidation(
                "1 validation error detected: Value '\(request.changeSetType)' at 'changeSetType' failed to satisfy constraint: Member must satisfy enum value set: [UPDATE, IMPORT, CREATE]"
            )
        }
        if stack.changeSets.contains(where: { $0.name == name }) {
            throw AWSError(type: "AlreadyExistsException", message: "ChangeSet [\(name)] already exists")
        }
        let id = names.arn("cloudformation", "changeSet/\(name)/\(Identifiers.uuid(using: &random))")
        var record = ChangeSetRecord(
            id: id, name: name, description: request.description, type: request.changeSetType, status: "CREATE_COMPLETE", executionStatus: "AVAILABLE",
            creationTime: now, originalTemplate: request.stack.originalTemplate, template: request.stack.template.document.json(), parameters: [],
            tags: request.stack.tags ?? stack.tags, capabilities: request.stack.capabilities, changes: [], notificationARNs: request.stack.notificationARNs)
        if let failure = request.failure {
            record.status = "FAILED"
            record.statusReason = failure
            record.executionStatus = "UNAVAILABLE"
        } else {
            try Self.checkCapabilities(request.stack.template, granted: request.stack.capabilities)
            record.parameters = try Self.resolveParameters(
                request.stack.template.parameters, request.stack.parameters, previous: request.changeSetType == "UPDATE" ? stack.parameters : [])
            record.changes = resourceChanges(from: stack, to: request.stack.template, parameters: record.parameters, isNew: request.changeSetType == "CREATE")
            if request.changeSetType == "UPDATE", Self.sameTemplate(record.template, stack.template), record.parameters == stack.parameters, record.tags == stack.tags {
                record.status = "FAILED"
                record.statusReason = "The submitted information didn't contain changes. Submit different information to create a change set."
                record.executionStatus = "UNAVAILABLE"
            }
        }
        stack.changeSets.append(record)
        save(stack, changes: &changes)
        return (id, stack.stackId)
    }

    /// What applying `template` to the stack would add, modify and remove.
    func resourceChanges(from stack: StackRecord, to template: StackTemplate, parameters: [StackParameter], isNew: Bool) -> [ResourceChange] {
        let old = isNew ? nil : (try? StackTemplate.parse(stack.template))
        let changedParameters = Set(
            parameters.filter { parameter in stack.parameters.first { $0.key == parameter.key }?.value != parameter.value }.map(\.key))
        var changes: [ResourceChange] = []
        for resource in template.resources {
            guard let before = old?.resource(resource.logicalId) else {
                changes.append(ResourceChange(action: "Add", logicalId: resource.logicalId, type: resource.type))
                continue
            }
            let physicalId = stack.resources[resource.logicalId]?.physicalId
            if before.type != resource.type {
                changes.append(ResourceChange(action: "Modify", logicalId: resource.logicalId, physicalId: physicalId, type: resource.type, replacement: "True"))
            } else if before.fragment != resource.fragment {
                let replacement = ResourceTypes.replacement(type: resource.type, old: before.properties, new: resource.properties)
                let scope = before.properties != resource.properties ? ["Properties"] : ["Metadata"]
                changes.append(
                    ResourceChange(action: "Modify", logicalId: resource.logicalId, physicalId: physicalId, type: resource.type, replacement: replacement, scope: scope))
            } else if References.of(resource.properties).contains(where: { if case .ref(let name) = $0 { changedParameters.contains(name) } else { false } }) {
                changes.append(
                    ResourceChange(action: "Modify", logicalId: resource.logicalId, physicalId: physicalId, type: resource.type, replacement: "Conditional", scope: ["Properties"]))
            }
        }
        for resource in old?.resources ?? [] where template.resource(resource.logicalId) == nil {
            changes.append(ResourceChange(action: "Remove", logicalId: resource.logicalId, physicalId: stack.resources[resource.logicalId]?.physicalId, type: resource.type))
        }
        return changes
    }

    /// The stack holding a change set named by ARN, or by name within a stack.
    public func changeSet(_ nameOrId: String, stackName: String?) throws(AWSError) -> (StackRecord, ChangeSetRecord) {
        if nameOrId.hasPrefix("arn:") {
            for stack in stacks.values {
                if let record = stack.changeSets.first(where: { $0.id == nameOrId }) { return (stack, record) }
            }
            throw .changeSetNotFound(nameOrId)
        }
        guard let stackName else {
            throw .cfnValidation("StackName must be specified if ChangeSetName is not specified as an ARN.")
        }
        guard let stack = stack(stackName) else { throw .changeSetNotFound(nameOrId) }
        guard let record = stack.changeSets.first(where: { $0.name == nameOrId }) else { throw .changeSetNotFound(nameOrId) }
        return (stack, record)
    }

    /// - Returns: the stack's id.
    @discardableResult
    public mutating func executeChangeSet(
        _ nameOrId: String, stackName: String?, disableRollback: Bool, now: Date, using random: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) throws(AWSError) -> String {
        var (stack, record) = try changeSet(nameOrId, stackName: stackName)
        guard record.status == "CREATE_COMPLETE", record.executionStatus == "AVAILABLE" else {
            throw AWSError(
                type: "InvalidChangeSetStatus", message: "ChangeSet [\(record.id)] cannot be executed in its current status of [\(record.status)]")
        }
        let template = try StackTemplate(Document.parseJSON(Array(record.template.utf8)) ?? .object([]))
        let request = StackRequest(
            stackName: stack.stackName, originalTemplate: record.originalTemplate, template: template, parameters: [], tags: record.tags,
            capabilities: record.capabilities, disableRollback: disableRollback, notificationARNs: record.notificationARNs)
        if record.type == "CREATE" {
            stack.status = "CREATE_IN_PROGRESS"
            stack.adopt(
                template: record.template, originalTemplate: record.originalTemplate, description: template.description,
                parameters: record.parameters, tags: record.tags, capabilities: record.capabilities)
            stack.disableRollback = disableRollback
            stack.notificationARNs = record.notificationARNs
            stack.operation = StackOperation(kind: .create)
            Self.stackEvent(&stack, status: "CREATE_IN_PROGRESS", reason: "User Initiated", now: now, using: &random)
        } else {
            try Self.checkUpdatable(stack)
            try beginUpdate(&stack, request: request, parameters: record.parameters, tags: record.tags, now: now, using: &random)
        }
        // Executing a change set removes the stack's change sets, as in AWS.
        stack.changeSets = []
        stack.changeSetId = record.id
        save(stack, changes: &changes)
        return stack.stackId
    }

    public mutating func deleteChangeSet(_ nameOrId: String, stackName: String?, changes: inout ChangeSet) throws(AWSError) {
        var (stack, record) = try changeSet(nameOrId, stackName: stackName)
        guard record.executionStatus != "EXECUTE_IN_PROGRESS" else {
            throw AWSError(type: "InvalidChangeSetStatus", message: "Cannot delete ChangeSet in status \(record.executionStatus)")
        }
        stack.changeSets.removeAll { $0.id == record.id }
        save(stack, changes: &changes)
    }

    // MARK: Events

    static func stackEvent(_ stack: inout StackRecord, status: String, reason: String?, now: Date, using random: inout some RandomNumberGenerator) {
        stack.status = status
        stack.statusReason = reason
        stack.events.append(
            StackEvent(
                eventId: Identifiers.uuid(using: &random), logicalId: stack.stackName, physicalId: stack.stackId, type: "AWS::CloudFormation::Stack",
                status: status, reason: reason, timestamp: now))
    }

    static func resourceEvent(
        _ stack: inout StackRecord, _ logicalId: String, type: String, physicalId: String?, status: String, reason: String? = nil, properties: Document? = nil,
        now: Date, using random: inout some RandomNumberGenerator
    ) {
        stack.events.append(
            StackEvent(
                eventId: "\(logicalId)-\(status)-\(Identifiers.uuid(using: &random))", logicalId: logicalId, physicalId: physicalId ?? "", type: type,
                status: status, reason: reason, timestamp: now, properties: properties?.json()))
    }
}
