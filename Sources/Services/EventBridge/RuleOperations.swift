#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import EventsShapes
import SNS
import StevedoreCore

/// Buses, rules and targets: EventBridge's control operations.
extension EventBridgeState {
    /// The most targets a rule may have.
    public static let targetsPerRule = 5

    // MARK: Buses

    /// A bus's name from a name or an ARN (`…:event-bus/<name>`); nil means the default bus.
    public static func busName(_ reference: String?) -> String {
        guard let reference, !reference.isEmpty else { return defaultBus }
        if reference.hasPrefix("arn:"), case .bus(let name)? = TargetKind(reference) { return name }
        return reference
    }

    /// The bus a request names, which must exist.
    func existingBus(_ reference: String?) throws(AWSError) -> String {
        let name = Self.busName(reference)
        guard name == Self.defaultBus || buses[name] != nil else { throw .busNotFound(name) }
        return name
    }

    public mutating func createEventBus(_ request: EVBCreateEventBusRequest, now: Date, changes: inout ChangeSet) throws(AWSError)
        -> EVBCreateEventBusResponse
    {
        let name = request.Name
        guard (1...256).contains(name.count), name.utf8.allSatisfy({ NameRules.isNameByte($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "/") }),
            !name.hasPrefix("aws.")
        else {
            throw .eventsValidation(
                "1 validation error detected: Value '\(name)' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [/\\.\\-_A-Za-z0-9]+")
        }
        guard !name.contains("/") else { throw .eventsValidation("Event bus name must not contain '/'.") }
        guard name != Self.defaultBus, buses[name] == nil else {
            throw AWSError(type: "ResourceAlreadyExistsException", message: "Event bus \(name) already exists.")
        }
        if request.EventSourceName != nil {
            throw .eventsValidation("Partner event sources are not supported by Stevedore; create the bus without EventSourceName.")
        }
        let record = EventBusRecord(
            name: name, description: request.Description, tags: Self.tagMap(request.Tags), createdAt: now, modifiedAt: now)
        buses[name] = record
        changes.put(record)
        return EVBCreateEventBusResponse(EventBusArn: names.eventBus(name), Description: request.Description)
    }

    public mutating func deleteEventBus(_ name: String, changes: inout ChangeSet) throws(AWSError) {
        guard name != Self.defaultBus else { throw .eventsValidation("Cannot delete event bus default.") }
        // Deleting a bus that does not exist succeeds, as in AWS.
        guard buses.removeValue(forKey: name) != nil else { return }
        changes.delete(EventBusRecord.self, key: name)
        for rule in (rules.removeValue(forKey: name) ?? [:]).values {
            patterns[rule.key] = nil
            changes.delete(RuleRecord.self, key: rule.key)
        }
        rulesChanged()
    }

    public func describeEventBus(_ reference: String?) throws(AWSError) -> EVBDescribeEventBusResponse {
        let name = try existingBus(reference)
        let bus = buses[name]
        return EVBDescribeEventBusResponse(
            Name: name, Arn: names.eventBus(name), Description: bus?.description, CreationTime: bus?.createdAt,
            LastModifiedTime: bus?.modifiedAt)
    }

    public func listEventBuses(_ request: EVBListEventBusesRequest) throws(AWSError) -> EVBListEventBusesResponse {
        let all = ([Self.defaultBus] + buses.keys.sorted()).filter { $0.hasPrefix(request.NamePrefix ?? "") }
        let (page, next) = try Self.page(all, token: request.NextToken, limit: request.Limit)
        return EVBListEventBusesResponse(
            EventBuses: page.map { name in
                let bus = buses[name]
                return EVBEventBus(
                    Name: name, Arn: names.eventBus(name), Description: bus?.description, CreationTime: bus?.createdAt,
                    LastModifiedTime: bus?.modifiedAt)
            },
            NextToken: next)
    }

    // MARK: Rules

    public func rule(_ name: String, bus reference: String?) throws(AWSError) -> RuleRecord {
        let bus = try existingBus(reference)
        guard let rule = rules[bus]?[name] else { throw .ruleNotFound(name, bus: bus) }
        return rule
    }

