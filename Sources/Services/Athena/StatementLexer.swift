// The tokens of an Athena statement, with each one's line and column (Hive's escapes in DDL strings).

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// MARK: - Lexer

struct StatementToken: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case word, quotedIdentifier, string, number, symbol
        /// End of input.
        case end
        /// A lexing error; `text` holds its description. Always the last token.
        case invalid
    }

    var kind: Kind
    /// Words and numbers as written; quoted identifiers and strings unescaped; symbols one character.
    var text: String
    /// The source text, shown in error messages.
    var raw: String
    var line: Int
    var column: Int
    /// Upper-cased text of a word (keywords are case-insensitive), empty for other kinds.
    var keyword: String
    /// Where it starts in the statement, in characters (EXECUTE's values and PREPARE's query are
    /// taken as written).
    var offset = 0

    init(kind: Kind, text: String, raw: String, line: Int, column: Int) {
        self.kind = kind
        self.text = text
        self.raw = raw
        self.line = line
        self.column = column
        self.keyword = kind == .word ? text.uppercased() : ""
    }

    func isSymbol(_ symbol: String) -> Bool { kind == .symbol && text == symbol }

    var error: StatementError { StatementError(line: line, column: column, detail: text) }
}

struct StatementLexer {
    private let chars: [Character]
    /// Hive reads backslash escapes in DDL strings ('\t', '\\', '\001'); Trino queries do not.
    private let hiveEscapes: Bool
    private var index = 0
    private var line = 1
    private var column = 1

    private init(chars: [Character], hiveEscapes: Bool) {
        self.chars = chars
        self.hiveEscapes = hiveEscapes
    }

    /// Every token up to and including a final `.end` or `.invalid` token (so never empty).
    static func tokenize(_ sql: String, hiveEscapes: Bool) -> [StatementToken] {
        var lexer = StatementLexer(chars: Array(sql), hiveEscapes: hiveEscapes)
        var tokens: [StatementToken] = []
        while true {
            let token = lexer.nextToken()
            tokens.append(token)
            if token.kind == .end || token.kind == .invalid { return tokens }
        }
    }

    private func peek(_ offset: Int = 0) -> Character? {
        let position = index + offset
        return position < chars.count ? chars[position] : nil
    }

    private mutating func bump() {
        guard index < chars.count else { return }
        // "\r\n" is a single Character, so it counts as one line break.
        if chars[index].isNewline {
            line += 1
            column = 1
        } else {
            column += 1
        }
        index += 1
    }

    private static func isDigit(_ c: Character?) -> Bool { c.map { $0.isASCII && $0.isNumber } ?? false }
    private static func isIdentifierCharacter(_ c: Character?) -> Bool {
        guard let c else { return false }
        return c.isLetter || c == "_" || isDigit(c)
    }

    private mutating func nextToken() -> StatementToken {
        if let failure = skipBlanksAndComments() { return failure }
        let start = index, startLine = line, startColumn = column
        func make(_ kind: StatementToken.Kind, _ text: String) -> StatementToken {
            var token = StatementToken(
                kind: kind, text: text, raw: String(chars[start..<index]), line: startLine, column: startColumn)
            token.offset = start
            return token
        }
        func failure(_ detail: String) -> StatementToken {
            StatementToken(kind: .invalid, text: detail, raw: "", line: startLine, column: startColumn)
        }

        guard let c = peek() else { return make(.end, "") }
        if c.isLetter || c == "_" {
            while Self.isIdentifierCharacter(peek()) { bump() }
            return make(.word, String(chars[start..<index]))
        }
        if Self.isDigit(c) {
            let kind = lexNumber()
            return make(kind, String(chars[start..<index]))
        }
        if c == "\"" || c == "`" {
            guard let text = lexQuoted(closer: c) else { return failure("unterminated quoted identifier") }
            if text.isEmpty { return failure("zero-length delimited identifier not allowed") }
            return make(.quotedIdentifier, text)
        }
        if c == "'" {
            guard let text = lexString() else { return failure("unterminated string literal") }
            return make(.string, text)
        }
        bump()
        return make(.symbol, String(c))
    }

