import Archives
import Crypto

/// HMAC-SHA256 (RFC 2104), the MAC Signature Version 4 chains to derive keys and sign.
enum HMAC {
    static func sha256(key: [UInt8], _ message: [UInt8]) -> [UInt8] { HMACKey(key).authenticate(message) }

    static func sha256(key: [UInt8], _ message: String) -> [UInt8] { sha256(key: key, Array(message.utf8)) }
}

/// An HMAC-SHA256 key made ready: the hashers that absorbed its inner and outer padded blocks
/// are kept, so each message costs only its own blocks and one more (verifiers keep these per
/// signing key). Built on the hasher's concrete entry points: swift-crypto's generic HMAC
/// interface cost more than the hashing itself for the short messages signatures are.
struct HMACKey: Sendable {
    private let inner: SHA256
    private let outer: SHA256

    init(_ key: [UInt8]) {
        var block = key.count > 64 ? Archives.Digest.sha256(key) : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        var inner = SHA256()
        var outer = SHA256()
        block.map { $0 ^ 0x36 }.withUnsafeBytes { inner.update(bufferPointer: $0) }
        block.map { $0 ^ 0x5c }.withUnsafeBytes { outer.update(bufferPointer: $0) }
        self.inner = inner
        self.outer = outer
    }

    func authenticate(_ message: [UInt8]) -> [UInt8] {
        var inner = self.inner
        message.withUnsafeBytes { inner.update(bufferPointer: $0) }
        var outer = self.outer
        inner.finalize().withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize().withUnsafeBytes { Array($0) }
    }

    /// Whether `signature` (hex in either case, as AWS accepts it) is this key's MAC of `message`,
    /// compared in time that depends only on its length; no digest or string is made in between.
    func matches(_ message: [UInt8], hex signature: String) -> Bool {
        var inner = self.inner
        message.withUnsafeBytes { inner.update(bufferPointer: $0) }
        var outer = self.outer
        inner.finalize().withUnsafeBytes { outer.update(bufferPointer: $0) }
        var signature = signature
        return outer.finalize().withUnsafeBytes { mac in
            signature.withUTF8 { hex in
                guard hex.count == mac.count * 2 else { return false }
                let digits: StaticString = "0123456789abcdef"
                var difference: UInt8 = 0
                for (index, byte) in mac.enumerated() {
                    let high = hex[2 * index], low = hex[2 * index + 1]
                    difference |= digits.utf8Start[Int(byte >> 4)] ^ (high &- 65 < 26 ? high | 0x20 : high)
                    difference |= digits.utf8Start[Int(byte & 0x0f)] ^ (low &- 65 < 26 ? low | 0x20 : low)
                }
                return difference == 0
            }
        }
    }
}

/// Equal bytes, compared in time that depends only on their length (a signature compared byte by
/// byte with an early exit tells an attacker how many leading bytes were right).
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}
