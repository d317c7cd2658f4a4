#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import EventsShapes
import SchedulerShapes
import SNS
import StevedoreCore

/// An EventBridge Scheduler schedule: when (`at`, `rate`, `cron` in a time zone, between a start
/// and an end date, within a flexible window) and what it invokes (a templated target).
public struct ScheduleRecord: StoredRecord, Equatable {
    public var name: String
    public var group: String
    public var expression: String
    public var timezone: String?
    public var startDate: Date?
    public var endDate: Date?
    public var description: String?
    public var enabled: Bool
    public var target: SCHTarget
    public var flexibleWindowMinutes: Int?
    public var deleteAfterCompletion: Bool
    public var kmsKeyArn: String?
    public var createdAt: Date
    public var modifiedAt: Date
    /// When it fires next (its time plus, with a flexible window, a random delay within it).
    public var nextFireAt: Date?
    /// The time the next firing is for (without the window's delay).
    public var nextScheduledAt: Date?

    public static var recordKind: RecordKind { .schedules }
    public var recordKey: String { "\(group)/\(name)" }

    /// The target in EventBridge's terms, for delivery (the same paths as a rule's targets).
    var deliveryTarget: EVBTarget {
        EVBTarget(
            Id: "schedule", Arn: target.Arn, RoleArn: target.RoleArn, Input: target.Input,
            EcsParameters: target.EcsParameters.map { parameters in
                EVBEcsParameters(
                    TaskDefinitionArn: parameters.TaskDefinitionArn, TaskCount: parameters.TaskCount,
                    LaunchType: parameters.LaunchType.flatMap { EVBLaunchType(rawValue: $0.rawValue) }, Group: parameters.Group,
                    EnableECSManagedTags: parameters.EnableECSManagedTags, ReferenceId: parameters.ReferenceId,
                    Tags: parameters.Tags?.flatMap { $0.map { EVBResourceTag(Key: $0.key, Value: $0.value) } })
            },
            SqsParameters: target.SqsParameters.map { EVBSqsParameters(MessageGroupId: $0.MessageGroupId) },
            DeadLetterConfig: target.DeadLetterConfig.map { EVBDeadLetterConfig(Arn: $0.Arn) },
            RetryPolicy: target.RetryPolicy.map { EVBRetryPolicy(MaximumRetryAttempts: $0.MaximumRetryAttempts, MaximumEventAgeInSeconds: $0.MaximumEventAgeInSeconds) })
    }
}

public struct ScheduleGroupRecord: StoredRecord, Equatable {
    public var name: String
    public var tags: [String: String] = [:]
    public var createdAt: Date
    public var modifiedAt: Date

    public static var recordKind: RecordKind { .scheduleGroups }
    public var recordKey: String { name }
}

extension RecordKind {
    public static let schedules = RecordKind("schedules")
    public static let scheduleGroups = RecordKind("schedule_groups")
}

extension ResourceNames {
    public func schedule(_ name: String, group: String) -> String { arn("scheduler", "schedule/\(group)/\(name)") }
    public func scheduleGroup(_ name: String) -> String { arn("scheduler", "schedule-group/\(name)") }
}

extension AWSError {
    static func schedulerValidation(_ message: String) -> AWSError { AWSError(type: "ValidationException", message: message) }
    static func schedulerNotFound(_ message: String) -> AWSError { AWSError(type: "ResourceNotFoundException", message: message, httpStatus: 404) }
    static func schedulerConflict(_ message: String) -> AWSError { AWSError(type: "ConflictException", message: message, httpStatus: 409) }
}

extension EventBridgeState {
    public static let defaultScheduleGroup = "default"
    static let scheduleKeyPrefix = "schedule:"

    func scheduleGroupExists(_ name: String) -> Bool { name == Self.defaultScheduleGroup || scheduleGroups[name] != nil }

    public func schedule(_ name: String, group: String?) throws(AWSError) -> ScheduleRecord {
        let group = group ?? Self.defaultScheduleGroup
        guard scheduleGroupExists(group) else { throw .schedulerNotFound("Schedule group \(group) does not exist.") }
        guard let schedule = schedules["\(group)/\(name)"] else { throw .schedulerNotFound("Schedule \(name) does not exist.") }
        return schedule
    }

