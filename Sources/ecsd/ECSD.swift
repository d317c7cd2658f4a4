import APIGateway
import ApplicationAutoScaling
import ArgumentParser
import ControlPlane
import ECS
import ECSAgent
import Foundation
import Lambda
import Logging
import Metrics
import Observability
import ServiceLifecycle
import StevedoreCore
import Storage
import UnixSignals

@main
struct ECSD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ecsd",
        abstract: "Stevedore's control plane: the ECS API, the scheduler and the service loops.",
        discussion: "With no subcommand, ecsd serves (`ecsd --dev`, `ecsd --data-dir DIR …`: see `ecsd serve --help`).",
        version: StevedoreVersion.current,
        subcommands: [Serve.self, Backup.self, StoreCommand.self],
        defaultSubcommand: Serve.self
    )
}

/// Runs the control plane (the default subcommand).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the APIs and run the scheduler and the service loops (the default)."
    )

    @Option(help: "Address to serve the API on, host:port (env ECSD_LISTEN).")
    var listen: String?

    @Option(name: .customLong("gateway-listen"), help: "Address the API Gateway data plane serves APIs on, host:port (env ECSD_GATEWAY_LISTEN).")
    var gatewayListen: String?

    @Option(name: .customLong("data-dir"), help: "Directory for the SQLite store (env ECSD_DATA_DIR).")
    var dataDir: String?

    @Option(help: "Region used in ARNs (env ECSD_REGION; default us-east-1).")
    var region: String?

    @Option(name: .customLong("account-id"), help: "Account id used in ARNs (env ECSD_ACCOUNT_ID; default 000000000000).")
    var accountId: String?

    @Option(help: "Where the state lives: sqlite (a file in the data directory), or postgres://user:password@host:port/database (env ECSD_STORE).")
    var store: String?

    @Option(name: .customLong("lease-timeout"), help: "With several ecsd on one PostgreSQL: seconds within which another replica serves once the leader is gone (default 10).")
    var leaseTimeout: Double = 10

    @Option(help: "With several ecsd on one PostgreSQL: the URL the other replicas forward requests to (default: http(s)://<listen address>; env ECSD_ADVERTISE).")
    var advertise: String?

    @Option(name: .customLong("store-timeout"), help: "Seconds a PostgreSQL commit may take before it fails (default 30).")
    var storeTimeout: Double = 30

    @Option(help: "normal: survive a crash of ecsd; full: also survive power loss (fsync per commit).")
    var durability: SQLiteStateStore.Durability = .normal

    @Option(name: .customLong("read-cache-entries"), help: "Answers to repeated identical reads kept until the next write (0: off).")
    var readCacheEntries = 4096

    @Option(name: .customLong("read-cache-mb"), help: "The most the read cache holds, in MiB of requests and answers.")
    var readCacheMB = 32

    @Option(name: .customLong("logs-max-mb"), help: "The most CloudWatch Logs' events may take on disk, in MiB (oldest go first; 0: no bound but retention).")
    var logsMaxMB = 10_240

    @Option(name: .customLong("max-connections"), help: "Connections open at once; more are answered 503 and closed.")
    var maxConnections = 1024

    @Option(name: .customLong("request-timeout"), help: "Seconds a request's headers may take to arrive, and its body may stall, before its connection is closed.")
    var requestTimeout = 30

    @Option(name: .customLong("idle-timeout"), help: "Seconds an idle keep-alive connection stays open.")
    var idleTimeout = 60

    @Option(name: .customLong("agent-timeout"), help: "Seconds of agent silence before its instance is disconnected and its service tasks are replaced.")
    var agentTimeout: Double = 30

    @Option(name: .customLong("launch-backoff"), help: "First delay (seconds) after a service task fails to start; doubles per failure.")
    var launchBackoff: Double = 5

    @Option(name: .customLong("launch-backoff-max"), help: "Longest delay (seconds) between a failing service's launches.")
    var launchBackoffMax: Double = 900

    @Option(name: .customLong("circuit-breaker-min-threshold"), help: "Least failures that trip a deployment circuit breaker (ECS: 10).")
    var circuitBreakerMinThreshold = 10

    @Option(name: .customLong("stopped-task-retention"), help: "Seconds stopped tasks stay visible.")
    var stoppedTaskRetention: Double = 3600

    @Option(
        name: .customLong("deregistration-delay"),
        help: "Seconds a service task behind the gateway drains (DEACTIVATING, no new requests) before it is stopped (ELB: 300).")
    var deregistrationDelay: Double = 300

    @Option(
        name: .customLong("websocket-idle-timeout"),
        help: "Seconds a WebSocket API connection may pass with no message before the gateway closes it (API Gateway: 600).")
    var webSocketIdleTimeout: Double = 600

    @Option(
        name: .customLong("websocket-max-lifetime"),
        help: "Seconds a WebSocket API connection may stay open at most (API Gateway: 7200).")
    var webSocketMaxLifetime: Double = 7200

    @Option(
        name: .customLong("agent-token"),
        help: "Agents register with this token (env ECSD_AGENT_TOKEN) and sign all else with credentials of their instance. Default with --auth on: made once, in <data-dir>/agent-token.")
    var agentToken: String?

    @Option(name: .customLong("agent-credential-lifetime"), help: "Seconds an instance's credentials last (10-43200); agents renew them at half that.")
    var agentCredentialLifetime: Int64 = 3600

    @Option(help: "on: AWS API requests must be signed by a known key (the first start writes one to <data-dir>/admin-credentials); off: any request is accepted. Default: on, off with --dev.")
    var auth: AuthMode?

    @Option(name: .customLong("tls-cert"), help: "Serve the API over TLS with this certificate chain (PEM; with --tls-key).")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "The TLS certificate's private key (PEM; with --tls-cert).")
    var tlsKey: String?

    @Option(name: .customLong("functions-cluster"), help: "Cluster that function execution environments are placed in.")
    var functionsCluster = "default"

    @Option(name: .customLong("runtime-image"), help: "RUNTIME=IMAGE: the image that runs a Lambda runtime (repeatable; provided* and python3.11 are built in).")
    var runtimeImages: [String] = []

    @Option(name: .customLong("function-idle-timeout"), help: "Seconds an idle execution environment is kept warm.")
    var functionIdleTimeout: Double = 300

    @Option(name: .customLong("concurrency-limit"), help: "Concurrent function executions across this control plane (Lambda: 1000).")
    var concurrencyLimit = 1000

    @Option(name: .customLong("unreserved-concurrency-minimum"), help: "Concurrency reservations must leave at least this much unreserved (Lambda: 100).")
    var unreservedConcurrencyMinimum = 100

    @Option(name: .customLong("async-retry-delay"), help: "Seconds before the first retry of a failed asynchronous invocation; the second waits twice as long (Lambda: ~60).")
    var asyncRetryDelay: Double = 60

    @Option(name: .customLong("function-memory-max"), help: "Largest MemorySize in MB (Lambda before 2020: 3008).")
    var functionMemoryMax = 3008

    @Option(name: .customLong("function-code-unzipped-max-mb"), help: "Largest unzipped function code and layers, in MiB (Lambda: 250).")
    var functionCodeUnzippedMaxMB = 250

    @Option(name: .customLong("scaling-resolution"), help: "Seconds per auto scaling datapoint (ECS: 60).")
    var scalingResolution: Double = 10

    @Option(name: .customLong("scale-out-datapoints"), help: "Datapoints above a target before scaling out (ECS: 3).")
    var scaleOutDatapoints = 3

    @Option(name: .customLong("scale-in-datapoints"), help: "Datapoints below 90% of a target before scaling in (ECS: 15).")
    var scaleInDatapoints = 15

    @Option(name: .customLong("capacity-scale-in-after"), help: "Seconds a capacity provider's reservation stays below target before its group shrinks (ECS: 900).")
    var capacityScaleInAfter: Double = 300

    @Option(name: .customLong("agent-binary"), help: "The ecs-agent the local auto scaling group launcher starts (default: beside ecsd).")
    var agentBinary: String?

    @Flag(name: .customLong("no-agent"), help: "With --dev: do not run an agent for this host.")
    var noAgent = false

    @Flag(help: "Local mode: state under ./.ecsd-dev, endpoint and next steps printed.")
    var dev = false

    @Option(name: .customLong("metrics-token"), help: "GET /metrics then wants 'Authorization: Bearer TOKEN' (env ECSD_METRICS_TOKEN); without, anyone who reaches the API may read the metrics.")
    var metricsToken: String?

    @Option(name: .customLong("log-format"), help: "text, or json: a JSON object per line, with request ids (env ECSD_LOG_FORMAT).")
    var logFormat: LogFormat?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error (env LOG_LEVEL).")
    var logLevel: Logger.Level?

    func validate() throws {
        if let listen = listen ?? ProcessInfo.processInfo.environment["ECSD_LISTEN"],
            ControlPlaneConfiguration.parseListen(listen) == nil
        {
            throw ValidationError("--listen '\(listen)' is not host:port (for example 127.0.0.1:8340).")
        }
        if let gateway = gatewayListen ?? ProcessInfo.processInfo.environment["ECSD_GATEWAY_LISTEN"],
            ControlPlaneConfiguration.parseListen(gateway) == nil
        {
            throw ValidationError("--gateway-listen '\(gateway)' is not host:port (for example 127.0.0.1:8380).")
        }
        let accountId = self.accountId ?? ProcessInfo.processInfo.environment["ECSD_ACCOUNT_ID"] ?? "000000000000"
        guard accountId.count == 12, accountId.allSatisfy(\.isNumber) else {
            throw ValidationError("--account-id must be 12 digits, like 000000000000.")
        }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together: give both or neither.") }
        for path in [tlsCert, tlsKey].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: path) {
            throw ValidationError("\(path): no readable file there (--tls-cert and --tls-key take PEM files).")
        }
        guard agentTimeout >= 1 else { throw ValidationError("--agent-timeout must be at least 1 second.") }
        guard functionCodeUnzippedMaxMB >= 1 else { throw ValidationError("--function-code-unzipped-max-mb must be at least 1.") }
        guard readCacheMB >= 0 else { throw ValidationError("--read-cache-mb must be 0 (off) or more.") }
        guard (0...(1 << 30)).contains(logsMaxMB) else { throw ValidationError("--logs-max-mb must be 0 (no bound) to 1073741824 (a PiB).") }
        guard maxConnections >= 1, requestTimeout >= 1, idleTimeout >= 1 else {
            throw ValidationError("--max-connections, --request-timeout and --idle-timeout must be at least 1.")
        }
        guard launchBackoff > 0, launchBackoffMax >= launchBackoff else {
            throw ValidationError("--launch-backoff must be above 0 and at most --launch-backoff-max.")
        }
        guard circuitBreakerMinThreshold >= 1 else { throw ValidationError("--circuit-breaker-min-threshold must be at least 1.") }
        guard concurrencyLimit >= 1, (0...concurrencyLimit).contains(unreservedConcurrencyMinimum) else {
            throw ValidationError("--concurrency-limit must be at least 1 and --unreserved-concurrency-minimum between 0 and it.")
        }
        guard scalingResolution >= 0.2, scaleOutDatapoints >= 1, scaleInDatapoints >= 1 else {
            throw ValidationError("--scaling-resolution must be at least 0.2 s and the datapoint counts at least 1.")
        }
        guard capacityScaleInAfter >= 0 else { throw ValidationError("--capacity-scale-in-after must be 0 or more seconds.") }
        guard functionMemoryMax >= 128 else { throw ValidationError("--function-memory-max must be at least 128.") }
        guard asyncRetryDelay >= 0, functionIdleTimeout >= 1 else {
            throw ValidationError("--async-retry-delay must be 0 or more and --function-idle-timeout at least 1 second.")
        }
        _ = try functionSettings()
    }

    func functionSettings() throws -> FunctionSettings {
        var settings = FunctionSettings()
        settings.cluster = functionsCluster
        settings.idleTimeout = functionIdleTimeout
        settings.concurrencyLimit = concurrencyLimit
        settings.unreservedMinimum = unreservedConcurrencyMinimum
        settings.asyncRetryDelay = asyncRetryDelay
        settings.memoryRange = 128...functionMemoryMax
        settings.maximumUnzippedSize = functionCodeUnzippedMaxMB << 20
        for assignment in runtimeImages {
            do {
                try settings.setRuntimeImage(assignment)
            } catch {
                throw ValidationError(error.message)
            }
        }
        return settings
    }

    var schedulerSettings: SchedulerSettings {
        var settings = SchedulerSettings()
        settings.launchBackoffBase = launchBackoff
        settings.launchBackoffMax = launchBackoffMax
        settings.circuitBreakerMinimumThreshold = circuitBreakerMinThreshold
        settings.stoppedRetention = stoppedTaskRetention
        settings.deregistrationDelay = deregistrationDelay
        return settings
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let level = logLevel ?? environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        let format = logFormat ?? environment["ECSD_LOG_FORMAT"].flatMap(LogFormat.init(rawValue:)) ?? .text
        LoggingSystem.bootstrap { label in
            switch format {
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
        let logger = Logger(label: "ecsd")
        let systemd = SystemdNotifier(environment: environment)

        let listenText = listen ?? environment["ECSD_LISTEN"] ?? "127.0.0.1:8340"
        let (host, port) = ControlPlaneConfiguration.parseListen(listenText)!
        let defaultDataDir = dev ? FileManager.default.currentDirectoryPath + "/.ecsd-dev" : "/var/lib/ecsd"
        var settings = ControlPlaneConfiguration(
            host: host,
            port: port,
            dataDirectory: dataDir ?? environment["ECSD_DATA_DIR"] ?? defaultDataDir,
            names: ResourceNames(
                region: region ?? environment["ECSD_REGION"] ?? "us-east-1",
                accountId: accountId ?? environment["ECSD_ACCOUNT_ID"] ?? "000000000000"
            ),
            durability: durability,
            readCacheEntries: readCacheEntries,
            agentTimeout: agentTimeout,
            scheduler: schedulerSettings,
            agentToken: agentToken ?? environment["ECSD_AGENT_TOKEN"]
        )
        settings.readCacheBytes = readCacheMB << 20
        settings.logsMaximumBytes = logsMaxMB << 20
        let (gatewayHost, gatewayPort) = ControlPlaneConfiguration.parseListen(gatewayListen ?? environment["ECSD_GATEWAY_LISTEN"] ?? "127.0.0.1:8380")!
        (settings.gatewayHost, settings.gatewayPort) = (gatewayHost, gatewayPort)
        guard (0.001...31_536_000).contains(webSocketIdleTimeout), (0.001...31_536_000).contains(webSocketMaxLifetime) else {
            throw ValidationError("--websocket-idle-timeout and --websocket-max-lifetime must be positive numbers of seconds, at most a year.")
        }
        settings.webSocketLimits = WebSocketLimits(
            idleTimeout: .milliseconds(Int64(webSocketIdleTimeout * 1000)), maximumLifetime: .milliseconds(Int64(webSocketMaxLifetime * 1000)))
        if settings.agentToken?.isEmpty == true {
            throw ValidationError("--agent-token (or ECSD_AGENT_TOKEN) is empty: give a token of at least 16 characters, or leave it out.")
        }
        if let token = settings.agentToken, token.count < 16 {
            throw ValidationError("--agent-token must be at least 16 characters; got \(token.count).")
        }
        guard (10...43200).contains(agentCredentialLifetime) else {
            throw ValidationError("--agent-credential-lifetime must be 10-43200 seconds; got \(agentCredentialLifetime).")
        }
        settings.agentCredentialLifetime = agentCredentialLifetime
        settings.connectionLimits.maximumConnections = maxConnections
        settings.connectionLimits.requestTimeout = .seconds(requestTimeout)
        settings.connectionLimits.idleTimeout = .seconds(idleTimeout)
        settings.functions = try functionSettings()
        settings.scaling.resolution = scalingResolution
        settings.scaling.scaleOutDatapoints = scaleOutDatapoints
        settings.scaling.scaleInDatapoints = scaleInDatapoints
        settings.capacityScaleInAfter = capacityScaleInAfter
        if let agentBinary { settings.agentBinary = agentBinary }
        if let tlsCert, let tlsKey { settings.tls = .init(certificateChain: tlsCert, privateKey: tlsKey) }
        let admin = (auth ?? (dev ? .off : .on)) == .on ? try AdminCredentials.loadOrCreate(dataDirectory: settings.dataDirectory) : nil
        if let admin { settings.administrator = admin.credentials }
        // Agents do not sign: with authentication on, their operations need a token, made if none is given.
        let agentTokenFile = admin != nil && settings.agentToken == nil ? try AgentTokenFile.loadOrCreate(dataDirectory: settings.dataDirectory) : nil
        if let agentTokenFile { settings.agentToken = agentTokenFile.token }
        switch store ?? environment["ECSD_STORE"] ?? "sqlite" {
        case "sqlite": break
        case let url:
            guard let location = PostgresStateStore.Location(url: url) else {
                throw ValidationError(
                    "--store \(PostgresStateStore.Location.redacted(url)) is neither sqlite nor postgres://user:password@host:port/database "
                        + "(or postgres://user@/database?host=/socket/dir; sslmode disable, prefer, require, verify-ca or verify-full).")
            }
            settings.postgres = location
        }
        guard (1...3600).contains(leaseTimeout) else { throw ValidationError("--lease-timeout must be 1-3600 seconds; got \(leaseTimeout).") }
        guard (0.1...3600).contains(storeTimeout) else { throw ValidationError("--store-timeout must be 0.1-3600 seconds; got \(storeTimeout).") }
        settings.storeCommitTimeout = .milliseconds(Int64(storeTimeout * 1000))
        settings.metricsToken = metricsToken ?? environment["ECSD_METRICS_TOKEN"]
        if settings.metricsToken?.isEmpty == true { throw ValidationError("--metrics-token (or ECSD_METRICS_TOKEN) is empty: give a token, or leave it out.") }
        // swift-metrics' figures go to the registry /metrics renders (before anything makes a metric).
        MetricsSystem.bootstrap(settings.prometheus)
        let configuration = settings
        let role = Replica.Role(registry: configuration.prometheus)
        var leadership: LeaseRenewal?
        var follower: Replica.Follower?
        if let postgres = configuration.postgres {
            // One leader per database; the other replicas follow and forward to it until one of
            // them takes the lease.
            let advertised = advertise ?? environment["ECSD_ADVERTISE"] ?? configuration.endpoint
            guard let url = URLComponents(string: advertised), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false else {
                throw ValidationError("--advertise \(advertised) is not an http(s):// URL the other replicas can reach this ecsd at.")
            }
            systemd.notify("STATUS=Connecting to PostgreSQL for the leader lease")
            let lease = try await LeaderLease(
                location: postgres, holder: "\(ProcessInfo.processInfo.hostName)/\(getpid())/\(UUID().uuidString.prefix(8).lowercased())",
                endpoint: advertised, timeout: .milliseconds(Int64(leaseTimeout * 1000)), logger: logger)
            let following = try await Replica.Follower(lease: lease, configuration: configuration, systemd: systemd, logger: logger)
            follower = following
            guard let fence = await following.leaseTaken() else {
                lease.close()
                return
            }
            // Renewed from now on, while the state loads.
            leadership = LeaseRenewal(lease: lease, fence: fence, logger: logger)
        }
        systemd.notify("STATUS=Opening the store in \(configuration.dataDirectory)")
        let controlPlane: ControlPlane
        do {
            controlPlane = try await ControlPlane(configuration: configuration, leadership: leadership, logger: logger)
        } catch {
            await leadership?.release()
            throw error
        }
        if let leadership, let follower {
            // The state is loaded: the follower's listener closes and the leader's opens at once,
            // so requests see no more than a moment without a listener.
            guard await follower.stop() else {
                await leadership.release()
                return
            }
        }
        role.lead(leadership?.fence.token)
        let dev = self.dev
        let services = controlPlane.services(systemd: systemd) { port in
            let endpoint = "\(configuration.tls == nil ? "http" : "https")://\(host):\(port)"
            // The store is open (ControlPlane loaded it) and the API listens.
            systemd.notify("READY=1\nSTATUS=Serving the API at \(endpoint)")
            logger.notice("ecsd listening", metadata: ["endpoint": "\(endpoint)", "data.dir": "\(configuration.dataDirectory)"])
            if let admin {
                logger.notice(
                    "requests must be signed; the administrator's key is in \(admin.path)\(admin.created ? " (made now)" : ""): AWS_SHARED_CREDENTIALS_FILE=\(admin.path) aws ecs list-clusters --endpoint-url \(endpoint)")
                if let agentTokenFile {
                    logger.notice("agents must present the token in \(agentTokenFile.path)\(agentTokenFile.created ? " (made now)" : ""): set ECS_AGENT_REGISTRATION_TOKEN to it in their ecs.config")
                }
            } else {
                logger.notice("authentication is off: any request that reaches \(endpoint) is accepted (--auth off\(dev ? ", the default with --dev" : ""))")
            }
            if dev {
                FileHandle.standardOutput.write(Data(
                    """
                    Stevedore control plane running at \(endpoint) (state in \(configuration.dataDirectory)).
                    An agent for this host joins cluster "default" (Docker via /var/run/docker.sock).
                    Next: ecsctl node ls && ecsctl taskdef register -f Examples/task-definitions/hello-web.json
                          ecsctl task run hello-web --wait
                          or: aws ecs list-clusters --endpoint-url \(endpoint)
                    APIs made with API Gateway answer at http://\(configuration.gatewayHost):\(configuration.gatewayPort)/{api-id}/ (see Examples/gateway).

                    """.utf8))
            }
        }
        var all = services
        if dev && !noAgent {
            // The dev cluster's own agent: this host's Docker engine, ports published on 127.0.0.1.
            var agent = AgentConfiguration()
            agent.cluster = "default"
            agent.backendHost = configuration.endpoint
            agent.dataDirectory = configuration.dataDirectory + "/agent"
            agent.checkpoint = true
            agent.hostPortBindIP = "127.0.0.1"
            agent.registrationToken = configuration.agentToken
            // A self-signed certificate is its own authority.
            agent.backendCAFile = configuration.tls?.certificateChain
            agent.availableLoggingDrivers = ["json-file", "syslog", "journald", "none", "local"]
            all.append(DevAgentService(agent: HostAgent(configuration: agent, logger: Logger(label: "ecs-agent"), metrics: configuration.prometheus)))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: all.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

enum AuthMode: String, ExpressibleByArgument {
    case on, off
}

enum LogFormat: String, ExpressibleByArgument {
    case text, json
}

extension SQLiteStateStore.Durability: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Runs the dev cluster's agent inside ecsd; it waits for Docker if none is running yet.
struct DevAgentService: Service, CustomStringConvertible {
    let agent: HostAgent
    var description: String { "ecs-agent (dev)" }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await agent.run() }
        } catch is CancellationError {
        } catch {
            agent.logger.error("dev agent stopped", metadata: ["error": "\(error)"])
        }
    }
}
