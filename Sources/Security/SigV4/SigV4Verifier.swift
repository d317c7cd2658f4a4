import Archives
import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore
import Synchronization

/// A request whose signature held, with its body as the service should read it.
public struct VerifiedPayload: Sendable {
    public var accessKeyId: String
    /// The body, decoded from its aws-chunked form when it came so.
    public var payload: [UInt8]
    /// An aws-chunked body's trailers (names lowercased, values trimmed), the signature's left out.
    public var trailers: [(name: String, value: String)]
}

/// Why a request's signature was not accepted, worded as AWS words it.
public enum SignatureFailure: Error, Equatable, Sendable {
    /// No `Authorization` header and no presigned parameters.
    case missing
    /// A signature that lacks parts or has malformed ones (the message says which).
    case incomplete(String)
    /// An access key nobody issued (or one revoked).
    case unknownKey
    /// The signature does not match the one computed with the key's secret.
    case mismatch
    /// Signed more than five minutes before now: the signed time and the limits.
    case expired(signed: String, earliest: String, now: String)
    /// Signed more than five minutes after now.
    case notYetCurrent(signed: String, latest: String, now: String)
    /// A presigned URL past its `X-Amz-Expires`.
    case presignExpired
    /// Signed for another service than the one the request reached.
    case wrongService(expected: String)
    /// `x-amz-*` headers that the signature does not cover (S3 refuses them: they change what a
    /// request does, as `x-amz-copy-source` turns a PUT into a copy).
    case unsignedHeaders([String])

    /// How the request's protocol reports the failure. JSON services answer 400 (403 for a
    /// mismatch or expiry on REST-JSON ones such as Lambda), with AWS's types and messages.
    public func awsError(restJSON: Bool) -> AWSError {
        let denied = restJSON ? 403 : 400
        return switch self {
        case .missing: AWSError(type: "MissingAuthenticationTokenException", message: "Missing Authentication Token", httpStatus: restJSON ? 403 : 400)
        case .incomplete(let message): AWSError(type: "IncompleteSignatureException", message: message, httpStatus: 400)
        case .unknownKey:
            AWSError(type: "UnrecognizedClientException", message: "The security token included in the request is invalid.", httpStatus: denied)
        case .mismatch:
            AWSError(
                type: "InvalidSignatureException",
                message:
                    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
                httpStatus: denied)
        case .expired(let signed, let earliest, let now):
            AWSError(type: "InvalidSignatureException", message: "Signature expired: \(signed) is now earlier than \(earliest) (\(now) - 5 min.)", httpStatus: denied)
        case .notYetCurrent(let signed, let latest, let now):
            AWSError(type: "InvalidSignatureException", message: "Signature not yet current: \(signed) is still later than \(latest) (\(now) + 5 min.)", httpStatus: denied)
        case .presignExpired: AWSError(type: "InvalidSignatureException", message: "Signature expired: the presigned URL is past its X-Amz-Expires.", httpStatus: denied)
        case .wrongService(let expected): AWSError(type: "InvalidSignatureException", message: "Credential should be scoped to correct service: '\(expected)'. ", httpStatus: denied)
        case .unsignedHeaders(let names):
            AWSError(type: "AccessDeniedException", message: "There were headers present in the request which were not signed: \(names.joined(separator: ", "))", httpStatus: 403)
        }
    }
}

/// Checks Signature Version 4 on requests: finds the claim, looks its access key up, recomputes
/// the signature over the canonical request and compares in constant time; refuses a request
/// signed more than five minutes away from now. Derived signing keys are cached per key, day,
/// region and service (four HMACs saved on every request).
public final class SigV4Verifier: Sendable {
    /// The secret of an access key, or nil for a key that does not exist (or no longer does).
    public typealias SecretLookup = @Sendable (_ accessKeyId: String) -> String?

    private let secret: SecretLookup
    /// Derived keys by access key (for the scope a key last signed in: one a day, region and
    /// service), with the secret they were derived from.
    private let signingKeys = Mutex<[String: (scope: String, secret: String, key: HMACKey)]>([:])
    static let allowedSkew: Int64 = 300

    public init(secret: @escaping SecretLookup) {
        self.secret = secret
    }

    /// The access key that signed `request`, or why it is refused.
    /// - Parameters:
    ///   - service: the signing name the endpoint answers for (`ecs`, `lambda`); nil accepts any.
    ///   - now: seconds since 1970.
    ///   - session: for temporary credentials, the key and secret their session token carries
    ///     (the lookup is not consulted; a claim made with another key is unknown).
    public func verify(
        _ request: SignableRequest, service: String?, now: Int64, session: (accessKeyId: String, secret: String)? = nil
    ) throws(SignatureFailure) -> String {
        try check(request, service: service, now: now, session: session, payloads: .signed).claim.accessKeyId
    }

