import CoreMetrics
import Synchronization

/// swift-metrics' handlers kept in memory and written in Prometheus' text format (version 0.0.4):
/// counters as counters, timers and aggregating recorders as histograms (timers in seconds),
/// meters and other recorders as gauges. Figures only known when asked (tasks by status, agents
/// connected) come from collectors run at each scrape, as gauges. No Foundation: the agent uses
/// it too.
public final class PrometheusRegistry: MetricsFactory, Sendable {
    /// Upper bounds of histogram buckets, in the metric's unit (seconds for timers): from half a
    /// millisecond, where most API answers are, to ten seconds.
    public static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    public enum Kind: String, Sendable { case counter, gauge, histogram }

    /// A figure a collector reports at scrape time.
    public struct Sample: Sendable {
        public var name: String
        public var help: String
        public var labels: [(String, String)]
        public var value: Double

        public init(name: String, help: String, labels: [(String, String)] = [], value: Double) {
            self.name = name
            self.help = help
            self.labels = labels
            self.value = value
        }
    }

    private struct Family {
        var kind: Kind
        /// Series by their rendered label set (`{a="1",b="2"}`), in the order they appeared.
        var series: [String: any Series] = [:]
        var order: [String] = []
    }

    private let families = Mutex<[String: Family]>([:])
    /// Series by name and raw labels: swift-metrics makes a handler for every `Counter(…)`, and the
    /// API makes two per request; this finds them without rendering labels each time.
    private let handles = Mutex<[HandleKey: any Series]>([:])

    private struct HandleKey: Hashable {
        var name: String
        /// Names and values, alternating.
        var labels: [String]
    }
    private let collectors = Mutex<[@Sendable () -> [Sample]]>([])
    /// One line of help per metric name.
    private let helps = Mutex<[String: String]>([:])

    public init() {}

    /// Help text for a metric (the `# HELP` line).
    public func describe(_ name: String, _ help: String) {
        helps.withLock { $0[name] = help }
    }

    /// Adds figures computed at each scrape (gauges).
    public func addCollector(_ collector: @escaping @Sendable () -> [Sample]) {
        collectors.withLock { $0.append(collector) }
    }

