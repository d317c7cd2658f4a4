import Athena
import Foundation

/// A value as SQLite gets it from a table: typed by its column's declared type.
enum FieldValue: Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
}

/// How a column's text becomes a value: Athena's types, as SQLite holds them.
enum ColumnKind {
    case integer, real, boolean, text, decimal, timestamp, date

    init(athenaType type: String) {
        let base = type.prefix { $0.isLetter }
        switch base {
        case "tinyint", "smallint", "int", "integer", "bigint": self = .integer
        case "double", "float", "real": self = .real
        case "decimal": self = .decimal
        case "boolean": self = .boolean
        case "timestamp": self = .timestamp
        case "date": self = .date
        default: self = .text
        }
    }

    static func trimmed(_ text: Substring) -> Substring {
        var text = text
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " || text.last == "\t" { text = text.dropLast() }
        return text
    }

    /// Text read from a file as this kind; what does not parse is NULL, as the SerDes read it.
    func value(_ text: Substring) -> FieldValue {
        switch self {
        case .text:
            return .text(String(text))
        case .integer:
            return Int64(Self.trimmed(text)).map(FieldValue.integer) ?? .null
        case .real, .decimal:
            return Double(Self.trimmed(text)).map(FieldValue.real) ?? .null
        case .timestamp:
            // Held as Athena prints them (`2024-05-01 12:30:00.000`), so they sort and compare as text.
            return Timestamp(String(Self.trimmed(text))).map { .text($0.text) } ?? .null
        case .date:
            return Timestamp(String(Self.trimmed(text))).map { .text($0.dateText) } ?? .null
        case .boolean:
            switch text.lowercased() {
            case "true": return .integer(1)
            case "false": return .integer(0)
            default: return .null
            }
        }
    }
}

/// A line of a table's object, split into its columns' values as the table's SerDe reads it.
struct RowDecoder {
    let format: TableFormat
    let columns: [ColumnDefinition]
    let kinds: [ColumnKind]
    /// Lower-cased column names, for JSON members matched case-insensitively.
    let keys: [String]

    init(table: TableRecord) {
        format = table.format
        columns = table.definition.columns
        kinds = columns.map { ColumnKind(athenaType: $0.type) }
        keys = columns.map { $0.name.lowercased() }
    }

    /// The columns' values (partition keys not included), or nil for a line to skip (malformed JSON the table ignores).
    func decode(_ line: ArraySlice<UInt8>) throws(ReadFailure) -> [FieldValue]? {
        switch format {
        case .delimited(let separator, let escape, let null):
            let fields = Self.split(line, separator: separator, escape: escape)
            return kinds.enumerated().map { index, kind in
                guard index < fields.count else { return .null }
                let text = fields[index]
                if text == null { return .null }
                if kind != .text, text.isEmpty { return .null }
                return kind.value(text[...])
            }
        case .openCSV(let separator, let quote, let escape):
            let fields = Self.splitQuoted(line, separator: separator, quote: quote, escape: escape)
            return kinds.enumerated().map { index, kind in
                guard index < fields.count else { return .null }
                if kind != .text, fields[index].isEmpty { return .null }
                return kind.value(fields[index][...])
            }
        case .jsonLines(let caseInsensitive, let ignoreMalformed):
            let trimmed = line.drop { $0 == 32 || $0 == 9 }
            if trimmed.isEmpty { return nil }
            guard let members = JSONLine.members(trimmed) else {
                if ignoreMalformed { return kinds.map { _ in .null } }
                throw ReadFailure(message: "HIVE_BAD_DATA: Error parsing field value for field 0: not a JSON object: \(String(decoding: line.prefix(120), as: UTF8.self))")
            }
            var values = [FieldValue](repeating: .null, count: kinds.count)
            for (name, member) in members {
                let key = caseInsensitive ? name.lowercased() : name
                guard let index = keys.firstIndex(of: key) ?? (caseInsensitive ? nil : columns.firstIndex { $0.name == name }) else { continue }
                values[index] = member.value(as: kinds[index])
            }
            return values
        }
    }

    /// LazySimpleSerDe: fields between separators; an escape character keeps the next one as it is.
    static func split(_ line: ArraySlice<UInt8>, separator: UInt8, escape: UInt8?) -> [String] {
        var fields: [String] = []
        var field: [UInt8] = []
        var escaped = false
        for byte in line {
            if escaped {
                field.append(byte)
                escaped = false
            } else if byte == escape {
                escaped = true
            } else if byte == separator {
                fields.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
            } else {
                field.append(byte)
            }
        }
        fields.append(String(decoding: field, as: UTF8.self))
        return fields
    }

