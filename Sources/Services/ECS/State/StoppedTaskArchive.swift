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
    /// A stopped task's summary line, read in place: a field becomes a string only when asked
    /// for, so a start that loads a hundred thousand of them makes no strings at all.
    public struct Summary: Sendable {
        /// The whole stored row: the summary line, a newline, the record.
        let row: [UInt8]
        /// Where each of the line's 11 tab-separated fields ends in `row`.
        let ends: InlineArray<11, Int32>
        let compressed: Bool
        public let stoppedAt: Date?
        public let assignmentSequence: Int

        func field(_ number: Int) -> ArraySlice<UInt8> {
            row[(number == 0 ? 0 : Int(ends[number - 1]) + 1)..<Int(ends[number])]
        }

        public var arn: String { StoppedTaskArchive.unescape(field(1)) ?? "" }
        public var cluster: String { StoppedTaskArchive.unescape(field(2)) ?? "" }
        public var taskDefinitionArn: String? { StoppedTaskArchive.unescape(field(3)) }
        public var startedBy: String? { StoppedTaskArchive.unescape(field(4)) }
        public var serviceArn: String? { StoppedTaskArchive.unescape(field(5)) }
        public var containerInstanceArn: String? { StoppedTaskArchive.unescape(field(6)) }
        public var launchType: String? { StoppedTaskArchive.unescape(field(7)) }
        public var desiredStatus: String { StoppedTaskArchive.unescape(field(8)) ?? "" }

        /// Whether the task is in `cluster`, compared as bytes.
        public func isIn(cluster: String) -> Bool { Self.holds(field(2), cluster) }

        /// The record's JSON (the row after its summary line), compressed or not.
        var body: ArraySlice<UInt8> { row[(Int(ends[10]) + 1)...] }

        /// Whether a stored field holds exactly `value`, without making a string unless it was escaped.
        static func holds(_ field: ArraySlice<UInt8>, _ value: String) -> Bool {
            guard field.first == UInt8(ascii: "=") else { return false }
            let text = field.dropFirst()
            guard text.contains(UInt8(ascii: "\\")) else { return text.elementsEqual(value.utf8) }
            return StoppedTaskArchive.unescape(field) == value
        }
    }

    /// A parsed row and the digest of its ARN (the index's key).
    public struct Entry: Sendable {
        var summary: Summary
        var digest: UInt64
    }

    /// Every archived task, densely (a removal moves the last one into the hole).
    private var slots: [Summary] = []
    /// Where each task is in `slots`, by the digest of its ARN: hashing a number is cheaper than
    /// hashing and comparing long ARN strings, and building this is most of a start's work.
    private var positions: [UInt64: Int32] = [:]
    /// The few ARNs whose digest another ARN already holds.
    private var collided: [String: Int32] = [:]
    /// Bits of a digest the index keys on: all of them, except in tests that make ARNs collide.
    private let digestMask: UInt64

    public init() { digestMask = ~0 }

    init(digestMask: UInt64) { self.digestMask = digestMask }

    public var count: Int { slots.count }

    public func contains(_ arn: String) -> Bool { position(of: arn) != nil }

    public func summary(_ arn: String) -> Summary? { position(of: arn).map { slots[$0] } }

    /// The archived task, decoded (nil if it is not archived or its row is damaged).
    public func record(_ arn: String) -> TaskRecord? {
        guard let summary = summary(arn) else { return nil }
        guard summary.compressed else { return try? RecordCoding.decode(TaskRecord.self, from: Array(summary.body)) }
        guard let json = Deflate.inflate(summary.body, limit: Self.largestRecord) else { return nil }
        return try? RecordCoding.decode(TaskRecord.self, from: json)
    }

    /// Every summary, for filtering.
    public var summaries: [Summary] { slots }

    @discardableResult
    public mutating func remove(_ arn: String) -> Summary? {
        guard let position = position(of: arn) else { return nil }
        let removed = slots[position]
        if collided.removeValue(forKey: arn) == nil {
            // The index's own entry goes; an ARN that collided with it takes its place.
            let digest = FNV1a.hash(arn.utf8) & digestMask
            let mask = digestMask
            let heir = collided.first { Self.digest(of: slots[Int($0.value)]) & mask == digest }
            if let heir { collided[heir.key] = nil }
            positions[digest] = heir?.value
        }
        let last = slots.removeLast()
        if position < slots.count {
            slots[position] = last
            reindex(last, from: slots.count, to: position)
        }
        return removed
    }

    /// Adds a stored row; false if it is not a row this archive wrote.
    @discardableResult
    public mutating func load(row: [UInt8]) -> Bool {
        guard let entry = Self.entry(row: row) else { return false }
        load([entry])
        return true
    }

    /// Adds parsed rows (``entry(row:)`` is pure, so start-up parses rows on every core).
    public mutating func load(_ parsed: [Entry]) {
        slots.reserveCapacity(slots.count + parsed.count)
        positions.reserveCapacity(positions.count + parsed.count)
        for entry in parsed {
            let next = Int32(slots.count)
            let digest = entry.digest & digestMask
            guard let held = positions[digest] else {
                positions[digest] = next
                slots.append(entry.summary)
                continue
            }
            if entry.summary.field(1).elementsEqual(slots[Int(held)].field(1)) {
                slots[Int(held)] = entry.summary  // the same task again: the newer row wins
            } else if let other = collided[entry.summary.arn] {
                slots[Int(other)] = entry.summary
            } else {
                collided[entry.summary.arn] = next
                slots.append(entry.summary)
            }
        }
    }

    private func position(of arn: String) -> Int? {
        guard let held = positions[FNV1a.hash(arn.utf8) & digestMask] else { return nil }
        if Summary.holds(slots[Int(held)].field(1), arn) { return Int(held) }
        return collided[arn].map(Int.init)
    }

    /// Points the index at a summary's new place.
    private mutating func reindex(_ summary: Summary, from old: Int, to new: Int) {
        let digest = Self.digest(of: summary) & digestMask
        if positions[digest] == Int32(old) { positions[digest] = Int32(new) } else { collided[summary.arn] = Int32(new) }
    }

    /// A stored task's digest (FNV-1a of its ARN), the index's key, always taken the same way (over
    /// its ARN's stored bytes unless they hold an escape), so that the index finds what it put there
    /// even in a damaged row. ARNs here are the control plane's own (a client cannot choose one to
    /// collide with another), and a collision only costs a lookup by name.
    static func digest(of summary: Summary) -> UInt64 {
        let arn = summary.field(1).dropFirst()
        return arn.contains(UInt8(ascii: "\\")) ? FNV1a.hash(summary.arn.utf8) : FNV1a.hash(arn)
    }

    /// A stored row parsed; nil if it is not a row this archive wrote.
    public static func entry(row: [UInt8]) -> Entry? {
        guard let summary = parse(row) else { return nil }
        return Entry(summary: summary, digest: digest(of: summary))
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

    /// A row's summary line, found in one pass over its bytes: where its fields end, and the two
    /// numbers every start needs (retention's stop time, the assignment sequence).
    static func parse(_ row: [UInt8]) -> Summary? {
        var ends = InlineArray<11, Int32>(repeating: 0)
        var count = 0
        var index = row.startIndex
        while index < row.endIndex {
            let byte = row[index]
            if byte == 0x09 || byte == 0x0A {
                guard count < 11 else { return nil }
                ends[count] = Int32(index)
                count += 1
                if byte == 0x0A { break }
            }
            index += 1
        }
        guard count == 11, index < row.endIndex, row[index] == 0x0A else { return nil }
        var summary = Summary(row: row, ends: ends, compressed: false, stoppedAt: nil, assignmentSequence: 0)
        let version = summary.field(0)
        let compressed = version.elementsEqual("=v2".utf8)
        guard compressed || version.elementsEqual("=v1".utf8), summary.field(1).first == UInt8(ascii: "="),
            summary.field(2).first == UInt8(ascii: "="), summary.field(8).first == UInt8(ascii: "="),
            let sequence = unescape(summary.field(10)).flatMap({ Int($0) })
        else { return nil }
        summary = Summary(
            row: row, ends: ends, compressed: compressed,
            stoppedAt: unescape(summary.field(9)).flatMap({ Double($0) }).map { Date(timeIntervalSince1970: $0) },
            assignmentSequence: sequence)
        return summary
    }
}

extension RecordKind {
    /// Tasks that have stopped, stored with a summary line (see ``StoppedTaskArchive``).
    public static let stoppedTasks = RecordKind("stopped_tasks")
}
