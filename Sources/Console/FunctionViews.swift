import Foundation
import Lambda
import LambdaShapes
import StevedoreCore

/// The functions pages: each function's invocations, errors, throttles, durations and cold
/// starts over the last half hour (from its REPORT lines), its recent REPORT lines, and its
/// versions and aliases with their weights.
public enum FunctionViews {
    /// One invocation as its REPORT line tells it.
    public struct Invocation: Sendable, Equatable {
        /// When it ended, in milliseconds since 1970.
        public var endedAt: Int64
        public var durationMs: Double
        public var coldStart: Bool
        public var errorType: String?
        public var report: String

        public init(endedAt: Int64, durationMs: Double, coldStart: Bool, errorType: String?, report: String) {
            self.endedAt = endedAt
            self.durationMs = durationMs
            self.coldStart = coldStart
            self.errorType = errorType
            self.report = report
        }
    }

    public struct Bucket: Encodable, Sendable, Equatable {
        /// The bucket's start, in milliseconds since 1970.
        public var time: Int64
        public var invocations: Int
        public var errors: Int
        public var throttles: Int
        public var coldStarts: Int
        public var p50: Double?
        public var p99: Double?
    }

    public struct Totals: Encodable, Sendable, Equatable {
        public var invocations: Int
        public var errors: Int
        public var throttles: Int
        public var coldStarts: Int
        public var p50: Double?
        public var p99: Double?
    }

    public struct AliasView: Encodable, Sendable, Equatable {
        public var name: String
        public var version: String
        /// Additional versions and the share of invocations each takes (0…1).
        public var weights: [String: Double]
    }

    public struct VersionView: Encodable, Sendable, Equatable {
        public var version: String
        public var description: String?
        public var lastModified: String?
    }

    public struct FunctionSummary: Encodable, Sendable, Equatable {
        public var name: String
        public var runtime: String
        public var memory: Int
        public var timeout: Int
        public var state: String
        public var lastModified: String?
    }

    public struct FunctionPage: Encodable, Sendable {
        public var summary: FunctionSummary
        public var handler: String?
        public var packageType: String
        public var versions: [VersionView]
        public var aliases: [AliasView]
        public var totals: Totals
        public var buckets: [Bucket]
        /// The newest REPORT lines, newest first.
        public var reports: [String]
    }

    /// The window the charts cover, and each bucket's width.
    public static let window: TimeInterval = 30 * 60
    public static let bucketWidth: TimeInterval = 60

    public static func list(_ functions: FunctionsState) -> [FunctionSummary] {
        functions.functions.values.map { summary($0) }.sorted { $0.name < $1.name }
    }

    static func summary(_ record: FunctionRecord) -> FunctionSummary {
        let configuration = record.latest.configuration
        return FunctionSummary(
            name: record.name, runtime: configuration.Runtime?.rawValue ?? (configuration.PackageType?.rawValue ?? ""),
            memory: configuration.MemorySize ?? 128, timeout: configuration.Timeout ?? 3, state: configuration.State?.rawValue ?? "Active",
            lastModified: configuration.LastModified)
    }

    /// - Parameter throttles: invocations refused per minute (minutes since 1970).
    public static func page(_ record: FunctionRecord, invocations: [Invocation], throttles: [Int64: Int], now: Date) -> FunctionPage {
        let configuration = record.latest.configuration
        let versions = record.versions.map { version in
            VersionView(version: version.version, description: version.configuration.Description, lastModified: version.configuration.LastModified)
        }
        let aliases = record.aliases.values.map { alias in
            AliasView(name: alias.Name ?? "", version: alias.FunctionVersion ?? "", weights: alias.RoutingConfig?.AdditionalVersionWeights ?? [:])
        }.sorted { $0.name < $1.name }
        let (totals, buckets) = chart(invocations: invocations, throttles: throttles, now: now)
        let reports = invocations.sorted { $0.endedAt > $1.endedAt }.prefix(20).map(\.report)
        return FunctionPage(
            summary: summary(record), handler: configuration.Handler, packageType: configuration.PackageType?.rawValue ?? "Zip",
            versions: versions, aliases: aliases, totals: totals, buckets: buckets, reports: Array(reports))
    }

    /// Buckets of `bucketWidth` over the last `window` (the last one partial), and their totals.
    public static func chart(invocations: [Invocation], throttles: [Int64: Int], now: Date) -> (Totals, [Bucket]) {
        let width = Int64(bucketWidth * 1000)
        let end = Int64((now.timeIntervalSince1970 * 1000).rounded())
        let count = Int(window / bucketWidth)
        // Buckets aligned to whole minutes, the newest holding `now`.
        let last = end - end % width
        let first = last - Int64(count - 1) * width
        var buckets = (0..<count).map { Bucket(time: first + Int64($0) * width, invocations: 0, errors: 0, throttles: 0, coldStarts: 0) }
        var durations = [[Double]](repeating: [], count: count)
        var all: [Double] = []
        for invocation in invocations where invocation.endedAt >= first && invocation.endedAt < last + width {
            let index = Int((invocation.endedAt - first) / width)
            buckets[index].invocations += 1
            if invocation.errorType != nil { buckets[index].errors += 1 }
            if invocation.coldStart { buckets[index].coldStarts += 1 }
            durations[index].append(invocation.durationMs)
            all.append(invocation.durationMs)
        }
        for index in buckets.indices { buckets[index].throttles = throttles[buckets[index].time / width] ?? 0 }
        for index in buckets.indices where !durations[index].isEmpty {
            let sorted = durations[index].sorted()
            buckets[index].p50 = percentile(sorted, 0.5)
            buckets[index].p99 = percentile(sorted, 0.99)
        }
        all.sort()
        let totals = Totals(
            invocations: buckets.reduce(0) { $0 + $1.invocations }, errors: buckets.reduce(0) { $0 + $1.errors },
            throttles: buckets.reduce(0) { $0 + $1.throttles }, coldStarts: buckets.reduce(0) { $0 + $1.coldStarts },
            p50: all.isEmpty ? nil : percentile(all, 0.5), p99: all.isEmpty ? nil : percentile(all, 0.99))
        return (totals, buckets)
    }

    /// The nearest-rank percentile of ascending values (CloudWatch's p50/p99 of a period).
    public static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
}
