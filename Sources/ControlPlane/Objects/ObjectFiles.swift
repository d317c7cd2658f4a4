import Archives
import S3
import Foundation
import Glibc
import NIOCore
import NIOPosix
import Synchronization

/// The object store's bytes under `<data-dir>/s3`: an upload streams into a file in `tmp/`
/// (hashed on the way) and is renamed into `objects/<2 hex>/<id>` before the record naming it is
/// committed, so a committed object always has its bytes whole and a crash leaves at most files no
/// record names (removed at the next start). With `--durability full` each file is synced before
/// its rename, as each commit is; with `normal` neither is (both survive a crash of ecsd, not a
/// power loss). Files are written and read on a thread pool of their own, a megabyte at a time,
/// never on the threads that run requests.
final class ObjectFiles: Sendable {
    let directory: String
    /// Whether each file is synced to disk before its record is committed.
    let syncs: Bool
    private let pool: NIOThreadPool
    /// Bytes gathered before a write to disk.
    static let writeSize = 1 << 20
    /// Bytes read from disk for each piece of an answer.
    static let readSize = 1 << 20

    init(dataDirectory: String, syncs: Bool) throws {
        directory = dataDirectory + "/s3"
        self.syncs = syncs
        // Several at once: uploads wait on their syncs in parallel, which the file system's
        // journal commits together.
        pool = NIOThreadPool(numberOfThreads: 8)
        pool.start()
        // Uploads cut off by a stop or a crash: nothing refers to them.
        try? FileManager.default.removeItem(atPath: directory + "/tmp")
        try FileManager.default.createDirectory(atPath: directory + "/tmp", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/objects", withIntermediateDirectories: true)
        for shard in 0..<256 {
            let name = directory + "/objects/" + Self.shardName(shard)
            if !FileManager.default.fileExists(atPath: name) { try FileManager.default.createDirectory(atPath: name, withIntermediateDirectories: false) }
        }
    }

    /// Objects up to this size are written and read on the request's own thread: a page-cache
    /// copy of a few kilobytes costs less than a trip to the pool and back.
    static let smallSize = 64 * 1024

    static func shardName(_ shard: Int) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[shard >> 4], digits[shard & 15]])
    }

    deinit {
        pool.shutdownGracefully { _ in }
    }

    func path(_ file: String) -> String { directory + "/" + file }

    /// A new file to stream an upload into.
    func create(digests: ObjectDigests) throws -> ObjectWriter {
        let id = UUID().uuidString.lowercased()
        let temporary = directory + "/tmp/" + id
        let descriptor = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return ObjectWriter(files: self, id: id, descriptor: descriptor, temporary: temporary, digests: digests, pool: pool, syncs: syncs)
    }

    /// A path under `tmp/` for bytes written outside an upload (a query's results), to ``adopt(_:)`` once complete.
    func temporaryPath() -> String { directory + "/tmp/" + UUID().uuidString.lowercased() }

    /// A complete file written at a ``temporaryPath()``: hashed, synced with full durability, and
    /// moved into place; answers the file (relative to the store), its size and MD5.
    func adopt(_ temporary: String) async throws -> (file: String, size: Int, md5: [UInt8]) {
        let id = UUID().uuidString.lowercased()
        let file = "objects/\(id.prefix(2))/\(id)"
        let target = path(file)
        let syncs = self.syncs
        return try await pool.runIfActive {
            let descriptor = Glibc.open(temporary, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            defer { close(descriptor) }
            var digests = ObjectDigests(sha256: false, checksum: nil)
            var piece = [UInt8](repeating: 0, count: ObjectFiles.readSize)
            var size = 0
            while true {
                let count = piece.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
                guard count >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                if count == 0 { break }
                piece.withUnsafeBytes { digests.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                size += count
            }
            if syncs { guard fsync(descriptor) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) } }
            guard rename(temporary, target) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            return (file, size, digests.md5Digest())
        }
    }

    /// Deletes files no record names any more (after the change that let go of them is durable).
    func remove(_ files: [String]) {
        for file in files where Self.isObjectFile(file) { unlink(path(file)) }
    }

    /// Removes object files no record names: made by uploads whose records were never committed
    /// (a crash between the rename and the commit) or let go of by a commit just before a crash.
    func collect(keeping referenced: Set<String>) {
        let objects = directory + "/objects"
        guard let shards = try? FileManager.default.contentsOfDirectory(atPath: objects) else { return }
        for shard in shards {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: objects + "/" + shard) else { continue }
            for name in names where !referenced.contains("objects/\(shard)/\(name)") { unlink(objects + "/" + shard + "/" + name) }
        }
    }

    /// Only names this store makes (`objects/<2>/<id>`): a record could not make it delete others.
    static func isObjectFile(_ file: String) -> Bool {
        let parts = file.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0] == "objects" && parts[1].count == 2 && !parts[2].isEmpty && !parts[2].contains(".")
    }

    /// An object's files, opened at once (those holding the bytes of `range`): what is read from
    /// them stays the object that was opened even if it is replaced or deleted meanwhile (its
    /// files are unlinked, not gone). Past `openedAtOnce` files, the rest are opened as they are
    /// reached.
    func open(_ segments: [StoredSegment], range: ClosedRange<Int>? = nil) throws -> OpenedObject {
        var opened: [OpenedObject.Segment] = []
        var start = 0
        var count = 0
        for segment in segments {
            defer { start += segment.size }
            let overlaps = segment.size > 0 && range.map { $0.lowerBound < start + segment.size && $0.upperBound >= start } ?? true
            var descriptor: Int32?
            if overlaps, count < Self.openedAtOnce {
                let fd = Glibc.open(path(segment.file), O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else {
                    let failure = POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
                    for earlier in opened { if let fd = earlier.descriptor { close(fd) } }
                    throw failure
                }
                descriptor = fd
                count += 1
            }
            opened.append(OpenedObject.Segment(descriptor: descriptor, path: path(segment.file), size: segment.size))
        }
        return OpenedObject(segments: opened)
    }

    /// Files one read holds open at once, at most.
    static let openedAtOnce = 64

    /// A small object's bytes (`range` of them), read at once; nil for an object too large for that.
    func readSmall(_ object: OpenedObject, range: ClosedRange<Int>?) throws -> ByteBuffer? {
        let total = object.size
        guard total <= Self.smallSize else { return nil }
        var buffer = ByteBufferAllocator().buffer(capacity: total)
        for segment in object.segments where segment.size > 0 {
            let descriptor = segment.descriptor ?? Glibc.open(segment.path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            defer { if segment.descriptor == nil { close(descriptor) } }
            let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: segment.size) { pointer in
                var done = 0
                while done < segment.size {
                    let count = pread(descriptor, pointer.baseAddress! + done, segment.size - done, off_t(done))
                    guard count > 0 else { break }
                    done += count
                }
                return done
            }
            guard read == segment.size else { throw POSIXError(.EIO) }
        }
        if let range { return buffer.getSlice(at: range.lowerBound, length: range.count) }
        return buffer
    }

    /// A small object's bytes, whole (a template, a query's results): for reads that need all of it at once.
    func contents(of object: ObjectRecord) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(object.size)
        try await read(try open(object.segments), range: nil) { buffer in bytes.append(contentsOf: buffer.readableBytesView) }
        return bytes
    }

    /// Streams `range` of an opened object to `write`, a piece at a time.
    func read(_ object: OpenedObject, range: ClosedRange<Int>?, into write: (ByteBuffer) async throws -> Void) async throws {
        let total = object.size
        guard total > 0 else { return }
        let wanted = range ?? 0...(total - 1)
        var segmentStart = 0
        for segment in object.segments {
            defer { segmentStart += segment.size }
            let from = max(wanted.lowerBound, segmentStart)
            let to = min(wanted.upperBound, segmentStart + segment.size - 1)
            guard from <= to else { continue }
            // Opened when reached if it was not at the start (an object of many parts).
            let descriptor = segment.descriptor ?? Glibc.open(segment.path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            defer { if segment.descriptor == nil { close(descriptor) } }
            let end = to - segmentStart + 1
            let pool = self.pool
            // The next piece is read while the one before it is written to the connection.
            func readPiece(at start: Int) -> Task<ByteBuffer, any Error> {
                let count = min(Self.readSize, end - start)
                return Task {
                    try await pool.runIfActive {
                        var buffer = ByteBufferAllocator().buffer(capacity: count)
                        var done = 0
                        while done < count {
                            let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - done) { pointer in
                                pread(descriptor, pointer.baseAddress, count - done, off_t(start + done))
                            }
                            guard read > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                            done += read
                        }
                        return buffer
                    }
                }
            }
            var offset = from - segmentStart
            var next: Task<ByteBuffer, any Error>? = readPiece(at: offset)
            while let current = next {
                let buffer = try await current.value
                offset += buffer.readableBytes
                next = offset < end ? readPiece(at: offset) : nil
                do {
                    try await write(buffer)
                } catch {
                    // The piece being read uses the descriptor: it finishes before the object closes.
                    _ = try? await next?.value
                    throw error
                }
            }
        }
        withExtendedLifetime(object) {}
    }
}

