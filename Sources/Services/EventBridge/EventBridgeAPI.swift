#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSProtocols
import EventsShapes
import Lambda
import SNS
import StevedoreCore

/// EventBridge (`AWSEvents.<Operation>`, AWS JSON 1.1): buses, rules, targets and PutEvents.
public enum EventBridgeAPI {
    public static let targetPrefix = "AWSEvents"

    /// - Parameter delivered: called after a write that may have queued functions' invocations
    ///   (wakes the asynchronous invoker rather than leaving the event to its next tick).
    public static func operations<Committer: StateCommitting>(committer: Committer, delivered: @escaping @Sendable () -> Void)
        -> JSONOperations<Committer>
    where Committer.Root: EventBridgeHost & SNSHost {
        var api = JSONOperations(targetPrefix: targetPrefix, committer: committer)
        let kinds: @Sendable (any Sendable) -> [RecordKind]? = { _ in EventBridgeState.recordKinds }

        // MARK: Buses
        api.write("CreateEventBus") { (root, input: EVBCreateEventBusRequest, m, _) throws(AWSError) in
            try root.events.createEventBus(input, now: m.now, changes: &m.changes)
        }
        api.write("DeleteEventBus") { (root, input: EVBDeleteEventBusRequest, m, _) throws(AWSError) in
            try root.events.deleteEventBus(input.Name, changes: &m.changes)
            return EmptyOutput()
        }
        api.read("DescribeEventBus", reads: kinds) { (root, input: EVBDescribeEventBusRequest, _) throws(AWSError) in
            try root.events.describeEventBus(input.Name)
        }
        api.read("ListEventBuses", reads: kinds) { (root, input: EVBListEventBusesRequest, _) throws(AWSError) in
            try root.events.listEventBuses(input)
        }

        // MARK: Rules and targets
        api.write("PutRule") { (root, input: EVBPutRuleRequest, m, _) throws(AWSError) in
            try root.events.putRule(input, now: m.now, changes: &m.changes)
        }
        api.read("DescribeRule", reads: kinds) { (root, input: EVBDescribeRuleRequest, _) throws(AWSError) in
            try root.events.describeRule(input)
        }
        api.write("DeleteRule") { (root, input: EVBDeleteRuleRequest, m, _) throws(AWSError) in
            try root.events.deleteRule(input, changes: &m.changes)
            return EmptyOutput()
        }
        api.write("EnableRule") { (root, input: EVBEnableRuleRequest, m, _) throws(AWSError) in
            try root.events.setRuleEnabled(input.Name, bus: input.EventBusName, enabled: true, now: m.now, changes: &m.changes)
            return EmptyOutput()
        }
        api.write("DisableRule") { (root, input: EVBDisableRuleRequest, m, _) throws(AWSError) in
            try root.events.setRuleEnabled(input.Name, bus: input.EventBusName, enabled: false, now: m.now, changes: &m.changes)
            return EmptyOutput()
        }
        api.read("ListRules", reads: kinds) { (root, input: EVBListRulesRequest, _) throws(AWSError) in
            try root.events.listRules(input)
        }
        api.read("ListRuleNamesByTarget", reads: kinds) { (root, input: EVBListRuleNamesByTargetRequest, _) throws(AWSError) in
            try root.events.listRuleNamesByTarget(input)
        }
        api.write("PutTargets") { (root, input: EVBPutTargetsRequest, m, _) throws(AWSError) in
            try root.events.putTargets(input, changes: &m.changes)
        }
        api.write("RemoveTargets") { (root, input: EVBRemoveTargetsRequest, m, _) throws(AWSError) in
            try root.events.removeTargets(input, changes: &m.changes)
        }
        api.read("ListTargetsByRule", reads: kinds) { (root, input: EVBListTargetsByRuleRequest, _) throws(AWSError) in
            try root.events.listTargetsByRule(input)
        }

        // MARK: Events
        api.custom("PutEvents") { (input: EVBPutEventsRequest, _) throws(AWSError) in
            let response = try await committer.write { root, m throws(AWSError) in
                try root.putEvents(input, now: m.now, using: &m.random, changes: &m.changes)
            }
            delivered()
            return response
        }
        api.custom("TestEventPattern") { (input: EVBTestEventPatternRequest, _) throws(AWSError) in
            try EventBridgeState.testEventPattern(input)
        }

        // MARK: Tags
        api.write("TagResource") { (root, input: EVBTagResourceRequest, m, _) throws(AWSError) in
            try root.events.tagResource(input.ResourceARN, tags: input.Tags, now: m.now, changes: &m.changes)
            return EmptyOutput()
        }
        api.write("UntagResource") { (root, input: EVBUntagResourceRequest, m, _) throws(AWSError) in
            try root.events.untagResource(input.ResourceARN, keys: input.TagKeys, now: m.now, changes: &m.changes)
            return EmptyOutput()
        }
        api.read("ListTagsForResource", reads: kinds) { (root, input: EVBListTagsForResourceRequest, _) throws(AWSError) in
            EVBListTagsForResourceResponse(Tags: try root.events.tags(of: input.ResourceARN))
        }
        return api
    }
}

extension EventBridgeState {
    /// TestEventPattern: the pattern against an event given in full (`id`, `account`, `source`,
    /// `time`, `region` and `detail-type` are required, as in AWS).
    public static func testEventPattern(_ request: EVBTestEventPatternRequest) throws(AWSError) -> EVBTestEventPatternResponse {
        let pattern: EventPattern
        do throws(EventPattern.ParseError) { pattern = try EventPattern.parse(request.EventPattern) } catch { throw .invalidEventPattern(error) }
        guard case .object(let fields)? = try? JSONDecoder().decode(JSONValue.self, from: Data(request.Event.utf8)) else {
            throw .eventsValidation("Parameter Event is not valid.")
        }
        for required in ["id", "account", "source", "time", "region", "detail-type"] where fields[required] == nil {
            throw .eventsValidation("Parameter Event is not valid.")
        }
        return EVBTestEventPatternResponse(Result: pattern.matches(.object(fields)))
    }
}
