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

/// Time from RunTask accepted to the container RUNNING through Stevedore, against the engine's own
/// floor (create + start of the same container, straight through the Docker API) in the same run;
/// the agent's memory idle and with 50 tasks; its CPU while idle.
struct AgentBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Task start latency vs the Docker engine floor, agent memory and idle CPU (needs a Docker engine)."
    )

    @Option(help: "Path to ecsd.") var ecsd = ".build/release/ecsd"
    @Option(name: .customLong("agent"), help: "Path to ecs-agent.") var agentPath = ".build/release/ecs-agent"
    @Option(help: "Tasks to time (and containers for the floor).") var samples = 50
    @Option(help: "Image to run (built from busybox-static when missing).") var image = "stevedore/busybox:test"
    @Option(help: "Seconds to measure idle CPU.") var idleSeconds = 10

    static let command = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]

    func run() async throws {
        for path in [ecsd, agentPath] where !FileManager.default.isExecutableFile(atPath: path) {
            throw BenchError("\(path) not found: swift build -c release")
        }
        let docker = try await DockerClient.connect()
        try await ensureBusybox(docker, image: image)
        let work = NSTemporaryDirectory() + "stevedore-agent-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        note("floor: create + start through the engine API, \(samples) times")
        let floor = try await engineFloor(docker, image: image, samples: samples, memoryMiB: 16)

        let port = freePort()
        let endpoint = "http://127.0.0.1:\(port)"
        let server = try ChildProcess(
            name: "ecsd", executable: ecsd,
            arguments: ["--listen", "127.0.0.1:\(port)", "--gateway-listen", "127.0.0.1:0", "--data-dir", work + "/ecsd", "--log-level", "warning", "--auth", "off"],
            logPath: work + "/ecsd.log")
        defer { server.stop() }
        try await server.waitUntilReady(HTTPClient(baseURL: endpoint), path: "/healthz")
        let cluster = "agent-bench"
        let client = APIClient(endpoint: endpoint)
        let _: CreateClusterResponse = try await client.ecs("CreateCluster", CreateClusterRequest(clusterName: cluster))
        let _: RegisterTaskDefinitionResponse = try await client.ecs(
            "RegisterTaskDefinition",
            RegisterTaskDefinitionRequest(
                family: "bench",
                containerDefinitions: [ContainerDefinition(name: "app", image: image, memory: 16, command: Self.command, stopTimeout: 2)]))
        let agentProcess = try ChildProcess(
            name: "ecs-agent", executable: "/usr/bin/env",
            arguments: [
                "ECS_CLUSTER=\(cluster)", "ECS_BACKEND_HOST=\(endpoint)", "ECS_DATADIR=\(work)/agent", "ECS_HOST_PORT_BIND_IP=127.0.0.1",
                "ECS_IMAGE_PULL_BEHAVIOR=prefer-cached", "ECS_LOGLEVEL=warn", agentPath, "--config", "/dev/null",
            ],
            logPath: work + "/agent.log")
        defer {
            agentProcess.stop()
            // Synchronous: a Task started here would not outlive the process.
            removeContainers(cluster: cluster)
        }
        while try await instances(client, cluster: cluster) < 1 { try await Task.sleep(for: .milliseconds(100)) }
        try await Task.sleep(for: .seconds(2))

        note("idle: \(idleSeconds) s")
        let idleRSS = agentProcess.residentKiB ?? 0
        let idleCPU = try await cpuPercent(pid: agentProcess.process.processIdentifier, seconds: idleSeconds)

        note("Stevedore: RunTask -> RUNNING, \(samples) tasks one after another")
        var latencies: [Double] = []
        var arns: [String] = []
        for _ in 0..<samples {
            let response: RunTaskResponse = try await client.ecs("RunTask", RunTaskRequest(cluster: cluster, taskDefinition: "bench"))
            guard let arn = response.tasks?.first?.taskArn else { throw BenchError("RunTask placed nothing: \(response.failures ?? [])") }
            arns.append(arn)
            let deadline = ContinuousClock.now + .seconds(60)
            while true {
                let described: DescribeTasksResponse = try await client.ecs("DescribeTasks", DescribeTasksRequest(cluster: cluster, tasks: [arn]))
                if let task = described.tasks?.first, task.taskStatus == .running, let started = task.startedAt, let created = task.createdAt {
                    latencies.append(started.timeIntervalSince(created))
                    break
                }
                guard ContinuousClock.now < deadline else { throw BenchError("task \(arn) did not start") }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        try await Task.sleep(for: .seconds(2))
        let busyRSS = agentProcess.residentKiB ?? 0
        latencies.sort()

        print("Agent benchmark: Docker \(docker.engine.version) (API \(docker.apiVersion)), image \(image), \(samples) samples\n")
        print(
            table(
                ["PATH", "P50", "P99", "MAX"],
                [
                    ["engine floor: create + start via the API", ms(floor.percentile(0.5)), ms(floor.percentile(0.99)), ms(floor.last ?? 0)],
                    ["Stevedore: RunTask accepted -> RUNNING", ms(latencies.percentile(0.5)), ms(latencies.percentile(0.99)), ms(latencies.last ?? 0)],
                ]))
        print(String(format: "\nStevedore p50 / floor p50: %.2fx (target <= 1.5x)", latencies.percentile(0.5) / max(floor.percentile(0.5), 0.0001)))
        print("agent resident memory: idle \(idleRSS / 1024) MiB (target < 30), with \(samples) running tasks \(busyRSS / 1024) MiB (target < 60)")
        print(String(format: "agent CPU while idle: %.2f%% of a core over %d s (target < 1%%)", idleCPU, idleSeconds))

        for arn in arns {
            let _: StopTaskResponse = try await client.ecs("StopTask", StopTaskRequest(cluster: cluster, task: arn))
        }
    }

    func instances(_ client: APIClient, cluster: String) async throws -> Int {
        let listed: ListContainerInstancesResponse = try await client.ecs("ListContainerInstances", ListContainerInstancesRequest(cluster: cluster))
        return listed.containerInstanceArns?.count ?? 0
    }

    /// CPU time of a process over a window, as percent of one core.
    func cpuPercent(pid: Int32, seconds: Int) async throws -> Double {
        let before = cpuSeconds(pid: pid)
        try await Task.sleep(for: .seconds(seconds))
        return (cpuSeconds(pid: pid) - before) / Double(seconds) * 100
    }

}
