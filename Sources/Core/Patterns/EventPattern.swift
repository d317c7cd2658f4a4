#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An EventBridge event pattern, parsed once (at PutRule) and matched against every event. (Lambda's
/// event source mappings filter records with the same patterns.)
///
/// A pattern is a JSON object whose fields either nest (an object: match inside the event's
/// object) or end in an array of matchers, any of which may match. Matchers are literals
/// (strings, numbers, booleans, null) or one-key objects: `prefix`, `suffix`, `anything-but`,
/// `numeric`, `exists`, `wildcard`, `equals-ignore-case`, `cidr`. `$or` takes alternative
/// patterns for the object it sits in. Where the event holds an array, any element may match.
public struct EventPattern: Sendable, Equatable {
    let root: ObjectPattern

    /// The most bytes a pattern may have (EventBridge's 4096-character limit on `EventPattern`).
    public static let maximumLength = 4096

    public struct ParseError: Error, Sendable, Equatable {
        public var reason: String
        /// The message EventBridge gives (`InvalidEventPatternException`).
        public var message: String { "Event pattern is not valid. Reason: \(reason)" }
    }

    public static func parse(_ text: String) throws(ParseError) -> EventPattern {
        guard text.utf8.count <= maximumLength else {
            throw ParseError(reason: "Event pattern is longer than \(maximumLength) characters")
        }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        } catch {
            throw ParseError(reason: "Filter is not valid JSON")
        }
        guard case .object(let fields) = value else { throw ParseError(reason: "Filter is not an object") }
        guard !fields.isEmpty else { throw ParseError(reason: "Empty objects are not allowed") }
        return EventPattern(root: try ObjectPattern(fields, path: ""))
    }

    /// Whether some event with this top-level field value could match (a rule that names other
    /// sources cannot; one that names none can).
    public func mightMatch(field: String, value: JSONValue) -> Bool { root.mightMatch(field: field, value: value) }

    /// Whether the event (a JSON object: `source`, `detail-type`, `detail`…) matches.
    public func matches(_ event: JSONValue) -> Bool {
        guard case .object(let fields) = event else { return false }
        return root.matches(fields)
    }
}

/// The fields an object must match, and its `$or` alternatives.
struct ObjectPattern: Sendable, Equatable {
    var fields: [(name: String, pattern: FieldPattern)]
    /// Each entry is one `$or`: at least one of its patterns must match the object.
    var alternatives: [[ObjectPattern]]

    init(_ object: [String: JSONValue], path: String) throws(EventPattern.ParseError) {
        fields = []
        alternatives = []
        for name in object.keys.sorted() {
            let value = object[name]!
            let here = path.isEmpty ? name : "\(path).\(name)"
            if name == "$or" {
                guard case .array(let choices) = value, choices.count >= 2 else {
                    throw EventPattern.ParseError(reason: "There must have at least 2 Objects in $or relationship.")
                }
                var parsed: [ObjectPattern] = []
                for choice in choices {
                    guard case .object(let inner) = choice, !inner.isEmpty else {
                        throw EventPattern.ParseError(reason: "There must have at least 2 Objects in $or relationship.")
                    }
                    parsed.append(try ObjectPattern(inner, path: path))
                }
                alternatives.append(parsed)
                continue
            }
            switch value {
            case .object(let inner):
                guard !inner.isEmpty else { throw EventPattern.ParseError(reason: "Empty objects are not allowed") }
                fields.append((name, .object(try ObjectPattern(inner, path: here))))
            case .array(let matchers):
                guard !matchers.isEmpty else { throw EventPattern.ParseError(reason: "Empty arrays are not allowed") }
                fields.append((name, .leaf(try matchers.map { value throws(EventPattern.ParseError) in try Matcher(value, path: here) })))
            default:
                throw EventPattern.ParseError(reason: "\"\(name)\" must be an object or an array")
            }
        }
    }

    static func == (lhs: ObjectPattern, rhs: ObjectPattern) -> Bool {
        lhs.fields.map(\.name) == rhs.fields.map(\.name) && lhs.fields.map(\.pattern) == rhs.fields.map(\.pattern)
            && lhs.alternatives == rhs.alternatives
    }

