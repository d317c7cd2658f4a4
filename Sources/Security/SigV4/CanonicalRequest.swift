import Archives

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
    func header(_ lowerCaseName: String) -> String? {
        var values: [String] = []
        for (name, value) in headers where name.lowercased() == lowerCaseName { values.append(value) }
        return values.isEmpty ? nil : values.joined(separator: ",")
    }
}

/// SigV4's canonical request and string to sign, shared by the verifier and the signer.
enum CanonicalRequest {
    static let emptyPayloadHash = Digest.hex(Digest.sha256([UInt8]()))

    static func text(_ request: SignableRequest, signedHeaders: [String], payloadHash: String, excludingQuery excluded: String?) -> String {
        var lines: [String] = [request.method.uppercased(), path(request.path), QueryParameters(request.query).canonical(excluding: excluded)]
        var headerLines = ""
        for name in signedHeaders {
            let values = request.headers.filter { $0.name.lowercased() == name }.map { collapsingSpaces($0.value) }
            headerLines += "\(name):\(values.joined(separator: ","))\n"
        }
        lines.append(headerLines)
        lines.append(signedHeaders.joined(separator: ";"))
        lines.append(payloadHash)
        return lines.joined(separator: "\n")
    }

    static func stringToSign(_ canonical: String, claim: SignatureClaim) -> String {
        [SignatureClaim.algorithm, claim.requestDate, claim.scope, Digest.hex(Digest.sha256(Array(canonical.utf8)))].joined(separator: "\n")
    }

    /// The path with dot segments removed, each byte outside the unreserved set and `/` encoded
    /// again (the path is already encoded once: every AWS service but S3 signs it encoded twice).
    static func path(_ raw: String) -> String {
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

    /// Leading and trailing spaces trimmed, inner runs of spaces made one.
    static func collapsingSpaces(_ value: String) -> String {
        var result = ""
        var lastWasSpace = false
        for character in value.trimmingSpaces {
            if character == " " || character == "\t" {
                if !lastWasSpace { result.append(" ") }
                lastWasSpace = true
            } else {
                result.append(character)
                lastWasSpace = false
            }
        }
        return result
    }
}

/// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters as they are, every other
/// byte `%XX` in upper case.
enum PercentEncoding {
    static func encode(_ text: String, keepingSlashes: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                bytes.append(byte)
            case UInt8(ascii: "/") where keepingSlashes:
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0f)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `%XX` sequences decoded (a malformed one is kept as it is); `+` stays `+`.
    static func decode(_ text: Substring) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        let utf8 = Array(text.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "%"), index + 2 < utf8.count, let high = hexValue(utf8[index + 1]), let low = hexValue(utf8[index + 2]) {
                bytes.append(high << 4 | low)
                index += 3
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
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
