/// `POST /containers/create`: the container's configuration (Docker's wire names).
public struct ContainerConfig: Codable, Sendable, Equatable {
    public var image: String
    public var cmd: [String]?
    public var entrypoint: [String]?
    public var env: [String]?
    public var labels: [String: String]?
    public var exposedPorts: [String: EmptyObject]?
    public var workingDir: String?
    public var user: String?
    public var hostname: String?
    public var tty: Bool?
    public var openStdin: Bool?
    public var networkDisabled: Bool?
    public var healthcheck: HealthConfig?
    public var stopTimeout: Int?
    public var hostConfig: HostConfig

    enum CodingKeys: String, CodingKey {
        case image = "Image", cmd = "Cmd", entrypoint = "Entrypoint", env = "Env", labels = "Labels"
        case exposedPorts = "ExposedPorts", workingDir = "WorkingDir", user = "User", hostname = "Hostname", tty = "Tty"
        case openStdin = "OpenStdin", networkDisabled = "NetworkDisabled", healthcheck = "Healthcheck"
        case stopTimeout = "StopTimeout", hostConfig = "HostConfig"
    }

    public init(image: String, hostConfig: HostConfig = HostConfig()) {
        self.image = image
        self.hostConfig = hostConfig
    }
}

public struct EmptyObject: Codable, Sendable, Equatable {
    public init() {}
}

public struct HealthConfig: Codable, Sendable, Equatable {
    public var test: [String]
    /// Nanoseconds, as Docker counts them.
    public var interval: Int64?
    public var timeout: Int64?
    public var retries: Int?
    public var startPeriod: Int64?

    enum CodingKeys: String, CodingKey {
        case test = "Test", interval = "Interval", timeout = "Timeout", retries = "Retries", startPeriod = "StartPeriod"
    }

    public init(test: [String], interval: Int64? = nil, timeout: Int64? = nil, retries: Int? = nil, startPeriod: Int64? = nil) {
        self.test = test
        self.interval = interval
        self.timeout = timeout
        self.retries = retries
        self.startPeriod = startPeriod
    }
}

public struct HostConfig: Codable, Sendable, Equatable {
    public var binds: [String]?
    public var mounts: [Mount]?
    public var portBindings: [String: [PortBinding]]?
    public var networkMode: String?
    public var links: [String]?
    public var volumesFrom: [String]?
    public var memory: Int64?
    public var memoryReservation: Int64?
    public var memorySwap: Int64?
    public var memorySwappiness: Int64?
    public var cpuShares: Int?
    public var privileged: Bool?
    public var readonlyRootfs: Bool?
    public var ulimits: [UlimitSetting]?
    public var logConfig: LogConfig?
    public var dns: [String]?
    public var dnsSearch: [String]?
    public var extraHosts: [String]?
    public var capAdd: [String]?
    public var capDrop: [String]?
    public var devices: [DeviceMapping]?
    public var tmpfs: [String: String]?
    public var shmSize: Int64?
    public var initProcess: Bool?
    public var securityOpt: [String]?
    public var sysctls: [String: String]?
    public var pidMode: String?
    public var ipcMode: String?
    /// The most processes and threads the container may have (its pids cgroup).
    public var pidsLimit: Int64?

    enum CodingKeys: String, CodingKey {
        case binds = "Binds", mounts = "Mounts", portBindings = "PortBindings", networkMode = "NetworkMode", links = "Links"
        case volumesFrom = "VolumesFrom", memory = "Memory", memoryReservation = "MemoryReservation", memorySwap = "MemorySwap"
        case memorySwappiness = "MemorySwappiness", cpuShares = "CpuShares", privileged = "Privileged"
        case readonlyRootfs = "ReadonlyRootfs", ulimits = "Ulimits", logConfig = "LogConfig", dns = "Dns", dnsSearch = "DnsSearch"
        case extraHosts = "ExtraHosts", capAdd = "CapAdd", capDrop = "CapDrop", devices = "Devices", tmpfs = "Tmpfs"
        case shmSize = "ShmSize", initProcess = "Init", securityOpt = "SecurityOpt", sysctls = "Sysctls", pidMode = "PidMode"
        case ipcMode = "IpcMode", pidsLimit = "PidsLimit"
    }

