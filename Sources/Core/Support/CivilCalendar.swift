/// Proleptic Gregorian dates as days since 1970-01-01 and back (Howard Hinnant's algorithms),
/// for the wire's date formats without Foundation's calendar.
public enum CivilCalendar {
    /// Days since 1970-01-01 of a year, month (1-12) and day.
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The year, month (1-12) and day of a count of days since 1970-01-01.
    public static func date(days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension CivilCalendar {
    /// `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds), as the XML protocols write timestamps.
    public static func iso8601(secondsSince1970 seconds: Int64) -> String {
        let (days, rest) = seconds.quotientAndRemainder(dividingBy: 86_400)
        let (dayNumber, second) = rest < 0 ? (Int(days) - 1, Int(rest) + 86_400) : (Int(days), Int(rest))
        let (year, month, day) = date(days: dayNumber)
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(second / 3600, 2)):\(pad(second / 60 % 60, 2)):\(pad(second % 60, 2))Z"
    }

    /// Milliseconds since the epoch of an RFC 3339 UTC time (`2026-12-01T04:33:48.123456789Z`,
    /// as Docker writes them; fractions cut to milliseconds); nil when it is not one.
    public static func milliseconds(rfc3339 stamp: ArraySlice<UInt8>) -> Int? {
        stamp.withUnsafeBufferPointer { milliseconds(rfc3339: $0) }
    }

    /// As ``milliseconds(rfc3339:)-(ArraySlice<UInt8>)``, in place (for every line of a log).
    public static func milliseconds(rfc3339 stamp: UnsafeBufferPointer<UInt8>) -> Int? {
        let base = stamp.startIndex
        guard stamp.count >= 20, stamp.last == UInt8(ascii: "Z") else { return nil }
        func number(_ from: Int, _ count: Int) -> Int? {
            var value = 0
            for index in base + from..<base + from + count {
                let digit = Int(stamp[index]) - 48
                guard (0...9).contains(digit) else { return nil }
                value = value * 10 + digit
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2), let minute = number(14, 2),
            let second = number(17, 2)
        else { return nil }
        var milliseconds = 0
        if stamp.count > 21, stamp[base + 19] == UInt8(ascii: ".") {
            var digits = 0
            var index = base + 20
            while digits < 3, index < stamp.endIndex - 1, (48...57).contains(stamp[index]) {
                milliseconds = milliseconds * 10 + Int(stamp[index]) - 48
                digits += 1
                index += 1
            }
            for _ in digits..<3 { milliseconds *= 10 }
        }
        return (((days(year: year, month: month, day: day) * 24 + hour) * 60 + minute) * 60 + second) * 1000 + milliseconds
    }

    /// `2026-12-01T07:00:00.123Z`: as ``iso8601(secondsSince1970:)``, with milliseconds (the times
    /// of ECS's events, SNS's messages and API Gateway's WebSocket connections).
    public static func iso8601(millisecondsSince1970 milliseconds: Int64) -> String {
        let (seconds, rest) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        let (whole, fraction) = rest < 0 ? (seconds - 1, rest + 1000) : (seconds, rest)
        let text = String(fraction)
        return String(iso8601(secondsSince1970: whole).dropLast()) + "." + String(repeating: "0", count: 3 - text.count) + text + "Z"
    }
}
