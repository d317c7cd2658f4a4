import Foundation
@testable import Logs
import LogsShapes
import StevedoreCore
import Testing

/// CloudWatch Logs' groups, streams and events as pure decisions: names, limits, the rules of
/// PutLogEvents, paging by token, and filter patterns.
struct LogsStateTests {
    var state = LogsState(names: ResourceNames())
    var random = Xoshiro256(seed: 7)
    var changes = ChangeSet()
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    mutating func makeGroup(_ name: String, tags: [String: String]? = nil) throws {
        try state.createLogGroup(CWLCreateLogGroupRequest(logGroupName: name, tags: tags), now: now, using: &random, changes: &changes)
    }

    @Test mutating func groupsAndStreamsAreCreatedOnceWithValidNames() throws {
        try makeGroup("/ecs/web")
        #expect(throws: AWSError(type: "ResourceAlreadyExistsException", message: "The specified log group already exists")) { try makeGroup("/ecs/web") }
        #expect(throws: AWSError.self) { try makeGroup("bad name") }
        #expect(throws: AWSError.self) { try makeGroup(String(repeating: "a", count: 513)) }
        try state.createLogStream("/ecs/web", "ecs/web/1", now: now, using: &random, changes: &changes)
        #expect(throws: AWSError(type: "ResourceAlreadyExistsException", message: "The specified log stream already exists")) {
            try state.createLogStream("/ecs/web", "ecs/web/1", now: now, using: &random, changes: &changes)
        }
        #expect(throws: LogsState.noGroup) { try state.createLogStream("/nope", "s", now: now, using: &random, changes: &changes) }
        #expect(throws: AWSError.self) { try state.createLogStream("/ecs/web", "a:b", now: now, using: &random, changes: &changes) }
        #expect(throws: LogsState.noStream) { _ = try state.deleteLogStream("/ecs/web", "missing", changes: &changes) }
        let group = try state.group("/ecs/web")
        #expect(group.creationTime == 1_800_000_000_000 && group.streams["ecs/web/1"]?.storageId.isEmpty == false)
    }

    @Test mutating func streamsTheControlPlaneWritesAreMadeWhenMissing() throws {
        let made = try state.ensureStream("/aws/lambda/f", "2026/12/01/[$LATEST]abc", now: now, using: &random, changes: &changes)
        let again = try state.ensureStream("/aws/lambda/f", "2026/12/01/[$LATEST]abc", now: now, using: &random, changes: &changes)
        #expect(made == again && !made.group.isEmpty && made.stream != made.group)
        #expect(try state.group("/aws/lambda/f").retentionInDays == nil)
        let other = try state.ensureStream("/aws/lambda/f", "other", now: now, using: &random, changes: &changes)
        #expect(other.group == made.group && other.stream != made.stream)
    }

    @Test mutating func describeLogGroupsPagesByNameWithCloudWatchsLimits() throws {
        for name in ["b", "a", "c/1", "c/2"] { try makeGroup(name) }
        let first = try state.describeLogGroups(CWLDescribeLogGroupsRequest(limit: 2)) { _ in 5 }
        #expect(first.logGroups?.map(\.logGroupName) == ["a", "b"] && first.logGroups?.first?.storedBytes == 5)
        #expect(first.logGroups?.first?.arn == "arn:aws:logs:us-east-1:000000000000:log-group:a:*")
        let second = try state.describeLogGroups(CWLDescribeLogGroupsRequest(nextToken: first.nextToken, limit: 2)) { _ in 0 }
        #expect(second.logGroups?.map(\.logGroupName) == ["c/1", "c/2"] && second.nextToken == nil)
        #expect(try state.describeLogGroups(CWLDescribeLogGroupsRequest(logGroupNamePrefix: "c/")) { _ in 0 }.logGroups?.count == 2)
        #expect(throws: AWSError.self) { try state.describeLogGroups(CWLDescribeLogGroupsRequest(limit: 51)) { _ in 0 } }
        #expect(throws: AWSError.self) { try state.describeLogGroups(CWLDescribeLogGroupsRequest(logGroupNamePrefix: "c", logGroupNamePattern: "c")) { _ in 0 } }
    }

    @Test mutating func streamsAreDescribedByNameOrByLastEvent() throws {
        try makeGroup("g")
        for name in ["s1", "s2", "t1"] { try state.createLogStream("g", name, now: now, using: &random, changes: &changes) }
        let figures: (LogGroupRecord, LogStreamRecord) -> StreamFigures = { _, stream in
            StreamFigures(lastEventTimestamp: ["s1": 30, "s2": 10, "t1": 20][stream.name])
        }
        let byName = try state.describeLogStreams(CWLDescribeLogStreamsRequest(logGroupName: "g", logStreamNamePrefix: "s"), figures: figures)
        #expect(byName.logStreams?.map(\.logStreamName) == ["s1", "s2"])
        let byTime = try state.describeLogStreams(
            CWLDescribeLogStreamsRequest(logGroupName: "g", orderBy: .lastEventTime, descending: true, limit: 2), figures: figures)
        #expect(byTime.logStreams?.map(\.logStreamName) == ["s1", "t1"] && byTime.nextToken != nil)
        let rest = try state.describeLogStreams(
            CWLDescribeLogStreamsRequest(logGroupName: "g", orderBy: .lastEventTime, descending: true, nextToken: byTime.nextToken), figures: figures)
        #expect(rest.logStreams?.map(\.logStreamName) == ["s2"])
        #expect(throws: AWSError.self) {
            try state.describeLogStreams(CWLDescribeLogStreamsRequest(logGroupName: "g", logStreamNamePrefix: "s", orderBy: .lastEventTime), figures: figures)
        }
    }

    @Test mutating func retentionTakesCloudWatchsPeriodsAndTagsTheirLimits() throws {
        try makeGroup("g", tags: ["team": "a"])
        try state.putRetentionPolicy("g", days: 7, changes: &changes)
        #expect(try state.group("g").retentionInDays == 7)
        #expect(throws: AWSError.self) { try state.putRetentionPolicy("g", days: 8, changes: &changes) }
        try state.deleteRetentionPolicy("g", changes: &changes)
        #expect(try state.group("g").retentionInDays == nil)
        try state.tag(try state.taggedGroup("arn:aws:logs:us-east-1:000000000000:log-group:g:*"), tags: ["env": "dev"], changes: &changes)
        try state.untag("g", keys: ["team"], changes: &changes)
        #expect(try state.group("g").tags == ["env": "dev"])
        #expect(throws: AWSError.self) { try state.tag("g", tags: Dictionary(uniqueKeysWithValues: (0..<50).map { ("k\($0)", "v") }), changes: &changes) }
        #expect(throws: LogsState.noGroup) { _ = try state.taggedGroup("arn:aws:logs:us-east-1:000000000000:log-group:other") }
    }
}

