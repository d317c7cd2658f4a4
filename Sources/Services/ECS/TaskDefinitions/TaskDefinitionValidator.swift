import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import StevedoreCore

/// Checks a `RegisterTaskDefinition` request the way ECS does and turns it into the stored
/// `TaskDefinition`: defaults filled in, task-level sizes normalised to integers, and the
/// `requiresAttributes` and `compatibilities` ECS derives. Every refusal names the field to fix.
public struct TaskDefinitionValidator: Sendable {
    public static let maxContainers = 10
    public static let maxTags = 50
    /// Task-level CPU bounds for EC2 and external instances (units).
    public static let taskCPURange = 128...196_608
    /// Docker refuses containers below 6 MiB.
    public static let minimumContainerMemoryMiB = 6

    public init() {}

    public func validate(
        _ request: RegisterTaskDefinitionRequest,
        revision: Int,
        names: ResourceNames,
        registeredAt: Date
    ) throws(AWSError) -> TaskDefinition {
        guard NameRules.isValidName(request.family) else {
            throw .client(
                "Invalid family '\(request.family)': use 1-255 letters (uppercase and lowercase), numbers, underscores and hyphens."
            )
        }
        let containers = request.containerDefinitions
        guard !containers.isEmpty else {
            throw .client("containerDefinitions must contain at least one container definition.")
        }
        guard containers.count <= Self.maxContainers else {
            throw .client(
                "containerDefinitions has \(containers.count) containers; a task definition can have at most \(Self.maxContainers)."
            )
        }
        let networkMode = request.networkMode ?? .bridge
        let taskCPU = try parseTaskCPU(request.cpu)
        let taskMemory = try parseTaskMemory(request.memory)
        let volumes = try validateVolumes(request.volumes ?? [])
        try validateTags(request.tags ?? [])

        var names_ = Set<String>()
        for (index, container) in containers.enumerated() {
            guard let name = container.name, !name.isEmpty else { throw .client("Container.name should not be null or empty.") }
            guard NameRules.isValidName(name) else {
                throw .client(
                    "Invalid container name '\(name)' (containerDefinitions[\(index)].name): use 1-255 letters, numbers, underscores and hyphens."
                )
            }
            guard names_.insert(name).inserted else {
                throw .client("Container names must be unique within a task definition; '\(name)' appears more than once.")
            }
        }
        let byName = Dictionary(uniqueKeysWithValues: containers.map { ($0.name!, $0) })

        var normalized: [ContainerDefinition] = []
        for (index, container) in containers.enumerated() {
            normalized.append(
                try validateContainer(
                    container,
                    path: "containerDefinitions[\(index)]",
                    networkMode: networkMode,
                    taskMemory: taskMemory,
                    volumes: volumes,
                    containers: byName
                )
            )
        }
        guard normalized.contains(where: { $0.essential == true }) else {
            throw .client("A task definition must have at least one essential container; set essential to true on one container.")
        }
        try validateSums(normalized, taskCPU: taskCPU, taskMemory: taskMemory)
        try validatePortConflicts(normalized)
        try validateStartOrder(normalized)
        try validateConstraints(request.placementConstraints ?? [])
        if let proxy = request.proxyConfiguration, byName[proxy.containerName] == nil {
            throw .client("proxyConfiguration.containerName '\(proxy.containerName)' is not a container in this task definition.")
        }
        let requested = request.requiresCompatibilities ?? []
        let fargateProblem = fargateIncompatibility(request, networkMode: networkMode, taskCPU: taskCPU, taskMemory: taskMemory, containers: normalized)
        if requested.contains(.fargate), let fargateProblem { throw .client(fargateProblem) }
        // External instances run no task networks (awsvpc); AWS refuses the pair. (Its exact
        // words for this refusal are not known to us; these follow its Fargate refusals.)
        if requested.contains(.external), networkMode == .awsvpc {
            throw .client("Tasks using the External launch type do not support network mode \u{2018}awsvpc\u{2019}.")
        }
        if let size = request.ephemeralStorage?.sizeInGiB {
            if size < 21 { throw .client("EphemeralStorage size should be at least 21") }
            if size > 200 { throw .client("EphemeralStorage size should be at most 200") }
        }
        var compatibilities: [Compatibility] = networkMode == .awsvpc ? [.ec2] : [.ec2, .external]
        if fargateProblem == nil { compatibilities.append(.fargate) }

        var definition = TaskDefinition(
            taskDefinitionArn: names.taskDefinition(family: request.family, revision: revision),
            containerDefinitions: normalized,
            family: request.family,
            taskRoleArn: request.taskRoleArn,
            executionRoleArn: request.executionRoleArn,
            networkMode: networkMode,
            revision: revision,
            volumes: volumes,
            status: .active,
            requiresAttributes: nil,
            placementConstraints: request.placementConstraints ?? [],
            compatibilities: compatibilities,
            runtimePlatform: request.runtimePlatform,
            requiresCompatibilities: request.requiresCompatibilities,
            cpu: taskCPU.map(String.init),
            memory: taskMemory.map(String.init),
            inferenceAccelerators: request.inferenceAccelerators,
            pidMode: request.pidMode,
            ipcMode: request.ipcMode,
            proxyConfiguration: request.proxyConfiguration,
            registeredAt: registeredAt,
            registeredBy: names.rootPrincipal,
            ephemeralStorage: request.ephemeralStorage,
            enableFaultInjection: request.enableFaultInjection
        )
        definition.requiresAttributes = RequiredAttributes.derive(for: definition)
        return definition
    }

