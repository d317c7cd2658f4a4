import Foundation
import Glibc
import Synchronization

/// `--endpoint` (or `ECS_ENDPOINT`) may name several addresses of the control plane, separated by
/// commas: ecsctl uses the first that accepts a connection, trying each for a second (name
/// resolution aside, which takes what the system's resolver takes).
enum EndpointChoice {
    private static let chosen = Mutex<[String: String]>([:])

    /// The first endpoint of `list` that accepts a TCP connection; the first when none does (the
    /// call then fails with its own message).
    static func reachable(_ list: String) -> String {
        let endpoints = list.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            // As the agent reads ECS_BACKEND_HOST: https:// unless a scheme is given.
            .map { $0.contains("://") ? $0 : "https://" + $0 }
        guard endpoints.count > 1 else { return endpoints.count == 1 && list.contains(",") ? endpoints[0] : list }
        if let known = chosen.withLock({ $0[list] }) { return known }
        let pick = endpoints.first(where: accepts) ?? endpoints[0]
        chosen.withLock { $0[list] = pick }
        return pick
    }

    /// Whether the endpoint's host and port accept a connection within a second.
    static func accepts(_ endpoint: String) -> Bool {
        guard let url = URLComponents(string: endpoint), let host = url.host else { return false }
        let port = url.port ?? (url.scheme == "https" ? 443 : 80)
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), String(port), &hints, &found) == 0 else { return false }
        defer { freeaddrinfo(found) }
        var candidate = found
        while let info = candidate {
            defer { candidate = info.pointee.ai_next }
            let descriptor = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            guard descriptor >= 0 else { continue }
            defer { close(descriptor) }
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            if connect(descriptor, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return true }
            guard errno == EINPROGRESS else { continue }
            var waiting = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            guard poll(&waiting, 1, 1000) == 1 else { continue }
            var failure: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &failure, &length) == 0, failure == 0 { return true }
        }
        return false
    }
}
