import CZlib
import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The checksums S3 takes with an object (`x-amz-checksum-<algorithm>`), fed as the bytes stream
/// past; values are base64 of the big-endian digest, as S3 sends them.
public enum ChecksumAlgorithm: String, Sendable, CaseIterable {
    case crc32 = "CRC32"
    case crc32c = "CRC32C"
    case sha1 = "SHA1"
    case sha256 = "SHA256"

    /// The header that carries it: `x-amz-checksum-crc32`, …
    public var headerName: String { "x-amz-checksum-" + rawValue.lowercased() }

    /// The digest's length in bytes.
    public var size: Int {
        switch self {
        case .crc32, .crc32c: 4
        case .sha1: 20
        case .sha256: 32
        }
    }

    /// The checksum of `bytes` at once (a multipart object's composite is the checksum of its
    /// parts' checksums).
    public func digest(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = StreamingChecksum(self)
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }
}

/// One algorithm's running state.
public struct StreamingChecksum: Sendable {
    public let algorithm: ChecksumAlgorithm
    private var crc: UInt32 = 0
    private var sha1 = Insecure.SHA1()
    private var sha256 = SHA256()

    public init(_ algorithm: ChecksumAlgorithm) {
        self.algorithm = algorithm
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch algorithm {
        case .crc32:
            crc = UInt32(crc32(uLong(crc), bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), uInt(bytes.count)))
        case .crc32c: crc = CRC32C.update(crc, bytes)
        case .sha1: sha1.update(bufferPointer: bytes)
        case .sha256: sha256.update(bufferPointer: bytes)
        }
    }

    public func finalize() -> [UInt8] {
        switch algorithm {
        case .crc32, .crc32c: [UInt8(crc >> 24), UInt8(crc >> 16 & 0xff), UInt8(crc >> 8 & 0xff), UInt8(crc & 0xff)]
        case .sha1: sha1.finalize().withUnsafeBytes { Array($0) }
        case .sha256: sha256.finalize().withUnsafeBytes { Array($0) }
        }
    }

    public func base64() -> String { Data(finalize()).base64EncodedString() }
}

/// What an object's bytes hash to as they are written: always its MD5 (the ETag) and, when asked,
/// its SHA-256 (a signed payload's) and one checksum algorithm.
public struct ObjectDigests: Sendable {
    private var md5 = Insecure.MD5()
    private var sha256: SHA256?
    public private(set) var checksum: StreamingChecksum?
    public private(set) var count = 0

    public init(sha256: Bool, checksum: ChecksumAlgorithm?) {
        self.sha256 = sha256 ? SHA256() : nil
        self.checksum = checksum.map(StreamingChecksum.init)
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        updateMD5(bytes)
        updateOthers(bytes)
    }

    /// The MD5 alone (with ``updateOthers(_:)`` on a copy, the two can run on two threads; see
    /// ``joined(md5Of:)``).
    public mutating func updateMD5(_ bytes: UnsafeRawBufferPointer) {
        md5.update(bufferPointer: bytes)
    }

    /// The SHA-256, the checksum and the count, not the MD5.
    public mutating func updateOthers(_ bytes: UnsafeRawBufferPointer) {
        sha256?.update(bufferPointer: bytes)
        checksum?.update(bytes)
        count += bytes.count
    }

    /// These digests with the MD5 of `other` (which took the MD5 of the same bytes).
    public func joined(md5Of other: ObjectDigests) -> ObjectDigests {
        var joined = self
        joined.md5 = other.md5
        return joined
    }

    public func md5Digest() -> [UInt8] { md5.finalize().withUnsafeBytes { Array($0) } }
    public func sha256Hex() -> String? { sha256.map { Digest.hex($0.finalize().withUnsafeBytes { Array($0) }) } }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven, eight bytes at a time.
enum CRC32C {
    static let tables: [[UInt32]] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for index in 0..<256 {
            var crc = UInt32(index)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[0][index] = crc
        }
        for index in 0..<256 {
            for table in 1..<8 {
                let previous = tables[table - 1][index]
                tables[table][index] = (previous >> 8) ^ tables[0][Int(previous & 0xff)]
            }
        }
        return tables
    }()

    static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = ~crc
        let tables = Self.tables
        var index = 0
        let count = bytes.count
        while index + 8 <= count {
            let low = crc ^ (UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24)
            crc =
                tables[7][Int(low & 0xff)] ^ tables[6][Int(low >> 8 & 0xff)] ^ tables[5][Int(low >> 16 & 0xff)] ^ tables[4][Int(low >> 24)]
                ^ tables[3][Int(bytes[index + 4])] ^ tables[2][Int(bytes[index + 5])] ^ tables[1][Int(bytes[index + 6])]
                ^ tables[0][Int(bytes[index + 7])]
            index += 8
        }
        while index < count {
            crc = (crc >> 8) ^ tables[0][Int((crc ^ UInt32(bytes[index])) & 0xff)]
            index += 1
        }
        return ~crc
    }
}
