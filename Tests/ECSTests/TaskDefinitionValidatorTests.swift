import AgentProtocol
@testable import ECS
import ECSShapes
import Foundation
import StevedoreCore
import StevedoreTestSupport
import Testing

struct TaskDefinitionValidatorTests {
    let names = ResourceNames(region: "eu-west-1", accountId: "123456789012")
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func container(
        _ name: String = "web",
        image: String? = "nginx:1.27",
        memory: Int? = 256,
        reservation: Int? = nil,
        essential: Bool? = nil
    ) -> ContainerDefinition {
        ContainerDefinition(name: name, image: image, memory: memory, memoryReservation: reservation, essential: essential)
    }

    func request(_ containers: [ContainerDefinition], family: String = "web", networkMode: NetworkMode? = nil) -> RegisterTaskDefinitionRequest {
        RegisterTaskDefinitionRequest(family: family, networkMode: networkMode, containerDefinitions: containers)
    }

    func validate(_ request: RegisterTaskDefinitionRequest) throws(AWSError) -> TaskDefinition {
        try TaskDefinitionValidator().validate(request, revision: 3, names: names, registeredAt: now)
    }

    func refusal(_ request: RegisterTaskDefinitionRequest) -> AWSError? {
        do {
            _ = try validate(request)
            return nil
        } catch {
            return error
        }
    }

    @Test func acceptsAMinimalDefinitionAndFillsDefaults() throws {
        var web = container()
        web.portMappings = [PortMapping(containerPort: 80)]
        let definition = try validate(request([web]))
        #expect(definition.taskDefinitionArn == "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3")
        #expect(definition.revision == 3)
        #expect(definition.status == .active)
        #expect(definition.networkMode == .bridge)
        #expect(definition.registeredBy == "arn:aws:iam::123456789012:root")
        #expect(definition.compatibilities == [.ec2, .external])
        let normalized = try #require(definition.containerDefinitions?.first)
        #expect(normalized.essential == true)
        #expect(normalized.cpu == 0)
        #expect(normalized.portMappings == [PortMapping(containerPort: 80, hostPort: 0, protocol: .tcp)])
        #expect(normalized.environment == [])
    }

    @Test func normalisesTaskSizes() throws {
        var input = request([container(memory: nil)])
        input.cpu = "0.5 vCPU"
        input.memory = "1 GB"
        let definition = try validate(input)
        #expect(definition.cpu == "512")
        #expect(definition.memory == "1024")
        #expect(definition.requiresAttributes?.map(\.name) == ["ecs.capability.task-cpu-mem-limit"])
    }

    @Test(arguments: ["", "web app", "web/1", String(repeating: "a", count: 256)])
    func refusesBadFamilies(_ family: String) {
        let error = refusal(request([container()], family: family))
        #expect(error?.type == "ClientException")
        #expect(error?.message.contains("family") == true)
    }

    @Test func refusesEmptyAndOversizedContainerLists() {
        #expect(refusal(request([]))?.message.contains("at least one container") == true)
        let eleven = (0..<11).map { container("c\($0)") }
        #expect(refusal(request(eleven))?.message.contains("at most 10") == true)
        let ten = (0..<10).map { container("c\($0)") }
        #expect(refusal(request(ten)) == nil)
    }

    @Test func refusesDuplicateAndInvalidContainerNames() {
        #expect(refusal(request([container("a"), container("a")]))?.message.contains("unique") == true)
        #expect(refusal(request([container("a b")]))?.message.contains("Invalid container name 'a b'") == true)
        #expect(refusal(request([ContainerDefinition(image: "x", memory: 64)]))?.message.contains("name") == true)
    }

    @Test func needsAnImage() {
        #expect(refusal(request([container(image: nil)]))?.message.contains("image") == true)
        #expect(refusal(request([container(image: "  ")]))?.message.contains("image") == true)
    }

    @Test func needsAnEssentialContainer() {
        let error = refusal(request([container("a", essential: false), container("b", essential: false)]))
        #expect(error?.message.contains("essential") == true)
    }

