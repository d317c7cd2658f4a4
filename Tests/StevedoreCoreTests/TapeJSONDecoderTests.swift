import ECSShapes
import Foundation
import StevedoreCore
import Testing

/// The store's decoder against Foundation's: the same values from the same bytes, and a refusal
/// (never a crash) for bytes that are not JSON.
struct TapeJSONDecoderTests {
    enum Color: String, Codable, Equatable { case red, green }

    struct Inner: Codable, Equatable {
        var name: String
        var values: [Int]
        var nested: [[String]]?
    }

    struct Sample: Codable, Equatable {
        var text: String
        var escaped: String
        var count: Int
        var big: Int64
        var small: Int8
        var unsigned: UInt64
        var ratio: Double
        var flag: Bool
        var when: Date
        var blob: Data
        var color: Color
        var missing: String?
        var present: Int?
        var inner: Inner
        var list: [Inner]
        var map: [String: [String]]
        var numbers: [String: Double]
        var empty: [String]
        var optionals: [Int?]
    }

    static func foundation<Value: Decodable>(_ type: Value.Type, _ bytes: [UInt8]) throws -> Value {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode(type, from: Data(bytes))
    }

    static let sample = Sample(
        text: "plain", escaped: "tab\there \"quoted\" back\\slash\nnew line \u{1} é 漢字 🚢", count: -42, big: Int64.max, small: -128,
        unsigned: UInt64.max, ratio: 1795998222.3109524, flag: true, when: Date(timeIntervalSince1970: 1795998222.25),
        blob: Data([0, 1, 2, 254, 255]), color: .green, missing: nil, present: 7,
        inner: Inner(name: "in", values: [1, 2, 3], nested: [["a"], [], ["b", "c"]]),
        list: [Inner(name: "x", values: [], nested: nil), Inner(name: "y", values: [0], nested: [])],
        map: ["k": ["v"], "empty": []], numbers: ["pi": 3.25, "neg": -1e-7], empty: [], optionals: [1, nil, 3])

    @Test func decodesWhatTheEncoderWritesAsFoundationDoes() throws {
        let bytes = try StreamingJSONEncoder.encode(Self.sample)
        let tape = try TapeJSONDecoder.decode(Sample.self, from: bytes)
        #expect(tape == Self.sample)
        #expect(tape == (try Self.foundation(Sample.self, bytes)))
    }

    @Test func decodesJSONWrittenByHandAsFoundationDoes() throws {
        // Members out of order, whitespace, unknown members, explicit nulls, \u escapes with a
        // surrogate pair, integers written as whole doubles.
        let json = """
             { "unknown": {"a": [1, {"b": null}]}, "text" : "\\u0041\\u00e9\\ud83d\\udea2\\/", "escaped": "",
              "count": 3.0, "big": -9223372036854775808, "small": 1, "unsigned": 0, "ratio": 2.5E3, "flag": false,
              "when": 0, "blob": "", "color": "red", "missing": null, "present": null,
              "inner": {"values": [], "name": "n", "nested": null}, "list": [], "map": {}, "numbers": {}, "empty": [],
              "optionals": [null] }
            """
        let bytes = Array(json.utf8)
        let tape = try TapeJSONDecoder.decode(Sample.self, from: bytes)
        #expect(tape == (try Self.foundation(Sample.self, bytes)))
        #expect(tape.text == "Aé🚢/" && tape.count == 3 && tape.ratio == 2500 && tape.present == nil)
    }

    @Test func decodesECSShapesAsFoundationDoes() throws {
        let task = ECSTask(
            attachments: [], clusterArn: "arn:aws:ecs:us-east-1:000000000000:cluster/c",
            containers: [Container(name: "web", networkBindings: [NetworkBinding(containerPort: 80, hostPort: 32768)])],
            cpu: "256", createdAt: Date(timeIntervalSince1970: 1_700_000_000.5), desiredStatus: "RUNNING", lastStatus: "RUNNING",
            tags: [ResourceTag(key: "k", value: "v")], taskArn: "arn:aws:ecs:us-east-1:000000000000:task/c/0123")
        let bytes = try StreamingJSONEncoder.encode(task)
        #expect(try TapeJSONDecoder.decode(ECSTask.self, from: bytes) == (try Self.foundation(ECSTask.self, bytes)))
        #expect(try TapeJSONDecoder.decode(ECSTask.self, from: bytes) == task)
    }

