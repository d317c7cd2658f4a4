import AgentProtocol
import DockerClient
import Foundation
import Synchronization

/// A Docker engine in memory, for unit tests of what drives one: images, containers with their
/// configuration and state, volumes, and an event stream. Tests make containers exit, run out of
/// memory or turn healthy, make calls fail, and restart the engine (event streams end; what ran
/// is gone or still there, as the test says).
public final class FakeDockerEngine: DockerEngine {
    public struct Container: Sendable {
        public var id: String
        public var name: String
        public var config: ContainerConfig
        /// created, running, exited
        public var status: String = "created"
        public var exitCode = 0
        public var oomKilled = false
        public var health: String?
        public var labels: [String: String] { config.labels ?? [:] }
    }

    /// Calls that can be made to fail.
    public enum Operation: String, Sendable {
        case pull, create, start, stop, inspect, remove, events
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    private struct State {
        var images: Set<String> = []
        var pullable: Set<String>?
        var containers: [String: Container] = [:]
        var volumes: [String: VolumeInfo] = [:]
        var streams: [UUID: AsyncThrowingStream<EngineEvent, any Error>.Continuation] = [:]
        var failures: [Operation: Int] = [:]
        var calls: [String] = []
        var nextId = 0
        var unavailable = false
        var output: [String: [LogFrame]] = [:]
    }

    private let state = Mutex(State())

    public init(images: Set<String> = []) {
        state.withLock { $0.images = images }
    }

    public var engineVersion: String { "fake" }

    // MARK: What tests control and read

    /// Every call, in order (`create ecs-web-1-app-…`, `start <id>`, …).
    public var calls: [String] { state.withLock { $0.calls } }

    public var containers: [Container] { state.withLock { Array($0.containers.values).sorted { $0.id < $1.id } } }

    public var volumeNames: [String] { state.withLock { $0.volumes.keys.sorted() } }

    /// What a container's timestamped log stream serves (then ends).
    public func setOutput(_ id: String, _ frames: [LogFrame]) {
        state.withLock { $0.output[id] = frames }
    }

    public func container(named name: String) -> Container? { state.withLock { $0.containers.values.first { $0.name == name } } }

    /// Only these images can be pulled (nil: any).
    public func allowPulls(of images: Set<String>?) { state.withLock { $0.pullable = images } }

    /// The next `count` calls of that operation fail.
    public func failNext(_ operation: Operation, count: Int = 1) { state.withLock { $0.failures[operation, default: 0] += count } }

    /// A container's process ends (an event says so).
    public func exit(_ name: String, code: Int, oom: Bool = false) {
        let event = state.withLock { state -> EngineEvent? in
            guard let id = state.containers.values.first(where: { $0.name == name })?.id else { return nil }
            state.containers[id]?.status = "exited"
            state.containers[id]?.exitCode = code
            state.containers[id]?.oomKilled = oom
            return Self.event(oom ? "oom" : "die", state.containers[id]!)
        }
        if let event { publish(event) }
    }

    /// A container's health check result changes (an event says so).
    public func setHealth(_ name: String, _ health: String) {
        let event = state.withLock { state -> EngineEvent? in
            guard let id = state.containers.values.first(where: { $0.name == name })?.id else { return nil }
            state.containers[id]?.health = health
            return Self.event("health_status: \(health)", state.containers[id]!)
        }
        if let event { publish(event) }
    }

    /// dockerd restarts: event streams end with an error; with `keepContainers` false, every
    /// container is gone (as after a host reboot), else running ones exited (as without
    /// live-restore).
    public func restart(keepContainers: Bool) {
        let streams = state.withLock { state -> [AsyncThrowingStream<EngineEvent, any Error>.Continuation] in
            if keepContainers {
                for id in state.containers.keys where state.containers[id]?.status == "running" {
                    state.containers[id]?.status = "exited"
                    state.containers[id]?.exitCode = 255
                }
            } else {
                state.containers = [:]
            }
            defer { state.streams = [:] }
            return Array(state.streams.values)
        }
        for stream in streams { stream.finish(throwing: Failure(description: "the engine restarted")) }
    }

