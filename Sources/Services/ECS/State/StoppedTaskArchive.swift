#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import StevedoreCore

/// Tasks that had stopped before this process started, kept as their stored bytes behind a
/// one-line summary: what ListTasks filters on and what retention needs. A start reads the
/// summaries and never decodes these tasks; a request that reads one decodes it then, and a
/// change to one moves it back among the live records. So start-up does not grow with history.
///
/// A stopped task's row (kind `stopped_tasks`) is its summary line, a newline, and its
/// ``TaskRecord`` as JSON.
public struct StoppedTaskArchive: Sendable {
    public struct Summary: Sendable, Equatable {
        public var arn: String
        public var cluster: String
        public var taskDefinitionArn: String?
        public var startedBy: String?
        public var serviceArn: String?
        public var containerInstanceArn: String?
        public var launchType: String?
        public var desiredStatus: String
        public var stoppedAt: Date?
        public var assignmentSequence: Int
    }

    public struct Entry: Sendable {
        var summary: Summary
        /// The record's JSON (the row after its summary line).
        var body: ArraySlice<UInt8>
    }

    private var entries: [String: Entry] = [:]

    public init() {}

    public var count: Int { entries.count }

    public func contains(_ arn: String) -> Bool { entries[arn] != nil }

    public func summary(_ arn: String) -> Summary? { entries[arn]?.summary }

    /// The archived task, decoded (nil if it is not archived or its row is damaged).
    public func record(_ arn: String) -> TaskRecord? {
        guard let entry = entries[arn] else { return nil }
        return try? RecordCoding.decode(TaskRecord.self, from: Array(entry.body))
    }

    /// Every summary, for filtering.
    public var summaries: some Sequence<Summary> { entries.values.lazy.map(\.summary) }

    @discardableResult
    public mutating func remove(_ arn: String) -> Summary? { entries.removeValue(forKey: arn)?.summary }

    /// Adds a stored row; false if it is not a row this archive wrote.
    @discardableResult
    public mutating func load(row: [UInt8]) -> Bool {
        guard let entry = Self.entry(row: row) else { return false }
        load([entry])
        return true
    }

    /// Adds parsed rows (``entry(row:)`` is pure, so start-up parses rows on every core).
    public mutating func load(_ parsed: [Entry]) {
        entries.reserveCapacity(entries.count + parsed.count)
        for entry in parsed { entries[entry.summary.arn] = entry }
    }

    /// A stored row parsed; nil if it is not a row this archive wrote.
    public static func entry(row: [UInt8]) -> Entry? {
        guard let newline = row.firstIndex(of: UInt8(ascii: "\n")), let summary = parse(row[..<newline]) else { return nil }
        return Entry(summary: summary, body: row[(newline + 1)...])
    }

    // MARK: Rows

    /// The stored row of a stopped task.
    public static func row(_ record: TaskRecord, cluster: String) -> [UInt8] {
        let fields: [String?] = [
            "v1", record.arn, cluster, record.task.taskDefinitionArn, record.task.startedBy, record.serviceArn,
            record.task.containerInstanceArn, record.task.launchType?.rawValue, record.desiredStatus.rawValue,
            record.task.stoppedAt.map { String($0.timeIntervalSince1970) }, String(record.assignmentSequence),
        ]
        var line = fields.map(escape).joined(separator: "\t")
        line.append("\n")
        return Array(line.utf8) + RecordCoding.encode(record)
    }

    /// A field: absent is empty; present starts with `=`; tabs, newlines and backslashes escaped.
    static func escape(_ field: String?) -> String {
        guard let field else { return "" }
        var text = "="
        for character in field.unicodeScalars {
            switch character {
            case "\\": text += "\\\\"
            case "\t": text += "\\t"
            case "\n": text += "\\n"
            default: text.unicodeScalars.append(character)
            }
        }
        return text
    }

    static func unescape(_ field: Substring) -> String? {
        unescape(Array(field.utf8)[...])
    }

    /// A field's bytes back to its text. Start-up parses every summary, so this works on bytes
    /// and copies a field in one piece unless it holds an escape.
    static func unescape(_ field: ArraySlice<UInt8>) -> String? {
        guard field.first == UInt8(ascii: "=") else { return nil }
        let text = field.dropFirst()
        guard text.contains(UInt8(ascii: "\\")) else { return String(decoding: text, as: UTF8.self) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count)
        var escaped = false
        for byte in text {
            if escaped {
                bytes.append(byte == UInt8(ascii: "t") ? 0x09 : byte == UInt8(ascii: "n") ? 0x0A : byte)
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func parse(_ line: ArraySlice<UInt8>) -> Summary? {
        let fields = line.split(separator: 0x09, omittingEmptySubsequences: false)
        guard fields.count == 11, fields[0].elementsEqual("=v1".utf8), let arn = unescape(fields[1]), let cluster = unescape(fields[2]),
            let desired = unescape(fields[8]), let sequence = unescape(fields[10]).flatMap({ Int($0) })
        else { return nil }
        return Summary(
            arn: arn, cluster: cluster, taskDefinitionArn: unescape(fields[3]), startedBy: unescape(fields[4]),
            serviceArn: unescape(fields[5]), containerInstanceArn: unescape(fields[6]), launchType: unescape(fields[7]),
            desiredStatus: desired, stoppedAt: unescape(fields[9]).flatMap({ Double($0) }).map { Date(timeIntervalSince1970: $0) },
            assignmentSequence: sequence)
    }
}

extension RecordKind {
    /// Tasks that have stopped, stored with a summary line (see ``StoppedTaskArchive``).
    public static let stoppedTasks = RecordKind("stopped_tasks")
}