    public mutating func putRule(_ request: EVBPutRuleRequest, now: Date, changes: inout ChangeSet) throws(AWSError) -> EVBPutRuleResponse {
        let bus = try existingBus(request.EventBusName)
        try Self.validateName(request.Name, field: "name")
        if let description = request.Description, description.count > 512 {
            throw .eventsValidation(
                "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 512")
        }
        var pattern: EventPattern?
        if let text = request.EventPattern, text.count > EventPattern.maximumLength {
            throw .eventsValidation(
                "1 validation error detected: Value at 'eventPattern' failed to satisfy constraint: Member must have length less than or equal to \(EventPattern.maximumLength)")
        }
        if let text = request.EventPattern {
            do throws(EventPattern.ParseError) { pattern = try EventPattern.parse(text) } catch { throw .invalidEventPattern(error) }
        }
        var nextFireAt: Date?
        if let expression = request.ScheduleExpression {
            guard bus == Self.defaultBus else { throw .eventsValidation("ScheduleExpression is supported only on the default event bus.") }
            guard let schedule = try? ScheduleExpression.parse(expression), !schedule.isAt else {
                throw .eventsValidation("Parameter ScheduleExpression is not valid.")
            }
            nextFireAt = schedule.next(after: now, start: now, timeZone: .gmt)
        }
        guard pattern != nil || request.ScheduleExpression != nil else {
            throw .eventsValidation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        }
        if request.State == .enabledWithAllCloudtrailManagementEvents {
            throw .eventsValidation("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS is not supported by Stevedore: it has no CloudTrail.")
        }
        let existing = rules[bus]?[request.Name]
        var record = RuleRecord(
            name: request.Name, bus: bus, eventPattern: request.EventPattern, scheduleExpression: request.ScheduleExpression,
            enabled: request.State != .disabled, description: request.Description, roleArn: request.RoleArn,
            tags: existing?.tags ?? [:], targets: existing?.targets ?? [], createdAt: existing?.createdAt ?? now, nextFireAt: nextFireAt)
        record.scheduleAnchor = nextFireAt == nil ? nil : now
        // An unchanged schedule of a rule that stays enabled keeps its rhythm.
        if let existing, existing.enabled, record.enabled, existing.scheduleExpression == request.ScheduleExpression, existing.nextFireAt != nil {
            record.nextFireAt = existing.nextFireAt
            record.scheduleAnchor = existing.scheduleAnchor ?? existing.createdAt
        }
        record.tags.merge(Self.tagMap(request.Tags)) { _, new in new }
        rules[bus, default: [:]][record.name] = record
        patterns[record.key] = pattern
        rulesChanged()
        changes.put(record)
        return EVBPutRuleResponse(RuleArn: names.eventRule(record.name, bus: bus))
    }

    public func describeRule(_ request: EVBDescribeRuleRequest) throws(AWSError) -> EVBDescribeRuleResponse {
        let rule = try rule(request.Name, bus: request.EventBusName)
        return EVBDescribeRuleResponse(
            Name: rule.name, Arn: names.eventRule(rule.name, bus: rule.bus), EventPattern: rule.eventPattern,
            ScheduleExpression: rule.scheduleExpression, State: rule.enabled ? .enabled : .disabled, Description: rule.description,
            RoleArn: rule.roleArn, EventBusName: rule.bus, CreatedBy: names.accountId)
    }

    public mutating func setRuleEnabled(_ name: String, bus reference: String?, enabled: Bool, now: Date, changes: inout ChangeSet) throws(AWSError) {
        var rule = try rule(name, bus: reference)
        guard rule.enabled != enabled else { return }
        rule.enabled = enabled
        // A schedule enabled again fires from now on, not for the time it was off.
        if enabled, let expression = rule.scheduleExpression, let schedule = try? ScheduleExpression.parse(expression) {
            rule.nextFireAt = schedule.next(after: now, start: now, timeZone: .gmt)
            rule.scheduleAnchor = now
        }
        rules[rule.bus]?[rule.name] = rule
        rulesChanged()
        changes.put(rule)
    }

    public mutating func deleteRule(_ request: EVBDeleteRuleRequest, changes: inout ChangeSet) throws(AWSError) {
        let bus = try existingBus(request.EventBusName)
        // Deleting a rule that does not exist succeeds, as in AWS.
        guard let rule = rules[bus]?[request.Name] else { return }
        guard rule.targets.isEmpty || request.Force == true else { throw .eventsValidation("Rule can't be deleted since it has targets.") }
        rules[bus]?[request.Name] = nil
        patterns[rule.key] = nil
        rulesChanged()
        changes.delete(RuleRecord.self, key: rule.key)
    }

