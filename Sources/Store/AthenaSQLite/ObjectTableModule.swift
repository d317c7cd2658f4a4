import Foundation
import Athena
import CSQLite

/// The tables one query reads, given to the virtual table module as its client data.
final class ScanContext {
    let tables: [String: TableScan]
    let cancellation: QueryCancellation
    var bytesScanned = 0
    /// A failure raised inside a callback, reported instead of SQLite's generic error.
    var failure: QueryFailure?

    init(tables: [TableScan], cancellation: QueryCancellation) {
        var byName: [String: TableScan] = [:]
        for scan in tables { byName[scan.database + "." + scan.table.name] = scan }
        self.tables = byName
        self.cancellation = cancellation
    }
}

/// One table as SQLite sees it: its columns, then its partition keys. A table small enough is
/// kept in memory after its first full scan, with indexes made on the columns lookups use: the
/// inner side of a join is read once, and each outer row finds its matches by index rather than
/// by another scan (SQLite makes no automatic indexes on virtual tables).
final class TableInstance {
    let scan: TableScan
    /// Outlives every table (the engine holds it for the whole query).
    unowned(unsafe) let context: ScanContext
    let decoder: RowDecoder
    let kinds: [ColumnKind]
    let partitionKinds: [ColumnKind]
    /// Every row (columns, then partition values), once read whole; the given rows of a `stevedore` table at once.
    var cache: [[FieldValue]]?
    private var indexes: [Int: [FieldValue: [Int]]] = [:]
    /// Tables whose objects add up to more than this are scanned every time instead (held in
    /// memory, a row takes several times its bytes).
    static let cacheLimit = 32 << 20

    init(scan: TableScan, context: ScanContext) {
        self.scan = scan
        self.context = context
        decoder = RowDecoder(table: scan.table)
        partitionKinds = scan.table.definition.partitionKeys.map { ColumnKind(athenaType: $0.type) }
        kinds = decoder.kinds + partitionKinds
        cache = scan.rows.map { $0.map { $0.map(FieldValue.init) } }
        columnCount = decoder.columns.count
        let keys = scan.table.definition.partitionKeys.map(\.name)
        injectedKeys = ((try? PartitionProjection(scan.table.definition))?.keys ?? []).compactMap { key in
            guard case .injected = key.kind, let index = keys.firstIndex(of: key.name) else { return nil }
            return (index, key.name)
        }
        switch decoder.format {
        case .jsonLines(let caseInsensitive, let ignoreMalformed):
            lineMode = .jsonLines(caseInsensitive: caseInsensitive, ignoreMalformed: ignoreMalformed)
            jsonKeys = decoder.columns.map { Array((caseInsensitive ? $0.name.lowercased() : $0.name).utf8) }
            nullBytes = nil
        case .delimited(let separator, let escape, let null):
            lineMode = .delimited(separator: separator, escape: escape)
            jsonKeys = []
            nullBytes = Array(null.utf8)
        case .openCSV:
            lineMode = .whole
            jsonKeys = []
            nullBytes = nil
        }
    }

    /// How a line is located, without the format's text payloads (copying those costs retains per row).
    enum LineMode {
        case delimited(separator: UInt8, escape: UInt8?)
        case jsonLines(caseInsensitive: Bool, ignoreMalformed: Bool)
        /// Decoded whole by the decoder (OpenCSVSerDe).
        case whole
    }

    // Stored, not computed: each is read for every row or column value.
    let lineMode: LineMode
    /// Partition keys projected as `injected` (by position among the keys): a query must give each a value.
    let injectedKeys: [(index: Int, name: String)]
    let columnCount: Int
    /// The columns' names as bytes, for matching JSON members (lower-cased when matching ignores case).
    let jsonKeys: [[UInt8]]
    /// A delimited table's NULL, as bytes.
    let nullBytes: [UInt8]?
    var cacheable: Bool { cache != nil || scan.objects.reduce(0) { $0 + $1.size } <= Self.cacheLimit }

    /// The cached rows whose `column` holds `key`.
    func rows(where column: Int, is key: FieldValue) -> [Int] {
        if indexes[column] == nil, let cache {
            var index: [FieldValue: [Int]] = [:]
            for (position, row) in cache.enumerated() where column < row.count { index[row[column], default: []].append(position) }
            indexes[column] = index
        }
        return indexes[column]?[key] ?? []
    }

