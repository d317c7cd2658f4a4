import ArgumentParser
import AWSProtocols
import CurlHTTP
import Foundation
import LogsShapes
import StevedoreClient
import StevedoreCore

/// Events and logs: CloudWatch Logs' ingestion and FilterLogEvents over a million events, against
/// grep over the same lines in a file, measured in the same run.
struct EventsBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "CloudWatch Logs: PutLogEvents ingestion, and FilterLogEvents over 1 million events against grep over the same lines."
    )

    @Option(help: "Path to ecsd.") var ecsd = ".build/release/ecsd"
    @Option(help: "Events stored before filtering.") var events = 1_000_000
    @Option(help: "Streams the events are spread over.") var streams = 10
    @Option(help: "Filter runs per pattern (the median is reported).") var runs = 3

    func run() async throws {
        guard FileManager.default.isExecutableFile(atPath: ecsd) else { throw BenchError("\(ecsd) not found: swift build -c release") }
        let work = NSTemporaryDirectory() + "stevedore-events-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { if ProcessInfo.processInfo.environment["STEVEDORE_BENCH_KEEP"] == nil { try? FileManager.default.removeItem(atPath: work) } }
        let port = freePort()
        let endpoint = "http://127.0.0.1:\(port)"
        let server = try ChildProcess(
            name: "ecsd", executable: ecsd,
            arguments: ["--listen", "127.0.0.1:\(port)", "--gateway-listen", "127.0.0.1:\(freePort())", "--data-dir", work + "/ecsd", "--log-level", "warning", "--auth", "off"],
            logPath: work + "/ecsd.log")
        defer { server.stop() }
        try await server.waitUntilReady(HTTPClient(baseURL: endpoint), path: "/healthz")
        let client = APIClient(endpoint: endpoint)
        func logs<Input: Encodable, Output: Decodable>(_ operation: String, _ input: Input, as: Output.Type = Output.self) async throws -> Output {
            try await client.json(target: "Logs_20140328.\(operation)", input, as: Output.self)
        }

        // One event in a thousand is an ERROR; the others are access lines of the same shape.
        let group = "/bench/app"
        let _: EmptyOutput = try await logs("CreateLogGroup", CWLCreateLogGroupRequest(logGroupName: group))
        let start = Int(Date().timeIntervalSince1970 * 1000) - 3_600_000
        func message(_ index: Int) -> String {
            index % 1000 == 999
                ? "2026-12-01T10:00:00Z ERROR request \(index) failed: upstream timed out after 30000 ms user=u\(index % 97)"
                : "2026-12-01T10:00:00Z INFO request \(index) GET /items/\(index % 5000) 200 \(index % 9000) ms user=u\(index % 97)"
        }
        note("storing \(events) events in \(streams) streams (batches of 10,000)")
        var lines = ""
        lines.reserveCapacity(events * 90)
        let perStream = events / streams
        var ingest = Duration.zero
        for stream in 0..<streams {
            let name = "stream-\(stream)"
            let _: EmptyOutput = try await logs("CreateLogStream", CWLCreateLogStreamRequest(logGroupName: group, logStreamName: name))
            var sent = 0
            while sent < perStream {
                let count = min(10_000, perStream - sent)
                let batch = (0..<count).map { offset -> CWLInputLogEvent in
                    let index = stream * perStream + sent + offset
                    // Timestamps across one hour, each stream's in order.
                    return CWLInputLogEvent(timestamp: start + (sent + offset) * 3_600_000 / perStream, message: message(index))
                }
                for event in batch { lines += event.message + "\n" }
                let began = ContinuousClock.now
                let _: CWLPutLogEventsResponse = try await logs("PutLogEvents", CWLPutLogEventsRequest(logGroupName: group, logStreamName: name, logEvents: batch))
                ingest += ContinuousClock.now - began
                sent += count
            }
        }
        let file = work + "/lines.log"
        try lines.write(toFile: file, atomically: true, encoding: .utf8)

        func filter(_ pattern: String) async throws -> (seconds: Double, matched: Int) {
            var timings: [Double] = []
            var matched = 0
            for _ in 0..<runs {
                let began = ContinuousClock.now
                var token: String?
                matched = 0
                repeat {
                    let page: CWLFilterLogEventsResponse = try await logs(
                        "FilterLogEvents", CWLFilterLogEventsRequest(logGroupName: group, filterPattern: pattern, nextToken: token, limit: 10_000))
                    matched += page.events?.count ?? 0
                    token = page.nextToken
                } while token != nil
                timings.append(durationSeconds(ContinuousClock.now - began))
            }
            return (timings.sorted()[timings.count / 2], matched)
        }
        func grep(_ arguments: [String]) throws -> Double {
            var timings: [Double] = []
            for _ in 0..<runs {
                let began = ContinuousClock.now
                _ = try runProgram("/bin/grep", arguments + [file])
                timings.append(durationSeconds(ContinuousClock.now - began))
            }
            return timings.sorted()[timings.count / 2]
        }
        note("filtering (\(runs) runs each, median)")
        let term = try await filter("ERROR")
        let delimited = try await filter("[time, level = ERROR, ...]")
        let json = try await filter("?timed ?refused")
        let grepTerm = try grep(["-c", "ERROR"])
        let grepWords = try grep(["-c", "-E", "timed|refused"])

        print("CloudWatch Logs benchmark: release ecsd on 127.0.0.1; \(events) events (~\(lines.utf8.count / 1_000_000) MB) in \(streams) streams\n")
        print(String(format: "PutLogEvents: %.0f events/s (batches of 10,000, each synced before it is answered)\n", Double(events) / durationSeconds(ingest)))
        print(
            table(
                ["FILTER", "MATCHED", "FILTERLOGEVENTS (ALL PAGES)", "GREP -c (SAME LINES, ONE FILE)", "RATIO"],
                [
                    ["ERROR (a term, 0.1%)", "\(term.matched)", String(format: "%.3f s", term.seconds), String(format: "%.3f s", grepTerm),
                     String(format: "%.1fx", term.seconds / max(grepTerm, 0.000_001))],
                    ["[time, level = ERROR, ...] (space-delimited)", "\(delimited.matched)", String(format: "%.3f s", delimited.seconds), "-", "-"],
                    ["?timed ?refused (alternatives)", "\(json.matched)", String(format: "%.3f s", json.seconds), String(format: "%.3f s", grepWords),
                     String(format: "%.1fx", json.seconds / max(grepWords, 0.000_001))],
                ]))
        print("target: FilterLogEvents over 1 million events under 1 s for a pattern matching 0.1%")
    }
}
