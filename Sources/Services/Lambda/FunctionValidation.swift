#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Archives
import LambdaShapes
import StevedoreCore

/// A code bundle as the control plane stored it (the zip is in the content-addressed code store).
public struct CodeBundle: Sendable, Equatable {
    /// Hex SHA-256: the address in the store.
    public var hash: String
    /// Base64 SHA-256: Lambda's `CodeSha256`.
    public var sha256: String
    /// Bytes of the zip: Lambda's `CodeSize`.
    public var size: Int
    public var unzippedSize: Int
    public var paths: Set<String>

    public init(hash: String, sha256: String, size: Int, unzippedSize: Int, paths: Set<String>) {
        self.hash = hash
        self.sha256 = sha256
        self.size = size
        self.unzippedSize = unzippedSize
        self.paths = paths
    }

    /// Validates and measures a zip: what CreateFunction, UpdateFunctionCode and PublishLayerVersion
    /// accept. The unzipped size is what the entries really inflate to (a zip bomb's directory
    /// declares little); names must be UTF-8 and stay inside the archive; there must be a file.
    public static func inspect(_ zip: [UInt8], settings: FunctionSettings) throws(AWSError) -> CodeBundle {
        guard zip.count <= settings.maximumZipSize else {
            throw AWSError(
                type: "RequestEntityTooLargeException", message: "Zipped size must be smaller than \(settings.maximumZipSize) bytes",
                httpStatus: 413, extraFields: ["Type": "User"])
        }
        let unusable = AWSError(
            type: "InvalidParameterValueException", message: "Could not unzip uploaded file. Please check your file, then try to upload again.",
            extraFields: ["Type": "User"])
        let tooLarge = AWSError.lambdaInvalidParameter("Unzipped size must be smaller than \(settings.maximumUnzippedSize) bytes")
        let directory: ZipDirectory
        let unzippedSize: Int
        do {
            directory = try ZipDirectory(zip)
            guard directory.entries.contains(where: { !$0.isDirectory }) else { throw unusable }
            // Cheap first: a directory that already declares too much needs no inflating.
            guard directory.uncompressedSize < settings.maximumUnzippedSize else { throw tooLarge }
            unzippedSize = try ZipContents.unpackedSize(of: directory, in: zip, limit: settings.maximumUnzippedSize)
        } catch let error as AWSError {
            throw error
        } catch {
            throw unusable
        }
        guard unzippedSize < settings.maximumUnzippedSize else { throw tooLarge }
        let digest = Digest.sha256(zip)
        return CodeBundle(
            hash: Digest.hex(digest), sha256: Data(digest).base64EncodedString(), size: zip.count,
            unzippedSize: unzippedSize, paths: Set(directory.entries.map(\.path)))
    }
}

/// Lambda's field rules, with messages in its style that name the field.
enum FunctionValidation {
    static let reservedEnvironmentKeys: Set<String> = [
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    ]

    static func missing(_ field: String) -> AWSError {
        AWSError(type: "ValidationException", message: "1 validation error detected: Value null at '\(field)' failed to satisfy constraint: Member must not be null")
    }

    static func constraint(_ value: Any, _ field: String, _ rule: String) -> AWSError {
        .lambdaInvalidParameter("1 validation error detected: Value '\(value)' at '\(field)' failed to satisfy constraint: \(rule)")
    }

    static func memory(_ value: Int, _ settings: FunctionSettings) throws(AWSError) {
        guard settings.memoryRange.contains(value) else {
            throw value < settings.memoryRange.lowerBound
                ? constraint(value, "memorySize", "Member must have value greater than or equal to \(settings.memoryRange.lowerBound)")
                : constraint(value, "memorySize", "Member must have value less than or equal to \(settings.memoryRange.upperBound)")
        }
        guard value % settings.memoryStep == 0 else {
            throw AWSError.lambdaInvalidParameter(
                "MemorySize \(value) is not a multiple of \(settings.memoryStep) MB; use a value from \(settings.memoryRange.lowerBound) to \(settings.memoryRange.upperBound) in steps of \(settings.memoryStep).")
        }
    }

    static func timeout(_ value: Int, _ settings: FunctionSettings) throws(AWSError) {
        guard settings.timeoutRange.contains(value) else {
            throw value < settings.timeoutRange.lowerBound
                ? constraint(value, "timeout", "Member must have value greater than or equal to \(settings.timeoutRange.lowerBound)")
                : constraint(value, "timeout", "Member must have value less than or equal to \(settings.timeoutRange.upperBound)")
        }
    }

