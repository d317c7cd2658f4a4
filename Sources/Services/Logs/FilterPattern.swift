import Foundation
#if canImport(Glibc)
import Glibc
#endif
import StevedoreCore

/// CloudWatch Logs' filter pattern syntax, parsed once and matched against each event's message:
/// - terms (all must appear; case-sensitive), `"quoted phrases"`, `?alternatives` (one of them
///   must appear), `-exclusions` (none may);
/// - JSON: `{ $.field = value }` with `=`, `!=`, `<`, `>`, `<=`, `>=`, `*` wildcards in strings,
///   `IS NULL`, `IS TRUE`/`IS FALSE`, `EXISTS`/`NOT EXISTS`, `&&`, `||` and parentheses;
/// - space-delimited: `[ip, user, ..., status = 4*, size > 1000]`, fields split on spaces (quoted
///   and bracketed fields stay whole), `...` for any number of fields, conditions joined by `&&`/`||`.
public indirect enum FilterPattern: Sendable, Equatable {
    case everything
    case terms(required: [String], alternatives: [String], excluded: [String])
    case json(JSONCondition)
    case delimited(fields: [DelimitedField], condition: DelimitedCondition?)

    public struct ParseError: Error, Equatable {
        public let message: String
    }

    /// CloudWatch Logs' limit on a pattern's length.
    public static let maximumLength = 1024
    /// How deep parentheses may nest.
    static let maximumDepth = 32

    public static func parse(_ text: String) throws(ParseError) -> FilterPattern {
        guard text.count <= maximumLength else {
            throw ParseError(
                message: "1 validation error detected: Value '\(text.prefix(64))…' at 'filterPattern' failed to satisfy constraint: Member must have length less than or equal to 1024")
        }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed == "\"\"" { return .everything }
        if trimmed.hasPrefix("{") {
            guard trimmed.hasSuffix("}") else { throw ParseError(message: "Invalid character(s) in term '\(trimmed)'") }
            var parser = ConditionParser(tokens: try tokenize(String(trimmed.dropFirst().dropLast())))
            let condition = try parser.jsonExpression()
            guard parser.atEnd else { throw ParseError(message: "Invalid metric filter pattern: \(trimmed)") }
            return .json(condition)
        }
        if trimmed.hasPrefix("[") {
            guard trimmed.hasSuffix("]") else { throw ParseError(message: "Invalid character(s) in term '\(trimmed)'") }
            return try delimited(String(trimmed.dropFirst().dropLast()))
        }
        var required: [String] = []
        var alternatives: [String] = []
        var excluded: [String] = []
        for word in try words(trimmed) {
            if word.hasPrefix("?"), word.count > 1 {
                alternatives.append(unquote(String(word.dropFirst())))
            } else if word.hasPrefix("-"), word.count > 1 {
                excluded.append(unquote(String(word.dropFirst())))
            } else {
                required.append(unquote(word))
            }
        }
        return .terms(required: required, alternatives: alternatives, excluded: excluded)
    }

    /// The pattern ready to match raw event bytes: terms are searched in the bytes themselves (no
    /// text is made of events that do not match); other patterns read the text.
    public func compiled() -> CompiledFilterPattern { CompiledFilterPattern(self) }

    public func matches(_ message: String) -> Bool {
        switch self {
        case .everything:
            return true
        case .terms(let required, let alternatives, let excluded):
            return required.allSatisfy { message.contains($0) }
                && (alternatives.isEmpty || alternatives.contains { message.contains($0) })
                && !excluded.contains { message.contains($0) }
        case .json(let condition):
            guard let data = message.data(using: .utf8), let value = try? JSONDecoder().decode(JSONValue.self, from: data) else { return false }
            return condition.holds(in: value)
        case .delimited(let fields, let condition):
            guard let values = Self.bind(fields, to: Self.splitFields(message)) else { return false }
            return condition?.holds(values) ?? true
        }
    }

    // MARK: Words and tokens

    /// Space-separated words; a double-quoted part stays whole, its quotes kept.
    static func words(_ text: String) throws(ParseError) -> [String] {
        var words: [String] = []
        var current = ""
        var quoted = false
        for character in text {
            if character == "\"" { quoted.toggle() }
            if character == " " && !quoted {
                if !current.isEmpty { words.append(current) }
                current = ""
            } else {
                current.append(character)
            }
        }
        guard !quoted else { throw ParseError(message: "Invalid filter pattern: unbalanced quotes in \(text)") }
        if !current.isEmpty { words.append(current) }
        return words
    }

    static func unquote(_ word: String) -> String {
        word.count >= 2 && word.hasPrefix("\"") && word.hasSuffix("\"") ? String(word.dropFirst().dropLast()) : word
    }

    enum Token: Equatable {
        case word(String)
        case quoted(String)
        case symbol(String)
    }

    /// Words, quoted strings, and the symbols `( ) , && || = != < > <= >=`.
    static func tokenize(_ text: String) throws(ParseError) -> [Token] {
        var tokens: [Token] = []
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character == " " || character == "\t" {
                index += 1
            } else if character == "\"" {
                var end = index + 1
                var value = ""
                while end < characters.count, characters[end] != "\"" {
                    if characters[end] == "\\", end + 1 < characters.count { end += 1 }
                    value.append(characters[end])
                    end += 1
                }
                guard end < characters.count else { throw ParseError(message: "Invalid filter pattern: unbalanced quotes in \(text)") }
                tokens.append(.quoted(value))
                index = end + 1
            } else if let symbol = ["&&", "||", "!=", "<=", ">=", "=", "<", ">", "(", ")", ","].first(where: { symbol in
                index + symbol.count <= characters.count && String(characters[index..<index + symbol.count]) == symbol
            }) {
                tokens.append(.symbol(symbol))
                index += symbol.count
            } else {
                var end = index
                var value = ""
                while end < characters.count, !" \t\"()=!<>,&|".contains(characters[end]) {
                    value.append(characters[end])
                    end += 1
                }
                guard !value.isEmpty else { throw ParseError(message: "Invalid character(s) in term '\(character)'") }
                tokens.append(.word(value))
                index = end
            }
        }
        return tokens
    }

    // MARK: Space-delimited

    public enum DelimitedField: Sendable, Equatable {
        case named(String)
        /// `...`: any number of fields.
        case rest(String?)
    }

    static func delimited(_ body: String) throws(ParseError) -> FilterPattern {
        var fields: [DelimitedField] = []
        var conditions: [DelimitedCondition] = []
        for part in splitTopLevel(body, on: ",") {
            let text = part.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { throw ParseError(message: "Invalid filter pattern: an empty field in [\(body)]") }
            if text == "..." {
                fields.append(.rest(nil))
                continue
            }
            var parser = ConditionParser(tokens: try tokenize(text))
            guard case .word(let name)? = parser.peek else { throw ParseError(message: "Invalid filter pattern: field \(text)") }
            if parser.tokens.count == 1 {
                fields.append(name == "..." ? .rest(nil) : .named(name))
                continue
            }
            fields.append(.named(name))
            let condition = try parser.delimitedExpression()
            guard parser.atEnd else { throw ParseError(message: "Invalid filter pattern: field \(text)") }
            conditions.append(condition)
        }
        let condition = conditions.dropFirst().reduce(conditions.first) { joined, next in joined.map { .and($0, next) } }
        return .delimited(fields: fields, condition: condition)
    }

    /// Parts of `text` split on `separator` outside quotes and brackets.
    static func splitTopLevel(_ text: String, on separator: Character) -> [String] {
        var parts: [String] = []
        var current = ""
        var quoted = false
        var depth = 0
        for character in text {
            if character == "\"" { quoted.toggle() }
            if !quoted {
                if character == "[" || character == "(" { depth += 1 }
                if character == "]" || character == ")" { depth -= 1 }
            }
            if character == separator && !quoted && depth == 0 {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        return parts
    }

    /// A message's fields: split on spaces, a `"quoted"` or `[bracketed]` field kept whole (without its quotes or brackets).
    static func splitFields(_ message: String) -> [String] {
        // By bytes: the delimiters are ASCII, and a field is made once, when it ends.
        let bytes = Array(message.utf8)
        var fields: [String] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: " ") {
                index += 1
                continue
            }
            let closing: UInt8? = byte == UInt8(ascii: "\"") ? UInt8(ascii: "\"") : byte == UInt8(ascii: "[") ? UInt8(ascii: "]") : nil
            var end = index + (closing == nil ? 0 : 1)
            let start = end
            if let closing {
                while end < bytes.count, bytes[end] != closing { end += 1 }
                fields.append(String(decoding: bytes[start..<end], as: UTF8.self))
                // After the closing quote or bracket, the field's end.
                index = end + 1
                while index < bytes.count, bytes[index] != UInt8(ascii: " ") { index += 1 }
            } else {
                while end < bytes.count, bytes[end] != UInt8(ascii: " ") { end += 1 }
                fields.append(String(decoding: bytes[start..<end], as: UTF8.self))
                index = end
            }
        }
        return fields
    }

    /// The message's fields by the pattern's names; nil when the counts cannot line up.
    static func bind(_ pattern: [DelimitedField], to fields: [String]) -> [String: String]? {
        guard let rest = pattern.firstIndex(where: { if case .rest = $0 { true } else { false } }) else {
            guard pattern.count == fields.count else { return nil }
            return Dictionary(zip(pattern.map(\.name), fields), uniquingKeysWith: { first, _ in first })
        }
        let before = pattern[..<rest]
        let after = pattern[(rest + 1)...]
        guard fields.count >= before.count + after.count else { return nil }
        var values: [String: String] = [:]
        for (field, value) in zip(before, fields) { values[field.name] = values[field.name] ?? value }
        for (field, value) in zip(after, fields.suffix(after.count)) { values[field.name] = values[field.name] ?? value }
        return values
    }
}

