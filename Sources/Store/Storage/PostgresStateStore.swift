import Foundation
import Logging
import NIOCore
import PostgresNIO
import StevedoreCore
import Synchronization

/// The store on PostgreSQL (`--store postgres://user:password@host:port/database`), with the
/// embedded store's guarantees: a write is acknowledged once its transaction committed (PostgreSQL
/// has then flushed it to its log, `synchronous_commit` being on by default), and writes become
/// durable in the order they were made. One writer takes every write waiting and commits them in
/// one transaction (group commit), as the SQLite store does; the schema is the same, a table per
/// record kind, its version kept in `stevedore_schema`.
public final class PostgresStateStore: StateStore, Sendable {
    /// Where to connect, from a `postgres://` URL.
    public struct Location: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var user: String
        public var password: String?
        public var database: String
        /// `?host=/path` (libpq's form): a Unix socket directory instead of TCP.
        public var socketDirectory: String?

        /// `postgres://user:password@host:port/database` or `postgresql://…`; `?host=/dir` for a
        /// Unix socket. Nil when it is not one.
        public init?(url: String) {
            guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
                let user = components.user, !user.isEmpty
            else { return nil }
            let database = String(components.path.drop { $0 == "/" })
            self.user = user
            self.password = components.password
            self.database = database.isEmpty ? user : database
            self.port = components.port ?? 5432
            self.socketDirectory = components.queryItems?.first { $0.name == "host" }?.value
            let host = components.host ?? ""
            guard !host.isEmpty || socketDirectory != nil else { return nil }
            self.host = host
        }

