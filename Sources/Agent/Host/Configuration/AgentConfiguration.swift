import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Archives
import CurlHTTP
import StevedoreCore

/// The agent's settings, from `/etc/ecs/ecs.config` and the environment (which wins), read the
/// way the real ECS agent's tooling reads them: `KEY=VALUE` per line, split at the first `=`,
/// blank lines and `#` lines ignored, values literal.
public struct AgentConfiguration: Sendable, Equatable {
    public enum PullBehavior: String, Sendable, CaseIterable {
        case `default`
        case always
        case once
        case preferCached = "prefer-cached"
    }

    public var cluster = "default"
    /// The control plane's base URL (`ECS_BACKEND_HOST`; `https://` is assumed without a scheme), or
    /// several separated by commas (replicas: the agent moves on when one cannot be reached).
    public var backendHost = "http://127.0.0.1:8340"

    /// The first of ``backendHost``'s URLs: what containers get as `AWS_ENDPOINT_URL` (the SDKs take one).
    public var primaryBackend: String { backendHost.split(separator: ",").first.map(String.init) ?? backendHost }
    /// Certificate authorities (a PEM file) to verify an `https://` control plane against
    /// (`ECS_BACKEND_CA_FILE`); nil uses the system's store.
    public var backendCAFile: String?
    /// Where the task credentials endpoint listens on 127.0.0.1 (`ECS_CREDENTIALS_PORT`; the real
    /// agent's 51679; another free port when that one is taken).
    public var credentialsPort = 51679
    /// `ECS_METRICS_LISTEN` (`host:port`): where the agent serves `GET /metrics` in Prometheus'
    /// text format; nowhere when unset.
    public var metricsListen: Address?

    public struct Address: Sendable, Equatable {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }
    public var dataDirectory = "/var/lib/ecs/data"
    /// Whether ECS_DATADIR was set explicitly (the real agent checkpoints only then).
    public var checkpoint = false
    public var reservedMemory = 0
    public var reservedPorts = [22, 2375, 2376, 51678, 51679]
    public var reservedPortsUDP: [Int] = []
    public var instanceAttributes: [String: String] = [:]
    public var instanceTags: [String: String] = [:]
    public var dynamicHostPortRange = 49153...65535
    public var containerStopTimeout: Duration = .seconds(30)
    public var containerStartTimeout: Duration = .seconds(180)
    public var taskCleanupWait: Duration = .seconds(3 * 3600)
    public var imagePullBehavior = PullBehavior.default
    public var disablePrivileged = false
    /// `awslogs` is the agent's own (it ships the output to the control plane), so it is always there.
    public var availableLoggingDrivers = ["json-file", "awslogs", "none"]
    public var logLevel = "info"
    public var dockerHost = "unix:///var/run/docker.sock"

    /// The Docker engine's socket on this host (what unprivileged tasks may not mount).
    public var dockerSocketPath: String {
        dockerHost.hasPrefix("unix://") ? String(dockerHost.dropFirst("unix://".count)) : "/var/run/docker.sock"
    }
    public var engineAuthType: String?
    public var engineAuthData: String?
    /// Shared secret ecsd may require at registration (`ECS_AGENT_REGISTRATION_TOKEN`).
    public var registrationToken: String?
    /// The instance id to register with (`ECS_INSTANCE_ID`, a Stevedore key): auto scaling group
    /// launchers set it so the control plane knows which group instance joined.
    public var instanceId: String?
    /// How often the agent samples container statistics for auto scaling.
    public var statsInterval: Duration = .seconds(10)
    /// The address published host ports bind to (`ECS_HOST_PORT_BIND_IP`, a Stevedore key).
    public var hostPortBindIP = "0.0.0.0"
    /// `ECS_ENABLE_TASK_IAM_ROLE`: tasks on a Docker bridge get their role's credentials at
    /// 169.254.170.2 (the agent adds that address to the host's loopback). On by default, as on
    /// ECS-optimized hosts; host-network tasks get theirs on 127.0.0.1 either way.
    public var bridgeTaskCredentials = true

    public init() {}

    public static let knownLoggingDrivers = [
        "json-file", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "logentries", "sumologic", "none",
        "awsfirelens", "local",
    ]

    /// A refusal that keeps the agent from starting; exit status 5 (terminal), as the real agent's.
    public struct Error: Swift.Error, CustomStringConvertible, Sendable, Equatable {
        public var key: String
        public var message: String
        public var description: String { "\(key): \(message)" }
    }

    /// Reads `KEY=VALUE` lines; later duplicates win.
    public static func parseFile(_ contents: String) -> [String: String] {
        var values: [String: String] = [:]
        for rawLine in contents.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingWhitespace
            guard !line.isEmpty, !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return values
    }

