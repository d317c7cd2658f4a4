import Archives
@testable import SigV4
import StevedoreCore
import Testing

/// Bodies as S3 takes them: UNSIGNED-PAYLOAD and aws-chunked (signed chunks, or unsigned with
/// trailing checksums), against AWS's published chunked-upload example and our own signer.
struct PayloadFormTests {
    static let key = "AKIAIOSFODNN7EXAMPLE"
    static let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    let verifier = SigV4Verifier(secret: { $0 == PayloadFormTests.key ? PayloadFormTests.secret : nil })

    /// `body` fed to the decoder S3's check answers for `head`, `pieceSize` bytes at a time.
    static func streamed(_ body: [UInt8], through verifier: SigV4Verifier, _ head: SignableRequest, pieceSize: Int) throws -> [UInt8] {
        guard case .chunked(var decoder) = try verifier.verifyS3(head, now: 1_369_353_600).body else { return [] }
        var payload: [UInt8] = []
        for start in stride(from: 0, to: body.count, by: pieceSize) {
            let piece = Array(body[start..<min(body.count, start + pieceSize)])
            try piece.withUnsafeBytes { bytes in try decoder.feed(bytes) { payload += $0 } }
        }
        try decoder.finish(head)
        return payload
    }

    static func chunk(_ data: [UInt8], signature: String?) -> [UInt8] {
        Array(String(data.count, radix: 16).utf8) + Array((signature.map { ";chunk-signature=" + $0 } ?? "").utf8) + [13, 10] + data + [13, 10]
    }

    /// AWS's example (S3 documentation, "Transferring payload in multiple chunks"): 66,560 bytes of
    /// `a` in chunks of 65,536 and 1,024, with the seed and chunk signatures AWS lists.
    @Test func awsPublishedChunkedUploadExample() throws {
        let signatures = [
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ]
        let a = UInt8(ascii: "a")
        var body = Self.chunk([UInt8](repeating: a, count: 65_536), signature: signatures[0])
        body += Self.chunk([UInt8](repeating: a, count: 1_024), signature: signatures[1])
        body += Array("0;chunk-signature=\(signatures[2])\r\n\r\n".utf8)
        #expect(body.count == 66_824)
        let request = SignableRequest(
            method: "PUT", path: "/examplebucket/chunkObject.txt",
            headers: [
                ("Host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", "66560"), ("Content-Length", "66824"),
                ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                (
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class, Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
                ),
            ], body: body)
        let verified = try verifier.verifyPayload(request, service: "s3", now: 1_369_353_600)
        #expect(verified.accessKeyId == Self.key && verified.payload == [UInt8](repeating: a, count: 66_560))
        // A changed byte, a dropped chunk, chunks swapped: the chain no longer holds.
        var altered = request
        altered.body[100] = UInt8(ascii: "b")
        #expect(throws: SignatureFailure.mismatch) { try verifier.verifyPayload(altered, service: "s3", now: 1_369_353_600) }
        var dropped = request
        dropped.body = Self.chunk([UInt8](repeating: a, count: 65_536), signature: signatures[0]) + Array("0;chunk-signature=\(signatures[2])\r\n\r\n".utf8)
        #expect(throws: SignatureFailure.self) { try verifier.verifyPayload(dropped, service: "s3", now: 1_369_353_600) }
        // Signed chunks cover no trailers: lines after the last chunk are refused.
        var trailed = request
        trailed.body.removeLast(2)
        trailed.body += Array("x-amz-checksum-crc32:AAAAAA==\r\n\r\n".utf8)
        #expect(throws: SignatureFailure.self) { try verifier.verifyPayload(trailed, service: "s3", now: 1_369_353_600) }
        var cut = request
        cut.body.removeLast(40)
        #expect(throws: SignatureFailure.self) { try verifier.verifyPayload(cut, service: "s3", now: 1_369_353_600) }
        // The same body decoded as it streams, in pieces of awkward sizes, through S3's check.
        var head = request
        head.body = []
        for pieceSize in [1, 7, 8_191, 70_000] {
            #expect(try Self.streamed(body, through: verifier, head, pieceSize: pieceSize) == [UInt8](repeating: a, count: 66_560))
        }
        for broken in [altered.body, dropped.body, cut.body] {
            #expect(throws: SignatureFailure.self) { try Self.streamed(broken, through: verifier, head, pieceSize: 4096) }
        }
        // Services other than S3 take only signed bodies: the streaming form's hash is not the body's.
        #expect(throws: SignatureFailure.mismatch) { try verifier.verify(request, service: nil, now: 1_369_353_600) }
    }

