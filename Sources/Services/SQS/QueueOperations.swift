#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Archives
import SQSShapes
import StevedoreCore

/// A standard SQS queue of this control plane (dead-letter queues and destinations of functions).
public struct QueueRecord: StoredRecord, Equatable {
    public var name: String
    public var attributes: [String: String]
    public var tags: [String: String]
    public var createdAt: Date
    public var modifiedAt: Date

    public static var recordKind: RecordKind { .queues }
    public var recordKey: String { name }

    func integer(_ key: String, default value: Int) -> Int { attributes[key].flatMap(Int.init) ?? value }

    /// A FIFO queue: messages in order per message group, sends deduplicated for five minutes.
    public var isFIFO: Bool { attributes["FifoQueue"] == "true" }
}

/// One message, stored on its own so a send is one small row.
public struct QueueMessageRecord: StoredRecord, Equatable {
    public var id: String
    public var queue: String
    /// Orders messages within the queue (first in, first out as far as visibility allows).
    public var sequence: Int
    public var body: String
    public var attributes: [String: SQSMessageAttributeValue]?
    public var sentAt: Date
    public var visibleAt: Date
    public var receiveCount = 0
    public var firstReceivedAt: Date?
    public var receiptHandle: String?
    /// A FIFO queue's message group and deduplication id.
    public var groupId: String?
    public var deduplicationId: String?

    public static var recordKind: RecordKind { .queueMessages }
    public var recordKey: String { id }
}

/// SQS's error shapes over the JSON protocol: `__type` plus the query-compatible code header
/// boto3 and the CLI map to their exception classes.
extension AWSError {
    static func sqs(_ type: String, code: String, _ message: String, status: Int = 400) -> AWSError {
        AWSError(
            type: "com.amazonaws.sqs#\(type)", message: message, httpStatus: status,
            headers: ["x-amzn-query-error": "\(code);Sender"])
    }

    public static func queueDoesNotExist(_ reference: String) -> AWSError {
        sqs("QueueDoesNotExist", code: "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist: \(reference).")
    }

    static func sqsInvalidParameter(_ message: String) -> AWSError {
        sqs("InvalidParameterValue", code: "InvalidParameterValue", message)
    }

    static func sqsInvalidAttributeName(_ message: String) -> AWSError {
        sqs("InvalidAttributeName", code: "InvalidAttributeName", message)
    }
}

extension SQSState {
    static let queueAttributeDefaults: [String: String] = [
        "VisibilityTimeout": "30", "MaximumMessageSize": "262144", "MessageRetentionPeriod": "345600", "DelaySeconds": "0",
        "ReceiveMessageWaitTimeSeconds": "0",
    ]
    static let queueAttributeRanges: [String: ClosedRange<Int>] = [
        "VisibilityTimeout": 0...43200, "MaximumMessageSize": 1024...1_048_576, "MessageRetentionPeriod": 60...1_209_600,
        "DelaySeconds": 0...900, "ReceiveMessageWaitTimeSeconds": 0...20,
    ]
    static let settableQueueAttributes: Set<String> = Set(queueAttributeRanges.keys).union([
        "Policy", "RedrivePolicy", "KmsMasterKeyId", "SqsManagedSseEnabled", "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope",
        "FifoThroughputLimit",
    ])
    /// How long a FIFO queue remembers a deduplication id.
    static let deduplicationWindow: TimeInterval = 300

    public func queueUrl(_ name: String) -> String { "\(endpoint)/\(names.accountId)/\(name)" }

    /// The queue a `QueueUrl` (or bare name) refers to.
    public func queue(forUrl url: String) throws(AWSError) -> QueueRecord {
        let name = url.split(separator: "/").last.map(String.init) ?? url
        guard let queue = queues[name] else { throw AWSError.queueDoesNotExist(url) }
        return queue
    }

