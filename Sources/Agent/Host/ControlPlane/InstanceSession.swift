import AgentProtocol
import CoreMetrics
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
    /// Builds the registration; gets the ARN to re-register with, if any.
    public let registration: @Sendable (String?) -> RegisterContainerInstanceRequest
    /// Called with the ARN once registered (to remember it across restarts).
    public let onRegistered: @Sendable (String) async -> Void
    public let pollWait: Int
    public let logger: Logger

    public init(
        link: ControlPlaneLink,
        engine: any TaskEngine,
        pollWait: Int = 20,
        logger: Logger,
        registration: @escaping @Sendable (String?) -> RegisterContainerInstanceRequest,
        onRegistered: @escaping @Sendable (String) async -> Void = { _ in }
    ) {
        self.link = link
        self.engine = engine
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
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(2))
                    await link.renewIfDue()
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    private func serve(knownArn: String?) async throws {
        var arn = try await register(knownArn)
        var since = 0
        // The control plane's state epoch `since` and `held` belong to.
        var epoch: String?
        var held = HeldDefinitions()
        var delay: Duration = .milliseconds(250)
        while !Task.isCancelled {
            do {
                let response: AgentPollResponse
                do {
                    response = try await link.poll(instance: arn, since: since, wait: pollWait, heldDefinitions: held.names, epoch: epoch)
                } catch {
                    Counter(label: "ecs_agent_polls_total", dimensions: [("outcome", "failed")]).increment()
                    throw error
                }
                Counter(label: "ecs_agent_polls_total", dimensions: [("outcome", "answered")]).increment()
                // An answer behind our cursor, or of another epoch, comes from a control plane whose
                // state went back in time (lost, or restored from a copy): an ARN may now name
                // another definition. The answer holds everything anew.
                if response.sequence < since || (epoch != nil && response.epoch != epoch) { held.removeAll() }
                epoch = response.epoch
                for assignment in held.complete(response.assignments) {
                    await engine.handle(assignment)
                }
                for request in response.logRequests ?? [] {
                    await engine.streamLogs(request)
                }
                for request in response.execRequests ?? [] {
                    await engine.exec(request)
                }
                since = response.sequence
                delay = .milliseconds(250)
                if response.instanceStatus == .inactive {
                    logger.warning("instance deregistered; registering as a new instance", metadata: ["node.arn": "\(arn)"])
                    arn = try await register(nil)
                    since = 0
                }
            } catch {
                switch LinkFailure(error) {
                case .credentialsExpired:
                    // Renewal failed for their whole lifetime (ecsd unreachable, the agent stopped):
                    // registering again with the expired ones proves the instance and renews them.
                    logger.warning("instance credentials expired; registering again", metadata: ["node.arn": "\(arn)"])
                    try await Task.sleep(for: delay)
                    delay = min(.seconds(120), delay * 3 / 2)
                    arn = try await register(arn)
                case .instanceUnknown, .clusterUnknown:
                    logger.warning("control plane does not know this instance; registering again", metadata: ["error": "\(error)"])
                    try await Task.sleep(for: delay)
                    arn = try await register(LinkFailure(error) == .instanceUnknown ? nil : arn)
                    since = 0
                    held.removeAll()
                case .transient, .refused:
                    if Task.isCancelled { return }
                    logger.info("work channel interrupted; reconnecting", metadata: ["error": "\(error)", "retry.delay": "\(delay)"])
                    try await Task.sleep(for: delay)
                    delay = min(.seconds(120), delay * 3 / 2)
                }
            }
        }
    }

    /// Registers, creating the `default` cluster if it is missing (as the real agent does). A saved
    /// ARN the control plane refuses is dropped and the instance registers as a new one.
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
            } catch {
                switch LinkFailure(error) {
                case .clusterUnknown where link.cluster == "default":
                    try await link.createCluster()
                    continue
                case .refused where arn != nil:
                    logger.warning("saved instance is no longer registered; registering as new", metadata: ["node.arn": "\(arn!)"])
                    arn = nil
                    continue
                case .transient:
                    logger.info("registration failed; retrying", metadata: ["error": "\(error)"])
                default:
                    throw error
                }
            }
            try await Task.sleep(for: delay)
            delay = min(.seconds(60), delay * 2)
        }
    }
}

/// Why a call to the control plane failed, in the kinds the agent acts on (never its text).
public enum LinkFailure: Equatable, Sendable {
    /// Unreachable, a server fault, throttled: try again later.
    case transient
    /// The control plane does not know this container instance (`InvalidInstanceException`).
    case instanceUnknown
    /// The control plane does not know the cluster (`ClusterNotFoundException`).
    case clusterUnknown
    /// The instance's credentials expired (`ExpiredTokenException`): register again to renew them.
    case credentialsExpired
    /// Any other refusal of the request itself: trying it again as it is would fail again.
    case refused

    public init(_ error: any Error) {
        guard let error = error as? AWSError else {
            self = .transient
            return
        }
        switch error.type {
        case "InvalidInstanceException": self = .instanceUnknown
        case "ClusterNotFoundException": self = .clusterUnknown
        case "ExpiredTokenException": self = .credentialsExpired
        default: self = error.isRetryable ? .transient : .refused
        }
    }
}
