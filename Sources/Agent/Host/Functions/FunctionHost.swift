import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import CoreMetrics
import Archives
import AWSProtocols
import CurlHTTP
import DockerClient
import ECSShapes
import Logging
import NIOCore
import StevedoreClient
import StevedoreCore
import Synchronization

/// The agent's function side: prepares execution environments (code and layers unpacked from
/// `ecsd`'s content-addressed store and cached here, the runtime image, a Runtime API listener),
/// carries invocations from the control plane to environments and results back.
///
/// The hot path avoids the actor: invocations from a poll go straight to their environment's
/// event loop through ``EnvironmentTable``, and results leave through ``ResultOutbox``, which a
/// single sender drains in batches.
public actor FunctionHost {
    let link: ControlPlaneLink
    let docker: any DockerEngine
    let directory: String
    let logger: Logger
    private var server: RuntimeAPIServer?
    nonisolated let table = EnvironmentTable()
    nonisolated let outbox = ResultOutbox()
    private var codeTasks: [String: Task<String, any Error>] = [:]
    private var imageTasks: [String: Task<Void, any Error>] = [:]
    private var followers: [String: Task<Void, Never>] = [:]
    /// The instance the agent is registered as; it changes when the agent registers as a new one.
    nonisolated let instance = Mutex<String>("")
    /// Stops an environment's task (set by the task engine).
    private var stopTask: (@Sendable (String, String) async -> Void)?

    public init(link: ControlPlaneLink, docker: any DockerEngine, dataDirectory: String, logger: Logger) {
        self.link = link
        self.docker = docker
        // Absolute: the directories are bind-mounted into containers.
        directory = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path + "/functions"
        self.logger = logger
    }

    func setStopTask(_ stop: @escaping @Sendable (String, String) async -> Void) {
        stopTask = stop
    }

    // MARK: The invocation channel

    /// Serves invocations for this instance until cancelled: a long poll, and a sender of results.
    public func run(instanceArn: String) async {
        instance.withLock { if $0.isEmpty { $0 = instanceArn } }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.pollLoop() }
            group.addTask { await self.sendLoop() }
            group.addTask { await self.expireHeldLoop() }
            await group.waitForAll()
        }
    }

    /// The agent registered (again, possibly as a new instance): polls and results name it from now on.
    public nonisolated func attach(instanceArn: String) {
        instance.withLock { $0 = instanceArn }
    }

    private nonisolated func pollLoop() async {
        var delay: Duration = .milliseconds(250)
        while !Task.isCancelled {
            do {
                let batch = try await link.pollInvocations(instance: instance.withLock { $0 }, waitMilliseconds: 20_000)
                if !batch.isEmpty { Counter(label: "ecs_agent_invocation_batches_total").increment() }
                table.dispatch(batch, outbox: outbox)
                delay = .milliseconds(250)
            } catch {
                if Task.isCancelled { return }
                logger.info("invocation channel interrupted; reconnecting", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: delay)
                delay = min(.seconds(10), delay * 2)
            }
        }
    }

    private nonisolated func sendLoop() async {
        for await _ in outbox.signals {
            while true {
                let (results, retired) = outbox.drain()
                if results.isEmpty && retired.isEmpty { break }
                var delay: Duration = .milliseconds(100)
                while !Task.isCancelled {
                    do {
                        let more = try await link.postResults(
                            InvocationResultsRequest(containerInstanceArn: instance.withLock { $0 }, results: results, retiredEnvironments: retired.isEmpty ? nil : retired))
                        table.dispatch(more, outbox: outbox)
                        break
                    } catch {
                        logger.info("could not report invocation results; retrying", metadata: ["error": "\(error)"])
                        try? await Task.sleep(for: delay)
                        delay = min(.seconds(5), delay * 2)
                    }
                }
            }
            if Task.isCancelled { return }
        }
    }

    /// Invocations for environments that never came (their start failed before registering).
    private nonisolated func expireHeldLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(5))
            for invocation in table.expireHeld(olderThan: .seconds(150)) {
                outbox.push(
                    InvocationResult(
                        id: invocation.id, environment: invocation.environment, status: .environmentFailure,
                        payload: RuntimeEnvironment.errorJSON("ServiceException", "The execution environment never started."), errorType: "ServiceException",
                        retired: true))
            }
        }
    }

    // MARK: Environments

    /// Makes everything the environment needs and returns the task definition its container runs from.
    func prepare(arn: String, spec: FunctionEnvironmentSpec) async throws -> TaskDefinition {
        do {
            try await ensureImage(spec)
            var code: String?
            if let hash = spec.codeHash { code = try await codeDirectory(hash) }
            let opt = spec.layerHashes.isEmpty ? nil : try await layerDirectory(spec.layerHashes)
            let server = self.server ?? RuntimeAPIServer()
            self.server = server
            let outbox = self.outbox
            let environment = RuntimeEnvironment(
                arn: arn, spec: spec, loop: server.loop, sink: { outbox.push($0) },
                retire: { [weak self] reason in
                    Task { await self?.retire(arn, reason: reason) }
                })
            var command: [String]?
            var entryPoint: [String]?
            var workingDirectory: String?
            switch spec.kind {
            case .provided:
                if let code, FileManager.default.isExecutableFile(atPath: code + "/bootstrap") {
                    command = ["/var/task/bootstrap"]
                } else if let opt, FileManager.default.isExecutableFile(atPath: opt + "/bootstrap") {
                    command = ["/opt/bootstrap"]
                } else {
                    // Lambda's answer for a custom runtime without a bootstrap.
                    _ = environment.loop.submit {
                        _ = environment.initFailed(
                            headerType: "Runtime.InvalidEntrypoint",
                            body: RuntimeEnvironment.errorJSON("Runtime.InvalidEntrypoint", "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"),
                            retiring: false)
                    }
                    command = ["/bin/sh", "-c", "sleep 3600"]
                }
            case .python:
                entryPoint = ["/usr/bin/python3", "-m", "awslambdaric"]
                command = [spec.handler ?? "lambda_function.lambda_handler"]
                workingDirectory = "/var/task"
            case .image:
                entryPoint = spec.entryPoint
                command = spec.command
                workingDirectory = spec.workingDirectory
            }
            let channel = try await server.listen(for: environment)
            let port = channel.localAddress?.port ?? 0
            table.register(arn, environment: environment, channel: channel)
            let date = Date().formatted(.iso8601.year().month().day())
                .replacing("-", with: "/")
            var variables = spec.environment
            variables["AWS_LAMBDA_RUNTIME_API"] = "127.0.0.1:\(port)"
            variables["AWS_LAMBDA_LOG_STREAM_NAME"] = "\(date)/[\(spec.version)]\(ARN(arn)?.lastPathComponent ?? arn)"
            return Self.definition(
                spec, command: command, entryPoint: entryPoint, workingDirectory: workingDirectory, variables: variables, code: code, opt: opt)
        } catch {
            table.startFailed(arn, reason: "\(error)", outbox: outbox)
            throw error
        }
    }

    /// The container started: follow its output into the environment's log, find its cgroup.
    func containerStarted(arn: String, containerId: String) async {
        guard let environment = table.environment(arn) else { return }
        let docker = self.docker
        if let inspected = try? await docker.inspectContainer(containerId), let pid = inspected.state.pid, pid > 0,
            let probe = Self.memoryProbe(pid: pid)
        {
            _ = environment.loop.submit { environment.memoryProbe = probe }
        }
        followers[arn] = Task {
            guard let stream = try? await docker.logStream(containerId, follow: true, tail: nil) else { return }
            do {
                for try await frame in stream {
                    environment.loop.execute { environment.appendOutput(frame.bytes) }
                }
            } catch {}
        }
    }

    /// The environment's task stopped: fail what it held, close its listener, tell the control plane.
    func environmentStopped(arn: String, started: Bool, exitCode: Int?, outOfMemory: Bool, reason: String?) async {
        followers.removeValue(forKey: arn)?.cancel()
        guard let (environment, channel) = table.remove(arn) else {
            outbox.retire(arn)
            return
        }
        if started {
            try? await environment.loop.submit { environment.containerStopped(exitCode: exitCode, outOfMemory: outOfMemory) }.get()
        } else {
            let why = reason ?? "its container did not start"
            try? await environment.loop.submit { environment.startFailed(why) }.get()
        }
        try? await channel.close()
        outbox.retire(arn)
    }

    private func retire(_ arn: String, reason: String) async {
        logger.info("retiring execution environment", metadata: ["task.arn": "\(arn)", "reason": "\(reason)"])
        await stopTask?(arn, reason)
    }

    // MARK: Code, layers, images

    /// `<functions>/code/<hash>`: the zip fetched from `ecsd`, checked against its hash, unpacked once.
    private func codeDirectory(_ hash: String) async throws -> String {
        let target = "\(directory)/code/\(hash)"
        if FileManager.default.fileExists(atPath: target + "/.complete") { return target }
        if let running = codeTasks[hash] { return try await running.value }
        let link = self.link
        let task = Task<String, any Error> {
            let zip = try await link.fetchCode(hash)
            guard Digest.hex(Digest.sha256(zip)) == hash else {
                throw ZipExtractor.Failure(description: "the code fetched for \(hash) does not match its hash")
            }
            try? FileManager.default.removeItem(atPath: target)
            try ZipExtractor.extract(zip, into: target)
            _ = FileManager.default.createFile(atPath: target + "/.complete", contents: nil)
            return target
        }
        codeTasks[hash] = task
        defer { codeTasks[hash] = nil }
        return try await task.value
    }

    /// `<functions>/opt/<hash of the list>`: the layers unpacked in order, later ones over earlier ones.
    private func layerDirectory(_ hashes: [String]) async throws -> String {
        let key = Digest.hex(Digest.sha256(Array(hashes.joined(separator: ",").utf8)))
        let target = "\(directory)/opt/\(key)"
        if FileManager.default.fileExists(atPath: target + "/.complete") { return target }
        try? FileManager.default.removeItem(atPath: target)
        for hash in hashes {
            let zip = try await link.fetchCode(hash)
            guard Digest.hex(Digest.sha256(zip)) == hash else {
                throw ZipExtractor.Failure(description: "the layer fetched for \(hash) does not match its hash")
            }
            try ZipExtractor.extract(zip, into: target)
        }
        _ = FileManager.default.createFile(atPath: target + "/.complete", contents: nil)
        return target
    }

    private func ensureImage(_ spec: FunctionEnvironmentSpec) async throws {
        if (try? await docker.inspectImage(spec.image)) != nil { return }
        if let running = imageTasks[spec.image] { return try await running.value }
        let docker = self.docker
        let logger = self.logger
        let task = Task<Void, any Error> {
            switch spec.kind {
            case .provided where spec.image == RuntimeImages.provided:
                logger.notice("building the provided runtime image", metadata: ["image": "\(spec.image)"])
                try await ProvidedRuntimeImage.build(reference: spec.image, docker: docker)
            case .python where spec.image == RuntimeImages.python:
                throw ProvidedRuntimeImage.ImageError(
                    description: "the Python runtime image \(spec.image) is not on this host; build it with scripts/build-python-runtime.sh")
            default:
                try await docker.pullImage(spec.image, registryAuth: nil)
            }
        }
        imageTasks[spec.image] = task
        defer { imageTasks[spec.image] = nil }
        try await task.value
    }

    // MARK: Helpers

    /// Reads the peak memory of the process's cgroup (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`).
    static func memoryProbe(pid: Int) -> (@Sendable () -> Int?)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return nil }
        var path: String?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if parts[1].split(separator: ",").contains("memory") {
                path = "/sys/fs/cgroup/memory\(parts[2])/memory.max_usage_in_bytes"
                break
            }
            if parts[0] == "0", parts[1].isEmpty { path = "/sys/fs/cgroup\(parts[2])/memory.peak" }
        }
        guard let file = path, FileManager.default.fileExists(atPath: file) else { return nil }
        return {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8),
                let bytes = Int(text.trimmingWhitespace)
            else { return nil }
            return (bytes + 1_048_575) / 1_048_576
        }
    }

    /// The task definition an environment's container runs from.
    static func definition(
        _ spec: FunctionEnvironmentSpec, command: [String]?, entryPoint: [String]?, workingDirectory: String?,
        variables: [String: String], code: String?, opt: String?
    ) -> TaskDefinition {
        var volumes: [Volume] = []
        var mounts: [MountPoint] = []
        if let code {
            volumes.append(Volume(name: "task", host: HostVolumeProperties(sourcePath: code)))
            mounts.append(MountPoint(sourceVolume: "task", containerPath: "/var/task", readOnly: true))
        }
        if let opt {
            volumes.append(Volume(name: "opt", host: HostVolumeProperties(sourcePath: opt)))
            mounts.append(MountPoint(sourceVolume: "opt", containerPath: "/opt", readOnly: true))
        }
        var container = ContainerDefinition(
            name: FunctionEnvironmentSpec.containerName, image: spec.image, cpu: FunctionEnvironmentSpec.cpuUnits(memory: spec.memory), memory: spec.memory,
            essential: true)
        container.command = command
        container.entryPoint = entryPoint
        container.workingDirectory = workingDirectory
        container.user = "993:993"
        container.readonlyRootFilesystem = true
        container.privileged = false
        container.environment = variables.keys.sorted().map { KeyValuePair(name: $0, value: variables[$0]) }
        container.mountPoints = mounts
        container.stopTimeout = 1
        container.dockerSecurityOptions = ["no-new-privileges"]
        container.ulimits = [Ulimit(name: .nofile, softLimit: 1024, hardLimit: 1024)]
        container.linuxParameters = LinuxParameters(
            capabilities: KernelCapabilities(drop: ["ALL"]),
            tmpfs: [Tmpfs(containerPath: "/tmp", size: spec.ephemeralStorage, mountOptions: ["rw", "nosuid", "nodev", "mode=1777"])],
            maxSwap: 0)
        return TaskDefinition(
            containerDefinitions: [container], family: "lambda-\(spec.functionName)", networkMode: .host,
            revision: Int(spec.version) ?? 0, volumes: volumes)
    }
}