    /// Skips whitespace, `-- line` and `/* block */` comments; an unclosed block comment is an error.
    private mutating func skipBlanksAndComments() -> StatementToken? {
        while let c = peek() {
            if c.isWhitespace {
                bump()
            } else if c == "-", peek(1) == "-" {
                while let d = peek(), !d.isNewline { bump() }
            } else if c == "/", peek(1) == "*" {
                let startLine = line, startColumn = column
                bump()
                bump()
                while true {
                    guard let d = peek() else {
                        return StatementToken(
                            kind: .invalid, text: "unterminated comment", raw: "", line: startLine,
                            column: startColumn)
                    }
                    if d == "*", peek(1) == "/" {
                        bump()
                        bump()
                        break
                    }
                    bump()
                }
            } else {
                return nil
            }
        }
        return nil
    }

    /// Reads a number, or a word that begins with digits; says which it was.
    private mutating func lexNumber() -> StatementToken.Kind {
        while Self.isDigit(peek()) { bump() }
        // Hive accepts identifiers that begin with digits (`1st_col`); take those whole as words.
        if let c = peek(), c.isLetter || c == "_", !((c == "e" || c == "E") && exponentFollows()) {
            while Self.isIdentifierCharacter(peek()) { bump() }
            return .word
        }
        if peek() == ".", Self.isDigit(peek(1)) {
            bump()
            while Self.isDigit(peek()) { bump() }
        }
        if let c = peek(), c == "e" || c == "E", exponentFollows() {
            bump()
            if peek() == "+" || peek() == "-" { bump() }
            while Self.isDigit(peek()) { bump() }
        }
        return .number
    }

    /// Whether the `e` at the current position starts an exponent (`e5`, `e+5`, `E-5`).
    private func exponentFollows() -> Bool {
        if Self.isDigit(peek(1)) { return true }
        return (peek(1) == "+" || peek(1) == "-") && Self.isDigit(peek(2))
    }

    /// The content of a "..." or `...` identifier (doubled closer = one), or nil if unterminated.
    private mutating func lexQuoted(closer: Character) -> String? {
        bump()
        var text = ""
        while let c = peek() {
            bump()
            if c == closer {
                guard peek() == closer else { return text }
                bump()
            }
            text.append(c)
        }
        return nil
    }

    /// The value of a '...' literal ('' = one quote, plus Hive escapes in DDL), or nil if unterminated.
    private mutating func lexString() -> String? {
        bump()
        var text = ""
        while let c = peek() {
            bump()
            if c == "'" {
                guard peek() == "'" else { return text }
                bump()
                text.append("'")
            } else if c == "\\", hiveEscapes, peek() != nil {
                text += lexHiveEscape()
            } else {
                text.append(c)
            }
        }
        return nil
    }

    /// Decodes the escape after a backslash the way Hive's unescapeSQLString does.
    private mutating func lexHiveEscape() -> String {
        guard let c = peek() else { return "\\" }
        // \uXXXX
        if c == "u", let h1 = peek(1)?.hexDigitValue, let h2 = peek(2)?.hexDigitValue,
            let h3 = peek(3)?.hexDigitValue, let h4 = peek(4)?.hexDigitValue
        {
            for _ in 0..<5 { bump() }
            let value = UInt32(((h1 * 16 + h2) * 16 + h3) * 16 + h4)
            return String(Character(Unicode.Scalar(value) ?? "\u{FFFD}"))
        }
        // \[01][0-7][0-7]: an octal byte, as in '\001' (Hive's default field separator).
        if c == "0" || c == "1", let o2 = peek(1), let o3 = peek(2), let d2 = o2.wholeNumberValue,
            let d3 = o3.wholeNumberValue, o2.isASCII, o3.isASCII, d2 < 8, d3 < 8
        {
            for _ in 0..<3 { bump() }
            let value = UInt8((c == "1" ? 64 : 0) + d2 * 8 + d3)
            return String(Character(Unicode.Scalar(value)))
        }
        bump()
        switch c {
        case "0": return "\u{0}"
        case "b": return "\u{8}"
        case "n": return "\n"
        case "r": return "\r"
        case "t": return "\t"
        case "Z": return "\u{1A}"
        // Hive keeps these escaped, like MySQL, so LIKE patterns stay literal.
        case "%": return "\\%"
        case "_": return "\\_"
        default: return String(c)  // \\ \' \" and anything else: the character itself
        }
    }
}
