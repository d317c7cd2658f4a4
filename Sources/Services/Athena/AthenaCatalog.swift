#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// A database of the data catalog (`AwsDataCatalog`), with its tables.
public struct DatabaseRecord: StoredRecord, Equatable {
    public var name: String
    public var description: String?
    public var location: String?
    public var tables: [String: TableRecord] = [:]
    /// Glue's key-value parameters of the database.
    public var parameters: [String: String]?
    public var created: Date?

    public init(name: String, description: String? = nil, location: String? = nil, parameters: [String: String]? = nil, created: Date? = nil) {
        self.name = name
        self.description = description
        self.location = location
        self.parameters = parameters
        self.created = created
    }

    public static var recordKind: RecordKind { .athenaDatabases }
    public var recordKey: String { name }
}

/// An external table: its definition as the DDL gave it, and its partitions.
public struct TableRecord: Codable, Sendable, Equatable {
    public var definition: TableDefinition
    public var partitions: [PartitionRecord] = []
    public var created: Date
    /// When Glue's UpdateTable last changed it, and how many times it has (Glue's VersionId).
    public var updated: Date?
    public var version: Int?

    public init(definition: TableDefinition, created: Date) {
        self.definition = definition
        self.created = created
    }

    public var name: String { definition.name }
    /// The table's columns, then its partition keys: the columns a query sees, in that order.
    public var allColumns: [ColumnDefinition] { definition.columns + definition.partitionKeys }

    /// How its objects' lines become rows.
    public var format: TableFormat { TableFormat(definition) }

    /// Lines skipped at the start of each object (`skip.header.line.count`).
    public var headerLines: Int { Int(definition.properties["skip.header.line.count"] ?? "") ?? 0 }
}

/// One partition: its keys' values, in the order of the table's partition keys, and where its objects are.
public struct PartitionRecord: Codable, Sendable, Equatable {
    public var values: [String]
    public var location: String
    /// Set for partitions made through Glue (DDL's carry none).
    public var created: Date?
    public var parameters: [String: String]?

    public init(values: [String], location: String, created: Date? = nil, parameters: [String: String]? = nil) {
        self.values = values
        self.location = location
        self.created = created
        self.parameters = parameters
    }

    /// `k1=v1/k2=v2`, as SHOW PARTITIONS prints it and Hive lays the objects out.
    public func path(keys: [ColumnDefinition]) -> String {
        zip(keys, values).map { "\($0.name)=\($1)" }.joined(separator: "/")
    }
}

/// How a table's lines are read, from its ROW FORMAT and SerDe.
public enum TableFormat: Sendable, Equatable {
    /// LazySimpleSerDe (ROW FORMAT DELIMITED, the default): fields split on a delimiter, no quoting,
    /// `\N` (or the table's null format) is NULL.
    case delimited(separator: UInt8, escape: UInt8?, null: String)
    /// OpenCSVSerde: quoted fields, a separator, quote and escape character.
    case openCSV(separator: UInt8, quote: UInt8, escape: UInt8)
    /// The OpenX and Hive JSON SerDes: one JSON object per line, members matched to columns by name.
    case jsonLines(caseInsensitive: Bool, ignoreMalformed: Bool)

    public static let openCSVSerDe = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
    public static let lazySimpleSerDe = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
    public static let openXJSONSerDe = "org.openx.data.jsonserde.JsonSerDe"
    public static let hiveJSONSerDe = "org.apache.hive.hcatalog.data.JsonSerDe"
    public static let supportedSerDes: Set<String> = [openCSVSerDe, lazySimpleSerDe, openXJSONSerDe, hiveJSONSerDe]

    init(_ definition: TableDefinition) {
        func byte(_ text: String?, default value: UInt8) -> UInt8 {
            guard let text, let first = text.utf8.first else { return value }
            // Hive also writes delimiters as octal or decimal escapes ('\001', '\t').
            switch text {
            case "\\t": return 9
            case "\\001", "\\u0001": return 1
            default: return first
            }
        }
        switch definition.rowFormat {
        case .serde(let name, let properties)?:
            switch name {
            case Self.openCSVSerDe:
                self = .openCSV(
                    separator: byte(properties["separatorChar"], default: UInt8(ascii: ",")), quote: byte(properties["quoteChar"], default: UInt8(ascii: "\"")),
                    escape: byte(properties["escapeChar"], default: UInt8(ascii: "\\")))
            case Self.openXJSONSerDe, Self.hiveJSONSerDe:
                self = .jsonLines(
                    caseInsensitive: properties["case.insensitive"]?.lowercased() != "false",
                    ignoreMalformed: properties["ignore.malformed.json"]?.lowercased() == "true")
            default:
                self = .delimited(
                    separator: byte(properties["field.delim"] ?? properties["serialization.format"], default: 1), escape: properties["escape.delim"].map { byte($0, default: 92) },
                    null: properties["serialization.null.format"] ?? "\\N")
            }
        case .delimited(let field, let escape, _, let null)?:
            self = .delimited(separator: byte(field, default: 1), escape: escape.map { byte($0, default: 92) }, null: null ?? "\\N")
        case nil:
            // Hive's default: LazySimpleSerDe with Ctrl-A between fields.
            self = .delimited(separator: 1, escape: nil, null: "\\N")
        }
    }
}

/// An `s3://bucket/prefix` location.
public struct ObjectLocation: Sendable, Equatable {
    public var bucket: String
    public var prefix: String

    public init?(_ text: String) {
        guard text.hasPrefix("s3://") || text.hasPrefix("s3a://") || text.hasPrefix("s3n://") else { return nil }
        let rest = text[text.index(after: text.firstIndex(of: ":")!)...].dropFirst(2)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        guard slash > rest.startIndex else { return nil }
        bucket = String(rest[..<slash])
        prefix = slash == rest.endIndex ? "" : String(rest[rest.index(after: slash)...])
    }

    /// The prefix as a folder: with a trailing `/` (unless it is the bucket's root).
    public var folder: String { prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/" }
    public var url: String { "s3://\(bucket)/\(prefix)" }
}

extension RecordKind {
    public static let athenaDatabases = RecordKind("athena_databases")
    public static let athenaQueries = RecordKind("athena_queries")
}
