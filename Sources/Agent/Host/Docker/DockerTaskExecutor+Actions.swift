#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentEngine
import AgentProtocol
import CoreMetrics
import DockerClient
import ECSShapes
import Logging
import StevedoreCore

/// The actions of the task state machine, done against Docker and the control plane; each
/// answers the machine with an event.
extension DockerTaskExecutor {
    func perform(_ action: TaskAction) async {
        switch action {
        case .fetchDefinition(let arn, let reference):
            let definition = try? await withRetries("DescribeTaskDefinition") { try await reporter.describeTaskDefinition(reference) }
            receive(.definitionFetched(task: arn, definition))
        case .prepareEnvironment(let arn, let spec):
            guard let functions else {
                return receive(.environmentFailed(task: arn, reason: "this agent does not run functions"))
            }
            do {
                receive(.environmentPrepared(task: arn, try await functions.prepare(arn: arn, spec: spec)))
            } catch {
                receive(.environmentFailed(task: arn, reason: "\(error)"))
            }
        case .ensureImage(let arn, let image):
            if let failure = await ensureImage(image, for: arn) {
                receive(.imageFailed(task: arn, reason: failure))
            } else {
                receive(.imageReady(task: arn))
            }
        case .prepare(let arn):
            receive(await prepare(arn))
        case .createContainer(let arn, let name):
            receive(await create(arn, name))
        case .startContainer(let arn, let name, let dockerId, let environment):
            // An `awslogs` container's stream must be able to take its output before it starts.
            var shipper: (shipper: AWSLogsShipper, lastEventTimestamp: Int?)?
            do throws(AWSLogsOptions.Refusal) {
                shipper = try await awsLogsShipper(task: arn, container: name, dockerId: dockerId)
            } catch {
                return receive(.containerFailed(task: arn, container: name, reason: "CannotStartContainerError: \(error.message)"))
            }
            do {
                try await docker.startContainer(dockerId)
            } catch {
                Counter(label: "ecs_agent_container_starts_total", dimensions: [("outcome", "failed")]).increment()
                return receive(.containerFailed(task: arn, container: name, reason: "CannotStartContainerError: \(error)"))
            }
            Counter(label: "ecs_agent_container_starts_total", dimensions: [("outcome", "started")]).increment()
            if let shipper { ship(shipper.shipper, since: nil) }
            // A new container has used no CPU yet: its first statistics round already yields a sample.
            cpuSamples[dockerId] = (0, ContinuousClock.now)
            if environment, let functions {
                // Docker keeps the output from the start, so following it now misses nothing.
                await functions.containerStarted(arn: arn, containerId: dockerId)
            }
            receive(.containerStarted(task: arn, container: name, await inspect(dockerId)))
        case .inspect(let arn, let name, let reference):
            receive(.observed(task: arn, container: name, await inspect(reference)))
        case .stopContainer(let arn, let name, let dockerId, let timeout):
            do {
                try await docker.stopContainer(dockerId, timeout: timeout)
            } catch let error as DockerError where error.kind == .notFound {
                // Already gone.
            } catch {
                logger.info("stop failed; killing", metadata: ["docker.container.id": "\(dockerId)", "error": "\(error)"])
                try? await docker.killContainer(dockerId, signal: "SIGKILL")
            }
            receive(.containerStopFinished(task: arn, container: name, await inspect(dockerId)))
        case .releaseEnvironment(let arn, let started, let exitCode, let outOfMemory, let reason):
            await functions?.environmentStopped(arn: arn, started: started, exitCode: exitCode, outOfMemory: outOfMemory, reason: reason)
            receive(.environmentReleased(task: arn))
        case .report(let change):
            let accepted = await submit(change)
            if let arn = change.task, let status = change.status.flatMap(ContainerRunStatus.init(rawValue:)) {
                receive(.reported(task: arn, status: status, accepted: accepted))
            }
        case .reportContainer(let change):
            do {
                try await withRetries("SubmitContainerStateChange") { try await reporter.submit(change) }
            } catch {
                logger.info("container state change not accepted", metadata: ["task.arn": "\(change.task ?? "")", "error": "\(error)"])
            }
        case .removeOrphans(let instance, let keeping):
            guard let ours = try? await docker.listContainers(labels: ["\(ContainerSpec.instanceLabel)=\(instance)"], all: true) else { return }
            for container in ours where !container.names.contains(where: { keeping.contains(String($0.drop(while: { $0 == "/" }))) }) {
                logger.notice("removing orphaned container", metadata: ["docker.container.id": "\(container.id)"])
                try? await docker.removeContainer(container.id, force: true)
            }
        case .remove(let arn, let containers, let volumes):
            // Forget the task only once Docker confirmed every removal: an engine that is down
            // (restarting) must not make the agent lose track of containers.
            var removed = true
            for container in containers {
                do {
                    try await docker.removeContainer(container, force: true)
                } catch let error as DockerError where error.kind == .notFound {
                    // Already gone.
                } catch {
                    removed = false
                }
            }
            if removed {
                for volume in volumes { try? await docker.removeVolume(volume) }
                logger.debug("cleaned up task", metadata: ["task.arn": "\(arn)"])
            }
            receive(.removed(task: arn, succeeded: removed))
        }
    }

