#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSProtocols
import StevedoreCore

/// An element of the small XML documents S3 requests carry (CreateBucketConfiguration, Delete,
/// CompleteMultipartUpload, Tagging): names without namespace prefixes, attributes ignored.
public struct XMLNode: Sendable, Equatable {
    public var name: String
    public var children: [XMLNode] = []
    public var text = ""

    public init(name: String, children: [XMLNode] = [], text: String = "") {
        self.name = name
        self.children = children
        self.text = text
    }

    public func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    public func all(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }
    public func value(_ name: String) -> String? { child(name)?.text }

    /// Parses a document; nil for anything that is not well-formed (MalformedXML to the caller).
    public static func parse(_ bytes: [UInt8]) -> XMLNode? {
        var parser = MiniXMLParser(bytes: bytes)
        return parser.document()
    }
}

/// Just enough XML: a declaration, comments, elements, attributes (skipped), text with the five
/// entities and character references, CDATA. No DTDs (an entity declaration is refused, so no
/// expansion bombs).
struct MiniXMLParser {
    let bytes: [UInt8]
    var index = 0
    var depth = 0
    /// S3's documents nest four deep; anything past this is refused rather than recursed into.
    static let maximumDepth = 16

    mutating func document() -> XMLNode? {
        skipMisc()
        guard let root = element() else { return nil }
        skipMisc()
        return index == bytes.count ? root : nil
    }

    private mutating func skipMisc() {
        while true {
            skipSpace()
            if starts("<?") {
                guard let end = find("?>") else { index = bytes.count + 1; return }
                index = end + 2
            } else if starts("<!--") {
                guard let end = find("-->") else { index = bytes.count + 1; return }
                index = end + 3
            } else {
                return
            }
        }
    }

    private mutating func element() -> XMLNode? {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth, index < bytes.count, bytes[index] == UInt8(ascii: "<") else { return nil }
        index += 1
        guard let name = readName() else { return nil }
        // Attributes: skipped up to the tag's end (quoted values may hold '>').
        var quote: UInt8?
        while index < bytes.count {
            let byte = bytes[index]
            if let open = quote {
                if byte == open { quote = nil }
            } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                quote = byte
            } else if byte == UInt8(ascii: ">") || byte == UInt8(ascii: "/") {
                break
            }
            index += 1
        }
        guard index < bytes.count else { return nil }
        var node = XMLNode(name: Self.local(name))
        if bytes[index] == UInt8(ascii: "/") {
            guard index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: ">") else { return nil }
            index += 2
            return node
        }
        index += 1
        var text: [UInt8] = []
        while index < bytes.count {
            if starts("</") {
                index += 2
                guard let closing = readName(), closing == name else { return nil }
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ">") else { return nil }
                index += 1
                guard let decoded = String(validating: text, as: UTF8.self) else { return nil }
                node.text = node.children.isEmpty ? decoded : decoded.trimmingWhitespace
                return node
            } else if starts("<![CDATA[") {
                guard let end = find("]]>") else { return nil }
                text += bytes[(index + 9)..<end]
                index = end + 3
            } else if starts("<!--") {
                guard let end = find("-->") else { return nil }
                index = end + 3
            } else if starts("<!") || starts("<?") {
                return nil
            } else if bytes[index] == UInt8(ascii: "<") {
                guard let child = element() else { return nil }
                node.children.append(child)
            } else if bytes[index] == UInt8(ascii: "&") {
                guard let decoded = entity() else { return nil }
                text += decoded
            } else {
                text.append(bytes[index])
                index += 1
            }
        }
        return nil
    }

    private mutating func entity() -> [UInt8]? {
        guard let end = bytes[index...].firstIndex(of: UInt8(ascii: ";")), end - index <= 10 else { return nil }
        let name = String(decoding: bytes[(index + 1)..<end], as: UTF8.self)
        index = end + 1
        switch name {
        case "amp": return [UInt8(ascii: "&")]
        case "lt": return [UInt8(ascii: "<")]
        case "gt": return [UInt8(ascii: ">")]
        case "quot": return [UInt8(ascii: "\"")]
        case "apos": return [UInt8(ascii: "'")]
        default:
            let scalar: UInt32? =
                name.hasPrefix("#x") ? UInt32(name.dropFirst(2), radix: 16) : name.hasPrefix("#") ? UInt32(name.dropFirst(), radix: 10) : nil
            guard let scalar, let unicode = Unicode.Scalar(scalar) else { return nil }
            return Array(String(Character(unicode)).utf8)
        }
    }

    private mutating func readName() -> String? {
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "\t")
                || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
            {
                break
            }
            index += 1
        }
        return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
    }

    /// `s3:Key` → `Key`.
    private static func local(_ name: String) -> String {
        name.lastIndex(of: ":").map { String(name[name.index(after: $0)...]) } ?? name
    }

    private mutating func skipSpace() {
        while index < bytes.count, [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r")].contains(bytes[index]) { index += 1 }
    }

    private func starts(_ literal: String) -> Bool {
        let utf8 = Array(literal.utf8)
        return index + utf8.count <= bytes.count && Array(bytes[index..<(index + utf8.count)]) == utf8
    }

    private func find(_ literal: String) -> Int? {
        let utf8 = Array(literal.utf8)
        var position = index
        while position + utf8.count <= bytes.count {
            if bytes[position] == utf8[0], Array(bytes[position..<(position + utf8.count)]) == utf8 { return position }
            position += 1
        }
        return nil
    }
}

