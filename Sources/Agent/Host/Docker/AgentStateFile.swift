import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentEngine
import StevedoreCore

/// Reads and writes the state file atomically (write to a temporary file, then rename).
public struct AgentStateFile: Sendable {
    public let path: String

    public init(directory: String) {
        path = directory + "/agent-state.json"
    }

    public func load() throws -> AgentState? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode(AgentState.self, from: data)
    }

    public func save(_ state: AgentState) throws {
        let directory = parentDirectory(of: path)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // The streaming encoder writes dates as epoch seconds, as `load` reads them, and is
        // several times faster than Foundation's on a state with many tasks.
        let data = Data(try StreamingJSONEncoder.encode(state))
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw WriteError(description: "cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            throw WriteError(description: "cannot rename \(temporary) to \(path): errno \(errno)")
        }
    }

    struct WriteError: Error, CustomStringConvertible {
        var description: String
    }
}

/// Picks free host ports from the dynamic range for mappings without a static host port.
public struct PortAllocator: Sendable {
    public let range: ClosedRange<Int>
    public let bindIP: String
    private var next: Int

    public init(range: ClosedRange<Int>, bindIP: String) {
        self.range = range
        self.bindIP = bindIP
        next = range.lowerBound
    }

    /// A port not in `taken` that nothing on the host listens on, or `nil` when the range is exhausted.
    public mutating func allocate(protocol proto: String, taken: Set<Int>) -> Int? {
        for _ in 0..<range.count {
            let port = next
            next = next >= range.upperBound ? range.lowerBound : next + 1
            if taken.contains(port) { continue }
            if Self.isFree(port, proto: proto, ip: bindIP) { return port }
        }
        return nil
    }

    static func isFree(_ port: Int, proto: String, ip: String) -> Bool {
        let socketType = proto == "udp" ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue)
        let fd = socket(AF_INET, socketType, 0)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(ip == "0.0.0.0" ? "0.0.0.0" : ip)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return result == 0
    }
}

/// The directory part of a path (`/a/b/c` → `/a/b`), as NSString's deletingLastPathComponent.
func parentDirectory(of path: String) -> String {
    let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    guard let slash = trimmed.lastIndex(of: "/") else { return "" }
    return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
}
