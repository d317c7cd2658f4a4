import CSQLite
import Foundation

/// Where a line's values are, found without making any of them: SQLite asks for a few columns
/// of each row, and only those are converted, straight from the line's bytes (no Swift strings on
/// the way). LazySimpleSerDe lines and JSON lines take this path; a line whose fields need
/// unescaping, and OpenCSV lines, are decoded whole instead (``RowDecoder/decode(_:)``).
struct LineFields {
    enum Shape: Equatable {
        /// Missing (a JSON member not there, a field past the line's end) or JSON null.
        case absent
        /// The bytes as they are: a delimited field, a JSON string without escapes, a JSON number.
        case bytes
        /// A JSON string with escapes: unescaped when asked for.
        case escapedString
        case boolean(Bool)
        /// A JSON object or array, as its text.
        case nested
    }

    /// By column (in the table's order), absolute indices into the line.
    var ranges: [Range<Int>] = []
    var shapes: [Shape] = []

    mutating func reset(columns: Int) {
        if shapes.count != columns {
            ranges = Array(repeating: 0..<0, count: columns)
            shapes = Array(repeating: .absent, count: columns)
        } else {
            for index in 0..<columns { shapes[index] = .absent }
        }
    }

    /// A LazySimpleSerDe line's fields; false when a field holds the escape character (decode the line whole).
    mutating func locateDelimited(_ line: ArraySlice<UInt8>, separator: UInt8, escape: UInt8?, columns: Int) -> Bool {
        if shapes.count != columns { reset(columns: columns) }
        let base = line.startIndex
        return line.withUnsafeBufferPointer { bytes in
            ranges.withUnsafeMutableBufferPointer { ranges in
                shapes.withUnsafeMutableBufferPointer { shapes in
                    // One pass over the bytes, writing straight into the arrays (no per-byte bounds or uniqueness checks).
                    let escapeByte = escape.map(Int.init) ?? -1
                    var start = 0
                    var column = 0
                    var index = 0
                    let count = bytes.count
                    while index < count, column < columns {
                        let byte = bytes[index]
                        if Int(byte) == escapeByte { return false }
                        if byte == separator {
                            ranges[column] = (base + start)..<(base + index)
                            shapes[column] = .bytes
                            column += 1
                            start = index + 1
                        }
                        index += 1
                    }
                    if column < columns {
                        ranges[column] = (base + start)..<(base + count)
                        shapes[column] = .bytes
                        column += 1
                    }
                    for missing in column..<columns { shapes[missing] = .absent }
                    return true
                }
            }
        }
    }

    /// A JSON line's members matched to the columns by name (`keys` lower-cased when matching ignores case);
    /// nil when the line is not a JSON object.
    mutating func locateJSON(_ line: ArraySlice<UInt8>, keys: [[UInt8]], caseInsensitive: Bool) -> Bool? {
        reset(columns: keys.count)
        var reader = JSONLine.Reader(bytes: line, index: line.startIndex)
        reader.skipSpace()
        guard reader.take(UInt8(ascii: "{")) else { return nil }
        reader.skipSpace()
        if reader.take(UInt8(ascii: "}")) { return true }
        while true {
            reader.skipSpace()
            guard let (name, nameEscaped) = reader.rawString() else { return nil }
            reader.skipSpace()
            guard reader.take(UInt8(ascii: ":")) else { return nil }
            reader.skipSpace()
            guard reader.index < line.endIndex else { return nil }
            let begin = reader.index
            let shape: Shape
            let range: Range<Int>
            switch line[begin] {
            case UInt8(ascii: "\""):
                guard let (inner, escaped) = reader.rawString() else { return nil }
                (shape, range) = (escaped ? .escapedString : .bytes, inner)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard reader.skipNested() else { return nil }
                (shape, range) = (.nested, begin..<reader.index)
            case UInt8(ascii: "t"):
                guard reader.word("true") else { return nil }
                (shape, range) = (.boolean(true), begin..<reader.index)
            case UInt8(ascii: "f"):
                guard reader.word("false") else { return nil }
                (shape, range) = (.boolean(false), begin..<reader.index)
            case UInt8(ascii: "n"):
                guard reader.word("null") else { return nil }
                (shape, range) = (.absent, begin..<reader.index)
            default:
                while reader.index < line.endIndex, "+-0123456789.eE".utf8.contains(line[reader.index]) { reader.index += 1 }
                guard reader.index > begin else { return nil }
                (shape, range) = (.bytes, begin..<reader.index)
            }
            if let column = Self.column(named: line[name], escaped: nameEscaped, keys: keys, caseInsensitive: caseInsensitive) {
                ranges[column] = range
                shapes[column] = shape
            }
            reader.skipSpace()
            if reader.take(UInt8(ascii: ",")) { continue }
            if reader.take(UInt8(ascii: "}")) { return true }
            return nil
        }
    }

    static func column(named name: ArraySlice<UInt8>, escaped: Bool, keys: [[UInt8]], caseInsensitive: Bool) -> Int? {
        if escaped {
            // Rare: a member name with escapes is decoded, then matched.
            var reader = JSONLine.Reader(bytes: ArraySlice([UInt8(ascii: "\"")] + name + [UInt8(ascii: "\"")]), index: 0)
            guard let text = reader.string() else { return nil }
            let bytes = Array((caseInsensitive ? text.lowercased() : text).utf8)
            return keys.firstIndex(of: bytes)
        }
        outer: for (index, key) in keys.enumerated() where key.count == name.count {
            var position = name.startIndex
            for byte in key {
                var candidate = name[position]
                if caseInsensitive, candidate >= UInt8(ascii: "A"), candidate <= UInt8(ascii: "Z") { candidate += 32 }
                guard candidate == byte else { continue outer }
                position += 1
            }
            return index
        }
        return nil
    }
}

