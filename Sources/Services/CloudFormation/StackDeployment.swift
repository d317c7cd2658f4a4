#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// How a step the deployer ran ended.
public enum StepOutcome: Sendable, Equatable {
    case succeeded(physicalId: String, values: ResourceValues)
    case failed(String)
}

/// A step handed to the deployer, with the stack it belongs to and the key it reports back under.
public struct StartedStep: Sendable, Equatable {
    public var stackId: String
    public var key: String
    public var step: ResourceStep
}

/// The deployer's decisions: which resources to create, update or delete next (each only after
/// those it depends on, independent ones together), what a finished step changes, and how a
/// failure rolls back. Pure: the deployer runs the steps and reports their outcomes.
extension CloudFormationState {
    /// Starts every step that can start now, in every stack under way, and moves stacks whose
    /// steps are all done to their next phase or status.
    public mutating func startSteps(now: Date, using random: inout some RandomNumberGenerator, changes: inout ChangeSet) -> [StartedStep] {
        var started: [StartedStep] = []
        for stackId in stacks.keys.sorted() {
            guard var stack = stacks[stackId], stack.operation != nil else { continue }
            let before = stack
            var guardCount = 0
            // A stack may pass through several phases in one turn (a failure, then its rollback's first deletions).
            while let operation = stack.operation, guardCount < 8 {
                guardCount += 1
                let phase = (operation.kind, operation.phase, operation.failure != nil)
                let steps = advance(&stack, now: now, using: &random)
                started += steps
                if !steps.isEmpty || stack.operation == nil { break }
                if let next = stack.operation, (next.kind, next.phase, next.failure != nil) == phase { break }
            }
            if stack != before {
                save(stack, changes: &changes)
                if stack.isDeleted { pruneDeleted(changes: &changes) }
            }
        }
        return started
    }

    /// After a restart: steps that were under way are finished with. Deletions are run again
    /// (deleting is idempotent); a create or update cut off fails, so the stack rolls back.
    public mutating func interruptSteps(now: Date, using random: inout some RandomNumberGenerator, changes: inout ChangeSet) {
        for stackId in stacks.keys.sorted() {
            guard var stack = stacks[stackId], var operation = stack.operation, !operation.inFlight.isEmpty else { continue }
            for (key, step) in operation.inFlight.sorted(by: { $0.key < $1.key }) {
                operation.inFlight[key] = nil
                switch step.action {
                case .delete:
                    // Left DELETE_IN_PROGRESS (or in the cleanup list): the next pass deletes it again.
                    break
                case .create, .update:
                    let reason = "Resource handler was interrupted: ecsd stopped while the resource was being \(step.action == .create ? "created" : "updated")."
                    if step.action == .create, stack.resources[step.logicalId]?.physicalId == nil {
                        // The name was chosen before the call: a rollback deletes by it (and by the
                        // properties) what may have been made; a delete of what was not is a no-op.
                        let nameProperty = ResourceTypes.traits[step.type]?.nameProperty ?? ""
                        stack.resources[step.logicalId]?.physicalId = step.properties[nameProperty]?.string ?? step.physicalId
                        stack.resources[step.logicalId]?.properties = step.properties
                    }
                    stack.resources[step.logicalId]?.status = step.action == .create ? "CREATE_FAILED" : "UPDATE_FAILED"
                    stack.resources[step.logicalId]?.statusReason = reason
                    Self.resourceEvent(
                        &stack, step.logicalId, type: step.type, physicalId: stack.resources[step.logicalId]?.physicalId,
                        status: step.action == .create ? "CREATE_FAILED" : "UPDATE_FAILED", reason: reason, now: now, using: &random)
                    operation.failure = operation.failure ?? Self.failureReason(kind: operation.kind, [step.logicalId])
                }
            }
            stack.operation = operation
            save(stack, changes: &changes)
        }
    }

    static let cleanupPrefix = "cleanup:"

