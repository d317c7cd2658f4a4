import Foundation
import IAM
import Sealing
import SigV4
import StevedoreCore

/// Temporary credentials of a role, as STS issues them to tasks and functions: an `ASIA…` key, a
/// secret and a session token. The token carries the key, the secret, the role and the expiry,
/// sealed under the control plane's key, so ecsd keeps no table of sessions: a token it sealed
/// and that has not expired is valid, and what it may do is its role's policies at the time of
/// each request.
struct SessionCredentials: Sendable, Equatable {
    var accessKeyId: String
    var secret: String
    var roleArn: String
    var sessionName: String
    /// Seconds since 1970.
    var expires: Int64

    static let tokenPrefix = "STV1"
    /// What the key that seals tokens is derived for (``SecretBox/derived(_:)``).
    static let keyPurpose = "stevedore session tokens v1"

    private struct Payload: Codable {
        var k: String
        var s: String
        var r: String
        var n: String
        var e: Int64
    }

    /// New credentials for `roleArn`, valid for `lifetime` seconds from `now`.
    static func issue(roleArn: String, sessionName: String, now: Int64, lifetime: Int64 = 3600) -> SessionCredentials {
        let key = AWSCredentials.generate()
        return SessionCredentials(
            accessKeyId: "ASIA" + key.accessKeyId.dropFirst(4), secret: key.secretAccessKey, roleArn: roleArn, sessionName: sessionName,
            expires: now + lifetime)
    }

    func token(_ box: SecretBox) -> String {
        box.sealToken(Payload(k: accessKeyId, s: secret, r: roleArn, n: sessionName, e: expires), prefix: Self.tokenPrefix)
    }

    /// The credentials a token carries; nil for a token this control plane did not seal.
    static func open(_ token: String, box: SecretBox) -> SessionCredentials? {
        guard let payload = box.openToken(token, prefix: tokenPrefix, as: Payload.self) else { return nil }
        return SessionCredentials(accessKeyId: payload.k, secret: payload.s, roleArn: payload.r, sessionName: payload.n, expires: payload.e)
    }

    /// `arn:aws:sts::<account>:assumed-role/<role name>/<session>`, as GetCallerIdentity names it.
    func assumedRoleArn(_ names: ResourceNames) -> String {
        "arn:\(names.partition):sts::\(names.accountId):assumed-role/\(ResourceNames.roleName(roleArn))/\(sessionName)"
    }
}
