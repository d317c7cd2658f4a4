import Archives
import StevedoreCore

/// A request as the signature covers it: the method, the path and query exactly as they came on
/// the wire (still percent-encoded), the headers, and the body.
public struct SignableRequest: Sendable {
    public var method: String
    /// The raw path, e.g. `/2015-03-31/functions/arn%3Aaws%3A…/invocations`.
    public var path: String
    /// The raw query string without `?` (empty when there is none).
    public var query: String
    /// Header names in any case; a name may repeat.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, path: String, query: String = "", headers: [(name: String, value: String)], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The values of a header (any case) joined by commas, as SigV4 canonicalises them.
    public func header(_ lowerCaseName: String) -> String? {
        var found: String?
        // Through the buffer: iterating the tuples retains and releases both strings of each.
        headers.withUnsafeBufferPointer { headers in
            for index in headers.indices where ASCII.equalsIgnoringCase(headers[index].name, lowerCaseName) {
                found = found.map { $0 + "," + headers[index].value } ?? headers[index].value
            }
        }
        return found
    }
}

/// Byte-level text helpers: signatures are checked on every request, and Character-level string
/// work (grapheme breaking, Unicode case mapping) cost more than the hashing.
enum ASCII {
    /// `name` equals `lowerCase` (already lower case) ignoring the case of ASCII letters.
    static func equalsIgnoringCase(_ name: String, _ lowerCase: String) -> Bool {
        guard name.utf8.count == lowerCase.utf8.count else { return false }
        var name = name
        var lowerCase = lowerCase
        return name.withUTF8 { name in
            lowerCase.withUTF8 { lower in
                for index in 0..<name.count where (name[index] &- 65 < 26 ? name[index] | 0x20 : name[index]) != lower[index] { return false }
                return true
            }
        }
    }
}

/// SigV4's canonical request and string to sign, shared by the verifier and the signer.
enum CanonicalRequest {
    static let emptyPayloadHash = Digest.hex(Digest.sha256([UInt8]()))

    static func text(
        _ request: SignableRequest, signedHeaders: [String], payloadHash: String, excludingQuery excluded: String?, encodePathTwice: Bool = true
    ) -> String {
        String(
            decoding: bytes(request, signedHeaders: signedHeaders, payloadHash: payloadHash, excludingQuery: excluded, encodePathTwice: encodePathTwice),
            as: UTF8.self)
    }

