import AgentProtocol
import ControlPlane
import ECSAgent
import ECSShapes
import Foundation
import Logging
import StevedoreClient
import StevedoreCore
import StevedoreTestSupport
import Synchronization
import Testing

/// The agent's session against a real control plane over HTTP, with a recording engine in place of
/// Docker: registration (creating `default`), work arriving over the long poll, and what the agent
/// does when the control plane forgets or retires its instance.
@Suite(.timeLimit(.minutes(1)))
struct InstanceSessionTests {
    @Test func registersCreatingTheDefaultClusterAndReceivesItsWork() async throws {
        try await ControlPlaneHarness.run { harness in
            let session = SessionUnderTest(endpoint: harness.endpoint)
            let running = Task { try await session.session.run(knownArn: nil) }
            defer { running.cancel() }
            try await eventually("registered") { session.registered.count == 1 }
            let clusters: DescribeClustersResponse = try await harness.client.ecs("DescribeClusters", DescribeClustersRequest(clusters: ["default"]))
            #expect(clusters.clusters?.first?.status == "ACTIVE")

            try await harness.registerWeb()
            let run: RunTaskResponse = try await harness.client.ecs("RunTask", RunTaskRequest(taskDefinition: "web"))
            let task = try #require(run.tasks?.first?.taskArn)
            try await eventually("the engine got the task") { session.engine.taskArns.contains(task) }
            #expect(session.engine.assignments.first?.taskDefinition?.family == "web")
        }
    }

    @Test func laterTasksOfADefinitionReachTheEngineWithItAndAPollNamingItGetsNoCopy() async throws {
        try await ControlPlaneHarness.run { harness in
            let session = SessionUnderTest(endpoint: harness.endpoint)
            let running = Task { try await session.session.run(knownArn: nil) }
            defer { running.cancel() }
            try await eventually("registered") { session.registered.count == 1 }
            try await harness.registerWeb()
            for round in 1...3 {
                let _: RunTaskResponse = try await harness.client.ecs("RunTask", RunTaskRequest(taskDefinition: "web"))
                try await eventually("the engine got task \(round)") { session.engine.assignments.count == round }
            }
            #expect(session.engine.assignments.map { $0.taskDefinition?.family } == ["web", "web", "web"])
            // On the wire, the agent now says it holds web:1 and gets no copy of it.
            let poll: AgentPollResponse = try await ControlPlaneLink(endpoint: harness.endpoint, cluster: "default", token: nil)
                .poll(instance: session.registered[0], since: 0, wait: 0, heldDefinitions: ["web:1"])
            #expect(poll.assignments.count == 3)
            #expect(poll.assignments.allSatisfy { $0.taskDefinition == nil })
        }
    }

    /// A backup restored in the original's place: its sequences overlap the ones the agent
    /// followed, and `web:1` there is another definition than the one the agent holds. The state
    /// epoch tells the agent so, and it runs the copy's definition.
    @Test func afterARestoredBackupTheAgentRunsTheCopysDefinitionsNotTheOnesItHeld() async throws {
        let port = try LoopbackSocket.freePort()
        let (original, copy) = (ControlPlaneHarness.temporaryDirectory(), ControlPlaneHarness.temporaryDirectory())
        defer { for directory in [original, copy] { try? FileManager.default.removeItem(atPath: directory) } }
        let session = SessionUnderTest(endpoint: "http://127.0.0.1:\(port)")
        let running = Task { try await session.session.run(knownArn: nil) }
        defer { running.cancel() }
        try await ControlPlaneHarness.run(dataDirectory: original, port: port, removeAfterwards: false) { harness in
            try await eventually("registered") { session.registered.count == 1 }
            _ = try await StateCopies.backup(dataDirectory: original, into: copy, logger: Logger(label: "test"))
            try await harness.registerWeb(command: ["original"])
            let _: RunTaskResponse = try await harness.client.ecs("RunTask", RunTaskRequest(taskDefinition: "web"))
            try await eventually("the engine got the original's task") { session.engine.assignments.count == 1 }
        }
        // The copy moves on while the agent cannot reach it (another port), past the sequence the agent holds.
        try await ControlPlaneHarness.run(dataDirectory: copy, removeAfterwards: false) { harness in
            try await harness.registerWeb(command: ["copy"])
            for _ in 1...3 { let _: RunTaskResponse = try await harness.client.ecs("RunTask", RunTaskRequest(taskDefinition: "web")) }
        }
        try await ControlPlaneHarness.run(dataDirectory: copy, port: port, removeAfterwards: false) { _ in
            try await eventually("the engine got the copy's tasks") { session.engine.assignments.count >= 4 }
        }
        let commands = session.engine.assignments.map { $0.taskDefinition?.containerDefinitions?.first?.command ?? [] }
        #expect(commands.first == ["original"])
        #expect(commands.dropFirst().allSatisfy { $0 == ["copy"] }, "\(commands)")
    }

