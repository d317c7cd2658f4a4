#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentEngine
import AgentProtocol
import AWSProtocols
import DockerClient
import ECSShapes
import StevedoreClient
import StevedoreCore

/// Maps one container definition (with the task's overrides) to Docker's create configuration.
/// Pure: every input is passed in, so the mapping is unit-tested field by field.
public struct ContainerSpec: Sendable {
    public struct Context: Sendable {
        public var taskArn: String
        public var cluster: String
        public var instanceArn: String
        public var family: String
        public var revision: Int
        public var networkMode: NetworkMode
        public var pidMode: PidMode?
        public var ipcMode: IpcMode?
        /// Docker names of the task's containers, by container name (for links and volumesFrom).
        public var dockerNames: [String: String]
        /// Host ports picked for mappings without a static one, by "containerPort/protocol".
        public var dynamicPorts: [String: Int]
        /// How each task volume is provided: a host path or a Docker volume name.
        public var volumes: [String: VolumeSource]
        public var bindIP: String
        public var disablePrivileged: Bool
        public var loggingDrivers: [String]
        public var defaultStopTimeout: Int
        /// Values of the containers' `secrets`, by `valueFrom` (resolved by the control plane).
        public var secretValues: [String: String] = [:]
        /// Variables the agent adds (role credentials, the endpoint); the task's own win.
        public var agentEnvironment: [(String, String)] = []
        /// Host paths an unprivileged container may not mount, nor any directory above them: the
        /// Docker socket (control of the host) and the agent's data (other tasks' and functions' files).
        public var protectedHostPaths: [String] = []
        /// The most processes and threads (function environments: 1024, as Lambda allows).
        public var pidsLimit: Int64?

        public init(
            taskArn: String, cluster: String, instanceArn: String, family: String, revision: Int, networkMode: NetworkMode,
            pidMode: PidMode? = nil, ipcMode: IpcMode? = nil, dockerNames: [String: String] = [:], dynamicPorts: [String: Int] = [:],
            volumes: [String: VolumeSource] = [:], bindIP: String = "0.0.0.0", disablePrivileged: Bool = false,
            loggingDrivers: [String] = ["json-file", "awslogs", "none"], defaultStopTimeout: Int = 30
        ) {
            self.taskArn = taskArn
            self.cluster = cluster
            self.instanceArn = instanceArn
            self.family = family
            self.revision = revision
            self.networkMode = networkMode
            self.pidMode = pidMode
            self.ipcMode = ipcMode
            self.dockerNames = dockerNames
            self.dynamicPorts = dynamicPorts
            self.volumes = volumes
            self.bindIP = bindIP
            self.disablePrivileged = disablePrivileged
            self.loggingDrivers = loggingDrivers
            self.defaultStopTimeout = defaultStopTimeout
        }
    }

    /// Why a container cannot be created as defined; reported as `CannotCreateContainerError: …`.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// The labels every container of a task carries (the real agent's, plus the instance).
    public static let taskLabel = "com.amazonaws.ecs.task-arn"
    public static let containerLabel = "com.amazonaws.ecs.container-name"
    public static let clusterLabel = "com.amazonaws.ecs.cluster"
    public static let instanceLabel = "com.stevedore.container-instance"

