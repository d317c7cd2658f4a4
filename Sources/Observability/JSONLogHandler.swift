import Glibc
import Logging
import StevedoreCore
import Synchronization

/// Log records as JSON lines on standard error (`--log-format json`): `time` (UTC, milliseconds),
/// `level`, `label`, `message`, then the record's metadata as strings (`request.id` matches the
/// answer's `x-amzn-RequestId`), for log shippers that read JSON.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    /// Where the lines go; standard error by default.
    let write: @Sendable ([UInt8]) -> Void

    public init(label: String, write: @escaping @Sendable ([UInt8]) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let given = event.metadata { merged.merge(given) { _, new in new } }
        write(Self.line(time: Self.nowMilliseconds(), level: event.level, label: label, message: "\(event.message)", metadata: merged))
    }

    /// One record's line, newline included; metadata keys in order, so lines compare.
    static func line(time: Int64, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> [UInt8] {
        var writer = JSONWriter()
        writer.open()
        writer.string("time")
        writer.raw(":")
        writer.string(CivilCalendar.iso8601(millisecondsSince1970: time))
        for (key, value) in [("level", level.rawValue), ("label", label), ("message", message)] {
            writer.raw(",")
            writer.string(key)
            writer.raw(":")
            writer.string(value)
        }
        for key in metadata.keys.sorted() where !["time", "level", "label", "message"].contains(key) {
            writer.raw(",")
            writer.string(key)
            writer.raw(":")
            writer.string("\(metadata[key]!)")
        }
        writer.close()
        return writer.written + [0x0A]
    }

    static func nowMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// Whole lines to standard error, one writer at a time (lines never interleave).
    public static let standardError: @Sendable ([UInt8]) -> Void = { bytes in
        errorLock.withLock { _ in
            var written = 0
            while written < bytes.count {
                let count = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress! + written, bytes.count - written) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return }
                written += count
            }
        }
    }

    static let errorLock = Mutex(())
}