struct LogEventRulesTests {
    let now = 1_800_000_000_000
    let day = 86_400_000

    func events(_ times: [Int], message: String = "m") -> [CWLInputLogEvent] { times.map { CWLInputLogEvent(timestamp: $0, message: message) } }

    @Test func batchesAreRefusedWhole() {
        #expect(throws: AWSError.self) { _ = try LogEventRules.accept([], retentionInDays: nil, now: now) }
        #expect(throws: AWSError.invalidParameter("Log events in a single PutLogEvents request must be in chronological order.")) {
            _ = try LogEventRules.accept(events([now, now - 1]), retentionInDays: nil, now: now)
        }
        #expect(throws: AWSError.invalidParameter("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")) {
            _ = try LogEventRules.accept(events([now - day - 1, now]), retentionInDays: nil, now: now)
        }
        #expect(throws: AWSError.invalidParameter("Upload too large: 1048602 bytes exceeds limit of 1048576")) {
            _ = try LogEventRules.accept(events([now], message: String(repeating: "x", count: 1_048_576)), retentionInDays: nil, now: now)
        }
        #expect(throws: AWSError.self) { _ = try LogEventRules.accept(events([now], message: ""), retentionInDays: nil, now: now) }
        // Times as far apart as an Int allows: refused, not an overflow.
        #expect(throws: AWSError.self) { _ = try LogEventRules.accept(events([-9_000_000_000_000_000_000, 9_000_000_000_000_000_000]), retentionInDays: nil, now: now) }
    }

    @Test func tooOldExpiredAndTooNewEventsAreLeftOutByIndex() throws {
        let hour = 3_600_000
        let (accepted, rejected) = try LogEventRules.accept(events([now - 14 * day - 2 * hour, now - 14 * day - hour, now - 14 * day + hour]), retentionInDays: nil, now: now)
        #expect(accepted.map(\.timestamp) == [now - 14 * day + hour])
        #expect(rejected == CWLRejectedLogEventsInfo(tooOldLogEventEndIndex: 1))
        let ahead = try LogEventRules.accept(events([now + hour, now + 3 * hour]), retentionInDays: nil, now: now)
        #expect(ahead.accepted.map(\.timestamp) == [now + hour] && ahead.rejected == CWLRejectedLogEventsInfo(tooNewLogEventStartIndex: 1))
        let withRetention = try LogEventRules.accept(events([now - day - 1000, now - 2000]), retentionInDays: 1, now: now)
        #expect(withRetention.accepted.count == 1 && withRetention.rejected == CWLRejectedLogEventsInfo(expiredLogEventEndIndex: 0))
        #expect(try LogEventRules.accept(events([now]), retentionInDays: nil, now: now).rejected == nil)
    }

    func stored(_ count: Int) -> [StoredLogEvent] {
        // Two batches interleaved in time: the page is in time order, not arrival order.
        (0..<count).map { StoredLogEvent(timestamp: now + ($0 % 2 == 0 ? $0 : $0 + 100), ingestionTime: 5, message: "e\($0)", sequence: $0) }
    }

    @Test func getLogEventsPagesForwardAndBackwardByToken() throws {
        let all = stored(10)
        let ordered = all.sorted { ($0.timestamp, $0.sequence) < ($1.timestamp, $1.sequence) }.map(\.message)
        let head = try LogEventRules.page(all, startFromHead: true, nextToken: nil, limit: 4)
        #expect(head.events?.map(\.message) == Array(ordered.prefix(4)))
        let next = try LogEventRules.page(all, startFromHead: true, nextToken: head.nextForwardToken, limit: 4)
        #expect(next.events?.map(\.message) == Array(ordered[4..<8]))
        let back = try LogEventRules.page(all, startFromHead: true, nextToken: next.nextBackwardToken, limit: 4)
        #expect(back.events?.map(\.message) == Array(ordered.prefix(4)))
        // Without startFromHead: the newest events.
        let tail = try LogEventRules.page(all, startFromHead: false, nextToken: nil, limit: 3)
        #expect(tail.events?.map(\.message) == Array(ordered.suffix(3)))
        // Past the end: no events, and the same forward token to poll with.
        let end = try LogEventRules.page(all, startFromHead: true, nextToken: tail.nextForwardToken, limit: 3)
        #expect(end.events == [] && end.nextForwardToken == tail.nextForwardToken)
        #expect(throws: AWSError.self) { _ = try LogEventRules.page(all, startFromHead: true, nextToken: "nonsense", limit: 3) }
        #expect(throws: AWSError.self) { _ = try LogEventRules.page(all, startFromHead: true, nextToken: nil, limit: 10_001) }
    }

    @Test func filterLogEventsMergesStreamsInTimeAndPagesByEvent() throws {
        let events = [("b", 3), ("a", 1), ("b", 2), ("a", 4)].enumerated().map { index, entry in
            LogEventRules.GroupEvent(stream: entry.0, event: StoredLogEvent(timestamp: entry.1, ingestionTime: 9, message: "ERROR \(index)", sequence: index))
        }
        let first = try LogEventRules.filter(events, pattern: .everything, nextToken: nil, limit: 2)
        #expect(first.events?.map(\.timestamp) == [1, 2] && first.events?.map(\.logStreamName) == ["a", "b"])
        let second = try LogEventRules.filter(events, pattern: .everything, nextToken: first.nextToken, limit: 2)
        #expect(second.events?.map(\.timestamp) == [3, 4] && second.nextToken == nil)
        let matching = try LogEventRules.filter(events, pattern: try FilterPattern.parse("\"ERROR 3\""), nextToken: nil, limit: nil)
        #expect(matching.events?.map(\.timestamp) == [4] && matching.events?.first?.eventId == "4-3-a")
    }
}

