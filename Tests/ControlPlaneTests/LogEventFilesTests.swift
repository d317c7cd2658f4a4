@testable import ControlPlane
import Foundation
import Logs
import StevedoreCore
import Testing

/// CloudWatch Logs' event files: what was appended is read back by time, after a restart too; a
/// block cut short by a crash is dropped; retention drops whole old segments.
struct LogEventFilesTests {
    let directory = NSTemporaryDirectory() + "log-events-\(UUID().uuidString)"

    @Test func eventsSurviveARestartAndATornWrite() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = try LogEventFiles(directory: directory)
        try files.appendNow(group: "g", stream: "s", events: [(100, "one"), (200, "two")], ingestionTime: 1)
        try files.appendNow(group: "g", stream: "s", events: [(150, "three ✓")], ingestionTime: 2)
        try files.appendNow(group: "g", stream: "other", events: [(120, "elsewhere")], ingestionTime: 3)
        #expect(files.events(group: "g", stream: "s", EventQuery(from: 150, to: 201)).map(\.message).sorted() == ["three ✓", "two"])
        #expect(files.figures(group: "g", stream: "s") == StreamFigures(firstEventTimestamp: 100, lastEventTimestamp: 200, lastIngestionTime: 2, storedBytes: 51))

        // A crash in the middle of a write: half a block at the end of the file.
        let handle = try #require(FileHandle(forWritingAtPath: directory + "/g/s.0.log"))
        handle.seekToEndOfFile()
        handle.write(Data([0x31, 0x42, 0x4C, 0x53, 0xFF, 0, 0, 0, 1]))
        try handle.close()
        let reopened = try LogEventFiles(directory: directory)
        let events = reopened.events(group: "g", stream: "s", EventQuery(from: .min, to: .max)).sorted { $0.sequence < $1.sequence }
        #expect(events.map(\.message) == ["one", "two", "three ✓"] && events.map(\.sequence) == [0, 1, 2] && events.map(\.ingestionTime) == [1, 1, 2])
        // The next batch goes where the torn one began.
        try reopened.appendNow(group: "g", stream: "s", events: [(300, "four")], ingestionTime: 4)
        #expect(try LogEventFiles(directory: directory).events(group: "g", stream: "s", EventQuery(from: 300)).map(\.sequence) == [3])

        reopened.remove(group: "g", stream: "s")
        #expect(reopened.events(group: "g", stream: "s", EventQuery(from: .min, to: .max)).isEmpty)
        #expect(reopened.events(group: "g", stream: "other", EventQuery(from: .min, to: .max)).count == 1)
        reopened.remove(group: "g")
        #expect(!FileManager.default.fileExists(atPath: directory + "/g"))
    }

    @Test func retentionDropsSegmentsWhoseEventsAreAllOld() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Segments of about one block each.
        let files = try LogEventFiles(directory: directory, segmentBytes: 64)
        for time in [10, 20, 30, 40] { try files.appendNow(group: "g", stream: "s", events: [(time, String(repeating: "x", count: 20))], ingestionTime: time) }
        files.drop(group: "g", olderThan: 25)
        #expect(files.events(group: "g", stream: "s", EventQuery(from: .min, to: .max)).map(\.timestamp).sorted() == [30, 40])
        #expect(!FileManager.default.fileExists(atPath: directory + "/g/s.0.log") && FileManager.default.fileExists(atPath: directory + "/g/s.3.log"))
        #expect(try LogEventFiles(directory: directory).events(group: "g", stream: "s", EventQuery()).map(\.sequence).sorted() == [2, 3])
        #expect(files.storedBytes(group: "g") > 0)
    }
}

extension EventQuery {
    init(from: Int = .min, to: Int = .max, limit: Int? = nil, newest: Bool = false) {
        self.init()
        self.from = from
        self.to = to
        self.limit = limit
        self.newest = newest
    }
}

struct LogEventReadTests {
    let directory = NSTemporaryDirectory() + "log-reads-\(UUID().uuidString)"

