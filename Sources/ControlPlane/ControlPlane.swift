import AgentProtocol
import APIGateway
import Athena
import Glue
import AthenaSQLite
import Foundation
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import AWSProtocols
import Capacity
import CloudFormation
import ECS
import EventBridge
import ECSShapes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import IAM
import Lambda
import LoadBalancing
import Logs
import LogSubscriptions
import LambdaShapes
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Observability
import Sealing
import Secrets
import ServiceLifecycle
import SigV4
import S3
import SNS
import SQS
import StevedoreCore
import Storage
import Synchronization

/// `ecsd`'s parts wired together: the store, the committer over every service's loaded state,
/// each service's wire binding, the loops, and the HTTP server.
public struct ControlPlane: Sendable {
    public let configuration: ControlPlaneConfiguration
    public let committer: Committer<ControlPlaneState>
    /// What tasks use, as agents report it (service auto scaling reads it).
    public let usage = UsageStore()
    /// Requests the gateway sent each target group (service auto scaling's ALBRequestCountPerTarget).
    let requestCounts = TargetGroupRequestCounts()
    let logs = LogRelay()
    let execs = ExecRelay()
    let store: any ClosableStateStore
    let dispatcher: AWSJSONDispatcher
    let queryServices: QueryDispatcher
    let routes: [RESTRoute]
    /// Who may sign requests (when authentication is on).
    let keyring: AccessKeyring
    let agentAuthenticator: AgentAuthenticator?
    /// The server's certificate and key, when it serves TLS.
    let tlsConfiguration: TLSConfiguration?
    let logger: Logger
    let functionRouter: FunctionRouter
    let asyncInvoker: AsyncInvoker
    let code: CodeStore
    let objectFiles: ObjectFiles
    /// CloudWatch Logs' events, and what writes the control plane's own logs into them.
    let logEvents: LogEventFiles
    let console: ConsoleBackend
    let logIngest: LogIngest
    let metrics: ServiceMetrics
    let agents: AgentChannel
    /// API Gateway's data plane, served on its own listener, and its stages' access logs.
    let gateway: GatewayDataPlane
    /// HTTP_PROXY's backend connections, on the gateway listener's event loops.
    let backends: BackendConnections
    /// Target groups' health checks' findings: the gateway sends requests to healthy targets.
    let targetHealth: TargetHealthRegistry
    let gatewayLogs: AccessLogStore
    /// SNS's deliveries to HTTP(S) endpoints.
    let snsDeliveries: SNSDeliveryLoop
    /// CloudFormation's deployments.
    let stackDeployer: StackDeployer
    /// Athena's query executions.
    let queryRunner: QueryRunner
    /// The leader lease this replica holds, and the token its writes carry (replicas on PostgreSQL).
    let leadership: LeaseRenewal?

