#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ECS
import ECSShapes
import EventsShapes
import Lambda
import SQS
import SQSShapes
import SNS
import StevedoreCore

/// An event on a bus: its JSON as targets receive it, and parsed, for matching.
public struct MatchedEvent: Sendable {
    public let id: String
    /// `time`, as the event gives it.
    public let time: String
    public let text: String
    let value: JSONValue

    /// An event in EventBridge's envelope (`version` "0"); `detail` is JSON object text.
    init(
        id: String, source: String, detailType: String, resources: [String], detail: String, time: Date, names: ResourceNames
    ) throws {
        let detailValue = try JSONDecoder().decode(JSONValue.self, from: Data(detail.utf8))
        let seconds = min(max(time.timeIntervalSince1970, EventBridgeState.eventTimes.lowerBound), EventBridgeState.eventTimes.upperBound)
        let stamp = CivilCalendar.iso8601(secondsSince1970: Int64(seconds.rounded(.down)))
        let fields: [String: JSONValue] = [
            "version": .string("0"), "id": .string(id), "detail-type": .string(detailType), "source": .string(source),
            "account": .string(names.accountId), "time": .string(stamp), "region": .string(names.region),
            "resources": .array(resources.map(JSONValue.string)), "detail": detailValue,
        ]
        value = .object(fields)
        self.id = id
        self.time = stamp
        // The envelope in AWS's order, with the detail as it was given.
        var text = "{"
        for key in ["version", "id", "detail-type", "source", "account", "time", "region", "resources"] {
            text += JSONValue.string(key).sortedText + ":" + fields[key]!.sortedText + ","
        }
        self.text = text + "\"detail\":" + detail + "}"
    }
}

/// How a target took an event.
enum DeliveryOutcome: Equatable {
    case delivered
    case failed(code: String, message: String, retryable: Bool)
}

/// Events matched to rules and given to their targets, in the same commit as what caused them:
/// a function's target is queued as an asynchronous invocation, a queue's gets a message, an
/// ECS cluster's a task, another bus the event. Nothing accepted is lost to a crash.
extension EventBridgeHost where Self: SNSHost {
    /// How deep an event may travel from bus to bus.
    static var maximumBusHops: Int { 4 }

    // MARK: PutEvents

