import APIGateway
import APIGatewayShapes
import Athena
import Foundation
import Logs

/// The `stevedore` tables read from logs when a query starts: every CloudWatch Logs event
/// (`log_events`), functions' invocations as their REPORT lines tell them (`invocations`), and
/// API Gateway stages' access log lines (`gateway_access_logs`). Which streams and files a table
/// reads comes from the state (``sources(_:in:)``); the files are read after, outside the state's read.
enum ClusterLogTables {
    typealias Row = [CellValue]

    static let columns: [String: [ColumnDefinition]] = [
        "log_events": [
            .init(name: "log_group", type: "string"), .init(name: "log_stream", type: "string"), .init(name: "event_time", type: "timestamp"),
            .init(name: "ingestion_time", type: "timestamp"), .init(name: "message", type: "string"),
        ],
        "invocations": [
            .init(name: "function_name", type: "string"), .init(name: "version", type: "string"), .init(name: "request_id", type: "string"),
            .init(name: "ended_at", type: "timestamp"), .init(name: "duration_ms", type: "double"), .init(name: "billed_duration_ms", type: "bigint"),
            .init(name: "memory_size_mb", type: "int"), .init(name: "max_memory_used_mb", type: "int"), .init(name: "init_duration_ms", type: "double"),
            .init(name: "cold_start", type: "boolean"), .init(name: "error_type", type: "string"), .init(name: "log_stream", type: "string"),
        ],
        "gateway_access_logs": [
            .init(name: "log_group", type: "string"), .init(name: "api_id", type: "string"), .init(name: "stage", type: "string"),
            .init(name: "line", type: "string"),
        ],
    ]

    /// A log stream to read: its names and where the event store keeps it.
    struct Stream: Sendable {
        var group: String
        var name: String
        var groupStorage: String
        var streamStorage: String
    }

    /// An access log and the stage writing it (nil when several stages share the group).
    struct AccessLog: Sendable {
        var group: String
        var apiId: String?
        var stage: String?
    }

    struct Sources: Sendable {
        var streams: [Stream] = []
        var accessLogs: [AccessLog] = []
    }

    /// What `table` reads, from the state now.
    static func sources(_ table: String, in root: ControlPlaneState) -> Sources {
        var sources = Sources()
        switch table {
        case "log_events", "invocations":
            let functionsOnly = table == "invocations"
            for group in root.logs.groups.values where !functionsOnly || group.name.hasPrefix("/aws/lambda/") {
                for stream in group.streams.values {
                    sources.streams.append(Stream(group: group.name, name: stream.name, groupStorage: group.storageId, streamStorage: stream.storageId))
                }
            }
        case "gateway_access_logs":
            var stages: [String: [(apiId: String, stage: String)]] = [:]
            for (apiId, api) in root.gateway.apis {
                for (name, stage) in api.stages {
                    if let group = stage.accessLogSettings?.destinationArn.flatMap(AccessLogFormat.logGroup) { stages[group, default: []].append((apiId, name)) }
                }
            }
            for (apiId, api) in root.gateway.restApis {
                for (name, stage) in api.stages {
                    if let group = stage.accessLogSettings?.destinationArn.flatMap(AccessLogFormat.logGroup) { stages[group, default: []].append((apiId, name)) }
                }
            }
            sources.accessLogs = stages.map { group, writers in
                AccessLog(group: group, apiId: writers.count == 1 ? writers[0].apiId : nil, stage: writers.count == 1 ? writers[0].stage : nil)
            }
        default:
            break
        }
        return sources
    }

    /// `table`'s rows from its sources' files.
    static func rows(_ table: String, sources: Sources, events: any LogEventStorage, accessLogs: AccessLogStore) -> [Row] {
        switch table {
        case "log_events":
            return sources.streams.flatMap { stream in
                events.events(group: stream.groupStorage, stream: stream.streamStorage, EventQuery()).map { event in
                    [.text(stream.group), .text(stream.name), time(event.timestamp), time(event.ingestionTime), .text(event.message)]
                }
            }
        case "invocations":
            return sources.streams.flatMap { stream in
                invocationRows(events.events(group: stream.groupStorage, stream: stream.streamStorage, EventQuery()), stream: stream)
            }
        case "gateway_access_logs":
            return sources.accessLogs.flatMap { log in
                accessLogs.lines(log.group).map { line in [.text(log.group), ClusterTables.text(log.apiId), ClusterTables.text(log.stage), .text(line)] }
            }
        default:
            return []
        }
    }

