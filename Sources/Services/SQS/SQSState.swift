#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SQSShapes
import StevedoreCore

/// SQS's state: standard queues and their messages (functions' dead-letter queues and
/// destinations). Operations are pure functions over it, as ECS's are.
public struct SQSState: Sendable {
    public let names: ResourceNames
    /// Where queue URLs point: this control plane's endpoint.
    public var endpoint = "http://127.0.0.1:8340"
    public package(set) var queues: [String: QueueRecord] = [:]
    /// Messages by queue name and message id.
    public package(set) var messages: [String: [String: QueueMessageRecord]] = [:]
    public package(set) var counters = QueueCounters()
    /// Each queue's messages by when they become visible (derived; see ``VisibilityHeap``).
    var visibility: [String: VisibilityHeap] = [:]
    /// FIFO queues' recent sends by deduplication key, for five minutes (memory, and rebuilt from
    /// the messages still queued at a restart).
    var recentSends: [String: [String: (id: String, sequence: Int, at: Date)]] = [:]

    public init(names: ResourceNames) {
        self.names = names
    }

    public static let recordKinds: [RecordKind] = [.queues, .queueMessages, .meta]

    public static func restore(names: ResourceNames, rows: StoredRows) throws -> SQSState {
        var state = SQSState(names: names)
        for queue in try rows.decode(QueueRecord.self) {
            state.queues[queue.name] = queue
        }
        for message in try rows.decode(QueueMessageRecord.self) {
            state.messages[message.queue, default: [:]][message.id] = message
            state.indexVisibility(message)
            if let key = message.deduplicationId {
                state.rememberSend(queue: message.queue, key: key, id: message.id, sequence: message.sequence, at: message.sentAt)
            }
            state.counters.queueSequence = max(state.counters.queueSequence, message.sequence)
        }
        // SQS's own counters row, or the one it shared with ECS before each service kept its own.
        for counters in try rows.decode(QueueCounters.self) {
            state.counters.queueSequence = max(state.counters.queueSequence, counters.queueSequence)
        }
        return state
    }
}

/// The composed state SQS's operations run in.
public protocol SQSHost: Sendable {
    var sqs: SQSState { get set }
}

/// SQS's counter that must never go backwards: it orders messages.
public struct QueueCounters: StoredRecord, Equatable {
    public var queueSequence: Int = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case queueSequence
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        queueSequence = try container.decodeIfPresent(Int.self, forKey: .queueSequence) ?? 0
    }

    public static var recordKind: RecordKind { .meta }
    public var recordKey: String { "queue-counters" }
}

extension RecordKind {
    public static let queues = RecordKind("queues")
    public static let queueMessages = RecordKind("queue_messages")
}

extension ResourceNames {
    public func queue(_ name: String) -> String { arn("sqs", name) }
}
