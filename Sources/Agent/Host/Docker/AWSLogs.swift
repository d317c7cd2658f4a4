#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import DockerClient
import ECSShapes
import StevedoreCore

/// A container's `awslogs` options, as the Docker driver reads them. The agent ships the output
/// itself (Docker's own driver would try to reach AWS): Docker keeps it as `json-file` meanwhile.
struct AWSLogsOptions: Equatable {
    var group: String
    var stream: String
    var createGroup: Bool
    /// A line matching this starts a new event; the lines after it until the next belong to it.
    var eventStart: String?
    /// `mode=non-blocking`: past `maxBufferBytes` waiting to be shipped, the oldest are dropped.
    /// Blocking (the default): the agent stops reading the container's output until they are shipped
    /// (Docker keeps it meanwhile; the container itself never blocks).
    var nonBlocking: Bool
    var maxBufferBytes: Int

    struct Refusal: Error, Equatable {
        var message: String
    }

    /// - Parameters:
    ///   - taskId: the last part of the task's ARN; the stream is `prefix/container/taskId`, or the
    ///     container's Docker id without a prefix (as the Docker driver names it).
    static func parse(_ options: [String: String], container: String, taskId: String, dockerId: String) throws(Refusal) -> AWSLogsOptions {
        guard let group = options["awslogs-group"], !group.isEmpty else {
            throw Refusal(message: "awslogs: the awslogs-group option is required")
        }
        let datetime = options["awslogs-datetime-format"]
        let multiline = options["awslogs-multiline-pattern"]
        if datetime != nil && multiline != nil {
            throw Refusal(message: "awslogs: you cannot configure both awslogs-datetime-format and awslogs-multiline-pattern")
        }
        var start: String?
        if let datetime { start = "^" + strftimePattern(datetime) }
        if let multiline { start = "^" + multiline }
        if let start, (try? Regex(start)) == nil {
            throw Refusal(message: "awslogs: the pattern \(multiline ?? datetime ?? "") is not a valid regular expression")
        }
        let createGroup: Bool
        switch options["awslogs-create-group"]?.lowercased() {
        case nil, "false": createGroup = false
        case "true": createGroup = true
        case let other?: throw Refusal(message: "awslogs: awslogs-create-group must be true or false, not \(other)")
        }
        let mode = options["mode"] ?? "blocking"
        guard mode == "blocking" || mode == "non-blocking" else {
            throw Refusal(message: "awslogs: mode must be blocking or non-blocking, not \(mode)")
        }
        var maxBuffer = 1 << 20
        if let text = options["max-buffer-size"] {
            guard let bytes = byteSize(text), bytes > 0, bytes <= 1 << 30 else {
                throw Refusal(message: "awslogs: max-buffer-size \(text) is not a size from 1 to 1g (4m, 512k…)")
            }
            maxBuffer = bytes
        }
        let prefix = options["awslogs-stream-prefix"]
        return AWSLogsOptions(
            group: group, stream: prefix.map { "\($0)/\(container)/\(taskId)" } ?? dockerId, createGroup: createGroup, eventStart: start,
            nonBlocking: mode == "non-blocking", maxBufferBytes: maxBuffer)
    }