    /// The value a constraint's argument stands for in a column, as the column holds it; nil when
    /// it cannot be told for sure (SQLite checks every row again, so an unsure lookup reads all rows).
    func key(_ column: Int, _ value: OpaquePointer) -> FieldValue? {
        guard column < kinds.count else { return nil }
        let type = sqlite3_value_type(value)
        switch (kinds[column], type) {
        case (.integer, SQLITE_INTEGER), (.boolean, SQLITE_INTEGER): return .integer(sqlite3_value_int64(value))
        case (.integer, SQLITE_FLOAT):
            let double = sqlite3_value_double(value)
            return double == double.rounded() && abs(double) < 9e18 ? .integer(Int64(double)) : nil
        case (.real, SQLITE_INTEGER), (.real, SQLITE_FLOAT), (.decimal, SQLITE_INTEGER), (.decimal, SQLITE_FLOAT): return .real(sqlite3_value_double(value))
        case (.text, SQLITE_TEXT): return .text(String(cString: sqlite3_value_text(value)))
        default: return nil
        }
    }

    /// `CREATE TABLE x(...)` for sqlite3_declare_vtab, with Athena's type names as the declared
    /// types (what a result's column reports), complex types by their kind.
    var declaration: String {
        let columns = scan.table.allColumns.map { column -> String in
            let name = "\"" + column.name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            let type = column.type
            // `string` would have NUMERIC affinity (so '010' = '10'): declared as varchar, TEXT affinity.
            let declared =
                if type.hasPrefix("array") { "array" } else if type.hasPrefix("map") { "map" } else if type.hasPrefix("struct") { "row" }
                else if type == "string" { "varchar" } else { type }
            return name + " " + declared
        }
        return "CREATE TABLE x(" + columns.joined(separator: ", ") + ")"
    }
}

/// A scan of one table: its objects in turn, a line at a time; or its cached rows.
final class TableCursor {
    let table: TableInstance
    private var objects: [ScanObject] = []
    private var next = 0
    private var reader: LineReader?
    private var headerLeft = 0
    private var partition: [FieldValue] = []
    /// Positions in the table's cache being read, when reading from it.
    private var cached: [Int]?
    /// The rows of a full scan, kept for the table's cache once the scan ends, and the bytes of
    /// their lines (past the cache's limit, the gathering stops: a gzip object can hold far more than it weighs).
    private var gathered: [[FieldValue]]?
    private var gatheredBytes = 0
    /// The current row decoded: the columns, then the partition values (a cached row, or a line decoded whole).
    private(set) var row: [FieldValue] = []
    /// Or the current line, with where its fields are: values made only when asked for.
    private var line: ArraySlice<UInt8> = []
    private var fields = LineFields()
    private var decoded = true
    private(set) var atEnd = true
    private(set) var rowid: Int64 = 0

    /// The work group's cutoff, read once (it is checked for every line).
    private let bytesCutoff: Int?

    init(table: TableInstance) {
        self.table = table
        bytesCutoff = table.context.cancellation.bytesCutoff
        locatedColumns = table.columnCount
    }

    deinit { finishObject() }

    /// The delimited columns located in each line: those up to the last the query uses (a line's
    /// bytes past it are not looked at), or all of them when rows are kept for the cache.
    private var locatedColumns: Int

    /// Reads the given objects (all of the table's, or those of the partitions that can match).
    /// - Parameter usedColumns: how many of the first columns the query may read.
    func start(objects: [ScanObject], usedColumns: Int? = nil) throws(ReadFailure) {
        finishObject()
        self.objects = objects
        cached = nil
        next = 0
        rowid = 0
        atEnd = false
        // A full scan of a table small enough keeps its rows: SQLite may scan it again, or look rows up in it.
        gathered = table.cache == nil && table.cacheable && objects.count == table.scan.objects.count ? [] : nil
        gatheredBytes = 0
        locatedColumns = gathered == nil ? min(table.columnCount, usedColumns ?? table.columnCount) : table.columnCount
        try advance()
    }

    /// Reads rows of the table's cache, by position.
    func start(cachedRows positions: [Int]) {
        finishObject()
        cached = positions
        rowid = 0
        atEnd = false
        advanceCached()
    }

    /// Reads the whole table into its cache now (a lookup is coming: the rows are wanted by index).
    func fillCache() throws(ReadFailure) {
        try start(objects: table.scan.objects)
        while !atEnd { try advance() }
    }

