import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CurlHTTP
import StevedoreCore

/// A Docker Engine API client over libcurl (unix socket or TCP).
///
/// ``connect(host:)`` negotiates the API version with `GET /version`: the highest version both
/// sides speak, within what this client knows (1.41, Debian's engine, up to 1.47). Engines whose
/// minimum is 1.44 (Docker 29) and engines that top out at 1.41 both work.
public struct DockerClient: Sendable {
    public static let minimumAPIVersion = "1.41"
    public static let maximumAPIVersion = "1.47"

    let http: HTTPClient
    /// The negotiated version, used in every path (`/v1.41/containers/json`).
    public let apiVersion: String
    /// What the engine reported about itself.
    public let engine: EngineVersion
    /// The engine's unix socket, when it is reached through one (exec sessions talk to it directly).
    let socketPath: String?

    /// Connects to `DOCKER_HOST` (`unix:///var/run/docker.sock`, `tcp://host:port`).
    public static func connect(host: String = "unix:///var/run/docker.sock") async throws -> DockerClient {
        let http = try client(for: host)
        let response: HTTPClient.Response
        do {
            response = try await http.execute(HTTPClient.Request(path: "/version", timeout: .seconds(10)))
        } catch let error as HTTPClientError {
            throw DockerError(.unreachable, "cannot reach the Docker engine at \(host): \(error.message)")
        }
        guard response.status == 200 else {
            throw DockerError(.server, "GET /version answered \(response.status): \(response.bodyText)")
        }
        let engine = try decode(EngineVersion.self, response.body)
        let version = try negotiate(server: engine.apiVersion, serverMinimum: engine.minAPIVersion ?? "1.12")
        let socketPath = host.hasPrefix("unix://") ? String(host.dropFirst("unix://".count)) : nil
        return DockerClient(http: http, apiVersion: version, engine: engine, socketPath: socketPath)
    }

    init(http: HTTPClient, apiVersion: String, engine: EngineVersion, socketPath: String? = nil) {
        self.http = http
        self.apiVersion = apiVersion
        self.engine = engine
        self.socketPath = socketPath
    }

    static func client(for host: String) throws -> HTTPClient {
        if host.hasPrefix("unix://") { return .unixSocket(String(host.dropFirst("unix://".count))) }
        if host.hasPrefix("tcp://") { return HTTPClient(baseURL: "http://" + host.dropFirst("tcp://".count)) }
        if host.hasPrefix("http://") || host.hasPrefix("https://") { return HTTPClient(baseURL: host) }
        throw DockerError(.badRequest, "unsupported DOCKER_HOST '\(host)': use unix:///path or tcp://host:port")
    }

    /// The highest version within both ranges.
    static func negotiate(server: String, serverMinimum: String) throws -> String {
        let chosen = compare(server, maximumAPIVersion) < 0 ? server : maximumAPIVersion
        guard compare(chosen, minimumAPIVersion) >= 0 else {
            throw DockerError(
                .unsupportedVersion,
                "the Docker engine speaks API \(server) at most; Stevedore needs \(minimumAPIVersion) or newer (Docker 20.10+)")
        }
        guard compare(chosen, serverMinimum) >= 0 else {
            throw DockerError(
                .unsupportedVersion,
                "the Docker engine requires API \(serverMinimum) or newer; Stevedore speaks up to \(maximumAPIVersion)")
        }
        return chosen
    }

    static func compare(_ a: String, _ b: String) -> Int {
        let left = a.split(separator: ".").compactMap { Int($0) }
        let right = b.split(separator: ".").compactMap { Int($0) }
        for index in 0..<max(left.count, right.count) {
            let l = index < left.count ? left[index] : 0
            let r = index < right.count ? right[index] : 0
            if l != r { return l < r ? -1 : 1 }
        }
        return 0
    }

    // MARK: Requests

    func path(_ path: String, _ query: [(String, String)] = []) -> String {
        var result = "/v\(apiVersion)\(path)"
        if !query.isEmpty {
            result += "?" + query.map { "\($0.0)=\(percentEncode($0.1))" }.joined(separator: "&")
        }
        return result
    }

