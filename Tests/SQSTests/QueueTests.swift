import Foundation
import Archives
@testable import SQS
import SQSShapes
import StevedoreCore
import Testing

struct QueueDigestTests {
    @Test func sqsAttributeDigestFollowsTheDocumentedEncoding() {
        // One string attribute: name, type, transport byte 1, value, each length-prefixed.
        var expected: [UInt8] = []
        for part in ["a", "String"] { expected += [0, 0, 0, UInt8(part.utf8.count)] + Array(part.utf8) }
        expected += [1, 0, 0, 0, 1] + Array("x".utf8)
        let digest = SQSState.md5OfMessageAttributes(["a": SQSMessageAttributeValue(StringValue: "x", DataType: "String")])
        #expect(digest == Digest.hex(Digest.md5(expected)))
    }
}

/// Receiving in order of visibility, redrive to a dead-letter queue, and the batch operations.
struct QueueDeliveryTests {
    var state = SQSState(names: ResourceNames())
    var random = Xoshiro256(seed: 5)
    var changes = ChangeSet()
    var now = Date(timeIntervalSince1970: 1_800_000_000)

    mutating func create(_ name: String, _ attributes: [String: String] = [:]) throws -> String {
        try state.createQueue(SQSCreateQueueRequest(QueueName: name, Attributes: attributes), now: now, changes: &changes).QueueUrl!
    }

    mutating func send(_ url: String, _ body: String) throws {
        _ = try state.sendMessage(SQSSendMessageRequest(QueueUrl: url, MessageBody: body), now: now, using: &random, changes: &changes)
    }

    mutating func receive(_ url: String, _ count: Int = 10) throws -> [SQSMessage] {
        try state.receiveMessages(
            SQSReceiveRequest(QueueUrl: url, MaxNumberOfMessages: count), now: now, using: &random, changes: &changes
        ).Messages ?? []
    }

    @Test mutating func messagesComeInSendOrderAsTheyBecomeVisible() throws {
        let url = try create("q", ["VisibilityTimeout": "10"])
        for index in 0..<23 { try send(url, "m\(index)") }
        #expect(try receive(url).map(\.Body) == (0..<10).map { "m\($0)" })
        #expect(try receive(url, 3).map(\.Body) == ["m10", "m11", "m12"])
        // Deleted messages never come back; the others do once their timeout passes, oldest first.
        let rest = try receive(url)
        for message in rest { try state.deleteMessage(SQSDeleteMessageRequest(QueueUrl: url, ReceiptHandle: message.ReceiptHandle!), changes: &changes) }
        now = now.addingTimeInterval(11)
        #expect(try receive(url, 2).map(\.Body) == ["m0", "m1"])
        #expect(try receive(url).map(\.Body) == (2..<12).map { "m\($0)" })
        #expect(try receive(url).map(\.Body) == ["m12"])
        #expect(try receive(url).isEmpty)
    }

    @Test mutating func aZeroVisibilityTimeoutGivesEachMessageOncePerReceive() throws {
        let url = try create("zero", ["VisibilityTimeout": "0"])
        try send(url, "only")
        #expect(try receive(url).map(\.Body) == ["only"])
        #expect(state.messages["zero"]?.values.first?.receiveCount == 1)
        #expect(try receive(url).map(\.Body) == ["only"])
    }

    @Test mutating func theIndexDoesNotGrowWithDeletedMessages() throws {
        let url = try create("churn", ["VisibilityTimeout": "3600"])
        for round in 0..<50 {
            for index in 0..<10 { try send(url, "m\(round)-\(index)") }
            for message in try receive(url) {
                try state.deleteMessage(SQSDeleteMessageRequest(QueueUrl: url, ReceiptHandle: message.ReceiptHandle!), changes: &changes)
            }
        }
        #expect(state.messages["churn"]?.isEmpty ?? true)
        #expect((state.visibility["churn"]?.count ?? 0) <= 64 + 20)
    }

    @Test mutating func messagesReceivedMaxReceiveCountTimesMoveToTheDeadLetterQueue() throws {
        let dlq = try create("dlq")
        let policy = #"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"2"}"#
        let url = try create("work", ["VisibilityTimeout": "5", "RedrivePolicy": policy])
        try send(url, "poison")
        for _ in 0..<2 {
            #expect(try receive(url).map(\.Body) == ["poison"])
            now = now.addingTimeInterval(6)
        }
        #expect(try receive(url).isEmpty)
        let dead = try receive(dlq)
        #expect(dead.map(\.Body) == ["poison"])
        #expect(state.messages["work"]?.isEmpty ?? true)
    }