    public static func build(
        _ definition: ContainerDefinition,
        override: ContainerOverride?,
        context: Context
    ) throws(Refusal) -> ContainerConfig {
        let name = definition.name ?? ""
        guard let image = definition.image else { throw Refusal(message: "container \(name) has no image") }
        if !(definition.environmentFiles ?? []).isEmpty {
            throw Refusal(message: "container \(name) uses environmentFiles from S3, which Stevedore hosts cannot read; use environment instead")
        }
        if !(definition.resourceRequirements ?? []).isEmpty {
            throw Refusal(message: "container \(name) requires GPUs or accelerators, which this agent does not manage")
        }
        if definition.privileged == true, context.disablePrivileged {
            throw Refusal(message: "container \(name) is privileged, and this instance refuses privileged containers (ECS_DISABLE_PRIVILEGED=true)")
        }

        var config = ContainerConfig(image: image)
        config.cmd = override?.command ?? definition.command
        config.entrypoint = definition.entryPoint
        var environment: [(String, String)] = []
        for pair in (definition.environment ?? []) + (override?.environment ?? []) {
            guard let key = pair.name else { continue }
            environment.removeAll { $0.0 == key }
            environment.append((key, pair.value ?? ""))
        }
        for (key, value) in context.agentEnvironment where !environment.contains(where: { $0.0 == key }) {
            environment.append((key, value))
        }
        for secret in definition.secrets ?? [] {
            guard let value = context.secretValues[secret.valueFrom] else {
                throw Refusal(message: "ResourceInitializationError: unable to pull secrets: no value for secret \(secret.name) (\(secret.valueFrom))")
            }
            environment.removeAll { $0.0 == secret.name }
            environment.append((secret.name, value))
        }
        config.env = environment.map { "\($0.0)=\($0.1)" }
        var labels = definition.dockerLabels ?? [:]
        labels[taskLabel] = context.taskArn
        labels[containerLabel] = name
        labels["com.amazonaws.ecs.task-definition-family"] = context.family
        labels["com.amazonaws.ecs.task-definition-version"] = String(context.revision)
        labels[clusterLabel] = context.cluster
        labels[instanceLabel] = context.instanceArn
        config.labels = labels
        config.workingDir = definition.workingDirectory
        config.user = definition.user
        config.tty = definition.pseudoTerminal
        config.openStdin = definition.interactive
        config.networkDisabled = definition.disableNetworking
        config.stopTimeout = definition.stopTimeout ?? context.defaultStopTimeout
        if context.networkMode == .bridge { config.hostname = definition.hostname }
        if let health = definition.healthCheck {
            let second: Int64 = 1_000_000_000
            config.healthcheck = HealthConfig(
                test: health.command,
                interval: Int64(health.interval ?? 30) * second,
                timeout: Int64(health.timeout ?? 5) * second,
                retries: health.retries ?? 3,
                startPeriod: health.startPeriod.map { Int64($0) * second })
        }

        var host = HostConfig()
        let mib: Int64 = 1024 * 1024
        let memory = override?.memory ?? definition.memory
        let reservation = override?.memoryReservation ?? definition.memoryReservation
        host.memory = memory.map { Int64($0) * mib }
        host.memoryReservation = reservation.map { Int64($0) * mib }
        host.cpuShares = max(2, override?.cpu ?? definition.cpu ?? 0)
        host.privileged = definition.privileged
        host.readonlyRootfs = definition.readonlyRootFilesystem
        host.dns = definition.dnsServers
        host.dnsSearch = definition.dnsSearchDomains
        host.extraHosts = definition.extraHosts?.map { "\($0.hostname):\($0.ipAddress)" }
        host.securityOpt = definition.dockerSecurityOptions
        host.ulimits = definition.ulimits?.map { UlimitSetting(name: $0.name.rawValue, soft: $0.softLimit, hard: $0.hardLimit) }
        if let controls = definition.systemControls, !controls.isEmpty {
            host.sysctls = Dictionary(controls.compactMap { control in control.namespace.map { ($0, control.value ?? "") } }, uniquingKeysWith: { _, b in b })
        }
        if let log = definition.logConfiguration {
            guard context.loggingDrivers.contains(log.logDriver.rawValue) else {
                throw Refusal(
                    message: "logging driver \(log.logDriver.rawValue) is not available on this instance (ECS_AVAILABLE_LOGGING_DRIVERS allows \(context.loggingDrivers.joined(separator: ", ")))")
            }
            if log.logDriver == .awslogs {
                // The agent ships the output to the control plane's CloudWatch Logs (AWSLogsShipper);
                // Docker keeps it meanwhile, in files it rotates.
                host.logConfig = LogConfig(type: "json-file", config: ["max-size": "100m", "max-file": "3"])
            } else {
                host.logConfig = LogConfig(type: log.logDriver.rawValue, config: log.options)
            }
        }
        if let linux = definition.linuxParameters {
            host.capAdd = linux.capabilities?.add
            host.capDrop = linux.capabilities?.drop
            host.devices = linux.devices?.map { device in
                let permissions = (device.permissions ?? [.read, .write, .mknod]).map { String($0.rawValue.prefix(1)) }.joined()
                return DeviceMapping(pathOnHost: device.hostPath, pathInContainer: device.containerPath ?? device.hostPath, cgroupPermissions: permissions)
            }
            host.initProcess = linux.initProcessEnabled
            host.shmSize = linux.sharedMemorySize.map { Int64($0) * mib }
            if let tmpfs = linux.tmpfs, !tmpfs.isEmpty {
                host.tmpfs = Dictionary(
                    tmpfs.map { ($0.containerPath, (["size=\($0.size)m"] + ($0.mountOptions ?? [])).joined(separator: ",")) },
                    uniquingKeysWith: { _, b in b })
            }
            if let swap = linux.maxSwap, let memory = host.memory { host.memorySwap = memory + Int64(swap) * mib }
            host.memorySwappiness = linux.swappiness.map { Int64($0) }
        }
        switch context.pidMode {
        case .host: host.pidMode = "host"
        default: break
        }
        switch context.ipcMode {
        case .host: host.ipcMode = "host"
        case .none_: host.ipcMode = "none"
        default: break
        }

        // Network.
        switch context.networkMode {
        case .host: host.networkMode = "host"
        case .none_: host.networkMode = "none"
        case .bridge, .awsvpc:
            host.networkMode = "bridge"
            var exposed: [String: EmptyObject] = [:]
            var bindings: [String: [PortBinding]] = [:]
            for mapping in definition.portMappings ?? [] {
                let proto = mapping.protocol?.rawValue ?? "tcp"
                var ports: [Int] = []
                if let port = mapping.containerPort {
                    ports = [port]
                } else if let range = mapping.containerPortRange {
                    let bounds = range.split(separator: "-").compactMap { Int($0) }
                    if bounds.count == 2, bounds[0] <= bounds[1] { ports = Array(bounds[0]...bounds[1]) }
                }
                for port in ports {
                    let key = "\(port)/\(proto)"
                    exposed[key] = EmptyObject()
                    let hostPort: Int
                    if let fixed = mapping.hostPort, fixed != 0 {
                        hostPort = fixed
                    } else if context.networkMode == .awsvpc {
                        hostPort = port
                    } else if let dynamic = context.dynamicPorts[key] {
                        hostPort = dynamic
                    } else {
                        throw Refusal(message: "no dynamic host port was assigned for \(key) of container \(name)")
                    }
                    bindings[key] = [PortBinding(hostIp: context.bindIP, hostPort: String(hostPort))]
                }
            }
            if !exposed.isEmpty {
                config.exposedPorts = exposed
                host.portBindings = bindings
            }
            host.links = try definition.links?.map { link throws(Refusal) in
                let parts = link.split(separator: ":", maxSplits: 1).map(String.init)
                guard let target = context.dockerNames[parts[0]] else {
                    throw Refusal(message: "container \(name) links to \(parts[0]), which has no container in this task")
                }
                return "\(target):\(parts.count > 1 ? parts[1] : parts[0])"
            }
        }

        // Storage.
        var binds: [String] = []
        var mounts: [Mount] = []
        for mount in definition.mountPoints ?? [] {
            guard let volume = mount.sourceVolume, let path = mount.containerPath, let source = context.volumes[volume] else {
                throw Refusal(message: "container \(name) mounts volume \(mount.sourceVolume ?? "") that the task does not define")
            }
            switch source {
            case .hostPath(let hostPath):
                if definition.privileged != true, let protected = Self.protectedPath(hostPath, among: context.protectedHostPaths) {
                    throw Refusal(
                        message:
                            "container \(name) mounts host path \(hostPath), which exposes \(protected): only a privileged container may mount it")
                }
                binds.append("\(hostPath):\(path)\(mount.readOnly == true ? ":ro" : "")")
            case .dockerVolume(let volumeName):
                mounts.append(Mount(type: "volume", source: volumeName, target: path, readOnly: mount.readOnly))
            }
        }
        host.binds = binds.isEmpty ? nil : binds
        host.mounts = mounts.isEmpty ? nil : mounts
        host.volumesFrom = try definition.volumesFrom?.map { from throws(Refusal) in
            guard let source = from.sourceContainer, let target = context.dockerNames[source] else {
                throw Refusal(message: "container \(name) takes volumes from \(from.sourceContainer ?? ""), which is not in this task")
            }
            return "\(target)\(from.readOnly == true ? ":ro" : "")"
        }
        host.pidsLimit = context.pidsLimit
        config.hostConfig = host
        return config
    }

    /// The protected path that mounting `hostPath` would expose (it, something inside it, or a
    /// directory above it), symbolic links resolved.
    static func protectedPath(_ hostPath: String, among protected: [String]) -> String? {
        let path = resolved(hostPath)
        for candidate in protected {
            let target = resolved(candidate)
            if path == target || target.hasPrefix(path == "/" ? "/" : path + "/") || path.hasPrefix(target + "/") { return candidate }
        }
        return nil
    }

    private static func resolved(_ path: String) -> String {
        let standardized = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        return standardized.count > 1 && standardized.hasSuffix("/") ? String(standardized.dropLast()) : standardized
    }
}
