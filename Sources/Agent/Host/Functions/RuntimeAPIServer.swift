import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import AWSProtocols
import ECSShapes
import NIOCore
import NIOHTTP1
import NIOPosix
import StevedoreClient
import StevedoreCore

/// The Lambda Runtime API (`/2018-06-01/runtime/…`) for execution environments, one listener per
/// environment on 127.0.0.1 (its port goes into `AWS_LAMBDA_RUNTIME_API`). One event-loop thread
/// serves them all; it starts with the first environment.
final class RuntimeAPIServer: Sendable {
    let group: MultiThreadedEventLoopGroup

    init() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    var loop: any EventLoop { group.next() }

    /// Starts a listener for `environment`; returns the channel (its local port) to close later.
    func listen(for environment: RuntimeEnvironment) async throws -> any Channel {
        try await ServerBootstrap(group: environment.loop)
            .serverChannelOption(.backlog, value: 32)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(RuntimeAPIHandler(environment: environment))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
    }

    func shutdown() {
        group.shutdownGracefully { _ in }
    }
}

/// One runtime connection: parses requests and answers them from the environment's state.
final class RuntimeAPIHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let environment: RuntimeEnvironment
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var tooLarge = false

    init(environment: RuntimeEnvironment) {
        self.environment = environment
    }

    private static let prefix = "/2018-06-01/runtime/"

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
            tooLarge = false
        case .body(var chunk):
            if body.readableBytes + chunk.readableBytes > RuntimeEnvironment.maximumPayload + 1024 {
                tooLarge = true
            } else {
                body.writeBuffer(&chunk)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            handle(head, context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        environment.connectionClosed(ObjectIdentifier(self))
        context.fireChannelInactive()
    }

    private func handle(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard path.hasPrefix(Self.prefix) else {
            if path == "/2018-06-01/ping" { return send(context, head, 200, Data("pong".utf8), contentType: "text/plain") }
            return send(context, head, 404, RuntimeEnvironment.apiError("NotFound", "No such Runtime API path: \(path)"))
        }
        let parts = path.dropFirst(Self.prefix.count).split(separator: "/").map(String.init)
        let payload = Data(body.readableBytesView)
        if tooLarge, head.method == .POST, parts.count == 3, parts[0] == "invocation", parts[2] == "response" {
            let answer = environment.respond(id: parts[1], body: Data(count: RuntimeEnvironment.maximumPayload + 1))
            return send(context, head, answer.status, answer.body)
        }
        switch (head.method, parts.count, parts.first) {
        case (.GET, 2, "invocation") where parts[1] == "next":
            let keepAlive = head.isKeepAlive
            let version = head.version
            let refusal = environment.next({ [weak self] invocation in
                guard let self else { return }
                self.sendInvocation(context, version: version, keepAlive: keepAlive, invocation)
            }, connection: ObjectIdentifier(self))
            if let refusal { send(context, head, refusal.status, refusal.body) }
        case (.POST, 3, "invocation") where parts[2] == "response":
            let answer = environment.respond(id: parts[1], body: payload)
            send(context, head, answer.status, answer.body)
        case (.POST, 3, "invocation") where parts[2] == "error":
            let answer = environment.fail(id: parts[1], headerType: head.headers.first(name: "Lambda-Runtime-Function-Error-Type"), body: payload)
            send(context, head, answer.status, answer.body)
        case (.POST, 2, "init") where parts[1] == "error":
            let answer = environment.initFailed(headerType: head.headers.first(name: "Lambda-Runtime-Function-Error-Type"), body: payload)
            send(context, head, answer.status, answer.body)
        default:
            send(context, head, 404, RuntimeEnvironment.apiError("NotFound", "No such Runtime API path: \(head.method) \(path)"))
        }
    }

    private func sendInvocation(_ context: ChannelHandlerContext, version: HTTPVersion, keepAlive: Bool, _ invocation: AgentInvocation) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Lambda-Runtime-Aws-Request-Id", value: invocation.id)
        headers.add(name: "Lambda-Runtime-Deadline-Ms", value: String(invocation.deadline))
        headers.add(name: "Lambda-Runtime-Invoked-Function-Arn", value: invocation.invokedFunctionArn)
        headers.add(name: "Lambda-Runtime-Trace-Id", value: invocation.traceId)
        if let clientContext = invocation.clientContext { headers.add(name: "Lambda-Runtime-Client-Context", value: clientContext) }
        if let identity = invocation.cognitoIdentity { headers.add(name: "Lambda-Runtime-Cognito-Identity", value: identity) }
        write(context, version: version, keepAlive: keepAlive, status: .ok, headers: headers, body: invocation.payload)
    }

    private func send(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ status: Int, _ body: Data, contentType: String = "application/json") {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        write(context, version: head.version, keepAlive: head.isKeepAlive, status: HTTPResponseStatus(statusCode: status), headers: headers, body: body)
    }

    private func write(
        _ context: ChannelHandlerContext, version: HTTPVersion, keepAlive: Bool, status: HTTPResponseStatus, headers: HTTPHeaders, body: Data
    ) {
        var headers = headers
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Date", value: HTTPDate.now())
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
