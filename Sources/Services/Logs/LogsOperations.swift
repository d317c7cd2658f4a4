import Foundation
import LogsShapes
import StevedoreCore

/// Log groups and streams: created, described, deleted, retained and tagged as CloudWatch Logs
/// does it, with its limits and its words.
extension LogsState {
    /// The retention periods CloudWatch Logs accepts, in days.
    public static let retentionPeriods: Set<Int> = [
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
    ]

    public mutating func createLogGroup(_ input: CWLCreateLogGroupRequest, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError)
    {
        try Self.checkGroupName(input.logGroupName)
        guard groups[input.logGroupName] == nil else {
            throw AWSError(type: "ResourceAlreadyExistsException", message: "The specified log group already exists")
        }
        let tags = input.tags ?? [:]
        try Self.checkTags(tags, adding: 0)
        let group = LogGroupRecord(
            name: input.logGroupName, creationTime: epochMilliseconds(now), tags: tags, kmsKeyId: input.kmsKeyId,
            logGroupClass: input.logGroupClass ?? .standard, storageId: Self.newStorageId(using: &random))
        groups[group.name] = group
        changes.put(group)
    }

    public mutating func deleteLogGroup(_ name: String, changes: inout ChangeSet) throws(AWSError) -> LogGroupRecord {
        let group = try self.group(name)
        groups[name] = nil
        changes.delete(LogGroupRecord.self, key: name)
        return group
    }

