#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Archives
import SQSShapes
import StevedoreCore

/// A queue's messages in the order they become visible (then by send order), so a receive takes
/// the first few instead of sorting the whole queue. Entries go stale when a message is deleted or
/// its visibility changes (a new entry is pushed); stale ones are skipped as they surface.
struct VisibilityHeap: Sendable {
    struct Entry: Sendable {
        var visibleAt: Date
        var sequence: Int
        var id: String

        static func < (lhs: Entry, rhs: Entry) -> Bool {
            lhs.visibleAt != rhs.visibleAt ? lhs.visibleAt < rhs.visibleAt : lhs.sequence < rhs.sequence
        }
    }

    private(set) var entries: [Entry] = []

    var first: Entry? { entries.first }
    var count: Int { entries.count }

    init(_ entries: [Entry] = []) {
        self.entries = []
        for entry in entries { push(entry) }
    }

    mutating func push(_ entry: Entry) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child] < entries[parent] else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    mutating func popFirst() -> Entry? {
        guard !entries.isEmpty else { return nil }
        entries.swapAt(0, entries.count - 1)
        let top = entries.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count, entries[left] < entries[smallest] { smallest = left }
            if right < entries.count, entries[right] < entries[smallest] { smallest = right }
            guard smallest != parent else { break }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}

/// A queue's `RedrivePolicy`: where a message goes once it was received `maxReceiveCount` times.
public struct RedrivePolicy: Sendable, Equatable {
    public var deadLetterTargetArn: String
    public var maxReceiveCount: Int

    /// Parses the attribute's JSON (`maxReceiveCount` as a number or a string, as SQS takes it).
    init(json text: String) throws(AWSError) {
        func invalid(_ reason: String) -> AWSError {
            .sqsInvalidParameter("Value \(text) for parameter RedrivePolicy is invalid. Reason: \(reason)")
        }
        guard case .object(let fields)? = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
            throw invalid("Redrive policy is not a valid JSON map.")
        }
        guard case .string(let target)? = fields["deadLetterTargetArn"] else {
            throw invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
        }
        let count: Int?
        switch fields["maxReceiveCount"] {
        case .number(let value)?: count = value == value.rounded() ? Int(exactly: value) : nil
        case .string(let value)?: count = Int(value)
        case nil: throw invalid("Redrive policy does not contain mandatory attribute: maxReceiveCount.")
        default: count = nil
        }
        guard let count, (1...1000).contains(count) else {
            throw invalid("Invalid value for maxReceiveCount: \(fields["maxReceiveCount"].map { "\($0)" } ?? ""), valid values are from 1 to 1000 both inclusive.")
        }
        deadLetterTargetArn = target
        maxReceiveCount = count
    }
}

extension SQSState {
    /// The queue's redrive policy, when it has one that still parses.
    func redrivePolicy(_ queue: QueueRecord) -> RedrivePolicy? {
        queue.attributes["RedrivePolicy"].flatMap { try? RedrivePolicy(json: $0) }
    }

    /// Checks a `RedrivePolicy` value: JSON as SQS reads it, and a dead-letter queue that exists.
    func validateRedrivePolicy(_ text: String, queue name: String) throws(AWSError) {
        let policy = try RedrivePolicy(json: text)
        let target = policy.deadLetterTargetArn.split(separator: ":").last.map(String.init) ?? ""
        guard let dlq = queues[target], policy.deadLetterTargetArn == names.queue(target), target != name else {
            throw AWSError.sqsInvalidParameter("Value \(text) for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.")
        }
        guard dlq.isFIFO == name.hasSuffix(".fifo") else {
            throw AWSError.sqsInvalidParameter(
                "Value \(text) for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source..")
        }
    }

    mutating func indexVisibility(_ message: QueueMessageRecord) {
        visibility[message.queue, default: VisibilityHeap()].push(
            VisibilityHeap.Entry(visibleAt: message.visibleAt, sequence: message.sequence, id: message.id))
    }

    mutating func rememberSend(queue: String, key: String, id: String, sequence: Int, at date: Date) {
        var sends = recentSends[queue] ?? [:]
        // Forget what is past the window now and then (bounded by five minutes of sends).
        if sends.count > 1024, sends.count.isMultiple(of: 256) {
            sends = sends.filter { date.timeIntervalSince($0.value.at) < Self.deduplicationWindow }
        }
        sends[key] = (id, sequence, date)
        recentSends[queue] = sends
    }

