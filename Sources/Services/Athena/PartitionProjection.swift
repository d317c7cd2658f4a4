import Foundation
import StevedoreCore

/// Athena's partition projection: a partitioned table whose `TBLPROPERTIES` say how its partition
/// values are laid out (`projection.enabled`, `projection.<key>.type` integer, enum, date or
/// injected, with their `range`, `values`, `format`, `digits`; `storage.location.template`) needs no
/// partitions in the catalog. A query reads the objects under the table's location whose path
/// gives values the projection allows (Athena enumerates the values and reads what exists: the
/// same objects), and the usual pruning applies to those values.
public struct PartitionProjection: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case integer(range: ClosedRange<Int>, digits: Int?)
        case enumeration(Set<String>)
        /// Dates in a Java-style format, within a range whose ends are dates in that format or
        /// `NOW`, `NOW-3YEARS`, `NOW+1DAY`…; checked when a query starts.
        case date(format: String, from: String, to: String)
        /// Any value (Athena needs it given in the query; here the objects give it).
        case injected
    }

    public var keys: [(name: String, kind: Kind)]
    /// `s3://bucket/prefix/${key}/…`; nil: Hive's `<location>/key=value/…`.
    public var template: String?

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.template == rhs.template && lhs.keys.map(\.name) == rhs.keys.map(\.name) && lhs.keys.map(\.kind) == rhs.keys.map(\.kind)
    }

    /// The table's projection; nil when it has none (or it is not enabled).
    public init?(_ table: TableDefinition) throws(QueryFailure) {
        let properties = Dictionary(table.properties.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { $1 })
        guard properties["projection.enabled"]?.lowercased() == "true", !table.partitionKeys.isEmpty else { return nil }
        var keys: [(String, Kind)] = []
        for key in table.partitionKeys {
            let name = key.name.lowercased()
            func property(_ suffix: String) -> String? { properties["projection.\(name).\(suffix)"] }
            guard let type = property("type")?.lowercased() else {
                throw .user("HIVE_METASTORE_ERROR: Table \(table.name) is configured for partition projection, but the following partition columns are missing projection configuration: [\(name)]")
            }
            switch type {
            case "integer":
                let bounds = (property("range") ?? "").split(separator: ",").map { Int($0.trimmingWhitespace) }
                guard bounds.count == 2, let low = bounds[0], let high = bounds[1], low <= high else {
                    throw .user("HIVE_METASTORE_ERROR: Invalid range for projection column \(name): \(property("range") ?? "(none)")")
                }
                keys.append((name, .integer(range: low...high, digits: property("digits").flatMap { Int($0) })))
            case "enum":
                let values = (property("values") ?? "").split(separator: ",").map { $0.trimmingWhitespace }
                guard !values.isEmpty else { throw .user("HIVE_METASTORE_ERROR: No values for projection column \(name)") }
                keys.append((name, .enumeration(Set(values))))
            case "date":
                let bounds = (property("range") ?? "").split(separator: ",").map { $0.trimmingWhitespace }
                guard bounds.count == 2, let format = property("format") else {
                    throw .user("HIVE_METASTORE_ERROR: Projection column \(name) of type date needs a range and a format")
                }
                keys.append((name, .date(format: format, from: bounds[0], to: bounds[1])))
            case "injected":
                keys.append((name, .injected))
            default:
                throw .user("HIVE_METASTORE_ERROR: Unsupported projection type \(type) for column \(name)")
            }
        }
        self.keys = keys
        template = properties["storage.location.template"]
    }

    /// The partition values an object's key gives, in the order of the partition keys; nil when
    /// its path does not fit the layout or a value is outside the projection.
    public func values(ofKey key: String, bucket: String, tableFolder: String, now: Date) -> [String]? {
        let path = "s3://\(bucket)/\(key)"
        var found: [String: String] = [:]
        if let template {
            guard let matched = Self.match(path, template: template, slashes: slashes) else { return nil }
            found = matched
        } else {
            guard key.hasPrefix(tableFolder) else { return nil }
            for segment in key.dropFirst(tableFolder.count).split(separator: "/").dropLast() {
                guard let equals = segment.firstIndex(of: "=") else { continue }
                found[segment[..<equals].lowercased()] = String(segment[segment.index(after: equals)...])
            }
        }
        var values: [String] = []
        for (name, kind) in keys {
            guard let value = found[name], Self.allows(kind, value, now: now) else { return nil }
            values.append(value)
        }
        return values
    }

    /// Where the objects of the projected table are: the template's part before its first
    /// `${…}`, or the table's folder.
    public func scanPrefix(tableLocation: String) -> String {
        guard let template, let start = template.range(of: "${") else { return tableLocation }
        let before = template[..<start.lowerBound]
        // Up to the last whole folder before the first value.
        guard let slash = before.lastIndex(of: "/") else { return String(before) }
        return String(before[...slash])
    }

    /// How many `/` each key's values hold (a date formatted `yyyy/MM/dd` spans three folders).
    var slashes: [String: Int] {
        var counts: [String: Int] = [:]
        for (name, kind) in keys {
            if case .date(let format, _, _) = kind { counts[name] = format.filter { $0 == "/" }.count }
        }
        return counts
    }

    /// `s3://b/logs/${year}/${month}/` against a path: the values in place of each `${key}`, each
    /// one path segment's worth or less (or as many segments as `slashes` says the key's values span).
    static func match(_ path: String, template: String, slashes: [String: Int] = [:]) -> [String: String]? {
        var values: [String: String] = [:]
        var rest = Substring(path)
        var pattern = Substring(template)
        while let start = pattern.range(of: "${") {
            let literal = pattern[..<start.lowerBound]
            guard rest.hasPrefix(literal) else { return nil }
            rest = rest.dropFirst(literal.count)
            guard let end = pattern[start.upperBound...].firstIndex(of: "}") else { return nil }
            let name = pattern[start.upperBound..<end].lowercased()
            pattern = pattern[pattern.index(after: end)...]
            // The value runs to the next literal text of the template (within one segment).
            let next = pattern.range(of: "${").map { pattern[..<$0.lowerBound] } ?? pattern
            let spans = slashes[name] ?? 0
            var from = rest.startIndex
            for _ in 0..<spans {
                guard let slash = rest[from...].firstIndex(of: "/") else { return nil }
                from = rest.index(after: slash)
            }
            let stop: Substring.Index
            if let first = next.first {
                guard let index = rest[from...].firstIndex(of: first) else { return nil }
                stop = index
            } else {
                stop = rest[from...].firstIndex(of: "/") ?? rest.endIndex
            }
            let value = rest[..<stop]
            guard !value.isEmpty, value.filter({ $0 == "/" }).count == spans else { return nil }
            values[name] = String(value)
            rest = rest[stop...]
        }
        guard rest.hasPrefix(pattern) else { return nil }
        return values
    }

    static func allows(_ kind: Kind, _ value: String, now: Date) -> Bool {
        switch kind {
        case .injected:
            return true
        case .enumeration(let values):
            return values.contains(value)
        case .integer(let range, let digits):
            guard let number = Int(value), range.contains(number) else { return false }
            if let digits, value.count < digits { return false }
            return true
        case .date(let format, let from, let to):
            guard let date = DatePattern(format)?.parse(value),
                let low = bound(from, format: format, now: now), let high = bound(to, format: format, now: now)
            else { return false }
            return date >= low && date <= high
        }
    }

    /// A range end: a date in the column's format, or NOW with an optional offset (`NOW-3YEARS`).
    static func bound(_ text: String, format: String, now: Date) -> Date? {
        let upper = text.uppercased()
        guard upper.hasPrefix("NOW") else { return DatePattern(format)?.parse(text) }
        let offset = upper.dropFirst(3)
        guard let sign = offset.first else { return now }
        guard sign == "+" || sign == "-" else { return nil }
        let body = offset.dropFirst()
        let digits = body.prefix { $0.isNumber }
        guard let amount = Int(digits) else { return nil }
        let unit = body.dropFirst(digits.count).trimmingWhitespace
        let seconds: Double
        switch unit.hasSuffix("S") ? String(unit.dropLast()) : unit {
        case "SECOND": seconds = 1
        case "MINUTE": seconds = 60
        case "HOUR": seconds = 3600
        case "DAY": seconds = 86_400
        case "WEEK": seconds = 7 * 86_400
        case "MONTH": seconds = 31 * 86_400
        case "YEAR": seconds = 366 * 86_400
        default: return nil
        }
        return now.addingTimeInterval((sign == "-" ? -1 : 1) * Double(amount) * seconds)
    }
}

