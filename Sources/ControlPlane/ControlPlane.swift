import ECSAPI
import ECSCore
import ECSStore
import Hummingbird
import Logging
import ServiceLifecycle

/// `ecsd`'s parts wired together: the store, the committer over the loaded state, the API server.
public struct ControlPlane: Sendable {
    public let configuration: ControlPlaneConfiguration
    public let committer: Committer
    /// What tasks use, as agents report it (service auto scaling reads it).
    public let usage = UsageStore()
    let logs = LogRelay()
    let store: SQLiteStateStore
    let dispatcher: AWSJSONDispatcher
    let logger: Logger
    let functionRouter: FunctionRouter
    let asyncInvoker: AsyncInvoker
    let lambda: LambdaAPI
    let metrics: ServiceMetrics

    /// Opens the store, loads the state and registers every API operation.
    public init(configuration: ControlPlaneConfiguration, logger: Logger) async throws {
        self.configuration = configuration
        self.logger = logger
        store = try SQLiteStateStore(
            directory: configuration.dataDirectory, durability: configuration.durability, logger: logger)
        committer = try await Committer.load(
            names: configuration.names, settings: configuration.scheduler, functionSettings: configuration.functions,
            queueEndpoint: configuration.endpoint, store: store, logger: logger)
        var dispatcher = AWSJSONDispatcher()
        ECSOperations.register(
            on: &dispatcher, committer: committer, cache: ReadCache(capacity: configuration.readCacheEntries),
            pollEndpoint: configuration.endpoint)
        SQSOperations.register(on: &dispatcher, committer: committer)
        ScalingAPI.register(on: &dispatcher, committer: committer)
        self.dispatcher = dispatcher
        let functionLogs = try FunctionLogStore(dataDirectory: configuration.dataDirectory)
        functionRouter = FunctionRouter(committer: committer, settings: configuration.functions, logs: functionLogs, logger: logger)
        asyncInvoker = AsyncInvoker(committer: committer, router: functionRouter, logger: logger)
        metrics = ServiceMetrics(usage: usage)
        lambda = LambdaAPI(
            committer: committer, router: functionRouter, code: try CodeStore(dataDirectory: configuration.dataDirectory),
            logs: functionLogs, asyncQueue: asyncInvoker, settings: configuration.functions)
    }

    /// The services to run, in start order; they stop in reverse (server first, store last).
    public func services(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> [any Service] {
        let server = APIServer(
            dispatcher: dispatcher,
            agents: AgentChannel(
                committer: committer, logs: logs, usage: usage, maximumHold: max(1, Int(configuration.agentTimeout / 2))),
            maxRequestBytes: configuration.maxRequestBytes,
            agentToken: configuration.agentToken,
            lambda: lambda,
            metrics: metrics,
            capacity: CapacityAPI(committer: committer))
        let application = Application(
            router: server.buildRouter(),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port),
                serverName: "ecsd"
            ),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        let scheduler = SchedulerLoop(
            committer: committer, interval: configuration.schedulerInterval, agentTimeout: configuration.agentTimeout,
            pruneInterval: 60, logger: logger)
        let functions = FunctionLoop(router: functionRouter, code: lambda.code, committer: committer, logger: logger)
        let scaling = ScalingLoop(committer: committer, metrics: metrics, settings: configuration.scaling, logger: logger)
        let launcher = InstanceLauncher(
            settings: InstanceLauncher.Settings(
                agentBinary: configuration.agentBinary, directory: configuration.dataDirectory + "/launcher", endpoint: configuration.endpoint,
                agentToken: configuration.agentToken),
            logger: logger)
        let capacity = CapacityLoop(
            committer: committer, launcher: launcher, interval: configuration.capacityInterval,
            scaleInAfter: configuration.capacityScaleInAfter, logger: logger)
        return [
            StoreService(store: store), scheduler, functions, asyncInvoker, scaling, capacity, application,
            PollReleaser(notifier: committer.notifier, router: functionRouter),
        ]
    }
}

/// Keeps the store open while the other services run; closes it after they stopped.
struct StoreService: Service {
    let store: SQLiteStateStore

    func run() async throws {
        try? await gracefulShutdown()
        store.close()
    }
}
