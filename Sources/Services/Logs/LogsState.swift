import Foundation
import LogsShapes
import StevedoreCore

/// CloudWatch Logs' log groups and streams, as the committer keeps them: names, creation times,
/// retention and tags. The events themselves live in the event store (``LogEventStorage``), which
/// also keeps each stream's figures (first and last event, stored bytes); a stream's `storageId`
/// names its files there.
public struct LogsState: Sendable {
    public let names: ResourceNames
    public package(set) var groups: [String: LogGroupRecord] = [:]

    public init(names: ResourceNames) {
        self.names = names
    }

    public static let recordKinds: [RecordKind] = [.logGroups]

    public static func restore(names: ResourceNames, rows: StoredRows) throws -> LogsState {
        var state = LogsState(names: names)
        for group in try rows.decode(LogGroupRecord.self) { state.groups[group.name] = group }
        return state
    }
}

/// The composed state CloudWatch Logs' operations run in.
public protocol LogsHost: Sendable {
    var logs: LogsState { get set }
}

/// A log group with its streams (a group's streams are stored with it: they are created and
/// deleted with it, and DescribeLogStreams reads them together).
public struct LogGroupRecord: StoredRecord, Equatable {
    public var name: String
    /// Milliseconds since the epoch, as CloudWatch Logs gives times.
    public var creationTime: Int
    public var retentionInDays: Int?
    public var tags: [String: String] = [:]
    public var kmsKeyId: String?
    public var logGroupClass: CWLLogGroupClass = .standard
    /// The group's files in the event store.
    public var storageId: String
    public var streams: [String: LogStreamRecord] = [:]
    /// Where the group's events are also sent (at most two), in the order they were put.
    public var subscriptionFilters: [SubscriptionFilterRecord]?

    public static var recordKind: RecordKind { .logGroups }
    public var recordKey: String { name }
}

/// A subscription filter: the group's events its pattern matches go to its destination.
public struct SubscriptionFilterRecord: Codable, Sendable, Equatable {
    public var name: String
    public var pattern: String
    public var destinationArn: String
    public var roleArn: String?
    public var distribution: String
    /// Milliseconds since the epoch.
    public var creationTime: Int

    public init(name: String, pattern: String, destinationArn: String, roleArn: String?, distribution: String, creationTime: Int) {
        self.name = name
        self.pattern = pattern
        self.destinationArn = destinationArn
        self.roleArn = roleArn
        self.distribution = distribution
        self.creationTime = creationTime
    }
}

public struct LogStreamRecord: Codable, Sendable, Equatable {
    public var name: String
    public var creationTime: Int
    /// The stream's files in the event store, within its group's.
    public var storageId: String
}

extension RecordKind {
    public static let logGroups = RecordKind("log_groups")
}

extension ResourceNames {
    /// `arn:aws:logs:<region>:<account>:log-group:<name>` (DescribeLogGroups' `logGroupArn`; its
    /// `arn` adds `:*`).
    public func logGroup(_ name: String) -> String { arn("logs", "log-group:\(name)") }

    public func logStream(group: String, stream: String) -> String { arn("logs", "log-group:\(group):log-stream:\(stream)") }
}

/// Milliseconds since the epoch, CloudWatch Logs' time.
public func epochMilliseconds(_ date: Date) -> Int { Int((date.timeIntervalSince1970 * 1000).rounded(.down)) }
