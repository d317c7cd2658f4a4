import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A JSON encoder that writes bytes as values are encoded, with no intermediate tree: several
/// times faster than Foundation's `JSONEncoder` for the API's shapes, which are encoded on every
/// response and every stored row.
///
/// Output matches what AWS's JSON protocols expect: members in declaration order, `nil` members
/// omitted (`encodeIfPresent`), dates as epoch seconds, data as base64, `/` not escaped. Coding
/// paths are not tracked: the only error it can raise (a non-finite number) names the key alone.
public enum StreamingJSONEncoder {
    public static func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        // Values that write their own JSON (the shapes, also inside stored records) do so.
        try encode(value, writablesFirst: true)
    }

    /// Always through `Codable`, even for ``JSONWritable`` values (tests compare the two paths).
    public static func encodeThroughCodable<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        try encode(value, writablesFirst: false)
    }

    private static func encode<Value: Encodable>(_ value: Value, writablesFirst: Bool) throws -> [UInt8] {
        let output = JSONOutput(writablesFirst: writablesFirst)
        output.bytes.reserveCapacity(1024)
        try output.write(value, codingPath: [])
        return output.bytes
    }
}

/// The byte buffer every container of one encoding writes to.
final class JSONOutput {
    var bytes: [UInt8] = []
    /// Whether values that write their own JSON do so (false only to test the `Codable` path).
    let writablesFirst: Bool

    init(writablesFirst: Bool) {
        self.writablesFirst = writablesFirst
    }

    func write<Value: Encodable>(_ value: Value, codingPath: [any CodingKey]) throws {
        // Metatype checks are cheaper than dynamic casts, and most values are none of these.
        if Value.self == Date.self {
            writeNumber((value as! Date).timeIntervalSince1970, codingPath: codingPath)
        } else if Value.self == Data.self {
            writeString((value as! Data).base64EncodedString())
        } else if Value.self == URL.self {
            writeString((value as! URL).absoluteString)
        } else if writablesFirst, let writable = value as? any JSONWritable {
            var json = JSONWriter(bytes: [])
            swap(&json.bytes, &bytes)
            defer { swap(&json.bytes, &bytes) }
            try writable.writeJSON(to: &json)
        } else {
            let encoder = ValueEncoder(output: self, codingPath: codingPath)
            try value.encode(to: encoder)
            encoder.finish()
        }
    }

    func writeString(_ string: String) {
        JSONBytes.appendString(string, to: &bytes)
    }

    func writeNumber(_ value: Double, codingPath: [any CodingKey]) {
        JSONBytes.appendNumber(value, to: &bytes)
    }

    func writeInteger<Integer: BinaryInteger>(_ value: Integer) {
        JSONBytes.appendInteger(value, to: &bytes)
    }

    func writeRaw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }
}

/// The encoder handed to one value's `encode(to:)`. It learns which container the value opens and
/// closes it when the value is done.
final class ValueEncoder: Encoder {
    enum Opened { case none, keyed, unkeyed, single }

    let output: JSONOutput
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var opened = Opened.none
    /// Members written so far in the open keyed or unkeyed container (for commas).
    var count = 0
    /// A nested container or super encoder still open inside this one; closed before the next member.
    var child: ValueEncoder?

    init(output: JSONOutput, codingPath: [any CodingKey]) {
        self.output = output
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if opened == .none {
            opened = .keyed
            output.bytes.append(0x7B)
        }
        return KeyedEncodingContainer(KeyedWriter<Key>(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if opened == .none {
            opened = .unkeyed
            output.bytes.append(0x5B)
        }
        return UnkeyedWriter(encoder: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleWriter(encoder: self)
    }

    /// Ends whatever this value opened; a value that opened nothing encodes as `{}`.
    func finish() {
        closeChild()
        switch opened {
        case .keyed: output.bytes.append(0x7D)
        case .unkeyed: output.bytes.append(0x5D)
        case .none: output.writeRaw("{}")
        case .single: break
        }
    }

    func closeChild() {
        if let child {
            child.finish()
            self.child = nil
        }
    }

    /// Writes the separator (and the key) before the next member.
    func beginMember(key: String?) {
        closeChild()
        if count > 0 { output.bytes.append(0x2C) }
        count += 1
        if let key {
            output.writeString(key)
            output.bytes.append(0x3A)
        }
    }
}

struct KeyedWriter<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: ValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    func encodeNil(forKey key: Key) throws {
        encoder.beginMember(key: key.stringValue)
        encoder.output.writeRaw("null")
    }

    func encode(_ value: Bool, forKey key: Key) throws {
        encoder.beginMember(key: key.stringValue)
        encoder.output.writeRaw(value ? "true" : "false")
    }

    func encode(_ value: String, forKey key: Key) throws {
        encoder.beginMember(key: key.stringValue)
        encoder.output.writeString(value)
    }

    func encode(_ value: Double, forKey key: Key) throws {
        try checkFinite(value, key)
        encoder.beginMember(key: key.stringValue)
        encoder.output.writeNumber(value, codingPath: [])
    }

    func encode(_ value: Float, forKey key: Key) throws { try encode(Double(value), forKey: key) }
    func encode(_ value: Int, forKey key: Key) throws { integer(value, key) }
    func encode(_ value: Int8, forKey key: Key) throws { integer(value, key) }
    func encode(_ value: Int16, forKey key: Key) throws { integer(value, key) }
    func encode(_ value: Int32, forKey key: Key) throws { integer(value, key) }
    func encode(_ value: Int64, forKey key: Key) throws { integer(value, key) }
    func encode(_ value: UInt, forKey key: Key) throws { integer(value, key) }
    func encode(_ value: UInt8, forKey key: Key) throws { integer(value, key) }
    func encode(_ value: UInt16, forKey key: Key) throws { integer(value, key) }
    func encode(_ value: UInt32, forKey key: Key) throws { integer(value, key) }
    func encode(_ value: UInt64, forKey key: Key) throws { integer(value, key) }

    private func integer<Integer: BinaryInteger>(_ value: Integer, _ key: Key) {
        encoder.beginMember(key: key.stringValue)
        encoder.output.writeInteger(value)
    }

    private func checkFinite(_ value: Double, _ key: Key) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: [key], debugDescription: "JSON has no \(value)"))
        }
    }

    func encode<Value: Encodable>(_ value: Value, forKey key: Key) throws {
        encoder.beginMember(key: key.stringValue)
        try encoder.output.write(value, codingPath: [])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        encoder.beginMember(key: key.stringValue)
        let child = ValueEncoder(output: encoder.output, codingPath: [])
        encoder.child = child
        return child.container(keyedBy: keyType)
    }

    func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        encoder.beginMember(key: key.stringValue)
        let child = ValueEncoder(output: encoder.output, codingPath: [])
        encoder.child = child
        return child.unkeyedContainer()
    }

    func superEncoder() -> any Encoder {
        superEncoder(forKey: Key(stringValue: "super")!)
    }

    func superEncoder(forKey key: Key) -> any Encoder {
        encoder.beginMember(key: key.stringValue)
        let child = ValueEncoder(output: encoder.output, codingPath: [])
        encoder.child = child
        return child
    }
}

