import Hummingbird
import Logging
import Metrics
import AWSProtocols
import Observability
import SigV4
import StevedoreCore
import Synchronization

/// Counts every API request and times it, by operation and status: `ecsd_api_requests_total` and
/// `ecsd_api_request_duration_seconds`. The handler that knows the operation (an `X-Amz-Target`,
/// a query `Action`, a REST route) names it in ``OperationLabel``; requests no handler names are
/// counted as `unrouted`.
/// Each request is also a log line (debug; a 5xx a warning) with its `request.id`, the answer's
/// `x-amzn-RequestId`.
struct RequestMetrics<Context: RequestContext>: RouterMiddleware {
    let logger = Logger(label: "ecsd.api")

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let label = OperationLabel()
        let started = ContinuousClock.now
        var status = 500
        var requestId: String?
        defer {
            let operation = label.name ?? "unrouted"
            let elapsed = ContinuousClock.now - started
            Counter(label: "ecsd_api_requests_total", dimensions: [("operation", operation), ("status", String(status))]).increment()
            Timer(label: "ecsd_api_request_duration_seconds", dimensions: [("operation", operation)]).recordNanoseconds(elapsed.nanoseconds)
            let level: Logger.Level = status >= 500 ? .warning : .debug
            if logger.logLevel <= level {
                logger.log(
                    level: level, "request",
                    metadata: [
                        "request.id": "\(requestId ?? "-")", "operation": "\(operation)", "status": "\(status)",
                        "duration.ms": "\(Double(elapsed.nanoseconds) / 1_000_000)",
                    ])
            }
        }
        do {
            let response = try await OperationLabel.$current.withValue(label) { try await next(request, context) }
            status = response.status.code
            requestId = response.headers[APIServer.requestIdHeader] ?? response.headers[S3Endpoint.requestIdField]
            return response
        } catch let error as any HTTPResponseError {
            status = error.status.code
            throw error
        }
    }
}

/// The operation a request is, named by whichever handler takes it.
final class OperationLabel: Sendable {
    @TaskLocal static var current: OperationLabel?

    private let value = Mutex<String?>(nil)

    var name: String? { value.withLock { $0 } }

    /// Names the current request's operation (nothing outside a request).
    static func name(_ operation: String) {
        current?.value.withLock { $0 = operation }
    }
}

/// `GET /metrics`: every metric in Prometheus' text format. Readable without AWS credentials (a
/// scraper signs nothing), or only with `Authorization: Bearer <token>` when a token is set.
struct MetricsEndpoint {
    let registry: PrometheusRegistry
    let token: String?

    func answer(authorization: String?) -> APIResponse {
        if let token, !Self.matches(authorization, token: token) {
            return APIResponse(
                status: 401, headers: [("Content-Type", "text/plain; charset=utf-8"), ("WWW-Authenticate", "Bearer realm=\"metrics\"")],
                body: Array("Send the metrics token: Authorization: Bearer <token>.\n".utf8))
        }
        return APIResponse(status: 200, headers: [("Content-Type", PrometheusRegistry.contentType)], body: Array(registry.render().utf8))
    }

    /// In constant time, as the token is a secret.
    static func matches(_ authorization: String?, token: String) -> Bool {
        guard let authorization, authorization.hasPrefix("Bearer ") else { return false }
        return constantTimeEqual(Array(authorization.dropFirst(7).utf8), Array(token.utf8))
    }
}
