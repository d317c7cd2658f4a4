import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import Archives
import Crypto
import NIOCore
import NIOHTTP1
import NIOPosix
import StevedoreCore
import Synchronization

/// The task credentials endpoint, as the real agent serves it: a container whose task has a role
/// gets `AWS_CONTAINER_CREDENTIALS_FULL_URI` and `AWS_CONTAINER_AUTHORIZATION_TOKEN`, and the SDKs
/// fetch the role's temporary credentials from here, fresh before they expire. It listens on
/// 127.0.0.1 (host-network tasks) and, when the host has the address, on `169.254.170.2`, the
/// address ECS gives tasks on a Docker bridge (they reach it through their gateway; the SDKs accept
/// plain HTTP only to loopback and this address). The path names the task; the token is an HMAC of
/// it under a key kept in the agent's data directory, so it outlives an agent restart and no
/// container can fetch another task's credentials.
public final class CredentialsEndpoint: Sendable {
    public static let pathPrefix = "/v2/credentials/"
    /// ECS's task metadata and credentials address.
    public static let linkLocalAddress = "169.254.170.2"
    let key: SymmetricKey
    let port: Int
    /// Why bridge-network tasks cannot reach the endpoint (nil when they can).
    public let linkLocalProblem: String?
    private let group: MultiThreadedEventLoopGroup
    private let channels: [any Channel]
    private let fetch: @Sendable (String) async throws -> TaskCredentials
    private let cache = Mutex<[String: (credentials: TaskCredentials, expires: Int64)]>([:])

