import ECS
import Foundation
import Logging
import StevedoreCore
@testable import Storage
import Synchronization
import Testing

struct SQLiteStateStoreTests {
    let logger = Logger(label: "test")

    func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "stevedore-store-\(UUID().uuidString)"
        return path
    }

    func change(_ kind: RecordKind, _ key: String, _ body: String?) -> StateChange {
        StateChange(kind: kind, key: key, body: body.map { Array($0.utf8) })
    }

    @Test func writesAndReadsBack() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStateStore(directory: directory, logger: logger)
        try await store.commit([change(.clusters, "a", #"{"n":1}"#), change(.clusters, "b", #"{"n":2}"#)])
        try await store.commit([change(.clusters, "a", #"{"n":3}"#), change(.clusters, "b", nil), change(.tags, "x", "{}")])
        let rows = try await store.loadAll()
        #expect(rows[.clusters]?.map { String(decoding: $0, as: UTF8.self) } == [#"{"n":3}"#])
        #expect(rows[.tags]?.count == 1)
        store.close()
    }

    /// A long table is read in rowid ranges on several cores; the rows come back whole and in
    /// the order they were first written, after updates and deletions left holes in the rowids.
    @Test func readsALongTableInPiecesInOrder() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStateStore(directory: directory, durability: .normal, rowsPerPiece: 7, logger: logger)
        try await store.commit((0..<100).map { change(.tasks, "t\($0)", "{\"n\":\($0)}") })
        try await store.commit((0..<100).filter { $0 % 3 == 0 }.map { change(.tasks, "t\($0)", nil) } + [change(.tasks, "t1", "{\"n\":-1}")])
        let rows = try await store.loadAll()
        let expected = (0..<100).filter { $0 % 3 != 0 }.map { $0 == 1 ? "{\"n\":-1}" : "{\"n\":\($0)}" }
        #expect(rows[.tasks]?.map { String(decoding: $0, as: UTF8.self) } == expected)
        #expect(rows[.clusters] == [])
        store.close()
    }

    /// Pieces cover every rowid once, however many cores and however short the table.
    @Test(arguments: [1, 2, 7, 1_000])
    func piecesCoverEveryRowOnce(rowsPerPiece: Int) async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStateStore(directory: directory, durability: .normal, rowsPerPiece: rowsPerPiece, logger: logger)
        try await store.commit((0..<5).map { change(.tasks, "t\($0)", "{}") })
        let pieces = try SQLiteStateStore.pieces(of: ["tasks", "clusters"], in: SQLiteConnection(path: store.path), rowsPerPiece: rowsPerPiece)
        let tasks = pieces.filter { $0.table == "tasks" }
        #expect(tasks.first?.from == nil && tasks.last?.upTo == nil, "open at both ends")
        #expect(zip(tasks, tasks.dropFirst()).allSatisfy { $0.upTo != nil && $0.upTo == $1.from && $0.from ?? .min < $0.upTo! })
        #expect(pieces.filter { $0.table == "clusters" }.map(\.query) == ["SELECT body FROM clusters ORDER BY rowid"])
        #expect(try await store.loadAll()[.tasks]?.count == 5)
        store.close()
    }

    @Test func survivesReopen() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let store = try SQLiteStateStore(directory: directory, durability: .full, logger: logger)
            try await store.commit([change(.families, "web", #"{"family":"web","lastRevision":7}"#)])
            store.close()
        }
        let reopened = try SQLiteStateStore(directory: directory, logger: logger)
        let rows = try await reopened.loadAll()
        #expect(rows[.families]?.count == 1)
        reopened.close()
    }

    @Test func closingWritesWhatWasQueuedAndEmptiesTheLog() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStateStore(directory: directory, logger: logger)
        try await store.commit((0..<200).map { change(.tasks, "t\($0)", #"{"n":\#($0)}"#) })
        let log = directory + "/ecsd.db-wal"
        #expect(try fileSize(log) > 0)
        // A commit queued just before closing is written, not dropped.
        store.submit([change(.tasks, "last", "{}")]) { _ in }
        store.close()
        // The log was copied into the database and emptied: the next start reads one file.
        #expect(try fileSize(log) == 0)
        store.close()
        let reopened = try SQLiteStateStore(directory: directory, logger: logger)
        #expect(try await reopened.loadAll()[.tasks]?.count == 201)
        reopened.close()
    }

    private func fileSize(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
    }

    @Test func concurrentCommitsAreGrouped() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStateStore(directory: directory, logger: logger)
        // A large first commit keeps the writer busy while the 200 small ones queue behind it.
        let large = (0..<20_000).map { StateChange(kind: .tasks, key: "t\($0)", body: Array("{}".utf8)) }
        store.submit(large) { _ in }
        // Queued at once (not from 200 tasks the scheduler may start late on a busy machine).
        let completed = Mutex<(count: Int, failed: Bool)>((0, false))
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            for index in 0..<200 {
                store.submit([StateChange(kind: .clusters, key: "c\(index)", body: Array("{}".utf8))]) { result in
                    let count = completed.withLock { state in
                        state.count += 1
                        if case .failure = result { state.failed = true }
                        return state.count
                    }
                    if count == 200 { continuation.resume() }
                }
            }
        }
        #expect(!completed.withLock { $0.failed })
        #expect(try await store.loadAll()[.clusters]?.count == 200)
        // 200 commits arriving together share transactions instead of paying one sync each.
        #expect(try await store.loadAll()[.tasks]?.count == 20_000)
        #expect(store.transactionCount < 20, "\(store.transactionCount) transactions for 201 commits")
        store.close()
    }

    @Test func refusesNewerSchemas() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let connection = try SQLiteConnection(path: directory + "/ecsd.db")
        try connection.execute("PRAGMA user_version=999")
        #expect(throws: StoreError.self) { try SQLiteStateStore(directory: directory, logger: logger) }
    }

    @Test func closedStoreRefusesCommits() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStateStore(directory: directory, logger: logger)
        store.close()
        await #expect(throws: StoreError.self) { try await store.commit([self.change(.clusters, "a", "{}")]) }
    }
}