    /// On to the next row, across objects; at the end, `atEnd`.
    func advance() throws(ReadFailure) {
        if cached != nil { return advanceCached() }
        while true {
            if reader == nil {
                guard next < objects.count else {
                    atEnd = true
                    if let gathered {
                        table.cache = gathered
                        self.gathered = nil
                    }
                    return
                }
                let object = objects[next]
                next += 1
                let gzip = table.scan.table.definition.properties["compressionType"]?.lowercased() == "gzip" || object.key.hasSuffix(".gz")
                reader = LineReader(files: object.files.map(\.path), gzip: gzip)
                headerLeft = table.scan.table.headerLines
                partition = zip(object.partition, table.partitionKinds).map { $1.value($0[...]) }
            }
            guard let line = try reader?.nextLine() else {
                finishObject()
                continue
            }
            if headerLeft > 0 {
                headerLeft -= 1
                continue
            }
            guard try take(line) else { continue }
            rowid += 1
            if gathered != nil {
                gatheredBytes += line.count
                if gatheredBytes > TableInstance.cacheLimit {
                    gathered = nil
                } else {
                    if !decoded { row = (0..<table.kinds.count).map(value) }
                    gathered?.append(row)
                }
            }
            if let cutoff = bytesCutoff, table.context.bytesScanned + (reader?.bytesRead ?? 0) > cutoff {
                throw ReadFailure.bytesLimitExceeded
            }
            return
        }
    }

    /// Makes the line the current row, located (or decoded whole when it must be); false for a line that is no row.
    private func take(_ text: ArraySlice<UInt8>) throws(ReadFailure) -> Bool {
        switch table.lineMode {
        case .delimited(let separator, let escape):
            if fields.locateDelimited(text, separator: separator, escape: escape, columns: locatedColumns) {
                line = text
                decoded = false
                return true
            }
        case .jsonLines(let caseInsensitive, let ignoreMalformed):
            guard text.contains(where: { $0 != 32 && $0 != 9 }) else { return false }
            switch fields.locateJSON(text, keys: table.jsonKeys, caseInsensitive: caseInsensitive) {
            case true?:
                line = text
                decoded = false
                return true
            case false?:
                return false
            case nil:
                guard ignoreMalformed else { break }
                fields.reset(columns: table.columnCount)
                line = text
                decoded = false
                return true
            }
        case .whole:
            break
        }
        guard var values = try table.decoder.decode(text) else { return false }
        if !partition.isEmpty { values += partition }
        row = values
        decoded = true
        return true
    }

    private func advanceCached() {
        guard let positions = cached, let cache = table.cache, Int(rowid) < positions.count else {
            atEnd = true
            return
        }
        row = cache[positions[Int(rowid)]]
        decoded = true
        rowid += 1
    }

    private func finishObject() {
        if let reader { table.context.bytesScanned += reader.bytesRead }
        reader = nil
    }

    /// A column's value (of a located line: made from its bytes now).
    func value(_ column: Int) -> FieldValue {
        if decoded { return column < row.count ? row[column] : .null }
        guard column < table.columnCount else {
            let index = column - table.columnCount
            return index < partition.count ? partition[index] : .null
        }
        // Past the located columns (the query said it would not read them): none.
        guard column < fields.shapes.count else { return .null }
        let kind = table.kinds[column]
        let range = fields.ranges[column]
        switch fields.shapes[column] {
        case .absent: return .null
        case .boolean(let flag): return JSONLine.Member.bool(flag).value(as: kind)
        case .nested: return kind == .text ? .text(String(decoding: line[range], as: UTF8.self)) : .null
        case .escapedString:
            var reader = JSONLine.Reader(bytes: ArraySlice([UInt8(ascii: "\"")] + line[range] + [UInt8(ascii: "\"")]), index: 0)
            return reader.string().map { kind.value($0[...]) } ?? .null
        case .bytes:
            if let null = table.nullBytes, line[range].elementsEqual(null) { return .null }
            if kind != .text, range.isEmpty { return .null }
            return kind.value(Substring(String(decoding: line[range], as: UTF8.self)))
        }
    }

    /// A column's value as SQLite's result, made straight from the line's bytes when it can be.
    func emit(_ column: Int, into context: OpaquePointer?) {
        guard !decoded, column < table.columnCount, column < fields.shapes.count else { return FastValues.result(value(column), into: context) }
        let shape = fields.shapes[column]
        // A column the line lacks: its range is left from an earlier line.
        guard shape != .absent else { return sqlite3_result_null(context) }
        let range = fields.ranges[column]
        line.withUnsafeBufferPointer { all in
            let start = range.lowerBound - line.startIndex
            let bytes = UnsafeBufferPointer(rebasing: all[start..<(start + range.count)])
            FastValues.emit(bytes, shape: shape, kind: table.kinds[column], null: table.nullBytes, into: context)
        }
    }
}