extension FilterPattern.DelimitedField {
    var name: String {
        switch self {
        case .named(let name): name
        case .rest(let name): name ?? "..."
        }
    }
}

/// A comparison's operator and the value it compares with.
public enum Comparison: String, Sendable {
    case equal = "=", notEqual = "!=", less = "<", greater = ">", lessOrEqual = "<=", greaterOrEqual = ">="

    /// A field's text against the pattern's value: numerically when both are numbers, else as
    /// text (`=` and `!=` only, `*` a wildcard).
    func holds(_ actual: String, _ expected: String, expectedIsNumber: Bool) -> Bool {
        if expectedIsNumber, let number = Double(expected) {
            guard let value = Double(actual) else { return self == .notEqual }
            switch self {
            case .equal: return value == number
            case .notEqual: return value != number
            case .less: return value < number
            case .greater: return value > number
            case .lessOrEqual: return value <= number
            case .greaterOrEqual: return value >= number
            }
        }
        let matched = Wildcard.matches(actual, expected)
        switch self {
        case .equal: return matched
        case .notEqual: return !matched
        default: return false
        }
    }
}

enum Wildcard {
    /// `*` matches any run of characters; everything else itself.
    static func matches(_ text: String, _ pattern: String) -> Bool {
        guard pattern.contains("*") else { return text == pattern }
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false)
        var rest = Substring(text)
        for (index, part) in parts.enumerated() {
            if index == 0 {
                guard rest.hasPrefix(part) else { return false }
                rest = rest.dropFirst(part.count)
            } else if index == parts.count - 1 {
                return part.isEmpty || rest.hasSuffix(part)
            } else if !part.isEmpty {
                guard let range = rest.range(of: part) else { return false }
                rest = rest[range.upperBound...]
            }
        }
        return true
    }
}

