import AgentEngine
import AgentProtocol
import DockerClient
@testable import ECSAgent
import ECSShapes
import Foundation
import Logging
import StevedoreCore
import StevedoreTestSupport
import Synchronization
import Testing

/// The executor against an in-memory Docker engine: the state machine's decisions, done. No
/// Docker and no control plane: reports go to a recorder.
@Suite struct DockerTaskExecutorTests {
    static let arn = "arn:aws:ecs:us-east-1:000000000000:task/c/00000000000000000000000000000001"
    static let instance = "arn:aws:ecs:us-east-1:000000000000:container-instance/c/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

    let directory = NSTemporaryDirectory() + "stevedore-executor-\(UUID().uuidString)"
    let recorder = RecordingTaskReporter()
    let logger = Logger(label: "test")

    func configuration() -> AgentConfiguration {
        var configuration = AgentConfiguration()
        configuration.cluster = "c"
        configuration.dataDirectory = directory
        configuration.checkpoint = true
        configuration.hostPortBindIP = "127.0.0.1"
        return configuration
    }

    static func assignment(desired: String = "RUNNING", sequence: Int = 1) -> AgentAssignment {
        var db = ContainerDefinition(name: "db", image: "db:1", memory: 64, essential: true)
        db.stopTimeout = 2
        var app = ContainerDefinition(name: "app", image: "app:1", memory: 64, essential: true)
        app.dependsOn = [ContainerDependency(containerName: "db", condition: .start)]
        let definition = TaskDefinition(
            taskDefinitionArn: "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1", containerDefinitions: [app, db], family: "web",
            networkMode: .bridge, revision: 1)
        return AgentAssignment(
            sequence: sequence,
            task: ECSTask(desiredStatus: desired, taskArn: arn, taskDefinitionArn: definition.taskDefinitionArn),
            taskDefinition: definition)
    }

    /// Runs an executor until `body` returns.
    func withExecutor<Result: Sendable>(
        _ docker: FakeDockerEngine, _ body: (DockerTaskExecutor) async throws -> Result
    ) async throws -> Result {
        let executor = try DockerTaskExecutor(docker: docker, reporter: recorder, configuration: configuration(), bindIP: "127.0.0.1", logger: logger)
        let loop = Task { try await executor.run() }
        defer { loop.cancel() }
        await executor.attach(instanceArn: Self.instance)
        return try await body(executor)
    }