    @Test(arguments: [
        "", "{", "[1,", #"{"a" 1}"#, #"{"a":1,}"#, "[1 2]", "nul", "tru", #""open"#, "{} {}", "\"a\u{1}b\"", #"{1:2}"#,
        String(repeating: "[", count: 600) + String(repeating: "]", count: 600), "-", #"{"text":"\u12"}"#,
    ])
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(throws: DecodingError.self) { try TapeJSONDecoder.decode(AnyJSON.self, from: Array(text.utf8)) }
    }

    @Test(arguments: ["1", "-2.5e3", #""s""#, "true", "null", "[]", "{}", #"{"a":[1,{"b":null}],"c":"\u00e9"}"#, " [ 1 , 2 ] "])
    func acceptsWhatIsJSON(_ text: String) throws {
        #expect(try TapeJSONDecoder.decode(AnyJSON.self, from: Array(text.utf8)) == (try Self.foundation(AnyJSON.self, Array(text.utf8))))
    }

    /// Any JSON value.
    indirect enum AnyJSON: Decodable, Equatable {
        case null, bool(Bool), number(Double), string(String), array([AnyJSON]), object([String: AnyJSON])

        init(from decoder: any Decoder) throws {
            let single = try decoder.singleValueContainer()
            if single.decodeNil() {
                self = .null
            } else if let value = try? single.decode(Bool.self) {
                self = .bool(value)
            } else if let value = try? single.decode(Double.self) {
                self = .number(value)
            } else if let value = try? single.decode(String.self) {
                self = .string(value)
            } else if let value = try? single.decode([AnyJSON].self) {
                self = .array(value)
            } else {
                self = .object(try single.decode([String: AnyJSON].self))
            }
        }
    }

    /// Keys alike in length and first byte (one fingerprint bit), an escaped key, the empty key and
    /// absent keys: a search that a key's fingerprint cannot settle still compares bytes.
    struct Alike: Codable, Equatable {
        var ab: Int?
        var ac: Int?
        var ad: Int?
        var name: String?
        var empty: Int?
        var bc: Int?

        enum CodingKeys: String, CodingKey {
            case ab, ac, ad, name, empty = "", bc
        }
    }

    @Test(arguments: [
        #"{"ac": 2, "ab": 1}"#, #"{"n\u0061me": "x", "ad": 4}"#, #"{"": 5, "bc": 6}"#, #"{"ab": 1, "ac": 2, "ad": 3, "name": "y", "": 0, "bc": 9}"#,
        #"{"ba": 1, "acc": 2, "a": 3}"#, "{}",
    ])
    func findsKeysByTheirBytesWhateverTheirFingerprint(_ text: String) throws {
        let bytes = Array(text.utf8)
        #expect(try TapeJSONDecoder.decode(Alike.self, from: bytes) == (try Self.foundation(Alike.self, bytes)))
    }

    @Test func refusesValuesOfTheWrongTypeOrSize() throws {
        #expect(throws: DecodingError.self) { try TapeJSONDecoder.decode([Int8].self, from: Array("[128]".utf8)) }
        #expect(throws: DecodingError.self) { try TapeJSONDecoder.decode([Int].self, from: Array("[1.5]".utf8)) }
        #expect(throws: DecodingError.self) { try TapeJSONDecoder.decode([Int64].self, from: Array("[-9223372036854775809]".utf8)) }
        #expect(throws: DecodingError.self) { try TapeJSONDecoder.decode([UInt8].self, from: Array("[-1]".utf8)) }
        #expect(throws: DecodingError.self) { try TapeJSONDecoder.decode([Double].self, from: Array("[1e400]".utf8)) }
        #expect(try TapeJSONDecoder.decode([Int].self, from: Array("[1e2, -0, 7.0]".utf8)) == [100, 0, 7])
        #expect(throws: DecodingError.self) { try TapeJSONDecoder.decode([String].self, from: Array("[1]".utf8)) }
        #expect(throws: DecodingError.self) { try TapeJSONDecoder.decode(Inner.self, from: Array(#"{"values":[]}"#.utf8)) }
        #expect(throws: DecodingError.self) { try TapeJSONDecoder.decode([Color].self, from: Array(#"["blue"]"#.utf8)) }
    }
}