    /// Opens the store, loads the state and binds every service's operations.
    /// - Parameter leadership: on PostgreSQL, the lease this replica took (``Replica/Follower``), renewed
    ///   from then on: every write checks its token, and it is released after the store closed.
    public init(configuration: ControlPlaneConfiguration, leadership: LeaseRenewal? = nil, logger: Logger) async throws {
        self.configuration = configuration
        self.logger = logger
        self.leadership = leadership
        tlsConfiguration = try configuration.tls.map(Self.serverTLS)
        if let postgres = configuration.postgres {
            store = try await PostgresStateStore(
                location: postgres, commitTimeout: configuration.storeCommitTimeout, fence: leadership?.fence, logger: logger)
        } else {
            let sqlite = try SQLiteStateStore(directory: configuration.dataDirectory, durability: configuration.durability, logger: logger)
            if let epoch = try await StateCopies.renewEpochIfCopied(dataDirectory: configuration.dataDirectory, store: sqlite) {
                logger.notice("first start from a copy of the state: agents will be sent their work again", metadata: ["state.epoch": "\(epoch)"])
            }
            store = sqlite
        }
        let names = configuration.names
        var settings = ControlPlaneState.Settings()
        settings.scheduler = configuration.scheduler
        settings.functions = configuration.functions
        settings.scaling = configuration.scaling
        settings.endpoint = configuration.endpoint
        settings.gatewayEndpoint = GatewayEndpoint(scheme: configuration.tls == nil ? "http" : "https", port: configuration.gatewayPort)
        committer = try await Committer.load(
            store: store,
            restore: { [settings] rows, now in try ControlPlaneState.restore(names: names, settings: settings, rows: rows, now: now) },
            assignmentSequence: { $0.ecs.counters.assignmentSequence },
            finish: { root, mutation in root.finishWrite(&mutation) },
            logger: logger)

        code = try CodeStore(dataDirectory: configuration.dataDirectory)
        objectFiles = try ObjectFiles(dataDirectory: configuration.dataDirectory, syncs: configuration.durability == .full)
        // Files of uploads a crash cut off between their rename and their commit, or let go of by
        // a commit just before one.
        objectFiles.collect(keeping: try await committer.readLatest { root, _ in root.s3.referencedFiles })
        let logEvents = try LogEventFiles(directory: configuration.dataDirectory + "/logs/events")
        self.logEvents = logEvents
        let logIngest = LogIngest(committer: committer, files: logEvents, logger: logger)
        self.logIngest = logIngest
        functionRouter = FunctionRouter(
            committer: committer, settings: configuration.functions, cloudWatch: logIngest, logger: logger)
        asyncInvoker = AsyncInvoker(committer: committer, router: functionRouter, logger: logger)
        metrics = ServiceMetrics(usage: usage, requests: requestCounts)
        agents = AgentChannel(
            committer: committer, logs: logs, execs: execs, usage: usage, maximumHold: max(1, Int(configuration.agentTimeout / 2)))

        var dispatcher = AWSJSONDispatcher(
            readCache: ReadCache(
                capacity: configuration.readCacheBytes == 0 ? 0 : configuration.readCacheEntries, capacityBytes: configuration.readCacheBytes,
                version: committer.version))
        dispatcher.add(ECSAPI.operations(committer: committer, pollEndpoint: configuration.endpoint))
        dispatcher.add(CapacityAPI.operations(committer: committer))
        dispatcher.add(agents.executeCommand(endpoint: configuration.endpoint))
        dispatcher.add(SQSAPI.operations(committer: committer, version: committer.version))
        dispatcher.add(ScalingAPI.operations(committer: committer))
        let box = try SecretKeyFile.loadOrCreate(dataDirectory: configuration.dataDirectory)
        dispatcher.add(SecretsAPI.parameterStore(committer: committer, sealer: box))
        dispatcher.add(SecretsAPI.secretsManager(committer: committer, sealer: box, newVersionId: { UUID().uuidString.lowercased() }))
        let logsCommitter = self.committer
        dispatcher.add(
            LogsAPI.operations(committer: committer, events: logEvents) { [logger] group, stream, events in
                await LogIngest.deliverSubscribed(group: group, stream: stream, events: events, committer: logsCommitter, logger: logger)
            })
        dispatcher.add(LogSubscriptionsAPI.operations(committer: committer))
        let invoker = asyncInvoker
        dispatcher.add(EventBridgeAPI.operations(committer: committer, delivered: { invoker.wakeUp() }))
        CloudControlAPI.register(into: &dispatcher, committer: committer)
        let gatewayLogs = try AccessLogStore(directory: configuration.dataDirectory + "/logs/gateway")
        self.gatewayLogs = gatewayLogs
        let queryRunner = QueryRunner(
            committer: committer, files: objectFiles, engine: SQLiteQueryEngine(), logEvents: logEvents, accessLogs: gatewayLogs, logger: logger)
        self.queryRunner = queryRunner
        dispatcher.add(AthenaAPI.operations(committer: committer, runner: queryRunner, newId: { UUID().uuidString.lowercased() }))
        dispatcher.add(GlueAPI.operations(committer: committer))
        self.dispatcher = dispatcher

        let iam = try await committer.readLatest { root, _ in root.iam }
        let keyring = AccessKeyring(administrator: configuration.administrator, names: names, box: box, iam: iam)
        let agentAuthenticator = configuration.agentToken.map {
            AgentAuthenticator(registrationToken: $0, box: box, lifetime: configuration.agentCredentialLifetime)
        }
        self.agentAuthenticator = agentAuthenticator
        self.keyring = keyring
        var queryServices = QueryDispatcher()
        queryServices.add(
            IAMAPI.service(
                committer: committer,
                newKey: {
                    let key = AWSCredentials.generate()
                    return (key.accessKeyId, key.secretAccessKey, box.seal(key.secretAccessKey))
                },
                changed: { keyring.update($0) }))
        queryServices.add(IAMAPI.securityTokenService(names: names))
        let snsDeliveries = SNSDeliveryLoop(committer: committer, logger: logger)
        self.snsDeliveries = snsDeliveries
        let snsInvoker = asyncInvoker
        queryServices.add(SNSAPI.service(committer: committer, published: { snsInvoker.wakeUp(); snsDeliveries.wakeUp() }))
        let targetHealth = TargetHealthRegistry()
        self.targetHealth = targetHealth
        let targetsCommitter = self.committer
        queryServices.add(
            ELBAPI.service(
                committer: targetsCommitter,
                targets: { group in
                    let targets = (try? await targetsCommitter.read { root, _ in root.ecs.loadBalancerTargets(group: group) }) ?? []
                    return targets.map { target in
                        ELBAPI.TargetDescription(
                            host: target.host, port: target.port,
                            health: targetHealth.health(group: group, target: TargetHealthRegistry.key(host: target.host, port: target.port)))
                    }
                },
                user: { root, group in root.ecs.serviceNaming(targetGroup: group) }))

        let runtime = FunctionServices(router: functionRouter, asyncInvoker: asyncInvoker, code: code, objects: objectFiles)
        var routes = LambdaAPI.routes(committer: committer, runtime: runtime, settings: configuration.functions)
        let usage = UsageQuotas()
        routes.append(contentsOf: GatewayAPI.routes(committer: committer, usage: usage))
        routes.append(contentsOf: SchedulerAPI.routes(committer: committer))
        routes.append(contentsOf: CapacityAPI.routes(committer: committer))
        routes.append(contentsOf: ScalingAPI.alarmRoutes(committer: committer))
        let agentRoutes = AgentRoutes(
            agents: agents, router: functionRouter, code: code, metrics: metrics,
            secrets: TaskSecrets(committer: committer, sealer: box, enforcePolicies: configuration.administrator != nil),
            credentials: RoleCredentials(committer: committer, box: keyring.sessionBox), instances: agentAuthenticator, logIngest: logIngest)
        routes.append(contentsOf: agentRoutes.routes)
        routes.append(contentsOf: agentRoutes.metricsRoutes)
        self.routes = routes.routes
        let traffic = APITraffic()
        console = ConsoleBackend(
            logEvents: logEvents, functions: functionRouter, routes: routes.routes, targetHealth: targetHealth, metrics: metrics, traffic: traffic)
        // CloudFormation makes resources through the other services' operations, so it comes last.
        let stackQueryServices = InternalServiceCalls.QueryServices(queryServices)
        let stackDeployer = StackDeployer(
            committer: committer,
            calls: InternalServiceCalls(
                dispatcher: dispatcher, queryServices: stackQueryServices, routes: RouteTable(routes.routes), committer: committer, requestIds: RequestIdGenerator(),
                customResources: CustomResourceResponses(
                    committer: committer, files: objectFiles, endpoint: configuration.endpoint, credentials: configuration.administrator, names: names)),
            names: names, logger: logger)
        self.stackDeployer = stackDeployer
        let translator = ServerlessTransform(region: names.region)
        let templateObjects = TemplateObjects(committer: committer, files: objectFiles)
        queryServices.add(
            CloudFormationAPI.service(
                committer: committer,
                templates: TemplateSources(
                    read: { url throws(AWSError) in try await templateObjects.read(url) },
                    serverless: { text, parameters throws(AWSError) in try await translator.run(text, parameters: parameters) }),
                changed: { stackDeployer.wakeUp() }))
        stackQueryServices.complete(queryServices)
        self.queryServices = queryServices
        let committer = self.committer
        let backends = BackendConnections(group: MultiThreadedEventLoopGroup.singleton, fallback: CurlForwarding())
        self.backends = backends
        gateway = GatewayDataPlane(
            names: names, functions: runtime, http: backends, targets: ECSTargetDirectory(committer: committer, health: targetHealth),
            services: InternalServiceActions(dispatcher: dispatcher, requestIds: RequestIdGenerator()),
            functionUrls: { id in try? await committer.read { root, _ in root.lambda.functionUrlTarget(id) } },
            signing: configuration.administrator == nil
                ? nil : GatewayRequestSigning(authenticator: RequestAuthenticator(keyring: keyring), accountId: names.accountId),
            accessLogs: GatewayAccessLogs(store: gatewayLogs, ingest: logIngest, clock: { committer.now() }), requestCounts: requestCounts, webSocketLimits: configuration.webSocketLimits,
            quotas: usage, traffic: traffic, immediateSnapshot: { committer.readNow { $0.gateway } }
        ) {
            try? await committer.read { root, _ in root.gateway }
        }
        Self.describeMetrics(configuration.prometheus, committer: committer)
    }

