/// What a request says about its signature: from an `Authorization: AWS4-HMAC-SHA256 …` header or
/// from the query string of a presigned URL (`X-Amz-Algorithm`, `X-Amz-Credential`, …).
public struct SignatureClaim: Sendable, Equatable {
    public var accessKeyId: String
    /// The credential scope's `yyyyMMdd`, region and service.
    public var scopeDate: String
    public var region: String
    public var service: String
    /// Lower-case header names, in the order given (sorted, as the signer sorts them).
    public var signedHeaders: [String]
    /// Hex, as sent.
    public var signature: String
    /// `yyyyMMdd'T'HHmmss'Z'` from `X-Amz-Date` (or the presigned `X-Amz-Date`).
    public var requestDate: String
    /// A presigned URL's `X-Amz-Expires` (seconds); nil for a signed header.
    public var expires: Int?
    public var presigned: Bool { expires != nil }

    public var scope: String { "\(scopeDate)/\(region)/\(service)/aws4_request" }
}

extension SignatureClaim {
    static let algorithm = "AWS4-HMAC-SHA256"

    /// Reads the claim of a request; nil if it carries no signature at all (no `Authorization`
    /// header and no `X-Amz-Algorithm` parameter), a failure if what it carries is incomplete.
    static func read(_ request: SignableRequest) throws(SignatureFailure) -> SignatureClaim? {
        if let authorization = request.header("authorization") {
            return try fromHeader(authorization, request: request)
        }
        let query = QueryParameters(request.query)
        guard query.first("X-Amz-Algorithm") != nil else { return nil }
        return try fromQuery(query)
    }