    @Test mutating func redrivePoliciesAreChecked() throws {
        _ = try create("dlq")
        func refusal(_ policy: String) -> String? {
            var copy = state
            var changes = ChangeSet()
            do {
                _ = try copy.createQueue(SQSCreateQueueRequest(QueueName: "w", Attributes: ["RedrivePolicy": policy]), now: now, changes: &changes)
                return nil
            } catch {
                return error.message
            }
        }
        #expect(refusal("nope") == "Value nope for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a valid JSON map.")
        #expect(refusal(#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:missing","maxReceiveCount":3}"#)?
            .hasSuffix("Reason: Dead letter target does not exist.") == true)
        #expect(refusal(#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":0}"#)?
            .contains("valid values are from 1 to 1000 both inclusive.") == true)
        #expect(refusal(#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":3}"#) == nil)
    }

    mutating func sendFIFO(_ url: String, _ body: String, group: String, deduplication: String? = nil) throws -> SQSSendMessageResult {
        try state.sendMessage(
            SQSSendMessageRequest(QueueUrl: url, MessageBody: body, MessageDeduplicationId: deduplication ?? body, MessageGroupId: group),
            now: now, using: &random, changes: &changes)
    }

    @Test mutating func fifoQueuesKeepEachGroupInOrderAndDeduplicate() throws {
        let url = try create("orders.fifo", ["FifoQueue": "true", "VisibilityTimeout": "10"])
        for (body, group) in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b"), ("a3", "a")] { _ = try sendFIFO(url, body, group: group) }
        // The same deduplication id within five minutes is the message already sent.
        let first = try #require(state.messages["orders.fifo"]?.values.first { $0.body == "a1" })
        #expect(try sendFIFO(url, "a1", group: "a").MessageId == first.id)
        #expect(state.messages["orders.fifo"]?.count == 5)
        // A receive takes messages in order; a group with one in flight gives nothing more.
        #expect(try receive(url, 2).map(\.Body) == ["a1", "b1"])
        #expect(try receive(url).isEmpty)
        let inFlight = state.messages["orders.fifo"]!.values.filter { $0.receiveCount == 1 }
        for message in inFlight where message.body == "b1" {
            try state.deleteMessage(SQSDeleteMessageRequest(QueueUrl: url, ReceiptHandle: message.receiptHandle!), changes: &changes)
        }
        #expect(try receive(url).map(\.Body) == ["b2"])
        // When a1's visibility ends, it comes again before a2.
        now = now.addingTimeInterval(11)
        #expect(try receive(url, 1).map(\.Body) == ["a1"])
        // FIFO's rules: a group, a deduplication id (or content-based), no per-message delay.
        #expect(throws: AWSError.self) { try state.sendMessage(SQSSendMessageRequest(QueueUrl: url, MessageBody: "x"), now: now, using: &random, changes: &changes) }
        #expect(throws: AWSError.self) {
            try state.sendMessage(SQSSendMessageRequest(QueueUrl: url, MessageBody: "x", MessageGroupId: "g"), now: now, using: &random, changes: &changes)
        }
        #expect(throws: AWSError.self) { try create("plain.fifo") }
        #expect(throws: AWSError.self) { try create("notfifo", ["FifoQueue": "true"]) }
        let content = try create("content.fifo", ["FifoQueue": "true", "ContentBasedDeduplication": "true"])
        _ = try state.sendMessage(SQSSendMessageRequest(QueueUrl: content, MessageBody: "same", MessageGroupId: "g"), now: now, using: &random, changes: &changes)
        _ = try state.sendMessage(SQSSendMessageRequest(QueueUrl: content, MessageBody: "same", MessageGroupId: "g"), now: now, using: &random, changes: &changes)
        #expect(state.messages["content.fifo"]?.count == 1)
    }

    @Test mutating func batchesSendAndDeleteUpToTenEntries() throws {
        let url = try create("b")
        let sent = try state.sendMessageBatch(
            SQSSendMessageBatchRequest(QueueUrl: url, Entries: (0..<3).map { SQSSendMessageBatchRequestEntry(Id: "e\($0)", MessageBody: "b\($0)") }),
            now: now, using: &random, changes: &changes)
        #expect(sent.Successful.map(\.Id) == ["e0", "e1", "e2"] && sent.Failed.isEmpty)
        #expect(throws: AWSError.self) {
            try state.sendMessageBatch(
                SQSSendMessageBatchRequest(QueueUrl: url, Entries: (0..<11).map { SQSSendMessageBatchRequestEntry(Id: "e\($0)", MessageBody: "x") }),
                now: now, using: &random, changes: &changes)
        }
        let received = try receive(url)
        var entries = received.enumerated().map { SQSDeleteMessageBatchRequestEntry(Id: "d\($0.offset)", ReceiptHandle: $0.element.ReceiptHandle!) }
        entries.append(SQSDeleteMessageBatchRequestEntry(Id: "bad", ReceiptHandle: "garbage"))
        let deleted = try state.deleteMessageBatch(SQSDeleteMessageBatchRequest(QueueUrl: url, Entries: entries), changes: &changes)
        #expect(deleted.Successful.count == 3 && deleted.Failed.map(\.Id) == ["bad"] && deleted.Failed.first?.Code == "ReceiptHandleIsInvalid")
        #expect(state.messages["b"]?.isEmpty ?? true)
    }
}
