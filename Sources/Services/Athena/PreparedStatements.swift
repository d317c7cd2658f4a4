#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// A query kept under a name in a work group, run with `EXECUTE name USING …` (or with
/// ExecutionParameters): made by CreatePreparedStatement or `PREPARE name FROM …`.
public struct PreparedStatementRecord: StoredRecord, Equatable {
    public var name: String
    public var workGroup: String
    public var query: String
    public var description: String?
    public var lastModified: Date

    public init(name: String, workGroup: String, query: String, description: String?, lastModified: Date) {
        self.name = name
        self.workGroup = workGroup
        self.query = query
        self.description = description
        self.lastModified = lastModified
    }

    public static var recordKind: RecordKind { .athenaPreparedStatements }
    public var recordKey: String { Self.key(name, workGroup: workGroup) }

    static func key(_ name: String, workGroup: String) -> String { workGroup + "/" + name }
}

extension RecordKind {
    public static let athenaPreparedStatements = RecordKind("athena_prepared_statements")
}

extension AthenaState {
    /// Creates a prepared statement, or (`replacing`, as PREPARE and UpdatePreparedStatement do)
    /// replaces one; the statement must be a query.
    public mutating func putPreparedStatement(
        _ record: PreparedStatementRecord, creating: Bool, replacing: Bool, changes: inout ChangeSet
    ) throws(AWSError) {
        _ = try workGroup(record.workGroup)
        guard Self.isStatementName(record.name) else {
            throw AthenaAPI.invalid(
                "1 validation error detected: Value '\(record.name)' at 'statementName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z_][a-zA-Z0-9_@:]{1,256}")
        }
        guard (1...262_144).contains(record.query.utf8.count) else {
            throw AthenaAPI.invalid(
                "1 validation error detected: Value at 'queryStatement' failed to satisfy constraint: Member must have length between 1 and 262144")
        }
        if let description = record.description, description.count > 1024 {
            throw AthenaAPI.invalid(
                "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1024")
        }
        let exists = preparedStatements[record.recordKey] != nil
        if creating, exists, !replacing { throw AthenaAPI.invalid("Prepared Statement \(record.name) already exists") }
        if !creating, !exists { throw Self.preparedStatementNotFound(record.name) }
        preparedStatements[record.recordKey] = record
        changes.put(record)
    }

    public func preparedStatement(_ name: String, workGroup group: String) throws(AWSError) -> PreparedStatementRecord {
        _ = try workGroup(group)
        guard let record = preparedStatements[PreparedStatementRecord.key(name, workGroup: group)] else {
            throw Self.preparedStatementNotFound(name)
        }
        return record
    }

    public mutating func deletePreparedStatement(_ name: String, workGroup group: String, changes: inout ChangeSet) throws(AWSError) {
        let record = try preparedStatement(name, workGroup: group)
        preparedStatements[record.recordKey] = nil
        changes.delete(PreparedStatementRecord.self, key: record.recordKey)
    }

    /// A work group's prepared statements by name.
    public func preparedStatements(in group: String) throws(AWSError) -> [PreparedStatementRecord] {
        _ = try workGroup(group)
        return preparedStatements.values.filter { $0.workGroup == group }.sorted { $0.name < $1.name }
    }

    static func preparedStatementNotFound(_ name: String) -> AWSError {
        AWSError(type: "ResourceNotFoundException", message: "Prepared statement \(name) was not found.", extraFields: ["ResourceName": name])
    }

    /// `[a-zA-Z_][a-zA-Z0-9_@:]{1,256}`, as the API's model has it.
    static func isStatementName(_ name: String) -> Bool {
        guard let first = name.first, (2...257).contains(name.count), first.isASCII, first.isLetter || first == "_" else { return false }
        return name.dropFirst().allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_@:".contains($0)) }
    }
}
