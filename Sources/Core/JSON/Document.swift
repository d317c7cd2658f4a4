#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A JSON document whose objects keep their members' order, as documents people write are read
/// and written (OpenAPI's `openapi`, `info`, `paths` first), in JSON or in YAML.
public indirect enum Document: Sendable, Equatable, Codable {
    case object([(String, Document)])
    case array([Document])
    case string(String)
    case integer(Int)
    /// A number with a fraction (or too large for an integer), as JSON text gives it.
    case number(Double)
    case bool(Bool)

    /// Coded as its JSON text, so a stored record keeps the document as written (members' order included).
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = Document.parseJSON(Array(text.utf8)) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "Not a JSON document."))
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(json())
    }

    /// Equal when they hold the same values, whatever the order of their objects' members.
    public static func == (lhs: Document, rhs: Document) -> Bool { lhs.canonicalJSON() == rhs.canonicalJSON() }

    /// Compact JSON with every object's members sorted by key: the same text for the same values.
    public func canonicalJSON() -> String {
        switch self {
        case .object(let members): Document.object(members.sorted { $0.0 < $1.0 }.map { ($0.0, Document.sortedMembers($0.1)) }).json()
        default: Document.sortedMembers(self).json()
        }
    }

    private static func sortedMembers(_ value: Document) -> Document {
        switch value {
        case .object(let members): .object(members.sorted { $0.0 < $1.0 }.map { ($0.0, sortedMembers($0.1)) })
        case .array(let items): .array(items.map(sortedMembers))
        default: value
        }
    }

    /// Compact JSON.
    public func json() -> String {
        var out = ""
        writeJSON(into: &out)
        return out
    }

    func writeJSON(into out: inout String) {
        switch self {
        case .object(let members):
            out += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out += "," }
                Self.quote(key, into: &out)
                out += ":"
                value.writeJSON(into: &out)
            }
            out += "}"
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.writeJSON(into: &out)
            }
            out += "]"
        case .string(let text): Self.quote(text, into: &out)
        case .integer(let value): out += String(value)
        case .number(let value): out += value.isFinite ? String(value) : "0"
        case .bool(let flag): out += flag ? "true" : "false"
        }
    }

    static func quote(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// Block-style YAML: mappings and sequences by indentation, strings quoted when they must be.
    public func yaml() -> String {
        var out = ""
        writeYAML(into: &out, indent: 0)
        return out
    }

    private func writeYAML(into out: inout String, indent: Int) {
        let pad = String(repeating: "  ", count: indent)
        switch self {
        case .object(let members):
            for (key, value) in members {
                out += pad + Self.yamlScalar(key) + ":"
                value.writeYAMLValue(into: &out, indent: indent)
            }
        case .array(let items):
            for item in items {
                out += pad + "-"
                switch item {
                case .object(let members) where !members.isEmpty:
                    // The first member on the dash's line, the rest below it.
                    var first = ""
                    Document.object([members[0]]).writeYAML(into: &first, indent: indent + 1)
                    out += " " + first.drop { $0 == " " }
                    Document.object(Array(members.dropFirst())).writeYAML(into: &out, indent: indent + 1)
                default:
                    item.writeYAMLValue(into: &out, indent: indent)
                }
            }
        default:
            out += pad + scalarYAML + "\n"
        }
    }

    private func writeYAMLValue(into out: inout String, indent: Int) {
        switch self {
        case .object(let members) where members.isEmpty: out += " {}\n"
        case .array(let items) where items.isEmpty: out += " []\n"
        case .object, .array:
            out += "\n"
            writeYAML(into: &out, indent: indent + 1)
        default: out += " " + scalarYAML + "\n"
        }
    }

    private var scalarYAML: String {
        switch self {
        case .string(let text): Self.yamlScalar(text)
        case .integer(let value): String(value)
        case .number(let value): String(value)
        case .bool(let flag): flag ? "true" : "false"
        default: ""
        }
    }

    /// A string as YAML: plain when nothing in it could be read as anything else, else quoted.
    static func yamlScalar(_ text: String) -> String {
        let indicators = "-?:,[]{}#&*!|>'\"%@`"
        let plain = !text.isEmpty && !indicators.contains(text.first!) && text.first != " " && text.last != " " && !text.hasSuffix(":")
            && !text.contains(": ") && !text.contains(" #") && text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
            && !["true", "false", "null", "yes", "no", "on", "off", "~"].contains(text.lowercased()) && Double(text) == nil
            // Numbers, dates and times of YAML 1.1 (2024-01-01, 1_000, 12:30) stay strings.
            && !Self.looksNumeric(text)
        if plain { return text }
        var out = ""
        quote(text, into: &out)
        return out
    }

    /// Numbers, dates and times as YAML 1.1 reads them: `2024-01-01`, `1_000`, `12:30`, `+1`.
    static func looksNumeric(_ text: String) -> Bool {
        guard let first = text.first, first.isNumber || first == "+" || first == "." else { return false }
        return text.allSatisfy { "0123456789_.:+-eE".contains($0) }
    }

    // MARK: Reading

    /// The value at a member of an object (nil for other kinds or a missing member).
    public subscript(_ key: String) -> Document? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    public var string: String? {
        switch self {
        case .string(let text): text
        case .integer(let value): String(value)
        case .number(let value): String(value)
        case .bool(let flag): flag ? "true" : "false"
        default: nil
        }
    }

    public var members: [(String, Document)] {
        if case .object(let members) = self { return members }
        return []
    }

    public var items: [Document] {
        if case .array(let items) = self { return items }
        return []
    }

    /// Parses JSON text, keeping members in order (nulls are left out, as absent members).
    public static func parseJSON(_ bytes: [UInt8]) -> Document? {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else { return nil }
        // JSONValue's objects forget the order: read the members' order from the text itself.
        return Document(value, order: KeyOrder(bytes))
    }

    init?(_ value: JSONValue, order: KeyOrder) {
        switch value {
        case .object(let fields):
            var members: [(String, Document)] = []
            for key in order.sorted(Array(fields.keys)) {
                guard let field = fields[key], field != .null else { continue }
                guard let document = Document(field, order: order) else { return nil }
                members.append((key, document))
            }
            self = .object(members)
        case .array(let values):
            self = .array(values.compactMap { Document($0, order: order) })
        case .string(let text): self = .string(text)
        case .bool(let flag): self = .bool(flag)
        case .number(let number):
            if number == number.rounded(), abs(number) < 1e15 { self = .integer(Int(number)) } else { self = .number(number) }
        case .null: return nil
        }
    }
}

/// Where each object key first appears in a JSON text, so members can be listed in that order.
struct KeyOrder {
    private var positions: [String: Int] = [:]

    init(_ bytes: [UInt8]) {
        // Every string followed by a colon is a key; its first position orders it.
        var index = 0
        var position = 0
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "\"") else {
                index += 1
                continue
            }
            var end = index + 1
            while end < bytes.count, bytes[end] != UInt8(ascii: "\"") { end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1 }
            var after = end + 1
            while after < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[after]) { after += 1 }
            if after < bytes.count, bytes[after] == UInt8(ascii: ":"), end <= bytes.count,
                let key = try? JSONDecoder().decode(String.self, from: Data(bytes[index...min(end, bytes.count - 1)])),
                positions[key] == nil
            {
                positions[key] = position
                position += 1
            }
            index = end + 1
        }
    }

    func sorted(_ keys: [String]) -> [String] {
        keys.sorted { (positions[$0] ?? Int.max, $0) < (positions[$1] ?? Int.max, $1) }
    }
}
