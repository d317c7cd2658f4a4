import AgentProtocol
import Foundation
import Glibc
import Logs
import StevedoreCore
import Synchronization

/// CloudWatch Logs' events on disk: `<directory>/<group>/<stream>.<segment>.log`, appended in
/// blocks (one per PutLogEvents batch) that each start with a header naming their size, event
/// count and time range. A stream's block headers are indexed in memory (read from the files the
/// first time the stream is used), so a read by time opens only the blocks it needs, and a read with
/// a limit stops once no block left can hold an event before those it has; a batch is synced to
/// disk (and a new file's directory entry with it) before it is acknowledged; a block cut short by a
/// crash is cut off at the next write. Segments rotate at `segmentBytes`, so retention can drop old
/// ones whole. Each stream has its own lock: one stream's disk syncs hold up no other.
final class LogEventFiles: LogEventStorage {
    /// A block's header: magic, payload bytes, event count, (unused), first and last time, ingestion
    /// time, and the stream sequence of its first event (kept, so sequences stay when old segments go).
    static let headerBytes = 48
    static let magic: UInt32 = 0x534C_4231  // "SLB1"

    struct Block {
        var segment: Int
        var offset: Int
        var payloadBytes: Int
        var count: Int
        var minTimestamp: Int
        var maxTimestamp: Int
        var ingestionTime: Int
        var firstSequence: Int
    }

    struct StreamIndex {
        private(set) var blocks: [Block] = []
        var segment = 0
        var segmentBytes = 0
        /// Kept as blocks come and go: DescribeLogStreams and every agent batch read them.
        private(set) var figures = StreamFigures()
        var events: Int { blocks.last.map { $0.firstSequence + $0.count } ?? 0 }

        mutating func add(_ block: Block) {
            blocks.append(block)
            figures.firstEventTimestamp = min(figures.firstEventTimestamp ?? block.minTimestamp, block.minTimestamp)
            figures.lastEventTimestamp = max(figures.lastEventTimestamp ?? block.maxTimestamp, block.maxTimestamp)
            figures.lastIngestionTime = max(figures.lastIngestionTime ?? block.ingestionTime, block.ingestionTime)
            figures.storedBytes += block.payloadBytes
        }

        mutating func removeBlocks(where remove: (Block) -> Bool) {
            let kept = blocks.filter { !remove($0) }
            blocks = []
            figures = StreamFigures()
            for block in kept { add(block) }
        }
    }

    /// A stream's index and the lock its writes and index changes take.
    final class Stream: Sendable {
        let index: Mutex<StreamIndex>
        init(_ index: StreamIndex) { self.index = Mutex(index) }
    }

    let directory: String
    let segmentBytes: Int
    private let streams = Mutex<[String: Stream]>([:])

