import StevedoreCore

import Foundation
/// A timestamp as the engine holds it: UTC milliseconds since 1970, read from and written as
/// Athena's text (`2024-05-01 12:30:00.000`; a date `2024-05-01`). Calendar arithmetic on the
/// proleptic Gregorian calendar, without Foundation's calendars (per row, they cost too much).
public struct Timestamp: Equatable, Sendable {
    public var milliseconds: Int64
    /// Read from a date without a time.
    public var isDate = false

    public struct Fields: Sendable {
        public var year, month, day, hour, minute, second, millisecond: Int
    }

    public init(milliseconds: Int64, isDate: Bool = false) {
        self.milliseconds = milliseconds
        self.isDate = isDate
    }

    /// Years 1 to 9999, as Athena's timestamps go.
    public static let range: ClosedRange<Int64> = -62_135_596_800_000...253_402_300_799_999

    /// Nil past the years Athena's timestamps hold.
    public init?(seconds: Double) {
        let value = (seconds * 1000).rounded(.down)
        guard value.isFinite, Double(Self.range.lowerBound) <= value, value <= Double(Self.range.upperBound) else { return nil }
        milliseconds = Int64(value)
    }

    public init(_ fields: Fields, isDate: Bool = false) {
        let days = Int64(CivilCalendar.days(year: fields.year, month: fields.month, day: fields.day))
        milliseconds = ((days * 24 + Int64(fields.hour)) * 60 + Int64(fields.minute)) * 60_000 + Int64(fields.second) * 1000 + Int64(fields.millisecond)
        self.isDate = isDate
    }

