import ECSAPI
import ECSCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The HTTP face of `ecsd`: AWS JSON protocol calls on `POST /`, health on `GET /healthz`.
struct APIServer {
    let dispatcher: AWSJSONDispatcher
    let agents: AgentChannel
    let maxRequestBytes: Int
    let requestIds = RequestIdGenerator()

    static let targetHeader = HTTPField.Name("X-Amz-Target")!
    static let requestIdHeader = HTTPField.Name("x-amzn-RequestId")!
    static let errorTypeHeader = HTTPField.Name("X-Amzn-ErrorType")!

    func buildRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/healthz") { _, _ -> Response in
            Self.response(APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array(#"{"status":"ok"}"#.utf8)), requestId: nil)
        }
        router.post("/") { request, _ -> Response in
            await handleAWSJSON(request)
        }
        router.post(RouterPath(AgentProtocol.pollPath)) { request, _ -> Response in
            await handleAgentPoll(request)
        }
        return router
    }

    func handleAWSJSON(_ request: Request) async -> Response {
        let requestId = requestIds.next()
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maxRequestBytes)
        } catch {
            let tooLarge = AWSError(
                type: "RequestEntityTooLargeException",
                message: "The request body is larger than \(maxRequestBytes) bytes.",
                httpStatus: 413
            )
            return Self.response(.error(tooLarge), requestId: requestId)
        }
        let bytes = Array(body.readableBytesView)
        let answer = await dispatcher.handle(
            target: request.headers[Self.targetHeader],
            body: bytes,
            context: OperationContext(requestId: requestId, bodySize: bytes.count)
        )
        return Self.response(answer, requestId: requestId)
    }

    func handleAgentPoll(_ request: Request) async -> Response {
        let requestId = requestIds.next()
        var request = request
        let answer: APIResponse
        do throws(AWSError) {
            guard let body = try? await request.collectBody(upTo: 1 << 20) else {
                throw AWSError(type: "SerializationException", message: "The poll request body could not be read.")
            }
            let poll = try AWSJSONCodec.decode(AgentPollRequest.self, from: Array(body.readableBytesView))
            let response = try await agents.poll(poll)
            answer = APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: AWSJSONCodec.encode(response))
        } catch {
            answer = .error(error, contentType: "application/json")
        }
        return Self.response(answer, requestId: requestId)
    }

    static func response(_ answer: APIResponse, requestId: String?) -> Response {
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let fieldName = HTTPField.Name(name) { fields[fieldName] = value }
        }
        if let requestId { fields[requestIdHeader] = requestId }
        return Response(
            status: HTTPResponse.Status(code: answer.status),
            headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body))
        )
    }
}

/// Unique, cheap request ids: a per-process random prefix and a counter.
final class RequestIdGenerator: Sendable {
    private let prefix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    private let counter = Atomic<UInt64>(0)

    func next() -> String {
        let value = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return "\(prefix)-\(String(value, radix: 16))"
    }
}
