import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CurlHTTP

// MARK: Containers

extension DockerClient {
    /// Creates a container; returns its id.
    public func createContainer(name: String, config: ContainerConfig) async throws -> String {
        struct Created: Decodable { var Id: String }
        let response = try await send("POST", "/containers/create", query: [("name", name)], json: config, timeout: .seconds(240))
        return try Self.decode(Created.self, response.body).Id
    }

    public func startContainer(_ id: String) async throws {
        try await send("POST", "/containers/\(id)/start", accept: [204, 304])
    }

    /// SIGTERM (or the image's STOPSIGNAL), then SIGKILL after `timeout` seconds.
    public func stopContainer(_ id: String, timeout: Int) async throws {
        try await send("POST", "/containers/\(id)/stop", query: [("t", String(timeout))], timeout: .seconds(timeout + 120), accept: [204, 304])
    }

    public func killContainer(_ id: String, signal: String = "SIGKILL") async throws {
        try await send("POST", "/containers/\(id)/kill", query: [("signal", signal)], accept: [204, 409])
    }

    /// Removes a container and its anonymous volumes.
    public func removeContainer(_ id: String, force: Bool = false) async throws {
        try await send("DELETE", "/containers/\(id)", query: [("v", "1"), ("force", force ? "1" : "0")], accept: [204, 404])
    }

    public func inspectContainer(_ idOrName: String) async throws -> ContainerInspect {
        try await get(ContainerInspect.self, "/containers/\(idOrName)/json")
    }

    /// Waits until the container stops; returns its exit code.
    public func waitContainer(_ id: String) async throws -> Int {
        struct Waited: Decodable { var StatusCode: Int }
        let response = try await send("POST", "/containers/\(id)/wait", query: [("condition", "not-running")], timeout: nil)
        return try Self.decode(Waited.self, response.body).StatusCode
    }

    /// Containers (all states) whose labels match every `key=value` given.
    public func listContainers(labels: [String] = [], all: Bool = true) async throws -> [ContainerSummary] {
        var query = [("all", all ? "1" : "0")]
        if !labels.isEmpty {
            let filters = String(decoding: try JSONEncoder().encode(["label": labels]), as: UTF8.self)
            query.append(("filters", filters))
        }
        return try await get([ContainerSummary].self, "/containers/json", query: query)
    }

    /// One statistics sample, without waiting for a second one (`one-shot`).
    public func stats(_ id: String) async throws -> ContainerStats {
        try await get(ContainerStats.self, "/containers/\(id)/stats", query: [("stream", "false"), ("one-shot", "true")])
    }

    /// A container's logs as frames of stdout and stderr. With `follow`, the stream stays open.
    /// - Parameter since: only output after this time (seconds since the epoch, fractions allowed).
    public func logs(_ id: String, follow: Bool, tail: Int? = nil, timestamps: Bool = false, since: Double? = nil) async throws -> LogStream {
        var query = [("stdout", "1"), ("stderr", "1"), ("follow", follow ? "1" : "0"), ("timestamps", timestamps ? "1" : "0")]
        if let tail { query.append(("tail", String(tail))) }
        if let since { query.append(("since", String(since))) }
        let response = try await stream("GET", "/containers/\(id)/logs", query: query)
        return LogStream(chunks: response.body)
    }
}

// MARK: Images

extension DockerClient {
    public func inspectImage(_ name: String) async throws -> ImageInspect {
        try await get(ImageInspect.self, "/images/\(name)/json")
    }

    public func listImages() async throws -> [ImageSummary] {
        try await get([ImageSummary].self, "/images/json")
    }

    public func removeImage(_ name: String, force: Bool = false) async throws {
        try await send("DELETE", "/images/\(name)", query: [("force", force ? "1" : "0")], accept: [200, 404])
    }

    /// Pulls `image` (`repo[:tag]` or `repo@digest`); `registryAuth` is the base64 JSON Docker
    /// expects in `X-Registry-Auth`. Progress arrives as JSON lines; an `error` line fails the pull.
    public func pullImage(_ image: String, registryAuth: String? = nil) async throws {
        let (name, tag) = Self.splitReference(image)
        var query = [("fromImage", name)]
        if let tag { query.append(("tag", tag)) }
        let headers = registryAuth.map { [("X-Registry-Auth", $0)] } ?? []
        let response = try await stream("POST", "/images/create", query: query, headers: headers)
        struct Progress: Decodable {
            var error: String?
            var errorDetail: Detail?
            struct Detail: Decodable { var message: String? }
        }
        for try await line in JSONLines(chunks: response.body) {
            if let progress = try? JSONDecoder().decode(Progress.self, from: Data(line)), let error = progress.error {
                throw DockerError(.pullFailed, progress.errorDetail?.message ?? error)
            }
        }
    }

