import AgentProtocol
import AWSProtocols
import ECSShapes
import Logging
import StevedoreClient
import StevedoreCore

/// One container instance's life with the control plane: register (again, after a restart, with
/// the same ARN), then long-poll the work channel and hand every assignment to the engine.
/// Transport failures reconnect with back-off (250 ms up to 2 min); nothing is lost because each
/// poll asks for everything after the last sequence the engine processed.
public struct InstanceSession: Sendable {
    public let link: ControlPlaneLink
    public let engine: any TaskEngine
    public let definitions: TaskDefinitionCache
    /// Builds the registration; gets the ARN to re-register with, if any.
    public let registration: @Sendable (String?) -> RegisterContainerInstanceRequest
    /// Called with the ARN once registered (to remember it across restarts).
    public let onRegistered: @Sendable (String) async -> Void
    public let pollWait: Int
    public let logger: Logger

    public init(
        link: ControlPlaneLink,
        engine: any TaskEngine,
        definitions: TaskDefinitionCache? = nil,
        pollWait: Int = 20,
        logger: Logger,
        registration: @escaping @Sendable (String?) -> RegisterContainerInstanceRequest,
        onRegistered: @escaping @Sendable (String) async -> Void = { _ in }
    ) {
        self.link = link
        self.engine = engine
        self.definitions = definitions ?? TaskDefinitionCache(link: link)
        self.pollWait = pollWait
        self.logger = logger
        self.registration = registration
        self.onRegistered = onRegistered
    }

    /// Registers and serves assignments until cancelled. `knownArn` re-registers an existing instance.
    public func run(knownArn: String?) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            group.addTask { try await serve(knownArn: knownArn) }
            try await group.next()
            group.cancelAll()
        }
    }

    private func serve(knownArn: String?) async throws {
        var arn = try await register(knownArn)
        var since = 0
        var delay: Duration = .milliseconds(250)
        while !Task.isCancelled {
            do {
                let response = try await link.poll(instance: arn, since: since, wait: pollWait)
                for var assignment in response.assignments {
                    if assignment.taskDefinition == nil, assignment.function == nil, assignment.task.desiredStatus == "RUNNING",
                        let arn = assignment.task.taskDefinitionArn
                    {
                        assignment.taskDefinition = try? await definitions.definition(arn)
                    }
                    await engine.handle(assignment)
                }
                for request in response.logRequests ?? [] {
                    await engine.streamLogs(request)
                }
                since = response.sequence
                delay = .milliseconds(250)
                if response.instanceStatus == "INACTIVE" {
                    logger.warning("instance deregistered; registering as a new instance", metadata: ["node.arn": "\(arn)"])
                    arn = try await register(nil)
                    since = 0
                }
            } catch let error as AWSError where error.type == "InvalidInstanceException" || error.type == "ClusterNotFoundException" {
                logger.warning("control plane does not know this instance; registering again", metadata: ["error": "\(error)"])
                try await Task.sleep(for: delay)
                arn = try await register(error.type == "InvalidInstanceException" ? nil : arn)
                since = 0
            } catch {
                if Task.isCancelled { return }
                logger.info("work channel interrupted; reconnecting", metadata: ["error": "\(error)", "retry.delay": "\(delay)"])
                try await Task.sleep(for: delay)
                delay = min(.seconds(120), delay * 3 / 2)
            }
        }
    }

    /// Registers, creating the `default` cluster if it is missing (as the real agent does).
    func register(_ knownArn: String?) async throws -> String {
        var delay: Duration = .seconds(1)
        var arn = knownArn
        while true {
            do {
                let instance = try await link.register(registration(arn))
                let registered = instance.containerInstanceArn ?? ""
                await onRegistered(registered)
                logger.info("registered", metadata: ["node.arn": "\(registered)", "cluster": "\(link.cluster)"])
                return registered
            } catch let error as AWSError {
                if error.type == "ClusterNotFoundException", link.cluster == "default" {
                    try await link.createCluster()
                    continue
                }
                if error.type == "InvalidParameterException", arn != nil, error.message.contains("register without containerInstanceArn") {
                    logger.warning("saved instance is no longer registered; registering as new", metadata: ["node.arn": "\(arn!)"])
                    arn = nil
                    continue
                }
                guard error.httpStatus >= 500 || error.type == "ThrottlingException" else { throw error }
                logger.info("registration failed; retrying", metadata: ["error": "\(error)"])
            } catch let error as APIClientError {
                logger.info("control plane unreachable; retrying", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: delay)
            delay = min(.seconds(60), delay * 2)
        }
    }
}
