import Archives
import Foundation
@testable import Lambda
import LambdaShapes
import SQS
import SQSShapes
import StevedoreCore
import StevedoreTestSupport
import Testing

/// Event source mappings: what Lambda checks, and how a poller's batches are taken and settled.
struct EventSourceMappingTests {
    var state = SchedulerFixture()
    var random = Xoshiro256(seed: 4)
    var changes = ChangeSet()
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let queueArn = "arn:aws:sqs:us-east-1:000000000000:work"
    var url = ""

    init() throws {
        var writer = ZipWriter()
        writer.add(path: "bootstrap", contents: [1], mode: 0o755)
        let code = try CodeBundle.inspect(writer.finish(), settings: FunctionSettings())
        _ = try state.sqs.createQueue(SQSCreateQueueRequest(QueueName: "dlq"), now: now, changes: &changes)
        let policy = #"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":2}"#
        url = try state.sqs.createQueue(
            SQSCreateQueueRequest(QueueName: "work", Attributes: ["VisibilityTimeout": "5", "RedrivePolicy": policy]), now: now, changes: &changes
        ).QueueUrl!
        _ = try state.lambda.createFunction(
            LambdaCreateFunctionRequest(
                FunctionName: "f", Runtime: .providedAl2023, Role: "arn:aws:iam::000000000000:role/r", Handler: "h",
                Code: LambdaFunctionCode(ZipFile: Data([1])), Timeout: 3),
            code: code, sqs: state.sqs, now: now, using: &random, changes: &changes)
    }

    mutating func create(_ request: LambdaCreateEventSourceMappingRequest) throws -> String {
        try state.createEventSourceMapping(request, now: now, using: &random, changes: &changes).UUID!
    }

    mutating func send(_ bodies: [String]) throws {
        for body in bodies {
            _ = try state.sqs.sendMessage(SQSSendMessageRequest(QueueUrl: url, MessageBody: body), now: now, using: &random, changes: &changes)
        }
    }

