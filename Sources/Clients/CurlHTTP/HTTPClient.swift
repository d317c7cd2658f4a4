/// An HTTP/1.1 client over libcurl, for TCP (`http://`, `https://`) and unix-socket endpoints.
///
/// Cheap to create: every client shares one transfer thread and its connection cache.
public struct HTTPClient: Sendable {
    /// Scheme, host and port requests are sent to, e.g. `http://127.0.0.1:8340`.
    public var baseURL: String
    /// When set, connections go to this unix socket (the base URL's host only fills `Host:`).
    public var unixSocketPath: String?
    public var connectTimeout: Duration
    /// For `https://`: the PEM file of certificate authorities to verify the server against,
    /// instead of the system's store.
    public var caFile: String?

    public init(baseURL: String, unixSocketPath: String? = nil, connectTimeout: Duration = .seconds(10), caFile: String? = nil) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.unixSocketPath = unixSocketPath
        self.connectTimeout = connectTimeout
        self.caFile = caFile
    }

    /// A client for a unix socket, e.g. Docker's `/var/run/docker.sock`.
    public static func unixSocket(_ path: String) -> HTTPClient {
        HTTPClient(baseURL: "http://localhost", unixSocketPath: path)
    }

    /// Sends the request and returns the whole response. Cancelling the calling task aborts the transfer.
    public func execute(_ request: HTTPClient.Request) async throws -> HTTPClient.Response {
        let box = TransferBox()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let transfer = makeTransfer(request, delivery: .buffered(continuation))
                box.set(transfer)
                CurlLoop.shared.submit(transfer)
            }
        } onCancel: {
            box.cancel()
        }
    }

    /// Sends the request and returns once the response head has arrived; the body streams.
    /// Ending iteration of the body early (or cancelling) aborts the transfer.
    public func stream(_ request: HTTPClient.Request) async throws -> HTTPClient.StreamingResponse {
        let box = TransferBox()
        let (stream, bodyContinuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        bodyContinuation.onTermination = { reason in
            if case .cancelled = reason { box.cancel() }
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let transfer = makeTransfer(
                    request,
                    delivery: .streaming(head: continuation, body: bodyContinuation, stream: stream)
                )
                box.set(transfer)
                CurlLoop.shared.submit(transfer)
            }
        } onCancel: {
            box.cancel()
        }
    }

    private func makeTransfer(_ request: HTTPClient.Request, delivery: Transfer.Delivery) -> Transfer {
        let path = request.path.hasPrefix("/") ? request.path : "/" + request.path
        return Transfer(
            url: baseURL + path,
            request: request,
            unixSocketPath: unixSocketPath,
            connectTimeout: connectTimeout,
            caFile: caFile,
            delivery: delivery
        )
    }
}

import Synchronization

/// Lets a cancellation handler reach a transfer that may not exist yet.
private final class TransferBox: Sendable {
    private let state = Mutex<(transfer: Transfer?, cancelled: Bool)>((nil, false))

    func set(_ transfer: Transfer) {
        let cancelled = state.withLock { state in
            state.transfer = transfer
            return state.cancelled
        }
        if cancelled { CurlLoop.shared.cancel(transfer) }
    }

    func cancel() {
        let transfer = state.withLock { state in
            state.cancelled = true
            return state.transfer
        }
        if let transfer { CurlLoop.shared.cancel(transfer) }
    }
}
