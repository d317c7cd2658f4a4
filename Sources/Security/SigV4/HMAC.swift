import Archives

/// HMAC-SHA256 (RFC 2104), the MAC Signature Version 4 chains to derive keys and sign.
enum HMAC {
    static func sha256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        let blockSize = 64
        var key = key.count > blockSize ? Digest.sha256(key) : key
        key += [UInt8](repeating: 0, count: blockSize - key.count)
        var inner = SHA256State()
        inner.update(key.map { $0 ^ 0x36 } + message)
        var outer = SHA256State()
        outer.update(key.map { $0 ^ 0x5c } + inner.finish())
        return outer.finish()
    }

    static func sha256(key: [UInt8], _ message: String) -> [UInt8] { sha256(key: key, Array(message.utf8)) }
}

/// Equal bytes, compared in time that depends only on their length (a signature compared byte by
/// byte with an early exit tells an attacker how many leading bytes were right).
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}
