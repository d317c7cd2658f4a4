import Logging
import ServiceLifecycle

/// Runs `service` (a test's HTTP server) while `body` runs, then stops it gracefully. Never by
/// cancellation: cancelling a NIO server while it holds an accepted connection it has not served
/// yet traps ("Deinited NIOAsyncWriter without calling finish()", apple/swift-nio#3481). A
/// handler still streaming after half a second (a test's endless stream) is cancelled then.
public func withGracefulService<Result: Sendable>(_ service: some Service, _ body: () async throws -> Result) async throws -> Result {
    var configuration = ServiceGroupConfiguration(services: [service], logger: Logger(label: "test-service"))
    configuration.maximumGracefulShutdownDuration = .milliseconds(500)
    let group = ServiceGroup(configuration: configuration)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let result: Result
        do {
            result = try await body()
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return result
    }
}
