import AWSProtocols
import Foundation
import LogsShapes
import StevedoreClient
import StevedoreCore

/// Reading a log group as `aws logs tail` does: FilterLogEvents from a start time, every page; with
/// follow, again every second from the newest event seen, printing only events not shown yet.
enum LogWindow {
    /// `30s`, `10m`, `2h`, `1d` in milliseconds.
    static func milliseconds(_ text: String) -> Int? {
        guard let unit = text.last, let count = Int(text.dropLast()), count >= 0 else { return nil }
        switch unit {
        case "s": return count * 1000
        case "m": return count * 60_000
        case "h": return count * 3_600_000
        case "d": return count * 86_400_000
        default: return nil
        }
    }

    /// Prints the group's events of the window (the last `tail` of them), then, with `follow`, new
    /// ones as they come. A group that does not exist prints `missing` (and, following, waits for it).
    static func follow(
        client: APIClient, group: String, streams: [String]? = nil, since window: Int, tail: Int?, filter: String?, follow: Bool, missing: String,
        labels: [String: String] = [:]
    ) async throws {
        var start = Int(Date().timeIntervalSince1970 * 1000) - window
        var shown: [String: Int] = [:]
        var first = true
        var warned = false
        while true {
            var events: [CWLFilteredLogEvent] = []
            do {
                var token: String?
                repeat {
                    let page: CWLFilterLogEventsResponse = try await client.json(
                        target: "Logs_20140328.FilterLogEvents",
                        CWLFilterLogEventsRequest(logGroupName: group, logStreamNames: streams, startTime: start, filterPattern: filter, nextToken: token))
                    events += page.events ?? []
                    token = page.nextToken
                } while token != nil
            } catch let error as AWSError where error.type == "ResourceNotFoundException" {
                if !warned { FileHandle.standardError.write(Data((missing + "\n").utf8)) }
                warned = true
                guard follow else { return }
            }
            var fresh = events.filter { shown[$0.eventId ?? ""] == nil }
            if first, let tail { fresh = Array(fresh.suffix(tail)) }
            first = false
            if !fresh.isEmpty {
                let text = fresh.map { (labels[$0.logStreamName ?? ""] ?? "") + ($0.message ?? "") + "\n" }.joined()
                FileHandle.standardOutput.write(Data(text.utf8))
            }
            for event in events { shown[event.eventId ?? ""] = event.timestamp ?? 0 }
            guard follow else { return }
            // From the newest event on; events of that very millisecond are told apart by their ids.
            if let newest = events.compactMap(\.timestamp).max() {
                start = newest
                shown = shown.filter { $0.value >= newest }
            }
            try await Task.sleep(for: .seconds(1))
        }
    }
}
