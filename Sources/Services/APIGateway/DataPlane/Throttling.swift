import APIGatewayShapes
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
        let elapsed = ContinuousClock.now - started
        let now = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let key = "\(api) \(stage.stageName) \(routeKey)"
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
