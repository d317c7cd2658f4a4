import AgentProtocol
@testable import Capacity
import ECS
import ECSShapes
import Foundation
import StevedoreCore
import StevedoreTestSupport
import XCTest

/// Cluster auto scaling: capacity providers, auto scaling groups, managed scaling and tasks
/// waiting in PROVISIONING.
final class CapacityTests: XCTestCase {
    // MARK: Capacity providers: pure calculations

    func testInstancesForBinPacksFirstFitDecreasing() {
        let shape = (cpu: 1024, memory: 2048)
        func tasks(_ sizes: [(Int, Int)]) -> [TaskRequirements] { sizes.map { TaskRequirements(cpu: $0.0, memory: $0.1) } }
        // Without a known shape, one task per instance.
        XCTAssertEqual(CapacityState.instancesFor(tasks([(0, 512), (0, 512), (0, 512)]), shape: nil), 3)
        XCTAssertEqual(CapacityState.instancesFor(tasks([(0, 512)]), shape: (cpu: 1024, memory: 0)), 1)
        XCTAssertEqual(CapacityState.instancesFor([], shape: shape), 0)
        // Decreasing memory: 1536 and 1024 open two instances; the 512s fill both.
        XCTAssertEqual(CapacityState.instancesFor(tasks([(0, 512), (0, 1536), (0, 512), (0, 1024)]), shape: shape), 2)
        XCTAssertEqual(CapacityState.instancesFor(tasks([(0, 1024), (0, 1024), (0, 1024), (0, 1024)]), shape: shape), 2)
        // CPU bounds it too.
        XCTAssertEqual(CapacityState.instancesFor(tasks([(600, 100), (600, 100), (600, 100)]), shape: shape), 3)
        // A task larger than an instance still takes one, and shares it with nothing.
        XCTAssertEqual(CapacityState.instancesFor(tasks([(0, 4096), (0, 4096)]), shape: shape), 2)
        XCTAssertEqual(CapacityState.instancesFor(tasks([(0, 4096), (0, 100)]), shape: shape), 2)
    }

    func testManagedScalingTargetScalesOutByStepsWithinTheGroup() {
        let scaling = ManagedScaling(status: .enabled, targetCapacity: 100, minimumScalingStepSize: 1, maximumScalingStepSize: 10000)
        func target(_ needed: Int, _ instances: Int, _ scaling: ManagedScaling, group: AutoScalingGroupRecord? = nil) -> Int? {
            CapacityState.managedScalingTarget(
                reservation(needed: needed, instances: instances), scaling: scaling, group: group ?? asg(desired: instances), lowSince: nil,
                now: epoch, scaleInAfter: 300)
        }
        XCTAssertEqual(target(5, 1, scaling), 5)
        XCTAssertEqual(target(3, 0, scaling), 3)
        // At most the maximum step at a time, at least the minimum.
        XCTAssertEqual(target(5, 1, ManagedScaling(targetCapacity: 100, minimumScalingStepSize: 1, maximumScalingStepSize: 2)), 3)
        XCTAssertEqual(target(2, 1, ManagedScaling(targetCapacity: 100, minimumScalingStepSize: 3, maximumScalingStepSize: 10)), 4)
        // A 50% target capacity wants twice the instances needed.
        XCTAssertEqual(target(3, 3, ManagedScaling(targetCapacity: 50)), 6)
        XCTAssertEqual(target(3, 3, ManagedScaling(targetCapacity: 75)), 4)
        // Within the group's MaxSize.
        XCTAssertEqual(target(8, 1, scaling, group: asg(maximum: 4, desired: 1)), 4)
        // Nothing to change when the group already wants that many.
        XCTAssertNil(target(2, 2, scaling))
        XCTAssertNil(target(5, 1, scaling, group: asg(maximum: 10, desired: 5)))
    }

    func testManagedScalingTargetScalesInOnlyAfterTheDelay() {
        let scaling = ManagedScaling(status: .enabled, targetCapacity: 100, minimumScalingStepSize: 1, maximumScalingStepSize: 10000)
        func target(_ needed: Int, _ instances: Int, lowFor seconds: TimeInterval?, _ scaling: ManagedScaling, minimum: Int = 0) -> Int? {
            CapacityState.managedScalingTarget(
                reservation(needed: needed, instances: instances), scaling: scaling, group: asg(minimum: minimum, desired: instances),
                lowSince: seconds.map { epoch.addingTimeInterval(-$0) }, now: epoch, scaleInAfter: 300)
        }
        XCTAssertNil(target(1, 4, lowFor: nil, scaling))
        XCTAssertNil(target(1, 4, lowFor: 299, scaling))
        XCTAssertEqual(target(1, 4, lowFor: 300, scaling), 1)
        XCTAssertEqual(target(0, 2, lowFor: 300, scaling), 0)
        // One instance at a time with a maximum step of 1.
        XCTAssertEqual(target(1, 4, lowFor: 300, ManagedScaling(targetCapacity: 100, minimumScalingStepSize: 1, maximumScalingStepSize: 1)), 3)
        // A large minimum step never goes below what is needed.
        XCTAssertEqual(target(1, 4, lowFor: 300, ManagedScaling(targetCapacity: 100, minimumScalingStepSize: 10, maximumScalingStepSize: 20)), 1)
        // Never below the group's MinSize.
        XCTAssertEqual(target(0, 4, lowFor: 300, scaling, minimum: 2), 2)
        XCTAssertNil(target(0, 2, lowFor: 300, scaling, minimum: 2))
    }