    // MARK: MetricsFactory

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        series(label, dimensions, kind: .counter) { PrometheusCounter() }
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        series(label, dimensions, kind: .counter) { PrometheusCounter() }
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        series(label, dimensions, kind: .gauge) { PrometheusGauge() }
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        if aggregate { return series(label, dimensions, kind: .histogram) { PrometheusHistogram(scale: 1) } }
        return series(label, dimensions, kind: .gauge) { PrometheusGauge() }
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        series(label, dimensions, kind: .histogram) { PrometheusHistogram(scale: 1e-9) }
    }

    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyMeter(_ handler: any MeterHandler) {}
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}

    /// The series of that name and labels, made the first time (a metric keeps the kind it was
    /// first made as; asked as another kind, a detached handler that nobody reads is returned).
    private func series<Handler: Series>(_ name: String, _ dimensions: [(String, String)], kind: Kind, make: () -> Handler) -> Handler {
        var raw = HandleKey(name: name, labels: [])
        raw.labels.reserveCapacity(dimensions.count * 2)
        for (label, value) in dimensions { raw.labels += [label, value] }
        if let known = handles.withLock({ $0[raw] }) as? Handler { return known }
        let key = Self.labels(dimensions)
        let found: (Handler, kept: Bool) = families.withLock { families in
            var family = families[name] ?? Family(kind: kind)
            guard family.kind == kind else { return (make(), false) }
            if let existing = family.series[key] as? Handler { return (existing, true) }
            let made = make()
            family.series[key] = made
            family.order.append(key)
            families[name] = family
            return (made, true)
        }
        // Bounded: labels are the caller's (the series themselves stay in `families`).
        if found.kept { handles.withLock { if $0.count >= 100_000 { $0.removeAll() }; $0[raw] = found.0 } }
        return found.0
    }

    // MARK: Exposition

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Every metric, in Prometheus' text format.
    public func render() -> String {
        var text = ""
        let helps = helps.withLock { $0 }
        let snapshot = families.withLock { $0 }
        for name in snapshot.keys.sorted() {
            guard let family = snapshot[name] else { continue }
            text += "# HELP \(name) \(Self.escapeHelp(helps[name] ?? name))\n# TYPE \(name) \(family.kind.rawValue)\n"
            for key in family.order {
                family.series[key]?.render(name: name, labels: key, into: &text)
            }
        }
        var collected: [String: [Sample]] = [:]
        for collector in collectors.withLock({ $0 }) {
            for sample in collector() where snapshot[sample.name] == nil { collected[sample.name, default: []].append(sample) }
        }
        for name in collected.keys.sorted() {
            guard let samples = collected[name], let first = samples.first else { continue }
            text += "# HELP \(name) \(Self.escapeHelp(first.help))\n# TYPE \(name) gauge\n"
            for sample in samples { text += "\(name)\(Self.labels(sample.labels)) \(Self.number(sample.value))\n" }
        }
        return text
    }

    /// `{a="1",b="2"}` (empty without labels), values escaped as the format says.
    static func labels(_ dimensions: [(String, String)]) -> String {
        guard !dimensions.isEmpty else { return "" }
        let pairs = dimensions.map { name, value in
            var escaped = ""
            for character in value {
                switch character {
                case "\\": escaped += "\\\\"
                case "\"": escaped += "\\\""
                case "\n": escaped += "\\n"
                default: escaped.append(character)
                }
            }
            return "\(Self.labelName(name))=\"\(escaped)\""
        }
        return "{" + pairs.joined(separator: ",") + "}"
    }

    /// A label name as the format allows (`[a-zA-Z_][a-zA-Z0-9_]*`).
    static func labelName(_ name: String) -> String {
        let isAllowed = { (byte: UInt8) in byte == UInt8(ascii: "_") || (byte | 0x20) &- 97 < 26 || byte &- 48 < 10 }
        if let first = name.utf8.first, first &- 48 >= 10, name.utf8.allSatisfy(isAllowed) { return name }
        var cleaned = String(name.unicodeScalars.map { scalar in
            (scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(Character(scalar)) || scalar == "_")) ? Character(scalar) : "_"
        })
        if cleaned.first.map({ ("0"..."9").contains($0) }) ?? true { cleaned = "_" + cleaned }
        return cleaned
    }

    static func escapeHelp(_ help: String) -> String {
        help.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }

    /// A value as Prometheus writes one (`+Inf`, integers without a fraction).
    static func number(_ value: Double) -> String {
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value.isNaN { return "NaN" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

/// A series: it writes its own lines.
protocol Series: AnyObject, Sendable {
    func render(name: String, labels: String, into text: inout String)
}

final class PrometheusCounter: CounterHandler, FloatingPointCounterHandler, Series {
    private let value = Mutex<Double>(0)

    func increment(by amount: Int64) { value.withLock { $0 += Double(amount) } }
    func increment(by amount: Double) { value.withLock { $0 += max(0, amount) } }
    func reset() { value.withLock { $0 = 0 } }

    func render(name: String, labels: String, into text: inout String) {
        text += "\(name)\(labels) \(PrometheusRegistry.number(value.withLock { $0 }))\n"
    }
}

final class PrometheusGauge: MeterHandler, RecorderHandler, Series {
    private let value = Mutex<Double>(0)

    func set(_ value: Int64) { self.value.withLock { $0 = Double(value) } }
    func set(_ value: Double) { self.value.withLock { $0 = value } }
    func increment(by amount: Double) { value.withLock { $0 += amount } }
    func decrement(by amount: Double) { value.withLock { $0 -= amount } }
    func record(_ value: Int64) { set(value) }
    func record(_ value: Double) { set(value) }

    func render(name: String, labels: String, into text: inout String) {
        text += "\(name)\(labels) \(PrometheusRegistry.number(value.withLock { $0 }))\n"
    }
}

/// Cumulative buckets, a sum and a count; `scale` turns what is recorded into the metric's unit
/// (nanoseconds into seconds for timers).
final class PrometheusHistogram: RecorderHandler, TimerHandler, Series {
    private struct Counts {
        var buckets = [UInt64](repeating: 0, count: PrometheusRegistry.buckets.count)
        var sum = 0.0
        var count: UInt64 = 0
    }

    private let counts = Mutex(Counts())
    let scale: Double

    init(scale: Double) { self.scale = scale }

    func record(_ value: Int64) { observe(Double(value) * scale) }
    func record(_ value: Double) { observe(value * scale) }
    func recordNanoseconds(_ duration: Int64) { observe(Double(duration) * scale) }

    func observe(_ value: Double) {
        counts.withLock { counts in
            // The first bucket that holds it; rendering adds them up.
            if let index = PrometheusRegistry.buckets.firstIndex(where: { value <= $0 }) { counts.buckets[index] += 1 }
            counts.sum += value
            counts.count += 1
        }
    }

    func render(name: String, labels: String, into text: inout String) {
        let counts = counts.withLock { $0 }
        // `le` goes with the series' own labels.
        func with(_ bound: String) -> String {
            labels.isEmpty ? "{le=\"\(bound)\"}" : String(labels.dropLast()) + ",le=\"\(bound)\"}"
        }
        var cumulative: UInt64 = 0
        for (index, bound) in PrometheusRegistry.buckets.enumerated() {
            cumulative += counts.buckets[index]
            text += "\(name)_bucket\(with(PrometheusRegistry.number(bound))) \(cumulative)\n"
        }
        text += "\(name)_bucket\(with("+Inf")) \(counts.count)\n"
        text += "\(name)_sum\(labels) \(PrometheusRegistry.number(counts.sum))\n"
        text += "\(name)_count\(labels) \(counts.count)\n"
    }
}
