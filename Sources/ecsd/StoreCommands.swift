import ArgumentParser
import ControlPlane
import Foundation
import Logging
import Storage

/// Where the state is, as `ecsd serve` finds it.
struct StoreLocation: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The data directory (env ECSD_DATA_DIR; default /var/lib/ecsd).")
    var dataDir: String?

    @Option(help: "sqlite (the store in the data directory) or postgres://user:password@host:port/database (env ECSD_STORE).")
    var store: String?

    var dataDirectory: String { dataDir ?? ProcessInfo.processInfo.environment["ECSD_DATA_DIR"] ?? "/var/lib/ecsd" }

    /// The PostgreSQL store named, nil for SQLite.
    func postgres() throws -> PostgresStateStore.Location? {
        switch store ?? ProcessInfo.processInfo.environment["ECSD_STORE"] ?? "sqlite" {
        case "sqlite": return nil
        case let url:
            guard let location = PostgresStateStore.Location(url: url) else {
                throw ValidationError("--store \(PostgresStateStore.Location.redacted(url)) is neither sqlite nor postgres://user:password@host:port/database.")
            }
            return location
        }
    }

    /// The PostgreSQL store named, or the data directory's SQLite one (made if missing: an
    /// import's target). Runs `body` on the store, closed afterwards whatever happens. `writing`:
    /// on PostgreSQL, the leader lease is taken for the while (refused while an ecsd leads there), so
    /// no ecsd writes beside the body.
    func withStore<Result>(logger: Logger, writing: Bool = false, _ body: (any CopyableStateStore) async throws -> Result) async throws -> Result {
        var lease: (LeaderLease, LeaseFence)?
        let store: any CopyableStateStore
        if let location = try postgres() {
            if writing {
                let leader = try await LeaderLease(
                    location: location, holder: "ecsd store import (\(ProcessInfo.processInfo.processIdentifier))", endpoint: "", timeout: .seconds(300),
                    logger: logger)
                guard let token = try await leader.tryTake() else {
                    let holder = try? await leader.current()
                    leader.close()
                    throw ValidationError(
                        "an ecsd leads on this database (\(holder.map { "\($0.holder) at \($0.endpoint)" } ?? "the lease is held")): stop every ecsd using it first.")
                }
                lease = (leader, LeaseFence(token: token, term: leader.term, takenAt: .now))
            }
            do {
                // Only a writer migrates: an export leaves the schema of a running ecsd as it is.
                store = try await PostgresStateStore(location: location, fence: lease?.1, migrating: writing, logger: logger)
            } catch {
                if let (leader, fence) = lease {
                    await leader.release(fence.token)
                    leader.close()
                }
                throw error
            }
        } else {
            store = try SQLiteStateStore(directory: dataDirectory, logger: logger)
        }
        defer { lease?.0.close() }
        do {
            let result = try await body(store)
            await store.close()
            if let (leader, fence) = lease { await leader.release(fence.token) }
            return result
        } catch {
            await store.close()
            if let (leader, fence) = lease { await leader.release(fence.token) }
            throw error
        }
    }

    /// Every row of the store, as of one moment: PostgreSQL's in one transaction, SQLite's on a
    /// read-only connection (so a running ecsd's store is neither migrated nor checkpointed).
    func snapshot(logger: Logger) async throws -> [(table: String, rows: KeyedRows)] {
        guard try postgres() != nil else { return try SQLiteStateStore.snapshotRows(directory: dataDirectory) }
        return try await withStore(logger: logger) { try await $0.snapshotRows() }
    }
}

/// `ecsd backup DIR`: a copy of the SQLite store, taken while ecsd runs.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the SQLite store, while ecsd runs, into a new data directory that ecsd can start from.",
        discussion: """
            The copy is consistent (one moment of the store), with the data directory's keys (secret.key seals \
            secrets and access keys), function code and log events. It gets a state epoch of its own: agents \
            that knew the original are sent their work again when ecsd starts from it. Restore: \
            ecsd --data-dir DIR, or ecsd store import --from DIR --store postgres://…
            """
    )

    @OptionGroup var location: StoreLocation

    @Argument(help: "A new (or empty) directory for the copy.")
    var target: String

    func run() async throws {
        guard try location.postgres() == nil else {
            throw ValidationError("ecsd backup copies the SQLite store, and this one is on PostgreSQL: use ecsd store export --to DIR (or pg_dump).")
        }
        let started = ContinuousClock.now
        let summary = try await StateCopies.backup(dataDirectory: location.dataDirectory, into: target, logger: Logger(label: "ecsd-backup"))
        print("backed up \(location.dataDirectory) into \(target) in \(ContinuousClock.now - started): the store and \(summary.files) files")
    }
}

/// `ecsd store export|import`: the state between SQLite and PostgreSQL.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Move the state between stores (SQLite and PostgreSQL).",
        subcommands: [Export.self, Import.self]
    )

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the state of the store (--store, or the data directory's SQLite) into a new data directory with a SQLite store.",
            discussion: "Consistent (one moment of the store) while ecsd runs, on SQLite and PostgreSQL alike.")

        @OptionGroup var location: StoreLocation

        @Option(help: "A new (or empty) directory to write the copy into.")
        var to: String

        func run() async throws {
            let logger = Logger(label: "ecsd-store")
            let rows = try await location.snapshot(logger: logger)
            let summary = try await StateCopies.export(rows, dataDirectory: location.dataDirectory, into: to, logger: logger)
            print("exported \(summary.rows ?? 0) rows and \(summary.files) files into \(to)")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load the SQLite store of a data directory (a backup, an export, a stopped ecsd's) into the store, which must hold no state.",
            discussion: "Run it with the target's ecsd stopped. The keys, code and log events of --from go to --data-dir where it lacks them.")

        @OptionGroup var location: StoreLocation

        @Option(help: "The data directory to load (its ecsd.db).")
        var from: String

        func run() async throws {
            let logger = Logger(label: "ecsd-store")
            let summary = try await location.withStore(logger: logger, writing: true) { store in
                try await StateCopies.importCopy(from: from, into: store, dataDirectory: location.dataDirectory, logger: logger)
            }
            print("imported \(summary.rows ?? 0) rows and \(summary.files) files from \(from)")
        }
    }
}
