import Foundation
import Logging
import NIOCore
import PostgresNIO
import StevedoreCore
import Synchronization

/// The leader lease of several `ecsd` on one PostgreSQL: a fencing token (`stevedore_lease`)
/// that every taking of the lease raises, and the term (`stevedore_lease_term`): which replica
/// leads, where it serves, until when (PostgreSQL's clock, the only one all replicas share).
///
/// Who takes the lease loads the state and serves; every transaction it commits first checks, under
/// a share lock on the token's row, that the token is still its own (``LeaseFence``). Taking the
/// lease updates that row, which waits for those transactions to end; so once another replica
/// holds it, no write of the deposed one can commit. Renewals update the term's row only, so they
/// never wait for the leader's own commits.
public final class LeaderLease: Sendable {
    /// Who holds the lease, as the row says.
    public struct Holder: Sendable, Equatable {
        public var holder: String
        public var endpoint: String
        public var token: Int64
        /// Whether the term has not run out.
        public var live: Bool
    }

    /// How long a leader may go without renewing before another replica takes over and serves.
    public let timeout: Duration
    /// This replica's name in the row (unique per process start).
    public let holder: String
    /// Where this replica serves, for the others to forward requests to.
    public let endpoint: String
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger

    /// The term written into the row: part of the timeout, so that the replica that takes over has
    /// the rest of it to load the state and start serving.
    public var term: Duration { timeout * 0.6 }
    /// How often the leader renews: three tries within a term.
    public var renewInterval: Duration { timeout * 0.2 }
    /// How often a follower tries to take a lease that ran out.
    public var pollInterval: Duration { min(.seconds(1), max(.milliseconds(100), timeout * 0.05)) }

    public init(location: PostgresStateStore.Location, holder: String, endpoint: String, timeout: Duration, logger: Logger) async throws {
        self.timeout = timeout
        self.holder = holder
        self.endpoint = endpoint
        self.logger = logger
        let client = PostgresClient(configuration: location.configuration, backgroundLogger: logger)
        self.client = client
        runner = Task { await client.run() }
        let place = "PostgreSQL at \(location.socketDirectory ?? location.host):\(location.port)/\(location.database)"
        do {
            try await PostgresStateStore.within(.seconds(15), "no answer within 15 s (is it running, and does it take connections there?)") {
                try await PostgresStateStore.migrate(client, logger: logger)
            }
        } catch {
            runner.cancel()
            throw StoreError("\(place): \(error as? StoreError ?? StoreError(String(reflecting: error)))")
        }
    }

    /// The lease's fencing token when this replica took it now (the term had run out, or nobody
    /// held it), nil when another holds it. `reclaim`: the caller holds this replica's listening
    /// port, so a lease held by a process of this host at this replica's address is a dead one's
    /// (this replica before a crash), taken at once instead of once its term runs out.
    public func tryTake(reclaim: Bool = false) async throws -> Int64? {
        let host = Self.host(of: holder)
        let milliseconds = term.milliseconds
        let (holder, endpoint) = (self.holder, self.endpoint)
        return try await client.withTransaction(logger: logger) { connection -> Int64? in
            // The term's row, locked: one taker at a time.
            var takeable = false
            let terms = try await connection.query(
                """
                SELECT expires_at < clock_timestamp()
                    OR (\(reclaim) AND endpoint = \(endpoint) AND split_part(holder, '/', 1) = \(host))
                FROM stevedore_lease_term WHERE name = 'leader' FOR UPDATE
                """, logger: logger)
            for try await answer in terms.decode(Bool.self) { takeable = answer }
            guard takeable else { return nil }
            // The token's row: waits for the commits under way (their share locks on it); none
            // of the deposed leader's can commit after this.
            var token: Int64 = 0
            let tokens = try await connection.query("UPDATE stevedore_lease SET token = token + 1 WHERE name = 'leader' RETURNING token", logger: logger)
            for try await raised in tokens.decode(Int64.self) { token = raised }
            try await connection.query(
                """
                UPDATE stevedore_lease_term SET holder = \(holder), endpoint = \(endpoint), token = \(token),
                    expires_at = clock_timestamp() + \(milliseconds) * interval '1 millisecond'
                WHERE name = 'leader'
                """, logger: logger)
            return token
        }
    }

