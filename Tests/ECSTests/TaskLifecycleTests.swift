import AgentProtocol
@testable import ECS
import ECSShapes
import Foundation
import StevedoreCore
import StevedoreTestSupport
import Testing

struct TaskLifecycleTests {
    @Test func runTaskNeedsInstancesAndValidInput() throws {
        var fixture = SchedulerFixture()
        try fixture.register()
        #expect(throws: AWSError.invalidParameter("No Container Instances were found in your cluster.")) {
            try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }
        }
        try fixture.addInstance()
        func refusal(_ request: RunTaskRequest) -> String? {
            var copy = fixture
            do {
                _ = try copy.apply { try $0.runTask(request, now: $1, using: &$2, changes: &$3) }
                return nil
            } catch {
                return (error as? AWSError).map { "\($0.type): \($0.message)" }
            }
        }
        #expect(refusal(RunTaskRequest(cluster: "c", count: 11, taskDefinition: "web"))?.contains("count must be between 1 and 10") == true)
        #expect(refusal(RunTaskRequest(cluster: "nope", taskDefinition: "web")) == "ClusterNotFoundException: Cluster not found.")
        #expect(refusal(RunTaskRequest(cluster: "c", taskDefinition: "ghost"))?.hasPrefix("ClientException") == true)
        #expect(refusal(RunTaskRequest(cluster: "c", launchType: .fargate, taskDefinition: "web"))?.contains("FARGATE") == true)
        // AWS's words for a platform version with EC2 and an empty subnet list.
        #expect(
            refusal(RunTaskRequest(cluster: "c", launchType: .ec2, platformVersion: "LATEST", taskDefinition: "web"))
                == "InvalidParameterException: The platform version must be null when specifying an EC2 launch type.")
        #expect(
            refusal(RunTaskRequest(cluster: "c", platformVersion: "1.4.0", taskDefinition: "web"))
                == "InvalidParameterException: The platform version must be null when specifying an EC2 launch type.", "EC2 by default")
        #expect(
            refusal(RunTaskRequest(cluster: "c", networkConfiguration: NetworkConfiguration(awsvpcConfiguration: AwsVpcConfiguration(subnets: [])), taskDefinition: "web"))
                == "InvalidParameterException: subnets can not be empty.")
        #expect(refusal(RunTaskRequest(
            capacityProviderStrategy: [CapacityProviderStrategyItem(capacityProvider: "cp", weight: 1)], cluster: "c", launchType: .ec2,
            taskDefinition: "web"))?.contains("both a launchType and a capacityProviderStrategy") == true)
        #expect(refusal(RunTaskRequest(cluster: "c", overrides: TaskOverride(containerOverrides: [ContainerOverride(name: "nope")]), taskDefinition: "web"))?.contains("does not match a container") == true)
        #expect(refusal(RunTaskRequest(cluster: "c", placementConstraints: [PlacementConstraint(type: .memberOf, expression: "attribute:x ~~ y")], taskDefinition: "web"))?.contains("Invalid memberOf expression") == true)
        #expect(refusal(RunTaskRequest(cluster: "c", placementConstraints: [PlacementConstraint(type: .distinctInstance, expression: "x")], taskDefinition: "web"))?.contains("takes no expression") == true)
        #expect(refusal(RunTaskRequest(cluster: "c", startedBy: "has spaces", taskDefinition: "web"))?.contains("startedBy") == true)
        _ = try fixture.apply { try $0.deregisterTaskDefinition(DeregisterTaskDefinitionRequest(taskDefinition: "web:1"), now: $1, changes: &$3) }
        #expect(refusal(RunTaskRequest(cluster: "c", taskDefinition: "web:1"))?.contains("TaskDefinition is inactive") == true)
    }

    @Test func runTaskReportsFailuresPerInstance() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance(memory: 1024)
        try fixture.addInstance(memory: 1024)
        try fixture.register(memory: 600)
        let response = try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", count: 3, taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }
        #expect(response.tasks?.count == 2)
        #expect(response.failures?.map(\.reason) == ["RESOURCE:MEMORY", "RESOURCE:MEMORY"])
        let task = try #require(response.tasks?.first)
        #expect(task.lastStatus == "PENDING" && task.desiredStatus == "RUNNING")
        #expect(task.group == "family:web")
        #expect(task.version == 1)
        #expect(task.createdAt == fixture.now)
        #expect(task.containers?.first?.containerArn?.contains(":container/c/") == true)
        #expect(task.overrides?.containerOverrides == [ContainerOverride(name: "app")])
        #expect(fixture.changes.assignedInstances.count == 2)
        // Placement outcomes, for the metrics (the failure counted once per task not placed).
        #expect(fixture.changes.tallies[ChangeSet.Tally(metric: "ecsd_placements_total", label: "outcome", value: "placed")] == 2)
        #expect(fixture.changes.tallies[ChangeSet.Tally(metric: "ecsd_placements_total", label: "outcome", value: "RESOURCE:MEMORY")] == 1)
    }

    @Test func clientTokensMakeRunTaskIdempotent() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        try fixture.register("other")
        _ = try fixture.ecs.createCluster(CreateClusterRequest(clusterName: "d"), changes: &fixture.changes)
        func run(_ request: RunTaskRequest) throws -> RunTaskResponse {
            try fixture.apply { try $0.runTask(request, now: $1, using: &$2, changes: &$3) }
        }
        let first = try run(RunTaskRequest(cluster: "c", count: 2, taskDefinition: "web", clientToken: "abc"))
        fixture.changes = ChangeSet()
        let again = try run(RunTaskRequest(cluster: "c", count: 2, taskDefinition: "web", clientToken: "abc"))
        #expect(first.tasks?.count == 2)
        #expect(first.tasks?.map(\.taskArn) == again.tasks?.map(\.taskArn))
        #expect(fixture.ecs.tasks.count == 2)
        // The replay writes the token's row again, unchanged, so its answer waits (the store
        // commits in order) until the first request's tasks are durable.
        #expect(fixture.changes.changes.map(\.kind) == [.clientTokens])
        // Any other parameter with the same token conflicts, naming the tasks it already started.
        for different in [
            RunTaskRequest(cluster: "c", count: 2, taskDefinition: "other", clientToken: "abc"),
            RunTaskRequest(cluster: "c", count: 1, taskDefinition: "web", clientToken: "abc"),
            RunTaskRequest(cluster: "c", count: 2, startedBy: "me", taskDefinition: "web", clientToken: "abc"),
        ] {
            let conflict = #expect(throws: AWSError.self) { try run(different) }
            #expect(conflict?.type == "ConflictException")
            #expect(conflict?.extraLists["resourceIds"] == first.tasks?.compactMap(\.taskArn))
        }
        // Tokens are per cluster: in another cluster the request is new (and finds no instance there).
        let elsewhere = #expect(throws: AWSError.self) { try run(RunTaskRequest(cluster: "d", taskDefinition: "web", clientToken: "abc")) }
        #expect(elsewhere?.message == "No Container Instances were found in your cluster.")
        // After 24 hours the token is forgotten and the same request runs new tasks.
        fixture.advance(24 * 3600)
        fixture.changes = ChangeSet()
        fixture.apply { ecs, now, _, changes in ecs.pruneStopped(now: now, retention: 3600, changes: &changes) }
        #expect(fixture.ecs.runTaskTokens.count == 0)
        #expect(fixture.changes.changes.contains { $0.kind == .clientTokens && $0.body == nil })
        let later = try run(RunTaskRequest(cluster: "c", count: 2, taskDefinition: "web", clientToken: "abc"))
        let laterArns = Set(later.tasks?.compactMap(\.taskArn) ?? [])
        #expect(laterArns.isDisjoint(with: first.tasks?.compactMap(\.taskArn) ?? []))
    }

    @Test func tokensKeptOnlyOnTasksByAnOlderVersionAreAdoptedAtStart() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        let first = try fixture.apply {
            try $0.runTask(RunTaskRequest(cluster: "c", count: 2, taskDefinition: "web", clientToken: "old"), now: $1, using: &$2, changes: &$3)
        }
        // The rows an older version wrote: the tasks (carrying their token), no token row.
        var rows: [RecordKind: [[UInt8]]] = [:]
        for change in fixture.changes.changes where change.kind != .clientTokens {
            if let body = change.body { rows[change.kind, default: []].append(body) }
        }
        var restored = try ECSState.restore(names: fixture.ecs.names, rows: rows)
        #expect(restored.runTaskTokens.count == 1)
        var changes = ChangeSet()
        var random = Xoshiro256(seed: 1)
        let again = try restored.runTask(
            RunTaskRequest(cluster: "c", count: 2, taskDefinition: "web", clientToken: "old"), now: fixture.now, using: &random, changes: &changes)
        #expect(Set(again.tasks?.compactMap(\.taskArn) ?? []) == Set(first.tasks?.compactMap(\.taskArn) ?? []))
        #expect(restored.tasks.count == 2, "no new tasks")
    }

    @Test func aReplayNamesTasksPrunedSinceAsMissing() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        func run() throws -> RunTaskResponse {
            try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", taskDefinition: "web", clientToken: "t"), now: $1, using: &$2, changes: &$3) }
        }
        let arn = try #require(try run().tasks?.first?.taskArn)
        // The task runs, stops, and is pruned after an hour's retention; the token lasts a day.
        try fixture.report(arn, "RUNNING")
        try fixture.report(arn, "STOPPED")
        fixture.advance(7200)
        fixture.apply { ecs, now, _, changes in ecs.pruneStopped(now: now, retention: 3600, changes: &changes) }
        let replay = try run()
        #expect(replay.tasks == [])
        #expect(replay.failures == [Failure(arn: arn, reason: "MISSING")])
    }

    @Test func clientTokensOutsideAWSsRangeAreRefused() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        for token in ["", String(repeating: "x", count: 65), "has space", "caf\u{e9}"] {
            let refusal = #expect(throws: AWSError.self) {
                try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", taskDefinition: "web", clientToken: token), now: $1, using: &$2, changes: &$3) }
            }
            #expect(refusal?.type == "InvalidParameterException")
        }
        #expect(try fixture.apply {
            try $0.runTask(RunTaskRequest(cluster: "c", taskDefinition: "web", clientToken: String(repeating: "~", count: 64)), now: $1, using: &$2, changes: &$3)
        }.tasks?.count == 1)
    }

    @Test func lifecycleMovesForwardOnly() throws {
        var fixture = SchedulerFixture()
        let instance = try fixture.addInstance()
        try fixture.register()
        let arn = try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }.tasks![0].taskArn!
        #expect(fixture.ecs.capacity["c"]?[instance]?.pendingTasksCount == 1)
        fixture.advance(2)
        try fixture.report(arn, "RUNNING")
        var task = fixture.ecs.tasks[arn]!.task
        #expect(task.lastStatus == "RUNNING" && task.startedAt == fixture.now && task.connectivity == .connected)
        #expect(fixture.ecs.capacity["c"]?[instance]?.runningTasksCount == 1)
        try fixture.report(arn, "PENDING")  // late, out-of-order report: ignored
        #expect(fixture.ecs.tasks[arn]!.lastStatus == .running)
        fixture.advance(1)
        let stopped = try fixture.apply { try $0.stopTask(StopTaskRequest(cluster: "c", task: ARN(arn)!.lastPathComponent, reason: "maintenance"), now: $1, changes: &$3) }
        #expect(stopped.task?.desiredStatus == "STOPPED" && stopped.task?.lastStatus == "STOPPING")
        #expect(stopped.task?.stopCode == .userInitiated && stopped.task?.stoppedReason == "maintenance")
        try fixture.report(arn, "STOPPED", exitCode: 143)
        task = fixture.ecs.tasks[arn]!.task
        #expect(task.lastStatus == "STOPPED" && task.stoppedAt == fixture.now)
        #expect(task.stoppedReason == "maintenance")
        #expect(task.containers?.first?.exitCode == 143)
        #expect(task.version == 5)
        #expect(fixture.ecs.capacity["c"]?[instance]?.runningTasksCount == 0)
        #expect(fixture.ecs.capacity["c"]?[instance]?.memoryRemaining == 8192)
        // Stopping a stopped task is harmless.
        _ = try fixture.apply { try $0.stopTask(StopTaskRequest(cluster: "c", task: arn), now: $1, changes: &$3) }
        #expect(throws: AWSError.self) { try fixture.apply { try $0.stopTask(StopTaskRequest(cluster: "c", task: "nothing"), now: $1, changes: &$3) } }
    }

    @Test func essentialExitAndFailedStartGetTheirStopCodes() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        let tasks = try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", count: 2, taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }.tasks!
        try fixture.report(tasks[0].taskArn!, "RUNNING")
        try fixture.report(tasks[0].taskArn!, "STOPPED", exitCode: 1)
        #expect(fixture.ecs.tasks[tasks[0].taskArn!]!.task.stopCode == .essentialContainerExited)
        #expect(fixture.ecs.tasks[tasks[0].taskArn!]!.task.stoppedReason == "Essential container in task exited")
        try fixture.report(tasks[1].taskArn!, "STOPPED", reason: "CannotPullContainerError: pull access denied")
        #expect(fixture.ecs.tasks[tasks[1].taskArn!]!.task.stopCode == .taskFailedToStart)
    }

    @Test func startTaskUsesTheNamedInstances() throws {
        var fixture = SchedulerFixture()
        let small = try fixture.addInstance(memory: 256)
        let big = try fixture.addInstance()
        try fixture.register()
        let response = try fixture.apply { try $0.startTask(
            StartTaskRequest(cluster: "c", containerInstances: [small, ARN(big)!.lastPathComponent, "missing"], taskDefinition: "web"),
            now: $1, using: &$2, changes: &$3) }
        #expect(response.tasks?.map(\.containerInstanceArn) == [big])
        #expect(response.failures?.map(\.reason) == ["RESOURCE:MEMORY", "MISSING"])
    }

    @Test func runTaskAnswersWithTheTasksTagsWhenItHasSome() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        let tagged = try fixture.apply {
            try $0.runTask(
                RunTaskRequest(cluster: "c", tags: [ResourceTag(key: "team", value: "a")], taskDefinition: "web"), now: $1, using: &$2, changes: &$3)
        }
        #expect(tagged.tasks?.first?.tags == [ResourceTag(key: "team", value: "a")])
        let plain = try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }
        #expect(plain.tasks?.first?.tags == nil)
    }

    @Test func agentsGetOnlyDurableChangesAfterTheirCursor() throws {
        var fixture = SchedulerFixture()
        let instance = try fixture.addInstance()
        try fixture.register()
        let first = try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }.tasks![0]
        let durable = fixture.ecs.counters.assignmentSequence
        let second = try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }.tasks![0]
        let poll = AgentPollRequest(cluster: "c", containerInstanceArn: instance, since: 0)
        let early = try fixture.ecs.assignments(for: poll, durableSequence: durable)
        #expect(early.assignments.map(\.task.taskArn) == [first.taskArn])
        #expect(early.sequence == durable)
        let definition = try fixture.ecs.taskDefinition("web:1")
        #expect(early.assignments.first?.taskDefinition == definition, "a task to start travels with its definition")
        let later = try fixture.ecs.assignments(
            for: AgentPollRequest(cluster: "c", containerInstanceArn: instance, since: early.sequence), durableSequence: fixture.ecs.counters.assignmentSequence)
        #expect(later.assignments.map(\.task.taskArn) == [second.taskArn])
        // A cursor from the future (control plane state reset) gets everything again.
        let reset = try fixture.ecs.assignments(
            for: AgentPollRequest(cluster: "c", containerInstanceArn: instance, since: 9999), durableSequence: fixture.ecs.counters.assignmentSequence)
        #expect(reset.assignments.count == 2)
        #expect(throws: AWSError.self) {
            try fixture.ecs.assignments(for: AgentPollRequest(cluster: "c", containerInstanceArn: "unknown", since: 0), durableSequence: 1)
        }
        // A stop needs no definition.
        let cursor = fixture.ecs.counters.assignmentSequence
        _ = try fixture.apply { try $0.stopTask(StopTaskRequest(cluster: "c", task: second.taskArn!), now: $1, changes: &$3) }
        let stop = try fixture.ecs.assignments(
            for: AgentPollRequest(cluster: "c", containerInstanceArn: instance, since: cursor), durableSequence: fixture.ecs.counters.assignmentSequence)
        #expect(stop.assignments.map(\.task.desiredStatus) == ["STOPPED"])
        #expect(stop.assignments.first?.taskDefinition == nil)
    }

    @Test func aDefinitionTheAgentHoldsDoesNotTravelAgainUnlessItsCursorIsFromAnotherState() throws {
        var fixture = SchedulerFixture()
        let instance = try fixture.addInstance()
        try fixture.register()
        _ = try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }
        let sequence = fixture.ecs.counters.assignmentSequence
        func poll(since: Int, held: [String]?) throws -> AgentPollResponse {
            try fixture.ecs.assignments(
                for: AgentPollRequest(cluster: "c", containerInstanceArn: instance, since: since, heldDefinitions: held), durableSequence: sequence)
        }
        #expect(try poll(since: 0, held: ["web:1"]).assignments.first?.taskDefinition == nil)
        #expect(try poll(since: 0, held: ["web:2", "other:1"]).assignments.first?.taskDefinition?.family == "web", "another revision is not this one")
        #expect(try poll(since: 0, held: nil).assignments.first?.taskDefinition?.family == "web")
        // A cursor ahead of this state: the agent's definitions may be another state's.
        #expect(try poll(since: sequence + 5, held: ["web:1"]).assignments.first?.taskDefinition?.family == "web")
        // Only the first `capacity` names count.
        let many = (0..<HeldDefinitions.capacity).map { "filler:\($0)" } + ["web:1"]
        #expect(try poll(since: 0, held: many).assignments.first?.taskDefinition?.family == "web")
    }

    @Test func aPollFromAnotherEpochGetsEverythingAgainWithItsDefinitions() throws {
        var fixture = SchedulerFixture()
        let instance = try fixture.addInstance()
        try fixture.register()
        _ = try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }
        _ = try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }
        let sequence = fixture.ecs.counters.assignmentSequence
        func poll(since: Int, epoch: String?) throws -> AgentPollResponse {
            try fixture.ecs.assignments(
                for: AgentPollRequest(cluster: "c", containerInstanceArn: instance, since: since, heldDefinitions: ["web:1"], epoch: epoch),
                durableSequence: sequence)
        }
        #expect(try poll(since: 0, epoch: nil).epoch == "", "a store never copied has the empty epoch")
        // Same epoch, cursor at the end: nothing new.
        #expect(try poll(since: sequence, epoch: "").assignments.isEmpty)
        // A restored copy: its epoch differs from the one the agent knows, even with a cursor within range.
        fixture.ecs.counters.epoch = "restored-1"
        let restored = try poll(since: sequence, epoch: "")
        #expect(restored.epoch == "restored-1")
        #expect(restored.assignments.count == 2)
        #expect(restored.assignments.allSatisfy { $0.taskDefinition?.family == "web" }, "held definitions may be the other epoch's")
        #expect(try poll(since: sequence, epoch: "restored-1").assignments.isEmpty)
        // From the start of another epoch (an agent registering again): definitions travel too.
        #expect(try poll(since: 0, epoch: "").assignments.allSatisfy { $0.taskDefinition?.family == "web" })
        #expect(try poll(since: 0, epoch: "restored-1").assignments.allSatisfy { $0.taskDefinition == nil }, "held, same epoch")
    }

    @Test func listTasksFilters() throws {
        var fixture = SchedulerFixture()
        let a = try fixture.addInstance()
        try fixture.addInstance()
        try fixture.register()
        try fixture.register("batch")
        _ = try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", count: 4, startedBy: "cron", taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }
        let batch = try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", taskDefinition: "batch"), now: $1, using: &$2, changes: &$3) }.tasks![0]
        _ = try fixture.apply { try $0.stopTask(StopTaskRequest(cluster: "c", task: batch.taskArn!), now: $1, changes: &$3) }
        func count(_ request: ListTasksRequest) throws -> Int { try fixture.ecs.listTasks(request).taskArns?.count ?? 0 }
        #expect(try count(ListTasksRequest(cluster: "c")) == 4)
        #expect(try count(ListTasksRequest(cluster: "c", family: "web")) == 4)
        #expect(try count(ListTasksRequest(cluster: "c", startedBy: "cron")) == 4)
        #expect(try count(ListTasksRequest(cluster: "c", desiredStatus: .stopped)) == 1)
        #expect(try count(ListTasksRequest(cluster: "c", containerInstance: a)) == fixture.ecs.tasksByInstance[a]!.filter { fixture.ecs.tasks[$0]!.desiredStatus == .running }.count)
        #expect(throws: AWSError.self) { try fixture.ecs.listTasks(ListTasksRequest(cluster: "c", serviceName: "none")) }
        let page = try fixture.ecs.listTasks(ListTasksRequest(cluster: "c", maxResults: 3))
        #expect(page.taskArns?.count == 3 && page.nextToken != nil)
        let rest = try fixture.ecs.listTasks(ListTasksRequest(cluster: "c", nextToken: page.nextToken, maxResults: 3))
        let running = fixture.ecs.tasks.values.filter { $0.desiredStatus == .running }.map(\.arn).sorted()
        #expect((page.taskArns ?? []) + (rest.taskArns ?? []) == running && rest.nextToken == nil)
        // The order kept as tasks change is the order a fresh load builds.
        var rebuilt = fixture.ecs
        rebuilt.orderAllTasks()
        #expect(rebuilt.taskOrder == fixture.ecs.taskOrder)
        #expect(fixture.ecs.taskOrder["c"]?[.stopped]?.keys == [batch.taskArn!])
    }

    @Test func taskOrderKeepsNoEmptyLists() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        let arn = try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }.tasks![0].taskArn!
        #expect(fixture.ecs.taskOrder["c"]?[.running]?.keys == [arn])
        _ = try fixture.apply { try $0.stopTask(StopTaskRequest(cluster: "c", task: arn), now: $1, changes: &$3) }
        #expect(fixture.ecs.taskOrder["c"]?[.running] == nil && fixture.ecs.taskOrder["c"]?[.stopped]?.keys == [arn])
        var rebuilt = fixture.ecs
        rebuilt.orderAllTasks()
        #expect(rebuilt.taskOrder == fixture.ecs.taskOrder)
        #expect(try fixture.ecs.listTasks(ListTasksRequest(cluster: "c")).taskArns == [])
    }

    @Test func containerInstanceOperations() throws {
        var fixture = SchedulerFixture()
        let a = try fixture.addInstance(zone: "a")
        let b = try fixture.addInstance(zone: "b", attributes: ["stack": "prod"])
        let filtered = try fixture.ecs.listContainerInstances(ListContainerInstancesRequest(cluster: "c", filter: "attribute:stack == prod"))
        #expect(filtered.containerInstanceArns == [b])
        #expect(throws: AWSError.self) { try fixture.ecs.listContainerInstances(ListContainerInstancesRequest(cluster: "c", filter: "stack ==")) }
        _ = try fixture.apply { try $0.putAttributes(
            PutAttributesRequest(cluster: "c", attributes: [Attribute(name: "disk", value: "ssd", targetId: a)]), changes: &$3) }
        #expect(try fixture.ecs.listAttributes(ListAttributesRequest(cluster: "c", targetType: .containerInstance, attributeName: "disk")).attributes?.map(\.targetId) == [a])
        #expect(throws: AWSError.self) {
            try fixture.apply { try $0.putAttributes(PutAttributesRequest(cluster: "c", attributes: [Attribute(name: "ecs.os-type", value: "x", targetId: a)]), changes: &$3) }
        }
        let many = (0..<11).map { Attribute(name: "k\($0)", value: "v", targetId: a) }
        #expect(throws: AWSError.self) { try fixture.apply { try $0.putAttributes(PutAttributesRequest(cluster: "c", attributes: Array(many.prefix(10))), changes: &$3) } }
        #expect(throws: AWSError.self) {
            try fixture.apply { try $0.putAttributes(PutAttributesRequest(cluster: "c", attributes: [Attribute(name: "x", value: "y", targetId: "ghost")]), changes: &$3) }
        }
        _ = try fixture.apply { try $0.deleteAttributes(DeleteAttributesRequest(cluster: "c", attributes: [Attribute(name: "disk", targetId: a)]), changes: &$3) }
        #expect(try fixture.ecs.listAttributes(ListAttributesRequest(cluster: "c", targetType: .containerInstance, attributeName: "disk")).attributes == [])

        // Deregistering with tasks needs force.
        try fixture.register()
        _ = try fixture.apply { try $0.startTask(StartTaskRequest(cluster: "c", containerInstances: [a], taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }
        #expect(throws: AWSError.self) {
            try fixture.apply { try $0.deregisterContainerInstance(DeregisterContainerInstanceRequest(cluster: "c", containerInstance: a), changes: &$3) }
        }
        let gone = try fixture.apply { try $0.deregisterContainerInstance(
            DeregisterContainerInstanceRequest(cluster: "c", containerInstance: a, force: true), changes: &$3) }
        #expect(gone.containerInstance?.status == "INACTIVE")
        #expect(try fixture.ecs.listContainerInstances(ListContainerInstancesRequest(cluster: "c")).containerInstanceArns == [b])
        #expect(throws: AWSError.self) {
            try fixture.apply { try $0.deleteCluster(DeleteClusterRequest(cluster: "c"), changes: &$3) }
        }
    }

    @Test func reRegistrationKeepsIdentityCustomAttributesAndTasks() throws {
        var fixture = SchedulerFixture()
        let arn = try fixture.addInstance(attributes: ["team": "core"])
        try fixture.register()
        _ = try fixture.apply { try $0.startTask(StartTaskRequest(cluster: "c", containerInstances: [arn], taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }
        let again = try fixture.apply { try $0.registerContainerInstance(
            RegisterContainerInstanceRequest(
                cluster: "c",
                totalResources: [Resource(name: "CPU", type: "INTEGER", integerValue: 2048), Resource(name: "MEMORY", type: "INTEGER", integerValue: 4096)],
                containerInstanceArn: arn, attributes: [Attribute(name: "ecs.os-type", value: "linux")]),
            now: $1, using: &$2, changes: &$3) }
        #expect(again.containerInstance?.containerInstanceArn == arn)
        #expect(again.containerInstance?.attributes?.contains(Attribute(name: "team", value: "core")) == true)
        #expect(resourceValue("MEMORY", again.containerInstance?.remainingResources) == 4096 - 512)
        #expect(again.containerInstance?.version == 2)
        #expect(throws: AWSError.self) {
            try fixture.apply { try $0.registerContainerInstance(
                RegisterContainerInstanceRequest(cluster: "c", totalResources: [Resource(name: "CPU", type: "INTEGER", integerValue: 1)]),
                now: $1, using: &$2, changes: &$3) }
        }
    }

    /// The identity document's imageId is the instance's `ecs.ami-id`, as EC2's AMI id is.
    @Test func theIdentityDocumentsImageIsTheInstancesAMIAttribute() throws {
        var fixture = SchedulerFixture()
        try fixture.register()
        let registered = try fixture.apply { try $0.registerContainerInstance(
            RegisterContainerInstanceRequest(
                cluster: "c", instanceIdentityDocument: #"{"instanceId":"h-1","imageId":"ami-0123456789abcdef0"}"#,
                totalResources: [Resource(name: "CPU", type: "INTEGER", integerValue: 2048), Resource(name: "MEMORY", type: "INTEGER", integerValue: 4096)]),
            now: $1, using: &$2, changes: &$3) }
        #expect(registered.containerInstance?.attributes?.contains(Attribute(name: "ecs.ami-id", value: "ami-0123456789abcdef0")) == true)
    }

    @Test func anAgentReportsOnlyForTasksOnItsOwnInstanceAndOnlyWhileRegistered() throws {
        var fixture = SchedulerFixture()
        let a = try fixture.addInstance()
        let b = try fixture.addInstance()
        try fixture.register()
        let task = try #require(
            try fixture.apply { try $0.startTask(StartTaskRequest(cluster: "c", containerInstances: [b], taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }
                .tasks?.first?.taskArn)
        let running = SubmitTaskStateChangeRequest(cluster: "c", task: task, status: "RUNNING")
        let refusal = #expect(throws: AWSError.self) {
            try fixture.apply { try $0.submitTaskStateChange(running, reporter: a, now: $1, changes: &$3) }
        }
        #expect(refusal?.type == "AccessDeniedException")
        #expect(refusal?.message == "Container instance \(a) may not report for task \(task), which is not placed on it.")
        #expect(throws: AWSError.self) {
            try fixture.apply {
                try $0.submitContainerStateChange(
                    SubmitContainerStateChangeRequest(cluster: "c", task: task, containerName: "web", status: "RUNNING"), reporter: a, now: $1, changes: &$3)
            }
        }
        _ = try fixture.apply { try $0.submitTaskStateChange(running, reporter: b, now: $1, changes: &$3) }
        #expect(fixture.ecs.task(task)?.task.lastStatus == "RUNNING")
        #expect(fixture.ecs.isRegisteredInstance(a) && fixture.ecs.isRegisteredInstance(b))
        _ = try fixture.apply { try $0.deregisterContainerInstance(DeregisterContainerInstanceRequest(cluster: "c", containerInstance: a), changes: &$3) }
        #expect(!fixture.ecs.isRegisteredInstance(a) && !fixture.ecs.isRegisteredInstance("arn:unknown"))
    }

    @Test func stoppedTasksArePrunedAfterRetention() throws {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        let arn = try fixture.apply { try $0.runTask(RunTaskRequest(cluster: "c", taskDefinition: "web"), now: $1, using: &$2, changes: &$3) }.tasks![0].taskArn!
        try fixture.report(arn, "STOPPED", reason: "CannotPullContainerError: x")
        fixture.advance(3000)
        fixture.apply { $0.pruneStopped(now: $1, retention: 3600, changes: &$3) }
        #expect(fixture.ecs.tasks[arn] != nil)
        fixture.advance(700)
        fixture.apply { $0.pruneStopped(now: $1, retention: 3600, changes: &$3) }
        #expect(fixture.ecs.tasks[arn] == nil)
        #expect(try fixture.ecs.describeTasks(DescribeTasksRequest(cluster: "c", tasks: [arn])).failures?.first?.reason == "MISSING")
    }

    @Test func restoreRebuildsCapacityAndIndexes() throws {
        var fixture = SchedulerFixture()
        let instance = try fixture.addInstance()
        try fixture.register()
        try fixture.createService(desired: 3)
        fixture.pass()
        try fixture.agentsReport()
        var rows: [RecordKind: [String: [UInt8]]] = [:]
        var order: [RecordKind: [String]] = [:]
        for change in fixture.changes.changes {
            if let body = change.body {
                if rows[change.kind, default: [:]].updateValue(body, forKey: change.key) == nil { order[change.kind, default: []].append(change.key) }
            } else {
                rows[change.kind]?[change.key] = nil
            }
        }
        let restored = try ECSState.restore(
            names: fixture.ecs.names, rows: rows.mapValues { Array($0.values) })
        #expect(restored.capacity["c"]?[instance] == fixture.ecs.capacity["c"]?[instance])
        #expect(restored.tasks == fixture.ecs.tasks)
        #expect(restored.services == fixture.ecs.services)
        #expect(restored.counters == fixture.ecs.counters)
        #expect(restored.taskOrder == fixture.ecs.taskOrder && restored.taskOrder["c"]?[.running]?.count == 3)
        #expect(restored.serviceTaskCounts(restored.services.values.first!).total.running == 3)
    }
}

func resourceValue(_ name: String, _ resources: [Resource]?) -> Int {
    resources?.first { $0.name == name }?.integerValue ?? 0
}
