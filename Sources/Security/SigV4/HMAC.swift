import Archives
import Crypto

/// HMAC-SHA256 (RFC 2104), the MAC Signature Version 4 chains to derive keys and sign.
enum HMAC {
    static func sha256(key: [UInt8], _ message: [UInt8]) -> [UInt8] { HMACKey(key).authenticate(message) }

    static func sha256(key: [UInt8], _ message: String) -> [UInt8] { sha256(key: key, Array(message.utf8)) }
}

/// An HMAC-SHA256 key made ready: its padded blocks already absorbed, so each message costs only
/// its own blocks and one more (verifiers keep these per signing key).
struct HMACKey: Sendable {
    private let ready: Crypto.HMAC<SHA256>

    init(_ key: [UInt8]) {
        ready = Crypto.HMAC<SHA256>(key: SymmetricKey(data: key))
    }

    func authenticate(_ message: [UInt8]) -> [UInt8] {
        var mac = ready
        mac.update(data: message)
        return Array(mac.finalize())
    }
}

/// Equal bytes, compared in time that depends only on their length (a signature compared byte by
/// byte with an early exit tells an attacker how many leading bytes were right).
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}