    /// Records how a step ended.
    public mutating func finishStep(
        stackId: String, key: String, outcome: StepOutcome, now: Date, using random: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) {
        guard var stack = stacks[stackId], var operation = stack.operation, let step = operation.inFlight.removeValue(forKey: key) else { return }
        let isCleanup = key.hasPrefix(Self.cleanupPrefix)
        switch (step.action, outcome) {
        case (.create, .succeeded(let physicalId, let values)), (.update, .succeeded(let physicalId, let values)):
            // A create that replaces a resource completes its update.
            let status = step.action == .create && stack.resources[step.logicalId]?.status == "CREATE_IN_PROGRESS" ? "CREATE_COMPLETE" : "UPDATE_COMPLETE"
            var resource = stack.resources[step.logicalId] ?? StackResource(logicalId: step.logicalId, type: step.type, status: status, lastUpdated: now)
            resource.type = step.type
            resource.physicalId = physicalId
            resource.values = values
            resource.properties = step.properties
            resource.status = status
            resource.statusReason = nil
            resource.lastUpdated = now
            if let policy = step.deletionPolicy { resource.deletionPolicy = policy }
            if let policy = step.updateReplacePolicy { resource.updateReplacePolicy = policy }
            stack.resources[step.logicalId] = resource
            operation.settled.insert(step.logicalId)
            Self.resourceEvent(&stack, step.logicalId, type: step.type, physicalId: physicalId, status: status, now: now, using: &random)
        case (.delete, .succeeded):
            if isCleanup {
                operation.cleanup.removeAll { $0.physicalId == step.physicalId && $0.logicalId == step.logicalId }
            } else {
                stack.resources[step.logicalId]?.status = "DELETE_COMPLETE"
                stack.resources[step.logicalId]?.lastUpdated = now
            }
            Self.resourceEvent(&stack, step.logicalId, type: step.type, physicalId: step.physicalId, status: "DELETE_COMPLETE", now: now, using: &random)
        case (_, .failed(let reason)):
            let status =
                switch step.action {
                case .create: stack.resources[step.logicalId]?.status == "UPDATE_IN_PROGRESS" ? "UPDATE_FAILED" : "CREATE_FAILED"
                case .update: "UPDATE_FAILED"
                case .delete: "DELETE_FAILED"
                }
            if !isCleanup {
                stack.resources[step.logicalId]?.status = status
                stack.resources[step.logicalId]?.statusReason = reason
                stack.resources[step.logicalId]?.lastUpdated = now
            }
            Self.resourceEvent(&stack, step.logicalId, type: step.type, physicalId: step.physicalId, status: status, reason: reason, now: now, using: &random)
            if step.action == .delete, isCleanup {
                // A leftover that will not go is left behind, as CloudFormation leaves it, and the update still completes.
                operation.cleanup.removeAll { $0.physicalId == step.physicalId && $0.logicalId == step.logicalId }
            } else {
                operation.failure = operation.failure ?? Self.failureReason(kind: operation.kind, [step.logicalId], action: step.action)
            }
        }
        stack.operation = operation
        save(stack, changes: &changes)
    }

    static func failureReason(kind: StackOperation.Kind, _ logicalIds: [String], action: ResourceStep.Action = .create) -> String {
        let verb =
            switch (kind, action) {
            case (_, .delete): "delete"
            case (.update, .update), (.updateRollback, .update): "update"
            case (.update, _): "update"
            default: "create"
            }
        return "The following resource(s) failed to \(verb): [\(logicalIds.joined(separator: ", "))]. "
    }

    // MARK: Advancing one stack

