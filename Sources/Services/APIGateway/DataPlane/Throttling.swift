import Foundation
import APIGatewayShapes
import StevedoreCore
import Synchronization

/// A token bucket: `rate` tokens a second up to `burst`; each request takes one or is throttled.
public struct TokenBucket: Sendable, Equatable {
    public var rate: Double
    public var burst: Int
    public private(set) var tokens: Double
    /// Seconds on the caller's monotonic clock when the bucket was last filled.
    public private(set) var filledAt: Double

    public init(rate: Double, burst: Int, now: Double) {
        self.rate = rate
        self.burst = burst
        tokens = Double(burst)
        filledAt = now
    }

    /// Takes a token; false when none is left (429).
    public mutating func take(now: Double) -> Bool {
        tokens = min(Double(burst), tokens + max(0, now - filledAt) * rate)
        filledAt = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

/// A stage's throttling limits for a route: its own route settings, else the stage's defaults.
/// nil when neither limits it (AWS's account limits are not applied on your own hosts).
func throttlingLimits(stage: V2Stage, routeKey: String) -> (rate: Double, burst: Int)? {
    let own = stage.routeSettings?[routeKey]
    let defaults = stage.defaultRouteSettings
    let rate = own?.throttlingRateLimit ?? defaults?.throttlingRateLimit
    let burst = own?.throttlingBurstLimit ?? defaults?.throttlingBurstLimit
    guard rate != nil || burst != nil else { return nil }
    return (rate ?? 10_000, burst ?? 5_000)
}

/// The token buckets of every throttled route, by API, stage and route key.
final class RouteThrottles: Sendable {
    private let buckets = Mutex<[String: TokenBucket]>([:])
    private let started = ContinuousClock.now

    /// Whether a request to the route may go on.
    func admit(api: String, stage: V2Stage, routeKey: String) -> Bool {
        guard let limits = throttlingLimits(stage: stage, routeKey: routeKey) else { return true }
        return admit(key: "\(api) \(stage.stageName) \(routeKey)", limits: limits)
    }

    /// Whether a request may go on through the bucket kept under `key`.
    func admit(key: String, limits: (rate: Double, burst: Int)) -> Bool {
        let elapsed = ContinuousClock.now - started
        let now = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? TokenBucket(rate: limits.rate, burst: limits.burst, now: now)
            if bucket.rate != limits.rate || bucket.burst != limits.burst { bucket = TokenBucket(rate: limits.rate, burst: limits.burst, now: now) }
            let admitted = bucket.take(now: now)
            buckets[key] = bucket
            return admitted
        }
    }
}

/// Requests the gateway sent each target group since they were last taken: the source of the
/// `ALBRequestCountPerTarget` scaling metric.
public final class TargetGroupRequestCounts: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    public init() {}

    func record(_ group: String) {
        counts.withLock { $0[group, default: 0] += 1 }
    }

    /// The counts so far, which start again from zero.
    public func take() -> [String: Int] {
        counts.withLock { counts in
            defer { counts = [:] }
            return counts
        }
    }
}

/// Usage plans' quotas: requests counted per plan and key, in calendar periods (UTC days, weeks
/// from Monday, months), and each key's requests per UTC day for GetUsage. Counts live in memory:
/// a restart of the control plane starts them over.
public final class UsageQuotas: Sendable {
    private let counts = Mutex<[String: (period: Int, count: Int)]>([:])
    /// Requests admitted per plan and key (`"<plan> <key>"`), by day since 1970.
    private let daily = Mutex<[String: [Int: Int]]>([:])
    /// Days of history kept per key.
    static let keptDays = 90

    public init() {}

    /// Counts an admitted request of `key` under `plan` on its day.
    func record(plan: String, key: String, at time: Date) {
        let day = Self.period(.day, of: time)
        daily.withLock { daily in
            var days = daily["\(plan) \(key)", default: [:]]
            days[day, default: 0] += 1
            if days.count > Self.keptDays, let oldest = days.keys.min() { days[oldest] = nil }
            daily["\(plan) \(key)"] = days
        }
    }

    /// Each day's `[used, remaining]` for `key` under `plan`, `first...last` (days since 1970):
    /// remaining is what the quota leaves of its period after that day (0 without a quota).
    public func usage(plan: String, key: String, days: ClosedRange<Int>, quota: V1QuotaSettings?) -> [[Int]] {
        let counted = daily.withLock { $0["\(plan) \(key)"] ?? [:] }
        var entries: [[Int]] = []
        for day in days {
            let used = counted[day] ?? 0
            var remaining = 0
            if let limit = quota?.limit, let period = quota?.period {
                let time = Date(timeIntervalSince1970: Double(day) * 86_400)
                let periodOfDay = Self.period(period, of: time)
                let usedInPeriod = counted.filter { entry in
                    entry.key <= day && Self.period(period, of: Date(timeIntervalSince1970: Double(entry.key) * 86_400)) == periodOfDay
                }.values.reduce(0, +)
                remaining = max(0, limit - usedInPeriod)
            }
            entries.append([used, remaining])
        }
        return entries
    }

    /// Counts a request; false when the key has used up the plan's quota for the period.
    func consume(key: String, limit: Int, period: V1QuotaPeriodType, at time: Date) -> Bool {
        let current = Self.period(period, of: time)
        return counts.withLock { counts in
            var entry = counts[key] ?? (current, 0)
            if entry.period != current { entry = (current, 0) }
            guard entry.count < limit else { return false }
            entry.count += 1
            counts[key] = entry
            return true
        }
    }

    /// The period a time falls in, as a number that changes when the period does.
    static func period(_ period: V1QuotaPeriodType, of time: Date) -> Int {
        let days = Int((time.timeIntervalSince1970 / 86_400).rounded(.down))
        switch period {
        case .day: return days
        // 1 January 1970 was a Thursday: weeks start on Mondays, 4 days later.
        case .week: return (days + 3) / 7
        case .month:
            let (year, month, _) = CivilCalendar.date(days: days)
            return year * 12 + month
        }
    }
}