/// Values made straight from bytes, as SQLite results.
enum FastValues {
    /// Sets the result of a column from its bytes, as the column's kind reads them.
    static func emit(_ bytes: UnsafeBufferPointer<UInt8>, shape: LineFields.Shape, kind: ColumnKind, null: [UInt8]?, into context: OpaquePointer?) {
        switch shape {
        case .absent: return sqlite3_result_null(context)
        case .boolean(let flag):
            switch kind {
            case .text: return sqlite3_result_text(context, flag ? "true" : "false", -1, csqlite_transient())
            case .boolean, .integer: return sqlite3_result_int64(context, flag ? 1 : 0)
            default: return sqlite3_result_null(context)
            }
        case .nested:
            guard kind == .text else { return sqlite3_result_null(context) }
        case .escapedString:
            // Unescaped, then read as the kind reads text.
            var reader = JSONLine.Reader(bytes: ArraySlice([UInt8(ascii: "\"")] + Array(bytes) + [UInt8(ascii: "\"")]), index: 0)
            return result(reader.string().map { kind.value($0[...]) } ?? .null, into: context)
        case .bytes:
            break
        }
        if let null, bytes.elementsEqual(null) { return sqlite3_result_null(context) }
        switch kind {
        case .text:
            sqlite3_result_text(context, UnsafeRawPointer(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!).assumingMemoryBound(to: CChar.self), Int32(bytes.count), csqlite_transient())
        case .integer:
            if let value = integer(bytes) { sqlite3_result_int64(context, value) } else { sqlite3_result_null(context) }
        case .real, .decimal:
            if let value = double(bytes) { sqlite3_result_double(context, value) } else { sqlite3_result_null(context) }
        case .boolean:
            if bytes.count == 4, lowered(bytes) == Array("true".utf8) { return sqlite3_result_int64(context, 1) }
            if bytes.count == 5, lowered(bytes) == Array("false".utf8) { return sqlite3_result_int64(context, 0) }
            sqlite3_result_null(context)
        case .timestamp, .date:
            result(kind.value(Substring(String(decoding: bytes, as: UTF8.self))), into: context)
        }
    }

    static func result(_ value: FieldValue, into context: OpaquePointer?) {
        switch value {
        case .null: sqlite3_result_null(context)
        case .integer(let value): sqlite3_result_int64(context, value)
        case .real(let value): sqlite3_result_double(context, value)
        case .text(let text): sqlite3_result_text(context, text, -1, csqlite_transient())
        }
    }

    static func lowered(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        bytes.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }
    }

    static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var start = 0
        var end = bytes.count
        while start < end, bytes[start] == 32 || bytes[start] == 9 { start += 1 }
        while end > start, bytes[end - 1] == 32 || bytes[end - 1] == 9 { end -= 1 }
        return UnsafeBufferPointer(rebasing: bytes[start..<end])
    }

    /// A decimal integer (an optional sign, digits); nil for anything else or an overflow.
    static func integer(_ raw: UnsafeBufferPointer<UInt8>) -> Int64? {
        let bytes = trimmed(raw)
        guard !bytes.isEmpty else { return nil }
        var index = 0
        var negative = false
        if bytes[0] == UInt8(ascii: "-") || bytes[0] == UInt8(ascii: "+") {
            negative = bytes[0] == UInt8(ascii: "-")
            index = 1
        }
        guard index < bytes.count else { return nil }
        var value: Int64 = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (multiplied, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (added, overflow2) = multiplied.addingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { return nil }
            value = added
            index += 1
        }
        return negative ? -value : value
    }

    /// A number as strtod reads it, all of the bytes (trimmed) or nil.
    static func double(_ raw: UnsafeBufferPointer<UInt8>) -> Double? {
        let bytes = trimmed(raw)
        if let value = plainDecimal(bytes) { return value }
        guard !bytes.isEmpty, bytes.count < 128 else { return bytes.isEmpty ? nil : Double(String(decoding: bytes, as: UTF8.self)) }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: bytes.count + 1) { buffer -> Double? in
            for index in 0..<bytes.count { buffer[index] = CChar(bitPattern: bytes[index]) }
            buffer[bytes.count] = 0
            var end: UnsafeMutablePointer<CChar>?
            let value = strtod(buffer.baseAddress!, &end)
            guard let end, end == buffer.baseAddress! + bytes.count else { return nil }
            // strtod also reads hex, infinities and NaN; the SerDes read plain decimals only.
            let first = bytes[0]
            guard first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".") || (first &- UInt8(ascii: "0")) < 10 else { return nil }
            return value
        }
    }

    /// Powers of ten a Double holds exactly.
    private static let exactPowers: [Double] = (0...22).map { (0..<$0).reduce(1.0) { product, _ in product * 10 } }

    /// The common case without strtod: `[-+]digits[.digits]` with at most 15 digits. The digits
    /// as an integer and the power of ten are both exact in a Double, so one division rounds
    /// correctly, as strtod would. Anything else (more digits, exponents) is nil.
    static func plainDecimal(_ bytes: UnsafeBufferPointer<UInt8>) -> Double? {
        var index = 0
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            index = 1
        }
        var mantissa: Int64 = 0
        var digits = 0
        var fractionDigits = 0
        var seenPoint = false
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "."), !seenPoint {
                seenPoint = true
                continue
            }
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            digits += 1
            guard digits <= 15 else { return nil }
            mantissa = mantissa * 10 + Int64(digit)
            if seenPoint { fractionDigits += 1 }
        }
        guard digits > 0 else { return nil }
        let value = Double(mantissa) / exactPowers[fractionDigits]
        return negative ? -value : value
    }
}
