import AWSProtocols
import CurlHTTP
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Observability
import Storage
import Synchronization

/// A follower's API listener: every request goes on to the leader as it came (headers, so
/// signatures still verify there, and body), and the leader's answer comes back as it streams
/// (long polls and log streams included). Only `GET /healthz` and `GET /metrics` are answered here.
///
/// A request the leader's address refuses (the leader gone, the lease not yet taken over) waits
/// for the next leader and is sent to it, up to the lease timeout: it never reached a leader, so
/// sending it again cannot make it twice. A request cut off after it was sent is answered 503
/// without trying again, since the leader may have taken it; clients retry (the AWS SDKs do on a
/// 503, with the same client token, which the leader answers with what the first try made).
final class LeaderForwarder: Sendable {
    let lease: LeaderLease
    let maxRequestBytes: Int
    let metrics: MetricsEndpoint
    /// The leader's certificate authority, when the replicas serve TLS with their own.
    let caFile: String?
    let logger: Logger
    private let known = Mutex<LeaderLease.Holder?>(nil)
    /// Set once the follower stops (or took the lease): waiting requests give up at once, so the
    /// listener closes quickly (and the leader's server can take the port).
    let closed = Atomic<Bool>(false)
    /// Answers being relayed (long polls, log streams): ended when the follower stops.
    private let relays = Mutex<(next: Int, running: [Int: Task<Void, Never>])>((0, [:]))

    init(lease: LeaderLease, maxRequestBytes: Int, metrics: MetricsEndpoint, caFile: String?, logger: Logger) {
        self.lease = lease
        self.maxRequestBytes = maxRequestBytes
        self.metrics = metrics
        self.caFile = caFile
        self.logger = logger
    }

    /// Request headers that belong to one connection, not to the request (RFC 9110, 7.6.1), and
    /// those libcurl sets itself.
    static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade", "content-length", "expect", "trailer"]

    func respond(to request: Request) async -> Response {
        let path = request.uri.path
        if request.method == .get, path == "/healthz" {
            let leader = await leaderEndpoint(refresh: true)
            let body = try? JSONSerialization.data(withJSONObject: ["status": "ok", "role": "follower", "leader": leader ?? ""], options: [.sortedKeys])
            return Self.response(status: 200, headers: [("Content-Type", "application/json")], body: Array(body ?? Data()))
        }
        if request.method == .get, path == "/metrics" {
            let answer = metrics.answer(authorization: request.headers[.authorization])
            return Self.response(status: answer.status, headers: answer.headers, body: answer.body)
        }
        var body: [UInt8] = []
        do {
            var collected = try await request.body.collect(upTo: maxRequestBytes)
            body = collected.readBytes(length: collected.readableBytes) ?? []
        } catch {
            return Self.unavailable(
                "The request body is larger than \(maxRequestBytes) bytes, the most this follower forwards; send it to the leader directly.",
                status: 413, type: "RequestEntityTooLargeException")
        }
        var headers: [(name: String, value: String)] = []
        for field in request.headers where !Self.hopByHop.contains(field.name.canonicalName) {
            headers.append((field.name.rawName, field.value))
        }
        let forwarded = HTTPClient.Request(
            method: request.method.rawValue, path: request.uri.description, headers: headers,
            body: body.isEmpty && (request.method == .get || request.method == .head) ? nil : body, timeout: nil)
        let deadline = ContinuousClock.now + lease.timeout * 1.5
        var lastLeader: String?
        while !closed.load(ordering: .relaxed) {
            guard let leader = await leaderEndpoint(refresh: lastLeader != nil) else {
                if ContinuousClock.now > deadline { break }
                try? await Task.sleep(for: lease.pollInterval)
                continue
            }
            lastLeader = leader
            do {
                let answer = try await HTTPClient(baseURL: leader, connectTimeout: .seconds(2), caFile: caFile).stream(forwarded)
                var fields = HTTPFields()
                var length: Int?
                for (name, value) in answer.headers {
                    let lowered = name.lowercased()
                    if lowered == "content-length" { length = Int(value) }
                    guard !Self.hopByHop.contains(lowered), let field = HTTPField.Name(name) else { continue }
                    fields.append(HTTPField(name: field, value: value))
                }
                let stream = relay(answer.body)
                return Response(
                    status: HTTPResponse.Status(code: answer.status), headers: fields,
                    body: ResponseBody(contentLength: request.method == .head ? nil : length) { writer in
                        for try await chunk in stream { try await writer.write(ByteBuffer(bytes: chunk)) }
                        try await writer.finish(nil)
                    })
            } catch let error as HTTPClientError where error.kind == .couldNotConnect {
                // Not sent: safe to send to whoever leads next.
                if ContinuousClock.now > deadline { break }
                try? await Task.sleep(for: lease.pollInterval)
            } catch {
                logger.warning("the leader's answer was cut off", metadata: ["leader": "\(leader)", "error": "\(error)"])
                return Self.unavailable("The connection to the control plane's leader failed while it had the request; it may or may not have been carried out. Retry it.")
            }
        }
        return Self.unavailable("No control plane leader answers at the moment (one is being chosen); retry shortly.")
    }

    /// The answer's body, through a task of ours that ``close()`` cancels: a follower that stops
    /// does not wait for the long polls it relays to end.
    private func relay(_ body: AsyncThrowingStream<[UInt8], any Error>) -> AsyncThrowingStream<[UInt8], any Error> {
        let (stream, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        let task = relays.withLock { state in
            let id = state.next
            state.next += 1
            let task = Task { [weak self] in
                do {
                    for try await chunk in body { continuation.yield(chunk) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
                self?.relays.withLock { _ = $0.running.removeValue(forKey: id) }
            }
            state.running[id] = task
            return task
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Stops forwarding: requests waiting for a leader give up, and relayed answers end.
    func close() {
        closed.store(true, ordering: .relaxed)
        for task in relays.withLock({ $0.running.values }) { task.cancel() }
    }

    /// The leader's address, from the lease (read again when `refresh`, or when what is known ran out).
    private func leaderEndpoint(refresh: Bool) async -> String? {
        if !refresh, let holder = known.withLock({ $0 }), holder.live { return holder.endpoint }
        let holder = try? await lease.current()
        known.withLock { $0 = holder }
        // Never to this replica's own address (a lease this replica, or its crashed self, holds).
        guard let holder, holder.live, !holder.endpoint.isEmpty, holder.holder != lease.holder, holder.endpoint != lease.endpoint else { return nil }
        return holder.endpoint
    }

    static func unavailable(_ message: String, status: Int = 503, type: String = "ServiceUnavailableException") -> Response {
        let body = try? JSONSerialization.data(withJSONObject: ["__type": type, "message": message], options: [.sortedKeys])
        return response(
            status: status, headers: [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", type), ("Retry-After", "1")],
            body: Array(body ?? Data()))
    }

    static func response(status: Int, headers: [(String, String)], body: [UInt8]) -> Response {
        var fields = HTTPFields()
        for (name, value) in headers { if let field = HTTPField.Name(name) { fields.append(HTTPField(name: field, value: value)) } }
        return Response(status: HTTPResponse.Status(code: status), headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