    /// Builds the configuration from file values overlaid with the environment's `ECS_*` keys and
    /// `DOCKER_HOST`. Recoverable problems become warnings (the default is kept); invalid JSON in
    /// attributes or tags and unknown logging drivers are errors, as with the real agent.
    public static func load(file: [String: String], environment: [String: String]) throws(Error) -> (AgentConfiguration, [String]) {
        var values = file
        for (key, value) in environment where key.hasPrefix("ECS_") || key == "DOCKER_HOST" || key == "AWS_DEFAULT_REGION" {
            values[key] = value
        }
        var configuration = AgentConfiguration()
        var warnings: [String] = []
        func string(_ key: String) -> String? {
            guard let value = values[key]?.trimmingWhitespace, !value.isEmpty else { return nil }
            return value
        }
        func warn(_ key: String, _ expected: String) {
            warnings.append("\(key)=\(values[key] ?? "") is not valid (\(expected)); using the default.")
        }

        if let value = string("ECS_CLUSTER") { configuration.cluster = value }
        if let value = string("ECS_BACKEND_HOST") {
            let urls = value.split(separator: ",").map { String($0).trimmingWhitespace }.filter { !$0.isEmpty }.map { part in
                var url = part
                if !url.contains("://") { url = "https://" + url }
                if url.hasSuffix("/") { url.removeLast() }
                return url
            }
            if urls.isEmpty {
                warnings.append("ECS_BACKEND_HOST=\(value) names no URL; using \(configuration.backendHost)")
            } else {
                configuration.backendHost = urls.joined(separator: ",")
            }
        }
        if let value = string("ECS_BACKEND_CA_FILE") { configuration.backendCAFile = value }
        if let value = string("ECS_CREDENTIALS_PORT") {
            if let port = Int(value), (0...65535).contains(port) { configuration.credentialsPort = port } else { warn("ECS_CREDENTIALS_PORT", "a port number") }
        }
        if let value = string("ECS_METRICS_LISTEN") {
            if let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]), (0...65535).contains(port),
                colon > value.startIndex
            {
                // `[::1]:9335`: an IPv6 address in brackets, as in URLs.
                var host = String(value[..<colon])
                if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                configuration.metricsListen = Address(host: host, port: port)
            } else {
                warn("ECS_METRICS_LISTEN", "host:port, such as 127.0.0.1:9335")
            }
        }
        if let value = string("ECS_DATADIR") {
            configuration.dataDirectory = value
            configuration.checkpoint = true
        }
        if let value = string("ECS_CHECKPOINT") {
            if let flag = parseBool(value) { configuration.checkpoint = flag } else { warn("ECS_CHECKPOINT", "true or false") }
        }
        if let value = string("ECS_RESERVED_MEMORY") {
            if let mib = Int(value), (0...65535).contains(mib) { configuration.reservedMemory = mib } else {
                warn("ECS_RESERVED_MEMORY", "MiB as a whole number 0-65535")
            }
        }
        for (key, path) in [("ECS_RESERVED_PORTS", \AgentConfiguration.reservedPorts), ("ECS_RESERVED_PORTS_UDP", \.reservedPortsUDP)] {
            guard let value = string(key) else { continue }
            if let ports = parsePorts(value) { configuration[keyPath: path] = ports } else { warn(key, "a JSON array of ports, e.g. [22, 8080]") }
        }
        if let value = string("ECS_INSTANCE_ATTRIBUTES") {
            guard let attributes = parseObject(value) else {
                throw Error(key: "ECS_INSTANCE_ATTRIBUTES", message: "must be a JSON object of strings, e.g. {\"stack\":\"prod\"}; got \(value)")
            }
            configuration.instanceAttributes = attributes
        }
        if let value = string("ECS_CONTAINER_INSTANCE_TAGS") {
            guard let tags = parseObject(value) else {
                throw Error(key: "ECS_CONTAINER_INSTANCE_TAGS", message: "must be a JSON object of strings, e.g. {\"team\":\"a\"}; got \(value)")
            }
            configuration.instanceTags = tags
        }
        if let value = string("ECS_DYNAMIC_HOST_PORT_RANGE") {
            let parts = value.split(separator: "-").compactMap { Int($0.trimmingWhitespace) }
            if parts.count == 2, 1 <= parts[0], parts[0] < parts[1], parts[1] <= 65535 {
                configuration.dynamicHostPortRange = parts[0]...parts[1]
            } else {
                warn("ECS_DYNAMIC_HOST_PORT_RANGE", "start-end, e.g. 49153-65535")
            }
        }
        if let value = string("ECS_CONTAINER_STOP_TIMEOUT") {
            if let duration = parseDuration(value), duration > .zero {
                configuration.containerStopTimeout = max(duration, .seconds(1))
            } else {
                warn("ECS_CONTAINER_STOP_TIMEOUT", "a duration with a unit, e.g. 30s")
            }
        }
        if let value = string("ECS_CONTAINER_START_TIMEOUT") {
            if let duration = parseDuration(value) {
                configuration.containerStartTimeout = max(duration, .seconds(45))
            } else {
                warn("ECS_CONTAINER_START_TIMEOUT", "a duration with a unit, e.g. 3m")
            }
        }
        if let value = string("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION") {
            if let duration = parseDuration(value), duration >= .seconds(1) {
                configuration.taskCleanupWait = duration
            } else {
                warn("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "a duration of at least 1s, e.g. 3h")
            }
        }
        if let value = string("ECS_IMAGE_PULL_BEHAVIOR") {
            if let behavior = PullBehavior(rawValue: value) { configuration.imagePullBehavior = behavior } else {
                warn("ECS_IMAGE_PULL_BEHAVIOR", "default, always, once or prefer-cached")
            }
        }
        if let value = string("ECS_ENABLE_TASK_IAM_ROLE") {
            if let flag = parseBool(value) { configuration.bridgeTaskCredentials = flag } else { warn("ECS_ENABLE_TASK_IAM_ROLE", "true or false") }
        }
        if let value = string("ECS_DISABLE_PRIVILEGED") {
            if let flag = parseBool(value) { configuration.disablePrivileged = flag } else { warn("ECS_DISABLE_PRIVILEGED", "true or false") }
        }
        if let value = string("ECS_AVAILABLE_LOGGING_DRIVERS") {
            guard let drivers = parseStrings(value) else {
                throw Error(key: "ECS_AVAILABLE_LOGGING_DRIVERS", message: "must be a JSON array of strings, e.g. [\"json-file\",\"syslog\"]; got \(value)")
            }
            for driver in drivers where !knownLoggingDrivers.contains(driver) {
                throw Error(
                    key: "ECS_AVAILABLE_LOGGING_DRIVERS",
                    message: "unknown logging driver '\(driver)'; known: \(knownLoggingDrivers.joined(separator: ", "))")
            }
            configuration.availableLoggingDrivers = drivers
        }
        if let value = string("ECS_LOGLEVEL") {
            if ["debug", "info", "warn", "error", "crit", "none"].contains(value.lowercased()) {
                configuration.logLevel = value.lowercased()
            } else {
                warn("ECS_LOGLEVEL", "debug, info, warn, error or crit")
            }
        }
        if let value = string("DOCKER_HOST") {
            if value.hasPrefix("unix://") || value.hasPrefix("tcp://") || value.hasPrefix("http://") {
                configuration.dockerHost = value
            } else {
                warn("DOCKER_HOST", "unix:///path/to/docker.sock or tcp://host:port")
            }
        }
        configuration.engineAuthType = string("ECS_ENGINE_AUTH_TYPE")
        configuration.engineAuthData = string("ECS_ENGINE_AUTH_DATA")
        if let type = configuration.engineAuthType, !["docker", "dockercfg"].contains(type) {
            throw Error(key: "ECS_ENGINE_AUTH_TYPE", message: "must be docker or dockercfg; got \(type)")
        }
        configuration.registrationToken = string("ECS_AGENT_REGISTRATION_TOKEN")
        if let value = string("ECS_HOST_PORT_BIND_IP") {
            let octets = value.split(separator: ".").compactMap { UInt8($0) }
            if octets.count == 4 { configuration.hostPortBindIP = value } else { warn("ECS_HOST_PORT_BIND_IP", "an IPv4 address such as 127.0.0.1") }
        }
        if let value = string("ECS_INSTANCE_ID") {
            if (1...64).contains(value.count), value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
                configuration.instanceId = value
            } else {
                warn("ECS_INSTANCE_ID", "up to 64 letters, digits, hyphens and underscores, e.g. i-0123456789abcdef0")
            }
        }
        if let value = string("ECS_STATS_INTERVAL") {
            if let duration = parseDuration(value), duration >= .seconds(1) { configuration.statsInterval = duration } else {
                warn("ECS_STATS_INTERVAL", "a duration of at least 1s, e.g. 10s")
            }
        }
        return (configuration, warnings)
    }

    // MARK: Value formats (as Go's strconv.ParseBool and time.ParseDuration read them)

    public static func parseBool(_ text: String) -> Bool? {
        switch text.trimmingWhitespace {
        case "1", "t", "T", "TRUE", "true", "True": true
        case "0", "f", "F", "FALSE", "false", "False": false
        default: nil
        }
    }

    /// `"30s"`, `"10m"`, `"1h30m"`, `"500ms"`; a unit is required, and so is a length under 292 years.
    public static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        var rest = Substring(text.trimmingWhitespace)
        guard !rest.isEmpty else { return nil }
        var seconds = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let (unit, factor) = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) }) else {
                return nil
            }
            rest = rest.dropFirst(unit.count)
            seconds += value * factor
        }
        // Go's ParseDuration refuses what overflows int64 nanoseconds (about 292 years).
        let milliseconds = (seconds * 1000).rounded()
        guard milliseconds < 9_223_372_036_854.0 else { return nil }
        return .milliseconds(Int64(milliseconds))
    }

    static func parsePorts(_ text: String) -> [Int]? {
        guard let data = text.data(using: .utf8), let ports = try? JSONDecoder().decode([Int].self, from: data),
            ports.allSatisfy({ (0...65535).contains($0) })
        else { return nil }
        return ports
    }

    static func parseObject(_ text: String) -> [String: String]? {
        guard let data = text.data(using: .utf8) else { return nil }
        return try? JSONDecoder().decode([String: String].self, from: data)
    }

    static func parseStrings(_ text: String) -> [String]? {
        guard let data = text.data(using: .utf8) else { return nil }
        return try? JSONDecoder().decode([String].self, from: data)
    }
}
