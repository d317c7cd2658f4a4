import Archives
import S3
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The object store's bytes under `<data-dir>/s3`: an upload streams into a file in `tmp/`
/// (hashed on the way), is synced, and is renamed into `objects/<2 hex>/<id>` before the record
/// naming it is committed, so a committed object always has its bytes whole and a crash leaves at
/// most files no record names (removed at the next start). Files are written and read on NIO's
/// thread pool, a megabyte at a time, never on the threads that run requests.
final class ObjectFiles: Sendable {
    let directory: String
    private let pool: NIOThreadPool
    /// Bytes gathered before a write to disk.
    static let writeSize = 1 << 20
    /// Bytes read from disk for each piece of an answer.
    static let readSize = 1 << 18

    init(dataDirectory: String, pool: NIOThreadPool = .singleton) throws {
        directory = dataDirectory + "/s3"
        self.pool = pool
        // Uploads cut off by a stop or a crash: nothing refers to them.
        try? FileManager.default.removeItem(atPath: directory + "/tmp")
        try FileManager.default.createDirectory(atPath: directory + "/tmp", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/objects", withIntermediateDirectories: true)
    }

    func path(_ file: String) -> String { directory + "/" + file }

    /// A new file to stream an upload into.
    func create(digests: ObjectDigests) throws -> ObjectWriter {
        let id = UUID().uuidString.lowercased()
        let temporary = directory + "/tmp/" + id
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return ObjectWriter(files: self, id: id, descriptor: descriptor, temporary: temporary, digests: digests, pool: pool)
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

    /// Streams `range` of the object made of `segments` to `write`, a piece at a time.
    func read(
        _ segments: [StoredSegment], range: ClosedRange<Int>?, into write: (ByteBuffer) async throws -> Void
    ) async throws {
        let total = segments.reduce(0) { $0 + $1.size }
        guard total > 0 else { return }
        let wanted = range ?? 0...(total - 1)
        var segmentStart = 0
        for segment in segments {
            defer { segmentStart += segment.size }
            let from = max(wanted.lowerBound, segmentStart)
            let to = min(wanted.upperBound, segmentStart + segment.size - 1)
            guard from <= to else { continue }
            let descriptor = open(path(segment.file), O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            defer { close(descriptor) }
            var offset = from - segmentStart
            let end = to - segmentStart + 1
            while offset < end {
                let count = min(Self.readSize, end - offset)
                let start = offset
                let buffer = try await pool.runIfActive {
                    var buffer = ByteBufferAllocator().buffer(capacity: count)
                    let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer in
                        pread(descriptor, pointer.baseAddress, count, off_t(start))
                    }
                    guard read > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                    return buffer
                }
                offset += buffer.readableBytes
                try await write(buffer)
            }
        }
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

    /// The digests, touched by one piece's job at a time (each waits for the one before).
    final class Digests: Sendable {
        let state: Mutex<ObjectDigests>
        init(_ digests: ObjectDigests) { state = Mutex(digests) }
    }

    fileprivate init(files: ObjectFiles, id: String, descriptor: Int32, temporary: String, digests: ObjectDigests, pool: NIOThreadPool) {
        self.files = files
        self.id = id
        self.descriptor = descriptor
        self.temporary = temporary
        self.pool = pool
        self.digests = Digests(digests)
        pending.reserveCapacity(ObjectFiles.writeSize)
    }

    deinit {
        if !closed {
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
            try await pool.runIfActive {
                try piece.withUnsafeBytes { bytes in
                    digests.state.withLock { $0.update(bytes) }
                    var written = 0
                    while written < bytes.count {
                        let result = write(descriptor, bytes.baseAddress! + written, bytes.count - written)
                        guard result > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
                        written += result
                    }
                }
            }
        }
    }

    /// Writes what is left, syncs, and moves the file to its place; answers the file (relative to
    /// the store) and the digests.
    func finish() async throws -> (file: String, digests: ObjectDigests) {
        try await flush()
        if let inFlight { try await inFlight.value }
        let shard = String(id.prefix(2))
        let file = "objects/\(shard)/\(id)"
        let target = files.path(file)
        let descriptor = self.descriptor
        let temporary = self.temporary
        let shardPath = files.directory + "/objects/" + shard
        try await pool.runIfActive {
            guard fsync(descriptor) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            mkdir(shardPath, 0o700)
            guard rename(temporary, target) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        }
        close(descriptor)
        closed = true
        return (file, digests.state.withLock { $0 })
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
