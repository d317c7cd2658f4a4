/// The parts of the zip format Stevedore needs without a compression library: reading an
/// archive's central directory (to validate a code bundle, measure it and find its entries) and
/// writing uncompressed ("stored") archives (so `ecsctl` can package a directory).
public struct ZipDirectory: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var path: String
        /// 0 = stored, 8 = deflated.
        public var method: UInt16
        public var crc32: UInt32
        public var compressedSize: Int
        public var uncompressedSize: Int
        /// Offset of the entry's local header.
        public var localHeaderOffset: Int
        /// Unix mode bits when the archive was made on Unix (0 when unknown).
        public var unixMode: UInt32

        public var isDirectory: Bool { path.hasSuffix("/") || unixMode & 0o170000 == 0o040000 }
        public var isSymlink: Bool { unixMode & 0o170000 == 0o120000 }
    }

    public var entries: [Entry]

    public var uncompressedSize: Int { entries.reduce(0) { $0 + $1.uncompressedSize } }

    public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Reads the central directory; refuses archives that are not zips, are truncated, use zip64,
    /// name paths outside the archive root or name them in anything but UTF-8.
    public init(_ bytes: [UInt8]) throws(FormatError) {
        func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
        guard bytes.count >= 22 else { throw FormatError(description: "the file is too short to be a zip archive") }
        // The end-of-central-directory record is in the last 64 KiB + 22 bytes.
        var end = -1
        var index = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65535)
        while index >= lowest {
            if bytes[index] == 0x50, bytes[index + 1] == 0x4b, bytes[index + 2] == 0x05, bytes[index + 3] == 0x06 {
                end = index
                break
            }
            index -= 1
        }
        guard end >= 0 else { throw FormatError(description: "no zip end-of-central-directory record found") }
        let count = Int(u16(end + 10))
        let directorySize = Int(u32(end + 12))
        let directoryOffset = Int(u32(end + 16))
        guard count != 0xffff, directoryOffset != 0xffff_ffff else {
            throw FormatError(description: "zip64 archives are not supported")
        }
        guard directoryOffset + directorySize <= end else { throw FormatError(description: "the central directory is truncated") }
        var entries: [Entry] = []
        var offset = directoryOffset
        for _ in 0..<count {
            guard offset + 46 <= end, u32(offset) == 0x0201_4b50 else {
                throw FormatError(description: "a central directory entry is damaged")
            }
            let madeBy = u16(offset + 4) >> 8
            let nameLength = Int(u16(offset + 28))
            let extraLength = Int(u16(offset + 30))
            let commentLength = Int(u16(offset + 32))
            let external = u32(offset + 38)
            guard offset + 46 + nameLength <= end else { throw FormatError(description: "a file name runs past the directory") }
            guard let path = String(validating: bytes[(offset + 46)..<(offset + 46 + nameLength)], as: UTF8.self), !path.isEmpty else {
                throw FormatError(description: "an entry's name is empty or not UTF-8")
            }
            let entry = Entry(
                path: path, method: u16(offset + 10), crc32: u32(offset + 16), compressedSize: Int(u32(offset + 20)),
                uncompressedSize: Int(u32(offset + 24)), localHeaderOffset: Int(u32(offset + 42)),
                unixMode: madeBy == 3 ? external >> 16 : 0)
            guard Self.isSafe(path) else { throw FormatError(description: "entry '\(path)' points outside the archive") }
            guard entry.method == 0 || entry.method == 8 else {
                throw FormatError(description: "entry '\(path)' uses compression method \(entry.method); only stored and deflated are supported")
            }
            guard entry.localHeaderOffset + 30 + entry.compressedSize <= bytes.count else {
                throw FormatError(description: "entry '\(path)' is truncated")
            }
            entries.append(entry)
            offset += 46 + nameLength + extraLength + commentLength
        }
        self.entries = entries
    }

    /// Where an entry's data starts (after its local header).
    public static func dataOffset(of entry: Entry, in bytes: [UInt8]) -> Int? {
        let at = entry.localHeaderOffset
        guard at + 30 <= bytes.count, bytes[at] == 0x50, bytes[at + 1] == 0x4b, bytes[at + 2] == 0x03, bytes[at + 3] == 0x04 else {
            return nil
        }
        let nameLength = Int(bytes[at + 26]) | Int(bytes[at + 27]) << 8
        let extraLength = Int(bytes[at + 28]) | Int(bytes[at + 29]) << 8
        let start = at + 30 + nameLength + extraLength
        return start + entry.compressedSize <= bytes.count ? start : nil
    }

    static func isSafe(_ path: String) -> Bool {
        !path.hasPrefix("/") && !path.split(separator: "/").contains("..") && !path.contains("\\") && !path.contains("\0")
    }
}