    // MARK: Capacity providers and auto scaling groups: the API

    func testCreateCapacityProviderDefaultsAndRefusals() throws {
        var fixture = SchedulerFixture()
        let group = try fixture.createGroup()
        let provider = try fixture.createProvider(group: "asg", scaling: nil)
        XCTAssertEqual(provider.name, "cp")
        XCTAssertEqual(provider.status, .active)
        XCTAssertEqual(provider.type, .ec2Autoscaling)
        XCTAssertEqual(provider.capacityProviderArn, "arn:aws:ecs:us-east-1:000000000000:capacity-provider/cp")
        let settings = try XCTUnwrap(provider.autoScalingGroupProvider)
        XCTAssertEqual(settings.autoScalingGroupArn, group.AutoScalingGroupARN, "a group name is stored as its ARN")
        XCTAssertEqual(
            settings.managedScaling,
            ManagedScaling(status: .disabled, targetCapacity: 100, minimumScalingStepSize: 1, maximumScalingStepSize: 10000, instanceWarmupPeriod: 300))
        XCTAssertEqual(settings.managedTerminationProtection, .disabled)
        XCTAssertEqual(settings.managedDraining, .enabled)

        try fixture.createGroup("other")
        for name in ["ecs-provider", "AWSProvider", "fargate2", "bad name", ""] {
            assertAWSError("ClientException", "The capacity provider name '\(name)' is not valid") {
                try fixture.createProvider(name, group: "other")
            }
        }
        assertAWSError("ClientException", "The specified capacity provider already exists") { try fixture.createProvider("cp", group: "other") }
        assertAWSError("ClientException", "Auto Scaling group ARN 'nope' is not valid") { try fixture.createProvider("cp2", group: "nope") }
        assertAWSError("ClientException", "already in use by capacity provider cp") { try fixture.createProvider("cp2", group: "asg") }
        assertAWSError("InvalidParameterException", "managed termination protection") {
            try fixture.createProvider("cp2", group: "other", scaling: ManagedScaling(status: .disabled), protection: .enabled)
        }
        assertAWSError("InvalidParameterException", "managed termination protection") {
            try fixture.createProvider("cp2", group: "other", scaling: nil, protection: .enabled)
        }
        assertAWSError("InvalidParameterException", "managedScaling.targetCapacity must be between 1 and 100") {
            try fixture.createProvider("cp2", group: "other", scaling: ManagedScaling(status: .enabled, targetCapacity: 0))
        }
        assertAWSError("InvalidParameterException", "minimumScalingStepSize at most maximumScalingStepSize") {
            try fixture.createProvider(
                "cp2", group: "other", scaling: ManagedScaling(status: .enabled, minimumScalingStepSize: 5, maximumScalingStepSize: 2))
        }
        assertAWSError("InvalidParameterException", "autoScalingGroupProvider is required") {
            try fixture.act { state, _, _, changes in _ = try state.capacity.createCapacityProvider(CreateCapacityProviderRequest(name: "cp2"), changes: &changes) }
        }
        XCTAssertEqual(fixture.capacity.providers.keys.sorted(), ["cp"])
        // Termination protection with managed scaling enabled is accepted.
        let protected = try fixture.createProvider("cp2", group: "other", scaling: ManagedScaling(status: .enabled, targetCapacity: 80), protection: .enabled)
        XCTAssertEqual(protected.autoScalingGroupProvider?.managedScaling?.targetCapacity, 80)
        XCTAssertEqual(protected.autoScalingGroupProvider?.managedTerminationProtection, .enabled)
    }

