import ArgumentParser
import ECS
import ECSShapes
import Foundation
import Logging
import StevedoreClient
import StevedoreCore
import Storage

/// How long ecsd takes to answer after a start, with a long history kept: a store with `tasks`
/// tasks (most stopped, within retention) and their RunTask client tokens, made by ECS's own
/// operations, against an empty store.
struct StartupBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "startup",
        abstract: "Start-up time of ecsd with 100,000 tasks kept, against an empty store."
    )

    @Option(help: "Path to the ecsd binary.") var ecsd = ".build/release/ecsd"
    @Option(help: "Tasks kept in the store.") var tasks = 100_000
    @Option(help: "Of those, tasks still running.") var running = 10_000
    @Option(help: "Starts measured per store.") var starts = 5

    func run() async throws {
        guard FileManager.default.isExecutableFile(atPath: ecsd) else {
            throw BenchError("\(ecsd) not found: swift build -c release --product ecsd")
        }
        let work = NSTemporaryDirectory() + "stevedore-startup-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { if ProcessInfo.processInfo.environment["STEVEDORE_BENCH_KEEP"] == nil { try? FileManager.default.removeItem(atPath: work) } }
        note("writing a store with \(tasks) tasks (\(running) running) in \(work)")
        let began = ContinuousClock.now
        let sample = try await Self.seed(directory: work + "/full", tasks: tasks, running: running)
        note("seeded in \(format(ContinuousClock.now - began))")
        try await Self.seed(directory: work + "/empty", tasks: 0, running: 0)

        var rows: [[String]] = []
        var medians: [Double] = []
        for (name, directory) in [("empty store", work + "/empty"), ("\(tasks) tasks kept", work + "/full")] {
            var times: [Double] = []
            var rss = 0
            for attempt in 0..<starts {
                let server = Restartable(ecsd: ecsd, port: freePort(), work: directory, dataDirectory: directory)
                times.append(try await server.start())
                if attempt == 0, name != "empty store" {
                    // Kept tasks are there: the oldest stopped one is still described.
                    let client = APIClient(endpoint: "http://127.0.0.1:\(server.port)")
                    let described: DescribeTasksResponse = try await client.ecs(
                        "DescribeTasks", DescribeTasksRequest(cluster: "kept", tasks: [sample]))
                    guard described.tasks?.first?.lastStatus == "STOPPED" else { throw BenchError("the kept task \(sample) is missing") }
                }
                rss = server.residentKiB ?? 0
                server.stop()
            }
            times.sort()
            medians.append(times.percentile(0.5))
            rows.append([name, ms(times.percentile(0.5)), ms(times.last ?? 0), "\(rss / 1024) MiB"])
        }
        print("ecsd start-up: spawn -> first API answer (ListClusters), \(starts) starts each")
        print(table(["STORE", "P50", "MAX", "RSS"], rows))
        print(String(format: "\nwith %d tasks kept / empty: %.2fx the start-up time", tasks, medians[1] / max(medians[0], 0.0001)))
        print("target: the API answers within 1 s of start with 100,000 tasks kept")
    }

    /// A store as ecsd would have written it: one cluster, instances, `tasks` tasks started by
    /// RunTask, all but the last `running` stopped as agents report. Returns the ARN of the first
    /// (oldest, stopped) task.
    @discardableResult
    static func seed(directory: String, tasks: Int, running: Int) async throws -> String {
        var logger = Logger(label: "seed")
        logger.logLevel = .error
        let store = try SQLiteStateStore(directory: directory, logger: logger)
        defer { store.close() }
        var state = ECSState(names: ResourceNames())
        var random = Xoshiro256(seed: 1)
        var changes = ChangeSet()
        var now = Date().addingTimeInterval(-1800)
        _ = try state.createCluster(CreateClusterRequest(clusterName: "kept"), changes: &changes)
        _ = try state.registerTaskDefinition(
            RegisterTaskDefinitionRequest(
                family: "web",
                containerDefinitions: [
                    ContainerDefinition(
                        name: "web", image: "nginx:1.27", cpu: 1, memory: 16,
                        portMappings: [PortMapping(containerPort: 80, hostPort: 0, protocol: .tcp)],
                        environment: [KeyValuePair(name: "MODE", value: "prod")])
                ]),
            requestBytes: 500, now: now, changes: &changes)
        var instances: [String] = []
        for _ in 0..<20 {
            let response = try state.registerContainerInstance(
                RegisterContainerInstanceRequest(
                    cluster: "kept",
                    totalResources: [
                        Resource(name: "CPU", type: "INTEGER", integerValue: 10_000_000),
                        Resource(name: "MEMORY", type: "INTEGER", integerValue: 10_000_000),
                    ]),
                now: now, using: &random, changes: &changes)
            instances.append(response.containerInstance!.containerInstanceArn!)
        }
        try await store.commit(changes.changes)
        var first = ""
        var made = 0
        while made < tasks {
            changes = ChangeSet()
            now = now.addingTimeInterval(0.01)
            let count = min(10, tasks - made)
            let started = try state.runTask(
                // Every call with a client token, as boto3 and the CLI send one.
                RunTaskRequest(cluster: "kept", count: count, taskDefinition: "web", clientToken: "seed-\(made)"), now: now, using: &random, changes: &changes)
            for task in started.tasks ?? [] {
                guard let arn = task.taskArn else { continue }
                if first.isEmpty { first = arn }
                let report = { (status: String) in
                    SubmitTaskStateChangeRequest(cluster: "kept", task: arn, status: status)
                }
                _ = try state.submitTaskStateChange(report("RUNNING"), now: now, changes: &changes)
                if made < tasks - running {
                    _ = try state.stopTask(StopTaskRequest(cluster: "kept", task: arn, reason: "done"), now: now, changes: &changes)
                    _ = try state.submitTaskStateChange(report("STOPPED"), now: now, changes: &changes)
                }
                made += 1
            }
            try await store.commit(changes.changes)
        }
        return first
    }
}
