import AgentProtocol
import ArgumentParser
import ECSShapes
import Foundation
import Glibc
import StevedoreClient
import Synchronization

extension TaskCommand {
    struct Exec: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a command in a running task's container (ExecuteCommand); exits with its status.",
            discussion: """
                The task must have been started with enableExecuteCommand (run-task --enable-execute-command, or a service's). \
                On a terminal the command gets one (an interactive shell: ecsctl task exec TASK -- sh); otherwise standard \
                input and output are piped (ecsctl task exec TASK -- sh -c 'ls /data' > list.txt).
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Task ARN or id.") var task: String
        @Option(help: "The container (needed when the task has several).") var container: String?
        @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.") var command: [String] = []

        func validate() throws {
            guard !command.isEmpty else { throw ValidationError("name the command to run after --, e.g. ecsctl task exec TASK -- sh") }
        }

        func run() async throws {
            let response: ExecuteCommandResponse = try await global.client.ecs(
                "ExecuteCommand",
                ExecuteCommandRequest(
                    cluster: cluster.name, container: container, command: command.map(CommandLineWords.quoted).joined(separator: " "),
                    interactive: true, task: task))
            guard let session = response.session, let id = session.sessionId, let token = session.tokenValue else {
                throw CLIError("the control plane returned no session")
            }
            let client = global.client
            let tty = isatty(0) == 1 && isatty(1) == 1
            let terminal = tty ? RawTerminal() : nil
            defer { terminal?.restore() }
            let output = try await client.execOutput(sessionId: id, token: token, tty: tty, size: tty ? RawTerminal.size() : nil)

            let input = Task { await Self.sendInput(client: client, id: id, token: token, tty: tty) }
            defer { input.cancel() }
            var decoder = ExecFrameDecoder()
            for try await chunk in output {
                for frame in try decoder.frames(chunk) {
                    switch frame.kind {
                    case .stdout: Self.write(1, frame.payload)
                    case .stderr: Self.write(2, frame.payload)
                    case .exit:
                        terminal?.restore()
                        throw ExitCode(Int32(frame.text) ?? 1)
                    case .failure:
                        terminal?.restore()
                        Self.write(2, Array("ecsctl: \(frame.text)\n".utf8))
                        throw ExitCode(126)
                    default: break
                    }
                }
            }
            terminal?.restore()
            throw CLIError("the session ended before the command did (the agent or ecsd went away)")
        }

        /// Standard input (and, on a terminal, its size as it changes) to the session.
        static func sendInput(client: APIClient, id: String, token: String, tty: Bool) async {
            let (frames, continuation) = AsyncStream<ExecFrame>.makeStream()
            let reader = Thread {
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                    if count < 0, errno == EINTR { continue }
                    guard count > 0 else { break }
                    continuation.yield(ExecFrame(.stdin, Array(buffer[0..<count])))
                }
                continuation.yield(ExecFrame(.endOfInput))
            }
            reader.start()
            var resizes: (any DispatchSourceSignal)?
            if tty {
                signal(SIGWINCH, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: SIGWINCH)
                source.setEventHandler {
                    if let size = RawTerminal.size() { continuation.yield(ExecFrame(.resize, text: "\(size.columns) \(size.rows)")) }
                }
                source.resume()
                resizes = source
            }
            defer { resizes?.cancel() }
            for await frame in frames {
                guard (try? await client.execInput(sessionId: id, token: token, frames: [frame])) == true else { return }
                if frame.kind == .endOfInput { return }
            }
        }

        static func write(_ descriptor: Int32, _ bytes: [UInt8]) {
            var offset = 0
            while offset < bytes.count {
                let count = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return }
                offset += count
            }
        }
    }
}

/// The caller's terminal in raw mode (keys go to the remote command as typed), restored once.
final class RawTerminal: Sendable {
    private let saved: Mutex<termios?>

    init() {
        var original = termios()
        guard tcgetattr(0, &original) == 0 else {
            saved = Mutex(nil)
            return
        }
        var raw = original
        cfmakeraw(&raw)
        tcsetattr(0, TCSANOW, &raw)
        saved = Mutex(original)
    }

    func restore() {
        guard var original = saved.withLock({ value -> termios? in defer { value = nil }; return value }) else { return }
        tcsetattr(0, TCSANOW, &original)
    }

    static func size() -> (columns: Int, rows: Int)? {
        var size = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return nil }
        return (Int(size.ws_col), Int(size.ws_row))
    }
}