    public func listRules(_ request: EVBListRulesRequest) throws(AWSError) -> EVBListRulesResponse {
        let bus = try existingBus(request.EventBusName)
        let all = (rules[bus] ?? [:]).keys.sorted().filter { $0.hasPrefix(request.NamePrefix ?? "") }
        let (page, next) = try Self.page(all, token: request.NextToken, limit: request.Limit)
        return EVBListRulesResponse(
            Rules: page.compactMap { rules[bus]?[$0] }.map { rule in
                EVBRule(
                    Name: rule.name, Arn: names.eventRule(rule.name, bus: bus), EventPattern: rule.eventPattern,
                    State: rule.enabled ? .enabled : .disabled, Description: rule.description, ScheduleExpression: rule.scheduleExpression,
                    RoleArn: rule.roleArn, EventBusName: bus)
            },
            NextToken: next)
    }

    public func listRuleNamesByTarget(_ request: EVBListRuleNamesByTargetRequest) throws(AWSError) -> EVBListRuleNamesByTargetResponse {
        let bus = try existingBus(request.EventBusName)
        let all = (rules[bus] ?? [:]).values.filter { $0.targets.contains { $0.Arn == request.TargetArn } }.map(\.name).sorted()
        let (page, next) = try Self.page(all, token: request.NextToken, limit: request.Limit)
        return EVBListRuleNamesByTargetResponse(RuleNames: page, NextToken: next)
    }

    // MARK: Targets

    public mutating func putTargets(_ request: EVBPutTargetsRequest, changes: inout ChangeSet) throws(AWSError) -> EVBPutTargetsResponse {
        var rule = try rule(request.Rule, bus: request.EventBusName)
        guard (1...10).contains(request.Targets.count) else {
            throw .eventsValidation(
                "1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length less than or equal to 10")
        }
        var failed: [EVBPutTargetsResultEntry] = []
        for (index, target) in request.Targets.enumerated() {
            try Self.validateName(target.Id, field: "targets.\(index + 1).member.id")
            try Self.validateInput(target)
            if let refusal = validate(target) {
                failed.append(EVBPutTargetsResultEntry(TargetId: target.Id, ErrorCode: "ValidationException", ErrorMessage: refusal))
                continue
            }
            if let index = rule.targets.firstIndex(where: { $0.Id == target.Id }) {
                rule.targets[index] = target
            } else {
                guard rule.targets.count < Self.targetsPerRule else {
                    throw AWSError(
                        type: "LimitExceededException",
                        message: "The requested resource exceeds the maximum number allowed.")
                }
                rule.targets.append(target)
            }
        }
        rules[rule.bus]?[rule.name] = rule
        changes.put(rule)
        return EVBPutTargetsResponse(FailedEntryCount: failed.count, FailedEntries: failed)
    }

    /// Refuses the whole PutTargets for a target whose input options do not hold together.
    static func validateInput(_ target: EVBTarget) throws(AWSError) {
        let given = [target.Input != nil, target.InputPath != nil, target.InputTransformer != nil].filter { $0 }.count
        if given > 1 { throw .eventsValidation("Only one of Input, InputPath, or InputTransformer must be provided for target \(target.Id).") }
        if let input = target.Input, (try? JSONDecoder().decode(JSONValue.self, from: Data(input.utf8))) == nil {
            throw .eventsValidation("Input for target \(target.Id) must be valid JSON text.")
        }
        if let path = target.InputPath, JSONPath(path) == nil { throw .eventsValidation("InputPath for target \(target.Id) is an invalid JSONPath.") }
        if let transformer = target.InputTransformer {
            let paths = transformer.InputPathsMap ?? [:]
            if paths.count > 100 { throw .eventsValidation("InputPathsMap for target \(target.Id) has more than 100 entries.") }
            for (key, path) in paths {
                if key.hasPrefix("aws.") { throw .eventsValidation("InputTransformer for target \(target.Id) contains invalid key \(key).") }
                if JSONPath(path) == nil { throw .eventsValidation("Input path \(path) for target \(target.Id) is an invalid JSONPath.") }
            }
            for name in TargetInput.placeholders(in: transformer.InputTemplate)
            where paths[name] == nil && !TargetInput.predefined.contains(name) {
                throw .eventsValidation("InputTemplate for target \(target.Id) contains invalid placeholder \(name).")
            }
        }
    }