    /// Create (or, with `replacing`, update) a schedule from the fields both operations take.
    public mutating func putSchedule(
        name: String, _ input: SCHCreateScheduleInput, replacing: Bool, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) throws(AWSError) -> String {
        guard (1...64).contains(name.count), name.utf8.allSatisfy({ NameRules.isNameByte($0) || $0 == UInt8(ascii: ".") }) else {
            throw .schedulerValidation("1 validation error detected: Value '\(name)' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_.]+$")
        }
        let group = input.GroupName ?? Self.defaultScheduleGroup
        guard scheduleGroupExists(group) else { throw .schedulerNotFound("Schedule group \(group) does not exist.") }
        let key = "\(group)/\(name)"
        let existing = schedules[key]
        if replacing, existing == nil { throw .schedulerNotFound("Schedule \(name) does not exist.") }
        if !replacing, existing != nil { throw .schedulerConflict("Schedule \(name) already exists.") }
        guard let expression = try? ScheduleExpression.parse(input.ScheduleExpression) else {
            throw .schedulerValidation("Invalid Schedule Expression \(input.ScheduleExpression).")
        }
        if let zone = input.ScheduleExpressionTimezone, TimeZone(identifier: zone) == nil {
            throw .schedulerValidation("Invalid ScheduleExpressionTimezone \(zone).")
        }
        if let start = input.StartDate, let end = input.EndDate, end <= start {
            throw .schedulerValidation("The EndDate must be after the StartDate.")
        }
        let window: Int?
        switch input.FlexibleTimeWindow.Mode {
        case .off:
            guard input.FlexibleTimeWindow.MaximumWindowInMinutes == nil else {
                throw .schedulerValidation("MaximumWindowInMinutes must not be provided when Mode is OFF.")
            }
            window = nil
        case .flexible:
            guard let minutes = input.FlexibleTimeWindow.MaximumWindowInMinutes, (1...1440).contains(minutes) else {
                throw .schedulerValidation("MaximumWindowInMinutes must be between 1 and 1440 when Mode is FLEXIBLE.")
            }
            window = minutes
        }
        try validateScheduleTarget(input.Target)
        var record = ScheduleRecord(
            name: name, group: group, expression: input.ScheduleExpression, timezone: input.ScheduleExpressionTimezone, startDate: input.StartDate,
            endDate: input.EndDate, description: input.Description, enabled: input.State != .disabled, target: input.Target,
            flexibleWindowMinutes: window, deleteAfterCompletion: input.ActionAfterCompletion == .delete, kmsKeyArn: input.KmsKeyArn,
            createdAt: existing?.createdAt ?? now, modifiedAt: now)
        if record.enabled { Self.plan(&record, expression: expression, after: now, using: &generator) }
        schedules[key] = record
        changes.put(record)
        return names.schedule(name, group: group)
    }

    /// Sets the schedule's next firing: the first time of its expression after `after` (not
    /// before its start date, not after its end date), plus a random delay within its window.
    static func plan(_ record: inout ScheduleRecord, expression: ScheduleExpression, after: Date, using generator: inout some RandomNumberGenerator) {
        let zone = record.timezone.flatMap(TimeZone.init(identifier:)) ?? .gmt
        // A one-time schedule ignores StartDate and EndDate, as Scheduler does.
        let (start, end) = expression.isAt ? (nil, nil) : (record.startDate, record.endDate)
        var from = after
        if let start, start > from { from = start.addingTimeInterval(-0.001) }
        guard let next = expression.next(after: from, start: start ?? record.createdAt, timeZone: zone), end.map({ next <= $0 }) ?? true else {
            record.nextFireAt = nil
            record.nextScheduledAt = nil
            return
        }
        record.nextScheduledAt = next
        let delay = record.flexibleWindowMinutes.map { Double(UInt64.random(in: 0..<UInt64($0 * 60_000), using: &generator)) / 1000 } ?? 0
        record.nextFireAt = next.addingTimeInterval(delay)
    }

