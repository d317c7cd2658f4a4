import Foundation

/// Decodes any `Decodable` type as a value with every member present, down to a depth: strings
/// that need escaping, numbers, dates with fractions, two-element lists and maps, and each enum's
/// first case. Shape tests use it to exercise every member of every generated shape.
struct FillingDecoder: Decoder {
    var depth = 0
    static let maximumDepth = 6
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    var deeper: FillingDecoder { FillingDecoder(depth: depth + 1) }
    var filling: Bool { depth < Self.maximumDepth }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(Keyed<Key>(decoder: self))
    }

    func unkeyedContainer() -> any UnkeyedDecodingContainer { Unkeyed(decoder: self) }

    func singleValueContainer() -> any SingleValueDecodingContainer { Single(decoder: self) }

    /// A value of any type: enums by their first case, dates and data by fixed values, the rest
    /// through their own `init(from:)` one level down.
    func fill<T: Decodable>(_ type: T.Type, salt: String) throws -> T {
        if T.self == String.self { return "\(salt) \"q\" \\ \n é" as! T }
        if T.self == Int.self { return salt.utf8.count * 37 as! T }
        if T.self == Double.self { return Double(salt.utf8.count) + 0.25 as! T }
        if T.self == Bool.self { return (salt.utf8.count % 2 == 0) as! T }
        if T.self == Date.self { return Date(timeIntervalSince1970: 1_700_000_000.125 + Double(salt.utf8.count)) as! T }
        if T.self == Data.self { return Data(salt.utf8) as! T }
        if let cases = T.self as? any CaseIterable.Type, let first = firstCase(cases) as? T { return first }
        return try T(from: deeper)
    }

    private func firstCase<E: CaseIterable>(_ type: E.Type) -> Any? { E.allCases.first }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let decoder: FillingDecoder
        var codingPath: [any CodingKey] { [] }
        var allKeys: [Key] { decoder.filling ? ["k1", "k2"].compactMap { Key(stringValue: $0) } : [] }
        func contains(_ key: Key) -> Bool { decoder.filling }
        func decodeNil(forKey key: Key) throws -> Bool { !decoder.filling }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decoder.fill(type, salt: key.stringValue) }
        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decoder.fill(type, salt: key.stringValue) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try decoder.fill(type, salt: key.stringValue) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decoder.fill(type, salt: key.stringValue) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decoder.fill(type, salt: key.stringValue) }
        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            decoder.deeper.container(keyedBy: type)
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { decoder.deeper.unkeyedContainer() }
        func superDecoder() throws -> any Decoder { decoder.deeper }
        func superDecoder(forKey key: Key) throws -> any Decoder { decoder.deeper }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let decoder: FillingDecoder
        var codingPath: [any CodingKey] { [] }
        var count: Int? { decoder.filling ? 2 : 0 }
        var currentIndex = 0
        var isAtEnd: Bool { currentIndex >= (count ?? 0) }

        init(decoder: FillingDecoder) { self.decoder = decoder }

        mutating func decodeNil() throws -> Bool { false }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            currentIndex += 1
            return try decoder.fill(type, salt: "item\(currentIndex)")
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            currentIndex += 1
            return decoder.deeper.container(keyedBy: type)
        }
        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            currentIndex += 1
            return decoder.deeper.unkeyedContainer()
        }
        mutating func superDecoder() throws -> any Decoder { decoder.deeper }
    }

    struct Single: SingleValueDecodingContainer {
        let decoder: FillingDecoder
        var codingPath: [any CodingKey] { [] }
        func decodeNil() -> Bool { false }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.fill(type, salt: "single") }
    }
}
