import Foundation
import StevedoreCore

/// The Velocity Template Language as API Gateway's mapping templates use it: references
/// (`$name`, `${name}`, `$!name`, members, method calls, indexes), `#set`, `#if`/`#elseif`/`#else`,
/// `#foreach` (with `$foreach.hasNext`, `$foreach.index`, `$foreach.count`), `#break`, comments,
/// and expressions with Velocity's operators. No macros, includes or evaluation of text: a
/// template using them is refused when it is put.
public enum Velocity {
    /// A value a template computes with.
    public indirect enum Value: Sendable, Equatable {
        case null
        case bool(Bool)
        case number(Double)
        case string(String)
        case list([Value])
        /// Members in the order given (Velocity's maps keep insertion order here).
        case map([(String, Value)])
        /// An object of the environment answering members and methods (`$input`, `$util`).
        case object(String)

        public static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.null, .null): true
            case (.bool(let x), .bool(let y)): x == y
            case (.number(let x), .number(let y)): x == y
            case (.string(let x), .string(let y)): x == y
            case (.list(let x), .list(let y)): x == y
            case (.map(let x), .map(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            case (.object(let x), .object(let y)): x == y
            default: false
            }
        }

        /// As Velocity writes it into the output (Java's `toString`).
        var text: String {
            switch self {
            case .null: ""
            case .bool(let flag): flag ? "true" : "false"
            // Whole numbers as Java prints a long; others as a double.
            case .number(let number):
                number.isFinite && number == number.rounded() && abs(number) < 9.2e18 ? String(Int64(number)) : String(number)
            case .string(let string): string
            case .list(let items): "[" + items.map(\.text).joined(separator: ", ") + "]"
            case .map(let members): "{" + members.map { "\($0.0)=\($0.1.text)" }.joined(separator: ", ") + "}"
            case .object(let name): name
            }
        }

        var truthy: Bool {
            switch self {
            case .null: false
            case .bool(let flag): flag
            default: true
            }
        }

        init(_ json: JSONValue) {
            switch json {
            case .null: self = .null
            case .bool(let flag): self = .bool(flag)
            case .number(let number): self = .number(number)
            case .string(let string): self = .string(string)
            case .array(let items): self = .list(items.map(Value.init))
            case .object(let members): self = .map(members.sorted { $0.key < $1.key }.map { ($0.key, Value($0.value)) })
            }
        }