    /// `4m`, `512k`, `1g`, or bytes.
    static func byteSize(_ text: String) -> Int? {
        let lower = text.lowercased()
        let units: [(String, Int)] = [("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("b", 1)]
        for (suffix, factor) in units where lower.hasSuffix(suffix) {
            guard let count = Int(lower.dropLast()) else { return nil }
            let (bytes, overflow) = count.multipliedReportingOverflow(by: factor)
            return overflow ? nil : bytes
        }
        return Int(lower)
    }

    /// The regular expression a `strftime` format matches, as the Docker driver converts it.
    static func strftimePattern(_ format: String) -> String {
        let conversions: [Character: String] = [
            "Y": #"\d{4}"#, "y": #"\d{2}"#, "m": #"\d{2}"#, "d": #"\d{2}"#, "e": #"[ \d]\d"#, "H": #"\d{2}"#, "I": #"\d{2}"#, "M": #"\d{2}"#,
            "S": #"\d{2}"#, "j": #"\d{3}"#, "f": #"\d{1,9}"#, "L": #"\d{3}"#, "b": "[A-Za-z]{3}", "B": "[A-Za-z]+", "a": "[A-Za-z]{3}",
            "A": "[A-Za-z]+", "p": "[AaPp][Mm]", "z": #"[+-]\d{4}"#, "Z": "[A-Za-z_/+-]+", "T": #"\d{2}:\d{2}:\d{2}"#,
            "F": #"\d{4}-\d{2}-\d{2}"#, "%": "%",
        ]
        var pattern = ""
        var escaping = false
        for character in format {
            if escaping {
                pattern += conversions[character] ?? escaped("%\(character)")
                escaping = false
            } else if character == "%" {
                escaping = true
            } else {
                pattern += escaped(String(character))
            }
        }
        return pattern
    }

    /// `text` matched literally in a regular expression.
    static func escaped(_ text: String) -> String {
        var result = ""
        for character in text {
            if "\\^$.|?*+()[]{}/-".contains(character) { result.append("\\") }
            result.append(character)
        }
        return result
    }
}

/// Lines into events: each line its own event, or, with an event-start pattern, a line matching
/// it and the lines after it that do not (a stack trace under its first line). Pure: whether a
/// line starts an event is the caller's to say (``EventStart``).
struct LogLineAssembler: Sendable {
    /// Whether lines may join the event before them (the container has a pattern).
    let multiline: Bool
    private var pending: LogEventsBatch.Event?
    /// How big an event may grow (CloudWatch Logs' event limit, less its overhead).
    static let maximumEventBytes = 1_048_550

    init(multiline: Bool) {
        self.multiline = multiline
    }

    /// The events a line completes (none while a multi-line event may still grow).
    mutating func add(_ line: String, timestamp: Int, startsEvent: Bool) -> [LogEventsBatch.Event] {
        guard multiline else { return [LogEventsBatch.Event(timestamp: timestamp, message: line)] }
        if var event = pending, !startsEvent, event.message.utf8.count + line.utf8.count + 1 <= Self.maximumEventBytes {
            event.message += "\n" + line
            pending = event
            return []
        }
        let finished = pending.map { [$0] } ?? []
        pending = LogEventsBatch.Event(timestamp: timestamp, message: line)
        return finished
    }

    /// The event still growing, if any: at the end of the output, or when it has waited long enough.
    mutating func flush() -> [LogEventsBatch.Event] {
        defer { pending = nil }
        return pending.map { [$0] } ?? []
    }

    var isHolding: Bool { pending != nil }
}

/// Whether a line starts an event: it matches the container's datetime format or multi-line pattern.
struct EventStart {
    private let pattern: Regex<AnyRegexOutput>?

    init(_ pattern: String?) {
        self.pattern = pattern.flatMap { try? Regex($0) }
    }

    func matches(_ line: String) -> Bool {
        guard let pattern else { return true }
        return (try? pattern.firstMatch(in: line)) != nil
    }
}

/// Docker's timestamped log lines: `2026-12-01T04:33:48.123456789Z message`.
enum DockerLogLine {
    /// The line's time in milliseconds since the epoch, and its text; nil when it has no timestamp.
    /// On the line's bytes in place (no string made for the timestamp).
    static func split(_ line: UnsafeBufferPointer<UInt8>) -> (timestamp: Int, message: UnsafeBufferPointer<UInt8>)? {
        guard let space = line.firstIndex(of: 0x20), let milliseconds = CivilCalendar.milliseconds(rfc3339: UnsafeBufferPointer(rebasing: line[..<space])) else {
            return nil
        }
        return (milliseconds, UnsafeBufferPointer(rebasing: line[(space + 1)...]))
    }

    /// The same, on text.
    static func split(_ line: Substring) -> (timestamp: Int, message: Substring)? {
        var line = line
        return line.withUTF8 { bytes in split(bytes).map { ($0.timestamp, Substring(decoding: $0.message, as: UTF8.self)) } }
    }
}