    @Test func memoryRules() {
        #expect(
            refusal(request([container(memory: nil)]))?.message
                == "Invalid setting for container 'web'. At least one of 'memory' or 'memoryReservation' must be specified."
        )
        #expect(refusal(request([container(memory: 4)]))?.message.contains("minimum is 6 MiB") == true)
        #expect(refusal(request([container(memory: 128, reservation: 256)]))?.message.contains("greater than 'memoryReservation'") == true)
        #expect(refusal(request([container(memory: nil, reservation: 128)])) == nil)
        var withTask = request([container(memory: 2048)])
        withTask.memory = "1024"
        #expect(refusal(withTask)?.message.contains("more than the task's memory") == true)
        var reserved = request([container("a", memory: nil, reservation: 600), container("b", memory: nil, reservation: 600)])
        reserved.memory = "1024"
        #expect(refusal(reserved)?.message.contains("reserve 1200 MiB") == true)
    }

    @Test func taskCPURules() {
        var input = request([container()])
        input.cpu = "64"
        #expect(refusal(input)?.message.contains("between 128 and 196608") == true)
        input.cpu = "lots"
        #expect(refusal(input)?.message.contains("'lots'") == true)
        input.cpu = "256"
        var hungry = container()
        hungry.cpu = 512
        input.containerDefinitions = [hungry]
        #expect(refusal(input)?.message.contains("sum of container cpu") == true)
    }

    @Test func portMappingRules() {
        func withPorts(_ mappings: [PortMapping], mode: NetworkMode? = nil, second: [PortMapping]? = nil) -> AWSError? {
            var a = container("a")
            a.portMappings = mappings
            var containers = [a]
            if let second {
                var b = container("b")
                b.portMappings = second
                containers.append(b)
            }
            return refusal(request(containers, networkMode: mode))
        }
        #expect(withPorts([PortMapping(containerPort: 0)])?.message.contains("ports are 1-65535") == true)
        #expect(withPorts([PortMapping(containerPort: 80, hostPort: 70000)])?.message.contains("hostPort 70000") == true)
        #expect(withPorts([PortMapping(hostPort: 80)])?.message.contains("containerPort is required") == true)
        #expect(withPorts([PortMapping(containerPort: 80, hostPort: 8080)], mode: .host)?.message.contains("equal to containerPort") == true)
        #expect(withPorts([PortMapping(containerPort: 80)], mode: .none_)?.message.contains("networkMode is none") == true)
        #expect(withPorts([PortMapping(containerPort: 80), PortMapping(containerPort: 80)])?.message.contains("more than once") == true)
        #expect(withPorts([PortMapping(containerPort: 80, protocol: .tcp), PortMapping(containerPort: 80, protocol: .udp)]) == nil)
        #expect(
            withPorts([PortMapping(containerPort: 80, hostPort: 8080)], second: [PortMapping(containerPort: 81, hostPort: 8080)])?
                .message.contains("Host port 8080/tcp is used by both") == true
        )
        #expect(withPorts([PortMapping(containerPortRange: "9000-8000")])?.message.contains("containerPortRange") == true)
        #expect(withPorts([PortMapping(containerPortRange: "8000-8010")]) == nil)
    }

    @Test func hostModeCopiesContainerPortToHostPort() throws {
        var a = container()
        a.portMappings = [PortMapping(containerPort: 8080)]
        let definition = try validate(request([a], networkMode: .host))
        #expect(definition.containerDefinitions?.first?.portMappings?.first?.hostPort == 8080)
    }

    @Test func linksAndDependencies() {
        var app = container("app")
        app.links = ["db:database"]
        #expect(refusal(request([app]))?.message.contains("container 'db'") == true)
        #expect(refusal(request([app, container("db")])) == nil)
        #expect(refusal(request([app, container("db")], networkMode: .awsvpc))?.message.contains("only supported when networkMode is bridge") == true)

        var waits = container("app")
        waits.dependsOn = [ContainerDependency(containerName: "ghost", condition: .start)]
        #expect(refusal(request([waits]))?.message.contains("'ghost'") == true)
        waits.dependsOn = [ContainerDependency(containerName: "init", condition: .success)]
        #expect(refusal(request([waits, container("init")]))?.message.contains("essential container 'init'") == true)
        #expect(refusal(request([waits, container("init", essential: false)])) == nil)
        waits.dependsOn = [ContainerDependency(containerName: "db", condition: .healthy)]
        #expect(refusal(request([waits, container("db")]))?.message.contains("requires container 'db' to have a healthCheck") == true)
    }

    @Test func refusesStartOrderCycles() {
        var a = container("a")
        a.dependsOn = [ContainerDependency(containerName: "b", condition: .start)]
        var b = container("b")
        b.links = ["c"]
        var c = container("c")
        c.dependsOn = [ContainerDependency(containerName: "a", condition: .start)]
        let error = refusal(request([a, b, c]))
        #expect(error?.message.contains("cycle") == true)
        #expect(error?.message.contains("a -> b -> c -> a") == true)
    }

    @Test func volumesAndMountPoints() {
        var web = container()
        web.mountPoints = [MountPoint(sourceVolume: "data", containerPath: "/data")]
        #expect(refusal(request([web]))?.message.contains("sourceVolume 'data' is not defined") == true)
        var input = request([web])
        input.volumes = [Volume(name: "data", host: HostVolumeProperties(sourcePath: "/srv/data"))]
        #expect(refusal(input) == nil)
        input.volumes = [Volume(name: "data", host: HostVolumeProperties(sourcePath: "relative"))]
        #expect(refusal(input)?.message.contains("absolute path") == true)
        input.volumes = [Volume(name: "data"), Volume(name: "data")]
        #expect(refusal(input)?.message.contains("unique") == true)
        input.volumes = [Volume(name: "data", dockerVolumeConfiguration: DockerVolumeConfiguration(scope: .task, autoprovision: true))]
        #expect(refusal(input)?.message.contains("autoprovision") == true)
        var from = container("b")
        from.volumesFrom = [VolumeFrom(sourceContainer: "nobody")]
        #expect(refusal(request([from]))?.message.contains("'nobody'") == true)
    }

    @Test func environmentAndHealthCheck() {
        var web = container()
        web.environment = [KeyValuePair(name: "A=B", value: "1")]
        #expect(refusal(request([web]))?.message.contains("'A=B'") == true)
        web.environment = [KeyValuePair(name: "", value: "1")]
        #expect(refusal(request([web]))?.message.contains("environment[0].name") == true)
        web.environment = nil
        web.healthCheck = HealthCheck(command: ["CMD-SHELL", "true"], interval: 2)
        #expect(refusal(request([web]))?.message.contains("interval is 2; it must be between 5 and 300") == true)
        web.healthCheck = HealthCheck(command: ["CMD-SHELL", "true"], retries: 11)
        #expect(refusal(request([web]))?.message.contains("retries") == true)
        web.healthCheck = HealthCheck(command: [])
        #expect(refusal(request([web]))?.message.contains("command must not be empty") == true)
        web.healthCheck = HealthCheck(command: ["CMD", "true"], interval: 10, timeout: 5, retries: 3, startPeriod: 0)
        #expect(refusal(request([web])) == nil)
    }

    @Test func placementConstraintExpressionsAreParsed() {
        var input = request([container()])
        input.placementConstraints = [TaskDefinitionPlacementConstraint(type: .memberOf, expression: "attribute:ecs.instance-type =~ t2.*")]
        #expect(refusal(input) == nil)
        input.placementConstraints = [TaskDefinitionPlacementConstraint(type: .memberOf, expression: "attribute:x ==")]
        #expect(refusal(input)?.message.contains("placementConstraints[0].expression is invalid") == true)
    }

    @Test func derivesRequiredAttributes() throws {
        var web = container()
        web.privileged = true
        web.logConfiguration = LogConfiguration(logDriver: .syslog)
        web.healthCheck = HealthCheck(command: ["CMD", "true"])
        var sidecar = container("sidecar")
        sidecar.dependsOn = [ContainerDependency(containerName: "web", condition: .healthy)]
        let names = try validate(request([web, sidecar])).requiresAttributes?.map(\.name) ?? []
        #expect(names.contains("com.amazonaws.ecs.capability.privileged-container"))
        #expect(names.contains("com.amazonaws.ecs.capability.logging-driver.syslog"))
        #expect(names.contains("ecs.capability.container-health-check"))
        #expect(names.contains("ecs.capability.container-ordering"))
        #expect(names.contains("com.amazonaws.ecs.capability.docker-remote-api.1.18"))
    }

    @Test func fargateCompatibility() throws {
        var input = request([container()], networkMode: .awsvpc)
        input.cpu = "256"
        input.memory = "512"
        input.requiresCompatibilities = [.fargate]
        // External instances run no task networks: an awsvpc definition is not EXTERNAL-compatible.
        #expect(try validate(input).compatibilities == [.ec2, .fargate])
        input.requiresCompatibilities = [.external]
        #expect(refusal(input)?.message == "Tasks using the External launch type do not support network mode \u{2018}awsvpc\u{2019}.")
        input.requiresCompatibilities = [.fargate]
        input.ephemeralStorage = EphemeralStorage(sizeInGiB: 20)
        #expect(refusal(input) == .client("EphemeralStorage size should be at least 21"))
        input.ephemeralStorage = EphemeralStorage(sizeInGiB: 201)
        #expect(refusal(input) == .client("EphemeralStorage size should be at most 200"))
        input.ephemeralStorage = EphemeralStorage(sizeInGiB: 21)
        #expect(refusal(input) == nil)
        input.ephemeralStorage = nil
        input.networkMode = .bridge
        #expect(refusal(input)?.message == "Fargate only supports network mode \u{2018}awsvpc\u{2019}.")
    }

    @Test func anEFSVolumeGetsTheRootDirectoryECSGivesIt() throws {
        var input = request([container()])
        input.volumes = [
            Volume(name: "shared", efsVolumeConfiguration: EFSVolumeConfiguration(fileSystemId: "fs-1")),
            Volume(name: "data", efsVolumeConfiguration: EFSVolumeConfiguration(fileSystemId: "fs-2", rootDirectory: "/data")),
        ]
        let volumes = try validate(input).volumes ?? []
        #expect(volumes.map { $0.efsVolumeConfiguration?.rootDirectory } == ["/", "/data"])
    }

    /// Fargate's rules, refused with AWS's words when a definition requires FARGATE (and only
    /// then: otherwise the definition is simply not FARGATE-compatible).
    @Test(arguments: [
        ("256", "512", nil, nil),
        ("256", "2048", nil, nil),
        ("1 vCPU", "8 GB", nil, nil),
        ("4096", "30720", nil, nil),
        ("16384", "122880", nil, nil),
        ("512", "512", nil, "No Fargate configuration exists for given values: 512 CPU, 512 memory. See the Amazon ECS documentation for the valid values."),
        ("256", "4096", nil, "No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the Amazon ECS documentation for the valid values."),
        ("8192", "18432", nil, "No Fargate configuration exists for given values: 8192 CPU, 18432 memory. See the Amazon ECS documentation for the valid values."),
        ("128", "512", nil, "No Fargate configuration exists for given values: 128 CPU, 512 memory. See the Amazon ECS documentation for the valid values."),
        (nil, "512", nil, "Fargate requires that 'cpu' be defined at the task level."),
        ("256", nil, nil, "Fargate requires that 'memory' be defined at the task level."),
        ("256", "512", PidMode.host, "Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'."),
        ("256", "512", PidMode.task, nil),
    ] as [(String?, String?, PidMode?, String?)])
    func fargateRules(cpu: String?, memory: String?, pidMode: PidMode?, refused: String?) throws {
        var input = request([container(memory: 128)], networkMode: .awsvpc)
        (input.cpu, input.memory, input.pidMode) = (cpu, memory, pidMode)
        input.requiresCompatibilities = [.fargate]
        #expect(refusal(input)?.message == refused)
        #expect(refusal(input)?.type == refused.map { _ in "ClientException" })
        input.requiresCompatibilities = nil
        if cpu != nil || memory != nil, (try? validate(input)) != nil {
            #expect(try validate(input).compatibilities?.contains(.fargate) == (refused == nil))
        }
    }
}

struct TaskSizeTests {
    @Test(arguments: [("1024", 1024), ("1 vCPU", 1024), ("0.25 vcpu", 256), ("2vCPU", 2048)])
    func cpu(_ text: String, _ units: Int) {
        #expect(TaskSize.cpuUnits(text) == units)
    }

    @Test(arguments: [("2048", 2048), ("2 GB", 2048), ("0.5GB", 512), ("512 MiB", 512)])
    func memory(_ text: String, _ mib: Int) {
        #expect(TaskSize.memoryMiB(text) == mib)
    }

    @Test func rejectsNonsense() {
        #expect(TaskSize.cpuUnits("fast") == nil)
        #expect(TaskSize.cpuUnits("0.1 vCPU") == nil)
        #expect(TaskSize.memoryMiB("-1 GB") == nil)
        // Swift's Double reads these; none is a size (Int(_:) of them would trap).
        for text in ["inf vCPU", "infinity vcpu", "nan vCPU", "1e300 vCPU"] { #expect(TaskSize.cpuUnits(text) == nil, "\(text)") }
        for text in ["inf GB", "1e300 GB", "nan MiB", "1e30 MB"] { #expect(TaskSize.memoryMiB(text) == nil, "\(text)") }
    }
}