        func member(_ name: String) -> Value? {
            if case .map(let members) = self { return members.first { $0.0 == name }?.1 }
            return nil
        }
    }

    /// What a template's environment answers beyond its variables: `$input` and `$util` calls.
    public protocol Host {
        func call(_ object: String, _ method: String, _ arguments: [Value]) -> Value?
    }

    public struct Failure: Error, Equatable, Sendable {
        public var message: String
    }

    /// A number as an integer when it is one that fits (NaN, infinities and huge values are not).
    static func integer(_ number: Double) -> Int? {
        guard number.isFinite, number == number.rounded(), abs(number) < 9.0e15 else { return nil }
        return Int(number)
    }

    /// What a value costs to hold: its nodes and its strings' bytes, counted until `budget` runs out
    /// (so a value built by doubling itself is measured without walking all of it).
    static func exceeds(_ value: Value, _ budget: inout Int) -> Bool {
        budget -= 1
        if budget < 0 { return true }
        switch value {
        case .string(let text): budget -= text.utf8.count
        case .list(let items):
            for item in items where exceeds(item, &budget) { return true }
        case .map(let members):
            for (key, item) in members {
                budget -= key.utf8.count
                if exceeds(item, &budget) { return true }
            }
        default: break
        }
        return budget < 0
    }

    /// The most a value made while rendering may hold (its nodes and bytes).
    static let valueLimit = 1 << 20

    // MARK: Parsing

    indirect enum Node: Sendable {
        case text(String)
        case reference(Reference, quiet: Bool, source: String)
        case set(Reference, Expression)
        case conditional([(Expression, [Node])], otherwise: [Node]?)
        case loop(variable: String, over: Expression, body: [Node])
        case stop
    }

    struct Reference: Sendable {
        var name: String
        var path: [Step]
    }

    enum Step: Sendable {
        case member(String)
        case method(String, [Expression])
        case index(Expression)
    }

    indirect enum Expression: Sendable {
        case literal(Value)
        case interpolated([Node])
        case reference(Reference)
        case list([Expression])
        case map([(Expression, Expression)])
        case range(Expression, Expression)
        case not(Expression)
        case negate(Expression)
        case binary(String, Expression, Expression)
    }

    /// A template parsed, or why it cannot be.
    public struct Template: Sendable {
        let nodes: [Node]

        public init(_ source: String) throws(Failure) {
            var parser = Parser(Array(source.unicodeScalars))
            nodes = try parser.nodes(until: [])
            guard parser.atEnd else { throw parser.failure("unexpected #\(parser.pendingDirective ?? "end")") }
        }

        /// The output, with `variables` (`$context`, `$stageVariables`, …) and the host's objects.
        public func render(variables: [String: Value], host: any Host) -> String {
            var renderer = Renderer(variables: variables, host: host)
            var output = ""
            _ = renderer.run(nodes, into: &output)
            return output
        }
    }

    struct Parser {
        let source: [Unicode.Scalar]
        var index = 0
        /// The directive that ended the last block (`else`, `elseif`, `end`).
        var pendingDirective: String?
        var depth = 0

        init(_ source: [Unicode.Scalar]) { self.source = source }

        var atEnd: Bool { index >= source.count }

        func failure(_ message: String) -> Failure {
            let line = source[..<min(index, source.count)].filter { $0 == "\n" }.count + 1
            return Failure(message: "\(message) at line \(line)")
        }

        func peek(_ offset: Int = 0) -> Unicode.Scalar? { index + offset < source.count ? source[index + offset] : nil }

        func starts(_ text: String) -> Bool {
            var offset = 0
            for scalar in text.unicodeScalars {
                guard peek(offset) == scalar else { return false }
                offset += 1
            }
            return true
        }

        /// Nodes up to one of the closing directives (`end`, `else`, `elseif`), left in `pendingDirective`.
        mutating func nodes(until closers: Set<String>) throws(Failure) -> [Node] {
            depth += 1
            defer { depth -= 1 }
            guard depth < 64 else { throw failure("directives nested too deeply") }
            var nodes: [Node] = []
            var text = ""
            func flush() {
                if !text.isEmpty { nodes.append(.text(text)) }
                text = ""
            }
            while let scalar = peek() {
                if scalar == "#" {
                    if starts("##") {
                        while let next = peek(), next != "\n" { index += 1 }
                        continue
                    }
                    if starts("#*") {
                        guard let end = find("*#", from: index + 2) else { throw failure("unclosed #* comment") }
                        index = end + 2
                        continue
                    }
                    let lineStart = lineStartsBefore(index, in: &text)
                    if let name = directiveName() {
                        if closers.contains(name) || ["end", "else", "elseif"].contains(name) {
                            guard closers.contains(name) else { throw failure("#\(name) without an opening directive") }
                            trimDirectiveLine(lineStart, &text)
                            flush()
                            pendingDirective = name
                            consumeDirective(name)
                            return nodes
                        }
                        trimDirectiveLine(lineStart, &text)
                        flush()
                        nodes.append(try directive(name, lineStart: lineStart))
                        continue
                    }
                    text.unicodeScalars.append(scalar)
                    index += 1
                } else if scalar == "$", let (reference, quiet, length) = try referenceAhead() {
                    flush()
                    let sourceText = String(String.UnicodeScalarView(source[index..<(index + length)]))
                    index += length
                    nodes.append(.reference(reference, quiet: quiet, source: sourceText))
                } else if scalar == "\\", peek(1) == "$" || peek(1) == "#" {
                    // An escaped reference or directive is written as it is, without the backslash.
                    text.unicodeScalars.append(peek(1)!)
                    index += 2
                } else {
                    text.unicodeScalars.append(scalar)
                    index += 1
                }
            }
            flush()
            if !closers.isEmpty { throw failure("missing #end") }
            return nodes
        }

        func find(_ text: String, from start: Int) -> Int? {
            let scalars = Array(text.unicodeScalars)
            var position = start
            while position + scalars.count <= source.count {
                if Array(source[position..<(position + scalars.count)]) == scalars { return position }
                position += 1
            }
            return nil
        }

        /// Whether only spaces precede `position` on its line (a directive alone on its line
        /// writes neither the line's indentation nor its newline, as Velocity's output does).
        func lineStartsBefore(_ position: Int, in text: inout String) -> Bool {
            var cursor = position - 1
            while cursor >= 0, source[cursor] == " " || source[cursor] == "\t" { cursor -= 1 }
            return cursor < 0 || source[cursor] == "\n"
        }

        mutating func trimDirectiveLine(_ alone: Bool, _ text: inout String) {
            guard alone else { return }
            while let last = text.unicodeScalars.last, last == " " || last == "\t" { text.unicodeScalars.removeLast() }
        }

        /// The directive at `#` (`#set`, `#{set}`…), without moving.
        func directiveName() -> String? {
            var offset = 1
            let braced = peek(offset) == "{"
            if braced { offset += 1 }
            var name = ""
            while let scalar = peek(offset), scalar.properties.isAlphabetic {
                name.unicodeScalars.append(scalar)
                offset += 1
            }
            if braced, peek(offset) != "}" { return nil }
            return ["set", "if", "elseif", "else", "end", "foreach", "break", "stop", "macro", "define", "include", "parse", "evaluate"]
                .contains(name) ? name : nil
        }

        mutating func consumeDirective(_ name: String) {
            index += 1
            if peek() == "{" {
                index += name.unicodeScalars.count + 2
            } else {
                index += name.unicodeScalars.count
            }
            if name == "else" || name == "end" { eatLineEndIfAlone() }
        }

        /// After a directive alone on its line, its newline goes too.
        mutating func eatLineEndIfAlone() {
            var cursor = index
            while cursor < source.count, source[cursor] == " " || source[cursor] == "\t" { cursor += 1 }
            if cursor < source.count, source[cursor] == "\n" {
                var back = index - 1
                while back >= 0, source[back] != "#" { back -= 1 }
                var before = back - 1
                while before >= 0, source[before] == " " || source[before] == "\t" { before -= 1 }
                if before < 0 || source[before] == "\n" { index = cursor + 1 }
            }
        }

        mutating func directive(_ name: String, lineStart: Bool) throws(Failure) -> Node {
            consumeDirective(name)
            switch name {
            case "set":
                let arguments = try parenthesized()
                var inner = ExpressionParser(arguments, failure: failure, nesting: depth)
                guard let target = try inner.referenceTarget() else { throw failure("#set needs a reference to set") }
                guard inner.take("=") else { throw failure("#set needs '='") }
                let value = try inner.expression()
                guard inner.atEnd else { throw failure("unexpected text in #set") }
                if lineStart { eatLineEndIfAlone() }
                return .set(target, value)
            case "if":
                var branches: [(Expression, [Node])] = []
                var condition = try condition()
                if lineStart { eatLineEndIfAlone() }
                var otherwise: [Node]?
                while true {
                    let body = try nodes(until: ["elseif", "else", "end"])
                    branches.append((condition, body))
                    switch pendingDirective {
                    case "elseif":
                        condition = try self.condition()
                        eatLineEndIfAlone()
                        continue
                    case "else":
                        otherwise = try nodes(until: ["end"])
                    default: break
                    }
                    break
                }
                pendingDirective = nil
                return .conditional(branches, otherwise: otherwise)
            case "foreach":
                let arguments = try parenthesized()
                var inner = ExpressionParser(arguments, failure: failure, nesting: depth)
                guard let variable = try inner.referenceTarget(), variable.path.isEmpty else { throw failure("#foreach needs a variable") }
                guard inner.takeWord("in") else { throw failure("#foreach needs 'in'") }
                let over = try inner.expression()
                guard inner.atEnd else { throw failure("unexpected text in #foreach") }
                if lineStart { eatLineEndIfAlone() }
                let body = try nodes(until: ["end"])
                pendingDirective = nil
                return .loop(variable: variable.name, over: over, body: body)
            case "break", "stop":
                if lineStart { eatLineEndIfAlone() }
                return .stop
            default:
                throw failure("#\(name) is not supported in mapping templates")
            }
        }

        mutating func condition() throws(Failure) -> Expression {
            let arguments = try parenthesized()
            var inner = ExpressionParser(arguments, failure: failure, nesting: depth)
            let expression = try inner.expression()
            guard inner.atEnd else { throw failure("unexpected text in a condition") }
            return expression
        }

        /// The text between balanced parentheses after a directive (quotes respected).
        mutating func parenthesized() throws(Failure) -> [Unicode.Scalar] {
            while peek() == " " { index += 1 }
            guard peek() == "(" else { throw failure("a directive needs its arguments in parentheses") }
            index += 1
            let start = index
            var level = 1
            var quote: Unicode.Scalar?
            while let scalar = peek() {
                index += 1
                if let open = quote {
                    if scalar == "\\", peek() == open {
                        index += 1
                    } else if scalar == open {
                        quote = nil
                    }
                    continue
                }
                switch scalar {
                case "\"", "'": quote = scalar
                case "(": level += 1
                case ")":
                    level -= 1
                    if level == 0 { return Array(source[start..<(index - 1)]) }
                default: break
                }
            }
            throw failure("unclosed parenthesis")
        }

        /// A reference at `$`, with whether it is quiet and how many scalars it spans; nil for a
        /// `$` that starts none (written as text).
        func referenceAhead() throws(Failure) -> (Reference, Bool, Int)? {
            var offset = 1
            var quiet = false
            if peek(offset) == "!" {
                quiet = true
                offset += 1
            }
            let braced = peek(offset) == "{"
            if braced { offset += 1 }
            guard let first = peek(offset), first.properties.isAlphabetic || first == "_" else { return nil }
            var scalars: [Unicode.Scalar] = []
            var cursor = index + offset
            // The reference's own text, up to where it can no longer continue.
            var level = 0
            var quote: Unicode.Scalar?
            while cursor < source.count {
                let scalar = source[cursor]
                if let open = quote {
                    scalars.append(scalar)
                    if scalar == "\\", cursor + 1 < source.count, source[cursor + 1] == open {
                        scalars.append(open)
                        cursor += 2
                        continue
                    }
                    if scalar == open { quote = nil }
                    cursor += 1
                    continue
                }
                if level > 0 {
                    if scalar == "\"" || scalar == "'" { quote = scalar }
                    if scalar == "(" || scalar == "[" { level += 1 }
                    if scalar == ")" || scalar == "]" { level -= 1 }
                    scalars.append(scalar)
                    cursor += 1
                    continue
                }
                if scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar == "_" || scalar == "-" {
                    scalars.append(scalar)
                } else if scalar == ".", cursor + 1 < source.count, source[cursor + 1].properties.isAlphabetic || source[cursor + 1] == "_" {
                    scalars.append(scalar)
                } else if scalar == "(" || scalar == "[" {
                    level += 1
                    scalars.append(scalar)
                } else {
                    break
                }
                cursor += 1
            }
            // A trailing `-` belongs to the text after the reference.
            while scalars.last == "-" {
                scalars.removeLast()
                cursor -= 1
            }
            if braced {
                guard cursor < source.count, source[cursor] == "}" else { return nil }
                cursor += 1
            }
            var inner = ExpressionParser(scalars, failure: failure, nesting: depth)
            guard let reference = try inner.referenceBody(), inner.atEnd else { return nil }
            return (reference, quiet, cursor - index)
        }
    }

    /// Expressions inside directives and references' arguments.
    struct ExpressionParser {
        let source: [Unicode.Scalar]
        var index = 0
        let failure: (String) -> Failure
        /// Expressions open around the one being read (parentheses, lists, arguments, `!`).
        var nesting: Int
        static let maximumNesting = 64

        init(_ source: [Unicode.Scalar], failure: @escaping (String) -> Failure, nesting: Int = 0) {
            self.source = source
            self.failure = failure
            self.nesting = nesting
        }

        var atEnd: Bool {
            var cursor = index
            while cursor < source.count, source[cursor].properties.isWhitespace { cursor += 1 }
            return cursor >= source.count
        }

        mutating func skipSpace() {
            while index < source.count, source[index].properties.isWhitespace { index += 1 }
        }

        func peek(_ offset: Int = 0) -> Unicode.Scalar? { index + offset < source.count ? source[index + offset] : nil }

        mutating func take(_ token: String) -> Bool {
            skipSpace()
            let scalars = Array(token.unicodeScalars)
            guard index + scalars.count <= source.count, Array(source[index..<(index + scalars.count)]) == scalars else { return false }
            index += scalars.count
            return true
        }

        mutating func takeWord(_ word: String) -> Bool {
            let saved = index
            guard take(word) else { return false }
            if let next = peek(), next.properties.isAlphabetic || next == "_" {
                index = saved
                return false
            }
            return true
        }

        /// `$name…` (for `#set` and `#foreach`).
        mutating func referenceTarget() throws(Failure) -> Reference? {
            skipSpace()
            guard take("$") else { return nil }
            let braced = take("{")
            let reference = try referenceBody()
            if braced, !take("}") { throw failure("unclosed ${") }
            return reference
        }

        /// A reference's name and path, after its `$`.
        mutating func referenceBody() throws(Failure) -> Reference? {
            guard let name = identifier() else { return nil }
            var path: [Step] = []
            while let next = peek() {
                if next == ".", let member = { () -> String? in
                    index += 1
                    return identifier()
                }() {
                    if peek() == "(" {
                        index += 1
                        path.append(.method(member, try arguments(closing: ")")))
                    } else {
                        path.append(.member(member))
                    }
                } else if next == "[" {
                    index += 1
                    let subscriptExpression = try expression()
                    guard take("]") else { throw failure("unclosed [") }
                    path.append(.index(subscriptExpression))
                } else {
                    break
                }
            }
            return Reference(name: name, path: path)
        }

        mutating func identifier() -> String? {
            var name = ""
            while let scalar = peek(), scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar == "_" || scalar == "-" {
                if name.isEmpty, scalar.properties.numericType != nil || scalar == "-" { return nil }
                name.unicodeScalars.append(scalar)
                index += 1
            }
            while name.hasSuffix("-") {
                name.removeLast()
                index -= 1
            }
            return name.isEmpty ? nil : name
        }

        mutating func arguments(closing: String) throws(Failure) -> [Expression] {
            var items: [Expression] = []
            if take(closing) { return items }
            repeat {
                items.append(try expression())
            } while take(",")
            guard take(closing) else { throw failure("expected '\(closing)'") }
            return items
        }

        mutating func expression() throws(Failure) -> Expression {
            nesting += 1
            defer { nesting -= 1 }
            guard nesting <= Self.maximumNesting else { throw failure("expressions nested too deeply") }
            return try or()
        }

        mutating func or() throws(Failure) -> Expression {
            var left = try and()
            while take("||") || takeWord("or") { left = .binary("||", left, try and()) }
            return left
        }

        mutating func and() throws(Failure) -> Expression {
            var left = try comparison()
            while take("&&") || takeWord("and") { left = .binary("&&", left, try comparison()) }
            return left
        }

        mutating func comparison() throws(Failure) -> Expression {
            var left = try additive()
            while true {
                if take("==") || takeWord("eq") {
                    left = .binary("==", left, try additive())
                } else if take("!=") || takeWord("ne") {
                    left = .binary("!=", left, try additive())
                } else if take("<=") || takeWord("le") {
                    left = .binary("<=", left, try additive())
                } else if take(">=") || takeWord("ge") {
                    left = .binary(">=", left, try additive())
                } else if take("<") || takeWord("lt") {
                    left = .binary("<", left, try additive())
                } else if take(">") || takeWord("gt") {
                    left = .binary(">", left, try additive())
                } else {
                    return left
                }
            }
        }

        mutating func additive() throws(Failure) -> Expression {
            var left = try multiplicative()
            while true {
                if take("+") {
                    left = .binary("+", left, try multiplicative())
                } else if peek(0) != nil, { skipSpace(); return peek() == "-" }(), take("-") {
                    left = .binary("-", left, try multiplicative())
                } else {
                    return left
                }
            }
        }

        mutating func multiplicative() throws(Failure) -> Expression {
            var left = try unary()
            while true {
                if take("*") {
                    left = .binary("*", left, try unary())
                } else if take("/") {
                    left = .binary("/", left, try unary())
                } else if take("%") {
                    left = .binary("%", left, try unary())
                } else {
                    return left
                }
            }
        }

        mutating func unary() throws(Failure) -> Expression {
            if take("!") || takeWord("not") { return .not(try nested { parser throws(Failure) in try parser.unary() }) }
            if take("-") { return .negate(try nested { parser throws(Failure) in try parser.unary() }) }
            return try primary()
        }

        mutating func nested(_ body: (inout ExpressionParser) throws(Failure) -> Expression) throws(Failure) -> Expression {
            nesting += 1
            defer { nesting -= 1 }
            guard nesting <= Self.maximumNesting else { throw failure("expressions nested too deeply") }
            return try body(&self)
        }

        mutating func primary() throws(Failure) -> Expression {
            skipSpace()
            guard let scalar = peek() else { throw failure("an expression is missing") }
            switch scalar {
            case "(":
                index += 1
                let inner = try expression()
                guard take(")") else { throw failure("expected ')'") }
                return inner
            case "\"", "'":
                index += 1
                var text = ""
                while let next = peek(), next != scalar {
                    // `\"` stays in a double-quoted string, backslash and all (Java's regexes and
                    // replacements read it), without ending it.
                    if next == "\\", scalar == "\"", peek(1) == "\"" {
                        text.unicodeScalars.append(next)
                        text.unicodeScalars.append("\"")
                        index += 2
                        continue
                    }
                    text.unicodeScalars.append(next)
                    index += 1
                }
                guard peek() == scalar else { throw failure("unclosed string") }
                index += 1
                // Double quotes interpolate references, single quotes do not.
                guard scalar == "\"", text.contains("$") else { return .literal(.string(text)) }
                // Parsed now, once, with the directives a string may hold.
                var inner = Parser(Array(text.unicodeScalars))
                inner.depth = nesting
                return .interpolated(try inner.nodes(until: []))
            case "[":
                index += 1
                if take("]") { return .list([]) }
                let first = try expression()
                if take("..") {
                    let last = try expression()
                    guard take("]") else { throw failure("expected ']'") }
                    return .range(first, last)
                }
                var items = [first]
                while take(",") { items.append(try expression()) }
                guard take("]") else { throw failure("expected ']'") }
                return .list(items)
            case "{":
                index += 1
                var members: [(Expression, Expression)] = []
                if take("}") { return .map(members) }
                repeat {
                    let key = try expression()
                    guard take(":") else { throw failure("expected ':' in a map") }
                    members.append((key, try expression()))
                } while take(",")
                guard take("}") else { throw failure("expected '}'") }
                return .map(members)
            case "$":
                guard let reference = try referenceTarget() else { throw failure("a reference is missing") }
                return .reference(reference)
            default:
                if scalar.properties.numericType != nil {
                    var digits = ""
                    while let next = peek(), next.properties.numericType != nil || (next == "." && peek(1)?.properties.numericType != nil) {
                        digits.unicodeScalars.append(next)
                        index += 1
                    }
                    return .literal(.number(Double(digits) ?? 0))
                }
                if takeWord("true") { return .literal(.bool(true)) }
                if takeWord("false") { return .literal(.bool(false)) }
                if takeWord("null") { return .literal(.null) }
                throw failure("unexpected '\(scalar)'")
            }
        }
    }

    // MARK: Rendering

    struct Renderer {
        var variables: [String: Value]
        let host: any Host
        /// Output written so far, bounded: a template cannot make an answer of unbounded size.
        var budget = 1 << 20
        var iterations = 0
        /// Nodes run and expressions evaluated: a template's work per request is bounded too.
        var steps = 2_000_000

        /// Runs nodes; false when `#break`/`#stop` ended them (or the work ran out).
        mutating func run(_ nodes: [Node], into output: inout String) -> Bool {
            for node in nodes {
                steps -= 1
                guard steps > 0 else { return false }
                switch node {
                case .text(let text): write(text, to: &output)
                case .reference(let reference, let quiet, let source):
                    let value = evaluate(reference)
                    if let value, value != .null {
                        write(value.text, to: &output)
                    } else if !quiet {
                        write(source, to: &output)
                    }
                case .set(let target, let expression):
                    // A null leaves the variable as it was, as Velocity 1.7 does.
                    if let value = evaluate(expression), value != .null { assign(value, to: target) }
                case .conditional(let branches, let otherwise):
                    var taken = false
                    for (condition, body) in branches where (evaluate(condition) ?? .null).truthy {
                        taken = true
                        if !run(body, into: &output) { return false }
                        break
                    }
                    if !taken, let otherwise, !run(otherwise, into: &output) { return false }
                case .loop(let variable, let over, let body):
                    let items: [Value]
                    switch evaluate(over) ?? .null {
                    case .list(let list): items = list
                    case .map(let members): items = members.map(\.1)
                    case .null: items = []
                    case let single: items = [single]
                    }
                    let saved = (variables[variable], variables["foreach"], variables["velocityCount"])
                    for (position, item) in items.enumerated() {
                        iterations += 1
                        // Velocity's own limit on a loop is off by default; a template's loops are bounded here.
                        guard iterations <= 100_000 else { break }
                        variables[variable] = item
                        variables["foreach"] = .map([
                            ("index", .number(Double(position))), ("count", .number(Double(position + 1))),
                            ("hasNext", .bool(position + 1 < items.count)), ("first", .bool(position == 0)), ("last", .bool(position + 1 == items.count)),
                        ])
                        variables["velocityCount"] = .number(Double(position + 1))
                        if !run(body, into: &output) { break }
                    }
                    variables[variable] = saved.0
                    variables["foreach"] = saved.1
                    variables["velocityCount"] = saved.2
                case .stop: return false
                }
            }
            return true
        }

        mutating func write(_ text: String, to output: inout String) {
            guard budget > 0 else { return }
            budget -= text.utf8.count
            output += text
        }

        mutating func assign(_ value: Value, to target: Reference) {
            guard !target.path.isEmpty else {
                variables[target.name] = value
                return
            }
            // `#set($map.key = …)`: a member of a map variable.
            guard case .member(let key)? = target.path.last, target.path.count == 1, case .map(var members)? = variables[target.name] else { return }
            if let position = members.firstIndex(where: { $0.0 == key }) {
                members[position].1 = value
            } else {
                members.append((key, value))
            }
            variables[target.name] = .map(members)
        }

        mutating func evaluate(_ reference: Reference) -> Value? {
            var value = variables[reference.name]
            if value == nil, ["input", "util"].contains(reference.name) { value = .object(reference.name) }
            var steps = reference.path[...]
            // `$context.identity.sourceIp`: flat names with dots, as the gateway keeps them.
            if case .map(let members)? = value {
                var dotted: [String] = []
                for step in steps {
                    guard case .member(let name) = step else { break }
                    dotted.append(name)
                }
                while dotted.count > 1 {
                    if let found = members.first(where: { $0.0 == dotted.joined(separator: ".") })?.1 {
                        value = found
                        steps = steps.dropFirst(dotted.count)
                        break
                    }
                    dotted.removeLast()
                }
            }
            for step in steps {
                guard let current = value else { return nil }
                switch step {
                case .member(let name):
                    if case .object(let object) = current {
                        value = host.call(object, name, [])
                    } else {
                        value = current.member(name) ?? Self.getter(current, name)
                    }
                case .method(let name, let arguments):
                    let values = arguments.map { evaluate($0) ?? .null }
                    if case .object(let object) = current {
                        value = host.call(object, name, values)
                    } else {
                        value = Self.method(current, name, values)
                    }
                case .index(let expression):
                    value = Self.element(current, evaluate(expression) ?? .null)
                }
            }
            return value
        }

        /// `$map.keyName` Java bean style: `size`, `empty` as `isEmpty()`.
        static func getter(_ value: Value, _ name: String) -> Value? {
            switch name {
            case "size", "length": method(value, "size", [])
            case "empty": method(value, "isEmpty", [])
            default: nil
            }
        }

        static func element(_ value: Value, _ key: Value) -> Value? {
            switch (value, key) {
            case (.list(let items), .number(let number)):
                guard let position = Velocity.integer(number) else { return nil }
                return items.indices.contains(position) ? items[position] : nil
            case (.map(let members), .string(let name)): return members.first { $0.0 == name }?.1
            default: return nil
            }
        }

        /// The Java methods templates call on strings, lists and maps.
        static func method(_ value: Value, _ name: String, _ arguments: [Value]) -> Value? {
            func string(_ index: Int) -> String? {
                guard arguments.indices.contains(index) else { return nil }
                return arguments[index].text
            }
            func number(_ index: Int) -> Int? {
                guard arguments.indices.contains(index), case .number(let value) = arguments[index] else { return nil }
                return Velocity.integer(value)
            }
            switch value {
            case .string(let text):
                switch name {
                case "length", "size": return .number(Double(text.count))
                case "toLowerCase": return .string(text.lowercased())
                case "toUpperCase": return .string(text.uppercased())
                case "trim": return .string(text.trimmingWhitespace)
                case "isEmpty": return .bool(text.isEmpty)
                case "contains": return string(0).map { .bool(text.contains($0)) }
                case "startsWith": return string(0).map { .bool(text.hasPrefix($0)) }
                case "endsWith": return string(0).map { .bool(text.hasSuffix($0)) }
                case "equals": return .bool(arguments.first == value)
                case "equalsIgnoreCase": return string(0).map { .bool($0.lowercased() == text.lowercased()) }
                case "indexOf":
                    guard let needle = string(0) else { return nil }
                    return .number(Double(text.range(of: needle).map { text.distance(from: text.startIndex, to: $0.lowerBound) } ?? -1))
                case "replace":
                    guard let target = string(0), let replacement = string(1), !target.isEmpty else { return nil }
                    return bounded(.string(text.replacingOccurrences(of: target, with: replacement)))
                case "replaceAll", "replaceFirst":
                    guard let pattern = string(0), let replacement = string(1), let regex = JavaRegex.compile(pattern) else { return nil }
                    return bounded(.string(JavaRegex.replace(text, regex, with: replacement, all: name == "replaceAll")))
                case "matches":
                    guard let pattern = string(0), let regex = JavaRegex.compile(pattern) else { return nil }
                    return .bool(text.wholeMatch(of: regex) != nil)
                case "substring":
                    let characters = Array(text)
                    guard let start = number(0), start >= 0, start <= characters.count else { return nil }
                    let end = min(number(1) ?? characters.count, characters.count)
                    guard end >= start else { return nil }
                    return .string(String(characters[start..<end]))
                case "split":
                    // Java's: a regex, and trailing empty strings dropped.
                    guard let pattern = string(0), let regex = JavaRegex.compile(pattern) else { return nil }
                    var parts = text.split(separator: regex, omittingEmptySubsequences: false).map { Value.string(String($0)) }
                    while parts.count > 1, parts.last == .string("") { parts.removeLast() }
                    return bounded(.list(parts))
                case "toString": return value
                default: return nil
                }
            case .list(let items):
                switch name {
                case "size": return .number(Double(items.count))
                case "isEmpty": return .bool(items.isEmpty)
                case "get": return number(0).flatMap { items.indices.contains($0) ? items[$0] : nil }
                case "contains": return .bool(arguments.first.map { items.contains($0) } ?? false)
                default: return nil
                }
            case .map(let members):
                switch name {
                case "size": return .number(Double(members.count))
                case "isEmpty": return .bool(members.isEmpty)
                case "get": return string(0).flatMap { key in members.first { $0.0 == key }?.1 }
                case "containsKey": return .bool(string(0).map { key in members.contains { $0.0 == key } } ?? false)
                case "keySet": return .list(members.map { .string($0.0) })
                case "values": return .list(members.map(\.1))
                case "entrySet": return .list(members.map { .map([("key", .string($0.0)), ("value", $0.1)]) })
                default: return nil
                }
            case .number(let number):
                switch name {
                case "toString": return .string(value.text)
                case "intValue": return .number(number.rounded(.towardZero))
                default: return nil
                }
            default:
                return name == "toString" ? .string(value.text) : nil
            }
        }

        mutating func evaluate(_ expression: Expression) -> Value? {
            steps -= 1
            guard steps > 0 else { return nil }
            switch expression {
            case .literal(let value): return value
            case .interpolated(let nodes):
                // Run by this renderer: its work and output count against the same bounds.
                var output = ""
                _ = run(nodes, into: &output)
                return .string(output)
            case .reference(let reference): return evaluate(reference)
            case .list(let items): return Self.bounded(.list(items.map { evaluate($0) ?? .null }))
            case .map(let members): return Self.bounded(.map(members.map { ((evaluate($0.0) ?? .null).text, evaluate($0.1) ?? .null) }))
            case .range(let first, let last):
                guard case .number(let from)? = evaluate(first), case .number(let to)? = evaluate(last), abs(to - from) <= 10_000 else { return .list([]) }
                let step: Double = from <= to ? 1 : -1
                return .list(stride(from: from, through: to, by: step).map { .number($0) })
            case .not(let inner): return .bool(!(evaluate(inner) ?? .null).truthy)
            case .negate(let inner):
                guard case .number(let number)? = evaluate(inner) else { return nil }
                return .number(-number)
            case .binary(let operation, let leftExpression, let rightExpression):
                if operation == "&&" { return .bool((evaluate(leftExpression) ?? .null).truthy && (evaluate(rightExpression) ?? .null).truthy) }
                if operation == "||" { return .bool((evaluate(leftExpression) ?? .null).truthy || (evaluate(rightExpression) ?? .null).truthy) }
                let left = evaluate(leftExpression) ?? .null
                let right = evaluate(rightExpression) ?? .null
                switch operation {
                case "==": return .bool(Self.equal(left, right))
                case "!=": return .bool(!Self.equal(left, right))
                case "<", "<=", ">", ">=":
                    guard let order = Self.compare(left, right) else { return .bool(false) }
                    switch operation {
                    case "<": return .bool(order < 0)
                    case "<=": return .bool(order <= 0)
                    case ">": return .bool(order > 0)
                    default: return .bool(order >= 0)
                    }
                case "+":
                    if case .number(let a) = left, case .number(let b) = right { return .number(a + b) }
                    return Self.bounded(.string(left.text + right.text))
                default:
                    guard case .number(let a) = left, case .number(let b) = right else { return nil }
                    // Integers divide as Java's integers do; any other number as a double.
                    let integral = Velocity.integer(a) != nil && Velocity.integer(b) != nil
                    switch operation {
                    case "-": return .number(a - b)
                    case "*": return .number(a * b)
                    case "/": return b == 0 ? nil : .number(integral ? (a / b).rounded(.towardZero) : a / b)
                    default: return b == 0 ? nil : .number(a.truncatingRemainder(dividingBy: b))
                    }
                }
            }
        }

        /// A value made by the template, unless it is larger than a template may make.
        static func bounded(_ value: Value) -> Value? {
            var budget = Velocity.valueLimit
            return Velocity.exceeds(value, &budget) ? nil : value
        }

        /// Velocity compares numbers by value and anything else by its text.
        static func equal(_ a: Value, _ b: Value) -> Bool {
            switch (a, b) {
            case (.number(let x), .number(let y)): x == y
            case (.null, .null): true
            case (.null, _), (_, .null): false
            default: a.text == b.text
            }
        }

        static func compare(_ a: Value, _ b: Value) -> Int? {
            switch (a, b) {
            case (.number(let x), .number(let y)): x < y ? -1 : x == y ? 0 : 1
            case (.string(let x), .string(let y)): x < y ? -1 : x == y ? 0 : 1
            default: nil
            }
        }
    }
}