    /// Sends a request and returns the response, turning engine errors into ``DockerError``s.
    @discardableResult
    func send(
        _ method: String,
        _ path: String,
        query: [(String, String)] = [],
        json body: (some Encodable)? = Optional<Int>.none,
        headers: [(String, String)] = [],
        timeout: Duration? = .seconds(60),
        accept: Set<Int> = [200, 201, 204]
    ) async throws -> HTTPClient.Response {
        var allHeaders = headers
        var bytes: [UInt8]?
        if let body {
            bytes = Array(try JSONEncoder().encode(body))
            allHeaders.append(("Content-Type", "application/json"))
        }
        let response: HTTPClient.Response
        do {
            response = try await http.execute(
                HTTPClient.Request(method: method, path: self.path(path, query), headers: allHeaders, body: bytes, timeout: timeout))
        } catch let error as HTTPClientError {
            if error.kind == .cancelled { throw CancellationError() }
            throw DockerError(error.kind == .timedOut ? .timeout : .unreachable, "\(method) \(path): \(error.message)")
        }
        guard accept.contains(response.status) else { throw DockerError(response: response) }
        return response
    }

    func get<Value: Decodable>(_ type: Value.Type, _ path: String, query: [(String, String)] = []) async throws -> Value {
        let response = try await send("GET", path, query: query)
        return try Self.decode(type, response.body)
    }

    /// Opens a streaming response (events, logs, pull progress).
    func stream(_ method: String, _ path: String, query: [(String, String)] = [], headers: [(String, String)] = []) async throws
        -> HTTPClient.StreamingResponse
    {
        let response: HTTPClient.StreamingResponse
        do {
            response = try await http.stream(
                HTTPClient.Request(method: method, path: self.path(path, query), headers: headers, body: method == "POST" ? [] : nil, timeout: nil))
        } catch let error as HTTPClientError {
            if error.kind == .cancelled { throw CancellationError() }
            throw DockerError(.unreachable, "\(method) \(path): \(error.message)")
        }
        guard response.status == 200 else {
            let body = try await response.collect()
            throw DockerError(response: HTTPClient.Response(status: response.status, headers: response.headers, body: body))
        }
        return response
    }

    static func decode<Value: Decodable>(_ type: Value.Type, _ body: [UInt8]) throws -> Value {
        do {
            return try JSONDecoder().decode(type, from: Data(body))
        } catch {
            throw DockerError(.server, "unexpected answer from the Docker engine: \(error)")
        }
    }
}

/// `GET /version`.
public struct EngineVersion: Codable, Sendable {
    public var version: String
    public var apiVersion: String
    public var minAPIVersion: String?
    public var os: String?
    public var arch: String?
    public var kernelVersion: String?

    enum CodingKeys: String, CodingKey {
        case version = "Version"
        case apiVersion = "ApiVersion"
        case minAPIVersion = "MinAPIVersion"
        case os = "Os"
        case arch = "Arch"
        case kernelVersion = "KernelVersion"
    }
}

/// A failed engine call, with the engine's own message.
public struct DockerError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case notFound, conflict, badRequest, notModified, server, unreachable, timeout, unsupportedVersion, pullFailed
    }

    public var kind: Kind
    public var message: String
    public var status: Int?

    public init(_ kind: Kind, _ message: String, status: Int? = nil) {
        self.kind = kind
        self.message = message
        self.status = status
    }

    init(response: HTTPClient.Response) {
        struct Body: Decodable { var message: String? }
        let text = (try? JSONDecoder().decode(Body.self, from: Data(response.body)))?.message ?? response.bodyText
        let kind: Kind =
            switch response.status {
            case 304: .notModified
            case 400: .badRequest
            case 404: .notFound
            case 409: .conflict
            default: .server
            }
        self.init(kind, text.trimmingWhitespace, status: response.status)
    }

    public var description: String { message }
}

func percentEncode(_ text: String) -> String {
    text.percentEncoded(keeping: "-._~")
}
