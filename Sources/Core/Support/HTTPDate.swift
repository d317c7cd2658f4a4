#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The `Date` header's value (RFC 7231's IMF-fixdate) for now; formatted once a second and shared,
/// as servers answering many requests a second need it.
public enum HTTPDate {
    private static let cached = Mutex<(second: Int, text: String)>((-1, ""))

    public static func now() -> String {
        var now = time(nil)
        if let text = cached.withLock({ $0.second == now ? $0.text : nil }) { return text }
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [Int8](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        let text = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        cached.withLock { $0 = (now, text) }
        return text
    }

    /// `seconds` since 1970 as an IMF-fixdate (`Last-Modified`).
    public static func format(secondsSince1970 seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var buffer = [Int8](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Seconds since 1970 of an HTTP date (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`, and the
    /// obsolete RFC 850 form `Sunday, 06-Nov-94 08:49:37 GMT`); nil for anything else.
    public static func parse(_ text: String) -> Int64? {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let parts = text.split(separator: " ")
        let day: Int, month: Int, year: Int, time: Substring
        if parts.count == 6, parts[5] == "GMT", let d = Int(parts[1]), let m = months.firstIndex(of: String(parts[2])), let y = Int(parts[3]) {
            (day, month, year, time) = (d, m + 1, y, parts[4])
        } else if parts.count == 4, parts[3] == "GMT" {
            let date = parts[1].split(separator: "-")
            guard date.count == 3, let d = Int(date[0]), let m = months.firstIndex(of: String(date[1])), let y = Int(date[2]) else { return nil }
            (day, month, year, time) = (d, m + 1, y < 70 ? 2000 + y : y < 100 ? 1900 + y : y, parts[2])
        } else {
            return nil
        }
        let clock = time.split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3, (1...9999).contains(year), (1...31).contains(day), (0..<24).contains(clock[0]), (0..<60).contains(clock[1]),
            (0..<61).contains(clock[2])
        else { return nil }
        return Int64(CivilCalendar.days(year: year, month: month, day: day)) * 86_400 + Int64(clock[0] * 3600 + clock[1] * 60 + clock[2])
    }
}
