import Athena
import CSQLite
import StevedoreCore
import Foundation

/// Athena's functions that SQLite lacks, over SQLite's values. Timestamps are text
/// (`2024-05-01 12:30:00.000`), as the tables hold them; dates `2024-05-01`.
enum AthenaFunctions {
    typealias Function = @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Void

    static func register(_ db: OpaquePointer) {
        let flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC
        func scalar(_ name: String, _ arguments: Int32, _ body: Function) {
            sqlite3_create_function_v2(db, name, arguments, flags, nil, body, nil, nil, nil)
        }
        scalar("athena_cast", 2, cast)
        scalar("athena_try_cast", 2, tryCast)
        scalar("date_trunc", 2, dateTrunc)
        scalar("date_add", 3, dateAdd)
        scalar("date_diff", 3, dateDiff)
        scalar("from_iso8601_timestamp", 1, fromISO8601)
        scalar("from_unixtime", 1, fromUnixtime)
        scalar("to_unixtime", 1, toUnixtime)
        scalar("regexp_like", 2, regexpLike)
        scalar("regexp_extract", 2, regexpExtract)
        scalar("regexp_extract", 3, regexpExtract)
        scalar("split_part", 3, splitPart)
        scalar("json_extract_scalar", 2, jsonExtractScalar)
        scalar("cardinality", 1, cardinality)
        scalar("element_at", 2, elementAt)
        scalar("concat", -1, concat)
        scalar("strpos", 2, strpos)
        for (name, part) in [("year", 0), ("month", 1), ("day", 2), ("hour", 3), ("minute", 4), ("second", 5)] {
            sqlite3_create_function_v2(db, name, 1, flags, UnsafeMutableRawPointer(bitPattern: part + 1), datePart, nil, nil, nil)
        }
        sqlite3_create_function_v2(db, "count_if", 1, flags, nil, nil, countIfStep, countIfFinal, nil)
        sqlite3_create_function_v2(db, "approx_percentile", 2, flags, nil, nil, percentileStep, percentileFinal, nil)
    }

    // MARK: Values in and out

    static func argument(_ arguments: UnsafeMutablePointer<OpaquePointer?>?, _ index: Int) -> OpaquePointer? { arguments?[index] }

    static func text(_ value: OpaquePointer?) -> String? {
        guard sqlite3_value_type(value) != SQLITE_NULL, let pointer = sqlite3_value_text(value) else { return nil }
        return String(cString: pointer)
    }

    static func result(_ context: OpaquePointer?, _ text: String?) {
        guard let text else { return sqlite3_result_null(context) }
        sqlite3_result_text(context, text, -1, csqlite_transient())
    }

    static func fail(_ context: OpaquePointer?, _ message: String) {
        sqlite3_result_error(context, message, -1)
    }

    // MARK: CAST

    static let cast: Function = { context, _, arguments in convert(context, arguments, failing: true) }
    static let tryCast: Function = { context, _, arguments in convert(context, arguments, failing: false) }

    /// CAST as Athena's: a value that does not convert fails the query (TRY_CAST gives NULL).
    static func convert(_ context: OpaquePointer?, _ arguments: UnsafeMutablePointer<OpaquePointer?>?, failing: Bool) {
        let value = argument(arguments, 0)
        guard let type = text(argument(arguments, 1)) else { return sqlite3_result_null(context) }
        let kind = sqlite3_value_type(value)
        if kind == SQLITE_NULL { return sqlite3_result_null(context) }
        let source = text(value) ?? ""
        func refuse() {
            if failing { fail(context, "INVALID_CAST_ARGUMENT: Cannot cast '\(source)' to \(type.uppercased())") } else { sqlite3_result_null(context) }
        }
        let base = String(type.prefix { $0.isLetter })
        switch base {
        case "tinyint", "smallint", "int", "integer", "bigint":
            if kind == SQLITE_INTEGER { return sqlite3_result_int64(context, sqlite3_value_int64(value)) }
            if kind == SQLITE_FLOAT {
                let double = sqlite3_value_double(value)
                guard double.isFinite, abs(double) < 9.2e18 else { return refuse() }
                return sqlite3_result_int64(context, Int64(double.rounded(.toNearestOrAwayFromZero)))
            }
            guard let parsed = Int64(source.trimmingCharacters(in: .whitespaces)) else { return refuse() }
            sqlite3_result_int64(context, parsed)
        case "double", "float", "real", "decimal":
            if kind == SQLITE_INTEGER || kind == SQLITE_FLOAT { return sqlite3_result_double(context, sqlite3_value_double(value)) }
            guard let parsed = Double(source.trimmingCharacters(in: .whitespaces)) else { return refuse() }
            sqlite3_result_double(context, parsed)
        case "boolean":
            if kind == SQLITE_INTEGER || kind == SQLITE_FLOAT { return sqlite3_result_int64(context, sqlite3_value_double(value) != 0 ? 1 : 0) }
            switch source.lowercased() {
            case "true", "1": sqlite3_result_int64(context, 1)
            case "false", "0": sqlite3_result_int64(context, 0)
            default: refuse()
            }
        case "date":
            guard let time = Timestamp(source) else { return refuse() }
            result(context, time.dateText)
        case "timestamp":
            if kind == SQLITE_INTEGER || kind == SQLITE_FLOAT { return refuse() }
            guard let time = Timestamp(source) else { return refuse() }
            result(context, time.text)
        default:
            // varchar, char, string, json…: the value's text.
            if kind == SQLITE_FLOAT { return result(context, SQLiteQueryEngine.text(sqlite3_value_double(value))) }
            result(context, source)
        }
    }

