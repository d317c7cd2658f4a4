#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore
import Synchronization

/// One HTTP request as a route sees it, independent of the server library: the body is already
/// read (within the route's limit) and the caller authenticated.
public struct RESTRequest: Sendable {
    public var method: String
    public var path: String
    /// `{name}` segments of the route's path, percent-decoded.
    public var parameters: [String: String]
    /// Query items in order, percent-decoded.
    public var query: [(name: String, value: String)]
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var requestId: String
    /// On agents' routes, the container instance whose credentials signed the request (nil when
    /// agents need none): the route acts for that instance only.
    public var agentInstance: String?

    public init(
        method: String, path: String, parameters: [String: String] = [:], query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], body: [UInt8] = [], requestId: String, agentInstance: String? = nil
    ) {
        self.agentInstance = agentInstance
        self.method = method
        self.path = path
        self.parameters = parameters
        self.query = query
        self.headers = headers
        self.body = body
        self.requestId = requestId
    }

    /// A path parameter (empty when absent: routes only run when their pattern matched).
    public func parameter(_ name: String) -> String { parameters[name] ?? "" }

    /// Refuses an agent acting for an instance other than its own.
    public func checkAgent(actsFor instance: String) throws(AWSError) {
        if let agentInstance, agentInstance != instance { throw .notThisInstance(agentInstance, actingFor: instance) }
    }

    /// The first query item of that name.
    public func query(_ name: String) -> String? { query.first { $0.name == name }?.value }

    /// Every query item of that name, in order.
    public func queryAll(_ name: String) -> [String] { query.filter { $0.name == name }.map(\.value) }

    public func query(_ name: String, as type: Int.Type) -> Int? { query(name).flatMap(Int.init) }

    /// A header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }
}

/// How a REST service words its refusals on the wire.
public enum RESTErrorStyle: Sendable {
    /// Lambda: `x-amzn-ErrorType`, `{"Type": "User", "message": …}` (`Message` for some types).
    case lambda
    /// AWS JSON's shape over REST: `{"__type": …, "message": …}` with `application/json`.
    case json
    /// API Gateway: `x-amzn-ErrorType` and `{"message": …}` (plus `resourceType` where AWS adds it).
    case apiGateway
    /// Other REST-JSON services (EventBridge Scheduler): `x-amzn-ErrorType` and `{"Message": …}`;
    /// input that does not decode is a `ValidationException`.
    case restJSON

    public func response(_ error: AWSError, requestId: String?) -> APIResponse {
        var headers: [(String, String)] = []
        if let requestId { headers.append(("x-amzn-RequestId", requestId)) }
        switch self {
        case .json:
            var response = APIResponse.error(error, contentType: "application/json")
            response.headers += headers
            return response
        case .restJSON:
            headers += [("x-amzn-ErrorType", error.type), ("Content-Type", "application/json")]
            var body = error.extraFields
            body["Message"] = error.message
            return APIResponse(status: error.httpStatus, headers: headers, body: AWSJSONCodec.encode(body))
        case .apiGateway:
            headers += [("x-amzn-ErrorType", error.type), ("Content-Type", "application/json")]
            var body = error.extraFields
            body["message"] = error.message
            if error.httpStatus == 429 { headers.append(("Retry-After", "1")) }
            return APIResponse(status: error.httpStatus, headers: headers, body: AWSJSONCodec.encode(body))
        case .lambda:
            headers += [("x-amzn-ErrorType", error.type), ("Content-Type", "application/json")]
            headers += error.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            var body = error.extraFields
            body["Type"] = body["Type"] ?? (error.httpStatus >= 500 ? "Service" : "User")
            body[error.type == "ResourceNotFoundException" || error.type == "ServiceException" ? "Message" : "message"] = error.message
            if error.httpStatus == 429 { headers.append(("Retry-After", "1")) }
            return APIResponse(status: error.httpStatus, headers: headers, body: AWSJSONCodec.encode(body))
        }
    }

