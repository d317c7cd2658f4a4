import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import AWSProtocols
import CurlHTTP
import DockerClient
import ECSShapes
import Logging
import StevedoreClient
import StevedoreCore

/// Runs tasks on the host's Docker engine: pulls images, creates and starts containers in
/// `dependsOn`/`links` order, watches the engine's event stream, stops tasks when an essential
/// container exits or the control plane asks (SIGTERM, then SIGKILL after `stopTimeout`), reports
/// every change, removes stopped tasks after the cleanup wait, and after a restart of the agent or
/// of dockerd adopts its containers instead of starting them again.
public actor DockerTaskEngine: TaskEngine {
    enum Work: Sendable {
        /// Registered: follow Docker's events and sample statistics from now on.
        case watch
        case start(String)
        case stop(String)
        case logs(LogRequest)
        /// Registered: serve function invocations for this instance.
        case functions(String)
    }

    let docker: DockerClient
    let link: ControlPlaneLink
    let configuration: AgentConfiguration
    let stateFile: AgentStateFile
    let logger: Logger
    let bindIP: String
    /// Runs functions' execution environments (nil: this engine runs only plain tasks).
    let functions: FunctionHost?
    var state: AgentState
    var ports: PortAllocator
    private let workStream: AsyncStream<Work>
    private let workQueue: AsyncStream<Work>.Continuation
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]
    private var attached = false
    /// The previous CPU sample per container, for utilisation between two samples.
    private var cpuSamples: [String: (usage: UInt64, at: ContinuousClock.Instant)] = [:]
    /// Logs the control plane asked for, by session id (those being streamed now).
    var logSessions: Set<String> = []

    public init(
        docker: DockerClient,
        link: ControlPlaneLink,
        configuration: AgentConfiguration,
        bindIP: String = "0.0.0.0",
        functions: FunctionHost? = nil,
        logger: Logger
    ) throws {
        self.functions = functions
        self.docker = docker
        self.link = link
        self.configuration = configuration
        self.bindIP = bindIP
        self.logger = logger
        stateFile = AgentStateFile(directory: configuration.dataDirectory)
        var loaded = configuration.checkpoint ? try stateFile.load() : nil
        if let saved = loaded, saved.cluster != configuration.cluster {
            throw AgentConfiguration.Error(
                key: "ECS_CLUSTER",
                message: "data mismatch: the saved state in \(configuration.dataDirectory) is for cluster \(saved.cluster), not \(configuration.cluster); remove agent-state.json to join another cluster")
        }
        if loaded == nil { loaded = AgentState(cluster: configuration.cluster) }
        state = loaded!
        ports = PortAllocator(range: configuration.dynamicHostPortRange, bindIP: bindIP)
        (workStream, workQueue) = AsyncStream<Work>.makeStream()
    }

    /// The instance this agent registered as last time, to re-register with.
    public var savedInstanceArn: String? { state.instanceArn }

    /// Called once registered: remembers the identity and adopts what runs already.
    public func attach(instanceArn: String) async {
        let changed = state.instanceArn != instanceArn
        state.instanceArn = instanceArn
        if changed { persist() }
        if !attached {
            attached = true
            await functions?.setStopTask { [weak self] arn, reason in await self?.stopEnvironment(arn, reason: reason) }
            await reconcileAfterRestart()
            workQueue.yield(.watch)
            if functions != nil { workQueue.yield(.functions(instanceArn)) }
        }
    }

    // MARK: TaskEngine

    public func handle(_ assignment: AgentAssignment) async {
        let task = assignment.task
        guard let arn = task.taskArn else { return }
        let desired = task.desiredStatus ?? "RUNNING"
        if var managed = state.tasks[arn] {
            if desired == "STOPPED", !managed.desiredStopped {
                managed.desiredStopped = true
                managed.stopReason = managed.stopReason ?? task.stoppedReason
                state.tasks[arn] = managed
                persist()
                workQueue.yield(.stop(arn))
            }
            return
        }
        guard desired == "RUNNING" else {
            // Stopped before this agent ever ran it (or after it forgot it): tell the control plane.
            if task.lastStatus != "STOPPED" {
                await submit(SubmitTaskStateChangeRequest(task: arn, status: "STOPPED", reason: task.stoppedReason))
            }
            return
        }
        guard let definition = assignment.taskDefinition ?? assignment.function.map(Self.environmentPlaceholder) else {
            await submit(SubmitTaskStateChangeRequest(task: arn, status: "STOPPED", reason: "CannotStartContainerError: the task definition could not be fetched"))
            return
        }
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let containers = (definition.containerDefinitions ?? []).map { container in
            ManagedContainer(
                name: container.name ?? "",
                dockerName: ContainerSpec.dockerName(
                    family: definition.family ?? "", revision: definition.revision ?? 0, container: container.name ?? "", suffix: suffix),
                essential: container.essential ?? true,
                stopTimeout: container.stopTimeout ?? Int(configuration.containerStopTimeout.components.seconds))
        }
        state.tasks[arn] = ManagedTask(
            arn: arn, family: definition.family ?? "", revision: definition.revision ?? 0, phase: .pending,
            containers: containers, startOrder: StartOrder.sorted(definition.containerDefinitions ?? []), function: assignment.function)
        definitions[arn] = (definition, task.overrides)
        persist()
        workQueue.yield(.start(arn))
    }

    /// Definitions and overrides of tasks being started (memory only; a restart re-fetches them).
    var definitions: [String: (TaskDefinition, TaskOverride?)] = [:]

    public func run() async throws {
        // The loops end when the agent stops (cancellation); nothing else ends them.
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await self.cleanUpPeriodically() }
            for await work in workStream {
                switch work {
                case .watch:
                    group.addTask { try? await self.watchEvents() }
                    group.addTask { try? await self.sampleStatistics() }
                case .start(let arn): group.addTask { await self.start(arn) }
                case .stop(let arn): group.addTask { await self.stop(arn) }
                case .logs(let request): group.addTask { await self.relayLogs(request) }
                case .functions(let instance):
                    if let functions = self.functions { group.addTask { await functions.run(instanceArn: instance) } }
                }
            }
            group.cancelAll()
        }
    }

    public func streamLogs(_ request: LogRequest) async {
        workQueue.yield(.logs(request))
    }

    // MARK: Starting

    /// Starts a task; a stop asked for meanwhile takes effect once the start sequence is done.
    func start(_ arn: String) async {
        guard state.tasks[arn]?.phase == .pending, !starting.contains(arn) else { return }
        starting.insert(arn)
        let failure = await startContainers(arn)
        starting.remove(arn)
        if let failure {
            logger.info("task failed to start", metadata: ["task.arn": "\(arn)", "reason": "\(failure)"])
            update(arn) {
                $0.stopReason = String(failure.prefix(1024))
                $0.desiredStopped = true
            }
        } else if state.tasks[arn]?.desiredStopped == false {
            update(arn) { $0.phase = .running }
            await report(arn)
        }
        guard let managed = state.tasks[arn] else { return }
        if managed.desiredStopped || managed.containers.contains(where: { $0.essential && $0.status == .stopped }) {
            if !managed.desiredStopped {
                update(arn) {
                    $0.desiredStopped = true
                    $0.stopReason = $0.stopReason ?? "Essential container in task exited"
                }
            }
            await stop(arn)
        }
    }

    /// Tasks whose start sequence is running (a stop waits for it).
    private var starting: Set<String> = []

    /// Pulls, prepares volumes and ports, and starts every container in order; returns why it could not.
    private func startContainers(_ arn: String) async -> String? {
        guard let managed = state.tasks[arn] else { return "task forgotten" }
        guard var (definition, overrides) = await definitionFor(arn) else {
            return "CannotStartContainerError: the task definition \(managed.family):\(managed.revision) could not be fetched"
        }
        if let spec = managed.function {
            // An execution environment: code, layers, runtime image and Runtime API first.
            guard let functions else { return "CannotStartContainerError: this agent does not run functions" }
            do {
                definition = try await functions.prepare(arn: arn, spec: spec)
            } catch {
                return "CannotStartContainerError: \(error)"
            }
            overrides = nil
            definitions[arn] = (definition, nil)
        }
        let containerDefinitions = Dictionary(
            (definition.containerDefinitions ?? []).compactMap { c in c.name.map { ($0, c) } }, uniquingKeysWith: { a, _ in a })
        let overrideByName = Dictionary(
            (overrides?.containerOverrides ?? []).compactMap { o in o.name.map { ($0, o) } }, uniquingKeysWith: { a, _ in a })

        // Images.
        update(arn) { $0.pullStartedAt = $0.pullStartedAt ?? Date() }
        for name in managed.startOrder where managed.function == nil {
            guard let image = containerDefinitions[name]?.image else { continue }
            if let failure = await ensureImage(image) { return failure }
        }
        update(arn) { $0.pullStoppedAt = Date() }

        // Volumes and ports.
        let volumes: [String: ContainerSpec.VolumeSource]
        do {
            volumes = try await prepareVolumes(arn, definition: definition)
        } catch {
            return "CannotCreateContainerError: \(error)"
        }
        guard let dynamicPorts = allocatePorts(arn, definition: definition) else {
            return "CannotCreateContainerError: no free host port left in ECS_DYNAMIC_HOST_PORT_RANGE \(configuration.dynamicHostPortRange)"
        }
        let context = ContainerSpec.Context(
            taskArn: arn, cluster: configuration.cluster, instanceArn: state.instanceArn ?? "", family: managed.family,
            revision: managed.revision, networkMode: definition.networkMode ?? .bridge, pidMode: definition.pidMode,
            ipcMode: definition.ipcMode, dockerNames: Dictionary(uniqueKeysWithValues: managed.containers.map { ($0.name, $0.dockerName) }),
            dynamicPorts: dynamicPorts, volumes: volumes, bindIP: bindIP, disablePrivileged: configuration.disablePrivileged,
            loggingDrivers: configuration.availableLoggingDrivers,
            defaultStopTimeout: Int(configuration.containerStopTimeout.components.seconds))

        // Containers, in dependency order.
        for name in managed.startOrder {
            guard let definitionForContainer = containerDefinitions[name] else { continue }
            if state.tasks[arn]?.desiredStopped == true { return nil }
            let timeout = definitionForContainer.startTimeout.map { Duration.seconds($0) } ?? configuration.containerStartTimeout
            if let unmet = await waitForDependencies(arn, container: definitionForContainer, timeout: timeout) { return unmet }
            if let failure = await createAndStart(arn, name: name, definition: definitionForContainer, override: overrideByName[name], context: context) {
                return failure
            }
        }
        return nil
    }

    private func definitionFor(_ arn: String) async -> (TaskDefinition, TaskOverride?)? {
        if let known = definitions[arn] { return known }
        guard let managed = state.tasks[arn] else { return nil }
        let reference = "\(managed.family):\(managed.revision)"
        guard let definition = try? await link.describeTaskDefinition(reference) else { return nil }
        definitions[arn] = (definition, nil)
        return (definition, nil)
    }

    /// Pulls per ECS_IMAGE_PULL_BEHAVIOR; returns a failure reason or nil.
    private func ensureImage(_ image: String) async -> String? {
        let cached = (try? await docker.inspectImage(image)) != nil
        switch configuration.imagePullBehavior {
        case .preferCached where cached, .once where cached:
            return nil
        default:
            break
        }
        do {
            try await docker.pullImage(image, registryAuth: registryAuth(for: image))
            return nil
        } catch {
            if configuration.imagePullBehavior == .default, cached {
                logger.info("pull failed; using the cached image", metadata: ["image": "\(image)", "error": "\(error)"])
                return nil
            }
            return "CannotPullContainerError: \(error)"
        }
    }

    /// `X-Registry-Auth` for the image's registry from ECS_ENGINE_AUTH_TYPE/DATA.
    func registryAuth(for image: String) -> String? {
        // ECS_ENGINE_AUTH_DATA: {"registry": {"username": …, "password": …} or {"auth": base64("user:password")}}.
        struct Entry: Decodable {
            var username: String?
            var password: String?
            var auth: String?
        }
        guard let data = configuration.engineAuthData.map({ Data($0.utf8) }),
            let entries = try? JSONDecoder().decode([String: Entry].self, from: data)
        else { return nil }
        let registry = image.split(separator: "/").first.map(String.init).flatMap { $0.contains(".") || $0.contains(":") ? $0 : nil }
            ?? "https://index.docker.io/v1/"
        guard let credentials = entries[registry] ?? entries["https://\(registry)"] ?? entries["http://\(registry)"] else { return nil }
        var auth: [String: String] = ["serveraddress": registry]
        if let user = credentials.username, let password = credentials.password {
            auth["username"] = user
            auth["password"] = password
        } else if let encoded = credentials.auth, let decoded = Data(base64Encoded: encoded),
            let pair = String(data: decoded, encoding: .utf8), let colon = pair.firstIndex(of: ":")
        {
            auth["username"] = String(pair[..<colon])
            auth["password"] = String(pair[pair.index(after: colon)...])
        }
        guard let json = try? JSONEncoder().encode(auth) else { return nil }
        return json.base64EncodedString()
    }

    private func prepareVolumes(_ arn: String, definition: TaskDefinition) async throws -> [String: ContainerSpec.VolumeSource] {
        var sources: [String: ContainerSpec.VolumeSource] = [:]
        let managed = state.tasks[arn]!
        for volume in definition.volumes ?? [] {
            guard let name = volume.name else { continue }
            if let path = volume.host?.sourcePath {
                sources[name] = .hostPath(path)
            } else if let docker = volume.dockerVolumeConfiguration, docker.scope == .shared {
                if (try? await self.docker.inspectVolume(name)) == nil {
                    guard docker.autoprovision == true else {
                        throw DockerError(.notFound, "shared volume \(name) does not exist and autoprovision is off")
                    }
                    _ = try await self.docker.createVolume(
                        name: name, driver: docker.driver ?? "local", options: docker.driverOpts ?? [:], labels: docker.labels ?? [:])
                }
                sources[name] = .dockerVolume(name)
            } else {
                let volumeName = "ecs-\(managed.family)-\(managed.revision)-\(name)-\(ARN(arn)?.lastPathComponent.prefix(12) ?? "")"
                let docker = volume.dockerVolumeConfiguration
                if (try? await self.docker.inspectVolume(volumeName)) == nil {
                    _ = try await self.docker.createVolume(
                        name: volumeName, driver: docker?.driver ?? "local", options: docker?.driverOpts ?? [:],
                        labels: (docker?.labels ?? [:]).merging([ContainerSpec.taskLabel: arn]) { a, _ in a })
                }
                update(arn) { if !$0.taskVolumes.contains(volumeName) { $0.taskVolumes.append(volumeName) } }
                sources[name] = .dockerVolume(volumeName)
            }
        }
        return sources
    }

    /// Host ports for bridge mappings without a static one; kept in the state (a restart keeps them).
    private func allocatePorts(_ arn: String, definition: TaskDefinition) -> [String: Int]? {
        var assigned = state.tasks[arn]?.dynamicPorts ?? [:]
        guard (definition.networkMode ?? .bridge) == .bridge else { return assigned }
        var taken = Set(state.tasks.values.flatMap { $0.dynamicPorts.values })
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
        update(arn) { $0.dynamicPorts = assigned }
        return assigned
    }

    /// Waits for dependsOn conditions and linked containers; returns a failure reason or nil.
    private func waitForDependencies(_ arn: String, container: ContainerDefinition, timeout: Duration) async -> String? {
        let deadline = ContinuousClock.now + timeout
        var conditions = (container.dependsOn ?? []).map { ($0.containerName, $0.condition) }
        for link in container.links ?? [] {
            let target = String(link.split(separator: ":").first ?? "")
            if !conditions.contains(where: { $0.0 == target }) { conditions.append((target, .start)) }
        }
        guard !conditions.isEmpty else { return nil }
        while true {
            guard let managed = state.tasks[arn] else { return "task forgotten" }
            if managed.desiredStopped { return nil }
            var waiting = false
            for (name, condition) in conditions {
                guard let dependency = managed.container(name) else { continue }
                switch condition {
                case .start:
                    if dependency.status == .notCreated || dependency.status == .created { waiting = true }
                case .complete:
                    if dependency.status != .stopped { waiting = true }
                case .success:
                    if dependency.status != .stopped {
                        waiting = true
                    } else if dependency.exitCode != 0 {
                        return "DependencyConditionFailed: container \(name) exited with code \(dependency.exitCode ?? -1); \(container.name ?? "") needs it to succeed"
                    }
                case .healthy:
                    if dependency.status == .stopped {
                        return "DependencyConditionFailed: container \(name) stopped before it became healthy"
                    }
                    if dependency.health != "healthy" { waiting = true }
                }
            }
            if !waiting { return nil }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero {
                return "DockerTimeoutError: container \(container.name ?? "") timed out after \(timeout) waiting for its dependencies (startTimeout)"
            }
            await waitForChange(arn, timeout: min(remaining, .seconds(1)))
            // Health shows up in events only on change; ask the engine too.
            await refreshHealth(arn, names: conditions.filter { $0.1 == .healthy }.map(\.0))
        }
    }

    private func refreshHealth(_ arn: String, names: [String]) async {
        for name in names {
            guard let id = state.tasks[arn]?.container(name)?.dockerId, let inspected = try? await docker.inspectContainer(id) else { continue }
            if let health = inspected.state.health?.status, state.tasks[arn]?.container(name)?.health != health {
                updateContainer(arn, name) { $0.health = health }
            }
        }
    }

    /// Creates (or adopts, after a restart) and starts one container; returns a failure reason or nil.
    private func createAndStart(
        _ arn: String,
        name: String,
        definition: ContainerDefinition,
        override: ContainerOverride?,
        context: ContainerSpec.Context
    ) async -> String? {
        guard let managed = state.tasks[arn]?.container(name) else { return "container \(name) unknown" }
        if managed.status == .running || managed.status == .stopped { return nil }
        var id = managed.dockerId
        if id == nil, let existing = try? await docker.inspectContainer(managed.dockerName) {
            id = existing.id  // created before a crash: adopt it
        }
        if id == nil {
            let config: ContainerConfig
            do {
                config = try ContainerSpec.build(definition, override: override, context: context)
            } catch {
                return "CannotCreateContainerError: \(error.message)"
            }
            do {
                id = try await docker.createContainer(name: managed.dockerName, config: config)
            } catch {
                return "CannotCreateContainerError: \(error)"
            }
        }
        let dockerId = id!
        updateContainer(arn, name) {
            $0.dockerId = dockerId
            $0.status = .created
        }
        do {
            try await docker.startContainer(dockerId)
        } catch {
            return "CannotStartContainerError: \(error)"
        }
        // A new container has used no CPU yet: its first statistics round already yields a sample.
        cpuSamples[dockerId] = (0, ContinuousClock.now)
        if let functions, state.tasks[arn]?.function != nil {
            // Docker keeps the output from the start, so following it now misses nothing.
            await functions.containerStarted(arn: arn, containerId: dockerId)
        }
        await refresh(arn, name: name)
        return nil
    }

    /// Reads a container's state from the engine into the task.
    func refresh(_ arn: String, name: String) async {
        guard let managed = state.tasks[arn]?.container(name) else { return }
        let inspected: ContainerInspect
        do {
            inspected = try await docker.inspectContainer(managed.dockerId ?? managed.dockerName)
        } catch let error as DockerError where error.kind == .notFound {
            if managed.status != .notCreated {
                updateContainer(arn, name) {
                    $0.status = .stopped
                    $0.reason = $0.reason ?? "ContainerVanishedError: the container no longer exists on this host"
                    $0.exitCode = $0.exitCode ?? 137
                }
            }
            return
        } catch {
            return
        }
        updateContainer(arn, name) { container in
            container.dockerId = inspected.id
            container.health = inspected.state.health?.status ?? container.health
            if inspected.state.running {
                container.status = .running
            } else if inspected.state.status == "created" {
                container.status = .created
            } else {
                container.status = .stopped
                container.exitCode = inspected.state.exitCode
                if inspected.state.oomKilled {
                    container.reason = "OutOfMemoryError: Container killed due to memory usage"
                } else if let error = inspected.state.error, !error.isEmpty {
                    container.reason = "DockerStateError: \(error)"
                }
            }
            var bindings: [ManagedContainer.PortBindingRecord] = []
            for (key, hosts) in inspected.networkSettings?.ports ?? [:] {
                let parts = key.split(separator: "/")
                guard let containerPort = Int(parts.first ?? ""), let hosts else { continue }
                for binding in hosts {
                    guard let hostPort = binding.hostPort.flatMap(Int.init) else { continue }
                    bindings.append(.init(containerPort: containerPort, hostPort: hostPort, proto: parts.count > 1 ? String(parts[1]) : "tcp", bindIP: binding.hostIp ?? ""))
                }
            }
            if !bindings.isEmpty { container.bindings = bindings.sorted { ($0.containerPort, $0.bindIP) < ($1.containerPort, $1.bindIP) } }
        }
    }

    // MARK: Stopping

    /// Stops every container in reverse start order, each with its stopTimeout, then reports STOPPED.
    func stop(_ arn: String) async {
        guard let managed = state.tasks[arn], managed.phase != .stopped, managed.phase != .stopping, !starting.contains(arn) else {
            return
        }
        update(arn) { $0.phase = .stopping }
        // Reverse dependency order: a container stops once nothing still running depends on it;
        // containers at the same level stop together.
        let prerequisites = await stopDependencies(arn)
        while true {
            guard let current = state.tasks[arn] else { return }
            let running = current.containers.filter { ($0.status == .running || $0.status == .created) && $0.dockerId != nil }
            if running.isEmpty { break }
            let ready = running.filter { candidate in
                !running.contains { other in other.name != candidate.name && (prerequisites[other.name] ?? []).contains(candidate.name) }
            }
            let level = ready.isEmpty ? running : ready
            await withTaskGroup(of: Void.self) { group in
                for container in level {
                    let docker = self.docker
                    let logger = self.logger
                    group.addTask {
                        guard let id = container.dockerId else { return }
                        do {
                            try await docker.stopContainer(id, timeout: container.stopTimeout)
                        } catch let error as DockerError where error.kind == .notFound {
                            // Already gone.
                        } catch {
                            logger.info("stop failed; killing", metadata: ["docker.container.id": "\(id)", "error": "\(error)"])
                            try? await docker.killContainer(id)
                        }
                    }
                }
            }
            for container in level {
                await refresh(arn, name: container.name)
                if state.tasks[arn]?.container(container.name)?.status != .stopped {
                    updateContainer(arn, container.name) { $0.status = .stopped }
                }
            }
        }
        // Containers never started count as stopped.
        for name in managed.startOrder where [.notCreated, .created].contains(state.tasks[arn]?.container(name)?.status) {
            updateContainer(arn, name) { $0.status = .stopped }
        }
        update(arn) {
            $0.phase = .stopped
            $0.stoppedAt = Date()
        }
        if let functions, let stopped = state.tasks[arn], stopped.function != nil {
            let container = stopped.containers.first
            await functions.environmentStopped(
                arn: arn, started: container?.dockerId != nil && container?.exitCode != nil, exitCode: container?.exitCode,
                outOfMemory: container?.reason?.hasPrefix("OutOfMemoryError") ?? false, reason: stopped.stopReason)
        }
        await report(arn)
    }

    /// Stops an execution environment the function host retires (timed out, failed to init).
    func stopEnvironment(_ arn: String, reason: String) async {
        guard let managed = state.tasks[arn], !managed.desiredStopped else { return }
        update(arn) {
            $0.desiredStopped = true
            $0.stopReason = $0.stopReason ?? String(reason.prefix(255))
        }
        workQueue.yield(.stop(arn))
    }

    /// What the engine knows of an environment before the function host prepares it.
    static func environmentPlaceholder(_ spec: FunctionEnvironmentSpec) -> TaskDefinition {
        TaskDefinition(
            containerDefinitions: [ContainerDefinition(name: "function", image: spec.image, memory: spec.memory, essential: true)],
            family: "lambda-\(spec.functionName)", revision: Int(spec.version) ?? 0)
    }

    /// Which containers each container waited for at start (dependsOn and links).
    private func stopDependencies(_ arn: String) async -> [String: [String]] {
        guard let (definition, _) = await definitionFor(arn) else { return [:] }
        var result: [String: [String]] = [:]
        for container in definition.containerDefinitions ?? [] {
            guard let name = container.name else { continue }
            result[name] = StartOrder.prerequisites(of: container)
        }
        return result
    }

    /// A container stopped on its own: an essential one ends the task, others are reported.
    func containerExited(_ arn: String, name: String) async {
        guard let managed = state.tasks[arn], let container = managed.container(name) else { return }
        if managed.phase == .stopping || managed.phase == .stopped { return }
        if container.essential {
            guard managed.phase == .running else { return }  // a start in progress handles it when done
            update(arn) {
                $0.desiredStopped = true
                $0.stopReason = $0.stopReason ?? "Essential container in task exited"
            }
            await stop(arn)
        } else if managed.phase == .running {
            await submitContainer(arn, container)
        }
    }

    // MARK: Events

    /// Follows the engine's container events; after an interruption (dockerd restarted) it
    /// re-reads every container, since events may have been missed.
    func watchEvents() async throws {
        var delay: Duration = .milliseconds(250)
        while !Task.isCancelled {
            do {
                let events = try await docker.events(labels: ["\(ContainerSpec.clusterLabel)=\(configuration.cluster)"])
                delay = .milliseconds(250)
                await resynchronize()
                for try await event in events {
                    await handleEvent(event)
                }
            } catch is CancellationError {
                return
            } catch {
                logger.info("Docker events interrupted; reconnecting", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: delay)
            delay = min(.seconds(10), delay * 2)
        }
    }

    private func handleEvent(_ event: EngineEvent) async {
        guard let labels = event.actor?.attributes, let arn = labels[ContainerSpec.taskLabel],
            let name = labels[ContainerSpec.containerLabel], state.tasks[arn] != nil
        else { return }
        switch event.action {
        case "die", "oom", "kill", "stop":
            await refresh(arn, name: name)
            notifyChange(arn)
            if state.tasks[arn]?.container(name)?.status == .stopped { await containerExited(arn, name: name) }
        case "start":
            await refresh(arn, name: name)
            notifyChange(arn)
        default:
            if event.action.hasPrefix("health_status") {
                let health = event.action.split(separator: ":").last.map { $0.trimmingWhitespace }
                updateContainer(arn, name) { $0.health = health }
                notifyChange(arn)
                if health == "unhealthy" || health == "healthy", state.tasks[arn]?.phase == .running { await report(arn) }
            }
        }
    }

    /// Re-reads every container of every live task and acts on what changed.
    func resynchronize() async {
        for (arn, managed) in state.tasks where managed.phase == .running || managed.phase == .pending {
            for container in managed.containers where container.status != .notCreated {
                await refresh(arn, name: container.name)
            }
            notifyChange(arn)
            guard let refreshed = state.tasks[arn] else { continue }
            if refreshed.phase == .running, let exited = refreshed.containers.first(where: { $0.status == .stopped && $0.essential }) {
                await containerExited(arn, name: exited.name)
            }
        }
    }

    // MARK: Restart

    /// After a restart: adopt the saved tasks' containers, remove containers of ours the state
    /// does not know, finish starts that were cut short, and report what changed meanwhile.
    private func reconcileAfterRestart() async {
        let known = Set(state.tasks.values.flatMap { $0.containers.map(\.dockerName) })
        if let instance = state.instanceArn,
            let ours = try? await docker.listContainers(labels: ["\(ContainerSpec.instanceLabel)=\(instance)"])
        {
            for container in ours where !container.names.contains(where: { known.contains(String($0.drop(while: { $0 == "/" }))) }) {
                logger.notice("removing orphaned container", metadata: ["docker.container.id": "\(container.id)"])
                try? await docker.removeContainer(container.id, force: true)
            }
        }
        for (arn, managed) in state.tasks {
            for container in managed.containers { await refresh(arn, name: container.name) }
            if managed.function != nil, managed.phase == .pending || managed.phase == .running {
                // An environment's Runtime API lived in the previous agent process: it cannot be resumed.
                update(arn) {
                    $0.phase = .running
                    $0.desiredStopped = true
                    $0.stopReason = "The agent restarted; execution environments do not survive that"
                }
                workQueue.yield(.stop(arn))
                continue
            }
            switch managed.phase {
            case .pending:
                workQueue.yield(.start(arn))
            case .running:
                if let refreshed = state.tasks[arn], refreshed.containers.contains(where: { $0.essential && $0.status == .stopped }) {
                    update(arn) {
                        $0.desiredStopped = true
                        $0.stopReason = $0.stopReason ?? "Essential container in task exited"
                    }
                    workQueue.yield(.stop(arn))
                } else if !managed.reportedRunning {
                    await report(arn)
                }
            case .stopping:
                update(arn) { $0.phase = .running }
                workQueue.yield(.stop(arn))
            case .stopped:
                if !managed.reportedStopped { await report(arn) }
            }
        }
    }

    // MARK: Cleanup

    func cleanUpPeriodically() async throws {
        let interval = min(Duration.seconds(30), max(Duration.seconds(1), configuration.taskCleanupWait / 4))
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            await cleanUp()
        }
    }

    /// Removes containers and task volumes of tasks stopped longer than the cleanup wait (once the
    /// control plane has their STOPPED).
    func cleanUp() async {
        let wait = Double(configuration.taskCleanupWait.components.seconds)
        for (arn, managed) in state.tasks where managed.phase == .stopped && managed.reportedStopped {
            // Execution environments leave nothing worth inspecting: they go after a minute.
            let keep = managed.function != nil ? min(wait, 60) : wait
            guard let stoppedAt = managed.stoppedAt, Date().timeIntervalSince(stoppedAt) >= keep else { continue }
            // Forget the task only once Docker confirmed every removal: an engine that is down
            // (restarting) must not make the agent lose track of containers.
            var removed = true
            for container in managed.containers {
                do {
                    try await docker.removeContainer(container.dockerId ?? container.dockerName, force: true)
                } catch {
                    removed = false
                }
            }
            guard removed else { continue }
            for volume in managed.taskVolumes { try? await docker.removeVolume(volume) }
            state.tasks[arn] = nil
            definitions[arn] = nil
            persist()
            logger.debug("cleaned up task", metadata: ["task.arn": "\(arn)"])
        }
    }

    // MARK: Reporting

    func report(_ arn: String) async {
        guard let managed = state.tasks[arn] else { return }
        let status: String
        switch managed.phase {
        case .running: status = "RUNNING"
        case .stopped: status = "STOPPED"
        default: return
        }
        let change = SubmitTaskStateChangeRequest(
            task: arn, status: status, reason: status == "STOPPED" ? managed.stopReason : nil,
            containers: managed.containers.map(containerChange),
            pullStartedAt: managed.pullStartedAt, pullStoppedAt: managed.pullStoppedAt,
            executionStoppedAt: status == "STOPPED" ? managed.stoppedAt : nil)
        let accepted = await submit(change)
        if accepted {
            update(arn) {
                if status == "RUNNING" { $0.reportedRunning = true } else { $0.reportedStopped = true }
            }
            if status == "STOPPED" { releasePorts(arn) }
        }
    }

    private func containerChange(_ container: ManagedContainer) -> ContainerStateChange {
        ContainerStateChange(
            containerName: container.name,
            runtimeId: container.dockerId,
            exitCode: container.status == .stopped ? container.exitCode : nil,
            networkBindings: container.bindings.map {
                NetworkBinding(bindIP: $0.bindIP, containerPort: $0.containerPort, hostPort: $0.hostPort, protocol: $0.proto == "udp" ? .udp : .tcp)
            },
            reason: container.reason,
            status: container.status == .running ? "RUNNING" : container.status == .stopped ? "STOPPED" : "PENDING")
    }

    private func submitContainer(_ arn: String, _ container: ManagedContainer) async {
        let change = SubmitContainerStateChangeRequest(
            task: arn, containerName: container.name, runtimeId: container.dockerId, status: "STOPPED",
            exitCode: container.exitCode, reason: container.reason)
        do {
            try await withRetries("SubmitContainerStateChange") { try await link.submit(change) }
        } catch {
            logger.info("container state change not accepted", metadata: ["task.arn": "\(arn)", "error": "\(error)"])
        }
    }

    @discardableResult
    func submit(_ change: SubmitTaskStateChangeRequest) async -> Bool {
        do {
            try await withRetries("SubmitTaskStateChange") { try await link.submit(change) }
            return true
        } catch {
            logger.warning("task state change not accepted", metadata: ["task.arn": "\(change.task ?? "")", "error": "\(error)"])
            return false
        }
    }

    private func releasePorts(_ arn: String) {
        update(arn) { $0.dynamicPorts = [:] }
    }

    // MARK: State

    func update(_ arn: String, _ change: (inout ManagedTask) -> Void) {
        guard var managed = state.tasks[arn] else { return }
        change(&managed)
        state.tasks[arn] = managed
        persist()
        notifyChange(arn)
    }

    func updateContainer(_ arn: String, _ name: String, _ change: (inout ManagedContainer) -> Void) {
        update(arn) { managed in
            guard let index = managed.containers.firstIndex(where: { $0.name == name }) else { return }
            change(&managed.containers[index])
        }
    }

    private func persist() {
        guard configuration.checkpoint else { return }
        do {
            try stateFile.save(state)
        } catch {
            logger.error("cannot save agent state", metadata: ["path": "\(stateFile.path)", "error": "\(error)"])
        }
    }

    private func notifyChange(_ arn: String) {
        let ready = waiters.removeValue(forKey: arn) ?? []
        for waiter in ready { waiter.resume() }
    }

    private func waitForChange(_ arn: String, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.registerWaiter(arn) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
            self.notifyChange(arn)
        }
    }

    private func registerWaiter(_ arn: String) async {
        await withCheckedContinuation { waiters[arn, default: []].append($0) }
    }

    // MARK: Statistics

    func sampleStatistics() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: configuration.statsInterval)
            let samples = await collectSamples()
            guard !samples.isEmpty, let instance = state.instanceArn else { continue }
            try? await link.publishMetrics(AgentMetricsReport(containerInstanceArn: instance, samples: samples))
        }
    }

    /// CPU units used (between two samples) and memory in use, per running task.
    func collectSamples() async -> [TaskUsageSample] {
        var samples: [TaskUsageSample] = []
        // One request per container, all at once: a round takes one Docker answer, not one per container.
        let ids = state.tasks.values.filter { $0.phase == .running }
            .flatMap { $0.containers.filter { $0.status == .running }.compactMap(\.dockerId) }
        let docker = self.docker
        let fetched = await withTaskGroup(of: (String, ContainerStats?).self) { group in
            for id in ids { group.addTask { (id, try? await docker.stats(id)) } }
            var all: [String: ContainerStats] = [:]
            for await (id, stats) in group { all[id] = stats }
            return all
        }
        let now = ContinuousClock.now
        for (arn, managed) in state.tasks where managed.phase == .running {
            var cpuUnits = 0.0
            var memory = 0.0
            var complete = true
            for container in managed.containers where container.status == .running {
                guard let id = container.dockerId, let stats = fetched[id] else { continue }
                let usage = stats.cpuStats?.cpuUsage?.totalUsage ?? 0
                if let previous = cpuSamples[id] {
                    let elapsed = now - previous.at
                    let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
                    if nanoseconds > 0, usage >= previous.usage {
                        cpuUnits += Double(usage - previous.usage) / nanoseconds * 1024
                    }
                } else {
                    complete = false
                }
                cpuSamples[id] = (usage, now)
                let cache = stats.memoryStats?.stats?["inactive_file"] ?? stats.memoryStats?.stats?["cache"] ?? 0
                let used = (stats.memoryStats?.usage ?? 0) > cache ? (stats.memoryStats?.usage ?? 0) - cache : 0
                memory += Double(used) / 1_048_576
            }
            guard complete else { continue }
            samples.append(TaskUsageSample(taskArn: arn, cpuUnits: cpuUnits, memoryMiB: memory, at: Date()))
        }
        return samples
    }
}