    // MARK: Dates and times

    static let dateTrunc: Function = { context, _, arguments in
        guard let unit = text(argument(arguments, 0))?.lowercased(), let source = text(argument(arguments, 1)) else { return sqlite3_result_null(context) }
        guard let time = Timestamp(source) else { return fail(context, "INVALID_FUNCTION_ARGUMENT: Value cannot be cast to timestamp: \(source)") }
        guard let truncated = time.truncated(to: unit) else { return fail(context, "INVALID_FUNCTION_ARGUMENT: '\(unit)' is not a valid Timestamp field") }
        result(context, time.isDate ? truncated.dateText : truncated.text)
    }

    static let dateAdd: Function = { context, _, arguments in
        guard let unit = text(argument(arguments, 0))?.lowercased(), let source = text(argument(arguments, 2)) else { return sqlite3_result_null(context) }
        guard sqlite3_value_type(argument(arguments, 1)) != SQLITE_NULL else { return sqlite3_result_null(context) }
        let amount = sqlite3_value_int64(argument(arguments, 1))
        guard let time = Timestamp(source) else { return fail(context, "INVALID_FUNCTION_ARGUMENT: Value cannot be cast to timestamp: \(source)") }
        guard let moved = time.adding(Int(amount), unit) else {
            let known = ["millisecond", "second", "minute", "hour", "day", "week", "month", "quarter", "year"].contains(unit)
            return fail(context, known ? "INVALID_FUNCTION_ARGUMENT: The result of date_add is out of the range of timestamps" : "INVALID_FUNCTION_ARGUMENT: '\(unit)' is not a valid Timestamp field")
        }
        result(context, time.isDate ? moved.dateText : moved.text)
    }

    static let dateDiff: Function = { context, _, arguments in
        guard let unit = text(argument(arguments, 0))?.lowercased(), let first = text(argument(arguments, 1)), let second = text(argument(arguments, 2)) else {
            return sqlite3_result_null(context)
        }
        guard let from = Timestamp(first), let to = Timestamp(second) else { return fail(context, "INVALID_FUNCTION_ARGUMENT: Value cannot be cast to timestamp") }
        guard let difference = from.difference(to, unit) else { return fail(context, "INVALID_FUNCTION_ARGUMENT: '\(unit)' is not a valid Timestamp field") }
        sqlite3_result_int64(context, Int64(difference))
    }

    static let fromISO8601: Function = { context, _, arguments in
        guard let source = text(argument(arguments, 0)) else { return sqlite3_result_null(context) }
        guard let time = Timestamp(iso8601: source) else { return fail(context, "INVALID_FUNCTION_ARGUMENT: Invalid format: \"\(source)\"") }
        result(context, time.text)
    }

    static let fromUnixtime: Function = { context, _, arguments in
        guard sqlite3_value_type(argument(arguments, 0)) != SQLITE_NULL else { return sqlite3_result_null(context) }
        let seconds = sqlite3_value_double(argument(arguments, 0))
        guard let time = Timestamp(seconds: seconds) else { return fail(context, "INVALID_FUNCTION_ARGUMENT: Value \(seconds) is out of the range of timestamps") }
        result(context, time.text)
    }

    static let toUnixtime: Function = { context, _, arguments in
        guard let source = text(argument(arguments, 0)), let time = Timestamp(source) else { return sqlite3_result_null(context) }
        sqlite3_result_double(context, time.seconds)
    }