    /// An environment's invocations from its stream: one per REPORT line, with the error the
    /// REPORT names (timeouts, runtime exits) or else the one the runtime logged for the request
    /// (awslambdaric's `[ERROR] <type>: <message>` line).
    static func invocationRows(_ events: [StoredLogEvent], stream: Stream) -> [Row] {
        invocations(events, stream: stream).map { invocation in
            let report = invocation.report
            return [
                .text(invocation.function), ClusterTables.text(invocation.version), .text(report.requestId), time(invocation.endedAt),
                report.duration.map(CellValue.real) ?? .null, ClusterTables.integer(report.billedDuration), ClusterTables.integer(report.memorySize),
                ClusterTables.integer(report.maxMemoryUsed), report.initDuration.map(CellValue.real) ?? .null, .integer(report.initDuration == nil ? 0 : 1),
                ClusterTables.text(invocation.errorType), .text(stream.name),
            ]
        }
    }

    /// One invocation as its stream tells it.
    struct Invocation {
        var function: String
        var version: String?
        var report: Report
        /// The REPORT line's time, in milliseconds since 1970.
        var endedAt: Int
        var errorType: String?
        var line: String
    }

    static func invocations(_ events: [StoredLogEvent], stream: Stream) -> [Invocation] {
        let function = String(stream.group.dropFirst("/aws/lambda/".count))
        // Streams are named `yyyy/mm/dd/[<version>]<environment>`.
        let version = stream.name.split(separator: "[", maxSplits: 1).dropFirst().first?.split(separator: "]").first.map(String.init)
        var invocations: [Invocation] = []
        var loggedError: (request: String, type: String)?
        var request = ""
        // In the order they were put (the store gives blocks whose times overlap interleaved).
        for event in events.sorted(by: { $0.sequence < $1.sequence }) {
            let message = event.message
            if message.hasPrefix("START RequestId: ") {
                request = String(message.dropFirst("START RequestId: ".count).prefix { $0 != " " })
            } else if message.hasPrefix("[ERROR] "), loggedError?.request != request {
                let type = message.dropFirst("[ERROR] ".count).prefix { $0 != ":" && $0 != " " && $0 != "\r" && $0 != "\n" }
                if !type.isEmpty { loggedError = (request, String(type)) }
            } else if message.hasPrefix("REPORT RequestId: "), let report = Report(message) {
                let error = report.errorType ?? (loggedError?.request == report.requestId ? loggedError?.type : nil)
                invocations.append(
                    Invocation(function: function, version: version, report: report, endedAt: event.timestamp, errorType: error, line: message))
            }
        }
        return invocations
    }

    /// A REPORT line's fields: `REPORT RequestId: <id>\tDuration: 1.23 ms\tBilled Duration: 2 ms\t…`.
    struct Report {
        var requestId: String
        var duration: Double?
        var billedDuration: Int?
        var memorySize: Int?
        var maxMemoryUsed: Int?
        var initDuration: Double?
        var errorType: String?

        init?(_ line: String) {
            var fields: [Substring: Substring] = [:]
            for part in line.dropFirst("REPORT ".count).split(separator: "\t") {
                guard let colon = part.firstIndex(of: ":") else { continue }
                fields[part[..<colon]] = part[part.index(after: colon)...].drop { $0 == " " }
            }
            guard let id = fields["RequestId"], !id.isEmpty else { return nil }
            func number(_ name: Substring) -> Substring? { fields[name].map { $0.prefix { $0 != " " } } }
            requestId = String(id)
            duration = number("Duration").flatMap { Double($0) }
            billedDuration = number("Billed Duration").flatMap { Int($0) }
            memorySize = number("Memory Size").flatMap { Int($0) }
            maxMemoryUsed = number("Max Memory Used").flatMap { Int($0) }
            initDuration = number("Init Duration").flatMap { Double($0) }
            errorType = fields["Error Type"].map(String.init)
        }
    }

    static func time(_ milliseconds: Int) -> CellValue { .text(Timestamp(milliseconds: Int64(milliseconds)).text) }
}
