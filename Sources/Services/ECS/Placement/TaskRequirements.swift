import AgentProtocol
import ECSShapes
import StevedoreCore
/// What one task takes from an instance: CPU units, MiB of memory, static host ports, and the
/// attributes the instance must have.
public struct TaskRequirements: Sendable, Equatable, Codable {
    public var cpu: Int
    public var memory: Int
    public var tcpPorts: [Int]
    public var udpPorts: [Int]
    /// `requiresAttributes` of the task definition: names, and values where one is required.
    public var attributes: [RequiredAttribute]

    public struct RequiredAttribute: Sendable, Equatable, Codable {
        public var name: String
        public var value: String?

        public init(name: String, value: String? = nil) {
            self.name = name
            self.value = value
        }
    }

    public init(cpu: Int, memory: Int, tcpPorts: [Int] = [], udpPorts: [Int] = [], attributes: [RequiredAttribute] = []) {
        self.cpu = cpu
        self.memory = memory
        self.tcpPorts = tcpPorts
        self.udpPorts = udpPorts
        self.attributes = attributes
    }

    /// Requirements of a task definition with the overrides of one run applied.
    ///
    /// CPU is the task-level `cpu` when set, else the sum of the containers' `cpu`; memory is the
    /// task-level `memory`, else the sum over containers of `memoryReservation`, else `memory`.
    /// Static host ports are those a bridge mapping names, or every container port in host and
    /// awsvpc modes; dynamic ports (hostPort 0) are the agent's to pick.
    public init(definition: TaskDefinition, overrides: TaskOverride? = nil) {
        let containerOverrides = Dictionary(
            (overrides?.containerOverrides ?? []).compactMap { override in override.name.map { ($0, override) } },
            uniquingKeysWith: { first, _ in first }
        )
        var cpuSum = 0
        var memorySum = 0
        var tcp: [Int] = []
        var udp: [Int] = []
        for container in definition.containerDefinitions ?? [] {
            let override = container.name.flatMap { containerOverrides[$0] }
            cpuSum += override?.cpu ?? container.cpu ?? 0
            let reservation = override?.memoryReservation ?? container.memoryReservation
            let hard = override?.memory ?? container.memory
            memorySum += reservation ?? hard ?? 0
            for mapping in container.portMappings ?? [] {
                guard let hostPort = mapping.hostPort, hostPort > 0 else { continue }
                if mapping.protocol == .udp { udp.append(hostPort) } else { tcp.append(hostPort) }
            }
        }
        cpu = (overrides?.cpu).flatMap(TaskSize.cpuUnits) ?? definition.cpu.flatMap(Int.init) ?? cpuSum
        memory = (overrides?.memory).flatMap(TaskSize.memoryMiB) ?? definition.memory.flatMap(Int.init) ?? memorySum
        tcpPorts = tcp
        udpPorts = udp
        attributes = (definition.requiresAttributes ?? []).map { RequiredAttribute(name: $0.name, value: $0.value) }
    }
}
