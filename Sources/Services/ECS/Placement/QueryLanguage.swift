import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import StevedoreCore

/// What the cluster query language can ask of a container instance.
public protocol QueryTarget {
    var agentConnected: Bool { get }
    var agentVersion: String? { get }
    var ec2InstanceId: String? { get }
    /// Registration time in seconds since 1970.
    var registeredAtSeconds: Double? { get }
    var runningTasksCount: Int { get }
    /// `nil` when the instance lacks the attribute; `.some(nil)` when it has it without a value.
    func attributeValue(_ name: String) -> String??
    /// Whether a task on the instance has a group satisfying the predicate.
    func hasTask(inGroupMatching predicate: (String) -> Bool) -> Bool
}

/// A parsed expression of ECS's cluster query language, as used by `memberOf` constraints and
/// `ListContainerInstances --filter`:
///
///     attribute:ecs.instance-type =~ t2.* and not(task:group == database)
///
/// Comparisons are `subject operator [argument]`; they combine with `and`/`&&`, `or`/`||`
/// (`and` binds tighter), `not(…)`/`!(…)` and parentheses.
public indirect enum QueryExpression: Sendable, Equatable {
    case comparison(QueryComparison)
    case and(QueryExpression, QueryExpression)
    case or(QueryExpression, QueryExpression)
    case not(QueryExpression)

    public static func parse(_ text: String) throws(QueryParseError) -> QueryExpression {
        var parser = QueryParser(tokens: try QueryTokenizer.tokenize(text), text: text)
        return try parser.parseExpression()
    }

    public func matches(_ target: some QueryTarget) -> Bool {
        switch self {
        case .comparison(let comparison): comparison.matches(target)
        case .and(let left, let right): left.matches(target) && right.matches(target)
        case .or(let left, let right): left.matches(target) || right.matches(target)
        case .not(let inner): !inner.matches(target)
        }
    }
}

public enum QuerySubject: Sendable, Equatable {
    case agentConnected
    case agentVersion
    case attribute(String)
    case ec2InstanceId
    case registeredAt
    case runningTasksCount
    case taskGroup

    static func parse(_ word: String) -> QuerySubject? {
        switch word {
        case "agentConnected": .agentConnected
        case "agentVersion": .agentVersion
        case "ec2InstanceId": .ec2InstanceId
        case "registeredAt": .registeredAt
        case "runningTasksCount": .runningTasksCount
        case "task:group": .taskGroup
        default:
            if word.hasPrefix("attribute:"), word.count > "attribute:".count {
                .attribute(String(word.dropFirst("attribute:".count)))
            } else {
                nil
            }
        }
    }

    var allowedOperators: Set<QueryOperator> {
        switch self {
        case .agentConnected, .ec2InstanceId:
            [.equals, .notEquals, .in, .notIn, .matches, .notMatches]
        case .agentVersion, .registeredAt, .runningTasksCount:
            [.equals, .notEquals, .greaterThan, .greaterThanEqual, .lessThan, .lessThanEqual]
        case .taskGroup:
            [.equals, .notEquals, .in, .notIn, .matches, .notMatches, .exists, .notExists]
        case .attribute:
            Set(QueryOperator.allCases)
        }
    }

    var text: String {
        switch self {
        case .agentConnected: "agentConnected"
        case .agentVersion: "agentVersion"
        case .attribute(let name): "attribute:\(name)"
        case .ec2InstanceId: "ec2InstanceId"
        case .registeredAt: "registeredAt"
        case .runningTasksCount: "runningTasksCount"
        case .taskGroup: "task:group"
        }
    }
}

public enum QueryOperator: String, Sendable, CaseIterable {
    case equals = "=="
    case notEquals = "!="
    case greaterThan = ">"
    case greaterThanEqual = ">="
    case lessThan = "<"
    case lessThanEqual = "<="
    case exists = "exists"
    case notExists = "!exists"
    case `in` = "in"
    case notIn = "!in"
    case matches = "=~"
    case notMatches = "!~"

    static func parse(_ token: String) -> QueryOperator? {
        switch token.lowercased() {
        case "==", "equals": .equals
        case "!=", "not_equals": .notEquals
        case ">", "greater_than": .greaterThan
        case ">=", "greater_than_equal": .greaterThanEqual
        case "<", "less_than": .lessThan
        case "<=", "less_than_equal": .lessThanEqual
        case "exists": .exists
        case "!exists", "not_exists": .notExists
        case "in": .in
        case "!in", "not_in": .notIn
        case "=~", "matches": .matches
        case "!~", "not_matches": .notMatches
        default: nil
        }
    }

    /// The positive operator this one negates, for `!=`, `!in`, `!~`, `!exists`.
    var positive: QueryOperator? {
        switch self {
        case .notEquals: .equals
        case .notIn: .in
        case .notMatches: .matches
        case .notExists: .exists
        default: nil
        }
    }
}