/// An object's files, open; closed when the last reader lets go.
final class OpenedObject: Sendable {
    struct Segment: Sendable {
        /// nil: not opened at the start (outside the range read, or past the files held at once).
        let descriptor: Int32?
        let path: String
        let size: Int
    }

    let segments: [Segment]

    init(segments: [Segment]) {
        self.segments = segments
    }

    var size: Int { segments.reduce(0) { $0 + $1.size } }

    deinit {
        for segment in segments { if let descriptor = segment.descriptor { close(descriptor) } }
    }
}

/// One upload's file while it streams in: bytes gathered into megabyte pieces, each written and
/// hashed on the thread pool while the next arrives.
final class ObjectWriter {
    private let files: ObjectFiles
    private let id: String
    private let descriptor: Int32
    private let temporary: String
    private let pool: NIOThreadPool
    private let digests: Digests
    private var pending: [UInt8] = []
    private var inFlight: Task<Void, any Error>?
    private var closed = false

    /// The digests, touched by one piece's jobs at a time (each waits for the ones before): the
    /// MD5 on one thread, the rest (and the write) on another, so a large upload is hashed at the
    /// speed of the slower of the two rather than of both in turn.
    final class Digests: Sendable {
        let md5: Mutex<ObjectDigests>
        let others: Mutex<ObjectDigests>
        init(_ digests: ObjectDigests) {
            md5 = Mutex(digests)
            others = Mutex(digests)
        }

