import AgentProtocol
import AWSProtocols
import Foundation
import HTTPTypes
import Hummingbird
import Sealing
import SigV4
import StevedoreCore

/// Who an agent's request comes from, when ecsd has a registration token. The token admits one
/// call only, `RegisterContainerInstance`, whose answer carries credentials of the registered
/// instance alone (``InstanceCredentials``). Every other agent call is signed with them
/// (Signature Version 4, the sealed token in `X-Amz-Security-Token`) and acts for that instance
/// only. They are short-lived and renewed by the agent; they stop working at once when the
/// instance is deregistered (each call checks that it still is). The tokens are stateless (sealed
/// under a key of their own), so they survive restarts and work on every replica.
final class AgentAuthenticator: Sendable {
    let registrationToken: String
    /// Seconds an instance's credentials last.
    let lifetime: Int64
    private let box: SecretBox
    private let verifier = SigV4Verifier(secret: { _ in nil })
    /// Seconds since 1970.
    private let now: @Sendable () -> Int64

    static let tokenPrefix = "STI1"
    /// What the key that seals instance tokens is derived for (``SecretBox/derived(_:)``).
    static let keyPurpose = "stevedore instance credentials v1"
    static let tokenHeader = HTTPField.Name(WorkChannel.tokenHeader)!

    init(registrationToken: String, box: SecretBox, lifetime: Int64, now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.registrationToken = registrationToken
        self.box = box.derived(Self.keyPurpose)
        self.lifetime = lifetime
        self.now = now
    }

    private struct Payload: Codable {
        var a: String
        var k: String
        var s: String
        var i: Int64
        var e: Int64
    }

    /// New credentials for `instanceArn`, valid for ``lifetime`` seconds from now.
    func issue(instanceArn: String) -> InstanceCredentials {
        let key = AWSCredentials.generate()
        let issued = now()
        let payload = Payload(a: instanceArn, k: "ASIA" + key.accessKeyId.dropFirst(4), s: key.secretAccessKey, i: issued, e: issued + lifetime)
        return InstanceCredentials(
            containerInstanceArn: instanceArn, accessKeyId: payload.k, secretAccessKey: payload.s,
            sessionToken: box.sealToken(payload, prefix: Self.tokenPrefix),
            issuedAt: payload.i, expiresAt: payload.e)
    }

    /// The credentials a token carries; nil for a token this control plane did not seal.
    func open(_ token: String) -> InstanceCredentials? {
        guard let payload = box.openToken(token, prefix: Self.tokenPrefix, as: Payload.self) else { return nil }
        return InstanceCredentials(
            containerInstanceArn: payload.a, accessKeyId: payload.k, secretAccessKey: payload.s, sessionToken: token, issuedAt: payload.i,
            expiresAt: payload.e)
    }

    /// Refuses a registration without the registration token.
    func checkRegistrationToken(_ request: Request) -> AWSError? {
        guard !Self.constantTimeEqual(request.headers[Self.tokenHeader] ?? "", registrationToken) else { return nil }
        return AWSError(
            type: "AccessDeniedException",
            message:
                "This control plane requires an agent registration token: set ECS_AGENT_REGISTRATION_TOKEN on the agent to ecsd's --agent-token (or, when ecsd made one, the contents of <data-dir>/agent-token).")
    }

    /// How long after they expire credentials still prove their instance for re-registration.
    static let reRegistrationWindow: Int64 = 30 * 86_400

    /// The instance whose credentials signed the request. `allowExpired` accepts credentials up to
    /// ``reRegistrationWindow`` past their time (an agent re-registering after a long stop proves
    /// with them who it was).
    func instance(_ request: Request, body: [UInt8], allowExpired: Bool = false) -> Result<String, AWSError> {
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(request.headers.count + 1)
        if let authority = request.head.authority { headers.append(("host", authority)) }
        for field in request.headers { headers.append((field.name.canonicalName, field.value)) }
        let signable = SignableRequest(method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "", headers: headers, body: body)
        guard let token = signable.header("x-amz-security-token") else { return .failure(Self.credentialsRequired) }
        guard let credentials = open(token) else { return .failure(SignatureFailure.unknownKey.awsError(restJSON: false)) }
        let oldestAccepted = allowExpired ? now() - Self.reRegistrationWindow : now()
        if credentials.expiresAt <= oldestAccepted { return .failure(RequestAuthenticator.expiredToken(.json)) }
        do throws(SignatureFailure) {
            _ = try verifier.verify(signable, service: nil, now: now(), session: (credentials.accessKeyId, credentials.secretAccessKey))
        } catch {
            return .failure(error.awsError(restJSON: false))
        }
        return .success(credentials.containerInstanceArn)
    }

    static let credentialsRequired = AWSError(
        type: "AccessDeniedException",
        message:
            "This control plane requires instance credentials: register the agent with ECS_AGENT_REGISTRATION_TOKEN set, and sign its calls with the credentials registration returns.")

    /// Equal strings, compared in time that depends only on their lengths.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for index in 0..<min(x.count, y.count) { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}

extension AWSError {
    /// Credentials of an instance that is deregistered (or never was, here).
    static func instanceRevoked(_ arn: String) -> AWSError {
        AWSError(
            type: "InvalidInstanceException",
            message: "Container instance \(arn) is not registered (deregistered, or unknown to this control plane); its credentials no longer work. Register as a new instance.")
    }
}
