import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// Request and response bodies of AWS's JSON protocols (JSON 1.0/1.1, REST-JSON bodies):
/// members by their model names, timestamps as epoch seconds. Decoding failures become AWS errors
/// that name the offending field, so a client learns exactly what to fix.
public enum AWSJSONCodec {
    public static func decode<Input: Decodable>(_ type: Input.Type, from body: [UInt8]) throws(AWSError) -> Input {
        // JSON text is UTF-8 (RFC 8259 §8.1); Foundation's decoder would otherwise let broken bytes through.
        guard String(validating: body, as: UTF8.self) != nil else {
            throw AWSError(type: "SerializationException", message: "The request body is not valid UTF-8.")
        }
        let bytes = body.allSatisfy { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 } ? Array("{}".utf8) : body
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        do {
            return try decoder.decode(type, from: Data(bytes))
        } catch let error as DecodingError {
            throw awsError(for: error)
        } catch {
            throw AWSError(type: "SerializationException", message: "The request body could not be read: \(error)")
        }
    }

    public static func encode<Output: Encodable>(_ value: Output) -> [UInt8] {
        // Output shapes are plain Codable value types with finite numbers; encoding them cannot fail.
        (try? StreamingJSONEncoder.encode(value)) ?? Array("{}".utf8)
    }

    /// `{"__type": "...", "message": "..."}` plus any extra members.
    public static func errorBody(_ error: AWSError) -> [UInt8] {
        guard error.extraLists.isEmpty else {
            var fields = error.extraFields.mapValues { JSONValue.string($0) }
            for (name, list) in error.extraLists { fields[name] = .array(list.map { .string($0) }) }
            fields["__type"] = .string(error.type)
            fields["message"] = .string(error.message)
            return encode(fields)
        }
        var fields = error.extraFields
        fields["__type"] = error.type
        fields["message"] = error.message
        return encode(fields)
    }

    static func awsError(for error: DecodingError) -> AWSError {
        switch error {
        case .keyNotFound(let key, let context):
            let path = fieldPath(context.codingPath + [key])
            return .invalidParameter("Missing required parameter '\(path)'.")
        case .typeMismatch(let type, let context):
            let path = fieldPath(context.codingPath)
            return AWSError(
                type: "SerializationException",
                message: "Wrong type for '\(path.isEmpty ? "request body" : path)': expected \(describe(type))."
            )
        case .valueNotFound(let type, let context):
            let path = fieldPath(context.codingPath)
            return AWSError(
                type: "SerializationException",
                message: "'\(path)' is null; expected \(describe(type))."
            )
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                let detail = context.underlyingError.map { "\($0)" }
                return AWSError(
                    type: "SerializationException",
                    message: "The request body is not valid JSON\(detail.map { ": \($0)" } ?? ".")"
                )
            }
            let path = fieldPath(context.codingPath)
            return .invalidParameter("Invalid '\(path)': \(context.debugDescription)")
        @unknown default:
            return AWSError(type: "SerializationException", message: "The request body could not be read.")
        }
    }

    /// `containerDefinitions[0].portMappings[1].protocol`.
    static func fieldPath(_ path: [any CodingKey]) -> String {
        var result = ""
        for key in path {
            if let index = key.intValue {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return result
    }

    static func describe(_ type: Any.Type) -> String {
        let name = String(describing: type)
        switch name {
        case "Int", "Double", "Int64": return "a number"
        case "String": return "a string"
        case "Bool": return "true or false"
        case _ where name.hasPrefix("Array"): return "a list"
        case _ where name.hasPrefix("Dictionary"): return "an object"
        default: return "an object (\(name))"
        }
    }
}
