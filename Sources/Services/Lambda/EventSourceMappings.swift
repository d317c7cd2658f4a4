#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Archives
import LambdaShapes
import SQS
import SQSShapes
import StevedoreCore

/// An event source mapping: a queue whose messages a function is invoked with, in batches.
public struct EventSourceMappingRecord: StoredRecord, Equatable {
    public var uuid: String
    public var functionName: String
    public var qualifier: String?
    /// The queue's ARN, and its name in SQS's state.
    public var eventSourceArn: String
    public var queueName: String
    public var batchSize: Int
    public var batchingWindow: Int
    /// FilterCriteria's patterns, as given (a record must match one, if any).
    public var filters: [String]
    public var enabled: Bool
    public var reportBatchItemFailures: Bool
    public var maximumConcurrency: Int?
    public var lastModified: Date
    public var lastProcessingResult: String = "No records processed"

    public static var recordKind: RecordKind { .eventSourceMappings }
    public var recordKey: String { uuid }
}

extension RecordKind {
    public static let eventSourceMappings = RecordKind("event_source_mappings")
}

extension FunctionsState {
    /// Concurrent invocations a mapping's pollers make at most when ScalingConfig sets none.
    public static let defaultMappingConcurrency = 1000

    public func mapping(_ uuid: String) throws(AWSError) -> EventSourceMappingRecord {
        guard let mapping = eventSourceMappings[uuid] else {
            throw AWSError.lambdaNotFound("The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: \(uuid))")
        }
        return mapping
    }

    public func mappingConfiguration(_ mapping: EventSourceMappingRecord, state: String? = nil) -> LambdaEventSourceMappingConfiguration {
        LambdaEventSourceMappingConfiguration(
            UUID: mapping.uuid, BatchSize: mapping.batchSize, MaximumBatchingWindowInSeconds: mapping.batchingWindow,
            EventSourceArn: mapping.eventSourceArn,
            FilterCriteria: mapping.filters.isEmpty ? nil : LambdaFilterCriteria(Filters: mapping.filters.map { LambdaFilter(Pattern: $0) }),
            FunctionArn: mapping.qualifier.map { names.function(mapping.functionName, qualifier: $0) } ?? names.function(mapping.functionName),
            LastModified: mapping.lastModified, LastProcessingResult: mapping.lastProcessingResult,
            State: state ?? (mapping.enabled ? "Enabled" : "Disabled"), StateTransitionReason: "USER_INITIATED",
            FunctionResponseTypes: mapping.reportBatchItemFailures ? [.reportBatchItemFailures] : [],
            ScalingConfig: mapping.maximumConcurrency.map { LambdaScalingConfig(MaximumConcurrency: $0) },
            EventSourceMappingArn: names.arn("lambda", "event-source-mapping:\(mapping.uuid)"))
    }

    public func listEventSourceMappings(_ request: LambdaListEventSourceMappingsRequest) throws(AWSError) -> LambdaListEventSourceMappingsResponse {
        var name: String?
        if let reference = request.FunctionName { name = try FunctionNames.parse(reference).name }
        let matching = eventSourceMappings.values
            .filter { mapping in
                (request.EventSourceArn.map { $0 == mapping.eventSourceArn } ?? true) && (name.map { $0 == mapping.functionName } ?? true)
            }
            .sorted { $0.uuid < $1.uuid }
        let limit = request.MaxItems ?? 100
        guard (1...10000).contains(limit) else {
            throw AWSError.lambdaInvalidParameter("1 validation error detected: Value '\(limit)' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 10000")
        }
        let start = request.Marker.flatMap { marker in matching.firstIndex { $0.uuid > marker } } ?? (request.Marker == nil ? 0 : matching.count)
        let page = matching[start..<min(matching.count, start + limit)]
        let next = start + limit < matching.count ? page.last?.uuid : nil
        return LambdaListEventSourceMappingsResponse(NextMarker: next, EventSourceMappings: page.map { mappingConfiguration($0) })
    }
}