    // MARK: Images

    /// Pulls per ECS_IMAGE_PULL_BEHAVIOR; returns a failure reason or nil. A container of the task
    /// that names `repositoryCredentials` for the image pulls with the secret's username and
    /// password (resolved now, with the execution role's rights); others with ECS_ENGINE_AUTH_DATA.
    func ensureImage(_ image: String, for arn: String) async -> String? {
        let cached = (try? await docker.inspectImage(image)) != nil
        switch configuration.imagePullBehavior {
        case .preferCached where cached, .once where cached:
            return nil
        default:
            break
        }
        var registryAuth = RegistryAuth.header(for: image, engineAuthData: configuration.engineAuthData)
        let containers = machine.task(arn)?.definition?.containerDefinitions ?? []
        if let parameter = containers.first(where: { $0.image == image && $0.repositoryCredentials != nil })?.repositoryCredentials?.credentialsParameter {
            do {
                let values = try await reporter.resolveSecrets(TaskSecretsRequest(containerInstanceArn: machine.state.instanceArn ?? "", taskArn: arn))
                guard let header = values[parameter].flatMap({ RegistryAuth.header(for: image, secretValue: $0) }) else {
                    return "ResourceInitializationError: unable to pull secrets or registry auth: the secret \(parameter) holds no JSON username and password"
                }
                registryAuth = header
            } catch {
                return "ResourceInitializationError: unable to pull secrets or registry auth: \(error)"
            }
        }
        do {
            try await docker.pullImage(image, registryAuth: registryAuth)
            return nil
        } catch {
            if configuration.imagePullBehavior == .default, cached {
                logger.info("pull failed; using the cached image", metadata: ["image": "\(image)", "error": "\(error)"])
                return nil
            }
            return "CannotPullContainerError: \(error)"
        }
    }

    // MARK: Volumes and ports

