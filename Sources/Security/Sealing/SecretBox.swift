import Crypto
import Foundation

/// Seals secrets for the store (access keys' secrets, and later SecureString parameters and
/// Secrets Manager values) with AES-256-GCM. A sealed value is base64 of nonce, ciphertext and
/// tag: the database alone reveals no secret. The control plane keeps the key in
/// `<data-dir>/secret.key`.
public struct SecretBox: Sendable {
    private let key: SymmetricKey

    public init(keyBytes: [UInt8]) {
        key = SymmetricKey(data: keyBytes)
    }

    /// 32 bytes from the system's cryptographic generator: a new key.
    public static func newKeyBytes() -> [UInt8] {
        SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    /// A box with a key of its own for one purpose (HMAC-SHA256 of the purpose under this key):
    /// what one purpose seals, another cannot open, so a value a client can get sealed (a
    /// SecureString) can never pass for a session token.
    public func derived(_ purpose: String) -> SecretBox {
        let bytes = Array(HMAC<SHA256>.authenticationCode(for: Array(purpose.utf8), using: key))
        return SecretBox(keyBytes: bytes)
    }

    public func seal(_ plaintext: String) -> String {
        // Sealing with a valid key and a fresh random nonce cannot fail.
        let box = try! AES.GCM.seal(Array(plaintext.utf8), using: key)
        return box.combined!.base64EncodedString()
    }

    /// A stateless token: `prefix` and `payload` as JSON, sealed (session and instance credentials).
    public func sealToken<Payload: Encodable>(_ payload: Payload, prefix: String) -> String {
        prefix + seal(String(decoding: (try? JSONEncoder().encode(payload)) ?? Data(), as: UTF8.self))
    }

    /// What ``sealToken(_:prefix:)`` sealed; nil for a token of another prefix or key, or altered.
    public func openToken<Payload: Decodable>(_ token: String, prefix: String, as type: Payload.Type) -> Payload? {
        guard token.hasPrefix(prefix), let json = open(String(token.dropFirst(prefix.count))) else { return nil }
        return try? JSONDecoder().decode(type, from: Data(json.utf8))
    }

    /// The plaintext, or nil when the value was not sealed with this key or was altered.
    public func open(_ sealed: String) -> String? {
        guard let data = Data(base64Encoded: sealed), let box = try? AES.GCM.SealedBox(combined: data),
            let plaintext = try? AES.GCM.open(box, using: key)
        else { return nil }
        return String(data: plaintext, encoding: .utf8)
    }
}