    /// Why a target cannot be delivered to, or nil when it can.
    func validate(_ target: EVBTarget) -> String? {
        if let retry = target.RetryPolicy {
            if let attempts = retry.MaximumRetryAttempts, !(0...185).contains(attempts) {
                return "MaximumRetryAttempts must be between 0 and 185."
            }
            if let age = retry.MaximumEventAgeInSeconds, !(60...86400).contains(age) {
                return "MaximumEventAgeInSeconds must be between 60 and 86400."
            }
        }
        if let letter = target.DeadLetterConfig?.Arn, TargetKind(letter).flatMap({ if case .queue = $0 { true } else { nil } }) == nil {
            return "DeadLetterConfig's Arn must be an SQS queue's ARN; got \(letter)."
        }
        switch TargetKind(target.Arn) {
        case nil:
            return "Stevedore delivers to Lambda functions, SQS queues, SNS topics, event buses and ECS clusters; \(target.Arn) is none of those."
        case .cluster?:
            if target.EcsParameters == nil { return "EcsParameters must be provided for an ECS cluster target." }
        case .queue(let name)? where name.hasSuffix(".fifo") && target.SqsParameters?.MessageGroupId == nil:
            return "Parameter(s) SqsParameters must be specified for target: \(target.Id)."
        default:
            break
        }
        return nil
    }

    public mutating func removeTargets(_ request: EVBRemoveTargetsRequest, changes: inout ChangeSet) throws(AWSError) -> EVBRemoveTargetsResponse {
        var rule = try rule(request.Rule, bus: request.EventBusName)
        guard (1...100).contains(request.Ids.count) else {
            throw .eventsValidation(
                "1 validation error detected: Value at 'ids' failed to satisfy constraint: Member must have length less than or equal to 100")
        }
        var failed: [EVBRemoveTargetsResultEntry] = []
        for id in request.Ids {
            if let index = rule.targets.firstIndex(where: { $0.Id == id }) {
                rule.targets.remove(at: index)
            } else {
                failed.append(EVBRemoveTargetsResultEntry(TargetId: id, ErrorCode: "ResourceNotFoundException", ErrorMessage: "Target \(id) does not exist on rule \(rule.name)."))
            }
        }
        rules[rule.bus]?[rule.name] = rule
        changes.put(rule)
        return EVBRemoveTargetsResponse(FailedEntryCount: failed.count, FailedEntries: failed)
    }

    public func listTargetsByRule(_ request: EVBListTargetsByRuleRequest) throws(AWSError) -> EVBListTargetsByRuleResponse {
        let rule = try rule(request.Rule, bus: request.EventBusName)
        let (page, next) = try Self.page(rule.targets, token: request.NextToken, limit: request.Limit)
        return EVBListTargetsByRuleResponse(Targets: page, NextToken: next)
    }

    // MARK: Tags

    /// The bus or rule a tagging ARN names.
    private func taggable(_ arn: String) throws(AWSError) -> (bus: String, rule: String?) {
        let prefix = names.arn("events", "")
        guard arn.hasPrefix(prefix) else { throw .resourceNotFound("Resource \(arn) does not exist.") }
        let resource = arn.dropFirst(prefix.count)
        if resource.hasPrefix("event-bus/") {
            let bus = String(resource.dropFirst("event-bus/".count))
            guard bus == Self.defaultBus || buses[bus] != nil else { throw .busNotFound(bus) }
            return (bus, nil)
        }
        if resource.hasPrefix("rule/") {
            let parts = resource.dropFirst("rule/".count).split(separator: "/", maxSplits: 1).map(String.init)
            let (bus, name) = parts.count == 2 ? (parts[0], parts[1]) : (Self.defaultBus, parts.first ?? "")
            guard rules[bus]?[name] != nil else { throw .ruleNotFound(name, bus: bus) }
            return (bus, name)
        }
        throw .resourceNotFound("Resource \(arn) does not exist.")
    }

