import AgentProtocol
import ApplicationAutoScalingShapes
import Archives
import ArgumentParser
import AWSProtocols
import CurlHTTP
import ECS
import ECSAgent
import ECSShapes
import Foundation
import LambdaShapes
import Logging
import StevedoreClient
import StevedoreCore
import Synchronization

/// End-to-end RunTask throughput through the API with simulated agents, and the time from a task
/// being accepted to its agent holding the assignment.
struct RunTaskBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runtask",
        abstract: "RunTask throughput and accept-to-agent latency at 1,000 simulated instances; moto_server as the baseline."
    )

    @Option(help: "Path to the ecsd binary (build it with -c release for real figures).") var ecsd = ".build/release/ecsd"
    @Option(help: "moto_server executable for the baseline ('' to skip).") var moto = "moto_server"
    @Option(help: "Simulated container instances.") var instances = 1000
    @Option(help: "Instances registered with moto_server for its baseline.") var motoInstances = 100
    @Option(help: "Concurrent RunTask callers.") var callers = 8
    @Option(help: "Seconds of load.") var seconds = 10
    @Option(name: .customLong("paced-rate"), help: "Tasks per second for the latency phase (RunTask count=10 at a steady pace).")
    var pacedRate = 500

    func run() async throws {
        guard FileManager.default.isExecutableFile(atPath: ecsd) else {
            throw BenchError("\(ecsd) not found: swift build -c release --product ecsd")
        }
        let work = NSTemporaryDirectory() + "stevedore-runtask-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let port = freePort()
        let endpoint = "http://127.0.0.1:\(port)"
        let server = try ChildProcess(
            name: "ecsd", executable: ecsd,
            arguments: ["--listen", "127.0.0.1:\(port)", "--gateway-listen", "127.0.0.1:0", "--data-dir", work + "/ecsd", "--log-level", "warning", "--auth", "off", "--agent-timeout", "120"],
            logPath: work + "/ecsd.log")
        defer { server.stop() }
        try await server.waitUntilReady(HTTPClient(baseURL: endpoint), path: "/healthz")
        let client = APIClient(endpoint: endpoint)
        let _: CreateClusterResponse = try await client.ecs("CreateCluster", CreateClusterRequest(clusterName: "bench"))
        let _: RegisterTaskDefinitionResponse = try await client.ecs("RegisterTaskDefinition", Self.definition)

        // The fleet runs in this process and notes when each task reaches its agent.
        let deliveries = Deliveries()
        var configuration = AgentConfiguration()
        configuration.cluster = "bench"
        configuration.backendHost = endpoint
        var options = SimulatedFleet.Options(count: instances)
        options.zones = ["a", "b", "c"]
        options.cpu = 1_000_000
        options.memory = 1_000_000
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let fleet = SimulatedFleet(configuration: configuration, options: options, logger: logger) { assignment in
            deliveries.record(assignment)
        }
        let fleetTask = Task { try await fleet.run() }
        defer { fleetTask.cancel() }
        note("registering \(instances) simulated instances")
        let registrationStart = ContinuousClock.now
        while true {
            let listed = try await Self.countInstances(client)
            if listed >= instances { break }
            try await Task.sleep(for: .milliseconds(200))
            if ContinuousClock.now - registrationStart > .seconds(180) { throw BenchError("only \(listed) instances registered") }
        }
        let registration = ContinuousClock.now - registrationStart
        try await Task.sleep(for: .seconds(2))  // every agent has its first long poll open

        note("running tasks for \(seconds) s with \(callers) callers")
        let load = try await Self.runLoad(client: client, cluster: "bench", seconds: seconds, callers: callers)
        // Wait for the last assignments to reach their agents.
        let deadline = ContinuousClock.now + .seconds(30)
        while deliveries.count < load.placed, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        let latencies = deliveries.latencies.sorted()
        let rss = server.residentKiB.map { $0 / 1024 }

        // Latency without queueing: a steady pace well below saturation.
        note("latency phase: \(pacedRate) tasks/s for \(seconds) s")
        let paced = Deliveries()
        deliveries.forward(to: paced)
        let pacedPlaced = try await runPaced(client: client, cluster: "bench", tasksPerSecond: pacedRate, seconds: seconds)
        let pacedDeadline = ContinuousClock.now + .seconds(30)
        while paced.count < pacedPlaced, ContinuousClock.now < pacedDeadline { try await Task.sleep(for: .milliseconds(100)) }
        let pacedLatencies = paced.latencies.sorted()

        var baseline: LoadResult?
        if !moto.isEmpty, let motoPath = which(moto) {
            note("baseline: moto_server with \(motoInstances) instances")
            baseline = try await motoBaseline(motoPath, work: work)
        }

        print("RunTask end to end: \(instances) simulated instances (each long-polling), \(callers) concurrent callers, count=10 per call")
        print("registration of \(instances) instances took \(format(registration))\n")
        var rows = [[
            "ecsd", "\(instances)", "\(load.placed)", String(format: "%.0f", load.tasksPerSecond),
            ms(load.callLatencies.percentile(0.5)), ms(load.callLatencies.percentile(0.99)), "\(load.failures)",
        ]]
        if let baseline {
            rows.append([
                "moto_server", "\(motoInstances)", "\(baseline.placed)", String(format: "%.0f", baseline.tasksPerSecond),
                ms(baseline.callLatencies.percentile(0.5)), ms(baseline.callLatencies.percentile(0.99)), "\(baseline.failures)",
            ])
        }
        print(table(["SERVER", "INSTANCES", "TASKS PLACED", "TASKS/S", "RUNTASK P50", "RUNTASK P99", "FAILED CALLS"], rows))
        if let baseline, baseline.tasksPerSecond > 0 {
            print(String(format: "\necsd / moto_server: %.1fx the tasks placed per second", load.tasksPerSecond / baseline.tasksPerSecond))
        }
        print(String(format: "ecsd / Nomad C2M's published ~1,500 placements/s: %.2fx", load.tasksPerSecond / 1500))
        print("\naccepted -> agent holds the assignment:")
        print(
            "  at full load (\(latencies.count) tasks): p50 \(ms(latencies.percentile(0.5))), p90 \(ms(latencies.percentile(0.9))), p99 \(ms(latencies.percentile(0.99))), max \(ms(latencies.last ?? 0))"
        )
        print(
            "  at \(pacedRate) tasks/s (\(pacedLatencies.count) tasks): p50 \(ms(pacedLatencies.percentile(0.5))), p90 \(ms(pacedLatencies.percentile(0.9))), p99 \(ms(pacedLatencies.percentile(0.99))), max \(ms(pacedLatencies.last ?? 0))"
        )
        if let rss { print("ecsd resident memory after the run: \(rss) MiB") }
        print("targets: >= 2,000 tasks placed/s at 1,000 instances; p99 accepted -> agent < 50 ms")
    }

    static let definition = RegisterTaskDefinitionRequest(
        family: "bench", containerDefinitions: [ContainerDefinition(name: "app", image: "bench:1", cpu: 1, memory: 16)])

    struct LoadResult {
        var placed = 0
        var failures = 0
        var elapsed = 0.0
        var callLatencies: [Double] = []
        var tasksPerSecond: Double { elapsed > 0 ? Double(placed) / elapsed : 0 }
    }

    static func runLoad(client: APIClient, cluster: String, seconds: Int, callers: Int) async throws -> LoadResult {
        let start = ContinuousClock.now
        let end = start + .seconds(seconds)
        var total = LoadResult()
        try await withThrowingTaskGroup(of: LoadResult.self) { group in
            for _ in 0..<callers {
                group.addTask {
                    var result = LoadResult()
                    while ContinuousClock.now < end {
                        let began = ContinuousClock.now
                        do {
                            // Only the task count matters here (and moto's tasks do not all fit the model).
                            let response: PlacedTasks = try await client.ecs(
                                "RunTask", RunTaskRequest(cluster: cluster, count: 10, taskDefinition: "bench"))
                            result.placed += response.tasks?.count ?? 0
                        } catch {
                            result.failures += 1
                        }
                        result.callLatencies.append(durationSeconds(ContinuousClock.now - began))
                    }
                    return result
                }
            }
            for try await partial in group {
                total.placed += partial.placed
                total.failures += partial.failures
                total.callLatencies += partial.callLatencies
            }
        }
        total.elapsed = durationSeconds(ContinuousClock.now - start)
        total.callLatencies.sort()
        return total
    }

    /// RunTask count=10 at a steady pace; returns the tasks placed.
    func runPaced(client: APIClient, cluster: String, tasksPerSecond: Int, seconds: Int) async throws -> Int {
        let interval = Duration.seconds(10) / max(1, tasksPerSecond)
        let clock = ContinuousClock()
        var next = clock.now
        let end = next + .seconds(seconds)
        var placed = 0
        try await withThrowingTaskGroup(of: Int.self) { group in
            while next < end {
                try await clock.sleep(until: next)
                group.addTask {
                    let response: RunTaskResponse = try await client.ecs("RunTask", RunTaskRequest(cluster: cluster, count: 10, taskDefinition: "bench"))
                    return response.tasks?.count ?? 0
                }
                next += interval
            }
            for try await count in group { placed += count }
        }
        return placed
    }

    /// moto_server with a smaller cluster (it registers instances slowly) under the same load.
    func motoBaseline(_ path: String, work: String) async throws -> LoadResult {
        let port = freePort()
        let process = try ChildProcess(name: "moto_server", executable: path, arguments: ["-H", "127.0.0.1", "-p", "\(port)"], logPath: work + "/moto.log")
        defer { process.stop() }
        let endpoint = "http://127.0.0.1:\(port)"
        try await process.waitUntilReady(HTTPClient(baseURL: endpoint), path: "/")
        // moto checks instance ids against its EC2 emulation, so boto3 seeds it: EC2 instances first,
        // then container instances naming them.
        let seed = """
            import boto3, json
            kw = dict(endpoint_url="\(endpoint)", region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
            ec2, ecs = boto3.client("ec2", **kw), boto3.client("ecs", **kw)
            ecs.create_cluster(clusterName="bench")
            image = ec2.describe_images()["Images"][0]["ImageId"]
            ids = [i["InstanceId"] for i in ec2.run_instances(ImageId=image, MinCount=\(motoInstances), MaxCount=\(motoInstances))["Instances"]]
            for i in ids:
                ecs.register_container_instance(cluster="bench", instanceIdentityDocument=json.dumps({"instanceId": i}),
                    totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 1000000},
                                    {"name": "MEMORY", "type": "INTEGER", "integerValue": 1000000}])
            ecs.register_task_definition(family="bench", containerDefinitions=[{"name": "app", "image": "bench:1", "cpu": 1, "memory": 16}])
            """
        guard let python = which("python3") else { throw BenchError("python3 (with boto3) is needed to seed moto_server") }
        _ = try runProgram(python, ["-c", seed])
        let client = APIClient(endpoint: endpoint, extraHeaders: [("Authorization", APIBenchmark.authorization)])
        return try await Self.runLoad(client: client, cluster: "bench", seconds: seconds, callers: callers)
    }

    /// A fleet of `instances` simulated in this process (each with room for any load, its logs
    /// quiet), returned once every instance has registered; cancel the task to stop it.
    static func startFleet(
        endpoint: String, cluster: String, instances: Int, client: APIClient, zones: [String] = [], registrationTimeout: Duration? = nil
    ) async throws -> Task<Void, any Error> {
        var configuration = AgentConfiguration()
        configuration.cluster = cluster
        configuration.backendHost = endpoint
        var options = SimulatedFleet.Options(count: instances)
        options.zones = zones
        options.cpu = 1_000_000
        options.memory = 1_000_000
        var logger = Logger(label: cluster)
        logger.logLevel = .critical
        let fleet = SimulatedFleet(configuration: configuration, options: options, logger: logger) { _ in }
        let task = Task { try await fleet.run() }
        let deadline = registrationTimeout.map { ContinuousClock.now + $0 }
        do {
            while try await countInstances(client, cluster: cluster) < instances {
                if let deadline, ContinuousClock.now > deadline { throw BenchError("the simulated instances did not all register") }
                try await Task.sleep(for: .milliseconds(200))
            }
        } catch {
            task.cancel()
            throw error
        }
        return task
    }

    static func countInstances(_ client: APIClient, cluster: String = "bench") async throws -> Int {
        var count = 0
        var token: String?
        repeat {
            let page: ListContainerInstancesResponse = try await client.ecs(
                "ListContainerInstances", ListContainerInstancesRequest(cluster: cluster, nextToken: token))
            count += page.containerInstanceArns?.count ?? 0
            token = page.nextToken
        } while token != nil
        return count
    }
}