// MARK: Answers

/// S3's XML answers, in its namespace.
public enum S3XML {
    public static let namespace = "http://s3.amazonaws.com/doc/2006-03-01/"
    static let declaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

    public static func document(_ root: String, _ body: (inout XMLWriter) -> Void) -> [UInt8] {
        var xml = XMLWriter()
        xml.element(root, attributes: "xmlns=\"\(namespace)\"", body)
        return Array((declaration + xml.text).utf8)
    }

    /// `<Error>` with the code, message, S3's extra elements, the resource and the request id.
    public static func error(_ error: AWSError, resource: String, requestId: String) -> [UInt8] {
        var xml = XMLWriter()
        xml.element("Error") { xml in
            xml.element("Code", error.type)
            xml.element("Message", error.message)
            for (name, value) in error.extraFields.sorted(by: { $0.key < $1.key }) { xml.element(name, value) }
            xml.element("Resource", resource)
            xml.element("RequestId", requestId)
            xml.element("HostId", hostId(requestId))
        }
        return Array((declaration + xml.text).utf8)
    }

    /// S3 answers an extended request id beside the request id; here a stable derivation of it.
    public static func hostId(_ requestId: String) -> String {
        Data((requestId + "/stevedore").utf8).base64EncodedString()
    }

    public static func timestamp(_ date: Date) -> String {
        CivilCalendar.iso8601(millisecondsSince1970: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }

    /// `Last-Modified` as HTTP writes dates.
    public static func httpDate(_ date: Date) -> String {
        HTTPDate.format(secondsSince1970: Int64(date.timeIntervalSince1970.rounded(.down)))
    }

    public static func quoted(_ etag: String) -> String { "\"" + etag + "\"" }

    public static func listBuckets(_ buckets: [BucketRecord], owner: String) -> [UInt8] {
        document("ListAllMyBucketsResult") { xml in
            xml.element("Owner") { xml in
                xml.element("ID", owner)
                xml.element("DisplayName", "stevedore")
            }
            xml.element("Buckets") { xml in
                for bucket in buckets {
                    xml.element("Bucket") { xml in
                        xml.element("Name", bucket.name)
                        xml.element("CreationDate", timestamp(bucket.created))
                    }
                }
            }
        }
    }

    public static func objectEntry(_ object: ObjectRecord, owner: String?, into xml: inout XMLWriter) {
        xml.element("Contents") { xml in
            xml.element("Key", object.key)
            xml.element("LastModified", timestamp(object.lastModified))
            xml.element("ETag", quoted(object.etag))
            if let checksum = object.checksum {
                xml.element("ChecksumAlgorithm", checksum.algorithm)
                xml.element("ChecksumType", checksum.type)
            }
            xml.element("Size", String(object.size))
            if let owner {
                xml.element("Owner") { xml in
                    xml.element("ID", owner)
                    xml.element("DisplayName", "stevedore")
                }
            }
            xml.element("StorageClass", "STANDARD")
        }
    }

    public static func tagging(_ tags: [S3Tag]) -> [UInt8] {
        document("Tagging") { xml in
            xml.element("TagSet") { xml in
                for tag in tags {
                    xml.element("Tag") { xml in
                        xml.element("Key", tag.key)
                        xml.element("Value", tag.value)
                    }
                }
            }
        }
    }

    /// The tags of a `<Tagging><TagSet><Tag>` body, or MalformedXML.
    public static func parseTagging(_ body: [UInt8]) throws(AWSError) -> [S3Tag] {
        guard let root = XMLNode.parse(body), root.name == "Tagging", let set = root.child("TagSet") else { throw S3Error.malformedXML }
        var tags: [S3Tag] = []
        for tag in set.all("Tag") {
            guard let key = tag.value("Key") else { throw S3Error.malformedXML }
            tags.append(S3Tag(key: key, value: tag.value("Value") ?? ""))
        }
        return tags
    }

    /// `x-amz-tagging: k1=v1&k2=v2` (URL-encoded).
    public static func parseTaggingHeader(_ header: String) -> [S3Tag] {
        header.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            // Form encoding: `+` is a space.
            let decode = { (text: Substring) in PercentEncoding.decode(Substring(String(text.map { $0 == "+" ? " " : $0 }))) }
            return S3Tag(key: decode(parts[0]), value: parts.count > 1 ? decode(parts[1]) : "")
        }
    }
}