    /// The engine does not answer at all (calls fail as if it were down).
    public func setUnavailable(_ unavailable: Bool) { state.withLock { $0.unavailable = unavailable } }

    // MARK: DockerEngine

    public func inspectImage(_ name: String) async throws -> ImageInspect {
        try record("inspect-image \(name)", .inspect)
        guard state.withLock({ $0.images.contains(name) }) else { throw DockerError(.notFound, "No such image: \(name)") }
        return try Self.decode(ImageInspect.self, ["Id": "sha256:\(name)"])
    }

    public func pullImage(_ image: String, registryAuth: String?) async throws {
        try record("pull \(image)", .pull)
        try state.withLock { state in
            if let pullable = state.pullable, !pullable.contains(image) {
                throw DockerError(.notFound, "pull access denied for \(image), repository does not exist")
            }
            state.images.insert(image)
        }
    }

    public func importImage(tar: [UInt8], reference: String, changes: [String]) async throws {
        try record("import \(reference)", .pull)
        _ = state.withLock { $0.images.insert(reference) }
    }

    public func createContainer(name: String, config: ContainerConfig) async throws -> String {
        try record("create \(name)", .create)
        return try state.withLock { state in
            guard !state.containers.values.contains(where: { $0.name == name }) else {
                throw DockerError(.conflict, "Conflict. The container name \"/\(name)\" is already in use")
            }
            guard state.images.contains(config.image) else { throw DockerError(.notFound, "No such image: \(config.image)") }
            state.nextId += 1
            let id = String(format: "%064d", state.nextId)
            state.containers[id] = Container(id: id, name: name, config: config)
            return id
        }
    }

    public func startContainer(_ id: String) async throws {
        try record("start \(id)", .start)
        let event = try state.withLock { state -> EngineEvent in
            guard state.containers[id] != nil else { throw DockerError(.notFound, "No such container: \(id)") }
            state.containers[id]?.status = "running"
            return Self.event("start", state.containers[id]!)
        }
        publish(event)
    }

    public func stopContainer(_ id: String, timeout: Int) async throws {
        try record("stop \(id) \(timeout)", .stop)
        let event = try state.withLock { state -> EngineEvent? in
            guard let container = state.containers[id] else { throw DockerError(.notFound, "No such container: \(id)") }
            guard container.status == "running" else { return nil }
            state.containers[id]?.status = "exited"
            state.containers[id]?.exitCode = 143
            return Self.event("die", state.containers[id]!)
        }
        if let event { publish(event) }
    }

    public func killContainer(_ id: String, signal: String) async throws {
        try record("kill \(id)", .stop)
        let event = state.withLock { state -> EngineEvent? in
            guard state.containers[id]?.status == "running" else { return nil }
            state.containers[id]?.status = "exited"
            state.containers[id]?.exitCode = 137
            return Self.event("die", state.containers[id]!)
        }
        if let event { publish(event) }
    }

    public func removeContainer(_ id: String, force: Bool) async throws {
        try record("remove \(id)", .remove)
        try state.withLock { state in
            let key = state.containers[id] != nil ? id : state.containers.values.first { $0.name == id }?.id
            guard let key else { throw DockerError(.notFound, "No such container: \(id)") }
            state.containers[key] = nil
        }
    }

    public func inspectContainer(_ idOrName: String) async throws -> ContainerInspect {
        try record("inspect \(idOrName)", .inspect)
        guard let container = state.withLock({ state in state.containers[idOrName] ?? state.containers.values.first { $0.name == idOrName } })
        else { throw DockerError(.notFound, "No such container: \(idOrName)") }
        var stateJSON: [String: Any] = [
            "Status": container.status, "Running": container.status == "running", "OOMKilled": container.oomKilled,
            "ExitCode": container.exitCode, "Pid": container.status == "running" ? 4242 : 0,
        ]
        if let health = container.health { stateJSON["Health"] = ["Status": health] }
        var ports: [String: Any] = [:]
        for (key, bindings) in container.config.hostConfig.portBindings ?? [:] {
            ports[key] = bindings.map { ["HostIp": $0.hostIp ?? "", "HostPort": $0.hostPort ?? ""] }
        }
        return try Self.decode(
            ContainerInspect.self,
            [
                "Id": container.id, "Name": "/" + container.name, "State": stateJSON, "Config": ["Labels": container.labels],
                "NetworkSettings": ["Ports": ports],
            ])
    }

