import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ECS
import LambdaShapes
import SQS
import SQSShapes
import StevedoreCore

/// How one delivery of an asynchronous event ended.
public enum AsyncDelivery: Sendable, Equatable {
    case succeeded(response: Data, executedVersion: String)
    /// The function ran and failed (error, timeout, crash): counts against MaximumRetryAttempts.
    case functionFailed(AsyncFailure)
    /// Throttled (429) or the platform failed (no environment): retried with back-off until the event is too old.
    case deferred(AsyncFailure)
}

/// The durable queue of `Event` invocations: retries as Lambda does them (two more attempts after a
/// function error, ~1 and ~2 minutes apart by default; throttles and system errors retried with
/// back-off from 1 s to 5 min until the event's maximum age), then the dead-letter queue and the
/// OnFailure destination, with AWS's message attributes and record format.
extension FunctionsState {
    public mutating func enqueueAsyncEvent(_ event: AsyncEventRecord, changes: inout ChangeSet) {
        asyncEvents[event.requestId] = event
        changes.put(event)
    }

    /// Events whose next attempt is due, oldest first.
    public func dueAsyncEvents(now: Date, excluding busy: Set<String>, limit: Int) -> [AsyncEventRecord] {
        asyncEvents.values.filter { $0.nextAttemptAt <= now && !busy.contains($0.requestId) }
            .sorted { $0.enqueuedAt < $1.enqueuedAt }
            .prefix(limit).map { $0 }
    }

    /// The MaximumRetryAttempts and MaximumEventAgeInSeconds that apply to an event.
    func asyncLimits(_ event: AsyncEventRecord) -> (retries: Int, maximumAge: Int, config: LambdaFunctionEventInvokeConfig?) {
        let config = functions[event.functionName]?.eventInvokeConfigs[event.qualifier ?? FunctionNames.latest]
        return (config?.MaximumRetryAttempts ?? 2, config?.MaximumEventAgeInSeconds ?? 21600, config)
    }
}

/// Deliveries that end in Lambda's state and, for dead letters and destinations, in SQS's.
extension LambdaHost {
    /// Before an attempt: drops events of deleted functions, dead-letters events that are too old
    /// or whose function may not run at all (reserved concurrency 0). Returns whether to attempt.
    public mutating func prepareAsyncAttempt(
        _ id: String, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) -> Bool {
        guard let event = lambda.asyncEvents[id] else { return false }
        guard let record = lambda.functions[event.functionName] else {
            lambda.asyncEvents[id] = nil
            changes.delete(AsyncEventRecord.self, key: id)
            return false
        }
        let limits = lambda.asyncLimits(event)
        if now.timeIntervalSince(event.enqueuedAt) > TimeInterval(limits.maximumAge) {
            let failure = event.lastError ?? AsyncFailure(statusCode: 429, errorType: "EventAgeExceeded", errorMessage: "The event was older than its maximum age.")
            deadLetter(event, failure: failure, condition: "EventAgeExceeded", now: now, using: &generator, changes: &changes)
            return false
        }
        if record.reservedConcurrency == 0 {
            let failure = AsyncFailure(statusCode: 429, errorType: "TooManyRequestsException", errorMessage: "Rate Exceeded.")
            deadLetter(event, failure: failure, condition: "RetriesExhausted", now: now, using: &generator, changes: &changes)
            return false
        }
        return true
    }

    /// Records how a delivery ended: done, retried later, or dead-lettered.
    public mutating func recordAsyncDelivery(
        _ id: String, _ delivery: AsyncDelivery, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) {
        guard var event = lambda.asyncEvents[id] else { return }
        event.invokeCount += 1
        let limits = lambda.asyncLimits(event)
        switch delivery {
        case .succeeded(let response, let version):
            lambda.asyncEvents[id] = nil
            changes.delete(AsyncEventRecord.self, key: id)
            if let destination = limits.config?.DestinationConfig?.OnSuccess?.Destination, !destination.isEmpty {
                let record = destinationRecord(
                    event, condition: "Success", statusCode: 200, executedVersion: version, functionError: nil, response: response, now: now)
                sendInternal(to: destination, body: record, attributes: [:], now: now, using: &generator, changes: &changes)
            }
        case .functionFailed(let failure):
            event.failedAttempts += 1
            event.lastError = failure
            if event.failedAttempts > limits.retries {
                deadLetter(event, failure: failure, condition: "RetriesExhausted", now: now, using: &generator, changes: &changes)
                return
            }
            let delay = lambda.settings.asyncRetryDelay * pow(2, Double(event.failedAttempts - 1))
            event.nextAttemptAt = now.addingTimeInterval(delay)
            lambda.asyncEvents[id] = event
            changes.put(event)
        case .deferred(let failure):
            event.lastError = failure
            event.nextAttemptAt = now.addingTimeInterval(event.throttleDelay)
            event.throttleDelay = min(lambda.settings.asyncThrottleDelayMax, event.throttleDelay * 2)
            lambda.asyncEvents[id] = event
            changes.put(event)
        }
    }