    @Test mutating func mappingsAreCheckedAsLambdaChecksThem() throws {
        func refusal(_ request: LambdaCreateEventSourceMappingRequest) -> AWSError? {
            var copy = state
            var random = self.random
            var changes = ChangeSet()
            do {
                _ = try copy.createEventSourceMapping(request, now: now, using: &random, changes: &changes)
                return nil
            } catch {
                return error
            }
        }
        #expect(refusal(LambdaCreateEventSourceMappingRequest(EventSourceArn: queueArn, FunctionName: "nope"))?.type == "ResourceNotFoundException")
        #expect(refusal(LambdaCreateEventSourceMappingRequest(EventSourceArn: "arn:aws:sqs:us-east-1:000000000000:missing", FunctionName: "f"))?
            .message.contains("NonExistentQueue") == true)
        #expect(refusal(LambdaCreateEventSourceMappingRequest(EventSourceArn: queueArn, FunctionName: "f", BatchSize: 50))?.message
            == "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
        #expect(refusal(LambdaCreateEventSourceMappingRequest(EventSourceArn: queueArn, FunctionName: "f", BatchSize: 0))?.type
            == "InvalidParameterValueException")
        #expect(refusal(LambdaCreateEventSourceMappingRequest(
            EventSourceArn: queueArn, FunctionName: "f", FilterCriteria: LambdaFilterCriteria(Filters: [LambdaFilter(Pattern: "{}")])))?.message
            == "Invalid filter pattern definition.")
        #expect(refusal(LambdaCreateEventSourceMappingRequest(
            EventSourceArn: queueArn, FunctionName: "f", ScalingConfig: LambdaScalingConfig(MaximumConcurrency: 1)))?.type == "InvalidParameterValueException")
        let uuid = try create(LambdaCreateEventSourceMappingRequest(EventSourceArn: queueArn, FunctionName: "f"))
        #expect(refusal(LambdaCreateEventSourceMappingRequest(EventSourceArn: queueArn, FunctionName: "f"))?.type == "ResourceConflictException")
        let listed = try state.lambda.listEventSourceMappings(LambdaListEventSourceMappingsRequest(FunctionName: "f"))
        #expect(listed.EventSourceMappings?.map(\.UUID) == [uuid])
        #expect(listed.EventSourceMappings?.first?.State == "Enabled" && listed.EventSourceMappings?.first?.BatchSize == 10)
        let updated = try state.updateEventSourceMapping(uuid, LambdaUpdateEventSourceMappingRequest(Enabled: false, BatchSize: 5), now: now, changes: &changes)
        #expect(updated.BatchSize == 5 && updated.State == "Updating")
        #expect(state.pollBatch(uuid, limit: 10, now: now, using: &random, changes: &changes) == nil)
        #expect(try state.deleteEventSourceMapping(uuid, changes: &changes).State == "Deleting")
        #expect(throws: AWSError.self) { try state.lambda.mapping(uuid) }
    }

    @Test mutating func batchesAreSettledByTheFunctionsReport() throws {
        let uuid = try create(LambdaCreateEventSourceMappingRequest(
            EventSourceArn: queueArn, FunctionName: "f", BatchSize: 3, FunctionResponseTypes: [.reportBatchItemFailures]))
        try send(["a", "poison", "c", "d"])
        let batch = try #require(state.pollBatch(uuid, limit: 10, now: now, using: &random, changes: &changes))
        #expect(batch.messageIds.count == 3)
        let payload = try JSONDecoder().decode(JSONValue.self, from: batch.payload)
        guard case .object(let event) = payload, case .array(let records)? = event["Records"], case .object(let first)? = records.first else {
            Issue.record("no records")
            return
        }
        #expect(first["eventSource"] == .string("aws:sqs") && first["eventSourceARN"] == .string(queueArn) && first["body"] == .string("a"))
        let poison = batch.messageIds[1]
        let report = Data(#"{"batchItemFailures":[{"itemIdentifier":"\#(poison)"}]}"#.utf8)
        state.settleBatch(batch, outcome: .succeeded(report), changes: &changes)
        // The reported message stays (with "d", not yet taken); the others are deleted.
        #expect(state.sqs.messages["work"]?.values.map(\.body).sorted() == ["d", "poison"])
        // It comes back after the visibility timeout, fails again, then goes to the DLQ after maxReceiveCount.
        let again = try #require(state.pollBatch(uuid, limit: 10, now: now.addingTimeInterval(6), using: &random, changes: &changes))
        #expect(again.messageIds.count == 2)
        state.settleBatch(again, outcome: .succeeded(report), changes: &changes)
        let last = try #require(state.pollBatch(uuid, limit: 10, now: now.addingTimeInterval(12), using: &random, changes: &changes))
        #expect(last.messageIds.isEmpty && state.sqs.messages["work"]?.isEmpty == true)
        #expect(state.sqs.messages["dlq"]?.values.map(\.body) == ["poison"])
    }

    @Test func malformedReportsFailTheWholeBatch() {
        let batch = ["m1", "m2"]
        #expect(SQSEventRecords.failures(in: Data(#"{"batchItemFailures":[]}"#.utf8), batch: batch).isEmpty)
        #expect(SQSEventRecords.failures(in: Data("null".utf8), batch: batch).isEmpty)
        #expect(SQSEventRecords.failures(in: Data(#"{"batchItemFailures":[{"itemIdentifier":"m2"}]}"#.utf8), batch: batch) == ["m2"])
        #expect(SQSEventRecords.failures(in: Data(#"{"batchItemFailures":[{"itemIdentifier":"other"}]}"#.utf8), batch: batch) == Set(batch))
        #expect(SQSEventRecords.failures(in: Data(#"{"batchItemFailures":[{"itemIdentifier":""}]}"#.utf8), batch: batch) == Set(batch))
        #expect(SQSEventRecords.failures(in: Data(#"{"batchItemFailures":"x"}"#.utf8), batch: batch) == Set(batch))
        #expect(SQSEventRecords.failures(in: Data("not json".utf8), batch: batch) == Set(batch))
        #expect(SQSEventRecords.failures(in: Data(), batch: batch).isEmpty)
    }

    @Test mutating func aFIFOBatchKeepsEverythingAfterItsFirstFailure() throws {
        let fifo = try state.sqs.createQueue(
            SQSCreateQueueRequest(QueueName: "work.fifo", Attributes: ["FifoQueue": "true", "VisibilityTimeout": "5", "ContentBasedDeduplication": "true"]),
            now: now, changes: &changes
        ).QueueUrl!
        let uuid = try create(LambdaCreateEventSourceMappingRequest(
            EventSourceArn: "arn:aws:sqs:us-east-1:000000000000:work.fifo", FunctionName: "f", FunctionResponseTypes: [.reportBatchItemFailures]))
        for body in ["m1", "m2", "m3"] {
            _ = try state.sqs.sendMessage(SQSSendMessageRequest(QueueUrl: fifo, MessageBody: body, MessageGroupId: "g"), now: now, using: &random, changes: &changes)
        }
        let batch = try #require(state.pollBatch(uuid, limit: 10, now: now, using: &random, changes: &changes))
        #expect(batch.messageIds.count == 3)
        let report = Data(#"{"batchItemFailures":[{"itemIdentifier":"\#(batch.messageIds[1])"}]}"#.utf8)
        state.settleBatch(batch, outcome: .succeeded(report), changes: &changes)
        #expect(state.sqs.messages["work.fifo"]?.values.map(\.body).sorted() == ["m2", "m3"])
    }

    @Test mutating func filtersDeleteWhatTheyLeaveOut() throws {
        let uuid = try create(LambdaCreateEventSourceMappingRequest(
            EventSourceArn: queueArn, FunctionName: "f",
            FilterCriteria: LambdaFilterCriteria(Filters: [LambdaFilter(Pattern: #"{"body": {"kind": ["order"]}}"#)])))
        try send([#"{"kind":"order","n":1}"#, #"{"kind":"ping"}"#, "not json"])
        let batch = try #require(state.pollBatch(uuid, limit: 10, now: now, using: &random, changes: &changes))
        #expect(batch.messageIds.count == 1 && batch.received == 3)
        #expect(state.sqs.messages["work"]?.count == 1)
    }
}
