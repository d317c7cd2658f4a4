import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ArgumentParser
import CoreMetrics
import ECSAgent
import Logging
import Observability
import ServiceLifecycle
import StevedoreCore
import UnixSignals

@main
struct ECSAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ecs-agent",
        abstract: "Stevedore's node agent: registers this host with ecsd and runs its tasks on Docker.",
        discussion: """
            Settings come from the ecs.config file and from ECS_* environment variables (which win), \
            as with the real ECS agent. Exit status 5 means a configuration error: fix it before restarting.
            """,
        version: StevedoreVersion.current
    )

    @Option(help: "The ecs.config file (KEY=VALUE lines).")
    var config = "/etc/ecs/ecs.config"

    @Option(help: "Simulate N instances without Docker (for tests and benchmarks).")
    var simulate: Int?

    @Option(name: .customLong("simulate-resources"), help: "Resources of each simulated instance.")
    var simulateResources = "cpu=4096,memory=8192"

    @Option(name: .customLong("simulate-zones"), help: "Comma-separated availability zones handed to simulated instances in turn.")
    var simulateZones: String?

    @Option(name: .customLong("simulate-state-dir"), help: "Keep simulated instances' ARNs here, so a restart re-registers them.")
    var simulateStateDir: String?

    func run() async throws {
        let fileValues = FileManager.default.contents(atPath: config).map { AgentConfiguration.parseFile(String(decoding: $0, as: UTF8.self)) } ?? [:]
        let loaded: (AgentConfiguration, [String])
        do {
            loaded = try AgentConfiguration.load(file: fileValues, environment: ProcessInfo.processInfo.environment)
        } catch {
            writeStandardError("ecs-agent: configuration error: \(error)\n")
            throw ExitCode(5)
        }
        let (configuration, warnings) = loaded
        let level: Logger.Level =
            switch configuration.logLevel {
            case "debug": .debug
            case "warn": .warning
            case "error": .error
            case "crit", "none": .critical
            default: .info
            }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "ecs-agent")
        for warning in warnings { logger.warning("configuration", metadata: ["problem": "\(warning)"]) }

        guard let count = simulate else {
            let metrics = PrometheusRegistry()
            MetricsSystem.bootstrap(metrics)
            let agent = HostAgent(configuration: configuration, logger: logger, metrics: metrics)
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: AgentService(agent: agent))], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            do {
                try await group.run()
            } catch let error as AgentConfiguration.Error {
                writeStandardError("ecs-agent: configuration error: \(error)\n")
                throw ExitCode(5)
            } catch let error as AWSError where error.httpStatus < 500 {
                // The control plane refused this agent (bad attributes, wrong token): do not restart.
                writeStandardError("ecs-agent: registration refused: \(error)\n")
                throw ExitCode(5)
            }
            return
        }
        guard count > 0 else { throw ValidationError("--simulate needs a positive number of instances.") }
        var options = SimulatedFleet.Options(count: count)
        do {
            try options.applyResources(simulateResources)
        } catch {
            throw ValidationError(error.description)
        }
        options.zones = simulateZones.map { $0.split(separator: ",").map(String.init) } ?? []
        options.stateDirectory = simulateStateDir
        let fleet = SimulatedFleet(configuration: configuration, options: options, logger: logger)
        logger.notice(
            "simulating instances",
            metadata: ["count": "\(count)", "cluster": "\(configuration.cluster)", "backend": "\(configuration.backendHost)"])
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: FleetService(fleet: fleet))],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}

/// Runs the host agent until the process is told to stop.
struct AgentService: Service, CustomStringConvertible {
    let agent: HostAgent
    // Logged by the service group: never the configuration (it may hold the registration token).
    var description: String { "ecs-agent" }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await agent.run() }
        } catch is CancellationError {
        }
    }
}

/// Runs the fleet until the process is told to stop.
struct FleetService: Service, CustomStringConvertible {
    let fleet: SimulatedFleet
    var description: String { "ecs-agent --simulate" }

    func run() async throws {
        try await cancelWhenGracefulShutdown { try await fleet.run() }
    }
}

/// Writes straight to file descriptor 2 (no Foundation file handles in the agent).
func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}