    /// Help for each metric, and the figures counted at each scrape: tasks by status, instances
    /// and their agents, writes waiting for the disk.
    static func describeMetrics(_ registry: PrometheusRegistry, committer: Committer<ControlPlaneState>) {
        for (name, help) in [
            ("ecsd_api_requests_total", "API requests answered, by operation and HTTP status."),
            ("ecsd_api_request_duration_seconds", "Time to answer an API request, by operation."),
            ("ecsd_commit_duration_seconds", "Time from a write's submission to the store until it is durable."),
            ("ecsd_function_invocations_total", "Function invocations admitted, by function."),
            ("ecsd_function_duration_seconds", "Time from an invocation's admission to its answer, by function."),
            ("ecsd_function_cold_starts_total", "Execution environments started for waiting invocations, by function."),
            ("ecsd_function_throttles_total", "Invocations refused for want of concurrency, by function."),
            ("ecsd_scaling_actions_total", "Auto scaling changes made: out, in, or by a scheduled action."),
            ("ecsd_gateway_requests_total", "Requests API Gateway's data plane answered, by HTTP status."),
            ("ecsd_placements_total", "Task placement attempts: placed, or why no instance took the task (waiting tasks are tried each pass)."),
        ] {
            registry.describe(name, help)
        }
        registry.addCollector {
            var samples: [PrometheusRegistry.Sample] = [
                .init(name: "ecsd_committer_writes_in_flight", help: "Writes submitted to the store and not yet durable.",
                      value: Double(committer.writesInFlight.load(ordering: .relaxed)))
            ]
            let figures = committer.readPublished { $0.ecs.figures }
            for (status, count) in figures.tasksByStatus.sorted(by: { $0.key < $1.key }) {
                samples.append(.init(name: "ecsd_tasks", help: "Tasks kept, by last status.", labels: [("status", status)], value: Double(count)))
            }
            for (cluster, instances) in figures.instancesByCluster.sorted(by: { $0.key < $1.key }) {
                samples.append(
                    .init(name: "ecsd_container_instances", help: "Active and draining container instances, by cluster.", labels: [("cluster", cluster)],
                          value: Double(instances.registered)))
                samples.append(
                    .init(name: "ecsd_agents_connected", help: "Container instances whose agent is connected, by cluster.", labels: [("cluster", cluster)],
                          value: Double(instances.connected)))
            }
            return samples
        }
    }

