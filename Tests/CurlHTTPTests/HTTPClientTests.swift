import CurlHTTP
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StevedoreTestSupport
import Testing

/// A Hummingbird server on a temporary unix socket (or TCP port) for exercising the libcurl client.
struct TestServer {
    static func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/hello") { _, _ -> Response in
            var headers = HTTPFields()
            headers[HTTPField.Name("X-Greeting")!] = "hi"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: "hello world")))
        }
        router.post("/echo") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 16 << 20)
            var headers = HTTPFields()
            headers[.contentType] = request.headers[.contentType] ?? "none"
            return Response(status: .created, headers: headers, body: ResponseBody(byteBuffer: body))
        }
        router.delete("/thing") { request, _ -> Response in
            Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "\(request.method.rawValue)")))
        }
        router.get("/slow") { _, _ -> Response in
            try await Task.sleep(for: .seconds(3))
            return Response(status: .ok)
        }
        router.get("/stream") { _, _ -> Response in
            Response(
                status: .ok,
                body: ResponseBody { writer in
                    for index in 0..<3 {
                        try await writer.write(ByteBuffer(string: "chunk\(index)\n"))
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    try await writer.finish(nil)
                }
            )
        }
        router.get("/forever") { _, _ -> Response in
            Response(
                status: .ok,
                body: ResponseBody { writer in
                    while true {
                        try await writer.write(ByteBuffer(string: "tick\n"))
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
            )
        }
        router.get("/missing") { _, _ -> Response in
            Response(status: .notFound, body: ResponseBody(byteBuffer: ByteBuffer(string: "nope")))
        }
        return router
    }

    /// Runs `body` with a server bound to `address`; returns the client to use.
    static func withServer(
        unixSocket: Bool,
        _ body: @Sendable (HTTPClient) async throws -> Void
    ) async throws {
        let socketPath = NSTemporaryDirectory() + "curl-test-\(UUID().uuidString.prefix(8)).sock"
        let ready = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router(),
            configuration: .init(address: unixSocket ? .unixDomainSocket(path: socketPath) : .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in ready.continuation.yield(channel.localAddress?.port ?? 0) }
        )
        try await withGracefulService(app) {
            var iterator = ready.stream.makeAsyncIterator()
            let port = await iterator.next() ?? 0
            try await body(unixSocket ? HTTPClient.unixSocket(socketPath) : HTTPClient(baseURL: "http://127.0.0.1:\(port)"))
        }
        try? FileManager.default.removeItem(atPath: socketPath)
    }
}

@Suite struct HTTPClientTests {
    @Test(arguments: [true, false])
    func getReturnsStatusHeadersAndBody(unixSocket: Bool) async throws {
        try await TestServer.withServer(unixSocket: unixSocket) { client in
            let response = try await client.execute(HTTPClient.Request(path: "/hello"))
            #expect(response.status == 200)
            #expect(response.header("x-greeting") == "hi")
            #expect(response.bodyText == "hello world")
        }
    }

    @Test func postSendsBodyAndHeaders() async throws {
        try await TestServer.withServer(unixSocket: true) { client in
            let payload = Array(repeating: UInt8(ascii: "x"), count: 300_000)
            let response = try await client.execute(
                HTTPClient.Request(method: "POST", path: "/echo", headers: [("Content-Type", "application/json")], body: payload))
            #expect(response.status == 201)
            #expect(response.body == payload)
            #expect(response.header("Content-Type") == "application/json")
        }
    }

    @Test func customMethodsAndErrorStatuses() async throws {
        try await TestServer.withServer(unixSocket: true) { client in
            #expect(try await client.execute(HTTPClient.Request(method: "DELETE", path: "/thing")).bodyText == "DELETE")
            let missing = try await client.execute(HTTPClient.Request(path: "/missing"))
            #expect(missing.status == 404)
            #expect(missing.bodyText == "nope")
        }
    }

    @Test func manyConcurrentRequestsOnOneLoop() async throws {
        try await TestServer.withServer(unixSocket: false) { client in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<200 {
                    group.addTask { try await client.execute(HTTPClient.Request(path: "/hello")).status }
                }
                var count = 0
                for try await status in group {
                    #expect(status == 200)
                    count += 1
                }
                #expect(count == 200)
            }
        }
    }

    @Test func streamsChunksAsTheyArrive() async throws {
        try await TestServer.withServer(unixSocket: true) { client in
            let response = try await client.stream(HTTPClient.Request(path: "/stream", timeout: nil))
            #expect(response.status == 200)
            var text = ""
            var chunks = 0
            for try await chunk in response.body {
                text += String(decoding: chunk, as: UTF8.self)
                chunks += 1
            }
            #expect(text == "chunk0\nchunk1\nchunk2\n")
            #expect(chunks >= 3)
        }
    }

    @Test func leavingAStreamEarlyAbortsIt() async throws {
        try await TestServer.withServer(unixSocket: true) { client in
            let response = try await client.stream(HTTPClient.Request(path: "/forever", timeout: nil))
            var seen = 0
            for try await _ in response.body {
                seen += 1
                if seen == 3 { break }
            }
            #expect(seen == 3)
            // The loop is still healthy afterwards.
            #expect(try await client.execute(HTTPClient.Request(path: "/hello")).status == 200)
        }
    }

    @Test func timeoutsSayWhatFailed() async throws {
        try await TestServer.withServer(unixSocket: true) { client in
            await #expect {
                _ = try await client.execute(HTTPClient.Request(path: "/slow", timeout: .milliseconds(200)))
            } throws: { error in
                (error as? HTTPClientError)?.kind == .timedOut
            }
        }
    }

    @Test func cancellationAbortsTheTransfer() async throws {
        try await TestServer.withServer(unixSocket: true) { client in
            let task = Task { try await client.execute(HTTPClient.Request(path: "/slow", timeout: nil)) }
            try await Task.sleep(for: .milliseconds(100))
            let started = ContinuousClock.now
            task.cancel()
            await #expect {
                _ = try await task.value
            } throws: { error in
                (error as? HTTPClientError)?.kind == .cancelled
            }
            #expect(ContinuousClock.now - started < .seconds(2))
        }
    }

    @Test func unreachableEndpoints() async throws {
        let missingSocket = HTTPClient.unixSocket("/nonexistent/docker.sock")
        await #expect {
            _ = try await missingSocket.execute(HTTPClient.Request(path: "/_ping"))
        } throws: { error in
            let error = error as? HTTPClientError
            return error?.kind == .couldNotConnect && error?.description.contains("http://localhost/_ping") == true
        }
        let closedPort = HTTPClient(baseURL: "http://127.0.0.1:1")
        await #expect(throws: HTTPClientError.self) { _ = try await closedPort.execute(HTTPClient.Request(path: "/")) }
    }
}
