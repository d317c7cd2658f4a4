import Foundation
import AgentEngine
import DockerClient
@testable import ECSAgent
import ECSShapes
import StevedoreCore
import Testing

struct ContainerSpecTests {
    var context = ContainerSpec.Context(
        taskArn: "arn:aws:ecs:us-east-1:000000000000:task/c/abc", cluster: "c",
        instanceArn: "arn:aws:ecs:us-east-1:000000000000:container-instance/c/i1", family: "web", revision: 3, networkMode: .bridge,
        dockerNames: ["web": "ecs-web-3-web-x", "db": "ecs-web-3-db-x"], dynamicPorts: ["8080/tcp": 49200],
        volumes: ["data": .hostPath("/srv/data"), "cache": .dockerVolume("ecs-web-3-cache-abc")], bindIP: "127.0.0.1")

    @Test func mapsEveryCommonField() throws {
        var definition = ContainerDefinition(
            name: "web", image: "nginx:1.27", cpu: 256, memory: 512, memoryReservation: 256,
            portMappings: [PortMapping(containerPort: 80, hostPort: 8000, protocol: .tcp), PortMapping(containerPort: 8080), PortMapping(containerPort: 53, hostPort: 5353, protocol: .udp)],
            essential: true, entryPoint: ["/entry"], command: ["serve"],
            environment: [KeyValuePair(name: "A", value: "1"), KeyValuePair(name: "B", value: "2")],
            mountPoints: [MountPoint(sourceVolume: "data", containerPath: "/data", readOnly: true), MountPoint(sourceVolume: "cache", containerPath: "/cache")],
            volumesFrom: [VolumeFrom(sourceContainer: "db", readOnly: true)],
            stopTimeout: 12, hostname: "web1", user: "1000:1000", workingDirectory: "/app", privileged: false,
            readonlyRootFilesystem: true, dnsServers: ["1.1.1.1"], extraHosts: [HostEntry(hostname: "db.local", ipAddress: "10.0.0.2")],
            dockerLabels: ["team": "web", ContainerSpec.taskLabel: "spoofed"],
            ulimits: [Ulimit(name: .nofile, softLimit: 1024, hardLimit: 2048)],
            logConfiguration: LogConfiguration(logDriver: .jsonFile, options: ["max-size": "10m"]),
            healthCheck: HealthCheck(command: ["CMD-SHELL", "true"], interval: 10, timeout: 3, retries: 2, startPeriod: 5))
        definition.links = ["db:database"]
        definition.linuxParameters = LinuxParameters(
            capabilities: KernelCapabilities(add: ["NET_ADMIN"], drop: ["MKNOD"]), initProcessEnabled: true, sharedMemorySize: 64,
            tmpfs: [Tmpfs(containerPath: "/run", size: 16, mountOptions: ["noexec"])])
        let config = try ContainerSpec.build(
            definition, override: ContainerOverride(name: "web", command: ["serve", "--debug"], environment: [KeyValuePair(name: "B", value: "3")]),
            context: context)
        #expect(config.image == "nginx:1.27")
        #expect(config.cmd == ["serve", "--debug"])
        #expect(config.entrypoint == ["/entry"])
        #expect(config.env == ["A=1", "B=3"])
        #expect(config.labels?[ContainerSpec.taskLabel] == context.taskArn, "ECS labels win over dockerLabels")
        #expect(config.labels?["team"] == "web")
        #expect(config.labels?["com.amazonaws.ecs.task-definition-version"] == "3")
        #expect(config.labels?[ContainerSpec.instanceLabel] == context.instanceArn)
        #expect(config.user == "1000:1000" && config.workingDir == "/app" && config.hostname == "web1")
        #expect(config.stopTimeout == 12)
        #expect(config.healthcheck == HealthConfig(test: ["CMD-SHELL", "true"], interval: 10_000_000_000, timeout: 3_000_000_000, retries: 2, startPeriod: 5_000_000_000))
        let host = config.hostConfig
        #expect(host.memory == 512 * 1_048_576 && host.memoryReservation == 256 * 1_048_576)
        #expect(host.cpuShares == 256)
        #expect(host.networkMode == "bridge")
        #expect(host.portBindings?["80/tcp"] == [PortBinding(hostIp: "127.0.0.1", hostPort: "8000")])
        #expect(host.portBindings?["8080/tcp"] == [PortBinding(hostIp: "127.0.0.1", hostPort: "49200")])
        #expect(host.portBindings?["53/udp"] == [PortBinding(hostIp: "127.0.0.1", hostPort: "5353")])
        #expect(config.exposedPorts?.keys.sorted() == ["53/udp", "80/tcp", "8080/tcp"])
        #expect(host.links == ["ecs-web-3-db-x:database"])
        #expect(host.volumesFrom == ["ecs-web-3-db-x:ro"])
        #expect(host.binds == ["/srv/data:/data:ro"])
        #expect(host.mounts == [Mount(type: "volume", source: "ecs-web-3-cache-abc", target: "/cache", readOnly: nil)])
        #expect(host.readonlyRootfs == true && host.dns == ["1.1.1.1"] && host.extraHosts == ["db.local:10.0.0.2"])
        #expect(host.ulimits == [UlimitSetting(name: "nofile", soft: 1024, hard: 2048)])
        #expect(host.logConfig == LogConfig(type: "json-file", config: ["max-size": "10m"]))
        // awslogs is the agent's: Docker keeps the output in rotated files meanwhile, never reaching for AWS.
        var shipped = definition
        shipped.logConfiguration = LogConfiguration(logDriver: .awslogs, options: ["awslogs-group": "/ecs/web"])
        #expect(try ContainerSpec.build(shipped, override: nil, context: context).hostConfig.logConfig == LogConfig(
            type: "json-file", config: ["max-size": "100m", "max-file": "3"]))
        #expect(host.capAdd == ["NET_ADMIN"] && host.capDrop == ["MKNOD"] && host.initProcess == true)
        #expect(host.shmSize == 64 * 1_048_576 && host.tmpfs == ["/run": "size=16m,noexec"])
    }

    @Test func tinyCPUBecomesTwoShares() throws {
        let config = try ContainerSpec.build(ContainerDefinition(name: "x", image: "i", cpu: 0, memory: 8), override: nil, context: context)
        #expect(config.hostConfig.cpuShares == 2)
    }

    @Test func networkModes() throws {
        let definition = ContainerDefinition(name: "x", image: "i", memory: 8, portMappings: [PortMapping(containerPort: 80, hostPort: 80)])
        var host = context
        host.networkMode = .host
        #expect(try ContainerSpec.build(definition, override: nil, context: host).hostConfig.networkMode == "host")
        #expect(try ContainerSpec.build(definition, override: nil, context: host).hostConfig.portBindings == nil)
        host.networkMode = .none_
        #expect(try ContainerSpec.build(definition, override: nil, context: host).hostConfig.networkMode == "none")
        host.networkMode = .awsvpc
        let awsvpc = try ContainerSpec.build(ContainerDefinition(name: "x", image: "i", memory: 8, portMappings: [PortMapping(containerPort: 9000)]), override: nil, context: host)
        #expect(awsvpc.hostConfig.portBindings?["9000/tcp"] == [PortBinding(hostIp: "127.0.0.1", hostPort: "9000")])
    }

    @Test func refusals() {
        func refusal(_ definition: ContainerDefinition, _ context: ContainerSpec.Context? = nil) -> String? {
            do {
                _ = try ContainerSpec.build(definition, override: nil, context: context ?? self.context)
                return nil
            } catch {
                return error.message
            }
        }
        var privileged = ContainerDefinition(name: "x", image: "i", memory: 8)
        privileged.privileged = true
        var locked = context
        locked.disablePrivileged = true
        #expect(refusal(privileged, locked)?.contains("ECS_DISABLE_PRIVILEGED") == true)
        #expect(refusal(privileged) == nil)
        #expect(refusal(ContainerDefinition(name: "x", image: "i", memory: 8, logConfiguration: LogConfiguration(logDriver: .splunk)))?.contains("logging driver splunk is not available") == true)
        #expect(refusal(ContainerDefinition(name: "x", image: "i", memory: 8, secrets: [Secret(name: "A", valueFrom: "arn")]))?.contains("secrets") == true)
        #expect(refusal(ContainerDefinition(name: "x", image: "i", memory: 8, mountPoints: [MountPoint(sourceVolume: "nope", containerPath: "/x")]))?.contains("nope") == true)
        #expect(refusal(ContainerDefinition(name: "x", image: "i", memory: 8, portMappings: [PortMapping(containerPort: 7000)]))?.contains("no dynamic host port") == true)
    }

    @Test func secretsBecomeEnvironmentFromTheResolvedValuesAndWinOverPlainEnvironment() throws {
        var withSecrets = context
        withSecrets.secretValues = ["/db/password": "hunter2", "arn:aws:secretsmanager:us-east-1:0:secret:api-AbCdEf": "k3y"]
        let definition = ContainerDefinition(
            name: "x", image: "i", memory: 8, environment: [KeyValuePair(name: "DB_PASSWORD", value: "placeholder")],
            secrets: [Secret(name: "DB_PASSWORD", valueFrom: "/db/password"), Secret(name: "API_KEY", valueFrom: "arn:aws:secretsmanager:us-east-1:0:secret:api-AbCdEf")])
        let config = try ContainerSpec.build(definition, override: nil, context: withSecrets)
        #expect(config.env?.filter { $0.hasPrefix("DB_PASSWORD=") } == ["DB_PASSWORD=hunter2"])
        #expect(config.env?.contains("API_KEY=k3y") == true)
    }

    @Test func unprivilegedContainersCannotMountTheDockerSocketOrTheAgentsDataNorAnythingAbove() throws {
        let directory = NSTemporaryDirectory() + "spec-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory + "/agent/functions", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/shared", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: directory + "/agent")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var guarded = context
        guarded.protectedHostPaths = ["/var/run/docker.sock", directory + "/agent"]
        func mounting(_ hostPath: String, privileged: Bool = false) -> String? {
            var withVolume = guarded
            withVolume.volumes = ["v": .hostPath(hostPath)]
            var definition = ContainerDefinition(name: "x", image: "i", memory: 8, mountPoints: [MountPoint(sourceVolume: "v", containerPath: "/m")])
            definition.privileged = privileged
            do {
                _ = try ContainerSpec.build(definition, override: nil, context: withVolume)
                return nil
            } catch {
                return error.message
            }
        }
        // (/var alone is fine: its run is a symbolic link, which inside the container points at the container's /run.)
        for path in ["/var/run/docker.sock", "/run/docker.sock", "/var/run", "/run", "/", directory + "/agent", directory + "/agent/functions", directory + "/link", directory] {
            #expect(mounting(path)?.contains("only a privileged container may mount it") == true, "\(path)")
        }
        #expect(mounting(directory + "/shared") == nil)
        #expect(mounting("/var/run/docker.sock", privileged: true) == nil)
    }

    @Test func aPidsLimitReachesTheHostConfiguration() throws {
        var limited = context
        limited.pidsLimit = 1024
        #expect(try ContainerSpec.build(ContainerDefinition(name: "x", image: "i", memory: 8), override: nil, context: limited).hostConfig.pidsLimit == 1024)
        #expect(try ContainerSpec.build(ContainerDefinition(name: "x", image: "i", memory: 8), override: nil, context: context).hostConfig.pidsLimit == nil)
    }

    @Test func dockerNamesFollowTheRealAgent() {
        #expect(ContainerNaming.dockerName(family: "web", revision: 7, container: "ng_inx", suffix: "e6b3") == "ecs-web-7-nginx-e6b3")
    }
}

