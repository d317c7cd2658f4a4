import AgentProtocol
import ArgumentParser
import CurlHTTP
import ECSAgent
import ECSShapes
import Foundation
import Logging
import StevedoreClient
import StevedoreCore

/// Reads under writes: the same read mix at many connections, alone and with writes mixed in
/// (RunTask, UpdateService), on one ecsd in the same run.
struct MixBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mix",
        abstract: "A read-only mix and the same mix with 16% writes at 200 connections, in rounds: throughput ratio and p99."
    )

    @Option(help: "Path to the ecsd binary.") var ecsd = ".build/release/ecsd"
    @Option(help: "wrk executable (Debian package wrk).") var wrk = "wrk"
    @Option(help: "Concurrent connections.") var connections = 200
    @Option(help: "Seconds per measurement.") var duration = 10
    @Option(help: "Simulated container instances (RunTask places tasks on them).") var instances = 50
    @Option(help: "ecsd's --read-cache-mb (0 measures every read computed).") var readCacheMB: Int?
    @Option(help: "Rounds of the two loads, one after the other; the median ratio is reported. Later rounds run with the tasks earlier ones started (and their agents busier).")
    var rounds = 1

    /// The reads: what dashboards, agents and autoscalers poll.
    static let reads: [(String, String)] = [
        ("DescribeClusters", #"{"clusters":["mix"]}"#),
        ("ListClusters", "{}"),
        ("DescribeTaskDefinition", #"{"taskDefinition":"bench"}"#),
        ("DescribeServices", #"{"cluster":"mix","services":["s0","s1","s2","s3","s4"]}"#),
        ("ListServices", #"{"cluster":"mix"}"#),
        ("ListTasks", #"{"cluster":"mix","maxResults":20}"#),
        ("ListContainerInstances", #"{"cluster":"mix","maxResults":20}"#),
    ]

    func run() async throws {
        guard let wrkPath = which(wrk) else { throw BenchError("wrk not found: apt-get install wrk") }
        guard FileManager.default.isExecutableFile(atPath: ecsd) else {
            throw BenchError("\(ecsd) not found: swift build -c release --product ecsd")
        }
        let work = NSTemporaryDirectory() + "stevedore-mix-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let port = freePort()
        let endpoint = "http://127.0.0.1:\(port)"
        let server = try ChildProcess(
            name: "ecsd", executable: ecsd,
            arguments: ["--listen", "127.0.0.1:\(port)", "--gateway-listen", "127.0.0.1:0", "--data-dir", work + "/ecsd", "--log-level", "warning", "--auth", "off", "--agent-timeout", "120"]
                + (readCacheMB.map { ["--read-cache-mb", "\($0)"] } ?? []),
            logPath: work + "/ecsd.log")
        defer { server.stop() }
        try await server.waitUntilReady(HTTPClient(baseURL: endpoint), path: "/healthz")
        let client = APIClient(endpoint: endpoint)
        let _: CreateClusterResponse = try await client.ecs("CreateCluster", CreateClusterRequest(clusterName: "mix"))
        let _: RegisterTaskDefinitionResponse = try await client.ecs("RegisterTaskDefinition", RunTaskBenchmark.definition)

        let fleetTask = try await RunTaskBenchmark.startFleet(endpoint: endpoint, cluster: "mix", instances: instances, client: client)
        defer { fleetTask.cancel() }
        for index in 0..<5 {
            let _: CreateServiceResponse = try await client.ecs(
                "CreateService", CreateServiceRequest(cluster: "mix", serviceName: "s\(index)", taskDefinition: "bench", desiredCount: 2))
        }
        try await Task.sleep(for: .seconds(2))

        let readOnly = work + "/reads.lua"
        try Self.script(writes: false).write(toFile: readOnly, atomically: true, encoding: .utf8)
        let mixed = work + "/mixed.lua"
        try Self.script(writes: true).write(toFile: mixed, atomically: true, encoding: .utf8)
        var results: [(String, APIBenchmark.Measurement)] = []
        var ratios: [Double] = []
        for round in 1...max(1, rounds) {
            var pair: [APIBenchmark.Measurement] = []
            for (name, script) in [("reads only", readOnly), ("reads + 16% writes", mixed)] {
                _ = try runProgram(wrkPath, ["-t2", "-c\(connections)", "-d2s", "-s", script, endpoint + "/"])
                let output = try runProgram(wrkPath, ["-t2", "-c\(connections)", "-d\(duration)s", "--latency", "-s", script, endpoint + "/"])
                let measurement = try APIBenchmark.parse(output)
                pair.append(measurement)
                results.append(("\(name), round \(round)", measurement))
                note("round \(round), \(name): \(Int(measurement.requestsPerSecond)) req/s, p99 \(measurement.p99) ms")
            }
            ratios.append(pair[1].requestsPerSecond / max(pair[0].requestsPerSecond, 0.001))
        }
        print("Reads under writes: \(connections) connections, \(duration) s per run, wrk on 127.0.0.1, \(instances) simulated instances")
        print(
            table(
                ["LOAD", "REQ/S", "P50", "P99", "ERRORS"],
                results.map { name, m in [name, String(format: "%.0f", m.requestsPerSecond), String(format: "%.2f ms", m.p50), String(format: "%.2f ms", m.p99), "\(m.errors)"] }))
        print(
            String(
                format: "\nwith writes / reads only: %@ per round; median %.2fx the throughput",
                ratios.map { String(format: "%.2fx", $0) }.joined(separator: ", "), ratios.sorted()[ratios.count / 2]))
        if let rss = server.residentKiB { print("ecsd resident memory after the run: \(rss / 1024) MiB") }
        print("targets: with writes >= 0.5x the read-only throughput, p99 < 100 ms")
    }

    /// A wrk script drawing each request from the read mix, or from 21 reads and 4 writes (16%).
    static func script(writes: Bool) -> String {
        var entries = (0..<21).map { reads[$0 % reads.count] }
        if writes {
            entries += [
                ("RunTask", #"{"cluster":"mix","taskDefinition":"bench","startedBy":"mix"}"#),
                ("RunTask", #"{"cluster":"mix","taskDefinition":"bench","startedBy":"mix"}"#),
                ("UpdateService", #"{"cluster":"mix","service":"s1","desiredCount":1}"#),
                ("UpdateService", #"{"cluster":"mix","service":"s1","desiredCount":2}"#),
            ]
        }
        let table = entries.map { "{\"AmazonEC2ContainerServiceV20141113.\($0.0)\", '\($0.1)'}" }.joined(separator: ",\n  ")
        return """
            local requests = {
              \(table)
            }
            wrk.method = "POST"
            wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
            request = function()
              local r = requests[math.random(#requests)]
              wrk.headers["X-Amz-Target"] = r[1]
              return wrk.format("POST", "/", nil, r[2])
            end
            """
    }
}