extension FieldValue {
    init(_ cell: CellValue) {
        switch cell {
        case .null: self = .null
        case .integer(let value): self = .integer(value)
        case .real(let value): self = .real(value)
        case .text(let text): self = .text(text)
        }
    }
}

/// The module's C entry points. Each `sqlite3_vtab` and `sqlite3_vtab_cursor` is allocated with
/// room after it for the Swift object it stands for.
enum ObjectTableModule {
    static let name = "stevedore_table"
    static let vtabSize = (MemoryLayout<sqlite3_vtab>.size + 7) & ~7
    static let cursorSize = (MemoryLayout<sqlite3_vtab_cursor>.size + 7) & ~7

    nonisolated(unsafe) static let module: UnsafeMutablePointer<sqlite3_module> = {
        let module = UnsafeMutablePointer<sqlite3_module>.allocate(capacity: 1)
        module.initialize(to: sqlite3_module())
        module.pointee.iVersion = 0
        module.pointee.xCreate = connect
        module.pointee.xConnect = connect
        module.pointee.xBestIndex = bestIndex
        module.pointee.xDisconnect = disconnect
        module.pointee.xDestroy = disconnect
        module.pointee.xOpen = open
        module.pointee.xClose = close
        module.pointee.xFilter = filter
        module.pointee.xNext = next
        module.pointee.xEof = eof
        module.pointee.xColumn = column
        module.pointee.xRowid = rowid
        return module
    }()

    static func instance(_ vtab: UnsafeMutablePointer<sqlite3_vtab>?) -> TableInstance {
        let raw = UnsafeMutableRawPointer(vtab!).load(fromByteOffset: vtabSize, as: UnsafeMutableRawPointer.self)
        return Unmanaged<TableInstance>.fromOpaque(raw).takeUnretainedValue()
    }

    static func cursor(_ cursor: UnsafeMutablePointer<sqlite3_vtab_cursor>?) -> TableCursor {
        let raw = UnsafeMutableRawPointer(cursor!).load(fromByteOffset: cursorSize, as: UnsafeMutableRawPointer.self)
        return Unmanaged<TableCursor>.fromOpaque(raw).takeUnretainedValue()
    }

    /// The cursor, for a call made once per row or value: borrowed without a retain and release
    /// (the sqlite3_vtab_cursor owns it until xClose).
    static func withCursor<Result>(_ cursor: UnsafeMutablePointer<sqlite3_vtab_cursor>?, _ body: (TableCursor) -> Result) -> Result {
        let raw = UnsafeMutableRawPointer(cursor!).load(fromByteOffset: cursorSize, as: UnsafeMutableRawPointer.self)
        return Unmanaged<TableCursor>.fromOpaque(raw)._withUnsafeGuaranteedRef(body)
    }

    /// A message SQLite frees itself.
    static func message(_ text: String) -> UnsafeMutablePointer<CChar>? {
        let bytes = Array(text.utf8CString)
        guard let memory = sqlite3_malloc(Int32(bytes.count)) else { return nil }
        let pointer = memory.bindMemory(to: CChar.self, capacity: bytes.count)
        pointer.update(from: bytes, count: bytes.count)
        return pointer
    }

    static let connect:
        @convention(c) (
            OpaquePointer?, UnsafeMutableRawPointer?, Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafeMutablePointer<UnsafeMutablePointer<sqlite3_vtab>?>?,
            UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        ) -> Int32 = { db, aux, argc, argv, vtabOut, errorOut in
            guard let aux, let argv, argc >= 3, let schema = argv[1], let table = argv[2] else { return SQLITE_ERROR }
            let context = Unmanaged<ScanContext>.fromOpaque(aux).takeUnretainedValue()
            let key = String(cString: schema) + "." + String(cString: table)
            guard let scan = context.tables[key] else {
                errorOut?.pointee = message("no table \(key) in this query")
                return SQLITE_ERROR
            }
            let instance = TableInstance(scan: scan, context: context)
            guard sqlite3_declare_vtab(db, instance.declaration) == SQLITE_OK else {
                errorOut?.pointee = message("cannot declare table \(key): \(String(cString: sqlite3_errmsg(db)))")
                return SQLITE_ERROR
            }
            let raw = UnsafeMutableRawPointer.allocate(byteCount: vtabSize + 8, alignment: 8)
            let vtab = raw.bindMemory(to: sqlite3_vtab.self, capacity: 1)
            vtab.initialize(to: sqlite3_vtab())
            raw.storeBytes(of: Unmanaged.passRetained(instance).toOpaque(), toByteOffset: vtabSize, as: UnsafeMutableRawPointer.self)
            vtabOut?.pointee = vtab
            return SQLITE_OK
        }

