import Archives
import AWSProtocols
import Foundation
import Lambda
import Logs
import LogsShapes
import StevedoreCore

/// CloudWatch Logs subscription filters to functions: PutSubscriptionFilter checks that CloudWatch
/// Logs may invoke the function, and each batch of a group's events that a filter's pattern
/// matches is queued as the function's asynchronous invocation, gzipped and base64'd under
/// `awslogs.data` as CloudWatch Logs delivers it.
extension LambdaHost where Self: LogsHost {
    static var logsService: String { "logs.amazonaws.com" }
    /// A group takes at most this many subscription filters.
    public static var maximumSubscriptionFilters: Int { 2 }

    public mutating func putSubscriptionFilter(_ input: CWLPutSubscriptionFilterRequest, now: Date, changes: inout ChangeSet) throws(AWSError) {
        var group = try logs.group(input.logGroupName)
        do throws(FilterPattern.ParseError) {
            _ = try FilterPattern.parse(input.filterPattern)
        } catch {
            throw .invalidParameter(error.message)
        }
        guard (1...512).contains(input.filterName.count), !input.filterName.contains(":"), !input.filterName.contains("*") else {
            throw .invalidParameter(
                "1 validation error detected: Value '\(input.filterName)' at 'filterName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*")
        }
        try checkDestination(input.destinationArn, group: group.name)
        var filters = group.subscriptionFilters ?? []
        let filter = SubscriptionFilterRecord(
            name: input.filterName, pattern: input.filterPattern, destinationArn: input.destinationArn, roleArn: input.roleArn,
            distribution: input.distribution?.rawValue ?? CWLDistribution.byLogStream.rawValue, creationTime: epochMilliseconds(now))
        if let index = filters.firstIndex(where: { $0.name == input.filterName }) {
            filters[index] = filter
        } else {
            guard filters.count < Self.maximumSubscriptionFilters else {
                throw AWSError(type: "LimitExceededException", message: "Resource limit exceeded.")
            }
            filters.append(filter)
        }
        group.subscriptionFilters = filters
        logs.replace(group, changes: &changes)
    }

    /// A function's ARN whose resource policy lets CloudWatch Logs invoke it for the group.
    func checkDestination(_ arn: String, group: String) throws(AWSError) {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 7, parts[0] == "arn" else { throw .invalidParameter("Invalid destination ARN: \(arn)") }
        guard parts[2] == "lambda", parts[5] == "function", (7...8).contains(parts.count) else {
            throw .invalidParameter("Stevedore delivers subscriptions to Lambda functions only; \(arn) is not one.")
        }
        guard group != FunctionLogNames.group(parts[6]) else {
            throw .invalidParameter("A function's own log group cannot be subscribed to it: each delivery would log, and be delivered, again.")
        }
        guard mayInvoke(arn, group: group) else {
            throw .invalidParameter("Could not execute the lambda function. Make sure you have given CloudWatch Logs permission to execute your function.")
        }
    }

    /// Whether the function exists and its policy lets CloudWatch Logs (`logs.amazonaws.com`, or
    /// the regional `logs.<region>.amazonaws.com`) invoke it for the group. Checked when a filter is
    /// put and again for each delivery.
    func mayInvoke(_ arn: String, group: String) -> Bool {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 7 else { return false }
        let qualifier = parts.count == 8 ? parts[7] : nil
        let sourceArn = logs.names.logGroup(group) + ":*"
        guard (try? lambda.functionVersion(parts[6], qualifier: qualifier)) != nil else { return false }
        return [Self.logsService, "logs.\(logs.names.region).amazonaws.com"].contains { service in
            lambda.permits(service: service, toInvoke: parts[6], qualifier: qualifier, sourceArn: sourceArn, sourceAccount: logs.names.accountId)
        }
    }

    /// Queues, for each filter of the group, the events its pattern matches (a batch a stream's).
    /// Returns how many invocations were queued.
    @discardableResult
    public mutating func deliverSubscribed(
        group: String, stream: String, events: [(timestamp: Int, message: String)], now: Date, using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) -> Int {
        guard let filters = logs.groups[group]?.subscriptionFilters, !filters.isEmpty else { return 0 }
        var queued = 0
        for filter in filters {
            guard let pattern = try? FilterPattern.parse(filter.pattern) else { continue }
            let matched = events.enumerated().filter { pattern.matches($0.element.message) }
            let parts = filter.destinationArn.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard !matched.isEmpty, parts.count >= 7, mayInvoke(filter.destinationArn, group: group) else { continue }
            for chunk in SubscriptionMessages.chunks(matched.map { (index: $0.offset, timestamp: $0.element.timestamp, message: $0.element.message) }) {
                let payload = SubscriptionMessages.lambdaEvent(
                    owner: logs.names.accountId, group: group, stream: stream, filters: [filter.name], events: chunk, ingestedAt: epochMilliseconds(now))
                lambda.enqueueAsyncEvent(
                    AsyncEventRecord(
                        requestId: Identifiers.uuid(using: &generator), functionName: parts[6], qualifier: parts.count == 8 ? parts[7] : nil, payload: payload,
                        enqueuedAt: now),
                    changes: &changes)
                queued += 1
            }
        }
        if queued > 0 { changes.touch(.logSubscriptionInvocations) }
        return queued
    }
}