struct FilterPatternTests {
    func matches(_ pattern: String, _ message: String) throws -> Bool { try FilterPattern.parse(pattern).matches(message) }

    @Test func termsPhrasesAlternativesAndExclusions() throws {
        #expect(try matches("", "anything"))
        #expect(try matches("ERROR timeout", "ERROR: a timeout happened"))
        #expect(try !matches("ERROR timeout", "ERROR: refused"))
        #expect(try matches("\"connection reset\"", "read: connection reset by peer"))
        #expect(try !matches("\"connection reset\"", "connection was reset"))
        #expect(try matches("?ERROR ?WARN", "WARN disk 91%") && !matches("?ERROR ?WARN", "INFO ok"))
        #expect(try matches("ERROR -retrying", "ERROR gave up") && !matches("ERROR -retrying", "ERROR retrying in 1s"))
        // Case matters, as in CloudWatch Logs.
        #expect(try !matches("error", "ERROR"))
    }

    @Test func compiledPatternsMatchRawBytesAsTheTextWould() throws {
        for (pattern, message) in [
            ("ERROR timeout", "ERROR: a timeout"), ("ERROR timeout", "ERROR only"), ("?ERROR ?WARN", "WARN x"), ("?ERROR ?WARN", "INFO"),
            ("ERROR -retrying", "ERROR retrying"), ("\"ü x\"", "a ü x b"), ("{ $.a = 1 }", #"{"a":1}"#), ("[a, b = 2]", "1 2"), ("", "anything"),
        ] {
            let parsed = try FilterPattern.parse(pattern)
            let bytes = Array(message.utf8)
            #expect(bytes.withUnsafeBytes { parsed.compiled().matches($0) } == parsed.matches(message), "\(pattern) on \(message)")
        }
    }

    @Test func jsonPatternsCompareSelectedValues() throws {
        let event = #"{"level":"error","status":503,"latency":1.5,"user":{"id":"u-42","admin":false},"tags":["a","b"],"gone":null}"#
        #expect(try matches(#"{ $.level = "error" }"#, event))
        #expect(try matches("{ $.level = err* }", event))
        #expect(try matches("{ $.status >= 500 && $.latency < 2 }", event))
        #expect(try !matches("{ $.status >= 500 && $.latency > 2 }", event))
        #expect(try matches(#"{ ($.status = 200) || ($.user.id = "u-42") }"#, event))
        #expect(try matches("{ $.tags[1] = b }", event) && matches("{ $.user.admin IS FALSE }", event))
        #expect(try matches("{ $.gone IS NULL }", event) && matches("{ $.missing NOT EXISTS }", event) && matches("{ $.user EXISTS }", event))
        #expect(try matches("{ $.level != warn }", event))
        #expect(try !matches(#"{ $.level = "error" }"#, "not json"))
        #expect(throws: FilterPattern.ParseError.self) { try FilterPattern.parse("{ $.status > abc }") }
        #expect(throws: FilterPattern.ParseError.self) { try FilterPattern.parse("{ status = 1 }") }
        #expect(throws: FilterPattern.ParseError.self) { try FilterPattern.parse("{ $.a = 1") }
        // CloudWatch's 1,024 characters, and nesting a parser can take.
        #expect(throws: FilterPattern.ParseError.self) { try FilterPattern.parse(String(repeating: "a", count: 1025)) }
        #expect(throws: FilterPattern.ParseError.self) { try FilterPattern.parse("{ " + String(repeating: "(", count: 400) + "$.a = 1" + String(repeating: ")", count: 400) + " }") }
        #expect(try matches("{ ((($.status = 503))) }", event))
    }

    @Test func spaceDelimitedPatternsNameFields() throws {
        let line = #"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 404 2326"#
        #expect(try matches("[ip, identity, user, timestamp, request, status, size]", line))
        #expect(try matches("[ip, identity, user, timestamp, request, status = 404, size > 1000]", line))
        #expect(try !matches("[ip, identity, user, timestamp, request, status = 404, size > 3000]", line))
        #expect(try matches("[..., status = 4* || status = 5*, size]", line))
        #expect(try matches(#"[ip = 127.0.0.*, ..., request = "GET /apache*", status, size]"#, line))
        #expect(try !matches("[a, b]", line))
        #expect(throws: FilterPattern.ParseError.self) { try FilterPattern.parse("[a, , b]") }
    }
}
