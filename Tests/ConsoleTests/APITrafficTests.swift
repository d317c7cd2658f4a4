import APIGateway
import Console
import Foundation
import Testing

@Suite struct APITrafficTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)  // a whole minute

    @Test func answersAreCountedPerMinuteWithTheirErrorsAndLatencies() {
        var window = APITrafficWindow()
        for index in 0..<100 {
            window.record(api: "a1", at: start.addingTimeInterval(Double(index) * 0.1), status: index < 5 ? 502 : (index < 15 ? 404 : 200), latencyMs: Double(index + 1))
        }
        window.record(api: "a1", at: start.addingTimeInterval(61), status: 200, latencyMs: 7)
        window.record(api: "other", at: start, status: 200, latencyMs: 1)
        let minutes = window.minutes(of: "a1", now: start.addingTimeInterval(90))
        #expect(minutes.map(\.requests) == [100, 1])
        #expect(minutes[0].serverErrors == 5 && minutes[0].clientErrors == 10)
        let (totals, shown) = ResourceViews.traffic(minutes, now: start.addingTimeInterval(90))
        #expect(shown.count == 30 && shown.last!.requests == 1 && shown[shown.count - 2].requests == 100)
        #expect(shown[shown.count - 2].p50 == 50 && shown[shown.count - 2].p99 == 99)
        #expect(shown.first!.p50 == nil && shown.first!.requests == 0)
        #expect(totals.requests == 101 && totals.clientErrors == 10 && totals.serverErrors == 5)
        #expect(abs(totals.perMinute - 101.0 / 30) < 1e-9)
    }

    @Test func minutesOlderThanTheWindowAreDropped() {
        var window = APITrafficWindow()
        window.record(api: "a1", at: start, status: 200, latencyMs: 1)
        window.record(api: "a1", at: start.addingTimeInterval(31 * 60), status: 200, latencyMs: 1)
        #expect(window.minutes(of: "a1", now: start.addingTimeInterval(31 * 60)).count == 1)
        // Nothing recorded lately: the window is empty.
        #expect(window.minutes(of: "a1", now: start.addingTimeInterval(90 * 60)).isEmpty)
    }

    @Test func latenciesPastTheSampleSizeReplaceEarlierOnes() {
        var window = APITrafficWindow()
        for index in 0..<(APITrafficWindow.latencySamples * 3) {
            window.record(api: "a1", at: start, status: 200, latencyMs: index < APITrafficWindow.latencySamples ? 1 : 1000)
        }
        let minute = window.minutes(of: "a1", now: start)[0]
        #expect(minute.requests == APITrafficWindow.latencySamples * 3)
        #expect(minute.latencies.count == APITrafficWindow.latencySamples)
        #expect(minute.latencies.allSatisfy { $0 == 1000 })
    }

    @Test func aLateAnswerCountsInTheLatestMinute() {
        var window = APITrafficWindow()
        window.record(api: "a1", at: start.addingTimeInterval(61), status: 200, latencyMs: 1)
        window.record(api: "a1", at: start.addingTimeInterval(59), status: 500, latencyMs: 1)
        let minutes = window.minutes(of: "a1", now: start.addingTimeInterval(62))
        #expect(minutes.count == 1 && minutes[0].requests == 2 && minutes[0].serverErrors == 1)
    }
}
