import Foundation
import Logging
import StevedoreCore
import Synchronization

/// The embedded store: one SQLite file in WAL mode, written by a single thread.
///
/// Writers never block Swift's cooperative threads: `commit` hands its rows to the writer thread
/// and suspends. The thread takes every commit waiting at that moment and writes them in one
/// transaction (group commit), so throughput grows with concurrency instead of paying one sync per
/// request.
public final class SQLiteStateStore: StateStore, @unchecked Sendable {
    /// How hard SQLite syncs: `normal` survives a crash of the process (kill -9); `full` also
    /// survives power loss, at the price of an fsync per transaction.
    public enum Durability: String, Sendable, CaseIterable {
        case normal
        case full
    }

    /// Schema versions; each entry runs once, in order, tracked by `PRAGMA user_version`.
    static let migrations: [[String]] = StoreSchema.versions.map { $0.map(table) }

    private static func table(_ name: String) -> String {
        "CREATE TABLE \(name) (key TEXT PRIMARY KEY NOT NULL, body TEXT NOT NULL)"
    }

    /// Every table the migrations create: one per record kind.
    static let tables = StoreSchema.tables

    public let path: String
    /// Where `path` is (the data directory).
    let directory: String
    private let queue = WriteQueue()
    private let thread: Thread
    /// Signalled when the writer thread has written everything queued and stopped.
    private let writerStopped = DispatchSemaphore(value: 0)
    private let closed = Atomic<Bool>(false)
    private let logger: Logger
    private let rowsPerPiece: Int

    /// Opens (creating if needed) `<directory>/ecsd.db` and brings its schema up to date.
    public convenience init(directory: String, durability: Durability = .normal, logger: Logger) throws {
        try self.init(directory: directory, durability: durability, rowsPerPiece: 16_384, logger: logger)
    }

    /// - Parameter rowsPerPiece: how long a table must be, per core, to be read on several.
    init(directory: String, durability: Durability, rowsPerPiece: Int, logger: Logger) throws {
        self.rowsPerPiece = rowsPerPiece
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/ecsd.db"
        self.directory = directory
        self.logger = logger
        let connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA journal_mode=WAL")
        try connection.execute("PRAGMA synchronous=\(durability == .full ? "FULL" : "NORMAL")")
        // Checkpoints run on their own thread (below), so commits never wait for one.
        try connection.execute("PRAGMA wal_autocheckpoint=0")
        try Self.migrate(connection, logger: logger)
        let writer = try Writer(connection: connection)
        let queue = self.queue
        let writerStopped = self.writerStopped
        thread = Thread {
            writer.run(queue)
            writerStopped.signal()
        }
        thread.name = "sqlite-writer"
        thread.start()
        let checkpointer = Checkpointer(connection: try SQLiteConnection(path: path), queue: queue)
        let checkpointThread = Thread { checkpointer.run() }
        checkpointThread.name = "sqlite-checkpoint"
        checkpointThread.start()
    }

    deinit {
        queue.stop()
    }

    static func migrate(_ connection: SQLiteConnection, logger: Logger) throws(StoreError) {
        let current = try connection.userVersion()
        guard current <= migrations.count else {
            throw StoreError(
                "database schema version \(current) is newer than this ecsd understands (\(migrations.count)); upgrade ecsd"
            )
        }
        for version in current..<migrations.count {
            try connection.execute("BEGIN IMMEDIATE")
            do {
                for statement in migrations[version] { try connection.execute(statement) }
                try connection.execute("PRAGMA user_version=\(version + 1)")
                try connection.execute("COMMIT")
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
            }
            logger.info("store migrated", metadata: ["store.schema.version": "\(version + 1)"])
        }
    }

