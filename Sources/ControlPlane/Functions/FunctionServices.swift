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
import StevedoreCore

/// What the Lambda API does beyond the committed state, done by the control plane's parts: the
/// router runs invocations, the asynchronous invoker queues events, the code store keeps zips,
/// and CloudWatch Logs keeps functions' output (``LogIngest``).
struct FunctionServices: FunctionRuntime {
    let router: FunctionRouter
    let asyncInvoker: AsyncInvoker
    let code: CodeStore

    func invoke(_ request: InvocationRequest) async throws(AWSError) -> InvocationOutcome {
        try await router.invoke(request)
    }

    func check(_ reference: String, qualifier: String?) async throws(AWSError) -> InvokeTarget {
        try await router.check(reference, qualifier: qualifier)
    }

    func enqueue(requestId: String, function: String, qualifier: String?, payload: Data) async throws(AWSError) {
        try await asyncInvoker.enqueue(requestId: requestId, function: function, qualifier: qualifier, payload: payload)
    }

    func storeCode(_ zip: [UInt8], settings: FunctionSettings) throws(AWSError) -> CodeBundle {
        try code.store(zip, settings: settings)
    }

    func now() -> Date { router.committer.now() }
}