    // MARK: - Task level

    private func parseTaskCPU(_ text: String?) throws(AWSError) -> Int? {
        guard let text else { return nil }
        guard let units = TaskSize.cpuUnits(text) else {
            throw .client("Invalid 'cpu' setting for task: '\(text)'. Use CPU units (\"1024\") or vCPUs (\"1 vCPU\").")
        }
        guard Self.taskCPURange.contains(units) else {
            throw .client(
                "Invalid 'cpu' setting for task: \(units) CPU units. Task CPU must be between \(Self.taskCPURange.lowerBound) and \(Self.taskCPURange.upperBound) units."
            )
        }
        return units
    }

    private func parseTaskMemory(_ text: String?) throws(AWSError) -> Int? {
        guard let text else { return nil }
        guard let mib = TaskSize.memoryMiB(text) else {
            throw .client("Invalid 'memory' setting for task: '\(text)'. Use MiB (\"2048\") or GB (\"2 GB\").")
        }
        guard mib >= Self.minimumContainerMemoryMiB else {
            throw .client("Invalid 'memory' setting for task: \(mib) MiB. Task memory must be at least \(Self.minimumContainerMemoryMiB) MiB.")
        }
        return mib
    }

    private func validateVolumes(_ volumes: [Volume]) throws(AWSError) -> [Volume] {
        var seen = Set<String>()
        for (index, volume) in volumes.enumerated() {
            let path = "volumes[\(index)]"
            guard let name = volume.name, NameRules.isValidName(name) else {
                throw .client("\(path).name must be 1-255 letters, numbers, underscores and hyphens.")
            }
            guard seen.insert(name).inserted else {
                throw .client("Volume names must be unique; '\(name)' appears more than once in volumes.")
            }
            let kinds = [volume.host != nil, volume.dockerVolumeConfiguration != nil, volume.efsVolumeConfiguration != nil,
                         volume.fsxWindowsFileServerVolumeConfiguration != nil, volume.s3filesVolumeConfiguration != nil]
            guard kinds.filter({ $0 }).count <= 1 else {
                throw .client("Volume '\(name)' sets more than one of host, dockerVolumeConfiguration, efsVolumeConfiguration and fsxWindowsFileServerVolumeConfiguration; choose one.")
            }
            if let source = volume.host?.sourcePath, !source.hasPrefix("/") {
                throw .client("\(path).host.sourcePath '\(source)' must be an absolute path on the host.")
            }
            if let docker = volume.dockerVolumeConfiguration, docker.autoprovision == true, docker.scope != .shared {
                throw .client("Volume '\(name)': autoprovision is only supported when dockerVolumeConfiguration.scope is shared.")
            }
            if let efs = volume.efsVolumeConfiguration, efs.fileSystemId.isEmpty {
                throw .client("\(path).efsVolumeConfiguration.fileSystemId must not be empty.")
            }
        }
        // As ECS stores them: an EFS volume's root directory is "/" unless given.
        return volumes.map { volume in
            var volume = volume
            if volume.efsVolumeConfiguration != nil, volume.efsVolumeConfiguration?.rootDirectory == nil {
                volume.efsVolumeConfiguration?.rootDirectory = "/"
            }
            return volume
        }
    }

    private func validateTags(_ tags: [ResourceTag]) throws(AWSError) {
        try TagRules.validate(tags)
    }