    /// A FIFO queue's receive: messages in send order, a group's only while none of its messages
    /// is in flight (received and not yet deleted or visible again), so each group is handled in
    /// order, one batch at a time.
    mutating func takeFIFO(
        _ queue: QueueRecord, limit: Int, visibility seconds: Int, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) -> [QueueMessageRecord] {
        // The index only tells a FIFO queue's long polls when a message becomes visible: what is
        // visible now is in the scan below.
        while let entry = visibility[queue.name]?.first, entry.visibleAt <= now { visibility[queue.name]?.popFirst() }
        let retention = TimeInterval(queue.integer("MessageRetentionPeriod", default: 345_600))
        let deadLetters = redrivePolicy(queue).flatMap { policy in
            policy.deadLetterTargetArn.split(separator: ":").last.map(String.init).flatMap { queues[$0] != nil ? ($0, policy.maxReceiveCount) : nil }
        }
        var blocked: Set<String> = []
        var taken: [QueueMessageRecord] = []
        for var message in (messages[queue.name] ?? [:]).values.sorted(by: { $0.sequence < $1.sequence }) where taken.count < limit {
            let group = message.groupId ?? ""
            if blocked.contains(group) { continue }
            if now.timeIntervalSince(message.sentAt) > retention {
                messages[queue.name]?[message.id] = nil
                changes.delete(QueueMessageRecord.self, key: message.id)
                continue
            }
            guard message.visibleAt <= now else {
                blocked.insert(group)
                continue
            }
            if let (target, maximum) = deadLetters, message.receiveCount >= maximum {
                moveToDeadLetters(message, from: queue.name, to: target, now: now, changes: &changes)
                continue
            }
            message.receiveCount += 1
            message.firstReceivedAt = message.firstReceivedAt ?? now
            message.visibleAt = now.addingTimeInterval(TimeInterval(seconds))
            message.receiptHandle = "\(message.id)#\(Identifiers.hex32(using: &generator))"
            messages[queue.name]?[message.id] = message
            changes.put(message)
            taken.append(message)
        }
        for message in taken { indexVisibility(message) }
        return taken
    }

    /// Moves a message to its queue's dead-letter queue: the same id and body, received never,
    /// visible at once, last in its new queue's order.
    mutating func moveToDeadLetters(_ message: QueueMessageRecord, from queue: String, to target: String, now: Date, changes: inout ChangeSet) {
        var moved = message
        messages[queue]?[message.id] = nil
        moved.queue = target
        moved.receiveCount = 0
        moved.firstReceivedAt = nil
        moved.receiptHandle = nil
        moved.visibleAt = now
        counters.queueSequence += 1
        changes.put(counters)
        moved.sequence = counters.queueSequence
        messages[target, default: [:]][moved.id] = moved
        indexVisibility(moved)
        changes.put(moved)
        changes.touch(Self.arrivals(target))
    }

    /// Takes up to `limit` visible messages of the queue, oldest first, making each invisible for
    /// `visibility` seconds with a new receipt handle. Messages past the retention period are
    /// dropped; one already received `maxReceiveCount` times moves to the dead-letter queue
    /// (same id and body) instead of being received again.
    public mutating func takeVisible(
        _ name: String, limit: Int, visibility seconds: Int, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) -> [QueueMessageRecord] {
        guard let queue = queues[name] else { return [] }
        if queue.isFIFO { return takeFIFO(queue, limit: limit, visibility: seconds, now: now, using: &generator, changes: &changes) }
        let retention = TimeInterval(queue.integer("MessageRetentionPeriod", default: 345_600))
        let redrive = redrivePolicy(queue)
        let deadLetters = redrive.flatMap { policy in policy.deadLetterTargetArn.split(separator: ":").last.map(String.init) }
            .flatMap { queues[$0] != nil ? $0 : nil }
        var taken: [QueueMessageRecord] = []
        while taken.count < limit, let entry = visibility[name]?.first, entry.visibleAt <= now {
            visibility[name]?.popFirst()
            // A stale entry: the message went, or its visibility changed since.
            guard var message = messages[name]?[entry.id], message.visibleAt == entry.visibleAt else { continue }
            if now.timeIntervalSince(message.sentAt) > retention {
                messages[name]?[message.id] = nil
                changes.delete(QueueMessageRecord.self, key: message.id)
                continue
            }
            if let redrive, let deadLetters, message.receiveCount >= redrive.maxReceiveCount {
                moveToDeadLetters(message, from: name, to: deadLetters, now: now, changes: &changes)
                continue
            }
            message.receiveCount += 1
            message.firstReceivedAt = message.firstReceivedAt ?? now
            message.visibleAt = now.addingTimeInterval(TimeInterval(seconds))
            message.receiptHandle = "\(message.id)#\(Identifiers.hex32(using: &generator))"
            messages[name]?[message.id] = message
            changes.put(message)
            taken.append(message)
        }
        // Indexed again only now: with a visibility timeout of 0, a message would otherwise be
        // visible again within this very receive.
        for message in taken { indexVisibility(message) }
        compactVisibility(name)
        return taken
    }

    /// The heap holds an entry per change of visibility until it surfaces; when stale entries
    /// outnumber the live messages, it is rebuilt from them (amortized O(1) a change).
    mutating func compactVisibility(_ name: String) {
        guard let heap = visibility[name] else { return }
        let live = messages[name]?.count ?? 0
        guard heap.count > 2 * live + 64 else { return }
        visibility[name] = VisibilityHeap(
            (messages[name] ?? [:]).values.map { VisibilityHeap.Entry(visibleAt: $0.visibleAt, sequence: $0.sequence, id: $0.id) })
    }

