import AgentProtocol
import ApplicationAutoScalingShapes
import Archives
import AWSProtocols
import CurlHTTP
import ECS
import ECSShapes
import Foundation
import LambdaShapes
import StevedoreClient
import StevedoreCore

/// A child process started for a benchmark, stopped when the benchmark ends.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let name: String

    init(name: String, executable: String, arguments: [String], logPath: String) throws {
        self.name = name
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// Waits until `GET <url>` answers (any status) or the timeout passes.
    func waitUntilReady(_ client: HTTPClient, path: String, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw BenchError("\(name) exited with status \(process.terminationStatus)") }
            if (try? await client.execute(HTTPClient.Request(path: path, timeout: .seconds(2)))) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("\(name) did not become ready within \(timeout)")
    }

    func stop() {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        kill(pid, SIGTERM)
        for _ in 0..<100 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(pid, SIGKILL) }
    }

    /// Resident memory in KiB from /proc.
    var residentKiB: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8) else {
            return nil
        }
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
        return line.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Finds a program on PATH.
func which(_ program: String) -> String? {
    if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
        let path = "\(directory)/\(program)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// Runs a program to completion and returns its standard output.
func runProgram(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

func freePort() -> Int {
    Int.random(in: 20_000..<40_000)
}

/// Progress notes on stderr, so stdout keeps only the report.
func note(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Removes the containers of a benchmark's cluster (through the docker CLI, synchronously).
func removeContainers(cluster: String) {
    _ = try? runProgram("/bin/sh", ["-c", "docker ps -aq --filter label=com.amazonaws.ecs.cluster=\(cluster) | xargs -r docker rm -f"])
}

/// A process's CPU time so far (user and system), in seconds.
func cpuSeconds(pid: Int32) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { return 0 }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    return ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Runs a program to its end with no input or output (its own files are its log), and answers
/// its exit status. Unlike Foundation's Process, it does not wait for the daemons a program leaves
/// behind (`pg_ctl start`).
func runQuietly(_ path: String, _ arguments: [String]) -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for descriptor in [Int32(0), 1, 2] {
        posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY, 0)
    }
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, path, &actions, nil, argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 {
        guard errno == EINTR else { return -1 }
    }
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}
