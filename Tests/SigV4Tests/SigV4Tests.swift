import Archives
@testable import SigV4
import StevedoreCore
import Testing

/// Signature Version 4 against AWS's published test suite (aws-sig-v4-test-suite: key
/// AKIDEXAMPLE, 20150830T123600Z, us-east-1, service `service`), and every refusal.
struct SigV4Tests {
    static let key = "AKIDEXAMPLE"
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let date = "20150830T123600Z"
    static let now = SigningTime.seconds(date)!
    let verifier = SigV4Verifier { $0 == SigV4Tests.key ? SigV4Tests.secret : nil }

    static func request(
        _ method: String, query: String = "", headers extra: [(name: String, value: String)] = [], signature: String, signed: String = "host;x-amz-date"
    ) -> SignableRequest {
        SignableRequest(
            method: method, path: "/", query: query,
            headers: [("Host", "example.amazonaws.com")] + extra + [
                ("X-Amz-Date", date),
                ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=\(signed), Signature=\(signature)"),
            ])
    }

    static let vectors: [(String, SignableRequest)] = [
        ("get-vanilla", request("GET", signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")),
        ("post-vanilla", request("POST", signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")),
        ("get-vanilla-query-order-key-case",
         request("GET", query: "Param2=value2&Param1=value1", signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")),
        ("post-header-value-case",
         request("POST", headers: [("My-Header1", "VALUE1")], signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
                 signed: "host;my-header1;x-amz-date")),
    ]

    @Test(arguments: 0..<4)
    func verifiesThePublishedVectors(_ index: Int) throws {
        let (name, request) = Self.vectors[index]
        #expect(try verifier.verify(request, service: "service", now: Self.now) == Self.key, "\(name)")
        // And the signer makes the same header from the unsigned request.
        var unsigned = request
        unsigned.headers.removeAll { ["authorization", "x-amz-date"].contains($0.name.lowercased()) }
        let added = SigV4Signer.sign(unsigned, accessKeyId: Self.key, secret: Self.secret, region: "us-east-1", service: "service", now: Self.now)
        #expect(added.first { $0.name == "Authorization" }?.value == request.header("authorization"), "\(name)")
    }

    @Test func refusesWhatAWSRefuses() {
        let good = Self.vectors[0].1
        func failure(_ request: SignableRequest, now: Int64 = SigV4Tests.now, service: String? = "service") -> SignatureFailure? {
            do {
                _ = try verifier.verify(request, service: service, now: now)
                return nil
            } catch {
                return error
            }
        }
        var unsigned = good
        unsigned.headers.removeAll { $0.name == "Authorization" }
        #expect(failure(unsigned) == .missing)
        #expect(failure(good, now: Self.now + 600) == .expired(signed: Self.date, earliest: "20150830T124100Z", now: "20150830T124600Z"))
        #expect(failure(good, now: Self.now - 600) == .notYetCurrent(signed: Self.date, latest: "20150830T123100Z", now: "20150830T122600Z"))
        #expect(failure(good, now: Self.now + 299) == nil, "within five minutes")
        #expect(failure(good, service: "ecs") == .wrongService(expected: "ecs"))

        let unknown = SigV4Verifier { _ in nil }
        #expect(throws: SignatureFailure.unknownKey) { try unknown.verify(good, service: nil, now: Self.now) }
        let wrongSecret = SigV4Verifier { _ in "not-the-secret" }
        #expect(throws: SignatureFailure.mismatch) { try wrongSecret.verify(good, service: nil, now: Self.now) }

        var tampered = good
        tampered.body = Array("{}".utf8)
        #expect(failure(tampered) == .mismatch)
        tampered = good
        tampered.query = "Param1=value1"
        #expect(failure(tampered) == .mismatch)
        tampered = good
        tampered.method = "POST"
        #expect(failure(tampered) == .mismatch)

        var incomplete = good
        incomplete.headers[2] = ("Authorization", "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date")
        #expect(
            failure(incomplete)
                == .incomplete(
                    "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date"
                ))
        var badDate = good
        badDate.headers[1] = ("X-Amz-Date", "2015-08-30T12:36:00Z")
        #expect(failure(badDate) == .incomplete("Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'. See http://en.wikipedia.org/wiki/ISO_8601"))
        var otherDay = good
        otherDay.headers[2] = ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150831/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
        #expect(
            failure(otherDay)
                == .incomplete(
                    "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20150831' != '20150830', from '20150830T123600Z'."))
    }

    @Test func errorsAreAWSShaped() {
        #expect(SignatureFailure.missing.awsError(restJSON: false) == AWSError(type: "MissingAuthenticationTokenException", message: "Missing Authentication Token"))
        #expect(SignatureFailure.unknownKey.awsError(restJSON: false).message == "The security token included in the request is invalid.")
        #expect(SignatureFailure.mismatch.awsError(restJSON: true).httpStatus == 403)
        #expect(
            SignatureFailure.expired(signed: "a", earliest: "b", now: "c").awsError(restJSON: false).message == "Signature expired: a is now earlier than b (c - 5 min.)")
    }

    @Test func presignedURLsWeMakeAreOnesWeAccept() throws {
        let query = SigV4Signer.presignedQuery(
            method: "PUT", path: "/bucket/stack%20id/Res/req-1", host: "127.0.0.1:8340", accessKeyId: Self.key, secret: Self.secret, region: "us-east-1",
            service: "s3", now: Self.now, expires: 7200)
        let request = SignableRequest(method: "PUT", path: "/bucket/stack%20id/Res/req-1", query: query, headers: [("Host", "127.0.0.1:8340")])
        #expect(try verifier.verifyS3(request, now: Self.now + 60).accessKeyId == Self.key)
        #expect(throws: SignatureFailure.presignExpired) { try verifier.verifyS3(request, now: Self.now + 7201) }
        var moved = request
        moved.path = "/bucket/other"
        #expect(throws: SignatureFailure.self) { try verifier.verifyS3(moved, now: Self.now) }
    }

    @Test func presignedURLs() throws {
        let query =
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host"
        var request = SignableRequest(method: "GET", path: "/", query: query + "&X-Amz-Signature=00", headers: [("Host", "example.amazonaws.com")])
        let claim = try #require(try SignatureClaim.read(request))
        #expect(claim.presigned && claim.signedHeaders == ["host"])
        // The signature parameter is not part of what is signed.
        request.query = query + "&X-Amz-Signature=" + (try verifier.signature(request, claim: claim, secret: Self.secret)).0
        #expect(try verifier.verify(request, service: "service", now: Self.now + 30) == Self.key)
        #expect(throws: SignatureFailure.presignExpired) { try verifier.verify(request, service: "service", now: Self.now + 61) }
        var missing = request
        missing.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        #expect(throws: SignatureFailure.self) { try verifier.verify(missing, service: nil, now: Self.now) }
    }

    @Test func canonicalPartsAndTimes() {
        #expect(CanonicalRequest.path("/foo/../bar/./baz") == "/bar/baz")
        #expect(CanonicalRequest.path("//example//") == "/example/")
        #expect(CanonicalRequest.path("/2015-03-31/functions/arn%3Aaws%3Alambda/invocations") == "/2015-03-31/functions/arn%253Aaws%253Alambda/invocations")
        #expect(QueryParameters("b=2&a=%7E&a=1&c").canonical(excluding: nil) == "a=1&a=~&b=2&c=")
        #expect(CanonicalRequest.collapsingSpaces("  a   b \t c ") == "a b c")
        #expect(SigningTime.seconds("20150830T123600Z") == 1_440_938_160)
        for text in ["19700101T000000Z", "20000229T235959Z", "20241231T120000Z", "21000301T000000Z"] {
            #expect(SigningTime.text(SigningTime.seconds(text)!) == text)
        }
        #expect(SigningTime.seconds("20151330T000000Z") == nil)
        #expect(constantTimeEqual([1, 2], [1, 2]) && !constantTimeEqual([1, 2], [1, 3]) && !constantTimeEqual([1], [1, 2]))
    }
}

/// HMAC-SHA256 against RFC 4231's vectors, keys shorter and longer than a block.
struct HMACTests {
    @Test func rfc4231Vectors() {
        #expect(Digest.hex(HMAC.sha256(key: Array("Jefe".utf8), "what do ya want for nothing?"))
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(Digest.hex(HMAC.sha256(key: [UInt8](repeating: 0xaa, count: 131), "Test Using Larger Than Block-Size Key - Hash Key First"))
            == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        #expect(Digest.hex(HMAC.sha256(key: [UInt8](repeating: 0x0b, count: 20), "Hi There"))
            == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    }
}
