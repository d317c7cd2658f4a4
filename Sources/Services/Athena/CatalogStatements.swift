import Foundation
import StevedoreCore

/// Why a query failed, as GetQueryExecution reports it (`AthenaError`).
public struct QueryFailure: Error, Sendable, Equatable, Codable {
    /// 1 system, 2 user, 3 other.
    public var category: Int
    /// Athena's error catalog: 1000 user error, 1001 data error, 1003 DDL task failed, 200 engine error, 401 results not written…
    public var type: Int
    public var message: String

    public init(category: Int, type: Int, message: String) {
        self.category = category
        self.type = type
        self.message = message
    }

    public static func user(_ message: String) -> QueryFailure { QueryFailure(category: 2, type: 1000, message: message) }
    public static func ddl(_ message: String) -> QueryFailure { QueryFailure(category: 2, type: 1003, message: message) }
    public static func data(_ message: String) -> QueryFailure { QueryFailure(category: 2, type: 1001, message: message) }
    public static func engine(_ message: String) -> QueryFailure { QueryFailure(category: 1, type: 200, message: message) }
}

/// A result's column: its name and Athena's type name (`varchar`, `bigint`, `double`…).
public struct ResultColumn: Codable, Sendable, Equatable {
    public var name: String
    public var type: String

    public init(name: String, type: String) {
        self.name = name
        self.type = type
    }
}

/// What a DDL or utility statement answers: one text column, one line per row (Athena writes them to `<id>.txt`).
public struct StatementOutput: Sendable, Equatable {
    public var columns: [ResultColumn]
    public var lines: [String]

    public init(columns: [ResultColumn] = [], lines: [String] = []) {
        self.columns = columns
        self.lines = lines
    }

    static func listing(_ column: String, _ lines: [String]) -> StatementOutput {
        StatementOutput(columns: [ResultColumn(name: column, type: "string")], lines: lines)
    }
}

/// The catalog's side of DDL: databases, tables and partitions made, dropped and shown. Pure;
/// the runner lists objects for MSCK REPAIR TABLE and hands their keys in.
extension AthenaState {
    public static let defaultDatabase = "default"

