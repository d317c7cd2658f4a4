import AgentProtocol
import AWSProtocols
import ECSShapes
import StevedoreClient
import StevedoreCore

/// The attributes an agent registers with: what it is and what it can do, as the real agent
/// names them, so task definitions' `requiresAttributes` match.
public enum AgentCapabilities {
    public static func attributes(
        loggingDrivers: [String],
        privileged: Bool,
        architecture: String,
        zone: String?,
        instanceType: String?,
        custom: [String: String]
    ) -> [Attribute] {
        var names = [
            "ecs.capability.container-ordering", "ecs.capability.container-health-check", "ecs.capability.task-cpu-mem-limit",
            "ecs.capability.network.container-port-range", "ecs.capability.pid-ipc-namespace-sharing",
            "ecs.capability.docker-plugin.local", "ecs.capability.full-sync", "ecs.capability.container-restart-policy",
        ]
        for version in ["1.17", "1.18", "1.19", "1.20", "1.21", "1.22", "1.23", "1.24", "1.25", "1.28", "1.29", "1.30", "1.32"] {
            names.append("com.amazonaws.ecs.capability.docker-remote-api.\(version)")
        }
        for driver in loggingDrivers { names.append("com.amazonaws.ecs.capability.logging-driver.\(driver)") }
        if privileged { names.append("com.amazonaws.ecs.capability.privileged-container") }
        var attributes = names.map { Attribute(name: $0) }
        attributes.append(Attribute(name: "ecs.os-type", value: "linux"))
        attributes.append(Attribute(name: "ecs.os-family", value: "LINUX"))
        attributes.append(Attribute(name: "ecs.cpu-architecture", value: architecture))
        if let zone { attributes.append(Attribute(name: "ecs.availability-zone", value: zone)) }
        if let instanceType { attributes.append(Attribute(name: "ecs.instance-type", value: instanceType)) }
        for (name, value) in custom.sorted(by: { $0.key < $1.key }) { attributes.append(Attribute(name: name, value: value)) }
        return attributes
    }

    /// CPU, MEMORY, PORTS and PORTS_UDP as `RegisterContainerInstance` takes them.
    public static func resources(cpu: Int, memory: Int, ports: [Int], udpPorts: [Int]) -> [Resource] {
        [
            Resource(name: "CPU", type: "INTEGER", integerValue: cpu),
            Resource(name: "MEMORY", type: "INTEGER", integerValue: memory),
            Resource(name: "PORTS", type: "STRINGSET", stringSetValue: ports.map(String.init)),
            Resource(name: "PORTS_UDP", type: "STRINGSET", stringSetValue: udpPorts.map(String.init)),
        ]
    }
}
