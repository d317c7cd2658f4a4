/// An error an AWS-compatible API returns to its caller: the error type (`__type`) and a message
/// that says what to fix. Every refusal in Stevedore is one of these; nothing else reaches a client.
public struct AWSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The AWS error shape name, e.g. `ClientException`, `ClusterNotFoundException`.
    public var type: String
    public var message: String
    /// 400 for client errors, 500 for server faults, 429 for throttling.
    public var httpStatus: Int
    /// Extra members some services put beside `message` (Lambda's `Type`, `Reason`).
    public var extraFields: [String: String]
    /// Extra response headers (SQS's query-compatible error code, `Retry-After`).
    public var headers: [String: String]
    /// Extra list members (ECS ConflictException's `resourceIds`).
    public var extraLists: [String: [String]] = [:]

    public init(type: String, message: String, httpStatus: Int = 400, extraFields: [String: String] = [:], headers: [String: String] = [:]) {
        self.type = type
        self.message = message
        self.httpStatus = httpStatus
        self.extraFields = extraFields
        self.headers = headers
    }

    public var description: String { "\(type): \(message)" }

    /// Whether trying again later may succeed: server faults and throttling, not refusals.
    public var isRetryable: Bool { httpStatus >= 500 || httpStatus == 429 || type == "ThrottlingException" }
}

extension AWSError {
    public static func client(_ message: String) -> AWSError {
        AWSError(type: "ClientException", message: message)
    }

    public static func invalidParameter(_ message: String) -> AWSError {
        AWSError(type: "InvalidParameterException", message: message)
    }

    public static func server(_ message: String) -> AWSError {
        AWSError(type: "ServerException", message: message, httpStatus: 500)
    }

    public static func resourceNotFound(_ message: String = "The specified resource could not be found.") -> AWSError {
        AWSError(type: "ResourceNotFoundException", message: message)
    }
}

extension AWSError {
    /// Runs code written with untyped `throws` whose only errors are ``AWSError``s; anything else is
    /// a bug, reported as a server fault instead of crashing.
    public static func rethrow<Result>(_ body: () throws -> Result) throws(AWSError) -> Result {
        do {
            return try body()
        } catch let error as AWSError {
            throw error
        } catch {
            throw .server("Internal error: \(error)")
        }
    }
}

extension AWSError {
    /// The async form of ``rethrow(_:)``.
    public static func rethrowing<Result>(_ body: () async throws -> Result) async throws(AWSError) -> Result {
        do {
            return try await body()
        } catch let error as AWSError {
            throw error
        } catch {
            throw .server("Internal error: \(error)")
        }
    }
}