    /// Waits (a few seconds at most) for a condition that follows asynchronous work.
    func eventually(_ what: String, _ condition: () async -> Bool) async {
        for _ in 0..<400 {
            if await condition() { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out waiting for \(what)")
    }

    @Test func runsATaskToRunningInDependencyOrderAndSavesItsState() async throws {
        let docker = FakeDockerEngine()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withExecutor(docker) { executor in
            await executor.handle(Self.assignment())
            await eventually("RUNNING reported") { recorder.statuses == ["RUNNING"] }
            // The acknowledgement is an event of its own, saved in the turn that handles it.
            await eventually("the acknowledged report saved") {
                (try? AgentStateFile(directory: directory).load())??.tasks[Self.arn]?.reportedRunning == true
            }
        }
        #expect(docker.calls.filter { $0.hasPrefix("pull") } == ["pull db:1", "pull app:1"])
        let creates = docker.calls.filter { $0.hasPrefix("create ") }
        #expect(creates.count == 2 && creates[0].contains("-db-") && creates[1].contains("-app-"), "db starts before app")
        let app = try #require(docker.containers.first { $0.name.contains("-app-") })
        #expect(app.status == "running")
        #expect(app.labels["com.amazonaws.ecs.task-arn"] == Self.arn && app.labels["com.stevedore.container-instance"] == Self.instance)
        let saved = try #require(try AgentStateFile(directory: directory).load())
        #expect(saved.tasks[Self.arn]?.phase == .running && saved.tasks[Self.arn]?.reportedRunning == true)
        #expect(saved.tasks[Self.arn]?.definition?.family == "web", "the definition is saved with the task")
    }

    @Test func anEssentialExitStopsTheTaskAndReportsWhy() async throws {
        let docker = FakeDockerEngine()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withExecutor(docker) { executor in
            await executor.handle(Self.assignment())
            await eventually("RUNNING") { recorder.statuses == ["RUNNING"] }
            docker.exit(try #require(docker.containers.first { $0.name.contains("-db-") }).name, code: 3)
            await eventually("STOPPED") { recorder.statuses == ["RUNNING", "STOPPED"] }
        }
        let stopped = try #require(recorder.taskChanges.last)
        #expect(stopped.reason == "Essential container in task exited")
        #expect(Set(stopped.containers?.map(\.status) ?? []) == ["STOPPED"])
        #expect(stopped.containers?.first { $0.containerName == "db" }?.exitCode == 3)
        #expect(docker.containers.allSatisfy { $0.status == "exited" })
    }

    @Test func aRestartedAgentAdoptsItsContainersInsteadOfStartingThemAgain() async throws {
        let docker = FakeDockerEngine()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withExecutor(docker) { executor in
            await executor.handle(Self.assignment())
            await eventually("RUNNING") { recorder.statuses == ["RUNNING"] }
        }
        // An orphan of this instance that no saved task knows.
        var orphan = ContainerConfig(image: "db:1")
        orphan.labels = ["com.stevedore.container-instance": Self.instance]
        _ = try await docker.createContainer(name: "stray", config: orphan)
        let createsBefore = docker.calls.filter { $0.hasPrefix("create ") }.count
        // A new process over the same data directory (the old one was killed).
        try await withExecutor(docker) { executor in
            await eventually("the orphan removed") { docker.container(named: "stray") == nil }
            await executor.handle(Self.assignment())
            try? await Task.sleep(for: .milliseconds(200))
            #expect(await executor.state.tasks[Self.arn]?.phase == .running)
        }
        #expect(docker.calls.filter { $0.hasPrefix("create ") }.count == createsBefore, "nothing created twice")
        #expect(docker.containers.filter { $0.status == "running" }.count == 2)
    }

    @Test func aDockerdRestartThatLostTheContainersStopsTheTask() async throws {
        let docker = FakeDockerEngine()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withExecutor(docker) { executor in
            await executor.handle(Self.assignment())
            await eventually("RUNNING") { recorder.statuses == ["RUNNING"] }
            docker.restart(keepContainers: false)
            await eventually("STOPPED") { recorder.statuses == ["RUNNING", "STOPPED"] }
        }
        let stopped = try #require(recorder.taskChanges.last)
        #expect(stopped.containers?.allSatisfy { $0.reason == "ContainerVanishedError: the container no longer exists on this host" } == true)
    }

    @Test func aContainerThatCannotBeCreatedStopsTheTaskWithTheEnginesReason() async throws {
        let docker = FakeDockerEngine()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        docker.failNext(.create)
        try await withExecutor(docker) { executor in
            await executor.handle(Self.assignment())
            await eventually("STOPPED") { recorder.statuses == ["STOPPED"] }
        }
        let stopped = try #require(recorder.taskChanges.last)
        #expect(stopped.reason?.hasPrefix("CannotCreateContainerError: ") == true)
    }

    /// A bind-type local volume is a host mount by another name: one that binds the Docker socket's
    /// directory, the engine's state or the agent's data is refused unless only privileged
    /// containers mount it, and is never created.
    @Test(arguments: [false, true]) func aVolumeBindingAProtectedDirectoryNeedsAPrivilegedContainer(privileged: Bool) async throws {
        let docker = FakeDockerEngine()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var assignment = Self.assignment()
        var definition = try #require(assignment.taskDefinition)
        definition.volumes = [
            Volume(
                name: "engine",
                dockerVolumeConfiguration: DockerVolumeConfiguration(
                    scope: .task, driver: "local", driverOpts: ["type": "none", "o": "bind", "device": "/var/lib/docker"]))
        ]
        definition.containerDefinitions = definition.containerDefinitions?.map { container in
            var container = container
            container.privileged = privileged
            if container.name == "app" { container.mountPoints = [MountPoint(sourceVolume: "engine", containerPath: "/engine")] }
            return container
        }
        assignment.taskDefinition = definition
        try await withExecutor(docker) { executor in
            await executor.handle(assignment)
            await eventually(privileged ? "RUNNING" : "STOPPED") { recorder.statuses.last == (privileged ? "RUNNING" : "STOPPED") }
        }
        if !privileged {
            let stopped = try #require(recorder.taskChanges.last)
            #expect(
                stopped.reason
                    == "CannotCreateContainerError: container app mounts volume engine, which binds /var/lib/docker and so exposes /var/lib/docker: only a privileged container may mount it"
            )
            #expect(docker.volumeNames.isEmpty)
        }
    }

    @Test func aStopAssignmentStopsTheContainersWithTheirTimeouts() async throws {
        let docker = FakeDockerEngine()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withExecutor(docker) { executor in
            await executor.handle(Self.assignment())
            await eventually("RUNNING") { recorder.statuses == ["RUNNING"] }
            await executor.handle(Self.assignment(desired: "STOPPED", sequence: 2))
            await eventually("STOPPED") { recorder.statuses == ["RUNNING", "STOPPED"] }
        }
        let stops = docker.calls.filter { $0.hasPrefix("stop ") }
        #expect(stops.count == 2)
        #expect(stops.last?.hasSuffix(" 2") == true, "db (stopTimeout 2) stops after app, which depends on it")
    }
}
