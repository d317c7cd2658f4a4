#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A JSON decoder for the store's own rows (``RecordCoding``), several times faster than
/// Foundation's `JSONDecoder` on them; start-up decodes every live row.
///
/// One pass lays the document out as a flat tape of nodes; containers then walk the tape. An
/// object's members are found by comparing key bytes from where the last lookup matched: the
/// encoder wrote members in declaration order and `init(from:)` reads them in the same order, so
/// a lookup is usually one comparison, with no dictionary built per object. Dates are epoch
/// seconds and data base64, as ``StreamingJSONEncoder`` writes them.
///
/// Errors are `DecodingError`s without Foundation's wording or coding paths (tracking paths costs
/// an array per value): API requests, whose errors clients see, still go through Foundation's decoder.
public enum TapeJSONDecoder {
    public static func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        let tape = try Tape(bytes)
        return try TapeDecoder(tape: tape, node: 0, codingPath: []).decodeValue(type)
    }
}

/// The document's values in order. Containers are followed by their members (an object's as
/// key, value, key, value…); `end` of a container is the index just past its last member.
final class Tape {
    enum Kind: UInt8 { case object, array, string, escapedString, number, `true`, `false`, null }

    struct Node {
        var kind: Kind
        /// Scalars: the bytes (a string's without its quotes). Containers: unused.
        var start: Int32
        var length: Int32
        /// Containers: the node index past the last member; scalars: their own index + 1.
        var end: Int32
        /// Containers: how many members (an object's pairs count once).
        var count: Int32
    }

    let bytes: [UInt8]
    var nodes: [Node] = []

    init(_ bytes: [UInt8]) throws {
        self.bytes = bytes
        nodes.reserveCapacity(bytes.count / 8)
        try bytes.withUnsafeBufferPointer { buffer in
            var scanner = Scanner(bytes: buffer, tape: self)
            try scanner.document()
        }
    }

    func string(_ node: Node) throws -> String {
        let range = Int(node.start)..<Int(node.start + node.length)
        guard node.kind == .escapedString else {
            return bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self) }
        }
        return try Self.unescape(bytes[range])
    }

    /// Whether a string node holds exactly `key`.
    func matches(_ node: Node, _ key: String) -> Bool {
        guard node.kind == .string else { return (try? string(node)) == key }
        var key = key
        return key.withUTF8 { keyBytes in
            guard keyBytes.count == Int(node.length) else { return false }
            return bytes.withUnsafeBufferPointer { buffer in
                keyBytes.elementsEqual(UnsafeBufferPointer(rebasing: buffer[Int(node.start)..<Int(node.start + node.length)]))
            }
        }
    }

    static func unescape(_ text: ArraySlice<UInt8>) throws -> String {
        var output: [UInt8] = []
        output.reserveCapacity(text.count)
        var index = text.startIndex
        func hex4() throws -> UInt32 {
            guard index + 4 < text.endIndex else { throw corrupted("a truncated \\u escape") }
            var value: UInt32 = 0
            for offset in 1...4 {
                guard let digit = ASCIIHex.value(text[index + offset]).map(UInt32.init) else { throw corrupted("a bad \\u escape") }
                value = value << 4 | digit
            }
            index += 4
            return value
        }
        while index < text.endIndex {
            let byte = text[index]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                index += 1
                continue
            }
            index += 1
            guard index < text.endIndex else { throw corrupted("a string ending in a backslash") }
            switch text[index] {
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar), index + 2 < text.endIndex, text[index + 1] == UInt8(ascii: "\\"),
                    text[index + 2] == UInt8(ascii: "u")
                {
                    index += 2
                    let low = try hex4()
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low &- 0xDC00)
                }
                output.append(contentsOf: String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8)
            default: output.append(text[index])
            }
            index += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    static func corrupted(_ what: String, _ path: [any CodingKey] = []) -> DecodingError {
        .dataCorrupted(DecodingError.Context(codingPath: path, debugDescription: "The stored JSON has \(what)."))
    }
}

