import APIGateway
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// HTTP_PROXY's connections to plain-HTTP backends, made and kept open on the event loop of the
/// request that needs them (as nginx's `keepalive` upstreams): a gateway connection's exchanges
/// never leave its event loop. Other URLs (https) go through `fallback` (libcurl's).
final class BackendConnections: HTTPForwarding {
    /// How many idle connections each event loop keeps per backend.
    static let idlePerBackend = 64

    let group: any EventLoopGroup
    let fallback: any HTTPForwarding
    let connectTimeout: TimeAmount
    /// Each event loop's idle connections, touched only on that loop.
    private let pools = Mutex<[ObjectIdentifier: NIOLoopBound<IdleConnections>]>([:])

    init(group: any EventLoopGroup, fallback: any HTTPForwarding, connectTimeout: TimeAmount = .seconds(5)) {
        self.group = group
        self.fallback = fallback
        self.connectTimeout = connectTimeout
    }

    /// The async face, for the data plane's own calls (REST APIs, routes with authorizers…).
    func forward(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration) async
        -> ForwardingResult
    {
        let exchange = ForwardedExchange(method: method, url: url, headers: headers, body: body, timeout: timeout)
        guard BackendAddress(url: url) != nil else {
            return await fallback.forward(method: method, url: url, headers: headers, body: body, timeout: timeout)
        }
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? group.next()
        return (try? await loop.flatSubmit { self.forward(exchange, on: loop) }.get()) ?? .failed
    }

    /// Sends the exchange from `loop` (the caller's event loop), on one of its idle connections to
    /// the backend or a new one. When a kept connection closes before any of the answer came (the
    /// backend closing an idle connection just as the request went out), an idempotent request is
    /// sent again on a new one, as nginx and Go's client do; any other fails (it may have been processed).
    func forward(_ exchange: ForwardedExchange, on loop: any EventLoop) -> EventLoopFuture<ForwardingResult> {
        loop.preconditionInEventLoop()
        guard let address = BackendAddress(url: exchange.url) else {
            let promise = loop.makePromise(of: ForwardingResult.self)
            let fallback = self.fallback
            promise.completeWithTask {
                await fallback.forward(method: exchange.method, url: exchange.url, headers: exchange.headers, body: exchange.body, timeout: exchange.timeout)
            }
            return promise.futureResult
        }
        let idle = pool(for: loop)
        let deadline = NIODeadline.now() + TimeAmount(exchange.timeout)
        if let kept = idle.take(address.key) {
            return kept.send(exchange, address: address, deadline: deadline).assumeIsolated().flatMap { outcome in
                switch outcome {
                case .result(let result): return loop.makeSucceededFuture(self.settle(result, connection: kept, idle: idle, key: address.key))
                case .closedBeforeAnswer:
                    guard Self.idempotent(exchange.method) else { return loop.makeSucceededFuture(.failed) }
                    return self.connectAndSend(exchange, address: address, deadline: deadline, on: loop, idle: idle)
                }
            }.nonisolated()
        }
        return connectAndSend(exchange, address: address, deadline: deadline, on: loop, idle: idle)
    }

    /// Methods a request may be sent twice with (RFC 9110, 9.2.2).
    static func idempotent(_ method: String) -> Bool {
        switch method {
        case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE": true
        default: false
        }
    }

    private func connectAndSend(
        _ exchange: ForwardedExchange, address: BackendAddress, deadline: NIODeadline, on loop: any EventLoop, idle: IdleConnections
    ) -> EventLoopFuture<ForwardingResult> {
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(min(connectTimeout, deadline - .now()))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(leftOverBytesStrategy: .fireError)
                    try channel.pipeline.syncOperations.addHandler(BackendExchangeHandler())
                }
            }
        // An IP address as it is; a name resolved by NIO, off the event loop.
        let connecting =
            if let literal = try? SocketAddress(ipAddress: address.host, port: address.port) {
                bootstrap.connect(to: literal)
            } else {
                bootstrap.connect(host: address.host, port: address.port)
            }
        return connecting.assumeIsolated().flatMap { channel -> EventLoopFuture<ForwardingResult> in
            guard let connection = try? BackendConnection(channel: channel) else { return loop.makeSucceededFuture(.failed) }
            return connection.send(exchange, address: address, deadline: deadline).assumeIsolated().map { outcome in
                switch outcome {
                case .result(let result): return self.settle(result, connection: connection, idle: idle, key: address.key)
                // A new connection closed before any answer: what Docker's port proxy does while
                // the container's server is not yet listening (or no longer is). An idempotent
                // request goes to the next target, as nginx's `proxy_next_upstream error`.
                case .closedBeforeAnswer: return Self.idempotent(exchange.method) ? .refused : .failed
                }
            }.nonisolated()
        }.flatMapErrorThrowing { error in
            // Nothing was sent: another target may be tried. A connect timeout is the integration's timeout when that came first.
            if case ChannelError.connectTimeout = error, NIODeadline.now() >= deadline { return .timedOut }
            return .refused
        }.nonisolated()
    }

    /// Keeps the connection for the next exchange when the backend let it stay open.
    private func settle(_ result: ForwardingResult, connection: BackendConnection, idle: IdleConnections, key: String) -> ForwardingResult {
        if case .answered = result, connection.reusable {
            idle.keep(connection, key: key)
        } else {
            connection.channel.close(promise: nil)
        }
        return result
    }

    private func pool(for loop: any EventLoop) -> IdleConnections {
        let id = ObjectIdentifier(loop)
        let bound = pools.withLock { pools in
            if let found = pools[id] { return found }
            let made = NIOLoopBound(IdleConnections(), eventLoop: loop)
            pools[id] = made
            return made
        }
        return bound.value
    }
}