    private static func fromHeader(_ authorization: String, request: SignableRequest) throws(SignatureFailure) -> SignatureClaim {
        // Read at the byte level: this runs on every signed request.
        var text = authorization
        let parts = text.withUTF8 { bytes in headerParts(bytes) }
        guard let (credential, signature, signedHeaders) = parts else {
            let trimmed = authorization.trimmingSpaces
            if trimmed.hasPrefix("AWS4-") || trimmed.hasPrefix("AWS ") {
                throw .incomplete("Unsupported AWS 'algorithm': '\(trimmed.prefix { $0 != " " })'")
            }
            throw .incomplete("Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=\(trimmed)")
        }
        let date = request.header("x-amz-date")
        var missing = ""
        if credential == nil { missing += "Authorization header requires 'Credential' parameter. " }
        if signature == nil { missing += "Authorization header requires 'Signature' parameter. " }
        if signedHeaders == nil { missing += "Authorization header requires 'SignedHeaders' parameter. " }
        if date == nil, request.header("date") == nil {
            missing += "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        }
        guard missing.isEmpty, let credential, let signature, let signedHeaders else {
            throw .incomplete(missing + "Authorization=\(authorization.trimmingSpaces)")
        }
        let requestDate: String
        if let date {
            requestDate = try checkedDate(date)
        } else {
            requestDate = try httpDate(request.header("date") ?? "")
        }
        return try claim(
            credential: credential, signedHeaders: signedHeaders, signature: signature, requestDate: requestDate, expires: nil)
    }

    /// `Credential`, `Signature` and `SignedHeaders` of `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
    /// Signature=…` (spaces around the header and its parts ignored); nil when it does not start
    /// with the algorithm.
    private static func headerParts(_ bytes: UnsafeBufferPointer<UInt8>) -> (String?, String?, String?)? {
        func isSpace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        func equals(_ start: Int, _ end: Int, _ literal: StaticString) -> Bool {
            guard end - start == literal.utf8CodeUnitCount else { return false }
            for offset in 0..<(end - start) where bytes[start + offset] != literal.utf8Start[offset] { return false }
            return true
        }
        var start = 0
        var end = bytes.count
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        let prefix: StaticString = "AWS4-HMAC-SHA256 "
        guard end - start >= prefix.utf8CodeUnitCount, equals(start, start + prefix.utf8CodeUnitCount, prefix) else { return nil }
        var credential: String?
        var signature: String?
        var signedHeaders: String?
        var index = start + prefix.utf8CodeUnitCount
        while index <= end {
            var partEnd = index
            while partEnd < end, bytes[partEnd] != UInt8(ascii: ",") { partEnd += 1 }
            var (first, last) = (index, partEnd)
            while first < last, isSpace(bytes[first]) { first += 1 }
            while last > first, isSpace(bytes[last - 1]) { last -= 1 }
            var equalsSign = first
            while equalsSign < last, bytes[equalsSign] != UInt8(ascii: "=") { equalsSign += 1 }
            if equalsSign < last {
                let value = String(decoding: UnsafeBufferPointer(rebasing: bytes[(equalsSign + 1)..<last]), as: UTF8.self)
                if equals(first, equalsSign, "Credential") {
                    credential = value
                } else if equals(first, equalsSign, "Signature") {
                    signature = value
                } else if equals(first, equalsSign, "SignedHeaders") {
                    signedHeaders = value
                }
            }
            index = partEnd + 1
        }
        return (credential, signature, signedHeaders)
    }

    private static func fromQuery(_ query: QueryParameters) throws(SignatureFailure) -> SignatureClaim {
        guard query.first("X-Amz-Algorithm") == algorithm else {
            throw .incomplete("Unsupported AWS 'algorithm': '\(query.first("X-Amz-Algorithm") ?? "")'")
        }
        var missing = ""
        for name in ["X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date", "X-Amz-Expires"] where query.first(name) == nil {
            missing += "AWS query-string parameters must include '\(name)'. "
        }
        guard missing.isEmpty, let credential = query.first("X-Amz-Credential"), let signature = query.first("X-Amz-Signature"),
            let signedHeaders = query.first("X-Amz-SignedHeaders"), let date = query.first("X-Amz-Date"),
            let expiresText = query.first("X-Amz-Expires")
        else { throw .incomplete(missing + "Re-examine the query-string parameters.") }
        guard let expires = Int(expiresText), (1...604_800).contains(expires) else {
            throw .incomplete("X-Amz-Expires must be a whole number of seconds from 1 to 604800; got '\(expiresText)'.")
        }
        return try claim(
            credential: credential, signedHeaders: signedHeaders, signature: signature, requestDate: try checkedDate(date), expires: expires)
    }

    private static func claim(
        credential: String, signedHeaders: String, signature: String, requestDate: String, expires: Int?
    ) throws(SignatureFailure) -> SignatureClaim {
        let scope = fields(credential, separator: UInt8(ascii: "/"))
        // Region and service are names (at most 64 of [a-z0-9-]): derived keys are kept per scope.
        let isName = { (text: String) in
            (1...64).contains(text.utf8.count) && text.utf8.allSatisfy { $0 &- 97 < 26 || $0 &- 48 < 10 || $0 == UInt8(ascii: "-") }
        }
        guard scope.count == 5, !scope[0].isEmpty, scope[0].utf8.count <= 128, isName(scope[2]), isName(scope[3]), scope[4] == "aws4_request" else {
            throw .incomplete("Credential should be scoped to a valid region. ")
        }
        guard scope[1].utf8.elementsEqual(requestDate.utf8.prefix(8)) else {
            throw .incomplete(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '\(scope[1])' != '\(requestDate.prefix(8))', from '\(requestDate)'.")
        }
        var headers: [String] = []
        for name in fields(signedHeaders, separator: UInt8(ascii: ";")) where !name.isEmpty {
            // SDKs send them in lower case already.
            headers.append(name.utf8.contains { $0 &- 65 < 26 } ? String(decoding: name.utf8.map { $0 &- 65 < 26 ? $0 | 0x20 : $0 }, as: UTF8.self) : name)
        }
        guard !headers.isEmpty else { throw .incomplete("Authorization header requires 'SignedHeaders' parameter. ") }
        guard headers.contains("host") else { throw .incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.") }
        return SignatureClaim(
            accessKeyId: scope[0], scopeDate: scope[1], region: scope[2], service: scope[3], signedHeaders: headers, signature: signature,
            requestDate: requestDate, expires: expires)
    }

    /// The runs of `text` between separators, empty ones included (read at the byte level).
    private static func fields(_ text: String, separator: UInt8) -> [String] {
        var text = text
        return text.withUTF8 { bytes in
            var result: [String] = []
            result.reserveCapacity(8)
            var start = 0
            for index in 0...bytes.count where index == bytes.count || bytes[index] == separator {
                result.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
                start = index + 1
            }
            return result
        }
    }

    /// An ISO-8601 basic date-time (`20150830T123600Z`).
    static func checkedDate(_ text: String) throws(SignatureFailure) -> String {
        // The digits are checked as the time is read.
        var copy = text
        let shaped = copy.withUTF8 { $0.count == 16 && $0[8] == UInt8(ascii: "T") && $0[15] == UInt8(ascii: "Z") }
        guard shaped, SigningTime.seconds(text) != nil else {
            throw .incomplete("Date must be in ISO-8601 'basic format'. Got '\(text)'. See http://en.wikipedia.org/wiki/ISO_8601")
        }
        return text
    }

    /// A `Date` header (RFC 7231, `Sun, 30 Aug 2015 12:36:00 GMT`) as an ISO-8601 basic date-time.
    static func httpDate(_ text: String) throws(SignatureFailure) -> String {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), let month = months.firstIndex(of: String(parts[2])),
            let year = Int(parts[3])
        else { throw .incomplete("Date must be in ISO-8601 'basic format'. Got '\(text)'. See http://en.wikipedia.org/wiki/ISO_8601") }
        let time = parts[4].split(separator: ":").compactMap { Int($0) }
        guard time.count == 3 else { throw .incomplete("Date must be in ISO-8601 'basic format'. Got '\(text)'. See http://en.wikipedia.org/wiki/ISO_8601") }
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return try checkedDate("\(year)\(two(month + 1))\(two(day))T\(two(time[0]))\(two(time[1]))\(two(time[2]))Z")
    }
}

extension StringProtocol {
    var trimmingSpaces: Substring {
        let text = Substring(self)
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = text.utf8.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = text.utf8.lastIndex(where: { !isSpace($0) })!
        // Past the last byte kept: always the start of a scalar, even after a multi-byte one.
        return text[first..<text.utf8.index(after: last)]
    }
}