extension LambdaHost {
    public mutating func createEventSourceMapping(
        _ request: LambdaCreateEventSourceMappingRequest, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) throws(AWSError) -> LambdaEventSourceMappingConfiguration {
        guard let source = request.EventSourceArn else {
            throw AWSError.lambdaInvalidParameter("Unrecognized event source, must be kinesis, dynamodb stream, sqs, or kafka.")
        }
        let queueName = try queueOfMapping(source)
        let (function, version) = try lambda.functionVersion(request.FunctionName, qualifier: nil)
        let qualifier = try FunctionNames.parse(request.FunctionName).qualifier
        if let existing = lambda.eventSourceMappings.values.first(where: { $0.eventSourceArn == source && $0.functionName == function.name && $0.qualifier == qualifier }) {
            throw AWSError.lambdaConflict(
                "An event source mapping with SQS arn (\" \(source) \") and function (\" \(function.name) \") already exists. Please update or delete the existing mapping with UUID \(existing.uuid)")
        }
        var mapping = EventSourceMappingRecord(
            uuid: Identifiers.uuid(using: &generator), functionName: function.name, qualifier: qualifier, eventSourceArn: source, queueName: queueName,
            batchSize: 10, batchingWindow: 0, filters: [], enabled: request.Enabled ?? true, reportBatchItemFailures: false, lastModified: now)
        try apply(
            &mapping, batchSize: request.BatchSize, window: request.MaximumBatchingWindowInSeconds, filters: request.FilterCriteria,
            responseTypes: request.FunctionResponseTypes, scaling: request.ScalingConfig, functionTimeout: version.configuration.Timeout ?? 3)
        lambda.eventSourceMappings[mapping.uuid] = mapping
        changes.put(mapping)
        return lambda.mappingConfiguration(mapping, state: "Creating")
    }

    public mutating func updateEventSourceMapping(_ uuid: String, _ request: LambdaUpdateEventSourceMappingRequest, now: Date, changes: inout ChangeSet)
        throws(AWSError) -> LambdaEventSourceMappingConfiguration
    {
        var mapping = try lambda.mapping(uuid)
        if let reference = request.FunctionName {
            let (function, _) = try lambda.functionVersion(reference, qualifier: nil)
            mapping.functionName = function.name
            mapping.qualifier = try FunctionNames.parse(reference).qualifier
        }
        let timeout = try lambda.functionVersion(mapping.functionName, qualifier: mapping.qualifier).1.configuration.Timeout ?? 3
        if let enabled = request.Enabled { mapping.enabled = enabled }
        try apply(
            &mapping, batchSize: request.BatchSize, window: request.MaximumBatchingWindowInSeconds, filters: request.FilterCriteria,
            responseTypes: request.FunctionResponseTypes, scaling: request.ScalingConfig, functionTimeout: timeout)
        mapping.lastModified = now
        lambda.eventSourceMappings[uuid] = mapping
        changes.put(mapping)
        return lambda.mappingConfiguration(mapping, state: "Updating")
    }

    public mutating func deleteEventSourceMapping(_ uuid: String, changes: inout ChangeSet) throws(AWSError) -> LambdaEventSourceMappingConfiguration {
        let mapping = try lambda.mapping(uuid)
        lambda.eventSourceMappings[uuid] = nil
        changes.delete(EventSourceMappingRecord.self, key: uuid)
        return lambda.mappingConfiguration(mapping, state: "Deleting")
    }

    /// The queue an SQS ARN names (other sources are not read by Stevedore).
    func queueOfMapping(_ arn: String) throws(AWSError) -> String {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 6, parts[0] == "arn", ["kinesis", "dynamodb", "kafka", "mq", "sqs", "docdb"].contains(parts[2]) else {
            throw AWSError.lambdaInvalidParameter("Unrecognized event source, must be kinesis, dynamodb stream, sqs, or kafka.")
        }
        guard parts[2] == "sqs" else {
            throw AWSError.lambdaInvalidParameter("Stevedore's event source mappings read SQS queues; \(parts[2]) is not supported.")
        }
        guard sqs.queues[parts[5]] != nil, arn == sqs.names.queue(parts[5]) else {
            throw AWSError.lambdaInvalidParameter(
                "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does not exist for this wsdl version.")
        }
        return parts[5]
    }

