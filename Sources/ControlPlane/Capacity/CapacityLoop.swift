import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import Foundation
import Lambda
import LambdaShapes
import Logging
import ServiceLifecycle
import StevedoreCore

/// Cluster auto scaling, on a short tick: managed scaling sets each group's desired capacity
/// from its CapacityProviderReservation, then every group is reconciled: instances launched,
/// drained and terminated through their launcher, dead local agents replaced.
struct CapacityLoop: Service {
    let committer: Committer<ControlPlaneState>
    let launcher: InstanceLauncher
    let interval: Duration
    /// How long the reservation must stay below target before instances are removed.
    let scaleInAfter: TimeInterval
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await tick()
            }
        }
    }

    func tick() async {
        let scaleInAfter = self.scaleInAfter
        let decisions = (try? await committer.write { root, mutation throws(AWSError) in
            root.applyManagedScaling(now: mutation.now, scaleInAfter: scaleInAfter, changes: &mutation.changes)
        }) ?? []
        for decision in decisions {
            logger.notice(
                "managed scaling",
                metadata: [
                    "asg": "\(decision.group)", "desired.from": "\(decision.from)", "desired.to": "\(decision.to)",
                    "reservation": "\(Int(decision.reservation))",
                ])
        }
        await checkLocalInstances()
        guard let plan = try? await committer.write({ root, mutation throws(AWSError) in
            root.planGroups(now: mutation.now, using: &mutation.random, changes: &mutation.changes)
        }) else { return }
        await withTaskGroup(of: Void.self) { group in
            for launch in plan.launches {
                group.addTask { await perform(launch) }
            }
            for termination in plan.terminations {
                group.addTask { await perform(termination) }
            }
        }
    }

    private func perform(_ launch: GroupPlan.Launch) async {
        var processId: Int32?
        var failure: String?
        do {
            processId = try await launcher.launch(launch)
        } catch {
            failure = error.description
            logger.error("launch failed", metadata: ["asg": "\(launch.group)", "instance": "\(launch.instanceId)", "error": "\(error)"])
        }
        _ = try? await committer.write { [processId, failure] root, mutation throws(AWSError) in
            root.capacity.recordLaunch(
                group: launch.group, instanceId: launch.instanceId, processId: processId, error: failure, now: mutation.now,
                using: &mutation.random, changes: &mutation.changes)
        }
    }

    private func perform(_ termination: GroupPlan.Termination) async {
        var failure: String?
        do {
            try await launcher.terminate(termination)
        } catch {
            failure = error.description
            logger.error(
                "terminate failed", metadata: ["asg": "\(termination.group)", "instance": "\(termination.instanceId)", "error": "\(error)"])
        }
        _ = try? await committer.write { [failure] root, mutation throws(AWSError) in
            root.recordTermination(
                group: termination.group, instanceId: termination.instanceId, error: failure, now: mutation.now,
                using: &mutation.random, changes: &mutation.changes)
        }
    }

    /// Local agents whose process exited are unhealthy instances.
    private func checkLocalInstances() async {
        let local = (try? await committer.readLatest { root, _ in
            root.capacity.groups.values.filter { $0.Launcher.Type == .local }.flatMap { group in
                group.Instances.filter { $0.LifecycleState == .inService || ($0.LifecycleState == .pending && $0.ProcessId != nil) }
                    .map { (group: group.AutoScalingGroupName, instance: $0.InstanceId, pid: $0.ProcessId) }
            }
        }) ?? []
        for entry in local where await !launcher.isAlive(instanceId: entry.instance, processId: entry.pid) {
            logger.warning("instance agent exited", metadata: ["asg": "\(entry.group)", "instance": "\(entry.instance)"])
            _ = try? await committer.write { root, mutation throws(AWSError) in
                root.capacity.markInstanceUnhealthy(
                    group: entry.group, instanceId: entry.instance, reason: "its ecs-agent process exited", changes: &mutation.changes)
            }
        }
    }
}
