import AWSProtocols
import Athena
import Foundation
import GlueShapes
import StevedoreCore
import Testing

@testable import Glue

/// The Glue Data Catalog over Athena's catalog: what Glue makes Athena reads, what Athena's DDL
/// makes Glue answers, and Glue's refusals and partition expressions.
struct GlueCatalogTests {
    var athena = AthenaState(names: ResourceNames())
    var changes = ChangeSet()
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    static let csvTable = GlueTableInput(
        Name: "Orders",
        StorageDescriptor: GlueStorageDescriptor(
            Columns: [GlueColumn(Name: "Id", Type: "BIGINT"), GlueColumn(Name: "price", Type: "decimal(10, 2)", Comment: "in euros")],
            Location: "s3://data/orders/", InputFormat: "org.apache.hadoop.mapred.TextInputFormat",
            SerdeInfo: GlueSerDeInfo(SerializationLibrary: "org.apache.hadoop.hive.serde2.OpenCSVSerde", Parameters: ["separatorChar": ";"])),
        PartitionKeys: [GlueColumn(Name: "year", Type: "int"), GlueColumn(Name: "region", Type: "string")], TableType: "EXTERNAL_TABLE",
        Parameters: ["skip.header.line.count": "1", "EXTERNAL": "TRUE"])

    init() throws {
        try athena.glueCreateDatabase(GlueDatabaseInput(Name: "Sales", Parameters: ["team": "web"]), now: now, changes: &changes)
        try athena.glueCreateTable(database: "sales", Self.csvTable, now: now, changes: &changes)
    }

    @Test func aGlueTableIsAthenasWithNamesFoldedAndTypesAsAthenaWritesThem() throws {
        let table = try #require(athena.databases["sales"]?.tables["orders"])
        #expect(table.definition.columns == [ColumnDefinition(name: "id", type: "bigint"), ColumnDefinition(name: "price", type: "decimal(10,2)", comment: "in euros")])
        #expect(table.definition.partitionKeys.map(\.name) == ["year", "region"])
        #expect(table.format == .openCSV(separator: UInt8(ascii: ";"), quote: UInt8(ascii: "\""), escape: UInt8(ascii: "\\")))
        #expect(table.headerLines == 1 && table.definition.properties["EXTERNAL"] == nil)
        // And back, as GetTable answers it.
        let shaped = GlueTables.shape(table, database: "sales", catalogId: "000000000000")
        #expect(shaped.Name == "orders" && shaped.DatabaseName == "sales" && shaped.TableType == "EXTERNAL_TABLE" && shaped.VersionId == "0")
        #expect(shaped.Parameters == ["skip.header.line.count": "1", "EXTERNAL": "TRUE"])
        #expect(shaped.StorageDescriptor?.SerdeInfo == GlueSerDeInfo(SerializationLibrary: "org.apache.hadoop.hive.serde2.OpenCSVSerde", Parameters: ["separatorChar": ";"]))
        #expect(shaped.StorageDescriptor?.InputFormat == "org.apache.hadoop.mapred.TextInputFormat" && shaped.UpdateTime == shaped.CreateTime)
    }

    @Test mutating func aTableMadeByDDLIsAnsweredByGlue() throws {
        let statement = try AthenaStatements.parse(
            "CREATE EXTERNAL TABLE events (id int, kind string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\t' LOCATION 's3://data/events/'")
        _ = try athena.run(statement, database: "sales", now: now, changes: &changes)
        let (_, table) = try athena.glueTable(database: "SALES", name: "Events")
        let shaped = GlueTables.shape(table, database: "sales", catalogId: "1")
        #expect(shaped.StorageDescriptor?.Columns?.map(\.Name) == ["id", "kind"])
        #expect(shaped.StorageDescriptor?.SerdeInfo?.SerializationLibrary == TableFormat.lazySimpleSerDe)
        #expect(shaped.StorageDescriptor?.SerdeInfo?.Parameters?["field.delim"] == "\t")
    }

    @Test mutating func partitionsAreAddedOnceWithOneValuePerKey() throws {
        let errors = try athena.glueCreatePartitions(
            database: "sales", table: "orders",
            [
                GluePartitionInput(Values: ["2024", "eu"]), GluePartitionInput(Values: ["2025", "us"], StorageDescriptor: GlueStorageDescriptor(Location: "s3://elsewhere/us/")),
                GluePartitionInput(Values: ["2024", "eu"]), GluePartitionInput(Values: ["2024"]),
            ], now: now, changes: &changes)
        #expect(errors.map { $0.ErrorDetail?.ErrorCode } == ["AlreadyExistsException", "InvalidInputException"])
        #expect(errors.map { $0.ErrorDetail?.ErrorMessage } == ["Partition already exists.", "The number of partition keys do not match the number of partition values"])
        let partitions = try #require(athena.databases["sales"]?.tables["orders"]?.partitions)
        #expect(partitions.map(\.location) == ["s3://data/orders/year=2024/region=eu/", "s3://elsewhere/us/"])
        let missing = try athena.glueDeletePartitions(database: "sales", table: "orders", [["2025", "us"], ["1999", "x"]], changes: &changes)
        #expect(missing.map { $0.PartitionValues } == [["1999", "x"]])
        #expect(athena.databases["sales"]?.tables["orders"]?.partitions.count == 1)
    }

