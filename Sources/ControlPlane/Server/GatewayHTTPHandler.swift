import APIGateway
import AWSProtocols
import Foundation
import Metrics
import NIOCore
import NIOHTTP1
import StevedoreCore

/// What the gateway's HTTP connections share: the data plane, the backends' connections, request ids.
struct GatewayHTTPEdge: Sendable {
    let dataPlane: GatewayDataPlane
    let backends: BackendConnections
    let requestIds: RequestIdGenerator
    let clock: @Sendable () -> Date
    let idleTimeout: Duration?
}

/// A gateway connection's HTTP/1.1 requests, one at a time (pipelined ones wait their turn, and
/// the connection is not read meanwhile). A request the data plane can decide at once — an
/// HTTP_PROXY route, or an answer of the gateway's own — is carried out on the connection's event
/// loop, backend exchange included, as a reverse proxy would; any other goes through the data
/// plane's async path. Idle connections close after the idle timeout, and at once on a graceful
/// shutdown (a busy one after its answer).
final class GatewayHTTPHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = Never
    typealias OutboundOut = HTTPServerResponsePart

    private let edge: GatewayHTTPEdge
    /// A refused WebSocket handshake's answer: given to the first request, then the connection closes.
    private var refusal: GatewayResponse?
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var tooLarge = false
    /// A request is being answered: later parts wait, and reads are held.
    private var busy = false
    private var waiting = CircularBuffer<HTTPServerRequestPart>()
    private var readHeld = false
    private var quiescing = false
    private var open = true
    private var draining = false
    private var idleTimer: Scheduled<Void>?
    private var counters: [Int: Counter] = [:]
    /// Answered and closing: what the client still sends is read and dropped (see ``linger(_:)``).
    private var lingering = false
    /// How long a closing connection reads what the client still sends, at most.
    static let lingerTime: TimeAmount = .seconds(2)

    init(edge: GatewayHTTPEdge, refusal: GatewayResponse?) {
        self.edge = edge
        self.refusal = refusal
    }

    func handlerAdded(context: ChannelHandlerContext) { scheduleIdleTimer(context) }

    func handlerRemoved(context: ChannelHandlerContext) {
        open = false
        idleTimer?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        open = false
        idleTimer?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if lingering { return }
        let part = unwrapInboundIn(data)
        if busy {
            waiting.append(part)
        } else {
            receive(part, context: context)
        }
    }

    /// Reads wait while a request is being answered and another has already come, so a client
    /// pipelining requests cannot pile them up here. A client that waits for each answer is read
    /// on: holding its reads would change the socket's epoll interest twice per request.
    func read(context: ChannelHandlerContext) {
        if busy && !lingering && !waiting.isEmpty {
            readHeld = true
        } else {
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        quiescing = true
        if !busy && head == nil { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // What a lingering connection still gets does not parse: it is dropped anyway.
        if lingering { return }
        // A request NIO cannot parse is answered 400 when no answer is under way; the connection
        // closes (after the answer under way, if there is one: nothing after it is read).
        if error is HTTPParserError, busy {
            quiescing = true
            waiting.removeAll()
            return
        }
        if error is HTTPParserError, !busy {
            busy = true
            var headers = HTTPHeaders()
            headers.add(name: "Connection", value: "close")
            headers.add(name: "Content-Length", value: "0")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in self.linger(context) }
        } else {
            context.close(promise: nil)
        }
    }

    private func receive(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let requestHead):
            // From here the whole request must arrive within the idle timeout (a client that sends
            // a head and stalls holds nothing for long).
            idleTimer?.cancel()
            idleTimer = nil
            scheduleIdleTimer(context, requestUnderWay: true)
            head = requestHead
            body = nil
            tooLarge = false
        case .body(var chunk):
            guard !tooLarge else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > GatewayDataPlane.maximumBody {
                tooLarge = true
                body = nil
            } else if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
        case .end:
            guard let requestHead = head else { return }
            idleTimer?.cancel()
            idleTimer = nil
            head = nil
            busy = true
            serve(requestHead, body: body.map { Array($0.readableBytesView) } ?? [], context: context)
            body = nil
        }
    }

    private func serve(_ requestHead: HTTPRequestHead, body: [UInt8], context: ChannelHandlerContext) {
        let keepAlive = requestHead.isKeepAlive
        let requestId = edge.requestIds.next()
        if let refusal {
            self.refusal = nil
            var closing = refusal
            closing.headers.append(("Connection", "close"))
            return answer(closing, to: requestHead, keepAlive: false, context: context)
        }
        if tooLarge {
            var response = GatewayResponse.requestTooLarge
            response.headers.append(("apigw-requestid", requestId))
            return answer(response, to: requestHead, keepAlive: keepAlive, context: context)
        }
        let uri = requestHead.uri
        let (path, query) = uri.firstIndex(of: "?").map { (String(uri[..<$0]), String(uri[uri.index(after: $0)...])) } ?? (uri, "")
        let host = requestHead.headers.first(name: "host")
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(requestHead.headers.count)
        for (name, value) in requestHead.headers { headers.append((name, value)) }
        var request = GatewayRequest(
            method: requestHead.method.rawValue, rawPath: path, routePath: path, rawQueryString: query, headers: headers, body: body,
            sourceIp: context.channel.remoteAddress?.ipAddress ?? "127.0.0.1", requestId: requestId, time: edge.clock())
        request.httpProtocol = "HTTP/\(requestHead.version.major).\(requestHead.version.minor)"
        let dataPlane = edge.dataPlane
        switch dataPlane.immediatePlan(host: host, path: path, request: request) {
        case .respond(let response)?:
            answer(response, to: requestHead, keepAlive: keepAlive, context: context)
        case .forward(let plan)?:
            send(plan, candidate: 0, to: requestHead, keepAlive: keepAlive, context: context)
        case nil:
            let promise = context.eventLoop.makePromise(of: GatewayResponse.self)
            let sent = request
            promise.completeWithTask { await dataPlane.handle(host: host, path: path, request: sent) }
            promise.futureResult.assumeIsolated().whenSuccess { response in
                self.answer(response, to: requestHead, keepAlive: keepAlive, context: context)
            }
        }
    }

    /// A planned exchange, to its candidates in turn while they refuse the connection.
    private func send(_ plan: PlannedForward, candidate: Int, to requestHead: HTTPRequestHead, keepAlive: Bool, context: ChannelHandlerContext) {
        edge.backends.forward(plan.candidates[candidate], on: context.eventLoop).assumeIsolated().whenSuccess { result in
            if case .refused = result, candidate + 1 < plan.candidates.count {
                return self.send(plan, candidate: candidate + 1, to: requestHead, keepAlive: keepAlive, context: context)
            }
            self.answer(self.edge.dataPlane.finish(plan, result: result), to: requestHead, keepAlive: keepAlive, context: context)
        }
    }

    private func answer(_ response: GatewayResponse, to requestHead: HTTPRequestHead, keepAlive: Bool, context: ChannelHandlerContext) {
        guard open else { return }
        // The length is the body's (a HEAD's: what the backend said it would send); the connection is this one's.
        var asked = false
        var length: String?
        var headers = HTTPHeaders()
        headers.reserveCapacity(response.headers.count + 3)
        for (name, value) in response.headers {
            switch name.lowercased() {
            case "connection": asked = asked || value.lowercased().contains("close")
            case "content-length": length = value
            case "transfer-encoding", "keep-alive": continue
            default: headers.add(name: name, value: value)
            }
        }
        headers.add(name: "Content-Length", value: requestHead.method == .HEAD ? length ?? "0" : String(response.body.count))
        if !headers.contains(name: "date") { headers.add(name: "Date", value: HTTPDate.now()) }
        let closing = !keepAlive || quiescing || asked
        if closing {
            headers.add(name: "Connection", value: "close")
        } else if requestHead.version == .http1_0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        let status = HTTPResponseStatus(statusCode: response.status)
        requestCounter(status: response.status).increment()
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: requestHead.version, status: status, headers: headers))), promise: nil)
        if !response.body.isEmpty, requestHead.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if closing {
            open = false
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        busy = false
        // An answer given while draining (a pipelined request answered at once) leaves the rest
        // of the queue to the drain under way, instead of recursing once per request.
        guard !draining else { return }
        draining = true
        // Parts that came meanwhile, in order, until one makes the connection busy again.
        while !busy, let part = waiting.popFirst() { receive(part, context: context) }
        draining = false
        guard !busy, open else { return }
        if readHeld {
            readHeld = false
            context.read()
        }
        if head == nil { scheduleIdleTimer(context) }
    }

    /// The connection's request counters by status, made once each: making one goes through the metrics registry's lock.
    private func requestCounter(status: Int) -> Counter {
        if let counter = counters[status] { return counter }
        let counter = Counter(label: "ecsd_gateway_requests_total", dimensions: [("status", String(status))])
        counters[status] = counter
        return counter
    }

    /// Closes a connection whose request was not read to its end (it did not parse): the answer's
    /// side is shut first and what the client still sends is read and dropped, for a moment, as
    /// nginx's lingering close does. Closing with unread data would reset the connection, which
    /// can destroy the answer before the client reads it and fails a client still sending.
    private func linger(_ context: ChannelHandlerContext) {
        guard open else { return }
        lingering = true
        idleTimer?.cancel()
        idleTimer = nil
        let closed = context.eventLoop.makePromise(of: Void.self)
        closed.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
        context.close(mode: .output, promise: closed)
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) { context.close(promise: nil) }
        context.read()
    }

    /// Closes the connection when it stays idle (or, `requestUnderWay`, when the request it began
    /// does not finish arriving) for the idle timeout.
    private func scheduleIdleTimer(_ context: ChannelHandlerContext, requestUnderWay: Bool = false) {
        guard let idleTimeout = edge.idleTimeout, idleTimer == nil, open else { return }
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(idleTimeout)) {
            self.idleTimer = nil
            if !self.busy && (requestUnderWay || self.head == nil) { context.close(promise: nil) }
        }
    }
}
