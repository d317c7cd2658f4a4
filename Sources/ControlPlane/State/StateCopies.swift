import ECS
import Foundation
import Logging
import StevedoreCore
import Storage

/// Copies of the control plane's state that an ecsd can start from: `ecsd backup` (the SQLite
/// store, while ecsd runs) and `ecsd store export|import` (between SQLite and PostgreSQL).
///
/// An ecsd started from a copy has gone back in time for the agents that knew the original: the
/// sequences they hold may now number other changes, and an ARN `family:revision` may name
/// another definition. So each start from a copy gets a state epoch of its own: an import stamps
/// one as it loads; a backup or an export leaves a marker that the first start from it consumes
/// (so the same backup restored twice gets two). Polls carry the epoch, and agents of another
/// are sent everything again (see ``AgentPollResponse/epoch``).
public enum StateCopies {
    /// What belongs with the state in a data directory: the key that seals secrets and access
    /// keys (without it they cannot be read), the administrator's key and the agents' token,
    /// function code (by content hash) and the log events.
    static let companionFiles = [SecretKeyFile.fileName, AdminCredentials.fileName, AgentTokenFile.fileName]
    static let companionDirectories = ["code", "logs"]
    /// In a copy's data directory until an ecsd first starts from it and gives it a new epoch.
    static let restoreMarker = "restored-copy"

    public struct Summary: Sendable {
        /// Rows copied (nil for a backup, which copies the file's pages).
        public var rows: Int?
        /// Files copied beside the store.
        public var files: Int
    }

    /// A consistent copy of the SQLite store in `dataDirectory`, open or not, into the new data
    /// directory `target` (made whole or not at all), with the files that belong with it.
    public static func backup(dataDirectory: String, into target: String, logger: Logger) async throws -> Summary {
        try await intoNewDirectory(target) { staging in
            // Code and log files before and after the store: what the copy's rows name is there
            // whether it was written before the snapshot or during it.
            var files = try copyCompanions(from: dataDirectory, to: staging)
            try SQLiteStateStore.snapshot(directory: dataDirectory, into: staging + "/ecsd.db")
            files += try copyCompanions(from: dataDirectory, to: staging)
            return Summary(rows: nil, files: files)
        }
    }

    /// A state read from a store (SQLite or PostgreSQL) into a new SQLite store in the data
    /// directory `target` (made whole or not at all), with the files of `dataDirectory` that
    /// belong with it.
    public static func export(
        _ rows: [(table: String, rows: KeyedRows)], dataDirectory: String, into target: String, logger: Logger
    ) async throws -> Summary {
        try await intoNewDirectory(target) { staging in
            let files = try copyCompanions(from: dataDirectory, to: staging)
            let copy = try SQLiteStateStore(directory: staging, logger: logger)
            do {
                let copied = try await StoreCopy.copy(rows, to: copy)
                copy.close()
                return Summary(rows: copied, files: files)
            } catch {
                copy.close()
                throw error
            }
        }
    }

    /// The SQLite store of the data directory `source` (a backup, an export, a stopped ecsd's),
    /// read without changing it, into `store`, which must hold no state (one transaction: all or
    /// nothing), with a new epoch. The files that belong with it go to `dataDirectory` first,
    /// where it lacks them; a key there that differs from the copy's refuses the import (the
    /// copy's secrets were sealed with its own).
    public static func importCopy(from source: String, into store: some CopyableStateStore, dataDirectory: String, logger: Logger) async throws -> Summary {
        let rows = try SQLiteStateStore.snapshotRows(directory: source)
        for name in companionFiles {
            let (theirs, ours) = (source + "/" + name, dataDirectory + "/" + name)
            guard let copied = FileManager.default.contents(atPath: theirs), let kept = FileManager.default.contents(atPath: ours), copied != kept
            else { continue }
            throw StoreCopyError(
                "\(ours) differs from \(theirs): the copy's secrets and keys need its own. Move \(ours) aside (or import into a new --data-dir) and import again.")
        }
        let files = try copyCompanions(from: source, to: dataDirectory)
        // The counters row once more at the end, with a new epoch (a key's last change wins).
        let counters = rows.first { $0.table == RecordKind.meta.rawValue }?.rows.first { $0.key == counterKey }?.body
        let imported = try await StoreCopy.copy(rows, to: store, extra: [try stamped(counters)])
        return Summary(rows: imported, files: files)
    }