    public init() {}
}

public struct Mount: Codable, Sendable, Equatable {
    public var type: String
    public var source: String
    public var target: String
    public var readOnly: Bool?

    enum CodingKeys: String, CodingKey {
        case type = "Type", source = "Source", target = "Target", readOnly = "ReadOnly"
    }

    public init(type: String, source: String, target: String, readOnly: Bool? = nil) {
        self.type = type
        self.source = source
        self.target = target
        self.readOnly = readOnly
    }
}

public struct PortBinding: Codable, Sendable, Equatable, Hashable {
    public var hostIp: String?
    public var hostPort: String?

    enum CodingKeys: String, CodingKey {
        case hostIp = "HostIp", hostPort = "HostPort"
    }

    public init(hostIp: String? = nil, hostPort: String? = nil) {
        self.hostIp = hostIp
        self.hostPort = hostPort
    }
}

public struct UlimitSetting: Codable, Sendable, Equatable {
    public var name: String
    public var soft: Int
    public var hard: Int

    enum CodingKeys: String, CodingKey {
        case name = "Name", soft = "Soft", hard = "Hard"
    }

    public init(name: String, soft: Int, hard: Int) {
        self.name = name
        self.soft = soft
        self.hard = hard
    }
}

public struct LogConfig: Codable, Sendable, Equatable {
    public var type: String
    public var config: [String: String]?

    enum CodingKeys: String, CodingKey {
        case type = "Type", config = "Config"
    }

    public init(type: String, config: [String: String]? = nil) {
        self.type = type
        self.config = config
    }
}

public struct DeviceMapping: Codable, Sendable, Equatable {
    public var pathOnHost: String
    public var pathInContainer: String
    public var cgroupPermissions: String

    enum CodingKeys: String, CodingKey {
        case pathOnHost = "PathOnHost", pathInContainer = "PathInContainer", cgroupPermissions = "CgroupPermissions"
    }

    public init(pathOnHost: String, pathInContainer: String, cgroupPermissions: String) {
        self.pathOnHost = pathOnHost
        self.pathInContainer = pathInContainer
        self.cgroupPermissions = cgroupPermissions
    }
}

/// `GET /containers/{id}/json`, the parts the agent reads.
public struct ContainerInspect: Codable, Sendable {
    public var id: String
    public var name: String
    public var state: ContainerState
    public var config: InspectConfig?
    public var networkSettings: NetworkSettings?
    public var image: String?
    /// Where a `json-file` container's log is on the host.
    public var logPath: String?

    enum CodingKeys: String, CodingKey {
        case id = "Id", name = "Name", state = "State", config = "Config", networkSettings = "NetworkSettings", image = "Image", logPath = "LogPath"
    }

    public struct InspectConfig: Codable, Sendable {
        public var labels: [String: String]?
        public var image: String?

        enum CodingKeys: String, CodingKey {
            case labels = "Labels", image = "Image"
        }
    }

    public struct NetworkSettings: Codable, Sendable {
        public var ports: [String: [PortBinding]?]?

        enum CodingKeys: String, CodingKey {
            case ports = "Ports"
        }
    }
}

public struct ContainerState: Codable, Sendable {
    /// created, running, paused, restarting, removing, exited, dead
    public var status: String
    public var running: Bool
    public var oomKilled: Bool
    public var exitCode: Int
    public var error: String?
    /// The main process's pid on the host (0 when not running).
    public var pid: Int?
    public var startedAt: String?
    public var finishedAt: String?
    public var health: Health?

    enum CodingKeys: String, CodingKey {
        case status = "Status", running = "Running", oomKilled = "OOMKilled", exitCode = "ExitCode", error = "Error", pid = "Pid"
        case startedAt = "StartedAt", finishedAt = "FinishedAt", health = "Health"
    }

    public struct Health: Codable, Sendable {
        /// starting, healthy, unhealthy
        public var status: String

        enum CodingKeys: String, CodingKey {
            case status = "Status"
        }
    }
}

/// An entry of `GET /containers/json`.
public struct ContainerSummary: Codable, Sendable {
    public var id: String
    public var names: [String]
    public var image: String
    public var state: String
    public var labels: [String: String]?

