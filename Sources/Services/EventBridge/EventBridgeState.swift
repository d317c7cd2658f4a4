#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import EventsShapes
import StevedoreCore

/// EventBridge's state: event buses and their rules (each with its targets). The `default` bus
/// always exists. Operations are pure functions over it; deliveries land in other services' state
/// (Lambda's queue of asynchronous events, SQS's messages, ECS's tasks) in the same commit.
public struct EventBridgeState: Sendable {
    public let names: ResourceNames
    /// Custom buses by name (the default bus has no record).
    public package(set) var buses: [String: EventBusRecord] = [:]
    /// Rules by bus, then name.
    public package(set) var rules: [String: [String: RuleRecord]] = [:]
    /// Each rule's parsed pattern, by ``RuleRecord/key`` (parsed once, at PutRule or restore).
    var patterns: [String: EventPattern] = [:]
    /// Whether an enabled rule of the default bus could match an `aws.ecs` event (ECS's changes
    /// become events only then; kept as rules change).
    public internal(set) var listensForECSEvents = false
    /// The statuses each task's last "ECS Task State Change" showed (memory only: after a
    /// restart, a task's next change is published whatever it was).
    var publishedTaskStatuses: [String: String] = [:]
    /// Each deployment's last published rollout state (memory only, as above).
    var publishedRollouts: [String: String] = [:]
    /// Deliveries a target refused for a reason that may pass, to be tried again (RetryPolicy).
    public package(set) var pendingDeliveries: [String: PendingDeliveryRecord] = [:]
    /// Scheduler's schedules by `group/name`, and its groups (the `default` group has no record).
    public package(set) var schedules: [String: ScheduleRecord] = [:]
    public package(set) var scheduleGroups: [String: ScheduleGroupRecord] = [:]

    public static let defaultBus = "default"

    public init(names: ResourceNames) {
        self.names = names
    }

    public static let recordKinds: [RecordKind] = [.eventBuses, .eventRules, .eventDeliveries, .schedules, .scheduleGroups]

    public static func restore(names: ResourceNames, rows: StoredRows) throws -> EventBridgeState {
        var state = EventBridgeState(names: names)
        for bus in try rows.decode(EventBusRecord.self) { state.buses[bus.name] = bus }
        for rule in try rows.decode(RuleRecord.self) {
            state.rules[rule.bus, default: [:]][rule.name] = rule
            if let text = rule.eventPattern { state.patterns[rule.key] = try? EventPattern.parse(text) }
        }
        for delivery in try rows.decode(PendingDeliveryRecord.self) { state.pendingDeliveries[delivery.id] = delivery }
        for schedule in try rows.decode(ScheduleRecord.self) { state.schedules[schedule.recordKey] = schedule }
        for group in try rows.decode(ScheduleGroupRecord.self) { state.scheduleGroups[group.name] = group }
        state.rulesChanged()
        return state
    }

    /// Recomputes what depends on the set of rules.
    mutating func rulesChanged() {
        listensForECSEvents = (rules[Self.defaultBus] ?? [:]).values.contains { rule in
            rule.enabled && (patterns[rule.key]?.mightMatch(field: "source", value: .string("aws.ecs")) ?? false)
        }
    }

    mutating func notePublished(deployment id: String, state: String) {
        if publishedRollouts.count >= 100_000 { publishedRollouts.removeAll(keepingCapacity: true) }
        publishedRollouts[id] = state
    }

    mutating func notePublished(task arn: String, statuses: String) {
        // Bounded: forgetting costs at most one repeated event per task.
        if publishedTaskStatuses.count >= 100_000 { publishedTaskStatuses.removeAll(keepingCapacity: true) }
        publishedTaskStatuses[arn] = statuses
    }
}

/// The composed state EventBridge's operations run in.
public protocol EventBridgeHost: Sendable {
    var events: EventBridgeState { get set }
}

public struct EventBusRecord: StoredRecord, Equatable {
    public var name: String
    public var description: String?
    public var tags: [String: String] = [:]
    public var createdAt: Date
    public var modifiedAt: Date

    public static var recordKind: RecordKind { .eventBuses }
    public var recordKey: String { name }
}

/// A rule with its targets (they are put and removed with it, and read together).
public struct RuleRecord: StoredRecord, Equatable {
    public var name: String
    public var bus: String
    public var eventPattern: String?
    public var scheduleExpression: String?
    public var enabled: Bool
    public var description: String?
    public var roleArn: String?
    public var tags: [String: String] = [:]
    public var targets: [EVBTarget] = []
    public var createdAt: Date
    /// A scheduled rule's next firing, and the time its rhythm counts from (a rate's periods).
    public var nextFireAt: Date?
    public var scheduleAnchor: Date?

    public static var recordKind: RecordKind { .eventRules }
    public var recordKey: String { key }
    var key: String { "\(bus)/\(name)" }
}

/// An event a target is to be given again: the rule and target, what it receives, and how many
/// tries so far.
public struct PendingDeliveryRecord: StoredRecord, Equatable {
    public var id: String
    public var ruleKey: String
    public var targetId: String
    /// The event as delivered on the bus, and what the target receives (its input).
    public var event: String
    public var input: String
    public var firstAttemptAt: Date
    public var nextAttemptAt: Date
    public var retries: Int
    public var lastErrorCode: String
    public var lastErrorMessage: String
    /// A schedule's target and ARN, kept with the delivery (the schedule may be gone by its retry).
    public var scheduleTarget: EVBTarget?
    public var scheduleArn: String?

    public static var recordKind: RecordKind { .eventDeliveries }
    public var recordKey: String { id }
}

extension RecordKind {
    public static let eventDeliveries = RecordKind("event_deliveries")
    public static let eventBuses = RecordKind("event_buses")
    public static let eventRules = RecordKind("event_rules")
}

extension ResourceNames {
    public func eventBus(_ name: String) -> String { arn("events", "event-bus/\(name)") }

    /// Rules of the default bus are `rule/<name>`; of another bus, `rule/<bus>/<name>`.
    public func eventRule(_ name: String, bus: String) -> String {
        arn("events", bus == EventBridgeState.defaultBus ? "rule/\(name)" : "rule/\(bus)/\(name)")
    }
}

/// EventBridge's error shapes.
extension AWSError {
    static func eventsValidation(_ message: String) -> AWSError { AWSError(type: "ValidationException", message: message) }

    static func ruleNotFound(_ name: String, bus: String) -> AWSError {
        .resourceNotFound("Rule \(name) does not exist on EventBus \(bus).")
    }

    static func busNotFound(_ name: String) -> AWSError {
        .resourceNotFound("Event bus \(name) does not exist.")
    }

    static func invalidEventPattern(_ error: EventPattern.ParseError) -> AWSError {
        AWSError(type: "InvalidEventPatternException", message: error.message)
    }
}