/// A JSON pattern's condition.
public indirect enum JSONCondition: Sendable, Equatable {
    case compare(path: [JSONPathStep], Comparison, value: String, isNumber: Bool)
    case isNull([JSONPathStep])
    case isBoolean([JSONPathStep], Bool)
    case exists([JSONPathStep], Bool)
    case and(JSONCondition, JSONCondition)
    case or(JSONCondition, JSONCondition)

    func holds(in document: JSONValue) -> Bool {
        switch self {
        case .and(let left, let right): return left.holds(in: document) && right.holds(in: document)
        case .or(let left, let right): return left.holds(in: document) || right.holds(in: document)
        case .exists(let path, let wanted): return (JSONPathStep.resolve(path, in: document) != nil) == wanted
        case .isNull(let path): return JSONPathStep.resolve(path, in: document) == .null
        case .isBoolean(let path, let wanted): return JSONPathStep.resolve(path, in: document) == .bool(wanted)
        case .compare(let path, let comparison, let value, let isNumber):
            switch JSONPathStep.resolve(path, in: document) {
            case .string(let text)?: return comparison.holds(text, value, expectedIsNumber: false)
            case .number(let number)?:
                return isNumber ? comparison.holds(String(number), value, expectedIsNumber: true) : comparison == .notEqual
            case .bool(let flag)?: return comparison.holds(String(flag), value, expectedIsNumber: false)
            case nil, .null?, .array?, .object?: return comparison == .notEqual && JSONPathStep.resolve(path, in: document) != nil
            }
        }
    }
}

public enum JSONPathStep: Sendable, Equatable {
    case member(String)
    case index(Int)

