import DockerClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StevedoreTestSupport
import Synchronization
import Testing

/// A fake Docker engine on a unix socket: enough of the API to check what the client sends and
/// how it reads answers, errors and streams.
final class FakeDocker: Sendable {
    let apiVersion: String
    let minimumVersion: String
    let requests = Mutex<[String]>([])

    init(apiVersion: String, minimumVersion: String) {
        self.apiVersion = apiVersion
        self.minimumVersion = minimumVersion
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        let requests = self
        let (apiVersion, minimumVersion) = (self.apiVersion, self.minimumVersion)
        router.get("/version") { _, _ -> Response in
            json(#"{"Version":"29.0.0","ApiVersion":"\#(apiVersion)","MinAPIVersion":"\#(minimumVersion)","Os":"linux","Arch":"amd64"}"#)
        }
        router.post("/{version}/containers/create") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            requests.requests.withLock { $0.append("create \(request.uri.queryParameters["name"] ?? "") \(String(buffer: body))") }
            if request.uri.queryParameters["name"] == "taken" {
                return json(#"{"message":"Conflict. The container name \"/taken\" is already in use"}"#, status: .conflict)
            }
            return json(#"{"Id":"abc123","Warnings":[]}"#, status: .created)
        }
        router.post("/{version}/containers/{id}/start") { request, context -> Response in
            requests.requests.withLock { $0.append("start \(context.parameters.get("id") ?? "") \(request.uri.path)") }
            return Response(status: .noContent)
        }
        router.get("/{version}/containers/{id}/json") { _, context -> Response in
            if context.parameters.get("id") == "missing" { return json(#"{"message":"No such container: missing"}"#, status: .notFound) }
            return json(
                #"{"Id":"abc123","Name":"/ecs-web-1-web-x","Image":"sha256:1","State":{"Status":"exited","Running":false,"OOMKilled":true,"ExitCode":137,"Error":"","StartedAt":"","FinishedAt":""},"NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"49153"}],"81/tcp":null}}}"#)
        }
        router.get("/{version}/containers/{id}/logs") { _, _ -> Response in
            var buffer = ByteBuffer()
            for (stream, text) in [(1, "hello\n"), (2, "oops\n"), (1, "bye\n")] {
                buffer.writeBytes([UInt8(stream), 0, 0, 0, 0, 0, 0, UInt8(text.utf8.count)])
                buffer.writeString(text)
            }
            return Response(status: .ok, body: ResponseBody(byteBuffer: buffer))
        }
        router.post("/{version}/images/create") { request, _ -> Response in
            requests.requests.withLock { $0.append("pull \(request.uri.query ?? "") auth=\(request.headers[HTTPField.Name("X-Registry-Auth")!] ?? "none")") }
            if request.uri.queryParameters["fromImage"] == "private/thing" {
                return Response(
                    status: .ok,
                    body: ResponseBody(byteBuffer: ByteBuffer(string: "{\"status\":\"Pulling\"}\n{\"errorDetail\":{\"message\":\"unauthorized: authentication required\"},\"error\":\"unauthorized\"}\n")))
            }
            return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "{\"status\":\"Pulling\"}\n{\"status\":\"Done\"}\n")))
        }
        router.get("/{version}/events") { _, _ -> Response in
            Response(
                status: .ok,
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: #"{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"k":"v"}}}"# + "\n"))
                    try await writer.write(ByteBuffer(string: #"{"Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"3"}}}"#))
                    try await writer.write(ByteBuffer(string: "\n"))
                    try await writer.finish(nil)
                })
        }
        router.get("/{version}/containers/json") { request, _ -> Response in
            requests.requests.withLock { $0.append("list \(request.uri.queryParameters["filters"] ?? "")") }
            return json(#"[{"Id":"a","Names":["/one"],"Image":"busybox","State":"running","Labels":{"x":"y"}}]"#)
        }
        return router
    }

    func run(_ body: @Sendable (String) async throws -> Void) async throws {
        let socket = NSTemporaryDirectory() + "docker-\(UUID().uuidString.prefix(8)).sock"
        let ready = AsyncStream<Void>.makeStream()
        let app = Application(
            router: router(), configuration: .init(address: .unixDomainSocket(path: socket)),
            onServerRunning: { _ in ready.continuation.yield() })
        try await withGracefulService(app) {
            var iterator = ready.stream.makeAsyncIterator()
            await iterator.next()
            try await body("unix://" + socket)
        }
        try? FileManager.default.removeItem(atPath: socket)
    }
}

func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
}

@Suite struct DockerClientTests {
    @Test func negotiatesTheHighestCommonVersion() async throws {
        let modern = FakeDocker(apiVersion: "1.52", minimumVersion: "1.44")
        try await modern.run { host in
            let client = try await DockerClient.connect(host: host)
            #expect(client.apiVersion == DockerClient.maximumAPIVersion)
            #expect(client.engine.version == "29.0.0")
        }
        let debian = FakeDocker(apiVersion: "1.41", minimumVersion: "1.12")
        try await debian.run { host in
            let client = try await DockerClient.connect(host: host)
            #expect(client.apiVersion == "1.41")
        }
        let tooOld = FakeDocker(apiVersion: "1.39", minimumVersion: "1.12")
        try await tooOld.run { host in
            await #expect {
                _ = try await DockerClient.connect(host: host)
            } throws: { error in
                (error as? DockerError)?.kind == .unsupportedVersion && "\(error)".contains("1.41")
            }
        }
        let tooNew = FakeDocker(apiVersion: "1.60", minimumVersion: "1.50")
        try await tooNew.run { host in
            await #expect(throws: DockerError.self) { _ = try await DockerClient.connect(host: host) }
        }
    }

    @Test func containersCreateStartInspect() async throws {
        let fake = FakeDocker(apiVersion: "1.45", minimumVersion: "1.24")
        try await fake.run { host in
            let client = try await DockerClient.connect(host: host)
            var config = ContainerConfig(image: "busybox")
            config.cmd = ["sh", "-c", "echo hi"]
            config.hostConfig.portBindings = ["80/tcp": [PortBinding(hostIp: "127.0.0.1", hostPort: "8080")]]
            let id = try await client.createContainer(name: "ecs-web-1-web-x", config: config)
            #expect(id == "abc123")
            try await client.startContainer(id)
            let inspected = try await client.inspectContainer(id)
            #expect(inspected.state.oomKilled && inspected.state.exitCode == 137)
            #expect(inspected.networkSettings?.ports?["80/tcp"]??.first?.hostPort == "49153")
            let seen = fake.requests.withLock { $0 }
            #expect(seen.first?.contains(#""Cmd":["sh","-c","echo hi"]"#) == true)
            // Foundation's JSONEncoder does not promise a key order: look for both members.
            #expect(seen.first?.contains(#""HostIp":"127.0.0.1""#) == true && seen.first?.contains(#""HostPort":"8080""#) == true)
            #expect(seen.contains("start abc123 /v1.45/containers/abc123/start"))
        }
    }

    @Test func engineErrorsKeepTheirMessage() async throws {
        let fake = FakeDocker(apiVersion: "1.41", minimumVersion: "1.12")
        try await fake.run { host in
            let client = try await DockerClient.connect(host: host)
            await #expect {
                _ = try await client.inspectContainer("missing")
            } throws: { error in
                let error = error as? DockerError
                return error?.kind == .notFound && error?.message == "No such container: missing"
            }
            await #expect {
                _ = try await client.createContainer(name: "taken", config: ContainerConfig(image: "x"))
            } throws: { error in
                (error as? DockerError)?.kind == .conflict
            }
        }
    }