    public func describeLogGroups(_ input: CWLDescribeLogGroupsRequest, storedBytes: (LogGroupRecord) -> Int) throws(AWSError) -> CWLDescribeLogGroupsResponse {
        if input.logGroupNamePrefix != nil && input.logGroupNamePattern != nil {
            throw .invalidParameter("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
        }
        let limit = try Self.limit(input.limit, maximum: 50)
        var names = groups.keys.sorted()
        if let prefix = input.logGroupNamePrefix { names = names.filter { $0.hasPrefix(prefix) } }
        if let pattern = input.logGroupNamePattern { names = names.filter { $0.range(of: pattern, options: .caseInsensitive) != nil } }
        if let wanted = input.logGroupIdentifiers { names = names.filter { wanted.contains($0) || wanted.contains(self.names.logGroup($0)) } }
        if let kind = input.logGroupClass { names = names.filter { groups[$0]?.logGroupClass == kind } }
        let (page, next) = try Self.page(names, after: input.nextToken, limit: limit)
        return CWLDescribeLogGroupsResponse(
            logGroups: page.compactMap { groups[$0] }.map { group in
                CWLLogGroup(
                    logGroupName: group.name, creationTime: group.creationTime, retentionInDays: group.retentionInDays, metricFilterCount: 0,
                    arn: self.names.logGroup(group.name) + ":*", storedBytes: storedBytes(group), kmsKeyId: group.kmsKeyId,
                    logGroupClass: group.logGroupClass, logGroupArn: self.names.logGroup(group.name))
            }, nextToken: next)
    }

    public mutating func createLogStream(_ groupName: String, _ streamName: String, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError)
    {
        try Self.checkStreamName(streamName)
        var group = try self.group(groupName)
        guard group.streams[streamName] == nil else {
            throw AWSError(type: "ResourceAlreadyExistsException", message: "The specified log stream already exists")
        }
        group.streams[streamName] = LogStreamRecord(name: streamName, creationTime: epochMilliseconds(now), storageId: Self.newStorageId(using: &random))
        groups[groupName] = group
        changes.put(group)
    }

    public mutating func deleteLogStream(_ groupName: String, _ streamName: String, changes: inout ChangeSet) throws(AWSError) -> LogStreamRecord {
        var group = try self.group(groupName)
        guard let stream = group.streams.removeValue(forKey: streamName) else { throw Self.noStream }
        groups[groupName] = group
        changes.put(group)
        return stream
    }

    /// DescribeLogStreams' page: by name (a prefix allowed) or by last event time (no prefix, as
    /// CloudWatch Logs requires), with each stream's figures from the event store.
    public func describeLogStreams(_ input: CWLDescribeLogStreamsRequest, figures: (LogGroupRecord, LogStreamRecord) -> StreamFigures)
        throws(AWSError) -> CWLDescribeLogStreamsResponse
    {
        let group = try self.group(try Self.groupName(input.logGroupName, identifier: input.logGroupIdentifier))
        let limit = try Self.limit(input.limit, maximum: 50)
        let byTime = input.orderBy == .lastEventTime
        if byTime, input.logStreamNamePrefix != nil {
            throw .invalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
        }
        var streams = group.streams.values.filter { $0.name.hasPrefix(input.logStreamNamePrefix ?? "") }.map { ($0, figures(group, $0)) }
        if byTime {
            streams.sort { ($0.1.lastEventTimestamp ?? 0, $0.0.name) < ($1.1.lastEventTimestamp ?? 0, $1.0.name) }
        } else {
            streams.sort { $0.0.name < $1.0.name }
        }
        if input.descending == true { streams.reverse() }
        // The token is the position after the page: the order can change between pages (by event time).
        let start: Int
        if let token = input.nextToken {
            guard let position = Self.decodePosition(token), position <= streams.count else { throw Self.badToken }
            start = position
        } else {
            start = 0
        }
        let end = min(streams.count, start + limit)
        return CWLDescribeLogStreamsResponse(
            logStreams: streams[start..<end].map { stream, figures in
                CWLLogStream(
                    logStreamName: stream.name, creationTime: stream.creationTime, firstEventTimestamp: figures.firstEventTimestamp,
                    lastEventTimestamp: figures.lastEventTimestamp, lastIngestionTime: figures.lastIngestionTime,
                    uploadSequenceToken: figures.uploadSequenceToken, arn: names.logStream(group: group.name, stream: stream.name),
                    storedBytes: figures.storedBytes)
            }, nextToken: end < streams.count ? Self.encodePosition(end) : nil)
    }

    /// The stream's storage ids, creating its group (without retention) and itself when missing:
    /// what logs shipped by the control plane's own producers (functions, tasks) need.
    public mutating func ensureStream(_ groupName: String, _ streamName: String, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError) -> (group: String, stream: String)
    {
        if groups[groupName] == nil {
            try createLogGroup(CWLCreateLogGroupRequest(logGroupName: groupName), now: now, using: &random, changes: &changes)
        }
        if groups[groupName]?.streams[streamName] == nil {
            try createLogStream(groupName, streamName, now: now, using: &random, changes: &changes)
        }
        let group = try self.group(groupName)
        return (group.storageId, group.streams[streamName]?.storageId ?? "")
    }

    public mutating func putRetentionPolicy(_ groupName: String, days: Int, changes: inout ChangeSet) throws(AWSError) {
        guard Self.retentionPeriods.contains(days) else {
            throw .invalidParameter(
                "1 validation error detected: Value '\(days)' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: "
                    + "[\(Self.retentionPeriods.sorted().map(String.init).joined(separator: ", "))]")
        }
        var group = try self.group(groupName)
        group.retentionInDays = days
        groups[groupName] = group
        changes.put(group)
    }

    public mutating func deleteRetentionPolicy(_ groupName: String, changes: inout ChangeSet) throws(AWSError) {
        var group = try self.group(groupName)
        group.retentionInDays = nil
        groups[groupName] = group
        changes.put(group)
    }

    // MARK: Tags

    public mutating func tag(_ groupName: String, tags: [String: String], changes: inout ChangeSet) throws(AWSError) {
        var group = try self.group(groupName)
        try Self.checkTags(tags, adding: group.tags.filter { tags[$0.key] == nil }.count)
        group.tags.merge(tags) { _, new in new }
        groups[groupName] = group
        changes.put(group)
    }

    public mutating func untag(_ groupName: String, keys: [String], changes: inout ChangeSet) throws(AWSError) {
        var group = try self.group(groupName)
        for key in keys { group.tags[key] = nil }
        groups[groupName] = group
        changes.put(group)
    }

    /// The group a tagging ARN names (`arn:aws:logs:REGION:ACCOUNT:log-group:NAME`, `:*` allowed).
    public func taggedGroup(_ arn: String) throws(AWSError) -> String {
        let prefix = names.arn("logs", "log-group:")
        var name = Substring(arn)
        guard name.hasPrefix(prefix) else { throw .invalidParameter("Invalid resource ARN: \(arn)") }
        name = name.dropFirst(prefix.count)
        if name.hasSuffix(":*") { name = name.dropLast(2) }
        guard groups[String(name)] != nil else { throw Self.noGroup }
        return String(name)
    }

    // MARK: Checks

    /// Stores a changed group record (subscription filters are set by their own module).
    public mutating func replace(_ group: LogGroupRecord, changes: inout ChangeSet) {
        groups[group.name] = group
        changes.put(group)
    }

    public func group(_ name: String) throws(AWSError) -> LogGroupRecord {
        guard let group = groups[name] else { throw Self.noGroup }
        return group
    }

    public func stream(_ groupName: String, _ streamName: String) throws(AWSError) -> (LogGroupRecord, LogStreamRecord) {
        let group = try self.group(groupName)
        guard let stream = group.streams[streamName] else { throw Self.noStream }
        return (group, stream)
    }

    public static let noGroup = AWSError(type: "ResourceNotFoundException", message: "The specified log group does not exist.")
    public static let noStream = AWSError(type: "ResourceNotFoundException", message: "The specified log stream does not exist.")
    static let badToken = AWSError.invalidParameter("The specified nextToken is invalid.")

    /// The group an operation names, by `logGroupName` or `logGroupIdentifier` (a name or an ARN), one of them.
    public static func groupName(_ name: String?, identifier: String?) throws(AWSError) -> String {
        switch (name, identifier) {
        case (let name?, nil): return name
        case (nil, let identifier?):
            guard identifier.hasPrefix("arn:") else { return identifier }
            let parts = identifier.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count >= 7, parts[5] == "log-group" else { throw .invalidParameter("Invalid log group identifier: \(identifier)") }
            return String(parts[6])
        case (nil, nil): throw .invalidParameter("Should provide either logGroupName or logGroupIdentifier.")
        case (_?, _?): throw .invalidParameter("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        }
    }

    static func checkGroupName(_ name: String) throws(AWSError) {
        let valid = (1...512).contains(name.utf8.count) && name.utf8.allSatisfy { byte in
            Self.isNameByte(byte) || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "#")
        }
        guard valid else {
            throw .invalidParameter(
                "1 validation error detected: Value '\(name)' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+")
        }
    }

    static func checkStreamName(_ name: String) throws(AWSError) {
        guard (1...512).contains(name.utf8.count), !name.contains(":"), !name.contains("*") else {
            throw .invalidParameter(
                "1 validation error detected: Value '\(name)' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*")
        }
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }

    static func checkTags(_ tags: [String: String], adding existing: Int) throws(AWSError) {
        guard tags.count + existing <= 50 else { throw .invalidParameter("A log group can have at most 50 tags.") }
        for (key, value) in tags {
            guard (1...128).contains(key.count), value.count <= 256, !key.hasPrefix("aws:") else {
                throw .invalidParameter("Invalid tag: keys are 1-128 characters and may not start with aws:, values at most 256 characters (\(key)).")
            }
        }
    }

    /// A `limit` within 1...maximum (default the maximum), in CloudWatch Logs' words.
    public static func limit(_ limit: Int?, maximum: Int) throws(AWSError) -> Int {
        guard let limit else { return maximum }
        guard limit >= 1 else {
            throw .invalidParameter(
                "1 validation error detected: Value '\(limit)' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1")
        }
        guard limit <= maximum else {
            throw .invalidParameter(
                "1 validation error detected: Value '\(limit)' at 'limit' failed to satisfy constraint: Member must have value less than or equal to \(maximum)")
        }
        return limit
    }

    /// A page of sorted names after the one a token names.
    static func page(_ sorted: [String], after token: String?, limit: Int) throws(AWSError) -> ([String], String?) {
        var start = 0
        if let token {
            guard let last = decodeName(token) else { throw badToken }
            start = sorted.firstIndex { $0 > last } ?? sorted.count
        }
        let end = min(sorted.count, start + limit)
        let page = Array(sorted[start..<end])
        return (page, end < sorted.count ? page.last.map(encodeName) : nil)
    }

    static func encodeName(_ name: String) -> String { Data(("n/" + name).utf8).base64EncodedString() }

    static func decodeName(_ token: String) -> String? {
        guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8), text.hasPrefix("n/") else { return nil }
        return String(text.dropFirst(2))
    }

    static func encodePosition(_ position: Int) -> String { Data("p/\(position)".utf8).base64EncodedString() }

    static func decodePosition(_ token: String) -> Int? {
        guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8), text.hasPrefix("p/") else { return nil }
        return Int(text.dropFirst(2)).flatMap { $0 >= 0 ? $0 : nil }
    }

    static func newStorageId(using random: inout Xoshiro256) -> String {
        String(random.next(), radix: 16) + String(random.next() & 0xFFFF_FFFF, radix: 16)
    }
}

/// A stream's figures, as the event store keeps them.
public struct StreamFigures: Sendable, Equatable {
    public var firstEventTimestamp: Int?
    public var lastEventTimestamp: Int?
    public var lastIngestionTime: Int?
    public var storedBytes: Int = 0
    /// Accepted and ignored by PutLogEvents, as CloudWatch Logs does now; given out for older clients.
    public var uploadSequenceToken: String?

    public init(
        firstEventTimestamp: Int? = nil, lastEventTimestamp: Int? = nil, lastIngestionTime: Int? = nil, storedBytes: Int = 0,
        uploadSequenceToken: String? = nil
    ) {
        self.firstEventTimestamp = firstEventTimestamp
        self.lastEventTimestamp = lastEventTimestamp
        self.lastIngestionTime = lastIngestionTime
        self.storedBytes = storedBytes
        self.uploadSequenceToken = uploadSequenceToken
    }
}