    /// Carries out a statement that is not a query. `database` is the query's context database.
    public mutating func run(
        _ statement: AthenaStatement, database context: String, workGroup: String = primaryWorkGroup, objectKeys: [String] = [], now: Date,
        changes: inout ChangeSet
    ) throws(QueryFailure) -> StatementOutput {
        if let target = Self.changedDatabase(statement, context: context), target == Self.clusterDatabase {
            throw .ddl("FAILED: SemanticException The \(Self.clusterDatabase) database holds the cluster's own records and cannot be changed")
        }
        switch statement {
        case .query, .execute:
            throw .engine("A query is not a catalog statement.")
        case .prepare(let name, let query):
            // Only a query may be prepared (DDL runs as it is), and it must parse.
            let prepared: AthenaStatement
            do throws(StatementError) {
                prepared = try AthenaStatements.parse(query)
            } catch {
                throw .user(error.message)
            }
            guard prepared == .query else {
                throw .user("line 1:1: Invalid statement type for prepared statement: \(AthenaStatements.substatementType(prepared))")
            }
            do {
                try putPreparedStatement(
                    PreparedStatementRecord(name: name, workGroup: workGroup, query: query, description: nil, lastModified: now),
                    creating: true, replacing: true, changes: &changes)
            } catch {
                throw .user(error.message)
            }
            return StatementOutput()
        case .deallocate(let name):
            do {
                try deletePreparedStatement(name, workGroup: workGroup, changes: &changes)
            } catch {
                throw .user("line 1:1: Prepared statement not found: \(name)")
            }
            return StatementOutput()
        case .createDatabase(let name, let ifNotExists, let comment, let location):
            if databases[name] != nil {
                if ifNotExists { return StatementOutput() }
                throw .ddl("FAILED: AlreadyExistsException(message:Database \(name) already exists)")
            }
            let record = DatabaseRecord(name: name, description: comment, location: location)
            databases[name] = record
            changes.put(record)
            return StatementOutput()
        case .dropDatabase(let name, let ifExists, let cascade):
            guard let record = databases[name] else {
                if ifExists { return StatementOutput() }
                throw .ddl("FAILED: SemanticException [Error 10072]: Database does not exist: \(name)")
            }
            if !record.tables.isEmpty, !cascade {
                throw .ddl("FAILED: InvalidOperationException(message:Database \(name) is not empty. One or more tables exist.)")
            }
            databases[name] = nil
            changes.delete(DatabaseRecord.self, key: name)
            return StatementOutput()
        case .createTable(let definition, let ifNotExists):
            let databaseName = definition.database ?? context
            guard var record = databases[databaseName] else {
                throw .ddl("FAILED: SemanticException [Error 10072]: Database does not exist: \(databaseName)")
            }
            if record.tables[definition.name] != nil {
                if ifNotExists { return StatementOutput() }
                throw .ddl("FAILED: AlreadyExistsException(message:Table \(definition.name) already exists)")
            }
            try Self.check(definition)
            var stored = definition
            stored.database = nil
            record.tables[definition.name] = TableRecord(definition: stored, created: now)
            save(record, changes: &changes)
            return StatementOutput()
        case .dropTable(let name, let ifExists):
            guard let (found, table) = try? existingTable(name, context: context) else {
                if ifExists, databases[name.database ?? context] != nil { return StatementOutput() }
                throw Self.tableNotFound(name, context: context, databases: databases)
            }
            var record = found
            record.tables[table.name] = nil
            save(record, changes: &changes)
            return StatementOutput()
        case .addPartitions(let name, let ifNotExists, let specs):
            var (record, table) = try existingTable(name, context: context)
            for spec in specs {
                let values = try Self.partitionValues(spec, table: table)
                if table.partitions.contains(where: { $0.values == values }) {
                    if ifNotExists { continue }
                    throw .ddl("FAILED: AlreadyExistsException(message:Partition already exists: \(PartitionRecord(values: values, location: "").path(keys: table.definition.partitionKeys)))")
                }
                let location = spec.location ?? (table.definition.location ?? "").folderURL + PartitionRecord(values: values, location: "").path(keys: table.definition.partitionKeys) + "/"
                table.partitions.append(PartitionRecord(values: values, location: location))
            }
            record.tables[table.name] = table
            save(record, changes: &changes)
            return StatementOutput()
        case .dropPartitions(let name, let ifExists, let specs):
            var (record, table) = try existingTable(name, context: context)
            for spec in specs {
                let values = try Self.partitionValues(spec, table: table)
                guard let index = table.partitions.firstIndex(where: { $0.values == values }) else {
                    if ifExists { continue }
                    throw .ddl("FAILED: SemanticException [Error 10006]: Partition not found \(PartitionRecord(values: values, location: "").path(keys: table.definition.partitionKeys))")
                }
                table.partitions.remove(at: index)
            }
            record.tables[table.name] = table
            save(record, changes: &changes)
            return StatementOutput()
        case .repairTable(let name):
            var (record, table) = try existingTable(name, context: context)
            let keys = table.definition.partitionKeys
            guard !keys.isEmpty, let root = table.definition.location.flatMap(ObjectLocation.init) else { return StatementOutput() }
            let known = Set(table.partitions.map(\.values))
            var added: [String] = []
            for values in Self.discoverPartitions(objectKeys, under: root.folder, keys: keys) where !known.contains(values) {
                let partition = PartitionRecord(values: values, location: "s3://\(root.bucket)/\(root.folder)" + PartitionRecord(values: values, location: "").path(keys: keys) + "/")
                table.partitions.append(partition)
                added.append(table.name + ":" + partition.path(keys: keys))
            }
            record.tables[table.name] = table
            save(record, changes: &changes)
            // As Hive reports a repair: what was missing, then each partition added.
            guard !added.isEmpty else { return StatementOutput() }
            return StatementOutput(lines: ["Partitions not in metastore:\t" + added.joined(separator: "\t")] + added.map { "Repair: Added partition to metastore " + $0 })
        case .showDatabases(let like):
            return .listing("database_name", databases.keys.sorted().filter { Self.matches($0, like) })
        case .showTables(let database, let like):
            let name = database ?? context
            guard let record = databases[name] else {
                throw .ddl("FAILED: SemanticException [Error 10072]: Database does not exist: \(name)")
            }
            return .listing("tab_name", record.tables.keys.sorted().filter { Self.matches($0, like) })
        case .showColumns(let name):
            let (_, table) = try existingTable(name, context: context)
            return .listing("field", table.allColumns.map(\.name))
        case .showPartitions(let name):
            let (_, table) = try existingTable(name, context: context)
            guard !table.definition.partitionKeys.isEmpty else {
                throw .ddl("FAILED: SemanticException [Error 10241]: Table \(table.name) is not a partitioned table")
            }
            return .listing("partition", table.partitions.map { $0.path(keys: table.definition.partitionKeys) }.sorted())
        case .describe(let name):
            let (_, table) = try existingTable(name, context: context)
            var lines = table.allColumns.map { Self.describeLine($0) }
            if !table.definition.partitionKeys.isEmpty {
                lines += ["", "# Partition Information", Self.describeLine(ColumnDefinition(name: "# col_name", type: "data_type", comment: "comment")), ""]
                lines += table.definition.partitionKeys.map { Self.describeLine($0) }
            }
            return .listing("col_name", lines)
        case .showCreateTable(let name):
            let (record, table) = try existingTable(name, context: context)
            return .listing("createtab_stmt", Self.createStatement(table, database: record.name).components(separatedBy: "\n"))
        }
    }