    public mutating func putEvents(_ request: EVBPutEventsRequest, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet)
        throws(AWSError) -> EVBPutEventsResponse
    {
        guard (1...10).contains(request.Entries.count) else {
            throw .eventsValidation(
                "1 validation error detected: Value '\(request.Entries.count)' at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10")
        }
        if request.EndpointId != nil { throw .eventsValidation("Global endpoints are not supported by Stevedore; leave EndpointId out.") }
        let size = request.Entries.reduce(0) { $0 + EventBridgeState.entrySize($1) }
        guard size <= 256 * 1024 else {
            throw .eventsValidation("Total size of the entries in the request is over the limit.")
        }
        var results: [EVBPutEventsResultEntry] = []
        for entry in request.Entries {
            if let (code, message) = EventBridgeState.refusal(of: entry) {
                results.append(EVBPutEventsResultEntry(ErrorCode: code, ErrorMessage: message))
                continue
            }
            let bus = EventBridgeState.busName(entry.EventBusName)
            let id = Identifiers.uuid(using: &generator)
            // An event for a bus that does not exist is accepted and goes nowhere, as in AWS.
            guard bus == EventBridgeState.defaultBus || events.buses[bus] != nil else {
                results.append(EVBPutEventsResultEntry(EventId: id))
                continue
            }
            guard
                let event = try? MatchedEvent(
                    id: id, source: entry.Source!, detailType: entry.DetailType!, resources: entry.Resources ?? [], detail: entry.Detail!,
                    time: entry.Time ?? now, names: events.names)
            else {
                results.append(EVBPutEventsResultEntry(ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."))
                continue
            }
            route(event, toBus: bus, hops: 0, now: now, using: &generator, changes: &changes)
            results.append(EVBPutEventsResultEntry(EventId: id))
        }
        return EVBPutEventsResponse(FailedEntryCount: results.filter { $0.ErrorCode != nil }.count, Entries: results)
    }

    /// Publishes an event of this control plane's own (ECS's state changes) to the default bus.
    public mutating func publish(
        source: String, detailType: String, resources: [String], detail: String, now: Date,
        using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) {
        guard events.hasEnabledRules(on: EventBridgeState.defaultBus) else { return }
        let id = Identifiers.uuid(using: &generator)
        guard let event = try? MatchedEvent(id: id, source: source, detailType: detailType, resources: resources, detail: detail, time: now, names: events.names)
        else { return }
        route(event, toBus: EventBridgeState.defaultBus, hops: 0, now: now, using: &generator, changes: &changes)
    }

    /// Gives the event to the targets of every enabled rule of the bus whose pattern matches it.
    mutating func route(_ event: MatchedEvent, toBus bus: String, hops: Int, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet) {
        for rule in (events.rules[bus] ?? [:]).values.sorted(by: { $0.name < $1.name }) where rule.enabled {
            guard let pattern = events.patterns[rule.key], pattern.matches(event.value) else { continue }
            deliver(event, rule: rule, hops: hops, now: now, using: &generator, changes: &changes)
        }
    }

    /// Gives the event to each of the rule's targets, in the form each asks for.
    mutating func deliver(_ event: MatchedEvent, rule: RuleRecord, hops: Int, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet) {
        let ruleArn = events.names.eventRule(rule.name, bus: rule.bus)
        for target in rule.targets {
            let input = TargetInput.render(target, event: event, ruleArn: ruleArn, ruleName: rule.name)
            let outcome = give(input, event: event, to: target, fromBus: rule.bus, hops: hops, now: now, using: &generator, changes: &changes)
            guard case .failed(let code, let message, let retryable) = outcome else { continue }
            let retries = target.RetryPolicy?.MaximumRetryAttempts ?? 185
            if retryable, retries > 0 {
                let record = PendingDeliveryRecord(
                    id: Identifiers.uuid(using: &generator), ruleKey: rule.key, targetId: target.Id, event: event.text, input: input,
                    firstAttemptAt: now, nextAttemptAt: now.addingTimeInterval(EventBridgeState.retryDelay(afterRetries: 0)), retries: 0,
                    lastErrorCode: code, lastErrorMessage: message)
                events.pendingDeliveries[record.id] = record
                changes.put(record)
            } else {
                deadLetter(event.text, target: target, source: ("RULE_ARN", ruleArn), code: code, message: message, condition: retryable ? "MaximumRetryAttemptsExceeded" : nil,
                    retries: 0, now: now, using: &generator, changes: &changes)
            }
        }
    }

    /// One delivery to one target.
    mutating func give(
        _ input: String, event: MatchedEvent, to target: EVBTarget, fromBus: String, hops: Int, now: Date,
        using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) -> DeliveryOutcome {
        switch TargetKind(target.Arn) {
        case .function(let name, let qualifier)?:
            do {
                _ = try lambda.functionVersion(name, qualifier: qualifier)
            } catch {
                return .failed(code: "ResourceNotFoundException", message: "Function not found: \(target.Arn)", retryable: false)
            }
            lambda.enqueueAsyncEvent(
                AsyncEventRecord(
                    requestId: Identifiers.uuid(using: &generator), functionName: name, qualifier: qualifier, payload: Data(input.utf8), enqueuedAt: now),
                changes: &changes)
            changes.touch(.eventInvocations)
            return .delivered
        case .queue(let name)?:
            guard sqs.queues[name] != nil else {
                return .failed(code: "AWS.SimpleQueueService.NonExistentQueue", message: "The specified queue does not exist.", retryable: false)
            }
            do {
                // A FIFO queue takes the target's message group; the event's id deduplicates.
                let fifo = sqs.queues[name]?.isFIFO == true
                _ = try sqs.sendMessage(
                    SQSSendMessageRequest(
                        QueueUrl: sqs.queueUrl(name), MessageBody: input, MessageDeduplicationId: fifo ? event.id : nil,
                        MessageGroupId: fifo ? target.SqsParameters?.MessageGroupId : nil),
                    now: now, using: &generator, changes: &changes)
                return .delivered
            } catch {
                return .failed(code: error.type, message: error.message, retryable: false)
            }
        case .topic(let arn)?:
            do {
                _ = try publish(topicArn: arn, message: input, subject: nil, structure: nil, attributes: [:], now: now, using: &generator, changes: &changes)
                return .delivered
            } catch {
                return .failed(code: error.type, message: error.message, retryable: false)
            }
        case .bus(let name)?:
            guard name == EventBridgeState.defaultBus || events.buses[name] != nil else {
                return .failed(code: "ResourceNotFoundException", message: "Event bus \(name) does not exist.", retryable: false)
            }
            guard hops < Self.maximumBusHops, name != fromBus else {
                return .failed(code: "InvalidArgument", message: "The event went from bus to bus more than \(Self.maximumBusHops) times.", retryable: false)
            }
            route(event, toBus: name, hops: hops + 1, now: now, using: &generator, changes: &changes)
            return .delivered
        case .cluster(let name)?:
            guard let parameters = target.EcsParameters else {
                return .failed(code: "InvalidArgument", message: "EcsParameters are missing.", retryable: false)
            }
            var request = RunTaskRequest(taskDefinition: parameters.TaskDefinitionArn)
            request.cluster = name
            request.count = parameters.TaskCount ?? 1
            request.group = parameters.Group
            request.launchType = parameters.LaunchType.flatMap { LaunchType(rawValue: $0.rawValue) }
            request.enableECSManagedTags = parameters.EnableECSManagedTags
            request.referenceId = parameters.ReferenceId
            request.tags = parameters.Tags?.map { ResourceTag(key: $0.Key, value: $0.Value) }
            request.overrides = target.Input.flatMap { try? JSONDecoder().decode(TaskOverride.self, from: Data($0.utf8)) }
                ?? target.InputTransformer.flatMap { _ in try? JSONDecoder().decode(TaskOverride.self, from: Data(input.utf8)) }
            do {
                let response = try ecs.runTask(request, now: now, using: &generator, changes: &changes)
                if let failure = response.failures?.first, response.tasks?.isEmpty ?? true {
                    return .failed(code: "ECSRunTaskFailure", message: "\(failure.reason ?? "RunTask failed") (\(failure.arn ?? name))", retryable: true)
                }
                return .delivered
            } catch {
                return .failed(code: error.type, message: error.message, retryable: error.isRetryable)
            }
        case nil:
            return .failed(code: "InvalidArgument", message: "\(target.Arn) is not a target Stevedore delivers to.", retryable: false)
        }
    }

    /// Sends an event its target would not take to the target's dead-letter queue, with the
    /// attributes EventBridge gives it; without one, the event is dropped.
    mutating func deadLetter(
        _ event: String, target: EVBTarget, source: (attribute: String, arn: String), code: String, message: String, condition: String?, retries: Int, now: Date,
        using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) {
        guard let arn = target.DeadLetterConfig?.Arn, case .queue(let name)? = TargetKind(arn), sqs.queues[name] != nil else { return }
        var attributes: [String: SQSMessageAttributeValue] = [
            source.attribute: SQSMessageAttributeValue(StringValue: source.arn, DataType: "String"),
            "TARGET_ARN": SQSMessageAttributeValue(StringValue: target.Arn, DataType: "String"),
            "ERROR_CODE": SQSMessageAttributeValue(StringValue: code, DataType: "String"),
            "ERROR_MESSAGE": SQSMessageAttributeValue(StringValue: String(message.prefix(1024)), DataType: "String"),
            "RETRY_ATTEMPTS": SQSMessageAttributeValue(StringValue: String(retries), DataType: "Number"),
        ]
        if let condition { attributes["EXHAUSTED_RETRY_CONDITION"] = SQSMessageAttributeValue(StringValue: condition, DataType: "String") }
        _ = try? sqs.sendMessage(
            SQSSendMessageRequest(QueueUrl: sqs.queueUrl(name), MessageBody: event, MessageAttributes: attributes), now: now, using: &generator,
            changes: &changes)
    }

    // MARK: Retries and schedules (the events loop)

    /// Tries again the deliveries that are due; those out of retries or too old go to their
    /// dead-letter queue. Returns how many were tried.
    @discardableResult
    public mutating func retryDueDeliveries(now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet) -> Int {
        let due = events.pendingDeliveries.values.filter { $0.nextAttemptAt <= now }.sorted { $0.nextAttemptAt < $1.nextAttemptAt }
        for var pending in due {
            events.pendingDeliveries[pending.id] = nil
            changes.delete(PendingDeliveryRecord.self, key: pending.id)
            guard let (target, fromBus, source) = events.retriedTarget(pending), let event = try? MatchedEvent(reparsing: pending.event) else { continue }
            let outcome = give(pending.input, event: event, to: target, fromBus: fromBus, hops: 0, now: now, using: &generator, changes: &changes)
            guard case .failed(let code, let message, let retryable) = outcome else { continue }
            pending.retries += 1
            let maximumRetries = target.RetryPolicy?.MaximumRetryAttempts ?? 185
            let maximumAge = TimeInterval(target.RetryPolicy?.MaximumEventAgeInSeconds ?? 86400)
            let tooOld = now.timeIntervalSince(pending.firstAttemptAt) >= maximumAge
            if retryable, pending.retries < maximumRetries, !tooOld {
                pending.nextAttemptAt = now.addingTimeInterval(EventBridgeState.retryDelay(afterRetries: pending.retries))
                pending.lastErrorCode = code
                pending.lastErrorMessage = message
                events.pendingDeliveries[pending.id] = pending
                changes.put(pending)
            } else {
                let condition = !retryable ? nil : tooOld ? "MaximumEventAgeExceeded" : "MaximumRetryAttemptsExceeded"
                deadLetter(pending.event, target: target, source: source, code: code, message: message, condition: condition,
                    retries: pending.retries, now: now, using: &generator, changes: &changes)
            }
        }
        return due.count
    }

    /// Fires the scheduled rules that are due: each target gets a "Scheduled Event". A rule
    /// that fell behind (ecsd was stopped) fires once, then keeps its rhythm from now.
    @discardableResult
    public mutating func fireDueSchedules(now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet) -> Int {
        var fired = 0
        for var rule in (events.rules[EventBridgeState.defaultBus] ?? [:]).values.sorted(by: { $0.name < $1.name }) {
            guard rule.enabled, let due = rule.nextFireAt, due <= now, let expression = rule.scheduleExpression,
                let schedule = try? ScheduleExpression.parse(expression)
            else { continue }
            rule.nextFireAt = schedule.next(after: now, start: rule.scheduleAnchor ?? rule.createdAt, timeZone: .gmt)
            events.rules[rule.bus]?[rule.name] = rule
            changes.put(rule)
            let ruleArn = events.names.eventRule(rule.name, bus: rule.bus)
            guard
                let event = try? MatchedEvent(
                    id: Identifiers.uuid(using: &generator), source: "aws.events", detailType: "Scheduled Event", resources: [ruleArn], detail: "{}",
                    time: due, names: events.names)
            else { continue }
            deliver(event, rule: rule, hops: 0, now: now, using: &generator, changes: &changes)
            fired += 1
        }
        return fired
    }
}

extension MatchedEvent {
    /// An event read back from its text (a delivery waiting to be retried).
    init(reparsing text: String) throws {
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        guard case .object(let fields) = value, case .string(let id)? = fields["id"], case .string(let time)? = fields["time"] else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "not an event"))
        }
        self.id = id
        self.time = time
        self.text = text
        self.value = value
    }
}

