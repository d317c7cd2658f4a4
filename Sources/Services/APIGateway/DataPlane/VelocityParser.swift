import Foundation
import StevedoreCore

// MARK: Parsing: a template's text into nodes and expressions.

extension Velocity {
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
}
