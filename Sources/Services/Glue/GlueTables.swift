import Foundation
import AWSProtocols
import Athena
import GlueShapes
import StevedoreCore

/// Glue's tables and partitions as Athena's catalog keeps them, and back: columns, partition
/// keys, the location, the SerDe and its parameters, the input format and the table's parameters.
enum GlueTables {
    static let textInputFormat = "org.apache.hadoop.mapred.TextInputFormat"
    static let textOutputFormat = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"

    /// A table's definition from Glue's TableInput, refused when Athena here could not read it.
    static func definition(_ input: GlueTableInput) throws(AWSError) -> TableDefinition {
        let name = try GlueNames.check(input.Name, "tableInput.name")
        let descriptor = input.StorageDescriptor
        var definition = TableDefinition(
            name: name, columns: try columns(descriptor?.Columns ?? []), partitionKeys: try columns(input.PartitionKeys ?? []),
            location: descriptor?.Location, properties: input.Parameters ?? [:], comment: input.Description,
            isExternal: input.TableType?.uppercased() != "MANAGED_TABLE")
        definition.properties["EXTERNAL"] = nil
        if let library = descriptor?.SerdeInfo?.SerializationLibrary {
            definition.rowFormat = .serde(name: library, properties: descriptor?.SerdeInfo?.Parameters ?? [:])
        }
        if let format = descriptor?.InputFormat, format != textInputFormat { definition.storedAs = format }
        let names = (definition.columns + definition.partitionKeys).map(\.name)
        if let twice = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
            throw GlueError.invalidInput("Column \(twice) appears more than once among the table's columns and partition keys.")
        }
        do throws(QueryFailure) {
            try AthenaState.check(definition)
        } catch {
            throw GlueError.invalidInput(error.message)
        }
        return definition
    }

    static func columns(_ given: [GlueColumn]) throws(AWSError) -> [ColumnDefinition] {
        var columns: [ColumnDefinition] = []
        for column in given {
            let name = try GlueNames.check(column.Name, "columns.member.name")
            // Athena's types: lower-cased, without spaces ("decimal(10,2)", "array<string>").
            let type = (column.Type ?? "string").lowercased().filter { $0 != " " }
            columns.append(ColumnDefinition(name: name, type: type.isEmpty ? "string" : type, comment: column.Comment))
        }
        return columns
    }

    /// A partition's values must be one per partition key.
    static func checkValues(_ values: [String], table: TableRecord) throws(AWSError) {
        guard values.count == table.definition.partitionKeys.count else {
            throw GlueError.invalidInput("The number of partition keys do not match the number of partition values")
        }
    }

    // MARK: Answers

    static func shape(_ database: DatabaseRecord, catalogId: String) -> GlueDatabase {
        GlueDatabase(
            Name: database.name, Description: database.description, LocationUri: database.location, Parameters: database.parameters ?? [:],
            CreateTime: database.created ?? Date(timeIntervalSince1970: 0),
            CreateTableDefaultPermissions: [
                GluePrincipalPermissions(Principal: GlueDataLakePrincipal(DataLakePrincipalIdentifier: "IAM_ALLOWED_PRINCIPALS"), Permissions: [.all])
            ], CatalogId: catalogId)
    }

    static func descriptor(_ definition: TableDefinition, columns: [ColumnDefinition], location: String?) -> GlueStorageDescriptor {
        var serde: GlueSerDeInfo
        switch definition.rowFormat {
        case .serde(let name, let properties)?:
            serde = GlueSerDeInfo(SerializationLibrary: name, Parameters: properties)
        case .delimited(let field, let escape, let line, let null)?:
            var parameters: [String: String] = [:]
            parameters["field.delim"] = field
            parameters["serialization.format"] = field
            parameters["escape.delim"] = escape
            parameters["line.delim"] = line
            parameters["serialization.null.format"] = null
            serde = GlueSerDeInfo(SerializationLibrary: TableFormat.lazySimpleSerDe, Parameters: parameters)
        case nil:
            serde = GlueSerDeInfo(SerializationLibrary: TableFormat.lazySimpleSerDe, Parameters: ["serialization.format": "1"])
        }
        let input = definition.storedAs.flatMap { $0.uppercased() == "TEXTFILE" ? nil : $0 } ?? textInputFormat
        return GlueStorageDescriptor(
            Columns: columns.map { GlueColumn(Name: $0.name, Type: $0.type, Comment: $0.comment) }, Location: location, InputFormat: input,
            OutputFormat: input == textInputFormat ? textOutputFormat : nil, Compressed: false, NumberOfBuckets: 0, SerdeInfo: serde, BucketColumns: [],
            SortColumns: [], Parameters: [:], StoredAsSubDirectories: false)
    }

    static func shape(_ table: TableRecord, database: String, catalogId: String) -> GlueTable {
        let definition = table.definition
        var parameters = definition.properties
        if definition.isExternal { parameters["EXTERNAL"] = "TRUE" }
        return GlueTable(
            Name: table.name, DatabaseName: database, Description: definition.comment, CreateTime: table.created,
            UpdateTime: table.updated ?? table.created, Retention: 0,
            StorageDescriptor: descriptor(definition, columns: definition.columns, location: definition.location),
            PartitionKeys: definition.partitionKeys.map { GlueColumn(Name: $0.name, Type: $0.type, Comment: $0.comment) },
            TableType: definition.isExternal ? "EXTERNAL_TABLE" : "MANAGED_TABLE", Parameters: parameters, IsRegisteredWithLakeFormation: false,
            CatalogId: catalogId, VersionId: String(table.version ?? 0))
    }

    static func shape(_ partition: PartitionRecord, table: TableRecord, database: String, catalogId: String) -> GluePartition {
        GluePartition(
            Values: partition.values, DatabaseName: database, TableName: table.name, CreationTime: partition.created ?? table.created,
            StorageDescriptor: descriptor(table.definition, columns: table.definition.columns, location: partition.location),
            Parameters: partition.parameters ?? [:], CatalogId: catalogId)
    }
}
