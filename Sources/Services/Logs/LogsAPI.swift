import Foundation
import AWSProtocols
import LogsShapes
import StevedoreCore

/// CloudWatch Logs (`Logs_20140328.<Operation>`, AWS JSON 1.1): groups and streams in the
/// committed state, events in the event store.
public enum LogsAPI {
    public static let targetPrefix = "Logs_20140328"

    /// - Parameter appended: told of each batch PutLogEvents stored (group and stream names, the
    ///   events), for subscription filters.
    public static func operations<Committer: StateCommitting>(
        committer: Committer, events storage: any LogEventStorage,
        appended: @escaping @Sendable (String, String, [(timestamp: Int, message: String)]) async -> Void = { _, _, _ in }
    ) -> JSONOperations<Committer>
    where Committer.Root: LogsHost {
        var api = JSONOperations(targetPrefix: targetPrefix, committer: committer)
        api.write("CreateLogGroup") { (root, input: CWLCreateLogGroupRequest, m, _) throws(AWSError) in
            try root.logs.createLogGroup(input, now: m.now, using: &m.random, changes: &m.changes)
            return EmptyOutput()
        }
        api.custom("DeleteLogGroup") { (input: CWLDeleteLogGroupRequest, _) throws(AWSError) in
            let group = try await committer.write { root, m throws(AWSError) in try root.logs.deleteLogGroup(input.logGroupName, changes: &m.changes) }
            storage.remove(group: group.storageId)
            return EmptyOutput()
        }
        api.custom("DescribeLogGroups") { (input: CWLDescribeLogGroupsRequest, _) throws(AWSError) in
            try await committer.read { root, _ throws(AWSError) in
                try root.logs.describeLogGroups(input) { storage.storedBytes(group: $0.storageId) }
            }
        }
        api.write("CreateLogStream") { (root, input: CWLCreateLogStreamRequest, m, _) throws(AWSError) in
            try root.logs.createLogStream(input.logGroupName, input.logStreamName, now: m.now, using: &m.random, changes: &m.changes)
            return EmptyOutput()
        }
        api.custom("DeleteLogStream") { (input: CWLDeleteLogStreamRequest, _) throws(AWSError) in
            let (group, stream) = try await committer.write { root, m throws(AWSError) in
                let group = try root.logs.group(input.logGroupName)
                return (group, try root.logs.deleteLogStream(input.logGroupName, input.logStreamName, changes: &m.changes))
            }
            storage.remove(group: group.storageId, stream: stream.storageId)
            return EmptyOutput()
        }
        api.custom("DescribeLogStreams") { (input: CWLDescribeLogStreamsRequest, _) throws(AWSError) in
            try await committer.read { root, _ throws(AWSError) in
                try root.logs.describeLogStreams(input) { group, stream in storage.figures(group: group.storageId, stream: stream.storageId) }
            }
        }
        api.custom("PutLogEvents") { (input: CWLPutLogEventsRequest, _) throws(AWSError) in
            let (group, stream, now) = try await committer.read { root, now throws(AWSError) in
                let (group, stream) = try root.logs.stream(input.logGroupName, input.logStreamName)
                return (group, stream, epochMilliseconds(now))
            }
            let (accepted, rejected) = try LogEventRules.accept(input.logEvents, retentionInDays: group.retentionInDays, now: now)
            if !accepted.isEmpty {
                let events = accepted.map { (timestamp: $0.timestamp, message: $0.message) }
                try await storage.append(group: group.storageId, stream: stream.storageId, events: events, ingestionTime: now)
                await appended(group.name, stream.name, events)
            }
            return CWLPutLogEventsResponse(nextSequenceToken: sequenceToken(now), rejectedLogEventsInfo: rejected)
        }
        api.custom("GetLogEvents") { (input: CWLGetLogEventsRequest, _) throws(AWSError) in
            let (group, stream, now) = try await committer.read { root, now throws(AWSError) in
                let name = try LogsState.groupName(input.logGroupName, identifier: input.logGroupIdentifier)
                let (group, stream) = try root.logs.stream(name, input.logStreamName)
                return (group, stream, epochMilliseconds(now))
            }
            var query = EventQuery()
            (query.from, query.to) = range(input.startTime, input.endTime, retentionInDays: group.retentionInDays, now: now)
            query.limit = try LogsState.limit(input.limit, maximum: 10_000)
            query.newest = input.startFromHead != true
            if let token = input.nextToken.flatMap(LogEventRules.StreamToken.init) {
                query.newest = !token.forward
                if token.forward { query.after = (token.timestamp, token.sequence) } else { query.before = (token.timestamp, token.sequence) }
            }
            let events = storage.events(group: group.storageId, stream: stream.storageId, query)
            return try LogEventRules.page(events, startFromHead: input.startFromHead == true, nextToken: input.nextToken, limit: input.limit)
        }
        api.custom("FilterLogEvents") { (input: CWLFilterLogEventsRequest, _) throws(AWSError) in
            if input.logStreamNames != nil && input.logStreamNamePrefix != nil {
                throw .invalidParameter("You cannot specify both LogStreamNames and LogStreamNamePrefix")
            }
            if let names = input.logStreamNames, !(1...100).contains(names.count) {
                throw .invalidParameter(
                    "1 validation error detected: Value at 'logStreamNames' failed to satisfy constraint: Member must have length less than or equal to 100")
            }
            let pattern: FilterPattern
            do throws(FilterPattern.ParseError) {
                pattern = try FilterPattern.parse(input.filterPattern ?? "")
            } catch {
                throw .invalidParameter(error.message)
            }
            let (group, now) = try await committer.read { root, now throws(AWSError) in
                (try root.logs.group(try LogsState.groupName(input.logGroupName, identifier: input.logGroupIdentifier)), epochMilliseconds(now))
            }
            let streams = group.streams.values.filter { stream in
                input.logStreamNames.map { $0.contains(stream.name) } ?? stream.name.hasPrefix(input.logStreamNamePrefix ?? "")
            }
            var query = EventQuery()
            // FilterLogEvents' end time is inclusive ("later than this time are not returned").
            (query.from, query.to) = range(input.startTime, input.endTime.map { $0 == .max ? $0 : $0 + 1 }, retentionInDays: group.retentionInDays, now: now)
            query.limit = try LogsState.limit(input.limit, maximum: 10_000)
            if case .everything = pattern {} else {
                let compiled = pattern.compiled()
                query.matching = { compiled.matches($0) }
            }
            let token = try LogEventRules.FilterToken(input.nextToken)
            var events: [LogEventRules.GroupEvent] = []
            for stream in streams {
                var own = query
                own.after = token?.position(in: stream.name)
                for event in storage.events(group: group.storageId, stream: stream.storageId, own) {
                    events.append(LogEventRules.GroupEvent(stream: stream.name, event: event))
                }
            }
            return try LogEventRules.filter(events, pattern: pattern, nextToken: input.nextToken, limit: input.limit)
        }
        api.write("PutRetentionPolicy") { (root, input: CWLPutRetentionPolicyRequest, m, _) throws(AWSError) in
            try root.logs.putRetentionPolicy(input.logGroupName, days: input.retentionInDays, changes: &m.changes)
            return EmptyOutput()
        }
        api.write("DeleteRetentionPolicy") { (root, input: CWLDeleteRetentionPolicyRequest, m, _) throws(AWSError) in
            try root.logs.deleteRetentionPolicy(input.logGroupName, changes: &m.changes)
            return EmptyOutput()
        }
        api.write("TagLogGroup") { (root, input: CWLTagLogGroupRequest, m, _) throws(AWSError) in
            try root.logs.tag(input.logGroupName, tags: input.tags, changes: &m.changes)
            return EmptyOutput()
        }
        api.write("UntagLogGroup") { (root, input: CWLUntagLogGroupRequest, m, _) throws(AWSError) in
            try root.logs.untag(input.logGroupName, keys: input.tags, changes: &m.changes)
            return EmptyOutput()
        }
        api.read("ListTagsLogGroup", reads: { _ in LogsState.recordKinds }) { (root, input: CWLListTagsLogGroupRequest, _) throws(AWSError) in
            CWLListTagsLogGroupResponse(tags: try root.logs.group(input.logGroupName).tags)
        }
        api.write("TagResource") { (root, input: CWLTagResourceRequest, m, _) throws(AWSError) in
            try root.logs.tag(try root.logs.taggedGroup(input.resourceArn), tags: input.tags, changes: &m.changes)
            return EmptyOutput()
        }
        api.write("UntagResource") { (root, input: CWLUntagResourceRequest, m, _) throws(AWSError) in
            try root.logs.untag(try root.logs.taggedGroup(input.resourceArn), keys: input.tagKeys, changes: &m.changes)
            return EmptyOutput()
        }
        api.read("ListTagsForResource", reads: { _ in LogsState.recordKinds }) { (root, input: CWLListTagsForResourceRequest, _) throws(AWSError) in
            CWLListTagsForResourceResponse(tags: try root.logs.group(try root.logs.taggedGroup(input.resourceArn)).tags)
        }
        return api
    }

    /// The times a read covers: what it asks for, within what the group's retention keeps.
    static func range(_ start: Int?, _ end: Int?, retentionInDays: Int?, now: Int) -> (Int, Int) {
        (max(start ?? Int.min, LogEventRules.retained(retentionInDays, now: now)), end ?? Int.max)
    }

    /// PutLogEvents' `nextSequenceToken`: CloudWatch Logs no longer checks sequence tokens, and
    /// neither does Stevedore; older clients still pass the last one back.
    static func sequenceToken(_ now: Int) -> String {
        let digits = String(now.magnitude)
        return String(repeating: "0", count: max(0, 56 - digits.count)) + digits
    }
}
