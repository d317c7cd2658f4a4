@testable import AgentEngine
import AgentProtocol
import ECSShapes
import Foundation
import StevedoreCore
import Testing

/// The agent's task state machine, event by event: what each event makes it do. No Docker, no
/// sockets, no clock: the test is the executor.
struct TaskStateMachineTests {
    static let arn = "arn:aws:ecs:us-east-1:000000000000:task/c/0123456789abcdef0123456789abcdef"
    static let instance = "arn:aws:ecs:us-east-1:000000000000:container-instance/c/feedfacefeedfacefeedfacefeedface"

    var machine = TaskStateMachine(
        state: AgentState(cluster: "c"), settings: .init(cluster: "c", defaultStopTimeout: 30, containerStartTimeout: 10, taskCleanupWait: 600),
        random: Xoshiro256(seed: 1))
    var now = Date(timeIntervalSince1970: 1_800_000_000)

    // MARK: Fixtures

    static func container(
        _ name: String, essential: Bool = true, dependsOn: [ContainerDependency]? = nil, links: [String]? = nil, stopTimeout: Int? = nil
    ) -> ContainerDefinition {
        var definition = ContainerDefinition(name: name, image: "\(name):1", memory: 64, essential: essential)
        definition.dependsOn = dependsOn
        definition.links = links
        definition.stopTimeout = stopTimeout
        return definition
    }

    static func definition(_ containers: [ContainerDefinition]) -> TaskDefinition {
        TaskDefinition(
            taskDefinitionArn: "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3", containerDefinitions: containers, family: "web",
            revision: 3)
    }

    static func assignment(_ definition: TaskDefinition?, desired: String = "RUNNING", sequence: Int = 1, function: FunctionEnvironmentSpec? = nil)
        -> AgentAssignment
    {
        AgentAssignment(
            sequence: sequence,
            task: ECSTask(
                desiredStatus: desired, lastStatus: "PENDING", taskArn: arn, taskDefinitionArn: definition?.taskDefinitionArn),
            taskDefinition: definition, function: function)
    }

    static func running(_ id: String, exitCode: Int = 0, health: String? = nil) -> ContainerInspection {
        .seen(ContainerObservation(dockerId: id, status: .running, exitCode: exitCode, health: health))
    }

    static func exited(_ id: String, code: Int, oom: Bool = false) -> ContainerInspection {
        .seen(ContainerObservation(dockerId: id, status: .exited, exitCode: code, oomKilled: oom))
    }

    mutating func feed(_ event: TaskEvent) -> [TaskAction] {
        machine.handle(event, now: now)
    }

    var task: ManagedTask { machine.state.tasks[Self.arn]! }

    /// Answers the start sequence's steps until it asks to create `container`.
    mutating func startUntilCreate(_ definition: TaskDefinition) -> [TaskAction] {
        var actions = feed(.assigned(Self.assignment(definition)))
        while case .ensureImage = actions.first { actions = feed(.imageReady(task: Self.arn)) }
        #expect(actions == [.prepare(task: Self.arn)])
        return feed(.prepared(task: Self.arn, volumes: [:], taskVolumes: [], ports: [:]))
    }

    /// Creates and starts the next container (answering the actions), returning what follows.
    mutating func createAndStart(_ name: String, id: String) -> [TaskAction] {
        let started = feed(.containerCreated(task: Self.arn, container: name, dockerId: id))
        #expect(started == [.startContainer(task: Self.arn, container: name, dockerId: id, environment: false)])
        return feed(.containerStarted(task: Self.arn, container: name, Self.running(id)))
    }

    static func reportedStatus(_ actions: [TaskAction]) -> [String] {
        actions.compactMap { if case .report(let change) = $0 { return change.status } else { return nil } }
    }

    // MARK: Starting