    /// Listens on 127.0.0.1:`port` (0, or a port in use: any free one), and on the same port of
    /// `169.254.170.2` when `linkLocal` is true and the host has that address.
    /// - Parameter fetch: the credentials of a task's role, from the control plane.
    public init(
        port: Int, keyBytes: [UInt8], linkLocal: Bool = false, fetch: @escaping @Sendable (String) async throws -> TaskCredentials
    ) async throws {
        key = SymmetricKey(data: keyBytes)
        self.fetch = fetch
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        let handlerFactory = Box()
        @Sendable func bind(_ host: String, _ wanted: Int) async throws -> any Channel {
            try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(CredentialsHandler(endpoint: handlerFactory))
                    }
                }
                .bind(host: host, port: wanted).get()
        }
        // Both listeners share one port, so a port taken on either address means another free one.
        var channels: [any Channel] = []
        var problem = linkLocal ? "" : "not asked to listen on \(Self.linkLocalAddress) (ECS_ENABLE_TASK_IAM_ROLE=false, or the address could not be added)"
        var wanted = port
        for _ in 0..<5 where channels.isEmpty {
            let loopback: any Channel
            do {
                loopback = try await bind("127.0.0.1", wanted)
            } catch where wanted != 0 {
                wanted = 0
                continue
            }
            channels = [loopback]
            guard linkLocal else { break }
            let bound = loopback.localAddress?.port ?? wanted
            do {
                channels.append(try await bind(Self.linkLocalAddress, bound))
            } catch let error as IOError where error.errnoCode == EADDRNOTAVAIL {
                problem = "the host has no address \(Self.linkLocalAddress)"
            } catch {
                problem = "\(Self.linkLocalAddress):\(bound): \(error)"
                try? await loopback.close()
                channels = []
                wanted = 0
            }
        }
        if channels.isEmpty { channels = [try await bind("127.0.0.1", 0)] }
        self.channels = channels
        self.port = channels[0].localAddress?.port ?? port
        linkLocalProblem = channels.count == 2 ? nil : problem
        handlerFactory.endpoint.withLock { $0 = self }
    }

    /// The key in `<dataDirectory>/credentials.key` (made, mode 0600, when missing); a new one in
    /// memory when the agent keeps no state.
    public static func key(dataDirectory: String, persist: Bool) -> [UInt8] {
        let path = dataDirectory + "/credentials.key"
        if persist, let data = FileManager.default.contents(atPath: path), data.count == 32 { return Array(data) }
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        guard persist else { return bytes }
        try? FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let descriptor = open(path + ".tmp", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { return bytes }
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        fsync(descriptor)
        close(descriptor)
        if written == bytes.count { rename(path + ".tmp", path) }
        return bytes
    }

    deinit {
        for channel in channels { channel.close(promise: nil) }
        group.shutdownGracefully { _ in }
    }

    /// What a container of `taskArn` gets in its environment to reach its credentials: on a
    /// bridge, the endpoint's link-local address; with the host's network, loopback.
    public func environment(for taskArn: String, bridged: Bool) -> [(String, String)] {
        let host = bridged && linkLocalProblem == nil ? Self.linkLocalAddress : "127.0.0.1"
        return [
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://\(host):\(port)\(Self.pathPrefix)\(Self.hex(Array(taskArn.utf8)))"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", token(for: taskArn)),
        ]
    }

    func token(for taskArn: String) -> String {
        Self.hex(Array(Crypto.HMAC<SHA256>.authenticationCode(for: Array(taskArn.utf8), using: key)))
    }

    /// Answers `GET /v2/credentials/<task>`: status and JSON body.
    func answer(path: String, authorization: String?) async -> (Int, [UInt8]) {
        guard path.hasPrefix(Self.pathPrefix), let arnBytes = Self.unhex(String(path.dropFirst(Self.pathPrefix.count))),
            let taskArn = String(validating: arnBytes, as: UTF8.self)
        else { return (404, Self.error("NotFound", "No credentials at \(path).")) }
        let expected = Array(token(for: taskArn).utf8)
        let given = Array((authorization ?? "").utf8)
        var difference = UInt8(expected.count == given.count ? 0 : 1)
        for index in 0..<min(expected.count, given.count) { difference |= expected[index] ^ given[index] }
        guard difference == 0 else { return (401, Self.error("AccessDenied", "The authorization token does not match this task's.")) }
        let now = Int64(Date().timeIntervalSince1970)
        if let cached = cache.withLock({ $0[taskArn] }), cached.expires - 300 > now {
            return (200, Array((try? JSONEncoder().encode(cached.credentials)) ?? Data()))
        }
        do {
            let credentials = try await fetch(taskArn)
            let expires = Self.seconds(credentials.Expiration) ?? now + 600
            cache.withLock { cache in
                cache = cache.filter { $0.value.expires > now }
                cache[taskArn] = (credentials, expires)
            }
            return (200, Array((try? JSONEncoder().encode(credentials)) ?? Data()))
        } catch {
            return (500, Self.error("ServerError", "The control plane did not issue credentials: \(error)"))
        }
    }

    static func error(_ code: String, _ message: String) -> [UInt8] {
        Array((try? JSONEncoder().encode(["code": code, "message": message])) ?? Data())
    }

    static func hex(_ bytes: [UInt8]) -> String { Digest.hex(bytes) }

    static func unhex(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = ASCIIHex.value(digits[index]), let low = ASCIIHex.value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    /// Seconds since 1970 of `YYYY-MM-DDTHH:MM:SSZ`.
    static func seconds(_ text: String) -> Int64? {
        let parts = text.split(whereSeparator: { "-T:Z".contains($0) }).compactMap { Int($0) }
        guard parts.count >= 6 else { return nil }
        let days = CivilCalendar.days(year: parts[0], month: parts[1], day: parts[2])
        return Int64(days) * 86_400 + Int64(parts[3] * 3600 + parts[4] * 60 + parts[5])
    }

    /// Lets the handlers reach the endpoint once it exists.
    final class Box: Sendable {
        let endpoint = Mutex<CredentialsEndpoint?>(nil)
    }
}

/// One connection to the endpoint.
final class CredentialsHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let endpoint: CredentialsEndpoint.Box
    private var head: HTTPRequestHead?

    init(endpoint: CredentialsEndpoint.Box) {
        self.endpoint = endpoint
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head, let endpoint = endpoint.endpoint.withLock({ $0 }) else { return }
            self.head = nil
            let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
            let authorization = head.headers.first(name: "Authorization")
            let promise = context.eventLoop.makePromise(of: (Int, [UInt8]).self)
            promise.completeWithTask { await endpoint.answer(path: path, authorization: authorization) }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { status, body in
                let (handler, context) = loopBound.value
                handler.send(context, head, status, body)
            }
        }
    }

    private func send(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ status: Int, _ body: [UInt8]) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.count))
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: status), headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !head.isKeepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
