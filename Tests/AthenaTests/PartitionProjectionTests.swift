@testable import Athena
import Foundation
import Testing

/// Partition projection: which objects a projected table reads, and the values their paths give.
struct PartitionProjectionTests {
    let now = Date(timeIntervalSince1970: 1_733_097_600)  // 2024-12-02 00:00:00 UTC

    func table(_ properties: [String: String], keys: [String] = ["year", "region"]) -> TableDefinition {
        TableDefinition(
            name: "logs", columns: [ColumnDefinition(name: "line", type: "string")],
            partitionKeys: keys.map { ColumnDefinition(name: $0, type: "string") }, location: "s3://data/logs/",
            properties: properties)
    }

    @Test func hiveLayoutWithIntegerAndEnumKeys() throws {
        let projection = try #require(try PartitionProjection(table([
            "projection.enabled": "true", "projection.year.type": "integer", "projection.year.range": "2020,2024",
            "projection.region.type": "enum", "projection.region.values": "eu,us",
        ])))
        func values(_ key: String) -> [String]? { projection.values(ofKey: key, bucket: "data", tableFolder: "logs/", now: now) }
        #expect(values("logs/year=2021/region=eu/part-0.json") == ["2021", "eu"])
        #expect(values("logs/region=us/year=2024/a.json") == ["2024", "us"])
        #expect(values("logs/year=2019/region=eu/a.json") == nil)
        #expect(values("logs/year=2021/region=asia/a.json") == nil)
        #expect(values("logs/year=2021/a.json") == nil)
        #expect(projection.scanPrefix(tableLocation: "s3://data/logs/") == "s3://data/logs/")
    }

    @Test func aTemplateWithDatesRelativeToNow() throws {
        let projection = try #require(try PartitionProjection(table([
            "projection.enabled": "true", "projection.day.type": "date", "projection.day.format": "yyyy/MM/dd",
            "projection.day.range": "NOW-1YEARS,NOW", "projection.host.type": "injected",
            "storage.location.template": "s3://data/raw/${host}/${day}/",
        ], keys: ["day", "host"])))
        #expect(projection.scanPrefix(tableLocation: "s3://data/logs/") == "s3://data/raw/")
        func values(_ key: String) -> [String]? { projection.values(ofKey: key, bucket: "data", tableFolder: "logs/", now: now) }
        // A date spans several path segments here: the template's text after it ends the value.
        #expect(PartitionProjection.match("s3://data/raw/web-1/2024/", template: "s3://data/raw/${host}/${day}/") == ["host": "web-1", "day": "2024"])
        #expect(values("raw/web-1/2024-11-30/x.log") == nil)
        // A date formatted with slashes spans as many folders.
        #expect(values("raw/web-1/2024/11/30/x.log") == ["2024/11/30", "web-1"])
        #expect(values("raw/web-1/2022/11/30/x.log") == nil)
        let dated = try #require(try PartitionProjection(table([
            "projection.enabled": "true", "projection.day.type": "date", "projection.day.format": "yyyy-MM-dd",
            "projection.day.range": "2024-01-01,NOW", "projection.host.type": "injected",
            "storage.location.template": "s3://data/raw/${host}/${day}/",
        ], keys: ["day", "host"])))
        func datedValues(_ key: String) -> [String]? { dated.values(ofKey: key, bucket: "data", tableFolder: "logs/", now: now) }
        #expect(datedValues("raw/web-1/2024-11-30/x.log") == ["2024-11-30", "web-1"])
        #expect(datedValues("raw/web-1/2023-12-31/x.log") == nil)
        #expect(datedValues("raw/web-1/2024-12-03/x.log") == nil)
        #expect(datedValues("raw/web-1/yesterday/x.log") == nil)
    }

    @Test func misconfiguredProjectionsFailAsAthenaDoes() throws {
        #expect(try PartitionProjection(table(["projection.enabled": "false"])) == nil)
        #expect(throws: QueryFailure.self) {
            _ = try PartitionProjection(table(["projection.enabled": "true", "projection.year.type": "integer", "projection.year.range": "2020"]))
        }
        #expect(throws: QueryFailure.user(
            "HIVE_METASTORE_ERROR: Table logs is configured for partition projection, but the following partition columns are missing projection configuration: [region]")) {
            _ = try PartitionProjection(table(["projection.enabled": "true", "projection.year.type": "injected"]))
        }
    }
}
