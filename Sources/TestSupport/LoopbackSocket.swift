import Glibc

/// A TCP socket on 127.0.0.1 at a port the kernel picks, for tests that need a port nothing else
/// uses (closed at once) or one that accepts connections (listening until closed).
public struct LoopbackSocket {
    public let descriptor: Int32
    public let port: Int

    public enum Failure: Error { case unavailable }

    public init(listening: Bool) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ready = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && (!listening || listen(descriptor, 4) == 0) && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard descriptor >= 0, ready else {
            if descriptor >= 0 { Glibc.close(descriptor) }
            throw Failure.unavailable
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// A port nothing listens on (the kernel's pick, released at once).
    public static func freePort() throws -> Int {
        let socket = try LoopbackSocket(listening: false)
        socket.close()
        return socket.port
    }

    public func close() { Glibc.close(descriptor) }
}