    /// AWS's example of signed trailers (S3 documentation, "Signature calculations for trailing
    /// headers"): the same 66,560 bytes, chained from its seed signature, and a CRC32C trailer
    /// signed after the last chunk.
    @Test func awsPublishedSignedTrailerExample() throws {
        let seed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
        let signatures = [
            "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
            "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
            "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
        ]
        let trailerSignature = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
        let a = UInt8(ascii: "a")
        var chunks = Self.chunk([UInt8](repeating: a, count: 65_536), signature: signatures[0])
        chunks += Self.chunk([UInt8](repeating: a, count: 1_024), signature: signatures[1])
        chunks += Array("0;chunk-signature=\(signatures[2])\r\n".utf8)
        let body = chunks + Array("x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:\(trailerSignature)\r\n\r\n".utf8)
        let claim = SignatureClaim(
            accessKeyId: Self.key, scopeDate: "20130524", region: "us-east-1", service: "s3", signedHeaders: [], signature: seed,
            requestDate: "20130524T000000Z", expires: nil)
        let key = HMACKey(SigV4Signer.signingKey(secret: Self.secret, date: "20130524", region: "us-east-1", service: "s3"))
        let decoded = try ChunkedPayload.decode(body, signatures: (key, claim, seed), trailers: .signed)
        #expect(decoded.payload == [UInt8](repeating: a, count: 66_560))
        #expect(decoded.trailers.map { "\($0.name):\($0.value)" } == ["x-amz-checksum-crc32c:sOO8/Q=="])
        // An altered checksum, a dropped or altered trailer signature, a trailer added after it:
        // refused.
        for trailers in [
            "x-amz-checksum-crc32c:AAAAAA==\r\nx-amz-trailer-signature:\(trailerSignature)\r\n\r\n",
            "x-amz-checksum-crc32c:sOO8/Q==\r\n\r\n",
            "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:\(String(trailerSignature.reversed()))\r\n\r\n",
            "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:\(trailerSignature)\r\nx-amz-meta-a:b\r\n\r\n",
            "x-amz-checksum-crc32c sOO8/Q==\r\nx-amz-trailer-signature:\(trailerSignature)\r\n\r\n",
        ] {
            #expect(throws: SignatureFailure.self) { try ChunkedPayload.decode(chunks + Array(trailers.utf8), signatures: (key, claim, seed), trailers: .signed) }
        }
    }

