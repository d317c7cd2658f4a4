import ECSCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Delivers `Event` invocations from the durable queue in the store: each due event is invoked
/// like a synchronous call, and the outcome is committed (done, retry later, or dead-letter; see
/// ``ECSState/recordAsyncDelivery(_:_:now:using:changes:)``). An event in flight when `ecsd` stops
/// is still in the queue and is delivered again after the restart.
final class AsyncInvoker: Service, Sendable {
    let committer: Committer
    let router: FunctionRouter
    let logger: Logger
    /// Deliveries in flight at once.
    let parallelism = 256
    private let busy = Mutex<Set<String>>([])
    private let wakeStream: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init(committer: Committer, router: FunctionRouter, logger: Logger) {
        self.committer = committer
        self.router = router
        self.logger = logger
        (wakeStream, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues an event durably (the caller gets 202 once it is on disk).
    func enqueue(requestId: String, function: String, qualifier: String?, payload: Data) async throws(AWSError) {
        try await committer.write { state, mutation throws(AWSError) in
            state.enqueueAsyncEvent(
                AsyncEventRecord(requestId: requestId, functionName: function, qualifier: qualifier, payload: payload, enqueuedAt: mutation.now),
                changes: &mutation.changes)
        }
        wake.yield()
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
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
        let due = (try? await committer.read { state, now in state.dueAsyncEvents(now: now, excluding: busy, limit: room) }) ?? []
        self.busy.withLock { set in for event in due { set.insert(event.requestId) } }
        return due
    }

    private func deliver(_ event: AsyncEventRecord) async {
        defer {
            _ = busy.withLock { $0.remove(event.requestId) }
            wake.yield()
        }
        let id = event.requestId
        let attempt = (try? await committer.write { state, mutation throws(AWSError) in
            state.prepareAsyncAttempt(id, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
        }) ?? false
        guard attempt else { return }
        let delivery: AsyncDelivery
        do {
            let outcome = try await router.invoke(
                InvocationRequest(
                    reference: event.functionName, qualifier: event.qualifier, payload: event.payload, requestId: id,
                    traceId: LambdaAPI.newTraceId()))
            switch outcome.status {
            case .success:
                delivery = .succeeded(response: outcome.payload, executedVersion: outcome.executedVersion)
            case .functionError:
                let body = (try? JSONSerialization.jsonObject(with: outcome.payload)) as? [String: Any]
                delivery = .functionFailed(
                    AsyncFailure(
                        statusCode: 200, errorType: outcome.errorType ?? (body?["errorType"] as? String) ?? "Unhandled",
                        errorMessage: (body?["errorMessage"] as? String) ?? String(decoding: outcome.payload.prefix(1024), as: UTF8.self),
                        executedVersion: outcome.executedVersion, responsePayload: outcome.payload))
            case .environmentFailure:
                let body = (try? JSONSerialization.jsonObject(with: outcome.payload)) as? [String: Any]
                delivery = .deferred(
                    AsyncFailure(statusCode: 500, errorType: outcome.errorType ?? "ServiceException", errorMessage: (body?["errorMessage"] as? String) ?? "The environment failed."))
            }
        } catch {
            delivery = .deferred(AsyncFailure(statusCode: error.httpStatus, errorType: error.type, errorMessage: error.message))
        }
        logger.debug("asynchronous delivery", metadata: ["request.id": "\(id)", "outcome": "\(delivery)"])
        do {
            try await committer.write { state, mutation throws(AWSError) in
                state.recordAsyncDelivery(id, delivery, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
            }
        } catch {
            logger.error("could not record an asynchronous delivery", metadata: ["request.id": "\(id)", "error": "\(error)"])
        }
    }
}
