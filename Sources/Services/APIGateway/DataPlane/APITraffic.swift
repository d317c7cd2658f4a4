import Foundation
import Synchronization

/// What each API answered, minute by minute over the last half hour: requests, 4xx and 5xx
/// answers, and latencies (for the console's charts). Memory only.
public struct APITrafficWindow: Sendable {
    public struct Minute: Sendable, Equatable {
        /// Minutes since 1970.
        public var minute: Int64
        public var requests = 0
        public var clientErrors = 0
        public var serverErrors = 0
        /// Latencies in milliseconds: every one while there are at most `latencySamples`, then a
        /// sample of them (each new one replaces an earlier one in turn).
        public var latencies: [Double] = []

        public init(minute: Int64) {
            self.minute = minute
        }
    }

    public static let minutes: Int64 = 30
    public static let latencySamples = 512
    private var byAPI: [String: [Minute]] = [:]

    public init() {}

    public mutating func record(api: String, at time: Date, status: Int, latencyMs: Double) {
        let minute = Int64((time.timeIntervalSince1970 / 60).rounded(.down))
        var minutes = byAPI[api] ?? []
        if minutes.last?.minute != minute {
            // Out-of-order times (a slow request finishing after a newer one) count in the latest minute.
            if let last = minutes.last, last.minute > minute {
                record(into: &minutes[minutes.count - 1], status: status, latencyMs: latencyMs)
                byAPI[api] = minutes
                return
            }
            minutes.append(Minute(minute: minute))
            minutes.removeAll { $0.minute <= minute - Self.minutes }
        }
        record(into: &minutes[minutes.count - 1], status: status, latencyMs: latencyMs)
        byAPI[api] = minutes
    }

    private func record(into minute: inout Minute, status: Int, latencyMs: Double) {
        minute.requests += 1
        if (400..<500).contains(status) { minute.clientErrors += 1 }
        if status >= 500 { minute.serverErrors += 1 }
        if minute.latencies.count < Self.latencySamples {
            minute.latencies.append(latencyMs)
        } else {
            minute.latencies[minute.requests % Self.latencySamples] = latencyMs
        }
    }

    /// An API's minutes within the half hour before `now`, oldest first.
    public func minutes(of api: String, now: Date) -> [Minute] {
        let current = Int64((now.timeIntervalSince1970 / 60).rounded(.down))
        return (byAPI[api] ?? []).filter { $0.minute > current - Self.minutes }
    }
}

/// The gateway's traffic figures, shared by its connections.
public final class APITraffic: Sendable {
    private let window = Mutex(APITrafficWindow())

    public init() {}

    func record(api: String, at time: Date, status: Int, latencyMs: Double) {
        window.withLock { $0.record(api: api, at: time, status: status, latencyMs: latencyMs) }
    }

    public func minutes(of api: String, now: Date) -> [APITrafficWindow.Minute] {
        window.withLock { $0.minutes(of: api, now: now) }
    }
}