// MARK: Logs

extension DockerTaskEngine {
    /// Sends a task's container logs to the control plane in batches (every 100 ms) until the
    /// containers' output ends (or, with follow, until nobody listens any more).
    func relayLogs(_ request: LogRequest) async {
        let link = self.link
        guard let managed = state.tasks[request.taskArn] else {
            let text = "task \(request.taskArn) is not on this host any more (its containers were cleaned up)\n"
            _ = try? await link.postLogs(id: request.id, bytes: Array(text.utf8), done: true)
            return
        }
        let containers = managed.containers.filter { request.container == nil || $0.name == request.container }
        let prefix = containers.count > 1
        let buffer = LogBuffer()
        let docker = self.docker
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskGroup(of: Void.self) { readers in
                    for container in containers {
                        readers.addTask {
                            do {
                                let frames = try await docker.logs(
                                    container.dockerId ?? container.dockerName, follow: request.follow, tail: request.tail)
                                for try await frame in frames {
                                    buffer.append(prefix ? Array("\(container.name) | ".utf8) + frame.bytes : frame.bytes)
                                    if buffer.closed { return }
                                }
                            } catch {
                                buffer.append(Array("[\(container.name): \(error)]\n".utf8))
                            }
                        }
                    }
                }
                buffer.finish()
            }
            group.addTask {
                var lastPost = ContinuousClock.now
                while true {
                    let (bytes, done) = buffer.drain()
                    // An empty post now and then finds out whether anyone still listens.
                    if !bytes.isEmpty || done || ContinuousClock.now - lastPost > .seconds(5) {
                        lastPost = ContinuousClock.now
                        let listening = (try? await link.postLogs(id: request.id, bytes: bytes, done: done)) ?? false
                        if !listening { buffer.close() }
                        if done || !listening { return }
                    }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            await group.next()
            if buffer.closed { group.cancelAll() }
        }
    }
}

import Synchronization

/// Log bytes waiting to be posted.
final class LogBuffer: Sendable {
    private let state = Mutex<(bytes: [UInt8], finished: Bool, closed: Bool)>(([], false, false))

    func append(_ bytes: [UInt8]) { state.withLock { $0.bytes += bytes } }
    func finish() { state.withLock { $0.finished = true } }
    func close() { state.withLock { $0.closed = true } }
    var closed: Bool { state.withLock { $0.closed } }

    /// Takes what is buffered, and whether the reading is over.
    func drain() -> ([UInt8], Bool) {
        state.withLock { state in
            defer { state.bytes = [] }
            return (state.bytes, state.finished)
        }
    }
}