/// `X-Registry-Auth` as the agent sends it to Docker for a pull.
struct RegistryAuthTests {
    func decoded(_ header: String?) -> [String: String]? {
        header.flatMap { Data(base64Encoded: $0) }.flatMap { try? JSONDecoder().decode([String: String].self, from: $0) }
    }

    @Test func aRepositoryCredentialsSecretGivesTheImagesRegistryItsUsernameAndPassword() {
        let header = RegistryAuth.header(for: "127.0.0.1:5000/private/app:1", secretValue: #"{"username":"ci","password":"s3cret"}"#)
        #expect(decoded(header) == ["serveraddress": "127.0.0.1:5000", "username": "ci", "password": "s3cret"])
        let hub = RegistryAuth.header(for: "library/app:1", secretValue: #"{"username":"u","password":"p"}"#)
        #expect(decoded(hub)?["serveraddress"] == "https://index.docker.io/v1/")
        // A secret that is not the JSON ECS expects gives no header (the task fails saying why).
        #expect(RegistryAuth.header(for: "r.example/app", secretValue: "ci:s3cret") == nil)
        #expect(RegistryAuth.header(for: "r.example/app", secretValue: #"{"username":"ci"}"#) == nil)
    }

    @Test func engineAuthDataGivesCredentialsOfTheImagesRegistryOnly() {
        let data = #"{"r.example": {"auth": "Y2k6czNjcmV0"}, "other.example": {"username": "x", "password": "y"}}"#
        #expect(decoded(RegistryAuth.header(for: "r.example/app:1", engineAuthData: data)) == ["serveraddress": "r.example", "username": "ci", "password": "s3cret"])
        #expect(RegistryAuth.header(for: "third.example/app", engineAuthData: data) == nil)
    }
}