    func mightMatch(field: String, value: JSONValue) -> Bool {
        for (name, pattern) in fields where name == field {
            if case .leaf(let matchers) = pattern, !matchers.contains(where: { $0.matches(value) }) { return false }
        }
        for choices in alternatives where !choices.contains(where: { $0.mightMatch(field: field, value: value) }) { return false }
        return true
    }

    func matches(_ object: [String: JSONValue]) -> Bool {
        for (name, pattern) in fields where !pattern.matches(object[name]) { return false }
        for choices in alternatives where !choices.contains(where: { $0.matches(object) }) { return false }
        return true
    }
}

indirect enum FieldPattern: Sendable, Equatable {
    case object(ObjectPattern)
    case leaf([Matcher])

    func matches(_ value: JSONValue?) -> Bool {
        switch self {
        case .object(let pattern):
            switch value {
            // An absent object is matched as an empty one (so `exists: false` inside it holds).
            case nil: return pattern.matches([:])
            case .object(let inner): return pattern.matches(inner)
            case .array(let elements):
                return elements.contains { element in
                    if case .object(let inner) = element { return pattern.matches(inner) }
                    return false
                }
            default: return false
            }
        case .leaf(let matchers):
            return matchers.contains { $0.matches(value) }
        }
    }
}

/// One matcher of a leaf's array.
enum Matcher: Sendable, Equatable {
    case exact(JSONValue)
    case prefix(String, ignoringCase: Bool)
    case suffix(String, ignoringCase: Bool)
    case equalsIgnoringCase(String)
    case wildcard(String)
    /// Matches a present value none of the inner matchers match.
    case anythingBut([Matcher])
    /// Every bound must hold: (operator, number).
    case numeric([NumericBound])
    case exists(Bool)
    case cidr(CIDRBlock)

    struct NumericBound: Sendable, Equatable {
        enum Relation: String, Sendable { case equal = "=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=" }
        var relation: Relation
        var value: Double
    }

    /// EventBridge's range for numbers in patterns.
    static let numericRange = -5.0e9...5.0e9

    init(_ value: JSONValue, path: String) throws(EventPattern.ParseError) {
        func invalid(_ reason: String) -> EventPattern.ParseError { EventPattern.ParseError(reason: reason) }
        switch value {
        case .string, .bool, .null:
            self = .exact(value)
        case .number(let number):
            guard Self.numericRange.contains(number) else { throw invalid("Value \(number) is outside the range \(Self.numericRange)") }
            self = .exact(value)
        case .array:
            throw invalid("Match value must be String, number, true, false, or null")
        case .object(let object):
            guard object.count == 1, let (name, operand) = object.first else {
                throw invalid("Only one key allowed in match expression")
            }
            switch name {
            case "prefix", "suffix":
                let ignoringCase: Bool
                let text: String
                switch operand {
                case .string(let value): (text, ignoringCase) = (value, false)
                case .object(let inner) where inner.count == 1:
                    guard case .string(let value)? = inner["equals-ignore-case"] else { throw invalid("\(name) match pattern must be a string") }
                    (text, ignoringCase) = (value, true)
                default: throw invalid("\(name) match pattern must be a string")
                }
                self = name == "prefix" ? .prefix(text, ignoringCase: ignoringCase) : .suffix(text, ignoringCase: ignoringCase)
            case "equals-ignore-case":
                guard case .string(let text) = operand else { throw invalid("equals-ignore-case match pattern must be a string") }
                self = .equalsIgnoringCase(text)
            case "wildcard":
                guard case .string(let text) = operand else { throw invalid("wildcard match pattern must be a string") }
                let characters = Array(text)
                if let position = characters.indices.dropFirst().first(where: { characters[$0] == "*" && characters[$0 - 1] == "*" }) {
                    throw invalid("Consecutive wildcard characters at pos \(position)")
                }
                self = .wildcard(text)
            case "exists":
                guard case .bool(let present) = operand else { throw invalid("exists match pattern must be either true or false.") }
                self = .exists(present)
            case "numeric":
                self = .numeric(try Self.numericBounds(operand, invalid: invalid))
            case "cidr":
                guard case .string(let text) = operand, let block = CIDRBlock(text) else { throw invalid("Malformed CIDR, one '/' required") }
                self = .cidr(block)
            case "anything-but":
                switch operand {
                case .string, .number:
                    self = .anythingBut([try Matcher(operand, path: path)])
                case .array(let values):
                    guard !values.isEmpty else { throw invalid("Empty arrays are not allowed") }
                    var inner: [Matcher] = []
                    for value in values {
                        switch value {
                        case .string, .number: inner.append(try Matcher(value, path: path))
                        default: throw invalid("Inside anything but list, start|null|boolean is not supported.")
                        }
                    }
                    self = .anythingBut(inner)
                case .object(let inner) where inner.count == 1:
                    guard let (key, text) = inner.first, ["prefix", "suffix", "equals-ignore-case", "wildcard"].contains(key) else {
                        throw invalid("Unsupported anything-but pattern: \(inner.keys.first ?? "")")
                    }
                    guard case .string(let value) = text else { throw invalid("Value of anything-but must be an array or single string/number value.") }
                    if value.isEmpty, key == "prefix" || key == "suffix" { throw invalid("Null prefix/suffix not allowed") }
                    self = .anythingBut([try Matcher(operand, path: path)])
                default:
                    throw invalid("Value of anything-but must be an array or single string/number value.")
                }
            default:
                throw invalid("Unrecognized match type \(name)")
            }
        }
    }