/// Environments by task ARN, and invocations that arrived before their environment did.
final class EnvironmentTable: Sendable {
    private struct Entry {
        var environment: RuntimeEnvironment
        var channel: any Channel
    }

    private struct Tables {
        var entries: [String: Entry] = [:]
        var held: [String: [(invocation: AgentInvocation, at: ContinuousClock.Instant)]] = [:]
        var failed: [String: String] = [:]
    }

    private let tables = Mutex(Tables())

    func dispatch(_ invocations: [AgentInvocation], outbox: ResultOutbox) {
        for invocation in invocations {
            let target: RuntimeEnvironment? = tables.withLock { tables in
                if let entry = tables.entries[invocation.environment] { return entry.environment }
                if let reason = tables.failed[invocation.environment] {
                    outbox.push(
                        InvocationResult(
                            id: invocation.id, environment: invocation.environment, status: .environmentFailure,
                            payload: RuntimeEnvironment.errorJSON("ServiceException", "The execution environment could not start: \(reason)"),
                            errorType: "ServiceException", retired: true))
                    return nil
                }
                tables.held[invocation.environment, default: []].append((invocation, .now))
                return nil
            }
            if let target { target.loop.execute { target.deliver(invocation) } }
        }
    }

    func register(_ arn: String, environment: RuntimeEnvironment, channel: any Channel) {
        let held = tables.withLock { tables in
            tables.entries[arn] = Entry(environment: environment, channel: channel)
            return tables.held.removeValue(forKey: arn) ?? []
        }
        for item in held { environment.loop.execute { environment.deliver(item.invocation) } }
    }

