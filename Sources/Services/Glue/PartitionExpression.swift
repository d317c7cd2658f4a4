import Athena
import StevedoreCore

/// GetPartitions' `Expression`: a SQL-like predicate on the partition keys (`year = '2024' AND
/// month IN ('01', '02')`). Comparisons, `<>`/`!=`, `IN`, `BETWEEN`, `LIKE` (`%` and `_`),
/// `IS [NOT] NULL`, `AND`, `OR`, `NOT` and parentheses; keys of numeric types compare as
/// numbers, others as strings.
struct PartitionExpression: Sendable {
    indirect enum Node: Sendable {
        case and(Node, Node)
        case or(Node, Node)
        case not(Node)
        case compare(key: Int, operator: String, value: String)
        case within(key: Int, values: [String])
        case between(key: Int, low: String, high: String)
        case like(key: Int, pattern: String)
        case isNull(key: Int, negated: Bool)
    }

    let root: Node
    let numeric: [Bool]

    /// Parses an expression over the table's partition keys; InvalidInputException when it does not parse.
    init(_ text: String, keys: [ColumnDefinition]) throws(AWSError) {
        // Glue's limit on an expression's length; it also bounds the tree's depth.
        guard text.utf8.count <= Self.maximumLength else {
            throw GlueError.invalidInput(
                "1 validation error detected: Value at 'expression' failed to satisfy constraint: Member must have length less than or equal to \(Self.maximumLength)")
        }
        var parser = Parser(tokens: try Self.tokens(text), keys: keys.map(\.name))
        root = try parser.expression()
        guard parser.position == parser.tokens.count else { throw Self.invalid(text) }
        numeric = keys.map { ["tinyint", "smallint", "int", "integer", "bigint", "float", "double", "real"].contains($0.type) || $0.type.hasPrefix("decimal") }
    }

    func matches(_ values: [String]) -> Bool { evaluate(root, values) }

    private func evaluate(_ node: Node, _ values: [String]) -> Bool {
        switch node {
        case .and(let left, let right): return evaluate(left, values) && evaluate(right, values)
        case .or(let left, let right): return evaluate(left, values) || evaluate(right, values)
        case .not(let inner): return !evaluate(inner, values)
        case .compare(let key, let op, let value):
            let order = compare(values[key], value, numeric: numeric[key])
            switch op {
            case "=": return order == 0
            case "<>", "!=": return order != 0
            case "<": return order < 0
            case "<=": return order <= 0
            case ">": return order > 0
            default: return order >= 0
            }
        case .within(let key, let list): return list.contains { compare(values[key], $0, numeric: numeric[key]) == 0 }
        case .between(let key, let low, let high):
            return compare(values[key], low, numeric: numeric[key]) >= 0 && compare(values[key], high, numeric: numeric[key]) <= 0
        case .like(let key, let pattern): return Self.like(Array(values[key].unicodeScalars)[...], Array(pattern.unicodeScalars)[...])
        case .isNull(_, let negated): return negated
        }
    }

    private func compare(_ a: String, _ b: String, numeric: Bool) -> Int {
        if numeric, let x = Double(a), let y = Double(b) { return x < y ? -1 : x > y ? 1 : 0 }
        return a < b ? -1 : a > b ? 1 : 0
    }

    static let maximumLength = 2048

    /// SQL's LIKE: `%` any run, `_` one character.
    static func like(_ text: ArraySlice<Unicode.Scalar>, _ pattern: ArraySlice<Unicode.Scalar>) -> Bool {
        Wildcard.matches(Array(pattern), Array(text), anyRun: "%", one: "_")
    }

    static func invalid(_ text: String) -> AWSError {
        GlueError.invalidInput("Unsupported expression '\(text)'")
    }

    // MARK: Tokens and grammar

    enum Token: Equatable, Sendable {
        case word(String)
        case string(String)
        case symbol(String)
    }

