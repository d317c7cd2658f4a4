@testable import ECSAgent
import ECSShapes
import StevedoreCore
import Testing

struct AgentConfigurationTests {
    @Test func parsesTheFileAsTheRealAgentsToolingDoes() {
        let values = AgentConfiguration.parseFile(
            """
            # comment
            ECS_CLUSTER=prod

              ECS_RESERVED_MEMORY=256
            ECS_INSTANCE_ATTRIBUTES={"stack":"prod","disk":"ssd"}
            NOEQUALS
            ECS_LOGLEVEL="debug"
            ECS_CLUSTER=later
            """)
        #expect(values["ECS_CLUSTER"] == "later")
        #expect(values["ECS_RESERVED_MEMORY"] == "256")
        #expect(values["ECS_INSTANCE_ATTRIBUTES"] == #"{"stack":"prod","disk":"ssd"}"#)
        #expect(values["ECS_LOGLEVEL"] == "\"debug\"")  // values are literal: quotes stay
        #expect(values["NOEQUALS"] == nil)
    }

    @Test func metricsListenIsHostAndPortOrAWarning() throws {
        let (set, none) = try AgentConfiguration.load(file: ["ECS_METRICS_LISTEN": "0.0.0.0:9335"], environment: [:])
        #expect(set.metricsListen == AgentConfiguration.Address(host: "0.0.0.0", port: 9335) && none.isEmpty)
        #expect(try AgentConfiguration.load(file: ["ECS_METRICS_LISTEN": "[::1]:9335"], environment: [:]).0.metricsListen
            == AgentConfiguration.Address(host: "::1", port: 9335))
        for bad in ["9335", ":9335", "host:port", "127.0.0.1:70000"] {
            let (unset, warnings) = try AgentConfiguration.load(file: ["ECS_METRICS_LISTEN": bad], environment: [:])
            #expect(unset.metricsListen == nil && warnings.contains { $0.hasPrefix("ECS_METRICS_LISTEN=\(bad) is not valid") }, "\(bad)")
        }
        #expect(try AgentConfiguration.load(file: [:], environment: [:]).0.metricsListen == nil)
    }

    @Test func environmentWinsOverTheFile() throws {
        let (configuration, warnings) = try AgentConfiguration.load(
            file: ["ECS_CLUSTER": "file", "ECS_BACKEND_HOST": "control.internal:8443"],
            environment: ["ECS_CLUSTER": "env", "PATH": "/bin"])
        #expect(configuration.cluster == "env")
        #expect(configuration.backendHost == "https://control.internal:8443")
        #expect(warnings.isEmpty)
    }

    @Test func severalControlPlaneEndpointsAreEachNormalized() throws {
        let (configuration, warnings) = try AgentConfiguration.load(
            file: ["ECS_BACKEND_HOST": "http://10.0.0.1:8340/, control-b.internal:8443 ,https://10.0.0.3:8340"], environment: [:])
        #expect(configuration.backendHost == "http://10.0.0.1:8340,https://control-b.internal:8443,https://10.0.0.3:8340")
        #expect(configuration.primaryBackend == "http://10.0.0.1:8340", "containers get one URL")
        #expect(warnings.isEmpty)
    }

    @Test func readsEveryKey() throws {
        let (configuration, warnings) = try AgentConfiguration.load(
            file: [
                "ECS_DATADIR": "/data", "ECS_RESERVED_MEMORY": "512", "ECS_RESERVED_PORTS": "[22, 9100]",
                "ECS_RESERVED_PORTS_UDP": "[53]", "ECS_INSTANCE_ATTRIBUTES": #"{"stack":"prod"}"#,
                "ECS_DYNAMIC_HOST_PORT_RANGE": "40000-40100", "ECS_CONTAINER_STOP_TIMEOUT": "10s",
                "ECS_CONTAINER_START_TIMEOUT": "2m", "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "1h30m",
                "ECS_IMAGE_PULL_BEHAVIOR": "prefer-cached", "ECS_DISABLE_PRIVILEGED": "true",
                "ECS_AVAILABLE_LOGGING_DRIVERS": #"["json-file","syslog"]"#, "ECS_LOGLEVEL": "debug",
                "DOCKER_HOST": "unix:///run/docker.sock", "ECS_AGENT_REGISTRATION_TOKEN": "s3cret",
                "ECS_ENABLE_TASK_IAM_ROLE": "false",
            ], environment: [:])
        #expect(warnings.isEmpty)
        #expect(!configuration.bridgeTaskCredentials)
        #expect(configuration.dataDirectory == "/data" && configuration.checkpoint)
        #expect(configuration.reservedMemory == 512)
        #expect(configuration.reservedPorts == [22, 9100])
        #expect(configuration.reservedPortsUDP == [53])
        #expect(configuration.instanceAttributes == ["stack": "prod"])
        #expect(configuration.dynamicHostPortRange == 40000...40100)
        #expect(configuration.containerStopTimeout == .seconds(10))
        #expect(configuration.containerStartTimeout == .seconds(120))
        #expect(configuration.taskCleanupWait == .seconds(5400))
        #expect(configuration.imagePullBehavior == .preferCached)
        #expect(configuration.disablePrivileged)
        #expect(configuration.availableLoggingDrivers == ["json-file", "syslog"])
        #expect(configuration.logLevel == "debug")
        #expect(configuration.dockerHost == "unix:///run/docker.sock")
        #expect(configuration.registrationToken == "s3cret")
    }

    @Test func badValuesWarnAndKeepDefaults() throws {
        let (configuration, warnings) = try AgentConfiguration.load(
            file: [
                "ECS_CONTAINER_STOP_TIMEOUT": "10", "ECS_RESERVED_PORTS": "22,80", "ECS_IMAGE_PULL_BEHAVIOR": "sometimes",
                "ECS_DISABLE_PRIVILEGED": "yes", "ECS_DYNAMIC_HOST_PORT_RANGE": "9-1", "ECS_RESERVED_MEMORY": "lots",
                "ECS_ENABLE_TASK_IAM_ROLE": "sure",
            ], environment: [:])
        #expect(warnings.count == 7)
        #expect(configuration.bridgeTaskCredentials, "on unless turned off")
        #expect(warnings.contains { $0.hasPrefix("ECS_CONTAINER_STOP_TIMEOUT=10 is not valid (a duration with a unit") })
        #expect(configuration.containerStopTimeout == .seconds(30))
        #expect(configuration.reservedPorts == [22, 2375, 2376, 51678, 51679])
        #expect(configuration.imagePullBehavior == .default)
    }

    @Test func fatalValuesNameTheKey() {
        #expect(throws: AgentConfiguration.Error.self) {
            try AgentConfiguration.load(file: ["ECS_INSTANCE_ATTRIBUTES": "stack=prod"], environment: [:])
        }
        do {
            _ = try AgentConfiguration.load(file: ["ECS_AVAILABLE_LOGGING_DRIVERS": #"["json-file","carrier-pigeon"]"#], environment: [:])
            Issue.record("accepted an unknown logging driver")
        } catch {
            #expect(error.key == "ECS_AVAILABLE_LOGGING_DRIVERS")
            #expect(error.message.contains("carrier-pigeon"))
        }
    }

    @Test(arguments: [("30s", 30_000), ("500ms", 500), ("1h30m", 5_400_000), ("2m", 120_000), ("1.5s", 1500)])
    func durations(_ text: String, _ milliseconds: Int64) {
        #expect(AgentConfiguration.parseDuration(text) == .milliseconds(milliseconds))
    }

    @Test func durationsNeedUnits() {
        #expect(AgentConfiguration.parseDuration("10") == nil)
        #expect(AgentConfiguration.parseDuration("ten s") == nil)
        #expect(AgentConfiguration.parseDuration("") == nil)
    }

    /// Found by the fuzzer: a length past Int64 milliseconds trapped the agent at start.
    @Test func durationsTooLongAreRefused() throws {
        #expect(AgentConfiguration.parseDuration("1" + String(repeating: "0", count: 300) + "s") == nil)
        #expect(AgentConfiguration.parseDuration("300000y") == nil)
        #expect(AgentConfiguration.parseDuration("2562047h") == .milliseconds(9_223_369_200_000))
        let (configuration, warnings) = try AgentConfiguration.load(
            file: ["ECS_CONTAINER_STOP_TIMEOUT": "9" + String(repeating: "9", count: 200) + "h"], environment: [:])
        #expect(configuration.containerStopTimeout == AgentConfiguration().containerStopTimeout)
        #expect(warnings.count == 1)
    }

    /// Hosts of one OS release and architecture share an AMI-like image id; others do not.
    @Test func theImageIdNamesTheOperatingSystemRelease() {
        let bookworm = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"
        let id = HostResources.imageId(osRelease: bookworm, architecture: "x86_64")
        #expect(id.hasPrefix("ami-") && id.count == 21 && id.dropFirst(4).allSatisfy(\.isHexDigit))
        #expect(HostResources.imageId(osRelease: "ID=debian\nVERSION_ID=12", architecture: "x86_64") == id)
        #expect(HostResources.imageId(osRelease: bookworm, architecture: "arm64") != id)
        #expect(HostResources.imageId(osRelease: "ID=debian\nVERSION_ID=11", architecture: "x86_64") != id)
    }
}
