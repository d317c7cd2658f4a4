import ArgumentParser
import CurlHTTP
import ECSShapes
import Foundation
import StevedoreClient
import StevedoreCore

/// How fast the console's pages answer with 1,000 instances and 10,000 tasks, idle and under
/// RunTask load; the baseline is the AWS API calls a console built on the public API would make
/// for the same page, timed in the same run.
struct ConsoleBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Console page latency at 1,000 simulated instances and 10,000 tasks, against the AWS API calls the same pages need."
    )

    @Option(help: "Path to the ecsd binary (build it with `make release` for real figures).") var ecsd = ".build/release/ecsd"
    @Option(help: "Simulated container instances.") var instances = 1000
    @Option(help: "Tasks to run before measuring.") var tasks = 10_000
    @Option(help: "Requests per page and phase.") var requests = 40

    func run() async throws {
        guard FileManager.default.isExecutableFile(atPath: ecsd) else { throw BenchError("\(ecsd) not found: make release") }
        let work = NSTemporaryDirectory() + "stevedore-console-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let port = freePort()
        let endpoint = "http://127.0.0.1:\(port)"
        let server = try ChildProcess(
            name: "ecsd", executable: ecsd,
            arguments: [
                "--listen", "127.0.0.1:\(port)", "--gateway-listen", "127.0.0.1:0", "--data-dir", work + "/ecsd", "--log-level", "warning", "--auth", "off",
                "--agent-timeout", "120",
            ],
            logPath: work + "/ecsd.log")
        defer { server.stop() }
        let http = HTTPClient(baseURL: endpoint)
        try await server.waitUntilReady(http, path: "/healthz")
        let client = APIClient(endpoint: endpoint)
        let _: CreateClusterResponse = try await client.ecs("CreateCluster", CreateClusterRequest(clusterName: "bench"))
        let _: RegisterTaskDefinitionResponse = try await client.ecs("RegisterTaskDefinition", RunTaskBenchmark.definition)

        note("registering \(instances) simulated instances")
        let fleetTask = try await RunTaskBenchmark.startFleet(
            endpoint: endpoint, cluster: "bench", instances: instances, client: client, zones: ["a", "b", "c"], registrationTimeout: .seconds(180))
        defer { fleetTask.cancel() }
        note("running \(tasks) tasks")
        let _: CreateServiceResponse = try await client.ecs(
            "CreateService", CreateServiceRequest(cluster: "bench", serviceName: "web", taskDefinition: "bench", desiredCount: 100))
        var started = 100
        while started < tasks {
            let response: RunTaskResponse = try await client.ecs("RunTask", RunTaskRequest(cluster: "bench", count: 10, taskDefinition: "bench"))
            started += response.tasks?.count ?? 0
        }
        try await Task.sleep(for: .seconds(3))  // the tasks reach RUNNING

        let pages: [(String, String)] = [
            ("page (HTML)", "/console"),
            ("clusters", "/console/api/clusters"),
            ("cluster: 1,000 instance bars", "/console/api/clusters/bench"),
            ("tasks: newest 200 of all", "/console/api/tasks?cluster=bench"),
            ("tasks: RUNNING of a family", "/console/api/tasks?cluster=bench&status=RUNNING&family=bench"),
            ("service with 100 tasks", "/console/api/services/bench/web"),
        ]
        note("timing pages, idle")
        var idle: [String: [Double]] = [:]
        for (name, path) in pages { idle[name] = try await time(http, path) }
        note("timing the AWS API calls the same pages need")
        let instancesBaseline = try await timeRepeated { try await Self.instancesThroughAPI(client) }
        let tasksBaseline = try await timeRepeated { try await Self.tasksThroughAPI(client) }

        note("timing pages under RunTask load")
        let loadEnd = ContinuousClock.now + .seconds(8)
        let load = Task {
            try await RunTaskBenchmark.runLoad(client: client, cluster: "bench", seconds: 8, callers: 4)
        }
        var loaded: [String: [Double]] = [:]
        while ContinuousClock.now < loadEnd {
            for (name, path) in pages[2...3] { loaded[name, default: []] += try await time(http, path, count: 5) }
        }
        let placed = try await load.value

        print("Console pages: \(instances) simulated instances, \(started) tasks\n")
        var rows: [[String]] = []
        for (name, _) in pages {
            let values = idle[name] ?? []
            let underLoad = loaded[name]?.sorted()
            rows.append([
                name, ms(values.percentile(0.5)), ms(values.percentile(0.99)), underLoad.map { ms($0.percentile(0.5)) } ?? "-",
                underLoad.map { ms($0.percentile(0.99)) } ?? "-",
            ])
        }
        print(table(["PAGE", "P50", "P99", "P50 UNDER RUNTASK", "P99 UNDER RUNTASK"], rows))
        print(String(format: "\nRunTask load meanwhile: %.0f tasks/s placed", placed.tasksPerSecond))
        let clusterPage = (idle["cluster: 1,000 instance bars"] ?? []).percentile(0.5)
        let tasksPage = (idle["tasks: newest 200 of all"] ?? []).percentile(0.5)
        print("\nbaseline: the same pages through AWS's API (what a console on the public API would call):")
        print(
            "  cluster page: ListContainerInstances + DescribeContainerInstances for \(instances) instances: p50 \(ms(instancesBaseline.percentile(0.5))) -> console \(String(format: "%.1fx", instancesBaseline.percentile(0.5) / max(clusterPage, 1e-6))) faster"
        )
        print(
            "  tasks page: ListTasks + DescribeTasks for 200 tasks: p50 \(ms(tasksBaseline.percentile(0.5))) -> console \(String(format: "%.1fx", tasksBaseline.percentile(0.5) / max(tasksPage, 1e-6))) faster"
        )
        print("target: every page under 100 ms at 1,000 instances and 10,000 tasks, and responsive under RunTask load")
    }

    func time(_ http: HTTPClient, _ path: String, count: Int? = nil) async throws -> [Double] {
        var values: [Double] = []
        for _ in 0..<(count ?? requests) {
            let began = ContinuousClock.now
            let response = try await http.execute(HTTPClient.Request(path: path))
            guard response.status == 200 else { throw BenchError("GET \(path): \(response.status)") }
            values.append(durationSeconds(ContinuousClock.now - began))
        }
        return values.sorted()
    }

    func timeRepeated(_ body: () async throws -> Void) async throws -> [Double] {
        var values: [Double] = []
        for _ in 0..<max(5, requests / 4) {
            let began = ContinuousClock.now
            try await body()
            values.append(durationSeconds(ContinuousClock.now - began))
        }
        return values.sorted()
    }

    static func instancesThroughAPI(_ client: APIClient) async throws {
        var token: String?
        repeat {
            let page: ListContainerInstancesResponse = try await client.ecs(
                "ListContainerInstances", ListContainerInstancesRequest(cluster: "bench", nextToken: token, maxResults: 100))
            let _: DescribeContainerInstancesResponse = try await client.ecs(
                "DescribeContainerInstances", DescribeContainerInstancesRequest(cluster: "bench", containerInstances: page.containerInstanceArns ?? []))
            token = page.nextToken
        } while token != nil
    }

    static func tasksThroughAPI(_ client: APIClient) async throws {
        var token: String?
        for _ in 0..<2 {
            let page: ListTasksResponse = try await client.ecs("ListTasks", ListTasksRequest(cluster: "bench", nextToken: token, maxResults: 100))
            let _: DescribeTasksResponse = try await client.ecs("DescribeTasks", DescribeTasksRequest(cluster: "bench", tasks: page.taskArns ?? []))
            token = page.nextToken
        }
    }
}
