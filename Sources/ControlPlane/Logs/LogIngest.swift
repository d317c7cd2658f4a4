import AgentProtocol
import Foundation
import Logging
import Logs
import LogSubscriptions
import ServiceLifecycle
import StevedoreCore
import Synchronization

/// Logs the control plane writes itself (functions' output) and those agents ship (`awslogs`
/// containers'), into CloudWatch Logs, each to its group and stream, made when missing. Producers
/// of the first kind never wait: their entries queue (past `capacity`, new ones are dropped, and
/// said so in the log), gather for a moment, and are written a stream at a time, every entry that
/// came meanwhile in one batch (one disk sync for many invocations).
final class LogIngest: Service {
    struct Entry: Sendable {
        var group: String
        var stream: String
        var messages: [String]
        /// Milliseconds since the epoch: every message's time.
        var time: Int
    }

    let committer: Committer<ControlPlaneState>
    let files: LogEventFiles
    let logger: Logger
    let capacity: Int
    private let queue = Mutex<[Entry]>([])
    /// Rings when the queue was empty and an entry came.
    private let doorbell: AsyncStream<Void>
    private let ring: AsyncStream<Void>.Continuation

    init(committer: Committer<ControlPlaneState>, files: LogEventFiles, capacity: Int = 10_000, logger: Logger) {
        self.committer = committer
        self.files = files
        self.logger = logger
        self.capacity = capacity
        (doorbell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func submit(group: String, stream: String, messages: [String], time: Date) {
        guard !messages.isEmpty else { return }
        let entry = Entry(group: group, stream: stream, messages: messages, time: epochMilliseconds(time))
        let taken = queue.withLock { queue in
            guard queue.count < capacity else { return false }
            queue.append(entry)
            return true
        }
        if taken {
            ring.yield()
        } else {
            logger.warning("log entry dropped: the CloudWatch Logs ingest is behind", metadata: ["log.group": "\(group)"])
        }
    }

    /// How long entries gather before a drain writes them: one disk sync per stream for all of
    /// them (at thousands of invocations a second, one per invocation would be thousands).
    static let gathering: Duration = .milliseconds(200)

    /// Until a graceful shutdown; what was submitted before it is written first.
    func run() async throws {
        await withGracefulShutdownHandler {
            for await _ in doorbell {
                try? await Task.sleep(for: Self.gathering)
                await drain()
            }
            await drain()
        } onGracefulShutdown: {
            self.ring.finish()
        }
    }

    /// Everything queued, a write per stream (in the order each stream's entries came).
    func drain() async {
        let entries = queue.withLock { queue in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
        var order: [String] = []
        var byStream: [String: (group: String, stream: String, events: [(timestamp: Int, message: String)])] = [:]
        for entry in entries {
            let key = entry.group + "\u{0}" + entry.stream
            if byStream[key] == nil {
                order.append(key)
                byStream[key] = (entry.group, entry.stream, [])
            }
            byStream[key]?.events += entry.messages.map { (entry.time, $0) }
        }
        for key in order {
            guard let target = byStream[key] else { continue }
            do {
                try await put(group: target.group, stream: target.stream, createGroup: true, events: target.events)
            } catch {
                logger.warning("log entries not stored", metadata: ["log.group": "\(target.group)", "error": "\(error)"])
            }
        }
    }

    /// An agent's batch of an `awslogs` container's events, stored before this returns. The group
    /// is made only when the container's options say so (`createGroup`); the stream always.
    /// - Returns: the stream's newest event time.
    @discardableResult
    func put(group: String, stream: String, createGroup: Bool, events: [(timestamp: Int, message: String)]) async throws(AWSError) -> Int? {
        let ids = try await storage(group: group, stream: stream, createGroup: createGroup)
        // In time order (stdout and stderr lines may cross), stored as one block (one disk sync),
        // each message cut to what an event may hold.
        let sorted = events.enumerated().sorted { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }.map(\.element)
        let stored = sorted.map { (timestamp: $0.timestamp, message: Self.cut($0.message)) }
        if !stored.isEmpty {
            try await files.append(group: ids.group, stream: ids.stream, events: stored, ingestionTime: epochMilliseconds(committer.now()))
            await Self.deliverSubscribed(group: group, stream: stream, events: stored, committer: committer, logger: logger)
        }
        return files.figures(group: ids.group, stream: ids.stream).lastEventTimestamp
    }

    /// Stored events the group's subscription filters want, queued for their functions. A group
    /// without filters costs a look at the published state.
    static func deliverSubscribed(
        group: String, stream: String, events: [(timestamp: Int, message: String)], committer: Committer<ControlPlaneState>, logger: Logger
    ) async {
        guard committer.readNow({ $0.logs.groups[group]?.subscriptionFilters != nil }) ?? true else { return }
        do {
            _ = try await committer.write { root, m throws(AWSError) in
                root.deliverSubscribed(group: group, stream: stream, events: events, now: m.now, using: &m.random, changes: &m.changes)
            }
        } catch {
            logger.warning("log events not delivered to their subscription filters", metadata: ["log.group": "\(group)", "error": "\(error)"])
        }
    }

    /// An agent's binary batch: written as it came when its events are in time order, none is too
    /// long and all are UTF-8 (as the agent sends them), else as
    /// ``put(group:stream:createGroup:events:)`` does (which mends what is not UTF-8).
    @discardableResult
    func put(_ batch: LogEventsBatch.Binary) async throws(AWSError) -> Int? {
        guard batch.inTimeOrder, batch.longestMessage <= Self.longestMessage, batch.messagesAreUTF8 else {
            return try await put(group: batch.group, stream: batch.stream, createGroup: batch.createGroup, events: batch.events.map { ($0.timestamp, $0.message) })
        }
        let ids = try await storage(group: batch.group, stream: batch.stream, createGroup: batch.createGroup)
        if batch.count > 0 {
            let payload = LogEventFiles.Payload(
                bytes: batch.payload, count: batch.count, minimumTimestamp: batch.minimumTimestamp, maximumTimestamp: batch.maximumTimestamp)
            try await files.append(group: ids.group, stream: ids.stream, payload: payload, ingestionTime: epochMilliseconds(committer.now()))
            if committer.readNow({ $0.logs.groups[batch.group]?.subscriptionFilters != nil }) ?? true {
                await Self.deliverSubscribed(
                    group: batch.group, stream: batch.stream, events: batch.events.map { ($0.timestamp, $0.message) }, committer: committer, logger: logger)
            }
        }
        return files.figures(group: ids.group, stream: ids.stream).lastEventTimestamp
    }

    /// The storage ids of a group's stream, the stream (and with `createGroup` the group) made when missing.
    private func storage(group: String, stream: String, createGroup: Bool) async throws(AWSError) -> (group: String, stream: String) {
        let found = try await committer.read { root, _ in
            root.logs.groups[group].map { record in (group: record.storageId, stream: record.streams[stream]?.storageId) }
        }
        guard found != nil || createGroup else { throw LogsState.noGroup }
        if let found, let stream = found.stream { return (found.group, stream) }
        return try await committer.write { root, m throws(AWSError) in
            guard root.logs.groups[group] != nil || createGroup else { throw LogsState.noGroup }
            return try root.logs.ensureStream(group, stream, now: m.now, using: &m.random, changes: &m.changes)
        }
    }

    /// The longest message an event may hold (CloudWatch Logs' 1 MB less an event's overhead).
    static let longestMessage = LogEventRules.maximumBatchBytes - LogEventRules.eventOverhead

    /// A message cut to what one event may hold (CloudWatch Logs' 1 MB less an event's overhead).
    static func cut(_ message: String) -> String {
        message.utf8.count > longestMessage ? String(decoding: message.utf8.prefix(longestMessage), as: UTF8.self) : message
    }
}
