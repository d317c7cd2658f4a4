import Archives
import StevedoreCore

/// The `x-amz-content-sha256` values that say a body's hash is not what was signed.
enum PayloadForm {
    static let unsigned = "UNSIGNED-PAYLOAD"
    static let streamingSigned = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    static let streamingSignedTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    static let streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    static let unhashed: Set<String> = [unsigned, streamingSigned, streamingSignedTrailer, streamingUnsignedTrailer]
}

/// `Content-Encoding: aws-chunked` bodies: `<hex size>[;chunk-signature=<sig>]\r\n<bytes>\r\n`
/// chunks ending with a chunk of size 0, then (the `-TRAILER` forms) `name:value\r\n` trailers
/// and a blank line. Signed chunks chain: each chunk's signature covers the previous one's (the
/// first, the request's), the date, the scope and its bytes' hash, so chunks can be neither
/// altered, dropped, reordered nor cut short; signed trailers end with `x-amz-trailer-signature`,
/// chained from the last chunk's.
enum ChunkedPayload {
    static let algorithm = "AWS4-HMAC-SHA256-PAYLOAD"
    static let trailerAlgorithm = "AWS4-HMAC-SHA256-TRAILER"
    static let trailerSignatureName = "x-amz-trailer-signature"

    /// What may follow the last chunk.
    enum Trailers {
        /// Nothing: the blank line (signed chunks without trailer).
        case none
        /// Trailers, unsigned.
        case unsigned
        /// Trailers, the last of them `x-amz-trailer-signature` (checked).
        case signed
    }

    /// The payload and its trailers (names lowercased, values trimmed); with `signatures` (the
    /// signing key, the claim and the request's signature), every chunk's signature is checked.
    static func decode(
        _ body: [UInt8], signatures: (key: HMACKey, claim: SignatureClaim, seed: String)?, trailers form: Trailers = .unsigned
    ) throws(SignatureFailure) -> (payload: [UInt8], trailers: [(name: String, value: String)]) {
        var payload: [UInt8] = []
        payload.reserveCapacity(body.count)
        var previous = signatures?.seed ?? ""
        var index = 0
        while true {
            guard let lineEnd = Self.lineEnd(body, from: index) else { throw .incomplete("The aws-chunked body is cut short: a chunk header has no end.") }
            let header = body[index..<lineEnd]
            let sizeText = header.prefix { $0 != UInt8(ascii: ";") }
            let isHexDigit = { (byte: UInt8) in byte &- 48 < 10 || (byte | 0x20) &- 97 < 6 }
            guard !sizeText.isEmpty, sizeText.count <= 15, sizeText.allSatisfy(isHexDigit),
                let size = Int(String(decoding: sizeText, as: UTF8.self), radix: 16)
            else {
                throw .incomplete("The aws-chunked body has a chunk whose size is not hexadecimal.")
            }
            let dataStart = lineEnd + 2
            guard size <= body.count - dataStart else { throw .incomplete("The aws-chunked body is cut short: a chunk has fewer bytes than its size.") }
            let data = body[dataStart..<(dataStart + size)]
            if let (key, claim, _) = signatures {
                let marker = Array(";chunk-signature=".utf8)
                let rest = Array(header.dropFirst(sizeText.count))
                guard rest.starts(with: marker) else { throw .incomplete("A chunk of a signed aws-chunked body has no chunk-signature.") }
                let sent = rest.dropFirst(marker.count).map { $0 &- 65 < 26 ? $0 | 0x20 : $0 }
                let expected = signature(of: data, previous: previous, key: key, claim: claim)
                guard constantTimeEqual(Array(expected.utf8), sent) else { throw .mismatch }
                previous = expected
            }
            payload += data
            if size == 0 {
                // The end: a blank line, or (the trailer forms) trailer lines and then one.
                var trailer = dataStart
                var trailers: [(name: String, value: String)] = []
                while form != .none, let end = Self.lineEnd(body, from: trailer), end > trailer {
                    trailers.append(try Self.trailer(body[trailer..<end]))
                    trailer = end + 2
                }
                guard Self.lineEnd(body, from: trailer) == trailer, trailer + 2 == body.count else {
                    throw .incomplete("The aws-chunked body does not end after its last chunk.")
                }
                if form == .signed, let (key, claim, _) = signatures {
                    guard let sent = trailers.popLast(), sent.name == Self.trailerSignatureName else {
                        throw .incomplete("The aws-chunked body's trailers end without x-amz-trailer-signature.")
                    }
                    let expected = trailerSignature(of: trailers, previous: previous, key: key, claim: claim)
                    guard constantTimeEqual(Array(expected.utf8), sent.value.utf8.map { $0 &- 65 < 26 ? $0 | 0x20 : $0 }) else { throw .mismatch }
                }
                return (payload, trailers)
            }
            guard body.count >= dataStart + size + 2, body[dataStart + size] == 13, body[dataStart + size + 1] == 10 else {
                throw .incomplete("The aws-chunked body is cut short: a chunk does not end with CRLF.")
            }
            index = dataStart + size + 2
        }
    }