    /// When the queue's next message becomes visible (nil: it has none).
    public func nextVisibility(_ name: String) -> Date? {
        visibility[name]?.first?.visibleAt
    }

    /// Deletes messages of a queue by id (a poller's processed batch).
    public mutating func deleteMessages(_ name: String, ids: some Sequence<String>, changes: inout ChangeSet) {
        for id in ids where messages[name]?.removeValue(forKey: id) != nil {
            changes.delete(QueueMessageRecord.self, key: id)
        }
        // A FIFO queue's group may take its next message now.
        if queues[name]?.isFIFO == true { changes.touch(Self.arrivals(name)) }
        compactVisibility(name)
    }

    /// Messages a receive could take now (ApproximateNumberOfMessages, a poller's backlog).
    public func visibleCount(_ name: String, now: Date) -> Int {
        (messages[name] ?? [:]).values.lazy.filter { $0.visibleAt <= now }.count
    }

    public mutating func sendMessageBatch(
        _ request: SQSSendMessageBatchRequest, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) throws(AWSError) -> SQSSendMessageBatchResult {
        _ = try queue(forUrl: request.QueueUrl)
        try Self.validateBatch(request.Entries.map(\.Id))
        let total = request.Entries.reduce(0) { $0 + $1.MessageBody.utf8.count }
        guard total <= 1_048_576 else {
            throw AWSError.sqs(
                "BatchRequestTooLong", code: "AWS.SimpleQueueService.BatchRequestTooLong",
                "Batch requests cannot be longer than 1048576 bytes. You have sent \(total) bytes.")
        }
        var result = SQSSendMessageBatchResult(Successful: [], Failed: [])
        for entry in request.Entries {
            do throws(AWSError) {
                let sent = try sendMessage(
                    SQSSendMessageRequest(
                        QueueUrl: request.QueueUrl, MessageBody: entry.MessageBody, DelaySeconds: entry.DelaySeconds,
                        MessageAttributes: entry.MessageAttributes, MessageDeduplicationId: entry.MessageDeduplicationId,
                        MessageGroupId: entry.MessageGroupId),
                    now: now, using: &generator, changes: &changes)
                result.Successful.append(
                    SQSSendMessageBatchResultEntry(
                        Id: entry.Id, MessageId: sent.MessageId ?? "", MD5OfMessageBody: sent.MD5OfMessageBody ?? "",
                        MD5OfMessageAttributes: sent.MD5OfMessageAttributes, SequenceNumber: sent.SequenceNumber))
            } catch {
                result.Failed.append(SQSBatchResultErrorEntry(Id: entry.Id, SenderFault: true, Code: Self.queryCode(error), Message: error.message))
            }
        }
        return result
    }

    public mutating func deleteMessageBatch(_ request: SQSDeleteMessageBatchRequest, changes: inout ChangeSet) throws(AWSError) -> SQSDeleteMessageBatchResult {
        _ = try queue(forUrl: request.QueueUrl)
        try Self.validateBatch(request.Entries.map(\.Id), entry: "DeleteMessageBatchRequestEntry")
        var result = SQSDeleteMessageBatchResult(Successful: [], Failed: [])
        for entry in request.Entries {
            do throws(AWSError) {
                try deleteMessage(SQSDeleteMessageRequest(QueueUrl: request.QueueUrl, ReceiptHandle: entry.ReceiptHandle), changes: &changes)
                result.Successful.append(SQSDeleteMessageBatchResultEntry(Id: entry.Id))
            } catch {
                result.Failed.append(SQSBatchResultErrorEntry(Id: entry.Id, SenderFault: true, Code: Self.queryCode(error), Message: error.message))
            }
        }
        return result
    }

    /// 1-10 entries with distinct ids of letters, digits, `-` and `_` (up to 80).
    static func validateBatch(_ ids: [String], entry: String = "SendMessageBatchRequestEntry") throws(AWSError) {
        guard !ids.isEmpty else {
            throw AWSError.sqs("EmptyBatchRequest", code: "AWS.SimpleQueueService.EmptyBatchRequest", "There should be at least one \(entry) in the request.")
        }
        guard ids.count <= 10 else {
            throw AWSError.sqs(
                "TooManyEntriesInBatchRequest", code: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                "Maximum number of entries per request are 10. You have sent \(ids.count).")
        }
        guard Set(ids).count == ids.count else {
            throw AWSError.sqs("BatchEntryIdsNotDistinct", code: "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id \(ids.first { id in ids.filter { $0 == id }.count > 1 } ?? "") repeated.")
        }
        for id in ids where !(1...80).contains(id.count) || !id.utf8.allSatisfy(NameRules.isNameByte) {
            throw AWSError.sqs(
                "InvalidBatchEntryId", code: "AWS.SimpleQueueService.InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
        }
    }

    /// The query-protocol code of an SQS error (its `x-amzn-query-error` header), for batch entries.
    static func queryCode(_ error: AWSError) -> String {
        error.headers["x-amzn-query-error"].map { String($0.split(separator: ";").first ?? "") } ?? error.type
    }
}