/// Builds the tape in one pass.
private struct Scanner {
    let bytes: UnsafeBufferPointer<UInt8>
    let tape: Tape
    var index = 0
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>, tape: Tape) {
        self.bytes = bytes
        self.tape = tape
    }

    mutating func document() throws {
        try value()
        skipSpace()
        guard index == bytes.count else { throw Tape.corrupted("bytes after the document") }
    }

    mutating func skipSpace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    mutating func value() throws {
        skipSpace()
        guard index < bytes.count else { throw Tape.corrupted("a truncated document") }
        switch bytes[index] {
        case UInt8(ascii: "{"): try container(object: true)
        case UInt8(ascii: "["): try container(object: false)
        case UInt8(ascii: "\""): try string()
        case UInt8(ascii: "t"): try literal("true", .true)
        case UInt8(ascii: "f"): try literal("false", .false)
        case UInt8(ascii: "n"): try literal("null", .null)
        default: try number()
        }
    }

    mutating func container(object: Bool) throws {
        depth += 1
        guard depth <= 512 else { throw Tape.corrupted("values nested too deeply") }
        defer { depth -= 1 }
        let node = tape.nodes.count
        tape.nodes.append(Tape.Node(kind: object ? .object : .array, start: Int32(index), length: 0, end: 0, count: 0))
        index += 1
        let close = UInt8(ascii: object ? "}" : "]")
        var count: Int32 = 0
        skipSpace()
        if index < bytes.count, bytes[index] == close {
            index += 1
        } else {
            while true {
                if object {
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw Tape.corrupted("an object key that is not a string") }
                    try string()
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw Tape.corrupted("a key without a colon") }
                    index += 1
                }
                try value()
                count += 1
                skipSpace()
                guard index < bytes.count else { throw Tape.corrupted("an unclosed container") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                } else if bytes[index] == close {
                    index += 1
                    break
                } else {
                    throw Tape.corrupted("a missing comma")
                }
            }
        }
        tape.nodes[node].end = Int32(tape.nodes.count)
        tape.nodes[node].count = count
    }

    mutating func string() throws {
        index += 1
        let start = index
        var escaped = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                index += 1
            } else if byte < 0x20 {
                throw Tape.corrupted("a control character in a string")
            }
            index += 1
        }
        guard index < bytes.count else { throw Tape.corrupted("an unterminated string") }
        let node = tape.nodes.count
        tape.nodes.append(
            Tape.Node(kind: escaped ? .escapedString : .string, start: Int32(start), length: Int32(index - start), end: Int32(node + 1), count: 0))
        index += 1
    }

    mutating func literal(_ text: StaticString, _ kind: Tape.Kind) throws {
        let length = text.utf8CodeUnitCount
        guard index + length <= bytes.count,
            UnsafeBufferPointer(rebasing: bytes[index..<(index + length)]).elementsEqual(UnsafeBufferPointer(start: text.utf8Start, count: length))
        else { throw Tape.corrupted("an unknown literal") }
        let node = tape.nodes.count
        tape.nodes.append(Tape.Node(kind: kind, start: Int32(index), length: Int32(length), end: Int32(node + 1), count: 0))
        index += length
    }

    mutating func number() throws {
        let start = index
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"):
                index += 1
            default:
                guard index > start else { throw Tape.corrupted("an unexpected character") }
                let node = tape.nodes.count
                tape.nodes.append(Tape.Node(kind: .number, start: Int32(start), length: Int32(index - start), end: Int32(node + 1), count: 0))
                return
            }
        }
        guard index > start else { throw Tape.corrupted("a truncated document") }
        let node = tape.nodes.count
        tape.nodes.append(Tape.Node(kind: .number, start: Int32(start), length: Int32(index - start), end: Int32(node + 1), count: 0))
    }
}