    static let datePart: Function = { context, _, arguments in
        guard let source = text(argument(arguments, 0)), let time = Timestamp(source) else { return sqlite3_result_null(context) }
        let part = Int(bitPattern: sqlite3_user_data(context)) - 1
        let fields = time.fields
        let values = [fields.year, fields.month, fields.day, fields.hour, fields.minute, fields.second]
        sqlite3_result_int64(context, Int64(values[max(0, min(5, part))]))
    }

    // MARK: Strings, regular expressions, JSON

    /// The pattern compiled once per statement, not once per row: kept as SQLite's auxiliary data
    /// of the argument, which SQLite keeps while the argument stays the same.
    static func regularExpression(_ context: OpaquePointer?, argument: Int32, pattern: String) -> NSRegularExpression? {
        if let kept = sqlite3_get_auxdata(context, argument) {
            return Unmanaged<NSRegularExpression>.fromOpaque(kept).takeUnretainedValue()
        }
        guard let made = try? NSRegularExpression(pattern: pattern) else { return nil }
        sqlite3_set_auxdata(context, argument, Unmanaged.passRetained(made).toOpaque()) { kept in
            if let kept { Unmanaged<NSRegularExpression>.fromOpaque(kept).release() }
        }
        return made
    }

    static let regexpLike: Function = { context, _, arguments in
        guard let source = text(argument(arguments, 0)), let pattern = text(argument(arguments, 1)) else { return sqlite3_result_null(context) }
        guard let expression = regularExpression(context, argument: 1, pattern: pattern) else { return fail(context, "INVALID_FUNCTION_ARGUMENT: invalid regular expression: \(pattern)") }
        let found = expression.firstMatch(in: source, range: NSRange(source.startIndex..., in: source)) != nil
        sqlite3_result_int64(context, found ? 1 : 0)
    }

    static let regexpExtract: Function = { context, count, arguments in
        guard let source = text(argument(arguments, 0)), let pattern = text(argument(arguments, 1)) else { return sqlite3_result_null(context) }
        let group = count > 2 ? Int(sqlite3_value_int64(argument(arguments, 2))) : 0
        guard let expression = regularExpression(context, argument: 1, pattern: pattern) else { return fail(context, "INVALID_FUNCTION_ARGUMENT: invalid regular expression: \(pattern)") }
        guard group >= 0, group <= expression.numberOfCaptureGroups else {
            return fail(context, "INVALID_FUNCTION_ARGUMENT: Pattern has \(expression.numberOfCaptureGroups) groups. Cannot access group \(group)")
        }
        guard let match = expression.firstMatch(in: source, range: NSRange(source.startIndex..., in: source)),
            let range = Range(match.range(at: group), in: source)
        else { return sqlite3_result_null(context) }
        result(context, String(source[range]))
    }

    static let splitPart: Function = { context, _, arguments in
        guard let source = text(argument(arguments, 0)), let delimiter = text(argument(arguments, 1)) else { return sqlite3_result_null(context) }
        let index = Int(sqlite3_value_int64(argument(arguments, 2)))
        guard index >= 1 else { return fail(context, "INVALID_FUNCTION_ARGUMENT: Index must be greater than zero") }
        let parts = delimiter.isEmpty ? source.map(String.init) : source.components(separatedBy: delimiter)
        result(context, index <= parts.count ? parts[index - 1] : nil)
    }

    static let strpos: Function = { context, _, arguments in
        guard let source = text(argument(arguments, 0)), let part = text(argument(arguments, 1)) else { return sqlite3_result_null(context) }
        guard let range = source.range(of: part) else { return sqlite3_result_int64(context, 0) }
        sqlite3_result_int64(context, Int64(source.distance(from: source.startIndex, to: range.lowerBound) + 1))
    }

    static let concat: Function = { context, count, arguments in
        var out = ""
        for index in 0..<Int(count) {
            guard let part = text(argument(arguments, index)) else { return sqlite3_result_null(context) }
            out += part
        }
        result(context, out)
    }

    static func json(_ value: OpaquePointer?) -> JSONValue? {
        guard let source = text(value) else { return nil }
        return try? JSONDecoder().decode(JSONValue.self, from: Data(source.utf8))
    }

