import AWSProtocols
import Hummingbird
import StevedoreCore

/// Answers requests no route takes in AWS's error shapes instead of an empty 404: a REST
/// service's paths as that service answers them (``RESTFallback``), anything else as the AWS JSON
/// protocol answers an unknown operation.
struct UnroutedRequests: RouterMiddleware {
    typealias Context = APIRequestContext
    let fallbacks: [RESTFallback]
    let requestIds: RequestIdGenerator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed {
            let answer = Self.answer(method: request.method.rawValue, path: request.uri.path, requestId: requestIds.next(), fallbacks: fallbacks)
            return APIServer.response(answer)
        }
    }

    static func answer(method: String, path: String, requestId: String, fallbacks: [RESTFallback]) -> APIResponse {
        if let fallback = fallbacks.first(where: { $0.claims(path) }) {
            return fallback.answer(method, path, requestId)
        }
        var response = APIResponse.error(
            AWSError(type: "UnknownOperationException", message: "No operation is served at \(method) \(path).", httpStatus: 404))
        response.headers.append(("x-amzn-RequestId", requestId))
        return response
    }
}
