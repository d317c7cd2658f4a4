import APIGateway
import AWSProtocols
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import ServiceLifecycle
import Synchronization

/// The gateway listener's connections: HTTP/1.1 for HTTP APIs and `@connections`, upgraded to a
/// WebSocket when a request for a WebSocket API is let in by its `$connect` route. A refused
/// handshake is answered as HTTP, with the status `$connect` gave.
struct GatewayChannel: ServerChildChannel {
    enum Negotiated: Sendable {
        /// HTTP, answered by the connection's ``GatewayHTTPHandler``.
        case http
        case webSocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, WebSocketConnectionInfo)
    }

    /// The connection until its first request shows whether it upgrades.
    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
        /// What the handshake decided, if there was one.
        let handshake: NIOLockedValueBox<WebSocketHandshake?>
    }

    let http: GatewayHTTPEdge
    let webSockets: WebSocketEdge

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // What the handshake decided, read when the pipeline is set up for the outcome.
            let handshake = NIOLockedValueBox<WebSocketHandshake?>(nil)
            let tracker = UpgradeRequestTracker()
            let edge = webSockets
            let http = self.http
            let upgrader = NIOTypedWebSocketServerUpgrader<Negotiated>(
                maxFrameSize: WebSocketLimits.maximumFrame,
                shouldUpgrade: { channel, head in
                    let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                    let remote = channel.remoteAddress?.ipAddress
                    promise.completeWithTask {
                        let outcome = await edge.handshake(head, remoteAddress: remote)
                        handshake.withLockedValue { $0 = outcome }
                        if case .accepted = outcome { return HTTPHeaders() }
                        return nil
                    }
                    // The tracker leaves before NIO takes the HTTP decoder out: bytes the decoder
                    // then hands on are the WebSocket's, not HTTP parts.
                    return promise.futureResult.map { headers in
                        if headers != nil, let context = try? channel.pipeline.syncOperations.context(handler: tracker) {
                            channel.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                        }
                        return headers
                    }
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        guard case .accepted(let info) = handshake.withLockedValue({ $0 }) else { throw ChannelError.inappropriateOperationForState }
                        try channel.pipeline.syncOperations.addHandler(
                            NIOWebSocketFrameAggregator(
                                minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 12,
                                maxAccumulatedFrameSize: WebSocketLimits.maximumMessage))
                        return .webSocket(try NIOAsyncChannel(wrappingChannelSynchronously: channel), info)
                    }
                })
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<Negotiated>(
                upgradeConfiguration: NIOTypedHTTPServerUpgradeConfiguration(
                    upgraders: [upgrader],
                    notUpgradingCompletionHandler: { channel in
                        channel.eventLoop.makeCompletedFuture {
                            var refusal: GatewayResponse?
                            if case .refused(let response) = handshake.withLockedValue({ $0 }) { refusal = response }
                            try channel.pipeline.syncOperations.addHandler(GatewayHTTPHandler(edge: http, refusal: refusal))
                            try tracker.replaySwallowedRequest(in: channel)
                            // What only the first request needed leaves the path of every later one:
                            // the tracker, and NIO's parse-error answer (GatewayHTTPHandler answers those now).
                            let operations = channel.pipeline.syncOperations
                            operations.removeHandler(context: try operations.context(handler: tracker), promise: nil)
                            if let errors = try? operations.context(handlerType: HTTPServerProtocolErrorHandler.self) {
                                operations.removeHandler(context: errors, promise: nil)
                            }
                            return .http
                        }
                    }))
            // Requests are taken one at a time (GatewayHTTPHandler holds pipelined ones); a request
            // NIO cannot parse (an unknown method…) is answered 400 and closed, before or after the
            // first request settled the connection's protocol.
            configuration.enablePipelining = false
            // Parse errors are answered here (ShutdownGuard, then GatewayHTTPHandler), with a lingering close.
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            let negotiated = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            let upgradeHandler = try channel.pipeline.syncOperations.handler(type: NIOTypedHTTPServerUpgradeHandler<Negotiated>.self)
            try channel.pipeline.syncOperations.addHandler(tracker, position: .before(upgradeHandler))
            // A connection that does not finish its first request within the idle timeout is
            // closed (Hummingbird's idle handler only joins once the request is there).
            if let idleTimeout = http.idleTimeout {
                let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(idleTimeout)) { channel.close(promise: nil) }
                negotiated.whenComplete { _ in deadline.cancel() }
            }
            let quiescing = ShutdownGuard()
            try channel.pipeline.syncOperations.addHandler(quiescing)
            negotiated.whenComplete { _ in
                if let context = try? channel.pipeline.syncOperations.context(handler: quiescing) {
                    channel.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                }
            }
            return Value(negotiated: negotiated, channel: channel, handshake: handshake)
        }
    }

    func handle(value: Value, logger: Logger) async {
        guard let negotiated = try? await value.negotiated.get() else {
            try? await value.channel.close()
            // A client $connect let in but gone before the upgrade finished: $disconnect still hears of it.
            if case .accepted(let info) = value.handshake.withLockedValue({ $0 }) {
                await webSockets.dataPlane.disconnect(
                    info, statusCode: 1006, reason: "Connection closed abnormally", requestId: webSockets.requestIds.next(), time: webSockets.clock())
            }
            return
        }
        switch negotiated {
        case .http:
            // The handler answers the connection's requests; it stays until the connection closes.
            try? await value.channel.closeFuture.get()
        case .webSocket(let channel, let info):
            await webSockets.run(channel, info: info, logger: logger)
        }
    }
}

