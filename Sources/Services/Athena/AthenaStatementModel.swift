// What a parsed Athena statement is: its kinds, a table's definition, names, partition specs,
// and how a statement that does not parse is reported.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// MARK: - Statement model

public struct ColumnDefinition: Codable, Sendable, Equatable {
    public var name: String
    /// Lower-cased, without spaces: "int", "decimal(10,2)", "array<struct<a:int,b:string>>".
    public var type: String
    public var comment: String?

    public init(name: String, type: String, comment: String? = nil) {
        self.name = name
        self.type = type
        self.comment = comment
    }
}

public enum RowFormat: Codable, Sendable, Equatable {
    /// ROW FORMAT DELIMITED [FIELDS TERMINATED BY 'x' [ESCAPED BY 'y']] [COLLECTION ITEMS TERMINATED BY ..]
    /// [MAP KEYS TERMINATED BY ..] [LINES TERMINATED BY 'z'] [NULL DEFINED AS 'n']
    case delimited(fieldDelimiter: String?, escape: String?, lineDelimiter: String?, nullFormat: String?)
    /// ROW FORMAT SERDE 'class' [WITH SERDEPROPERTIES ('k'='v', ...)]
    case serde(name: String, properties: [String: String])
}

public struct TableDefinition: Codable, Sendable, Equatable {
    /// Set when the name was qualified `db.table`.
    public var database: String?
    public var name: String
    public var columns: [ColumnDefinition]
    /// PARTITIONED BY (k type, ...)
    public var partitionKeys: [ColumnDefinition]
    public var rowFormat: RowFormat?
    /// STORED AS TEXTFILE / PARQUET / ... upper-cased, or the input format class of
    /// STORED AS INPUTFORMAT '...' OUTPUTFORMAT '...'.
    public var storedAs: String?
    public var location: String?
    /// TBLPROPERTIES, keys as written.
    public var properties: [String: String]
    public var comment: String?
    public var isExternal: Bool

    public init(
        database: String? = nil, name: String, columns: [ColumnDefinition] = [],
        partitionKeys: [ColumnDefinition] = [], rowFormat: RowFormat? = nil, storedAs: String? = nil,
        location: String? = nil, properties: [String: String] = [:], comment: String? = nil,
        isExternal: Bool = false
    ) {
        self.database = database
        self.name = name
        self.columns = columns
        self.partitionKeys = partitionKeys
        self.rowFormat = rowFormat
        self.storedAs = storedAs
        self.location = location
        self.properties = properties
        self.comment = comment
        self.isExternal = isExternal
    }
}

public struct QualifiedName: Sendable, Equatable {
    public var database: String?
    public var name: String

    public init(database: String? = nil, name: String) {
        self.database = database
        self.name = name
    }
}

public struct PartitionSpec: Sendable, Equatable {
    /// In the order written.
    public var values: [PartitionValue]
    public var location: String?

    public init(values: [PartitionValue], location: String? = nil) {
        self.values = values
        self.location = location
    }
}

public struct PartitionValue: Sendable, Equatable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

public enum AthenaStatement: Sendable, Equatable {
    case createDatabase(name: String, ifNotExists: Bool, comment: String?, location: String?)
    case dropDatabase(name: String, ifExists: Bool, cascade: Bool)
    case createTable(TableDefinition, ifNotExists: Bool)
    case dropTable(QualifiedName, ifExists: Bool)
    case addPartitions(QualifiedName, ifNotExists: Bool, partitions: [PartitionSpec])
    case dropPartitions(QualifiedName, ifExists: Bool, partitions: [PartitionSpec])
    case repairTable(QualifiedName)
    case showDatabases(like: String?)
    case showTables(database: String?, like: String?)
    case showColumns(QualifiedName)
    case showPartitions(QualifiedName)
    case showCreateTable(QualifiedName)
    case describe(QualifiedName)
    /// SELECT, WITH, VALUES, TABLE or ( ... ): left to the SQL engine.
    case query
    /// PREPARE name FROM query: kept in the work group (replacing one of the same name).
    case prepare(name: String, query: String)
    /// EXECUTE name [USING value, …]: the prepared query, its `?` bound to the values as written.
    case execute(name: String, parameters: [String])
    /// DEALLOCATE PREPARE name.
    case deallocate(name: String)
}

public struct StatementError: Error, Sendable, Equatable {
    /// Formatted as Athena formats it, always beginning "line L:C: ".
    public var message: String
    /// 1-based line of the offending token.
    public var line: Int
    /// 1-based column of the offending token.
    public var column: Int

    public init(message: String, line: Int, column: Int) {
        self.message = message
        self.line = line
        self.column = column
    }

    init(line: Int, column: Int, detail: String) {
        self.init(message: "line \(line):\(column): \(detail)", line: line, column: column)
    }
}
