import AgentProtocol
import AWSProtocols
import Foundation
import LambdaShapes
import StevedoreCore
import Synchronization

/// Invoke: `POST /2015-03-31/functions/{name}/invocations` with Lambda's headers.
extension LambdaAPI {
    static func requestTooLarge(_ limit: Int) -> AWSError {
        AWSError(
            type: "RequestTooLargeException", message: "Request must be smaller than \(limit) bytes for the InvokeFunction operation",
            httpStatus: 413, extraFields: ["Type": "User"])
    }

    static func invoke(_ request: RESTRequest, runtime: any FunctionRuntime, settings: FunctionSettings) async -> APIResponse {
        // Invocation ids are UUIDs (`Lambda-Runtime-Aws-Request-Id`), not the server's request ids.
        let requestId = UUID().uuidString.lowercased()
        let name = request.parameter("name")
        let qualifier = request.query("Qualifier")
        do throws(AWSError) {
            let type = request.header("X-Amz-Invocation-Type") ?? "RequestResponse"
            guard ["RequestResponse", "Event", "DryRun"].contains(type) else {
                throw AWSError.lambdaInvalidParameter(
                    "1 validation error detected: Value '\(type)' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]")
            }
            let logType = request.header("X-Amz-Log-Type") ?? "None"
            guard logType == "None" || logType == "Tail" else {
                throw AWSError.lambdaInvalidParameter(
                    "1 validation error detected: Value '\(logType)' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [Tail, None]")
            }
            if type == "Event", request.body.count > settings.asynchronousPayloadLimit {
                throw requestTooLarge(settings.asynchronousPayloadLimit)
            }
            // No payload is an empty event, `{}`, as Lambda passes it to the runtime.
            let payload = request.body.isEmpty ? Data("{}".utf8) : Data(request.body)
            if !payload.isEmpty {
                guard (try? JSONSerialization.jsonObject(with: payload, options: [.fragmentsAllowed])) != nil else {
                    throw AWSError(
                        type: "InvalidRequestContentException", message: "Could not parse request body into json: the payload is not valid JSON.",
                        extraFields: ["Type": "User"])
                }
            }
            var clientContext: String?
            if let encoded = request.header("X-Amz-Client-Context") {
                guard encoded.utf8.count <= 3583, let decoded = Data(base64Encoded: encoded) else {
                    throw AWSError.lambdaInvalidParameter("Client context must be base64-encoded JSON of at most 3583 bytes.")
                }
                clientContext = String(decoding: decoded, as: UTF8.self)
            }
            let trace = request.header("X-Amzn-Trace-Id") ?? newTraceId(at: runtime.now())
            switch type {
            case "DryRun":
                _ = try await runtime.check(name, qualifier: qualifier)
                return APIResponse(status: 204, headers: [("x-amzn-RequestId", requestId)], body: [])
            case "Event":
                let target = try await runtime.check(name, qualifier: qualifier)
                try await runtime.enqueue(
                    requestId: requestId, function: target.spec.functionName,
                    qualifier: qualifier ?? (try? FunctionNames.parse(name))?.qualifier, payload: payload)
                return APIResponse(status: 202, headers: [("x-amzn-RequestId", requestId)], body: [])
            default:
                let outcome = try await runtime.invoke(
                    InvocationRequest(
                        reference: name, qualifier: qualifier, payload: payload, requestId: requestId, traceId: trace,
                        clientContext: clientContext, tailLogs: logType == "Tail"))
                return invocationResponse(outcome, requestId: requestId, tail: logType == "Tail")
            }
        } catch {
            return RESTErrorStyle.lambda.response(error, requestId: requestId)
        }
    }

    static func invocationResponse(_ outcome: InvocationOutcome, requestId: String, tail: Bool) -> APIResponse {
        var headers: [(String, String)] = [("x-amzn-RequestId", requestId), ("Content-Type", "application/json")]
        switch outcome.status {
        case .success, .functionError:
            headers.append(("X-Amz-Executed-Version", outcome.executedVersion))
            if outcome.status == .functionError { headers.append(("X-Amz-Function-Error", "Unhandled")) }
            if tail, let log = outcome.log { headers.append(("X-Amz-Log-Result", Data(log.suffix(4096)).base64EncodedString())) }
            return APIResponse(status: 200, headers: headers, body: Array(outcome.payload))
        case .environmentFailure:
            let message = InvocationErrorBody(outcome.payload)?.errorMessage ?? "The execution environment failed."
            let type = outcome.errorType ?? "ServiceException"
            let status = type == "ServiceException" ? 500 : 502
            return RESTErrorStyle.lambda.response(
                AWSError(type: type, message: message, httpStatus: status, extraFields: ["Type": "Service"]), requestId: requestId)
        }
    }

    /// An X-Ray trace header: `Root=1-<epoch hex>-<24 hex>;Parent=<16 hex>;Sampled=0`.
    /// Its random part comes from a generator seeded once (trace ids need to be unique, not secret;
    /// the system's generator costs a system call per number, on every gateway request).
    public static func newTraceId(at now: Date) -> String {
        let (first, second, parent) = traceRandom.withLock { ($0.next(), $0.next(), $0.next()) }
        var text: [UInt8] = []
        text.reserveCapacity(80)
        func hex(_ value: UInt64, digits: Int) {
            for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) { text.append(hexDigits[Int((value >> UInt64(shift)) & 0xF)]) }
        }
        text.append(contentsOf: "Root=1-".utf8)
        hex(UInt64(max(0, Int(now.timeIntervalSince1970))), digits: 8)
        text.append(UInt8(ascii: "-"))
        hex(first, digits: 16)
        hex(second, digits: 8)
        text.append(contentsOf: ";Parent=".utf8)
        hex(parent, digits: 16)
        text.append(contentsOf: ";Sampled=0".utf8)
        return String(decoding: text, as: UTF8.self)
    }

    private static let traceRandom = Mutex(Xoshiro256(seed: UInt64.random(in: 0...UInt64.max)))
    private static let hexDigits = Array("0123456789abcdef".utf8)
}

/// The `{"errorType": …, "errorMessage": …}` body runtimes post for errors.
public struct InvocationErrorBody: Codable, Sendable, Equatable {
    public var errorType: String?
    public var errorMessage: String?

    public init(errorType: String?, errorMessage: String?) {
        self.errorType = errorType
        self.errorMessage = errorMessage
    }

    /// Parses a payload as an error body; nil when it is not one.
    public init?(_ payload: Data) {
        guard let body = try? JSONDecoder().decode(InvocationErrorBody.self, from: payload) else { return nil }
        self = body
    }

    /// The body for an error of the platform's own.
    public static func encoded(_ type: String, _ message: String) -> Data {
        Data(AWSJSONCodec.encode(InvocationErrorBody(errorType: type, errorMessage: message)))
    }
}