    /// Volumes (shared ones autoprovisioned, task ones created) and host ports for mappings
    /// without a static one; ports already assigned (before a restart) are kept.
    func prepare(_ arn: String) async -> TaskEvent {
        guard let task = machine.task(arn), let definition = task.definition else {
            return .prepareFailed(task: arn, reason: "CannotCreateContainerError: the task definition is not known")
        }
        var sources: [String: VolumeSource] = [:]
        var taskVolumes = task.taskVolumes
        do {
            for volume in definition.volumes ?? [] {
                guard let name = volume.name else { continue }
                if let path = volume.host?.sourcePath {
                    sources[name] = .hostPath(path)
                } else if let configuration = volume.dockerVolumeConfiguration, configuration.scope == .shared {
                    // An existing volume is checked for what it binds, a new one before it is made.
                    if let existing = try? await docker.inspectVolume(name) {
                        try checkExposure(of: existing, named: name, in: definition, function: task.function != nil)
                    } else {
                        guard configuration.autoprovision == true else {
                            throw DockerError(.notFound, "shared volume \(name) does not exist and autoprovision is off")
                        }
                        let driver = configuration.driver ?? "local", options = configuration.driverOpts ?? [:]
                        try checkExposure(of: .bound(driver: driver, options: options), named: name, in: definition, function: task.function != nil)
                        _ = try await docker.createVolume(name: name, driver: driver, options: options, labels: configuration.labels ?? [:])
                    }
                    sources[name] = .dockerVolume(name)
                } else {
                    let volumeName = "ecs-\(task.family)-\(task.revision)-\(name)-\(ARN(arn)?.lastPathComponent.prefix(12) ?? "")"
                    let configuration = volume.dockerVolumeConfiguration
                    // What it would bind is checked before it exists: a refused volume is never made.
                    let wanted = VolumeInfo.bound(driver: configuration?.driver ?? "local", options: configuration?.driverOpts ?? [:])
                    try checkExposure(of: wanted, named: name, in: definition, function: task.function != nil)
                    if (try? await docker.inspectVolume(volumeName)) == nil {
                        _ = try await docker.createVolume(
                            name: volumeName, driver: configuration?.driver ?? "local", options: configuration?.driverOpts ?? [:],
                            labels: (configuration?.labels ?? [:]).merging([ContainerSpec.taskLabel: arn]) { a, _ in a })
                    }
                    if !taskVolumes.contains(volumeName) { taskVolumes.append(volumeName) }
                    sources[name] = .dockerVolume(volumeName)
                }
            }
        } catch {
            return .prepareFailed(task: arn, reason: "CannotCreateContainerError: \(error)")
        }
        guard let dynamicPorts = allocatePorts(arn, definition: definition) else {
            return .prepareFailed(
                task: arn,
                reason: "CannotCreateContainerError: no free host port left in ECS_DYNAMIC_HOST_PORT_RANGE \(configuration.dynamicHostPortRange)")
        }
        return .prepared(task: arn, volumes: sources, taskVolumes: taskVolumes, ports: dynamicPorts)
    }

    /// Host paths only a privileged container may mount: the Docker socket and engine's state,
    /// containerd's, and the agent's data directory (other tasks' and functions' files).
    var protectedHostPaths: [String] {
        [configuration.dockerSocketPath, configuration.dataDirectory, "/var/lib/docker", "/run/containerd", "/var/lib/containerd"]
    }

    /// Refuses a volume that binds a protected host directory when a container that is not
    /// privileged (or any function's) mounts it: a bind-type `local` volume is a host mount by
    /// another name.
    func checkExposure(of volume: VolumeInfo?, named name: String, in definition: TaskDefinition, function: Bool) throws(DockerError) {
        guard let hostPath = volume?.boundHostPath, let protected = ContainerSpec.protectedPath(hostPath, among: protectedHostPaths) else { return }
        for container in definition.containerDefinitions ?? []
        where (function || container.privileged != true) && (container.mountPoints ?? []).contains(where: { $0.sourceVolume == name }) {
            throw DockerError(
                .badRequest,
                "container \(container.name ?? "") mounts volume \(name), which binds \(hostPath) and so exposes \(protected): only a privileged container may mount it")
        }
    }

