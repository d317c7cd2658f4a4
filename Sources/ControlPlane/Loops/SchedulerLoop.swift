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

/// The control plane's background work, on a short tick: notice agents that went silent, run the
/// service scheduler, place tasks waiting for capacity, and now and then forget long-stopped tasks.
struct SchedulerLoop: Service {
    let committer: Committer<ControlPlaneState>
    let interval: Duration
    let agentTimeout: TimeInterval
    let pruneInterval: TimeInterval
    let logger: Logger

    func run() async throws {
        // Shutdown cancels the sleep; that is the normal way out of this loop.
        try? await cancelWhenGracefulShutdown {
            var lastPrune = Date.distantPast
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                let now = committer.now()
                let pruning = now.timeIntervalSince(lastPrune) >= pruneInterval
                await tick(pruning: pruning)
                if pruning { lastPrune = now }
            }
        }
    }

    func tick(pruning: Bool) async {
        let timeout = agentTimeout
        let lost = await committer.updateMemoryReturning { root, now in root.ecs.detectLostAgents(now: now, timeout: timeout) }
        for arn in lost {
            logger.warning("agent disconnected", metadata: ["node.arn": "\(arn)", "timeout.seconds": "\(timeout)"])
        }
        do {
            try await committer.write { root, m throws(AWSError) in
                root.ecs.reconcileServices(now: m.now, using: &m.random, changes: &m.changes)
                root.ecs.placeProvisioningTasks(now: m.now, using: &m.random, changes: &m.changes)
                if pruning {
                    root.ecs.pruneStopped(now: m.now, retention: root.ecs.settings.stoppedRetention, changes: &m.changes)
                }
            }
        } catch {
            logger.error("scheduler pass failed", metadata: ["error": "\(error)"])
        }
    }
}
