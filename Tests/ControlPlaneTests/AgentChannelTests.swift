import AgentProtocol
@testable import ControlPlane
import ECS
import ECSShapes
import Foundation
import Logging
import StevedoreCore
import StevedoreTestSupport
import Testing

/// Agents' long polls against the real composed state, a committer and an in-memory store: what a
/// poll returns, when it is held and when it is woken, and that it never hands out an assignment
/// before the store made it durable.
@Suite(.timeLimit(.minutes(1)))
struct AgentChannelTests {
    let store = InMemoryStateStore()
    let committer: Committer<ControlPlaneState>
    let channel: AgentChannel
    let instance: String

    init() async throws {
        let names = ResourceNames()
        committer = Committer(
            state: ControlPlaneState(names: names), store: store, random: Xoshiro256(seed: 3),
            restore: { rows, now in try ControlPlaneState.restore(names: names, settings: .init(), rows: rows, now: now) },
            assignmentSequence: { $0.ecs.counters.assignmentSequence },
            logger: Logger(label: "test"))
        channel = AgentChannel(committer: committer, logs: LogRelay(), execs: ExecRelay(), usage: UsageStore(), maximumHold: 10)
        instance = try await committer.write { root, m throws(AWSError) in
            _ = try root.ecs.createCluster(CreateClusterRequest(clusterName: "c"), changes: &m.changes)
            let container = ContainerDefinition(name: "app", image: "web:1", memory: 128)
            _ = try root.ecs.registerTaskDefinition(
                RegisterTaskDefinitionRequest(family: "web", containerDefinitions: [container]), requestBytes: 100, now: m.now,
                changes: &m.changes)
            let request = RegisterContainerInstanceRequest(
                cluster: "c",
                totalResources: [
                    Resource(name: "CPU", type: "INTEGER", integerValue: 1024), Resource(name: "MEMORY", type: "INTEGER", integerValue: 2048),
                ])
            return try root.registerContainerInstance(request, now: m.now, using: &m.random, changes: &m.changes)
                .containerInstance!.containerInstanceArn!
        }
    }

    func poll(since: Int = 0, wait: Int = 0, instance: String? = nil) async throws -> AgentPollResponse {
        try await channel.poll(AgentPollRequest(cluster: "c", containerInstanceArn: instance ?? self.instance, since: since, waitSeconds: wait))
    }

    func runTask() async throws -> String {
        try await committer.write { root, m throws(AWSError) in
            try root.ecs.runTask(RunTaskRequest(cluster: "c", taskDefinition: "web"), now: m.now, using: &m.random, changes: &m.changes)
                .tasks!.first!.taskArn!
        }
    }

    @Test func anIdlePollAnswersWithTheInstanceStatusAndNoWork() async throws {
        let response = try await poll()
        #expect(response.assignments.isEmpty)
        #expect(response.instanceStatus == .active)
        #expect(response.sequence == 0)
    }

    @Test func aTaskArrivesWithItsDefinitionAndTheCursorMovesPastIt() async throws {
        let task = try await runTask()
        let first = try await poll()
        #expect(first.assignments.map(\.task.taskArn) == [task])
        let assignment = try #require(first.assignments.first)
        #expect(assignment.taskDefinition?.family == "web")
        #expect(first.sequence == assignment.sequence)
        // Polling from the new cursor: nothing new.
        #expect(try await poll(since: first.sequence).assignments.isEmpty)
    }

    @Test func aHeldPollIsWokenByTheCommitThatAssignsItWork() async throws {
        let started = ContinuousClock.now
        async let held = poll(wait: 10)
        try await eventually("the poll is waiting") { committer.notifier.waitingCount == 1 }
        let task = try await runTask()
        let response = try await held
        #expect(response.assignments.map(\.task.taskArn) == [task])
        #expect(ContinuousClock.now - started < .seconds(8), "woken by the commit, not by the 10 s hold running out")
    }

    @Test func anAssignmentIsNotHandedOutBeforeItIsDurable() async throws {
        store.hold()
        let run = Task { try await runTask() }
        try await eventually("RunTask reached the store") { store.heldCount == 1 }
        // In memory but not yet on disk: an agent must not start a task a crash could forget.
        #expect(try await poll().assignments.isEmpty)
        async let held = poll(wait: 10)
        try await eventually("the poll is waiting") { committer.notifier.waitingCount == 1 }
        store.release()
        let task = try await run.value
        #expect(try await held.assignments.map(\.task.taskArn) == [task])
    }

    @Test func aCursorAheadOfTheControlPlaneGetsEverythingAgain() async throws {
        let task = try await runTask()
        // An agent that saw a control plane whose state was since reset.
        let response = try await poll(since: 999)
        #expect(response.assignments.map(\.task.taskArn) == [task])
    }

    @Test func aDeregisteredInstanceIsToldAtOnce() async throws {
        _ = try await committer.write { root, m throws(AWSError) in
            try root.ecs.deregisterContainerInstance(DeregisterContainerInstanceRequest(cluster: "c", containerInstance: instance), changes: &m.changes)
        }
        let started = ContinuousClock.now
        let response = try await poll(wait: 10)
        #expect(response.instanceStatus == .inactive)
        #expect(ContinuousClock.now - started < .seconds(8))
    }

    @Test func unknownInstancesAndClustersAreRefused() async throws {
        let unknown = instance.replacingOccurrences(of: "/c/", with: "/c/0000")
        let error = await #expect(throws: AWSError.self) { try await poll(instance: unknown) }
        #expect(error?.type == "InvalidInstanceException")
        let missing = await #expect(throws: AWSError.self) {
            try await channel.poll(AgentPollRequest(cluster: "nope", containerInstanceArn: instance, since: 0))
        }
        #expect(missing?.type == "ClusterNotFoundException")
    }

    @Test func aPollReconnectsAnAgentThatWasLost() async throws {
        let lost = await committer.updateMemory { root, now in
            !root.ecs.detectLostAgents(now: now.addingTimeInterval(3600), timeout: 60).isEmpty
        }
        #expect(lost)
        #expect(try await agentConnected() == false)
        _ = try await poll()
        #expect(try await agentConnected() == true)
    }

    private func agentConnected() async throws -> Bool? {
        try await committer.read { root, _ throws(AWSError) in
            try root.ecs.describeContainerInstances(DescribeContainerInstancesRequest(cluster: "c", containerInstances: [instance]))
                .containerInstances?.first?.agentConnected
        }
    }
}

struct LogRelayTests {
    @Test func onlyTheInstanceAskedFeedsALogSession() async {
        let relay = LogRelay()
        let stream = relay.open(LogRequest(id: "L1", taskArn: "t", container: nil, follow: false, tail: nil), instance: "inst-a")
        #expect(!relay.deliver("L1", from: "inst-b", bytes: Array("forged".utf8), done: true))
        #expect(relay.deliver("L1", from: "inst-a", bytes: Array("real".utf8), done: true))
        var received: [String] = []
        for await bytes in stream { received.append(String(decoding: bytes, as: UTF8.self)) }
        #expect(received == ["real"])
    }
}