struct UnkeyedWriter: UnkeyedEncodingContainer {
    let encoder: ValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }
    var count: Int { encoder.count }

    func encodeNil() throws {
        encoder.beginMember(key: nil)
        encoder.output.writeRaw("null")
    }

    func encode(_ value: Bool) throws {
        encoder.beginMember(key: nil)
        encoder.output.writeRaw(value ? "true" : "false")
    }

    func encode(_ value: String) throws {
        encoder.beginMember(key: nil)
        encoder.output.writeString(value)
    }

    func encode(_ value: Double) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "JSON has no \(value)"))
        }
        encoder.beginMember(key: nil)
        encoder.output.writeNumber(value, codingPath: codingPath)
    }

    func encode(_ value: Int) throws { try integer(value) }

    func encode(_ value: Float) throws { try encode(Double(value)) }
    func encode(_ value: Int8) throws { try integer(value) }
    func encode(_ value: Int16) throws { try integer(value) }
    func encode(_ value: Int32) throws { try integer(value) }
    func encode(_ value: Int64) throws { try integer(value) }
    func encode(_ value: UInt) throws { try integer(value) }
    func encode(_ value: UInt8) throws { try integer(value) }
    func encode(_ value: UInt16) throws { try integer(value) }
    func encode(_ value: UInt32) throws { try integer(value) }
    func encode(_ value: UInt64) throws { try integer(value) }

    private func integer<Integer: BinaryInteger>(_ value: Integer) throws {
        encoder.beginMember(key: nil)
        encoder.output.writeInteger(value)
    }

    func encode<Value: Encodable>(_ value: Value) throws {
        encoder.beginMember(key: nil)
        try encoder.output.write(value, codingPath: codingPath)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        encoder.beginMember(key: nil)
        let child = ValueEncoder(output: encoder.output, codingPath: codingPath)
        encoder.child = child
        return child.container(keyedBy: keyType)
    }

    func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        encoder.beginMember(key: nil)
        let child = ValueEncoder(output: encoder.output, codingPath: codingPath)
        encoder.child = child
        return child.unkeyedContainer()
    }

    func superEncoder() -> any Encoder {
        encoder.beginMember(key: nil)
        let child = ValueEncoder(output: encoder.output, codingPath: codingPath)
        encoder.child = child
        return child
    }
}

struct SingleWriter: SingleValueEncodingContainer {
    let encoder: ValueEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    private func begin() {
        encoder.opened = .single
    }

    func encodeNil() throws {
        begin()
        encoder.output.writeRaw("null")
    }

    func encode(_ value: Bool) throws {
        begin()
        encoder.output.writeRaw(value ? "true" : "false")
    }

    func encode(_ value: String) throws {
        begin()
        encoder.output.writeString(value)
    }

    func encode(_ value: Double) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "JSON has no \(value)"))
        }
        begin()
        encoder.output.writeNumber(value, codingPath: codingPath)
    }

    func encode(_ value: Int) throws { try integer(value) }

    func encode(_ value: Float) throws { try encode(Double(value)) }
    func encode(_ value: Int8) throws { try integer(value) }
    func encode(_ value: Int16) throws { try integer(value) }
    func encode(_ value: Int32) throws { try integer(value) }
    func encode(_ value: Int64) throws { try integer(value) }
    func encode(_ value: UInt) throws { try integer(value) }
    func encode(_ value: UInt8) throws { try integer(value) }
    func encode(_ value: UInt16) throws { try integer(value) }
    func encode(_ value: UInt32) throws { try integer(value) }
    func encode(_ value: UInt64) throws { try integer(value) }

    private func integer<Integer: BinaryInteger>(_ value: Integer) throws {
        begin()
        encoder.output.writeInteger(value)
    }

    func encode<Value: Encodable>(_ value: Value) throws {
        begin()
        try encoder.output.write(value, codingPath: codingPath)
    }
}