    // MARK: - Containers

    private func validateContainer(
        _ input: ContainerDefinition,
        path: String,
        networkMode: NetworkMode,
        taskMemory: Int?,
        volumes: [Volume],
        containers: [String: ContainerDefinition]
    ) throws(AWSError) -> ContainerDefinition {
        var container = input
        let name = container.name!
        guard let image = container.image, !image.trimmingWhitespace.isEmpty else {
            throw .client("Container.image should not be null or empty: set an image for container '\(name)'.")
        }
        guard image.utf8.count <= 255 || image.contains("@") else {
            throw .client("Container '\(name)': image '\(image.prefix(40))…' is longer than 255 characters.")
        }
        if let cpu = container.cpu, cpu < 0 {
            throw .client("Invalid 'cpu' setting for container '\(name)': \(cpu). CPU units must be 0 or more.")
        }
        container.cpu = container.cpu ?? 0
        try validateMemory(container, name: name, taskMemory: taskMemory)
        container.essential = container.essential ?? true

        container.portMappings = try validatePortMappings(container.portMappings ?? [], container: name, path: path, networkMode: networkMode)
        for (index, variable) in (container.environment ?? []).enumerated() {
            guard let variableName = variable.name, !variableName.isEmpty else {
                throw .client("\(path).environment[\(index)].name must not be empty (container '\(name)').")
            }
            guard !variableName.contains("="), !variableName.contains("\0") else {
                throw .client("Invalid environment variable name '\(variableName)' in container '\(name)': names cannot contain '=' or NUL.")
            }
        }
        container.environment = container.environment ?? []
        for (index, file) in (container.environmentFiles ?? []).enumerated() where file.value.isEmpty {
            throw .client("\(path).environmentFiles[\(index)].value must be the ARN of an environment file (container '\(name)').")
        }
        for (index, secret) in (container.secrets ?? []).enumerated() where secret.name.isEmpty || secret.valueFrom.isEmpty {
            throw .client("\(path).secrets[\(index)] needs both name and valueFrom (container '\(name)').")
        }

        let volumeNames = Set(volumes.compactMap(\.name))
        for (index, mount) in (container.mountPoints ?? []).enumerated() {
            guard let source = mount.sourceVolume, !source.isEmpty else {
                throw .client("\(path).mountPoints[\(index)].sourceVolume must name a volume (container '\(name)').")
            }
            guard volumeNames.contains(source) else {
                throw .client("Invalid mountPoints for container '\(name)': sourceVolume '\(source)' is not defined in the task definition's volumes.")
            }
            guard let containerPath = mount.containerPath, !containerPath.isEmpty else {
                throw .client("\(path).mountPoints[\(index)].containerPath must not be empty (container '\(name)').")
            }
        }
        container.mountPoints = container.mountPoints ?? []
        for (index, from) in (container.volumesFrom ?? []).enumerated() {
            guard let source = from.sourceContainer, containers[source] != nil else {
                throw .client("\(path).volumesFrom[\(index)].sourceContainer '\(from.sourceContainer ?? "")' is not a container in this task definition.")
            }
            guard source != name else {
                throw .client("Container '\(name)' cannot take volumesFrom itself.")
            }
        }
        container.volumesFrom = container.volumesFrom ?? []

        for link in container.links ?? [] {
            guard networkMode == .bridge else {
                throw .client("Container '\(name)' has links, which are only supported when networkMode is bridge (it is \(networkMode.rawValue)).")
            }
            let target = String(link.split(separator: ":", maxSplits: 1).first ?? "")
            guard containers[target] != nil else {
                throw .client("Invalid links for container '\(name)': '\(link)' refers to container '\(target)', which is not in this task definition.")
            }
            guard target != name else { throw .client("Container '\(name)' cannot link to itself.") }
        }
        for (index, dependency) in (container.dependsOn ?? []).enumerated() {
            guard let target = containers[dependency.containerName] else {
                throw .client("Invalid dependsOn for container '\(name)': container '\(dependency.containerName)' is not in this task definition.")
            }
            guard dependency.containerName != name else {
                throw .client("Container '\(name)' cannot depend on itself (\(path).dependsOn[\(index)]).")
            }
            if dependency.condition == .complete || dependency.condition == .success, target.essential ?? true {
                throw .client(
                    "Invalid dependsOn for container '\(name)': condition \(dependency.condition.rawValue) cannot be used with essential container '\(dependency.containerName)'. Mark it essential: false or use START or HEALTHY."
                )
            }
            if dependency.condition == .healthy, target.healthCheck == nil {
                throw .client(
                    "Invalid dependsOn for container '\(name)': condition HEALTHY requires container '\(dependency.containerName)' to have a healthCheck."
                )
            }
        }
        if let health = container.healthCheck {
            try validateHealthCheck(health, container: name)
        }
        for (index, limit) in (container.ulimits ?? []).enumerated() where limit.softLimit > limit.hardLimit {
            throw .client("\(path).ulimits[\(index)] (\(limit.name.rawValue)): softLimit \(limit.softLimit) is greater than hardLimit \(limit.hardLimit).")
        }
        if networkMode == .awsvpc, container.hostname != nil {
            throw .client("Container '\(name)': the hostname parameter is not supported with the awsvpc network mode.")
        }
        if let labels = container.dockerLabels, labels.keys.contains(where: \.isEmpty) {
            throw .client("Container '\(name)': dockerLabels keys must not be empty.")
        }
        for (index, host) in (container.extraHosts ?? []).enumerated() where host.hostname.isEmpty || host.ipAddress.isEmpty {
            throw .client("\(path).extraHosts[\(index)] needs both hostname and ipAddress (container '\(name)').")
        }
        if let parameters = container.linuxParameters {
            for (index, device) in (parameters.devices ?? []).enumerated() where device.hostPath.isEmpty {
                throw .client("\(path).linuxParameters.devices[\(index)].hostPath must not be empty (container '\(name)').")
            }
            for (index, tmpfs) in (parameters.tmpfs ?? []).enumerated() where tmpfs.containerPath.isEmpty || tmpfs.size <= 0 {
                throw .client("\(path).linuxParameters.tmpfs[\(index)] needs a containerPath and a size above 0 MiB (container '\(name)').")
            }
            if let shm = parameters.sharedMemorySize, shm <= 0 {
                throw .client("\(path).linuxParameters.sharedMemorySize must be above 0 MiB (container '\(name)').")
            }
            if let swappiness = parameters.swappiness, !(0...100).contains(swappiness) {
                throw .client("\(path).linuxParameters.swappiness must be between 0 and 100 (container '\(name)').")
            }
        }
        if let restart = container.restartPolicy {
            if let period = restart.restartAttemptPeriod, !(60...1800).contains(period) {
                throw .client("Container '\(name)': restartPolicy.restartAttemptPeriod must be between 60 and 1800 seconds.")
            }
            if (restart.ignoredExitCodes ?? []).count > 50 {
                throw .client("Container '\(name)': restartPolicy.ignoredExitCodes can list at most 50 exit codes.")
            }
        }
        if let timeout = container.startTimeout, timeout < 0 {
            throw .client("Container '\(name)': startTimeout must be 0 or more seconds.")
        }
        if let timeout = container.stopTimeout, timeout < 0 {
            throw .client("Container '\(name)': stopTimeout must be 0 or more seconds.")
        }
        for (index, control) in (container.systemControls ?? []).enumerated() where (control.namespace ?? "").isEmpty {
            throw .client("\(path).systemControls[\(index)].namespace must not be empty (container '\(name)').")
        }
        return container
    }