    public mutating func createQueue(_ request: SQSCreateQueueRequest, now: Date, changes: inout ChangeSet) throws(AWSError) -> SQSCreateQueueResult {
        let name = request.QueueName
        let fifo = request.Attributes?["FifoQueue"] == "true"
        let base = fifo && name.hasSuffix(".fifo") ? String(name.dropLast(5)) : name
        guard (1...80).contains(name.count), base.utf8.allSatisfy(NameRules.isNameByte), fifo == name.hasSuffix(".fifo") else {
            throw AWSError.sqsInvalidParameter(
                fifo || name.hasSuffix(".fifo")
                    ? "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length."
                    : "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length (QueueName '\(name)').")
        }
        if !fifo, let key = ["ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"].first(where: { request.Attributes?[$0] != nil }) {
            throw AWSError.sqsInvalidAttributeName("Unknown Attribute \(key).")
        }
        let attributes = try validatedQueueAttributes(request.Attributes ?? [:], queue: name)
        if let existing = queues[name] {
            for (key, value) in attributes where existing.attributes[key] != value {
                throw AWSError.sqs(
                    "QueueNameExists", code: "QueueAlreadyExists",
                    "A queue already exists with the same name and a different value for attribute \(key)")
            }
            return SQSCreateQueueResult(QueueUrl: queueUrl(name))
        }
        let record = QueueRecord(
            name: name, attributes: Self.queueAttributeDefaults.merging(attributes) { _, new in new }, tags: request.tags ?? [:],
            createdAt: now, modifiedAt: now)
        queues[name] = record
        changes.put(record)
        return SQSCreateQueueResult(QueueUrl: queueUrl(name))
    }

    public func getQueueUrl(_ request: SQSGetQueueUrlRequest) throws(AWSError) -> SQSGetQueueUrlResult {
        guard queues[request.QueueName] != nil else { throw AWSError.queueDoesNotExist(request.QueueName) }
        return SQSGetQueueUrlResult(QueueUrl: queueUrl(request.QueueName))
    }

    public func listQueues(_ request: SQSListQueuesRequest) throws(AWSError) -> SQSListQueuesResult {
        let names = queues.keys.sorted().filter { $0.hasPrefix(request.QueueNamePrefix ?? "") }
        let limit = request.MaxResults ?? 1000
        guard (1...1000).contains(limit) else { throw AWSError.sqsInvalidParameter("MaxResults must be between 1 and 1000.") }
        let start = request.NextToken.flatMap(Int.init) ?? 0
        guard start <= names.count else { throw AWSError.sqsInvalidParameter("Invalid NextToken.") }
        let end = min(names.count, start + limit)
        let next = request.MaxResults != nil && end < names.count ? String(end) : nil
        return SQSListQueuesResult(QueueUrls: names[start..<end].map(queueUrl), NextToken: next)
    }

    public mutating func deleteQueue(_ url: String, changes: inout ChangeSet) throws(AWSError) {
        let queue = try queue(forUrl: url)
        purge(queue.name, changes: &changes)
        queues[queue.name] = nil
        changes.delete(QueueRecord.self, key: queue.name)
    }

    public mutating func purgeQueue(_ url: String, changes: inout ChangeSet) throws(AWSError) {
        purge(try queue(forUrl: url).name, changes: &changes)
    }

    public func queueAttributes(_ request: SQSGetQueueAttributesRequest, now: Date) throws(AWSError) -> SQSGetQueueAttributesResult {
        let queue = try queue(forUrl: request.QueueUrl)
        let wanted = Set((request.AttributeNames ?? []).map(\.rawValue))
        let queued = self.messages[queue.name]?.values ?? [:].values
        var all = queue.attributes
        all["QueueArn"] = names.queue(queue.name)
        all["CreatedTimestamp"] = String(Int(queue.createdAt.timeIntervalSince1970))
        all["LastModifiedTimestamp"] = String(Int(queue.modifiedAt.timeIntervalSince1970))
        all["ApproximateNumberOfMessages"] = String(queued.filter { $0.visibleAt <= now }.count)
        all["ApproximateNumberOfMessagesNotVisible"] = String(queued.filter { $0.visibleAt > now && $0.receiveCount > 0 }.count)
        all["ApproximateNumberOfMessagesDelayed"] = String(queued.filter { $0.visibleAt > now && $0.receiveCount == 0 }.count)
        all["SqsManagedSseEnabled"] = all["SqsManagedSseEnabled"] ?? "false"
        let result = wanted.contains("All") ? all : all.filter { wanted.contains($0.key) }
        return SQSGetQueueAttributesResult(Attributes: result.isEmpty ? nil : result)
    }

    public mutating func setQueueAttributes(_ request: SQSSetQueueAttributesRequest, now: Date, changes: inout ChangeSet) throws(AWSError) {
        var queue = try queue(forUrl: request.QueueUrl)
        queue.attributes.merge(try validatedQueueAttributes(request.Attributes, queue: queue.name)) { _, new in new }
        // An empty RedrivePolicy takes the policy off.
        if request.Attributes["RedrivePolicy"] == "" { queue.attributes["RedrivePolicy"] = nil }
        queue.modifiedAt = now
        queues[queue.name] = queue
        changes.put(queue)
    }