extension EventBridgeState {
    /// The target a waiting delivery is for (a rule's, or a schedule's), the bus it came from, and
    /// the attribute naming its source in a dead letter. Nil when the rule, schedule or target went.
    func retriedTarget(_ pending: PendingDeliveryRecord) -> (EVBTarget, String, (attribute: String, arn: String))? {
        if let target = pending.scheduleTarget { return (target, "", ("SCHEDULE_ARN", pending.scheduleArn ?? "")) }
        let parts = pending.ruleKey.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let rule = rules[parts[0]]?[parts[1]], let target = rule.targets.first(where: { $0.Id == pending.targetId }) else { return nil }
        return (target, rule.bus, ("RULE_ARN", names.eventRule(rule.name, bus: rule.bus)))
    }

    /// Whether any enabled rule listens on the bus (events nobody listens for cost nothing).
    public func hasEnabledRules(on bus: String) -> Bool {
        rules[bus]?.values.contains { $0.enabled && $0.eventPattern != nil } ?? false
    }

    /// The times an event may carry (seconds since 1970, to the end of year 9999).
    static let eventTimes: ClosedRange<Double> = 0...253_402_300_799

    /// Back-off before retry `n + 1`: 1 s doubling, at most 5 minutes.
    static func retryDelay(afterRetries retries: Int) -> TimeInterval {
        min(300, Double(1 << min(retries, 16)))
    }

