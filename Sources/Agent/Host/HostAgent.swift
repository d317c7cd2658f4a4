import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentEngine
import AgentProtocol
import AWSProtocols
import CurlHTTP
import DockerClient
import ECSShapes
import Logging
import Observability
import StevedoreClient
import StevedoreCore
import Synchronization

/// The real node agent: this host's Docker engine, registered with its real resources, running
/// what the control plane assigns.
public struct HostAgent: Sendable {
    public let configuration: AgentConfiguration
    public let logger: Logger
    /// What `GET /metrics` on `ECS_METRICS_LISTEN` renders (the process bootstraps swift-metrics with it).
    public let metrics: PrometheusRegistry?

    public init(configuration: AgentConfiguration, logger: Logger, metrics: PrometheusRegistry? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
    }

    public func run() async throws {
        var listener: MetricsListener?
        if let address = configuration.metricsListen, let metrics {
            Self.describe(metrics)
            // Metrics are not worth stopping the agent for: a port that cannot be had is said, not fatal.
            do {
                listener = try await MetricsListener(host: address.host, port: address.port, registry: metrics)
                logger.info("metrics listening", metadata: ["address": "\(address.host):\(listener?.port ?? 0)"])
            } catch {
                logger.error("metrics not served", metadata: ["address": "\(address.host):\(address.port)", "error": "\(error)"])
            }
        }
        defer { if let listener { Task { await listener.close() } } }
        var host = try HostResources.read(reservedMemory: configuration.reservedMemory)
        if let id = configuration.instanceId { host.instanceId = id }
        let docker = try await connectToDocker()
        logger.notice(
            "agent starting",
            metadata: [
                "cluster": "\(configuration.cluster)", "backend": "\(configuration.backendHost)",
                "docker.version": "\(docker.engine.version)", "docker.api": "\(docker.apiVersion)",
                "cpu.units": "\(host.cpuUnits)", "memory.mib": "\(host.memoryMiB)",
            ])
        let link = ControlPlaneLink(
            endpoint: configuration.backendHost, cluster: configuration.cluster, token: configuration.registrationToken,
            caFile: configuration.backendCAFile,
            identity: InstanceCredentialStore(dataDirectory: configuration.dataDirectory, persist: configuration.checkpoint))
        let functions = FunctionHost(link: link, docker: docker, dataDirectory: configuration.dataDirectory, logger: logger)
        let registered = RegisteredInstance()
        let addressProblem = configuration.bridgeTaskCredentials ? LinkLocalAddress.ensure() : nil
        let credentials = try await CredentialsEndpoint(
            port: configuration.credentialsPort,
            keyBytes: CredentialsEndpoint.key(dataDirectory: configuration.dataDirectory, persist: configuration.checkpoint),
            linkLocal: configuration.bridgeTaskCredentials && addressProblem == nil
        ) { taskArn in
            try await link.credentials(TaskCredentialsRequest(containerInstanceArn: registered.arn.withLock { $0 } ?? "", taskArn: taskArn))
        }
        logger.info("task credentials endpoint listening", metadata: ["port": "\(credentials.port)"])
        if credentials.linkLocalProblem == nil, let problem = LinkLocalAddress.guardFromNetwork() {
            // The per-task token still guards each task's credentials.
            logger.warning(
                "\(CredentialsEndpoint.linkLocalAddress) can be reached from the local network, not only from this host's containers",
                metadata: ["reason": "\(problem)", "remedy": "run the agent as root with iptables"])
        }
        if configuration.bridgeTaskCredentials, let problem = addressProblem ?? credentials.linkLocalProblem {
            // Roles still work for host-network tasks; bridge tasks get the loopback address, which they cannot reach.
            logger.warning(
                "tasks on a Docker bridge cannot fetch their role's credentials",
                metadata: ["reason": "\(problem)", "remedy": "run the agent as root with iproute2, or use networkMode host"])
        }
        let engine = try DockerTaskExecutor(
            docker: docker, reporter: link, configuration: configuration, bindIP: configuration.hostPortBindIP, functions: functions,
            credentialsEndpoint: credentials, logger: logger)
        let configuration = self.configuration
        let attributes = AgentCapabilities.attributes(
            loggingDrivers: configuration.availableLoggingDrivers, privileged: !configuration.disablePrivileged,
            architecture: host.architecture, zone: configuration.instanceAttributes["ecs.availability-zone"],
            instanceType: configuration.instanceAttributes["ecs.instance-type"],
            custom: configuration.instanceAttributes.filter { !$0.key.hasPrefix("ecs.") })
        let resources = AgentCapabilities.resources(
            cpu: host.cpuUnits, memory: host.memoryMiB, ports: configuration.reservedPorts, udpPorts: configuration.reservedPortsUDP)
        let identity = #"{"instanceId":"\#(host.instanceId)","imageId":"\#(host.imageId)"}"#
        let dockerVersion = "DockerVersion: \(docker.engine.version)"
        let session = InstanceSession(
            link: link, engine: engine, logger: logger,
            registration: { arn in
                RegisterContainerInstanceRequest(
                    cluster: configuration.cluster,
                    instanceIdentityDocument: identity,
                    totalResources: resources,
                    versionInfo: VersionInfo(agentVersion: StevedoreVersion.current, agentHash: "stevedore", dockerVersion: dockerVersion),
                    containerInstanceArn: arn,
                    attributes: attributes,
                    tags: configuration.instanceTags.map { ResourceTag(key: $0.key, value: $0.value) }
                )
            },
            onRegistered: { arn in
                registered.arn.withLock { $0 = arn }
                await engine.attach(instanceArn: arn)
            }
        )
        try await session.run(knownArn: await engine.savedInstanceArn)
    }

