/// An AWS string enum. Decoding an unknown value fails with a message that lists the valid values,
/// which the API layer turns into an `InvalidParameterException` naming the field.
public protocol AWSEnum: RawRepresentable, CaseIterable, Decodable where RawValue == String {}

extension AWSEnum {
    public static func decodeValue(from decoder: any Decoder) throws -> Self {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        if let value = Self(rawValue: raw) {
            return value
        }
        throw DecodingError.dataCorrupted(
            .init(codingPath: decoder.codingPath, debugDescription: invalidValueMessage(raw))
        )
    }

    /// "Invalid value 'x'. Valid values: a, b, c."
    public static func invalidValueMessage(_ raw: String) -> String {
        "Invalid value '\(raw)'. Valid values: \(allCases.map(\.rawValue).joined(separator: ", "))."
    }
}
