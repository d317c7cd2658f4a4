import APIGateway
@testable import ControlPlane
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

/// HTTP_PROXY's backend connections against a real backend on 127.0.0.1: kept open between
/// exchanges, replaced when the backend closes them, and the ways an exchange fails.
struct BackendConnectionsTests {
    /// A backend that counts its connections. `/close` answers with `Connection: close`; after
    /// `/drop`, the connection's next request is met by the connection closing (as when a backend
    /// closes an idle connection just as a request comes); `/slow` never answers; anything else
    /// echoes the method, path and `x-forwarded-for` (and for a body, how many `Content-Length`
    /// headers came and the body).
    final class Backend: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let connections: NIOLockedValueBox<Int>
        let requests: NIOLockedValueBox<[String]>
        let dropNext = NIOLockedValueBox(false)
        let current = NIOLockedValueBox<(HTTPRequestHead, String)?>(nil)

        init(connections: NIOLockedValueBox<Int>, requests: NIOLockedValueBox<[String]>) {
            self.connections = connections
            self.requests = requests
        }

        func channelActive(context: ChannelHandlerContext) {
            connections.withLockedValue { $0 += 1 }
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                current.withLockedValue { $0 = (head, "") }
            case .body(let part):
                current.withLockedValue { $0?.1 += String(buffer: part) }
            case .end:
                guard let (head, received) = current.withLockedValue({ $0 }) else { return }
                requests.withLockedValue { $0.append("\(head.method.rawValue) \(head.uri)") }
                if head.uri == "/slow" { return }
                if dropNext.withLockedValue({ $0 }) { return context.close(promise: nil) }
                if head.uri == "/drop" { dropNext.withLockedValue { $0 = true } }
                var body = "\(head.method.rawValue) \(head.uri) \(head.headers.first(name: "x-forwarded-for") ?? "")"
                if !received.isEmpty { body += " cl=\(head.headers["content-length"].count) \(received)" }
                var headers = HTTPHeaders([("Content-Length", String(body.utf8.count))])
                if head.uri == "/close" { headers.add(name: "Connection", value: "close") }
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
                let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
                if head.uri == "/close" { written.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
            }
        }
    }

    /// The backend's listening channel, its count of connections, and the requests it read.
    static func startBackend() async throws -> (any Channel, NIOLockedValueBox<Int>, NIOLockedValueBox<[String]>) {
        let connections = NIOLockedValueBox(0)
        let requests = NIOLockedValueBox<[String]>([])
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Backend(connections: connections, requests: requests))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return (channel, connections, requests)
    }

    struct NoFallback: HTTPForwarding {
        func forward(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration) async
            -> ForwardingResult
        { .answered(GatewayResponse(status: 299, body: Array(url.utf8))) }
    }

    let backends = BackendConnections(group: MultiThreadedEventLoopGroup.singleton, fallback: NoFallback())

    func call(_ url: String, timeout: Duration = .seconds(5)) async -> ForwardingResult {
        await backends.forward(method: "GET", url: url, headers: [("X-Forwarded-For", "10.0.0.1")], body: [], timeout: timeout)
    }

    func body(_ result: ForwardingResult) -> String? {
        guard case .answered(let response) = result else { return nil }
        return String(decoding: response.body, as: UTF8.self)
    }

    @Test func exchangesKeepTheirConnectionUntilTheBackendEndsIt() async throws {
        let (server, connections, requests) = try await Self.startBackend()
        defer { server.close(promise: nil) }
        let base = "http://127.0.0.1:\(server.localAddress?.port ?? 0)"
        // Calls from one event loop share its idle connection.
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        func onLoop(_ path: String) async throws -> ForwardingResult {
            let exchange = ForwardedExchange(method: "GET", url: base + path, headers: [], body: [], timeout: .seconds(5))
            return try await loop.flatSubmit { backends.forward(exchange, on: loop) }.get()
        }
        #expect(body(try await onLoop("/a?x=1")) == "GET /a?x=1 ")
        #expect(body(try await onLoop("/b")) == "GET /b ")
        #expect(connections.withLockedValue { $0 } == 1)
        // `Connection: close` is honoured; a kept connection the backend dropped is replaced,
        // and the exchange on it sent again.
        #expect(body(try await onLoop("/close")) == "GET /close ")
        #expect(body(try await onLoop("/drop")) == "GET /drop ")
        #expect(body(try await onLoop("/c")) == "GET /c ")
        #expect(connections.withLockedValue { $0 } == 3)
        #expect(body(await call(base + "/d")) == "GET /d 10.0.0.1")

        // A body goes with its one length, the client's own dropped (HTTP_PROXY passes the caller's headers on).
        func post(_ path: String) async throws -> ForwardingResult {
            let exchange = ForwardedExchange(
                method: "POST", url: base + path, headers: [("Content-Type", "text/plain")], body: Array("hello".utf8), timeout: .seconds(5))
            return try await loop.flatSubmit { backends.forward(exchange, on: loop) }.get()
        }
        #expect(body(try await post("/p")) == "POST /p  cl=1 hello")
        // A POST on a kept connection the backend then drops is not sent twice: it may have been processed.
        #expect(body(try await post("/drop")) == "POST /drop  cl=1 hello")
        let sent = requests.withLockedValue { $0.count }
        if case .failed = try await post("/once") {} else { Issue.record("a POST was sent again") }
        #expect(requests.withLockedValue { $0.count } == sent + 1)
    }

    @Test func failuresSayWhetherAnotherTargetMayBeTried() async throws {
        let (server, _, _) = try await Self.startBackend()
        let port = server.localAddress?.port ?? 0
        if case .timedOut = await call("http://127.0.0.1:\(port)/slow", timeout: .milliseconds(200)) {} else { Issue.record("no timeout") }
        try await server.close()
        // Nothing listens there any more: refused, so the request was not sent.
        if case .refused = await call("http://127.0.0.1:\(port)/a") {} else { Issue.record("not refused") }
        // A listener that closes each connection unanswered (Docker's port proxy before the
        // container listens): an idempotent request may go to another target; a POST may not.
        let closing = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in channel.close() }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { closing.close(promise: nil) }
        let closingURL = "http://127.0.0.1:\(closing.localAddress?.port ?? 0)/a"
        if case .refused = await call(closingURL) {} else { Issue.record("a GET closed unanswered is not tried elsewhere") }
        let post = await backends.forward(method: "POST", url: closingURL, headers: [], body: Array("x".utf8), timeout: .seconds(5))
        if case .failed = post {} else { Issue.record("a POST closed unanswered may have been processed: not tried elsewhere") }
        // Other schemes go to the fallback (libcurl's, in ecsd).
        #expect(body(await call("https://example.test/x")) == "https://example.test/x")
    }

    @Test func backendAddressesAreReadFromTheURL() {
        let plain = BackendAddress(url: "http://10.0.0.5:8080/items?a=1")
        #expect(plain?.host == "10.0.0.5" && plain?.port == 8080 && plain?.target == "/items?a=1" && plain?.hostHeader == "10.0.0.5:8080")
        let bare = BackendAddress(url: "http://svc?x")
        #expect(bare?.port == 80 && bare?.target == "/?x" && bare?.hostHeader == "svc")
        let v6 = BackendAddress(url: "http://[::1]:81/")
        #expect(v6?.host == "::1" && v6?.port == 81 && v6?.hostHeader == "[::1]:81")
        for refused in ["https://a/", "http://", "http://a:0/", "http://a:99999/", "http://u@a/", "http://a:b:c/", "http://[::1/"] {
            #expect(BackendAddress(url: refused) == nil, "\(refused)")
        }
    }
}
