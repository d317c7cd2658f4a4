import Foundation
import LogsShapes
import StevedoreCore

/// An event as the store keeps it: its time, when it arrived, its text, and its place in its
/// stream (events with the same time keep the order they arrived in).
public struct StoredLogEvent: Sendable, Equatable {
    public var timestamp: Int
    public var ingestionTime: Int
    public var message: String
    public var sequence: Int

    public init(timestamp: Int, ingestionTime: Int, message: String, sequence: Int) {
        self.timestamp = timestamp
        self.ingestionTime = ingestionTime
        self.message = message
        self.sequence = sequence
    }
}

/// Which of a stream's events a read wants.
public struct EventQuery: Sendable {
    /// `from <= timestamp < to`.
    public var from = Int.min
    public var to = Int.max
    /// Only events after (or, for a backward read, before) this `(timestamp, sequence)`.
    public var after: (timestamp: Int, sequence: Int)?
    public var before: (timestamp: Int, sequence: Int)?
    /// With a limit, the read may stop once it holds the `limit` earliest (`newest`: latest) events
    /// that match: no later block can hold one that comes before them.
    public var limit: Int?
    public var newest = false
    /// Whether an event's UTF-8 message is wanted.
    public var matching: (@Sendable (UnsafeRawBufferPointer) -> Bool)?

    public init() {}
}

/// Where events are kept: durably, by group and stream (their `storageId`s), each stream's events
/// findable by time without reading the others. The control plane's is files on disk.
public protocol LogEventStorage: Sendable {
    /// Appends a batch (in time order) and returns once it is durable.
    func append(group: String, stream: String, events: [(timestamp: Int, message: String)], ingestionTime: Int) async throws(AWSError)
    /// The stream's events the query asks for, in no promised order (with a limit, at least the
    /// `limit` first or last of them in order).
    func events(group: String, stream: String, _ query: EventQuery) -> [StoredLogEvent]
    func figures(group: String, stream: String) -> StreamFigures
    func storedBytes(group: String) -> Int
    func remove(group: String)
    func remove(group: String, stream: String)
}

/// CloudWatch Logs' rules for what PutLogEvents takes and how events are read back.
public enum LogEventRules {
    public static let maximumBatchEvents = 10_000
    public static let maximumBatchBytes = 1_048_576
    /// What each event costs of the batch's bytes besides its message.
    public static let eventOverhead = 26
    static let day = 86_400_000