    /// Host ports for bridge mappings without a static one, by `containerPort/protocol`.
    func allocatePorts(_ arn: String, definition: TaskDefinition) -> [String: Int]? {
        var assigned = machine.task(arn)?.dynamicPorts ?? [:]
        guard (definition.networkMode ?? .bridge) == .bridge else { return assigned }
        var taken = Set(machine.state.tasks.values.flatMap { $0.dynamicPorts.values })
        for container in definition.containerDefinitions ?? [] {
            for mapping in container.portMappings ?? [] where (mapping.hostPort ?? 0) == 0 {
                let proto = mapping.protocol?.rawValue ?? "tcp"
                var ports: [Int] = []
                if let port = mapping.containerPort { ports = [port] }
                if let range = mapping.containerPortRange {
                    let bounds = range.split(separator: "-").compactMap { Int($0) }
                    if bounds.count == 2, bounds[0] <= bounds[1] { ports = Array(bounds[0]...bounds[1]) }
                }
                for port in ports {
                    let key = "\(port)/\(proto)"
                    if assigned[key] != nil { continue }
                    guard let hostPort = self.ports.allocate(protocol: proto, taken: taken) else { return nil }
                    assigned[key] = hostPort
                    taken.insert(hostPort)
                }
            }
        }
        return assigned
    }

    // MARK: Containers

    /// Creates one container (or adopts it by name: created before a crash) from the task's definition.
    func create(_ arn: String, _ name: String) async -> TaskEvent {
        guard let task = machine.task(arn), let definition = task.definition,
            let container = definition.containerDefinitions?.first(where: { $0.name == name }), let managed = task.container(name)
        else { return .containerFailed(task: arn, container: name, reason: "CannotCreateContainerError: container \(name) is not defined") }
        if let existing = try? await docker.inspectContainer(managed.dockerName) {
            return .containerCreated(task: arn, container: name, dockerId: existing.id)
        }
        let override = task.overrides?.containerOverrides?.first { $0.name == name }
        var context = ContainerSpec.Context(
            taskArn: arn, cluster: configuration.cluster, instanceArn: machine.state.instanceArn ?? "", family: task.family,
            revision: task.revision, networkMode: definition.networkMode ?? .bridge, pidMode: definition.pidMode, ipcMode: definition.ipcMode,
            dockerNames: Dictionary(uniqueKeysWithValues: task.containers.map { ($0.name, $0.dockerName) }), dynamicPorts: task.dynamicPorts,
            volumes: task.volumeSources ?? [:], bindIP: bindIP, disablePrivileged: configuration.disablePrivileged,
            loggingDrivers: configuration.availableLoggingDrivers, defaultStopTimeout: Int(configuration.containerStopTimeout.components.seconds))
        if task.function != nil {
            context.pidsLimit = 1024
        } else {
            context.protectedHostPaths = protectedHostPaths
        }
        if let function = task.function {
            // A function's role: its credentials in the environment, as Lambda gives them.
            if function.role != nil {
                do {
                    let credentials = try await reporter.credentials(
                        TaskCredentialsRequest(containerInstanceArn: machine.state.instanceArn ?? "", taskArn: arn))
                    context.agentEnvironment += [
                        ("AWS_ACCESS_KEY_ID", credentials.AccessKeyId), ("AWS_SECRET_ACCESS_KEY", credentials.SecretAccessKey),
                        ("AWS_SESSION_TOKEN", credentials.Token), ("AWS_ENDPOINT_URL", configuration.primaryBackend),
                    ]
                } catch {
                    return .containerFailed(task: arn, container: name, reason: "CannotCreateContainerError: no credentials for the function's role: \(error)")
                }
            }
        } else if task.overrides?.taskRoleArn ?? definition.taskRoleArn != nil, let credentialsEndpoint {
            // A task's role: the SDKs fetch its credentials from this agent's endpoint.
            let bridged = context.networkMode == .bridge || context.networkMode == .awsvpc
            context.agentEnvironment +=
                credentialsEndpoint.environment(for: arn, bridged: bridged) + [("AWS_ENDPOINT_URL", configuration.primaryBackend)]
        }
        if !(container.secrets ?? []).isEmpty {
            // Fetched for each container and kept nowhere but in its Docker configuration.
            do {
                context.secretValues = try await reporter.resolveSecrets(
                    TaskSecretsRequest(containerInstanceArn: machine.state.instanceArn ?? "", taskArn: arn))
            } catch {
                return .containerFailed(
                    task: arn, container: name, reason: "ResourceInitializationError: unable to pull secrets or registry auth: \(error)")
            }
        }
        let config: ContainerConfig
        do {
            config = try ContainerSpec.build(container, override: override, context: context)
        } catch {
            return .containerFailed(task: arn, container: name, reason: "CannotCreateContainerError: \(error.message)")
        }
        if let log = container.logConfiguration, log.logDriver == .awslogs {
            do throws(AWSLogsOptions.Refusal) {
                _ = try AWSLogsOptions.parse(log.options ?? [:], container: name, taskId: "", dockerId: "")
            } catch {
                return .containerFailed(task: arn, container: name, reason: "CannotCreateContainerError: \(error.message)")
            }
        }
        do {
            return .containerCreated(task: arn, container: name, dockerId: try await docker.createContainer(name: managed.dockerName, config: config))
        } catch {
            return .containerFailed(task: arn, container: name, reason: "CannotCreateContainerError: \(error)")
        }
    }