    private func validateMemory(_ container: ContainerDefinition, name: String, taskMemory: Int?) throws(AWSError) {
        let memory = container.memory
        let reservation = container.memoryReservation
        if taskMemory == nil, memory == nil, reservation == nil {
            throw .client(
                "Invalid setting for container '\(name)'. At least one of 'memory' or 'memoryReservation' must be specified."
            )
        }
        if let memory, memory < Self.minimumContainerMemoryMiB {
            throw .client("Invalid 'memory' setting for container '\(name)': \(memory) MiB. The minimum is \(Self.minimumContainerMemoryMiB) MiB.")
        }
        if let reservation, reservation < Self.minimumContainerMemoryMiB {
            throw .client(
                "Invalid 'memoryReservation' setting for container '\(name)': \(reservation) MiB. The minimum is \(Self.minimumContainerMemoryMiB) MiB."
            )
        }
        if let memory, let reservation, memory <= reservation {
            throw .client(
                "Invalid 'memory' setting for container '\(name)'. The 'memory' (\(memory) MiB) must be greater than 'memoryReservation' (\(reservation) MiB)."
            )
        }
        if let taskMemory, let memory, memory > taskMemory {
            throw .client(
                "Invalid 'memory' setting for container '\(name)': \(memory) MiB is more than the task's memory (\(taskMemory) MiB)."
            )
        }
    }

