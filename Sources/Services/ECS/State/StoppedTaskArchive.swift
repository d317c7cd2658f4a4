#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import Archives
import ECSShapes
import StevedoreCore

/// Tasks that had stopped before this process started, kept as their stored bytes behind a
/// one-line summary: what ListTasks filters on and what retention needs. A start reads the
/// summaries and never decodes these tasks; a request that reads one decodes it then, and a
/// change to one moves it back among the live records. So start-up does not grow with history.
///
/// A stopped task's row (kind `stopped_tasks`) is its summary line, a newline, and its
/// ``TaskRecord`` as JSON, raw-DEFLATE compressed (a `v2` row; `v1` rows, written before,
/// hold plain JSON). Compressed, the history a start reads is several times smaller.
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
        /// The record's JSON (the row after its summary line), compressed or not.
        var body: ArraySlice<UInt8>
        var compressed: Bool
    }

    private var entries: [String: Entry] = [:]

    public init() {}

    public var count: Int { entries.count }

    public func contains(_ arn: String) -> Bool { entries[arn] != nil }

    public func summary(_ arn: String) -> Summary? { entries[arn]?.summary }

    /// The archived task, decoded (nil if it is not archived or its row is damaged).
    public func record(_ arn: String) -> TaskRecord? {
        guard let entry = entries[arn] else { return nil }
        guard entry.compressed else { return try? RecordCoding.decode(TaskRecord.self, from: Array(entry.body)) }
        guard let json = Deflate.inflate(entry.body, limit: Self.largestRecord) else { return nil }
        return try? RecordCoding.decode(TaskRecord.self, from: json)
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
        guard let newline = row.firstIndex(of: UInt8(ascii: "\n")), let (summary, compressed) = parse(row[..<newline]) else { return nil }
        return Entry(summary: summary, body: row[(newline + 1)...], compressed: compressed)
    }

    // MARK: Rows

    /// The stored row of a stopped task.
    public static func row(_ record: TaskRecord, cluster: String) -> [UInt8] {
        let json = RecordCoding.encode(record)
        // Plain JSON (v1) only if zlib cannot start.
        let compressed = Deflate.raw(json, fast: true)
        let fields: [String?] = [
            compressed == nil ? "v1" : "v2", record.arn, cluster, record.task.taskDefinitionArn, record.task.startedBy, record.serviceArn,
            record.task.containerInstanceArn, record.task.launchType?.rawValue, record.desiredStatus.rawValue,
            record.task.stoppedAt.map { String($0.timeIntervalSince1970) }, String(record.assignmentSequence),
        ]
        var line = fields.map(escape).joined(separator: "\t")
        line.append("\n")
        return Array(line.utf8) + (compressed ?? json)
    }

    /// A stopped task's JSON is a few kilobytes; anything inflating past this is damaged.
    static let largestRecord = 16 << 20

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

    /// A summary line, and whether its body is compressed (`v2`). Start-up parses every line:
    /// the fields are found in one pass, without an array of them.
    static func parse(_ line: ArraySlice<UInt8>) -> (Summary, compressed: Bool)? {
        var ranges = InlineArray<11, Range<Int>>(repeating: 0..<0)
        var count = 0
        var start = line.startIndex
        for index in line.indices where line[index] == 0x09 {
            guard count < 10 else { return nil }
            ranges[count] = start..<index
            count += 1
            start = index + 1
        }
        guard count == 10 else { return nil }
        ranges[10] = start..<line.endIndex
        func field(_ number: Int) -> ArraySlice<UInt8> { line[ranges[number]] }
        let version = field(0)
        let compressed = version.elementsEqual("=v2".utf8)
        guard compressed || version.elementsEqual("=v1".utf8), let arn = unescape(field(1)), let cluster = unescape(field(2)),
            let desired = unescape(field(8)), let sequence = unescape(field(10)).flatMap({ Int($0) })
        else { return nil }
        return (
            Summary(
                arn: arn, cluster: cluster, taskDefinitionArn: unescape(field(3)), startedBy: unescape(field(4)),
                serviceArn: unescape(field(5)), containerInstanceArn: unescape(field(6)), launchType: unescape(field(7)),
                desiredStatus: desired, stoppedAt: unescape(field(9)).flatMap({ Double($0) }).map { Date(timeIntervalSince1970: $0) },
                assignmentSequence: sequence), compressed
        )
    }
}

extension RecordKind {
    /// Tasks that have stopped, stored with a summary line (see ``StoppedTaskArchive``).
    public static let stoppedTasks = RecordKind("stopped_tasks")
}