    /// A chunk's signature, chained from the previous one's.
    static func signature(of data: ArraySlice<UInt8>, previous: String, key: HMACKey, claim: SignatureClaim) -> String {
        signature(dataHash: Digest.hex(Digest.sha256(data)), previous: previous, key: key, claim: claim)
    }

    /// The same from the hex SHA-256 of the chunk's bytes (hashed as they streamed past).
    static func signature(dataHash: String, previous: String, key: HMACKey, claim: SignatureClaim) -> String {
        let text = [algorithm, claim.requestDate, claim.scope, previous, CanonicalRequest.emptyPayloadHash, dataHash].joined(separator: "\n")
        return Digest.hex(key.authenticate(Array(text.utf8)))
    }

    /// The trailers' signature: it covers their canonical form (`name:value\n` each, in the order
    /// sent) and is chained from the last chunk's.
    static func trailerSignature(of trailers: [(name: String, value: String)], previous: String, key: HMACKey, claim: SignatureClaim) -> String {
        let canonical = trailers.map { "\($0.name):\($0.value)\n" }.joined()
        let text = [trailerAlgorithm, claim.requestDate, claim.scope, previous, Digest.hex(Digest.sha256(Array(canonical.utf8)))].joined(separator: "\n")
        return Digest.hex(key.authenticate(Array(text.utf8)))
    }

    /// One `name:value` trailer line.
    static func trailer(_ line: ArraySlice<UInt8>) throws(SignatureFailure) -> (name: String, value: String) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
            let name = String(validating: line[..<colon], as: UTF8.self), let value = String(validating: line[(colon + 1)...], as: UTF8.self)
        else { throw .incomplete("The aws-chunked body has a trailer that is not name:value.") }
        return (name.lowercased(), String(value.trimmingSpaces))
    }

    /// `x-amz-decoded-content-length`, when sent, must be the payload's length.
    static func checkDecodedLength(_ payload: [UInt8], _ request: SignableRequest) throws(SignatureFailure) {
        guard let declared = request.header("x-amz-decoded-content-length") else {
            throw .incomplete("An aws-chunked body needs x-amz-decoded-content-length.")
        }
        if Int(declared) != payload.count {
            throw .incomplete("x-amz-decoded-content-length is \(declared), and the decoded body has \(payload.count) bytes.")
        }
    }

    /// Trailers sent are the ones `x-amz-trailer` announced (a comma-separated list), each once.
    static func checkDeclaredTrailers(_ trailers: [(name: String, value: String)], _ request: SignableRequest) throws(SignatureFailure) {
        let declared = Set((request.header("x-amz-trailer") ?? "").split(separator: ",").map { String($0.trimmingSpaces).lowercased() })
        let sent = trailers.map(\.name)
        if let unexpected = sent.first(where: { !declared.contains($0) }) {
            throw .incomplete("The aws-chunked body has the trailer \(unexpected), which x-amz-trailer does not declare.")
        }
        if let missing = declared.sorted().first(where: { !sent.contains($0) }) {
            throw .incomplete("x-amz-trailer declares \(missing), and the aws-chunked body has no such trailer.")
        }
        if Set(sent).count != sent.count { throw .incomplete("The aws-chunked body has a trailer twice.") }
    }

    /// Where the line starting at `start` ends (its CR), if it ends.
    private static func lineEnd(_ body: [UInt8], from start: Int) -> Int? {
        var index = start
        while index + 1 < body.count {
            if body[index] == 13, body[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }
}

extension SigV4Verifier {
    /// An `aws-chunked` body's payload, chunk signatures not checked (what
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER` sends; also the fuzzers' way in).
    public static func decodeChunked(_ body: [UInt8]) throws(SignatureFailure) -> [UInt8] {
        try ChunkedPayload.decode(body, signatures: nil).payload
    }
}
