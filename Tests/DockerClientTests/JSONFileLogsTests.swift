@testable import DockerClient
import Foundation
import Synchronization
import Testing

/// Reading a json-file log from disk as the engine's API would serve it.
struct JSONFileLogsTests {
    static func line(_ log: String, _ stream: String = "stdout", _ time: String) -> String {
        let encoded = String(decoding: try! JSONEncoder().encode(log), as: UTF8.self)
        return #"{"log":\#(encoded),"stream":"\#(stream)","time":"\#(time)"}"# + "\n"
    }

    @Test func linesBecomeTimestampedFramesPerStream() {
        let text = Self.line("one\n", "stdout", "2026-12-01T07:00:00.1Z") + Self.line("two \"quoted\" \u{00e9}\n", "stdout", "2026-12-01T07:00:00.2Z")
            + Self.line("oops\n", "stderr", "2026-12-01T07:00:00.3Z") + Self.line(String(repeating: "x", count: 5), "stderr", "2026-12-01T07:00:00.4Z")
            + Self.line("rest\n", "stderr", "2026-12-01T07:00:00.5Z") + "not json\n"
        let frames = JSONFileLogs.frames(Array(text.utf8)[...], since: nil)
        #expect(frames.map(\.stream) == [.stdout, .stderr, .stderr])
        #expect(String(decoding: frames[0].bytes, as: UTF8.self) == "2026-12-01T07:00:00.1Z one\n2026-12-01T07:00:00.2Z two \"quoted\" \u{00e9}\n")
        // A line Docker cut ends its frame; the rest comes in the next, with its own time (as from the API).
        #expect(String(decoding: frames[1].bytes, as: UTF8.self) == "2026-12-01T07:00:00.3Z oops\n2026-12-01T07:00:00.4Z xxxxx")
        #expect(String(decoding: frames[2].bytes, as: UTF8.self) == "2026-12-01T07:00:00.5Z rest\n")
        // Lines older than `since` stay out.
        let later = JSONFileLogs.frames(Array(text.utf8)[...], since: 1_796_108_400_300)
        #expect(later.first.map { String(decoding: $0.bytes, as: UTF8.self).hasPrefix("2026-12-01T07:00:00.3Z oops") } == true)
    }

    /// The in-place reading of Docker's usual lines agrees with the full one on every shape.
    @Test func usualLinesAreReadInPlaceAndOthersInFull() {
        func plain(_ line: String) -> (log: String, endsLine: Bool, stream: LogFrame.Stream, time: String)? {
            Array(line.utf8).withUnsafeBufferPointer { buffer in
                JSONFileLogs.PlainEntry(buffer).map {
                    (String(decoding: buffer[$0.log], as: UTF8.self), $0.endsLine, $0.stream, String(decoding: buffer[$0.time], as: UTF8.self))
                }
            }
        }
        let usual = plain(#"{"log":"GET / 200\n","stream":"stderr","time":"2026-12-01T07:00:00.123456789Z"}"#)
        #expect(usual.map { $0.log == "GET / 200" && $0.endsLine && $0.stream == .stderr && $0.time == "2026-12-01T07:00:00.123456789Z" } == true)
        let cut = plain(#"{"log":"piece","stream":"stdout","time":"2026-12-01T07:00:00Z"}"#)
        #expect(cut.map { $0.log == "piece" && !$0.endsLine && $0.stream == .stdout } == true)
        // Escapes other than the final newline, extra keys, and what is not Docker's are left to the full reading.
        for other in [
            #"{"log":"a\"b\n","stream":"stdout","time":"2026-12-01T07:00:00Z"}"#, #"{"log":"a\\\n","stream":"stdout","time":"2026-12-01T07:00:00Z"}"#,
            #"{"log":"x\n","stream":"stdout","attrs":{"tag":"y"},"time":"2026-12-01T07:00:00Z"}"#, #"{"log":"x\n","stream":"stdin","time":"t"}"#,
            #"{"log":"x\n"}"#, #"{"log":"unterminated"#, "",
        ] {
            #expect(plain(other) == nil, "\(other)")
        }
        let text = Self.line("a\\\n", "stdout", "2026-12-01T07:00:00.1Z") + Self.line("say \"hi\"\n", "stdout", "2026-12-01T07:00:00.2Z")
            + #"{"log":"tagged\n","stream":"stdout","attrs":{"tag":"y"},"time":"2026-12-01T07:00:00.3Z"}"# + "\n"
        let frames = JSONFileLogs.frames(Array(text.utf8)[...], since: nil)
        #expect(frames.map { String(decoding: $0.bytes, as: UTF8.self) } == [
            "2026-12-01T07:00:00.1Z a\\\n2026-12-01T07:00:00.2Z say \"hi\"\n2026-12-01T07:00:00.3Z tagged\n"
        ])
    }

