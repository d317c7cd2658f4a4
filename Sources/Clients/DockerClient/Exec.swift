import CurlHTTP
import Dispatch
import Glibc
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A command running in a container through Docker's exec, its streams attached.
public protocol DockerExecSession: Sendable {
    /// The command's output as Docker sends it: raw bytes with a terminal, else multiplexed
    /// frames (``LogFrameDecoder``). Ends when the command's output does.
    var output: AsyncStream<[UInt8]> { get }
    var tty: Bool { get }
    func write(_ bytes: [UInt8])
    /// The command's standard input closes (a half-close of the connection).
    func closeInput()
    func resize(columns: Int, rows: Int) async
    /// The exit status, once the output has ended.
    func exitCode() async throws -> Int
    /// Ends the session: the connection closes (a shell on a terminal gets SIGHUP).
    func close()
}

extension DockerClient {
    /// `POST /containers/{id}/exec`, then `POST /exec/{id}/start` on a connection of its own that
    /// Docker hijacks for the streams (an HTTP upgrade to raw TCP, which libcurl does not hand
    /// over: the request is written on a unix socket directly).
    public func exec(container: String, command: [String], tty: Bool) async throws -> any DockerExecSession {
        guard let socketPath else {
            throw DockerError(.badRequest, "running commands in containers needs the engine's unix socket (DOCKER_HOST=unix://…)")
        }
        struct Create: Encodable {
            var AttachStdin = true
            var AttachStdout = true
            var AttachStderr = true
            var Tty: Bool
            var Cmd: [String]
        }
        struct Created: Decodable { var Id: String }
        let response = try await send("POST", "/containers/\(container)/exec", json: Create(Tty: tty, Cmd: command))
        let id = try Self.decode(Created.self, response.body).Id
        let body = Array(#"{"Detach":false,"Tty":\#(tty)}"#.utf8)
        let head = "POST \(path("/exec/\(id)/start")) HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: \(body.count)\r\n\r\n"
        let connection = try ExecConnection.open(socketPath: socketPath, request: Array(head.utf8) + body)
        return ExecSession(client: self, id: id, tty: tty, connection: connection)
    }

    func resizeExec(_ id: String, columns: Int, rows: Int) async throws {
        try await send("POST", "/exec/\(id)/resize", query: [("h", String(rows)), ("w", String(columns))], accept: [200, 201])
    }

    func inspectExec(_ id: String) async throws -> (running: Bool, exitCode: Int?) {
        struct Inspect: Decodable {
            var Running: Bool
            var ExitCode: Int?
        }
        let inspect = try await get(Inspect.self, "/exec/\(id)/json")
        return (inspect.Running, inspect.ExitCode)
    }
}

final class ExecSession: DockerExecSession {
    let client: DockerClient
    let id: String
    let tty: Bool
    let connection: ExecConnection

    init(client: DockerClient, id: String, tty: Bool, connection: ExecConnection) {
        self.client = client
        self.id = id
        self.tty = tty
        self.connection = connection
    }

    var output: AsyncStream<[UInt8]> { connection.output }
    func write(_ bytes: [UInt8]) { connection.write(bytes) }
    func closeInput() { connection.shutdownWrite() }
    func close() { connection.close() }

    func resize(columns: Int, rows: Int) async {
        try? await client.resizeExec(id, columns: columns, rows: rows)
    }

    func exitCode() async throws -> Int {
        // The output ends a moment before the engine records the exit.
        for _ in 0..<100 {
            let state = try await client.inspectExec(id)
            if !state.running, let code = state.exitCode { return code }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw DockerError(.timeout, "exec \(id) still runs after its output ended")
    }
}

/// The hijacked connection of an exec: a unix socket, read by a thread of its own. The descriptor
/// closes when both the connection and its reading thread are done with it (never while either
/// could still use it, so no call reaches a number the system gave to another file).
final class ExecConnection: Sendable {
    private final class Descriptor: Sendable {
        let number: Int32
        init(_ number: Int32) { self.number = number }
        deinit { Glibc.close(number) }
    }

    private let descriptor: Descriptor
    /// Writes in order, off the caller's thread (a command that does not read its input blocks
    /// this queue, not the agent's executors).
    private let writing = DispatchQueue(label: "docker-exec-input")
    let output: AsyncStream<[UInt8]>

    private init(descriptor number: Int32) {
        let descriptor = Descriptor(number)
        self.descriptor = descriptor
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .unbounded)
        output = stream
        // A queue of its own: its blocking reads hold one of Dispatch's threads, no executor's.
        DispatchQueue(label: "docker-exec-output").async {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor.number, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                continuation.yield(Array(buffer[0..<count]))
            }
            continuation.finish()
        }
    }

    /// Connects, writes the request, and reads the answer's head: 101 (upgraded) or 200.
    static func open(socketPath: String, request: [UInt8]) throws -> ExecConnection {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw DockerError(.unreachable, "socket(): errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(descriptor)
            throw DockerError(.badRequest, "the socket path \(socketPath) is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.enumerated() { raw[index] = byte }
            raw[path.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw DockerError(.unreachable, "cannot connect to \(socketPath): errno \(code)")
        }
        guard writeAll(descriptor, request) else {
            Glibc.close(descriptor)
            throw DockerError(.unreachable, "the Docker engine closed the exec connection")
        }
        // The answer's head, byte by byte up to the blank line (it is short); what follows is output.
        var head: [UInt8] = []
        var byte: UInt8 = 0
        while !head.ends(with: [13, 10, 13, 10]) {
            let count = read(descriptor, &byte, 1)
            guard count == 1 else {
                Glibc.close(descriptor)
                throw DockerError(.server, "the Docker engine ended the exec connection before answering")
            }
            head.append(byte)
            if head.count > 64 * 1024 {
                Glibc.close(descriptor)
                throw DockerError(.server, "the Docker engine's answer to exec start has no end")
            }
        }
        let text = String(decoding: head, as: UTF8.self)
        let status = text.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
        guard status == 101 || status == 200 else {
            Glibc.close(descriptor)
            throw DockerError(.server, "exec start answered \(status): \(text.split(separator: "\r\n").first ?? "")")
        }
        return ExecConnection(descriptor: descriptor)
    }

    func write(_ bytes: [UInt8]) {
        let descriptor = self.descriptor
        writing.async { _ = Self.writeAll(descriptor.number, bytes) }
    }

    /// After the writes before it.
    func shutdownWrite() {
        let descriptor = self.descriptor
        writing.async { _ = shutdown(descriptor.number, Int32(SHUT_WR)) }
    }

    /// Ends the connection: a blocked write returns, the reading thread wakes and lets go.
    func close() {
        _ = shutdown(descriptor.number, Int32(SHUT_RDWR))
    }

    deinit {
        close()
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return false }
            offset += count
        }
        return true
    }
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
