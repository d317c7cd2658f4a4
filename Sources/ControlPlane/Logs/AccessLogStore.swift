import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import Foundation
import Lambda
import LambdaShapes
import StevedoreCore
import Synchronization

/// API Gateway stages' access logs (`ecsctl api logs`), one file per log group under
/// `<data-dir>/logs/gateway/`, the newest part also in memory for tails and followers. A file past
/// `rotateBytes` moves to `<name>.log.1` (the previous one is dropped). (CloudWatch Logs' own store,
/// ``LogEventFiles``, keeps functions' and tasks' logs.)
final class AccessLogStore: Sendable {
    private struct Log {
        var descriptor: Int32
        var size: Int
        var recent: [UInt8] = []
        var followers: [UUID: AsyncStream<[UInt8]>.Continuation] = [:]
    }

    let directory: String
    let rotateBytes: Int
    let recentBytes = 256 * 1024
    private let logs = Mutex<[String: Log]>([:])

    /// Logs named by anything (API Gateway's access logs are named by log group, `/aws/…` and all).
    init(directory: String, rotateBytes: Int = 16 << 20) throws {
        self.directory = directory
        self.rotateBytes = rotateBytes
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func append(_ function: String, _ data: Data) {
        let bytes = Array(data)
        logs.withLock { logs in
            // Taken out of the dictionary so the buffers below are uniquely referenced (no copy per append).
            guard var log = logs.removeValue(forKey: function) ?? open(function) else { return }
            defer { logs[function] = log }
            if log.size + bytes.count > rotateBytes {
                close(log.descriptor)
                rename(path(function), path(function) + ".1")
                guard let fresh = open(function) else {
                    log.descriptor = -1
                    return
                }
                log.descriptor = fresh.descriptor
                log.size = 0
            }
            bytes.withUnsafeBytes { _ = Glibc.write(log.descriptor, $0.baseAddress, $0.count) }
            log.size += bytes.count
            log.recent += bytes
            // Trimmed in halves, not per append: moving 256 KiB for every invocation would dominate.
            if log.recent.count > 2 * recentBytes { log.recent.removeFirst(log.recent.count - recentBytes) }
            for follower in log.followers.values { follower.yield(bytes) }
        }
    }

    /// The last `tail` bytes (whole lines) and, with `follow`, everything appended afterwards.
    func read(_ function: String, tailBytes: Int, follow: Bool) -> AsyncStream<[UInt8]> {
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream()
        logs.withLock { logs in
            var log = logs[function] ?? open(function)
            var recent = log?.recent ?? []
            if recent.isEmpty, let data = FileManager.default.contents(atPath: path(function)) {
                recent = Array(data.suffix(recentBytes))
            }
            var tail = Array(recent.suffix(min(tailBytes, recentBytes)))
            if tail.count < recent.count, let newline = tail.firstIndex(of: 0x0A) { tail.removeFirst(newline + 1) }
            if !tail.isEmpty { continuation.yield(tail) }
            if follow, log != nil {
                let id = UUID()
                log!.followers[id] = continuation
                logs[function] = log
                continuation.onTermination = { [weak self] _ in
                    _ = self?.logs.withLock { $0[function]?.followers.removeValue(forKey: id) }
                }
            } else {
                if let log { logs[function] = log }
                continuation.finish()
            }
        }
        return stream
    }

    /// Every line kept (the rotated file's, then the current one's), for the `stevedore` database.
    func lines(_ name: String) -> [String] {
        // Both files opened under the lock (a rotation between the opens could skip a file), read
        // after it: an open file survives its rename, and appends are not held up by the read.
        let handles = logs.withLock { _ in [path(name) + ".1", path(name)].compactMap { FileHandle(forReadingAtPath: $0) } }
        var bytes = Data()
        for handle in handles {
            bytes += (try? handle.readToEnd()) ?? Data()
            try? handle.close()
        }
        return bytes.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The function was deleted: stop its followers and remove its files.
    func remove(_ function: String) {
        logs.withLock { logs in
            if let log = logs.removeValue(forKey: function) {
                close(log.descriptor)
                for follower in log.followers.values { follower.finish() }
            }
        }
        unlink(path(function))
        unlink(path(function) + ".1")
    }

    /// A log's file: its name with `/` and `%` escaped (function names have neither).
    private func path(_ name: String) -> String {
        "\(directory)/\(name.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F")).log"
    }

    private func open(_ function: String) -> Log? {
        let fd = Foundation.open(path(function), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        var info = stat()
        fstat(fd, &info)
        return Log(descriptor: fd, size: Int(info.st_size))
    }
}