    private func advance(_ stack: inout StackRecord, now: Date, using random: inout some RandomNumberGenerator) -> [StartedStep] {
        guard var operation = stack.operation else { return [] }
        if let failure = operation.failure {
            guard operation.inFlight.isEmpty else { return [] }
            failOperation(&stack, operation, reason: failure, now: now, using: &random)
            return []
        }
        let steps: [StartedStep]
        switch (operation.kind, operation.phase) {
        case (.create, .apply), (.update, .apply):
            steps = apply(&stack, &operation, now: now, using: &random)
        case (.updateRollback, .apply):
            steps = restore(&stack, &operation, now: now, using: &random)
        case (.delete, _), (.rollback, _):
            steps = deleteAll(&stack, &operation, now: now, using: &random)
        case (_, .cleanup):
            steps = cleanUp(&stack, &operation, now: now, using: &random)
        }
        if stack.operation != nil { stack.operation = operation }
        return steps
    }

    /// A failed operation rolls back (or stops where rollback is off).
    private func failOperation(
        _ stack: inout StackRecord, _ operation: StackOperation, reason: String, now: Date, using random: inout some RandomNumberGenerator
    ) {
        switch operation.kind {
        case .create:
            if stack.disableRollback {
                Self.stackEvent(&stack, status: "CREATE_FAILED", reason: reason, now: now, using: &random)
                stack.operation = nil
            } else {
                Self.stackEvent(&stack, status: "ROLLBACK_IN_PROGRESS", reason: reason + "Rollback requested by user.", now: now, using: &random)
                stack.operation = StackOperation(kind: .rollback)
            }
        case .update:
            if stack.disableRollback {
                Self.stackEvent(&stack, status: "UPDATE_FAILED", reason: reason, now: now, using: &random)
                Self.keepLeftovers(&stack, operation.cleanup)
                stack.operation = nil
            } else {
                Self.stackEvent(&stack, status: "UPDATE_ROLLBACK_IN_PROGRESS", reason: reason, now: now, using: &random)
                // Replaced resources' old selves are kept: the rollback brings them back.
                stack.operation = StackOperation(kind: .updateRollback, previous: operation.previous)
            }
        case .delete:
            Self.stackEvent(&stack, status: "DELETE_FAILED", reason: reason, now: now, using: &random)
            stack.operation = nil
        case .rollback:
            Self.stackEvent(&stack, status: "ROLLBACK_FAILED", reason: reason, now: now, using: &random)
            stack.operation = nil
        case .updateRollback:
            Self.stackEvent(&stack, status: "UPDATE_ROLLBACK_FAILED", reason: reason, now: now, using: &random)
            Self.keepLeftovers(&stack, operation.cleanup)
            stack.operation = nil
        }
    }

    /// Resources an operation meant to delete once it was done, kept with the stack when it stops
    /// first (under `Logical/physical-id`, which no template's logical id can be), so that
    /// deleting the stack deletes them.
    static func keepLeftovers(_ stack: inout StackRecord, _ leftovers: [StackResource]) {
        for resource in leftovers {
            guard let physicalId = resource.physicalId else { continue }
            stack.resources[resource.logicalId + "/" + physicalId] = resource
        }
    }