/// A compiled argument: the literal, a list, a pattern, a number or a time, checked at parse time.
public enum QueryArgument: Sendable, Equatable {
    case none
    case value(String)
    case list([String])
    case pattern(QueryPattern)
    case number(Double)
    case version([Int])
    case time(Double)
}

/// A regular expression that must match the whole value (Java's `matches()`), compiled once.
public struct QueryPattern: Sendable, Equatable {
    public let source: String
    private let regex: RegexBox

    init(_ source: String) throws(QueryParseError) {
        self.source = source
        do {
            regex = RegexBox(try Regex(source, as: Substring.self))
        } catch {
            throw QueryParseError(message: "'\(source)' is not a valid regular expression.")
        }
    }

    func matches(_ value: String) -> Bool {
        (try? regex.regex.wholeMatch(in: value)) != nil
    }

    public static func == (lhs: QueryPattern, rhs: QueryPattern) -> Bool { lhs.source == rhs.source }
}

private final class RegexBox: @unchecked Sendable {
    // Regex values are immutable once built; matching never mutates them.
    let regex: Regex<Substring>
    init(_ regex: Regex<Substring>) { self.regex = regex }
}

public struct QueryComparison: Sendable, Equatable {
    public var subject: QuerySubject
    public var op: QueryOperator
    public var argument: QueryArgument

    func matches(_ target: some QueryTarget) -> Bool {
        if subject == .taskGroup {
            // Group operators ask "is there a task whose group …"; negations mean "no task whose group …",
            // which is what anti-affinity (`task:group != database`) needs.
            if let positive = op.positive {
                return !target.hasTask(inGroupMatching: { QueryComparison.test(positive, argument, $0) })
            }
            if op == .exists { return target.hasTask(inGroupMatching: { _ in true }) }
            return target.hasTask(inGroupMatching: { QueryComparison.test(op, argument, $0) })
        }
        let value: String?
        switch subject {
        case .agentConnected: value = target.agentConnected ? "true" : "false"
        case .agentVersion: value = target.agentVersion
        case .ec2InstanceId: value = target.ec2InstanceId
        case .registeredAt:
            guard let seconds = target.registeredAtSeconds, case .time(let bound) = argument else { return false }
            return Self.compare(op, seconds, bound)
        case .runningTasksCount: value = String(target.runningTasksCount)
        case .attribute(let name):
            let found = target.attributeValue(name)
            switch op {
            case .exists: return found != nil
            case .notExists: return found == nil
            default:
                guard let found else { return op.positive != nil }
                value = found ?? ""
            }
        case .taskGroup: value = nil
        }
        guard let value else { return op.positive != nil }
        return Self.test(op, argument, value)
    }

    static func test(_ op: QueryOperator, _ argument: QueryArgument, _ value: String) -> Bool {
        if let positive = op.positive { return !test(positive, argument, value) }
        switch (op, argument) {
        case (.equals, .value(let literal)): return value == literal
        case (.equals, .number(let number)): return Double(value) == number
        case (.equals, .version(let version)): return compareVersions(parseVersion(value), version) == 0
        case (.in, .list(let items)): return items.contains(value)
        case (.matches, .pattern(let pattern)): return pattern.matches(value)
        case (.exists, _): return true
        case (.greaterThan, _), (.greaterThanEqual, _), (.lessThan, _), (.lessThanEqual, _):
            switch argument {
            case .number(let bound):
                guard let number = Double(value) else { return false }
                return compare(op, number, bound)
            case .version(let bound):
                return compare(op, Double(compareVersions(parseVersion(value), bound)), 0)
            case .value(let bound):
                if let number = Double(value), let boundNumber = Double(bound) { return compare(op, number, boundNumber) }
                return compare(op, Double(value < bound ? -1 : value == bound ? 0 : 1), 0)
            default: return false
            }
        default: return false
        }
    }

    static func compare(_ op: QueryOperator, _ left: Double, _ right: Double) -> Bool {
        switch op {
        case .equals: left == right
        case .notEquals: left != right
        case .greaterThan: left > right
        case .greaterThanEqual: left >= right
        case .lessThan: left < right
        case .lessThanEqual: left <= right
        default: false
        }
    }
}

func parseVersion(_ text: String) -> [Int] {
    text.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
}

func compareVersions(_ left: [Int], _ right: [Int]) -> Int {
    for index in 0..<max(left.count, right.count) {
        let l = index < left.count ? left[index] : 0
        let r = index < right.count ? right[index] : 0
        if l != r { return l < r ? -1 : 1 }
    }
    return 0
}

public struct QueryParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

// MARK: - Tokens

