import Foundation
import Logging
import Logs
import ServiceLifecycle
import StevedoreCore

/// Logs the control plane writes itself (functions' output), into CloudWatch Logs: one entry at
/// a time, in the order they came, each to its group and stream, made when missing. Producers
/// never wait: past `capacity` entries waiting, new ones are dropped (and counted in the log).
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
    private let entries: AsyncStream<Entry>
    private let continuation: AsyncStream<Entry>.Continuation

    init(committer: Committer<ControlPlaneState>, files: LogEventFiles, capacity: Int = 10_000, logger: Logger) {
        self.committer = committer
        self.files = files
        self.logger = logger
        (entries, continuation) = AsyncStream.makeStream(of: Entry.self, bufferingPolicy: .bufferingOldest(capacity))
    }

    func submit(group: String, stream: String, messages: [String], time: Date) {
        guard !messages.isEmpty else { return }
        if case .dropped = continuation.yield(Entry(group: group, stream: stream, messages: messages, time: epochMilliseconds(time))) {
            logger.warning("log entry dropped: the CloudWatch Logs ingest is behind", metadata: ["log.group": "\(group)"])
        }
    }

    /// Until a graceful shutdown; what was submitted before it is written first.
    func run() async throws {
        await withGracefulShutdownHandler {
            for await entry in entries { await write(entry) }
        } onGracefulShutdown: {
            self.continuation.finish()
        }
    }

    func write(_ entry: Entry) async {
        do {
            // The group and stream as they are now; made (again, if deleted since) when missing.
            let found = try await committer.read { root, _ in
                root.logs.groups[entry.group].flatMap { group in group.streams[entry.stream].map { (group: group.storageId, stream: $0.storageId) } }
            }
            let ids: (group: String, stream: String)
            if let found {
                ids = found
            } else {
                ids = try await committer.write { root, m throws(AWSError) in
                    try root.logs.ensureStream(entry.group, entry.stream, now: m.now, using: &m.random, changes: &m.changes)
                }
            }
            for batch in Self.batches(entry.messages) {
                try files.append(group: ids.group, stream: ids.stream, events: batch.map { (entry.time, $0) }, ingestionTime: entry.time)
            }
        } catch {
            logger.warning("log entry not stored", metadata: ["log.group": "\(entry.group)", "error": "\(error)"])
        }
    }

    /// An agent's batch of an `awslogs` container's events, stored before this returns. The group
    /// is made only when the container's options say so (`createGroup`); the stream always.
    func put(group: String, stream: String, createGroup: Bool, events: [(timestamp: Int, message: String)]) async throws(AWSError) {
        let found = try await committer.read { root, _ in
            root.logs.groups[group].map { record in (group: record.storageId, stream: record.streams[stream]?.storageId) }
        }
        guard found != nil || createGroup else { throw LogsState.noGroup }
        var ids = (group: found?.group ?? "", stream: found?.stream ?? "")
        if found?.stream == nil {
            ids = try await committer.write { root, m throws(AWSError) in
                guard root.logs.groups[group] != nil || createGroup else { throw LogsState.noGroup }
                return try root.logs.ensureStream(group, stream, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        // In time order (stdout and stderr lines may cross), a batch per PutLogEvents' limits.
        let sorted = events.enumerated().sorted { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }.map(\.element)
        var start = 0
        for batch in Self.batches(sorted.map(\.message)) {
            let slice = sorted[start..<start + batch.count]
            start += batch.count
            try files.append(group: ids.group, stream: ids.stream, events: zip(slice, batch).map { ($0.timestamp, $1) }, ingestionTime: epochMilliseconds(committer.now()))
        }
    }

    /// Messages in PutLogEvents-sized batches (each message cut to what one event may hold).
    static func batches(_ messages: [String]) -> [[String]] {
        var batches: [[String]] = []
        var current: [String] = []
        var bytes = 0
        let limit = LogEventRules.maximumBatchBytes - LogEventRules.eventOverhead
        for message in messages {
            let text = message.utf8.count > limit ? String(decoding: message.utf8.prefix(limit), as: UTF8.self) : message
            let cost = text.utf8.count + LogEventRules.eventOverhead
            if current.count == LogEventRules.maximumBatchEvents || bytes + cost > LogEventRules.maximumBatchBytes {
                batches.append(current)
                current = []
                bytes = 0
            }
            current.append(text)
            bytes += cost
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }
}