    /// Create and update: each resource of the template once those it depends on are done.
    private func apply(
        _ stack: inout StackRecord, _ operation: inout StackOperation, now: Date, using random: inout some RandomNumberGenerator
    ) -> [StartedStep] {
        guard let template = try? StackTemplate(Document.parseJSON(Array(stack.template.utf8)) ?? .object([])) else {
            operation.failure = "The stack's template could not be read."
            return []
        }
        var context = context(for: stack, template: template)
        let conditions: [String: Bool]
        do {
            conditions = try context.evaluateConditions()
        } catch {
            operation.failure = error.message
            return []
        }
        let active = template.resources.filter { $0.condition.map { conditions[$0] ?? false } ?? true }
        let activeIds = Set(active.map(\.logicalId))
        let graph = template.dependencies()
        var started: [StartedStep] = []
        for resource in active where !operation.settled.contains(resource.logicalId) && operation.inFlight[resource.logicalId] == nil {
            let needs = graph[resource.logicalId, default: []].intersection(activeIds)
            guard needs.isSubset(of: operation.settled) else { continue }
            // Resources settled in this operation may have new values.
            for (logicalId, record) in stack.resources { if let values = record.values, record.status != "DELETE_COMPLETE" { context.resources[logicalId] = values } }
            let properties: Document
            do {
                properties = try context.resolve(resource.properties, conditions: conditions) ?? .object([])
            } catch {
                Self.resourceEvent(&stack, resource.logicalId, type: resource.type, physicalId: nil, status: "CREATE_FAILED", reason: error.message, now: now, using: &random)
                operation.failure = Self.failureReason(kind: operation.kind, [resource.logicalId])
                return started
            }
            let existing = stack.resources[resource.logicalId].flatMap { $0.status == "DELETE_COMPLETE" ? nil : $0 }
            guard let existing, let physicalId = existing.physicalId else {
                let name = newPhysicalName(stack: stack, resource: resource, properties: properties, using: &random)
                var record = StackResource(logicalId: resource.logicalId, type: resource.type, status: "CREATE_IN_PROGRESS", lastUpdated: now)
                record.deletionPolicy = resource.deletionPolicy
                record.updateReplacePolicy = resource.updateReplacePolicy
                stack.resources[resource.logicalId] = record
                Self.resourceEvent(&stack, resource.logicalId, type: resource.type, physicalId: nil, status: "CREATE_IN_PROGRESS", properties: properties, now: now, using: &random)
                let step = ResourceStep(
                    action: .create, logicalId: resource.logicalId, type: resource.type, physicalId: name, properties: properties,
                    policiesFrom: resource.policies)
                operation.inFlight[resource.logicalId] = step
                started.append(StartedStep(stackId: stack.stackId, key: resource.logicalId, step: step))
                continue
            }
            if existing.type == resource.type, existing.properties == properties {
                operation.settled.insert(resource.logicalId)
                continue
            }
            let replacement = existing.type != resource.type ? "True" : ResourceTypes.replacement(type: resource.type, old: existing.properties, new: properties)
            let step: ResourceStep
            if replacement == "True" {
                if let nameProperty = ResourceTypes.traits[resource.type]?.nameProperty, properties[nameProperty] != nil,
                    properties[nameProperty] == existing.properties?[nameProperty]
                {
                    let reason = "CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename \(properties[nameProperty]?.string ?? "") and update the stack again."
                    Self.resourceEvent(&stack, resource.logicalId, type: resource.type, physicalId: physicalId, status: "UPDATE_FAILED", reason: reason, now: now, using: &random)
                    operation.failure = Self.failureReason(kind: operation.kind, [resource.logicalId])
                    return started
                }
                if existing.updateReplacePolicy != "Retain" { operation.cleanup.append(existing) }
                stack.resources[resource.logicalId]?.status = "UPDATE_IN_PROGRESS"
                Self.resourceEvent(
                    &stack, resource.logicalId, type: resource.type, physicalId: physicalId, status: "UPDATE_IN_PROGRESS",
                    reason: "Requested update requires the creation of a new physical resource; hence creating one.", properties: properties, now: now,
                    using: &random)
                step = ResourceStep(
                    action: .create, logicalId: resource.logicalId, type: resource.type,
                    physicalId: newPhysicalName(stack: stack, resource: resource, properties: properties, using: &random), properties: properties,
                    policiesFrom: resource.policies)
            } else {
                stack.resources[resource.logicalId]?.status = "UPDATE_IN_PROGRESS"
                Self.resourceEvent(&stack, resource.logicalId, type: resource.type, physicalId: physicalId, status: "UPDATE_IN_PROGRESS", properties: properties, now: now, using: &random)
                step = ResourceStep(
                    action: .update, logicalId: resource.logicalId, type: resource.type, physicalId: physicalId, properties: properties,
                    previousProperties: existing.properties, values: existing.values, policiesFrom: resource.policies)
            }
            operation.inFlight[resource.logicalId] = step
            started.append(StartedStep(stackId: stack.stackId, key: resource.logicalId, step: step))
        }
        guard started.isEmpty, operation.inFlight.isEmpty, activeIds.isSubset(of: operation.settled) else { return started }
        // Every resource is done: the outputs, then what the update left behind.
        for (logicalId, record) in stack.resources { if let values = record.values, record.status != "DELETE_COMPLETE" { context.resources[logicalId] = values } }
        do {
            stack.outputs = try outputs(of: template, stack: stack, context: context, conditions: conditions)
        } catch {
            operation.failure = error.message
            return []
        }
        stack.imports = Self.imports(in: template)
        for (logicalId, record) in stack.resources where !activeIds.contains(logicalId) && record.status != "DELETE_COMPLETE" {
            stack.resources[logicalId] = nil
            if record.deletionPolicy != "Retain", record.physicalId != nil { operation.cleanup.append(record) }
        }
        if operation.kind == .create, operation.cleanup.isEmpty {
            Self.stackEvent(&stack, status: "CREATE_COMPLETE", reason: nil, now: now, using: &random)
            stack.operation = nil
            return []
        }
        operation.phase = .cleanup
        Self.stackEvent(&stack, status: operation.kind == .create ? "CREATE_COMPLETE" : "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", reason: nil, now: now, using: &random)
        return []
    }