    /// Extends the term of the lease held with `token`; false when it is no longer held so.
    public func renew(_ token: Int64) async throws -> Bool {
        let milliseconds = term.milliseconds
        return try await client.withConnection { connection in
            var renewed = false
            let rows = try await connection.query(
                """
                UPDATE stevedore_lease_term SET expires_at = clock_timestamp() + \(milliseconds) * interval '1 millisecond'
                WHERE name = 'leader' AND token = \(token) RETURNING token
                """, logger: logger)
            for try await _ in rows.decode(Int64.self) { renewed = true }
            return renewed
        }
    }

    /// Ends the term of the lease held with `token` now, so a follower takes over at once (a
    /// leader stopping on purpose).
    public func release(_ token: Int64) async {
        // A few tries: the first may meet a pooled connection the server closed meanwhile.
        for attempt in 1...3 {
            do {
                _ = try await client.withConnection { connection in
                    try await connection.query(
                        "UPDATE stevedore_lease_term SET expires_at = clock_timestamp() - interval '1 second' WHERE name = 'leader' AND token = \(token)",
                        logger: logger)
                }
                return
            } catch {
                if attempt == 3 {
                    logger.warning("could not release the leader lease; another replica takes over once it runs out", metadata: ["error": "\(error)"])
                } else {
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
        }
    }

    /// Who holds the lease now; nil when nobody ever took it.
    public func current() async throws -> Holder? {
        try await client.withConnection { connection in
            var found: Holder?
            let rows = try await connection.query(
                "SELECT holder, endpoint, token, expires_at > clock_timestamp() FROM stevedore_lease_term WHERE name = 'leader'", logger: logger)
            for try await (holder, endpoint, token, live) in rows.decode((String, String, Int64, Bool).self) where !holder.isEmpty {
                found = Holder(holder: holder, endpoint: endpoint, token: token, live: live)
            }
            return found
        }
    }

    /// The host part of a holder's name (`host/pid/nonce`).
    static func host(of holder: String) -> String {
        String(holder.split(separator: "/", omittingEmptySubsequences: false).first ?? "")
    }

    public func close() {
        runner.cancel()
    }

    /// The tables, made with the schema (``PostgresStateStore/migrate(_:logger:)``): the token's
    /// row, which every commit of the leader holds a share lock on, and the term's, which renewals
    /// update (apart, so a renewal never waits for a commit).
    static let tables = [
        "CREATE TABLE IF NOT EXISTS stevedore_lease (name text PRIMARY KEY, token bigint NOT NULL)",
        "CREATE TABLE IF NOT EXISTS stevedore_lease_term (name text PRIMARY KEY, holder text NOT NULL, endpoint text NOT NULL, "
            + "token bigint NOT NULL, expires_at timestamptz NOT NULL)",
        "INSERT INTO stevedore_lease (name, token) VALUES ('leader', 0) ON CONFLICT DO NOTHING",
        "INSERT INTO stevedore_lease_term (name, holder, endpoint, token, expires_at) VALUES ('leader', '', '', 0, '-infinity') ON CONFLICT DO NOTHING",
    ]
}

/// The token a leader's writes carry: the store commits a transaction only while the lease row
/// still holds it, and marks the fence broken when it does not.
public final class LeaseFence: Sendable {
    public let token: Int64
    /// The lease's term: a transaction of the leader's left idle this long (the leader cut off
    /// mid-commit) is ended by PostgreSQL, so its lock on the lease row cannot hold up a takeover.
    public let term: Duration
    /// When the taking of the lease began: the first term runs from no earlier.
    public let takenAt: ContinuousClock.Instant
    private let broken = Atomic<Bool>(false)

    public init(token: Int64, term: Duration, takenAt: ContinuousClock.Instant) {
        self.token = token
        self.term = term
        self.takenAt = takenAt
    }

    /// Whether a commit found the lease taken by another replica.
    public var isBroken: Bool { broken.load(ordering: .relaxed) }

    func breakFence() { broken.store(true, ordering: .relaxed) }

    /// The first statement of each of the leader's transactions: holds a share lock on the lease
    /// row until the commit (a replica taking the lease waits for it) and fails when the token changed.
    func check(on connection: PostgresConnection, logger: Logger) async throws {
        var current: Int64?
        for try await token in try await connection.query("SELECT token FROM stevedore_lease WHERE name = 'leader' FOR SHARE", logger: logger)
            .decode(Int64.self)
        {
            current = token
        }
        guard current == token else {
            breakFence()
            throw StoreError("this ecsd is no longer the leader (its lease, token \(token), was taken over): the write was not saved")
        }
    }
}
