import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import AWSProtocols
import Capacity
import CurlHTTP
import ECS
import ECSShapes
import Foundation
import Lambda
import LambdaShapes
import Logging
import StevedoreCore

/// Launches and terminates auto scaling group instances: `ecs-agent` processes on this host
/// (local), a user's program (command) or a user's HTTP endpoint (webhook). The command and the
/// webhook get the same facts: the action, the group, the instance id the new agent must
/// register with (`ECS_INSTANCE_ID`), the cluster and ecsd's endpoint.
actor InstanceLauncher {
    struct Settings: Sendable {
        /// The `ecs-agent` binary the local launcher starts.
        var agentBinary: String
        /// Where local instances keep their data and logs.
        var directory: String
        /// What agents connect to.
        var endpoint: String
        var agentToken: String?
        /// The authority agents verify a TLS endpoint against (ecsd's own certificate chain).
        var caFile: String?
        var commandTimeout: Duration = .seconds(120)
    }

    let settings: Settings
    let logger: Logger
    /// Local agents this ecsd started, so their exit is reaped and noticed.
    private var processes: [String: Process] = [:]

    init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Launches an instance; for the local launcher, returns the agent's process id.
    func launch(_ launch: GroupPlan.Launch) async throws(Failure) -> Int32? {
        switch launch.launcher.Type {
        case .local:
            return try startLocalAgent(launch)
        case .command:
            try await runCommand(launch.launcher.Command ?? [], action: "launch", group: launch.group, instanceId: launch.instanceId, cluster: launch.cluster)
            return nil
        case .webhook:
            try await post(launch.launcher.Url ?? "", action: "launch", group: launch.group, instanceId: launch.instanceId, cluster: launch.cluster)
            return nil
        }
    }

    func terminate(_ termination: GroupPlan.Termination) async throws(Failure) {
        switch termination.launcher.Type {
        case .local:
            await stopLocalAgent(termination)
        case .command:
            try await runCommand(
                termination.launcher.Command ?? [], action: "terminate", group: termination.group, instanceId: termination.instanceId,
                cluster: termination.cluster)
        case .webhook:
            try await post(
                termination.launcher.Url ?? "", action: "terminate", group: termination.group, instanceId: termination.instanceId,
                cluster: termination.cluster)
        }
    }

    /// Whether a local instance's agent still runs (other launchers: assumed so).
    func isAlive(instanceId: String, processId: Int32?) -> Bool {
        if let process = processes[instanceId] { return process.isRunning }
        guard let processId else { return true }
        // Started by an earlier ecsd: alive if that process is still this instance's agent (after
        // a reboot the number may belong to anything else).
        return Self.isAgent(processId, instanceId: instanceId)
    }

    /// Whether `pid` runs an ecs-agent with this instance's configuration file.
    static func isAgent(_ pid: Int32, instanceId: String) -> Bool {
        guard let bytes = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let arguments = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return arguments.first?.hasSuffix("ecs-agent") == true && arguments.contains { $0.contains("/\(instanceId)/ecs.config") }
    }

    // MARK: Local

    private func instanceDirectory(_ group: String, _ instanceId: String) -> String {
        "\(settings.directory)/\(group)/\(instanceId)"
    }

    private func startLocalAgent(_ launch: GroupPlan.Launch) throws(Failure) -> Int32 {
        guard let cluster = launch.cluster else {
            throw Failure(description: "the group's capacity provider is not attached to a cluster (PutClusterCapacityProviders), so its agents have nowhere to join")
        }
        guard FileManager.default.isExecutableFile(atPath: settings.agentBinary) else {
            throw Failure(description: "the ecs-agent binary \(settings.agentBinary) is not there; start ecsd with --agent-binary")
        }
        let directory = instanceDirectory(launch.group, launch.instanceId)
        var config = launch.launcher.AgentConfig ?? [:]
        config["ECS_CLUSTER"] = cluster
        config["ECS_BACKEND_HOST"] = settings.endpoint
        config["ECS_DATADIR"] = directory + "/data"
        config["ECS_INSTANCE_ID"] = launch.instanceId
        if let token = settings.agentToken { config["ECS_AGENT_REGISTRATION_TOKEN"] = token }
        if let caFile = settings.caFile, config["ECS_BACKEND_CA_FILE"] == nil { config["ECS_BACKEND_CA_FILE"] = caFile }
        let configFile = directory + "/ecs.config"
        let process = Process()
        do {
            try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
            let text = config.keys.sorted().map { "\($0)=\(config[$0]!)" }.joined(separator: "\n") + "\n"
            try Data(text.utf8).write(to: URL(fileURLWithPath: configFile))
            _ = FileManager.default.createFile(atPath: directory + "/agent.log", contents: nil)
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/agent.log"))
            log.seekToEndOfFile()
            process.executableURL = URL(fileURLWithPath: settings.agentBinary)
            process.arguments = ["--config", configFile]
            // ecsd's own ECS_* settings would win over the file: leave them out.
            process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ECS_") }
            process.standardOutput = log
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            try process.run()
        } catch {
            throw Failure(description: "could not start \(settings.agentBinary): \(error)")
        }
        processes[launch.instanceId] = process
        logger.notice(
            "instance launched", metadata: ["asg": "\(launch.group)", "instance": "\(launch.instanceId)", "pid": "\(process.processIdentifier)"])
        return process.processIdentifier
    }

    private func stopLocalAgent(_ termination: GroupPlan.Termination) async {
        let process = processes.removeValue(forKey: termination.instanceId)
        let stored = termination.processId.flatMap { Self.isAgent($0, instanceId: termination.instanceId) ? $0 : nil }
        let pid = process?.processIdentifier ?? stored
        if let pid, pid > 0 {
            kill(pid, SIGTERM)
            // The agent stops within its shutdown grace; then it is killed.
            for _ in 0..<100 {
                let running = process?.isRunning ?? (kill(pid, 0) == 0)
                if !running { break }
                try? await Task.sleep(for: .milliseconds(100))
            }
            if process?.isRunning ?? (kill(pid, 0) == 0) { kill(pid, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: instanceDirectory(termination.group, termination.instanceId))
        logger.notice("instance terminated", metadata: ["asg": "\(termination.group)", "instance": "\(termination.instanceId)"])
    }

    // MARK: Command and webhook

    private func facts(action: String, group: String, instanceId: String, cluster: String?) -> [String: String] {
        [
            "STEVEDORE_ACTION": action, "STEVEDORE_GROUP": group, "STEVEDORE_INSTANCE_ID": instanceId,
            "STEVEDORE_CLUSTER": cluster ?? "", "STEVEDORE_ENDPOINT": settings.endpoint,
        ]
    }

    private func runCommand(_ command: [String], action: String, group: String, instanceId: String, cluster: String?) async throws(Failure) {
        guard let program = command.first else { throw Failure(description: "the group has no Command") }
        // Output goes to a file, not a pipe: a program that leaves a daemon behind (which keeps
        // the pipe open) or writes a lot must never block the loop.
        let outputPath = settings.directory + "/command-\(instanceId)-\(action).log"
        let process = Process()
        do {
            try FileManager.default.createDirectory(atPath: settings.directory, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
            let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = Array(command.dropFirst())
            process.environment = ProcessInfo.processInfo.environment.merging(facts(action: action, group: group, instanceId: instanceId, cluster: cluster)) { $1 }
            process.standardOutput = output
            process.standardError = output
            process.standardInput = FileHandle.nullDevice
        } catch {
            throw Failure(description: "could not prepare \(program): \(error)")
        }
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let exited = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { exited.continuation.yield($0.terminationStatus) }
        do {
            try process.run()
        } catch {
            throw Failure(description: "could not run \(program): \(error)")
        }
        let timeout = settings.commandTimeout
        let status = await withTaskGroup(of: Int32?.self) { group in
            group.addTask {
                for await status in exited.stream { return status }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let status else {
            process.terminate()
            throw Failure(description: "\(program) \(action) did not finish within \(timeout)")
        }
        guard status == 0 else {
            let text = ((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "").suffix(2000)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            throw Failure(description: "\(program) \(action) exited with status \(status)\(text.isEmpty ? "" : ": \(text)")")
        }
    }

    private func post(_ url: String, action: String, group: String, instanceId: String, cluster: String?) async throws(Failure) {
        let body = ["action": action, "group": group, "instanceId": instanceId, "cluster": cluster ?? "", "endpoint": settings.endpoint]
        do {
            let response = try await HTTPClient(baseURL: url).execute(
                HTTPClient.Request(
                    method: "POST", path: "", headers: [("Content-Type", "application/json")], body: Array(try JSONEncoder().encode(body)),
                    timeout: settings.commandTimeout))
            guard (200..<300).contains(response.status) else {
                throw Failure(description: "\(url) answered \(response.status) to \(action): \(String(decoding: response.body.prefix(500), as: UTF8.self))")
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: "\(url) could not be reached for \(action): \(error)")
        }
    }
}