    /// The outputs' values; an export another stack already has is refused.
    private func outputs(of template: StackTemplate, stack: StackRecord, context: IntrinsicContext, conditions: [String: Bool]) throws(AWSError) -> [StackOutput] {
        var outputs: [StackOutput] = []
        let existing = exports
        for output in template.outputs where output.condition.map({ conditions[$0] ?? false }) ?? true {
            let value = try context.resolve(output.value, conditions: conditions)
            let text: String =
                switch value {
                case .array(let items)?: items.compactMap(\.string).joined(separator: ",")
                case let value?: value.string ?? value.json()
                case nil: ""
                }
            var exportName: String?
            if let name = output.exportName {
                exportName = try context.resolve(name, conditions: conditions)?.string
                if let exportName, let owner = existing[exportName], owner.stackId != stack.stackId {
                    let ownerName = stacks[owner.stackId]?.stackName ?? owner.stackId
                    throw .cfnValidation("Export with name \(exportName) is already exported by stack \(ownerName)")
                }
            }
            outputs.append(StackOutput(key: output.name, value: text, description: output.description, exportName: exportName))
        }
        return outputs
    }

    static func imports(in template: StackTemplate) -> [String] {
        var names: [String] = []
        func walk(_ value: Document) {
            switch value {
            case .object(let members):
                for (key, member) in members {
                    if key == "Fn::ImportValue", let name = member.string { names.append(name) }
                    walk(member)
                }
            case .array(let items): items.forEach(walk)
            default: break
            }
        }
        template.resources.forEach { walk($0.properties) }
        template.outputs.forEach { walk($0.value) }
        return names
    }

    private func newPhysicalName(
        stack: StackRecord, resource: StackTemplate.ResourceDeclaration, properties: Document, using random: inout some RandomNumberGenerator
    ) -> String {
        if let property = ResourceTypes.traits[resource.type]?.nameProperty, let given = properties[property]?.string { return given }
        return ResourceTypes.physicalName(
            type: resource.type, stackName: stack.stackName, logicalId: resource.logicalId, suffix: StackIdentifiers.suffix(using: &random))
    }

