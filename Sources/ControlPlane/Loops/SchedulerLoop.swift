import ECSCore
import Foundation
import Logging
import ServiceLifecycle

/// The control plane's background work, on a short tick: notice agents that went silent, run the
/// service scheduler, and now and then forget long-stopped tasks.
struct SchedulerLoop: Service {
    let committer: Committer
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
                await tick(pruning: Date().timeIntervalSince(lastPrune) >= pruneInterval)
                if Date().timeIntervalSince(lastPrune) >= pruneInterval { lastPrune = Date() }
            }
        }
    }

    func tick(pruning: Bool) async {
        let timeout = agentTimeout
        let lost = await committer.updateMemoryReturning { state, now in state.detectLostAgents(now: now, timeout: timeout) }
        for arn in lost {
            logger.warning("agent disconnected", metadata: ["node.arn": "\(arn)", "timeout.seconds": "\(timeout)"])
        }
        do {
            try await committer.write { state, mutation throws(AWSError) in
                state.reconcileServices(now: mutation.now, using: &mutation.random, changes: &mutation.changes)
                state.placeProvisioningTasks(now: mutation.now, using: &mutation.random, changes: &mutation.changes)
                if pruning {
                    state.pruneStopped(now: mutation.now, retention: state.settings.stoppedRetention, changes: &mutation.changes)
                }
            }
        } catch {
            logger.error("scheduler pass failed", metadata: ["error": "\(error)"])
        }
    }
}