    /// The shipper of an `awslogs` container's output, once the control plane has made sure its
    /// group (made when `awslogs-create-group` says so) and stream exist; nil for other drivers.
    /// - Returns: the shipper, and the stream's newest event time (where a restarted agent goes on from).
    func awsLogsShipper(task arn: String, container name: String, dockerId: String) async throws(AWSLogsOptions.Refusal)
        -> (shipper: AWSLogsShipper, lastEventTimestamp: Int?)?
    {
        guard let definition = machine.task(arn)?.definition?.containerDefinitions?.first(where: { $0.name == name }),
            let log = definition.logConfiguration, log.logDriver == .awslogs
        else { return nil }
        let taskId = arn.split(separator: "/").last.map(String.init) ?? arn
        let options = try AWSLogsOptions.parse(log.options ?? [:], container: name, taskId: taskId, dockerId: dockerId)
        let instance = machine.state.instanceArn ?? ""
        let accepted: LogEventsAccepted
        do {
            accepted = try await reporter.putLogEvents(
                LogEventsBatch(containerInstanceArn: instance, taskArn: arn, group: options.group, stream: options.stream, createGroup: options.createGroup, events: []))
        } catch {
            // As the Docker driver words it when it cannot start.
            throw AWSLogsOptions.Refusal(
                message: "Error response from daemon: failed to initialize logging driver: failed to create Cloudwatch log stream: \(Self.awsMessage(error))")
        }
        return (AWSLogsShipper(docker: docker, reporter: reporter, options: options, dockerId: dockerId, instanceArn: instance, taskArn: arn),
            accepted.lastEventTimestamp)
    }

    /// Ships a container's output from `since` (seconds since the epoch; its start when nil), once:
    /// a container already shipped is left to its shipper.
    func ship(_ shipper: AWSLogsShipper, since: Double?) {
        guard shipping.insert(shipper.dockerId).inserted else { return }
        Task {
            await shipper.run(since: since)
            self.shipped(shipper.dockerId)
        }
    }

    func shipped(_ dockerId: String) { shipping.remove(dockerId) }

    /// After the agent started again: the `awslogs` containers still running go on shipping from
    /// their stream's newest event (Docker kept their output meanwhile).
    func resumeLogShipping() async {
        for task in machine.state.tasks.values {
            for container in task.containers where container.status == .running {
                guard let dockerId = container.dockerId,
                    let found = try? await awsLogsShipper(task: task.arn, container: container.name, dockerId: dockerId)
                else { continue }
                // Docker's `since` is in seconds; a millisecond on, so the newest stored line is not sent twice.
                ship(found.shipper, since: found.lastEventTimestamp.map { Double($0 + 1) / 1000 })
            }
        }
    }

    /// `Type: message`, as AWS SDKs print a service's error.
    static func awsMessage(_ error: any Error) -> String {
        if let aws = error as? AWSError { return "\(aws.type): \(aws.message)" }
        return "\(error)"
    }