    /// Gives the SQLite store in `dataDirectory` a new epoch if it is a copy not started from yet.
    /// Runs before the state is loaded. Answers the new epoch, if one was given.
    public static func renewEpochIfCopied(dataDirectory: String, store: some StateStore) async throws -> String? {
        let marker = dataDirectory + "/" + restoreMarker
        guard FileManager.default.fileExists(atPath: marker) else { return nil }
        let change = try stamped(SQLiteStateStore.row(directory: dataDirectory, table: RecordKind.meta.rawValue, key: counterKey))
        try await store.commit([change])
        try FileManager.default.removeItem(atPath: marker)
        return try RecordCoding.decode(ControlPlaneCounters.self, from: change.body ?? []).epoch
    }

    // MARK: Parts

    static let counterKey = ControlPlaneCounters().recordKey

    /// The counters row (as stored, or none yet) with a new epoch.
    static func stamped(_ body: [UInt8]?) throws -> StateChange {
        var counters = try body.map { try RecordCoding.decode(ControlPlaneCounters.self, from: $0) } ?? ControlPlaneCounters()
        counters.epoch = UUID().uuidString.lowercased()
        return StateChange(kind: ControlPlaneCounters.recordKind, key: counterKey, body: RecordCoding.encode(counters))
    }

    /// Builds a data directory beside `target` and renames it into place once whole, so a copy
    /// that fails half-way never looks like one an ecsd could start from. `target` must not exist,
    /// or be an empty directory.
    private static func intoNewDirectory(_ target: String, _ build: (String) async throws -> Summary) async throws -> Summary {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: target, isDirectory: &isDirectory) {
            guard isDirectory.boolValue, try manager.contentsOfDirectory(atPath: target).isEmpty else {
                throw StoreCopyError("\(target) exists and is not an empty directory: give a new one")
            }
        }
        let url = URL(fileURLWithPath: target).standardizedFileURL
        let staging = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".partial-" + UUID().uuidString.prefix(8)
        try manager.createDirectory(atPath: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            let summary = try await build(staging)
            try Data("no ecsd has started from this copy yet\n".utf8).write(to: URL(fileURLWithPath: staging + "/" + restoreMarker))
            if manager.fileExists(atPath: target) { try manager.removeItem(atPath: target) }
            try manager.moveItem(atPath: staging, toPath: target)
            return summary
        } catch {
            try? manager.removeItem(atPath: staging)
            throw error
        }
    }

    /// Copies the companion files, and the files of the companion directories, that `source`
    /// has and `target` lacks (not files being written, `*.tmp`; nor files removed while the copy
    /// runs, by retention or the code store's collection); answers how many.
    private static func copyCompanions(from source: String, to target: String) throws -> Int {
        let manager = FileManager.default
        try manager.createDirectory(atPath: target, withIntermediateDirectories: true)
        var copied = 0
        func copy(_ from: String, _ to: String) throws -> Bool {
            guard !from.hasSuffix(".tmp"), !manager.fileExists(atPath: to) else { return false }
            do {
                try manager.createDirectory(atPath: (to as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try manager.copyItem(atPath: from, toPath: to)
                return true
            } catch where !manager.fileExists(atPath: from) {
                return false
            }
        }
        for name in companionFiles where manager.fileExists(atPath: source + "/" + name) {
            guard try copy(source + "/" + name, target + "/" + name) else { continue }
            // Keys stay readable by their owner only.
            try manager.setAttributes([.posixPermissions: 0o600], ofItemAtPath: target + "/" + name)
            copied += 1
        }
        for directory in companionDirectories {
            let root = source + "/" + directory
            for case let relative as String in manager.enumerator(atPath: root)?.allObjects ?? [] {
                var isDirectory: ObjCBool = false
                guard manager.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
                if try copy(root + "/" + relative, target + "/" + directory + "/" + relative) { copied += 1 }
            }
        }
        return copied
    }
}

public struct StoreCopyError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