        var configuration: PostgresClient.Configuration {
            if let socketDirectory {
                return .init(unixSocketPath: socketDirectory + "/.s.PGSQL.\(port)", username: user, password: password, database: database)
            }
            return .init(host: host, port: port, username: user, password: password, database: database, tls: .disable)
        }
    }

    private struct Pending {
        var changes: [StateChange]
        var completion: @Sendable (Result<Void, any Error>) -> Void
    }

    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let pending = Mutex<(items: [Pending], closed: Bool)>(([], false))
    private let arrivals = Doorbell()
    private let writer = Mutex<Task<Void, Never>?>(nil)
    private let logger: Logger

    /// Connects, brings the schema up to date, and starts the writer.
    public init(location: Location, connectTimeout: Duration = .seconds(15), logger: Logger) async throws {
        self.logger = logger
        let client = PostgresClient(configuration: location.configuration, backgroundLogger: logger)
        self.client = client
        runner = Task { await client.run() }
        let place = "PostgreSQL at \(location.socketDirectory ?? location.host):\(location.port)/\(location.database)"
        do {
            // The client tries to connect again and again: a server that never answers must not
            // hold the start forever.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await Self.migrate(client, logger: logger) }
                group.addTask {
                    try await Task.sleep(for: connectTimeout)
                    throw StoreError("no answer within \(connectTimeout) (is it running, and does it take connections there?)")
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            runner.cancel()
            throw StoreError("\(place): \(error as? StoreError ?? StoreError(String(reflecting: error)))")
        }
        writer.withLock { $0 = Task { await self.write() } }
    }

    /// Versions apply in order, each in a transaction, under an advisory lock (replicas starting
    /// together do not race), as the SQLite store's do.
    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(7301)", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS stevedore_schema (version integer NOT NULL)", logger: logger)
            var current = 0
            for try await version in try await connection.query("SELECT version FROM stevedore_schema", logger: logger).decode(Int.self) {
                current = version
            }
            guard current <= StoreSchema.versions.count else {
                throw StoreError("database schema version \(current) is newer than this ecsd understands (\(StoreSchema.versions.count)); upgrade ecsd")
            }
            guard current < StoreSchema.versions.count else { return }
            for version in current..<StoreSchema.versions.count {
                for table in StoreSchema.versions[version] {
                    // `seq` keeps the order rows were first written in, as SQLite's rowid does.
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (seq bigserial NOT NULL, key text PRIMARY KEY, body bytea NOT NULL)"),
                        logger: logger)
                }
            }
            try await connection.query("DELETE FROM stevedore_schema", logger: logger)
            try await connection.query("INSERT INTO stevedore_schema (version) VALUES (\(StoreSchema.versions.count))", logger: logger)
            logger.info("store migrated", metadata: ["store.schema.version": "\(StoreSchema.versions.count)"])
        }
    }

    public func loadAll() async throws -> [RecordKind: [[UInt8]]] {
        var loaded: [RecordKind: [[UInt8]]] = [:]
        for table in StoreSchema.tables {
            var rows: [[UInt8]] = []
            let query = PostgresQuery(unsafeSQL: "SELECT body FROM \(table) ORDER BY seq")
            for try await body in try await client.query(query, logger: logger).decode(ByteBuffer.self) {
                rows.append(Array(body.readableBytesView))
            }
            loaded[RecordKind(table)] = rows
        }
        return loaded
    }

    public func submit(_ changes: [StateChange], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        guard !changes.isEmpty else { return completion(.success(())) }
        let taken = pending.withLock { state in
            guard !state.closed else { return false }
            state.items.append(Pending(changes: changes, completion: completion))
            return true
        }
        guard taken else { return completion(.failure(StoreError("the store is closed"))) }
        arrivals.ring()
    }

    /// Commits what was submitted before, then stops the writer and the connections.
    public func close() async {
        pending.withLock { $0.closed = true }
        arrivals.ring()
        await writer.withLock { $0 }?.value
        runner.cancel()
    }

    /// The writer: every write waiting, in one transaction, in the order they came.
    private func write() async {
        while true {
            let (batch, closed) = pending.withLock { state in
                defer { state.items.removeAll() }
                return (state.items, state.closed)
            }
            if batch.isEmpty {
                if closed { return }
                await arrivals.wait()
                continue
            }
            do {
                try await commit(batch)
                for item in batch { item.completion(.success(())) }
            } catch {
                logger.error("store commit failed", metadata: ["error": "\(String(reflecting: error))"])
                for item in batch { item.completion(.failure(error)) }
            }
        }
    }

    /// One transaction for the batch, two statements at most per table however many rows: each
    /// key's last change wins (a batch is applied whole or not at all, so only the end state of
    /// each row matters), upserts by `unnest` of arrays, deletes by `= ANY`.
    private func commit(_ batch: [Pending]) async throws {
        var last: [String: [String: [UInt8]?]] = [:]
        // Tables, and each table's keys, in the order they first came: new rows are numbered
        // (`seq`) in that order, so a load reads them as they were written, as from SQLite.
        var order: [String] = []
        var keyOrder: [String: [String]] = [:]
        for item in batch {
            for change in item.changes {
                let table = change.kind.rawValue
                guard StoreSchema.tableNames.contains(table) else {
                    throw StoreError("no table for records of kind \(change.kind): add a version to StoreSchema creating it")
                }
                if last[table] == nil { order.append(table) }
                if last[table]?[change.key] == nil { keyOrder[table, default: []].append(change.key) }
                last[table, default: [:]][change.key] = .some(change.body)
            }
        }
        try await client.withTransaction(logger: logger) { connection in
            for table in order {
                guard let rows = last[table], let keys = keyOrder[table] else { continue }
                let deleted = keys.filter { rows[$0]! == nil }
                let kept = keys.compactMap { key in rows[key]!.map { (key, $0) } }
                if !deleted.isEmpty {
                    var binds = PostgresBindings()
                    binds.append(deleted)
                    try await connection.query(PostgresQuery(unsafeSQL: "DELETE FROM \(table) WHERE key = ANY($1)", binds: binds), logger: logger)
                }
                if !kept.isEmpty {
                    var binds = PostgresBindings()
                    binds.append(kept.map(\.0))
                    binds.append(kept.map { ByteBuffer(bytes: $0.1) })
                    try await connection.query(
                        PostgresQuery(
                            unsafeSQL: "INSERT INTO \(table) (key, body) SELECT * FROM unnest($1::text[], $2::bytea[]) "
                                + "ON CONFLICT (key) DO UPDATE SET body = excluded.body",
                            binds: binds),
                        logger: logger)
                }
            }
        }
    }
}