/// Java regular expressions as templates write them (`replaceAll("\\'", "'")`), through Swift's
/// Regex: patterns long or slow to compile are refused, and inputs are bounded by the renderer.
enum JavaRegex {
    static func compile(_ pattern: String) -> Regex<AnyRegexOutput>? {
        guard pattern.utf8.count <= 1024 else { return nil }
        return try? Regex(pattern)
    }

    /// `$1`…`$9` in the replacement stand for groups; `\\x` for `x`.
    static func replace(_ text: String, _ regex: Regex<AnyRegexOutput>, with replacement: String, all: Bool) -> String {
        var output = ""
        var rest = text[...]
        var replaced = false
        while !(replaced && !all), let match = rest.firstMatch(of: regex) {
            output += rest[..<match.range.lowerBound]
            var scalars = replacement.unicodeScalars[...]
            while let scalar = scalars.popFirst() {
                if scalar == "\\", let next = scalars.popFirst() {
                    output.unicodeScalars.append(next)
                } else if scalar == "$", let digit = scalars.first, let group = Int(String(digit)), group < match.output.count {
                    scalars.removeFirst()
                    if let captured = match.output[group].substring { output += captured }
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
            replaced = true
            if match.range.isEmpty {
                // An empty match moves on by one character, as Java's does.
                guard match.range.upperBound < rest.endIndex else {
                    rest = rest[rest.endIndex...]
                    break
                }
                output.append(rest[match.range.upperBound])
                rest = rest[rest.index(after: match.range.upperBound)...]
            } else {
                rest = rest[match.range.upperBound...]
            }
        }
        return output + rest
    }
}
