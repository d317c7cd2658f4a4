import StevedoreCore

/// `yyyyMMdd'T'HHmmss'Z'` (UTC) to and from seconds since 1970, by calendar arithmetic (no
/// formatter, no locale).
enum SigningTime {
    static func seconds(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { seconds($0) }
    }

    private static func seconds(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard bytes.count == 16 else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8), let hour = number(9..<11),
            let minute = number(11..<13), let second = number(13..<15), (1...12).contains(month), (1...31).contains(day), hour < 24,
            minute < 60, second < 61
        else { return nil }
        return Int64(CivilCalendar.days(year: Int(year), month: Int(month), day: Int(day))) * 86_400 + hour * 3_600 + minute * 60 + second
    }

    static func text(_ seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let remainder = seconds - days * 86_400
        let (year, month, day) = CivilCalendar.date(days: Int(days))
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return pad(Int64(year), 4) + pad(Int64(month), 2) + pad(Int64(day), 2) + "T" + pad(remainder / 3_600, 2) + pad(remainder % 3_600 / 60, 2)
            + pad(remainder % 60, 2) + "Z"
    }
}
