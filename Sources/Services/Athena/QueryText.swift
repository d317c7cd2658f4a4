import Foundation

/// A query's text made ready for the engine: execution parameters bound, Athena's casts and
/// typed literals rewritten into what SQLite runs, and constructs the engine cannot run refused
/// with their position. Positions in the rewritten text map back to the query as written.
public struct QueryText: Sendable, Equatable {
    public var text: String
    /// (offset in `text`, line and column in the original), one per token, in order.
    var anchors: [(offset: Int, line: Int, column: Int)]
    /// The result columns (by position) whose expressions are boolean-valued (a comparison, a
    /// logical operator, a boolean literal or function): SQLite gives them as integers 1 and 0,
    /// where Athena gives booleans.
    public var booleanColumns: Set<Int> = []

    public static func == (lhs: QueryText, rhs: QueryText) -> Bool { lhs.text == rhs.text }

    /// The original line and column of a byte offset in the rewritten text.
    public func position(ofOffset offset: Int) -> (line: Int, column: Int) {
        var found = (line: 1, column: 1)
        for anchor in anchors {
            if anchor.offset > offset { break }
            found = (anchor.line, anchor.column + (offset - anchor.offset))
        }
        return found
    }

    struct Token {
        enum Kind { case word, quoted, string, number, symbol, parameter }
        var kind: Kind
        var text: String
        var line: Int
        var column: Int
        var upper: String { kind == .word ? text.uppercased() : "" }
    }

    /// Constructs of Athena's SQL that the embedded engine has no equivalent for.
    static let unsupportedWords: [String: String] = [
        "UNNEST": "UNNEST", "INTERVAL": "INTERVAL literals", "TABLESAMPLE": "TABLESAMPLE", "LATERAL": "LATERAL",
    ]