    /// The built-in database of tables over the cluster's own records (read-only, never stored).
    public static let clusterDatabase = "stevedore"

    /// The database a statement changes, if it changes one.
    static func changedDatabase(_ statement: AthenaStatement, context: String) -> String? {
        switch statement {
        case .createDatabase(let name, _, _, _), .dropDatabase(let name, _, _): name
        case .createTable(let definition, _): definition.database ?? context
        case .dropTable(let name, _), .addPartitions(let name, _, _), .dropPartitions(let name, _, _), .repairTable(let name): name.database ?? context
        default: nil
        }
    }

    /// Adds a database the control plane provides (not stored).
    public mutating func provide(_ database: DatabaseRecord) {
        databases[database.name] = database
    }

    /// The database and table a name refers to (unqualified: in the context database).
    public func existingTable(_ name: QualifiedName, context: String) throws(QueryFailure) -> (DatabaseRecord, TableRecord) {
        guard let record = databases[name.database ?? context], let table = record.tables[name.name] else {
            throw Self.tableNotFound(name, context: context, databases: databases)
        }
        return (record, table)
    }

    static func tableNotFound(_ name: QualifiedName, context: String, databases: [String: DatabaseRecord]) -> QueryFailure {
        let database = name.database ?? context
        guard databases[database] != nil else { return .ddl("FAILED: SemanticException [Error 10072]: Database does not exist: \(database)") }
        return .ddl("FAILED: SemanticException [Error 10001]: Table not found \(database).\(name.name)")
    }

    public mutating func save(_ record: DatabaseRecord, changes: inout ChangeSet) {
        databases[record.name] = record
        changes.put(record)
    }

    /// What Athena refuses in a table's definition: formats it cannot read, and column names twice.
    public static func check(_ definition: TableDefinition) throws(QueryFailure) {
        if case .serde(let name, _)? = definition.rowFormat, !TableFormat.supportedSerDes.contains(name) {
            throw .ddl("FAILED: NOT_SUPPORTED: SerDe \(name) is not supported. Use \(TableFormat.lazySimpleSerDe), \(TableFormat.openCSVSerDe), \(TableFormat.openXJSONSerDe) or \(TableFormat.hiveJSONSerDe).")
        }
        if let stored = definition.storedAs, !["TEXTFILE", "ORG.APACHE.HADOOP.MAPRED.TEXTINPUTFORMAT"].contains(stored.uppercased()) {
            throw .ddl("FAILED: NOT_SUPPORTED: STORED AS \(stored) is not supported; tables are read as text files (TEXTFILE).")
        }
        guard let location = definition.location else {
            throw .ddl("FAILED: SemanticException [Error 10043]: LOCATION is required for an external table: give LOCATION 's3://bucket/prefix/'")
        }
        guard ObjectLocation(location) != nil else {
            throw .ddl("FAILED: SemanticException Invalid location: \(location) (expected s3://bucket/prefix/)")
        }
        var seen = Set<String>()
        for column in definition.columns + definition.partitionKeys where !seen.insert(column.name).inserted {
            throw .ddl("FAILED: SemanticException [Error 10036]: Duplicate column name: \(column.name)")
        }
    }

    static func partitionValues(_ spec: PartitionSpec, table: TableRecord) throws(QueryFailure) -> [String] {
        let keys = table.definition.partitionKeys
        guard !keys.isEmpty else { throw .ddl("FAILED: SemanticException table is not partitioned but partition spec exists: \(spec.values.map { "{\($0.key)=\($0.value)}" }.joined())") }
        var values: [String] = []
        for key in keys {
            guard let value = spec.values.first(where: { $0.key == key.name })?.value else {
                throw .ddl("FAILED: SemanticException [Error 10006]: Partition spec is incomplete: \(key.name) is missing")
            }
            values.append(value)
        }
        if let unknown = spec.values.first(where: { value in !keys.contains { $0.name == value.key } }) {
            throw .ddl("FAILED: SemanticException [Error 10098]: Non-Partition column appears in the partition specification: \(unknown.key)")
        }
        return values
    }

