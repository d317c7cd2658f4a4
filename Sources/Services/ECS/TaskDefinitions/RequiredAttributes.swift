import AgentProtocol
import ECSShapes
import StevedoreCore
/// The container-instance attributes a task definition needs, as ECS lists them in
/// `requiresAttributes`; placement refuses instances without them (`ATTRIBUTE`).
public enum RequiredAttributes {
    public static func derive(for definition: TaskDefinition) -> [Attribute] {
        var names: [String] = []
        func add(_ name: String) { if !names.contains(name) { names.append(name) } }
        let remoteAPI = "com.amazonaws.ecs.capability.docker-remote-api."
        for container in definition.containerDefinitions ?? [] {
            if container.privileged == true { add("com.amazonaws.ecs.capability.privileged-container") }
            if container.healthCheck != nil {
                add("ecs.capability.container-health-check")
                add(remoteAPI + "1.24")
            }
            if !(container.dependsOn ?? []).isEmpty { add("ecs.capability.container-ordering") }
            if container.dockerLabels != nil || container.ulimits != nil || container.logConfiguration != nil {
                add(remoteAPI + "1.18")
            }
            if let driver = container.logConfiguration?.logDriver {
                add("com.amazonaws.ecs.capability.logging-driver.\(driver.rawValue)")
            }
            if container.linuxParameters?.initProcessEnabled == true { add(remoteAPI + "1.25") }
            if (container.portMappings ?? []).contains(where: { $0.containerPortRange != nil }) {
                add("ecs.capability.network.container-port-range")
            }
            if container.restartPolicy?.enabled == true { add("ecs.capability.container-restart-policy") }
        }
        if definition.cpu != nil || definition.memory != nil { add("ecs.capability.task-cpu-mem-limit") }
        if definition.pidMode != nil || definition.ipcMode != nil { add("ecs.capability.pid-ipc-namespace-sharing") }
        for volume in definition.volumes ?? [] {
            if let docker = volume.dockerVolumeConfiguration {
                add("ecs.capability.docker-plugin.\(docker.driver ?? "local")")
            }
            if volume.efsVolumeConfiguration != nil { add("ecs.capability.efs") }
        }
        return names.map { Attribute(name: $0) }
    }
}
