import APIGateway
import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import Foundation
import SigV4
import Lambda
import LambdaShapes
import Observability
import StevedoreCore
import Storage

/// Everything `ecsd` needs to start, from flags and environment.
public struct ControlPlaneConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var dataDirectory: String
    public var names: ResourceNames
    public var durability: SQLiteStateStore.Durability
    /// `--store postgres://…`: the state in PostgreSQL instead of the SQLite file in the data
    /// directory (which still holds logs, code and keys).
    public var postgres: PostgresStateStore.Location?
    /// `--store-timeout`: how long a PostgreSQL commit may take before it is failed.
    public var storeCommitTimeout: Duration = .seconds(30)
    /// Largest request body accepted (AWS JSON and REST-JSON alike).
    public var maxRequestBytes: Int
    /// Encoded answers to repeated identical reads kept until the next write; 0 turns the cache off.
    public var readCacheEntries: Int
    /// The most the read cache holds, requests and answers counted in bytes.
    public var readCacheBytes = 32 << 20
    /// The most CloudWatch Logs' event files may take on disk (0: no bound but retention policies).
    public var logsMaximumBytes = 10 << 30
    /// Connections open at once, and how long a request may take to arrive or a connection stay idle.
    public var connectionLimits = ConnectionLimits()
    /// An agent silent this long is disconnected: no placements, its service tasks replaced.
    public var agentTimeout: TimeInterval
    /// How often the service scheduler and liveness checks run.
    public var schedulerInterval: Duration
    public var scheduler: SchedulerSettings
    /// When set, agents register with this token (their ECS_AGENT_REGISTRATION_TOKEN) and sign
    /// every other call with the credentials of their instance that registration gives them.
    public var agentToken: String?
    /// `--metrics-token`: `GET /metrics` wants it as a bearer token; without, anyone may read it.
    public var metricsToken: String?
    /// Where swift-metrics' figures are kept (the process bootstraps MetricsSystem with it) and
    /// scrape-time collectors are added; `/metrics` renders it.
    public var prometheus = PrometheusRegistry()
    /// Seconds an instance's credentials last (agents renew them at half that).
    public var agentCredentialLifetime: Int64 = 3600
    /// When set, AWS API requests must be signed (Signature Version 4): by this key, the
    /// administrator's (the account's root), or by an IAM user's key within its policies. Nil
    /// accepts requests unsigned (`--auth off`, `--dev`).
    public var administrator: AWSCredentials?
    /// Limits and policies of functions (the Lambda API).
    public var functions = FunctionSettings()
    /// How service auto scaling samples and reacts.
    public var scaling = ScalingSettings()
    /// How often cluster auto scaling evaluates capacity providers and reconciles groups.
    public var capacityInterval: Duration = .seconds(1)
    /// How long a provider's reservation stays below target before instances are removed (ECS: 15 minutes).
    public var capacityScaleInAfter: TimeInterval = 300
    /// The `ecs-agent` the local launcher starts: by default the one beside `ecsd`.
    public var agentBinary: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("ecs-agent").path
    }()

    public init(
        host: String = "127.0.0.1",
        port: Int = 8340,
        dataDirectory: String = "/var/lib/ecsd",
        names: ResourceNames = ResourceNames(),
        durability: SQLiteStateStore.Durability = .normal,
        maxRequestBytes: Int = 8 << 20,
        readCacheEntries: Int = 4096,
        agentTimeout: TimeInterval = 30,
        schedulerInterval: Duration = .milliseconds(250),
        scheduler: SchedulerSettings = SchedulerSettings(),
        agentToken: String? = nil
    ) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.names = names
        self.durability = durability
        self.maxRequestBytes = maxRequestBytes
        self.readCacheEntries = readCacheEntries
        self.agentTimeout = agentTimeout
        self.schedulerInterval = schedulerInterval
        self.scheduler = scheduler
        self.agentToken = agentToken
    }

    /// Where the gateway serves the APIs made with API Gateway (`--gateway-listen`; `ecsd` defaults
    /// to port 8380, a control plane made in-process to any free port).
    public var gatewayHost = "127.0.0.1"
    public var gatewayPort = 0
    /// WebSocket APIs' idle timeout and maximum connection lifetime.
    public var webSocketLimits = WebSocketLimits()

    /// When set, the API is served over TLS with this certificate chain and key (PEM files).
    public var tls: TLSFiles?

    public struct TLSFiles: Sendable, Equatable {
        public var certificateChain: String
        public var privateKey: String

        public init(certificateChain: String, privateKey: String) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
        }
    }

    /// The address agents and clients reach this control plane at.
    public var endpoint: String {
        let host = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
        return "\(tls == nil ? "http" : "https")://\(host):\(port)"
    }

    /// Parses `host:port`, `:port` or `port` as `--listen` takes it.
    public static func parseListen(_ text: String) -> (host: String, port: Int)? {
        if let port = Int(text) { return ("127.0.0.1", port) }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        let host = String(text[..<colon])
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }
}
