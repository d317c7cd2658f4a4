#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Archives
import LambdaShapes
import StevedoreCore

/// One version of a function as stored: the configuration the API shows, and where its code is.
public struct FunctionVersionRecord: Codable, Sendable, Equatable {
    public var configuration: LambdaFunctionConfiguration
    /// Hex SHA-256 of the zip: its address in the code store (nil for image functions).
    public var codeHash: String?
    public var imageUri: String?
    public var imageConfig: LambdaImageConfig?
    /// Hex content addresses of the layers' zips, in `Layers` order.
    public var layerHashes: [String]

    public init(
        configuration: LambdaFunctionConfiguration, codeHash: String?, imageUri: String?, imageConfig: LambdaImageConfig?,
        layerHashes: [String]
    ) {
        self.configuration = configuration
        self.codeHash = codeHash
        self.imageUri = imageUri
        self.imageConfig = imageConfig
        self.layerHashes = layerHashes
    }

    public var version: String { configuration.Version ?? FunctionNames.latest }
    public var revisionId: String { configuration.RevisionId ?? "" }
}

/// A function: `$LATEST`, its published versions, aliases, concurrency and async settings.
public struct FunctionRecord: StoredRecord, Equatable {
    public var name: String
    public var latest: FunctionVersionRecord
    /// Published versions, ascending.
    public var versions: [FunctionVersionRecord] = []
    /// Version numbers are never reused, even after a version is deleted.
    public var lastVersionNumber = 0
    /// By alias name.
    public var aliases: [String: LambdaAliasConfiguration] = [:]
    /// `ReservedConcurrentExecutions`, when set.
    public var reservedConcurrency: Int?
    /// By qualifier (`$LATEST`, a version number or an alias name).
    public var eventInvokeConfigs: [String: LambdaFunctionEventInvokeConfig] = [:]
    public var tags: [String: String] = [:]
    /// The resource-based policy's statements (AddPermission); absent in records stored before it existed.
    public var permissions: [FunctionPermission]?
    /// Function URLs by qualifier (`$LATEST` or an alias).
    public var urls: [String: FunctionUrlRecord]?

    public init(name: String, latest: FunctionVersionRecord) {
        self.name = name
        self.latest = latest
    }

    public static var recordKind: RecordKind { .functions }
    public var recordKey: String { name }

    public func version(_ number: String) -> FunctionVersionRecord? {
        if number == FunctionNames.latest { return latest }
        return versions.first { $0.configuration.Version == number }
    }
}

/// One published version of a layer.
public struct LayerVersionRecord: Codable, Sendable, Equatable {
    public var version: Int
    public var description: String?
    public var createdDate: String
    public var compatibleRuntimes: [LambdaRuntime]?
    public var compatibleArchitectures: [LambdaArchitecture]?
    public var licenseInfo: String?
    /// Base64 SHA-256, as the API shows it.
    public var codeSha256: String
    /// Hex SHA-256: the zip's address in the code store.
    public var codeHash: String
    public var codeSize: Int
}

/// A layer and its versions (ascending); numbers are never reused.
public struct LayerRecord: StoredRecord, Equatable {
    public var name: String
    public var lastVersion = 0
    public var versions: [LayerVersionRecord] = []

    public init(name: String) {
        self.name = name
    }

    public static var recordKind: RecordKind { .layers }
    public var recordKey: String { name }
}

/// An `Event` invocation waiting in the durable queue (deleted once delivered or dead-lettered).
public struct AsyncEventRecord: StoredRecord, Equatable {
    public var requestId: String
    public var functionName: String
    public var qualifier: String?
    public var payload: Data
    public var enqueuedAt: Date
    /// Invocations that ended in a function error so far (retries are counted against MaximumRetryAttempts).
    public var failedAttempts = 0
    /// Deliveries tried so far for any reason (the destination record's `approximateInvokeCount`).
    public var invokeCount = 0
    public var nextAttemptAt: Date
    /// How long the next throttle or system error waits (1 s doubling up to 5 min).
    public var throttleDelay: TimeInterval = 1
    public var lastError: AsyncFailure?

    public init(requestId: String, functionName: String, qualifier: String?, payload: Data, enqueuedAt: Date) {
        self.requestId = requestId
        self.functionName = functionName
        self.qualifier = qualifier
        self.payload = payload
        self.enqueuedAt = enqueuedAt
        nextAttemptAt = enqueuedAt
    }