    private func validatePortMappings(
        _ mappings: [PortMapping],
        container: String,
        path: String,
        networkMode: NetworkMode
    ) throws(AWSError) -> [PortMapping] {
        if networkMode == .none_, !mappings.isEmpty {
            throw .client("Container '\(container)' has portMappings, which are not allowed when networkMode is none.")
        }
        var normalized: [PortMapping] = []
        var seen = Set<String>()
        for (index, input) in mappings.enumerated() {
            var mapping = input
            let field = "\(path).portMappings[\(index)]"
            mapping.protocol = mapping.protocol ?? .tcp
            if let range = mapping.containerPortRange {
                guard PortRange(range) != nil, mapping.containerPort == nil else {
                    throw .client("\(field).containerPortRange '\(range)' must look like \"8000-8010\" (ascending ports 1-65535) and cannot be combined with containerPort.")
                }
                guard mapping.hostPort == nil || mapping.hostPort == 0 else {
                    throw .client("\(field): hostPort cannot be set together with containerPortRange (container '\(container)').")
                }
                normalized.append(mapping)
                continue
            }
            guard let containerPort = mapping.containerPort else {
                throw .client("\(field).containerPort is required (container '\(container)').")
            }
            guard (1...65535).contains(containerPort) else {
                throw .client("Invalid \(field).containerPort \(containerPort) for container '\(container)': ports are 1-65535.")
            }
            let hostPort = mapping.hostPort ?? 0
            guard (0...65535).contains(hostPort) else {
                throw .client("Invalid \(field).hostPort \(hostPort) for container '\(container)': ports are 0-65535 (0 picks a dynamic port).")
            }
            switch networkMode {
            case .host, .awsvpc:
                guard hostPort == 0 || hostPort == containerPort else {
                    throw .client(
                        "Invalid \(field) for container '\(container)': when networkMode is \(networkMode.rawValue), hostPort must be omitted or equal to containerPort (\(containerPort))."
                    )
                }
                mapping.hostPort = containerPort
            case .bridge, .none_:
                mapping.hostPort = hostPort
            }
            let key = "\(containerPort)/\(mapping.protocol!.rawValue)"
            guard seen.insert(key).inserted else {
                throw .client("Container '\(container)' maps containerPort \(key) more than once.")
            }
            normalized.append(mapping)
        }
        return normalized
    }

    private func validateHealthCheck(_ health: HealthCheck, container: String) throws(AWSError) {
        guard let first = health.command.first, !first.isEmpty else {
            throw .client("Invalid 'healthCheck' for container '\(container)': command must not be empty, e.g. [\"CMD-SHELL\", \"curl -f http://localhost/ || exit 1\"].")
        }
        func check(_ value: Int?, _ field: String, _ range: ClosedRange<Int>) throws(AWSError) {
            if let value, !range.contains(value) {
                throw .client(
                    "Invalid 'healthCheck' for container '\(container)': \(field) is \(value); it must be between \(range.lowerBound) and \(range.upperBound)."
                )
            }
        }
        try check(health.interval, "interval", 5...300)
        try check(health.timeout, "timeout", 2...60)
        try check(health.retries, "retries", 1...10)
        try check(health.startPeriod, "startPeriod", 0...300)
        if let interval = health.interval, let timeout = health.timeout, timeout > interval {
            throw .client("Invalid 'healthCheck' for container '\(container)': timeout (\(timeout)s) must not exceed interval (\(interval)s).")
        }
    }

    // MARK: - Whole task

    private func validateSums(_ containers: [ContainerDefinition], taskCPU: Int?, taskMemory: Int?) throws(AWSError) {
        if let taskCPU {
            let sum = containers.reduce(0) { $0 + ($1.cpu ?? 0) }
            guard sum <= taskCPU else {
                throw .client("The sum of container cpu values (\(sum) units) is more than the task's cpu (\(taskCPU) units).")
            }
        }
        if let taskMemory {
            let reserved = containers.reduce(0) { $0 + ($1.memoryReservation ?? $1.memory ?? 0) }
            guard reserved <= taskMemory else {
                throw .client(
                    "The containers reserve \(reserved) MiB (memoryReservation, else memory), more than the task's memory (\(taskMemory) MiB)."
                )
            }
        }
    }

