import StevedoreCore

/// An access key, its secret, and the session token of temporary credentials.
public struct AWSCredentials: Sendable, Equatable {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// A new long-term key as IAM issues them: `AKIA` and 16 characters of base32, a secret of 40
    /// characters of base64's alphabet, from the system's cryptographic generator.
    public static func generate() -> AWSCredentials {
        var random = SystemRandomNumberGenerator()
        return generate(using: &random)
    }

    public static func generate<Random: RandomNumberGenerator>(using random: inout Random) -> AWSCredentials {
        let keyAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        let secretAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        let id = "AKIA" + String((0..<16).map { _ in keyAlphabet[Int(random.next(upperBound: UInt32(keyAlphabet.count)))] })
        let secret = String((0..<40).map { _ in secretAlphabet[Int(random.next(upperBound: UInt32(secretAlphabet.count)))] })
        return AWSCredentials(accessKeyId: id, secretAccessKey: secret)
    }
}

/// The AWS shared credentials file (`~/.aws/credentials`): one `[profile]` section per set of
/// credentials, `key = value` lines, `#` and `;` comments. Also reads the config file's
/// `[profile name]` sections.
public enum SharedCredentialsFile {
    /// The credentials of each profile that names both an access key and its secret.
    public static func parse(_ text: String) -> [String: AWSCredentials] {
        var values: [String: [String: String]] = [:]
        var section: String?
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingWhitespace
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                var name = line.dropFirst().dropLast().trimmingWhitespace
                if name.hasPrefix("profile ") { name = name.dropFirst("profile ".count).trimmingWhitespace }
                section = name
                continue
            }
            guard let section, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingWhitespace.lowercased()
            values[section, default: [:]][key] = line[line.index(after: equals)...].trimmingWhitespace
        }
        return values.compactMapValues { fields in
            guard let id = fields["aws_access_key_id"], let secret = fields["aws_secret_access_key"], !id.isEmpty, !secret.isEmpty
            else { return nil }
            return AWSCredentials(accessKeyId: id, secretAccessKey: secret, sessionToken: fields["aws_session_token"])
        }
    }

    /// One profile's section, as the AWS CLI writes it.
    public static func render(profile: String, _ credentials: AWSCredentials) -> String {
        var text = "[\(profile)]\naws_access_key_id = \(credentials.accessKeyId)\naws_secret_access_key = \(credentials.secretAccessKey)\n"
        if let token = credentials.sessionToken { text += "aws_session_token = \(token)\n" }
        return text
    }
}

