import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// Follows a container's `json-file` log on disk, as the engine's log API would serve it with
/// timestamps (each line led by its RFC 3339 time and a space) but without the engine decoding
/// and re-encoding every line: that round trip is slower than the container writing, so an agent
/// that reads through the API falls behind a container that writes fast. Lines of one stream that
/// follow each other travel in one frame. A line Docker cut (past 16 KB) ends its frame, so its
/// rest comes in a frame of its own, as from the API. A rotated file is read to its end before
/// the new one; the stream ends when the container has stopped and everything is read.
public enum JSONFileLogs {
    /// Nil when the file cannot be opened (another user's, or gone): the caller uses the API.
    /// The stream is pulled: a buffer is read (and parsed) only when the reader asks for more, so
    /// a reader that cannot keep up holds the file back, not a queue in memory.
    /// - Parameters:
    ///   - since: with a time (an agent that restarted), the rotated files (`.2`, `.1`) are read
    ///     first, for output older than the current file; lines before `since` are left out.
    ///   - active: whether the container may still write (it has not exited, or is not known gone).
    public static func follow(path: String, since: Double?, active: @escaping @Sendable () async -> Bool) -> AsyncThrowingStream<LogFrame, any Error>? {
        let rotated: [String] = since == nil ? [] : ["\(path).2", "\(path).1"].filter { access($0, R_OK) == 0 }
        guard let follower = Follower(files: rotated + [path], since: since.map { Int(($0 * 1000).rounded(.down)) }, active: active) else { return nil }
        return AsyncThrowingStream(unfolding: { await follower.next() })
    }

    /// The reading position: the file being read (older rotated ones first), the line it is in the
    /// middle of, and frames parsed but not yet taken. One reader at a time (the stream's).
    final class Follower: @unchecked Sendable {
        private var files: [String]
        private var descriptor: Int32
        private let sinceMilliseconds: Int?
        private let active: @Sendable () async -> Bool
        private var pending: [UInt8] = []
        private var ready: [LogFrame] = []
        private var buffer = [UInt8](repeating: 0, count: 1 << 20)
        private var stopped = false
        private var lastCheck = ContinuousClock.now

        init?(files: [String], since: Int?, active: @escaping @Sendable () async -> Bool) {
            let descriptor = open(files[0], O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return nil }
            self.files = files
            self.descriptor = descriptor
            self.sinceMilliseconds = since
            self.active = active
        }

        deinit { if descriptor >= 0 { Glibc.close(descriptor) } }