    /// The services to run, in start order; they stop in reverse (server first, store last).
    /// - Parameter systemd: the service manager to tell of readiness (done by `onServerRunning`'s
    ///   caller), feed the watchdog and tell of stopping.
    public func services(systemd: SystemdNotifier? = nil, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> [any Service] {
        var server = APIServer(
            dispatcher: dispatcher, queryServices: queryServices, routes: routes, fallbacks: [LambdaAPI.fallback, GatewayAPI.fallback, GatewayAPI.restFallback], agents: agents,
            gatewayLogs: gatewayLogs,
            maxRequestBytes: configuration.maxRequestBytes, agentAuthenticator: agentAuthenticator,
            authenticator: configuration.administrator == nil ? nil : RequestAuthenticator(keyring: keyring), names: configuration.names,
            metrics: MetricsEndpoint(registry: configuration.prometheus, token: configuration.metricsToken),
            s3: S3Endpoint(
                committer: committer, files: objectFiles, authenticator: configuration.administrator == nil ? nil : RequestAuthenticator(keyring: keyring),
                names: configuration.names, requestIds: RequestIdGenerator()),
            console: console)
        server.consoleSecureCookies = tlsConfiguration != nil
        if let leadership { server.serving = { leadership.isServing } }
        let limits = configuration.connectionLimits
        let connections = ConnectionCount()
        let http1 = HTTPServerBuilder.http1(
            configuration: .init(
                additionalChannelHandlers: [ConnectionGuard(limits: limits, count: connections)], idleTimeout: TimeAmount(limits.idleTimeout)))
        // `.tls` only fails for a configuration NIOSSL cannot build a context from, which
        // `serverTLS` already built once at start.
        let builder = tlsConfiguration.flatMap { try? HTTPServerBuilder.tls(http1, tlsConfiguration: $0) } ?? http1
        let application = Application(
            router: server.buildRouter(),
            server: builder,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port),
                serverName: "ecsd"
            ),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        let committer = self.committer
        // The gateway serves TLS with the API's certificate when ecsd does.
        // HTTP/1.1, upgraded to WebSocket for WebSocket APIs.
        let webSocketEdge = WebSocketEdge(dataPlane: gateway, requestIds: RequestIdGenerator(), clock: { committer.now() })
        let httpEdge = GatewayHTTPEdge(
            dataPlane: gateway, backends: backends, requestIds: RequestIdGenerator(), clock: { committer.now() }, idleTimeout: limits.idleTimeout)
        let gatewayHTTP1 = HTTPServerBuilder { _ in GatewayChannel(http: httpEdge, webSockets: webSocketEdge) }
        let gatewayBuilder = tlsConfiguration.flatMap { try? HTTPServerBuilder.tls(gatewayHTTP1, tlsConfiguration: $0) } ?? gatewayHTTP1
        let gatewayApplication = Application(
            responder: GatewayChannel.unusedResponder,
            server: gatewayBuilder,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.gatewayHost, port: configuration.gatewayPort), serverName: "ecsd-gateway"),
            onServerRunning: { [logger] channel in
                logger.notice("gateway listening", metadata: ["address": "\(channel.localAddress?.description ?? "")"])
            },
            logger: logger)
        let scheduler = SchedulerLoop(
            committer: committer, interval: configuration.schedulerInterval, agentTimeout: configuration.agentTimeout,
            pruneInterval: 60, logger: logger)
        let functions = FunctionLoop(router: functionRouter, code: code, committer: committer, logger: logger)
        let scaling = ScalingLoop(committer: committer, metrics: metrics, settings: configuration.scaling, logger: logger)
        let launcher = InstanceLauncher(
            settings: InstanceLauncher.Settings(
                agentBinary: configuration.agentBinary, directory: configuration.dataDirectory + "/launcher", endpoint: configuration.endpoint,
                agentToken: configuration.agentToken, caFile: configuration.tls?.certificateChain),
            logger: logger)
        let capacity = CapacityLoop(
            committer: committer, launcher: launcher, interval: configuration.capacityInterval,
            scaleInAfter: configuration.capacityScaleInAfter, logger: logger)
        // The keeper starts first and stops last: the lease is held until the store closed.
        let keeper: [any Service] = leadership.map { [LeaseKeeper(renewal: $0)] } ?? []
        return keeper + [
            StoreService(store: store), scheduler, functions, asyncInvoker, scaling, capacity, gatewayApplication, application,
            PollReleaser(notifier: committer.notifier, router: functionRouter),
            TargetHealthChecker(committer: committer, registry: targetHealth, http: CurlForwarding()),
            LogRetentionLoop(
                committer: committer, files: logEvents, interval: .seconds(600),
                maximumBytes: configuration.logsMaximumBytes == 0 ? nil : configuration.logsMaximumBytes),
            logIngest,
            EventsLoop(committer: committer, invoker: asyncInvoker, logger: logger),
            QueuePollers(committer: committer, router: functionRouter, logger: logger), snsDeliveries, stackDeployer, queryRunner,
            ConsoleSampler(backend: console, committer: committer),
        ] + (systemd?.socketPath == nil ? [] : [SystemdWatchdog(notifier: systemd!, committer: committer)])
    }
}