    /// `$.a.b[0].c`, `$.a[*]`-free: members and array indexes.
    static func parse(_ text: String) throws(FilterPattern.ParseError) -> [JSONPathStep] {
        guard text.hasPrefix("$") else { throw FilterPattern.ParseError(message: "Invalid selector: \(text) (selectors start with $.)") }
        var steps: [JSONPathStep] = []
        var rest = Substring(text.dropFirst())
        while !rest.isEmpty {
            if rest.hasPrefix(".") {
                rest = rest.dropFirst()
                let name = rest.prefix { $0 != "." && $0 != "[" }
                guard !name.isEmpty else { throw FilterPattern.ParseError(message: "Invalid selector: \(text)") }
                steps.append(.member(String(name)))
                rest = rest.dropFirst(name.count)
            } else if rest.hasPrefix("["), let close = rest.firstIndex(of: "]"), let index = Int(rest[rest.index(after: rest.startIndex)..<close]) {
                steps.append(.index(index))
                rest = rest[rest.index(after: close)...]
            } else {
                throw FilterPattern.ParseError(message: "Invalid selector: \(text)")
            }
        }
        return steps
    }

    static func resolve(_ path: [JSONPathStep], in document: JSONValue) -> JSONValue? {
        var current = document
        for step in path {
            switch (step, current) {
            case (.member(let name), .object(let members)):
                guard let next = members[name] else { return nil }
                current = next
            case (.index(let index), .array(let items)):
                guard items.indices.contains(index) else { return nil }
                current = items[index]
            default:
                return nil
            }
        }
        return current
    }
}

/// A space-delimited pattern's conditions on its named fields.
public indirect enum DelimitedCondition: Sendable, Equatable {
    case compare(field: String, Comparison, value: String, isNumber: Bool)
    case and(DelimitedCondition, DelimitedCondition)
    case or(DelimitedCondition, DelimitedCondition)

    func holds(_ values: [String: String]) -> Bool {
        switch self {
        case .and(let left, let right): left.holds(values) && right.holds(values)
        case .or(let left, let right): left.holds(values) || right.holds(values)
        case .compare(let field, let comparison, let value, let isNumber):
            values[field].map { comparison.holds($0, value, expectedIsNumber: isNumber) } ?? false
        }
    }
}

/// Conditions joined by `&&` (binding tighter) and `||`, with parentheses.
struct ConditionParser {
    let tokens: [FilterPattern.Token]
    var position = 0
    var depth = 0

    init(tokens: [FilterPattern.Token]) { self.tokens = tokens }

    var peek: FilterPattern.Token? { position < tokens.count ? tokens[position] : nil }
    var atEnd: Bool { position == tokens.count }

    mutating func next() -> FilterPattern.Token? {
        defer { position += 1 }
        return peek
    }

    mutating func deeper() throws(FilterPattern.ParseError) {
        depth += 1
        guard depth <= FilterPattern.maximumDepth else {
            throw FilterPattern.ParseError(message: "Invalid filter pattern: parentheses nest more than \(FilterPattern.maximumDepth) deep")
        }
    }

    mutating func expect(_ symbol: String) throws(FilterPattern.ParseError) {
        guard next() == .symbol(symbol) else { throw FilterPattern.ParseError(message: "Invalid filter pattern: expected \(symbol)") }
    }

    mutating func jsonExpression() throws(FilterPattern.ParseError) -> JSONCondition {
        var left = try jsonConjunction()
        while peek == .symbol("||") {
            position += 1
            left = .or(left, try jsonConjunction())
        }
        return left
    }

    mutating func jsonConjunction() throws(FilterPattern.ParseError) -> JSONCondition {
        var left = try jsonTerm()
        while peek == .symbol("&&") {
            position += 1
            left = .and(left, try jsonTerm())
        }
        return left
    }

    mutating func jsonTerm() throws(FilterPattern.ParseError) -> JSONCondition {
        if peek == .symbol("(") {
            position += 1
            try deeper()
            defer { depth -= 1 }
            let inner = try jsonExpression()
            try expect(")")
            return inner
        }
        guard case .word(let selector)? = next() else { throw FilterPattern.ParseError(message: "Invalid filter pattern: expected a $. selector") }
        let path = try JSONPathStep.parse(selector)
        switch next() {
        case .word(let word)? where word.uppercased() == "IS":
            switch next() {
            case .word(let what)? where what.uppercased() == "NULL": return .isNull(path)
            case .word(let what)? where what.uppercased() == "TRUE": return .isBoolean(path, true)
            case .word(let what)? where what.uppercased() == "FALSE": return .isBoolean(path, false)
            default: throw FilterPattern.ParseError(message: "Invalid filter pattern: IS takes NULL, TRUE or FALSE")
            }
        case .word(let word)? where word.uppercased() == "EXISTS":
            return .exists(path, true)
        case .word(let word)? where word.uppercased() == "NOT":
            guard case .word(let what)? = next(), what.uppercased() == "EXISTS" else {
                throw FilterPattern.ParseError(message: "Invalid filter pattern: NOT takes EXISTS")
            }
            return .exists(path, false)
        case .symbol(let symbol)?:
            guard let comparison = Comparison(rawValue: symbol) else { throw FilterPattern.ParseError(message: "Invalid filter pattern: \(symbol)") }
            let (value, isNumber) = try operand(for: comparison)
            return .compare(path: path, comparison, value: value, isNumber: isNumber)
        default:
            throw FilterPattern.ParseError(message: "Invalid filter pattern: expected a comparison after \(selector)")
        }
    }