    /// A container's state as the engine has it.
    func inspect(_ reference: String) async -> ContainerInspection {
        do {
            return .seen(Self.observation(try await docker.inspectContainer(reference)))
        } catch let error as DockerError where error.kind == .notFound {
            return .gone
        } catch {
            return .unavailable
        }
    }

    static func observation(_ inspected: ContainerInspect) -> ContainerObservation {
        var bindings: [ManagedContainer.PortBindingRecord] = []
        for (key, hosts) in inspected.networkSettings?.ports ?? [:] {
            let parts = key.split(separator: "/")
            guard let containerPort = Int(parts.first ?? ""), let hosts else { continue }
            for binding in hosts {
                guard let hostPort = binding.hostPort.flatMap(Int.init) else { continue }
                bindings.append(
                    .init(containerPort: containerPort, hostPort: hostPort, proto: parts.count > 1 ? String(parts[1]) : "tcp", bindIP: binding.hostIp ?? ""))
            }
        }
        let status: ContainerObservation.Status =
            inspected.state.running ? .running : inspected.state.status == "created" ? .created : .exited
        return ContainerObservation(
            dockerId: inspected.id, status: status, exitCode: inspected.state.exitCode, oomKilled: inspected.state.oomKilled,
            error: inspected.state.error, health: inspected.state.health?.status, bindings: bindings)
    }

    // MARK: Reports

    @discardableResult
    func submit(_ change: SubmitTaskStateChangeRequest) async -> Bool {
        do {
            try await withRetries("SubmitTaskStateChange") { try await reporter.submit(change) }
            return true
        } catch {
            logger.warning("task state change not accepted", metadata: ["task.arn": "\(change.task ?? "")", "error": "\(error)"])
            return false
        }
    }
}

/// `X-Registry-Auth` for an image's registry from ECS_ENGINE_AUTH_TYPE/DATA.
enum RegistryAuth {
    /// ECS_ENGINE_AUTH_DATA: `{"registry": {"username": …, "password": …}}` or `{"registry": {"auth": base64("user:password")}}`.
    static func header(for image: String, engineAuthData: String?) -> String? {
        struct Entry: Decodable {
            var username: String?
            var password: String?
            var auth: String?
        }
        guard let data = engineAuthData.map({ Data($0.utf8) }), let entries = try? JSONDecoder().decode([String: Entry].self, from: data)
        else { return nil }
        let registry = registry(of: image)
        guard let credentials = entries[registry] ?? entries["https://\(registry)"] ?? entries["http://\(registry)"] else { return nil }
        if let user = credentials.username, let password = credentials.password {
            return header(registry: registry, username: user, password: password)
        } else if let encoded = credentials.auth, let decoded = Data(base64Encoded: encoded),
            let pair = String(data: decoded, encoding: .utf8), let colon = pair.firstIndex(of: ":")
        {
            return header(registry: registry, username: String(pair[..<colon]), password: String(pair[pair.index(after: colon)...]))
        }
        return header(registry: registry, username: nil, password: nil)
    }

    /// From a `repositoryCredentials` secret: `{"username": …, "password": …}`, as ECS reads it.
    static func header(for image: String, secretValue: String) -> String? {
        struct Secret: Decodable {
            var username: String
            var password: String
        }
        guard let secret = try? JSONDecoder().decode(Secret.self, from: Data(secretValue.utf8)) else { return nil }
        return header(registry: registry(of: image), username: secret.username, password: secret.password)
    }

    /// The registry an image is pulled from: its first component when that names a host.
    static func registry(of image: String) -> String {
        image.split(separator: "/").first.map(String.init).flatMap { $0.contains(".") || $0.contains(":") ? $0 : nil }
            ?? "https://index.docker.io/v1/"
    }

    private static func header(registry: String, username: String?, password: String?) -> String? {
        var auth: [String: String] = ["serveraddress": registry]
        auth["username"] = username
        auth["password"] = password
        guard let json = try? JSONEncoder().encode(auth) else { return nil }
        return json.base64EncodedString()
    }
}
