import Foundation
import Synchronization

/// A target's health as its group's checks found it, as `DescribeTargetHealth` says it.
public struct TargetHealth: Sendable, Equatable {
    public enum State: String, Sendable {
        case initial, healthy, unhealthy
    }

    public var state: State = .initial
    /// `Elb.RegistrationInProgress`, `Target.ResponseCodeMismatch`, `Target.Timeout`, `Target.FailedHealthChecks`.
    public var reason: String? = "Elb.RegistrationInProgress"
    public var description: String? = "Target registration is in progress"
    var successes = 0
    var failures = 0

    public init() {}

    /// What one check found: its status code, or nil when there was no answer (`timedOut` tells
    /// which). Thresholds of answers in a row move the target between healthy and unhealthy.
    public mutating func record(status: Int?, timedOut: Bool, check: HealthCheck) {
        if let status, check.matches(status) {
            successes += 1
            failures = 0
            if state != .healthy, successes >= (state == .initial ? 1 : check.healthyThreshold) {
                // A new target is healthy once it first passes, as ELB's first check decides.
                (state, reason, description) = (.healthy, nil, nil)
            }
            return
        }
        failures += 1
        successes = 0
        if state == .initial || failures >= check.unhealthyThreshold {
            state = .unhealthy
            if let status {
                (reason, description) = ("Target.ResponseCodeMismatch", "Health checks failed with these codes: [\(status)]")
            } else if timedOut {
                (reason, description) = ("Target.Timeout", "Request timed out")
            } else {
                (reason, description) = ("Target.FailedHealthChecks", "Health checks failed")
            }
        }
    }
}

/// Every checked target's health, by group and target (`host:port`), and when each is due next.
public final class TargetHealthRegistry: Sendable {
    private struct Entry {
        var health = TargetHealth()
        var due: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: [String: Entry]]>([:])

    public init() {}

    public static func key(host: String, port: Int) -> String { "\(host):\(port)" }

    /// The targets of a group whose check is due, after forgetting those that left it. Each one
    /// returned is not due again for `interval`, whether or not its check has answered by then.
    public func due(group: String, targets: [String], interval: Duration, now: ContinuousClock.Instant) -> [String] {
        entries.withLock { entries in
            var known = entries[group] ?? [:]
            for key in known.keys where !targets.contains(key) { known[key] = nil }
            var due: [String] = []
            for target in targets {
                var entry = known[target] ?? Entry(due: now)
                if entry.due <= now {
                    due.append(target)
                    entry.due = now + interval
                }
                known[target] = entry
            }
            entries[group] = known
            return due
        }
    }

    public func record(group: String, target: String, status: Int?, timedOut: Bool, check: HealthCheck, now: ContinuousClock.Instant) {
        entries.withLock { entries in
            var entry = entries[group]?[target] ?? Entry(due: now)
            entry.health.record(status: status, timedOut: timedOut, check: check)
            entry.due = now + .seconds(check.intervalSeconds)
            entries[group, default: [:]][target] = entry
        }
    }

    /// A target's health; a target not checked yet is `initial`.
    public func health(group: String, target: String) -> TargetHealth {
        entries.withLock { $0[group]?[target]?.health } ?? TargetHealth()
    }

    /// Groups no longer checked are forgotten.
    public func keep(groups: Set<String>) {
        entries.withLock { entries in entries = entries.filter { groups.contains($0.key) } }
    }
}