    @Test mutating func startsContainersInDependencyOrderAndReportsRunning() {
        let definition = Self.definition([
            Self.container("app", dependsOn: [ContainerDependency(containerName: "db", condition: .start)]),
            Self.container("db"),
        ])
        var actions = feed(.assigned(Self.assignment(definition)))
        // The definition came with the assignment: no round trip; images in start order.
        #expect(actions == [.ensureImage(task: Self.arn, image: "db:1")])
        #expect(task.containers.map(\.name) == ["app", "db"] && task.startOrder == ["db", "app"])
        #expect(task.containers.allSatisfy { $0.dockerName.hasPrefix("ecs-web-3-\($0.name)-") }, "names are chosen before anything is created")
        #expect(machine.isDirty, "the names are saved before any container exists")
        #expect(task.pullStartedAt == now)
        actions = feed(.imageReady(task: Self.arn))
        #expect(actions == [.ensureImage(task: Self.arn, image: "app:1")])
        actions = feed(.imageReady(task: Self.arn))
        #expect(actions == [.prepare(task: Self.arn)])
        actions = feed(.prepared(task: Self.arn, volumes: ["data": .hostPath("/srv")], taskVolumes: [], ports: ["80/tcp": 49153]))
        #expect(actions == [.createContainer(task: Self.arn, container: "db")])
        #expect(task.dynamicPorts == ["80/tcp": 49153] && task.volumeSources == ["data": .hostPath("/srv")])
        actions = createAndStart("db", id: "d1")
        #expect(actions == [.createContainer(task: Self.arn, container: "app")])
        actions = createAndStart("app", id: "a1")
        #expect(Self.reportedStatus(actions) == ["RUNNING"])
        #expect(task.phase == .running)
        guard case .report(let change) = actions.first else {
            Issue.record("no report")
            return
        }
        #expect(change.containers?.map(\.status) == ["RUNNING", "RUNNING"])
        #expect(change.pullStartedAt == now && change.pullStoppedAt == now)
        _ = feed(.reported(task: Self.arn, status: .running, accepted: true))
        #expect(task.reportedRunning)
    }

    @Test mutating func oneStepAtATime() {
        _ = startUntilCreate(Self.definition([Self.container("a"), Self.container("b")]))
        // While the create is in flight, nothing else of the task moves, even on a tick.
        #expect(feed(.tick) == [])
        #expect(feed(.assigned(Self.assignment(Self.definition([])))) == [], "a repeated assignment is harmless")
    }

    @Test mutating func aHealthyConditionWaitsForHealthAndInspectsOnEachTick() {
        var actions = startUntilCreate(
            Self.definition([
                Self.container("db"), Self.container("app", dependsOn: [ContainerDependency(containerName: "db", condition: .healthy)]),
            ]))
        #expect(actions == [.createContainer(task: Self.arn, container: "db")])
        actions = createAndStart("db", id: "d1")
        #expect(actions == [], "app waits for db to be healthy")
        now = now.addingTimeInterval(1)
        #expect(feed(.tick) == [.inspect(task: Self.arn, container: "db", reference: "d1")])
        actions = feed(.health(task: Self.arn, container: "db", status: "healthy"))
        #expect(actions == [.createContainer(task: Self.arn, container: "app")])
    }

    @Test mutating func dependenciesThatNeverComeTimeOut() {
        var actions = startUntilCreate(
            Self.definition([
                Self.container("db"), Self.container("app", dependsOn: [ContainerDependency(containerName: "db", condition: .healthy)]),
            ]))
        actions = createAndStart("db", id: "d1")
        now = now.addingTimeInterval(9)
        #expect(!feed(.tick).contains(.stopContainer(task: Self.arn, container: "db", dockerId: "d1", timeout: 30)))
        now = now.addingTimeInterval(1)
        actions = feed(.tick)
        #expect(actions.contains(.stopContainer(task: Self.arn, container: "db", dockerId: "d1", timeout: 30)))
        #expect(task.stopReason == "DockerTimeoutError: container app timed out after 10 seconds waiting for its dependencies (startTimeout)")
    }