    public func loadAll() async throws -> [RecordKind: [[UInt8]]] {
        // Tables are read side by side, each on a connection of its own (WAL readers never wait
        // for each other or for the writer), through a memory map rather than copies of pages. A
        // long table (history) is read in rowid ranges on every core.
        let pieces = try Self.pieces(of: Self.tables, in: SQLiteConnection(path: path), rowsPerPiece: rowsPerPiece)
        // One connection per core, each taking the next piece until none is left: opening a
        // connection costs more than reading a short table.
        let next = Atomic<Int>(0)
        let read = Mutex<[Int: Result<[[UInt8]], any Error>]>([:])
        DispatchQueue.concurrentPerform(iterations: min(Cores.active, pieces.count)) { _ in
            let connection = Result { () throws -> SQLiteConnection in
                let connection = try SQLiteConnection(path: path)
                try connection.execute("PRAGMA mmap_size=\(1 << 30)")
                return connection
            }
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < pieces.count else { return }
                let piece = pieces[index]
                let result = Result { () throws -> [[UInt8]] in
                    let statement = try connection.get().prepare(piece.query)
                    var rows: [[UInt8]] = []
                    while try statement.step() { rows.append(statement.bytes(0)) }
                    return rows
                }
                read.withLock { $0[index] = result }
            }
        }
        let results = read.withLock { $0 }
        var loaded: [RecordKind: [[UInt8]]] = [:]
        for (index, piece) in pieces.enumerated() {
            loaded[RecordKind(piece.table), default: []] += try results[index]!.get()
        }
        return loaded
    }

    /// A table, or the part of it between two rowids.
    struct Piece {
        var table: String
        /// Rowids from `from` (the first piece: from the start) up to `upTo` (the last: to the end).
        var from: Int64?
        var upTo: Int64?

        var query: String {
            let bounds = [from.map { "rowid >= \($0)" }, upTo.map { "rowid < \($0)" }].compactMap { $0 }
            return "SELECT body FROM \(table)" + (bounds.isEmpty ? "" : " WHERE " + bounds.joined(separator: " AND ")) + " ORDER BY rowid"
        }
    }

    /// Every table cut into rowid ranges, in order: one piece unless the table is long enough to
    /// be worth reading on several cores. The first and last pieces are open-ended, so every row
    /// is in exactly one piece whatever the bounds were when they were asked.
    static func pieces(of tables: [String], in connection: SQLiteConnection, rowsPerPiece: Int) throws -> [Piece] {
        var pieces: [Piece] = []
        for table in tables {
            let bounds = try connection.prepare("SELECT ifnull(min(rowid), 0), ifnull(max(rowid), 0) FROM \(table)")
            _ = try bounds.step()
            let (first, last) = (Int64(bounds.int(0)), Int64(bounds.int(1)))
            let span = last.subtractingReportingOverflow(first)
            let count = span.overflow ? 1 : Int64(max(1, min(Cores.active, Int(span.partialValue / Int64(max(rowsPerPiece, 1))))))
            // Boundaries strictly inside (first, last], evenly spaced.
            let boundaries = (1..<count).map { first + span.partialValue / count * $0 }
            var from: Int64?
            for boundary in boundaries {
                pieces.append(Piece(table: table, from: from, upTo: boundary))
                from = boundary
            }
            pieces.append(Piece(table: table, from: from, upTo: nil))
        }
        return pieces
    }

    public func snapshotRows() async throws -> [(table: String, rows: KeyedRows)] {
        try Self.snapshotRows(directory: directory)
    }

    /// Every table's rows of the store in `directory` (open by an ecsd or not), read as of one
    /// moment on a read-only connection: the store is neither migrated nor written, its writer
    /// never waits.
    public static func snapshotRows(directory: String) throws -> [(table: String, rows: KeyedRows)] {
        let connection = try readOnlyConnection(directory: directory)
        let version = try connection.userVersion()
        guard version <= migrations.count else {
            throw StoreError("\(connection.path) has schema version \(version), newer than this ecsd understands (\(migrations.count)); upgrade ecsd")
        }
        // One read transaction: every table as of its start, whatever the writer commits meanwhile.
        try connection.execute("BEGIN")
        defer { try? connection.execute("COMMIT") }
        // Tables of versions the store has not reached yet have no rows.
        return try StoreSchema.versions.prefix(version).joined().map { table in
            let query = try connection.prepare("SELECT key, body FROM \(table) ORDER BY rowid")
            var rows: KeyedRows = []
            while try query.step() { rows.append((query.text(0), query.bytes(1))) }
            return (table, rows)
        }
    }

    /// One row's body, read-only (nil when there is none).
    public static func row(directory: String, table: String, key: String) throws -> [UInt8]? {
        guard StoreSchema.tableNames.contains(table) else { throw StoreError("no table \(table)") }
        let statement = try readOnlyConnection(directory: directory).prepare("SELECT body FROM \(table) WHERE key = ?1")
        statement.bind(1, text: key)
        return try statement.step() ? statement.bytes(0) : nil
    }

    private static func readOnlyConnection(directory: String) throws -> SQLiteConnection {
        let file = directory + "/ecsd.db"
        guard FileManager.default.fileExists(atPath: file) else { throw StoreError("\(file): no store there") }
        return try SQLiteConnection(path: file, readOnly: true)
    }

    /// Writes a consistent copy of the store file at `path` (`<directory>/ecsd.db`, open or not:
    /// WAL readers do not stop its writer) into `target`, which must not exist.
    public static func snapshot(directory: String, into target: String) throws {
        let source = directory + "/ecsd.db"
        guard FileManager.default.fileExists(atPath: source) else { throw StoreError("\(source): no store there") }
        let connection = try SQLiteConnection(path: source)
        try connection.execute("VACUUM INTO '\(target.replacingOccurrences(of: "'", with: "''"))'")
    }

    public func submit(_ changes: [StateChange], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        guard !changes.isEmpty else { return completion(.success(())) }
        queue.enqueue(WriteQueue.Pending(changes: changes, completion: completion))
    }

    /// How many transactions the writer has run: fewer than the commits when they were grouped.
    var transactionCount: Int { queue.batchCount }

    /// Stops the writer thread after the commits already queued, then copies the write-ahead log
    /// into the database and empties it, so the next start reads one file rather than recovering
    /// and reading through a long log (after a store of 100,000 tasks was written, that made the
    /// first start twice as slow).
    public func close() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        queue.stop()
        writerStopped.wait()
        do {
            try SQLiteConnection(path: path).execute("PRAGMA wal_checkpoint(TRUNCATE)")
        } catch {
            logger.warning("store checkpoint at close failed; the next start replays the log", metadata: ["error": "\(error)"])
        }
    }
}

