/// What the agent asks of a Docker engine: the seam between the agent's executor and the engine,
/// so the executor runs against ``DockerClient`` in production and a fake in unit tests.
public protocol DockerEngine: Sendable {
    /// The engine's version (as the agent registers it).
    var engineVersion: String { get }

    func inspectImage(_ name: String) async throws -> ImageInspect
    func pullImage(_ image: String, registryAuth: String?) async throws
    func importImage(tar: [UInt8], reference: String, changes: [String]) async throws

    /// Creates a container; returns its id.
    func createContainer(name: String, config: ContainerConfig) async throws -> String
    func startContainer(_ id: String) async throws
    /// SIGTERM, then SIGKILL after `timeout` seconds.
    func stopContainer(_ id: String, timeout: Int) async throws
    func killContainer(_ id: String, signal: String) async throws
    func removeContainer(_ id: String, force: Bool) async throws
    func inspectContainer(_ idOrName: String) async throws -> ContainerInspect
    func listContainers(labels: [String], all: Bool) async throws -> [ContainerSummary]
    func stats(_ id: String) async throws -> ContainerStats
    /// Output frames from the start (or the last `tail` lines), following new ones with `follow`.
    func logStream(_ id: String, follow: Bool, tail: Int?) async throws -> AsyncThrowingStream<LogFrame, any Error>
    /// Output followed from `since` (seconds since the epoch; the start when nil), each line led by
    /// the time Docker received it (RFC 3339 with nanoseconds, then a space).
    func timestampedLogStream(_ id: String, since: Double?) async throws -> AsyncThrowingStream<LogFrame, any Error>

    func createVolume(name: String, driver: String, options: [String: String], labels: [String: String]) async throws -> VolumeInfo
    func inspectVolume(_ name: String) async throws -> VolumeInfo
    func removeVolume(_ name: String) async throws

    /// Container events for containers with these labels, as they happen; the stream ends (or
    /// throws) when the engine goes away.
    func eventStream(labels: [String]) async throws -> AsyncThrowingStream<EngineEvent, any Error>

    /// Runs a command in a running container (Docker's exec), its streams attached.
    func exec(container: String, command: [String], tty: Bool) async throws -> any DockerExecSession
}

extension DockerEngine {
    public func exec(container: String, command: [String], tty: Bool) async throws -> any DockerExecSession {
        throw DockerError(.badRequest, "this engine does not run commands in containers")
    }
}

extension DockerClient: DockerEngine {
    public var engineVersion: String { engine.version }

    public func logStream(_ id: String, follow: Bool, tail: Int?) async throws -> AsyncThrowingStream<LogFrame, any Error> {
        Self.forward(try await logs(id, follow: follow, tail: tail))
    }

    /// Read from the container's `json-file` log on disk when the agent may read it (much faster
    /// than the engine serves it), else through the API.
    public func timestampedLogStream(_ id: String, since: Double?) async throws -> AsyncThrowingStream<LogFrame, any Error> {
        if let path = try? await inspectContainer(id).logPath, path.hasSuffix("-json.log"),
            let stream = JSONFileLogs.follow(path: path, since: since, active: { [self] in
                do {
                    return ["created", "running", "restarting", "paused"].contains(try await inspectContainer(id).state.status)
                } catch let error as DockerError where error.status == 404 {
                    return false
                } catch {
                    // The engine did not answer (restarting, busy): the container may well run on.
                    return true
                }
            })
        {
            return stream
        }
        return Self.forward(try await logs(id, follow: true, timestamps: true, since: since))
    }

    public func eventStream(labels: [String]) async throws -> AsyncThrowingStream<EngineEvent, any Error> {
        Self.forward(try await events(labels: labels))
    }

    /// Hands a sequence's elements on through a stream; cancelling the consumer cancels the reader.
    static func forward<Source: AsyncSequence & Sendable>(_ source: Source) -> AsyncThrowingStream<Source.Element, any Error>
    where Source.Element: Sendable {
        AsyncThrowingStream { continuation in
            let reader = Task {
                do {
                    for try await element in source { continuation.yield(element) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in reader.cancel() }
        }
    }
}