    @Test mutating func aSuccessDependencyThatFailsStopsTheTask() {
        var actions = startUntilCreate(
            Self.definition([
                Self.container("migrate", essential: false),
                Self.container("app", dependsOn: [ContainerDependency(containerName: "migrate", condition: .success)]),
            ]))
        actions = createAndStart("migrate", id: "m1")
        #expect(actions == [])
        actions = feed(.observed(task: Self.arn, container: "migrate", Self.exited("m1", code: 3)))
        #expect(task.stopReason == "DependencyConditionFailed: container migrate exited with code 3; app needs it to succeed")
        // Nothing runs any more: the task is stopped at once and reported.
        #expect(Self.reportedStatus(actions) == ["STOPPED"])
        #expect(task.containers.map(\.status) == [.stopped, .stopped])
    }

    @Test mutating func aFailedPullStopsTheTaskWithTheReason() {
        _ = feed(.assigned(Self.assignment(Self.definition([Self.container("app")]))))
        let actions = feed(.imageFailed(task: Self.arn, reason: "CannotPullContainerError: pull access denied"))
        #expect(Self.reportedStatus(actions) == ["STOPPED"])
        guard case .report(let change) = actions.first else {
            Issue.record("no report")
            return
        }
        #expect(change.reason == "CannotPullContainerError: pull access denied")
        #expect(task.phase == .stopped && task.stoppedAt == now)
    }

    @Test mutating func assignmentsWithoutADefinitionFetchIt() {
        let assignment = AgentAssignment(
            sequence: 1,
            task: ECSTask(
                desiredStatus: "RUNNING", taskArn: Self.arn, taskDefinitionArn: "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3"),
            taskDefinition: nil)
        var actions = feed(.assigned(assignment))
        #expect(actions == [.fetchDefinition(task: Self.arn, reference: "web:3")])
        actions = feed(.definitionFetched(task: Self.arn, nil))
        #expect(Self.reportedStatus(actions) == ["STOPPED"])
        #expect(task.stopReason?.hasPrefix("CannotStartContainerError: the task definition") == true)
    }

    @Test mutating func aStopForATaskNeverSeenIsReportedAtOnce() {
        let actions = feed(.assigned(Self.assignment(Self.definition([Self.container("app")]), desired: "STOPPED")))
        #expect(Self.reportedStatus(actions) == ["STOPPED"])
        #expect(machine.state.tasks.isEmpty)
    }

    // MARK: Stopping

    @Test mutating func anEssentialExitStopsTheRestInReverseDependencyOrder() {
        _ = startUntilCreate(
            Self.definition([
                Self.container("db", stopTimeout: 5), Self.container("cache"),
                Self.container("app", dependsOn: [ContainerDependency(containerName: "db", condition: .start)], links: ["cache"]),
            ]))
        _ = createAndStart("db", id: "d1")
        _ = createAndStart("cache", id: "c1")
        _ = createAndStart("app", id: "a1")
        var actions = feed(.dockerEvent(task: Self.arn, container: "cache", action: "die"))
        #expect(actions == [.inspect(task: Self.arn, container: "cache", reference: "c1")])
        actions = feed(.observed(task: Self.arn, container: "cache", Self.exited("c1", code: 1)))
        // app depends on db (and cache, which is gone): app goes first.
        #expect(actions == [.stopContainer(task: Self.arn, container: "app", dockerId: "a1", timeout: 30)])
        #expect(task.stopReason == "Essential container in task exited")
        actions = feed(.containerStopFinished(task: Self.arn, container: "app", Self.exited("a1", code: 143)))
        #expect(actions == [.stopContainer(task: Self.arn, container: "db", dockerId: "d1", timeout: 5)])
        actions = feed(.containerStopFinished(task: Self.arn, container: "db", .unavailable))
        #expect(Self.reportedStatus(actions) == ["STOPPED"])
        guard case .report(let change) = actions.first else {
            Issue.record("no report")
            return
        }
        #expect(change.containers?.map(\.status) == ["STOPPED", "STOPPED", "STOPPED"])
        #expect(change.reason == "Essential container in task exited")
        #expect(task.containers.map(\.status) == [.stopped, .stopped, .stopped])
        #expect(task.containers.first { $0.name == "cache" }?.exitCode == 1)
        _ = feed(.reported(task: Self.arn, status: .stopped, accepted: true))
        #expect(task.reportedStopped && task.dynamicPorts.isEmpty)
    }

