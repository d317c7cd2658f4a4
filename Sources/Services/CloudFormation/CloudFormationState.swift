#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// CloudFormation's state: every stack, live and deleted, by id.
public struct CloudFormationState: Sendable {
    public let names: ResourceNames
    public package(set) var stacks: [String: StackRecord] = [:]

    public init(names: ResourceNames) {
        self.names = names
    }

    public static let recordKinds: [RecordKind] = [.cloudFormationStacks]

    public static func restore(names: ResourceNames, rows: StoredRows) throws -> CloudFormationState {
        var state = CloudFormationState(names: names)
        for stack in try rows.decode(StackRecord.self) { state.stacks[stack.stackId] = stack }
        return state
    }

    /// The stacks kept after deletion, at most this many (the oldest go first).
    static let deletedStacksKept = 200
    /// Events kept per stack (the oldest go first).
    static let eventsKept = 2000

    // MARK: Finding stacks

    /// The live stack a name or id names; a deleted one only by its id.
    public func stack(_ nameOrId: String) -> StackRecord? {
        if nameOrId.hasPrefix("arn:") { return stacks[nameOrId] }
        return stacks.values.first { $0.stackName == nameOrId && !$0.isDeleted }
    }

    public func existingStack(_ nameOrId: String) throws(AWSError) -> StackRecord {
        guard let stack = stack(nameOrId) else { throw .stackNotFound(nameOrId) }
        return stack
    }

    /// Every export of a stack that finished creating or updating, by name, with the stack exporting it.
    public var exports: [String: (value: String, stackId: String)] {
        var exports: [String: (String, String)] = [:]
        for stack in stacks.values where !stack.isDeleted {
            for output in stack.outputs { if let name = output.exportName { exports[name] = (output.value, stack.stackId) } }
        }
        return exports
    }

    public func stackId(name: String, using random: inout some RandomNumberGenerator) -> String {
        names.arn("cloudformation", "stack/\(name)/\(Identifiers.uuid(using: &random))")
    }

    mutating func save(_ stack: StackRecord, changes: inout ChangeSet) {
        var stack = stack
        if stack.events.count > Self.eventsKept { stack.events.removeFirst(stack.events.count - Self.eventsKept) }
        stacks[stack.stackId] = stack
        changes.put(stack)
    }

    /// Drops the oldest deleted stacks beyond those kept.
    mutating func pruneDeleted(changes: inout ChangeSet) {
        let deleted = stacks.values.filter(\.isDeleted).sorted { ($0.deletionTime ?? .distantPast) < ($1.deletionTime ?? .distantPast) }
        for stack in deleted.dropLast(Self.deletedStacksKept) {
            stacks[stack.stackId] = nil
            changes.delete(StackRecord.self, key: stack.stackId)
        }
    }
}

/// The composed state CloudFormation's operations run in.
public protocol CloudFormationHost: Sendable {
    var cloudFormation: CloudFormationState { get set }
}

extension AWSError {
    static func stackNotFound(_ name: String) -> AWSError {
        .cfnValidation("Stack with id \(name) does not exist")
    }

    static func changeSetNotFound(_ name: String) -> AWSError {
        AWSError(type: "ChangeSetNotFound", message: "ChangeSet [\(name)] does not exist", httpStatus: 404)
    }
}

/// Identifiers CloudFormation makes up.
enum StackIdentifiers {
    static let suffixAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

    /// The random part of a made-up physical name: 12 upper-case letters and digits.
    static func suffix(using random: inout some RandomNumberGenerator) -> String {
        String((0..<12).map { _ in suffixAlphabet[Int(random.next() % UInt64(suffixAlphabet.count))] })
    }
}