    static let disconnect: @convention(c) (UnsafeMutablePointer<sqlite3_vtab>?) -> Int32 = { vtab in
        guard let vtab else { return SQLITE_OK }
        let raw = UnsafeMutableRawPointer(vtab)
        Unmanaged<TableInstance>.fromOpaque(raw.load(fromByteOffset: vtabSize, as: UnsafeMutableRawPointer.self)).release()
        if let error = vtab.pointee.zErrMsg { sqlite3_free(error) }
        raw.deallocate()
        return SQLITE_OK
    }

    /// Equalities are used to read less: on a partition key, to skip the other partitions'
    /// objects; on any column of a table small enough to cache, to find rows by index (the inner
    /// side of a join). SQLite checks every row again, so a lookup never needs to be exact, only
    /// never to miss a row. `idxStr` lists the column each argument constrains.
    static let bestIndex: @convention(c) (UnsafeMutablePointer<sqlite3_vtab>?, UnsafeMutablePointer<sqlite3_index_info>?) -> Int32 = { vtab, info in
        guard let info else { return SQLITE_ERROR }
        let table = instance(vtab)
        var columns: [Int32] = []
        var lookups = 0
        for index in 0..<Int(info.pointee.nConstraint) {
            let constraint = info.pointee.aConstraint[index]
            guard constraint.usable != 0, constraint.op == UInt8(SQLITE_INDEX_CONSTRAINT_EQ), constraint.iColumn >= 0, columns.count < 16 else { continue }
            let isPartitionKey = Int(constraint.iColumn) >= table.columnCount
            guard isPartitionKey || table.cacheable else { continue }
            if !isPartitionKey { lookups += 1 }
            columns.append(constraint.iColumn)
            info.pointee.aConstraintUsage[index].argvIndex = Int32(columns.count)
            info.pointee.aConstraintUsage[index].omit = 0
        }
        if !columns.isEmpty {
            info.pointee.idxStr = message(columns.map(String.init).joined(separator: ","))
            info.pointee.needToFreeIdxStr = 1
        }
        // The columns the query reads, as a count from the first (bit 63 stands for every later one).
        let used = info.pointee.colUsed
        info.pointee.idxNum = used >> 63 != 0 ? Int32(table.columnCount) : Int32(64 - used.leadingZeroBitCount)
        let rows = Double(max(1, table.scan.objects.reduce(0) { $0 + $1.size } / 64))
        info.pointee.estimatedCost = lookups > 0 ? 10 + log2(rows) : (columns.isEmpty ? rows : rows / 16)
        info.pointee.estimatedRows = lookups > 0 ? 10 : Int64(rows)
        return SQLITE_OK
    }

    static let open: @convention(c) (UnsafeMutablePointer<sqlite3_vtab>?, UnsafeMutablePointer<UnsafeMutablePointer<sqlite3_vtab_cursor>?>?) -> Int32 = { vtab, out in
        let raw = UnsafeMutableRawPointer.allocate(byteCount: cursorSize + 8, alignment: 8)
        let cursor = raw.bindMemory(to: sqlite3_vtab_cursor.self, capacity: 1)
        cursor.initialize(to: sqlite3_vtab_cursor())
        raw.storeBytes(of: Unmanaged.passRetained(TableCursor(table: instance(vtab))).toOpaque(), toByteOffset: cursorSize, as: UnsafeMutableRawPointer.self)
        out?.pointee = cursor
        return SQLITE_OK
    }

    static let close: @convention(c) (UnsafeMutablePointer<sqlite3_vtab_cursor>?) -> Int32 = { cursor in
        guard let cursor else { return SQLITE_OK }
        let raw = UnsafeMutableRawPointer(cursor)
        Unmanaged<TableCursor>.fromOpaque(raw.load(fromByteOffset: cursorSize, as: UnsafeMutableRawPointer.self)).release()
        raw.deallocate()
        return SQLITE_OK
    }