extension ControlPlane {
    /// The TLS configuration of `--tls-cert`/`--tls-key`, checked now so a bad file stops the
    /// start with a message instead of failing every handshake later.
    static func serverTLS(_ files: ControlPlaneConfiguration.TLSFiles) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificateChain)
        } catch {
            throw TLSFileError(description: "--tls-cert \(files.certificateChain): not a readable PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else { throw TLSFileError(description: "--tls-cert \(files.certificateChain): no certificate in it") }
        do {
            key = try NIOSSLPrivateKey(file: files.privateKey, format: .pem)
        } catch {
            throw TLSFileError(description: "--tls-key \(files.privateKey): not a readable PEM private key (\(error))")
        }
        let configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        do {
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSFileError(description: "--tls-cert and --tls-key do not make a usable TLS identity (does the key match the certificate?): \(error)")
        }
        return configuration
    }
}

public struct TLSFileError: Error, CustomStringConvertible {
    public var description: String
}

extension SecretBox: ValueSealer {}

/// Keeps the store open while the other services run; closes it after they stopped.
struct StoreService: Service {
    let store: any ClosableStateStore

    func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            // Cancelled: the services failed (a deposed leader), and the process ends. What is
            // under way may not commit (a lost lease, a server gone): waiting for it only delays
            // the exit; nothing was acknowledged before it committed.
            return
        }
        await store.close()
    }
}
