#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A value that writes its own JSON straight into the encoder's bytes, without the `Encoder`
/// protocol's containers (each member through one of those costs an existential box, generic
/// metadata lookups and a dynamic dispatch or three). The generated API shapes conform, with
/// their members in declaration order and `nil` members left out: byte for byte what their
/// `Codable` conformance writes through ``StreamingJSONEncoder``, which takes this path whenever
/// a value offers it (responses, and shapes inside stored records).
public protocol JSONWritable: Encodable {
    func writeJSON(to json: inout JSONWriter) throws
}

/// The bytes of one JSON document being written by ``JSONWritable`` values.
public struct JSONWriter {
    @usableFromInline var bytes: [UInt8]

    @inlinable public init(bytes: [UInt8] = []) {
        self.bytes = bytes
    }

    /// What was written so far.
    public var written: [UInt8] { bytes }

    /// Opens an object; members follow with ``member(_:_:_:)``, each told whether one came before.
    @inlinable public mutating func open() {
        bytes.append(0x7B)
    }

    @inlinable public mutating func close() {
        bytes.append(0x7D)
    }

    /// Writes a member unless its value is `nil`. `key` is the member's name already quoted and
    /// followed by a colon (`"\"name\":"`), as the generated code spells it.
    @inlinable public mutating func member<Value: JSONWritable>(_ key: StaticString, _ value: Value?, _ separated: inout Bool) throws {
        guard let value else { return }
        if separated { bytes.append(0x2C) }
        separated = true
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        try value.writeJSON(to: &self)
    }

    public mutating func string(_ value: String) {
        JSONBytes.appendString(value, to: &bytes)
    }

    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// A finite number, as the `Codable` path writes one (and refuses the others).
    public mutating func number(_ value: Double) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "JSON has no \(value)"))
        }
        JSONBytes.appendNumber(value, to: &bytes)
    }

    public mutating func integer(_ value: Int) {
        JSONBytes.appendInteger(value, to: &bytes)
    }
}

/// The byte-level spellings both encoding paths share.
enum JSONBytes {
    static func appendString(_ string: String, to bytes: inout [UInt8]) {
        var string = string
        string.withUTF8 { utf8 in
            // Most strings need no escaping: copy them in one go.
            if !utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
                bytes.append(0x22)
                bytes.append(contentsOf: utf8)
                bytes.append(0x22)
            } else {
                appendEscaped(utf8, to: &bytes)
            }
        }
    }

    private static func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        bytes.append(0x22)
        for byte in utf8 {
            switch byte {
            case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
            case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: bytes.append(contentsOf: [0x5C, 0x72])
            case 0x09: bytes.append(contentsOf: [0x5C, 0x74])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(0x22)
    }

    /// Whole numbers without a fractional part ("1.0" -> "1"), as Foundation writes them.
    static func appendNumber(_ value: Double, to bytes: inout [UInt8]) {
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
            appendInteger(Int64(value), to: &bytes)
        } else {
            bytes.append(contentsOf: value.description.utf8)
        }
    }

    static func appendInteger<Integer: BinaryInteger>(_ value: Integer, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: String(value).utf8)
    }
}

// MARK: - The values shapes are made of

extension String: JSONWritable {
    @inlinable public func writeJSON(to json: inout JSONWriter) { json.string(self) }
}

extension Int: JSONWritable {
    @inlinable public func writeJSON(to json: inout JSONWriter) { json.integer(self) }
}

extension Double: JSONWritable {
    @inlinable public func writeJSON(to json: inout JSONWriter) throws { try json.number(self) }
}

extension Bool: JSONWritable {
    @inlinable public func writeJSON(to json: inout JSONWriter) { json.raw(self ? "true" : "false") }
}

extension Date: JSONWritable {
    /// Epoch seconds (as the `Codable` path: a date is never refused).
    public func writeJSON(to json: inout JSONWriter) { JSONBytes.appendNumber(timeIntervalSince1970, to: &json.bytes) }
}

extension Data: JSONWritable {
    public func writeJSON(to json: inout JSONWriter) { json.string(base64EncodedString()) }
}

extension Array: JSONWritable where Element: JSONWritable {
    @inlinable public func writeJSON(to json: inout JSONWriter) throws {
        json.bytes.append(0x5B)
        for (index, element) in enumerated() {
            if index > 0 { json.bytes.append(0x2C) }
            try element.writeJSON(to: &json)
        }
        json.bytes.append(0x5D)
    }
}

extension Dictionary: JSONWritable where Key == String, Value: JSONWritable {
    /// In the dictionary's own order, as `Codable` writes it.
    @inlinable public func writeJSON(to json: inout JSONWriter) throws {
        json.bytes.append(0x7B)
        var separated = false
        for (key, value) in self {
            if separated { json.bytes.append(0x2C) }
            separated = true
            json.string(key)
            json.bytes.append(0x3A)
            try value.writeJSON(to: &json)
        }
        json.bytes.append(0x7D)
    }
}

extension JSONWritable where Self: AWSEnum {
    @inlinable public func writeJSON(to json: inout JSONWriter) { json.string(rawValue) }
}

extension JSONValue: JSONWritable {
    public func writeJSON(to json: inout JSONWriter) throws {
        switch self {
        case .null: json.raw("null")
        case .bool(let value): value.writeJSON(to: &json)
        case .number(let value): try json.number(value)
        case .string(let value): json.string(value)
        case .array(let value): try value.writeJSON(to: &json)
        case .object(let value): try value.writeJSON(to: &json)
        }
    }
}