    /// Input that does not decode, in the style's error types.
    public func decodeError(_ error: AWSError) -> AWSError {
        switch self {
        case .json:
            return error
        case .apiGateway:
            return AWSError(type: "BadRequestException", message: error.message, httpStatus: 400)
        case .restJSON:
            return AWSError(type: "ValidationException", message: error.message, httpStatus: 400)
        case .lambda:
            if error.type == "SerializationException" {
                return AWSError(type: "InvalidRequestContentException", message: error.message, extraFields: ["Type": "User"])
            }
            return AWSError(type: "InvalidParameterValueException", message: error.message, extraFields: ["Type": "User"])
        }
    }

    /// A body over the route's limit.
    public func tooLarge(limit: Int) -> AWSError {
        switch self {
        case .apiGateway:
            return AWSError(type: "PayloadTooLargeException", message: "The request body is larger than \(limit) bytes.", httpStatus: 413)
        case .restJSON:
            return AWSError(type: "ValidationException", message: "The request body is larger than \(limit) bytes.")
        case .json:
            let size = limit % (1 << 20) == 0 ? "\(limit >> 20) MiB" : "\(limit) bytes"
            return AWSError(type: "SerializationException", message: "The request body could not be read (at most \(size) of JSON).")
        case .lambda:
            return AWSError(
                type: "RequestEntityTooLargeException", message: "The request body is larger than \(limit) bytes.", httpStatus: 413,
                extraFields: ["Type": "User"])
        }
    }
}

/// Who may call a route. The HTTP server checks it before the route runs.
public enum RouteAccess: Sendable {
    /// Anyone who reaches the endpoint (AWS APIs, until requests are signed).
    case api
    /// Agents only: they present the agent token when the control plane has one.
    case agent
}

/// One REST route: method, path pattern (`/2015-03-31/functions/{name}`), the largest body it
/// reads, who may call it, and the handler that answers.
public struct RESTRoute: Sendable {
    public var method: String
    public var path: String
    public var bodyLimit: Int
    public var access: RouteAccess
    public var errorStyle: RESTErrorStyle
    /// The refusal of a body over the limit, when the operation words it its own way.
    public var tooLarge: AWSError?
    public var handler: @Sendable (RESTRequest) async -> APIResponse

    public init(
        method: String, path: String, bodyLimit: Int = 1 << 20, access: RouteAccess = .api, errorStyle: RESTErrorStyle,
        tooLarge: AWSError? = nil, handler: @escaping @Sendable (RESTRequest) async -> APIResponse
    ) {
        self.method = method
        self.path = path
        self.bodyLimit = bodyLimit
        self.access = access
        self.errorStyle = errorStyle
        self.tooLarge = tooLarge
        self.handler = handler
    }

    /// What a body over the limit is refused with.
    public var tooLargeError: AWSError { tooLarge ?? errorStyle.tooLarge(limit: bodyLimit) }
}

/// A service's REST routes, each written the one way: decode the body (or none), run, encode the
/// output with the status the operation answers with, or the error in the service's style.
public struct RESTRoutes: Sendable {
    public let errorStyle: RESTErrorStyle
    public let access: RouteAccess
    public private(set) var routes: [RESTRoute] = []

    public init(errorStyle: RESTErrorStyle, access: RouteAccess = .api) {
        self.errorStyle = errorStyle
        self.access = access
    }

