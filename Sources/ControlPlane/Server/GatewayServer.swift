import APIGateway
import AWSProtocols
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StevedoreCore

/// A gateway request's context: the caller's address, for the events' `sourceIp`.
struct GatewayRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// The HTTP face of the gateway's data plane on `--gateway-listen`: every request goes to the
/// API its host or path names (see ``GatewayState/destination(host:path:)``).
struct GatewayResponder: HTTPResponder {
    let dataPlane: GatewayDataPlane
    let requestIds = RequestIdGenerator()
    let clock: @Sendable () -> Date

    func respond(to request: Request, context: GatewayRequestContext) async throws -> Response {
        let requestId = requestIds.next()
        var request = request
        guard let body = try? await request.collectBody(upTo: GatewayDataPlane.maximumBody) else {
            return Self.response(.requestTooLarge, requestId: requestId)
        }
        let path = request.uri.path
        let query = request.uri.query ?? ""
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(request.headers.count + 1)
        // HTTP/1.1's Host header arrives as the request's authority.
        if let authority = request.head.authority { headers.append(("Host", authority)) }
        for field in request.headers { headers.append((field.name.canonicalName, field.value)) }
        let gatewayRequest = GatewayRequest(
            method: request.method.rawValue, rawPath: path, routePath: path, rawQueryString: query, headers: headers,
            body: Array(body.readableBytesView), sourceIp: context.remoteAddress?.ipAddress ?? "127.0.0.1", requestId: requestId, time: clock())
        let answer = await dataPlane.handle(host: request.head.authority, path: path, request: gatewayRequest)
        return Self.response(answer, requestId: nil)
    }

    static func response(_ answer: GatewayResponse, requestId: String?) -> Response {
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let fieldName = HTTPField.Name(name) { fields.append(HTTPField(name: fieldName, value: value)) }
        }
        if let requestId, let name = HTTPField.Name("apigw-requestid") { fields[name] = requestId }
        return Response(
            status: HTTPResponse.Status(code: answer.status), headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}