/// The part of a RunTask response the load generator reads.
struct PlacedTasks: Decodable {
    struct Placed: Decodable { var taskArn: String? }
    var tasks: [Placed]?
}

/// When each task first reached an agent, relative to when ecsd accepted it (same machine, same clock).
final class Deliveries: Sendable {
    private let state = Mutex<(seen: Set<String>, latencies: [Double])>(([], []))
    private let next = Mutex<Deliveries?>(nil)

    /// Sends later deliveries to another recorder too (to measure a phase on its own).
    func forward(to other: Deliveries) {
        next.withLock { $0 = other }
    }

    func record(_ assignment: AgentAssignment) {
        next.withLock { $0 }?.record(assignment)
        guard assignment.task.desiredTaskStatus == .running, let arn = assignment.task.taskArn,
            let created = assignment.task.createdAt
        else { return }
        let latency = Date().timeIntervalSince(created)
        state.withLock { state in
            if state.seen.insert(arn).inserted { state.latencies.append(latency) }
        }
    }

    var count: Int { state.withLock { $0.seen.count } }
    var latencies: [Double] { state.withLock { $0.latencies } }
}

extension Array where Element == Double {
    /// The value at a quantile of a sorted array.
    func percentile(_ quantile: Double) -> Double {
        guard !isEmpty else { return 0 }
        return self[Swift.min(count - 1, Int(Double(count - 1) * quantile + 0.5))]
    }
}

func durationSeconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func ms(_ value: Double) -> String { String(format: "%.1f ms", value * 1000) }

func format(_ duration: Duration) -> String { String(format: "%.1f s", durationSeconds(duration)) }