    mutating func delimitedExpression() throws(FilterPattern.ParseError) -> DelimitedCondition {
        var left = try delimitedConjunction()
        while peek == .symbol("||") {
            position += 1
            left = .or(left, try delimitedConjunction())
        }
        return left
    }

    mutating func delimitedConjunction() throws(FilterPattern.ParseError) -> DelimitedCondition {
        var left = try delimitedTerm()
        while peek == .symbol("&&") {
            position += 1
            left = .and(left, try delimitedTerm())
        }
        return left
    }

    mutating func delimitedTerm() throws(FilterPattern.ParseError) -> DelimitedCondition {
        if peek == .symbol("(") {
            position += 1
            try deeper()
            defer { depth -= 1 }
            let inner = try delimitedExpression()
            try expect(")")
            return inner
        }
        guard case .word(let field)? = next(), case .symbol(let symbol)? = next(), let comparison = Comparison(rawValue: symbol) else {
            throw FilterPattern.ParseError(message: "Invalid filter pattern: expected a field, an operator and a value")
        }
        let (value, isNumber) = try operand(for: comparison)
        return .compare(field: field, comparison, value: value, isNumber: isNumber)
    }

    /// The value after an operator: a number, a word (with `*` wildcards) or a quoted string.
    /// Ordering operators take numbers only.
    mutating func operand(for comparison: Comparison) throws(FilterPattern.ParseError) -> (String, Bool) {
        switch next() {
        case .word(let word)?:
            let isNumber = Double(word) != nil
            guard isNumber || comparison == .equal || comparison == .notEqual else {
                throw FilterPattern.ParseError(message: "Invalid filter pattern: \(comparison.rawValue) compares numbers, not \(word)")
            }
            return (word, isNumber)
        case .quoted(let text)?:
            guard comparison == .equal || comparison == .notEqual else {
                throw FilterPattern.ParseError(message: "Invalid filter pattern: \(comparison.rawValue) compares numbers, not \"\(text)\"")
            }
            return (text, false)
        default:
            throw FilterPattern.ParseError(message: "Invalid filter pattern: a value must follow \(comparison.rawValue)")
        }
    }
}

/// A filter pattern for matching events as the store holds them (UTF-8 bytes).
public struct CompiledFilterPattern: Sendable {
    let pattern: FilterPattern
    let required: [[UInt8]]
    let alternatives: [[UInt8]]
    let excluded: [[UInt8]]

    init(_ pattern: FilterPattern) {
        self.pattern = pattern
        if case .terms(let required, let alternatives, let excluded) = pattern {
            self.required = required.map { Array($0.utf8) }
            self.alternatives = alternatives.map { Array($0.utf8) }
            self.excluded = excluded.map { Array($0.utf8) }
        } else {
            (required, alternatives, excluded) = ([], [], [])
        }
    }

    public func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        switch pattern {
        case .everything:
            return true
        case .terms:
            return required.allSatisfy { Self.contains(bytes, $0) } && (alternatives.isEmpty || alternatives.contains { Self.contains(bytes, $0) })
                && !excluded.contains { Self.contains(bytes, $0) }
        default:
            return pattern.matches(String(decoding: bytes, as: UTF8.self))
        }
    }

    static func contains(_ bytes: UnsafeRawBufferPointer, _ term: [UInt8]) -> Bool {
        guard !term.isEmpty else { return true }
        guard let base = bytes.baseAddress, bytes.count >= term.count else { return false }
        return term.withUnsafeBytes { needle in
            // The term's first byte found by memchr, the rest compared: memmem without _GNU_SOURCE.
            var offset = 0
            let last = bytes.count - term.count
            while offset <= last {
                guard let hit = memchr(base + offset, Int32(term[0]), last - offset + 1) else { return false }
                if memcmp(hit, needle.baseAddress!, term.count) == 0 { return true }
                offset = base.distance(to: UnsafeRawPointer(hit)) + 1
            }
            return false
        }
    }
}