    private func validatePortConflicts(_ containers: [ContainerDefinition]) throws(AWSError) {
        // Static host ports are per instance (bridge) or per task namespace (host, awsvpc).
        var owners: [String: String] = [:]
        for container in containers {
            for mapping in container.portMappings ?? [] {
                guard let hostPort = mapping.hostPort, hostPort != 0 else { continue }
                let key = "\(hostPort)/\(mapping.protocol?.rawValue ?? "tcp")"
                if let owner = owners[key] {
                    throw .client(
                        "Host port \(key) is used by both container '\(owner)' and container '\(container.name!)'; each static host port can be mapped once per task."
                    )
                }
                owners[key] = container.name!
            }
        }
    }

    /// `dependsOn` and `links` both order container start; a cycle could never start.
    private func validateStartOrder(_ containers: [ContainerDefinition]) throws(AWSError) {
        if let cycle = StartOrder.cycle(in: containers) {
            throw .client("dependsOn and links form a cycle: \(cycle.joined(separator: " -> ")). Container start order must be acyclic.")
        }
    }

    private func validateConstraints(_ constraints: [TaskDefinitionPlacementConstraint]) throws(AWSError) {
        guard constraints.count <= 10 else {
            throw .client("placementConstraints has \(constraints.count) entries; at most 10 are allowed.")
        }
        for (index, constraint) in constraints.enumerated() {
            guard let expression = constraint.expression, !expression.isEmpty else {
                throw .client("placementConstraints[\(index)]: a memberOf constraint needs an expression.")
            }
            do {
                _ = try QueryExpression.parse(expression)
            } catch {
                throw .client("placementConstraints[\(index)].expression is invalid: \(error.message)")
            }
        }
    }

    /// Why the definition cannot run on Fargate, in AWS's words (what a definition that requires
    /// FARGATE is refused with); nil when it can.
    private func fargateIncompatibility(
        _ request: RegisterTaskDefinitionRequest,
        networkMode: NetworkMode,
        taskCPU: Int?,
        taskMemory: Int?,
        containers: [ContainerDefinition]
    ) -> String? {
        if networkMode != .awsvpc { return "Fargate only supports network mode \u{2018}awsvpc\u{2019}." }
        guard let taskCPU else { return "Fargate requires that 'cpu' be defined at the task level." }
        guard let taskMemory else { return "Fargate requires that 'memory' be defined at the task level." }
        if !Self.fargateSizes(cpu: taskCPU).contains(taskMemory) {
            return "No Fargate configuration exists for given values: \(taskCPU) CPU, \(taskMemory) memory. See the Amazon ECS documentation for the valid values."
        }
        if let pidMode = request.pidMode, pidMode != .task {
            return "Tasks using the Fargate launch type do not support pidMode '\(pidMode.rawValue)'. The supported value for pidMode is 'task'."
        }
        if request.ipcMode != nil { return "Tasks using the Fargate launch type do not support ipcMode." }
        if containers.contains(where: { $0.privileged == true }) { return "Tasks using the Fargate launch type do not support privileged containers." }
        if (request.volumes ?? []).contains(where: { $0.host?.sourcePath != nil || $0.dockerVolumeConfiguration != nil }) {
            return "Tasks using the Fargate launch type do not support host sourcePath or Docker volumes."
        }
        return nil
    }

    /// The task memory sizes (MiB) Fargate offers for a task cpu size (units): none for a cpu
    /// size it does not have.
    static func fargateSizes(cpu: Int) -> Set<Int> {
        let gib = 1024
        return switch cpu {
        case 256: [512, gib, 2 * gib]
        case 512: Set((1...4).map { $0 * gib })
        case 1024: Set((2...8).map { $0 * gib })
        case 2048: Set((4...16).map { $0 * gib })
        case 4096: Set((8...30).map { $0 * gib })
        case 8192: Set(stride(from: 16, through: 60, by: 4).map { $0 * gib })
        case 16384: Set(stride(from: 32, through: 120, by: 8).map { $0 * gib })
        default: []
        }
    }
}

/// `"8000-8010"`.
struct PortRange {
    var lower: Int
    var upper: Int

    init?(_ text: String) {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let lower = Int(parts[0].trimmingWhitespace),
            let upper = Int(parts[1].trimmingWhitespace),
            1 <= lower, lower < upper, upper <= 65535
        else { return nil }
        self.lower = lower
        self.upper = upper
    }
}