/// The WebSocket side of the gateway's listener: handshakes to the data plane, then each
/// connection's frames in and out until it closes.
struct WebSocketEdge: Sendable {
    let dataPlane: GatewayDataPlane
    let requestIds: RequestIdGenerator
    let clock: @Sendable () -> Date

    func handshake(_ head: HTTPRequestHead, remoteAddress: String?) async -> WebSocketHandshake {
        let (path, query) = head.uri.firstIndex(of: "?").map { (String(head.uri[..<$0]), String(head.uri[head.uri.index(after: $0)...])) }
            ?? (head.uri, "")
        let request = GatewayRequest(
            method: head.method.rawValue, rawPath: path, routePath: path, rawQueryString: query, headers: head.headers.map { ($0.name, $0.value) },
            body: [], sourceIp: remoteAddress ?? "127.0.0.1", requestId: requestIds.next(), time: clock())
        return await dataPlane.openWebSocket(host: head.headers.first(name: "host"), path: path, request: request)
    }

    /// One connection: messages to the data plane (each on its own, as they may wait on a
    /// function), pings answered, the idle timeout and maximum lifetime kept; `$disconnect` last.
    func run(_ channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, info: WebSocketConnectionInfo, logger: Logger) async {
        let connectionId = info.connectionId
        let ending = try? await channel.executeThenClose { inbound, outbound in
            let client = UpgradedConnection(outbound: outbound, channel: channel.channel)
            dataPlane.attach(info, client: client)
            let limits = Task { await keepLimits(client, info: info) }
            // Stopping ecsd closes the connection as going away (1001).
            await withGracefulShutdownHandler {
                // Messages run side by side (each may wait on a function), at most
                // `messagesInFlight` at once: past that, the connection is not read until one is done.
                await withTaskGroup(of: Void.self) { messages in
                    var running = 0
                    do {
                        for try await frame in inbound {
                            switch frame.opcode {
                            case .text, .binary:
                                var data = frame.unmaskedData
                                let bytes = data.readBytes(length: data.readableBytes) ?? []
                                let message: WebSocketMessage = frame.opcode == .text ? .text(String(decoding: bytes, as: UTF8.self)) : .binary(bytes)
                                let (requestId, time) = (requestIds.next(), clock())
                                if running >= Self.messagesInFlight {
                                    await messages.next()
                                    running -= 1
                                }
                                messages.addTask { await dataPlane.receive(message, connectionId: connectionId, requestId: requestId, time: time) }
                                running += 1
                            case .ping:
                                _ = await client.write(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData))
                            case .connectionClose:
                                var data = frame.unmaskedData
                                let code = data.readInteger(as: UInt16.self).map(Int.init) ?? 1005
                                let reason = data.readString(length: data.readableBytes) ?? ""
                                client.ending.withLock { $0 = (code, reason) }
                                await client.close(code: UInt16(code == 1005 ? 1000 : code), reason: "")
                            default:
                                continue
                            }
                        }
                    } catch {
                        // A message over 128 KB (or a broken frame): closed as "message too big".
                        await client.close(code: 1009, reason: "Message too big")
                    }
                }
            } onGracefulShutdown: {
                Task { await client.close(code: 1001, reason: "Going away") }
            }
            limits.cancel()
            return client.ending.withLock { $0 }
        }
        let (code, reason) = ending ?? (1006, "Connection closed abnormally")
        await dataPlane.detach(connectionId: connectionId, statusCode: code, reason: reason, requestId: requestIds.next(), time: clock())
    }

    /// How many of a connection's messages may be at their routes at once.
    static let messagesInFlight = 16

    /// Closes the connection when it has been idle too long or has reached its maximum lifetime.
    func keepLimits(_ client: UpgradedConnection, info: WebSocketConnectionInfo) async {
        let limits = dataPlane.webSocketLimits
        let end = ContinuousClock.now + limits.maximumLifetime
        while !Task.isCancelled {
            guard let lastActive = dataPlane.lastActive(info.connectionId) else { return }
            let idle = Duration.milliseconds(Int64(clock().timeIntervalSince(lastActive) * 1000))
            if idle >= limits.idleTimeout || ContinuousClock.now >= end {
                await client.close(code: 1001, reason: "Going away")
                return
            }
            let wake = min(end, ContinuousClock.now + (limits.idleTimeout - idle))
            do { try await Task.sleep(until: wake, clock: .continuous) } catch { return }
        }
    }
}