    /// Replicas behind several endpoints: the first cannot be reached, so the agent moves on to the
    /// next and registers and works there.
    @Test func anEndpointThatCannotBeReachedHandsOverToTheNext() async throws {
        let dead = try LoopbackSocket.freePort()
        try await ControlPlaneHarness.run { harness in
            let session = SessionUnderTest(endpoint: "http://127.0.0.1:\(dead),\(harness.endpoint)")
            let running = Task { try await session.session.run(knownArn: nil) }
            defer { running.cancel() }
            try await eventually("registered through the second endpoint") { session.registered.count == 1 }
            try await harness.registerWeb()
            let _: RunTaskResponse = try await harness.client.ecs("RunTask", RunTaskRequest(taskDefinition: "web"))
            try await eventually("the engine got the task") { session.engine.assignments.count == 1 }
        }
    }

    @Test func aDeregisteredInstanceRegistersAgainAsANewOne() async throws {
        try await ControlPlaneHarness.run { harness in
            let session = SessionUnderTest(endpoint: harness.endpoint)
            let running = Task { try await session.session.run(knownArn: nil) }
            defer { running.cancel() }
            try await eventually("registered") { session.registered.count == 1 }
            let first = session.registered[0]
            let _: DeregisterContainerInstanceResponse = try await harness.client.ecs(
                "DeregisterContainerInstance", DeregisterContainerInstanceRequest(containerInstance: first, force: true))
            try await eventually("registered again") { session.registered.count == 2 }
            #expect(session.registered[1] != first)
        }
    }

    @Test func aSavedArnTheControlPlaneDoesNotKnowIsDropped() async throws {
        try await ControlPlaneHarness.run { harness in
            let session = SessionUnderTest(endpoint: harness.endpoint)
            let stale = "arn:aws:ecs:us-east-1:000000000000:container-instance/default/0123456789abcdef0123456789abcdef"
            let running = Task { try await session.session.run(knownArn: stale) }
            defer { running.cancel() }
            try await eventually("registered") { session.registered.count == 1 }
            #expect(session.registered[0] != stale)
            let listed: ListContainerInstancesResponse = try await harness.client.ecs(
                "ListContainerInstances", ListContainerInstancesRequest(cluster: "default"))
            #expect(listed.containerInstanceArns == session.registered)
        }
    }
}

/// An instance session with a recording engine, against `endpoint`'s `default` cluster.
private final class SessionUnderTest: Sendable {
    let endpoint: String
    let engine = RecordingEngine()
    private let arns = Mutex<[String]>([])
    var registered: [String] { arns.withLock { $0 } }

    init(endpoint: String) { self.endpoint = endpoint }

    var session: InstanceSession {
        InstanceSession(
            link: ControlPlaneLink(endpoint: endpoint, cluster: "default", token: nil), engine: engine, pollWait: 1,
            logger: Logger(label: "test"),
            registration: { arn in
                RegisterContainerInstanceRequest(
                    cluster: "default",
                    totalResources: [
                        Resource(name: "CPU", type: "INTEGER", integerValue: 1024),
                        Resource(name: "MEMORY", type: "INTEGER", integerValue: 2048),
                    ],
                    containerInstanceArn: arn)
            },
            onRegistered: { [self] arn in self.arns.withLock { $0.append(arn) } })
    }
}

private final class RecordingEngine: TaskEngine {
    private let received = Mutex<[AgentAssignment]>([])
    var assignments: [AgentAssignment] { received.withLock { $0 } }
    var taskArns: [String] { assignments.compactMap(\.task.taskArn) }

    func handle(_ assignment: AgentAssignment) async { received.withLock { $0.append(assignment) } }
    func streamLogs(_ request: LogRequest) async {}
    func run() async throws { try await Task.sleep(for: .seconds(3600)) }
}

extension ControlPlaneHarness {
    /// Registers task definition `web`: one busybox container, with `command` when given.
    func registerWeb(command: [String]? = nil) async throws {
        let _: RegisterTaskDefinitionResponse = try await client.ecs(
            "RegisterTaskDefinition",
            RegisterTaskDefinitionRequest(
                family: "web", containerDefinitions: [ContainerDefinition(name: "a", image: "busybox", memory: 32, command: command)]))
    }
}