    /// The canonical request: method, path, query, each signed header's `name:values`, the signed
    /// header names and the payload's hash, one per line.
    static func bytes(
        _ request: SignableRequest, signedHeaders: [String], payloadHash: String, excludingQuery excluded: String?, encodePathTwice: Bool = true
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + request.headers.count * 48)
        out += request.method.utf8.map { $0 &- 97 < 26 ? $0 & 0xdf : $0 }
        out.append(newline)
        out += (encodePathTwice ? path(request.path) : s3Path(request.path)).utf8
        out.append(newline)
        if !request.query.isEmpty { out += QueryParameters(request.query).canonical(excluding: excluded).utf8 }
        out.append(newline)
        request.headers.withUnsafeBufferPointer { headers in
            for name in signedHeaders {
                out += name.utf8
                out.append(UInt8(ascii: ":"))
                var first = true
                for index in headers.indices where ASCII.equalsIgnoringCase(headers[index].name, name) {
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    appendCollapsingSpaces(headers[index].value, to: &out)
                }
                out.append(newline)
            }
        }
        out.append(newline)
        for (index, name) in signedHeaders.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ";")) }
            out += name.utf8
        }
        out.append(newline)
        out += payloadHash.utf8
        return out
    }

    private static let newline = UInt8(ascii: "\n")

    static func stringToSign(_ canonical: String, claim: SignatureClaim) -> String {
        String(decoding: stringToSign(Array(canonical.utf8), claim: claim), as: UTF8.self)
    }

    static func stringToSign(_ canonical: [UInt8], claim: SignatureClaim, scope: String? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160)
        out += SignatureClaim.algorithm.utf8
        out.append(newline)
        out += claim.requestDate.utf8
        out.append(newline)
        out += (scope ?? claim.scope).utf8
        out.append(newline)
        canonical.withUnsafeBytes { Digest.appendSHA256Hex(of: $0, to: &out) }
        return out
    }

    /// The path with dot segments removed, each byte outside the unreserved set and `/` encoded
    /// again (the path is already encoded once: every AWS service but S3 signs it encoded twice).
    static func path(_ raw: String) -> String {
        // Most paths are already canonical: unreserved bytes between single slashes, no dot segments.
        var previous: UInt8 = 0
        let plain = raw.utf8.first == UInt8(ascii: "/") && raw.utf8.allSatisfy { byte in
            defer { previous = byte }
            if byte == UInt8(ascii: "/") { return previous != UInt8(ascii: "/") }
            return byte != UInt8(ascii: ".") && PercentEncoding.isUnreserved(byte)
        }
        if plain { return raw }
        var segments: [Substring] = []
        let parts = raw.split(separator: "/", omittingEmptySubsequences: false)
        for (index, segment) in parts.enumerated() {
            if segment == "." { continue }
            if segment == ".." {
                if segments.count > 1 { segments.removeLast() }
                continue
            }
            if segment.isEmpty, index != 0, index != parts.count - 1 { continue }
            segments.append(segment)
        }
        var normalized = segments.joined(separator: "/")
        if !normalized.hasPrefix("/") { normalized = "/" + normalized }
        if (raw.hasSuffix("/.") || raw.hasSuffix("/..")), !normalized.hasSuffix("/") { normalized += "/" }
        return PercentEncoding.encode(normalized, keepingSlashes: true)
    }

    /// S3's canonical path: encoded once, strictly, and not normalized (`a//b` and `./` are keys'
    /// own bytes there).
    static func s3Path(_ raw: String) -> String {
        let path = raw.isEmpty ? "/" : raw
        return PercentEncoding.encode(PercentEncoding.decode(path[...]), keepingSlashes: true)
    }

    /// Leading and trailing spaces trimmed, inner runs of spaces made one.
    static func collapsingSpaces(_ value: String) -> String {
        var out: [UInt8] = []
        appendCollapsingSpaces(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendCollapsingSpaces(_ value: String, to out: inout [UInt8]) {
        var value = value
        value.withUTF8 { appendCollapsingSpaces($0, to: &out) }
    }

    private static func appendCollapsingSpaces(_ value: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var pendingSpace = false
        var wroteAny = false
        for byte in value {
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                pendingSpace = wroteAny
            } else {
                if pendingSpace { out.append(UInt8(ascii: " ")) }
                pendingSpace = false
                wroteAny = true
                out.append(byte)
            }
        }
    }
}

/// A raw query string's parameters, decoded.
struct QueryParameters {
    var pairs: [(name: String, value: String)] = []

    init(_ query: String) {
        for item in query.split(separator: "&") where !item.isEmpty {
            let equals = item.firstIndex(of: "=")
            let name = PercentEncoding.decode(equals.map { item[..<$0] } ?? item)
            let value = equals.map { PercentEncoding.decode(item[item.index(after: $0)...]) } ?? ""
            pairs.append((name, value))
        }
    }

    func first(_ name: String) -> String? { pairs.first { $0.name == name }?.value }

    /// Encoded again strictly and sorted by name, then value (the presigned signature left out).
    func canonical(excluding excluded: String?) -> String {
        var encoded: [(name: String, value: String)] = []
        for pair in pairs where pair.name != excluded {
            encoded.append((PercentEncoding.encode(pair.name, keepingSlashes: false), PercentEncoding.encode(pair.value, keepingSlashes: false)))
        }
        encoded.sort { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        return encoded.map { pair in pair.name + "=" + pair.value }.joined(separator: "&")
    }
}
