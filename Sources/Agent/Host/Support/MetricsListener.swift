import NIOCore
import NIOHTTP1
import NIOPosix
import Observability

/// The agent's `GET /metrics` (`ECS_METRICS_LISTEN`): its registry in Prometheus' text format;
/// anything else is 404. A listener of its own, apart from the task credentials endpoint.
public final class MetricsListener: Sendable {
    private let channel: any Channel
    public var port: Int { channel.localAddress?.port ?? 0 }

    public init(host: String, port: Int, registry: PrometheusRegistry) async throws {
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(registry: registry))
                }
            }
            .bind(host: host, port: port).get()
    }

    public func close() async {
        try? await channel.close()
    }
}

final class MetricsHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let registry: PrometheusRegistry

    init(registry: PrometheusRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let found = head.method == .GET && head.uri.split(separator: "?").first == "/metrics"
        let body = found ? registry.render() : "Not found: the agent serves GET /metrics only.\n"
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: found ? PrometheusRegistry.contentType : "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: found ? .ok : .notFound, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