enum QueryToken: Equatable {
    case word(String)
    case quoted(String)
    case symbol(String)  // ( ) [ ] , and operator symbols
    case end

    var display: String {
        switch self {
        case .word(let text), .symbol(let text): "'\(text)'"
        case .quoted(let text): "'\(text)'"
        case .end: "the end of the expression"
        }
    }
}

enum QueryTokenizer {
    static func tokenize(_ text: String) throws(QueryParseError) -> [(QueryToken, Int)] {
        let chars = Array(text)
        var tokens: [(QueryToken, Int)] = []
        var i = 0
        func isWordChar(_ c: Character) -> Bool {
            !c.isWhitespace && !"()[],'\"".contains(c) && !"=!<>&|~".contains(c)
        }
        while i < chars.count {
            let c = chars[i]
            if c.isWhitespace {
                i += 1
                continue
            }
            let start = i
            let next: Character? = i + 1 < chars.count ? chars[i + 1] : nil
            switch c {
            case "(", ")", "[", "]", ",":
                tokens.append((.symbol(String(c)), start))
                i += 1
            case "'", "\"":
                var j = i + 1
                while j < chars.count, chars[j] != c { j += 1 }
                guard j < chars.count else {
                    throw QueryParseError(message: "Unterminated quoted string starting at position \(start + 1).")
                }
                tokens.append((.quoted(String(chars[(i + 1)..<j])), start))
                i = j + 1
            case "&" where next == "&", "|" where next == "|", "=" where next == "=", "=" where next == "~",
                ">" where next == "=", "<" where next == "=":
                tokens.append((.symbol(String([c, next!])), start))
                i += 2
            case ">", "<":
                tokens.append((.symbol(String(c)), start))
                i += 1
            case "!":
                if next == "=" || next == "~" {
                    tokens.append((.symbol(String([c, next!])), start))
                    i += 2
                } else {
                    // `!exists`, `!in` read as one operator; a lone `!` negates a group.
                    var j = i + 1
                    while j < chars.count, isWordChar(chars[j]) { j += 1 }
                    let word = String(chars[(i + 1)..<j])
                    if word == "exists" || word == "in" {
                        tokens.append((.symbol("!" + word), start))
                        i = j
                    } else {
                        tokens.append((.symbol("!"), start))
                        i += 1
                    }
                }
            default:
                guard isWordChar(c) else {
                    throw QueryParseError(message: "Unexpected character '\(c)' at position \(start + 1).")
                }
                var j = i
                while j < chars.count, isWordChar(chars[j]) { j += 1 }
                tokens.append((.word(String(chars[i..<j])), start))
                i = j
            }
        }
        tokens.append((.end, chars.count))
        return tokens
    }
}

struct QueryParser {
    var tokens: [(QueryToken, Int)]
    let text: String
    var index = 0

    init(tokens: [(QueryToken, Int)], text: String) {
        self.tokens = tokens
        self.text = text
    }

    var current: QueryToken { tokens[index].0 }
    var position: Int { tokens[index].1 + 1 }

    mutating func advance() { index += 1 }

    func error(_ expected: String) -> QueryParseError {
        QueryParseError(message: "Unexpected \(current.display) at position \(position) in '\(text)': expected \(expected).")
    }

    mutating func parseExpression() throws(QueryParseError) -> QueryExpression {
        guard current != .end else { throw QueryParseError(message: "The expression is empty.") }
        let expression = try parseOr()
        guard current == .end else { throw error("'and', 'or' or the end of the expression") }
        return expression
    }

    mutating func parseOr() throws(QueryParseError) -> QueryExpression {
        var left = try parseAnd()
        while current == .symbol("||") || isWord("or") {
            advance()
            left = .or(left, try parseAnd())
        }
        return left
    }

    mutating func parseAnd() throws(QueryParseError) -> QueryExpression {
        var left = try parseUnary()
        while current == .symbol("&&") || isWord("and") {
            advance()
            left = .and(left, try parseUnary())
        }
        return left
    }

    func isWord(_ word: String) -> Bool {
        if case .word(let text) = current { return text.lowercased() == word }
        return false
    }

    mutating func parseUnary() throws(QueryParseError) -> QueryExpression {
        if current == .symbol("!") || isWord("not") {
            advance()
            guard current == .symbol("(") else { throw error("'(' after not") }
            return .not(try parseGroup())
        }
        if current == .symbol("(") { return try parseGroup() }
        return .comparison(try parseComparison())
    }

    mutating func parseGroup() throws(QueryParseError) -> QueryExpression {
        advance()  // (
        let inner = try parseOr()
        guard current == .symbol(")") else { throw error("')'") }
        advance()
        return inner
    }