    public static var recordKind: RecordKind { .asyncEvents }
    public var recordKey: String { requestId }
}

/// Why an asynchronous delivery failed: what the DLQ's message attributes carry.
public struct AsyncFailure: Codable, Sendable, Equatable {
    /// The HTTP status a synchronous caller would have seen (200 for function errors).
    public var statusCode: Int
    public var errorType: String
    public var errorMessage: String
    public var executedVersion: String?
    public var responsePayload: Data?

    public init(statusCode: Int, errorType: String, errorMessage: String, executedVersion: String? = nil, responsePayload: Data? = nil) {
        self.statusCode = statusCode
        self.errorType = errorType
        self.errorMessage = errorMessage
        self.executedVersion = executedVersion
        self.responsePayload = responsePayload
    }
}

/// ARN and name forms Lambda accepts.
public enum FunctionNames {
    public static let latest = "$LATEST"

    /// Splits `name`, `name:qualifier`, `123456789012:function:name[:q]` or a full ARN into the
    /// function name and its qualifier.
    public static func parse(_ reference: String) throws(AWSError) -> (name: String, qualifier: String?) {
        let parts = reference.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var name: String
        var qualifier: String?
        switch parts.count {
        case 1: name = parts[0]
        case 2: (name, qualifier) = (parts[0], parts[1])
        case 3 where parts[1] == "function": name = parts[2]
        case 4 where parts[1] == "function": (name, qualifier) = (parts[2], parts[3])
        case 7 where parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function": name = parts[6]
        case 8 where parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function": (name, qualifier) = (parts[6], parts[7])
        default:
            throw invalidName(reference)
        }
        guard isValidName(name) else { throw invalidName(reference) }
        if let qualifier, !isValidQualifier(qualifier) {
            throw AWSError.lambdaInvalidParameter(
                "Invalid qualifier '\(qualifier)': use $LATEST, a version number or an alias name ([a-zA-Z0-9$_-]{1,128}).")
        }
        return (name, qualifier)
    }

    static func invalidName(_ reference: String) -> AWSError {
        .lambdaInvalidParameter(
            "1 validation error detected: Value '\(reference)' at 'functionName' failed to satisfy constraint: "
                + "Member must satisfy regular expression pattern: a function name ([a-zA-Z0-9-_]{1,64}), "
                + "optionally with :qualifier, or its ARN.")
    }

    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy(NameRules.isNameByte)
    }

    static func isValidQualifier(_ qualifier: String) -> Bool {
        (1...128).contains(qualifier.utf8.count) && qualifier.utf8.allSatisfy { NameRules.isNameByte($0) || $0 == UInt8(ascii: "$") }
    }
}

extension ResourceNames {
    public func function(_ name: String) -> String { "arn:\(partition):lambda:\(region):\(accountId):function:\(name)" }
    public func function(_ name: String, qualifier: String) -> String { function(name) + ":" + qualifier }
    public func layer(_ name: String) -> String { "arn:\(partition):lambda:\(region):\(accountId):layer:\(name)" }
    public func layerVersion(_ name: String, version: Int) -> String { layer(name) + ":\(version)" }
}

extension AWSError {
    /// Lambda's validation error (400).
    public static func lambdaInvalidParameter(_ message: String) -> AWSError {
        AWSError(type: "InvalidParameterValueException", message: message, extraFields: ["Type": "User"])
    }

    /// Lambda's 404; its model spells the member `Message`.
    public static func lambdaNotFound(_ message: String) -> AWSError {
        AWSError(type: "ResourceNotFoundException", message: message, httpStatus: 404, extraFields: ["Type": "User"])
    }

    public static func lambdaConflict(_ message: String) -> AWSError {
        AWSError(type: "ResourceConflictException", message: message, httpStatus: 409, extraFields: ["Type": "User"])
    }

    public static func lambdaPreconditionFailed(_ message: String) -> AWSError {
        AWSError(type: "PreconditionFailedException", message: message, httpStatus: 412, extraFields: ["Type": "User"])
    }

    /// 429 with Lambda's `Reason`.
    public static func lambdaThrottled(_ reason: String, message: String = "Rate Exceeded.") -> AWSError {
        AWSError(type: "TooManyRequestsException", message: message, httpStatus: 429, extraFields: ["Type": "User", "Reason": reason])
    }

    public static func lambdaService(_ message: String) -> AWSError {
        AWSError(type: "ServiceException", message: message, httpStatus: 500, extraFields: ["Type": "Service"])
    }
}