    static func describe(_ registry: PrometheusRegistry) {
        for (name, help) in [
            ("ecs_agent_polls_total", "Polls of the control plane's work channel, by outcome."),
            ("ecs_agent_container_starts_total", "Containers started, by outcome."),
            ("ecs_agent_log_events_shipped_total", "awslogs events the control plane took."),
            ("ecs_agent_invocation_batches_total", "Batches of function invocations received."),
        ] {
            registry.describe(name, help)
        }
    }

    /// Waits for the Docker engine (it may start after the agent), retrying with back-off.
    private func connectToDocker() async throws -> DockerClient {
        var delay: Duration = .seconds(1)
        while true {
            do {
                return try await DockerClient.connect(host: configuration.dockerHost)
            } catch let error as DockerError where error.kind == .unsupportedVersion {
                throw error
            } catch {
                logger.warning("Docker engine not available; retrying", metadata: ["error": "\(error)", "retry.delay": "\(delay)"])
            }
            try await Task.sleep(for: delay)
            delay = min(.seconds(30), delay * 2)
        }
    }
}

/// This host's resources as the real agent registers them.
public struct HostResources: Sendable {
    /// 1024 per CPU core.
    public var cpuUnits: Int
    /// MemTotal from /proc/meminfo in MiB, minus ECS_RESERVED_MEMORY.
    public var memoryMiB: Int
    public var architecture: String
    public var instanceId: String
    /// What the instance identity document's `imageId` says, and ECS reports as `ecs.ami-id`: an
    /// AMI-like id of the host's operating system release (`/etc/os-release`'s ID and VERSION_ID)
    /// and architecture, so hosts made from one image share it and placement can tell them apart.
    public var imageId: String = ""

    public static func read(reservedMemory: Int) throws -> HostResources {
        let total = memoryTotalMiB()
        guard reservedMemory < total else {
            throw AgentConfiguration.Error(
                key: "ECS_RESERVED_MEMORY", message: "reserves \(reservedMemory) MiB but the host has only \(total) MiB")
        }
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let machineId = (try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8))?.trimmingWhitespace
        let hostName = ProcessInfo.processInfo.hostName
        let architecture = machine == "aarch64" ? "arm64" : machine
        return HostResources(
            cpuUnits: ProcessInfo.processInfo.activeProcessorCount * 1024,
            memoryMiB: total - reservedMemory,
            architecture: architecture,
            instanceId: "\(hostName)-\(machineId?.prefix(12) ?? "0")",
            imageId: imageId(osRelease: (try? String(contentsOfFile: "/etc/os-release", encoding: .utf8)) ?? "", architecture: architecture)
        )
    }

    /// `ami-` and 17 hex digits (as AWS's), from a 64-bit FNV-1a hash of the release's ID and
    /// VERSION_ID and the architecture.
    static func imageId(osRelease: String, architecture: String) -> String {
        var fields: [String: String] = [:]
        for line in osRelease.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...].filter { $0 != "\"" && $0 != "'" })
        }
        let hex = String(FNV1a.hash("\(fields["ID"] ?? "linux") \(fields["VERSION_ID"] ?? "") \(architecture)".utf8), radix: 16)
        return "ami-0" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func memoryTotalMiB() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
            let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return Int(ProcessInfo.processInfo.physicalMemory / 1_048_576) }
        return kib / 1024
    }
}

/// The instance ARN once registered, for the credentials endpoint's requests.
final class RegisteredInstance: Sendable {
    let arn = Mutex<String?>(nil)
}