    /// For endpoints that take bodies as S3 does: besides a signed body, `UNSIGNED-PAYLOAD` (the
    /// body is not covered) and `aws-chunked` bodies, each chunk signed in a chain from the
    /// request's signature (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, and with signed trailers
    /// `…-PAYLOAD-TRAILER`) or unsigned with trailing checksums (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`).
    /// Answers the access key, the payload decoded from its chunks, and the trailers (whose
    /// checksums are the receiving service's to check).
    public func verifyPayload(
        _ request: SignableRequest, service: String?, now: Int64, session: (accessKeyId: String, secret: String)? = nil
    ) throws(SignatureFailure) -> VerifiedPayload {
        let (claim, key) = try check(request, service: service, now: now, session: session, payloads: .asS3Takes)
        let decoded: (payload: [UInt8], trailers: [(name: String, value: String)])
        switch request.header("x-amz-content-sha256") {
        case PayloadForm.streamingSigned:
            decoded = try ChunkedPayload.decode(request.body, signatures: (key, claim, claim.signature.lowercased()), trailers: .none)
        case PayloadForm.streamingSignedTrailer:
            decoded = try ChunkedPayload.decode(request.body, signatures: (key, claim, claim.signature.lowercased()), trailers: .signed)
        case PayloadForm.streamingUnsignedTrailer:
            decoded = try ChunkedPayload.decode(request.body, signatures: nil, trailers: .unsigned)
        default:
            return VerifiedPayload(accessKeyId: claim.accessKeyId, payload: request.body, trailers: [])
        }
        try ChunkedPayload.checkDecodedLength(decoded.payload, request)
        try ChunkedPayload.checkDeclaredTrailers(decoded.trailers, request)
        return VerifiedPayload(accessKeyId: claim.accessKeyId, payload: decoded.payload, trailers: decoded.trailers)
    }

    /// What an S3 request's signature says about the body still to come.
    public enum S3Body: Sendable {
        /// The SHA-256 (lower-case hex) the body must have: the receiver checks it once read.
        case hashed(String)
        /// `UNSIGNED-PAYLOAD` (and every presigned URL): the body is not covered.
        case unsigned
        /// An `aws-chunked` body, decoded (and its chunks' signatures checked) as it arrives.
        case chunked(ChunkedBodyDecoder)
    }

    /// S3's way: the signature is checked before the body arrives, over the path as sent (S3
    /// alone does not encode it twice) and the `x-amz-content-sha256` the request declares (which
    /// it must carry); the body is then checked as it streams past (``S3Body``).
    public func verifyS3(
        _ request: SignableRequest, now: Int64, session: (accessKeyId: String, secret: String)? = nil
    ) throws(SignatureFailure) -> (accessKeyId: String, body: S3Body) {
        if request.header("authorization") != nil, request.header("x-amz-content-sha256") == nil {
            throw .incomplete("Missing required header for this request: x-amz-content-sha256")
        }
        let (claim, key) = try check(request, service: "s3", now: now, session: session, payloads: .s3Streaming)
        // Every `x-amz-*` header must be signed (the declared payload hash is part of the
        // signature already, and a presigned URL's token travels in its query).
        var unsigned: [String] = []
        for (name, _) in request.headers {
            let lower = name.lowercased()
            if lower.hasPrefix("x-amz-"), lower != "x-amz-content-sha256", !claim.signedHeaders.contains(lower), !unsigned.contains(lower) {
                unsigned.append(lower)
            }
        }
        if !unsigned.isEmpty { throw .unsignedHeaders(unsigned.sorted()) }
        guard !claim.presigned else { return (claim.accessKeyId, .unsigned) }
        let declared = request.header("x-amz-content-sha256") ?? PayloadForm.unsigned
        let body: S3Body =
            switch declared {
            case PayloadForm.unsigned: .unsigned
            case PayloadForm.streamingSigned: .chunked(ChunkedBodyDecoder(signing: (key, claim), form: .none))
            case PayloadForm.streamingSignedTrailer: .chunked(ChunkedBodyDecoder(signing: (key, claim), form: .signed))
            case PayloadForm.streamingUnsignedTrailer: .chunked(ChunkedBodyDecoder(signing: nil, form: .unsigned))
            default: .hashed(declared.lowercased())
            }
        return (claim.accessKeyId, body)
    }