/// Writes a zip archive in memory, each file stored or deflated.
public struct ZipWriter: Sendable {
    private var bytes: [UInt8] = []
    private var directory: [UInt8] = []
    private var count = 0

    public init() {}

    /// Adds a file (or, with a trailing `/`, a directory) with its Unix mode bits; `deflate`
    /// compresses it. `declaredSize` overrides the size the headers declare (tests build damaged
    /// archives with it).
    public mutating func add(path: String, contents: [UInt8], mode: UInt32, deflate: Bool = false, declaredSize: Int? = nil) {
        let name = Array(path.utf8)
        let crc = CRC32.checksum(contents)
        let offset = bytes.count
        let isDirectory = path.hasSuffix("/")
        let fileType: UInt32 = isDirectory ? 0o040000 : 0o100000
        let deflated = deflate && !isDirectory ? Deflate.raw(contents) : nil
        let data = deflated ?? contents
        let method: UInt16 = deflated == nil ? 0 : 8
        let size = UInt32(declaredSize ?? contents.count)
        // Local header.
        append32(&bytes, 0x0403_4b50)
        append16(&bytes, 20)  // version needed
        append16(&bytes, 0x0800)  // UTF-8 names
        append16(&bytes, method)
        append16(&bytes, 0)
        append16(&bytes, 0x21)  // 1980-01-01
        append32(&bytes, crc)
        append32(&bytes, UInt32(data.count))
        append32(&bytes, size)
        append16(&bytes, UInt16(name.count))
        append16(&bytes, 0)
        bytes += name
        bytes += data
        // Central directory entry.
        append32(&directory, 0x0201_4b50)
        append16(&directory, 3 << 8 | 20)  // made by Unix
        append16(&directory, 20)
        append16(&directory, 0x0800)
        append16(&directory, method)
        append16(&directory, 0)
        append16(&directory, 0x21)
        append32(&directory, crc)
        append32(&directory, UInt32(data.count))
        append32(&directory, size)
        append16(&directory, UInt16(name.count))
        append16(&directory, 0)
        append16(&directory, 0)
        append16(&directory, 0)
        append16(&directory, 0)
        append32(&directory, (fileType | (mode & 0o7777)) << 16 | (isDirectory ? 0x10 : 0))
        append32(&directory, UInt32(offset))
        directory += name
        count += 1
    }

    public func finish() -> [UInt8] {
        var out = bytes + directory
        append32(&out, 0x0605_4b50)
        append16(&out, 0)
        append16(&out, 0)
        append16(&out, UInt16(count))
        append16(&out, UInt16(count))
        append32(&out, UInt32(directory.count))
        append32(&out, UInt32(bytes.count))
        append16(&out, 0)
        return out
    }

    private func append16(_ out: inout [UInt8], _ value: UInt16) {
        out += [UInt8(truncatingIfNeeded: value), UInt8(value >> 8)]
    }

    private func append32(_ out: inout [UInt8], _ value: UInt32) {
        append16(&out, UInt16(truncatingIfNeeded: value))
        append16(&out, UInt16(value >> 16))
    }
}

public enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt32 {
        var crc = ~initial
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        return ~crc
    }
}
