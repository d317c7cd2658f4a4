import Foundation
import StevedoreCore

/// Where a function's output goes in CloudWatch Logs, named as Lambda names it: the group
/// `/aws/lambda/<function>`, a stream per execution environment,
/// `<yyyy>/<mm>/<dd>/[<version>]<environment id>`, dated the day (UTC) the stream began.
public enum FunctionLogNames {
    public static func group(_ function: String) -> String { "/aws/lambda/" + function }

    public static func stream(version: String, environment: String, began: Date) -> String {
        let (year, month, day) = CivilCalendar.date(days: Int((began.timeIntervalSince1970 / 86_400).rounded(.down)))
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
        // The environment's task id (the last part of its ARN).
        let id = environment.split(separator: "/").last.map(String.init) ?? environment
        return "\(year)/\(two(month))/\(two(day))/[\(version)]\(id)"
    }

    /// The output's lines, each an event (CloudWatch Logs' events hold no trailing newline).
    public static func events(_ output: Data) -> [String] {
        // By bytes: "\r\n" is one Character to Swift's strings.
        output.split(separator: 0x0A).compactMap { line in
            let text = line.last == 0x0D ? line.dropLast() : line[...]
            return text.isEmpty ? nil : String(decoding: text, as: UTF8.self)
        }
    }
}
