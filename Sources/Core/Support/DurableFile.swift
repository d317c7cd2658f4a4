import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Files written once, whole and synced, with the mode they are created with (never readable by
/// others first and restricted later).
public enum DurableFile {
    /// Creates `path` (it must not exist) holding `bytes`, synced to disk.
    public static func create(_ path: String, bytes: [UInt8], mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            guard written > 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            offset += written
        }
        guard fsync(fd) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }
}

extension DurableFile {
    /// Replaces `path` with `bytes` at once: written beside it, synced, renamed over it.
    public static func replace(_ path: String, bytes: [UInt8], mode: mode_t) throws {
        let temporary = path + ".tmp"
        unlink(temporary)
        try create(temporary, bytes: bytes, mode: mode)
        guard rename(temporary, path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }
}