    /// The body an S3 request declares when no signature is checked (authentication off): a
    /// declared hash is still checked, aws-chunked bodies still decoded (their chunks' signatures
    /// left unchecked, as there is no key to check them with).
    public static func declaredS3Body(_ request: SignableRequest) -> S3Body {
        let declared = request.header("x-amz-content-sha256") ?? PayloadForm.unsigned
        switch declared {
        case PayloadForm.streamingSigned: return .chunked(ChunkedBodyDecoder(signing: nil, form: .none, skipsSignatures: true))
        case PayloadForm.streamingSignedTrailer: return .chunked(ChunkedBodyDecoder(signing: nil, form: .unsigned, skipsSignatures: true))
        case PayloadForm.streamingUnsignedTrailer: return .chunked(ChunkedBodyDecoder(signing: nil, form: .unsigned))
        default:
            let isHash = declared.utf8.count == 64 && declared.utf8.allSatisfy { ASCIIHex.value($0) != nil }
            return isHash ? .hashed(declared.lowercased()) : .unsigned
        }
    }

    /// Which bodies a signature may leave uncovered.
    enum Payloads {
        /// The body's hash is always part of what was signed (every service but S3).
        case signed
        case asS3Takes
        /// S3's, with the body not read yet: the declared hash is what was signed.
        case s3Streaming
    }

    private func check(
        _ request: SignableRequest, service: String?, now: Int64, session: (accessKeyId: String, secret: String)?, payloads: Payloads
    ) throws(SignatureFailure) -> (claim: SignatureClaim, key: HMACKey) {
        guard let claim = try SignatureClaim.read(request) else { throw .missing }
        // The operation a JSON request names is part of what was signed (SDKs always sign it), so a
        // captured request cannot be replayed as another operation with the same body.
        if request.header("x-amz-target") != nil, !claim.signedHeaders.contains("x-amz-target") {
            throw .incomplete("'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")
        }
        if let service, claim.service != service { throw .wrongService(expected: service) }
        guard let signedAt = SigningTime.seconds(claim.requestDate) else { throw .incomplete("Date must be in ISO-8601 'basic format'.") }
        if let expires = claim.expires {
            guard now <= signedAt + Int64(expires) else { throw .presignExpired }
            guard signedAt <= now + Self.allowedSkew else {
                throw .notYetCurrent(signed: claim.requestDate, latest: SigningTime.text(now + Self.allowedSkew), now: SigningTime.text(now))
            }
        } else if signedAt < now - Self.allowedSkew {
            throw .expired(signed: claim.requestDate, earliest: SigningTime.text(now - Self.allowedSkew), now: SigningTime.text(now))
        } else if signedAt > now + Self.allowedSkew {
            throw .notYetCurrent(signed: claim.requestDate, latest: SigningTime.text(now + Self.allowedSkew), now: SigningTime.text(now))
        }
        let known = session.map { $0.accessKeyId == claim.accessKeyId ? $0.secret : nil } ?? secret(claim.accessKeyId)
        guard let secret = known else { throw .unknownKey }
        let (stringToSign, key, cached) = try signingInput(request, claim: claim, secret: secret, payloads: payloads)
        guard key.matches(stringToSign, hex: claim.signature) else { throw .mismatch }
        // Kept only once a signature made with it matched: claims are free text, and a cache that
        // took every scope sent with a known key id could be filled by anyone.
        if !cached { remember(key, for: claim, secret: secret) }
        return (claim, key)
    }

    /// The signature `request` should carry, the signing key, and whether that came from the cache.
    func signature(
        _ request: SignableRequest, claim: SignatureClaim, secret: String, payloads: Payloads = .signed
    ) throws(SignatureFailure) -> (String, HMACKey, cached: Bool) {
        let (stringToSign, key, cached) = try signingInput(request, claim: claim, secret: secret, payloads: payloads)
        return (Digest.hex(key.authenticate(stringToSign)), key, cached)
    }

