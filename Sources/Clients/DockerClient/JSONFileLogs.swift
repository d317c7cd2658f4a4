import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore
import Synchronization

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
        /// Frames parsed, of which the first `taken` were handed out.
        private var ready: [LogFrame] = []
        private var taken = 0
        private var buffer = [UInt8](repeating: 0, count: 1 << 20)
        private var stopped = false
        private var lastCheck = ContinuousClock.now
        private var check: ActiveCheck?
        private var idle = Duration.zero

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
                if taken < ready.count {
                    defer { taken += 1 }
                    return ready[taken]
                }
                if readChunk() {
                    idle = .zero
                    continue
                }
                // At the end of a file: the next of the older files, or the new file a rotation
                // made (this one read to its very end first), or wait for more.
                if files.count > 1 {
                    files.removeFirst()
                    switchTo(files[0])
                    continue
                }
                if rotated() {
                    while readChunk() {}
                    if taken < ready.count { continue }
                    switchTo(files[0])
                    continue
                }
                if stopped { break }
                // Whether the container still runs is asked aside: the engine may take a while to
                // answer about a container that is stopping, while its last output still comes.
                if let check, let running = check.result {
                    self.check = nil
                    if !running {
                        // Read once more to the end: what it wrote before it stopped.
                        stopped = true
                        continue
                    }
                } else if check == nil, ContinuousClock.now - lastCheck >= .milliseconds(200) {
                    lastCheck = .now
                    check = ActiveCheck(active)
                }
                // Soon after output, less often as the file stays quiet.
                idle = min(max(idle * 2, .milliseconds(2)), .milliseconds(50))
                try? await Task.sleep(for: idle)
            }
            close()
            return nil
        }

        /// One question to `active`, answered in the background.
        final class ActiveCheck: Sendable {
            private let answer = Mutex<Bool?>(nil)
            init(_ active: @escaping @Sendable () async -> Bool) {
                Task { [self] in
                    let running = await active()
                    answer.withLock { $0 = running }
                }
            }
            var result: Bool? { answer.withLock { $0 } }
        }

        /// Reads one buffer; parses its complete lines. False at the end of the file.
        private func readChunk() -> Bool {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { return false }
            pending.append(contentsOf: buffer[0..<count])
            if let last = pending.lastIndex(of: 0x0A) {
                if taken == ready.count {
                    ready.removeAll(keepingCapacity: true)
                    taken = 0
                }
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
        func add(stream: LogFrame.Stream, time: UnsafeBufferPointer<UInt8>, log: UnsafeBufferPointer<UInt8>, endsLine: Bool) {
            // Lines older than `since` are left out (those of its millisecond stay: the reader drops what it read already).
            if let since, (CivilCalendar.milliseconds(rfc3339: time) ?? Int.max) < since { return }
            if stream != currentStream { flush() }
            currentStream = stream
            current.append(contentsOf: time)
            current.append(0x20)
            current.append(contentsOf: log)
            // A cut line ends its frame: its rest comes in one of its own, with its own time.
            if endsLine { current.append(0x0A) } else { flush() }
        }
        bytes.withUnsafeBufferPointer { buffer in
            var start = 0
            while start < buffer.count {
                var end = buffer.count
                if let newline = memchr(buffer.baseAddress! + start, 0x0A, buffer.count - start) {
                    end = UnsafePointer(newline.assumingMemoryBound(to: UInt8.self)) - buffer.baseAddress!
                }
                let line = UnsafeBufferPointer(rebasing: buffer[start..<end])
                if let entry = PlainEntry(line) {
                    add(
                        stream: entry.stream, time: UnsafeBufferPointer(rebasing: line[entry.time]), log: UnsafeBufferPointer(rebasing: line[entry.log]),
                        endsLine: entry.endsLine)
                } else if let entry = Entry(bytes[(bytes.startIndex + start)..<(bytes.startIndex + end)]) {
                    Array(entry.time).withUnsafeBufferPointer { time in
                        Array(entry.log).withUnsafeBufferPointer { log in add(stream: entry.stream, time: time, log: log, endsLine: entry.endsLine) }
                    }
                }
                start = end + 1
            }
        }
        flush()
        return frames
    }

    /// A line as Docker writes most: `{"log":"…","stream":"stdout","time":"…"}` with no escape in
    /// the output but its newline's. Read in place (no copies, no reference counting: this runs
    /// for every line a container writes); anything else is for ``Entry``.
    struct PlainEntry {
        var log: Range<Int>
        var endsLine: Bool
        var stream: LogFrame.Stream
        var time: Range<Int>

        static let head = Array(#"{"log":""#.utf8)
        static let streamKey = Array(#"","stream":""#.utf8)
        static let timeKey = Array(#"","time":""#.utf8)

        init?(_ line: UnsafeBufferPointer<UInt8>) {
            func has(_ expected: [UInt8], at position: Int) -> Bool {
                guard position + expected.count <= line.count else { return false }
                return expected.withUnsafeBufferPointer { memcmp($0.baseAddress!, line.baseAddress! + position, $0.count) == 0 }
            }
            guard line.count > 0, has(Self.head, at: 0) else { return nil }
            var cursor = Self.head.count
            let logStart = cursor
            var escape: Int?
            while cursor < line.count, line[cursor] != UInt8(ascii: "\"") {
                if line[cursor] == UInt8(ascii: "\\") {
                    guard escape == nil else { return nil }
                    escape = cursor
                    cursor += 1
                }
                cursor += 1
            }
            guard cursor < line.count else { return nil }
            var logEnd = cursor
            if let escape {
                // Only a final `\n` is taken here.
                guard escape == cursor - 2, line[cursor - 1] == UInt8(ascii: "n") else { return nil }
                logEnd = escape
            }
            guard has(Self.streamKey, at: cursor) else { return nil }
            cursor += Self.streamKey.count
            guard cursor + 6 <= line.count else { return nil }
            switch (line[cursor], line[cursor + 3]) {
            case (UInt8(ascii: "s"), UInt8(ascii: "o")): stream = .stdout
            case (UInt8(ascii: "s"), UInt8(ascii: "e")): stream = .stderr
            default: return nil
            }
            cursor += 6
            guard has(Self.timeKey, at: cursor) else { return nil }
            cursor += Self.timeKey.count
            let timeStart = cursor
            guard line.count >= 2, line[line.count - 1] == UInt8(ascii: "}"), line[line.count - 2] == UInt8(ascii: "\""), line.count - 2 > timeStart else {
                return nil
            }
            log = logStart..<logEnd
            endsLine = escape != nil
            time = timeStart..<(line.count - 2)
        }
    }

    /// One line of the file: the output (its escapes undone), the stream and the time.
    struct Entry {
        /// The output without its newline: a slice of the line when it has no other escapes (most
        /// lines), else decoded.
        var log: ArraySlice<UInt8> = []
        /// Whether the output ended with a newline (Docker cuts lines past 16 KB into pieces without).
        var endsLine = false
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
                if key.elementsEqual(Self.logKey) {
                    guard let raw = Self.string(line, &index) else { return nil }
                    // Most lines' only escape is their newline's: no need to decode them.
                    if let escape = raw.firstIndex(of: UInt8(ascii: "\\")) {
                        if escape == raw.endIndex - 2, raw.last == UInt8(ascii: "n") {
                            log = raw.dropLast(2)
                            endsLine = true
                        } else {
                            guard let decoded = Self.decodedString(raw) else { return nil }
                            endsLine = decoded.last == 0x0A
                            log = endsLine ? decoded.dropLast() : decoded
                        }
                    } else {
                        log = raw
                    }
                } else if key.elementsEqual(Self.streamKey) {
                    guard let value = Self.string(line, &index) else { return nil }
                    stream = value.elementsEqual(Self.stderr) ? .stderr : .stdout
                } else if key.elementsEqual(Self.timeKey) {
                    guard let value = Self.string(line, &index) else { return nil }
                    time = value
                    sawTime = true
                } else {
                    guard Self.skipValue(line, &index) else { return nil }
                }
            }
            guard sawTime else { return nil }
        }

        static let logKey: [UInt8] = Array("log".utf8)
        static let streamKey: [UInt8] = Array("stream".utf8)
        static let timeKey: [UInt8] = Array("time".utf8)
        static let stderr: [UInt8] = Array("stderr".utf8)

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

        /// A string with its escapes undone, as UTF-8 (the raw bytes when it has none).
        static func decodedString(_ raw: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
            guard raw.contains(UInt8(ascii: "\\")) else { return raw }
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
            return output[...]
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
