import AgentProtocol
import Foundation
import Lambda
import Logging
import ServiceLifecycle
import SQS
import StevedoreCore
import Synchronization

/// Lambda's pollers for event source mappings: each enabled mapping has at least one poller that
/// takes batches from its queue, invokes the function with them and deletes what the function
/// handled. A poller that takes a full batch starts another (up to the mapping's
/// `ScalingConfig.MaximumConcurrency`, 1,000 by default; past five, one a second), so pollers
/// grow with the backlog; one that finds the queue empty a few times in a row stops, unless it is
/// the last.
///
/// Messages a failed invocation leaves come back after the queue's visibility timeout; SQS moves
/// them to the dead-letter queue after the RedrivePolicy's `maxReceiveCount`. A batch in flight
/// when `ecsd` stops is in the queue still, invisible until its timeout ends: at least once.
final class QueuePollers: Service, Sendable {
    let committer: Committer<ControlPlaneState>
    let router: FunctionRouter
    let logger: Logger
    /// How often enabled mappings without a poller are looked for.
    let scanInterval: Duration = .milliseconds(250)
    /// Pollers a mapping may reach at once; past them, one more a second at most (as Lambda
    /// scales SQS pollers: five at first, then up to 60 more a minute), so a backlog does not
    /// start a crowd of execution environments at the same moment.
    static let initialPollers = 5
    static let growthInterval: Duration = .seconds(1)
    /// Running pollers by mapping, and when each mapping last grew past its first pollers.
    private let running = Mutex<[String: Int]>([:])
    private let lastGrowth = Mutex<[String: ContinuousClock.Instant]>([:])
    private let spawns: AsyncStream<String>
    private let spawn: AsyncStream<String>.Continuation

    init(committer: Committer<ControlPlaneState>, router: FunctionRouter, logger: Logger) {
        self.committer = committer
        self.router = router
        self.logger = logger
        (spawns, spawn) = AsyncStream<String>.makeStream()
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    while !Task.isCancelled {
                        let enabled = (try? await self.committer.readLatest { root, _ in
                            // A mapping whose queue is gone has nothing to poll (until a queue of that name is made again).
                            root.lambda.eventSourceMappings.values.filter { $0.enabled && root.sqs.queues[$0.queueName] != nil }.map(\.uuid)
                        }) ?? []
                        for uuid in enabled where self.claim(uuid, limit: 1) { self.spawn.yield(uuid) }
                        try? await Task.sleep(for: self.scanInterval)
                    }
                    self.spawn.finish()
                }
                for await uuid in self.spawns {
                    group.addTask { await self.poll(uuid) }
                }
            }
        }
    }

    /// Counts one more poller for the mapping if fewer than `limit` run.
    private func claim(_ uuid: String, limit: Int) -> Bool {
        running.withLock { running in
            guard running[uuid, default: 0] < limit else { return false }
            running[uuid, default: 0] += 1
            return true
        }
    }

    private func release(_ uuid: String) -> Int {
        running.withLock { running in
            running[uuid, default: 1] -= 1
            let left = running[uuid] ?? 0
            if left <= 0 { running[uuid] = nil }
            return left
        }
    }

    private func count(_ uuid: String) -> Int { running.withLock { $0[uuid] ?? 0 } }

    /// Whether the mapping may have one more poller now (see ``initialPollers``).
    private func mayGrow(_ uuid: String) -> Bool {
        guard count(uuid) >= Self.initialPollers else { return true }
        return lastGrowth.withLock { grown in
            let now = ContinuousClock.now
            if let last = grown[uuid], now - last < Self.growthInterval { return false }
            grown[uuid] = now
            return true
        }
    }

    /// One poller: batches until the mapping goes, is disabled, or (when others run) the queue stays empty.
    private func poll(_ uuid: String) async {
        var empty = 0
        while !Task.isCancelled {
            guard let batch = await nextBatch(uuid) else { break }
            if batch.messageIds.isEmpty {
                if batch.received == 0 {
                    empty += 1
                    if empty >= 3, count(uuid) > 1 { break }
                    // An empty queue is looked at again soon (SQS's long poll, as Lambda's pollers use it).
                    try? await Task.sleep(for: .milliseconds(min(200, 10 * empty)))
                }
                continue
            }
            empty = 0
            if batch.received >= min(batch.mapping.batchSize, 10), mayGrow(uuid),
                claim(uuid, limit: batch.mapping.maximumConcurrency ?? FunctionsState.defaultMappingConcurrency)
            {
                spawn.yield(uuid)
            }
            let outcome = await invoke(batch)
            if case .failed = outcome { try? await Task.sleep(for: .milliseconds(100)) }
            do {
                try await committer.write { root, mutation throws(AWSError) in root.settleBatch(batch, outcome: outcome, changes: &mutation.changes) }
            } catch {
                logger.error("could not settle a queue batch", metadata: ["mapping": "\(uuid)", "error": "\(error)"])
            }
        }
        _ = release(uuid)
    }

    /// The mapping's next batch: one receive, or with a batching window, receives until the
    /// batch is full or the window has passed since its first message. Nil when the mapping is
    /// gone or disabled.
    private func nextBatch(_ uuid: String) async -> QueueBatch? {
        var batch: QueueBatch?
        var windowEnds: ContinuousClock.Instant?
        while true {
            // The first receive takes up to the mapping's batch size (pollBatch caps it); later ones, the rest.
            let limit = batch.map { $0.mapping.batchSize - $0.messageIds.count } ?? Int.max
            guard
                let taken = try? await committer.write({ root, mutation throws(AWSError) in
                    root.pollBatch(uuid, limit: limit, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
                }) ?? nil
            else { return batch }
            batch = (batch ?? QueueBatch(mapping: taken.mapping)).appending(taken)
            let mapping = taken.mapping
            guard mapping.batchingWindow > 0 else { return batch }
            if windowEnds == nil, !taken.messageIds.isEmpty { windowEnds = .now + .seconds(mapping.batchingWindow) }
            guard let ends = windowEnds else { return batch }
            if (batch?.messageIds.count ?? 0) >= mapping.batchSize || ContinuousClock.now >= ends { return batch }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private func invoke(_ batch: QueueBatch) async -> QueueBatchOutcome {
        do {
            let outcome = try await router.invoke(
                InvocationRequest(
                    reference: batch.mapping.functionName, qualifier: batch.mapping.qualifier, payload: batch.payload,
                    requestId: UUID().uuidString.lowercased(), traceId: LambdaAPI.newTraceId(at: committer.now())))
            return outcome.status == .success ? .succeeded(outcome.payload) : .failed
        } catch {
            logger.debug("queue batch not invoked", metadata: ["mapping": "\(batch.mapping.uuid)", "error": "\(error)"])
            return .failed
        }
    }
}