extension RecordKind {
    /// Touched when log events queued a function's invocation (the invoker is woken).
    public static let logSubscriptionInvocations = RecordKind("log_subscription_invocations")
}

extension LogsState {
    public func describeSubscriptionFilters(_ input: CWLDescribeSubscriptionFiltersRequest) throws(AWSError) -> CWLDescribeSubscriptionFiltersResponse {
        let group = try group(input.logGroupName)
        let limit = try LogsState.limit(input.limit, maximum: 50)
        let filters = (group.subscriptionFilters ?? []).filter { $0.name.hasPrefix(input.filterNamePrefix ?? "") }
        var offset = 0
        if let token = input.nextToken {
            guard let value = Int(token), (0...filters.count).contains(value) else { throw .invalidParameter("The specified nextToken is invalid.") }
            offset = value
        }
        let end = min(filters.count, offset + limit)
        return CWLDescribeSubscriptionFiltersResponse(
            subscriptionFilters: filters[offset..<end].map { filter in
                CWLSubscriptionFilter(
                    filterName: filter.name, logGroupName: group.name, filterPattern: filter.pattern, destinationArn: filter.destinationArn,
                    roleArn: filter.roleArn, distribution: CWLDistribution(rawValue: filter.distribution), applyOnTransformedLogs: false,
                    creationTime: filter.creationTime)
            }, nextToken: end < filters.count ? String(end) : nil)
    }

    public mutating func deleteSubscriptionFilter(_ group: String, _ name: String, changes: inout ChangeSet) throws(AWSError) {
        var record = try self.group(group)
        guard let index = record.subscriptionFilters?.firstIndex(where: { $0.name == name }) else {
            throw AWSError(type: "ResourceNotFoundException", message: "The specified subscription filter does not exist.")
        }
        record.subscriptionFilters?.remove(at: index)
        if record.subscriptionFilters?.isEmpty == true { record.subscriptionFilters = nil }
        replace(record, changes: &changes)
    }
}

/// CloudWatch Logs' subscription messages: a DATA_MESSAGE naming the group, stream and filters,
/// with the events, gzipped; for a function, base64 under `awslogs.data`.
public enum SubscriptionMessages {
    /// Raw message bytes per delivery, so the function's event stays under Lambda's 256 KB for
    /// asynchronous invocations however badly the messages compress.
    static let chunkBytes = 180 * 1024

    static func chunks(_ events: [(index: Int, timestamp: Int, message: String)]) -> [[(index: Int, timestamp: Int, message: String)]] {
        var chunks: [[(index: Int, timestamp: Int, message: String)]] = []
        var current: [(index: Int, timestamp: Int, message: String)] = []
        var bytes = 0
        for event in events {
            let size = min(event.message.utf8.count, chunkBytes) + 100
            if !current.isEmpty, bytes + size > chunkBytes {
                chunks.append(current)
                current = []
                bytes = 0
            }
            current.append((event.index, event.timestamp, String(decoding: event.message.utf8.prefix(chunkBytes), as: UTF8.self)))
            bytes += size
        }
        if !current.isEmpty { chunks.append(current) }
        return chunks
    }

    /// An event's id: 56 digits, its time and its place in the batch it arrived in.
    static func eventId(timestamp: Int, ingestedAt: Int, index: Int) -> String {
        func digits(_ value: Int, _ width: Int) -> String {
            let text = String(max(0, value))
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return digits(timestamp, 20) + digits(ingestedAt, 20) + digits(index, 16)
    }

    public static func dataMessage(
        owner: String, group: String, stream: String, filters: [String], events: [(index: Int, timestamp: Int, message: String)], ingestedAt: Int
    ) -> [UInt8] {
        let document = Document.object([
            ("messageType", .string("DATA_MESSAGE")), ("owner", .string(owner)), ("logGroup", .string(group)), ("logStream", .string(stream)),
            ("subscriptionFilters", .array(filters.map(Document.string))),
            (
                "logEvents",
                .array(
                    events.map { event in
                        .object([
                            ("id", .string(eventId(timestamp: event.timestamp, ingestedAt: ingestedAt, index: event.index))),
                            ("timestamp", .integer(event.timestamp)), ("message", .string(event.message)),
                        ])
                    })
            ),
        ])
        return Array(document.json().utf8)
    }

    static func lambdaEvent(
        owner: String, group: String, stream: String, filters: [String], events: [(index: Int, timestamp: Int, message: String)], ingestedAt: Int
    ) -> Data {
        let data = Data(Gzip.compress(dataMessage(owner: owner, group: group, stream: stream, filters: filters, events: events, ingestedAt: ingestedAt)))
        return Data(Document.object([("awslogs", .object([("data", .string(data.base64EncodedString()))]))]).json().utf8)
    }
}
