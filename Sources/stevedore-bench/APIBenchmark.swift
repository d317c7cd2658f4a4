import AgentProtocol
import ApplicationAutoScalingShapes
import Archives
import ArgumentParser
import AWSProtocols
import CurlHTTP
import ECS
import ECSShapes
import Foundation
import LambdaShapes
import StevedoreClient
import StevedoreCore

/// Request throughput and latency of ecsd's API against moto_server, both on this machine, in one run.
struct APIBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "ecsd vs moto_server: requests/s and latency with wrk (16 connections by default)."
    )

    @Option(help: "Path to the ecsd binary (build it with -c release for real figures).")
    var ecsd = ".build/release/ecsd"

    @Option(help: "moto_server executable (pip install 'moto[server]').")
    var moto = "moto_server"

    @Option(help: "wrk executable (Debian package wrk).")
    var wrk = "wrk"

    @Option(help: "Concurrent connections.")
    var connections = 16

    @Option(help: "Seconds per measurement.")
    var duration = 10

    struct Measurement {
        var requestsPerSecond: Double
        var p50: Double
        var p99: Double
        var errors: Int
    }

    func run() async throws {
        guard let wrkPath = which(wrk) else { throw BenchError("wrk not found: apt-get install wrk") }
        guard let motoPath = which(moto) else { throw BenchError("moto_server not found: pip install 'moto[server]'") }
        guard FileManager.default.isExecutableFile(atPath: ecsd) else {
            throw BenchError("\(ecsd) not found: swift build -c release --product ecsd")
        }
        let work = NSTemporaryDirectory() + "stevedore-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        let ecsdPort = freePort()
        let motoPort = ecsdPort + 1
        let uncachedPort = ecsdPort + 2
        let ecsdProcess = try ChildProcess(
            name: "ecsd", executable: ecsd,
            arguments: ["--listen", "127.0.0.1:\(ecsdPort)", "--data-dir", work + "/ecsd", "--log-level", "warning"],
            logPath: work + "/ecsd.log")
        defer { ecsdProcess.stop() }
        // The same ecsd with its read cache off: every request is decoded, computed and encoded.
        let uncachedProcess = try ChildProcess(
            name: "ecsd (read cache off)", executable: ecsd,
            arguments: ["--listen", "127.0.0.1:\(uncachedPort)", "--data-dir", work + "/ecsd-uncached", "--log-level", "warning",
                        "--read-cache-entries", "0"],
            logPath: work + "/ecsd-uncached.log")
        defer { uncachedProcess.stop() }
        let motoProcess = try ChildProcess(
            name: "moto_server", executable: motoPath, arguments: ["-H", "127.0.0.1", "-p", "\(motoPort)"],
            logPath: work + "/moto.log")
        defer { motoProcess.stop() }

        note("started ecsd (pid \(ecsdProcess.process.processIdentifier)) and moto_server (pid \(motoProcess.process.processIdentifier))")
        let targets = [
            ("ecsd", "http://127.0.0.1:\(ecsdPort)"), ("ecsd-uncached", "http://127.0.0.1:\(uncachedPort)"),
            ("moto", "http://127.0.0.1:\(motoPort)"),
        ]
        try await ecsdProcess.waitUntilReady(HTTPClient(baseURL: targets[0].1), path: "/healthz")
        try await uncachedProcess.waitUntilReady(HTTPClient(baseURL: targets[1].1), path: "/healthz")
        try await motoProcess.waitUntilReady(HTTPClient(baseURL: targets[2].1), path: "/")
        note("both ready; seeding")
        for (_, endpoint) in targets { try await seed(endpoint) }
        note("seeded")

        let operations: [(String, String)] = [
            ("DescribeTaskDefinition", #"{"taskDefinition":"web"}"#),
            ("ListClusters", "{}"),
        ]
        print("Stevedore API benchmark: \(connections) connections, \(duration) s per run, wrk on 127.0.0.1")
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores\n")
        var rows: [[String]] = []
        for (operation, body) in operations {
            var results: [String: Measurement] = [:]
            for (name, endpoint) in targets {
                let script = work + "/\(operation).lua"
                try luaScript(operation: operation, body: body).write(toFile: script, atomically: true, encoding: .utf8)
                // A short warm-up, then the measured run.
                _ = try runProgram(wrkPath, ["-t2", "-c\(connections)", "-d2s", "-s", script, endpoint + "/"])
                let output = try runProgram(
                    wrkPath, ["-t2", "-c\(connections)", "-d\(duration)s", "--latency", "-s", script, endpoint + "/"])
                results[name] = try Self.parse(output)
                note("\(operation) on \(name): \(Int(results[name]!.requestsPerSecond)) req/s")
            }
            let ours = results["ecsd"]!
            let uncached = results["ecsd-uncached"]!
            let theirs = results["moto"]!
            func ratio(_ m: Measurement) -> String {
                String(format: "%.1fx moto", m.requestsPerSecond / max(theirs.requestsPerSecond, 0.001))
            }
            rows.append([operation, "ecsd", format(ours.requestsPerSecond), ms(ours.p50), ms(ours.p99), "\(ours.errors)", ratio(ours)])
            rows.append([
                "", "ecsd, read cache off", format(uncached.requestsPerSecond), ms(uncached.p50), ms(uncached.p99),
                "\(uncached.errors)", ratio(uncached),
            ])
            rows.append([
                "", "moto_server", format(theirs.requestsPerSecond), ms(theirs.p50), ms(theirs.p99), "\(theirs.errors)",
                "baseline",
            ])
        }
        print(table(["OPERATION", "SERVER", "REQ/S", "P50", "P99", "ERRORS", "RATIO"], rows))
        if let rss = ecsdProcess.residentKiB { print("ecsd resident memory after the run: \(rss / 1024) MiB") }
        print("targets: ecsd >= 50x moto_server's throughput, p99 < 5 ms at 16 connections")
    }

    static let authorization = "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=0"

    func seed(_ endpoint: String) async throws {
        // moto routes requests by the service in the signature's credential scope.
        let client = APIClient(endpoint: endpoint, extraHeaders: [("Authorization", Self.authorization)])
        for index in 0..<20 {
            let _: CreateClusterResponse = try await client.ecs("CreateCluster", CreateClusterRequest(clusterName: "bench-\(index)"))
        }
        let definition = RegisterTaskDefinitionRequest(
            family: "web",
            containerDefinitions: [
                ContainerDefinition(
                    name: "web", image: "nginx:1.27", cpu: 256, memory: 512,
                    portMappings: [PortMapping(containerPort: 80, hostPort: 0, protocol: .tcp)],
                    essential: true, environment: [KeyValuePair(name: "MODE", value: "prod")]
                )
            ]
        )
        let _: RegisterTaskDefinitionResponse = try await client.ecs("RegisterTaskDefinition", definition)
    }

    func luaScript(operation: String, body: String) -> String {
        """
        wrk.method = "POST"
        wrk.body = '\(body)'
        wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
        wrk.headers["X-Amz-Target"] = "AmazonEC2ContainerServiceV20141113.\(operation)"
        wrk.headers["Authorization"] = "\(Self.authorization)"
        """
    }

    /// Reads requests/s, the 50th and 99th latency percentiles (ms) and error counts from wrk's report.
    static func parse(_ output: String) throws -> Measurement {
        var measurement = Measurement(requestsPerSecond: 0, p50: 0, p99: 0, errors: 0)
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if line.contains("Requests/sec:"), let value = fields.last.flatMap({ Double($0) }) {
                measurement.requestsPerSecond = value
            } else if fields.first == "50%", fields.count > 1 {
                measurement.p50 = milliseconds(String(fields[1]))
            } else if fields.first == "99%", fields.count > 1 {
                measurement.p99 = milliseconds(String(fields[1]))
            } else if line.contains("Non-2xx or 3xx responses:"), let value = fields.last.flatMap({ Int($0) }) {
                measurement.errors += value
            } else if line.contains("Socket errors:") {
                measurement.errors += fields.compactMap { Int($0.trimmingCharacters(in: .punctuationCharacters)) }.reduce(0, +)
            }
        }
        guard measurement.requestsPerSecond > 0 else { throw BenchError("could not read wrk's output:\n\(output)") }
        return measurement
    }

    static func milliseconds(_ text: String) -> Double {
        for (suffix, factor) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)] where text.hasSuffix(suffix) {
            return (Double(text.dropLast(suffix.count)) ?? 0) * factor
        }
        return Double(text) ?? 0
    }

    func format(_ value: Double) -> String { String(format: "%.0f", value) }
    func ms(_ value: Double) -> String { String(format: "%.2f ms", value) }
}

/// Plain aligned columns for benchmark reports.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    var widths = [Int](repeating: 0, count: header.count)
    for row in all { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
    return all.map { row in
        row.enumerated().map { index, cell in cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }.joined(separator: "\n")
}