/// A Java-style date pattern of fixed-width fields (yyyy, MM, dd, HH, mm, ss and literal text),
/// as projection formats are written.
struct DatePattern {
    enum Part { case field(Character, Int), literal(Character) }
    let parts: [Part]

    init?(_ format: String) {
        var parts: [Part] = []
        var characters = Array(format)[...]
        while let first = characters.first {
            if "yMdHms".contains(first) {
                let run = characters.prefix { $0 == first }.count
                parts.append(.field(first, run))
                characters = characters.dropFirst(run)
            } else if first == "'" {
                characters = characters.dropFirst()
                while let next = characters.first, next != "'" {
                    parts.append(.literal(next))
                    characters = characters.dropFirst()
                }
                characters = characters.dropFirst()
            } else {
                parts.append(.literal(first))
                characters = characters.dropFirst()
            }
        }
        guard !parts.isEmpty else { return nil }
        self.parts = parts
    }

    /// The date (UTC) a value gives; nil when it does not fit the pattern.
    func parse(_ text: String) -> Date? {
        var fields: [Character: Int] = [:]
        var characters = Array(text)[...]
        for part in parts {
            switch part {
            case .literal(let expected):
                guard characters.first == expected else { return nil }
                characters = characters.dropFirst()
            case .field(let letter, let width):
                let digits = characters.prefix(width)
                guard digits.count == width, digits.allSatisfy(\.isNumber), let value = Int(String(digits)) else { return nil }
                fields[letter] = value
                characters = characters.dropFirst(width)
            }
        }
        guard characters.isEmpty else { return nil }
        var components = DateComponents()
        components.year = fields["y"] ?? 1970
        components.month = fields["M"] ?? 1
        components.day = fields["d"] ?? 1
        components.hour = fields["H"] ?? 0
        components.minute = fields["m"] ?? 0
        components.second = fields["s"] ?? 0
        guard (1...12).contains(components.month!), (1...31).contains(components.day!) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: components)
    }
}
