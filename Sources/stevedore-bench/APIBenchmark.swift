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
import SigV4
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

    @Option(help: "Extra back-to-back pairs of unsigned and signed runs for the signing ratio (its median is reported).")
    var signedPairs = 4

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
        let signedPort = ecsdPort + 3
        let ecsdProcess = try ChildProcess(
            name: "ecsd", executable: ecsd,
            arguments: ["--listen", "127.0.0.1:\(ecsdPort)", "--gateway-listen", "127.0.0.1:0", "--data-dir", work + "/ecsd", "--log-level", "warning", "--auth", "off"],
            logPath: work + "/ecsd.log")
        defer { ecsdProcess.stop() }
        // The same ecsd with its read cache off: every request is decoded, computed and encoded.
        let uncachedProcess = try ChildProcess(
            name: "ecsd (read cache off)", executable: ecsd,
            arguments: ["--listen", "127.0.0.1:\(uncachedPort)", "--gateway-listen", "127.0.0.1:0", "--data-dir", work + "/ecsd-uncached", "--log-level", "warning",
                        "--auth", "off", "--read-cache-entries", "0"],
            logPath: work + "/ecsd-uncached.log")
        defer { uncachedProcess.stop() }
        // And with authentication on: every request's SigV4 signature is checked.
        let signedProcess = try ChildProcess(
            name: "ecsd (signed requests)", executable: ecsd,
            arguments: ["--listen", "127.0.0.1:\(signedPort)", "--gateway-listen", "127.0.0.1:0", "--data-dir", work + "/ecsd-signed", "--log-level", "warning", "--auth", "on"],
            logPath: work + "/ecsd-signed.log")
        defer { signedProcess.stop() }
        let motoProcess = try ChildProcess(
            name: "moto_server", executable: motoPath, arguments: ["-H", "127.0.0.1", "-p", "\(motoPort)"],
            logPath: work + "/moto.log")
        defer { motoProcess.stop() }

        note("started ecsd (pid \(ecsdProcess.process.processIdentifier)) and moto_server (pid \(motoProcess.process.processIdentifier))")
        let targets = [
            ("ecsd", "http://127.0.0.1:\(ecsdPort)"), ("ecsd-uncached", "http://127.0.0.1:\(uncachedPort)"),
            ("ecsd-signed", "http://127.0.0.1:\(signedPort)"), ("moto", "http://127.0.0.1:\(motoPort)"),
        ]
        try await ecsdProcess.waitUntilReady(HTTPClient(baseURL: targets[0].1), path: "/healthz")
        try await uncachedProcess.waitUntilReady(HTTPClient(baseURL: targets[1].1), path: "/healthz")
        try await signedProcess.waitUntilReady(HTTPClient(baseURL: targets[2].1), path: "/healthz")
        try await motoProcess.waitUntilReady(HTTPClient(baseURL: targets[3].1), path: "/")
        let adminFile = try String(contentsOfFile: work + "/ecsd-signed/admin-credentials", encoding: .utf8)
        guard let admin = SharedCredentialsFile.parse(adminFile)["default"] else { throw BenchError("no admin credentials in \(work)/ecsd-signed") }
        note("all ready; seeding")
        for (name, endpoint) in targets { try await seed(endpoint, credentials: name == "ecsd-signed" ? admin : nil) }
        note("seeded")

        let operations: [(String, String)] = [
            ("DescribeTaskDefinition", #"{"taskDefinition":"web"}"#),
            ("ListClusters", "{}"),
        ]
        print("Stevedore API benchmark: \(connections) connections, \(duration) s per run, wrk on 127.0.0.1")
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores\n")
        var rows: [[String]] = []
        var signedRatios: [String] = []
        for (operation, body) in operations {
            var results: [String: Measurement] = [:]
            func measure(_ name: String, _ endpoint: String, seconds: Int) throws -> Measurement {
                let script = work + "/\(operation)-\(name).lua"
                // Every server gets the requests an SDK sends, signed (once per run: a signature stays valid
                // for five minutes); only "ecsd, signed" checks them, so the ratio is the cost of checking.
                let headers = Self.signedHeaders(operation: operation, body: body, endpoint: endpoint, admin)
                try luaScript(body: body, headers: headers).write(toFile: script, atomically: true, encoding: .utf8)
                // A short warm-up, then the measured run.
                _ = try runProgram(wrkPath, ["-t2", "-c\(connections)", "-d2s", "-s", script, endpoint + "/"])
                let output = try runProgram(
                    wrkPath, ["-t2", "-c\(connections)", "-d\(seconds)s", "--latency", "-s", script, endpoint + "/"])
                return try Self.parse(output)
            }
            for (name, endpoint) in targets {
                results[name] = try measure(name, endpoint, seconds: duration)
                note("\(operation) on \(name): \(Int(results[name]!.requestsPerSecond)) req/s")
            }
            // The machine's speed drifts by more than signing costs: the signed/unsigned ratio is
            // also taken from pairs run back to back, alternating which goes first, and its median kept.
            var pairRatios: [Double] = []
            for pair in 0..<signedPairs {
                let order = pair % 2 == 0 ? [targets[0], targets[2]] : [targets[2], targets[0]]
                var pairResults: [String: Measurement] = [:]
                for (name, endpoint) in order { pairResults[name] = try measure(name, endpoint, seconds: duration) }
                pairRatios.append(pairResults["ecsd-signed"]!.requestsPerSecond / max(pairResults["ecsd"]!.requestsPerSecond, 0.001))
            }
            let ours = results["ecsd"]!
            let uncached = results["ecsd-uncached"]!
            let signed = results["ecsd-signed"]!
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
                "", "ecsd, signed (SigV4)", format(signed.requestsPerSecond), ms(signed.p50), ms(signed.p99), "\(signed.errors)", ratio(signed),
            ])
            rows.append([
                "", "moto_server", format(theirs.requestsPerSecond), ms(theirs.p50), ms(theirs.p99), "\(theirs.errors)",
                "baseline",
            ])
            let first = signed.requestsPerSecond / max(ours.requestsPerSecond, 0.001)
            let all = ([first] + pairRatios).sorted()
            signedRatios.append(
                String(
                    format: "%@ %.2fx (median of %d runs: %@)", operation, all[all.count / 2], all.count,
                    ([first] + pairRatios).map { String(format: "%.2f", $0) }.joined(separator: ", ")))
        }
        print(table(["OPERATION", "SERVER", "REQ/S", "P50", "P99", "ERRORS", "RATIO"], rows))
        if let rss = ecsdProcess.residentKiB { print("ecsd resident memory after the run: \(rss / 1024) MiB") }
        print("signed / unsigned throughput: \(signedRatios.joined(separator: "; ")) (target >= 0.85x, p99 < 5 ms)")
        print("targets: ecsd >= 50x moto_server's throughput, p99 < 5 ms at 16 connections")
    }

    /// The headers of one signed request, as the AWS SDKs send them (wrk adds `Host` itself).
    static func signedHeaders(operation: String, body: String, endpoint: String, _ credentials: AWSCredentials) -> [(name: String, value: String)] {
        let host = String(endpoint.dropFirst("http://".count))
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.\(operation)"),
        ]
        let request = SignableRequest(method: "POST", path: "/", headers: headers + [("Host", host)], body: Array(body.utf8))
        headers += SigV4Signer.sign(
            request, accessKeyId: credentials.accessKeyId, secret: credentials.secretAccessKey, region: "us-east-1", service: "ecs",
            now: Int64(Date().timeIntervalSince1970))
        return headers
    }

    static let authorization = "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=0"

    func seed(_ endpoint: String, credentials: AWSCredentials?) async throws {
        // moto routes requests by the service in the signature's credential scope.
        let client =
            credentials != nil
            ? APIClient(endpoint: endpoint, credentials: credentials)
            : APIClient(endpoint: endpoint, extraHeaders: [("Authorization", Self.authorization)])
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

    func luaScript(body: String, headers: [(name: String, value: String)]) -> String {
        "wrk.method = \"POST\"\nwrk.body = '\(body)'\n" + headers.map { "wrk.headers[\"\($0.name)\"] = \"\($0.value)\"\n" }.joined()
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
