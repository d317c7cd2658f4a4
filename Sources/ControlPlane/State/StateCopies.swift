import ECS
import Foundation
import Logging
import StevedoreCore
import Storage

/// Copies of the control plane's state that an ecsd can start from: `ecsd backup` (the SQLite
/// store, while ecsd runs) and `ecsd store export|import` (between SQLite and PostgreSQL).
///
/// Every copy gets a state epoch of its own. An ecsd started from a copy has gone back in time
/// for the agents that knew the original: the sequences they hold may now number other changes,
/// and an ARN `family:revision` may name another definition. Polls carry the epoch, so those
/// agents are sent everything again (see ``AgentPollResponse/epoch``).
public enum StateCopies {
    /// What belongs with the state in a data directory: the key that seals secrets and access
    /// keys (without it they cannot be read), the administrator's key and the agents' token,
    /// function code (by content hash) and the log events.
    static let companionFiles = [SecretKeyFile.fileName, AdminCredentials.fileName, AgentTokenFile.fileName]
    static let companionDirectories = ["code", "logs"]

    public struct Summary: Sendable {
        /// Rows copied (nil for a backup, which copies the file's pages).
        public var rows: Int?
        /// Files copied beside the store.
        public var files: Int
        /// The copy's new state epoch.
        public var epoch: String
    }

    /// A consistent copy of the SQLite store in `dataDirectory`, open or not, into the new data
    /// directory `target`, with the files that belong with it.
    public static func backup(dataDirectory: String, into target: String, logger: Logger) async throws -> Summary {
        try prepareEmptyDirectory(target)
        try SQLiteStateStore.snapshot(directory: dataDirectory, into: target + "/ecsd.db")
        let copy = try SQLiteStateStore(directory: target, logger: logger)
        let epoch = newEpoch()
        do {
            let meta = try await copy.snapshotRows().first { $0.table == RecordKind.meta.rawValue }?.rows ?? []
            try await copy.commit([stamped(meta.first { $0.key == counterKey }?.body, epoch: epoch)])
        } catch {
            copy.close()
            throw error
        }
        copy.close()
        let files = try copyCompanions(from: dataDirectory, to: target)
        return Summary(rows: nil, files: files, epoch: epoch)
    }

    /// The state of `store` (SQLite or PostgreSQL) into a new SQLite store in the data directory
    /// `target`, with the files of `dataDirectory` that belong with it.
    public static func export(from store: some CopyableStateStore, dataDirectory: String, into target: String, logger: Logger) async throws -> Summary {
        try prepareEmptyDirectory(target)
        let copy = try SQLiteStateStore(directory: target, logger: logger)
        let (rows, epoch): (Int, String)
        do {
            (rows, epoch) = try await copyRows(from: store, to: copy)
        } catch {
            copy.close()
            throw error
        }
        copy.close()
        let files = try copyCompanions(from: dataDirectory, to: target)
        return Summary(rows: rows, files: files, epoch: epoch)
    }

    /// The SQLite store of the data directory `source` (a backup, an export, a stopped ecsd's)
    /// into `store`, which must hold no state; the files that belong with it go to
    /// `dataDirectory` where it lacks them.
    public static func importCopy(from source: String, into store: some CopyableStateStore, dataDirectory: String, logger: Logger) async throws -> Summary {
        guard FileManager.default.fileExists(atPath: source + "/ecsd.db") else {
            throw StoreCopyError("\(source) holds no ecsd.db: give the data directory of a backup, an export or a stopped ecsd")
        }
        let original = try SQLiteStateStore(directory: source, logger: logger)
        let (rows, epoch): (Int, String)
        do {
            (rows, epoch) = try await copyRows(from: original, to: store)
        } catch {
            original.close()
            throw error
        }
        original.close()
        let files = try copyCompanions(from: source, to: dataDirectory)
        return Summary(rows: rows, files: files, epoch: epoch)
    }

    // MARK: Parts

    static let counterKey = ControlPlaneCounters().recordKey

    static func newEpoch() -> String { UUID().uuidString.lowercased() }

    /// The counters row (as stored, or none yet) with a new epoch.
    static func stamped(_ body: [UInt8]?, epoch: String) throws -> StateChange {
        var counters = try body.map { try RecordCoding.decode(ControlPlaneCounters.self, from: $0) } ?? ControlPlaneCounters()
        counters.epoch = epoch
        return StateChange(kind: ControlPlaneCounters.recordKind, key: counterKey, body: RecordCoding.encode(counters))
    }

    private static func copyRows(from source: some CopyableStateStore, to target: some CopyableStateStore) async throws -> (Int, String) {
        let epoch = newEpoch()
        var stampFailure: (any Error)?
        var sawCounters = false
        let rows = try await StoreCopy.copy(from: source, to: target) { change in
            guard change.kind == .meta, change.key == counterKey else { return change }
            sawCounters = true
            do {
                return try stamped(change.body, epoch: epoch)
            } catch {
                stampFailure = error
                return change
            }
        }
        if let stampFailure { throw stampFailure }
        if !sawCounters { try await target.commit([stamped(nil, epoch: epoch)]) }
        return (rows, epoch)
    }

    private static func prepareEmptyDirectory(_ path: String) throws {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue, try manager.contentsOfDirectory(atPath: path).isEmpty else {
                throw StoreCopyError("\(path) exists and is not an empty directory: give a new one")
            }
        }
        try manager.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// Copies the companion files, and the files of the companion directories, that `source`
    /// has and `target` lacks; answers how many.
    private static func copyCompanions(from source: String, to target: String) throws -> Int {
        let manager = FileManager.default
        try manager.createDirectory(atPath: target, withIntermediateDirectories: true)
        var copied = 0
        for name in companionFiles where manager.fileExists(atPath: source + "/" + name) && !manager.fileExists(atPath: target + "/" + name) {
            try manager.copyItem(atPath: source + "/" + name, toPath: target + "/" + name)
            // Keys stay readable by their owner only.
            try manager.setAttributes([.posixPermissions: 0o600], ofItemAtPath: target + "/" + name)
            copied += 1
        }
        for directory in companionDirectories {
            let root = source + "/" + directory
            for case let relative as String in manager.enumerator(atPath: root)?.allObjects ?? [] {
                var isDirectory: ObjCBool = false
                let (from, to) = (root + "/" + relative, target + "/" + directory + "/" + relative)
                guard manager.fileExists(atPath: from, isDirectory: &isDirectory), !isDirectory.boolValue, !manager.fileExists(atPath: to)
                else { continue }
                try manager.createDirectory(atPath: (to as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try manager.copyItem(atPath: from, toPath: to)
                copied += 1
            }
        }
        return copied
    }
}

public struct StoreCopyError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