    func testCreateAutoScalingGroupRefusals() throws {
        var fixture = SchedulerFixture()
        let group = try fixture.createGroup("asg", minimum: 1, maximum: 3, desired: 2)
        XCTAssertEqual([group.MinSize, group.MaxSize, group.DesiredCapacity], [1, 3, 2])
        XCTAssertTrue(group.AutoScalingGroupARN.hasSuffix(":autoScalingGroupName/asg"), group.AutoScalingGroupARN)
        XCTAssertTrue(group.AutoScalingGroupARN.hasPrefix("arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:"), group.AutoScalingGroupARN)
        // Defaults: min 0, max 1, desired = min.
        let defaults = try fixture.createGroup("small", minimum: nil, maximum: nil, desired: nil)
        XCTAssertEqual([defaults.MinSize, defaults.MaxSize, defaults.DesiredCapacity], [0, 1, 0])

        func create(_ input: AutoScalingGroupInput) throws {
            try fixture.act { state, now, random, changes in _ = try state.capacity.createAutoScalingGroup(input, now: now, using: &random, changes: &changes) }
        }
        let local = AutoScalingGroupRecord.Launcher(type: .local)
        assertAWSError("ValidationError", "AutoScalingGroupName is required") { try create(AutoScalingGroupInput(launcher: local)) }
        assertAWSError("ValidationError", "AutoScalingGroupName is required") { try create(AutoScalingGroupInput(name: "a/b", launcher: local)) }
        assertAWSError("AlreadyExists", "AutoScalingGroup by this name already exists: asg") { try create(AutoScalingGroupInput(name: "asg", launcher: local)) }
        assertAWSError("ValidationError", "Launcher is required") { try create(AutoScalingGroupInput(name: "g")) }
        assertAWSError("ValidationError", "A command launcher needs Command") {
            try create(AutoScalingGroupInput(name: "g", launcher: AutoScalingGroupRecord.Launcher(type: .command, command: [])))
        }
        assertAWSError("ValidationError", "A webhook launcher needs Url") {
            try create(AutoScalingGroupInput(name: "g", launcher: AutoScalingGroupRecord.Launcher(type: .webhook, url: "ftp://x")))
        }
        assertAWSError("ValidationError", "AgentConfig keys are ecs.config settings (ECS_...); got 'MEMORY'") {
            try create(AutoScalingGroupInput(name: "g", launcher: AutoScalingGroupRecord.Launcher(type: .local, agentConfig: ["MEMORY": "1"])))
        }
        assertAWSError("ValidationError", "Desired capacity:5 must be between the specified min size:0 and max size:3") {
            try create(AutoScalingGroupInput(name: "g", minSize: 0, maxSize: 3, desiredCapacity: 5, launcher: local))
        }
        assertAWSError("ValidationError", "MinSize (4) must be 0 or more and at most MaxSize (2)") {
            try create(AutoScalingGroupInput(name: "g", minSize: 4, maxSize: 2, launcher: local))
        }
        assertAWSError("ValidationError", "which can be at most 1000") {
            try create(AutoScalingGroupInput(name: "g", maxSize: 1001, launcher: local))
        }
        XCTAssertEqual(fixture.capacity.groups.keys.sorted(), ["asg", "small"])
    }

    func testPutClusterCapacityProvidersRefusalsAndExistingInstancesJoinTheProvider() throws {
        var fixture = SchedulerFixture()
        try fixture.createGroup(desired: 1)
        // The group launches before any provider uses it: its instance joins no cluster's provider.
        let plan = fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }
        XCTAssertEqual(plan.launches.count, 1)
        XCTAssertNil(plan.launches.first?.cluster)
        let instanceId = try XCTUnwrap(plan.launches.first?.instanceId)
        let arn = try fixture.registerLaunched(instanceId)
        XCTAssertNil(fixture.ecs.instances[arn]?.capacityProviderName)
        XCTAssertEqual(fixture.group.Instances.first?.LifecycleState, .inService, "registration links the instance all the same")
        XCTAssertEqual(fixture.group.Instances.first?.ContainerInstanceArn, arn)

        try fixture.createProvider(scaling: ManagedScaling(status: .enabled))
        assertAWSError(
            "InvalidParameterException", "The specified capacity provider was not found. Specify a valid capacity provider and try again."
        ) { try fixture.associate(["nope"]) }
        // CreateCluster too, as AWS (a cluster naming one would leave its tasks waiting forever).
        assertAWSError("InvalidParameterException", "The specified capacity provider was not found.") {
            try fixture.act { state, _, _, changes in
                _ = try state.createCluster(CreateClusterRequest(clusterName: "other", capacityProviders: ["nope"]), changes: &changes)
            }
        }
        // AWS's FARGATE and FARGATE_SPOT are taken as named; an existing cluster is answered as it is.
        XCTAssertNoThrow(
            try fixture.act { state, _, _, changes in
                _ = try state.createCluster(CreateClusterRequest(clusterName: "fargate", capacityProviders: ["FARGATE", "FARGATE_SPOT"]), changes: &changes)
                _ = try state.createCluster(CreateClusterRequest(clusterName: "c", capacityProviders: ["nope"]), changes: &changes)
            })
        var copy = fixture
        XCTAssertNoThrow(
            try copy.act { state, _, _, changes in
                _ = try state.createCluster(CreateClusterRequest(clusterName: "other", capacityProviders: ["cp"]), changes: &changes)
            })
        assertAWSError("InvalidParameterException", "names 'cp', which is not among the cluster's capacityProviders") {
            try fixture.act { state, _, _, changes in
                _ = try state.putClusterCapacityProviders(
                    PutClusterCapacityProvidersRequest(
                        cluster: "c", capacityProviders: [], defaultCapacityProviderStrategy: [CapacityProviderStrategyItem(capacityProvider: "cp", weight: 1)]),
                    changes: &changes)
            }
        }
        try fixture.associate(["cp"])
        XCTAssertEqual(fixture.ecs.instances[arn]?.capacityProviderName, "cp", "association gives the group's instances their provider")
        XCTAssertEqual(fixture.capacity.cluster(in: fixture.ecs, forGroup: fixture.group), "c")

