import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import Lambda
import LambdaShapes
import Logging
import ServiceLifecycle
import StevedoreCore

/// The function router's housekeeping on a short tick (environments that stopped, idle ones to
/// reap, invocations past their deadline) and, now and then, removal of unreferenced code zips.
struct FunctionLoop: Service {
    let router: FunctionRouter
    let code: CodeStore
    let committer: Committer<ControlPlaneState>
    let logger: Logger
    /// Held polls are expired on this tick; the rest runs every fourth.
    var interval: Duration = .milliseconds(125)

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var ticks = 0
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await router.expirePolls()
                ticks += 1
                if ticks % 4 == 0 { await router.reconcile() }
                if ticks % 2400 == 0, let referenced = try? await committer.readLatest({ root, _ in root.lambda.referencedCode }) {
                    code.collect(keeping: referenced)
                }
            }
        }
    }
}
