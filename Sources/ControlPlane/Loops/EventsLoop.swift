import EventBridge
import Foundation
import Logging
import ServiceLifecycle
import StevedoreCore

/// EventBridge's clock: every second, fires the scheduled rules and Scheduler's schedules that are due and tries again the
/// deliveries whose back-off has passed, each in one write (so a firing and what it delivered are
/// durable together), then wakes the invoker for the functions' events it queued.
struct EventsLoop: Service {
    let committer: Committer<ControlPlaneState>
    let invoker: AsyncInvoker
    let logger: Logger
    var interval: Duration = .seconds(1)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let due = (try? await committer.readLatest { root, now in root.events.hasDueWork(now: now) }) ?? false
                if due {
                    do {
                        let done = try await committer.write { root, mutation throws(AWSError) in
                            root.fireDueSchedules(now: mutation.now, using: &mutation.random, changes: &mutation.changes)
                                + root.fireDueScheduledTargets(now: mutation.now, using: &mutation.random, changes: &mutation.changes)
                                + root.retryDueDeliveries(now: mutation.now, using: &mutation.random, changes: &mutation.changes)
                        }
                        if done > 0 { invoker.wakeUp() }
                    } catch {
                        logger.error("scheduled events could not be committed", metadata: ["error": "\(error)"])
                    }
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
