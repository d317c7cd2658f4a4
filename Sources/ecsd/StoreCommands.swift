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
    /// import's target), opened for `withStore`. A PostgreSQL database is refused while an ecsd holds it.
    /// Runs `body` on the store, closed afterwards whatever happens.
    func withStore<Result>(logger: Logger, _ body: (any CopyableStateStore) async throws -> Result) async throws -> Result {
        let store: any CopyableStateStore =
            if let location = try postgres() { try await PostgresStateStore(location: location, logger: logger) } else {
                try SQLiteStateStore(directory: dataDirectory, logger: logger)
            }
        do {
            let result = try await body(store)
            await store.close()
            return result
        } catch {
            await store.close()
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
            discussion: "Consistent while ecsd runs on SQLite; a PostgreSQL store can be read only while no ecsd uses it (the database is one ecsd's at a time).")

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
            let summary = try await location.withStore(logger: logger) { store in
                try await StateCopies.importCopy(from: from, into: store, dataDirectory: location.dataDirectory, logger: logger)
            }
            print("imported \(summary.rows ?? 0) rows and \(summary.files) files from \(from)")
        }
    }
}