    func startFailed(_ arn: String, reason: String, outbox: ResultOutbox) {
        let held = tables.withLock { tables in
            tables.failed[arn] = reason
            return tables.held.removeValue(forKey: arn) ?? []
        }
        for item in held {
            outbox.push(
                InvocationResult(
                    id: item.invocation.id, environment: arn, status: .environmentFailure,
                    payload: RuntimeEnvironment.errorJSON("ServiceException", "The execution environment could not start: \(reason)"),
                    errorType: "ServiceException", retired: true))
        }
    }

    func environment(_ arn: String) -> RuntimeEnvironment? {
        tables.withLock { $0.entries[arn]?.environment }
    }

    func remove(_ arn: String) -> (RuntimeEnvironment, any Channel)? {
        tables.withLock { tables in
            tables.held[arn] = nil
            return tables.entries.removeValue(forKey: arn).map { ($0.environment, $0.channel) }
        }
    }

    func expireHeld(olderThan age: Duration) -> [AgentInvocation] {
        tables.withLock { tables in
            var expired: [AgentInvocation] = []
            let now = ContinuousClock.now
            for (arn, items) in tables.held {
                let (old, young) = (items.filter { now - $0.at > age }, items.filter { now - $0.at <= age })
                expired += old.map(\.invocation)
                tables.held[arn] = young.isEmpty ? nil : young
            }
            if tables.failed.count > 1000 { tables.failed.removeAll() }
            return expired
        }
    }
}

/// Results waiting to be reported, and a wake-up for their sender.
final class ResultOutbox: Sendable {
    private let pending = Mutex<(results: [InvocationResult], retired: [String])>(([], []))
    let signals: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation

    init() {
        (signals, signal) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func push(_ result: InvocationResult) {
        pending.withLock { $0.results.append(result) }
        signal.yield()
    }

    func retire(_ arn: String) {
        pending.withLock { $0.retired.append(arn) }
        signal.yield()
    }

    func drain() -> ([InvocationResult], [String]) {
        pending.withLock { pending in
            defer { pending = ([], []) }
            return pending
        }
    }
}