    /// What an entry counts against PutEvents' 256 KB: its strings' UTF-8 bytes, 14 for a time.
    static func entrySize(_ entry: EVBPutEventsRequestEntry) -> Int {
        var size = entry.Time == nil ? 0 : 14
        for text in [entry.Source, entry.DetailType, entry.Detail].compactMap({ $0 }) { size += text.utf8.count }
        for resource in entry.Resources ?? [] { size += resource.utf8.count }
        return size
    }

    /// Why PutEvents turns an entry down (its ErrorCode and ErrorMessage), or nil.
    static func refusal(of entry: EVBPutEventsRequestEntry) -> (String, String)? {
        guard let source = entry.Source, !source.isEmpty else {
            return ("InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument.")
        }
        guard let detailType = entry.DetailType, !detailType.isEmpty else {
            return ("InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument.")
        }
        guard let detail = entry.Detail, !detail.isEmpty else {
            return ("InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument.")
        }
        guard case .object? = try? JSONDecoder().decode(JSONValue.self, from: Data(detail.utf8)) else {
            return ("MalformedDetail", "Detail is malformed.")
        }
        if let time = entry.Time, !Self.eventTimes.contains(time.timeIntervalSince1970) {
            return ("InvalidArgument", "Parameter Time is not valid. Reason: Time must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z.")
        }
        if source.hasPrefix("aws.") {
            return ("NotAuthorizedForSourceException", "Not authorized for the source.")
        }
        return nil
    }
}

extension RecordKind {
    /// Touched when an event queued a function's invocation (the invoker is woken).
    public static let eventInvocations = RecordKind("event_invocations")
}

extension EventBridgeState {
    /// Whether a scheduled rule or a retry is due (the events loop writes only then).
    public func hasDueWork(now: Date) -> Bool {
        pendingDeliveries.values.contains { $0.nextAttemptAt <= now }
            || (rules[Self.defaultBus] ?? [:]).values.contains { $0.enabled && ($0.nextFireAt.map { $0 <= now } ?? false) }
            || schedules.values.contains { $0.enabled && ($0.nextFireAt.map { $0 <= now } ?? false) }
    }
}
