import AWSProtocols
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import StevedoreCore
import Synchronization

/// What one HTTP connection may cost the server: a request's head must arrive within
/// `requestTimeout` of its first byte, and its body may not stall for longer than that; past `maximumConnections` open at once, new
/// connections are answered 503 and closed; bytes that are not HTTP get an AWS-shaped 400 rather
/// than an empty one. (Idle keep-alive connections are closed by the server's idle timeout.)
public struct ConnectionLimits: Sendable {
    public var maximumConnections = 1024
    public var requestTimeout: Duration = .seconds(30)
    public var idleTimeout: Duration = .seconds(60)

    public init() {}
}

/// Open connections, shared by every connection's guard.
final class ConnectionCount: Sendable {
    private let open = Atomic<Int>(0)

    /// Counts a new connection; false when that makes more than `maximum`.
    func admit(maximum: Int) -> Bool {
        open.wrappingAdd(1, ordering: .relaxed).newValue <= maximum
    }

    func release() { open.wrappingSubtract(1, ordering: .relaxed) }

    var current: Int { open.load(ordering: .relaxed) }
}

/// Enforces ``ConnectionLimits`` on one connection, between the HTTP codec and the server.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limits: ConnectionLimits
    private let count: ConnectionCount
    private var counted = false
    private var admitted = true
    /// One timer per connection, armed when a request starts and re-armed from its own firing
    /// rather than per request: scheduling and cancelling a timer for each request cost ~10% of
    /// a cached read's throughput.
    private var deadline: Scheduled<Void>?
    /// When the request now arriving started; nil between requests.
    private var requestStarted: NIODeadline?
    /// A response was refused or the connection is being closed: ignore what else arrives.
    private var closing = false
    /// Requests whose heads have arrived and whose responses have not ended yet.
    private var unanswered = 0
    /// A request's head has arrived and its end has not.
    private var receiving = false
    /// After a parse error: answers still to be written before the connection closes.
    private var answersBeforeClose: Int?

    init(limits: ConnectionLimits, count: ConnectionCount) {
        self.limits = limits
        self.count = count
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit() }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit()
        context.fireChannelActive()
    }

    private func admit() {
        guard !counted else { return }
        counted = true
        admitted = count.admit(maximum: limits.maximumConnections)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        if counted {
            counted = false
            count.release()
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard admitted else {
                refuse(
                    context, status: 503,
                    AWSError(
                        type: "ServiceUnavailableException",
                        message: "The server has \(limits.maximumConnections) connections open; retry shortly.", httpStatus: 503))
                return
            }
            unanswered += 1
            receiving = true
            let now = NIODeadline.now()
            requestStarted = now
            if deadline == nil { armDeadline(context, at: now + TimeAmount(limits.requestTimeout)) }
            // A client that asks before sending its body (botocore does for uploads above 1 MB)
            // is told to go on at once rather than left to wait out its own timeout.
            if head.headerFields[.expect]?.lowercased() == "100-continue" {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
            }
        case .end:
            receiving = false
            requestStarted = nil
        case .body:
            // A body still arriving is progress: the timeout counts from its latest part, so a
            // large upload is not cut off while a stalled one still is.
            requestStarted = .now()
        }
        context.fireChannelRead(data)
    }

    /// Closes the connection at `when` if the request then arriving started `requestTimeout` before;
    /// otherwise waits for the current request's own deadline, or for the next request.
    private func armDeadline(_ context: ChannelHandlerContext, at when: NIODeadline) {
        // Holds the guard strongly (a weak reference would move every retain of the guard onto
        // the slow path); the timer is cancelled when the channel goes inactive or the guard is removed.
        deadline = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: when) {
            self.deadline = nil
            guard let started = self.requestStarted, !self.closing else { return }
            let due = started + TimeAmount(self.limits.requestTimeout)
            guard due <= .now() else { return self.armDeadline(context, at: due) }
            // The request did not arrive whole in time: close rather than wait for the rest.
            self.closing = true
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError, !closing else {
            context.fireErrorCaught(error)
            return
        }
        // Requests that arrived whole and are still owed an answer (not the broken one).
        let owed = unanswered - (receiving ? 1 : 0)
        guard owed > 0 else {
            refuse(context, status: 400, AWSError(type: "SerializationException", message: "The request is not valid HTTP/1.1 (\(error))."))
            return
        }
        // A 400 now would land in the middle of an earlier request's answer: close once the answers
        // owed are written instead.
        closing = true
        answersBeforeClose = owed
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else { return context.write(data, promise: promise) }
        unanswered = max(0, unanswered - 1)
        guard let remaining = answersBeforeClose else { return context.write(data, promise: promise) }
        answersBeforeClose = remaining - 1
        guard remaining == 1 else { return context.write(data, promise: promise) }
        // The last answer owed before a refusal: close once it has gone out.
        let written = promise ?? context.eventLoop.makePromise()
        context.write(data, promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    /// Answers with an AWS error shape (`__type` for JSON clients, `x-amzn-ErrorType` for REST
    /// ones) and closes the connection.
    private func refuse(_ context: ChannelHandlerContext, status: Int, _ error: AWSError) {
        closing = true
        deadline?.cancel()
        deadline = nil
        let answer = APIResponse.error(error)
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        fields[.connection] = "close"
        fields[.contentLength] = String(answer.body.count)
        let head = HTTPResponse(status: HTTPResponse.Status(code: status), headerFields: fields)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: answer.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