    /// Delete and rollback: every resource that may exist, each after those that depend on it.
    private func deleteAll(
        _ stack: inout StackRecord, _ operation: inout StackOperation, now: Date, using random: inout some RandomNumberGenerator
    ) -> [StartedStep] {
        let template = try? StackTemplate(Document.parseJSON(Array(stack.template.utf8)) ?? .object([]))
        let graph = template?.dependencies() ?? [:]
        let remaining = stack.resources.values.filter { resource in
            resource.status != "DELETE_COMPLETE" && resource.status != "DELETE_SKIPPED" && resource.status != "DELETE_FAILED"
        }
        let remainingIds = Set(remaining.map(\.logicalId))
        var started: [StartedStep] = []
        for resource in remaining.sorted(by: { $0.logicalId < $1.logicalId }) where operation.inFlight[resource.logicalId] == nil {
            // Wait for every remaining resource that depends on this one.
            let dependents = remainingIds.filter { graph[$0, default: []].contains(resource.logicalId) }
            guard dependents.isEmpty else { continue }
            guard let physicalId = resource.physicalId else {
                // Never made (or its create failed before it had an id): nothing to delete.
                stack.resources[resource.logicalId]?.status = "DELETE_COMPLETE"
                Self.resourceEvent(&stack, resource.logicalId, type: resource.type, physicalId: nil, status: "DELETE_COMPLETE", now: now, using: &random)
                return started + deleteAll(&stack, &operation, now: now, using: &random)
            }
            if resource.deletionPolicy == "Retain" {
                stack.resources[resource.logicalId]?.status = "DELETE_SKIPPED"
                Self.resourceEvent(&stack, resource.logicalId, type: resource.type, physicalId: physicalId, status: "DELETE_SKIPPED", now: now, using: &random)
                return started + deleteAll(&stack, &operation, now: now, using: &random)
            }
            stack.resources[resource.logicalId]?.status = "DELETE_IN_PROGRESS"
            Self.resourceEvent(&stack, resource.logicalId, type: resource.type, physicalId: physicalId, status: "DELETE_IN_PROGRESS", now: now, using: &random)
            let step = ResourceStep(
                action: .delete, logicalId: resource.logicalId, type: resource.type, physicalId: physicalId, properties: resource.properties ?? .object([]),
                values: resource.values)
            operation.inFlight[resource.logicalId] = step
            started.append(StartedStep(stackId: stack.stackId, key: resource.logicalId, step: step))
        }
        let left = stack.resources.values.filter { !["DELETE_COMPLETE", "DELETE_SKIPPED", "DELETE_FAILED"].contains($0.status) }
        guard started.isEmpty, operation.inFlight.isEmpty, left.isEmpty else { return started }
        if stack.resources.values.contains(where: { $0.status == "DELETE_FAILED" }) {
            let failed = stack.resources.values.filter { $0.status == "DELETE_FAILED" }.map(\.logicalId).sorted()
            operation.failure = Self.failureReason(kind: operation.kind, failed, action: .delete)
            stack.operation = operation
            failOperation(&stack, operation, reason: operation.failure ?? "", now: now, using: &random)
            return []
        }
        if operation.kind == .delete {
            stack.deletionTime = now
            stack.outputs = []
            Self.stackEvent(&stack, status: "DELETE_COMPLETE", reason: nil, now: now, using: &random)
        } else {
            stack.outputs = []
            Self.stackEvent(&stack, status: "ROLLBACK_COMPLETE", reason: nil, now: now, using: &random)
        }
        stack.operation = nil
        return []
    }