    @Test func partitionExpressionsCompareByTheKeysTypes() throws {
        let keys = [ColumnDefinition(name: "year", type: "int"), ColumnDefinition(name: "region", type: "string")]
        let partitions = [["9", "eu"], ["10", "us"], ["2024", "eu-west"], ["2025", "ap"]]
        func selected(_ text: String) throws -> [[String]] {
            let expression = try PartitionExpression(text, keys: keys)
            return partitions.filter { expression.matches($0) }
        }
        #expect(try selected("year > 9") == [["10", "us"], ["2024", "eu-west"], ["2025", "ap"]], "numbers, not text")
        #expect(try selected("region > 'eu'") == [["10", "us"], ["2024", "eu-west"]])
        #expect(try selected("year BETWEEN 10 AND 2024 AND region LIKE 'eu%'") == [["2024", "eu-west"]])
        #expect(try selected("region IN ('ap', 'us') OR (year = 9)") == [["9", "eu"], ["10", "us"], ["2025", "ap"]])
        #expect(try selected("NOT region = 'eu' AND year <> 2025") == [["10", "us"], ["2024", "eu-west"]])
        #expect(try selected("region NOT IN ('eu') and region not like '%-%'") == [["10", "us"], ["2025", "ap"]])
        #expect(try selected("region = 'it''s'").isEmpty)
        #expect(try selected("region IS NOT NULL").count == 4)
        #expect(throws: GlueError.invalidInput("Invalid partition expression!")) { try selected("country = 'fr'") }
        // Bounded work: LIKE backtracks once, nesting and length are capped.
        let started = ContinuousClock.now
        #expect(!PartitionExpression.like(Array(String(repeating: "a", count: 2000).unicodeScalars)[...], Array((String(repeating: "%a", count: 30) + "%b").unicodeScalars)[...]))
        #expect(ContinuousClock.now - started < .seconds(1))
        #expect(PartitionExpression.like(Array("eu-west-1".unicodeScalars)[...], Array("e_-%-%".unicodeScalars)[...]))
        #expect(throws: AWSError.self) { try selected(String(repeating: "NOT ", count: 100) + "year = 1") }
        #expect(throws: AWSError.self) { try selected(String(repeating: "(", count: 100) + "year = 1" + String(repeating: ")", count: 100)) }
        #expect(throws: AWSError.self) { try selected(Array(repeating: "year = 1", count: 300).joined(separator: " OR ")) }
        for bad in ["year >", "year = 'x", "(year = 1", "year = 1 extra", "= 1", "year ! 1"] {
            #expect(throws: AWSError.self, "\(bad)") { try selected(bad) }
        }
    }

    @Test mutating func glueRefusesWhatAthenaCannotReadAndTheClusterDatabase() throws {
        var parquet = Self.csvTable
        parquet.Name = "p"
        parquet.StorageDescriptor?.InputFormat = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
        #expect(throws: AWSError.self) { try athena.glueCreateTable(database: "sales", parquet, now: now, changes: &changes) }
        #expect(throws: GlueError.alreadyExists("Table already exists.")) { try athena.glueCreateTable(database: "sales", Self.csvTable, now: now, changes: &changes) }
        #expect(throws: GlueError.notFound("Database nope not found.")) { try athena.glueCreateTable(database: "nope", Self.csvTable, now: now, changes: &changes) }
        var twice = Self.csvTable
        twice.Name = "twice"
        twice.StorageDescriptor?.Columns = [GlueColumn(Name: "year", Type: "int")]
        #expect(throws: AWSError.self) { try athena.glueCreateTable(database: "sales", twice, now: now, changes: &changes) }
        athena.provide(DatabaseRecord(name: AthenaState.clusterDatabase))
        #expect(throws: AWSError.self) { try athena.glueDeleteDatabase(AthenaState.clusterDatabase, changes: &changes) }
        // Updating a table keeps its partitions and counts versions; deleting the database takes its tables.
        var updated = Self.csvTable
        updated.Description = "v2"
        try athena.glueUpdateTable(database: "sales", updated, now: now + 5, changes: &changes)
        let table = try #require(athena.databases["sales"]?.tables["orders"])
        #expect(table.definition.comment == "v2" && table.version == 1 && table.updated == now + 5)
        try athena.glueDeleteDatabase("sales", changes: &changes)
        #expect(athena.databases["sales"] == nil)
        #expect(throws: GlueError.notFound("Database sales not found.")) { try athena.glueDatabase("sales") }
    }
}