/// A `Decoder` positioned at one node of the tape.
struct TapeDecoder: Decoder {
    let tape: Tape
    let node: Int
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard tape.nodes[node].kind == .object else { throw mismatch(type: [String: Int].self) }
        return KeyedDecodingContainer(TapeKeyedContainer<Key>(tape: tape, object: node, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard tape.nodes[node].kind == .array else { throw mismatch(type: [Int].self) }
        return TapeUnkeyedContainer(tape: tape, array: node, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func mismatch(type: Any.Type) -> DecodingError {
        .typeMismatch(type, DecodingError.Context(codingPath: codingPath, debugDescription: "Expected \(type) but found \(tape.nodes[node].kind)."))
    }

    func decodeValue<Value: Decodable>(_ type: Value.Type) throws -> Value {
        // Metatype checks first, as the encoder does: these are not what their Codable says.
        if type == Date.self { return Date(timeIntervalSince1970: try decode(Double.self)) as! Value }
        if type == Data.self {
            guard let data = Data(base64Encoded: try decode(String.self)) else { throw Tape.corrupted("bad base64 data", codingPath) }
            return data as! Value
        }
        if type == URL.self {
            guard let url = URL(string: try decode(String.self)) else { throw Tape.corrupted("a bad URL", codingPath) }
            return url as! Value
        }
        return try Value(from: self)
    }

    func text() -> String {
        let item = tape.nodes[node]
        return tape.bytes.withUnsafeBufferPointer {
            String(decoding: UnsafeBufferPointer(rebasing: $0[Int(item.start)..<Int(item.start + item.length)]), as: UTF8.self)
        }
    }

    func integer<Integer: FixedWidthInteger>(_ type: Integer.Type) throws -> Integer {
        let item = tape.nodes[node]
        guard item.kind == .number else { throw mismatch(type: type) }
        // Plain digits (what the encoder writes) without making a string; anything else via Double.
        var value: Integer = 0
        var negative = false
        var plain = true
        tape.bytes.withUnsafeBufferPointer { buffer in
            var index = Int(item.start)
            let end = Int(item.start + item.length)
            if buffer[index] == UInt8(ascii: "-") {
                negative = true
                index += 1
            }
            if index == end { plain = false }
            while index < end, plain {
                let byte = buffer[index]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                    plain = false
                    break
                }
                let digit = Integer(byte - UInt8(ascii: "0"))
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (next, overflow2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
                if overflow1 || overflow2 {
                    plain = false
                    break
                }
                value = next
                index += 1
            }
        }
        if plain { return value }
        // A fraction or exponent that may still be whole ("3.0", "1e2"); plain digits that overflow are refused.
        let written = text()
        guard written.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let double = Double(written), let exact = Integer(exactly: double)
        else {
            throw Tape.corrupted("\(text()), which is not a \(type)", codingPath)
        }
        return exact
    }
}

extension TapeDecoder: SingleValueDecodingContainer {
    func decodeNil() -> Bool { tape.nodes[node].kind == .null }

    func decode(_ type: Bool.Type) throws -> Bool {
        switch tape.nodes[node].kind {
        case .true: true
        case .false: false
        default: throw mismatch(type: type)
        }
    }

    func decode(_ type: String.Type) throws -> String {
        let item = tape.nodes[node]
        guard item.kind == .string || item.kind == .escapedString else { throw mismatch(type: type) }
        return try tape.string(item)
    }

    func decode(_ type: Double.Type) throws -> Double {
        guard tape.nodes[node].kind == .number, let value = Double(text()), value.isFinite else { throw mismatch(type: type) }
        return value
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }
    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }
    func decode<Value: Decodable>(_ type: Value.Type) throws -> Value { try decodeValue(type) }
}

/// An object's members. A class: lookups remember where the last one matched.
private final class TapeKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let tape: Tape
    let codingPath: [any CodingKey]
    /// Node indexes of the object's keys (each value follows its key).
    let keys: [Int]
    var cursor = 0

    init(tape: Tape, object: Int, codingPath: [any CodingKey]) {
        self.tape = tape
        self.codingPath = codingPath
        let item = tape.nodes[object]
        var keys: [Int] = []
        keys.reserveCapacity(Int(item.count))
        var index = object + 1
        var fingerprints: UInt64 = 0
        tape.bytes.withUnsafeBufferPointer { bytes in
            while index < Int(item.end) {
                keys.append(index)
                let node = tape.nodes[index]
                // An escaped key's bytes are not its text: let every search compare it.
                fingerprints |= node.kind == .string && node.length > 0 ? Self.fingerprint(Int(node.length), bytes[Int(node.start)]) : ~0
                index = Int(tape.nodes[index + 1].end)
            }
        }
        self.keys = keys
        self.fingerprints = fingerprints
    }

    /// One bit per key, from its length and first byte. Records are sparse (most optional members
    /// absent), so most searches end here instead of comparing every key.
    let fingerprints: UInt64

    static func fingerprint(_ length: Int, _ first: UInt8) -> UInt64 {
        1 << UInt64((length &* 7 &+ Int(first)) & 63)
    }

    var allKeys: [Key] { keys.compactMap { (try? tape.string(tape.nodes[$0])).flatMap(Key.init(stringValue:)) } }

    /// The node of `key`'s value, if the object has it.
    func valueNode(_ key: Key) -> Int? {
        var name = key.stringValue
        return name.withUTF8 { name in
            if let first = name.first, fingerprints & Self.fingerprint(name.count, first) == 0 { return nil }
            return tape.bytes.withUnsafeBufferPointer { bytes in
                for step in 0..<keys.count {
                    let position = (cursor + step) % keys.count
                    let node = tape.nodes[keys[position]]
                    let found =
                        node.kind == .string
                        ? Int(node.length) == name.count && (name.isEmpty || memcmp(name.baseAddress!, bytes.baseAddress! + Int(node.start), name.count) == 0)
                        : tape.matches(node, String(decoding: name, as: UTF8.self))
                    if found {
                        cursor = position + 1 == keys.count ? 0 : position + 1
                        return keys[position] + 1
                    }
                }
                return nil
            }
        }
    }

    func decoder(_ key: Key) throws -> TapeDecoder {
        guard let node = valueNode(key) else {
            throw DecodingError.keyNotFound(key, DecodingError.Context(codingPath: codingPath, debugDescription: "No value for '\(key.stringValue)'."))
        }
        return TapeDecoder(tape: tape, node: node, codingPath: codingPath)
    }

    /// A present, non-null value's decoder.
    func presentDecoder(_ key: Key) -> TapeDecoder? {
        guard let node = valueNode(key), tape.nodes[node].kind != .null else { return nil }
        return TapeDecoder(tape: tape, node: node, codingPath: codingPath)
    }

    func contains(_ key: Key) -> Bool { valueNode(key) != nil }
    func decodeNil(forKey key: Key) throws -> Bool { try decoder(key).decodeNil() }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decoder(key).decode(type) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decoder(key).decode(type) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decoder(key).decode(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decoder(key).decode(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decoder(key).decode(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decoder(key).decode(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decoder(key).decode(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decoder(key).decode(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decoder(key).decode(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decoder(key).decode(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decoder(key).decode(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decoder(key).decode(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decoder(key).decode(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decoder(key).decode(type) }
    func decode<Value: Decodable>(_ type: Value.Type, forKey key: Key) throws -> Value { try decoder(key).decodeValue(type) }

    // One lookup each (the defaults look a key up three times).
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try presentDecoder(key)?.decode(type) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try presentDecoder(key)?.decode(type) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try presentDecoder(key)?.decode(type) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try presentDecoder(key)?.decode(type) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try presentDecoder(key)?.decode(type) }
    func decodeIfPresent<Value: Decodable>(_ type: Value.Type, forKey key: Key) throws -> Value? {
        try presentDecoder(key)?.decodeValue(type)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { try decoder(key).unkeyedContainer() }
    func superDecoder() throws -> any Decoder {
        guard let key = Key(stringValue: "super") else {
            throw DecodingError.keyNotFound(
                TapeSuperKey(), DecodingError.Context(codingPath: codingPath, debugDescription: "No key 'super' in \(Key.self)."))
        }
        return try decoder(key)
    }
    func superDecoder(forKey key: Key) throws -> any Decoder { try decoder(key) }
}

/// An array's elements, in order.
private struct TapeUnkeyedContainer: UnkeyedDecodingContainer {
    let tape: Tape
    let codingPath: [any CodingKey]
    let end: Int
    let count: Int?
    var currentIndex = 0
    /// The node of the next element.
    var next: Int

    init(tape: Tape, array: Int, codingPath: [any CodingKey]) {
        self.tape = tape
        self.codingPath = codingPath
        end = Int(tape.nodes[array].end)
        count = Int(tape.nodes[array].count)
        next = array + 1
    }

    var isAtEnd: Bool { next >= end }

    mutating func element() throws -> TapeDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, DecodingError.Context(codingPath: codingPath, debugDescription: "No more elements."))
        }
        let decoder = TapeDecoder(tape: tape, node: next, codingPath: codingPath)
        next = Int(tape.nodes[next].end)
        currentIndex += 1
        return decoder
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, tape.nodes[next].kind == .null else { return false }
        _ = try element()
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try element().decode(type) }
    mutating func decode(_ type: String.Type) throws -> String { try element().decode(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try element().decode(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try element().decode(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try element().decode(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try element().decode(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try element().decode(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try element().decode(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try element().decode(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try element().decode(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try element().decode(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try element().decode(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try element().decode(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try element().decode(type) }
    mutating func decode<Value: Decodable>(_ type: Value.Type) throws -> Value { try element().decodeValue(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try element().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try element().unkeyedContainer() }
    mutating func superDecoder() throws -> any Decoder { try element() }
}

private struct TapeSuperKey: CodingKey {
    var stringValue: String { "super" }
    var intValue: Int? { nil }
    init() {}
    init?(stringValue: String) { nil }
    init?(intValue: Int) { nil }
}