    /// Creates an image from a root filesystem tarball (`docker import`), with Dockerfile-style
    /// `changes` such as `ENV PATH=/bin` or `WORKDIR /var/task`.
    public func importImage(tar: [UInt8], reference: String, changes: [String] = []) async throws {
        let (name, tag) = Self.splitReference(reference)
        var query = [("fromSrc", "-"), ("repo", name), ("tag", tag ?? "latest")]
        for change in changes { query.append(("changes", change)) }
        let response: HTTPClient.Response
        do {
            response = try await http.execute(
                HTTPClient.Request(
                    method: "POST", path: path("/images/create", query), headers: [("Content-Type", "application/x-tar")], body: tar,
                    timeout: .seconds(300)))
        } catch let error as HTTPClientError {
            throw DockerError(.unreachable, "POST /images/create: \(error.message)")
        }
        guard response.status == 200 else { throw DockerError(response: response) }
        struct Progress: Decodable { var error: String? }
        for line in response.body.split(separator: UInt8(ascii: "\n")) {
            if let error = (try? JSONDecoder().decode(Progress.self, from: Data(line)))?.error {
                throw DockerError(.server, "image import failed: \(error)")
            }
        }
    }

    /// `registry/repo:tag` → (`registry/repo`, `tag`); a digest stays in the name.
    static func splitReference(_ image: String) -> (String, String?) {
        if image.contains("@") { return (image, nil) }
        let lastSlash = image.lastIndex(of: "/")
        let searchStart = lastSlash.map { image.index(after: $0) } ?? image.startIndex
        if let colon = image[searchStart...].lastIndex(of: ":") {
            return (String(image[..<colon]), String(image[image.index(after: colon)...]))
        }
        return (image, "latest")
    }
}

// MARK: Volumes and networks

extension DockerClient {
    public func createVolume(name: String, driver: String = "local", options: [String: String] = [:], labels: [String: String] = [:])
        async throws -> VolumeInfo
    {
        struct Create: Encodable {
            var Name: String
            var Driver: String
            var DriverOpts: [String: String]
            var Labels: [String: String]
        }
        let response = try await send("POST", "/volumes/create", json: Create(Name: name, Driver: driver, DriverOpts: options, Labels: labels))
        return try Self.decode(VolumeInfo.self, response.body)
    }

    public func inspectVolume(_ name: String) async throws -> VolumeInfo {
        try await get(VolumeInfo.self, "/volumes/\(name)")
    }

    public func removeVolume(_ name: String) async throws {
        try await send("DELETE", "/volumes/\(name)", accept: [204, 404])
    }

    public func listNetworks() async throws -> [NetworkInfo] {
        try await get([NetworkInfo].self, "/networks")
    }

    public func createNetwork(name: String, driver: String = "bridge", labels: [String: String] = [:]) async throws -> String {
        struct Create: Encodable {
            var Name: String
            var Driver: String
            var Labels: [String: String]
        }
        struct Created: Decodable { var Id: String }
        let response = try await send("POST", "/networks/create", json: Create(Name: name, Driver: driver, Labels: labels))
        return try Self.decode(Created.self, response.body).Id
    }

    public func removeNetwork(_ id: String) async throws {
        try await send("DELETE", "/networks/\(id)", accept: [204, 404])
    }
}

// MARK: Events

extension DockerClient {
    /// Container events (create, start, die, oom, health_status, destroy…) for containers with
    /// these labels, as they happen.
    public func events(labels: [String] = []) async throws -> some AsyncSequence<EngineEvent, any Error> & Sendable {
        var filters: [String: [String]] = ["type": ["container"]]
        if !labels.isEmpty { filters["label"] = labels }
        let text = String(decoding: try JSONEncoder().encode(filters), as: UTF8.self)
        let response = try await stream("GET", "/events", query: [("filters", text)])
        return JSONLines(chunks: response.body).compactMap { line in
            try? JSONDecoder().decode(EngineEvent.self, from: Data(line))
        }
    }
}