    /// An update's rollback: resources made by the update go, replaced ones come back, ones
    /// changed in place are changed back.
    private func restore(
        _ stack: inout StackRecord, _ operation: inout StackOperation, now: Date, using random: inout some RandomNumberGenerator
    ) -> [StartedStep] {
        guard let previous = operation.previous else {
            operation.phase = .cleanup
            return []
        }
        // Everything the update changed comes back (its parameters even when the template is the same).
        stack.adopt(
            template: previous.template, originalTemplate: previous.originalTemplate, description: previous.description ?? stack.description,
            parameters: previous.parameters, tags: previous.tags, capabilities: previous.capabilities)
        stack.outputs = previous.outputs
        stack.disableRollback = previous.disableRollback ?? stack.disableRollback
        var started: [StartedStep] = []
        for (logicalId, current) in stack.resources.sorted(by: { $0.key < $1.key }) where !operation.settled.contains(logicalId) && operation.inFlight[logicalId] == nil {
            guard let before = previous.resources[logicalId] else {
                // Made by the update: deleted once the rest is restored.
                stack.resources[logicalId] = nil
                if current.physicalId != nil { operation.cleanup.append(current) }
                continue
            }
            if current.physicalId != before.physicalId {
                // Replaced: the old one comes back, the new one goes.
                if current.physicalId != nil, current.status != "DELETE_COMPLETE" { operation.cleanup.append(current) }
                stack.resources[logicalId] = before
                operation.cleanup.removeAll { $0.logicalId == logicalId && $0.physicalId == before.physicalId }
                operation.settled.insert(logicalId)
                continue
            }
            // A resource whose update failed may be partly changed: it is changed back too.
            if current.status != "UPDATE_FAILED", current.properties == before.properties || before.properties == nil {
                stack.resources[logicalId] = before
                operation.settled.insert(logicalId)
                continue
            }
            stack.resources[logicalId]?.status = "UPDATE_IN_PROGRESS"
            Self.resourceEvent(&stack, logicalId, type: current.type, physicalId: current.physicalId, status: "UPDATE_IN_PROGRESS", now: now, using: &random)
            let step = ResourceStep(
                action: .update, logicalId: logicalId, type: current.type, physicalId: current.physicalId ?? "", properties: before.properties ?? .object([]),
                previousProperties: current.properties, values: current.values,
                policiesFrom: (deletion: before.deletionPolicy, updateReplace: before.updateReplacePolicy))
            operation.inFlight[logicalId] = step
            started.append(StartedStep(stackId: stack.stackId, key: logicalId, step: step))
        }
        // Resources the update deleted are not deleted until cleanup, so every previous one is still here.
        for (logicalId, before) in previous.resources where stack.resources[logicalId] == nil {
            stack.resources[logicalId] = before
            operation.settled.insert(logicalId)
        }
        guard started.isEmpty, operation.inFlight.isEmpty else { return started }
        operation.phase = .cleanup
        Self.stackEvent(&stack, status: "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", reason: nil, now: now, using: &random)
        return []
    }

    /// Deletes what an update (or its rollback) left behind, then completes the stack.
    private func cleanUp(
        _ stack: inout StackRecord, _ operation: inout StackOperation, now: Date, using random: inout some RandomNumberGenerator
    ) -> [StartedStep] {
        var started: [StartedStep] = []
        // A replacement may have come back with the same id (PublishVersion of unchanged code, a
        // policy put again): that one is live, not left over.
        let live = Set(stack.resources.values.filter { $0.status != "DELETE_COMPLETE" }.map { "\($0.logicalId)/\($0.physicalId ?? "")" })
        operation.cleanup.removeAll { live.contains("\($0.logicalId)/\($0.physicalId ?? "")") }
        for resource in operation.cleanup {
            guard let physicalId = resource.physicalId else { continue }
            let key = Self.cleanupPrefix + resource.logicalId + "/" + physicalId
            guard operation.inFlight[key] == nil else { continue }
            Self.resourceEvent(&stack, resource.logicalId, type: resource.type, physicalId: physicalId, status: "DELETE_IN_PROGRESS", now: now, using: &random)
            let step = ResourceStep(
                action: .delete, logicalId: resource.logicalId, type: resource.type, physicalId: physicalId, properties: resource.properties ?? .object([]),
                values: resource.values)
            operation.inFlight[key] = step
            started.append(StartedStep(stackId: stack.stackId, key: key, step: step))
        }
        operation.cleanup.removeAll { $0.physicalId == nil }
        guard started.isEmpty, operation.inFlight.isEmpty, operation.cleanup.isEmpty else { return started }
        let status = operation.kind == .updateRollback ? "UPDATE_ROLLBACK_COMPLETE" : "UPDATE_COMPLETE"
        for logicalId in stack.resources.keys where stack.resources[logicalId]?.status == "UPDATE_IN_PROGRESS" {
            stack.resources[logicalId]?.status = "UPDATE_COMPLETE"
        }
        Self.stackEvent(&stack, status: status, reason: nil, now: now, using: &random)
        stack.operation = nil
        return []
    }
}
