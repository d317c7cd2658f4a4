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
    let keyring: AccessKeyring
    private let verifier: SigV4Verifier
    /// Seconds since 1970; a request signed more than five minutes away from it is refused.
    private let now: @Sendable () -> Int64

    init(keyring: AccessKeyring, now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) {
        self.keyring = keyring
        self.now = now
        verifier = SigV4Verifier(secret: { keyring.principal($0)?.secret })
    }

    /// Who signed the request, or the refusal in AWS's words (REST-JSON services such as Lambda
    /// answer some refusals 403 where JSON ones answer 400; query services answer in XML).
    func authenticate(_ request: Request, body: [UInt8], style: RefusalStyle) -> Result<AccessKeyring.Principal, AWSError> {
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(request.headers.count + 1)
        // HTTP/1's `Host` arrives as the request's authority, not among its fields.
        if let authority = request.head.authority { headers.append(("host", authority)) }
        for field in request.headers { headers.append((field.name.canonicalName, field.value)) }
        let signable = SignableRequest(
            method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "", headers: headers, body: body)
        // A presigned URL's token is among its parameters (parsed only when there are some).
        let queryToken = signable.query.isEmpty ? nil : request.uri.queryParameters["X-Amz-Security-Token"].map(String.init)
        return authenticate(signable, sessionToken: queryToken, service: nil, style: style)
    }

    /// The same for a request already in signable form (the gateway's AWS_IAM routes), for one
    /// service's signatures or any.
    func authenticate(_ signable: SignableRequest, sessionToken: String? = nil, service: String?, style: RefusalStyle)
        -> Result<AccessKeyring.Principal, AWSError>
    {
        do throws(SignatureFailure) {
            if let token = signable.header("x-amz-security-token") ?? sessionToken {
                // Temporary credentials (a task's or a function's role): the token carries their secret.
                guard let session = SessionCredentials.open(token, box: keyring.sessionBox) else { throw .unknownKey }
                guard session.expires > now() else { return .failure(Self.expiredToken(style)) }
                _ = try verifier.verify(signable, service: service, now: now(), session: (session.accessKeyId, session.secret))
                return .success(keyring.session(session))
            }
            let keyId = try verifier.verify(signable, service: service, now: now())
            // The key was just found; nil only if it was removed in between.
            guard let principal = keyring.principal(keyId) else { throw .unknownKey }
            return .success(principal)
        } catch {
            return .failure(style == .query ? error.queryError : error.awsError(restJSON: style == .restJSON))
        }
    }
}

extension RequestAuthenticator {
    /// An S3 request's signer and what its signature says of the body still to come, or the
    /// refusal in S3's words.
    func authenticateS3(_ signable: SignableRequest, queryToken: String?) -> Result<(AccessKeyring.Principal, SigV4Verifier.S3Body), AWSError> {
        do throws(SignatureFailure) {
            if let token = signable.header("x-amz-security-token") ?? queryToken {
                guard let session = SessionCredentials.open(token, box: keyring.sessionBox) else { throw .unknownKey }
                guard session.expires > now() else {
                    return .failure(AWSError(type: "ExpiredToken", message: "The provided token has expired.", httpStatus: 400))
                }
                let (_, body) = try verifier.verifyS3(signable, now: now(), session: (session.accessKeyId, session.secret))
                return .success((keyring.session(session), body))
            }
            let (keyId, body) = try verifier.verifyS3(signable, now: now())
            guard let principal = keyring.principal(keyId) else { throw .unknownKey }
            return .success((principal, body))
        } catch {
            return .failure(error.s3Error)
        }
    }

    /// An S3 presigned URL of Signature Version 2's form: its signer, or the refusal in S3's words.
    func authenticateS3PresignedV2(
        method: String, rawPath: String, query: [(name: String, value: String)], header: (String) -> String?, headerNames: [String],
        virtualHostBucket: String?
    ) -> Result<AccessKeyring.Principal, AWSError> {
        do throws(SignatureFailure) {
            let keyId = try verifier.verifyS3PresignedV2(
                method: method, rawPath: rawPath, query: query, header: header, headerNames: headerNames, virtualHostBucket: virtualHostBucket,
                now: now())
            guard let principal = keyring.principal(keyId) else { throw .unknownKey }
            return .success(principal)
        } catch {
            return .failure(error.s3Error)
        }
    }

    static func expiredToken(_ style: RefusalStyle) -> AWSError {
        let message = "The security token included in the request is expired"
        return switch style {
        case .json: AWSError(type: "ExpiredTokenException", message: message, httpStatus: 400)
        case .restJSON: AWSError(type: "ExpiredTokenException", message: message, httpStatus: 403)
        case .query: AWSError(type: "ExpiredToken", message: message, httpStatus: 403)
        }
    }
}

extension SignatureFailure {
    /// S3's codes for the same refusals.
    var s3Error: AWSError {
        switch self {
        case .missing: AWSError(type: "AccessDenied", message: "Access Denied", httpStatus: 403)
        case .incomplete(let message): AWSError(type: "AuthorizationHeaderMalformed", message: message, httpStatus: 400)
        case .unknownKey: AWSError(type: "InvalidAccessKeyId", message: "The AWS Access Key Id you provided does not exist in our records.", httpStatus: 403)
        case .mismatch:
            AWSError(
                type: "SignatureDoesNotMatch",
                message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                httpStatus: 403)
        case .expired, .notYetCurrent:
            AWSError(type: "RequestTimeTooSkewed", message: "The difference between the request time and the current time is too large.", httpStatus: 403)
        case .presignExpired: AWSError(type: "AccessDenied", message: "Request has expired", httpStatus: 403)
        case .wrongService:
            AWSError(type: "AuthorizationHeaderMalformed", message: "The authorization header is malformed; the service is wrong: expecting 's3'.", httpStatus: 400)
        case .unsignedHeaders(let names):
            AWSError(
                type: "AccessDenied", message: "There were headers present in the request which were not signed", httpStatus: 403,
                extraFields: ["HeadersNotSigned": names.joined(separator: ", ")])
        }
    }
}

/// How a protocol words refusals: AWS JSON (400s), REST-JSON (403 for a bad signature), query (XML codes).
enum RefusalStyle: Equatable {
    case json
    case restJSON
    case query
}

extension SignatureFailure {
    /// The query protocol's codes for the same refusals (IAM, STS): 403s, except a malformed signature.
    var queryError: AWSError {
        let json = awsError(restJSON: true)
        return switch self {
        case .missing: AWSError(type: "MissingAuthenticationToken", message: "Request is missing Authentication Token", httpStatus: 403)
        case .incomplete(let message): AWSError(type: "IncompleteSignature", message: message, httpStatus: 400)
        case .unknownKey: AWSError(type: "InvalidClientTokenId", message: json.message, httpStatus: 403)
        case .mismatch, .expired, .notYetCurrent, .presignExpired, .wrongService, .unsignedHeaders:
            AWSError(type: "SignatureDoesNotMatch", message: json.message, httpStatus: 403)
        }
    }
}