    private static func numericBounds(_ operand: JSONValue, invalid: (String) -> EventPattern.ParseError) throws(EventPattern.ParseError)
        -> [NumericBound]
    {
        guard case .array(let items) = operand, !items.isEmpty else { throw invalid("Value of numeric must be an array.") }
        var bounds: [NumericBound] = []
        var index = 0
        while index < items.count {
            guard case .string(let symbol) = items[index] else { throw invalid("Invalid member in numeric match: \(items[index])") }
            guard let relation = NumericBound.Relation(rawValue: symbol) else { throw invalid("Unrecognized numeric range operator: \(symbol)") }
            guard index + 1 < items.count, case .number(let number) = items[index + 1] else { throw invalid("Value of \(symbol) must be numeric") }
            guard numericRange.contains(number) else { throw invalid("Bad value in numeric range: \(number)") }
            // A lower bound first, then an upper one; `=` alone.
            if let previous = bounds.last {
                let lowerThenUpper = (previous.relation == .greater || previous.relation == .greaterOrEqual)
                    && (relation == .less || relation == .lessOrEqual)
                guard lowerThenUpper else {
                    if previous.relation == .greater || previous.relation == .greaterOrEqual { throw invalid("Bad numeric range operator: \(symbol)") }
                    throw invalid("Too many elements in numeric expression")
                }
                guard previous.value < number else { throw invalid("Bottom must be less than top") }
            }
            guard bounds.count < 2 else { throw invalid("Too many terms in numeric range expression") }
            bounds.append(NumericBound(relation: relation, value: number))
            index += 2
        }
        return bounds
    }

    /// Whether this matcher takes the event's value (nil: the field is absent).
    func matches(_ value: JSONValue?) -> Bool {
        switch self {
        case .exists(let wanted):
            guard let value else { return !wanted }
            // `exists` looks at leaves: an object is not one; an empty array holds none.
            switch value {
            case .object: return !wanted
            case .array(let elements): return elements.contains { if case .object = $0 { return false } else { return true } } == wanted
            default: return wanted
            }
        case .anythingBut(let excluded):
            guard let value else { return false }
            if case .array(let elements) = value {
                // Every element must escape the exclusions (none of them may be excluded).
                return !elements.isEmpty && elements.allSatisfy { element in !excluded.contains { $0.matchesLeaf(element) } && element.isLeaf }
            }
            guard value.isLeaf else { return false }
            return !excluded.contains { $0.matchesLeaf(value) }
        default:
            guard let value else { return false }
            if case .array(let elements) = value { return elements.contains { matchesLeaf($0) } }
            return matchesLeaf(value)
        }
    }

