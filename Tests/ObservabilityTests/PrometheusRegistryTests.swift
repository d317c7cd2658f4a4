import CoreMetrics
import Glibc
import Logging
@testable import Observability
import Testing

/// Prometheus' text format as the registry writes it: each kind of swift-metrics handler, labels
/// escaped, histograms cumulative, collectors' gauges.
struct PrometheusRegistryTests {
    @Test func countersGaugesAndHistogramsAreWrittenInTheTextFormat() {
        let registry = PrometheusRegistry()
        registry.describe("jobs_total", "Jobs done.\nAll of them.")
        registry.makeCounter(label: "jobs_total", dimensions: [("queue", "a\"b\\c")]).increment(by: 2)
        registry.makeCounter(label: "jobs_total", dimensions: [("queue", "a\"b\\c")]).increment(by: 3)
        registry.makeMeter(label: "depth", dimensions: []).set(7.5)
        let timer = registry.makeTimer(label: "latency_seconds", dimensions: [("op", "Run")])
        timer.recordNanoseconds(300_000)  // 0.3 ms
        timer.recordNanoseconds(2_000_000)  // 2 ms
        timer.recordNanoseconds(20_000_000_000)  // 20 s: only +Inf
        let text = registry.render()
        #expect(text.contains("# HELP jobs_total Jobs done.\\nAll of them.\n# TYPE jobs_total counter\njobs_total{queue=\"a\\\"b\\\\c\"} 5\n"))
        #expect(text.contains("# TYPE depth gauge\ndepth 7.5\n"))
        #expect(text.contains("# TYPE latency_seconds histogram\n"))
        #expect(text.contains("latency_seconds_bucket{op=\"Run\",le=\"0.0005\"} 1\n"))
        #expect(text.contains("latency_seconds_bucket{op=\"Run\",le=\"0.001\"} 1\n"))
        #expect(text.contains("latency_seconds_bucket{op=\"Run\",le=\"0.0025\"} 2\n"))
        #expect(text.contains("latency_seconds_bucket{op=\"Run\",le=\"10\"} 2\n"))
        #expect(text.contains("latency_seconds_bucket{op=\"Run\",le=\"+Inf\"} 3\n"))
        #expect(text.contains("latency_seconds_sum{op=\"Run\"} 20.0023\n"))
        #expect(text.contains("latency_seconds_count{op=\"Run\"} 3\n"))
    }

    @Test func aMetricKeepsItsFirstKindAndCollectorsAddGauges() {
        let registry = PrometheusRegistry()
        registry.makeCounter(label: "things", dimensions: []).increment(by: 1)
        // Asked again as a gauge: a handler nobody reads; the counter stays as it was.
        registry.makeMeter(label: "things", dimensions: []).set(Double(99))
        registry.addCollector { [.init(name: "kept", help: "Kept now.", labels: [("status", "RUNNING")], value: 3), .init(name: "things", help: "", value: 5)] }
        let text = registry.render()
        #expect(text.contains("# TYPE things counter\nthings 1\n") && !text.contains("things 99") && !text.contains("things 5"))
        #expect(text.contains("# HELP kept Kept now.\n# TYPE kept gauge\nkept{status=\"RUNNING\"} 3\n"))
        #expect(PrometheusRegistry.labelName("9-lives") == "_9_lives" && PrometheusRegistry.labelName("operation") == "operation")
        #expect(PrometheusRegistry.labelName("a-b") == "a_b" && PrometheusRegistry.labelName("") == "_" && PrometheusRegistry.labelName("é") == "_")
        #expect(PrometheusRegistry.number(.infinity) == "+Inf" && PrometheusRegistry.number(42) == "42" && PrometheusRegistry.number(0.25) == "0.25")
    }

    @Test func systemdIsToldOnlyWhenItListens() throws {
        let quiet = SystemdNotifier(environment: [:])
        #expect(quiet.socketPath == nil && quiet.watchdogInterval == nil && !quiet.notify("READY=1"))
        // A watchdog meant for another process is not ours to feed.
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"]).watchdogInterval == nil)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "5000000"]).watchdogInterval == .seconds(5))

        // A datagram socket of the test's, as systemd's.
        let path = "/tmp/notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer {
            close(fd)
            unlink(path)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": path]).notify("READY=1\nSTATUS=Serving"))
        var buffer = [UInt8](repeating: 0, count: 256)
        let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        #expect(received > 0 && String(decoding: buffer.prefix(received), as: UTF8.self) == "READY=1\nSTATUS=Serving")
    }
}

struct JSONLogHandlerTests {
    @Test func aRecordIsOneJSONLineWithItsMetadata() {
        let line = JSONLogHandler.line(
            time: 1_796_099_628_123, level: .warning, label: "ecsd.api", message: "a \"quoted\"\nmessage",
            metadata: ["request.id": "abc-1", "status": "503", "level": "shadowed"])
        #expect(String(decoding: line, as: UTF8.self)
            == #"{"time":"2026-12-01T04:33:48.123Z","level":"warning","label":"ecsd.api","message":"a \"quoted\"\nmessage","request.id":"abc-1","status":"503"}"#
            + "\n")
    }
}