    static func tokens(_ text: String) throws(AWSError) -> [Token] {
        var tokens: [Token] = []
        let scalars = Array(text.unicodeScalars)
        var index = 0
        while index < scalars.count {
            let c = scalars[index]
            if c.properties.isWhitespace {
                index += 1
            } else if c == "'" {
                var value = ""
                index += 1
                while true {
                    guard index < scalars.count else { throw invalid(text) }
                    if scalars[index] == "'" {
                        if index + 1 < scalars.count, scalars[index + 1] == "'" {
                            value.unicodeScalars.append("'")
                            index += 2
                            continue
                        }
                        index += 1
                        break
                    }
                    value.unicodeScalars.append(scalars[index])
                    index += 1
                }
                tokens.append(.string(value))
            } else if "()=,".unicodeScalars.contains(c) {
                tokens.append(.symbol(String(c)))
                index += 1
            } else if "<>!".unicodeScalars.contains(c) {
                var symbol = String(c)
                if index + 1 < scalars.count, "=>".unicodeScalars.contains(scalars[index + 1]), !(c == ">" && scalars[index + 1] == ">") {
                    symbol.unicodeScalars.append(scalars[index + 1])
                    index += 1
                }
                guard symbol != "!" else { throw invalid(text) }
                tokens.append(.symbol(symbol))
                index += 1
            } else {
                var word = ""
                while index < scalars.count, !scalars[index].properties.isWhitespace, !"()=,<>!'".unicodeScalars.contains(scalars[index]) {
                    word.unicodeScalars.append(scalars[index])
                    index += 1
                }
                tokens.append(.word(word))
            }
        }
        return tokens
    }

    struct Parser {
        let tokens: [Token]
        let keys: [String]
        var position = 0

        var text: String {
            tokens.map {
                switch $0 {
                case .word(let w): w
                case .string(let s): "'" + s + "'"
                case .symbol(let s): s
                }
            }.joined(separator: " ")
        }

        mutating func keyword(_ word: String) -> Bool {
            guard position < tokens.count, case .word(let w) = tokens[position], w.uppercased() == word else { return false }
            position += 1
            return true
        }

        mutating func symbol(_ symbol: String) -> Bool {
            guard position < tokens.count, tokens[position] == .symbol(symbol) else { return false }
            position += 1
            return true
        }

        mutating func expression() throws(AWSError) -> Node {
            var node = try conjunction()
            while keyword("OR") { node = .or(node, try conjunction()) }
            return node
        }

        mutating func conjunction() throws(AWSError) -> Node {
            var node = try negation()
            while keyword("AND") { node = .and(node, try negation()) }
            return node
        }

        /// How deep `NOT`s and parentheses nest: the parser and the evaluation recurse once per level.
        var depth = 0

        mutating func negation() throws(AWSError) -> Node {
            depth += 1
            defer { depth -= 1 }
            guard depth <= 64 else { throw GlueError.invalidInput("The expression nests NOT and parentheses more than 64 deep.") }
            if keyword("NOT") { return .not(try negation()) }
            if symbol("(") {
                let inner = try expression()
                guard symbol(")") else { throw PartitionExpression.invalid(text) }
                return inner
            }
            return try predicate()
        }

        mutating func predicate() throws(AWSError) -> Node {
            guard position < tokens.count, case .word(let name) = tokens[position] else { throw PartitionExpression.invalid(text) }
            guard let key = keys.firstIndex(of: name.lowercased()) else { throw GlueError.invalidInput("Invalid partition expression!") }
            position += 1
            if keyword("IS") {
                let negated = keyword("NOT")
                guard keyword("NULL") else { throw PartitionExpression.invalid(text) }
                return .isNull(key: key, negated: negated)
            }
            let negated = keyword("NOT")
            if keyword("IN") {
                guard symbol("(") else { throw PartitionExpression.invalid(text) }
                var values = [try value()]
                while symbol(",") { values.append(try value()) }
                guard symbol(")") else { throw PartitionExpression.invalid(text) }
                return negated ? .not(.within(key: key, values: values)) : .within(key: key, values: values)
            }
            if keyword("BETWEEN") {
                let low = try value()
                guard keyword("AND") else { throw PartitionExpression.invalid(text) }
                let node = Node.between(key: key, low: low, high: try value())
                return negated ? .not(node) : node
            }
            if keyword("LIKE") {
                let node = Node.like(key: key, pattern: try value())
                return negated ? .not(node) : node
            }
            guard !negated, position < tokens.count, case .symbol(let op) = tokens[position], ["=", "<>", "!=", "<", "<=", ">", ">="].contains(op) else {
                throw PartitionExpression.invalid(text)
            }
            position += 1
            return .compare(key: key, operator: op, value: try value())
        }

        mutating func value() throws(AWSError) -> String {
            guard position < tokens.count else { throw PartitionExpression.invalid(text) }
            switch tokens[position] {
            case .string(let s), .word(let s):
                position += 1
                return s
            case .symbol:
                throw PartitionExpression.invalid(text)
            }
        }
    }
}