    /// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.fff]]` (or with `T`), an optional `Z` or ` UTC`.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count, !range.isEmpty else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard bytes.count >= 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var fields = Fields(year: year, month: month, day: day, hour: 0, minute: 0, second: 0, millisecond: 0)
        if bytes.count == 10 {
            self.init(fields, isDate: true)
            return
        }
        guard bytes[10] == UInt8(ascii: " ") || bytes[10] == UInt8(ascii: "T"), let hour = number(11..<13), bytes.count >= 16, bytes[13] == UInt8(ascii: ":"),
            let minute = number(14..<16), hour < 24, minute < 60
        else { return nil }
        fields.hour = hour
        fields.minute = minute
        var index = 16
        if index < bytes.count, bytes[index] == UInt8(ascii: ":") {
            guard let second = number(17..<19), second < 61 else { return nil }
            fields.second = second
            index = 19
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                var digits = 0
                var fraction = 0
                index += 1
                while index < bytes.count, (48...57).contains(bytes[index]) {
                    if digits < 3 {
                        fraction = fraction * 10 + Int(bytes[index] - 48)
                        digits += 1
                    }
                    index += 1
                }
                while digits < 3 {
                    fraction *= 10
                    digits += 1
                }
                fields.millisecond = fraction
            }
        }
        let rest = String(decoding: bytes[index...], as: UTF8.self)
        guard rest.isEmpty || rest == "Z" || rest == " UTC" else { return nil }
        self.init(fields)
    }

    /// ISO 8601 with a zone (`2024-05-01T12:30:00Z`, `…+02:00`), as from_iso8601_timestamp reads it; UTC out.
    public init?(iso8601 text: String) {
        var body = text
        var offsetMinutes = 0
        if body.hasSuffix("Z") {
            body.removeLast()
        } else if body.count > 16, let sign = body.dropFirst(16).lastIndex(where: { $0 == "+" || $0 == "-" }) {
            let zone = body[body.index(after: sign)...].replacingOccurrences(of: ":", with: "")
            guard zone.count == 4, let hours = Int(zone.prefix(2)), let minutes = Int(zone.suffix(2)) else { return nil }
            offsetMinutes = (hours * 60 + minutes) * (body[sign] == "+" ? 1 : -1)
            body = String(body[..<sign])
        }
        guard var time = Timestamp(body) else { return nil }
        time.milliseconds -= Int64(offsetMinutes) * 60_000
        time.isDate = false
        self = time
    }

    public var seconds: Double { Double(milliseconds) / 1000 }

    public var fields: Fields {
        let days = Int64((Double(milliseconds) / 86_400_000).rounded(.down))
        let within = Int(milliseconds - days * 86_400_000)
        let (year, month, day) = CivilCalendar.date(days: Int(days))
        return Fields(
            year: year, month: month, day: day, hour: within / 3_600_000, minute: within / 60_000 % 60, second: within / 1000 % 60, millisecond: within % 1000)
    }

    public var text: String {
        let f = fields
        return dateText + " " + Self.pad(f.hour, 2) + ":" + Self.pad(f.minute, 2) + ":" + Self.pad(f.second, 2) + "." + Self.pad(f.millisecond, 3)
    }

    public var dateText: String {
        let f = fields
        return Self.pad(f.year, 4) + "-" + Self.pad(f.month, 2) + "-" + Self.pad(f.day, 2)
    }

    public func truncated(to unit: String) -> Timestamp? {
        var f = fields
        switch unit {
        case "millisecond": return self
        case "second": f.millisecond = 0
        case "minute": (f.second, f.millisecond) = (0, 0)
        case "hour": (f.minute, f.second, f.millisecond) = (0, 0, 0)
        case "day": (f.hour, f.minute, f.second, f.millisecond) = (0, 0, 0, 0)
        case "week":
            // Weeks start on Monday; 1970-01-01 was a Thursday.
            let days = Int64((Double(milliseconds) / 86_400_000).rounded(.down))
            let weekday = Int(((days + 3) % 7 + 7) % 7)
            return Timestamp(milliseconds: (days - Int64(weekday)) * 86_400_000, isDate: isDate)
        case "month": (f.day, f.hour, f.minute, f.second, f.millisecond) = (1, 0, 0, 0, 0)
        case "quarter": (f.month, f.day, f.hour, f.minute, f.second, f.millisecond) = ((f.month - 1) / 3 * 3 + 1, 1, 0, 0, 0, 0)
        case "year": (f.month, f.day, f.hour, f.minute, f.second, f.millisecond) = (1, 1, 0, 0, 0, 0)
        default: return nil
        }
        return Timestamp(f, isDate: isDate)
    }

    public func adding(_ amount: Int, _ unit: String) -> Timestamp? {
        let fixed: Int64? =
            switch unit {
            case "millisecond": 1
            case "second": 1000
            case "minute": 60_000
            case "hour": 3_600_000
            case "day": 86_400_000
            case "week": 7 * 86_400_000
            default: nil
            }
        if let fixed {
            // Nil past the years a timestamp holds (an amount of billions of years included).
            let (delta, overflow) = Int64(amount).multipliedReportingOverflow(by: fixed)
            let (moved, overflow2) = milliseconds.addingReportingOverflow(delta)
            guard !overflow, !overflow2, Self.range.contains(moved) else { return nil }
            return Timestamp(milliseconds: moved, isDate: isDate)
        }
        let factor: Int
        switch unit {
        case "month": factor = 1
        case "quarter": factor = 3
        case "year": factor = 12
        default: return nil
        }
        guard abs(amount) < 120_000 else { return nil }
        let months = amount * factor
        var f = fields
        let total = f.year * 12 + (f.month - 1) + months
        guard (12...(9999 * 12 + 11)).contains(total) else { return nil }
        f.year = Int((Double(total) / 12).rounded(.down))
        f.month = total - f.year * 12 + 1
        // The day is kept within the new month (Jan 31 + 1 month = Feb 28/29).
        f.day = min(f.day, Self.daysIn(year: f.year, month: f.month))
        return Timestamp(f, isDate: isDate)
    }

    /// `date_diff(unit, self, other)`: whole units from self to other.
    public func difference(_ other: Timestamp, _ unit: String) -> Int? {
        let delta = other.milliseconds - milliseconds
        let fixed: Int64? =
            switch unit {
            case "millisecond": 1
            case "second": 1000
            case "minute": 60_000
            case "hour": 3_600_000
            case "day": 86_400_000
            case "week": 7 * 86_400_000
            default: nil
            }
        if let fixed { return Int(delta / fixed) }
        let (a, b) = (fields, other.fields)
        var months = (b.year - a.year) * 12 + (b.month - a.month)
        // A month not yet complete does not count.
        let aRest = ((a.day * 24 + a.hour) * 60 + a.minute) * 60_000 + a.second * 1000 + a.millisecond
        let bRest = ((b.day * 24 + b.hour) * 60 + b.minute) * 60_000 + b.second * 1000 + b.millisecond
        if months > 0, bRest < aRest { months -= 1 }
        if months < 0, bRest > aRest { months += 1 }
        switch unit {
        case "month": return months
        case "quarter": return months / 3
        case "year": return months / 12
        default: return nil
        }
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    static func isLeap(_ year: Int) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }

    static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
