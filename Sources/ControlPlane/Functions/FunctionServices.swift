import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import Foundation
import Lambda
import NIOCore
import S3
import LambdaShapes
import StevedoreCore

/// What the Lambda API does beyond the committed state, done by the control plane's parts: the
/// router runs invocations, the asynchronous invoker queues events, the code store keeps zips,
/// and CloudWatch Logs keeps functions' output (``LogIngest``).
struct FunctionServices: FunctionRuntime {
    let router: FunctionRouter
    let asyncInvoker: AsyncInvoker
    let code: CodeStore
    let objects: ObjectFiles

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

    func objectBytes(bucket: String, key: String) async throws(AWSError) -> [UInt8] {
        let object: ObjectRecord
        do throws(AWSError) {
            object = try await router.committer.read { root, _ throws(AWSError) in try root.s3.object(bucket: bucket, key: key) }
        } catch {
            throw AWSError.lambdaInvalidParameter("Error occurred while GetObject. S3 Error Code: \(error.type). S3 Error Message: \(error.message)")
        }
        guard object.size <= LambdaAPI.codeRequestLimit else {
            throw AWSError.lambdaInvalidParameter("The code at s3://\(bucket)/\(key) is \(object.size) bytes; a zip may be at most \(LambdaAPI.codeRequestLimit) bytes.")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(object.size)
        do {
            let opened = try objects.open(object.segments)
            try await objects.read(opened, range: nil) { buffer in bytes.append(contentsOf: buffer.readableBytesView) }
        } catch {
            throw AWSError.lambdaService("The code could not be read from s3://\(bucket)/\(key) (\(error)); try again.")
        }
        return bytes
    }

    func now() -> Date { router.committer.now() }
}