    /// The settings CreateEventSourceMapping and UpdateEventSourceMapping share, checked as Lambda checks them.
    func apply(
        _ mapping: inout EventSourceMappingRecord, batchSize: Int?, window: Int?, filters: LambdaFilterCriteria?,
        responseTypes: [LambdaFunctionResponseType]?, scaling: LambdaScalingConfig?, functionTimeout: Int
    ) throws(AWSError) {
        if let batchSize {
            guard (1...10000).contains(batchSize) else {
                throw AWSError.lambdaInvalidParameter(
                    "1 validation error detected: Value '\(batchSize)' at 'batchSize' failed to satisfy constraint: Member must have value \(batchSize < 1 ? "greater than or equal to 1" : "less than or equal to 10000")")
            }
            mapping.batchSize = batchSize
        }
        if let window {
            guard (0...300).contains(window) else {
                throw AWSError.lambdaInvalidParameter(
                    "1 validation error detected: Value '\(window)' at 'maximumBatchingWindowInSeconds' failed to satisfy constraint: Member must have value less than or equal to 300")
            }
            mapping.batchingWindow = window
        }
        if mapping.batchSize > 10, mapping.batchingWindow == 0 {
            throw AWSError.lambdaInvalidParameter("Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
        }
        if let filters {
            let patterns = (filters.Filters ?? []).compactMap(\.Pattern)
            guard patterns.count <= 5 else {
                throw AWSError.lambdaInvalidParameter("The number of filters in FilterCriteria exceeds the limit of 5.")
            }
            for pattern in patterns {
                guard (try? EventPattern.parse(pattern)) != nil else { throw AWSError.lambdaInvalidParameter("Invalid filter pattern definition.") }
            }
            mapping.filters = patterns
        }
        if let responseTypes { mapping.reportBatchItemFailures = responseTypes.contains(.reportBatchItemFailures) }
        if let maximum = scaling?.MaximumConcurrency {
            guard (2...1000).contains(maximum) else {
                throw AWSError.lambdaInvalidParameter(
                    "1 validation error detected: Value '\(maximum)' at 'scalingConfig.maximumConcurrency' failed to satisfy constraint: Member must have value \(maximum < 2 ? "greater than or equal to 2" : "less than or equal to 1000")")
            }
            mapping.maximumConcurrency = maximum
        }
        let visibility = sqs.queues[mapping.queueName].flatMap { $0.attributes["VisibilityTimeout"] }.flatMap(Int.init) ?? 30
        guard visibility >= functionTimeout else {
            throw AWSError.lambdaInvalidParameter("Queue visibility timeout: \(visibility) seconds is less than Function timeout: \(functionTimeout) seconds")
        }
    }

    // MARK: Polling

    /// A poller's next batch: up to the mapping's batch size of visible messages, received (so
    /// invisible for the queue's visibility timeout), and those the filters leave out deleted.
    /// Nil when the mapping is gone or disabled.
    public mutating func pollBatch(
        _ uuid: String, limit: Int, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) -> QueueBatch? {
        guard let mapping = lambda.eventSourceMappings[uuid], mapping.enabled, let queue = sqs.queues[mapping.queueName] else { return nil }
        let visibility = Int(queue.attributes["VisibilityTimeout"] ?? "30") ?? 30
        let taken = sqs.takeVisible(mapping.queueName, limit: min(limit, mapping.batchSize), visibility: visibility, now: now, using: &generator, changes: &changes)
        var records: [JSONValue] = []
        var kept: [QueueMessageRecord] = []
        let patterns = mapping.filters.compactMap { try? EventPattern.parse($0) }
        var filteredOut: [String] = []
        for message in taken {
            let record = SQSEventRecords.record(message, queueArn: mapping.eventSourceArn, names: sqs.names)
            if !patterns.isEmpty, !patterns.contains(where: { $0.matches(SQSEventRecords.filterable(record)) }) {
                filteredOut.append(message.id)
                continue
            }
            records.append(record)
            kept.append(message)
        }
        // Lambda deletes the messages no filter takes.
        sqs.deleteMessages(mapping.queueName, ids: filteredOut, changes: &changes)
        return QueueBatch(mapping: mapping, messageIds: kept.map(\.id), records: records, received: taken.count)
    }

    /// After an invocation: deletes the batch's messages, but for those the function reported
    /// failed (`batchItemFailures`, with ReportBatchItemFailures); those become visible again
    /// when their visibility timeout ends, and go to the queue's dead-letter queue after its
    /// `maxReceiveCount`.
    public mutating func settleBatch(_ batch: QueueBatch, outcome: QueueBatchOutcome, changes: inout ChangeSet) {
        var failed: Set<String> = []
        switch outcome {
        case .failed:
            failed = Set(batch.messageIds)
        case .succeeded(let response):
            if batch.mapping.reportBatchItemFailures { failed = SQSEventRecords.failures(in: response, batch: batch.messageIds) }
        }
        // A FIFO queue's order holds only if nothing after a failure is deleted: what follows the
        // first failed message stays too, as Lambda does it.
        if sqs.queues[batch.mapping.queueName]?.isFIFO == true, let first = batch.messageIds.firstIndex(where: failed.contains) {
            failed.formUnion(batch.messageIds[first...])
        }
        sqs.deleteMessages(batch.mapping.queueName, ids: batch.messageIds.filter { !failed.contains($0) }, changes: &changes)
        if var mapping = lambda.eventSourceMappings[batch.mapping.uuid] {
            let result = failed.isEmpty ? "OK" : "PROBLEM: Function call failed"
            if mapping.lastProcessingResult != result {
                mapping.lastProcessingResult = result
                lambda.eventSourceMappings[mapping.uuid] = mapping
                changes.put(mapping)
            }
        }
    }
}

/// A batch a poller took from a queue for a mapping.
public struct QueueBatch: Sendable {
    public let mapping: EventSourceMappingRecord
    public let messageIds: [String]
    /// The SQS event's records, one per message kept.
    public let records: [JSONValue]
    /// Messages received, filtered out ones included.
    public let received: Int

