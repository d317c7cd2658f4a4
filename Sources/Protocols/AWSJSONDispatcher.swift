#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// What an operation handler knows about the request besides its input.
public struct OperationContext: Sendable {
    public var requestId: String
    /// Size of the request body, for limits stated in bytes (task definitions: 64 KiB).
    public var bodySize: Int
    /// Who signed the request; nil when authentication is off.
    public var caller: Caller?
    /// For agents' operations, the container instance whose credentials signed the request (nil
    /// when agents need none): the operation acts for that instance only.
    public var agentInstance: String?

    public init(requestId: String, bodySize: Int, caller: Caller? = nil, agentInstance: String? = nil) {
        self.requestId = requestId
        self.bodySize = bodySize
        self.caller = caller
        self.agentInstance = agentInstance
    }
}

/// The principal a request was signed as: the account's root (the administrator) or an IAM user.
public struct Caller: Sendable, Equatable {
    public var arn: String
    /// `AIDA…` for users; the account id for the root.
    public var userId: String
    /// The IAM user's name; nil for the root.
    public var userName: String?
    public var accessKeyId: String

    public init(arn: String, userId: String, userName: String?, accessKeyId: String) {
        self.arn = arn
        self.userId = userId
        self.userName = userName
        self.accessKeyId = accessKeyId
    }
}

/// An HTTP answer, independent of the server library.
public struct APIResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func error(_ error: AWSError, contentType: String = AWSJSONDispatcher.contentType11) -> APIResponse {
        APIResponse(
            status: error.httpStatus,
            headers: [("Content-Type", contentType), ("X-Amzn-ErrorType", error.type)] + error.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            body: AWSJSONCodec.errorBody(error)
        )
    }
}

/// Routes AWS JSON protocol requests (`POST /` with `X-Amz-Target: <prefix>.<Operation>`) to typed handlers.
public struct AWSJSONDispatcher: Sendable {
    public static let contentType10 = "application/x-amz-json-1.0"
    public static let contentType11 = "application/x-amz-json-1.1"

    public typealias Handler = @Sendable ([UInt8], OperationContext) async -> APIResponse

    private var handlers: [String: Handler] = [:]
    private var contentTypes: [String: String] = [:]
    /// Answers repeated reads while the state is unchanged (nil: every read is computed).
    private let readCache: ReadCache?

    public init(readCache: ReadCache? = nil) {
        self.readCache = readCache
    }

    /// Registers every operation of a service (see ``JSONOperations``); reads go through the read cache.
    public mutating func add<Committer: StateCommitting>(_ operations: JSONOperations<Committer>) {
        for operation in operations.operations {
            let handler = operation.read.flatMap { read in readCache?.caching(operation.name, read) } ?? operation.handler
            registerRaw(operations.targetPrefix, operation.name, contentType: operations.contentType, handler)
        }
    }

    /// Registers `<targetPrefix>.<operation>` with a handler from its input shape to its output shape.
    public mutating func register<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ targetPrefix: String,
        _ operation: String,
        contentType: String = AWSJSONDispatcher.contentType11,
        decodeErrorType: String? = nil,
        _ handler: @escaping @Sendable (Input, OperationContext) async throws(AWSError) -> Output
    ) {
        registerRaw(targetPrefix, operation, contentType: contentType, Self.typed(contentType: contentType, decodeErrorType: decodeErrorType, handler))
    }

    /// Registers a handler that sees the raw body (for caching layers in front of a typed handler).
    public mutating func registerRaw(
        _ targetPrefix: String,
        _ operation: String,
        contentType: String = AWSJSONDispatcher.contentType11,
        _ handler: @escaping Handler
    ) {
        contentTypes[targetPrefix] = contentType
        handlers["\(targetPrefix).\(operation)"] = handler
    }

    /// Decodes the input shape, runs the handler, encodes the output shape or the AWS error.
    /// `decodeErrorType` renames invalid-input refusals for services whose API spells them
    /// differently (Application Auto Scaling: `ValidationException`).
    public static func typed<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        contentType: String = AWSJSONDispatcher.contentType11,
        decodeErrorType: String? = nil,
        _ handler: @escaping @Sendable (Input, OperationContext) async throws(AWSError) -> Output
    ) -> Handler {
        let read = typedRead(contentType: contentType, decodeErrorType: decodeErrorType, reads: { _ in nil }, handler)
        return { await read($0, $1).response }
    }

    /// Like ``typed(contentType:decodeErrorType:_:)`` for a read, naming the record kinds its
    /// answer depends on for the read cache (`reads` of the decoded input; nil: anything).
    static func typedRead<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        contentType: String,
        decodeErrorType: String?,
        reads: @escaping @Sendable (Input) -> [RecordKind]?,
        _ handler: @escaping @Sendable (Input, OperationContext) async throws(AWSError) -> Output
    ) -> ReadCache.Computation {
        { body, context in
            do throws(AWSError) {
                let input: Input
                do throws(AWSError) {
                    input = try AWSJSONCodec.decode(Input.self, from: body)
                } catch {
                    var renamed = error
                    if let decodeErrorType, error.type == "InvalidParameterException" { renamed.type = decodeErrorType }
                    throw renamed
                }
                let output = try await handler(input, context)
                let response = APIResponse(status: 200, headers: [("Content-Type", contentType)], body: AWSJSONCodec.encode(output))
                return (response, reads(input))
            } catch {
                return (.error(error, contentType: contentType), nil)
            }
        }
    }

    public func knows(targetPrefix: String) -> Bool { contentTypes[targetPrefix] != nil }

    /// Whether an operation of that whole target (`Prefix.Operation`) is served.
    public func knows(target: String) -> Bool { handlers[target] != nil }

    public func handle(target: String?, body: [UInt8], context: OperationContext) async -> APIResponse {
        guard let target, !target.isEmpty else {
            return .error(
                AWSError(
                    type: "UnknownOperationException",
                    message: "Missing X-Amz-Target header: send e.g. 'X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters'."
                )
            )
        }
        guard let handler = handlers[target] else {
            let prefix = target.split(separator: ".").first.map(String.init) ?? target
            let message =
                knows(targetPrefix: prefix)
                ? "Unknown operation '\(target)'."
                : "Unknown service target '\(target)': this endpoint serves \(contentTypes.keys.sorted().joined(separator: ", "))."
            return .error(AWSError(type: "UnknownOperationException", message: message))
        }
        return await handler(body, context)
    }
}