    private mutating func deadLetter(
        _ event: AsyncEventRecord, failure: AsyncFailure, condition: String, now: Date,
        using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) {
        lambda.asyncEvents[event.requestId] = nil
        changes.delete(AsyncEventRecord.self, key: event.requestId)
        guard let record = lambda.functions[event.functionName] else { return }
        let version = (try? lambda.functionVersion(event.functionName, qualifier: event.qualifier))?.1 ?? record.latest
        if let target = version.configuration.DeadLetterConfig?.TargetArn, !target.isEmpty {
            let attributes: [String: SQSMessageAttributeValue] = [
                "RequestID": SQSMessageAttributeValue(StringValue: event.requestId, DataType: "String"),
                "ErrorCode": SQSMessageAttributeValue(StringValue: String(failure.statusCode), DataType: "Number"),
                "ErrorMessage": SQSMessageAttributeValue(StringValue: String(failure.errorMessage.utf8.prefix(1024)).map { $0 } ?? failure.errorMessage, DataType: "String"),
            ]
            let body = String(decoding: event.payload.isEmpty ? Data("{}".utf8) : event.payload, as: UTF8.self)
            sendInternal(to: target, body: body, attributes: attributes, now: now, using: &generator, changes: &changes)
        }
        if let destination = lambda.asyncLimits(event).config?.DestinationConfig?.OnFailure?.Destination, !destination.isEmpty {
            let record = destinationRecord(
                event, condition: condition, statusCode: failure.statusCode, executedVersion: failure.executedVersion,
                functionError: failure.statusCode == 200 ? "Unhandled" : nil, response: failure.responsePayload, now: now)
            sendInternal(to: destination, body: record, attributes: [:], now: now, using: &generator, changes: &changes)
        }
    }

    /// Lambda's destination record (version 1.0).
    private func destinationRecord(
        _ event: AsyncEventRecord, condition: String, statusCode: Int, executedVersion: String?, functionError: String?,
        response: Data?, now: Date
    ) -> String {
        func json(_ data: Data?) -> JSONValue {
            guard let data, !data.isEmpty else { return .null }
            return (try? JSONDecoder().decode(JSONValue.self, from: data)) ?? .string(String(decoding: data, as: UTF8.self))
        }
        var responseContext: [String: JSONValue] = ["statusCode": .number(Double(statusCode))]
        if let executedVersion { responseContext["executedVersion"] = .string(executedVersion) }
        if let functionError { responseContext["functionError"] = .string(functionError) }
        let record: [String: JSONValue] = [
            "version": .string("1.0"),
            "timestamp": .string(now.formatted(.iso8601)),
            "requestContext": .object([
                "requestId": .string(event.requestId),
                "functionArn": .string(lambda.names.function(event.functionName, qualifier: event.qualifier ?? FunctionNames.latest)),
                "condition": .string(condition),
                "approximateInvokeCount": .number(Double(event.invokeCount)),
            ]),
            "requestPayload": json(event.payload),
            "responseContext": .object(responseContext),
            "responsePayload": json(response),
        ]
        return String(decoding: RecordCoding.encode(JSONValue.object(record)), as: UTF8.self)
    }

    /// Sends to one of this control plane's queues by ARN (a missing queue drops the message).
    private mutating func sendInternal(
        to arn: String, body: String, attributes: [String: SQSMessageAttributeValue], now: Date,
        using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) {
        guard let name = arn.split(separator: ":").last.map(String.init), sqs.queues[name] != nil else { return }
        _ = try? sqs.sendMessage(
            SQSSendMessageRequest(QueueUrl: sqs.queueUrl(name), MessageBody: body, MessageAttributes: attributes.isEmpty ? nil : attributes),
            now: now, using: &generator, changes: &changes)
    }
}
