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

/// `ecs-agent --simulate N`: N container instances in one process, each registering, polling and
/// running tasks through the same protocol and API as a real agent, without Docker.
public struct SimulatedFleet: Sendable {
    public struct Options: Sendable {
        public var count: Int
        public var cpu = 4096
        public var memory = 8192
        /// Availability zones handed out round-robin (`ecs.availability-zone`).
        public var zones: [String] = []
        /// Where instance ARNs are kept, so a restarted fleet re-registers the same instances.
        public var stateDirectory: String?
        public var pollWait = 20

        public init(count: Int) { self.count = count }

        /// Parses `cpu=4096,memory=8192`.
        public mutating func applyResources(_ text: String) throws(AgentConfiguration.Error) {
            for item in text.split(separator: ",") {
                let parts = item.split(separator: "=").map { $0.trimmingWhitespace }
                guard parts.count == 2, let value = Int(parts[1]), value > 0 else {
                    throw AgentConfiguration.Error(key: "--simulate-resources", message: "expected cpu=N,memory=N; got '\(text)'")
                }
                switch parts[0] {
                case "cpu": cpu = value
                case "memory": memory = value
                default: throw AgentConfiguration.Error(key: "--simulate-resources", message: "unknown resource '\(parts[0])'; use cpu and memory")
                }
            }
        }
    }

    public let configuration: AgentConfiguration
    public let options: Options
    public let logger: Logger
    let observer: (@Sendable (AgentAssignment) -> Void)?

    public init(
        configuration: AgentConfiguration,
        options: Options,
        logger: Logger,
        observer: (@Sendable (AgentAssignment) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.options = options
        self.logger = logger
        self.observer = observer
    }

    public func run() async throws {
        let identities = IdentityFile(directory: options.stateDirectory, count: options.count)
        let known = await identities.load()
        let host = ProcessInfo.processInfo.hostName
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<options.count {
                let link = ControlPlaneLink(
                    endpoint: configuration.backendHost, cluster: configuration.cluster, token: configuration.registrationToken,
                    caFile: configuration.backendCAFile)
                let engine = SimulatedEngine(link: link, logger: logger, observer: observer)
                let zone = options.zones.isEmpty ? nil : options.zones[index % options.zones.count]
                let attributes = AgentCapabilities.attributes(
                    loggingDrivers: configuration.availableLoggingDrivers, privileged: !configuration.disablePrivileged,
                    architecture: "x86_64", zone: zone, instanceType: "simulated", custom: configuration.instanceAttributes)
                let resources = AgentCapabilities.resources(
                    cpu: options.cpu, memory: options.memory - configuration.reservedMemory,
                    ports: configuration.reservedPorts, udpPorts: configuration.reservedPortsUDP)
                let identity = #"{"instanceId":"sim-\#(host)-\#(index)"\#(zone.map { ",\"availabilityZone\":\"\($0)\"" } ?? "")}"#
                let session = InstanceSession(
                    link: link, engine: engine, pollWait: options.pollWait,
                    logger: logger.with(metadata: ["sim.index": "\(index)"]),
                    registration: { arn in
                        RegisterContainerInstanceRequest(
                            cluster: configuration.cluster,
                            instanceIdentityDocument: identity,
                            totalResources: resources,
                            versionInfo: VersionInfo(agentVersion: StevedoreVersion.current, agentHash: "simulated", dockerVersion: "simulated"),
                            containerInstanceArn: arn,
                            attributes: attributes,
                            tags: configuration.instanceTags.map { ResourceTag(key: $0.key, value: $0.value) }
                        )
                    },
                    onRegistered: { arn in await identities.remember(index: index, arn: arn) }
                )
                let knownArn = index < known.count ? known[index] : nil
                group.addTask { try await session.run(knownArn: knownArn) }
            }
            try await group.waitForAll()
        }
    }
}

/// The simulated instances' ARNs, kept in `<dir>/simulated-instances.json`.
actor IdentityFile {
    private let path: String?
    private var arns: [String?]

    init(directory: String?, count: Int) {
        path = directory.map { $0 + "/simulated-instances.json" }
        arns = Array(repeating: nil, count: count)
    }

    func load() -> [String?] {
        guard let path, let data = FileManager.default.contents(atPath: path),
            let stored = try? JSONDecoder().decode([String?].self, from: data)
        else { return arns }
        for (index, arn) in stored.enumerated() where index < arns.count { arns[index] = arn }
        return arns
    }

    func remember(index: Int, arn: String) {
        guard let path, index < arns.count, arns[index] != arn else { return }
        arns[index] = arn
        let directory = parentDirectory(of: path)
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let data = try? JSONEncoder().encode(arns), FileManager.default.createFile(atPath: path + ".tmp", contents: data) {
            rename(path + ".tmp", path)
        }
    }
}

extension Logger {
    func with(metadata: Logger.Metadata) -> Logger {
        var copy = self
        for (key, value) in metadata { copy[metadataKey: key] = value }
        return copy
    }
}