/// A service's AWS JSON operations under one target prefix, each bound the one way: decode the
/// input shape, run a pure operation through the committer, encode the output shape or the error.
/// Service modules build one and the control plane adds it to its dispatcher.
public struct JSONOperations<Committer: StateCommitting>: Sendable {
    struct Operation: Sendable {
        var name: String
        var handler: AWSJSONDispatcher.Handler
        /// For a read whose answer depends only on the request and the state: the handler that
        /// also names the record kinds the answer depends on (for the read cache).
        var read: ReadCache.Computation?
    }

    public let targetPrefix: String
    public let contentType: String
    /// The error type of inputs that fail to decode, for services that spell it differently
    /// (Application Auto Scaling: `ValidationException`).
    public let decodeErrorType: String?
    public let committer: Committer
    private(set) var operations: [Operation] = []

    public init(
        targetPrefix: String, contentType: String = AWSJSONDispatcher.contentType11, decodeErrorType: String? = nil, committer: Committer
    ) {
        self.targetPrefix = targetPrefix
        self.contentType = contentType
        self.decodeErrorType = decodeErrorType
        self.committer = committer
    }

    /// The operations' names, in the order they were bound.
    public var names: [String] { operations.map(\.name) }

    /// A read of the committed state (with the committer's time); answered from the read cache
    /// while what it reads is unchanged, unless `cacheable` is false (answers that depend on the
    /// time). `reads` names the record kinds the answer depends on, given the request (nil, the
    /// default: anything; a kind left out that the answer does depend on serves stale answers).
    /// Operations throw ``AWSError``s only; anything else is answered as a server fault.
    public mutating func read<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ name: String,
        cacheable: Bool = true,
        reads: @escaping @Sendable (Input) -> [RecordKind]? = { _ in nil },
        _ operation: @escaping @Sendable (Committer.Root, Input, Date) throws -> Output
    ) {
        let committer = self.committer
        let handler = { @Sendable (input: Input, _: OperationContext) async throws(AWSError) -> Output in
            try await committer.read { root, now throws(AWSError) in try AWSError.rethrow { try operation(root, input, now) } }
        }
        guard cacheable else { return custom(name, handler) }
        let read = AWSJSONDispatcher.typedRead(contentType: contentType, decodeErrorType: decodeErrorType, reads: reads, handler)
        operations.append(Operation(name: name, handler: { await read($0, $1).response }, read: read))
    }

    /// A write: runs in the committer's turn and answers once its changes are durable.
    public mutating func write<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ name: String,
        _ operation: @escaping @Sendable (inout Committer.Root, Input, inout Mutation, OperationContext) throws -> Output
    ) {
        let committer = self.committer
        custom(name) { (input: Input, context) throws(AWSError) in
            try await committer.write { root, mutation throws(AWSError) in
                try AWSError.rethrow { try operation(&root, input, &mutation, context) }
            }
        }
    }

    /// An operation that needs more than one read or write (a long poll).
    public mutating func custom<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ name: String,
        _ handler: @escaping @Sendable (Input, OperationContext) async throws(AWSError) -> Output
    ) {
        operations.append(
            Operation(name: name, handler: AWSJSONDispatcher.typed(contentType: contentType, decodeErrorType: decodeErrorType, handler), read: nil))
    }
}

/// The output of operations that answer with an empty object.
public struct EmptyOutput: Codable, Sendable, Equatable {
    public init() {}
}
