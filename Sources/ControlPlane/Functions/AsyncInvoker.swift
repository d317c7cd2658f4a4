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
import Synchronization

/// Delivers `Event` invocations from the durable queue in the store: each due event is invoked
/// like a synchronous call, and the outcome is committed (done, retry later, or dead-letter; see
/// ``LambdaHost/recordAsyncDelivery(_:_:now:using:changes:)``). An event in flight when `ecsd` stops
/// is still in the queue and is delivered again after the restart.
final class AsyncInvoker: Service, Sendable {
    let committer: Committer<ControlPlaneState>
    let router: FunctionRouter
    let logger: Logger
    /// Deliveries in flight at once.
    let parallelism = 256
    private let busy = Mutex<Set<String>>([])
    private let wakeStream: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init(committer: Committer<ControlPlaneState>, router: FunctionRouter, logger: Logger) {
        self.committer = committer
        self.router = router
        self.logger = logger
        (wakeStream, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues an event durably (the caller gets 202 once it is on disk).
    func enqueue(requestId: String, function: String, qualifier: String?, payload: Data) async throws(AWSError) {
        try await committer.write { root, mutation throws(AWSError) in
            root.lambda.enqueueAsyncEvent(
                AsyncEventRecord(requestId: requestId, functionName: function, qualifier: qualifier, payload: payload, enqueuedAt: mutation.now),
                changes: &mutation.changes)
        }
        wake.yield()
    }

    /// Looks for due events now (another service queued some).
    func wakeUp() { wake.yield() }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // Discarding: each delivery is freed when it ends, not kept until the invoker stops.
            await withDiscardingTaskGroup { group in
                group.addTask {
                    // A tick, so retries fall due without a wake-up.
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(200))
                        self.wake.yield()
                    }
                }
                for await _ in self.wakeStream {
                    if Task.isCancelled { break }
                    for event in await self.dueEvents() {
                        group.addTask { await self.deliver(event) }
                    }
                }
                group.cancelAll()
            }
        }
    }

    private func dueEvents() async -> [AsyncEventRecord] {
        let busy = self.busy.withLock { $0 }
        let room = parallelism - busy.count
        guard room > 0 else { return [] }
        let due = (try? await committer.readLatest { root, now in root.lambda.dueAsyncEvents(now: now, excluding: busy, limit: room) }) ?? []
        self.busy.withLock { set in for event in due { set.insert(event.requestId) } }
        return due
    }

    private func deliver(_ event: AsyncEventRecord) async {
        defer {
            _ = busy.withLock { $0.remove(event.requestId) }
            wake.yield()
        }
        let id = event.requestId
        let attempt = (try? await committer.write { root, mutation throws(AWSError) in
            root.prepareAsyncAttempt(id, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
        }) ?? false
        guard attempt else { return }
        let delivery: AsyncDelivery
        do {
            let outcome = try await router.invoke(
                InvocationRequest(
                    reference: event.functionName, qualifier: event.qualifier, payload: event.payload, requestId: id,
                    traceId: LambdaAPI.newTraceId(at: committer.now())))
            switch outcome.status {
            case .success:
                delivery = .succeeded(response: outcome.payload, executedVersion: outcome.executedVersion)
            case .functionError:
                let body = InvocationErrorBody(outcome.payload)
                delivery = .functionFailed(
                    AsyncFailure(
                        statusCode: 200, errorType: outcome.errorType ?? body?.errorType ?? "Unhandled",
                        errorMessage: body?.errorMessage ?? String(decoding: outcome.payload.prefix(1024), as: UTF8.self),
                        executedVersion: outcome.executedVersion, responsePayload: outcome.payload))
            case .environmentFailure:
                delivery = .deferred(
                    AsyncFailure(
                        statusCode: 500, errorType: outcome.errorType ?? "ServiceException",
                        errorMessage: InvocationErrorBody(outcome.payload)?.errorMessage ?? "The environment failed."))
            }
        } catch {
            delivery = .deferred(AsyncFailure(statusCode: error.httpStatus, errorType: error.type, errorMessage: error.message))
        }
        logger.debug("asynchronous delivery", metadata: ["request.id": "\(id)", "outcome": "\(delivery)"])
        do {
            try await committer.write { root, mutation throws(AWSError) in
                root.recordAsyncDelivery(id, delivery, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
            }
        } catch {
            logger.error("could not record an asynchronous delivery", metadata: ["request.id": "\(id)", "error": "\(error)"])
        }
    }
}