/// Copies the WAL back into the database once a second on its own connection. A passive
/// checkpoint never blocks the writer, so commits do not stall behind one.
private final class Checkpointer: @unchecked Sendable {
    let connection: SQLiteConnection
    let queue: WriteQueue

    init(connection: SQLiteConnection, queue: WriteQueue) {
        self.connection = connection
        self.queue = queue
    }

    func run() {
        while !queue.isStopped {
            Thread.sleep(forTimeInterval: 1)
            try? connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        }
        try? connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }
}

/// Commits waiting for the writer thread.
final class WriteQueue: @unchecked Sendable {
    struct Pending {
        var changes: [StateChange]
        var completion: @Sendable (Result<Void, any Error>) -> Void
    }

    private let condition = NSCondition()
    private var pending: [Pending] = []
    private var stopped = false
    /// How many batches the writer has taken, each written in one transaction.
    private var batchesTaken = 0

    func enqueue(_ item: Pending) {
        condition.lock()
        if stopped {
            condition.unlock()
            item.completion(.failure(StoreError("the store is closed")))
            return
        }
        pending.append(item)
        condition.signal()
        condition.unlock()
    }

    /// Blocks until work is queued; returns `nil` once stopped and drained.
    func takeAll() -> [Pending]? {
        condition.lock()
        defer { condition.unlock() }
        while pending.isEmpty && !stopped { condition.wait() }
        if pending.isEmpty { return nil }
        batchesTaken += 1
        defer { pending = [] }
        return pending
    }

    var batchCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return batchesTaken
    }

    var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}

/// The writer thread's connection and its prepared statements.
private final class Writer: @unchecked Sendable {
    let connection: SQLiteConnection
    let upserts: [RecordKind: SQLiteStatement]
    let deletes: [RecordKind: SQLiteStatement]
    let begin: SQLiteStatement
    let commitStatement: SQLiteStatement

    init(connection: SQLiteConnection) throws(StoreError) {
        self.connection = connection
        var upserts: [RecordKind: SQLiteStatement] = [:]
        var deletes: [RecordKind: SQLiteStatement] = [:]
        for table in SQLiteStateStore.tables {
            upserts[RecordKind(table)] = try connection.prepare(
                "INSERT INTO \(table) (key, body) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET body = excluded.body"
            )
            deletes[RecordKind(table)] = try connection.prepare("DELETE FROM \(table) WHERE key = ?")
        }
        self.upserts = upserts
        self.deletes = deletes
        begin = try connection.prepare("BEGIN IMMEDIATE")
        commitStatement = try connection.prepare("COMMIT")
    }

    func run(_ queue: WriteQueue) {
        while let batch = queue.takeAll() {
            do {
                try write(batch)
                for item in batch { item.completion(.success(())) }
            } catch {
                try? connection.execute("ROLLBACK")
                for item in batch { item.completion(.failure(error)) }
            }
        }
    }

    private func write(_ batch: [WriteQueue.Pending]) throws(StoreError) {
        begin.reset()
        try begin.step()
        for item in batch {
            for change in item.changes {
                guard let upsert = upserts[change.kind], let delete = deletes[change.kind] else {
                    throw StoreError("no table for records of kind \(change.kind): add a migration creating it")
                }
                if let body = change.body {
                    let statement = upsert
                    statement.reset()
                    statement.bind(1, text: change.key)
                    statement.bind(2, blob: body)
                    try statement.step()
                } else {
                    let statement = delete
                    statement.reset()
                    statement.bind(1, text: change.key)
                    try statement.step()
                }
            }
        }
        commitStatement.reset()
        try commitStatement.step()
    }
}
