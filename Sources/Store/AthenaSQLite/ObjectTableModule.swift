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

/// One table as SQLite sees it: its columns, then its partition keys.
final class TableInstance {
    let scan: TableScan
    unowned let context: ScanContext
    let decoder: RowDecoder
    let partitionKinds: [ColumnKind]

    init(scan: TableScan, context: ScanContext) {
        self.scan = scan
        self.context = context
        decoder = RowDecoder(table: scan.table)
        partitionKinds = scan.table.definition.partitionKeys.map { ColumnKind(athenaType: $0.type) }
    }

    var columnCount: Int { decoder.columns.count }

    /// `CREATE TABLE x(...)` for sqlite3_declare_vtab, with Athena's type names as the declared
    /// types (what a result's column reports), complex types by their kind.
    var declaration: String {
        let columns = scan.table.allColumns.map { column -> String in
            let name = "\"" + column.name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            let type = column.type
            let declared =
                if type.hasPrefix("array") { "array" } else if type.hasPrefix("map") { "map" } else if type.hasPrefix("struct") { "row" } else { type }
            return name + " " + declared
        }
        return "CREATE TABLE x(" + columns.joined(separator: ", ") + ")"
    }
}

/// A scan of one table: its objects in turn, a line at a time.
final class TableCursor {
    let table: TableInstance
    private var objects: [ScanObject] = []
    private var next = 0
    private var reader: LineReader?
    private var headerLeft = 0
    private(set) var row: [FieldValue] = []
    private(set) var partition: [FieldValue] = []
    private(set) var atEnd = true
    private(set) var rowid: Int64 = 0

    init(table: TableInstance) {
        self.table = table
    }

    deinit { finishObject() }

    func start(objects: [ScanObject]) throws(ReadFailure) {
        finishObject()
        self.objects = objects
        next = 0
        rowid = 0
        atEnd = false
        try advance()
    }

    /// On to the next row, across objects (or of the rows given whole); at the end, `atEnd`.
    func advance() throws(ReadFailure) {
        if let rows = table.scan.rows {
            guard Int(rowid) < rows.count else {
                atEnd = true
                return
            }
            row = rows[Int(rowid)].map(FieldValue.init)
            rowid += 1
            return
        }
        while true {
            if reader == nil {
                guard next < objects.count else {
                    atEnd = true
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
            guard let values = try table.decoder.decode(line) else { continue }
            row = values
            rowid += 1
            if let cutoff = table.context.cancellation.bytesCutoff, table.context.bytesScanned + (reader?.bytesRead ?? 0) > cutoff {
                throw ReadFailure.bytesLimitExceeded
            }
            return
        }
    }

    private func finishObject() {
        if let reader { table.context.bytesScanned += reader.bytesRead }
        reader = nil
    }

    func value(_ column: Int) -> FieldValue {
        if column < row.count { return row[column] }
        let index = column - table.columnCount
        return index >= 0 && index < partition.count ? partition[index] : .null
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

    /// Equality on a partition key is used to skip the objects of other partitions (SQLite checks
    /// every row again, so keeping an object is always safe; only a sure mismatch drops one).
    /// `idxNum` holds, 4 bits per argument, the partition key each argument constrains.
    static let bestIndex: @convention(c) (UnsafeMutablePointer<sqlite3_vtab>?, UnsafeMutablePointer<sqlite3_index_info>?) -> Int32 = { vtab, info in
        guard let info else { return SQLITE_ERROR }
        let table = instance(vtab)
        var used: Int32 = 0
        var plan: Int32 = 0
        for index in 0..<Int(info.pointee.nConstraint) {
            let constraint = info.pointee.aConstraint[index]
            let partitionKey = Int(constraint.iColumn) - table.columnCount
            guard constraint.usable != 0, constraint.op == UInt8(SQLITE_INDEX_CONSTRAINT_EQ), partitionKey >= 0, partitionKey < 15, used < 7 else { continue }
            info.pointee.aConstraintUsage[index].argvIndex = used + 1
            info.pointee.aConstraintUsage[index].omit = 0
            plan |= Int32(partitionKey + 1) << (4 * used)
            used += 1
        }
        info.pointee.idxNum = plan
        info.pointee.estimatedCost = used == 0 ? 1_000_000 : 1_000_000 / Double(1 << min(used * 4, 20))
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
            pointer, plan, _, argc, argv in
            let cursor = cursor(pointer)
            let table = cursor.table
            var objects = table.scan.objects
            for argument in 0..<Int(argc) {
                let key = Int((plan >> (4 * Int32(argument))) & 15) - 1
                guard key >= 0, key < table.partitionKinds.count, let value = argv?[argument] else { continue }
                objects.removeAll { object in key < object.partition.count && surelyDiffers(object.partition[key], kind: table.partitionKinds[key], value) }
            }
            return report(pointer) { () throws(ReadFailure) in try cursor.start(objects: objects) }
        }

    /// Whether a partition's value cannot equal the constraint's, under SQLite's comparison.
    static func surelyDiffers(_ text: String, kind: ColumnKind, _ value: OpaquePointer) -> Bool {
        switch (kind, sqlite3_value_type(value)) {
        case (.text, SQLITE_TEXT):
            return String(cString: sqlite3_value_text(value)) != text
        case (.integer, SQLITE_INTEGER):
            return Int64(text) != sqlite3_value_int64(value)
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
                error == .bytesLimitExceeded ? .bytesLimitExceeded : error.message.hasPrefix("HIVE_") ? .data(error.message) : .engine(error.message)
            if let vtab = pointer?.pointee.pVtab {
                if let old = vtab.pointee.zErrMsg { sqlite3_free(old) }
                vtab.pointee.zErrMsg = message(error.message)
            }
            return SQLITE_ERROR
        }
    }

    static let eof: @convention(c) (UnsafeMutablePointer<sqlite3_vtab_cursor>?) -> Int32 = { pointer in
        cursor(pointer).atEnd ? 1 : 0
    }

    static let column: @convention(c) (UnsafeMutablePointer<sqlite3_vtab_cursor>?, OpaquePointer?, Int32) -> Int32 = { pointer, context, index in
        switch cursor(pointer).value(Int(index)) {
        case .null: sqlite3_result_null(context)
        case .integer(let value): sqlite3_result_int64(context, value)
        case .real(let value): sqlite3_result_double(context, value)
        case .text(let text): sqlite3_result_text(context, text, -1, csqlite_transient())
        }
        return SQLITE_OK
    }

    static let rowid: @convention(c) (UnsafeMutablePointer<sqlite3_vtab_cursor>?, UnsafeMutablePointer<sqlite3_int64>?) -> Int32 = { pointer, out in
        out?.pointee = cursor(pointer).rowid
        return SQLITE_OK
    }
}