    /// A JSON value's text as Athena gives a scalar; an object or array as JSON.
    static func scalarText(_ value: JSONValue) -> String? {
        switch value {
        case .null: return nil
        case .bool(let flag): return flag ? "true" : "false"
        case .number(let number): return number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : "\(number)"
        case .string(let text): return text
        case .array, .object:
            return (try? JSONEncoder().encode(value)).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// `$.a.b[0]`, as Athena's JSONPath subset: the scalar's text, or NULL for an object, array or nothing.
    static let jsonExtractScalar: Function = { context, _, arguments in
        guard var value = json(argument(arguments, 0)), let path = text(argument(arguments, 1)) else { return sqlite3_result_null(context) }
        for step in pathSteps(path) {
            switch (step, value) {
            case (.key(let key), .object(let object)) where object[key] != nil: value = object[key]!
            case (.index(let index), .array(let array)) where index >= 0 && index < array.count: value = array[index]
            default: return sqlite3_result_null(context)
            }
        }
        switch value {
        case .array, .object: sqlite3_result_null(context)
        default: result(context, scalarText(value))
        }
    }

    enum PathStep { case key(String), index(Int) }

    static func pathSteps(_ path: String) -> [PathStep] {
        var steps: [PathStep] = []
        var rest = Substring(path)
        if rest.hasPrefix("$") { rest = rest.dropFirst() }
        while !rest.isEmpty {
            if rest.hasPrefix("[") {
                let inner = rest.dropFirst().prefix { $0 != "]" }
                rest = rest.dropFirst(inner.count + 2)
                let trimmed = inner.trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
                steps.append(Int(trimmed).map(PathStep.index) ?? .key(trimmed))
            } else {
                if rest.hasPrefix(".") { rest = rest.dropFirst() }
                let name = rest.prefix { $0 != "." && $0 != "[" }
                steps.append(.key(String(name)))
                rest = rest.dropFirst(name.count)
            }
        }
        return steps
    }

    /// Arrays and maps are held as JSON text.
    static let cardinality: Function = { context, _, arguments in
        switch json(argument(arguments, 0)) {
        case .array(let array)?: sqlite3_result_int64(context, Int64(array.count))
        case .object(let object)?: sqlite3_result_int64(context, Int64(object.count))
        default: sqlite3_result_null(context)
        }
    }

    static let elementAt: Function = { context, _, arguments in
        var found: JSONValue?
        switch json(argument(arguments, 0)) {
        case .array(let array)?:
            let index = Int(sqlite3_value_int64(argument(arguments, 1)))
            guard index != 0 else { return fail(context, "INVALID_FUNCTION_ARGUMENT: SQL array indices start at 1") }
            // 1-based; negative from the end.
            let position = index > 0 ? index - 1 : array.count + index
            found = position >= 0 && position < array.count ? array[position] : nil
        case .object(let object)?:
            found = text(argument(arguments, 1)).flatMap { object[$0] }
        default: break
        }
        result(context, found.flatMap(scalarText))
    }

    // MARK: Aggregates

    static let countIfStep: Function = { context, _, arguments in
        let state = sqlite3_aggregate_context(context, Int32(MemoryLayout<Int64>.size))!.assumingMemoryBound(to: Int64.self)
        let value = argument(arguments, 0)
        if sqlite3_value_type(value) != SQLITE_NULL, sqlite3_value_double(value) != 0 { state.pointee += 1 }
    }

    static let countIfFinal: @convention(c) (OpaquePointer?) -> Void = { context in
        let state = sqlite3_aggregate_context(context, 0)?.assumingMemoryBound(to: Int64.self)
        sqlite3_result_int64(context, state?.pointee ?? 0)
    }

    /// The values seen, kept in a Swift array the aggregate's context points to.
    final class Values {
        var items: [Double] = []
        var percentile = 0.5
    }

    static let percentileStep: Function = { context, _, arguments in
        let slot = sqlite3_aggregate_context(context, Int32(MemoryLayout<UnsafeMutableRawPointer?>.size))!.assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
        if slot.pointee == nil {
            let values = Values()
            values.percentile = sqlite3_value_double(argument(arguments, 1))
            slot.pointee = Unmanaged.passRetained(values).toOpaque()
        }
        let value = argument(arguments, 0)
        guard sqlite3_value_type(value) != SQLITE_NULL else { return }
        Unmanaged<Values>.fromOpaque(slot.pointee!).takeUnretainedValue().items.append(sqlite3_value_double(value))
    }

    static let percentileFinal: @convention(c) (OpaquePointer?) -> Void = { context in
        guard let slot = sqlite3_aggregate_context(context, 0)?.assumingMemoryBound(to: UnsafeMutableRawPointer?.self), let pointer = slot.pointee else {
            return sqlite3_result_null(context)
        }
        let values = Unmanaged<Values>.fromOpaque(pointer).takeRetainedValue()
        slot.pointee = nil
        guard !values.items.isEmpty else { return sqlite3_result_null(context) }
        guard (0...1).contains(values.percentile) else { return fail(context, "INVALID_FUNCTION_ARGUMENT: Percentile must be between 0 and 1") }
        let sorted = values.items.sorted()
        sqlite3_result_double(context, sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * values.percentile).rounded()))])
    }
}