    static func ephemeralStorage(_ value: Int, _ settings: FunctionSettings) throws(AWSError) {
        guard settings.ephemeralStorageRange.contains(value) else {
            throw value < settings.ephemeralStorageRange.lowerBound
                ? constraint(value, "ephemeralStorage.size", "Member must have value greater than or equal to \(settings.ephemeralStorageRange.lowerBound)")
                : constraint(value, "ephemeralStorage.size", "Member must have value less than or equal to \(settings.ephemeralStorageRange.upperBound)")
        }
    }

    static func handler(_ value: String) throws(AWSError) {
        guard (1...128).contains(value.count), !value.contains(where: \.isWhitespace) else {
            throw constraint(value, "handler", "Member must satisfy regular expression pattern: [^\\s]+ and have length 1 to 128")
        }
    }

    static func description(_ value: String) throws(AWSError) {
        guard value.count <= 256 else {
            throw constraint(value.prefix(40) + "…", "description", "Member must have length less than or equal to 256")
        }
    }

    /// `arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`
    static func role(_ value: String) throws(AWSError) {
        let pattern = "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"
        let parts = value.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        let valid =
            parts.count == 6 && parts[0] == "arn" && (parts[1].isEmpty || parts[1].hasPrefix("aws")) && parts[2] == "iam"
            && parts[3].isEmpty && parts[4].count == 12 && parts[4].allSatisfy(\.isNumber) && parts[5].hasPrefix("role")
            && {
                var rest = parts[5].dropFirst(4)
                if rest.first == "/" { rest = rest.dropFirst() }
                return !rest.isEmpty && rest.allSatisfy { $0.isLetter || $0.isNumber || "+=,.@-_/".contains($0) }
            }()
        guard valid else { throw constraint(value, "role", "Member must satisfy regular expression pattern: \(pattern)") }
    }

    static func environment(_ variables: [String: String], _ settings: FunctionSettings) throws(AWSError) {
        for key in variables.keys.sorted() {
            let bytes = Array(key.utf8)
            let valid =
                bytes.count >= 2 && (bytes[0] | 0x20) >= UInt8(ascii: "a") && (bytes[0] | 0x20) <= UInt8(ascii: "z")
                && bytes.dropFirst().allSatisfy { NameRules.isNameByte($0) && $0 != UInt8(ascii: "-") }
            guard valid else {
                throw constraint(key, "environment.variables", "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+")
            }
        }
        let reserved = variables.keys.filter { reservedEnvironmentKeys.contains($0) }.sorted()
        guard reserved.isEmpty else {
            throw AWSError.lambdaInvalidParameter(
                "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: \(reserved.joined(separator: ", "))")
        }
        let size = variables.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        guard size <= settings.environmentLimit else {
            throw AWSError.lambdaInvalidParameter(
                "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: \(size) bytes.")
        }
    }

    static func vpc(_ config: LambdaVpcConfig) throws(AWSError) {
        if let subnets = config.SubnetIds, subnets.count > 16 {
            throw constraint(subnets.count, "vpcConfig.subnetIds", "Member must have length less than or equal to 16")
        }
        if let groups = config.SecurityGroupIds, groups.count > 5 {
            throw constraint(groups.count, "vpcConfig.securityGroupIds", "Member must have length less than or equal to 5")
        }
    }

    static func architectures(_ values: [LambdaArchitecture]) throws(AWSError) {
        guard values.count == 1 else {
            throw constraint(values.map(\.rawValue), "architectures", "Member must have length less than or equal to 1 and greater than or equal to 1")
        }
    }
}

/// `2024-05-01T12:30:45.123+0000`, the timestamp format of Lambda's string dates.
public enum LambdaTimestamp {
    public static func format(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = Int(milliseconds.quotientAndRemainder(dividingBy: 1000).quotient)
        let millis = Int(milliseconds - Int64(seconds) * 1000)
        var days = seconds / 86400
        var rest = seconds % 86400
        if rest < 0 {
            rest += 86400
            days -= 1
        }
        let (year, month, day) = CivilCalendar.date(days: days)
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(rest / 3600, 2)):\(pad(rest / 60 % 60, 2)):\(pad(rest % 60, 2)).\(pad(millis, 3))+0000"
    }
}