    @Test func pullSendsAuthAndFailsOnErrorLines() async throws {
        let fake = FakeDocker(apiVersion: "1.41", minimumVersion: "1.12")
        try await fake.run { host in
            let client = try await DockerClient.connect(host: host)
            try await client.pullImage("registry.local:5000/team/app:2", registryAuth: "e30=")
            await #expect {
                try await client.pullImage("private/thing")
            } throws: { error in
                (error as? DockerError)?.kind == .pullFailed && (error as? DockerError)?.message == "unauthorized: authentication required"
            }
            let pulls = fake.requests.withLock { $0.filter { $0.hasPrefix("pull") } }
            #expect(pulls.first == "pull fromImage=registry.local%3A5000%2Fteam%2Fapp&tag=2 auth=e30=")
            #expect(pulls.last?.contains("tag=latest") == true)
        }
    }

    @Test func logsAreDemultiplexed() async throws {
        let fake = FakeDocker(apiVersion: "1.41", minimumVersion: "1.12")
        try await fake.run { host in
            let client = try await DockerClient.connect(host: host)
            var frames: [LogFrame] = []
            let logs = try await client.logs("abc", follow: false)
            for try await frame in logs { frames.append(frame) }
            #expect(frames.map(\.stream) == [.stdout, .stderr, .stdout])
            #expect(frames.map { String(decoding: $0.bytes, as: UTF8.self) } == ["hello\n", "oops\n", "bye\n"])
        }
    }

    @Test func eventsStreamAsJSONLines() async throws {
        let fake = FakeDocker(apiVersion: "1.41", minimumVersion: "1.12")
        try await fake.run { host in
            let client = try await DockerClient.connect(host: host)
            var actions: [String] = []
            let events = try await client.events(labels: ["k=v"])
            for try await event in events { actions.append(event.action) }
            #expect(actions == ["start", "die"])
            let listed = try await client.listContainers(labels: ["com.amazonaws.ecs.cluster=c"])
            #expect(listed.first?.names == ["/one"])
            #expect(fake.requests.withLock { $0 }.contains(#"list {"label":["com.amazonaws.ecs.cluster=c"]}"#))
        }
    }

    @Test func unreachableEngineSaysWhere() async throws {
        await #expect {
            _ = try await DockerClient.connect(host: "unix:///nonexistent/docker.sock")
        } throws: { error in
            "\(error)".contains("cannot reach the Docker engine at unix:///nonexistent/docker.sock")
        }
    }

    @Test func logFramesSurviveArbitraryChunking() {
        var bytes: [UInt8] = []
        for text in ["a", "bcdef", String(repeating: "x", count: 300)] {
            let size = UInt32(text.utf8.count)
            bytes += [1, 0, 0, 0, UInt8(size >> 24), UInt8((size >> 16) & 0xFF), UInt8((size >> 8) & 0xFF), UInt8(size & 0xFF)] + Array(text.utf8)
        }
        var decoder = LogFrameDecoder()
        var out: [String] = []
        for byte in bytes {
            decoder.append([byte])
            while let frame = decoder.next() { out.append(String(decoding: frame.bytes, as: UTF8.self)) }
        }
        #expect(out == ["a", "bcdef", String(repeating: "x", count: 300)])
        var tty = LogFrameDecoder()
        tty.append(Array("plain tty output\n".utf8))
        #expect(tty.next().map { String(decoding: $0.bytes, as: UTF8.self) } == "plain tty output\n")
    }
}
