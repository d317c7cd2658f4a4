import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import Archives
import AWSProtocols
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
            let data: [UInt8]
            do {
                data = try ZipContents.read(entry, in: zip)
            } catch {
                throw Failure(description: error.description)
            }
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
}
