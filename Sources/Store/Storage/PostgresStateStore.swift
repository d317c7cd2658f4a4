import Foundation
import Logging
import NIOCore
import NIOSSL
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
        /// `?sslmode=` as libpq reads it: `disable`, `prefer` (the default: TLS when the server
        /// offers it), `require` (TLS, the certificate not checked), `verify-full` (TLS, the
        /// certificate checked against the system's roots or `?sslrootcert=FILE`, and the host name).
        public var sslMode: String
        public var sslRootCertificate: String?

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
            self.sslMode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
            self.sslRootCertificate = components.queryItems?.first { $0.name == "sslrootcert" }?.value
            let host = components.host ?? ""
            guard !host.isEmpty || socketDirectory != nil, ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].contains(sslMode)
            else { return nil }
            self.host = host
        }

        /// The URL with its password hidden, for messages.
        public static func redacted(_ url: String) -> String {
            guard var components = URLComponents(string: url), components.password != nil else { return url }
            components.password = "****"
            return components.string ?? url
        }

        var configuration: PostgresClient.Configuration {
            if let socketDirectory {
                return .init(unixSocketPath: socketDirectory + "/.s.PGSQL.\(port)", username: user, password: password, database: database)
            }
            return .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
        }

        var tls: PostgresClient.Configuration.TLS {
            var configuration = TLSConfiguration.makeClientConfiguration()
            switch sslMode {
            case "disable": return .disable
            case "verify-ca", "verify-full":
                configuration.certificateVerification = sslMode == "verify-full" ? .fullVerification : .noHostnameVerification
                if let sslRootCertificate { configuration.trustRoots = .file(sslRootCertificate) }
                return .require(configuration)
            case "require":
                configuration.certificateVerification = .none
                return .require(configuration)
            default:
                configuration.certificateVerification = .none
                return .prefer(configuration)
            }
        }
    }

    private struct Pending {
        var changes: [StateChange]
        var completion: @Sendable (Result<Void, any Error>) -> Void
    }

    private struct Queue {
        var items: [Pending] = []
        var closed = false
        /// A batch failed: writes are refused until the state is loaded again (`loadAll`).
        var failed = false
        /// The writer has a batch under way.
        var busy = false
    }

    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let pending = Mutex(Queue())
    private let arrivals = Doorbell()
    private let writer = Mutex<Task<Void, Never>?>(nil)
    private let logger: Logger
    /// How long a batch's transaction may take before it is failed (the server gone, a lock).
    let commitTimeout: Duration
    /// The leader's token (replicas on one database): each transaction checks it first.
    let fence: LeaseFence?

    /// Connects, brings the schema up to date, and starts the writer. `fence`: the leader lease's
    /// token this ecsd holds (see ``LeaderLease``); every write checks it. Without one (copies of
    /// the state), nothing checks who else writes.
    /// - Parameter migrating: false for a reader of a database another ecsd may run on (an export):
    ///   the schema must already be this ecsd's, and is left as it is.
    public init(
        location: Location, connectTimeout: Duration = .seconds(15), commitTimeout: Duration = .seconds(30), fence: LeaseFence? = nil,
        migrating: Bool = true, logger: Logger
    ) async throws {
        self.logger = logger
        self.commitTimeout = commitTimeout
        self.fence = fence
        var configuration = location.configuration
        if let fence {
            configuration.options.additionalStartupParameters.append(("idle_in_transaction_session_timeout", "\(max(1, fence.term.milliseconds))"))
        }
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        let runner = Task { await client.run() }
        self.runner = runner
        let place = "PostgreSQL at \(location.socketDirectory ?? location.host):\(location.port)/\(location.database)"
        do {
            // The client tries to connect again and again: a server that never answers must not
            // hold the start forever.
            try await Self.within(connectTimeout, "no answer within \(connectTimeout) (is it running, and does it take connections there?)") {
                if migrating { try await Self.migrate(client, logger: logger) } else { try await Self.checkVersion(client, logger: logger) }
            }
        } catch {
            runner.cancel()
            throw StoreError("\(place): \(error as? StoreError ?? StoreError(String(reflecting: error)))")
        }
        writer.withLock { $0 = Task { await self.write() } }
    }

    /// `body`, or a StoreError saying `late` once `limit` passed (the body then cancelled).
    public static func within<Result: Sendable>(_ limit: Duration, _ late: String, _ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
        try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else { throw StoreError(late) }
            return result
        }
    }

    /// Refuses a database whose schema is not this ecsd's version (read without changing it).
    static func checkVersion(_ client: PostgresClient, logger: Logger) async throws {
        var current = 0
        try await client.withConnection { connection in
            let exists = try await connection.query("SELECT to_regclass('stevedore_schema') IS NOT NULL", logger: logger)
            var present = false
            for try await answer in exists.decode(Bool.self) { present = answer }
            guard present else { return }
            for try await version in try await connection.query("SELECT version FROM stevedore_schema", logger: logger).decode(Int.self) {
                current = version
            }
        }
        guard current == StoreSchema.versions.count else {
            throw StoreError(
                "database schema version \(current) is not this ecsd's (\(StoreSchema.versions.count)): export with the ecsd version that runs on it")
        }
    }

    /// Versions apply in order, each in a transaction, under an advisory lock (replicas starting
    /// together do not race), as the SQLite store's do.
    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(7301)", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS stevedore_schema (version integer NOT NULL)", logger: logger)
            // Outside the versions: replicas of any version agree on who leads.
            for statement in LeaderLease.tables { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
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

    /// Every row, read in one transaction (a consistent view across tables) once the writer has
    /// nothing under way; after a failed batch, writes are taken again from then on.
    public func loadAll() async throws -> [RecordKind: [[UInt8]]] {
        while pending.withLock({ $0.busy || !$0.items.isEmpty }) { try await Task.sleep(for: .milliseconds(10)) }
        let loaded = try await client.withConnection { connection in
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            var loaded: [RecordKind: [[UInt8]]] = [:]
            for table in StoreSchema.tables {
                var rows: [[UInt8]] = []
                let query = PostgresQuery(unsafeSQL: "SELECT body FROM \(table) ORDER BY seq")
                for try await body in try await connection.query(query, logger: logger).decode(ByteBuffer.self) {
                    rows.append(Array(body.readableBytesView))
                }
                loaded[RecordKind(table)] = rows
            }
            try await connection.query("COMMIT", logger: logger)
            return loaded
        }
        pending.withLock { $0.failed = false }
        return loaded
    }

    public func snapshotRows() async throws -> [(table: String, rows: KeyedRows)] {
        try await client.withConnection { connection in
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            var tables: [(table: String, rows: KeyedRows)] = []
            for table in StoreSchema.tables {
                var rows: KeyedRows = []
                let query = PostgresQuery(unsafeSQL: "SELECT key, body FROM \(table) ORDER BY seq")
                for try await (key, body) in try await connection.query(query, logger: logger).decode((String, ByteBuffer).self) {
                    rows.append((key, Array(body.readableBytesView)))
                }
                tables.append((table, rows))
            }
            try await connection.query("COMMIT", logger: logger)
            return tables
        }
    }

    public func submit(_ changes: [StateChange], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        guard !changes.isEmpty else { return completion(.success(())) }
        let refusal = pending.withLock { state -> StoreError? in
            if state.closed { return StoreError("the store is closed") }
            if state.failed { return StoreError("an earlier write failed; the state is being loaded again") }
            state.items.append(Pending(changes: changes, completion: completion))
            return nil
        }
        if let refusal { return completion(.failure(refusal)) }
        arrivals.ring()
    }

    /// Commits what was submitted before, then stops the writer and the connections.
    public func close() async {
        pending.withLock { $0.closed = true }
        arrivals.ring()
        if let writer = writer.withLock({ $0 }) {
            // What is under way gets its commit timeout to finish, not forever.
            _ = try? await Self.within(commitTimeout + .seconds(1), "") { await writer.value }
        }
        runner.cancel()
    }

    /// The writer: every write waiting, in one transaction, in the order they came. After a
    /// failure, the writes still waiting fail too (they were made on memory that held the failed
    /// ones), and so do new ones until the state is loaded again.
    private func write() async {
        while true {
            let (batch, closed) = pending.withLock { state in
                defer { state.items.removeAll() }
                state.busy = !state.items.isEmpty
                return (state.items, state.closed)
            }
            if batch.isEmpty {
                if closed { return }
                await arrivals.wait()
                continue
            }
            do {
                try await Self.within(commitTimeout, "no answer from PostgreSQL within \(commitTimeout)") { try await self.commit(batch) }
                pending.withLock { $0.busy = false }
                for item in batch { item.completion(.success(())) }
            } catch {
                logger.error("store commit failed", metadata: ["error": "\(String(reflecting: error))"])
                let waiting = pending.withLock { state in
                    defer {
                        state.items.removeAll()
                        state.failed = true
                        state.busy = false
                    }
                    return state.items
                }
                for item in batch + waiting { item.completion(.failure(error)) }
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
        var deletedOnce: [String: Set<String>] = [:]
        for item in batch {
            for change in item.changes {
                let table = change.kind.rawValue
                guard StoreSchema.tableNames.contains(table) else {
                    throw StoreError("no table for records of kind \(change.kind): add a version to StoreSchema creating it")
                }
                if last[table] == nil { order.append(table) }
                if last[table]?[change.key] == nil { keyOrder[table, default: []].append(change.key) }
                // Deleted, then written again: deleted first, so the row is numbered anew (as SQLite's).
                if change.body == nil { deletedOnce[table, default: []].insert(change.key) }
                last[table, default: [:]][change.key] = .some(change.body)
            }
        }
        let fence = self.fence
        try await client.withTransaction(logger: logger) { connection in
            try await fence?.check(on: connection, logger: logger)
            for table in order {
                guard let rows = last[table], let keys = keyOrder[table] else { continue }
                let deleted = keys.filter { rows[$0]! == nil || deletedOnce[table]?.contains($0) == true }
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
                            unsafeSQL: "INSERT INTO \(table) (key, body) SELECT key, body FROM unnest($1::text[], $2::bytea[]) "
                                + "WITH ORDINALITY AS given(key, body, position) ORDER BY position "
                                + "ON CONFLICT (key) DO UPDATE SET body = excluded.body",
                            binds: binds),
                        logger: logger)
                }
            }
        }
    }
}
