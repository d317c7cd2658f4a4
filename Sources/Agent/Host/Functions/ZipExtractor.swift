import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import Archives
import AWSProtocols
import CZlib
import ECSShapes
import StevedoreClient
import StevedoreCore

/// Unpacks a code or layer zip into a directory, as Lambda does into `/var/task` and `/opt`:
/// Unix modes kept (executables stay executable), everything readable by the function's
/// non-root user, paths outside the directory refused, every entry's CRC checked.
enum ZipExtractor {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func extract(_ zip: [UInt8], into directory: String) throws {
        let archive: ZipDirectory
        do {
            archive = try ZipDirectory(zip)
        } catch {
            throw Failure(description: "not a usable zip: \(error)")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o755)
        var symlinks: [(path: String, target: String)] = []
        for entry in archive.entries {
            let target = directory + "/" + entry.path
            if entry.isDirectory {
                try makeDirectory(target)
                continue
            }
            guard let start = ZipDirectory.dataOffset(of: entry, in: zip) else {
                throw Failure(description: "entry \(entry.path) is damaged")
            }
            let data = try contents(of: entry, in: zip, at: start)
            guard CRC32.checksum(data) == entry.crc32 else { throw Failure(description: "entry \(entry.path) fails its CRC check") }
            if entry.isSymlink {
                // Created last, so no file is ever written through a link from the archive.
                symlinks.append((target, String(decoding: data, as: UTF8.self)))
                continue
            }
            try makeDirectory(parentDirectory(of: target))
            let mode = entry.unixMode & 0o777
            let executable = mode & 0o111 != 0
            try write(data, to: target, mode: executable ? 0o755 : 0o644)
        }
        for link in symlinks {
            try makeDirectory(parentDirectory(of: link.path))
            unlink(link.path)
            guard symlink(link.target, link.path) == 0 else { throw Failure(description: "cannot create link \(link.path)") }
        }
    }

    private static func makeDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    }

    private static func write(_ bytes: [UInt8], to path: String, mode: mode_t) throws {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw Failure(description: "cannot create \(path): errno \(errno)") }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            guard written > 0 else { throw Failure(description: "cannot write \(path): errno \(errno)") }
            offset += written
        }
        fchmod(fd, mode)
    }

    private static func contents(of entry: ZipDirectory.Entry, in zip: [UInt8], at start: Int) throws -> [UInt8] {
        let compressed = zip[start..<(start + entry.compressedSize)]
        switch entry.method {
        case 0:
            return Array(compressed)
        case 8:
            return try inflate(Array(compressed), expectedSize: entry.uncompressedSize)
        default:
            throw Failure(description: "entry \(entry.path) uses unsupported compression \(entry.method)")
        }
    }

    /// Raw DEFLATE (no zlib header), as zip entries store it.
    static func inflate(_ input: [UInt8], expectedSize: Int) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(description: "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: max(expectedSize, 1))
        var input = input
        let status: Int32 = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = uInt(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = uInt(outBuffer.count)
                return CZlib.inflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END, Int(stream.total_out) == expectedSize else {
            throw Failure(description: "a compressed entry is damaged (zlib status \(status))")
        }
        return expectedSize == 0 ? [] : output
    }
}
