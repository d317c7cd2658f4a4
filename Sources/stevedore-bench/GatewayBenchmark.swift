import AgentProtocol
import Archives
import ArgumentParser
import AWSProtocols
import CurlHTTP
import ECSShapes
import Foundation
import LambdaShapes
import StevedoreClient
import StevedoreCore

/// API Gateway's data plane against its baselines, in one run: (a) a function route against a
/// direct Invoke of the same warm function; (b) an HTTP_PROXY route against the backend called
/// directly and through nginx as a reverse proxy.
struct GatewayBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Gateway overhead: function route vs direct Invoke; HTTP route vs the backend direct and through nginx (needs Docker, cc, wrk, nginx)."
    )

    @Option(help: "Path to ecsd.") var ecsd = ".build/release/ecsd"
    @Option(name: .customLong("agent"), help: "Path to ecs-agent.") var agentPath = ".build/release/ecs-agent"
    @Option(help: "Sequential requests per path for the latency figures.") var samples = 3000
    @Option(help: "Concurrent connections for the throughput runs.") var connections = 32
    @Option(help: "Seconds of each throughput run.") var duration = 8
    @Option(help: "wrk executable (Debian package wrk).") var wrk = "wrk"
    @Option(help: "nginx executable (Debian package nginx-light or nginx).") var nginx = "nginx"

    func run() async throws {
        for path in [ecsd, agentPath] where !FileManager.default.isExecutableFile(atPath: path) {
            throw BenchError("\(path) not found: swift build -c release")
        }
        guard let wrkPath = which(wrk) else { throw BenchError("wrk not found: apt-get install wrk") }
        guard let nginxPath = which(nginx) ?? (FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") ? "/usr/sbin/nginx" : nil) else {
            throw BenchError("nginx not found: apt-get install nginx-light (the baseline of part b)")
        }
        let work = NSTemporaryDirectory() + "stevedore-gw-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work + "/code", withIntermediateDirectories: true)
        defer { if ProcessInfo.processInfo.environment["STEVEDORE_BENCH_KEEP"] == nil { try? FileManager.default.removeItem(atPath: work) } }
        note("compiling the native runtime client (work directory \(work))")
        let binary = try NativeRuntime.build(in: work + "/code")
        var writer = ZipWriter()
        writer.add(path: "bootstrap", contents: Array(FileManager.default.contents(atPath: binary)!), mode: 0o755)
        let bundle = Data(writer.finish())

        // The backend and nginx in front of it.
        let (backendPort, proxyPort) = (freePort(), freePort())
        try Self.nginxConfiguration(work: work, backendPort: backendPort, proxyPort: proxyPort)
            .write(toFile: work + "/nginx.conf", atomically: true, encoding: .utf8)
        let proxy = try ChildProcess(
            name: "nginx", executable: nginxPath, arguments: ["-p", work, "-c", work + "/nginx.conf", "-e", work + "/nginx-error.log"],
            logPath: work + "/nginx.log")
        defer { proxy.stop() }
        let backend = "http://127.0.0.1:\(backendPort)"
        try await proxy.waitUntilReady(HTTPClient(baseURL: backend), path: "/")

        let (port, gatewayPort) = (freePort(), freePort())
        let endpoint = "http://127.0.0.1:\(port)"
        let gateway = "http://127.0.0.1:\(gatewayPort)"
        let cluster = "gw-bench"
        let server = try ChildProcess(
            name: "ecsd", executable: ecsd,
            arguments: [
                "--listen", "127.0.0.1:\(port)", "--gateway-listen", "127.0.0.1:\(gatewayPort)", "--data-dir", work + "/ecsd", "--log-level", "warning",
                "--functions-cluster", cluster, "--auth", "off",
            ],
            logPath: work + "/ecsd.log")
        defer { server.stop() }
        let http = HTTPClient(baseURL: endpoint)
        try await server.waitUntilReady(http, path: "/healthz")
        let client = APIClient(endpoint: endpoint)
        let _: CreateClusterResponse = try await client.ecs("CreateCluster", CreateClusterRequest(clusterName: cluster))
        let agent = try ChildProcess(
            name: "ecs-agent", executable: "/usr/bin/env",
            arguments: ["ECS_CLUSTER=\(cluster)", "ECS_BACKEND_HOST=\(endpoint)", "ECS_DATADIR=\(work)/agent", "ECS_LOGLEVEL=warn", agentPath, "--config", "/dev/null"],
            logPath: work + "/agent.log")
        defer {
            agent.stop()
            removeContainers(cluster: cluster)
        }
        while true {
            let listed: ListContainerInstancesResponse = try await client.ecs("ListContainerInstances", ListContainerInstancesRequest(cluster: cluster))
            if !(listed.containerInstanceArns ?? []).isEmpty { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let function: LambdaFunctionConfiguration = try await client.lambda(
            "POST", "/2015-03-31/functions",
            LambdaCreateFunctionRequest(
                FunctionName: "echo", Runtime: .providedAl2023, Role: "arn:aws:iam::000000000000:role/bench", Handler: "echo",
                Code: LambdaFunctionCode(ZipFile: bundle), Timeout: 30, MemorySize: 128))
        let functionApi = try await createApi(client, name: "fn", target: function.FunctionArn ?? "")
        let httpApi = try await createApi(client, name: "http", target: backend + "/")

        // (a) Sequential: the same warm function, directly and through a route, requests interleaved.
        let gatewayClient = HTTPClient(baseURL: gateway)
        let body = Array(#"{"k":1}"#.utf8)
        let invoke = HTTPClient.Request(method: "POST", path: "/2015-03-31/functions/echo/invocations", body: body, timeout: .seconds(60))
        let route = HTTPClient.Request(
            method: "POST", path: "/\(functionApi)/items", headers: [("Content-Type", "application/json")], body: body, timeout: .seconds(60))
        note("(a) warming the function, then \(samples) sequential requests each way, interleaved")
        for _ in 0..<200 {
            _ = try await http.execute(invoke)
            _ = try await gatewayClient.execute(route)
        }
        var direct: [Double] = []
        var routed: [Double] = []
        for _ in 0..<samples {
            direct.append(try await timed { try await http.execute(invoke) })
            routed.append(try await timed { try await gatewayClient.execute(route) })
        }
        direct.sort()
        routed.sort()
        let script = work + "/post.lua"
        try "wrk.method = \"POST\"\nwrk.body = '{\"k\":1}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        note("(a) throughput: wrk, \(connections) connections, \(duration) s each way")
        let invokeURL = endpoint + "/2015-03-31/functions/echo/invocations"
        let routeURL = gateway + "/\(functionApi)/items"
        _ = try runProgram(wrkPath, ["-t2", "-c\(connections)", "-d3s", "-s", script, invokeURL])
        _ = try runProgram(wrkPath, ["-t2", "-c\(connections)", "-d3s", "-s", script, routeURL])
        let invokeLoad = try APIBenchmark.parse(try runProgram(wrkPath, ["-t2", "-c\(connections)", "-d\(duration)s", "--latency", "-s", script, invokeURL]))
        let routeLoad = try APIBenchmark.parse(try runProgram(wrkPath, ["-t2", "-c\(connections)", "-d\(duration)s", "--latency", "-s", script, routeURL]))

        // (b) The backend directly, through nginx, through an HTTP_PROXY route.
        note("(b) latency (1 connection) and throughput (\(connections) connections): backend, nginx, gateway")
        let targets = [
            ("backend directly", backend + "/"), ("through nginx (reverse proxy)", "http://127.0.0.1:\(proxyPort)/"),
            ("through the gateway (HTTP_PROXY route)", gateway + "/\(httpApi)/"),
        ]
        var single: [APIBenchmark.Measurement] = []
        var loaded: [APIBenchmark.Measurement] = []
        for (_, url) in targets {
            _ = try runProgram(wrkPath, ["-t1", "-c1", "-d1s", url])
            single.append(try APIBenchmark.parse(try runProgram(wrkPath, ["-t1", "-c1", "-d\(max(3, duration / 2))s", "--latency", url])))
            loaded.append(try APIBenchmark.parse(try runProgram(wrkPath, ["-t2", "-c\(connections)", "-d\(duration)s", "--latency", url])))
        }

        print("API Gateway benchmark: release build, native (C) runtime client, 128 MB; nginx \(nginxVersion(nginxPath)); wrk on 127.0.0.1\n")
        print("(a) a function route against a direct Invoke of the same warm function")
        print(
            table(
                ["PATH", "P50", "P99", "REQ/S (\(connections) CONN)", "P99 UNDER LOAD"],
                [
                    ["Invoke (POST /2015-03-31/functions/echo/invocations)", fine(direct.percentile(0.5)), fine(direct.percentile(0.99)),
                     String(format: "%.0f", invokeLoad.requestsPerSecond), String(format: "%.2f ms", invokeLoad.p99)],
                    ["gateway route (POST /{api}/items, payload 2.0)", fine(routed.percentile(0.5)), fine(routed.percentile(0.99)),
                     String(format: "%.0f", routeLoad.requestsPerSecond), String(format: "%.2f ms", routeLoad.p99)],
                ]))
        print(
            String(
                format: "overhead of the route: p50 %.3f ms (target < 0.5 ms), p99 %.3f ms; throughput %.2fx the direct Invoke's\n",
                (routed.percentile(0.5) - direct.percentile(0.5)) * 1000, (routed.percentile(0.99) - direct.percentile(0.99)) * 1000,
                routeLoad.requestsPerSecond / max(invokeLoad.requestsPerSecond, 1)))
        print("(b) an HTTP route against the backend called directly and through nginx")
        print(
            table(
                ["PATH", "P50 (1 CONN)", "P99 (1 CONN)", "REQ/S (\(connections) CONN)", "P99 UNDER LOAD", "ERRORS"],
                zip(targets, zip(single, loaded)).map { target, pair in
                    [target.0, String(format: "%.3f ms", pair.0.p50), String(format: "%.3f ms", pair.0.p99), String(format: "%.0f", pair.1.requestsPerSecond),
                     String(format: "%.2f ms", pair.1.p99), "\(pair.0.errors + pair.1.errors)"]
                }))
        let nginxAdded = single[1].p50 - single[0].p50
        let gatewayAdded = single[2].p50 - single[0].p50
        print(
            String(
                format: "added latency p50: gateway %.3f ms, nginx %.3f ms (target: gateway <= nginx); throughput %.2fx nginx's (target >= 0.8x)",
                gatewayAdded, nginxAdded, loaded[2].requestsPerSecond / max(loaded[1].requestsPerSecond, 1)))
        print("anchors (published): sam local start-api answers in 1-10 s per request; AWS HTTP APIs add under 10 ms at p99")
    }

    func createApi(_ client: APIClient, name: String, target: String) async throws -> String {
        struct Created: Decodable { var apiId: String }
        struct Request: Encodable {
            var name: String
            var protocolType = "HTTP"
            var target: String
        }
        let created: Created = try await client.lambda("POST", "/v2/apis", Request(name: name, target: target), service: "apigateway")
        return created.apiId
    }

    func timed(_ body: () async throws -> HTTPClient.Response) async throws -> Double {
        let began = ContinuousClock.now
        let response = try await body()
        guard response.status == 200 else { throw BenchError("answered \(response.status): \(response.bodyText)") }
        return durationSeconds(ContinuousClock.now - began)
    }

    /// Seconds as milliseconds with microseconds shown.
    func fine(_ seconds: Double) -> String { String(format: "%.3f ms", seconds * 1000) }

    func nginxVersion(_ path: String) -> String {
        // nginx says its version on standard error.
        let output = (try? runProgram("/bin/sh", ["-c", "'\(path)' -v 2>&1"])) ?? ""
        return output.split(separator: "/").last.map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "?"
    }

    /// nginx as Debian ships it, run unprivileged from the work directory: the backend answers a
    /// static 200; the proxy keeps connections to it open, as the gateway does.
    static func nginxConfiguration(work: String, backendPort: Int, proxyPort: Int) -> String {
        """
        worker_processes 2;
        daemon off;
        pid \(work)/nginx.pid;
        events { worker_connections 4096; }
        http {
            access_log off;
            client_body_temp_path \(work)/nginx-body;
            proxy_temp_path \(work)/nginx-proxy;
            fastcgi_temp_path \(work)/nginx-fastcgi;
            uwsgi_temp_path \(work)/nginx-uwsgi;
            scgi_temp_path \(work)/nginx-scgi;
            upstream backend { server 127.0.0.1:\(backendPort); keepalive 64; }
            server { listen 127.0.0.1:\(backendPort); location / { default_type text/plain; return 200 "ok\\n"; } }
            server {
                listen 127.0.0.1:\(proxyPort);
                location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
            }
        }
        """
    }
}
