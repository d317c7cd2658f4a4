import ControlPlane
import CurlHTTP
import ECSCLI
import ECSShapes
import Foundation
import Logging
import ServiceLifecycle
import StevedoreClient
import StevedoreCore

/// Runs a real control plane (SQLite store in a temporary directory, HTTP on a free port) for a test.
struct ControlPlaneHarness {
    let endpoint: String
    let client: APIClient
    let http: HTTPClient

    static func temporaryDirectory() -> String {
        NSTemporaryDirectory() + "stevedore-cp-\(UUID().uuidString.prefix(8))"
    }

    static func run(
        dataDirectory: String = temporaryDirectory(),
        port: Int = 0,
        removeAfterwards: Bool = true,
        _ body: @Sendable (ControlPlaneHarness) async throws -> Void
    ) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let configuration = ControlPlaneConfiguration(port: port, dataDirectory: dataDirectory)
        let controlPlane = try await ControlPlane(configuration: configuration, logger: logger)
        let ready = AsyncStream<Int>.makeStream()
        let services = controlPlane.services { port in ready.continuation.yield(port) }
        let group = ServiceGroup(services: services, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var ports = ready.stream.makeAsyncIterator()
            let port = await ports.next() ?? 0
            let endpoint = "http://127.0.0.1:\(port)"
            let harness = ControlPlaneHarness(endpoint: endpoint, client: APIClient(endpoint: endpoint), http: HTTPClient(baseURL: endpoint))
            do {
                try await body(harness)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        if removeAfterwards { try? FileManager.default.removeItem(atPath: dataDirectory) }
    }

    /// A raw AWS JSON call, for testing the wire itself.
    func raw(target: String?, body: String, contentType: String = "application/x-amz-json-1.1") async throws -> HTTPClient.Response {
        var headers = [("Content-Type", contentType)]
        if let target { headers.append(("X-Amz-Target", target)) }
        return try await http.execute(HTTPClient.Request(method: "POST", path: "/", headers: headers, body: Array(body.utf8)))
    }
}