        _ = try fixture.act { state, _, _, changes in try state.ecs.createCluster(CreateClusterRequest(clusterName: "d"), changes: &changes) }
        assertAWSError("InvalidParameterException", "already associated with cluster c") {
            try fixture.act { state, _, _, changes in
                _ = try state.putClusterCapacityProviders(
                    PutClusterCapacityProvidersRequest(cluster: "d", capacityProviders: ["cp"], defaultCapacityProviderStrategy: []), changes: &changes)
            }
        }
        assertAWSError("ResourceInUseException", "in use by cluster c") {
            try fixture.act { state, _, _, changes in _ = try state.deleteCapacityProvider(DeleteCapacityProviderRequest(capacityProvider: "cp"), changes: &changes) }
        }
    }

    func testReservationBinPacksWaitingTasksOnTheGroupsInstanceShape() throws {
        var fixture = SchedulerFixture()
        try fixture.register("big", memory: 3072)
        try fixture.register("small", memory: 1024)
        try fixture.capacityCluster(desired: 1)
        let plan = fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }
        XCTAssertEqual(plan.launches.map(\.cluster), ["c"])
        try fixture.registerLaunched(try XCTUnwrap(plan.launches.first?.instanceId), cpu: 2048, memory: 4096)
        XCTAssertEqual(try fixture.runThroughProvider("big", count: 1).map(\.lastStatus), ["PENDING"])
        // 1024 MiB are left: one small task fits now, two wait.
        let small = try fixture.runThroughProvider("small", count: 3)
        XCTAssertEqual(small.compactMap(\.lastStatus).sorted(), ["PENDING", "PROVISIONING", "PROVISIONING"])
        let reservation = try XCTUnwrap(fixture.capacityReservation("cp"))
        XCTAssertEqual(reservation.cluster, "c")
        XCTAssertEqual(reservation.autoScalingGroup, "asg")
        XCTAssertEqual(reservation.provisioningTasks, 2)
        XCTAssertEqual(reservation.instances, 1)
        // One busy instance, and both waiting tasks fit on one more 4096 MiB instance.
        XCTAssertEqual(reservation.instancesNeeded, 2)
        XCTAssertEqual(reservation.capacityProviderReservation, 200)
        XCTAssertEqual(reservation.targetCapacity, 100)
        XCTAssertEqual(reservation.desiredCapacity, 1)
        XCTAssertTrue(reservation.managedScaling)
        XCTAssertNil(fixture.capacityReservation("nope"))
    }

    // MARK: Cluster auto scaling end to end

    func testCapacityProviderFlowFromProvisioningToScaleIn() throws {
        var fixture = SchedulerFixture()
        try fixture.register("big", memory: 3072)
        try fixture.capacityCluster(protection: .enabled)

        // An empty cluster: tasks through the provider wait in PROVISIONING.
        let started = try fixture.runThroughProvider("big", count: 2)
        XCTAssertEqual(started.map(\.lastStatus), ["PROVISIONING", "PROVISIONING"])
        XCTAssertTrue(started.allSatisfy { $0.containerInstanceArn == nil && $0.desiredTaskStatus == .running })
        let empty = try XCTUnwrap(fixture.capacityReservation("cp"))
        XCTAssertEqual([empty.instances, empty.instancesNeeded, empty.provisioningTasks], [0, 2, 2])
        XCTAssertEqual(empty.capacityProviderReservation, 200)

        // Managed scaling raises the group; the group launches.
        XCTAssertEqual(fixture.managedScaling(), [ManagedScalingDecision(group: "asg", from: 0, to: 2, reservation: 200)])
        XCTAssertEqual(fixture.group.DesiredCapacity, 2)
        let plan = fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }
        XCTAssertEqual(plan.launches.count, 2)
        XCTAssertTrue(plan.terminations.isEmpty)
        XCTAssertTrue(plan.launches.allSatisfy { $0.group == "asg" && $0.cluster == "c" && $0.launcher.Type == .local && $0.instanceId.hasPrefix("i-") })
        XCTAssertEqual(fixture.group.Instances.map(\.LifecycleState), [.pending, .pending])
        XCTAssertEqual(fixture.group.Activities.map(\.StatusCode), ["InProgress", "InProgress"])
        XCTAssertTrue(fixture.group.Activities.allSatisfy { $0.Cause.contains("increasing the capacity from 0 to 2") })
        for launch in plan.launches {
            fixture.act { state, now, random, changes in
                state.capacity.recordLaunch(group: "asg", instanceId: launch.instanceId, processId: 4242, error: nil, now: now, using: &random, changes: &changes)
            }
        }
        XCTAssertEqual(fixture.group.Activities.map(\.StatusCode), ["Successful", "Successful"])
        XCTAssertEqual(fixture.group.Instances.map(\.ProcessId), [4242, 4242])
        // Nothing more to do while they boot.
        XCTAssertEqual(fixture.managedScaling(), [])
        XCTAssertEqual(fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }, GroupPlan())

        // The first instance's agent registers with the launched instance id: it is linked.
        let first = try fixture.registerLaunched(plan.launches[0].instanceId, cpu: 2048, memory: 4096)
        XCTAssertEqual(fixture.ecs.instances[first]?.capacityProviderName, "cp")
        XCTAssertEqual(fixture.ecs.instances[first]?.ec2InstanceId, plan.launches[0].instanceId)
        let linked = try XCTUnwrap(fixture.group.Instances.first { $0.InstanceId == plan.launches[0].instanceId })
        XCTAssertEqual(linked.LifecycleState, .inService)
        XCTAssertEqual(linked.ContainerInstanceArn, first)

        // One task fits on it; the other (3072 + 3072 > 4096) keeps waiting.
        fixture.placeProvisioning()
        var tasks = started.compactMap { fixture.ecs.tasks[$0.taskArn ?? ""] }
        XCTAssertEqual(tasks.filter { $0.lastStatus == .pending }.map(\.task.containerInstanceArn), [first])
        XCTAssertEqual(tasks.filter { $0.lastStatus == .pending }.map(\.task.capacityProviderName), ["cp"])
        XCTAssertEqual(tasks.filter { $0.lastStatus == .provisioning }.count, 1)

        let second = try fixture.registerLaunched(plan.launches[1].instanceId, cpu: 2048, memory: 4096)
        XCTAssertEqual(fixture.ecs.instances[second]?.capacityProviderName, "cp")
        fixture.placeProvisioning()
        tasks = started.compactMap { fixture.ecs.tasks[$0.taskArn ?? ""] }
        XCTAssertEqual(tasks.map(\.lastStatus), [.pending, .pending])
        XCTAssertEqual(Set(tasks.compactMap(\.task.containerInstanceArn)), [first, second])
        XCTAssertTrue(fixture.ecs.provisioningTasks.isEmpty)
        try fixture.agentsReport()
        XCTAssertEqual(fixture.running.count, 2)
        XCTAssertEqual(fixture.capacityReservation("cp")?.capacityProviderReservation, 100)
        XCTAssertEqual(fixture.managedScaling(), [])

        // The task on the second instance stops: after the scale-in delay, the group shrinks.
        let onSecond = try XCTUnwrap(tasks.first { $0.task.containerInstanceArn == second })
        _ = try fixture.act { state, now, _, changes in
            try state.ecs.stopTask(StopTaskRequest(cluster: "c", task: onSecond.arn), now: now, changes: &changes)
        }
        // Still stopping (its containers get their stopTimeout): the instance stays busy.
        XCTAssertEqual(fixture.capacityReservation("cp")?.capacityProviderReservation, 100)
        try fixture.agentsReport()
        XCTAssertEqual(fixture.capacityReservation("cp")?.capacityProviderReservation, 50)
        XCTAssertEqual(fixture.managedScaling(), [])
        fixture.advance(599)
        XCTAssertEqual(fixture.managedScaling(), [])
        fixture.advance(1)
        XCTAssertEqual(fixture.managedScaling(), [ManagedScalingDecision(group: "asg", from: 2, to: 1, reservation: 50)])
        XCTAssertEqual(fixture.group.DesiredCapacity, 1)

        // The idle instance is chosen and, having nothing to drain, terminated; the busy one is protected.
        let shrink = fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }
        XCTAssertTrue(shrink.launches.isEmpty)
        XCTAssertEqual(shrink.terminations.map(\.instanceId), [plan.launches[1].instanceId])
        XCTAssertEqual(shrink.terminations.first?.processId, 4242)
        XCTAssertEqual(fixture.ecs.instances[second]?.status, "DRAINING")
        XCTAssertEqual(fixture.ecs.instances[first]?.status, "ACTIVE")
        let busy = try XCTUnwrap(fixture.group.Instances.first { $0.InstanceId == plan.launches[0].instanceId })
        XCTAssertEqual(busy.LifecycleState, .inService)
        XCTAssertTrue(busy.ProtectedFromScaleIn)
        let idle = try XCTUnwrap(fixture.group.Instances.first { $0.InstanceId == plan.launches[1].instanceId })
        XCTAssertEqual(idle.LifecycleState, .terminatingProceed)
        XCTAssertFalse(idle.ProtectedFromScaleIn)
        XCTAssertTrue(idle.TerminationCause?.contains("shrinking the capacity from 2 to 1") == true, idle.TerminationCause ?? "")

        fixture.act { state, now, random, changes in
            state.recordTermination(group: "asg", instanceId: plan.launches[1].instanceId, error: nil, now: now, using: &random, changes: &changes)
        }
        XCTAssertEqual(fixture.group.Instances.map(\.InstanceId), [plan.launches[0].instanceId])
        XCTAssertEqual(fixture.ecs.instances[second]?.status, "INACTIVE")
        XCTAssertEqual(fixture.group.Activities.first?.Description, "Terminating EC2 instance: \(plan.launches[1].instanceId)")
        XCTAssertEqual(fixture.group.Activities.first?.StatusCode, "Successful")

        // Even asked for zero instances, the group never chooses the busy, protected one.
        _ = try fixture.act { state, _, _, changes in
            try state.capacity.updateAutoScalingGroup("asg", AutoScalingGroupInput(desiredCapacity: 0), changes: &changes)
        }
        let none = fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }
        XCTAssertEqual(none, GroupPlan())
        XCTAssertEqual(fixture.group.Instances.map(\.LifecycleState), [.inService])
        XCTAssertEqual(fixture.ecs.instances[first]?.status, "ACTIVE")
    }

    func testWithoutTerminationProtectionABusyInstanceDrainsBeforeItIsTerminated() throws {
        var fixture = SchedulerFixture()
        try fixture.register("big", memory: 3072)
        try fixture.capacityCluster(protection: .disabled, desired: 1)
        let plan = fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }
        let arn = try fixture.registerLaunched(try XCTUnwrap(plan.launches.first?.instanceId))
        let task = try XCTUnwrap(fixture.runThroughProvider("big", count: 1).first)
        XCTAssertEqual(task.containerInstanceArn, arn)
        try fixture.agentsReport()

        _ = try fixture.act { state, _, _, changes in
            try state.capacity.updateAutoScalingGroup("asg", AutoScalingGroupInput(desiredCapacity: 0), changes: &changes)
        }
        let draining = fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }
        XCTAssertTrue(draining.terminations.isEmpty, "its task has not stopped yet")
        XCTAssertEqual(fixture.group.Instances.map(\.LifecycleState), [.terminatingWait])
        XCTAssertFalse(fixture.group.Instances[0].ProtectedFromScaleIn)
        XCTAssertEqual(fixture.ecs.instances[arn]?.status, "DRAINING")

        // Once the task has stopped (not merely been asked to), the instance is terminated.
        _ = try fixture.act { state, now, _, changes in
            try state.ecs.stopTask(StopTaskRequest(cluster: "c", task: task.taskArn ?? ""), now: now, changes: &changes)
        }
        let stopping = fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }
        XCTAssertTrue(stopping.terminations.isEmpty, "its task is still stopping")
        try fixture.agentsReport()
        let done = fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }
        XCTAssertEqual(done.terminations.map(\.instanceId), plan.launches.map(\.instanceId))
        XCTAssertEqual(fixture.group.Instances.map(\.LifecycleState), [.terminatingProceed])
    }

    func testAnAgentRegisteringAgainWhileItsInstanceIsTerminatedTakesNoWork() throws {
        var fixture = SchedulerFixture()
        try fixture.capacityCluster(protection: .enabled, desired: 1)
        let plan = fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }
        let id = try XCTUnwrap(plan.launches.first?.instanceId)
        let arn = try fixture.registerLaunched(id)
        XCTAssertEqual(fixture.ecs.instances[arn]?.status, "ACTIVE")
        _ = try fixture.act { state, _, _, changes in
            try state.capacity.updateAutoScalingGroup("asg", AutoScalingGroupInput(desiredCapacity: 0), changes: &changes)
        }
        let shrink = fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }
        XCTAssertEqual(shrink.terminations.map(\.instanceId), [id])
        // Before the launcher is done, the agent registers again (a restart): it stays draining.
        let again = try fixture.registerLaunched(id)
        XCTAssertEqual(fixture.ecs.instances[again]?.status, "DRAINING")
        XCTAssertNil(fixture.ecs.instances[again]?.capacityProviderName)
    }

    func testDaemonTasksDoNotMakeAnInstanceBusy() throws {
        var fixture = SchedulerFixture()
        try fixture.capacityCluster(protection: .enabled, desired: 1)
        let plan = fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }
        let arn = try fixture.registerLaunched(try XCTUnwrap(plan.launches.first?.instanceId))
        _ = try fixture.act { state, now, _, changes in
            try state.ecs.registerTaskDefinition(
                RegisterTaskDefinitionRequest(
                    family: "agentish", containerDefinitions: [ContainerDefinition(name: "app", image: "busybox", memory: 64)]),
                requestBytes: 0, now: now, changes: &changes)
        }
        _ = try fixture.act { state, now, random, changes in
            try state.ecs.createService(
                CreateServiceRequest(cluster: "c", serviceName: "logs", taskDefinition: "agentish", schedulingStrategy: .daemon),
                now: now, using: &random, changes: &changes)
        }
        fixture.act { state, now, random, changes in state.ecs.reconcileServices(now: now, using: &random, changes: &changes) }
        try fixture.agentsReport()
        XCTAssertEqual(fixture.ecs.liveTaskCount(onInstance: arn), 1, "the daemon runs there")
        XCTAssertFalse(fixture.ecs.isBusy(arn))
        XCTAssertEqual(fixture.capacityReservation("cp")?.instancesNeeded, 0)
        _ = fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }
        XCTAssertFalse(fixture.group.Instances[0].ProtectedFromScaleIn)
    }

    func testTasksAreSpreadOverAStrategyByBaseThenWeight() {
        let strategy = [
            CapacityProviderStrategyItem(capacityProvider: "a", weight: 1, base: 1),
            CapacityProviderStrategyItem(capacityProvider: "b", weight: 4),
        ]
        // AWS's example: one task for a's base, then the other five split 1:4.
        XCTAssertEqual(CapacityProviderDistribution.assign(6, strategy: strategy), ["a", "b", "b", "b", "a", "b"])
        let even = [CapacityProviderStrategyItem(capacityProvider: "a", weight: 1), CapacityProviderStrategyItem(capacityProvider: "b", weight: 1)]
        XCTAssertEqual(CapacityProviderDistribution.assign(4, strategy: even), ["a", "b", "a", "b"])
        // A service's live tasks count: b catches up first.
        XCTAssertEqual(CapacityProviderDistribution.assign(2, strategy: even, existing: ["a": 2]), ["b", "b"])
        // A provider with weight 0 only ever gets its base.
        let baseOnly = [CapacityProviderStrategyItem(capacityProvider: "a", weight: 0, base: 2), CapacityProviderStrategyItem(capacityProvider: "b", weight: 1)]
        XCTAssertEqual(CapacityProviderDistribution.assign(4, strategy: baseOnly), ["a", "a", "b", "b"])
        XCTAssertEqual(CapacityProviderDistribution.batches(["a", "b", "a"]).map { "\($0.provider)=\($0.count)" }, ["a=2", "b=1"])
    }

    func testPendingInstancePastItsWarmupIsReplaced() throws {
        var fixture = SchedulerFixture()
        try fixture.createGroup(desired: 1)
        let first = fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }
        XCTAssertEqual(first.launches.count, 1)
        // Within the registration grace period (300 s), nothing happens.
        fixture.advance(300)
        XCTAssertEqual(fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }, GroupPlan())
        fixture.advance(1)
        let second = fixture.act { state, now, random, changes in state.planGroups(now: now, using: &random, changes: &changes) }
        XCTAssertEqual(second.terminations.map(\.instanceId), first.launches.map(\.instanceId))
        XCTAssertEqual(second.launches.count, 1)
        XCTAssertNotEqual(second.launches.first?.instanceId, first.launches.first?.instanceId)
        let replaced = try XCTUnwrap(fixture.group.Instances.first { $0.InstanceId == first.launches.first?.instanceId })
        XCTAssertEqual(replaced.LifecycleState, .terminatingProceed)
        XCTAssertEqual(replaced.HealthStatus, "Unhealthy")
        XCTAssertTrue(replaced.TerminationCause?.contains("agent not registering within 300 seconds") == true, replaced.TerminationCause ?? "")

        // A failed launch is terminated (the launcher may have created it before failing), and its activity says why.
        let id = try XCTUnwrap(second.launches.first?.instanceId)
        fixture.act { state, now, random, changes in
            state.capacity.recordLaunch(group: "asg", instanceId: id, processId: nil, error: "no capacity", now: now, using: &random, changes: &changes)
        }
        XCTAssertEqual(fixture.group.Instances.first { $0.InstanceId == id }?.LifecycleState, .terminatingProceed)
        let activity = try XCTUnwrap(fixture.group.Activities.first { $0.Description.hasSuffix(id) })
        XCTAssertEqual(activity.StatusCode, "Failed")
        XCTAssertEqual(activity.StatusMessage, "no capacity")
    }

    func testProviderTasksWaitRatherThanUseInstancesOutsideTheGroup() throws {
        var fixture = SchedulerFixture()
        try fixture.register()
        try fixture.capacityCluster()
        // An instance that no group launched: it belongs to no capacity provider.
        let outsider = try fixture.addInstance()
        XCTAssertNil(fixture.ecs.instances[outsider]?.capacityProviderName)
        let started = try fixture.runThroughProvider("web", count: 1)
        XCTAssertEqual(started.map(\.lastStatus), ["PROVISIONING"], "the API shows the status as a string")
        fixture.placeProvisioning()
        XCTAssertEqual(fixture.ecs.tasks[started[0].taskArn ?? ""]?.lastStatus, .provisioning)

        // With a launch type, the cluster's default strategy does not apply: any instance, at once.
        let plain = try fixture.act { state, now, random, changes in
            try state.ecs.runTask(RunTaskRequest(cluster: "c", launchType: .ec2, taskDefinition: "web"), now: now, using: &random, changes: &changes)
        }
        XCTAssertEqual(plain.tasks?.map(\.containerInstanceArn), [outsider])

        // A provider not associated with the cluster is refused.
        try fixture.createGroup("spare")
        try fixture.createProvider("elsewhere", group: "spare")
        assertAWSError("InvalidParameterException", "not associated with the cluster: elsewhere") {
            try fixture.runThroughProvider("web", count: 1, provider: "elsewhere")
        }
    }

    func testProvisioningTasksStopWhenCapacityNeverArrives() throws {
        var fixture = SchedulerFixture()
        try fixture.register()
        try fixture.capacityCluster()
        // With no instance at all, RunTask without a provider is refused.
        assertAWSError("InvalidParameterException", "No Container Instances were found") {
            try fixture.act { state, now, random, changes in
                try state.ecs.runTask(RunTaskRequest(cluster: "c", launchType: .ec2, taskDefinition: "web"), now: now, using: &random, changes: &changes)
            }
        }
        let started = try fixture.runThroughProvider("web", count: 2)
        XCTAssertEqual(started.count, 2)
        fixture.advance(ECSState.provisioningTimeout)
        fixture.placeProvisioning()
        XCTAssertEqual(fixture.ecs.provisioningTasks.count, 2, "still within the timeout")
        fixture.advance(1)
        fixture.placeProvisioning()
        XCTAssertTrue(fixture.ecs.provisioningTasks.isEmpty)
        for task in started {
            let record = try XCTUnwrap(fixture.ecs.tasks[task.taskArn ?? ""])
            XCTAssertEqual(record.lastStatus, .stopped)
            XCTAssertEqual(record.task.stopCode, .taskFailedToStart)
            XCTAssertTrue(record.task.stoppedReason?.hasPrefix("Capacity is unavailable at this time") == true, record.task.stoppedReason ?? "")
        }
    }
}