    func validateScheduleTarget(_ target: SCHTarget) throws(AWSError) {
        guard let kind = TargetKind(target.Arn) else {
            throw .schedulerValidation(
                "Invalid target arn \(target.Arn). Stevedore's Scheduler invokes Lambda functions, SQS queues, SNS topics, EventBridge buses and ECS clusters.")
        }
        if case .cluster = kind, target.EcsParameters == nil { throw .schedulerValidation("EcsParameters must be provided for an ECS cluster target.") }
        if case .bus = kind {
            guard target.EventBridgeParameters != nil else { throw .schedulerValidation("EventBridgeParameters must be provided for an EventBridge target.") }
            if let input = target.Input, case .object? = try? JSONDecoder().decode(JSONValue.self, from: Data(input.utf8)) {} else if target.Input != nil {
                throw .schedulerValidation("Input for an EventBridge target must be a JSON object: it is the event's detail.")
            }
        }
        if let retries = target.RetryPolicy?.MaximumRetryAttempts, !(0...185).contains(retries) {
            throw .schedulerValidation("MaximumRetryAttempts must be between 0 and 185.")
        }
        if let age = target.RetryPolicy?.MaximumEventAgeInSeconds, !(60...86400).contains(age) {
            throw .schedulerValidation("MaximumEventAgeInSeconds must be between 60 and 86400.")
        }
        if let letter = target.DeadLetterConfig?.Arn, TargetKind(letter).flatMap({ if case .queue = $0 { true } else { nil } }) == nil {
            throw .schedulerValidation("DeadLetterConfig's Arn must be an SQS queue's ARN; got \(letter).")
        }
    }

    public mutating func deleteSchedule(_ name: String, group: String?, changes: inout ChangeSet) throws(AWSError) {
        let schedule = try schedule(name, group: group)
        schedules[schedule.recordKey] = nil
        changes.delete(ScheduleRecord.self, key: schedule.recordKey)
    }

    public func scheduleOutput(_ schedule: ScheduleRecord) -> SCHGetScheduleOutput {
        SCHGetScheduleOutput(
            ActionAfterCompletion: schedule.deleteAfterCompletion ? .delete : .none_, Arn: names.schedule(schedule.name, group: schedule.group),
            CreationDate: schedule.createdAt, Description: schedule.description, EndDate: schedule.endDate,
            FlexibleTimeWindow: SCHFlexibleTimeWindow(MaximumWindowInMinutes: schedule.flexibleWindowMinutes, Mode: schedule.flexibleWindowMinutes == nil ? .off : .flexible),
            GroupName: schedule.group, KmsKeyArn: schedule.kmsKeyArn, LastModificationDate: schedule.modifiedAt, Name: schedule.name,
            ScheduleExpression: schedule.expression, ScheduleExpressionTimezone: schedule.timezone ?? "UTC", StartDate: schedule.startDate,
            State: schedule.enabled ? .enabled : .disabled, Target: schedule.target)
    }

    public func listSchedules(_ request: SCHListSchedulesInput) throws(AWSError) -> SCHListSchedulesOutput {
        if let group = request.GroupName, !scheduleGroupExists(group) { throw .schedulerNotFound("Schedule group \(group) does not exist.") }
        let all = schedules.values
            .filter { schedule in
                (request.GroupName.map { $0 == schedule.group } ?? true) && schedule.name.hasPrefix(request.NamePrefix ?? "")
                    && (request.State.map { ($0 == .enabled) == schedule.enabled } ?? true)
            }
            .sorted { $0.recordKey < $1.recordKey }
        let (page, next) = try Self.schedulerPage(all, token: request.NextToken, limit: request.MaxResults)
        return SCHListSchedulesOutput(
            NextToken: next,
            Schedules: page.map { schedule in
                SCHScheduleSummary(
                    Arn: names.schedule(schedule.name, group: schedule.group), CreationDate: schedule.createdAt, GroupName: schedule.group,
                    LastModificationDate: schedule.modifiedAt, Name: schedule.name, State: schedule.enabled ? .enabled : .disabled,
                    Target: SCHTargetSummary(Arn: schedule.target.Arn))
            })
    }

    // MARK: Groups