    public mutating func tagResource(_ arn: String, tags: [EVBResourceTag], now: Date, changes: inout ChangeSet) throws(AWSError) {
        try retag(arn, now: now, changes: &changes) { $0.merge(Self.tagMap(tags)) { _, new in new } }
    }

    public mutating func untagResource(_ arn: String, keys: [String], now: Date, changes: inout ChangeSet) throws(AWSError) {
        try retag(arn, now: now, changes: &changes) { tags in for key in keys { tags[key] = nil } }
    }

    public func tags(of arn: String) throws(AWSError) -> [EVBResourceTag] {
        let (bus, name) = try taggable(arn)
        let tags = name.map { rules[bus]?[$0]?.tags ?? [:] } ?? buses[bus]?.tags ?? [:]
        return tags.sorted { $0.key < $1.key }.map { EVBResourceTag(Key: $0.key, Value: $0.value) }
    }

    private mutating func retag(_ arn: String, now: Date, changes: inout ChangeSet, _ change: (inout [String: String]) -> Void) throws(AWSError) {
        let (bus, name) = try taggable(arn)
        if let name, var rule = rules[bus]?[name] {
            change(&rule.tags)
            rules[bus]?[name] = rule
            changes.put(rule)
        } else if var record = buses[bus] {
            change(&record.tags)
            record.modifiedAt = now
            buses[bus] = record
            changes.put(record)
        } else {
            throw .eventsValidation("The default event bus has no tags in Stevedore; tag a custom bus or a rule.")
        }
    }

    // MARK: Helpers

    static func tagMap(_ tags: [EVBResourceTag]?) -> [String: String] {
        Dictionary((tags ?? []).map { ($0.Key, $0.Value) }) { _, last in last }
    }

    static func validateName(_ name: String, field: String) throws(AWSError) {
        guard name.count <= 64 else {
            throw .eventsValidation(
                "1 validation error detected: Value '\(name)' at '\(field)' failed to satisfy constraint: Member must have length less than or equal to 64")
        }
        guard !name.isEmpty, name.utf8.allSatisfy({ NameRules.isNameByte($0) || $0 == UInt8(ascii: ".") }) else {
            throw .eventsValidation(
                "1 validation error detected: Value '\(name)' at '\(field)' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+")
        }
    }

    static func page<Item>(_ all: [Item], token: String?, limit: Int?) throws(AWSError) -> ([Item], String?) {
        let limit = limit ?? 100
        guard (1...100).contains(limit) else {
            throw .eventsValidation("1 validation error detected: Value '\(limit)' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100")
        }
        let start = token.map { Int($0) ?? -1 } ?? 0
        guard (0...all.count).contains(start) else { throw .eventsValidation("The NextToken provided is invalid.") }
        let end = min(all.count, start + limit)
        return (Array(all[start..<end]), end < all.count ? String(end) : nil)
    }
}

extension ScheduleExpression {
    var isAt: Bool { if case .at = self { true } else { false } }
}

/// Where a target's ARN points.
public enum TargetKind: Equatable, Sendable {
    case function(name: String, qualifier: String?)
    case queue(name: String)
    case bus(name: String)
    case cluster(name: String)
    case topic(arn: String)

    public init?(_ arn: String) {
        let parts = arn.split(separator: ":", maxSplits: 6, omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 6, parts[0] == "arn" else { return nil }
        switch (parts[2], parts[5]) {
        case ("lambda", "function"):
            guard parts.count == 7 else { return nil }
            let rest = parts[6].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard (1...2).contains(rest.count), !rest[0].isEmpty else { return nil }
            self = .function(name: rest[0], qualifier: rest.count == 2 ? rest[1] : nil)
        case ("sqs", let name) where parts.count == 6 && !name.isEmpty:
            self = .queue(name: name)
        case ("sns", let name) where parts.count == 6 && !name.isEmpty:
            self = .topic(arn: arn)
        case ("events", let resource) where parts.count == 6 && resource.hasPrefix("event-bus/"):
            self = .bus(name: String(resource.dropFirst("event-bus/".count)))
        case ("ecs", let resource) where parts.count == 6 && resource.hasPrefix("cluster/"):
            self = .cluster(name: String(resource.dropFirst("cluster/".count)))
        default:
            return nil
        }
    }
}
