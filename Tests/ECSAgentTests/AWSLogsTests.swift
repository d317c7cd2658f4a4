import AgentProtocol
import DockerClient
@testable import ECSAgent
import Foundation
import StevedoreTestSupport
import Testing

/// The `awslogs` driver as the agent carries it out: its options, stream names, multi-line events,
/// Docker's timestamps, and batches of PutLogEvents' size.
struct AWSLogsTests {
    let taskId = "0123456789abcdef0123456789abcdef"

    @Test func optionsAreReadAsTheDockerDriverReadsThem() throws {
        let named = try AWSLogsOptions.parse(
            ["awslogs-group": "/ecs/web", "awslogs-stream-prefix": "web", "awslogs-region": "us-east-1"], container: "app", taskId: taskId, dockerId: "d0")
        #expect(named == AWSLogsOptions(
            group: "/ecs/web", stream: "web/app/\(taskId)", createGroup: false, eventStart: nil, nonBlocking: false, maxBufferBytes: 1 << 20))
        // Without a prefix, the stream is the container's Docker id.
        let bare = try AWSLogsOptions.parse(
            ["awslogs-group": "g", "awslogs-create-group": "true", "mode": "non-blocking", "max-buffer-size": "4m"], container: "app", taskId: taskId,
            dockerId: "d0")
        #expect(bare.stream == "d0" && bare.createGroup && bare.nonBlocking && bare.maxBufferBytes == 4 << 20)
        #expect(throws: AWSLogsOptions.Refusal.self) { try AWSLogsOptions.parse([:], container: "a", taskId: taskId, dockerId: "d") }
        #expect(throws: AWSLogsOptions.Refusal.self) {
            try AWSLogsOptions.parse(
                ["awslogs-group": "g", "awslogs-datetime-format": "%Y", "awslogs-multiline-pattern": "^x"], container: "a", taskId: taskId, dockerId: "d")
        }
        #expect(throws: AWSLogsOptions.Refusal.self) { try AWSLogsOptions.parse(["awslogs-group": "g", "mode": "fast"], container: "a", taskId: taskId, dockerId: "d") }
        #expect(throws: AWSLogsOptions.Refusal.self) {
            try AWSLogsOptions.parse(["awslogs-group": "g", "awslogs-multiline-pattern": "(["], container: "a", taskId: taskId, dockerId: "d")
        }
    }

    @Test func datetimeFormatsBecomePatternsThatStartEvents() throws {
        let options = try AWSLogsOptions.parse(
            ["awslogs-group": "g", "awslogs-datetime-format": "[%b %d, %Y %H:%M:%S]"], container: "a", taskId: taskId, dockerId: "d")
        let start = EventStart(options.eventStart)
        var assembler = LogLineAssembler(multiline: true)
        func add(_ line: String, _ time: Int) -> [LogEventsBatch.Event] { assembler.add(line, timestamp: time, startsEvent: start.matches(line)) }
        #expect(add("[May 01, 2017 19:00:01] A message was logged", 1).isEmpty)
        #expect(add("  with a second line", 2).isEmpty)
        let first = add("[May 01, 2017 19:00:04] Another message", 3)
        #expect(first == [LogEventsBatch.Event(timestamp: 1, message: "[May 01, 2017 19:00:01] A message was logged\n  with a second line")])
        #expect(assembler.isHolding && assembler.flush() == [LogEventsBatch.Event(timestamp: 3, message: "[May 01, 2017 19:00:04] Another message")])
        // Without a pattern, every line is its own event at once.
        var plain = LogLineAssembler(multiline: false)
        #expect(plain.add("one", timestamp: 5, startsEvent: true) == [LogEventsBatch.Event(timestamp: 5, message: "one")] && !plain.isHolding)
        #expect(!EventStart("^[A-Z]+ ").matches("  at a") && EventStart("^[A-Z]+ ").matches("ERROR x") && EventStart(nil).matches("x"))
    }

    @Test func dockerTimestampsAreReadToTheMillisecond() throws {
        let (time, message) = try #require(DockerLogLine.split("2026-12-01T04:33:48.123456789Z hello world"))
        #expect(time == 1_796_099_628_123 && message == "hello world")
        #expect(DockerLogLine.split("2026-12-01T04:33:48.5Z x")?.timestamp == 1_796_099_628_500)
        #expect(DockerLogLine.split("2026-12-01T04:33:48Z x")?.timestamp == 1_796_099_628_000)
        #expect(DockerLogLine.split("no timestamp here") == nil)
    }

    @Test func batchesKeepToTheChannelsLimits() {
        var outbox = AWSLogsShipper.Outbox(assembler: LogLineAssembler(multiline: false))
        for index in 0..<10_005 { outbox.append(LogEventsBatch.Event(timestamp: index, message: "m")) }
        for index in 10_005..<50_005 { outbox.append(LogEventsBatch.Event(timestamp: index, message: "m")) }
        #expect(outbox.takeBatch().count == 50_000 && outbox.takeBatch().count == 5 && outbox.events.isEmpty && outbox.bytes == 0)
        #expect(outbox.waitingSince == nil)
        let big = String(repeating: "x", count: 600_000)
        for index in 0..<3 { outbox.append(LogEventsBatch.Event(timestamp: index, message: big)) }
        #expect(outbox.takeBatch().count == 1 && outbox.events.count == 2)
    }

    @Test func aBatchGoesInTimeOrderWhenStdoutAndStderrCross() {
        var outbox = AWSLogsShipper.Outbox(assembler: LogLineAssembler(multiline: false))
        for (time, message) in [(10, "out a"), (12, "out b"), (11, "err a"), (12, "err b")] { outbox.append(LogEventsBatch.Event(timestamp: time, message: message)) }
        #expect(outbox.takeBatch().map(\.message) == ["out a", "err a", "out b", "err b"])
    }

    /// A container's output, read from the engine as frames and shipped whole: lines cut across
    /// frames joined (the second piece's own time dropped), `\r\n` ends, a last line with no
    /// newline, stderr among stdout, and nothing sent twice.
    @Test func outputIsShippedAsEventsInOrder() async throws {
        let engine = FakeDockerEngine()
        func frame(_ stream: LogFrame.Stream, _ text: String) -> LogFrame { LogFrame(stream: stream, bytes: Array(text.utf8)) }
        engine.setOutput(
            "c1",
            [
                frame(.stdout, "2026-12-01T04:33:48.001Z one\n2026-12-01T04:33:48.002Z two\r\n2026-12-01T04:33:48.003Z a long li"),
                frame(.stdout, "2026-12-01T04:33:48.009Z ne, cut\n"),
                frame(.stderr, "2026-12-01T04:33:48.004Z oops\n"),
                frame(.stdout, "2026-12-01T04:33:48.005Z last, no newline"),
            ])
        let reporter = RecordingTaskReporter()
        let options = AWSLogsOptions(group: "g", stream: "s", createGroup: true, eventStart: nil, nonBlocking: false, maxBufferBytes: 1 << 20)
        let shipper = AWSLogsShipper(docker: engine, reporter: reporter, options: options, dockerId: "c1", instanceArn: "i", taskArn: "t")
        await shipper.run(since: nil)
        let events = reporter.logEvents.flatMap(\.events)
        #expect(events.map(\.message) == ["one", "two", "a long line, cut", "oops", "last, no newline"])
        #expect(events.map(\.timestamp) == [1_796_099_628_001, 1_796_099_628_002, 1_796_099_628_003, 1_796_099_628_004, 1_796_099_628_005])
        #expect(reporter.logEvents.allSatisfy { $0.group == "g" && $0.stream == "s" && $0.createGroup && $0.taskArn == "t" })
    }
}