    mutating func parseComparison() throws(QueryParseError) -> QueryComparison {
        guard case .word(let subjectText) = current else {
            throw error("a subject (agentConnected, agentVersion, attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount, task:group)")
        }
        guard let subject = QuerySubject.parse(subjectText) else {
            throw QueryParseError(
                message: "Unknown subject '\(subjectText)' at position \(position): use agentConnected, agentVersion, attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount or task:group."
            )
        }
        advance()
        let opText: String
        switch current {
        case .word(let text), .symbol(let text): opText = text
        default: throw error("an operator (==, !=, >, >=, <, <=, exists, !exists, in, !in, =~, !~)")
        }
        guard let op = QueryOperator.parse(opText) else {
            throw error("an operator (==, !=, >, >=, <, <=, exists, !exists, in, !in, =~, !~)")
        }
        guard subject.allowedOperators.contains(op) else {
            throw QueryParseError(
                message: "Operator '\(opText)' cannot be used with \(subject.text); use one of \(subject.allowedOperators.map(\.rawValue).sorted().joined(separator: " "))."
            )
        }
        advance()
        let argument: QueryArgument
        switch op {
        case .exists, .notExists:
            argument = .none
        case .in, .notIn:
            argument = .list(try parseList())
        case .matches, .notMatches:
            argument = .pattern(try QueryPattern(try parseValue()))
        default:
            let literal = try parseValue()
            argument = try typedArgument(literal, subject: subject)
        }
        return QueryComparison(subject: subject, op: op, argument: argument)
    }

    func typedArgument(_ literal: String, subject: QuerySubject) throws(QueryParseError) -> QueryArgument {
        switch subject {
        case .runningTasksCount:
            guard let number = Int(literal) else {
                throw QueryParseError(message: "runningTasksCount compares with a whole number, not '\(literal)'.")
            }
            return .number(Double(number))
        case .agentVersion:
            let version = parseVersion(literal)
            guard !version.isEmpty else {
                throw QueryParseError(message: "agentVersion compares with a version such as 1.14.5, not '\(literal)'.")
            }
            return .version(version)
        case .registeredAt:
            guard let seconds = QueryTime.parse(literal) else {
                throw QueryParseError(
                    message: "registeredAt compares with a date such as 2018-06-18 or 2018-06-18T22:28:28Z, not '\(literal)'."
                )
            }
            return .time(seconds)
        case .agentConnected:
            guard literal == "true" || literal == "false" else {
                throw QueryParseError(message: "agentConnected compares with true or false, not '\(literal)'.")
            }
            return .value(literal)
        default:
            return .value(literal)
        }
    }

    mutating func parseValue() throws(QueryParseError) -> String {
        switch current {
        case .word(let text), .quoted(let text):
            advance()
            return text
        default:
            throw error("a value")
        }
    }

    mutating func parseList() throws(QueryParseError) -> [String] {
        guard current == .symbol("[") else { throw error("a list such as [a, b]") }
        advance()
        var items: [String] = []
        while current != .symbol("]") {
            items.append(try parseValue())
            if current == .symbol(",") {
                advance()
            } else if current != .symbol("]") {
                throw error("',' or ']'")
            }
        }
        advance()
        return items
    }
}

/// `registeredAt` arguments: `2018-06-18T22:28:28+00:00`, `…Z`, `2018-06-18T22:28:28`, `2018-06-18`.
enum QueryTime {
    static func parse(_ text: String) -> Double? {
        let datePart = text.prefix(10)
        let dateFields = datePart.split(separator: "-")
        guard datePart.count == 10, dateFields.count == 3, let year = Int(dateFields[0]), let month = Int(dateFields[1]),
            let day = Int(dateFields[2]), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var seconds = Double(CivilCalendar.days(year: year, month: month, day: day)) * 86_400
        var rest = text.dropFirst(10)
        if rest.isEmpty { return seconds }
        guard rest.first == "T" || rest.first == " " else { return nil }
        rest = rest.dropFirst()
        let timeFields = rest.prefix(8).split(separator: ":")
        guard timeFields.count == 3, let hour = Int(timeFields[0]), let minute = Int(timeFields[1]),
            let second = Int(timeFields[2]), hour < 24, minute < 60, second < 61
        else { return nil }
        seconds += Double(hour * 3600 + minute * 60 + second)
        rest = rest.dropFirst(8)
        if rest.isEmpty || rest == "Z" { return seconds }
        guard let sign = rest.first, sign == "+" || sign == "-" else { return nil }
        let offsetFields = rest.dropFirst().split(separator: ":")
        guard offsetFields.count == 2, let offsetHours = Int(offsetFields[0]), let offsetMinutes = Int(offsetFields[1]) else {
            return nil
        }
        let offset = Double(offsetHours * 3600 + offsetMinutes * 60)
        return sign == "+" ? seconds - offset : seconds + offset
    }
}
