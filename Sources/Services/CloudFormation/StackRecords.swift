#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// A stack: its template, parameters, resources, outputs and events, and the operation under way.
/// Deleted stacks stay (DELETE_COMPLETE) for ListStacks and DescribeStacks by id, as in AWS.
public struct StackRecord: StoredRecord, Equatable {
    public var stackId: String
    public var stackName: String
    public var status: String
    public var statusReason: String?
    public var description: String?
    /// The template as submitted (GetTemplate's `Original` stage).
    public var originalTemplate: String
    /// The template after transforms, in JSON (GetTemplate's `Processed` stage); resources come from it.
    public var template: String
    public var parameters: [StackParameter]
    public var tags: [StackTag]
    public var capabilities: [String]
    public var notificationARNs: [String] = []
    public var disableRollback: Bool
    public var terminationProtection = false
    public var outputs: [StackOutput] = []
    public var resources: [String: StackResource] = [:]
    /// Newest last; DescribeStackEvents lists them newest first.
    public var events: [StackEvent] = []
    public var creationTime: Date
    public var lastUpdatedTime: Date?
    public var deletionTime: Date?
    public var changeSets: [ChangeSetRecord] = []
    /// The change set the stack was last created or updated from.
    public var changeSetId: String?
    public var operation: StackOperation?
    /// Export names this stack's template imports (an export in use cannot be deleted).
    public var imports: [String] = []

    public static var recordKind: RecordKind { .cloudFormationStacks }

    /// Takes on a definition: a created or updated stack's new one, or a rolled-back update's previous one.
    mutating func adopt(
        template: String, originalTemplate: String, description: String?, parameters: [StackParameter], tags: [StackTag], capabilities: [String]
    ) {
        self.template = template
        self.originalTemplate = originalTemplate
        self.description = description
        self.parameters = parameters
        self.tags = tags
        self.capabilities = capabilities
    }
    public var recordKey: String { stackId }

    public var isDeleted: Bool { status == "DELETE_COMPLETE" }
}

public struct StackParameter: Codable, Sendable, Equatable {
    public var key: String
    public var value: String
    public var noEcho = false
}

public struct StackTag: Codable, Sendable, Equatable {
    public var key: String
    public var value: String
}

public struct StackOutput: Codable, Sendable, Equatable {
    public var key: String
    public var value: String
    public var description: String?
    public var exportName: String?
}

public struct StackResource: Codable, Sendable, Equatable {
    public var logicalId: String
    public var type: String
    public var physicalId: String?
    public var status: String
    public var statusReason: String?
    public var lastUpdated: Date
    /// The properties last applied, resolved (compared with the template's to tell what an update changes).
    public var properties: Document?
    public var values: ResourceValues?
    public var deletionPolicy = "Delete"
    public var updateReplacePolicy = "Delete"

    enum CodingKeys: String, CodingKey {
        case logicalId, type, physicalId, status, statusReason, lastUpdated, values, deletionPolicy, updateReplacePolicy
        case properties = "propertiesJSON"
    }

    public init(logicalId: String, type: String, status: String, lastUpdated: Date) {
        self.logicalId = logicalId
        self.type = type
        self.status = status
        self.lastUpdated = lastUpdated
    }

    /// Whether anything of it exists (or may: a create cut off by a crash) that a rollback or delete must remove.
    var mayExist: Bool { physicalId != nil && status != "DELETE_COMPLETE" && status != "DELETE_SKIPPED" }
}

public struct StackEvent: Codable, Sendable, Equatable {
    public var eventId: String
    public var logicalId: String
    public var physicalId: String?
    public var type: String
    public var status: String
    public var reason: String?
    public var timestamp: Date
    public var properties: String?
}

/// A change set: the template and parameters it would apply, and what it would change.
public struct ChangeSetRecord: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String?
    public var type: String
    public var status: String
    public var statusReason: String?
    public var executionStatus: String
    public var creationTime: Date
    public var originalTemplate: String
    public var template: String
    public var parameters: [StackParameter]
    public var tags: [StackTag]
    public var capabilities: [String]
    public var changes: [ResourceChange]
    public var notificationARNs: [String] = []
}

public struct ResourceChange: Codable, Sendable, Equatable {
    /// `Add`, `Modify` or `Remove`.
    public var action: String
    public var logicalId: String
    public var physicalId: String?
    public var type: String
    /// `True`, `False` or `Conditional` for modifications.
    public var replacement: String?
    public var scope: [String] = []
}

/// The operation a stack is in the middle of, as the deployer left it after its last commit.
public struct StackOperation: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case create, update, delete, rollback, updateRollback
    }

    public enum Phase: String, Codable, Sendable {
        /// Creating and updating the template's resources in dependency order.
        case apply
        /// Deleting what the operation left behind (removed resources, replaced ones), in reverse order.
        case cleanup
    }

    public var kind: Kind
    public var phase: Phase = .apply
    /// Resources this operation has finished with (created, updated, or left unchanged).
    public var settled: Set<String> = []
    /// Steps started and not yet finished, by logical id (for cleanups, by physical id).
    public var inFlight: [String: ResourceStep] = [:]
    /// Resources to delete once the operation's apply phase is done.
    public var cleanup: [StackResource] = []
    /// What the stack was before an update, to roll back to.
    public var previous: PreviousStack?
    /// Set when a step failed: no step starts after it; the operation rolls back (or stops) once in-flight ones end.
    public var failure: String?
}

public struct PreviousStack: Codable, Sendable, Equatable {
    public var template: String
    public var originalTemplate: String
    public var parameters: [StackParameter]
    public var resources: [String: StackResource]
    public var outputs: [StackOutput]
    public var tags: [StackTag]
    public var capabilities: [String]
    public var description: String?
    public var disableRollback: Bool?
}

/// What the deployer does to one resource; it reports back with ``StackStep/Outcome``.
public struct ResourceStep: Codable, Sendable, Equatable {
    public enum Action: String, Codable, Sendable {
        case create, update, delete
    }

    public var action: Action
    public var logicalId: String
    public var type: String
    /// The physical id being updated or deleted; for a create, the name to give it when the template gives none.
    public var physicalId: String
    public var properties: Document
    public var previousProperties: Document?
    public var values: ResourceValues?
    /// A create's or update's `DeletionPolicy` and `UpdateReplacePolicy`, for the resource once the step succeeds.
    public var deletionPolicy: String?
    public var updateReplacePolicy: String?

    public init(
        action: Action, logicalId: String, type: String, physicalId: String, properties: Document, previousProperties: Document? = nil,
        values: ResourceValues? = nil, policiesFrom declared: (deletion: String, updateReplace: String)? = nil
    ) {
        deletionPolicy = declared?.deletion
        updateReplacePolicy = declared?.updateReplace
        self.action = action
        self.logicalId = logicalId
        self.type = type
        self.physicalId = physicalId
        self.properties = properties
        self.previousProperties = previousProperties
        self.values = values
    }
}

extension RecordKind {
    public static let cloudFormationStacks = RecordKind("cfn_stacks")
}
