import CloudFormation
import Foundation
import Logging
import ServiceLifecycle
import StevedoreCore

/// Runs stacks' deployments: asks CloudFormation's state which resource steps can start, runs
/// each with its type's provisioner (independent ones together), and commits how each ended,
/// until every stack under way is complete, rolled back or failed. Steps a stop cut off are
/// settled at the next start (deletions again, creations and updates as failed, so their stacks roll back).
final class StackDeployer: Service, Sendable {
    let committer: Committer<ControlPlaneState>
    let calls: any ServiceCalls
    let names: ResourceNames
    let logger: Logger
    private let wakeStream: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init(committer: Committer<ControlPlaneState>, calls: any ServiceCalls, names: ResourceNames, logger: Logger) {
        self.committer = committer
        self.calls = calls
        self.names = names
        self.logger = logger
        (wakeStream, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Looks for work now (a stack was created, updated or deleted, or a step ended).
    func wakeUp() { wake.yield() }

    func run() async throws {
        _ = try? await committer.write { root, m throws(AWSError) in
            root.cloudFormation.interruptSteps(now: m.now, using: &m.random, changes: &m.changes)
        }
        wake.yield()
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    // A safety net: work is found by wake-ups, this catches any missed one.
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(2))
                        self.wake.yield()
                    }
                }
                for await _ in self.wakeStream {
                    if Task.isCancelled { break }
                    let started =
                        (try? await self.committer.write { root, m throws(AWSError) in
                            root.cloudFormation.startSteps(now: m.now, using: &m.random, changes: &m.changes)
                        }) ?? []
                    for step in started {
                        group.addTask { await self.run(step) }
                    }
                }
                group.cancelAll()
            }
        }
    }

    private func run(_ started: StartedStep) async {
        let stack = try? await committer.read { root, _ in root.cloudFormation.stacks[started.stackId] }
        let context = ProvisioningContext(
            calls: calls, names: names, stackName: stack?.stackName ?? "", stackId: started.stackId, logicalId: started.step.logicalId,
            stackTags: stack?.tags ?? [], resourceType: started.step.type)
        let outcome = await Provisioners.run(started.step, context: context)
        // Cut off by a stop: the step stays in flight, and the next start settles it.
        if Task.isCancelled { return }
        if case .failed(let reason) = outcome {
            logger.notice(
                "stack resource failed",
                metadata: ["stack": "\(context.stackName)", "resource": "\(started.step.logicalId)", "action": "\(started.step.action)", "reason": "\(reason)"])
        }
        // The outcome must be recorded, or the stack waits for the step until a restart: tried
        // again while the store refuses it.
        for attempt in 1... {
            do {
                try await committer.write { root, m throws(AWSError) in
                    root.cloudFormation.finishStep(
                        stackId: started.stackId, key: started.key, outcome: outcome, now: m.now, using: &m.random, changes: &m.changes)
                }
                break
            } catch {
                logger.error("could not record a stack step's end", metadata: ["stack": "\(context.stackName)", "attempt": "\(attempt)", "error": "\(error)"])
                if Task.isCancelled { return }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        wake.yield()
    }
}
