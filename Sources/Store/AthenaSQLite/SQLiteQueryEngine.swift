import Foundation
import Athena
import CSQLite

/// Athena's queries in SQLite: an in-memory connection per query, each database of the catalog the
/// query names attached as a schema of its own, each table a virtual table over its objects
/// (``ObjectTableModule``), Athena's functions registered (``AthenaFunctions``).
public struct SQLiteQueryEngine: QueryEngine {
    public init() {}

    public func run(_ query: QueryText, database: String, tables: [TableScan], cancellation: QueryCancellation, sink: any ResultSink) throws(QueryFailure)
        -> (rows: Int, bytesScanned: Int)
    {
        var db: OpaquePointer?
        guard sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let db else {
            sqlite3_close_v2(db)
            throw .engine("The query engine could not start.")
        }
        defer { sqlite3_close_v2(db) }
        let context = ScanContext(tables: tables, cancellation: cancellation)
        return try withExtendedLifetime(context) { () throws(QueryFailure) -> (rows: Int, bytesScanned: Int) in
            let contextPointer = Unmanaged.passUnretained(context).toOpaque()
            guard sqlite3_create_module_v2(db, ObjectTableModule.name, ObjectTableModule.module, contextPointer, nil) == SQLITE_OK else {
                throw .engine("The query engine could not register its tables.")
            }
            AthenaFunctions.register(db)
            // A large GROUP BY or ORDER BY sorts its rows: with worker threads, SQLite sorts the
            // pieces it has gathered while the scan goes on (a quarter off a GROUP BY over a large CSV).
            try exec("PRAGMA threads = 2", db: db)
            try attach(tables, context: database, db: db)
            sqlite3_progress_handler(db, 20_000, { pointer in
                Unmanaged<ScanContext>.fromOpaque(pointer!).takeUnretainedValue().cancellation.isCancelled ? 1 : 0
            }, contextPointer)
            var statement: OpaquePointer?
            var tail: UnsafePointer<CChar>?
            let prepared = query.text.withCString { sqlite3_prepare_v2(db, $0, -1, &statement, &tail) }
            guard prepared == SQLITE_OK, let statement else {
                throw Self.failure(db, query: query, database: database, context: context)
            }
            defer { sqlite3_finalize(statement) }
            guard sqlite3_stmt_readonly(statement) != 0 else {
                throw .user("NOT_SUPPORTED: line 1:1: Only queries (SELECT, WITH, VALUES) run here; tables over objects are read-only")
            }
            let count = Int(sqlite3_column_count(statement))
            var columns = (0..<count).map { index -> ResultColumn in
                let name = sqlite3_column_name(statement, Int32(index)).map { String(cString: $0) } ?? ""
                let declared = sqlite3_column_decltype(statement, Int32(index)).map { String(cString: $0) }
                return ResultColumn(name: Self.label(name, index: index), type: declared.map(Self.athenaType) ?? "")
            }
            // Declared boolean, or a boolean-valued expression (SQLite gives those as 1 and 0).
            for index in query.booleanColumns where index < count && columns[index].type.isEmpty { columns[index].type = "boolean" }
            let booleans = columns.map { $0.type == "boolean" }
            try sink.begin(columns: columns)
            var rows = 0
            var values = [String?](repeating: nil, count: count)
            while true {
                let step = sqlite3_step(statement)
                if step == SQLITE_DONE { break }
                guard step == SQLITE_ROW else { throw Self.failure(db, query: query, database: database, context: context) }
                for index in 0..<count {
                    let column = Int32(index)
                    switch sqlite3_column_type(statement, column) {
                    case SQLITE_NULL:
                        values[index] = nil
                    case SQLITE_INTEGER:
                        let value = sqlite3_column_int64(statement, column)
                        values[index] = booleans[index] ? (value != 0 ? "true" : "false") : String(value)
                        if columns[index].type.isEmpty { columns[index].type = "bigint" }
                    case SQLITE_FLOAT:
                        values[index] = Self.text(sqlite3_column_double(statement, column))
                        if columns[index].type.isEmpty { columns[index].type = "double" }
                    default:
                        values[index] = sqlite3_column_text(statement, column).map { String(cString: $0) } ?? ""
                        if columns[index].type.isEmpty { columns[index].type = "varchar" }
                    }
                }
                try sink.row(values)
                rows += 1
            }
            for index in columns.indices where columns[index].type.isEmpty { columns[index].type = "varchar" }
            try sink.end(columns: columns)
            return (rows, context.bytesScanned)
        }
    }

    /// Each database the query reads, as a schema: the context database first, so unqualified names find its tables.
    private func attach(_ tables: [TableScan], context database: String, db: OpaquePointer) throws(QueryFailure) {
        var schemas = [database]
        for scan in tables where !schemas.contains(scan.database) { schemas.append(scan.database) }
        guard schemas.count <= 9 else { throw .user("NOT_SUPPORTED: line 1:1: A query may read tables of at most 9 databases") }
        for schema in schemas where schema != "main" && schema != "temp" {
            try exec("ATTACH DATABASE ':memory:' AS \(Self.quoted(schema))", db: db)
        }
        for scan in tables {
            try exec("CREATE VIRTUAL TABLE \(Self.quoted(scan.database)).\(Self.quoted(scan.table.name)) USING \(ObjectTableModule.name)", db: db)
        }
    }