    /// A route whose body is the JSON input shape.
    public mutating func json<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ method: String, _ path: String, limit: Int = 1 << 20, status: Int = 200,
        _ body: @escaping @Sendable (Input, RESTRequest) async throws -> Output
    ) {
        let style = errorStyle
        raw(method, path, limit: limit) { request in
            do throws(AWSError) {
                let input: Input
                do throws(AWSError) {
                    input = try AWSJSONCodec.decode(Input.self, from: request.body)
                } catch {
                    throw style.decodeError(error)
                }
                let output = try await AWSError.rethrowing { try await body(input, request) }
                return Self.output(output, status: status, requestId: request.requestId)
            } catch {
                return style.response(error, requestId: request.requestId)
            }
        }
    }

    /// A route without a body (or whose body it ignores).
    public mutating func respond<Output: Encodable & Sendable>(
        _ method: String, _ path: String, status: Int = 200,
        _ body: @escaping @Sendable (RESTRequest) async throws -> Output
    ) {
        let style = errorStyle
        raw(method, path, limit: 0) { request in
            do throws(AWSError) {
                let output = try await AWSError.rethrowing { try await body(request) }
                return Self.output(output, status: status, requestId: request.requestId)
            } catch {
                return style.response(error, requestId: request.requestId)
            }
        }
    }

    /// A route that builds its own answer (headers of its own, a binary body).
    public mutating func raw(
        _ method: String, _ path: String, limit: Int = 1 << 20, tooLarge: AWSError? = nil,
        _ handler: @escaping @Sendable (RESTRequest) async -> APIResponse
    ) {
        routes.append(
            RESTRoute(
                method: method, path: path, bodyLimit: limit, access: access, errorStyle: errorStyle, tooLarge: tooLarge, handler: handler))
    }

    public mutating func append(contentsOf other: RESTRoutes) {
        routes += other.routes
    }

    /// A JSON answer; 204 answers carry no body.
    public static func output<Output: Encodable>(_ output: Output, status: Int, requestId: String) -> APIResponse {
        guard status != 204 else { return APIResponse(status: 204, headers: [("x-amzn-RequestId", requestId)], body: []) }
        return APIResponse(
            status: status, headers: [("Content-Type", "application/json"), ("x-amzn-RequestId", requestId)], body: AWSJSONCodec.encode(output))
    }
}

/// Unique, cheap request ids: a per-process random prefix and a counter.
public final class RequestIdGenerator: Sendable {
    /// Random per process (the version 4 nibble set): ids of two processes never meet.
    private let high = UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF_0FFF | 0x0000_0000_0000_4000
    /// Where this process's count starts.
    private let start = UInt64.random(in: 0...UInt64.max)
    private let counter = Atomic<UInt64>(0)

    public init() {}

    /// A UUID, as AWS's request ids are (`8-4-4-4-12` lowercase hex, version 4, RFC 4122
    /// variant): random per process, then a count, so that none repeats within it.
    public func next() -> String {
        let low = (start &+ counter.wrappingAdd(1, ordering: .relaxed).newValue) & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000
        return String(unsafeUninitializedCapacity: 36) { out in
            let digits: StaticString = "0123456789abcdef"
            var index = 0
            func put(_ value: UInt64, nibbles: Int) {
                for shift in stride(from: (nibbles - 1) * 4, through: 0, by: -4) {
                    out[index] = digits.utf8Start[Int((value >> UInt64(shift)) & 0xF)]
                    index += 1
                }
            }
            func dash() {
                out[index] = UInt8(ascii: "-")
                index += 1
            }
            put(high >> 32, nibbles: 8)
            dash()
            put(high >> 16, nibbles: 4)
            dash()
            put(high, nibbles: 4)
            dash()
            put(low >> 48, nibbles: 4)
            dash()
            put(low, nibbles: 12)
            return index
        }
    }
}

/// How a REST service answers requests to its paths that none of its routes takes (an operation
/// it does not serve, a wrong method, a path it does not know), in its own error shape.
public struct RESTFallback: Sendable {
    /// Whether a path is in the service's space.
    public var claims: @Sendable (_ path: String) -> Bool
    public var answer: @Sendable (_ method: String, _ path: String, _ requestId: String) -> APIResponse

    public init(
        claims: @escaping @Sendable (_ path: String) -> Bool,
        answer: @escaping @Sendable (_ method: String, _ path: String, _ requestId: String) -> APIResponse
    ) {
        self.claims = claims
        self.answer = answer
    }
}

extension AWSError {
    /// An agent acting for an instance other than the one its credentials name.
    public static func notThisInstance(_ caller: String, actingFor other: String) -> AWSError {
        AWSError(type: "AccessDeniedException", message: "Container instance \(caller) may not act for container instance \(other).")
    }
}
