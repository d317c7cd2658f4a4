import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import AWSProtocols
import CurlHTTP
import ECSShapes
import Logging
import StevedoreClient
import StevedoreCore
import Synchronization

/// A task engine without Docker (the hollow-node technique): it acknowledges assignments through
/// the same API as a real agent and moves tasks to RUNNING and STOPPED, so tests and benchmarks
/// can run hundreds of instances on one machine.
///
/// A container's `dockerLabels["stevedore.simulate"]` changes how its task behaves, as a
/// comma-separated list: `fail-start` (STOPPED with CannotPullContainerError, never RUNNING),
/// `start-delay=2s` (RUNNING only after a delay), `exit-after=3s` (the container exits with code 1
/// after running that long), `exit-code=N` (the code for exit-after).
public actor SimulatedEngine: TaskEngine {
    public static let behaviourLabel = "stevedore.simulate"

    private enum Phase { case starting, running, stopped }
    private struct Due {
        var at: ContinuousClock.Instant
        var arn: String
        var action: Action
    }
    private enum Action { case start, exit(code: Int, container: String) }

    private let link: ControlPlaneLink
    private let logger: Logger
    private let doorbell = Doorbell()
    private var phases: [String: Phase] = [:]
    private var timers: [Due] = []
    private let observer: (@Sendable (AgentAssignment) -> Void)?

    /// `observer` sees every assignment as it arrives (benchmarks measure delivery latency with it).
    public init(link: ControlPlaneLink, logger: Logger, observer: (@Sendable (AgentAssignment) -> Void)? = nil) {
        self.link = link
        self.logger = logger
        self.observer = observer
    }

    public var runningTaskCount: Int { phases.values.filter { $0 == .running }.count }

    public func handle(_ assignment: AgentAssignment) async {
        observer?(assignment)
        let task = assignment.task
        guard let arn = task.taskArn else { return }
        switch (task.desiredTaskStatus ?? .running, phases[arn]) {
        case (.running, nil):
            phases[arn] = .starting
            await start(task, definition: assignment.taskDefinition)
        case (.stopped, .some(.stopped)):
            break
        case (.stopped, _):
            guard task.taskStatus != .stopped else {
                phases[arn] = .stopped
                return
            }
            phases[arn] = .stopped
            timers.removeAll { $0.arn == arn }
            await report(task, status: .stopped, exitCode: 0, reason: nil)
        default:
            break
        }
    }

    public func streamLogs(_ request: LogRequest) async {
        let text = "simulated task \(request.taskArn.split(separator: "/").last ?? "") runs no containers, so it has no logs\n"
        _ = try? await link.postLogs(id: request.id, bytes: Array(text.utf8), done: true)
    }

    public func exec(_ request: ExecRequest) async {
        let text = "simulated task \(request.taskArn.split(separator: "/").last ?? "") runs no containers: there is nothing to run \(request.command.first ?? "") in"
        _ = try? await link.postExecOutput(id: request.id, bytes: ExecFrame.encode([ExecFrame(.failure, text: text)]), done: true)
    }

    /// Sleeps while no behaviour is timed (most instances, most of the time), else ticks until due.
    public func run() async throws {
        while !Task.isCancelled {
            if timers.isEmpty {
                await doorbell.wait()
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
            let now = ContinuousClock.now
            let due = timers.filter { $0.at <= now }
            timers.removeAll { $0.at <= now }
            for item in due { await fire(item) }
        }
    }

    private func start(_ task: ECSTask, definition: TaskDefinition?) async {
        let behaviour = Self.behaviour(of: definition)
        guard let arn = task.taskArn else { return }
        if behaviour.failStart {
            phases[arn] = .stopped
            await report(
                task, status: .stopped, exitCode: nil,
                reason: "CannotPullContainerError: simulated pull failure for \(task.containers?.first?.image ?? "image")")
            return
        }
        if let delay = behaviour.startDelay {
            timers.append(Due(at: .now + delay, arn: arn, action: .start))
            doorbell.ring()
            pending[arn] = (task, definition)
            return
        }
        await becomeRunning(task, behaviour: behaviour)
    }

    private var pending: [String: (ECSTask, TaskDefinition?)] = [:]
    private var exits: [String: ECSTask] = [:]

    private func becomeRunning(_ task: ECSTask, behaviour: Behaviour) async {
        guard let arn = task.taskArn, phases[arn] == .starting else { return }
        phases[arn] = .running
        await report(task, status: .running, exitCode: nil, reason: nil)
        if let after = behaviour.exitAfter, let container = behaviour.exitContainer {
            exits[arn] = task
            timers.append(Due(at: .now + after, arn: arn, action: .exit(code: behaviour.exitCode, container: container)))
            doorbell.ring()
        }
    }

    private func fire(_ due: Due) async {
        switch due.action {
        case .start:
            guard let (task, definition) = pending.removeValue(forKey: due.arn) else { return }
            await becomeRunning(task, behaviour: Self.behaviour(of: definition))
        case .exit(let code, let container):
            guard let task = exits.removeValue(forKey: due.arn), phases[due.arn] == .running else { return }
            phases[due.arn] = .stopped
            await report(task, status: .stopped, exitCode: code, reason: nil, exitedContainer: container)
        }
    }

    /// Sends a task state change with every container in the same status.
    private func report(_ task: ECSTask, status: ContainerRunStatus, exitCode: Int?, reason: String?, exitedContainer: String? = nil) async {
        let containers = (task.containers ?? []).map { container in
            ContainerStateChange(
                containerName: container.name,
                runtimeId: "sim-\(container.name ?? "")-\(task.taskArn?.suffix(8) ?? "")",
                exitCode: status == .stopped ? (container.name == exitedContainer ? exitCode : (exitCode ?? 0)) : nil,
                networkBindings: [],
                reason: status == .stopped && reason != nil ? reason : nil,
                status: status.rawValue
            )
        }
        let change = SubmitTaskStateChangeRequest(
            task: task.taskArn, status: status.rawValue, reason: reason, containers: containers,
            pullStartedAt: status == .running ? Date() : nil, pullStoppedAt: status == .running ? Date() : nil,
            executionStoppedAt: status == .stopped ? Date() : nil)
        do {
            try await withRetries("SubmitTaskStateChange") { try await link.submit(change) }
        } catch {
            logger.info("state change not accepted", metadata: ["task.arn": "\(task.taskArn ?? "")", "error": "\(error)"])
        }
    }

    struct Behaviour {
        var failStart = false
        var startDelay: Duration?
        var exitAfter: Duration?
        var exitCode = 1
        var exitContainer: String?
    }

    static func behaviour(of definition: TaskDefinition?) -> Behaviour {
        var behaviour = Behaviour()
        for container in definition?.containerDefinitions ?? [] {
            guard let text = container.dockerLabels?[behaviourLabel] else { continue }
            for item in text.split(separator: ",").map({ $0.trimmingWhitespace }) {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                switch parts[0] {
                case "fail-start": behaviour.failStart = true
                case "start-delay": behaviour.startDelay = parts.count > 1 ? AgentConfiguration.parseDuration(parts[1]) : nil
                case "exit-after":
                    behaviour.exitAfter = parts.count > 1 ? AgentConfiguration.parseDuration(parts[1]) : nil
                    behaviour.exitContainer = container.name
                case "exit-code": behaviour.exitCode = parts.count > 1 ? Int(parts[1]) ?? 1 : 1
                default: break
                }
            }
        }
        return behaviour
    }
}