/// A plain-HTTP backend's address, read from an integration's URL (`http://host[:port]/path?query`).
struct BackendAddress {
    let host: String
    let port: Int
    /// The path and query, as the request line carries them.
    let target: String
    var key: String { "\(host):\(port)" }

    init?(url: String) {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count)
        let slash = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<slash]
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var path = String(rest[slash...])
        if path.isEmpty || path.hasPrefix("?") { path = "/" + path }
        // An IPv6 literal keeps its brackets out of the host name.
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { return nil }
            guard let port = after.isEmpty ? 80 : Int(after.dropFirst()), (1...65535).contains(port) else { return nil }
            self.port = port
        } else {
            let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2, !parts[0].isEmpty else { return nil }
            host = String(parts[0])
            guard let port = parts.count == 2 ? Int(parts[1]) : 80, (1...65535).contains(port) else { return nil }
            self.port = port
        }
        target = path
    }

    /// The Host header: the authority as the URL gave it.
    var hostHeader: String { (host.contains(":") ? "[\(host)]" : host) + (port == 80 ? "" : ":\(port)") }
}

/// One event loop's idle backend connections, by backend; used on that loop only.
final class IdleConnections {
    private var byBackend: [String: [BackendConnection]] = [:]

    func take(_ key: String) -> BackendConnection? {
        while let connection = byBackend[key]?.popLast() {
            if connection.channel.isActive { return connection }
        }
        return nil
    }

    func keep(_ connection: BackendConnection, key: String) {
        if byBackend[key, default: []].count < BackendConnections.idlePerBackend {
            byBackend[key, default: []].append(connection)
        } else {
            connection.channel.close(promise: nil)
        }
    }
}

/// A connection to a backend, one exchange at a time.
final class BackendConnection {
    let channel: any Channel
    private let handler: BackendExchangeHandler

    init(channel: any Channel) throws {
        self.channel = channel
        handler = try channel.pipeline.syncOperations.handler(type: BackendExchangeHandler.self)
    }

    /// Methods whose requests say nothing of a body when they carry none.
    static func bodiless(_ method: String) -> Bool {
        switch method {
        case "GET", "HEAD", "DELETE", "OPTIONS": true
        default: false
        }
    }

    /// Whether the last exchange left the connection open for another.
    var reusable: Bool { handler.keepAlive && channel.isActive }

    func send(_ exchange: ForwardedExchange, address: BackendAddress, deadline: NIODeadline) -> EventLoopFuture<BackendExchangeHandler.Outcome> {
        var headers = HTTPHeaders()
        headers.reserveCapacity(exchange.headers.count + 2)
        headers.add(name: "Host", value: address.hostHeader)
        for (name, value) in exchange.headers { headers.add(name: name, value: value) }
        if !exchange.body.isEmpty || !Self.bodiless(exchange.method) {
            headers.add(name: "Content-Length", value: String(exchange.body.count))
        }
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: exchange.method), uri: address.target, headers: headers)
        let body = exchange.body.isEmpty ? nil : channel.allocator.buffer(bytes: exchange.body)
        guard channel.isActive else { return channel.eventLoop.makeSucceededFuture(.closedBeforeAnswer) }
        return handler.send(head: head, body: body, deadline: deadline, on: channel.eventLoop)
    }
}

/// Writes a request and collects its response; closes the connection when the deadline passes first.
final class BackendExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    enum Outcome {
        case result(ForwardingResult)
        /// The connection closed before any of the answer came: the request may be sent again.
        case closedBeforeAnswer
    }

    private var context: ChannelHandlerContext?
    private var pending: EventLoopPromise<Outcome>?
    private var timer: Scheduled<Void>?
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?
    private(set) var keepAlive = false

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func send(head requestHead: HTTPRequestHead, body requestBody: ByteBuffer?, deadline: NIODeadline, on loop: any EventLoop) -> EventLoopFuture<Outcome> {
        guard let context else { return loop.makeSucceededFuture(.closedBeforeAnswer) }
        let promise = loop.makePromise(of: Outcome.self)
        pending = promise
        head = nil
        body = nil
        keepAlive = false
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            self?.complete(.result(.timedOut))
            context.close(promise: nil)
        }
        context.write(wrapOutboundOut(.head(requestHead)), promise: nil)
        if let requestBody { context.write(wrapOutboundOut(.body(.byteBuffer(requestBody))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let responseHead):
            head = responseHead
        case .body(var part):
            // No more than a gateway answer may hold (API Gateway's 10 MB).
            guard (body?.readableBytes ?? 0) + part.readableBytes <= GatewayDataPlane.maximumBody else {
                complete(.result(.failed))
                context.close(promise: nil)
                return
            }
            if body == nil { body = part } else { body!.writeBuffer(&part) }
        case .end:
            guard let head else { return }
            keepAlive = head.isKeepAlive
            var headers: [(String, String)] = []
            headers.reserveCapacity(head.headers.count)
            for (name, value) in head.headers { headers.append((name, value)) }
            let bytes = body.map { Array($0.readableBytesView) } ?? []
            self.head = nil
            body = nil
            complete(.result(.answered(GatewayResponse(status: Int(head.status.code), headers: headers, body: bytes))))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        complete(head == nil ? .closedBeforeAnswer : .result(.failed))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // An answer that does not parse was an answer: not a connection closed before one.
        complete(head == nil && !(error is HTTPParserError) ? .closedBeforeAnswer : .result(.failed))
        context.close(promise: nil)
    }

    private func complete(_ outcome: Outcome) {
        timer?.cancel()
        timer = nil
        guard let promise = pending else { return }
        pending = nil
        promise.succeed(outcome)
    }
}