    /// The batch's checks (an error refuses all of it), then which events are too old or too new
    /// to keep: events more than 14 days old (or older than the group's retention) and more than
    /// 2 hours ahead are left out, as their indexes in the answer say.
    public static func accept(_ events: [CWLInputLogEvent], retentionInDays: Int?, now: Int) throws(AWSError)
        -> (accepted: ArraySlice<CWLInputLogEvent>, rejected: CWLRejectedLogEventsInfo?)
    {
        guard !events.isEmpty else {
            throw .invalidParameter(
                "1 validation error detected: Value '[]' at 'logEvents' failed to satisfy constraint: Member must have length greater than or equal to 1")
        }
        guard events.count <= maximumBatchEvents else {
            throw .invalidParameter(
                "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length less than or equal to 10000")
        }
        var bytes = 0
        for (index, event) in events.enumerated() {
            guard !event.message.isEmpty else {
                throw .invalidParameter(
                    "1 validation error detected: Value '' at 'logEvents.\(index + 1).member.message' failed to satisfy constraint: Member must have length greater than or equal to 1")
            }
            bytes += event.message.utf8.count + eventOverhead
        }
        guard bytes <= maximumBatchBytes else { throw .invalidParameter("Upload too large: \(bytes) bytes exceeds limit of \(maximumBatchBytes)") }
        for index in events.indices.dropFirst() where events[index].timestamp < events[index - 1].timestamp {
            throw .invalidParameter("Log events in a single PutLogEvents request must be in chronological order.")
        }
        guard let first = events.first?.timestamp, let last = events.last?.timestamp,
            case let (span, overflow) = last.subtractingReportingOverflow(first), !overflow, span <= day
        else {
            throw .invalidParameter("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
        }
        let tooOld = now - 14 * day
        let expired = retentionInDays.map { now - $0 * day } ?? Int.min
        let tooNew = now + 2 * 3_600_000
        let start = events.firstIndex { $0.timestamp >= max(tooOld, expired) } ?? events.count
        let end = events.lastIndex { $0.timestamp <= tooNew }.map { $0 + 1 } ?? 0
        var rejected = CWLRejectedLogEventsInfo()
        if start > 0 {
            // Older than the retention: expired; older than 14 days (and within retention): too old.
            if let lastExpired = events.lastIndex(where: { $0.timestamp < expired }) { rejected.expiredLogEventEndIndex = lastExpired }
            if let lastOld = events.lastIndex(where: { $0.timestamp < tooOld && $0.timestamp >= expired }) { rejected.tooOldLogEventEndIndex = lastOld }
        }
        if end < events.count { rejected.tooNewLogEventStartIndex = end }
        let accepted = start < end ? events[start..<end] : []
        return (accepted, rejected == CWLRejectedLogEventsInfo() ? nil : rejected)
    }

    /// The oldest time a group's retention keeps (`Int.min` without retention).
    public static func retained(_ retentionInDays: Int?, now: Int) -> Int {
        retentionInDays.map { now - $0 * day } ?? Int.min
    }

    // MARK: GetLogEvents

    /// A position in a stream: after (`f/`) or before (`b/`) an event, by its time and sequence.
    struct StreamToken: Equatable {
        var forward: Bool
        var timestamp: Int
        var sequence: Int

        init(forward: Bool, timestamp: Int, sequence: Int) {
            self.forward = forward
            self.timestamp = timestamp
            self.sequence = sequence
        }

        init?(_ text: String) {
            let parts = text.split(separator: "/")
            guard parts.count == 3, parts[0] == "f" || parts[0] == "b", let timestamp = Int(parts[1]), let sequence = Int(parts[2]) else { return nil }
            self.init(forward: parts[0] == "f", timestamp: timestamp, sequence: sequence)
        }

        var text: String { "\(forward ? "f" : "b")/\(Self.padded(timestamp))/\(Self.padded(sequence))" }

        /// Fixed width, as CloudWatch Logs' tokens are (times before 1970 keep their sign).
        static func padded(_ value: Int) -> String {
            let digits = String(value.magnitude)
            return (value < 0 ? "-" : "") + String(repeating: "0", count: max(0, 19 - digits.count)) + digits
        }
    }

    /// GetLogEvents' page of a stream's events (`events` as the store gave them, within the times
    /// asked): the first or last `limit` (startFromHead), or those after/before a token; at most
    /// 1 MB of messages. Tokens name the page's ends; an empty page's forward token stays where it was.
    public static func page(
        _ events: [StoredLogEvent], startFromHead: Bool, nextToken: String?, limit: Int?
    ) throws(AWSError) -> CWLGetLogEventsResponse {
        let limit = try LogsState.limit(limit, maximum: 10_000)
        var sorted = events.sorted { ($0.timestamp, $0.sequence) < ($1.timestamp, $1.sequence) }
        var forward = startFromHead
        var token: StreamToken?
        if let nextToken {
            guard let parsed = StreamToken(nextToken) else { throw LogsState.badToken }
            token = parsed
            forward = parsed.forward
            let key = (parsed.timestamp, parsed.sequence)
            sorted = parsed.forward ? sorted.filter { ($0.timestamp, $0.sequence) > key } : sorted.filter { ($0.timestamp, $0.sequence) < key }
        }
        var page = forward ? Array(sorted.prefix(limit)) : Array(sorted.suffix(limit))
        // At most 1 MB of messages: the page is cut from its far end.
        var bytes = 0
        if forward {
            if let cut = page.firstIndex(where: { bytes += $0.message.utf8.count + eventOverhead; return bytes > maximumBatchBytes }) {
                page = Array(page[..<cut])
            }
        } else if let cut = page.lastIndex(where: { bytes += $0.message.utf8.count + eventOverhead; return bytes > maximumBatchBytes }) {
            page = Array(page[(cut + 1)...])
        }
        let empty = StreamToken(forward: true, timestamp: token?.timestamp ?? 0, sequence: token?.sequence ?? 0)
        let forwardToken = page.last.map { StreamToken(forward: true, timestamp: $0.timestamp, sequence: $0.sequence) } ?? empty
        let backwardToken = page.first.map { StreamToken(forward: false, timestamp: $0.timestamp, sequence: $0.sequence) }
            ?? StreamToken(forward: false, timestamp: empty.timestamp, sequence: empty.sequence)
        return CWLGetLogEventsResponse(
            events: page.map { CWLOutputLogEvent(timestamp: $0.timestamp, message: $0.message, ingestionTime: $0.ingestionTime) },
            nextForwardToken: forwardToken.text, nextBackwardToken: backwardToken.text)
    }

    // MARK: FilterLogEvents

    /// An event of a group, with its stream's name.
    public struct GroupEvent: Sendable {
        public var stream: String
        public var event: StoredLogEvent

        public init(stream: String, event: StoredLogEvent) {
            self.stream = stream
            self.event = event
        }

        /// Stable across calls: `aws logs tail` tells events apart by it.
        var eventId: String { "\(event.timestamp)-\(event.sequence)-\(stream)" }
        var key: (Int, String, Int) { (event.timestamp, stream, event.sequence) }
    }

    /// FilterLogEvents' position: after an event, by its time, stream and sequence.
    public struct FilterToken: Equatable {
        var timestamp: Int
        var stream: String
        var sequence: Int

        init(timestamp: Int, stream: String, sequence: Int) {
            self.timestamp = timestamp
            self.stream = stream
            self.sequence = sequence
        }

        /// nil without a token; a token that is not one of ours is refused.
        init?(_ token: String?) throws(AWSError) {
            guard let token else { return nil }
            guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8) else { throw LogsState.badToken }
            let parts = text.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
            guard parts.count == 4, parts[0] == "e", let timestamp = Int(parts[1]), let sequence = Int(parts[2]) else { throw LogsState.badToken }
            self.init(timestamp: timestamp, stream: String(parts[3]), sequence: sequence)
        }

        var text: String { Data("e/\(timestamp)/\(sequence)/\(stream)".utf8).base64EncodedString() }

        /// Where a stream's events come after the token: events are ordered by time, then stream
        /// name, then sequence, so at the token's time a stream named before its stream has nothing left.
        public func position(in stream: String) -> (timestamp: Int, sequence: Int) {
            if stream == self.stream { return (timestamp, sequence) }
            return (timestamp, stream < self.stream ? Int.max : -1)
        }
    }