    /// The function's payload: `{"Records": [...]}`.
    public var payload: Data { Data(JSONValue.object(["Records": .array(records)]).sortedText.utf8) }
}

public enum QueueBatchOutcome: Sendable {
    /// The function answered (its response, for `batchItemFailures`).
    case succeeded(Data)
    /// It failed, timed out, or could not be invoked: every message of the batch stays.
    case failed
}

/// The SQS event Lambda gives a function, and what a function answers about it.
public enum SQSEventRecords {
    static func record(_ message: QueueMessageRecord, queueArn: String, names: ResourceNames) -> JSONValue {
        func millis(_ date: Date?) -> JSONValue { .string(String(Int64((date ?? message.sentAt).timeIntervalSince1970 * 1000))) }
        var attributes: [String: JSONValue] = [:]
        for (name, value) in message.attributes ?? [:] {
            var fields: [String: JSONValue] = ["dataType": .string(value.DataType), "stringListValues": .array([]), "binaryListValues": .array([])]
            if let text = value.StringValue { fields["stringValue"] = .string(text) }
            if let binary = value.BinaryValue { fields["binaryValue"] = .string(binary.base64EncodedString()) }
            attributes[name] = .object(fields)
        }
        var record: [String: JSONValue] = [
            "messageId": .string(message.id), "receiptHandle": .string(message.receiptHandle ?? ""), "body": .string(message.body),
            "attributes": .object([
                "ApproximateReceiveCount": .string(String(message.receiveCount)), "SentTimestamp": millis(message.sentAt),
                "SenderId": .string(names.accountId), "ApproximateFirstReceiveTimestamp": millis(message.firstReceivedAt),
            ]),
            "messageAttributes": .object(attributes), "md5OfBody": .string(Digest.hex(Digest.md5(Array(message.body.utf8)))),
            "eventSource": .string("aws:sqs"), "eventSourceARN": .string(queueArn), "awsRegion": .string(names.region),
        ]
        if !attributes.isEmpty { record["md5OfMessageAttributes"] = .string(SQSState.md5OfMessageAttributes(message.attributes ?? [:])) }
        return .object(record)
    }

    /// The record as filters see it: a body that is JSON is matched as JSON.
    static func filterable(_ record: JSONValue) -> JSONValue {
        guard case .object(var fields) = record, case .string(let body)? = fields["body"],
            let parsed = try? JSONDecoder().decode(JSONValue.self, from: Data(body.utf8))
        else { return record }
        fields["body"] = parsed
        return .object(fields)
    }

    /// The message ids a function reported failed. An answer that names no batch item, or one
    /// not in the batch, or is not the documented shape, fails the whole batch, as in Lambda.
    public static func failures(in response: Data, batch: [String]) -> Set<String> {
        // No answer at all is success; an answer that is not JSON fails the batch.
        if response.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return [] }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: response) else { return Set(batch) }
        guard case .object(let fields) = value, let listed = fields["batchItemFailures"] else { return [] }
        switch listed {
        case .null: return []
        case .array(let items):
            var failed: Set<String> = []
            for item in items {
                guard case .object(let entry) = item, case .string(let id)? = entry["itemIdentifier"], !id.isEmpty, batch.contains(id) else {
                    return Set(batch)
                }
                failed.insert(id)
            }
            return failed
        default:
            return Set(batch)
        }
    }


}

extension QueueBatch {
    public init(mapping: EventSourceMappingRecord) {
        self.init(mapping: mapping, messageIds: [], records: [], received: 0)
    }

    /// This batch with another's messages after its own (a batching window's receives).
    public func appending(_ other: QueueBatch) -> QueueBatch {
        // A message taken again within a long window (its visibility timeout ended) is in once.
        let known = Set(messageIds)
        let fresh = other.messageIds.indices.filter { !known.contains(other.messageIds[$0]) }
        return QueueBatch(
            mapping: other.mapping, messageIds: messageIds + fresh.map { other.messageIds[$0] }, records: records + fresh.map { other.records[$0] },
            received: received + other.received)
    }
}