    /// Ten batches of ten events, times 0-99 (batch b holds 10b…10b+9), then a late batch back at time 5.
    func filled() throws -> LogEventFiles {
        let files = try LogEventFiles(directory: directory)
        for batch in 0..<10 { try files.appendNow(group: "g", stream: "s", events: (0..<10).map { (batch * 10 + $0, "m\(batch * 10 + $0)") }, ingestionTime: 1) }
        try files.appendNow(group: "g", stream: "s", events: [(5, "late")], ingestionTime: 2)
        return files
    }

    @Test func theStoreIsKeptWithinItsBoundOldestSegmentsFirst() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Segments of about 1 KB: every batch of ten 100-byte events starts a new one.
        let files = try LogEventFiles(directory: directory, segmentBytes: 1024)
        let message = String(repeating: "x", count: 100)
        for batch in 0..<10 {
            for (group, offset) in [("a", 0), ("b", 5)] {
                let events = (0..<10).map { (timestamp: (batch * 10 + offset) * 1000 + $0, message: message) }
                try files.appendNow(group: group, stream: "s", events: events, ingestionTime: batch)
            }
        }
        func total() -> Int { files.storedBytes(group: "a") + files.storedBytes(group: "b") }
        let before = total()
        #expect(files.enforce(maximumBytes: before * 10) == 0)
        let freed = files.enforce(maximumBytes: before / 2)
        #expect(freed > 0 && total() <= before / 2)
        // What is left is the newest of both groups, interleaved by time; their segments being written stay.
        let a = files.events(group: "a", stream: "s", EventQuery(from: .min, to: .max)).map(\.timestamp)
        let b = files.events(group: "b", stream: "s", EventQuery(from: .min, to: .max)).map(\.timestamp)
        #expect(a.contains(90_000) && b.contains(95_000))
        #expect(!a.contains(0) && !b.contains(5_000))
        #expect(abs(a.count - b.count) <= 10)
    }

    @Test func limitedReadsStillHoldTheFirstOrLastEventsInOrder() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = try filled()
        func ordered(_ query: EventQuery) -> [String] {
            files.events(group: "g", stream: "s", query).sorted { ($0.timestamp, $0.sequence) < ($1.timestamp, $1.sequence) }.map(\.message)
        }
        // The late event at time 5 (in the last block) still comes among the first.
        #expect(ordered(EventQuery(limit: 7)) == ["m0", "m1", "m2", "m3", "m4", "m5", "late"])
        #expect(ordered(EventQuery(limit: 3, newest: true)) == ["m97", "m98", "m99"])
        var after = EventQuery(limit: 3)
        after.after = (5, 5)
        #expect(ordered(after) == ["late", "m6", "m7"])
        var before = EventQuery(limit: 2, newest: true)
        before.before = (5, 100)
        #expect(ordered(before) == ["m4", "m5"])
        var matching = EventQuery(limit: 2)
        matching.matching = { $0.last == UInt8(ascii: "7") }
        #expect(ordered(matching) == ["m7", "m17"])
    }
}

extension LogEventFilesTests {
    /// A limited read makes messages only for the events it may answer with, which in a block out
    /// of time order is every one of them.
    @Test func limitedReadsOfABlockOutOfOrderStillFindTheEnds() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = try LogEventFiles(directory: directory)
        try files.appendNow(group: "g", stream: "s", events: [(30, "late"), (10, "early"), (20, "middle")], ingestionTime: 1)
        #expect(files.events(group: "g", stream: "s", EventQuery(limit: 1, newest: true)).map(\.message) == ["late"])
        #expect(files.events(group: "g", stream: "s", EventQuery(limit: 1)).map(\.message) == ["early"])
        let payload = LogEventFiles.Payload([(1, "a"), (2, "b"), (3, "c")])
        try files.appendNow(group: "g", stream: "t", payload: payload, ingestionTime: 2)
        #expect(files.events(group: "g", stream: "t", EventQuery(limit: 2, newest: true)).map(\.message) == ["b", "c"])
        #expect(files.figures(group: "g", stream: "t").lastEventTimestamp == 3)
    }
}

struct LogIngestTests {
    @Test func aMessageIsCutToWhatAnEventMayHold() {
        #expect(LogIngest.cut(String(repeating: "w", count: 2_000_000)).utf8.count == 1_048_550)
        #expect(LogIngest.cut("short") == "short")
    }
}