        var joined: ObjectDigests {
            let md5 = self.md5.withLock { $0 }
            return others.withLock { $0 }.joined(md5Of: md5)
        }
    }

    private let syncs: Bool

    fileprivate init(files: ObjectFiles, id: String, descriptor: Int32, temporary: String, digests: ObjectDigests, pool: NIOThreadPool, syncs: Bool) {
        self.files = files
        self.syncs = syncs
        self.id = id
        self.descriptor = descriptor
        self.temporary = temporary
        self.pool = pool
        self.digests = Digests(digests)
        pending.reserveCapacity(ObjectFiles.writeSize)
    }

    deinit {
        guard !closed else { return }
        let (descriptor, temporary) = (self.descriptor, self.temporary)
        if let inFlight {
            // A piece may still be being written through the descriptor: close it after that.
            Task {
                _ = try? await inFlight.value
                close(descriptor)
                unlink(temporary)
            }
        } else {
            close(descriptor)
            unlink(temporary)
        }
    }

    func append(_ buffer: ByteBuffer) async throws {
        buffer.withUnsafeReadableBytes { pending.append(contentsOf: $0) }
        received += buffer.readableBytes
        if pending.count >= ObjectFiles.writeSize { try await flush() }
    }

    /// Bytes gathered so far (those decoded from an aws-chunked body arrive inside a callback).
    func appendSynchronously(_ bytes: UnsafeRawBufferPointer) {
        pending.append(contentsOf: bytes)
        received += bytes.count
    }

    /// Bytes taken so far.
    private(set) var received = 0

    var gathered: Int { pending.count }

    /// Hands the gathered bytes to the pool, once the piece before them is written.
    func flush() async throws {
        if let inFlight { try await inFlight.value }
        guard !pending.isEmpty else { return }
        let piece = pending
        pending = []
        pending.reserveCapacity(ObjectFiles.writeSize)
        let descriptor = self.descriptor
        let digests = self.digests
        let pool = self.pool
        inFlight = Task {
            async let md5: Void = pool.runIfActive { piece.withUnsafeBytes { bytes in digests.md5.withLock { $0.updateMD5(bytes) } } }
            try await pool.runIfActive {
                try piece.withUnsafeBytes { bytes in
                    digests.others.withLock { $0.updateOthers(bytes) }
                    var written = 0
                    while written < bytes.count {
                        let result = write(descriptor, bytes.baseAddress! + written, bytes.count - written)
                        guard result > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                        written += result
                    }
                }
            }
            try await md5
        }
    }

    /// Writes what is left, syncs (with full durability), and moves the file to its place; answers the file (relative to
    /// the store) and the digests.
    func finish() async throws -> (file: String, digests: ObjectDigests) {
        let file = "objects/\(id.prefix(2))/\(id)"
        let target = files.path(file)
        let descriptor = self.descriptor
        let temporary = self.temporary
        let syncs = self.syncs
        if inFlight == nil, !syncs, pending.count <= ObjectFiles.smallSize {
            // A small object with nothing to sync: written, hashed and moved here and now.
            try pending.withUnsafeBytes { bytes in
                digests.md5.withLock { $0.updateMD5(bytes) }
                digests.others.withLock { $0.updateOthers(bytes) }
                guard bytes.isEmpty || write(descriptor, bytes.baseAddress!, bytes.count) == bytes.count else { throw POSIXError(.EIO) }
            }
            guard rename(temporary, target) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        } else {
            try await flush()
            if let inFlight { try await inFlight.value }
            let shard = files.directory + "/objects/" + String(id.prefix(2))
            try await pool.runIfActive {
                if syncs { guard fsync(descriptor) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) } }
                guard rename(temporary, target) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                if syncs {
                    // The rename itself, durable before the record naming the file is committed.
                    let directory = Glibc.open(shard, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                    if directory >= 0 {
                        fsync(directory)
                        close(directory)
                    }
                }
            }
        }
        close(descriptor)
        closed = true
        return (file, digests.joined)
    }

    /// The upload was refused: its bytes go.
    func discard() async {
        if let inFlight { _ = try? await inFlight.value }
        if !closed {
            close(descriptor)
            unlink(temporary)
            closed = true
        }
    }
}