    enum CodingKeys: String, CodingKey {
        case id = "Id", names = "Names", image = "Image", state = "State", labels = "Labels"
    }
}

/// `GET /images/{name}/json`, the parts the agent reads.
public struct ImageInspect: Codable, Sendable {
    public var id: String
    public var repoTags: [String]?
    public var repoDigests: [String]?
    public var size: Int64?

    enum CodingKeys: String, CodingKey {
        case id = "Id", repoTags = "RepoTags", repoDigests = "RepoDigests", size = "Size"
    }
}

/// An entry of `GET /images/json`.
public struct ImageSummary: Codable, Sendable {
    public var id: String
    public var repoTags: [String]?
    public var created: Int?
    public var size: Int64?

    enum CodingKeys: String, CodingKey {
        case id = "Id", repoTags = "RepoTags", created = "Created", size = "Size"
    }
}

public struct VolumeInfo: Codable, Sendable {
    public var name: String
    public var driver: String
    public var mountpoint: String?
    public var labels: [String: String]?
    /// The driver's options (`DriverOpts` at creation).
    public var options: [String: String]?

    enum CodingKeys: String, CodingKey {
        case name = "Name", driver = "Driver", mountpoint = "Mountpoint", labels = "Labels", options = "Options"
    }

    /// The host directory a `local` volume binds (`o=bind` with `device=`): mounting the volume
    /// mounts that directory.
    public var boundHostPath: String? {
        guard driver == "local", let options, let device = options["device"],
            (options["o"] ?? "").split(separator: ",").contains(where: { $0 == "bind" || $0 == "rbind" })
        else { return nil }
        return device
    }

    /// A volume as a driver and its options would make it (for checks before it exists).
    public static func bound(driver: String, options: [String: String]) -> VolumeInfo {
        VolumeInfo(name: "", driver: driver, options: options)
    }

    public init(name: String, driver: String, mountpoint: String? = nil, labels: [String: String]? = nil, options: [String: String]? = nil) {
        self.name = name
        self.driver = driver
        self.mountpoint = mountpoint
        self.labels = labels
        self.options = options
    }
}

public struct NetworkInfo: Codable, Sendable {
    public var id: String
    public var name: String
    public var driver: String?

    enum CodingKeys: String, CodingKey {
        case id = "Id", name = "Name", driver = "Driver"
    }
}

/// One entry of the `/events` stream.
public struct EngineEvent: Codable, Sendable {
    public var type: String?
    public var action: String
    public var actor: Actor?
    public var timeNano: Int64?

    enum CodingKeys: String, CodingKey {
        case type = "Type", action = "Action", actor = "Actor", timeNano = "timeNano"
    }

    public struct Actor: Codable, Sendable {
        public var id: String?
        public var attributes: [String: String]?

        enum CodingKeys: String, CodingKey {
            case id = "ID", attributes = "Attributes"
        }
    }
}

/// `GET /containers/{id}/stats?stream=false&one-shot=true`, the parts auto scaling needs.
public struct ContainerStats: Codable, Sendable {
    public var cpuStats: CPUStats?
    public var memoryStats: MemoryStats?

    enum CodingKeys: String, CodingKey {
        case cpuStats = "cpu_stats", memoryStats = "memory_stats"
    }

    public struct CPUStats: Codable, Sendable {
        public var cpuUsage: CPUUsage?
        public var systemCPUUsage: UInt64?
        public var onlineCPUs: Int?

        enum CodingKeys: String, CodingKey {
            case cpuUsage = "cpu_usage", systemCPUUsage = "system_cpu_usage", onlineCPUs = "online_cpus"
        }
    }

    public struct CPUUsage: Codable, Sendable {
        /// Nanoseconds of CPU time used.
        public var totalUsage: UInt64?

        enum CodingKeys: String, CodingKey {
            case totalUsage = "total_usage"
        }
    }

    public struct MemoryStats: Codable, Sendable {
        public var usage: UInt64?
        public var limit: UInt64?
        public var stats: [String: UInt64]?

        enum CodingKeys: String, CodingKey {
            case usage, limit, stats
        }
    }
}
