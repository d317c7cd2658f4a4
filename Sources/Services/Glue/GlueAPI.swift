import Foundation
import AWSProtocols
import Athena
import GlueShapes
import StevedoreCore

/// The Glue Data Catalog (`AWSGlue.<Operation>`, AWS JSON 1.1) as boto3's Glue client and
/// `aws glue` call it: databases, tables and partitions of Athena's catalog.
public enum GlueAPI {
    public static let targetPrefix = "AWSGlue"

    public static func operations<Committer: StateCommitting>(committer: Committer) -> JSONOperations<Committer> where Committer.Root: AthenaHost {
        var api = JSONOperations(targetPrefix: targetPrefix, committer: committer)
        // MARK: Databases
        api.write("CreateDatabase") { (root, input: GlueCreateDatabaseRequest, m, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            try root.athena.glueCreateDatabase(input.DatabaseInput, now: m.now, changes: &m.changes)
            return GlueCreateDatabaseResponse()
        }
        api.read("GetDatabase", reads: { _ in [.athenaDatabases] }) { (root, input: GlueGetDatabaseRequest, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            return GlueGetDatabaseResponse(Database: GlueTables.shape(try root.athena.glueDatabase(input.Name), catalogId: root.athena.names.accountId))
        }
        api.read("GetDatabases", reads: { _ in [.athenaDatabases] }) { (root, input: GlueGetDatabasesRequest, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            let all = root.athena.databases.values.sorted { $0.name < $1.name }
            let (page, next) = try page(all, token: input.NextToken, size: try pageSize(input.MaxResults, maximum: 100))
            return GlueGetDatabasesResponse(DatabaseList: page.map { GlueTables.shape($0, catalogId: root.athena.names.accountId) }, NextToken: next)
        }
        api.write("UpdateDatabase") { (root, input: GlueUpdateDatabaseRequest, m, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            try root.athena.glueUpdateDatabase(input.Name, input.DatabaseInput, changes: &m.changes)
            return GlueUpdateDatabaseResponse()
        }
        api.write("DeleteDatabase") { (root, input: GlueDeleteDatabaseRequest, m, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            try root.athena.glueDeleteDatabase(input.Name, changes: &m.changes)
            return GlueDeleteDatabaseResponse()
        }

        // MARK: Tables
        api.write("CreateTable") { (root, input: GlueCreateTableRequest, m, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            guard let table = input.TableInput else {
                if input.OpenTableFormatInput != nil { throw GlueError.invalidInput("Open table formats (Iceberg) are not supported; give TableInput.") }
                throw GlueError.invalidInput("TableInput is required.")
            }
            try root.athena.glueCreateTable(database: input.DatabaseName, table, now: m.now, changes: &m.changes)
            return GlueCreateTableResponse()
        }
        api.read("GetTable", reads: { _ in [.athenaDatabases] }) { (root, input: GlueGetTableRequest, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            let (database, table) = try root.athena.glueTable(database: input.DatabaseName, name: input.Name)
            return GlueGetTableResponse(Table: GlueTables.shape(table, database: database.name, catalogId: root.athena.names.accountId))
        }
        api.read("GetTables", reads: { _ in [.athenaDatabases] }) { (root, input: GlueGetTablesRequest, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            let database = try root.athena.glueDatabase(input.DatabaseName)
            // Hive's table patterns: `*` any run of characters, `|` between alternatives.
            let patterns = input.Expression.map { $0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) } }
            let tables = database.tables.values.sorted { $0.name < $1.name }.filter { table in
                patterns.map { $0.contains { Wildcard.matches($0, table.name, ignoringCase: true) } } ?? true
            }
            let (page, next) = try page(tables, token: input.NextToken, size: try pageSize(input.MaxResults, maximum: 100))
            return GlueGetTablesResponse(TableList: page.map { GlueTables.shape($0, database: database.name, catalogId: root.athena.names.accountId) }, NextToken: next)
        }
        api.write("UpdateTable") { (root, input: GlueUpdateTableRequest, m, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            guard let table = input.TableInput else { throw GlueError.invalidInput("TableInput is required.") }
            try root.athena.glueUpdateTable(database: input.DatabaseName, table, now: m.now, changes: &m.changes)
            return GlueUpdateTableResponse()
        }
        api.write("DeleteTable") { (root, input: GlueDeleteTableRequest, m, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            try root.athena.glueDeleteTable(database: input.DatabaseName, name: input.Name, changes: &m.changes)
            return GlueDeleteTableResponse()
        }
        api.write("BatchDeleteTable") { (root, input: GlueBatchDeleteTableRequest, m, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            _ = try root.athena.changeableDatabase(input.DatabaseName)
            var errors: [GlueTableError] = []
            for name in input.TablesToDelete {
                guard (try? root.athena.glueTable(database: input.DatabaseName, name: name)) != nil else {
                    // Glue's wording here has no full stop.
                    errors.append(GlueTableError(TableName: name, ErrorDetail: GlueErrorDetail(ErrorCode: "EntityNotFoundException", ErrorMessage: "Table \(name) not found")))
                    continue
                }
                try root.athena.glueDeleteTable(database: input.DatabaseName, name: name, changes: &m.changes)
            }
            return GlueBatchDeleteTableResponse(Errors: errors)
        }

        // MARK: Partitions
        api.write("CreatePartition") { (root, input: GlueCreatePartitionRequest, m, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            // Refusals come before anything changes (a write that throws must change nothing).
            let (_, table) = try root.athena.glueTable(database: input.DatabaseName, name: input.TableName)
            let values = input.PartitionInput.Values ?? []
            try GlueTables.checkValues(values, table: table)
            guard !table.partitions.contains(where: { $0.values == values }) else { throw GlueError.alreadyExists("Partition already exists.") }
            _ = try root.athena.glueCreatePartitions(
                database: input.DatabaseName, table: input.TableName, [input.PartitionInput], now: m.now, changes: &m.changes)
            return GlueCreatePartitionResponse()
        }
        api.write("BatchCreatePartition") { (root, input: GlueBatchCreatePartitionRequest, m, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            guard input.PartitionInputList.count <= 100 else {
                throw GlueError.invalidInput(
                    "1 validation error detected: Value at 'partitionInputList' failed to satisfy constraint: Member must have length less than or equal to 100")
            }
            let errors = try root.athena.glueCreatePartitions(
                database: input.DatabaseName, table: input.TableName, input.PartitionInputList, now: m.now, changes: &m.changes)
            return GlueBatchCreatePartitionResponse(Errors: errors)
        }
        api.read("GetPartition", reads: { _ in [.athenaDatabases] }) { (root, input: GlueGetPartitionRequest, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            let (database, table) = try root.athena.glueTable(database: input.DatabaseName, name: input.TableName)
            guard let partition = table.partitions.first(where: { $0.values == input.PartitionValues }) else {
                throw GlueError.notFound("Cannot find partition.")
            }
            return GlueGetPartitionResponse(Partition: GlueTables.shape(partition, table: table, database: database.name, catalogId: root.athena.names.accountId))
        }
        api.read("GetPartitions", reads: { _ in [.athenaDatabases] }) { (root, input: GlueGetPartitionsRequest, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            let (database, table) = try root.athena.glueTable(database: input.DatabaseName, name: input.TableName)
            var partitions = table.partitions
            if let text = input.Expression, !text.trimmingCharacters(in: .whitespaces).isEmpty {
                let expression = try PartitionExpression(text, keys: table.definition.partitionKeys)
                partitions = partitions.filter { expression.matches($0.values) }
            }
            let (page, next) = try page(partitions, token: input.NextToken, size: try pageSize(input.MaxResults, maximum: 1000))
            return GlueGetPartitionsResponse(
                Partitions: page.map { GlueTables.shape($0, table: table, database: database.name, catalogId: root.athena.names.accountId) }, NextToken: next)
        }
        api.write("DeletePartition") { (root, input: GlueDeletePartitionRequest, m, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            let (_, table) = try root.athena.glueTable(database: input.DatabaseName, name: input.TableName)
            guard table.partitions.contains(where: { $0.values == input.PartitionValues }) else { throw GlueError.notFound("Cannot find partition.") }
            _ = try root.athena.glueDeletePartitions(
                database: input.DatabaseName, table: input.TableName, [input.PartitionValues], changes: &m.changes)
            return GlueDeletePartitionResponse()
        }
        api.write("BatchDeletePartition") { (root, input: GlueBatchDeletePartitionRequest, m, _) throws(AWSError) in
            try checkCatalog(input.CatalogId, root.athena)
            guard input.PartitionsToDelete.count <= 25 else {
                throw GlueError.invalidInput(
                    "1 validation error detected: Value at 'partitionsToDelete' failed to satisfy constraint: Member must have length less than or equal to 25")
            }
            let errors = try root.athena.glueDeletePartitions(
                database: input.DatabaseName, table: input.TableName, input.PartitionsToDelete.map(\.Values), changes: &m.changes)
            return GlueBatchDeletePartitionResponse(Errors: errors)
        }
        return api
    }

    /// One catalog: the account's (a CatalogId naming another account's is not here).
    static func checkCatalog(_ id: String?, _ athena: AthenaState) throws(AWSError) {
        guard let id, id != athena.names.accountId else { return }
        throw GlueError.notFound("Catalog \(id) not found.")
    }

    static func pageSize(_ asked: Int?, maximum: Int) throws(AWSError) -> Int {
        guard let asked else { return maximum }
        guard (1...maximum).contains(asked) else {
            throw GlueError.invalidInput(
                "1 validation error detected: Value '\(asked)' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to \(maximum)")
        }
        return asked
    }

    /// A page from an offset token (the items' position), and the next token.
    static func page<Item>(_ items: [Item], token: String?, size: Int) throws(AWSError) -> ([Item], String?) {
        var offset = 0
        if let token {
            guard let value = Int(token), (0...items.count).contains(value) else { throw GlueError.invalidInput("Invalid NextToken.") }
            offset = value
        }
        let end = min(items.count, offset + size)
        return (Array(items[offset..<end]), end < items.count ? String(end) : nil)
    }
}