    private func exec(_ sql: String, db: OpaquePointer) throws(QueryFailure) {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
            throw .engine("The query engine could not prepare its tables: \(String(cString: sqlite3_errmsg(db)))")
        }
    }

    static func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// SQLite's error as Athena words it, at the position in the query as written.
    static func failure(_ db: OpaquePointer, query: QueryText, database: String, context: ScanContext) -> QueryFailure {
        if let failure = context.failure { return failure }
        if sqlite3_errcode(db) == SQLITE_INTERRUPT { return .cancelled }
        let message = String(cString: sqlite3_errmsg(db))
        let offset = Int(sqlite3_error_offset(db))
        let (line, column) = offset >= 0 ? query.position(ofOffset: offset) : (1, 1)
        let at = "line \(line):\(column)"
        func after(_ prefix: String) -> String? { message.hasPrefix(prefix) ? String(message.dropFirst(prefix.count)) : nil }
        if let table = after("no such table: ") {
            let name = table.contains(".") ? table : database + "." + table
            return .user("TABLE_NOT_FOUND: \(at): Table 'awsdatacatalog.\(name)' does not exist")
        }
        if let column = after("no such column: ") { return .user("COLUMN_NOT_FOUND: \(at): Column '\(column)' cannot be resolved") }
        if let schema = after("unknown database ") { return .user("SCHEMA_NOT_FOUND: \(at): Schema '\(schema)' does not exist") }
        if let function = after("no such function: ") { return .user("FUNCTION_NOT_FOUND: \(at): Function '\(function)' not registered") }
        if message.hasPrefix("wrong number of arguments to function ") {
            return .user("FUNCTION_NOT_FOUND: \(at): Unexpected parameters for function \(message.dropFirst("wrong number of arguments to function ".count))")
        }
        if message.hasPrefix("near \""), let end = message.dropFirst(6).firstIndex(of: "\"") {
            return .user("\(at): mismatched input '\(message.dropFirst(6)[..<end])'. Check the statement's syntax at this position")
        }
        if message.hasPrefix("incomplete input") { return .user("\(at): mismatched input '<EOF>'. The statement ends too early") }
        if let cast = after("INVALID_CAST_ARGUMENT: ") { return .data("INVALID_CAST_ARGUMENT: \(cast)") }
        if message.hasPrefix("INVALID_FUNCTION_ARGUMENT: ") { return .user(message) }
        return .user("\(at): \(message)")
    }

    /// Athena names a result's unnamed expressions `_col<n>`; names are lower case.
    static func label(_ name: String, index: Int) -> String {
        let bytes = Array(name.utf8)
        let isIdentifier =
            !bytes.isEmpty && !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[0])
            && bytes.allSatisfy { QueryText.isWordByte($0) }
        return isIdentifier ? name.lowercased() : "_col\(index)"
    }

    /// A declared column type as Athena names it in results.
    static func athenaType(_ declared: String) -> String {
        let lower = declared.lowercased()
        let base = String(lower.prefix { $0.isLetter })
        switch base {
        case "string", "varchar", "text": return "varchar"
        case "int", "integer": return "integer"
        case "float", "real": return "float"
        case "struct": return "row"
        case "": return "varchar"
        default: return base
        }
    }

    /// A double as Athena (Java) prints it: the shortest digits that read back the same value,
    /// as `1.0`, `0.25`, `1.0E7`, `1.5E-4`.
    static func text(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : (value > 0 ? "Infinity" : "-Infinity") }
        let magnitude = abs(value)
        if magnitude == 0 || (magnitude >= 1e-3 && magnitude < 1e7) {
            let text = "\(value)"
            return text.contains(".") || text.contains("e") ? text : text + ".0"
        }
        // Swift's shortest digits, as a digit string and a decimal exponent, rewritten Java's way.
        let shortest = "\(magnitude)"
        let parts = shortest.split(separator: "e")
        let mantissa = parts[0]
        var exponent = parts.count == 2 ? Int(parts[1]) ?? 0 : 0
        let integral = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        var digits = String(integral[0]) + (integral.count > 1 ? String(integral[1]) : "")
        exponent += integral[0].count - 1
        // Leading zeros (0.000123) move the exponent down; trailing ones are not significant.
        while digits.hasPrefix("0"), digits.count > 1 {
            digits.removeFirst()
            exponent -= 1
        }
        while digits.hasSuffix("0"), digits.count > 1 { digits.removeLast() }
        let fraction = digits.count > 1 ? String(digits.dropFirst()) : "0"
        return (value < 0 ? "-" : "") + String(digits.prefix(1)) + "." + fraction + "E\(exponent)"
    }
}