    @Test mutating func aNonEssentialExitIsReportedAndTheTaskGoesOn() {
        _ = startUntilCreate(Self.definition([Self.container("app"), Self.container("sidecar", essential: false)]))
        _ = createAndStart("app", id: "a1")
        _ = createAndStart("sidecar", id: "s1")
        let actions = feed(.observed(task: Self.arn, container: "sidecar", Self.exited("s1", code: 0)))
        #expect(
            actions == [
                .reportContainer(
                    SubmitContainerStateChangeRequest(task: Self.arn, containerName: "sidecar", runtimeId: "s1", status: "STOPPED", exitCode: 0))
            ])
        #expect(task.phase == .running)
    }

    @Test mutating func aStopWhileStartingWaitsForTheStepInFlight() {
        var actions = startUntilCreate(Self.definition([Self.container("a"), Self.container("b")]))
        #expect(actions == [.createContainer(task: Self.arn, container: "a")])
        actions = feed(.assigned(Self.assignment(Self.definition([]), desired: "STOPPED", sequence: 2)))
        #expect(actions == [], "the create in flight finishes first")
        actions = feed(.containerCreated(task: Self.arn, container: "a", dockerId: "a1"))
        // Created but never started: nothing to stop, the task is stopped.
        #expect(actions.first == .stopContainer(task: Self.arn, container: "a", dockerId: "a1", timeout: 30))
        actions = feed(.containerStopFinished(task: Self.arn, container: "a", .seen(ContainerObservation(dockerId: "a1", status: .created))))
        #expect(Self.reportedStatus(actions) == ["STOPPED"])
        #expect(task.containers.map(\.status) == [.stopped, .stopped])
    }

    @Test mutating func anOutOfMemoryKillIsTheStopReasonOfItsContainer() {
        _ = startUntilCreate(Self.definition([Self.container("app")]))
        _ = createAndStart("app", id: "a1")
        let actions = feed(.observed(task: Self.arn, container: "app", Self.exited("a1", code: 137, oom: true)))
        #expect(Self.reportedStatus(actions) == ["STOPPED"])
        #expect(task.containers[0].reason == "OutOfMemoryError: Container killed due to memory usage")
    }

    // MARK: Cleanup

    @Test mutating func stoppedTasksAreRemovedAfterTheCleanupWaitOnceReported() {
        _ = feed(.assigned(Self.assignment(Self.definition([Self.container("app")]))))
        _ = feed(.imageFailed(task: Self.arn, reason: "CannotPullContainerError: no"))
        now = now.addingTimeInterval(900)
        #expect(feed(.tick) == [], "not before STOPPED was accepted")
        _ = feed(.reported(task: Self.arn, status: .stopped, accepted: true))
        #expect(feed(.tick).count == 1)
        #expect(feed(.tick) == [], "one removal at a time")
        _ = feed(.removed(task: Self.arn, succeeded: false))
        #expect(feed(.tick).count == 1, "a failed removal is tried again")
        _ = feed(.removed(task: Self.arn, succeeded: true))
        #expect(machine.state.tasks.isEmpty)
    }

    // MARK: Restarts

    /// A state as an agent killed with `kill -9` left it.
    mutating func savedState(_ phase: ManagedTask.Phase, statuses: [ManagedContainer.Status], reportedRunning: Bool = true) {
        var saved = TaskStateMachine(
            state: AgentState(cluster: "c"), settings: machine.settings, random: Xoshiro256(seed: 2))
        _ = saved.handle(.assigned(Self.assignment(Self.definition([Self.container("db"), Self.container("app")]))), now: now)
        var state = saved.state
        var task = state.tasks[Self.arn]!
        task.phase = phase
        task.reportedRunning = reportedRunning
        for (index, status) in statuses.enumerated() {
            task.containers[index].status = status
            if status != .notCreated { task.containers[index].dockerId = "id-\(task.containers[index].name)" }
        }
        state.tasks[Self.arn] = task
        state.instanceArn = Self.instance
        machine = TaskStateMachine(state: state, settings: machine.settings, random: Xoshiro256(seed: 3))
    }

    @Test mutating func afterKillNineRunningContainersAreAdoptedNotStartedAgain() {
        savedState(.running, statuses: [.running, .running], reportedRunning: false)
        var actions = feed(.attached(instanceArn: Self.instance))
        #expect(actions.first == .removeOrphans(instance: Self.instance, keeping: Set(task.containers.map(\.dockerName))))
        #expect(actions.dropFirst() == [
            .inspect(task: Self.arn, container: "db", reference: "id-db"), .inspect(task: Self.arn, container: "app", reference: "id-app"),
        ])
        _ = feed(.observed(task: Self.arn, container: "db", Self.running("id-db")))
        actions = feed(.observed(task: Self.arn, container: "app", Self.running("id-app")))
        // Nothing is created or started; RUNNING, which was never accepted, is reported.
        #expect(Self.reportedStatus(actions) == ["RUNNING"] && actions.count == 1)
        #expect(feed(.attached(instanceArn: Self.instance)) == [], "registering again adopts nothing twice")
    }

    @Test mutating func afterKillNineAStartCutShortCarriesOnWithoutCreatingTwice() {
        savedState(.pending, statuses: [.running, .notCreated])
        let app = task.containers[1]
        var actions = feed(.attached(instanceArn: Self.instance))
        #expect(actions.contains(.inspect(task: Self.arn, container: "app", reference: app.dockerName)), "inspected by name: maybe created")
        _ = feed(.observed(task: Self.arn, container: "db", Self.running("id-db")))
        // app was created just before the crash: found by its name, it is started, not created.
        actions = feed(.observed(task: Self.arn, container: "app", .seen(ContainerObservation(dockerId: "late", status: .created))))
        #expect(actions == [.ensureImage(task: Self.arn, image: "db:1")], "the start sequence resumes (pulls find the images)")
        _ = feed(.imageReady(task: Self.arn))
        _ = feed(.imageReady(task: Self.arn))
        actions = feed(.prepared(task: Self.arn, volumes: [:], taskVolumes: [], ports: [:]))
        #expect(actions == [.startContainer(task: Self.arn, container: "app", dockerId: "late", environment: false)])
    }

    @Test mutating func afterKillNineAnEssentialThatExitedMeanwhileStopsTheTask() {
        savedState(.running, statuses: [.running, .running])
        _ = feed(.attached(instanceArn: Self.instance))
        _ = feed(.observed(task: Self.arn, container: "db", Self.exited("id-db", code: 2)))
        let actions = feed(.observed(task: Self.arn, container: "app", Self.running("id-app")))
        #expect(actions == [.stopContainer(task: Self.arn, container: "app", dockerId: "id-app", timeout: 30)])
        #expect(task.stopReason == "Essential container in task exited")
    }

    @Test mutating func afterKillNineAStopCutShortIsFinished() {
        savedState(.stopping, statuses: [.running, .stopped])
        _ = feed(.attached(instanceArn: Self.instance))
        _ = feed(.observed(task: Self.arn, container: "db", Self.running("id-db")))
        let actions = feed(.observed(task: Self.arn, container: "app", Self.exited("id-app", code: 143)))
        #expect(actions == [.stopContainer(task: Self.arn, container: "db", dockerId: "id-db", timeout: 30)])
    }

    @Test mutating func afterADockerdRestartVanishedContainersEndTheirTask() {
        _ = startUntilCreate(Self.definition([Self.container("app")]))
        _ = createAndStart("app", id: "a1")
        var actions = feed(.resynchronize)
        #expect(actions == [.inspect(task: Self.arn, container: "app", reference: "a1")])
        actions = feed(.observed(task: Self.arn, container: "app", .gone))
        #expect(Self.reportedStatus(actions) == ["STOPPED"])
        #expect(task.containers[0].reason == "ContainerVanishedError: the container no longer exists on this host")
        #expect(task.containers[0].exitCode == 137)
    }

    @Test mutating func anEngineThatDoesNotAnswerChangesNothing() {
        _ = startUntilCreate(Self.definition([Self.container("app")]))
        _ = createAndStart("app", id: "a1")
        #expect(feed(.observed(task: Self.arn, container: "app", .unavailable)) == [])
        #expect(task.phase == .running && task.containers[0].status == .running)
    }

    // MARK: Execution environments

    static let spec = FunctionEnvironmentSpec(
        functionName: "hello", version: "$LATEST", revisionId: "r1", kind: .provided, runtime: "provided.al2023", handler: "h",
        image: RuntimeImages.provided, entryPoint: nil, command: nil, workingDirectory: nil, memory: 128, timeout: 3, ephemeralStorage: 512,
        environment: [:], codeHash: "abc", layerHashes: [])

    @Test mutating func anEnvironmentIsPreparedByTheFunctionHostAndReleasedBeforeItsStopIsReported() {
        var actions = feed(.assigned(Self.assignment(nil, function: Self.spec)))
        #expect(actions == [.prepareEnvironment(task: Self.arn, Self.spec)])
        #expect(task.containers.isEmpty, "no placeholder: the containers come with the prepared definition")
        let prepared = TaskDefinition(
            containerDefinitions: [ContainerDefinition(name: FunctionEnvironmentSpec.containerName, image: Self.spec.image, essential: true)],
            family: "lambda-hello", networkMode: .host, revision: 0)
        actions = feed(.environmentPrepared(task: Self.arn, prepared))
        #expect(actions == [.prepare(task: Self.arn)], "the function host has the image")
        actions = feed(.prepared(task: Self.arn, volumes: [:], taskVolumes: [], ports: [:]))
        #expect(actions == [.createContainer(task: Self.arn, container: "function")])
        actions = feed(.containerCreated(task: Self.arn, container: "function", dockerId: "f1"))
        #expect(actions == [.startContainer(task: Self.arn, container: "function", dockerId: "f1", environment: true)])
        _ = feed(.containerStarted(task: Self.arn, container: "function", Self.running("f1")))
        actions = feed(.stopRequested(task: Self.arn, reason: "Sandbox.Timedout"))
        #expect(actions == [.stopContainer(task: Self.arn, container: "function", dockerId: "f1", timeout: 30)])
        actions = feed(.containerStopFinished(task: Self.arn, container: "function", Self.exited("f1", code: 137)))
        #expect(actions == [.releaseEnvironment(task: Self.arn, started: true, exitCode: 137, outOfMemory: false, reason: "Sandbox.Timedout")])
        actions = feed(.environmentReleased(task: Self.arn))
        #expect(Self.reportedStatus(actions) == ["STOPPED"])
    }

    @Test mutating func environmentsDoNotSurviveAnAgentRestart() {
        _ = feed(.assigned(Self.assignment(nil, function: Self.spec)))
        _ = feed(
            .environmentPrepared(
                task: Self.arn, TaskDefinition(containerDefinitions: [ContainerDefinition(name: "function", image: "x", essential: true)])))
        _ = feed(.prepared(task: Self.arn, volumes: [:], taskVolumes: [], ports: [:]))
        _ = feed(.containerCreated(task: Self.arn, container: "function", dockerId: "f1"))
        _ = feed(.containerStarted(task: Self.arn, container: "function", Self.running("f1")))
        machine = TaskStateMachine(state: machine.state, settings: machine.settings)
        _ = feed(.attached(instanceArn: Self.instance))
        let actions = feed(.observed(task: Self.arn, container: "function", Self.running("f1")))
        #expect(actions == [.stopContainer(task: Self.arn, container: "function", dockerId: "f1", timeout: 30)])
        #expect(task.stopReason == "The agent restarted; execution environments do not survive that")
    }

    // MARK: Saving

    @Test mutating func theStateIsMarkedForSavingOncePerEventThatChangedIt() {
        _ = feed(.assigned(Self.assignment(Self.definition([Self.container("app")]))))
        #expect(machine.isDirty)
        machine.saved()
        _ = feed(.tick)
        #expect(!machine.isDirty, "nothing changed")
        _ = feed(.imageReady(task: Self.arn))
        #expect(machine.isDirty, "pull finished: its time is saved")
    }
}
