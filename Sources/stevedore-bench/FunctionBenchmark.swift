import AgentProtocol
import ApplicationAutoScalingShapes
import Archives
import ArgumentParser
import AWSProtocols
import CurlHTTP
import DockerClient
import ECS
import ECSShapes
import Foundation
import LambdaShapes
import StevedoreClient
import StevedoreCore

/// Functions: cold start against the engine's floor (create + start of the same runtime until it
/// asks the Runtime API for work), warm invocation overhead, and warm invocations per second with
/// a native runtime client, all in one run on this machine.
struct FunctionBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "functions",
        abstract: "Cold start vs the engine floor, warm overhead p50/p99, warm invocations/s (needs Docker and a C compiler)."
    )

    @Option(help: "Path to ecsd.") var ecsd = ".build/release/ecsd"
    @Option(name: .customLong("agent"), help: "Path to ecs-agent.") var agentPath = ".build/release/ecs-agent"
    @Option(help: "Cold starts to time (and floor samples).") var coldSamples = 20
    @Option(help: "Sequential warm invocations to time.") var warmSamples = 2000
    @Option(help: "Concurrent connections for the throughput run (one warm environment each).") var connections = 32
    @Option(help: "Seconds of the throughput run.") var duration = 10
    @Option(help: "wrk executable (Debian package wrk).") var wrk = "wrk"

    func run() async throws {
        for path in [ecsd, agentPath] where !FileManager.default.isExecutableFile(atPath: path) {
            throw BenchError("\(path) not found: swift build -c release")
        }
        guard let wrkPath = which(wrk) else { throw BenchError("wrk not found: apt-get install wrk") }
        let docker = try await DockerClient.connect()
        let work = NSTemporaryDirectory() + "stevedore-fn-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work + "/code", withIntermediateDirectories: true)
        defer { if ProcessInfo.processInfo.environment["STEVEDORE_BENCH_KEEP"] == nil { try? FileManager.default.removeItem(atPath: work) } }
        note("compiling the native runtime client (work directory \(work))")
        let binary = try NativeRuntime.build(in: work + "/code")
        var writer = ZipWriter()
        writer.add(path: "bootstrap", contents: Array(FileManager.default.contents(atPath: binary)!), mode: 0o755)
        let zip = Data(writer.finish())

        let port = freePort()
        let endpoint = "http://127.0.0.1:\(port)"
        let cluster = "fn-bench"
        let server = try ChildProcess(
            name: "ecsd", executable: ecsd,
            arguments: [
                "--listen", "127.0.0.1:\(port)", "--gateway-listen", "127.0.0.1:0", "--data-dir", work + "/ecsd", "--log-level", ProcessInfo.processInfo.environment["STEVEDORE_BENCH_LOG_LEVEL"] ?? "warning", "--functions-cluster", cluster, "--auth", "off",
            ],
            logPath: work + "/ecsd.log")
        defer { server.stop() }
        let http = HTTPClient(baseURL: endpoint)
        try await server.waitUntilReady(http, path: "/healthz")
        let client = APIClient(endpoint: endpoint)
        let _: CreateClusterResponse = try await client.ecs("CreateCluster", CreateClusterRequest(clusterName: cluster))
        let agent = try ChildProcess(
            name: "ecs-agent", executable: "/usr/bin/env",
            arguments: [
                "ECS_CLUSTER=\(cluster)", "ECS_BACKEND_HOST=\(endpoint)", "ECS_DATADIR=\(work)/agent",
                "ECS_LOGLEVEL=\(ProcessInfo.processInfo.environment["STEVEDORE_BENCH_LOG_LEVEL"] ?? "warn")", agentPath,
                "--config", "/dev/null",
            ],
            logPath: work + "/agent.log")
        defer {
            agent.stop()
            // Synchronous: a Task started here would not outlive the process.
            removeContainers(cluster: cluster)
        }
        while true {
            let listed: ListContainerInstancesResponse = try await client.ecs("ListContainerInstances", ListContainerInstancesRequest(cluster: cluster))
            if !(listed.containerInstanceArns ?? []).isEmpty { break }
            try await Task.sleep(for: .milliseconds(100))
        }

        func create(_ name: String) async throws {
            let request = LambdaCreateFunctionRequest(
                FunctionName: name, Runtime: .providedAl2023, Role: "arn:aws:iam::000000000000:role/bench", Handler: "echo",
                Code: LambdaFunctionCode(ZipFile: zip), Timeout: 30, MemorySize: 128)
            let _: LambdaFunctionConfiguration = try await client.lambda("POST", "/2015-03-31/functions", request)
        }
        func invoke(_ name: String, tail: Bool = false) async throws -> (seconds: Double, response: HTTPClient.Response) {
            let began = ContinuousClock.now
            let response = try await http.execute(
                HTTPClient.Request(
                    method: "POST", path: "/2015-03-31/functions/\(name)/invocations",
                    headers: tail ? [("X-Amz-Log-Type", "Tail")] : [], body: Array(#"{"k":1}"#.utf8), timeout: .seconds(60)))
            guard response.status == 200, response.header("X-Amz-Function-Error") == nil else {
                throw BenchError("invoke \(name) answered \(response.status): \(response.bodyText)")
            }
            return (durationSeconds(ContinuousClock.now - began), response)
        }

        // Warm-up: the first environment builds the provided runtime image on this host.
        try await create("warm")
        _ = try await invoke("warm")

        note("floor: create + start of the runtime until it polls the Runtime API, \(coldSamples) times")
        let floor = try await measureFloor(docker, code: work + "/code")

        note("cold starts: \(coldSamples) new functions, one invocation each")
        var cold: [Double] = []
        var initDurations: [Double] = []
        for index in 0..<coldSamples {
            try await create("cold\(index)")
            let (seconds, response) = try await invoke("cold\(index)", tail: true)
            cold.append(seconds - 0.015)  // the agent waits 15 ms for late log lines when the tail is asked for
            if let tail = response.header("X-Amz-Log-Result").flatMap({ Data(base64Encoded: $0) }),
                let text = String(data: tail, encoding: .utf8), let range = text.range(of: "Init Duration: ")
            {
                initDurations.append((Double(text[range.upperBound...].prefix { $0 != " " }) ?? 0) / 1000)
            }
        }
        cold.sort()

        note("warm: \(warmSamples) sequential invocations")
        var warm: [Double] = []
        for _ in 0..<warmSamples { warm.append(try await invoke("warm").seconds) }
        warm.sort()
        var functionTimes: [Double] = []
        for _ in 0..<50 {
            let (_, response) = try await invoke("warm", tail: true)
            if let tail = response.header("X-Amz-Log-Result").flatMap({ Data(base64Encoded: $0) }),
                let text = String(data: tail, encoding: .utf8), let range = text.range(of: "\tDuration: ")
            {
                functionTimes.append((Double(text[range.upperBound...].prefix { $0 != " " }) ?? 0) / 1000)
            }
        }
        functionTimes.sort()
        var healthz: [Double] = []
        for _ in 0..<warmSamples {
            let began = ContinuousClock.now
            _ = try await http.execute(HTTPClient.Request(path: "/healthz"))
            healthz.append(durationSeconds(ContinuousClock.now - began))
        }
        healthz.sort()

        note("throughput: wrk, \(connections) connections, \(duration) s (after a warm-up that starts the environments)")
        let script = work + "/invoke.lua"
        try "wrk.method = \"POST\"\nwrk.body = '{\"k\":1}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        let url = endpoint + "/2015-03-31/functions/warm/invocations"
        _ = try runProgram(wrkPath, ["-t2", "-c\(connections)", "-d5s", "-s", script, url])
        let measured = try APIBenchmark.parse(
            try runProgram(wrkPath, ["-t2", "-c\(connections)", "-d\(duration)s", "--latency", "-s", script, url]))
        let ceiling = try APIBenchmark.parse(
            try runProgram(wrkPath, ["-t2", "-c\(connections)", "-d\(max(3, duration / 2))s", "--latency", endpoint + "/healthz"]))

        let initP50 = initDurations.sorted().percentile(0.5)
        let functionP50 = functionTimes.percentile(0.5)
        print("Function benchmark: Docker \(docker.engine.version), native (C) runtime client, 128 MB, on this machine\n")
        print(
            table(
                ["PATH", "P50", "P99", "MAX"],
                [
                    ["engine floor: create + start until the runtime polls", ms(floor.percentile(0.5)), ms(floor.percentile(0.99)), ms(floor.last ?? 0)],
                    ["cold start: Invoke -> response, new environment", ms(cold.percentile(0.5)), ms(cold.percentile(0.99)), ms(cold.last ?? 0)],
                    ["warm invoke: Invoke -> response", ms(warm.percentile(0.5)), ms(warm.percentile(0.99)), ms(warm.last ?? 0)],
                    ["  the function's own time (REPORT Duration)", ms(functionP50), ms(functionTimes.percentile(0.99)), ms(functionTimes.last ?? 0)],
                    ["baseline: GET /healthz on the same connection", ms(healthz.percentile(0.5)), ms(healthz.percentile(0.99)), ms(healthz.last ?? 0)],
                ]))
        print(
            String(
                format: "\ncold start p50 / engine floor p50: %.2fx (target <= 1.5x; the runtime's init is part of both; Init Duration p50 %.1f ms)",
                cold.percentile(0.5) / max(floor.percentile(0.5), 0.0001), initP50 * 1000))
        print(
            String(
                format: "warm overhead above the function's own time: p50 %.2f ms (target < 1), p99 %.2f ms (target < 5)",
                (warm.percentile(0.5) - functionP50) * 1000, (warm.percentile(0.99) - functionP50) * 1000))
        print(
            String(
                format: "warm invocations/s, %d connections: %.0f (target >= 5,000; %.2fx), p50 %.2f ms, p99 %.2f ms, errors %d",
                connections, measured.requestsPerSecond, measured.requestsPerSecond / 5000, measured.p50, measured.p99, measured.errors))
        print(
            String(
                format: "baseline: GET /healthz with the same load: %.0f req/s (invocations reach %.0f%% of ecsd's plain HTTP ceiling)",
                ceiling.requestsPerSecond, measured.requestsPerSecond / max(ceiling.requestsPerSecond, 1) * 100))
    }

    /// Create + start the provided runtime image running the same bootstrap, until it connects
    /// to a Runtime API listener of ours and sends its first request.
    func measureFloor(_ docker: DockerClient, code: String) async throws -> [Double] {
        let listener = try Listener()
        var results: [Double] = []
        for index in 0..<coldSamples {
            var config = ContainerConfig(image: RuntimeImages.provided)
            config.cmd = ["/var/task/bootstrap"]
            config.user = "993:993"
            config.env = ["AWS_LAMBDA_RUNTIME_API=127.0.0.1:\(listener.port)"]
            config.hostConfig.memory = 128 * 1_048_576
            config.hostConfig.networkMode = "host"
            config.hostConfig.binds = ["\(code):/var/task:ro"]
            config.hostConfig.tmpfs = ["/tmp": "size=512m"]
            let began = ContinuousClock.now
            let id = try await docker.createContainer(name: "stevedore-fn-floor-\(index)-\(UUID().uuidString.prefix(6))", config: config)
            try await docker.startContainer(id)
            try await listener.acceptRequest()
            results.append(durationSeconds(ContinuousClock.now - began))
            try await docker.removeContainer(id, force: true)
        }
        listener.close()
        return results.sorted()
    }

}

/// A TCP listener on 127.0.0.1 that waits for one connection's first request line.
final class Listener: @unchecked Sendable {
    let fd: Int32
    let port: Int

    init() throws {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(socketFD, 16) == 0 else { throw BenchError("cannot listen on 127.0.0.1") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) } }
        fd = socketFD
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func acceptRequest() async throws {
        let fd = self.fd
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Thread.detachNewThread {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { return continuation.resume(throwing: BenchError("accept failed")) }
                var buffer = [UInt8](repeating: 0, count: 512)
                _ = read(client, &buffer, buffer.count)
                Foundation.close(client)
                continuation.resume()
            }
        }
    }

    func close() { Foundation.close(fd) }
}
