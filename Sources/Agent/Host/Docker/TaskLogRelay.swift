import AgentEngine
import AgentProtocol
import DockerClient
import Synchronization

// MARK: Logs

extension DockerTaskExecutor {
    /// Sends a task's container logs to the control plane in batches (every 100 ms) until the
    /// containers' output ends (or, with follow, until nobody listens any more).
    func relayLogs(_ request: LogRequest) async {
        let reporter = self.reporter
        guard let managed = machine.task(request.taskArn) else {
            let text = "task \(request.taskArn) is not on this host any more (its containers were cleaned up)\n"
            _ = try? await reporter.postLogs(id: request.id, bytes: Array(text.utf8), done: true)
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
                                let frames = try await docker.logStream(
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
                        let listening = (try? await reporter.postLogs(id: request.id, bytes: bytes, done: done)) ?? false
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


/// Log bytes waiting to be posted.
final class LogBuffer: Sendable {
    private let state = Mutex<(bytes: [UInt8], finished: Bool, closed: Bool)>(([], false, false))

    func append(_ bytes: [UInt8]) { state.withLock { $0.bytes += bytes } }
    func finish() { state.withLock { $0.finished = true } }
    func close() { state.withLock { $0.closed = true } }
    var closed: Bool { state.withLock { $0.closed } }

    /// Takes what is buffered (at most `limit` bytes), and whether the reading is over with it.
    func drain(limit: Int = .max) -> ([UInt8], Bool) {
        state.withLock { state in
            guard state.bytes.count > limit else {
                defer { state.bytes = [] }
                return (state.bytes, state.finished)
            }
            let taken = Array(state.bytes.prefix(limit))
            state.bytes.removeFirst(limit)
            return (taken, false)
        }
    }

    var count: Int { state.withLock { $0.bytes.count } }
}