    @Test func attributesAndEscapesAreRead() {
        let line = #"{"log":"a\u00e9\ud83d\ude00\tb\n","stream":"stdout","attrs":{"tag":"x,y}"},"time":"2026-12-01T07:00:00Z"}"#
        let entry = JSONFileLogs.Entry(Array(line.utf8)[...])
        #expect(entry.map { String(decoding: $0.log, as: UTF8.self) } == "a\u{e9}\u{1F600}\tb")
        #expect(entry?.endsLine == true)
        let plain = JSONFileLogs.Entry(Array(#"{"log":"plain\n","stream":"stderr","time":"2026-12-01T07:00:00Z"}"#.utf8)[...])
        #expect(plain.map { (String(decoding: $0.log, as: UTF8.self), $0.endsLine, $0.stream) } ?? ("", false, .stdout) == ("plain", true, .stderr))
        let cut = JSONFileLogs.Entry(Array(#"{"log":"a \\n piece","stream":"stdout","time":"2026-12-01T07:00:00Z"}"#.utf8)[...])
        #expect(cut.map { (String(decoding: $0.log, as: UTF8.self), $0.endsLine) } ?? ("", true) == ("a \\n piece", false))
        #expect(entry?.milliseconds == 1_796_108_400_000)
    }

    @Test func aFollowedFileIsReadThroughRotationUntilTheContainerStops() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jsonfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c-json.log").path
        try Self.line("first\n", "stdout", "2026-12-01T07:00:00Z").write(toFile: path, atomically: false, encoding: .utf8)
        final class Flag: Sendable { let on = Mutex(true) }
        let active = Flag()
        let followed = JSONFileLogs.follow(path: path, since: nil, active: { active.on.withLock { $0 } })
        let stream = try #require(followed)
        var lines: [String] = []
        var iterator = stream.makeAsyncIterator()
        func next() async throws -> String? { try await iterator.next().map { String(decoding: $0.bytes, as: UTF8.self) } }
        lines.append(try #require(try await next()))
        // A line written to the file just before json-file rotates it is read before the new file.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(Self.line("late\n", "stdout", "2026-12-01T07:00:00.5Z").utf8))
        try handle.close()
        // json-file rotates: the file is renamed and a new one made; then the container stops.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try Self.line("second\n", "stdout", "2026-12-01T07:00:01Z").write(toFile: path, atomically: false, encoding: .utf8)
        lines.append(try #require(try await next()))
        lines.append(try #require(try await next()))
        active.on.withLock { $0 = false }
        #expect(try await next() == nil)
        #expect(lines == ["2026-12-01T07:00:00Z first\n", "2026-12-01T07:00:00.5Z late\n", "2026-12-01T07:00:01Z second\n"])
        // An agent that restarts reads the rotated file first, from the time it had reached.
        let reopened = JSONFileLogs.follow(path: path, since: 1_796_108_400.4, active: { false })
        let resumed = try #require(reopened)
        var again: [String] = []
        for try await frame in resumed { again.append(String(decoding: frame.bytes, as: UTF8.self)) }
        #expect(again == ["2026-12-01T07:00:00.5Z late\n", "2026-12-01T07:00:01Z second\n"])
        let missing = JSONFileLogs.follow(path: directory.appendingPathComponent("missing").path, since: nil, active: { false })
        #expect(missing == nil)
    }
}