    /// The string to sign for `request`, the signing key, and whether that came from the cache.
    private func signingInput(
        _ request: SignableRequest, claim: SignatureClaim, secret: String, payloads: Payloads
    ) throws(SignatureFailure) -> ([UInt8], HMACKey, cached: Bool) {
        let payloadHash: String
        if claim.presigned {
            // A presigned URL signs no body: it may not carry one.
            guard request.body.isEmpty else { throw .mismatch }
            payloadHash = PayloadForm.unsigned
        } else if payloads == .asS3Takes, let declared = request.header("x-amz-content-sha256"), PayloadForm.unhashed.contains(declared) {
            // The declared form is what was signed; a streaming body's chunks are checked as it is decoded.
            payloadHash = declared
        } else if payloads == .s3Streaming, let declared = request.header("x-amz-content-sha256") {
            guard PayloadForm.unhashed.contains(declared) || (declared.utf8.count == 64 && declared.utf8.allSatisfy { ASCIIHex.value($0) != nil }) else {
                throw .incomplete("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value.")
            }
            payloadHash = declared
        } else {
            // The body's own hash, always: a declared `x-amz-content-sha256` must agree with it
            // (trusting the header would let a captured request be replayed with another body).
            payloadHash = Digest.hex(Digest.sha256(request.body))
            if let declared = request.header("x-amz-content-sha256"), !ASCII.equalsIgnoringCase(declared, payloadHash) { throw .mismatch }
        }
        let canonical = CanonicalRequest.bytes(
            request, signedHeaders: claim.signedHeaders, payloadHash: payloadHash, excludingQuery: claim.presigned ? "X-Amz-Signature" : nil,
            encodePathTwice: payloads != .s3Streaming && claim.service != "s3")
        let scope = claim.scope
        let cached = cachedKey(for: claim.accessKeyId, scope: scope, secret: secret)
        let key = cached ?? HMACKey(SigV4Signer.signingKey(secret: secret, date: claim.scopeDate, region: claim.region, service: claim.service))
        return (CanonicalRequest.stringToSign(canonical, claim: claim, scope: scope), key, cached != nil)
    }

    private func cachedKey(for accessKeyId: String, scope: String, secret: String) -> HMACKey? {
        // A secret that changed (a key re-created under the same id) gets a key of its own.
        guard let cached = signingKeys.withLock({ $0[accessKeyId] }), cached.scope == scope, cached.secret == secret else { return nil }
        return cached.key
    }

    private func remember(_ key: HMACKey, for claim: SignatureClaim, secret: String) {
        signingKeys.withLock { keys in
            if keys.count > 10_000 { keys.removeAll() }
            keys[claim.accessKeyId] = (claim.scope, secret, key)
        }
    }
}

/// Signs requests as the SDKs do (for ecsctl, the agent, and tests of the verifier).
public enum SigV4Signer {
    /// The headers to add to `request` (`X-Amz-Date`, `Authorization`, and `X-Amz-Security-Token`
    /// for temporary credentials), signing every header it already has plus those.
    /// - Parameter payloadHash: what `x-amz-content-sha256` declares instead of the body's hash
    ///   (`UNSIGNED-PAYLOAD`, a streaming form); the header is added and signed.
    public static func sign(
        _ request: SignableRequest, accessKeyId: String, secret: String, sessionToken: String? = nil, region: String, service: String,
        now: Int64, payloadHash: String? = nil
    ) -> [(name: String, value: String)] {
        let date = SigningTime.text(now)
        var request = request
        var added: [(name: String, value: String)] = [("X-Amz-Date", date)]
        if let sessionToken { added.append(("X-Amz-Security-Token", sessionToken)) }
        if let payloadHash { added.append(("X-Amz-Content-Sha256", payloadHash)) }
        request.headers += added
        let signedHeaders = Array(Set(request.headers.map { $0.name.lowercased() })).sorted()
        let claim = SignatureClaim(
            accessKeyId: accessKeyId, scopeDate: String(date.prefix(8)), region: region, service: service, signedHeaders: signedHeaders,
            signature: "", requestDate: date, expires: nil)
        let canonical = CanonicalRequest.text(
            request, signedHeaders: signedHeaders, payloadHash: payloadHash ?? Digest.hex(Digest.sha256(request.body)), excludingQuery: nil,
            encodePathTwice: service != "s3")
        let key = signingKey(secret: secret, date: claim.scopeDate, region: region, service: service)
        let signature = Digest.hex(HMAC.sha256(key: key, CanonicalRequest.stringToSign(canonical, claim: claim)))
        return added + [
            ("Authorization", "\(SignatureClaim.algorithm) Credential=\(accessKeyId)/\(claim.scope), SignedHeaders=\(signedHeaders.joined(separator: ";")), Signature=\(signature)")
        ]
    }

