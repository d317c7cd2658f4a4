import AWSProtocols
import Foundation
import HTTPTypes
import Hummingbird
import SigV4
import StevedoreCore

/// Who may call the AWS APIs when authentication is on: requests signed with Signature Version 4
/// by a known access key, checked before anything is decoded. Agents' own operations are not
/// signed: the agent token admits them.
final class RequestAuthenticator: Sendable {
    private let verifier: SigV4Verifier
    /// Seconds since 1970; a request signed more than five minutes away from it is refused.
    private let now: @Sendable () -> Int64

    init(secretOf: @escaping SigV4Verifier.SecretLookup, now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.now = now
        verifier = SigV4Verifier(secret: secretOf)
    }

    /// The access key that signed the request, or the refusal in AWS's words (REST-JSON services
    /// such as Lambda answer some refusals 403 where JSON ones answer 400).
    func authenticate(_ request: Request, body: [UInt8], restJSON: Bool) -> Result<String, AWSError> {
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(request.headers.count + 1)
        // HTTP/1's `Host` arrives as the request's authority, not among its fields.
        if let authority = request.head.authority { headers.append(("host", authority)) }
        for field in request.headers { headers.append((field.name.canonicalName, field.value)) }
        let signable = SignableRequest(
            method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "", headers: headers, body: body)
        do throws(SignatureFailure) {
            return .success(try verifier.verify(signable, service: nil, now: now()))
        } catch {
            return .failure(error.awsError(restJSON: restJSON))
        }
    }
}