        /// The next frame; nil once the container stopped and the last file is read to its end.
        func next() async -> LogFrame? {
            while !Task.isCancelled {
                if !ready.isEmpty { return ready.removeFirst() }
                if readChunk() { continue }
                // At the end of a file: the next of the older files, or the new file a rotation
                // made (this one read to its very end first), or wait for more.
                if files.count > 1 {
                    files.removeFirst()
                    switchTo(files[0])
                    continue
                }
                if rotated() {
                    while readChunk() {}
                    if !ready.isEmpty { continue }
                    switchTo(files[0])
                    continue
                }
                if stopped { break }
                if ContinuousClock.now - lastCheck >= .milliseconds(200) {
                    lastCheck = .now
                    if await !active() {
                        // Read once more to the end: what it wrote before it stopped.
                        stopped = true
                        continue
                    }
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
            close()
            return nil
        }

        /// Reads one buffer; parses its complete lines. False at the end of the file.
        private func readChunk() -> Bool {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { return false }
            pending.append(contentsOf: buffer[0..<count])
            if let last = pending.lastIndex(of: 0x0A) {
                ready += JSONFileLogs.frames(pending[...last], since: sinceMilliseconds)
                pending.removeSubrange(...last)
            }
            return true
        }

        /// Whether the file at the path is another one now (json-file rotated it).
        private func rotated() -> Bool {
            var current = stat()
            var opened = stat()
            return stat(files[0], &current) == 0 && fstat(descriptor, &opened) == 0 && current.st_ino != opened.st_ino
        }

        private func switchTo(_ path: String) {
            let next = open(path, O_RDONLY | O_CLOEXEC)
            guard next >= 0 else { return }
            close()
            descriptor = next
            // A line the old file ended without its newline is not continued in the new one.
            pending.removeAll()
        }

        private func close() {
            if descriptor >= 0 { Glibc.close(descriptor) }
            descriptor = -1
        }
    }

    /// Frames of json-file lines (`{"log":"…","stream":"stdout","time":"…"}`), each line as
    /// `time log`; consecutive lines of one stream share a frame.
    static func frames(_ bytes: ArraySlice<UInt8>, since: Int?) -> [LogFrame] {
        var frames: [LogFrame] = []
        var current: [UInt8] = []
        var currentStream = LogFrame.Stream.stdout
        func flush() {
            if !current.isEmpty { frames.append(LogFrame(stream: currentStream, bytes: current)) }
            current = []
        }
        var start = bytes.startIndex
        while start < bytes.endIndex {
            let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.endIndex
            if let entry = Entry(bytes[start..<end]) {
                // Lines older than `since` are left out (those of its millisecond stay: the reader drops what it read already).
                let older = since.map { cutoff in (entry.milliseconds ?? Int.max) < cutoff } ?? false
                if !older {
                    if entry.stream != currentStream { flush() }
                    currentStream = entry.stream
                    current.append(contentsOf: entry.time)
                    current.append(0x20)
                    current.append(contentsOf: entry.log)
                    // A cut line ends its frame: its rest comes in one of its own, with its own time.
                    if entry.log.last != 0x0A { flush() }
                }
            }
            start = end < bytes.endIndex ? end + 1 : end
        }
        flush()
        return frames
    }

    /// One line of the file: the output (its escapes undone), the stream and the time.
    struct Entry {
        var log: [UInt8] = []
        var stream = LogFrame.Stream.stdout
        var time: ArraySlice<UInt8> = []

        init?(_ line: ArraySlice<UInt8>) {
            var index = line.startIndex
            func skip(_ byte: UInt8) -> Bool {
                guard index < line.endIndex, line[index] == byte else { return false }
                index += 1
                return true
            }
            guard skip(UInt8(ascii: "{")) else { return nil }
            var sawTime = false
            while index < line.endIndex, line[index] != UInt8(ascii: "}") {
                _ = skip(UInt8(ascii: ","))
                guard let key = Self.string(line, &index), skip(UInt8(ascii: ":")) else { return nil }
                switch Array(key) {
                case Array("log".utf8):
                    guard let value = Self.decodedString(line, &index) else { return nil }
                    log = value
                case Array("stream".utf8):
                    guard let value = Self.string(line, &index) else { return nil }
                    stream = value.elementsEqual("stderr".utf8) ? .stderr : .stdout
                case Array("time".utf8):
                    guard let value = Self.string(line, &index) else { return nil }
                    time = value
                    sawTime = true
                default:
                    guard Self.skipValue(line, &index) else { return nil }
                }
            }
            guard sawTime else { return nil }
        }

        /// Milliseconds since the epoch of the time (nil when it does not parse).
        var milliseconds: Int? { CivilCalendar.milliseconds(rfc3339: time) }

        /// A string's raw bytes (between its quotes, escapes left as they are).
        static func string(_ line: ArraySlice<UInt8>, _ index: inout Int) -> ArraySlice<UInt8>? {
            guard index < line.endIndex, line[index] == UInt8(ascii: "\"") else { return nil }
            var cursor = index + 1
            while cursor < line.endIndex {
                switch line[cursor] {
                case UInt8(ascii: "\\"): cursor += 2
                case UInt8(ascii: "\""):
                    defer { index = cursor + 1 }
                    return line[(index + 1)..<cursor]
                default: cursor += 1
                }
            }
            return nil
        }

        /// A string with its escapes undone, as UTF-8.
        static func decodedString(_ line: ArraySlice<UInt8>, _ index: inout Int) -> [UInt8]? {
            guard let raw = string(line, &index) else { return nil }
            guard raw.contains(UInt8(ascii: "\\")) else { return Array(raw) }
            var output: [UInt8] = []
            output.reserveCapacity(raw.count)
            var cursor = raw.startIndex
            while cursor < raw.endIndex {
                let byte = raw[cursor]
                guard byte == UInt8(ascii: "\\"), cursor + 1 < raw.endIndex else {
                    output.append(byte)
                    cursor += 1
                    continue
                }
                let escape = raw[cursor + 1]
                cursor += 2
                switch escape {
                case UInt8(ascii: "n"): output.append(0x0A)
                case UInt8(ascii: "r"): output.append(0x0D)
                case UInt8(ascii: "t"): output.append(0x09)
                case UInt8(ascii: "b"): output.append(0x08)
                case UInt8(ascii: "f"): output.append(0x0C)
                case UInt8(ascii: "u"):
                    guard var scalar = hex(raw, cursor) else { return nil }
                    cursor += 4
                    // A surrogate pair: the low half follows as another \u.
                    if (0xD800...0xDBFF).contains(scalar), cursor + 5 < raw.endIndex, raw[cursor] == UInt8(ascii: "\\"), raw[cursor + 1] == UInt8(ascii: "u"),
                        let low = hex(raw, cursor + 2), (0xDC00...0xDFFF).contains(low)
                    {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        cursor += 6
                    }
                    output.append(contentsOf: Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8))
                default: output.append(escape)
                }
            }
            return output
        }

        static func hex(_ raw: ArraySlice<UInt8>, _ at: Int) -> UInt32? {
            guard at + 4 <= raw.endIndex else { return nil }
            var value: UInt32 = 0
            for byte in raw[at..<at + 4] {
                guard let digit = ASCIIHex.value(byte) else { return nil }
                value = value << 4 | UInt32(digit)
            }
            return value
        }

        /// Skips a value of another key (a string, or an object such as `attrs`).
        static func skipValue(_ line: ArraySlice<UInt8>, _ index: inout Int) -> Bool {
            guard index < line.endIndex else { return false }
            if line[index] == UInt8(ascii: "\"") { return string(line, &index) != nil }
            var depth = 0
            var inString = false
            while index < line.endIndex {
                let byte = line[index]
                if inString {
                    if byte == UInt8(ascii: "\\") { index += 1 } else if byte == UInt8(ascii: "\"") { inString = false }
                } else if byte == UInt8(ascii: "\"") {
                    inString = true
                } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                    depth += 1
                } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                    if depth == 0 { return true }
                    depth -= 1
                    if depth == 0 {
                        index += 1
                        return true
                    }
                } else if byte == UInt8(ascii: ","), depth == 0 {
                    return true
                }
                index += 1
            }
            return false
        }
    }
}
