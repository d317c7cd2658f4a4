import Crypto
import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The two digests AWS's APIs expose: SHA-256 (Lambda's `CodeSha256`, content addresses of code
/// bundles, SigV4) and MD5 (SQS's `MD5OfBody` and `MD5OfMessageAttributes`, RFC 1321 here);
/// tested against their published vectors.
public enum Digest {
    /// BoringSSL's SHA-256 (through swift-crypto): it uses the CPU's SHA extensions where there
    /// are some, several times faster than portable code, and every signed request hashes ~10 blocks.
    public static func sha256<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> [UInt8] {
        if let digest = bytes.withContiguousStorageIfAvailable({ sha256(UnsafeRawBufferPointer($0)) }) { return digest }
        return Array(bytes).withUnsafeBytes { sha256($0) }
    }

    /// Through the hasher's concrete entry points: the generic `hash(data:)` and copying a digest
    /// as a sequence cost more than hashing a small body (this runs on every signed request).
    public static func sha256(_ buffer: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bufferPointer: buffer)
        return hasher.finalize().withUnsafeBytes { Array($0) }
    }

    /// Appends the lower-case hex of `bytes`' SHA-256 to `out` (no digest or string in between).
    public static func appendSHA256Hex(of bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        hasher.finalize().withUnsafeBytes { appendHex(of: $0, to: &out) }
    }

    public static func appendHex(of digest: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let digits: StaticString = "0123456789abcdef"
        for byte in digest {
            out.append(digits.utf8Start[Int(byte >> 4)])
            out.append(digits.utf8Start[Int(byte & 0x0f)])
        }
    }

    public static func md5<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> [UInt8] {
        MD5.hash(Array(bytes))
    }

    public static func hex(_ digest: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: digest.count * 2) { out in
            let digits: StaticString = "0123456789abcdef"
            var index = 0
            for byte in digest {
                out[index] = digits.utf8Start[Int(byte >> 4)]
                out[index + 1] = digits.utf8Start[Int(byte & 0x0f)]
                index += 2
            }
            return index
        }
    }
}

enum MD5 {
    private static let s: [UInt32] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
        5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
        4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
        6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ]
    private static let k: [UInt32] = (0..<64).map { i in
        UInt32(truncatingIfNeeded: Int64(abs(sin(Double(i + 1))) * 4_294_967_296))
    }

    static func hash(_ message: [UInt8]) -> [UInt8] {
        var bytes = message
        let bitLength = UInt64(message.count) &* 8
        bytes.append(0x80)
        while bytes.count % 64 != 56 { bytes.append(0) }
        for shift in stride(from: 0, through: 56, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        var a0: UInt32 = 0x6745_2301, b0: UInt32 = 0xefcd_ab89, c0: UInt32 = 0x98ba_dcfe, d0: UInt32 = 0x1032_5476
        for chunk in stride(from: 0, to: bytes.count, by: 64) {
            var m = [UInt32](repeating: 0, count: 16)
            for i in 0..<16 {
                let o = chunk + i * 4
                m[i] = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
            }
            var (a, b, c, d) = (a0, b0, c0, d0)
            for i in 0..<64 {
                var f: UInt32
                let g: Int
                switch i {
                case 0..<16: f = (b & c) | (~b & d); g = i
                case 16..<32: f = (d & b) | (~d & c); g = (5 * i + 1) % 16
                case 32..<48: f = b ^ c ^ d; g = (3 * i + 5) % 16
                default: f = c ^ (b | ~d); g = (7 * i) % 16
                }
                f = f &+ a &+ k[i] &+ m[g]
                a = d
                d = c
                c = b
                b = b &+ f.rotatedLeft(s[i])
            }
            a0 &+= a; b0 &+= b; c0 &+= c; d0 &+= d
        }
        var out: [UInt8] = []
        for word in [a0, b0, c0, d0] {
            out += [UInt8(truncatingIfNeeded: word), UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word >> 16), UInt8(word >> 24)]
        }
        return out
    }
}

extension UInt32 {
    fileprivate func rotatedLeft(_ n: UInt32) -> UInt32 { (self << n) | (self >> (32 - n)) }
}