    @Test func signedTrailersThroughTheVerifier() throws {
        let data = Array("hello world".utf8)
        let date = SigningTime.text(1_700_000_000)
        var request = SignableRequest(
            method: "PUT", path: "/bucket/key",
            headers: [
                ("Host", "127.0.0.1:8340"), ("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", "11"),
                ("x-amz-trailer", "x-amz-checksum-crc32"),
            ], body: [])
        request.headers += SigV4Signer.sign(
            request, accessKeyId: Self.key, secret: Self.secret, region: "us-east-1", service: "s3", now: 1_700_000_000,
            payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
        let claim = try #require(try SignatureClaim.read(request))
        let key = HMACKey(SigV4Signer.signingKey(secret: Self.secret, date: String(date.prefix(8)), region: "us-east-1", service: "s3"))
        let first = ChunkedPayload.signature(of: data[...], previous: claim.signature, key: key, claim: claim)
        let last = ChunkedPayload.signature(of: [], previous: first, key: key, claim: claim)
        let trailers = [(name: "x-amz-checksum-crc32", value: "DUoRhQ==")]
        let trailerSignature = ChunkedPayload.trailerSignature(of: trailers, previous: last, key: key, claim: claim)
        request.body = Self.chunk(data, signature: first) + Array("0;chunk-signature=\(last)\r\nx-amz-checksum-crc32:DUoRhQ==\r\nx-amz-trailer-signature:\(trailerSignature)\r\n\r\n".utf8)
        let verified = try verifier.verifyPayload(request, service: "s3", now: 1_700_000_000)
        #expect(verified.payload == data && verified.trailers.count == 1 && verified.accessKeyId == Self.key)
        var forged = request
        forged.body = Self.chunk(data, signature: first) + Array("0;chunk-signature=\(last)\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:\(trailerSignature)\r\n\r\n".utf8)
        #expect(throws: SignatureFailure.mismatch) { try verifier.verifyPayload(forged, service: "s3", now: 1_700_000_000) }
    }

    func signed(_ body: [UInt8], payloadHash: String, extra: [(String, String)] = []) -> SignableRequest {
        var request = SignableRequest(method: "PUT", path: "/bucket/key", headers: [("Host", "127.0.0.1:8340")] + extra, body: body)
        request.headers += SigV4Signer.sign(
            request, accessKeyId: Self.key, secret: Self.secret, region: "us-east-1", service: "s3", now: 1_700_000_000, payloadHash: payloadHash)
        return request
    }

    @Test func anUnsignedPayloadIsTakenOnlyWhereS3FormsAre() throws {
        let request = signed(Array("anything".utf8), payloadHash: "UNSIGNED-PAYLOAD")
        #expect(try verifier.verifyPayload(request, service: nil, now: 1_700_000_000).payload == Array("anything".utf8))
        #expect(throws: SignatureFailure.mismatch) { try verifier.verify(request, service: nil, now: 1_700_000_000) }
        // The signature still covers the headers and the path.
        var moved = request
        moved.path = "/bucket/other"
        #expect(throws: SignatureFailure.mismatch) { try verifier.verifyPayload(moved, service: nil, now: 1_700_000_000) }
    }

    @Test func anUnsignedChunkedBodyWithTrailersDecodes() throws {
        let body = Array("5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n".utf8)
        let request = signed(
            body, payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER", extra: [("x-amz-decoded-content-length", "11"), ("x-amz-trailer", "x-amz-checksum-crc32")])
        let verified = try verifier.verifyPayload(request, service: nil, now: 1_700_000_000)
        #expect(verified.payload == Array("hello world".utf8))
        #expect(verified.trailers.map { "\($0.name)=\($0.value)" } == ["x-amz-checksum-crc32=DUoRhQ=="])
        // A trailer x-amz-trailer did not announce is refused.
        let undeclared = signed(body, payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER", extra: [("x-amz-decoded-content-length", "11")])
        #expect(throws: SignatureFailure.self) { try verifier.verifyPayload(undeclared, service: nil, now: 1_700_000_000) }
        // One declared and not sent, or sent twice: refused too.
        let missing = signed(
            body, payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            extra: [("x-amz-decoded-content-length", "11"), ("x-amz-trailer", "x-amz-checksum-crc32,x-amz-checksum-sha256")])
        #expect(throws: SignatureFailure.self) { try verifier.verifyPayload(missing, service: nil, now: 1_700_000_000) }
        let twice = signed(
            Array("5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n".utf8),
            payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER", extra: [("x-amz-decoded-content-length", "11"), ("x-amz-trailer", "x-amz-checksum-crc32")])
        #expect(throws: SignatureFailure.self) { try verifier.verifyPayload(twice, service: nil, now: 1_700_000_000) }
        for broken in [
            "5\r\nhello\r\n", "5\r\nhell", "zz\r\nhello\r\n0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\nmore", "-1\r\nx\r\n0\r\n\r\n",
            "+5\r\nhello\r\n0\r\n\r\n", "ffffffffffffffff\r\nx\r\n",
        ] {
            let request = signed(Array(broken.utf8), payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER", extra: [("x-amz-decoded-content-length", "5")])
            #expect(throws: SignatureFailure.self) { try verifier.verifyPayload(request, service: nil, now: 1_700_000_000) }
            #expect(throws: SignatureFailure.self) { try SigV4Verifier.decodeChunked(request.body) }
            #expect(throws: SignatureFailure.self) { try verifier.verifyPayload(request, service: nil, now: 1_700_000_000) }
        }
        let wrongLength = signed(body, payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER", extra: [("x-amz-decoded-content-length", "12")])
        #expect(throws: SignatureFailure.self) { try verifier.verifyPayload(wrongLength, service: nil, now: 1_700_000_000) }
        let noLength = signed(body, payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        #expect(throws: SignatureFailure.self) { try verifier.verifyPayload(noLength, service: nil, now: 1_700_000_000) }
    }
}
