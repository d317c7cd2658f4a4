import Foundation
import StevedoreCore

/// A work group: where its queries' results go (enforced or a default), and how many bytes one
/// query may scan before it is cancelled.
public struct WorkGroupRecord: StoredRecord, Equatable {
    public var name: String
    public var description: String?
    public var enabled = true
    public var outputLocation: String?
    /// Queries use the work group's output location, whatever they ask for.
    public var enforceConfiguration = false
    public var bytesScannedCutoffPerQuery: Int?
    public var publishMetrics = false
    public var created: Date

    public init(name: String, created: Date) {
        self.name = name
        self.created = created
    }

    public static var recordKind: RecordKind { .athenaWorkGroups }
    public var recordKey: String { name }
}

/// A saved query (CreateNamedQuery).
public struct NamedQueryRecord: StoredRecord, Equatable {
    public var id: String
    public var name: String
    public var description: String?
    public var database: String
    public var query: String
    public var workGroup: String
    public var clientRequestToken: String?

    public static var recordKind: RecordKind { .athenaNamedQueries }
    public var recordKey: String { id }
}

extension RecordKind {
    public static let athenaWorkGroups = RecordKind("athena_work_groups")
    public static let athenaNamedQueries = RecordKind("athena_named_queries")
}

/// What CreateWorkGroup and UpdateWorkGroup set; nil leaves a setting as it is.
public struct WorkGroupSettings: Sendable, Equatable {
    public var description: String?
    public var enabled: Bool?
    public var outputLocation: String??
    public var enforceConfiguration: Bool?
    public var bytesScannedCutoffPerQuery: Int??
    public var publishMetrics: Bool?

    public init(
        description: String? = nil, enabled: Bool? = nil, outputLocation: String?? = nil, enforceConfiguration: Bool? = nil,
        bytesScannedCutoffPerQuery: Int?? = nil, publishMetrics: Bool? = nil
    ) {
        self.description = description
        self.enabled = enabled
        self.outputLocation = outputLocation
        self.enforceConfiguration = enforceConfiguration
        self.bytesScannedCutoffPerQuery = bytesScannedCutoffPerQuery
        self.publishMetrics = publishMetrics
    }
}

extension AthenaState {
    /// Athena's smallest per-query cutoff: 10 MB.
    public static let minimumCutoff = 10_000_000

    public func workGroup(_ name: String) throws(AWSError) -> WorkGroupRecord {
        guard let group = workGroups[name] else { throw AthenaAPI.invalid("WorkGroup \(name) is not found.") }
        return group
    }

    public mutating func createWorkGroup(_ name: String, settings: WorkGroupSettings, now: Date, changes: inout ChangeSet) throws(AWSError) {
        guard (1...128).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw AthenaAPI.invalid(
                "1 validation error detected: Value '\(name)' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9._-]{1,128}")
        }
        guard workGroups[name] == nil else { throw AthenaAPI.invalid("WorkGroup is already created") }
        var group = WorkGroupRecord(name: name, created: now)
        try Self.apply(settings, to: &group)
        workGroups[name] = group
        changes.put(group)
    }

    public mutating func updateWorkGroup(_ name: String, settings: WorkGroupSettings, changes: inout ChangeSet) throws(AWSError) {
        var group = try workGroup(name)
        try Self.apply(settings, to: &group)
        workGroups[name] = group
        changes.put(group)
    }

    public mutating func deleteWorkGroup(_ name: String, recursive: Bool, changes: inout ChangeSet) throws(AWSError) {
        _ = try workGroup(name)
        guard name != Self.primaryWorkGroup else { throw AthenaAPI.invalid("Primary workgroup cannot be deleted") }
        let saved = namedQueries.values.filter { $0.workGroup == name }
        let prepared = preparedStatements.values.filter { $0.workGroup == name }
        guard (saved.isEmpty && prepared.isEmpty) || recursive else {
            throw AthenaAPI.invalid(
                "WorkGroup \(name) is not empty. Set RecursiveDeleteOption to delete it with its named queries and prepared statements.")
        }
        for query in saved {
            namedQueries[query.id] = nil
            changes.delete(NamedQueryRecord.self, key: query.id)
        }
        for statement in prepared {
            preparedStatements[statement.recordKey] = nil
            changes.delete(PreparedStatementRecord.self, key: statement.recordKey)
        }
        workGroups[name] = nil
        changes.delete(WorkGroupRecord.self, key: name)
    }

    static func apply(_ settings: WorkGroupSettings, to group: inout WorkGroupRecord) throws(AWSError) {
        if let description = settings.description {
            guard description.count <= 1024 else { throw AthenaAPI.invalid("Description must be at most 1024 characters.") }
            group.description = description
        }
        if let enabled = settings.enabled { group.enabled = enabled }
        if let location = settings.outputLocation {
            if let location, ObjectLocation(location) == nil { throw AthenaAPI.invalid("outputLocation is not a valid S3 path. Provided \(location)") }
            group.outputLocation = location
        }
        if let enforce = settings.enforceConfiguration { group.enforceConfiguration = enforce }
        if let cutoff = settings.bytesScannedCutoffPerQuery {
            if let cutoff, cutoff < minimumCutoff {
                throw AthenaAPI.invalid(
                    "1 validation error detected: Value '\(cutoff)' at 'configuration.bytesScannedCutoffPerQuery' failed to satisfy constraint: Member must have value greater than or equal to \(minimumCutoff)")
            }
            group.bytesScannedCutoffPerQuery = cutoff
        }
        if let publish = settings.publishMetrics { group.publishMetrics = publish }
    }

    public mutating func createNamedQuery(_ record: NamedQueryRecord, changes: inout ChangeSet) throws(AWSError) -> String {
        _ = try workGroup(record.workGroup)
        if let token = record.clientRequestToken, let earlier = namedQueries.values.first(where: { $0.clientRequestToken == token }) {
            return earlier.id
        }
        guard (1...128).contains(record.name.count) else {
            throw AthenaAPI.invalid("1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length between 1 and 128")
        }
        guard (1...262_144).contains(record.query.utf8.count) else {
            throw AthenaAPI.invalid("1 validation error detected: Value at 'queryString' failed to satisfy constraint: Member must have length between 1 and 262144")
        }
        namedQueries[record.id] = record
        changes.put(record)
        return record.id
    }

    public func namedQuery(_ id: String) throws(AWSError) -> NamedQueryRecord {
        guard let record = namedQueries[id] else { throw AthenaAPI.invalid("NamedQuery \(id) was not found") }
        return record
    }

    public mutating func deleteNamedQuery(_ id: String, changes: inout ChangeSet) throws(AWSError) {
        _ = try namedQuery(id)
        namedQueries[id] = nil
        changes.delete(NamedQueryRecord.self, key: id)
    }
}
