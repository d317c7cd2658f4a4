import Archives
import AWSProtocols
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3
import SigV4
import StevedoreCore
import Synchronization

/// S3 on `ecsd`'s API listener (REST-XML): requests signed for `s3` (by header or presigned
/// query) or addressed to a bucket's virtual host (`<bucket>.localhost`) are S3's, whatever their
/// path. Bodies stream to disk as they arrive and answers stream from it; the signature is checked
/// before the body is read, the body's hash, MD5 and checksum once it has been.
struct S3Endpoint: Sendable {
    let committer: Committer<ControlPlaneState>
    let files: ObjectFiles
    let authenticator: RequestAuthenticator?
    let names: ResourceNames
    let requestIds: RequestIdGenerator
    /// XML and policy bodies (not objects) are read whole, up to this.
    static let documentLimit = 2 << 20

    /// Whether a request belongs to S3 (see the type's description).
    static func claims(_ request: Request) -> Bool {
        if let authorization = request.headers[.authorization] { return authorization.contains("/s3/aws4_request") }
        if let query = request.uri.query {
            if query.contains("X-Amz-Credential=") { return query.contains("%2Fs3%2Faws4_request") || query.contains("/s3/aws4_request") }
            // Signature Version 2's presigned URLs are S3's alone.
            if query.contains("AWSAccessKeyId="), query.contains("Signature=") { return true }
        }
        return S3Address.virtualHostBucket(request.head.authority) != nil
    }

    /// One request, from the first byte to the last of its answer.
    func handle(_ request: Request, from sourceAddress: String? = nil) async -> Response {
        let requestId = requestIds.next()
        let address = S3Address.parse(rawPath: request.uri.path, virtualHostBucket: S3Address.virtualHostBucket(request.head.authority))
        let resource = request.uri.path
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters where query[String(name)] == nil { query[String(name)] = String(value) }
        let operation: S3Operation
        do throws(AWSError) {
            operation = try S3Operation.of(
                method: request.method.rawValue, address: address, query: query, hasCopySource: request.headers[Self.copySource] != nil)
        } catch {
            return errorResponse(error, resource: resource, requestId: requestId, method: request.method)
        }
        OperationLabel.name("S3." + operation.rawValue)
        let bodyUse = BodyUse()
        let call = S3Call(
            endpoint: self, request: request, operation: operation, bucket: address.bucket ?? "", key: address.key ?? "", query: query,
            requestId: requestId, bodyUse: bodyUse, sourceAddress: sourceAddress ?? "127.0.0.1")
        do throws(AWSError) {
            return try await call.run()
        } catch {
            // A body refused before it was read is read to its end: left unread on a kept-alive
            // connection, its bytes would be taken for the next request.
            if !bodyUse.started { await Self.drain(request) }
            return errorResponse(error, resource: resource, requestId: requestId, method: request.method)
        }
    }

    static func drain(_ request: Request) async {
        do {
            for try await _ in request.body {}
        } catch {}
    }

    func errorResponse(_ error: AWSError, resource: String, requestId: String, method: HTTPRequest.Method) -> Response {
        var headers = Self.baseHeaders(requestId)
        headers[.contentType] = "application/xml"
        for (name, value) in error.headers { if let field = HTTPField.Name(name) { headers[field] = value } }
        // A HEAD answer has no body: S3 answers the status alone.
        let body = method == .head ? ByteBuffer() : ByteBuffer(bytes: S3XML.error(error, resource: resource, requestId: requestId))
        return Response(status: HTTPResponse.Status(code: error.httpStatus), headers: headers, body: ResponseBody(byteBuffer: body))
    }

    static func baseHeaders(_ requestId: String) -> HTTPFields {
        var headers = HTTPFields()
        headers[requestIdField] = requestId
        headers[hostIdField] = S3XML.hostId(requestId)
        return headers
    }

    static let requestIdField = HTTPField.Name("x-amz-request-id")!
    static let hostIdField = HTTPField.Name("x-amz-id-2")!
    static let copySource = HTTPField.Name("x-amz-copy-source")!

    /// The owner every listing names: this account's canonical id.
    var ownerId: String { S3State.ownerId(names) }
}

/// Whether a request's body has been (or is being) read: once only, by whoever reads it.
final class BodyUse: Sendable {
    private let flag = Atomic<Bool>(false)

    var started: Bool { flag.load(ordering: .relaxed) }

    func start() { flag.store(true, ordering: .relaxed) }
}

/// Routes S3's requests to ``S3Endpoint`` before any other route sees them.
struct S3Requests: RouterMiddleware {
    typealias Context = APIRequestContext
    let endpoint: S3Endpoint

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard S3Endpoint.claims(request) else { return try await next(request, context) }
        return await endpoint.handle(request, from: context.remoteAddress?.ipAddress)
    }
}
