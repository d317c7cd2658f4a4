import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// AWS schedule expressions (Application Auto Scaling, EventBridge, Scheduler): `at(yyyy-mm-ddThh:mm:ss)`, `rate(value unit)`
/// and six-field `cron(minutes hours day-of-month month day-of-week year)`, in a time zone.
public enum ScheduleExpression: Sendable, Equatable {
    case at(DateComponents)
    case rate(TimeInterval)
    case cron(CronExpression)

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    public static func parse(_ text: String) throws(ParseError) -> ScheduleExpression {
        func inner(_ prefix: String) -> String? {
            guard text.hasPrefix(prefix + "("), text.hasSuffix(")") else { return nil }
            return String(String(text.dropFirst(prefix.count + 1).dropLast().drop(while: { $0 == " " }).reversed()).drop(while: { $0 == " " }).reversed())
        }
        if let body = inner("at") {
            let parts = body.split(whereSeparator: { "-T:".contains($0) }).compactMap { Int($0) }
            guard parts.count == 6, (1...12).contains(parts[1]), (1...31).contains(parts[2]), (0...23).contains(parts[3]),
                (0...59).contains(parts[4]), (0...59).contains(parts[5])
            else { throw ParseError(description: "at(...) takes yyyy-mm-ddThh:mm:ss, e.g. at(2026-12-31T23:00:00); got '\(body)'") }
            return .at(DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: parts[3], minute: parts[4], second: parts[5]))
        }
        if let body = inner("rate") {
            let parts = body.split(separator: " ")
            guard parts.count == 2, let value = Int(parts[0]), value > 0 else {
                throw ParseError(description: "rate(...) takes a positive number and a unit, e.g. rate(5 minutes); got '\(body)'")
            }
            let unit: TimeInterval
            switch parts[1] {
            case "minute" where value == 1, "minutes" where value > 1: unit = 60
            case "hour" where value == 1, "hours" where value > 1: unit = 3600
            case "day" where value == 1, "days" where value > 1: unit = 86400
            default:
                throw ParseError(description: "rate(...) units are minute(s), hour(s) or day(s), singular only for 1; got '\(parts[1])'")
            }
            return .rate(Double(value) * unit)
        }
        if let body = inner("cron") {
            return .cron(try CronExpression(body))
        }
        throw ParseError(description: "Schedule must be at(...), rate(...) or cron(...); got '\(text)'")
    }

    /// The first time strictly after `after` this schedule fires (`start` anchors rates).
    public func next(after: Date, start: Date, timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        switch self {
        case .at(let components):
            guard let date = calendar.date(from: components) else { return nil }
            return date > after ? date : nil
        case .rate(let period):
            if after < start { return start }
            let elapsed = after.timeIntervalSince(start)
            return start.addingTimeInterval((floor(elapsed / period) + 1) * period)
        case .cron(let expression):
            return expression.next(after: after, calendar: calendar)
        }
    }
}

/// A six-field AWS cron expression; `L`, `W` and `#` are refused with a clear message.
public struct CronExpression: Sendable, Equatable {
    var minutes: Set<Int>
    var hours: Set<Int>
    var daysOfMonth: Set<Int>?
    var months: Set<Int>
    /// 1 = Sunday … 7 = Saturday.
    var daysOfWeek: Set<Int>?
    var years: Set<Int>?

    static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    static let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    public init(_ text: String) throws(ScheduleExpression.ParseError) {
        let fields = text.split(separator: " ").map(String.init)
        guard fields.count == 6 else {
            throw .init(description: "cron(...) takes six fields (minutes hours day-of-month month day-of-week year); got \(fields.count)")
        }
        // L, W and # (last, weekday, nth): refused, but names such as WED and JUL are fine.
        for field in [fields[2], fields[4]] {
            var rest = field.uppercased()
            for name in Self.monthNames + Self.dayNames { rest = rest.replacing(name, with: "") }
            if rest.contains(where: { "LW#".contains($0) }) {
                throw .init(description: "cron field '\(field)': L, W and # are not supported by Stevedore")
            }
        }
        minutes = try Self.values(fields[0], 0...59, names: [], name: "minutes")!
        hours = try Self.values(fields[1], 0...23, names: [], name: "hours")!
        daysOfMonth = try Self.values(fields[2], 1...31, names: [], name: "day-of-month")
        months = try Self.values(fields[3], 1...12, names: Self.monthNames, name: "month")!
        daysOfWeek = try Self.values(fields[4], 1...7, names: Self.dayNames, name: "day-of-week")
        years = fields[5] == "*" ? nil : try Self.values(fields[5], 1970...2199, names: [], name: "year")
        guard (fields[2] == "?") != (fields[4] == "?") else {
            throw .init(description: "cron(...): exactly one of day-of-month and day-of-week must be '?'")
        }
    }

    /// The values a field allows; nil for `?` (and for `*`, meaning any, where that matters).
    static func values(_ field: String, _ range: ClosedRange<Int>, names: [String], name: String) throws(ScheduleExpression.ParseError) -> Set<Int>? {
        if field == "?" { return nil }
        var result: Set<Int> = []
        func number(_ text: String) throws(ScheduleExpression.ParseError) -> Int {
            if let value = Int(text), range.contains(value) { return value }
            if let index = names.firstIndex(of: text.uppercased()) { return range.lowerBound + index }
            throw .init(description: "cron \(name) field: '\(text)' is not in \(range.lowerBound)-\(range.upperBound)")
        }
        for part in field.split(separator: ",").map(String.init) {
            let pieces = part.split(separator: "/", maxSplits: 1).map(String.init)
            var step = 1
            if pieces.count == 2 {
                guard let value = Int(pieces[1]), value > 0 else { throw .init(description: "cron \(name) field: bad step in '\(part)'") }
                step = value
            }
            var low = range.lowerBound
            var high = range.upperBound
            if pieces[0] != "*" {
                let bounds = pieces[0].split(separator: "-", maxSplits: 1).map(String.init)
                low = try number(bounds[0])
                high = bounds.count == 2 ? try number(bounds[1]) : (pieces.count == 2 ? range.upperBound : low)
                guard low <= high else { throw .init(description: "cron \(name) field: '\(part)' runs backwards") }
            }
            for value in stride(from: low, through: high, by: step) { result.insert(value) }
        }
        return result
    }

    public func next(after: Date, calendar: Calendar) -> Date? {
        var day = calendar.startOfDay(for: after)
        let sortedHours = hours.sorted()
        let sortedMinutes = minutes.sorted()
        for _ in 0..<(366 * 5) {
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            let matches =
                (years?.contains(parts.year!) ?? true) && months.contains(parts.month!)
                && (daysOfMonth?.contains(parts.day!) ?? true) && (daysOfWeek?.contains(parts.weekday!) ?? true)
            if matches {
                for hour in sortedHours {
                    for minute in sortedMinutes {
                        guard let candidate = calendar.date(bySettingHour: hour, minute: minute, second: 0, of: day) else { continue }
                        if candidate > after { return candidate }
                    }
                }
            }
            guard let following = calendar.date(byAdding: .day, value: 1, to: day) else { return nil }
            day = following
        }
        return nil
    }
}