    /// A presigned URL's query (SigV4's query form, `host` signed, the payload unsigned) for
    /// `method` on `path` (already percent-encoded) at `host`, valid for `expires` seconds.
    public static func presignedQuery(
        method: String, path: String, host: String, accessKeyId: String, secret: String, region: String, service: String, now: Int64, expires: Int
    ) -> String {
        let date = SigningTime.text(now)
        let scope = "\(date.prefix(8))/\(region)/\(service)/aws4_request"
        let claim = SignatureClaim(
            accessKeyId: accessKeyId, scopeDate: String(date.prefix(8)), region: region, service: service, signedHeaders: ["host"], signature: "",
            requestDate: date, expires: expires)
        let query = [
            ("X-Amz-Algorithm", SignatureClaim.algorithm), ("X-Amz-Credential", accessKeyId + "/" + scope), ("X-Amz-Date", date),
            ("X-Amz-Expires", String(expires)), ("X-Amz-SignedHeaders", "host"),
        ].map { "\($0.0)=\(PercentEncoding.encode($0.1))" }.joined(separator: "&")
        let request = SignableRequest(method: method, path: path, query: query, headers: [("host", host)])
        let canonical = CanonicalRequest.text(
            request, signedHeaders: ["host"], payloadHash: "UNSIGNED-PAYLOAD", excludingQuery: "X-Amz-Signature", encodePathTwice: service != "s3")
        let key = signingKey(secret: secret, date: claim.scopeDate, region: region, service: service)
        let signature = Digest.hex(HMAC.sha256(key: key, CanonicalRequest.stringToSign(canonical, claim: claim)))
        return query + "&X-Amz-Signature=" + signature
    }

    static func signingKey(secret: String, date: String, region: String, service: String) -> [UInt8] {
        let dateKey = HMAC.sha256(key: Array("AWS4\(secret)".utf8), date)
        let regionKey = HMAC.sha256(key: dateKey, region)
        let serviceKey = HMAC.sha256(key: regionKey, service)
        return HMAC.sha256(key: serviceKey, "aws4_request")
    }
}

extension SigV4Verifier {
    /// The sub-resources S3's Signature Version 2 signs with the path.
    static let v2SubResources: Set<String> = [
        "acl", "cors", "delete", "lifecycle", "location", "logging", "notification", "partNumber", "policy", "requestPayment", "tagging",
        "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website", "response-content-type", "response-content-language",
        "response-expires", "response-cache-control", "response-content-disposition", "response-content-encoding",
    ]

    /// S3's older presigned URLs (Signature Version 2's query form: `AWSAccessKeyId`, `Expires`,
    /// `Signature`), which the aws CLI v1's `s3 presign` still makes by default: an HMAC-SHA1 of
    /// the method, Content-MD5, Content-Type, the expiry and the path with its sub-resources.
    /// Answers the access key.
    /// - Parameter virtualHostBucket: the bucket the request's `Host` names, if it names one (the
    ///   signed resource is then `/<bucket><path>`, as the signer wrote it).
    public func verifyS3PresignedV2(
        method: String, rawPath: String, query: [(name: String, value: String)], header: (String) -> String?, headerNames: [String],
        virtualHostBucket: String?, now: Int64
    ) throws(SignatureFailure) -> String {
        // Version 2 signs `x-amz-*` headers only when the URL was made with them; these are not.
        let amzHeaders = Set(headerNames.map { $0.lowercased() }.filter { $0.hasPrefix("x-amz-") && $0 != "x-amz-content-sha256" })
        if !amzHeaders.isEmpty { throw .unsignedHeaders(amzHeaders.sorted()) }
        func parameter(_ name: String) -> String? { query.first { $0.name == name }?.value }
        guard let accessKeyId = parameter("AWSAccessKeyId"), let signature = parameter("Signature"), let expiresText = parameter("Expires") else {
            throw .incomplete("Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
        }
        guard let expires = Int64(expiresText) else { throw .incomplete("Invalid date (should be seconds since epoch): \(expiresText)") }
        guard now <= expires else { throw .presignExpired }
        guard let secret = secret(accessKeyId) else { throw .unknownKey }
        let signed = query.filter { Self.v2SubResources.contains($0.name) }.sorted { $0.name < $1.name }
            .map { $0.value.isEmpty ? $0.name : $0.name + "=" + $0.value }
        let resource = (virtualHostBucket.map { "/" + $0 } ?? "") + rawPath + (signed.isEmpty ? "" : "?" + signed.joined(separator: "&"))
        let text = [method, header("content-md5") ?? "", header("content-type") ?? "", expiresText, resource].joined(separator: "\n")
        let expected = Data(Crypto.HMAC<Insecure.SHA1>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: Array(secret.utf8))))
            .base64EncodedString()
        guard constantTimeEqual(Array(expected.utf8), Array(signature.utf8)) else { throw .mismatch }
        return accessKeyId
    }
}
