import AgentEngine
import AgentProtocol
import DockerClient
import Logging

// MARK: Exec

extension DockerTaskExecutor {
    /// How long an exec session rides out an unreachable ecsd before it ends.
    static let execGiveUp: Duration = .seconds(60)

    /// Runs a command in one of a task's containers (ExecuteCommand) and relays its streams: output
    /// frames posted as they come (see ``ExecChannel``), input frames taken as the caller sends
    /// them. Ends with the command (its exit status the last frame), or when the caller leaves.
    func runExec(_ request: ExecRequest) async {
        let reporter = self.reporter
        let logger = self.logger
        func fail(_ text: String) async {
            _ = try? await reporter.postExecOutput(id: request.id, bytes: ExecFrame.encode([ExecFrame(.failure, text: text)]), done: true)
        }
        guard let managed = machine.task(request.taskArn),
            let container = managed.containers.first(where: { $0.name == request.container })
        else {
            await fail("task \(request.taskArn) has no container \(request.container) on this host")
            return
        }
        let session: any DockerExecSession
        do {
            session = try await docker.exec(container: container.dockerId ?? container.dockerName, command: request.command, tty: request.tty)
        } catch {
            await fail("cannot run \(request.command.first ?? "the command") in \(request.container): \(error)")
            return
        }
        logger.info(
            "exec started", metadata: ["task.arn": "\(request.taskArn)", "container": "\(request.container)", "command": "\(request.command)"])
        let buffer = LogBuffer()
        let input = Task {
            var decoder = ExecFrameDecoder()
            var failures = RetryWindow(limit: Self.execGiveUp)
            while !Task.isCancelled {
                let bytes: [UInt8]?
                do {
                    bytes = try await reporter.execInput(id: request.id)
                    failures.succeeded()
                } catch {
                    // ecsd unreachable: tried again, for a minute.
                    guard await failures.failedMayRetry() else {
                        buffer.close()
                        session.close()
                        return
                    }
                    continue
                }
                guard let bytes else {
                    // The caller left: the command ends with its connection.
                    buffer.close()
                    session.close()
                    return
                }
                guard let frames = try? decoder.frames(bytes) else { continue }
                for frame in frames {
                    switch frame.kind {
                    case .stdin: session.write(frame.payload)
                    case .endOfInput: session.closeInput()
                    case .resize:
                        let size = frame.text.split(separator: " ").compactMap { Int($0) }
                        if size.count == 2, size[0] > 0, size[1] > 0 { await session.resize(columns: size[0], rows: size[1]) }
                    default: break
                    }
                }
            }
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var decoder = LogFrameDecoder()
                for await chunk in session.output {
                    if session.tty {
                        buffer.append(ExecFrame.encode([ExecFrame(.stdout, chunk)]))
                    } else {
                        decoder.append(chunk)
                        var frames: [ExecFrame] = []
                        while let frame = decoder.next() { frames.append(ExecFrame(frame.stream == .stderr ? .stderr : .stdout, frame.bytes)) }
                        buffer.append(ExecFrame.encode(frames))
                    }
                    if buffer.closed { break }
                    // Output faster than ecsd takes it waits here (and Docker's, in turn, there).
                    while buffer.count > 8 << 20, !buffer.closed { try? await Task.sleep(for: .milliseconds(10)) }
                }
                if let rest = decoder.flush() { buffer.append(ExecFrame.encode([ExecFrame(rest.stream == .stderr ? .stderr : .stdout, rest.bytes)])) }
                let last: ExecFrame
                do {
                    last = ExecFrame(.exit, text: String(try await session.exitCode()))
                } catch {
                    last = ExecFrame(.failure, text: "the command's exit status is unknown: \(error)")
                }
                buffer.append(ExecFrame.encode([last]))
                buffer.finish()
            }
            group.addTask {
                var failures = RetryWindow(limit: Self.execGiveUp)
                while true {
                    // A megabyte a post at most (ecsd takes 8); the rest goes in the next.
                    let (bytes, done) = buffer.drain(limit: 1 << 20)
                    guard !bytes.isEmpty || done else {
                        try? await Task.sleep(for: .milliseconds(10))
                        continue
                    }
                    var delivered = false
                    while !delivered {
                        do {
                            guard try await reporter.postExecOutput(id: request.id, bytes: bytes, done: done) else {
                                // 410: nobody listens any more.
                                buffer.close()
                                session.close()
                                return
                            }
                            delivered = true
                            failures.succeeded()
                        } catch {
                            guard await failures.failedMayRetry() else {
                                buffer.close()
                                session.close()
                                return
                            }
                        }
                    }
                    if done { return }
                }
            }
        }
        input.cancel()
        session.close()
        logger.info("exec ended", metadata: ["task.arn": "\(request.taskArn)", "container": "\(request.container)"])
    }
}

/// Calls that fail in a row are tried again until `limit` has passed since the first of them.
struct RetryWindow {
    let limit: Duration
    private var failingSince: ContinuousClock.Instant?

    init(limit: Duration) { self.limit = limit }

    mutating func succeeded() { failingSince = nil }

    /// After a failure: waits a moment and answers true while the window lasts, false once it is over.
    mutating func failedMayRetry() async -> Bool {
        let since = failingSince ?? .now
        failingSince = since
        guard ContinuousClock.now - since <= limit else { return false }
        try? await Task.sleep(for: .milliseconds(250))
        return true
    }
}