// MARK: - Helpers

private let epoch = Date(timeIntervalSince1970: 1_800_000_000)

private func utc(_ text: String) -> Date {
    guard let date = ISO8601DateFormatter().date(from: text) else { preconditionFailure("not an ISO 8601 date: \(text)") }
    return date
}

/// Asserts that `body` throws an AWSError of `type` whose message contains `fragment`.
private func assertAWSError<Result>(
    _ type: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Result
) {
    do {
        _ = try body()
        XCTFail("expected \(type) mentioning '\(fragment)', but nothing was thrown", file: file, line: line)
    } catch let error as AWSError {
        XCTAssertEqual(error.type, type, error.message, file: file, line: line)
        XCTAssertTrue(error.message.contains(fragment), "'\(error.message)' does not mention '\(fragment)'", file: file, line: line)
    } catch {
        XCTFail("expected an AWSError, got \(error)", file: file, line: line)
    }
}

private func reservation(needed: Int, instances: Int) -> CapacityReservation {
    CapacityReservation(
        capacityProvider: "cp", cluster: "c", autoScalingGroup: "asg", instancesNeeded: needed, instances: instances,
        capacityProviderReservation: instances == 0 ? 200 : Double(needed) / Double(instances) * 100, targetCapacity: 100,
        provisioningTasks: 0, desiredCapacity: instances, managedScaling: true)
}