    /// OpenCSVSerde: fields optionally quoted; a doubled quote or the escape character inside quotes.
    static func splitQuoted(_ line: ArraySlice<UInt8>, separator: UInt8, quote: UInt8, escape: UInt8) -> [String] {
        var fields: [String] = []
        var field: [UInt8] = []
        var inQuotes = false
        var index = line.startIndex
        while index < line.endIndex {
            let byte = line[index]
            if inQuotes {
                if byte == escape, escape != quote, index + 1 < line.endIndex {
                    field.append(line[index + 1])
                    index += 1
                } else if byte == quote {
                    if index + 1 < line.endIndex, line[index + 1] == quote {
                        field.append(quote)
                        index += 1
                    } else {
                        inQuotes = false
                    }
                } else {
                    field.append(byte)
                }
            } else if byte == quote {
                inQuotes = true
            } else if byte == separator {
                fields.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
            } else {
                field.append(byte)
            }
            index += 1
        }
        fields.append(String(decoding: field, as: UTF8.self))
        return fields
    }
}

/// The top-level members of a one-line JSON object, read without building a whole document:
/// scalars as their text, nested objects and arrays as their JSON text.
enum JSONLine {
    enum Member {
        case null
        case bool(Bool)
        case number(Substring)
        case string(String)
        case nested(String)

        func value(as kind: ColumnKind) -> FieldValue {
            switch self {
            case .null: return .null
            case .bool(let flag):
                return kind == .text ? .text(flag ? "true" : "false") : (kind == .boolean || kind == .integer ? .integer(flag ? 1 : 0) : .null)
            case .number(let text):
                return kind == .text ? .text(String(text)) : kind.value(text)
            case .string(let text):
                return kind.value(text[...])
            case .nested(let text):
                return kind == .text ? .text(text) : .null
            }
        }
    }

    static func members(_ line: ArraySlice<UInt8>) -> [(String, Member)]? {
        var reader = Reader(bytes: line, index: line.startIndex)
        reader.skipSpace()
        guard reader.take(UInt8(ascii: "{")) else { return nil }
        var members: [(String, Member)] = []
        reader.skipSpace()
        if reader.take(UInt8(ascii: "}")) { return members }
        while true {
            reader.skipSpace()
            guard let name = reader.string() else { return nil }
            reader.skipSpace()
            guard reader.take(UInt8(ascii: ":")) else { return nil }
            reader.skipSpace()
            guard let value = reader.value() else { return nil }
            members.append((name, value))
            reader.skipSpace()
            if reader.take(UInt8(ascii: ",")) { continue }
            if reader.take(UInt8(ascii: "}")) { return members }
            return nil
        }
    }

    struct Reader {
        let bytes: ArraySlice<UInt8>
        var index: Int

        mutating func skipSpace() {
            while index < bytes.endIndex, [32, 9, 10, 13].contains(bytes[index]) { index += 1 }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.endIndex, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        mutating func value() -> Member? {
            guard index < bytes.endIndex else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "\""): return string().map(Member.string)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let begin = index
                guard skipNested() else { return nil }
                return .nested(String(decoding: bytes[begin..<index], as: UTF8.self))
            case UInt8(ascii: "t"): return word("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return word("false") ? .bool(false) : nil
            case UInt8(ascii: "n"): return word("null") ? .null : nil
            default:
                let begin = index
                while index < bytes.endIndex, "+-0123456789.eE".utf8.contains(bytes[index]) { index += 1 }
                guard index > begin else { return nil }
                return .number(Substring(String(decoding: bytes[begin..<index], as: UTF8.self)))
            }
        }

        mutating func word(_ text: String) -> Bool {
            for byte in text.utf8 {
                guard take(byte) else { return false }
            }
            return true
        }

        /// A string literal, unescaped.
        mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            var out: [UInt8] = []
            while index < bytes.endIndex {
                let byte = bytes[index]
                index += 1
                if byte == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
                guard byte == UInt8(ascii: "\\") else {
                    out.append(byte)
                    continue
                }
                guard index < bytes.endIndex else { return nil }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "u"):
                    guard index + 4 <= bytes.endIndex, var code = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16) else { return nil }
                    index += 4
                    // A surrogate pair: the low half follows as another \u escape.
                    if (0xD800...0xDBFF).contains(code), index + 6 <= bytes.endIndex, bytes[index] == UInt8(ascii: "\\"),
                        let low = UInt32(String(decoding: bytes[index + 2..<index + 6], as: UTF8.self), radix: 16), (0xDC00...0xDFFF).contains(low)
                    {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        index += 6
                    }
                    out.append(contentsOf: Array(String(Unicode.Scalar(code).map(Character.init) ?? "\u{FFFD}").utf8))
                default: out.append(escaped)
                }
            }
            return nil
        }

        /// A string literal's inner bytes, not unescaped, and whether it holds escapes.
        mutating func rawString() -> (Range<Int>, Bool)? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let begin = index
            var escaped = false
            while index < bytes.endIndex {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    defer { index += 1 }
                    return (begin..<index, escaped)
                }
                if byte == UInt8(ascii: "\\") {
                    escaped = true
                    index += 2
                    continue
                }
                index += 1
            }
            return nil
        }

        /// Past a nested object or array (strings inside may hold brackets).
        mutating func skipNested() -> Bool {
            var depth = 0
            while index < bytes.endIndex {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    guard string() != nil else { return false }
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 {
                        index += 1
                        return true
                    }
                default: break
                }
                index += 1
            }
            return false
        }
    }
}