    init(directory: String, segmentBytes: Int = 8 << 20) throws {
        self.directory = directory
        self.segmentBytes = segmentBytes
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// Writes and disk syncs run on threads of their own, not on the few that run Swift tasks (a
    /// sync holds its thread for milliseconds).
    static let io = DispatchQueue(label: "stevedore.logs.io", attributes: .concurrent)

    /// A block's events as its payload: each event's time (Int64), its message's byte count
    /// (UInt32) and the message, little-endian (the agents' binary batches come in this layout).
    struct Payload: Sendable {
        var bytes: ArraySlice<UInt8>
        var count: Int
        var minimumTimestamp: Int
        var maximumTimestamp: Int

        init(bytes: ArraySlice<UInt8>, count: Int, minimumTimestamp: Int, maximumTimestamp: Int) {
            self.bytes = bytes
            self.count = count
            self.minimumTimestamp = minimumTimestamp
            self.maximumTimestamp = maximumTimestamp
        }

        init(_ events: [(timestamp: Int, message: String)]) {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(events.reduce(0) { $0 + $1.message.utf8.count + 12 })
            for event in events { LogEventsBatch.appendEvent(timestamp: event.timestamp, message: event.message, to: &bytes) }
            self.init(
                bytes: bytes[...], count: events.count, minimumTimestamp: events.map(\.timestamp).min() ?? 0,
                maximumTimestamp: events.map(\.timestamp).max() ?? 0)
        }
    }

    func append(group: String, stream: String, events: [(timestamp: Int, message: String)], ingestionTime: Int) async throws(AWSError) {
        try await append(group: group, stream: stream, payload: Payload(events), ingestionTime: ingestionTime)
    }

    func append(group: String, stream: String, payload: Payload, ingestionTime: Int) async throws(AWSError) {
        let outcome: AWSError? = await withCheckedContinuation { continuation in
            Self.io.async {
                do throws(AWSError) {
                    try self.appendNow(group: group, stream: stream, payload: payload, ingestionTime: ingestionTime)
                    continuation.resume(returning: nil)
                } catch {
                    continuation.resume(returning: error)
                }
            }
        }
        if let outcome { throw outcome }
    }

    /// ``append(group:stream:events:ingestionTime:)`` on the calling thread.
    func appendNow(group: String, stream: String, events: [(timestamp: Int, message: String)], ingestionTime: Int) throws(AWSError) {
        try appendNow(group: group, stream: stream, payload: Payload(events), ingestionTime: ingestionTime)
    }

    func appendNow(group: String, stream: String, payload: Payload, ingestionTime: Int) throws(AWSError) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.headerBytes + payload.bytes.count)
        LittleEndian.append(Self.magic, to: &bytes)
        LittleEndian.append(UInt32(payload.bytes.count), to: &bytes)
        LittleEndian.append(UInt32(payload.count), to: &bytes)
        LittleEndian.append(UInt32(0), to: &bytes)
        LittleEndian.append(Int64(payload.minimumTimestamp), to: &bytes)
        LittleEndian.append(Int64(payload.maximumTimestamp), to: &bytes)
        LittleEndian.append(Int64(ingestionTime), to: &bytes)
        let headerAt = bytes.count
        LittleEndian.append(Int64(0), to: &bytes)
        bytes.append(contentsOf: payload.bytes)
        // One writer per stream at a time: the index and the file move together.
        try handle(group: group, stream: stream).index.withLock { (index: inout StreamIndex) throws(AWSError) in
            if index.segmentBytes > 0 && index.segmentBytes + bytes.count > segmentBytes {
                index.segment += 1
                index.segmentBytes = 0
            }
            let first = index.events
            withUnsafeBytes(of: Int64(first).littleEndian) { bytes.replaceSubrange(headerAt..<headerAt + 8, with: $0) }
            let folder = directory + "/" + group
            let path = self.path(group: group, stream: stream, segment: index.segment)
            let created = access(path, F_OK) != 0
            if created, access(folder, F_OK) != 0 {
                guard mkdir(folder, 0o700) == 0 || errno == EEXIST else { throw Self.unavailable }
                Self.syncDirectory(directory)
            }
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw Self.unavailable }
            defer { close(fd) }
            if !created {
                // A block cut short by an earlier failure is cut off first, so this one starts where the index says.
                var size = stat()
                if fstat(fd, &size) == 0, Int(size.st_size) != index.segmentBytes { _ = ftruncate(fd, off_t(index.segmentBytes)) }
            }
            var written = 0
            while written < bytes.count {
                let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
                guard count > 0 else { throw Self.unavailable }
                written += count
            }
            guard fdatasync(fd) == 0 else { throw Self.unavailable }
            // A new file is durable only once its directory's entry is.
            if created { Self.syncDirectory(folder) }
            index.add(
                Block(
                    segment: index.segment, offset: index.segmentBytes, payloadBytes: payload.bytes.count, count: payload.count,
                    minTimestamp: payload.minimumTimestamp, maxTimestamp: payload.maximumTimestamp, ingestionTime: ingestionTime, firstSequence: first))
            index.segmentBytes += bytes.count
        }
    }

    func events(group: String, stream: String, _ query: EventQuery) -> [StoredLogEvent] {
        var blocks = handle(group: group, stream: stream).index.withLock { $0.blocks }
            .filter { $0.maxTimestamp >= query.from && $0.minTimestamp < query.to }
        if let after = query.after { blocks.removeAll { $0.maxTimestamp < after.timestamp } }
        if let before = query.before { blocks.removeAll { $0.minTimestamp > before.timestamp } }
        // In the order the read wants: with a limit, it can stop early.
        if query.newest { blocks.sort { $0.maxTimestamp > $1.maxTimestamp } } else { blocks.sort { $0.minTimestamp < $1.minTimestamp } }
        var events: [StoredLogEvent] = []
        var segment = -1
        var fd: Int32 = -1
        defer { if fd >= 0 { close(fd) } }
        for block in blocks {
            if let limit = query.limit, events.count >= limit {
                // The `limit` first (or last) so far; a block wholly past the last of them adds nothing.
                Self.keep(&events, limit: limit, newest: query.newest)
                let bound = query.newest ? events[0].timestamp : events[events.count - 1].timestamp
                if query.newest ? block.maxTimestamp < bound : block.minTimestamp > bound { break }
            }
            if block.segment != segment {
                if fd >= 0 { close(fd) }
                segment = block.segment
                fd = open(path(group: group, stream: stream, segment: segment), O_RDONLY | O_CLOEXEC)
            }
            guard fd >= 0 else { continue }
            var payload = [UInt8](repeating: 0, count: block.payloadBytes)
            let read = payload.withUnsafeMutableBytes { pread(fd, $0.baseAddress, block.payloadBytes, off_t(block.offset + Self.headerBytes)) }
            guard read == block.payloadBytes else { continue }
            // The block's events that match, as places in the payload; their messages are made
            // only for those a limit keeps (a read of the newest event reads one, not a block's).
            var matched: [(timestamp: Int, sequence: Int, range: Range<Int>)] = []
            var inOrder = true
            var position = 0
            for ordinal in 0..<block.count {
                guard position + 12 <= payload.count else { break }
                let timestamp = Int(LittleEndian.read(Int64.self, from: payload, at: position))
                let length = Int(LittleEndian.read(UInt32.self, from: payload, at: position + 8))
                position += 12
                guard position + length <= payload.count else { break }
                defer { position += length }
                let sequence = block.firstSequence + ordinal
                guard timestamp >= query.from && timestamp < query.to else { continue }
                if let after = query.after, (timestamp, sequence) <= after { continue }
                if let before = query.before, (timestamp, sequence) >= before { continue }
                let range = position..<position + length
                if let matching = query.matching, !payload.withUnsafeBytes({ matching(UnsafeRawBufferPointer(rebasing: $0[range])) }) { continue }
                if let last = matched.last, last.timestamp > timestamp { inOrder = false }
                matched.append((timestamp, sequence, range))
            }
            // In time order, a block's events past the limit at the far end can be in no answer.
            if let limit = query.limit, inOrder, matched.count > limit {
                matched = query.newest ? Array(matched.suffix(limit)) : Array(matched.prefix(limit))
            }
            for event in matched {
                let message = String(decoding: payload[event.range], as: UTF8.self)
                events.append(StoredLogEvent(timestamp: event.timestamp, ingestionTime: block.ingestionTime, message: message, sequence: event.sequence))
            }
        }
        if let limit = query.limit, events.count > limit { Self.keep(&events, limit: limit, newest: query.newest) }
        return events
    }

    /// The `limit` first (`newest`: last) events, in order.
    static func keep(_ events: inout [StoredLogEvent], limit: Int, newest: Bool) {
        events.sort { ($0.timestamp, $0.sequence) < ($1.timestamp, $1.sequence) }
        if events.count > limit { events.removeSubrange(newest ? 0..<events.count - limit : limit..<events.count) }
    }

    func figures(group: String, stream: String) -> StreamFigures {
        handle(group: group, stream: stream).index.withLock { $0.figures }
    }

    func storedBytes(group: String) -> Int {
        let folder = directory + "/" + group
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return files.reduce(0) { total, file in
            var info = stat()
            return total + (stat(folder + "/" + file, &info) == 0 ? Int(info.st_size) : 0)
        }
    }

    func remove(group: String) {
        streams.withLock { streams in streams = streams.filter { !$0.key.hasPrefix(group + "/") } }
        try? FileManager.default.removeItem(atPath: directory + "/" + group)
    }

    func remove(group: String, stream: String) {
        let removed = streams.withLock { $0.removeValue(forKey: group + "/" + stream) } ?? Stream(load(group: group, stream: stream))
        removed.index.withLock { index in
            for segment in 0...index.segment { unlink(path(group: group, stream: stream, segment: segment)) }
            index = StreamIndex()
        }
    }

    /// Drops the stream segments whose every event is older than `cutoff` (a group's retention);
    /// the segment being written stays.
    func drop(group: String, olderThan cutoff: Int) {
        let folder = directory + "/" + group
        let names = Set(((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).compactMap { file -> String? in
            let parts = file.split(separator: ".")
            return parts.count == 3 && parts[2] == "log" ? String(parts[0]) : nil
        })
        for name in names {
            handle(group: group, stream: name).index.withLock { index in
                let old = Set(index.blocks.map(\.segment)).filter { segment in
                    segment < index.segment && index.blocks.filter { $0.segment == segment }.allSatisfy { $0.maxTimestamp < cutoff }
                }
                guard !old.isEmpty else { return }
                for segment in old { unlink(path(group: group, stream: name, segment: segment)) }
                index.removeBlocks { old.contains($0.segment) }
            }
        }
    }

    /// Keeps the whole store within `maximumBytes`: while the segment files of every group take
    /// more, the one whose newest event is oldest goes (never a stream's segment being written).
    /// Groups with a retention policy lose old events by it; this bounds those without one too.
    /// Returns the bytes freed.
    @discardableResult
    func enforce(maximumBytes: Int) -> Int {
        struct Segment {
            var group: String
            var stream: String
            var number: Int
            var bytes: Int
        }
        var segments: [Segment] = []
        var total = 0
        for group in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let folder = directory + "/" + group
            for file in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
                let parts = file.split(separator: ".")
                guard parts.count == 3, parts[2] == "log", let number = Int(parts[1]) else { continue }
                var info = stat()
                guard stat(folder + "/" + file, &info) == 0 else { continue }
                total += Int(info.st_size)
                segments.append(Segment(group: group, stream: String(parts[0]), number: number, bytes: Int(info.st_size)))
            }
        }
        guard total > maximumBytes else { return 0 }
        // Each segment's newest event, from its stream's index.
        var newest: [String: Int] = [:]
        var writing: Set<String> = []
        for (group, stream) in Set(segments.map { "\($0.group)\u{0}\($0.stream)" }).map({ key -> (String, String) in
            let parts = key.split(separator: "\u{0}", maxSplits: 1).map(String.init)
            return (parts[0], parts.count > 1 ? parts[1] : "")
        }) {
            handle(group: group, stream: stream).index.withLock { index in
                writing.insert("\(group)/\(stream)/\(index.segment)")
                for block in index.blocks {
                    let key = "\(group)/\(stream)/\(block.segment)"
                    newest[key] = max(newest[key] ?? block.maxTimestamp, block.maxTimestamp)
                }
            }
        }
        var freed = 0
        for segment in segments.sorted(by: { (newest["\($0.group)/\($0.stream)/\($0.number)"] ?? .min) < (newest["\($1.group)/\($1.stream)/\($1.number)"] ?? .min) })
        where total - freed > maximumBytes && !writing.contains("\(segment.group)/\(segment.stream)/\(segment.number)") {
            handle(group: segment.group, stream: segment.stream).index.withLock { index in
                guard segment.number < index.segment else { return }
                unlink(path(group: segment.group, stream: segment.stream, segment: segment.number))
                index.removeBlocks { $0.segment == segment.number }
            }
            freed += segment.bytes
        }
        return freed
    }

    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    // MARK: Index

    /// The stream's handle, its index read from its files the first time.
    private func handle(group: String, stream: String) -> Stream {
        let key = group + "/" + stream
        if let found = streams.withLock({ $0[key] }) { return found }
        // Loaded outside the map's lock (it reads the files); the first one kept wins.
        let loaded = Stream(load(group: group, stream: stream))
        return streams.withLock { streams in
            if let found = streams[key] { return found }
            streams[key] = loaded
            return loaded
        }
    }

    /// The stream's block headers, segment by segment; a block cut short ends its segment.
    private func load(group: String, stream: String) -> StreamIndex {
        var index = StreamIndex()
        var segment = 0
        let existing = ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/" + group)) ?? []).compactMap { file -> Int? in
            let parts = file.split(separator: ".")
            return parts.count == 3 && parts[0] == stream && parts[2] == "log" ? Int(parts[1]) : nil
        }
        guard let last = existing.max() else { return index }
        segment = existing.min() ?? 0
        while segment <= last {
            let fd = open(path(group: group, stream: stream, segment: segment), O_RDONLY | O_CLOEXEC)
            var offset = 0
            if fd >= 0 {
                var header = [UInt8](repeating: 0, count: Self.headerBytes)
                var size = stat()
                fstat(fd, &size)
                while header.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, Self.headerBytes, off_t(offset)) }) == Self.headerBytes,
                    LittleEndian.read(UInt32.self, from: header, at: 0) == Self.magic
                {
                    let payload = Int(LittleEndian.read(UInt32.self, from: header, at: 4))
                    guard offset + Self.headerBytes + payload <= Int(size.st_size) else { break }
                    let count = Int(LittleEndian.read(UInt32.self, from: header, at: 8))
                    index.add(
                        Block(
                            segment: segment, offset: offset, payloadBytes: payload, count: count, minTimestamp: Int(LittleEndian.read(Int64.self, from: header, at: 16)),
                            maxTimestamp: Int(LittleEndian.read(Int64.self, from: header, at: 24)), ingestionTime: Int(LittleEndian.read(Int64.self, from: header, at: 32)),
                            firstSequence: Int(LittleEndian.read(Int64.self, from: header, at: 40))))
                    offset += Self.headerBytes + payload
                }
                close(fd)
            }
            index.segment = segment
            index.segmentBytes = offset
            segment += 1
        }
        return index
    }

    private func path(group: String, stream: String, segment: Int) -> String {
        "\(directory)/\(group)/\(stream).\(segment).log"
    }

    static let unavailable = AWSError(type: "ServiceUnavailableException", message: "The log events could not be stored; try again.", httpStatus: 500)
}