    public mutating func sendMessage(
        _ request: SQSSendMessageRequest,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> SQSSendMessageResult {
        let queue = try queue(forUrl: request.QueueUrl)
        let body = request.MessageBody
        guard !body.isEmpty else { throw AWSError.sqs("MissingParameter", code: "MissingParameter", "The request must contain the parameter MessageBody.") }
        guard body.unicodeScalars.allSatisfy(Self.isAllowedInMessage) else {
            throw AWSError.sqs("InvalidMessageContents", code: "InvalidMessageContents", "Invalid characters found in the message body.")
        }
        let attributes = request.MessageAttributes ?? [:]
        try Self.validateMessageAttributes(attributes)
        let size = body.utf8.count + attributes.reduce(0) { $0 + $1.key.utf8.count + $1.value.DataType.utf8.count + ($1.value.StringValue?.utf8.count ?? 0) + ($1.value.BinaryValue?.count ?? 0) }
        let maximum = queue.integer("MaximumMessageSize", default: 262_144)
        guard size <= maximum else {
            throw AWSError.sqsInvalidParameter("One or more parameters are invalid. Reason: Message must be shorter than \(maximum) bytes.")
        }
        let delay = request.DelaySeconds ?? queue.integer("DelaySeconds", default: 0)
        guard (0...900).contains(delay) else { throw AWSError.sqsInvalidParameter("Value \(delay) for parameter DelaySeconds is invalid. Reason: must be between 0 and 900.") }
        var deduplicationKey: String?
        if queue.isFIFO {
            guard let group = request.MessageGroupId, !group.isEmpty else {
                throw AWSError.sqs("MissingParameter", code: "MissingParameter", "The request must contain the parameter MessageGroupId.")
            }
            if let seconds = request.DelaySeconds, seconds != 0 {
                throw AWSError.sqsInvalidParameter(
                    "Value \(seconds) for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.")
            }
            guard let deduplication = request.MessageDeduplicationId
                ?? (queue.attributes["ContentBasedDeduplication"] == "true" ? Digest.hex(Digest.sha256(Array(body.utf8))) : nil)
            else {
                throw AWSError.sqsInvalidParameter(
                    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
            }
            // Within five minutes, the same deduplication id is the message already sent.
            let key = queue.attributes["DeduplicationScope"] == "messageGroup" ? group + "\u{0}" + deduplication : deduplication
            if let sent = recentSends[queue.name]?[key], now.timeIntervalSince(sent.at) < Self.deduplicationWindow {
                return SQSSendMessageResult(
                    MD5OfMessageBody: Digest.hex(Digest.md5(Array(body.utf8))),
                    MD5OfMessageAttributes: attributes.isEmpty ? nil : Self.md5OfMessageAttributes(attributes), MessageId: sent.id,
                    SequenceNumber: String(sent.sequence))
            }
            deduplicationKey = key
        } else if request.MessageDeduplicationId != nil {
            throw AWSError.sqsInvalidParameter(
                "Value \(request.MessageDeduplicationId ?? "") for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter that is not valid for this queue type.")
        }
        let id = Identifiers.uuid(using: &generator)
        counters.queueSequence += 1
        changes.put(counters)
        var message = QueueMessageRecord(
            id: id, queue: queue.name, sequence: counters.queueSequence, body: body, attributes: attributes.isEmpty ? nil : attributes,
            sentAt: now, visibleAt: now.addingTimeInterval(TimeInterval(queue.isFIFO ? queue.integer("DelaySeconds", default: 0) : delay)))
        if let deduplicationKey {
            message.groupId = request.MessageGroupId
            message.deduplicationId = deduplicationKey
            rememberSend(queue: queue.name, key: deduplicationKey, id: id, sequence: message.sequence, at: now)
        }
        messages[queue.name, default: [:]][id] = message
        indexVisibility(message)
        changes.put(message)
        changes.touch(Self.arrivals(queue.name))
        return SQSSendMessageResult(
            MD5OfMessageBody: Digest.hex(Digest.md5(Array(body.utf8))),
            MD5OfMessageAttributes: attributes.isEmpty ? nil : Self.md5OfMessageAttributes(attributes),
            MessageId: id, SequenceNumber: queue.isFIFO ? String(message.sequence) : nil)
    }

    /// Visible messages, oldest first; each becomes invisible for the visibility timeout.
    public mutating func receiveMessages(
        _ request: SQSReceiveRequest,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> SQSReceiveMessageResult {
        let queue = try queue(forUrl: request.QueueUrl)
        let limit = request.MaxNumberOfMessages ?? 1
        guard (1...10).contains(limit) else {
            throw AWSError.sqsInvalidParameter("Value \(limit) for parameter MaxNumberOfMessages is invalid. Reason: must be between 1 and 10, if provided.")
        }
        let visibility = request.VisibilityTimeout ?? queue.integer("VisibilityTimeout", default: 30)
        guard (0...43200).contains(visibility) else {
            throw AWSError.sqsInvalidParameter("Value \(visibility) for parameter VisibilityTimeout is invalid. Reason: must be between 0 and 43200.")
        }
        let systemNames = Set((request.AttributeNames ?? []) + (request.MessageSystemAttributeNames ?? []))
        var received: [SQSMessage] = []
        for message in takeVisible(queue.name, limit: limit, visibility: visibility, now: now, using: &generator, changes: &changes) {
            var system: [String: String] = [
                "SenderId": names.accountId, "SentTimestamp": String(Int64(message.sentAt.timeIntervalSince1970 * 1000)),
                "ApproximateReceiveCount": String(message.receiveCount),
                "ApproximateFirstReceiveTimestamp": String(Int64((message.firstReceivedAt ?? now).timeIntervalSince1970 * 1000)),
            ]
            if let group = message.groupId {
                system["MessageGroupId"] = group
                system["SequenceNumber"] = String(message.sequence)
                system["MessageDeduplicationId"] = message.deduplicationId.map { $0.split(separator: "\u{0}").last.map(String.init) ?? $0 }
            }
            if !systemNames.contains("All") { system = system.filter { systemNames.contains($0.key) } }
            let selected = Self.selectAttributes(message.attributes ?? [:], names: request.MessageAttributeNames ?? [])
            received.append(
                SQSMessage(
                    MessageId: message.id, ReceiptHandle: message.receiptHandle, MD5OfBody: Digest.hex(Digest.md5(Array(message.body.utf8))),
                    Body: message.body, Attributes: system.isEmpty ? nil : system,
                    MD5OfMessageAttributes: selected.isEmpty ? nil : Self.md5OfMessageAttributes(selected),
                    MessageAttributes: selected.isEmpty ? nil : selected))
        }
        return SQSReceiveMessageResult(Messages: received.isEmpty ? nil : received)
    }

    public mutating func deleteMessage(_ request: SQSDeleteMessageRequest, changes: inout ChangeSet) throws(AWSError) {
        let queue = try queue(forUrl: request.QueueUrl)
        let id = try Self.messageId(fromReceiptHandle: request.ReceiptHandle)
        guard messages[queue.name]?.removeValue(forKey: id) != nil else { return }
        changes.delete(QueueMessageRecord.self, key: id)
        // A FIFO queue's group may take its next message now.
        if queue.isFIFO { changes.touch(Self.arrivals(queue.name)) }
        compactVisibility(queue.name)
    }

    public mutating func changeMessageVisibility(_ request: SQSChangeMessageVisibilityRequest, now: Date, changes: inout ChangeSet) throws(AWSError) {
        let queue = try queue(forUrl: request.QueueUrl)
        let id = try Self.messageId(fromReceiptHandle: request.ReceiptHandle)
        guard (0...43200).contains(request.VisibilityTimeout) else {
            throw AWSError.sqsInvalidParameter("Value \(request.VisibilityTimeout) for parameter VisibilityTimeout is invalid. Reason: must be between 0 and 43200.")
        }
        guard var message = messages[queue.name]?[id], message.receiptHandle == request.ReceiptHandle else {
            throw AWSError.sqs("ReceiptHandleIsInvalid", code: "ReceiptHandleIsInvalid", "The input receipt handle \"\(request.ReceiptHandle)\" is not a valid receipt handle.")
        }
        message.visibleAt = now.addingTimeInterval(TimeInterval(request.VisibilityTimeout))
        messages[queue.name]?[id] = message
        indexVisibility(message)
        changes.put(message)
        changes.touch(Self.arrivals(queue.name))
    }

    /// The kind long polls on a queue wait for: a message sent to it, or made visible at once.
    public static func arrivals(_ queue: String) -> RecordKind { RecordKind("queue_arrivals/" + queue) }

    // MARK: Helpers

    private mutating func purge(_ name: String, changes: inout ChangeSet) {
        for id in (messages[name] ?? [:]).keys { changes.delete(QueueMessageRecord.self, key: id) }
        messages[name] = nil
        visibility[name] = nil
    }

    private func validatedQueueAttributes(_ attributes: [String: String], queue: String) throws(AWSError) -> [String: String] {
        for (key, value) in attributes {
            if key == "RedrivePolicy", !value.isEmpty { try validateRedrivePolicy(value, queue: queue) }
            guard Self.settableQueueAttributes.contains(key) else {
                throw AWSError.sqsInvalidAttributeName("Unknown Attribute \(key).")
            }
            if let range = Self.queueAttributeRanges[key] {
                guard let number = Int(value), range.contains(number) else {
                    throw AWSError.sqs(
                        "InvalidAttributeValue", code: "InvalidAttributeValue",
                        "Invalid value for the parameter \(key): must be an integer from \(range.lowerBound) to \(range.upperBound); got '\(value)'.")
                }
            }
        }
        return attributes
    }

    private static func messageId(fromReceiptHandle handle: String) throws(AWSError) -> String {
        guard let hash = handle.firstIndex(of: "#"), hash != handle.startIndex else {
            throw AWSError.sqs("ReceiptHandleIsInvalid", code: "ReceiptHandleIsInvalid", "The input receipt handle \"\(handle)\" is not a valid receipt handle.")
        }
        return String(handle[..<hash])
    }

    static func isAllowedInMessage(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: return true
        default: return false
        }
    }

    static func validateMessageAttributes(_ attributes: [String: SQSMessageAttributeValue]) throws(AWSError) {
        guard attributes.count <= 10 else {
            throw AWSError.sqsInvalidParameter("Number of message attributes [\(attributes.count)] exceeds the allowed maximum [10].")
        }
        for (name, value) in attributes {
            guard (1...256).contains(name.count), !name.hasPrefix("AWS."), !name.hasPrefix("Amazon.") else {
                throw AWSError.sqsInvalidParameter("Message attribute name '\(name)' is invalid.")
            }
            let type = value.DataType.split(separator: ".").first.map(String.init) ?? ""
            switch type {
            case "String", "Number":
                guard value.StringValue != nil else {
                    throw AWSError.sqsInvalidParameter("Message attribute '\(name)' must contain a non-empty message attribute value for message attribute type '\(type)'.")
                }
            case "Binary":
                guard value.BinaryValue != nil else {
                    throw AWSError.sqsInvalidParameter("Message attribute '\(name)' must contain a non-empty message attribute value for message attribute type 'Binary'.")
                }
            default:
                throw AWSError.sqsInvalidParameter("The type of message (user) attribute '\(name)' is invalid. You must use only the following supported type prefixes: Binary, Number, String.")
            }
        }
    }

    static func selectAttributes(_ attributes: [String: SQSMessageAttributeValue], names: [String]) -> [String: SQSMessageAttributeValue] {
        if names.contains("All") || names.contains(".*") { return attributes }
        return attributes.filter { key, _ in
            names.contains { $0 == key || ($0.hasSuffix(".*") && key.hasPrefix(String($0.dropLast(1)))) }
        }
    }

    /// SQS's digest of message attributes: per attribute in name order, the length-prefixed name,
    /// data type, a transport byte (1 string, 2 binary) and the length-prefixed value.
    public static func md5OfMessageAttributes(_ attributes: [String: SQSMessageAttributeValue]) -> String {
        var bytes: [UInt8] = []
        func appendLengthPrefixed(_ value: [UInt8]) {
            let count = UInt32(value.count)
            bytes += [UInt8(count >> 24), UInt8(truncatingIfNeeded: count >> 16), UInt8(truncatingIfNeeded: count >> 8), UInt8(truncatingIfNeeded: count)]
            bytes += value
        }
        for name in attributes.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            let value = attributes[name]!
            appendLengthPrefixed(Array(name.utf8))
            appendLengthPrefixed(Array(value.DataType.utf8))
            if let binary = value.BinaryValue {
                bytes.append(2)
                appendLengthPrefixed(Array(binary))
            } else {
                bytes.append(1)
                appendLengthPrefixed(Array((value.StringValue ?? "").utf8))
            }
        }
        return Digest.hex(Digest.md5(bytes))
    }
}

/// ReceiveMessage's input, with attribute names as plain strings (clients mix queue and message
/// system attribute names here).
public struct SQSReceiveRequest: Codable, Sendable {
    public var QueueUrl: String
    public var AttributeNames: [String]?
    public var MessageSystemAttributeNames: [String]?
    public var MessageAttributeNames: [String]?
    public var MaxNumberOfMessages: Int?
    public var VisibilityTimeout: Int?
    public var WaitTimeSeconds: Int?
    public var ReceiveRequestAttemptId: String?
}