private func asg(minimum: Int = 0, maximum: Int = 10, desired: Int) -> AutoScalingGroupRecord {
    AutoScalingGroupRecord(
        AutoScalingGroupName: "asg", AutoScalingGroupARN: "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1:autoScalingGroupName/asg",
        MinSize: minimum, MaxSize: maximum, DesiredCapacity: desired, Launcher: AutoScalingGroupRecord.Launcher(type: .local), CreatedTime: epoch)
}

extension SchedulerFixture {
    @discardableResult
    fileprivate mutating func createGroup(_ name: String = "asg", minimum: Int? = 0, maximum: Int? = 4, desired: Int? = 0) throws -> AutoScalingGroupRecord {
        try capacity.createAutoScalingGroup(
            AutoScalingGroupInput(name: name, minSize: minimum, maxSize: maximum, desiredCapacity: desired, launcher: AutoScalingGroupRecord.Launcher(type: .local)),
            now: now, using: &random, changes: &changes)
    }

    @discardableResult
    fileprivate mutating func createProvider(
        _ name: String = "cp", group: String = "asg", scaling: ManagedScaling? = nil, protection: ManagedTerminationProtection? = nil
    ) throws -> CapacityProvider {
        let response = try capacity.createCapacityProvider(
            CreateCapacityProviderRequest(
                name: name,
                autoScalingGroupProvider: AutoScalingGroupProvider(autoScalingGroupArn: group, managedScaling: scaling, managedTerminationProtection: protection)),
            changes: &changes)
        return response.capacityProvider!
    }

