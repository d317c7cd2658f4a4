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
    /// The leader's address as last read, and when.
    private let known = Mutex<(endpoint: String, readAt: ContinuousClock.Instant)?>(nil)
    /// Set once the follower stops (or took the lease): waiting requests give up at once, so the
    /// listener closes quickly (and the leader's server can take the port).
    let closed = Atomic<Bool>(false)
    /// Answers being relayed (long polls, log streams): ended when the follower stops.
    /// Exchanges under way (waiting for the leader's answer, or relaying its body): each a way to
    /// end it, called when the follower stops.
    private let relays = Mutex<(next: Int, running: [Int: @Sendable () -> Void])>((0, [:]))

    init(lease: LeaderLease, maxRequestBytes: Int, metrics: MetricsEndpoint, caFile: String?, logger: Logger) {
        self.lease = lease
        self.maxRequestBytes = maxRequestBytes
        self.metrics = metrics
        self.caFile = caFile
        self.logger = logger
    }

    /// Request headers that belong to one connection, not to the request (RFC 9110, 7.6.1), and
    /// those libcurl sets itself.
    /// Marks a request a follower sent on, so no replica forwards it again.
    static let forwardedHeader = HTTPField.Name("X-Stevedore-Forwarded-By")!

    static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade", "content-length", "expect", "trailer"]

    func respond(to request: Request) async -> Response {
        let path = request.uri.path
        if request.method == .get, path == "/healthz" {
            let leader = await leaderEndpoint(refresh: true)
            let body = try? JSONSerialization.data(withJSONObject: ["status": "ok", "role": "follower", "leader": leader ?? ""], options: [.sortedKeys])
            return APIServer.response(APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array(body ?? Data())))
        }
        if request.method == .get, path == "/metrics" {
            let answer = metrics.answer(authorization: request.headers[.authorization])
            return APIServer.response(answer)
        }
        // Sent on by a follower already: this replica is not the leader either (a stale lease
        // read on one side); answering beats passing it round.
        if request.headers[Self.forwardedHeader] != nil {
            return Self.unavailable("No control plane leader answers at the moment (one is being chosen); retry shortly.")
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
        // The client's Host (HTTP/1.1's authority, which Hummingbird keeps apart from the
        // headers): signatures cover it, and S3 reads buckets from it.
        var headers: [(name: String, value: String)] = request.head.authority.map { [("Host", $0)] } ?? []
        for field in request.headers where !Self.hopByHop.contains(field.name.canonicalName) {
            headers.append((field.name.rawName, field.value))
        }
        headers.append((Self.forwardedHeader.rawName, lease.holder))
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
                let client = HTTPClient(baseURL: leader, connectTimeout: .seconds(2), caFile: caFile)
                // In a task of ours, so that a follower that stops ends the wait for an answer
                // (a long poll, a leader cut off) instead of waiting for it.
                let call = Task { try await client.stream(forwarded) }
                let id = track { call.cancel() }
                defer { untrack(id) }
                let answer = try await call.value
                var fields = HTTPFields()
                var length: Int?
                for (name, value) in answer.headers {
                    let lowered = name.lowercased()
                    if lowered == "content-length" { length = Int(value) }
                    guard !Self.hopByHop.contains(lowered), let field = HTTPField.Name(name) else { continue }
                    fields.append(HTTPField(name: field, value: value))
                }
                // A HEAD answer has no body but says how long the GET's would be.
                if request.method == .head, let length { fields[.contentLength] = String(length) }
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
        let task = relays.withLock { state -> Task<Void, Never> in
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
            state.running[id] = { task.cancel() }
            return task
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func track(_ end: @escaping @Sendable () -> Void) -> Int {
        let (id, closed) = relays.withLock { state in
            defer { state.next += 1 }
            state.running[state.next] = end
            return (state.next, self.closed.load(ordering: .relaxed))
        }
        if closed { end() }
        return id
    }

    private func untrack(_ id: Int) {
        relays.withLock { _ = $0.running.removeValue(forKey: id) }
    }

    /// Stops forwarding: requests waiting for a leader give up, and relayed answers end.
    func close() {
        closed.store(true, ordering: .relaxed)
        for end in relays.withLock({ $0.running.values }) { end() }
    }

    /// The leader's address, from the lease (read again when `refresh`, or after a second). Only a
    /// live lease of another replica at another address counts: never this replica's own (held by
    /// it, or by its crashed self).
    private func leaderEndpoint(refresh: Bool) async -> String? {
        if !refresh, let (endpoint, readAt) = known.withLock({ $0 }), ContinuousClock.now - readAt < .seconds(1) { return endpoint }
        let holder = try? await lease.current()
        guard let holder, holder.live, !holder.endpoint.isEmpty, holder.holder != lease.holder, holder.endpoint != lease.endpoint else {
            known.withLock { $0 = nil }
            return nil
        }
        known.withLock { $0 = (holder.endpoint, ContinuousClock.now) }
        return holder.endpoint
    }

    static func unavailable(_ message: String, status: Int = 503, type: String = "ServiceUnavailableException") -> Response {
        let body = try? JSONSerialization.data(withJSONObject: ["__type": type, "message": message], options: [.sortedKeys])
        return APIServer.response(
            APIResponse(
                status: status, headers: [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", type), ("Retry-After", "1")],
                body: Array(body ?? Data())))
    }
}
