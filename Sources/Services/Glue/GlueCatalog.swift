import Foundation
import AWSProtocols
import Athena
import GlueShapes
import StevedoreCore

/// The Glue Data Catalog's operations on Athena's catalog: one catalog, so a table made with
/// boto3's Glue client is queryable in Athena and a table made by Athena's DDL is Glue's.
extension AthenaState {
    // MARK: Databases

    public mutating func glueCreateDatabase(_ input: GlueDatabaseInput, now: Date, changes: inout ChangeSet) throws(AWSError) {
        let name = try GlueNames.check(input.Name, "name")
        guard databases[name] == nil else { throw GlueError.alreadyExists("Database already exists.") }
        save(DatabaseRecord(name: name, description: input.Description, location: input.LocationUri, parameters: input.Parameters, created: now), changes: &changes)
    }

    public func glueDatabase(_ name: String) throws(AWSError) -> DatabaseRecord {
        guard let record = databases[name.lowercased()] else { throw GlueError.notFound("Database \(name) not found.") }
        return record
    }

    public mutating func glueUpdateDatabase(_ name: String, _ input: GlueDatabaseInput, changes: inout ChangeSet) throws(AWSError) {
        var record = try changeableDatabase(name)
        guard input.Name.lowercased() == record.name else {
            throw GlueError.invalidInput("Renaming a database is not supported; DatabaseInput.Name must be \(record.name).")
        }
        record.description = input.Description
        record.location = input.LocationUri
        record.parameters = input.Parameters
        save(record, changes: &changes)
    }

    /// Deletes the database and its tables, as Glue does.
    public mutating func glueDeleteDatabase(_ name: String, changes: inout ChangeSet) throws(AWSError) {
        let record = try changeableDatabase(name)
        databases[record.name] = nil
        changes.delete(DatabaseRecord.self, key: record.name)
        // Athena's `default` database always exists: deleting it empties it.
        if record.name == Self.defaultDatabase { databases[record.name] = DatabaseRecord(name: record.name) }
    }

    /// A database Glue may change: not the cluster's own records.
    func changeableDatabase(_ name: String) throws(AWSError) -> DatabaseRecord {
        let record = try glueDatabase(name)
        guard record.name != Self.clusterDatabase else {
            throw GlueError.invalidInput("The \(Self.clusterDatabase) database holds the cluster's own records and cannot be changed.")
        }
        return record
    }

    // MARK: Tables

    public mutating func glueCreateTable(database: String, _ input: GlueTableInput, now: Date, changes: inout ChangeSet) throws(AWSError) {
        var record = try changeableDatabase(database)
        let definition = try GlueTables.definition(input)
        guard record.tables[definition.name] == nil else { throw GlueError.alreadyExists("Table already exists.") }
        record.tables[definition.name] = TableRecord(definition: definition, created: now)
        save(record, changes: &changes)
    }

    public func glueTable(database: String, name: String) throws(AWSError) -> (DatabaseRecord, TableRecord) {
        let record = try glueDatabase(database)
        guard let table = record.tables[name.lowercased()] else { throw GlueError.notFound("Table \(name) not found.") }
        return (record, table)
    }

    /// Replaces the table's definition; its partitions stay (their values must still fit the keys).
    public mutating func glueUpdateTable(database: String, _ input: GlueTableInput, now: Date, changes: inout ChangeSet) throws(AWSError) {
        var record = try changeableDatabase(database)
        guard var table = record.tables[input.Name.lowercased()] else { throw GlueError.notFound("Table \(input.Name) not found.") }
        let definition = try GlueTables.definition(input)
        guard definition.partitionKeys.count == table.definition.partitionKeys.count || table.partitions.isEmpty else {
            throw GlueError.invalidInput("The table's partitions have \(table.definition.partitionKeys.count) values each; its partition keys cannot change in number.")
        }
        table.definition = definition
        table.updated = now
        table.version = (table.version ?? 0) + 1
        record.tables[table.name] = table
        save(record, changes: &changes)
    }

    public mutating func glueDeleteTable(database: String, name: String, changes: inout ChangeSet) throws(AWSError) {
        var record = try changeableDatabase(database)
        guard record.tables.removeValue(forKey: name.lowercased()) != nil else { throw GlueError.notFound("Table \(name) not found.") }
        save(record, changes: &changes)
    }

    // MARK: Partitions

    /// Adds partitions; each one refused (its values do not fit, or it exists) is answered by its
    /// values with Glue's error, the rest are added.
    public mutating func glueCreatePartitions(
        database: String, table name: String, _ inputs: [GluePartitionInput], now: Date, changes: inout ChangeSet
    ) throws(AWSError) -> [GluePartitionError] {
        var record = try changeableDatabase(database)
        guard var table = record.tables[name.lowercased()] else { throw GlueError.notFound("Table \(name) not found.") }
        var errors: [GluePartitionError] = []
        for input in inputs {
            let values = input.Values ?? []
            do throws(AWSError) {
                try GlueTables.checkValues(values, table: table)
                guard !table.partitions.contains(where: { $0.values == values }) else { throw GlueError.alreadyExists("Partition already exists.") }
                let location = input.StorageDescriptor?.Location
                    ?? (table.definition.location ?? "").folderURL + PartitionRecord(values: values, location: "").path(keys: table.definition.partitionKeys) + "/"
                table.partitions.append(PartitionRecord(values: values, location: location, created: now, parameters: input.Parameters))
            } catch {
                errors.append(GluePartitionError(PartitionValues: values, ErrorDetail: GlueErrorDetail(ErrorCode: error.type, ErrorMessage: error.message)))
            }
        }
        record.tables[table.name] = table
        save(record, changes: &changes)
        return errors
    }

    /// Deletes partitions; each one missing is answered with Glue's error.
    public mutating func glueDeletePartitions(database: String, table name: String, _ lists: [[String]], changes: inout ChangeSet) throws(AWSError) -> [GluePartitionError] {
        var record = try changeableDatabase(database)
        guard var table = record.tables[name.lowercased()] else { throw GlueError.notFound("Table \(name) not found.") }
        var errors: [GluePartitionError] = []
        for values in lists {
            guard let index = table.partitions.firstIndex(where: { $0.values == values }) else {
                errors.append(
                    GluePartitionError(PartitionValues: values, ErrorDetail: GlueErrorDetail(ErrorCode: "EntityNotFoundException", ErrorMessage: "Partition not found.")))
                continue
            }
            table.partitions.remove(at: index)
        }
        record.tables[table.name] = table
        save(record, changes: &changes)
        return errors
    }
}

/// Glue's errors, as boto3 and the aws CLI raise them.
public enum GlueError {
    public static func notFound(_ message: String) -> AWSError { AWSError(type: "EntityNotFoundException", message: message, httpStatus: 400) }
    public static func alreadyExists(_ message: String) -> AWSError { AWSError(type: "AlreadyExistsException", message: message, httpStatus: 400) }
    public static func invalidInput(_ message: String) -> AWSError { AWSError(type: "InvalidInputException", message: message, httpStatus: 400) }
}

/// Glue's names: 1 to 255 characters, kept lower-cased as Glue (and Hive) keep them.
enum GlueNames {
    static func check(_ name: String, _ member: String) throws(AWSError) -> String {
        guard (1...255).contains(name.count), !name.contains(where: { $0.isNewline }) else {
            throw GlueError.invalidInput(
                "1 validation error detected: Value '\(name)' at '\(member)' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*")
        }
        return name.lowercased()
    }
}