    fileprivate mutating func associate(_ providers: [String]) throws {
        let request = PutClusterCapacityProvidersRequest(
            cluster: "c", capacityProviders: providers,
            defaultCapacityProviderStrategy: providers.map { CapacityProviderStrategyItem(capacityProvider: $0, weight: 1) })
        _ = try act { host, _, _, changes in try host.putClusterCapacityProviders(request, changes: &changes) }
    }

    /// Group `asg` (0-4 instances), provider `cp` with managed scaling, associated with cluster `c`.
    fileprivate mutating func capacityCluster(protection: ManagedTerminationProtection = .enabled, desired: Int = 0) throws {
        try createGroup(desired: desired)
        try createProvider(
            scaling: ManagedScaling(status: .enabled, targetCapacity: 100, minimumScalingStepSize: 1, maximumScalingStepSize: 10, instanceWarmupPeriod: 300),
            protection: protection)
        try associate(["cp"])
    }

    fileprivate var group: AutoScalingGroupRecord { capacity.groups["asg"]! }

    /// Registers an agent the way a launched instance's agent does: with its instance identity.
    @discardableResult
    fileprivate mutating func registerLaunched(_ instanceId: String, cpu: Int = 2048, memory: Int = 4096) throws -> String {
        let document = #"{"instanceId": "\#(instanceId)", "availabilityZone": "us-east-1a", "instanceType": "m5.large"}"#
        let request = RegisterContainerInstanceRequest(
            cluster: "c", instanceIdentityDocument: document,
            totalResources: [
                Resource(name: "CPU", type: "INTEGER", integerValue: cpu), Resource(name: "MEMORY", type: "INTEGER", integerValue: memory),
                Resource(name: "PORTS", type: "STRINGSET", stringSetValue: ["22"]),
            ],
            attributes: [
                Attribute(name: "ecs.capability.container-health-check"),
                Attribute(name: "com.amazonaws.ecs.capability.docker-remote-api.1.18"),
                Attribute(name: "com.amazonaws.ecs.capability.docker-remote-api.1.24"),
            ])
        let response = try act { host, now, random, changes in try host.registerContainerInstance(request, now: now, using: &random, changes: &changes) }
        return response.containerInstance!.containerInstanceArn!
    }

    fileprivate mutating func runThroughProvider(_ family: String, count: Int, provider: String = "cp") throws -> [ECSTask] {
        try ecs.runTask(
            RunTaskRequest(
                capacityProviderStrategy: [CapacityProviderStrategyItem(capacityProvider: provider, weight: 1)], cluster: "c", count: count,
                taskDefinition: family),
            now: now, using: &random, changes: &changes
        ).tasks ?? []
    }

    fileprivate mutating func managedScaling(scaleInAfter: TimeInterval = 600) -> [ManagedScalingDecision] {
        act { host, now, _, changes in host.applyManagedScaling(now: now, scaleInAfter: scaleInAfter, changes: &changes) }
    }

    fileprivate mutating func placeProvisioning() {
        ecs.placeProvisioningTasks(now: now, using: &random, changes: &changes)
    }
}