/// An upgraded connection as the data plane writes to it.
final class UpgradedConnection: WebSocketClient {
    let outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>
    let channel: any Channel
    /// How the connection ended, for `$disconnect`: set by whichever side closes first.
    let ending = Mutex<(code: Int, reason: String)>((1006, "Connection closed abnormally"))
    let closed = Mutex(false)

    init(outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>, channel: any Channel) {
        self.outbound = outbound
        self.channel = channel
    }

    func send(_ message: WebSocketMessage) async -> Bool {
        guard !closed.withLock({ $0 }) else { return false }
        let frame: WebSocketFrame
        switch message {
        case .text(let text): frame = WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text))
        case .binary(let bytes): frame = WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: bytes))
        }
        return await write(frame)
    }

    /// Writes a frame, or gives up after `patience`: a client that does not read cannot hold a
    /// sender (or the connection's closing) forever.
    func write(_ frame: WebSocketFrame, patience: Duration = .seconds(5)) async -> Bool {
        let outbound = self.outbound
        return await withTaskGroup(of: Bool?.self) { group in
            group.addTask {
                do {
                    try await outbound.write(frame)
                    return true
                } catch {
                    return false
                }
            }
            group.addTask {
                try? await Task.sleep(for: patience)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? false
        }
    }

    func close(code: UInt16, reason: String) async {
        let first = closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        ending.withLock { if $0.code == 1006 { $0 = (Int(code), reason) } }
        var data = ByteBuffer()
        data.writeInteger(code)
        data.writeString(reason)
        _ = await write(WebSocketFrame(fin: true, opcode: .connectionClose, data: data), patience: .seconds(1))
        try? await channel.close()
    }
}

/// NIO's upgrade handler keeps the request of a handshake it refuses (it gives the HTTP pipeline
/// only what came after): this handler, just before it, remembers that request and hands it on
/// again once the pipeline serves HTTP, so a refused handshake is answered like any request.
final class UpgradeRequestTracker: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    /// Touched on the channel's event loop only.
    private nonisolated(unsafe) var upgradeHead: HTTPRequestHead?
    private nonisolated(unsafe) var sawEnd = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(var head) where head.headers.contains(name: "upgrade"):
            guard head.method == .GET, head.headers["upgrade"].contains(where: { $0.lowercased().contains("websocket") }) else {
                // Not a WebSocket handshake (a POST asking for h2c…): served as plain HTTP, as NIO's
                // upgrade handler would otherwise drop the connection.
                head.headers.remove(name: "upgrade")
                context.fireChannelRead(wrapInboundOut(.head(head)))
                return
            }
            if upgradeHead == nil { upgradeHead = head }
        case .end where upgradeHead != nil: sawEnd = true
        default: break
        }
        context.fireChannelRead(data)
    }

    /// Called when NIO has settled on plain HTTP: the handshake's head, and its end when that was
    /// swallowed too, go on to the HTTP handlers (through the upgrade handler, which holds them
    /// until the pipeline is ready).
    func replaySwallowedRequest(in channel: any Channel) throws {
        guard let head = upgradeHead else { return }
        upgradeHead = nil
        let context = try channel.pipeline.syncOperations.context(handler: self)
        context.fireChannelRead(wrapInboundOut(.head(head)))
        if sawEnd { context.fireChannelRead(wrapInboundOut(.end(nil))) }
    }
}

/// A graceful shutdown closes a gateway connection still waiting for its first request, so stopping
/// ecsd waits on none; so does a first request NIO cannot parse, once NIO's handler has answered it
/// 400. The guard leaves once the first request settles the protocol: ``GatewayHTTPHandler`` or
/// the WebSocket loop see to the connection from then on.
final class ShutdownGuard: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = Any

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        context.close(promise: nil)
    }

    /// A first request that did not parse was answered: what follows is read and dropped.
    private let lingering = NIOLockedValueBox(false)

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if lingering.withLockedValue({ $0 }) { return }
        guard error is HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        // A first request that does not parse (an unknown method…) is answered 400, then the
        // connection closes as GatewayHTTPHandler closes one (see its `linger`): the answer's side
        // first, the client's after what it still sends is read, so no reset destroys the answer.
        lingering.withLockedValue { $0 = true }
        var headers = HTTPHeaders()
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Content-Length", value: "0")
        context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers))), promise: nil)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).assumeIsolated().whenComplete { _ in
            let closed = context.eventLoop.makePromise(of: Void.self)
            closed.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
            context.close(mode: .output, promise: closed)
            context.eventLoop.assumeIsolated().scheduleTask(in: GatewayHTTPHandler.lingerTime) { context.close(promise: nil) }
            context.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if lingering.withLockedValue({ $0 }) { return }
        context.fireChannelRead(data)
    }
}