    public func listContainers(labels: [String], all: Bool) async throws -> [ContainerSummary] {
        try record("list \(labels.joined(separator: ","))", .inspect)
        let matching = state.withLock { state in
            state.containers.values.filter { container in
                labels.allSatisfy { label in
                    let parts = label.split(separator: "=", maxSplits: 1).map(String.init)
                    return container.labels[parts[0]] == (parts.count > 1 ? parts[1] : container.labels[parts[0]])
                }
            }
        }
        return try matching.map {
            try Self.decode(ContainerSummary.self, ["Id": $0.id, "Names": ["/" + $0.name], "Image": $0.config.image, "State": $0.status])
        }
    }

    public func stats(_ id: String) async throws -> ContainerStats {
        try Self.decode(ContainerStats.self, ["cpu_stats": ["cpu_usage": ["total_usage": 0]], "memory_stats": ["usage": 0]])
    }

    public func logStream(_ id: String, follow: Bool, tail: Int?) async throws -> AsyncThrowingStream<LogFrame, any Error> {
        AsyncThrowingStream { $0.finish() }
    }

    public func timestampedLogStream(_ id: String, since: Double?) async throws -> AsyncThrowingStream<LogFrame, any Error> {
        let frames = state.withLock { $0.output[id] ?? [] }
        return AsyncThrowingStream { continuation in
            for frame in frames { continuation.yield(frame) }
            continuation.finish()
        }
    }

    public func createVolume(name: String, driver: String, options: [String: String], labels: [String: String]) async throws -> VolumeInfo {
        try record("create-volume \(name)", .create)
        let volume = try Self.decode(VolumeInfo.self, ["Name": name, "Driver": driver, "Labels": labels, "Options": options])
        state.withLock { $0.volumes[name] = volume }
        return volume
    }

    public func inspectVolume(_ name: String) async throws -> VolumeInfo {
        guard let volume = state.withLock({ $0.volumes[name] }) else { throw DockerError(.notFound, "no such volume: \(name)") }
        return volume
    }

    public func removeVolume(_ name: String) async throws {
        try record("remove-volume \(name)", .remove)
        _ = state.withLock { $0.volumes.removeValue(forKey: name) }
    }

    public func eventStream(labels: [String]) async throws -> AsyncThrowingStream<EngineEvent, any Error> {
        try record("events", .events)
        let (stream, continuation) = AsyncThrowingStream<EngineEvent, any Error>.makeStream()
        let id = UUID()
        continuation.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.streams.removeValue(forKey: id) } }
        state.withLock { $0.streams[id] = continuation }
        return stream
    }

    // MARK: Helpers

    private func record(_ call: String, _ operation: Operation) throws {
        try state.withLock { state in
            state.calls.append(call)
            if state.unavailable { throw Failure(description: "Cannot connect to the Docker daemon") }
            if let count = state.failures[operation], count > 0 {
                state.failures[operation] = count - 1
                throw DockerError(.server, "\(operation.rawValue) failed (a test said so)")
            }
        }
    }

    private func publish(_ event: EngineEvent) {
        for stream in state.withLock({ Array($0.streams.values) }) { stream.yield(event) }
    }

    private static func event(_ action: String, _ container: Container) -> EngineEvent {
        var attributes = container.labels
        attributes["name"] = container.name
        return try! decode(EngineEvent.self, ["Type": "container", "Action": action, "Actor": ["ID": container.id, "Attributes": attributes]])
    }

    private static func decode<Value: Decodable>(_ type: Value.Type, _ json: [String: Any]) throws -> Value {
        try JSONDecoder().decode(type, from: JSONSerialization.data(withJSONObject: json))
    }
}