    /// FilterLogEvents' page: the matching events in time order across streams, after the
    /// token's event; up to `limit` (10,000) events and 1 MB.
    public static func filter(_ events: [GroupEvent], pattern: FilterPattern, nextToken: String?, limit: Int?) throws(AWSError)
        -> CWLFilterLogEventsResponse
    {
        let limit = try LogsState.limit(limit, maximum: 10_000)
        let after = try FilterToken(nextToken).map { ($0.timestamp, $0.stream, $0.sequence) }
        // Matched first, then sorted: a rare pattern sorts few events.
        var candidates = events.filter { candidate in (after.map { candidate.key > $0 } ?? true) && pattern.matches(candidate.event.message) }
        candidates.sort { $0.key < $1.key }
        var page: [GroupEvent] = []
        var bytes = 0
        var more = false
        for candidate in candidates {
            bytes += candidate.event.message.utf8.count + eventOverhead
            if page.count == limit || bytes > maximumBatchBytes {
                more = true
                break
            }
            page.append(candidate)
        }
        let token = more ? page.last.map { FilterToken(timestamp: $0.event.timestamp, stream: $0.stream, sequence: $0.event.sequence).text } : nil
        return CWLFilterLogEventsResponse(
            events: page.map {
                CWLFilteredLogEvent(
                    logStreamName: $0.stream, timestamp: $0.event.timestamp, message: $0.event.message, ingestionTime: $0.event.ingestionTime,
                    eventId: $0.eventId)
            }, searchedLogStreams: nil, nextToken: token)
    }
}
