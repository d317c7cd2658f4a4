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

/// Service auto scaling's reaction on a real Docker engine: from the moment a service's task
/// starts burning CPU to the new desired count (target tracking at ecsd's default settings), and
/// from the new desired count to the extra tasks RUNNING — against the engine's own floor for
/// starting a container, measured in the same run, and ECS target tracking's ~3 minutes.
struct ScalingBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling",
        abstract: "Breach -> new desired count -> tasks RUNNING, vs the Docker floor and ECS's ~3 minutes (needs a Docker engine)."
    )

    @Option(help: "Path to ecsd.") var ecsd = ".build/release/ecsd"
    @Option(name: .customLong("agent"), help: "Path to ecs-agent.") var agentPath = ".build/release/ecs-agent"
    @Option(help: "Scale-outs to time.") var rounds = 3
    @Option(name: .customLong("scaling-resolution"), help: "ecsd --scaling-resolution (default: ecsd's own, 10 s).") var resolution: Double?
    @Option(name: .customLong("stats-interval"), help: "The agent's ECS_STATS_INTERVAL (default: its own, 10s).") var statsInterval: String?
    @Option(help: "Image (built from busybox-static when missing).") var image = "stevedore/busybox:test"

    /// ECS target tracking: 3 one-minute datapoints, published about a minute late.
    static let ecsReactionSeconds = 180.0

    func run() async throws {
        for path in [ecsd, agentPath] where !FileManager.default.isExecutableFile(atPath: path) {
            throw BenchError("\(path) not found: swift build -c release")
        }
        let docker = try await DockerClient.connect()
        try await ensureBusybox(docker, image: image)
        let work = NSTemporaryDirectory() + "stevedore-scaling-bench-\(UUID().uuidString.prefix(8))"
        let flags = work + "/flags"
        try FileManager.default.createDirectory(atPath: flags, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        note("floor: create + start through the engine API, 20 times")
        let floor = try await engineFloor(docker, image: image, samples: 20)

        let port = freePort()
        let endpoint = "http://127.0.0.1:\(port)"
        var arguments = ["--listen", "127.0.0.1:\(port)", "--gateway-listen", "127.0.0.1:0", "--data-dir", work + "/ecsd", "--log-level", "warning", "--auth", "off"]
        if let resolution { arguments += ["--scaling-resolution", String(resolution)] }
        let server = try ChildProcess(name: "ecsd", executable: ecsd, arguments: arguments, logPath: work + "/ecsd.log")
        defer { server.stop() }
        try await server.waitUntilReady(HTTPClient(baseURL: endpoint), path: "/healthz")
        let cluster = "scaling-bench"
        let client = APIClient(endpoint: endpoint)
        let _: CreateClusterResponse = try await client.ecs("CreateCluster", CreateClusterRequest(clusterName: cluster))
        var environment = [
            "ECS_CLUSTER=\(cluster)", "ECS_BACKEND_HOST=\(endpoint)", "ECS_DATADIR=\(work)/agent", "ECS_HOST_PORT_BIND_IP=127.0.0.1",
            "ECS_IMAGE_PULL_BEHAVIOR=prefer-cached", "ECS_LOGLEVEL=warn",
        ]
        if let statsInterval { environment.append("ECS_STATS_INTERVAL=\(statsInterval)") }
        let agent = try ChildProcess(
            name: "ecs-agent", executable: "/usr/bin/env", arguments: environment + [agentPath, "--config", "/dev/null"],
            logPath: work + "/agent.log")
        defer {
            agent.stop()
            removeContainers(cluster: cluster)
        }
        while true {
            let listed: ListContainerInstancesResponse = try await client.ecs(
                "ListContainerInstances", ListContainerInstancesRequest(cluster: cluster))
            if !(listed.containerInstanceArns ?? []).isEmpty { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        // Burns a core while the host's flag file exists.
        let burner = "while true; do if [ -f /flag/burn ]; then i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; else sleep 0.2; fi; done"
        let _: RegisterTaskDefinitionResponse = try await client.ecs(
            "RegisterTaskDefinition",
            RegisterTaskDefinitionRequest(
                family: "burner",
                containerDefinitions: [
                    ContainerDefinition(
                        name: "burn", image: image, cpu: 512, memory: 32, command: ["sh", "-c", burner],
                        mountPoints: [MountPoint(sourceVolume: "flags", containerPath: "/flag", readOnly: true)], stopTimeout: 1)
                ],
                volumes: [Volume(name: "flags", host: HostVolumeProperties(sourcePath: flags))]))

        var breachToDesired: [Double] = []
        var desiredToRunning: [Double] = []
        var added: [Int] = []
        for round in 1...rounds {
            let service = "web-\(round)"
            note("round \(round)/\(rounds): service \(service) at 1 task, target tracking CPU 40%")
            let _: CreateServiceResponse = try await client.ecs(
                "CreateService", CreateServiceRequest(cluster: cluster, serviceName: service, taskDefinition: "burner", desiredCount: 1))
            let resource = "service/\(cluster)/\(service)"
            let _: AASRegisterScalableTargetResponse = try await client.json(
                target: "AnyScaleFrontendService.RegisterScalableTarget",
                AASRegisterScalableTargetRequest(
                    ServiceNamespace: .ecs, ResourceId: resource, ScalableDimension: .ecsServiceDesiredCount, MinCapacity: 1, MaxCapacity: 3))
            let _: AASPutScalingPolicyResponse = try await client.json(
                target: "AnyScaleFrontendService.PutScalingPolicy",
                AASPutScalingPolicyRequest(
                    PolicyName: "cpu40", ServiceNamespace: .ecs, ResourceId: resource, ScalableDimension: .ecsServiceDesiredCount,
                    PolicyType: .targetTrackingScaling,
                    TargetTrackingScalingPolicyConfiguration: AASTargetTrackingScalingPolicyConfiguration(
                        TargetValue: 40, PredefinedMetricSpecification: AASPredefinedMetricSpecification(PredefinedMetricType: .ecsserviceaveragecpuutilization))))
            _ = try await waitFor(client, cluster: cluster, service: service, timeout: 60) { $0.runningCount == 1 }

            // The breach starts now; the new desired count ends the first interval and the extra
            // tasks RUNNING the second. The load stops at once, so new tasks start on an idle host.
            _ = FileManager.default.createFile(atPath: flags + "/burn", contents: Data("1".utf8))
            let breach = ContinuousClock.now
            let scaled = try await waitFor(client, cluster: cluster, service: service, timeout: 300) { ($0.desiredCount ?? 1) > 1 }
            let desiredAt = ContinuousClock.now
            try? FileManager.default.removeItem(atPath: flags + "/burn")
            let want = scaled.desiredCount ?? 1
            _ = try await waitFor(client, cluster: cluster, service: service, timeout: 120) { ($0.runningCount ?? 0) >= want }
            let runningAt = ContinuousClock.now
            breachToDesired.append(durationSeconds(desiredAt - breach))
            desiredToRunning.append(durationSeconds(runningAt - desiredAt))
            added.append(want - 1)
            let _: DeleteServiceResponse = try await client.ecs(
                "DeleteService", DeleteServiceRequest(cluster: cluster, service: service, force: true))
            try await Task.sleep(for: .seconds(2))
        }

        print("Scaling benchmark: Docker \(docker.engine.version), \(rounds) scale-outs of a CPU-burning service (target tracking CPU 40%, 1 -> up to 3 tasks)")
        print("ecsd scaling resolution \(resolution.map { "\($0) s" } ?? "default (10 s)"), agent stats interval \(statsInterval ?? "default (10s)"); tasks added per scale-out: \(added)\n")
        let breachSorted = breachToDesired.sorted()
        let runningSorted = desiredToRunning.sorted()
        print(
            table(
                ["INTERVAL", "P50", "MAX", "TARGET"],
                [
                    ["sustained breach -> new desired count", seconds(breachSorted.percentile(0.5)), seconds(breachSorted.last ?? 0), "< 60 s"],
                    ["new desired count -> extra tasks RUNNING", seconds(runningSorted.percentile(0.5)), seconds(runningSorted.last ?? 0), "< 5 s"],
                    ["engine floor: create + start one container", ms(floor.percentile(0.5)), ms(floor.last ?? 0), ""],
                ]))
        print(String(format: "\nbreach -> desired: %.1fx faster than ECS target tracking's ~%.0f s", Self.ecsReactionSeconds / max(breachSorted.percentile(0.5), 0.001), Self.ecsReactionSeconds))
        print(String(format: "desired -> RUNNING p50 / engine floor p50: %.1fx", runningSorted.percentile(0.5) / max(floor.percentile(0.5), 0.0001)))
    }

    func waitFor(
        _ client: APIClient, cluster: String, service: String, timeout: Double, _ condition: (ECSService) -> Bool
    ) async throws -> ECSService {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while ContinuousClock.now < deadline {
            let described: DescribeServicesResponse = try await client.ecs(
                "DescribeServices", DescribeServicesRequest(cluster: cluster, services: [service]))
            if let current = described.services?.first, condition(current) { return current }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchError("service \(service) did not get there within \(Int(timeout)) s")
    }

    func seconds(_ value: Double) -> String { String(format: "%.1f s", value) }
}

/// Create + start (then remove) a container straight through the engine API: the floor any
/// orchestrator's task start sits on.
func engineFloor(_ docker: DockerClient, image: String, samples: Int, memoryMiB: Int = 32) async throws -> [Double] {
    var config = ContainerConfig(image: image)
    config.cmd = AgentBenchmark.command
    config.hostConfig.memory = Int64(memoryMiB) * 1_048_576
    var results: [Double] = []
    for index in 0..<samples {
        let began = ContinuousClock.now
        let id = try await docker.createContainer(name: "stevedore-floor-\(index)-\(UUID().uuidString.prefix(6))", config: config)
        try await docker.startContainer(id)
        results.append(durationSeconds(ContinuousClock.now - began))
        try await docker.removeContainer(id, force: true)
    }
    return results.sorted()
}

/// The busybox-static test image, imported when missing.
func ensureBusybox(_ docker: DockerClient, image: String) async throws {
    if (try? await docker.inspectImage(image)) != nil { return }
    let script = """
        set -e; dir=$(mktemp -d); mkdir -p $dir/bin $dir/tmp; cp /bin/busybox $dir/bin/;
        for a in sh sleep echo cat true; do ln -s busybox $dir/bin/$a; done;
        tar -C $dir -c . | docker import --change 'ENV PATH=/bin' - \(image) >/dev/null; rm -rf $dir
        """
    _ = try runProgram("/bin/sh", ["-c", script])
}
