#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// What a GET or HEAD answers given its conditions and range: decided from the object's record
/// alone, before any byte is read.
public enum ObjectReads {
    /// The request's conditional headers (`If-Match`, `If-None-Match`, `If-Modified-Since`,
    /// `If-Unmodified-Since`; dates as seconds since 1970).
    public struct Conditions: Sendable, Equatable {
        public var ifMatch: String?
        public var ifNoneMatch: String?
        public var ifModifiedSince: Int64?
        public var ifUnmodifiedSince: Int64?

        public init(ifMatch: String? = nil, ifNoneMatch: String? = nil, ifModifiedSince: Int64? = nil, ifUnmodifiedSince: Int64? = nil) {
            self.ifMatch = ifMatch
            self.ifNoneMatch = ifNoneMatch
            self.ifModifiedSince = ifModifiedSince
            self.ifUnmodifiedSince = ifUnmodifiedSince
        }
    }

    public enum Verdict: Sendable, Equatable {
        case proceed
        /// 304, no body.
        case notModified
        /// 412 PreconditionFailed.
        case preconditionFailed
    }

    /// S3's rules (RFC 7232's, with its precedence): If-Match decides over If-Unmodified-Since,
    /// If-None-Match over If-Modified-Since; a failed If-Match is 412 before anything is 304.
    public static func evaluate(_ conditions: Conditions, etag: String, lastModified: Date) -> Verdict {
        let modified = Int64(lastModified.timeIntervalSince1970.rounded(.down))
        if let ifMatch = conditions.ifMatch {
            if !matches(ifMatch, etag: etag) { return .preconditionFailed }
        } else if let since = conditions.ifUnmodifiedSince, modified > since {
            return .preconditionFailed
        }
        if let ifNoneMatch = conditions.ifNoneMatch {
            if matches(ifNoneMatch, etag: etag) { return .notModified }
        } else if let since = conditions.ifModifiedSince, modified <= since {
            return .notModified
        }
        return .proceed
    }

    /// An entity-tag list (`"a", "b"`, `*`, weak tags compared by their value) holds `etag`.
    static func matches(_ header: String, etag: String) -> Bool {
        for candidate in header.split(separator: ",") {
            var tag = candidate.trimmingWhitespace
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag = String(tag.dropFirst(2)) }
            if S3State.unquoted(tag) == etag { return true }
        }
        return false
    }

    /// The bytes a `Range` header asks for, if it asks for one S3 serves: `bytes=a-b`, `bytes=a-`,
    /// `bytes=-n`. A header S3 would ignore (another unit, several ranges, bad syntax) is nil:
    /// the whole object is answered. A range past the end is InvalidRange.
    public static func range(_ header: String?, size: Int) throws(AWSError) -> ClosedRange<Int>? {
        guard let header, header.hasPrefix("bytes=") else { return nil }
        let spec = header.dropFirst("bytes=".count).trimmingWhitespace
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash]
        let last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            guard let suffix = Int(last), suffix >= 0 else { return nil }
            guard suffix > 0, size > 0 else { throw S3Error.invalidRange(size: size, range: header) }
            return max(0, size - suffix)...(size - 1)
        }
        guard let start = Int(first), start >= 0 else { return nil }
        let end: Int
        if last.isEmpty {
            end = size - 1
        } else {
            guard let value = Int(last), value >= start else { return nil }
            end = min(value, size - 1)
        }
        guard start < size else { throw S3Error.invalidRange(size: size, range: header) }
        return start...end
    }

    /// The headers describing an object (for GET and HEAD), the `response-*` overrides applied.
    public static func headers(_ object: ObjectRecord, overrides: [String: String] = [:]) -> [(String, String)] {
        var headers: [(String, String)] = [
            ("ETag", S3XML.quoted(object.etag)), ("Last-Modified", S3XML.httpDate(object.lastModified)), ("Accept-Ranges", "bytes"),
        ]
        let attributes = object.attributes
        let described: [(String, String, String?)] = [
            ("Content-Type", "response-content-type", attributes.contentType ?? "binary/octet-stream"),
            ("Content-Encoding", "response-content-encoding", attributes.contentEncoding),
            ("Content-Disposition", "response-content-disposition", attributes.contentDisposition),
            ("Content-Language", "response-content-language", attributes.contentLanguage),
            ("Cache-Control", "response-cache-control", attributes.cacheControl),
            ("Expires", "response-expires", attributes.expires),
        ]
        for (name, override, value) in described {
            if let value = overrides[override] ?? value { headers.append((name, value)) }
        }
        for (name, value) in attributes.metadata.sorted(by: { $0.key < $1.key }) { headers.append(("x-amz-meta-" + name, value)) }
        if !object.tags.isEmpty { headers.append(("x-amz-tagging-count", String(object.tags.count))) }
        return headers
    }
}
