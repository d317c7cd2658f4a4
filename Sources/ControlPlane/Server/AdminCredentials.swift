import Foundation
import Sealing
import SigV4
import StevedoreCore

/// The administrator's access key. The first start with authentication on makes one and writes
/// it to `<data-dir>/admin-credentials` (mode 0600) in the AWS shared-credentials format, so
/// `AWS_SHARED_CREDENTIALS_FILE=<data-dir>/admin-credentials aws …` works at once; later starts
/// read it back.
public enum AdminCredentials {
    public static let fileName = "admin-credentials"

    public struct Loaded: Sendable {
        public var credentials: AWSCredentials
        public var path: String
        /// Made by this start (not read from an earlier one).
        public var created: Bool

        /// As ``ControlPlaneConfiguration/accessKeys`` takes keys.
        public var accessKeys: [String: String] { [credentials.accessKeyId: credentials.secretAccessKey] }
    }

    public struct Unreadable: Error, CustomStringConvertible {
        public var description: String
    }

    public static func loadOrCreate(dataDirectory: String) throws -> Loaded {
        let path = dataDirectory + "/" + fileName
        if FileManager.default.fileExists(atPath: path) {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            guard let credentials = SharedCredentialsFile.parse(text)["default"] else {
                throw Unreadable(
                    description: "\(path) has no [default] profile with aws_access_key_id and aws_secret_access_key; fix it, or remove it to have a new key made.")
            }
            return Loaded(credentials: credentials, path: path, created: false)
        }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let credentials = AWSCredentials.generate()
        // Created 0600 under a temporary name, then renamed: never readable by others, never half written.
        let temporary = path + ".tmp"
        unlink(temporary)
        try DurableFile.create(temporary, bytes: Array(SharedCredentialsFile.render(profile: "default", credentials).utf8), mode: 0o600)
        guard rename(temporary, path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return Loaded(credentials: credentials, path: path, created: true)
    }
}

/// The token agents present when authentication is on and `--agent-token` names none: made on the
/// first start and kept in `<data-dir>/agent-token` (mode 0600), so that agents' operations, which
/// are not signed, are not open to anyone who reaches the port.
public enum AgentTokenFile {
    public static let fileName = "agent-token"

    public static func loadOrCreate(dataDirectory: String) throws -> (token: String, path: String, created: Bool) {
        let path = dataDirectory + "/" + fileName
        if FileManager.default.fileExists(atPath: path) {
            let token = try String(contentsOfFile: path, encoding: .utf8).trimmingWhitespace
            guard !token.isEmpty else {
                throw AdminCredentials.Unreadable(description: "\(path) is empty; remove it to have a new agent token made.")
            }
            return (token, path, false)
        }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        var random = SystemRandomNumberGenerator()
        let token = (0..<4).map { _ in String(random.next() as UInt64, radix: 16).leftPadded(to: 16) }.joined()
        let temporary = path + ".tmp"
        unlink(temporary)
        try DurableFile.create(temporary, bytes: Array((token + "\n").utf8), mode: 0o600)
        guard rename(temporary, path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return (token, path, true)
    }
}

/// The key that seals stored secrets: 32 random bytes in `<data-dir>/secret.key` (mode 0600),
/// made on the first start. Losing it loses every stored secret (access keys must be re-created).
public enum SecretKeyFile {
    public static let fileName = "secret.key"

    public static func loadOrCreate(dataDirectory: String) throws -> SecretBox {
        let path = dataDirectory + "/" + fileName
        if let data = FileManager.default.contents(atPath: path) {
            guard data.count == 32 else {
                throw AdminCredentials.Unreadable(
                    description: "\(path) holds \(data.count) bytes, not a 32-byte key; restore it from a backup (without it, stored secrets cannot be read).")
            }
            return SecretBox(keyBytes: Array(data))
        }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let bytes = SecretBox.newKeyBytes()
        let temporary = path + ".tmp"
        unlink(temporary)
        try DurableFile.create(temporary, bytes: bytes, mode: 0o600)
        guard rename(temporary, path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return SecretBox(keyBytes: bytes)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