    /// Partitions laid out as Hive lays them out: `k1=v1/k2=v2/` folders under the table's location, keys in order.
    public static func discoverPartitions(_ keys: [String], under folder: String, keys partitionKeys: [ColumnDefinition]) -> [[String]] {
        var found: [[String]] = []
        var seen = Set<[String]>()
        for key in keys where key.hasPrefix(folder) {
            let parts = key.dropFirst(folder.count).split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count > partitionKeys.count else { continue }
            var values: [String] = []
            for (part, column) in zip(parts, partitionKeys) {
                let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard pair.count == 2, pair[0].lowercased() == column.name else { break }
                values.append(String(pair[1]).removingPercentEncoding ?? String(pair[1]))
            }
            if values.count == partitionKeys.count, seen.insert(values).inserted { found.append(values) }
        }
        return found
    }

    /// SHOW … LIKE: `*` any run of characters, `|` between alternatives, case-insensitive.
    static func matches(_ name: String, _ pattern: String?) -> Bool {
        guard let pattern, !pattern.isEmpty else { return true }
        return pattern.lowercased().split(separator: "|").contains { alternative in
            wildcard(Array(name.lowercased().utf8)[...], Array(alternative.trimmingCharacters(in: .whitespaces).utf8)[...])
        }
    }

    /// `*` matching, in linear time: on a mismatch, the last star takes one more character.
    private static func wildcard(_ text: ArraySlice<UInt8>, _ pattern: ArraySlice<UInt8>) -> Bool {
        let text = Array(text)
        let pattern = Array(pattern)
        var (t, p) = (0, 0)
        var star: (pattern: Int, text: Int)?
        while t < text.count {
            if p < pattern.count, pattern[p] == UInt8(ascii: "*") {
                star = (p, t)
                p += 1
            } else if p < pattern.count, pattern[p] == text[t] {
                p += 1
                t += 1
            } else if let last = star {
                p = last.pattern + 1
                t = last.text + 1
                star = (last.pattern, last.text + 1)
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.count
    }

    static func describeLine(_ column: ColumnDefinition) -> String {
        func padded(_ text: String) -> String { text.count >= 20 ? text : text + String(repeating: " ", count: 20 - text.count) }
        return padded(column.name) + "\t" + padded(column.type) + "\t" + padded(column.comment ?? "")
    }

    /// The table's DDL, as SHOW CREATE TABLE prints it.
    static func createStatement(_ table: TableRecord, database: String) -> String {
        let definition = table.definition
        func columns(_ list: [ColumnDefinition]) -> String {
            list.map { "  `\($0.name)` \($0.type)" + ($0.comment.map { " COMMENT '\($0)'" } ?? "") }.joined(separator: ",\n")
        }
        var text = "CREATE EXTERNAL TABLE `\(database)`.`\(definition.name)`(\n" + columns(definition.columns) + ")"
        if !definition.partitionKeys.isEmpty { text += "\nPARTITIONED BY ( \n" + columns(definition.partitionKeys) + ")" }
        switch definition.rowFormat {
        case .serde(let name, let properties)?:
            text += "\nROW FORMAT SERDE \n  '\(name)' "
            if !properties.isEmpty {
                text += "\nWITH SERDEPROPERTIES ( \n" + properties.sorted { $0.key < $1.key }.map { "  '\($0.key)'='\($0.value)'" }.joined(separator: ", \n") + ") "
            }
        case .delimited(let field, _, _, _)?:
            text += "\nROW FORMAT DELIMITED \n  FIELDS TERMINATED BY '\(field ?? "\\u0001")' "
        case nil: break
        }
        text += "\nSTORED AS INPUTFORMAT \n  'org.apache.hadoop.mapred.TextInputFormat' \nOUTPUTFORMAT \n  'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'"
        text += "\nLOCATION\n  '\(definition.location ?? "")'"
        if !definition.properties.isEmpty {
            text += "\nTBLPROPERTIES (\n" + definition.properties.sorted { $0.key < $1.key }.map { "  '\($0.key)'='\($0.value)'" }.joined(separator: ", \n") + ")"
        }
        return text
    }
}

extension String {
    /// An `s3://` location as a folder URL (ending in `/`).
    public var folderURL: String { hasSuffix("/") ? self : self + "/" }
}