    /// Whether this matcher takes one scalar of the event.
    func matchesLeaf(_ value: JSONValue) -> Bool {
        switch self {
        case .exact(let expected):
            return expected == value
        case .prefix(let prefix, let ignoringCase):
            guard case .string(let text) = value else { return false }
            return ignoringCase ? text.lowercased().hasPrefix(prefix.lowercased()) : text.hasPrefix(prefix)
        case .suffix(let suffix, let ignoringCase):
            guard case .string(let text) = value else { return false }
            return ignoringCase ? text.lowercased().hasSuffix(suffix.lowercased()) : text.hasSuffix(suffix)
        case .equalsIgnoringCase(let expected):
            guard case .string(let text) = value else { return false }
            return text.lowercased() == expected.lowercased()
        case .wildcard(let pattern):
            guard case .string(let text) = value else { return false }
            return Self.wildcardMatches(Array(pattern.unicodeScalars), Array(text.unicodeScalars))
        case .numeric(let bounds):
            guard case .number(let number) = value else { return false }
            return bounds.allSatisfy { bound in
                switch bound.relation {
                case .equal: number == bound.value
                case .less: number < bound.value
                case .lessOrEqual: number <= bound.value
                case .greater: number > bound.value
                case .greaterOrEqual: number >= bound.value
                }
            }
        case .cidr(let block):
            guard case .string(let text) = value else { return false }
            return block.contains(text)
        case .anythingBut, .exists:
            return matches(value)
        }
    }

    /// `*` matches any run of characters; `\*` is a literal star (and `\\` a backslash). In time
    /// linear in the text: the literal runs between stars are found leftmost, one after another
    /// (which is enough: a leftmost match never rules out a later one).
    static func wildcardMatches(_ pattern: [Unicode.Scalar], _ text: [Unicode.Scalar]) -> Bool {
        var segments: [[Unicode.Scalar]] = [[]]
        var index = 0
        while index < pattern.count {
            if pattern[index] == "\\", index + 1 < pattern.count {
                segments[segments.count - 1].append(pattern[index + 1])
                index += 2
            } else if pattern[index] == "*" {
                segments.append([])
                index += 1
            } else {
                segments[segments.count - 1].append(pattern[index])
                index += 1
            }
        }
        // No star: the whole text.
        guard segments.count > 1 else { return segments[0] == text }
        let first = segments[0]
        let last = segments[segments.count - 1]
        guard text.count >= first.count + last.count, text.starts(with: first), text.suffix(last.count).elementsEqual(last) else { return false }
        var position = first.count
        let end = text.count - last.count
        for segment in segments.dropFirst().dropLast() where !segment.isEmpty {
            guard let found = firstIndex(of: segment, in: text, from: position, to: end) else { return false }
            position = found + segment.count
        }
        return true
    }

    /// Where `needle` first occurs in `text[from..<to]` (Knuth-Morris-Pratt: linear).
    static func firstIndex(of needle: [Unicode.Scalar], in text: [Unicode.Scalar], from: Int, to: Int) -> Int? {
        var failure = [Int](repeating: 0, count: needle.count)
        var length = 0
        for index in needle.indices.dropFirst() {
            while length > 0, needle[index] != needle[length] { length = failure[length - 1] }
            if needle[index] == needle[length] { length += 1 }
            failure[index] = length
        }
        var matched = 0
        var index = from
        while index < to {
            while matched > 0, text[index] != needle[matched] { matched = failure[matched - 1] }
            if text[index] == needle[matched] { matched += 1 }
            if matched == needle.count { return index - needle.count + 1 }
            index += 1
        }
        return nil
    }
}

extension JSONValue {
    /// A scalar: not an object or array.
    public var isLeaf: Bool {
        switch self {
        case .object, .array: false
        default: true
        }
    }
}

/// An IPv4 or IPv6 block, for `cidr` matching.
struct CIDRBlock: Sendable, Equatable {
    var address: [UInt8]
    var prefixLength: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let length = Int(parts[1]), let address = Self.bytes(String(parts[0])), (0...address.count * 8).contains(length)
        else { return nil }
        self.address = address
        prefixLength = length
    }

    func contains(_ text: String) -> Bool {
        guard let candidate = Self.bytes(text), candidate.count == address.count else { return false }
        var remaining = prefixLength
        for index in address.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if candidate[index] & mask != address[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    /// The address's bytes: four for IPv4, sixteen for IPv6 (`::` expanded).
    static func bytes(_ text: String) -> [UInt8]? {
        if !text.contains(":") {
            let octets = text.split(separator: ".", omittingEmptySubsequences: false).map { UInt8($0) }
            guard octets.count == 4, octets.allSatisfy({ $0 != nil }) else { return nil }
            return octets.map { $0! }
        }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            let items = part.split(separator: ":", omittingEmptySubsequences: false).map { UInt16($0, radix: 16) }
            return items.allSatisfy { $0 != nil } ? items.map { $0! } : nil
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}