    public mutating func createScheduleGroup(_ name: String, tags: [SCHResourceTag]?, now: Date, changes: inout ChangeSet) throws(AWSError) -> String {
        guard (1...64).contains(name.count), name.utf8.allSatisfy({ NameRules.isNameByte($0) || $0 == UInt8(ascii: ".") }) else {
            throw .schedulerValidation("1 validation error detected: Value '\(name)' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_.]+$")
        }
        guard !scheduleGroupExists(name) else { throw .schedulerConflict("Schedule group \(name) already exists.") }
        let record = ScheduleGroupRecord(name: name, tags: Dictionary((tags ?? []).map { ($0.Key, $0.Value) }) { _, last in last }, createdAt: now, modifiedAt: now)
        scheduleGroups[name] = record
        changes.put(record)
        return names.scheduleGroup(name)
    }

    public mutating func deleteScheduleGroup(_ name: String, changes: inout ChangeSet) throws(AWSError) {
        guard name != Self.defaultScheduleGroup else { throw .schedulerValidation("Cannot delete the default schedule group.") }
        guard scheduleGroups.removeValue(forKey: name) != nil else { throw .schedulerNotFound("Schedule group \(name) does not exist.") }
        changes.delete(ScheduleGroupRecord.self, key: name)
        // Its schedules go with it.
        for schedule in schedules.values where schedule.group == name {
            schedules[schedule.recordKey] = nil
            changes.delete(ScheduleRecord.self, key: schedule.recordKey)
        }
    }

    public func scheduleGroupOutput(_ name: String) throws(AWSError) -> SCHGetScheduleGroupOutput {
        guard scheduleGroupExists(name) else { throw .schedulerNotFound("Schedule group \(name) does not exist.") }
        let group = scheduleGroups[name]
        return SCHGetScheduleGroupOutput(
            Arn: names.scheduleGroup(name), CreationDate: group?.createdAt ?? Date(timeIntervalSince1970: 0), LastModificationDate: group?.modifiedAt,
            Name: name, State: .active)
    }

    public func listScheduleGroups(_ request: SCHListScheduleGroupsInput) throws(AWSError) -> SCHListScheduleGroupsOutput {
        let all = ([Self.defaultScheduleGroup] + scheduleGroups.keys.sorted()).filter { $0.hasPrefix(request.NamePrefix ?? "") }
        let (page, next) = try Self.schedulerPage(all, token: request.NextToken, limit: request.MaxResults)
        return SCHListScheduleGroupsOutput(
            NextToken: next,
            ScheduleGroups: page.map { name in
                SCHScheduleGroupSummary(
                    Arn: names.scheduleGroup(name), CreationDate: scheduleGroups[name]?.createdAt ?? Date(timeIntervalSince1970: 0),
                    LastModificationDate: scheduleGroups[name]?.modifiedAt, Name: name, State: .active)
            })
    }

    public mutating func tagScheduleGroup(_ arn: String, add tags: [SCHResourceTag], remove keys: [String], now: Date, changes: inout ChangeSet) throws(AWSError) {
        let prefix = names.scheduleGroup("")
        guard arn.hasPrefix(prefix), var group = scheduleGroups[String(arn.dropFirst(prefix.count))] else {
            throw .schedulerNotFound("Schedule group \(arn) does not exist; only custom schedule groups have tags.")
        }
        for tag in tags { group.tags[tag.Key] = tag.Value }
        for key in keys { group.tags[key] = nil }
        group.modifiedAt = now
        scheduleGroups[group.name] = group
        changes.put(group)
    }

    public func scheduleGroupTags(_ arn: String) throws(AWSError) -> [SCHResourceTag] {
        let prefix = names.scheduleGroup("")
        guard arn.hasPrefix(prefix), let group = scheduleGroups[String(arn.dropFirst(prefix.count))] else {
            throw .schedulerNotFound("Schedule group \(arn) does not exist; only custom schedule groups have tags.")
        }
        return group.tags.sorted { $0.key < $1.key }.map { SCHResourceTag(Key: $0.key, Value: $0.value) }
    }