    static let filter:
        @convention(c) (UnsafeMutablePointer<sqlite3_vtab_cursor>?, Int32, UnsafePointer<CChar>?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Int32 = {
            pointer, usedColumns, plan, argc, argv in
            let cursor = cursor(pointer)
            let table = cursor.table
            let columns = plan.map { String(cString: $0).split(separator: ",").compactMap { Int($0) } } ?? []
            var constraints: [(column: Int, value: OpaquePointer)] = []
            for (argument, column) in columns.enumerated() where argument < Int(argc) {
                if let value = argv?[argument] { constraints.append((column, value)) }
            }
            return report(pointer) { () throws(ReadFailure) in
                // Athena reads an injected key's values from the query, so it needs them there.
                for key in table.injectedKeys where !constraints.contains(where: { $0.column == table.columnCount + key.index }) {
                    throw ReadFailure(
                        message: "CONSTRAINT_VIOLATION: For the injected projected partition column \(key.name), the WHERE clause must contain only "
                            + "static equality conditions, and at least one such condition must be present.")
                }
                let lookups = constraints.filter { $0.column < table.columnCount }
                if table.cache == nil, !lookups.isEmpty, table.cacheable { try TableCursor(table: table).fillCache() }
                if table.cache != nil {
                    var positions: [Int]?
                    for (column, value) in constraints {
                        guard let key = table.key(column, value) else { continue }
                        let found = table.rows(where: column, is: key)
                        positions = positions.map { current in let set = Set(found); return current.filter(set.contains) } ?? found
                    }
                    cursor.start(cachedRows: positions ?? Array(table.cache!.indices))
                    return
                }
                var objects = table.scan.objects
                for (column, value) in constraints where column >= table.columnCount {
                    let key = column - table.columnCount
                    guard key < table.partitionKinds.count else { continue }
                    objects.removeAll { object in key < object.partition.count && surelyDiffers(object.partition[key], kind: table.partitionKinds[key], value) }
                }
                try cursor.start(objects: objects, usedColumns: Int(usedColumns))
            }
        }

    /// Whether a partition's value cannot equal the constraint's, under SQLite's comparison.
    static func surelyDiffers(_ text: String, kind: ColumnKind, _ value: OpaquePointer) -> Bool {
        // The partition's value as the column reads it (trimmed, typed), against the constraint's.
        switch (kind.value(text[...]), kind, sqlite3_value_type(value)) {
        case (.text(let read), .text, SQLITE_TEXT):
            return String(cString: sqlite3_value_text(value)) != read
        case (let read, .integer, SQLITE_INTEGER):
            return read != .integer(sqlite3_value_int64(value))
        default:
            return false
        }
    }

    static let next: @convention(c) (UnsafeMutablePointer<sqlite3_vtab_cursor>?) -> Int32 = { pointer in
        let cursor = cursor(pointer)
        if cursor.table.context.cancellation.isCancelled {
            cursor.table.context.failure = .cancelled
            return SQLITE_INTERRUPT
        }
        return report(pointer) { () throws(ReadFailure) in try cursor.advance() }
    }

    static func report(_ pointer: UnsafeMutablePointer<sqlite3_vtab_cursor>?, _ body: () throws(ReadFailure) -> Void) -> Int32 {
        do {
            try body()
            return SQLITE_OK
        } catch {
            let context = cursor(pointer).table.context
            context.failure =
                error == .bytesLimitExceeded
                ? .bytesLimitExceeded
                : error.message.hasPrefix("HIVE_") ? .data(error.message) : error.message.hasPrefix("CONSTRAINT_VIOLATION") ? .user(error.message) : .engine(error.message)
            if let vtab = pointer?.pointee.pVtab {
                if let old = vtab.pointee.zErrMsg { sqlite3_free(old) }
                vtab.pointee.zErrMsg = message(error.message)
            }
            return SQLITE_ERROR
        }
    }

    static let eof: @convention(c) (UnsafeMutablePointer<sqlite3_vtab_cursor>?) -> Int32 = { pointer in
        withCursor(pointer) { $0.atEnd } ? 1 : 0
    }

    static let column: @convention(c) (UnsafeMutablePointer<sqlite3_vtab_cursor>?, OpaquePointer?, Int32) -> Int32 = { pointer, context, index in
        withCursor(pointer) { $0.emit(Int(index), into: context) }
        return SQLITE_OK
    }

    static let rowid: @convention(c) (UnsafeMutablePointer<sqlite3_vtab_cursor>?, UnsafeMutablePointer<sqlite3_int64>?) -> Int32 = { pointer, out in
        out?.pointee = cursor(pointer).rowid
        return SQLITE_OK
    }
}