    public static func prepare(_ sql: String, parameters: [String] = []) throws(QueryFailure) -> QueryText {
        var tokens = try tokenize(sql)
        // A trailing semicolon ends the statement; anything after it is a second statement.
        if let last = tokens.last, last.kind == .symbol, last.text == ";" { tokens.removeLast() }
        if let semicolon = tokens.first(where: { $0.kind == .symbol && $0.text == ";" }) {
            throw .user("line \(semicolon.line):\(semicolon.column): mismatched input ';'. Only one statement is allowed")
        }
        let placeholders = tokens.filter { $0.kind == .parameter }.count
        guard placeholders == parameters.count else {
            throw .user("line 1:1: Incorrect number of parameters: expected \(placeholders) but found \(parameters.count)")
        }
        let booleanColumns = Self.booleanColumns(tokens)
        var output = ""
        var anchors: [(offset: Int, line: Int, column: Int)] = []
        var parameterIndex = 0
        var index = 0
        var depth = 0
        // ORDER BY clauses under way, by the parenthesis depth they are at. Athena sorts NULLs
        // last whichever the direction; SQLite sorts them first in ascending order, so each
        // ordering item without NULLS FIRST/LAST gets NULLS LAST.
        var orderings: [Int] = []
        var itemHasNulls = false
        func emit(_ text: String, _ token: Token) {
            if !output.isEmpty { output += " " }
            anchors.append((output.utf8.count, token.line, token.column))
            output += text
            if text == "(" { depth += 1 }
            if text == ")" { depth -= 1 }
        }
        func endOrderingItem(at token: Token, last: Bool) {
            if !itemHasNulls { emit("NULLS LAST", token) }
            itemHasNulls = false
            if last { orderings.removeLast() }
        }
        while index < tokens.count {
            let token = tokens[index]
            let next = index + 1 < tokens.count ? tokens[index + 1] : nil
            if token.upper == "ORDER", next?.upper == "BY" {
                emit(token.text, token)
                emit(next!.text, next!)
                orderings.append(depth)
                itemHasNulls = false
                index += 2
                continue
            }
            if orderings.last == depth {
                if token.kind == .symbol, token.text == "," {
                    endOrderingItem(at: token, last: false)
                } else if (token.kind == .symbol && token.text == ")") || Self.orderingEnds.contains(token.upper) {
                    endOrderingItem(at: token, last: true)
                } else if token.upper == "NULLS" {
                    itemHasNulls = true
                }
            }
            if let construct = unsupportedWords[token.upper] {
                throw .user("NOT_SUPPORTED: line \(token.line):\(token.column): \(construct) is not supported by this engine")
            }
            if token.upper == "ARRAY", next?.text == "[" {
                throw .user("NOT_SUPPORTED: line \(token.line):\(token.column): ARRAY constructors are not supported by this engine")
            }
            if token.upper == "AT", next?.upper == "TIME" {
                throw .user("NOT_SUPPORTED: line \(token.line):\(token.column): AT TIME ZONE is not supported by this engine")
            }
            if token.kind == .symbol, token.text == "->" {
                throw .user("NOT_SUPPORTED: line \(token.line):\(token.column): lambda expressions are not supported by this engine")
            }
            switch token.kind {
            case .parameter:
                emit(parameters[parameterIndex], token)
                parameterIndex += 1
            case .word where (token.upper == "DATE" || token.upper == "TIMESTAMP") && next?.kind == .string:
                // A typed literal: the engine holds dates and timestamps as Athena prints them.
                let literal = String(next!.text.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
                guard let time = Timestamp(literal) else {
                    throw .user("INVALID_LITERAL: line \(next!.line):\(next!.column): '\(literal)' is not a valid \(token.upper.lowercased()) literal")
                }
                emit("'" + (token.upper == "DATE" ? time.dateText : time.text) + "'", next!)
                index += 2
                continue
            case .word where (token.upper == "CAST" || token.upper == "TRY_CAST") && next?.text == "(":
                // CAST(x AS type) → athena_cast(x, 'type'): Athena's conversions and failures.
                guard let (asIndex, close) = castParts(tokens, open: index + 1) else {
                    throw .user("line \(token.line):\(token.column): mismatched input '\(token.text)'. Expecting: CAST(expression AS type)")
                }
                let type = tokens[(asIndex + 1)..<close].map(\.text).joined().lowercased()
                emit(token.upper == "CAST" ? "athena_cast" : "athena_try_cast", token)
                emit("(", tokens[index + 1])
                var inner = Array(tokens[(index + 2)..<asIndex])
                inner.append(Token(kind: .symbol, text: ",", line: tokens[asIndex].line, column: tokens[asIndex].column))
                inner.append(Token(kind: .string, text: "'" + type + "'", line: tokens[asIndex + 1].line, column: tokens[asIndex + 1].column))
                inner.append(tokens[close])
                tokens.replaceSubrange((index + 2)...close, with: inner)
                index += 2
                continue
            case .word where token.upper == "APPROX_DISTINCT" && next?.text == "(":
                emit("count", token)
                emit("(", tokens[index + 1])
                emit("DISTINCT", tokens[index + 1])
                index += 2
                continue
            case .word where token.upper == "ARBITRARY" && next?.text == "(":
                emit("min", token)
            case .word where token.upper == "DEFAULT" && next?.text == ".":
                // Athena's default database; a keyword to SQLite unless quoted.
                emit("\"default\"", token)
            default:
                emit(token.text, token)
            }
            index += 1
        }
        if let last = tokens.last {
            while !orderings.isEmpty { endOrderingItem(at: last, last: true) }
        }
        return QueryText(text: output, anchors: anchors, booleanColumns: booleanColumns)
    }

    /// Operators and words whose result is a boolean when they are an item's outermost.
    static let booleanSymbols: Set<String> = ["=", "<>", "!=", "<", ">", "<=", ">="]
    static let booleanWords: Set<String> = ["AND", "OR", "NOT", "IN", "LIKE", "BETWEEN", "IS", "EXISTS"]
    static let booleanFunctions: Set<String> = ["REGEXP_LIKE", "CONTAINS", "STARTS_WITH", "IS_NAN", "IS_FINITE", "IS_INFINITE"]

    /// The positions of the outermost SELECT's boolean-valued items. Empty when the list has a
    /// `*` (its positions are not known from the text).
    static func booleanColumns(_ tokens: [Token]) -> Set<Int> {
        // Nesting: parentheses and CASE … END (a CASE's conditions are not its value).
        func depthChange(_ token: Token) -> Int {
            if token.kind == .symbol { return token.text == "(" ? 1 : token.text == ")" ? -1 : 0 }
            return token.upper == "CASE" ? 1 : token.upper == "END" ? -1 : 0
        }
        // The main SELECT: the first at depth 0 (a WITH's queries are in parentheses).
        var depth = 0
        var start: Int?
        for (index, token) in tokens.enumerated() {
            if depth == 0, token.upper == "SELECT" {
                start = index + 1
                break
            }
            depth += depthChange(token)
        }
        guard var index = start else { return [] }
        if index < tokens.count, tokens[index].upper == "DISTINCT" || tokens[index].upper == "ALL" { index += 1 }
        var items: [[Token]] = [[]]
        depth = 0
        let listEnds: Set<String> = ["FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "UNION", "INTERSECT", "EXCEPT", "WINDOW", "OFFSET"]
        while index < tokens.count {
            let token = tokens[index]
            if depth == 0, listEnds.contains(token.upper) { break }
            if depth == 0, token.kind == .symbol, token.text == "," {
                items.append([])
            } else {
                items[items.count - 1].append(token)
            }
            depth += depthChange(token)
            index += 1
        }
        var found: Set<Int> = []
        for (position, item) in items.enumerated() {
            if item.last?.text == "*" { return [] }
            if isBoolean(item) { found.insert(position) }
        }
        return found
    }

    /// Whether an item (an expression and perhaps its alias) is boolean-valued.
    static func isBoolean(_ whole: [Token]) -> Bool {
        // Parentheses around the whole (then perhaps an alias) are looked through, in a loop over
        // positions (a query of 100,000 nested parentheses must not recurse or copy).
        // Each parenthesis's partner, found in one pass.
        var partner = [Int](repeating: -1, count: whole.count)
        var opened: [Int] = []
        for (index, token) in whole.enumerated() where token.kind == .symbol {
            if token.text == "(" { opened.append(index) }
            if token.text == ")", let open = opened.popLast() {
                partner[open] = index
                partner[index] = open
            }
        }
        func matchingParenthesis(_ open: Int, end: Int) -> Int? { partner[open] >= 0 && partner[open] < end ? partner[open] : nil }
        var lower = 0
        var upper = whole.count
        while upper - lower > 1, whole[lower].text == "(", let close = matchingParenthesis(lower, end: upper),
            close == upper - 1 || isAlias(whole[(close + 1)..<upper])
        {
            if whole[lower + 1].upper == "SELECT" { return false }
            lower += 1
            upper = close
        }
        let item = whole[lower..<upper]
        guard let first = item.first else { return false }
        var depth = 0
        for token in item {
            if depth == 0 {
                if token.kind == .symbol, booleanSymbols.contains(token.text) { return true }
                if booleanWords.contains(token.upper) { return true }
            }
            if token.kind == .symbol { depth += token.text == "(" ? 1 : token.text == ")" ? -1 : 0 }
            if token.upper == "CASE" { depth += 1 }
            if token.upper == "END" { depth -= 1 }
        }
        // The whole item a boolean literal, a boolean function's call, or a cast to boolean.
        let rest = { (end: Int) in end == upper - 1 || (end < upper - 1 && isAlias(whole[(end + 1)..<upper])) }
        if first.upper == "TRUE" || first.upper == "FALSE" { return rest(lower) }
        if item.count > 1, whole[lower + 1].text == "(", let close = matchingParenthesis(lower + 1, end: upper), rest(close) {
            if booleanFunctions.contains(first.upper) { return true }
            if first.upper == "CAST" || first.upper == "TRY_CAST" { return whole[close - 1].upper == "BOOLEAN" && whole[close - 2].upper == "AS" }
        }
        return false
    }

    /// `[AS] name`.
    static func isAlias(_ tokens: ArraySlice<Token>) -> Bool {
        let words = tokens.first?.upper == "AS" ? tokens.dropFirst() : tokens
        return words.count == 1 && (words.first!.kind == .word || words.first!.kind == .quoted)
    }

    /// Words that end an ORDER BY clause.
    static let orderingEnds: Set<String> = ["LIMIT", "OFFSET", "FETCH", "UNION", "INTERSECT", "EXCEPT", "ROWS", "RANGE", "GROUPS", "WINDOW"]

    /// In `CAST ( … AS type )` from the opening parenthesis: the AS at depth one and the closing parenthesis.
    static func castParts(_ tokens: [Token], open: Int) -> (Int, Int)? {
        var depth = 0
        var asIndex: Int?
        var index = open
        while index < tokens.count {
            let token = tokens[index]
            if token.kind == .symbol, token.text == "(" { depth += 1 }
            if token.kind == .symbol, token.text == ")" {
                depth -= 1
                if depth == 0 {
                    guard let asIndex, asIndex + 1 < index else { return nil }
                    return (asIndex, index)
                }
            }
            if depth == 1, token.upper == "AS" { asIndex = index }
            index += 1
        }
        return nil
    }

    /// Words, "quoted" and `quoted` identifiers (as double-quoted ones), 'strings', numbers,
    /// symbols and `?` placeholders; comments dropped.
    static func tokenize(_ sql: String) throws(QueryFailure) -> [Token] {
        let bytes = Array(sql.utf8)
        var tokens: [Token] = []
        var index = 0
        var line = 1
        var lineStart = 0
        func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        while index < bytes.count {
            let byte = bytes[index]
            let column = index - lineStart + 1
            switch byte {
            case 10:
                index += 1
                line += 1
                lineStart = index
            case 9, 13, 32:
                index += 1
            case UInt8(ascii: "-") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "-"):
                while index < bytes.count, bytes[index] != 10 { index += 1 }
            case UInt8(ascii: "/") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "*"):
                index += 2
                while index + 1 < bytes.count, !(bytes[index] == UInt8(ascii: "*") && bytes[index + 1] == UInt8(ascii: "/")) {
                    if bytes[index] == 10 {
                        line += 1
                        lineStart = index + 1
                    }
                    index += 1
                }
                index += 2
            case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"):
                let quote = byte
                let begin = index
                let (startLine, startColumn) = (line, column)
                index += 1
                var closed = false
                while index < bytes.count {
                    if bytes[index] == 10 {
                        line += 1
                        lineStart = index + 1
                    }
                    if bytes[index] == quote {
                        if index + 1 < bytes.count, bytes[index + 1] == quote {
                            index += 2
                            continue
                        }
                        closed = true
                        index += 1
                        break
                    }
                    index += 1
                }
                guard closed else {
                    throw .user("line \(startLine):\(startColumn): unterminated \(quote == UInt8(ascii: "'") ? "string literal" : "quoted identifier")")
                }
                if quote == UInt8(ascii: "'") {
                    tokens.append(Token(kind: .string, text: text(begin..<index), line: startLine, column: startColumn))
                } else {
                    let inner = text((begin + 1)..<(index - 1)).replacingOccurrences(of: String(UnicodeScalar(quote)) + String(UnicodeScalar(quote)), with: String(UnicodeScalar(quote)))
                    tokens.append(Token(kind: .quoted, text: "\"" + inner.replacingOccurrences(of: "\"", with: "\"\"") + "\"", line: startLine, column: startColumn))
                }
            case UInt8(ascii: "?"):
                tokens.append(Token(kind: .parameter, text: "?", line: line, column: column))
                index += 1
            default:
                let begin = index
                if isWordByte(byte) && !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                    while index < bytes.count, isWordByte(bytes[index]) { index += 1 }
                    tokens.append(Token(kind: .word, text: text(begin..<index), line: line, column: column))
                } else if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (byte == UInt8(ascii: ".") && index + 1 < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index + 1])) {
                    while index < bytes.count, isWordByte(bytes[index]) || bytes[index] == UInt8(ascii: ".")
                        || ((bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) && (bytes[index - 1] | 0x20) == UInt8(ascii: "e"))
                    {
                        index += 1
                    }
                    tokens.append(Token(kind: .number, text: text(begin..<index), line: line, column: column))
                } else {
                    // Two-character operators first.
                    let pair = index + 1 < bytes.count ? text(index..<(index + 2)) : ""
                    let length = ["->", "<>", "!=", ">=", "<=", "||"].contains(pair) ? 2 : 1
                    tokens.append(Token(kind: .symbol, text: text(index..<(index + length)), line: line, column: column))
                    index += length
                }
            }
        }
        return tokens
    }

    public static func isWordByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
            || byte >= 0x80
    }
}