    static func schedulerPage<Item>(_ all: [Item], token: String?, limit: Int?) throws(AWSError) -> ([Item], String?) {
        let limit = limit ?? 100
        guard (1...100).contains(limit) else { throw .schedulerValidation("MaxResults must be between 1 and 100.") }
        let start = token.map { Int($0) ?? -1 } ?? 0
        guard (0...all.count).contains(start) else { throw .schedulerValidation("Invalid NextToken.") }
        let end = min(all.count, start + limit)
        return (Array(all[start..<end]), end < all.count ? String(end) : nil)
    }
}

extension EventBridgeHost where Self: SNSHost {
    /// Fires the schedules that are due: each target gets its input (a bus, an event with the
    /// schedule's source and detail type), in this commit; a failure that may pass is retried
    /// within the target's RetryPolicy, then dead-lettered. A one-time schedule with
    /// ActionAfterCompletion DELETE goes once it fired.
    @discardableResult
    public mutating func fireDueScheduledTargets(now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet) -> Int {
        var fired = 0
        for var schedule in events.schedules.values.sorted(by: { $0.recordKey < $1.recordKey }) {
            guard schedule.enabled, let due = schedule.nextFireAt, due <= now else { continue }
            let arn = events.names.schedule(schedule.name, group: schedule.group)
            let target = schedule.deliveryTarget
            let input = schedule.target.Input ?? "{}"
            let parameters = schedule.target.EventBridgeParameters
            if let event = try? MatchedEvent(
                id: Identifiers.uuid(using: &generator), source: parameters?.Source ?? "aws.scheduler", detailType: parameters?.DetailType ?? "Scheduled Event",
                resources: [arn], detail: parameters == nil ? "{}" : input, time: schedule.nextScheduledAt ?? due, names: events.names)
            {
                let outcome = give(input, event: event, to: target, fromBus: "", hops: 0, now: now, using: &generator, changes: &changes)
                if case .failed(let code, let message, let retryable) = outcome {
                    if retryable, (target.RetryPolicy?.MaximumRetryAttempts ?? 185) > 0 {
                        let record = PendingDeliveryRecord(
                            id: Identifiers.uuid(using: &generator), ruleKey: EventBridgeState.scheduleKeyPrefix + schedule.recordKey, targetId: target.Id,
                            event: event.text, input: input, firstAttemptAt: now, nextAttemptAt: now.addingTimeInterval(EventBridgeState.retryDelay(afterRetries: 0)),
                            retries: 0, lastErrorCode: code, lastErrorMessage: message, scheduleTarget: target, scheduleArn: arn)
                        events.addPendingDelivery(record, changes: &changes)
                    } else {
                        deadLetter(
                            event.text, target: target, source: ("SCHEDULE_ARN", arn), code: code, message: message, condition: nil, retries: 0, now: now,
                            using: &generator, changes: &changes)
                    }
                }
            }
            fired += 1
            if let expression = try? ScheduleExpression.parse(schedule.expression) {
                EventBridgeState.plan(&schedule, expression: expression, after: schedule.nextScheduledAt ?? due, using: &generator)
                // Behind by more than one period (ecsd was down): fire once, then go on from now.
                if let next = schedule.nextFireAt, next <= now { EventBridgeState.plan(&schedule, expression: expression, after: now, using: &generator) }
            } else {
                schedule.nextFireAt = nil
            }
            if schedule.nextFireAt == nil, schedule.deleteAfterCompletion {
                events.removeSchedule(schedule.recordKey, changes: &changes)
            } else {
                events.replaceSchedule(schedule, changes: &changes)
            }
        }
        return fired
    }
}

extension EventBridgeState {
    mutating func addPendingDelivery(_ record: PendingDeliveryRecord, changes: inout ChangeSet) {
        pendingDeliveries[record.id] = record
        changes.put(record)
    }

    mutating func removeSchedule(_ key: String, changes: inout ChangeSet) {
        schedules[key] = nil
        changes.delete(ScheduleRecord.self, key: key)
    }

    mutating func replaceSchedule(_ schedule: ScheduleRecord, changes: inout ChangeSet) {
        schedules[schedule.recordKey] = schedule
        changes.put(schedule)
    }
}
