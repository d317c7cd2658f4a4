// Athena's non-query statements: the Hive-style DDL and utility commands (CREATE/DROP DATABASE,
// CREATE/DROP TABLE, ALTER TABLE ADD/DROP PARTITION, MSCK REPAIR TABLE, SHOW ..., DESCRIBE) are
// parsed here; every query (SELECT, WITH, VALUES, TABLE, parenthesised) is only classified and
// left to the SQL engine. Errors are worded the way Athena words them ("line L:C: mismatched
// input 'X'. Expecting: ...") so clients see familiar messages.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// MARK: - Statement model

public struct ColumnDefinition: Codable, Sendable, Equatable {
    public var name: String
    /// Lower-cased, without spaces: "int", "decimal(10,2)", "array<struct<a:int,b:string>>".
    public var type: String
    public var comment: String?

    public init(name: String, type: String, comment: String? = nil) {
        self.name = name
        self.type = type
        self.comment = comment
    }
}

public enum RowFormat: Codable, Sendable, Equatable {
    /// ROW FORMAT DELIMITED [FIELDS TERMINATED BY 'x' [ESCAPED BY 'y']] [COLLECTION ITEMS TERMINATED BY ..]
    /// [MAP KEYS TERMINATED BY ..] [LINES TERMINATED BY 'z'] [NULL DEFINED AS 'n']
    case delimited(fieldDelimiter: String?, escape: String?, lineDelimiter: String?, nullFormat: String?)
    /// ROW FORMAT SERDE 'class' [WITH SERDEPROPERTIES ('k'='v', ...)]
    case serde(name: String, properties: [String: String])
}

public struct TableDefinition: Codable, Sendable, Equatable {
    /// Set when the name was qualified `db.table`.
    public var database: String?
    public var name: String
    public var columns: [ColumnDefinition]
    /// PARTITIONED BY (k type, ...)
    public var partitionKeys: [ColumnDefinition]
    public var rowFormat: RowFormat?
    /// STORED AS TEXTFILE / PARQUET / ... upper-cased, or the input format class of
    /// STORED AS INPUTFORMAT '...' OUTPUTFORMAT '...'.
    public var storedAs: String?
    public var location: String?
    /// TBLPROPERTIES, keys as written.
    public var properties: [String: String]
    public var comment: String?
    public var isExternal: Bool

    public init(
        database: String? = nil, name: String, columns: [ColumnDefinition] = [],
        partitionKeys: [ColumnDefinition] = [], rowFormat: RowFormat? = nil, storedAs: String? = nil,
        location: String? = nil, properties: [String: String] = [:], comment: String? = nil,
        isExternal: Bool = false
    ) {
        self.database = database
        self.name = name
        self.columns = columns
        self.partitionKeys = partitionKeys
        self.rowFormat = rowFormat
        self.storedAs = storedAs
        self.location = location
        self.properties = properties
        self.comment = comment
        self.isExternal = isExternal
    }
}

public struct QualifiedName: Sendable, Equatable {
    public var database: String?
    public var name: String

    public init(database: String? = nil, name: String) {
        self.database = database
        self.name = name
    }
}

public struct PartitionSpec: Sendable, Equatable {
    /// In the order written.
    public var values: [PartitionValue]
    public var location: String?

    public init(values: [PartitionValue], location: String? = nil) {
        self.values = values
        self.location = location
    }
}

public struct PartitionValue: Sendable, Equatable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

public enum AthenaStatement: Sendable, Equatable {
    case createDatabase(name: String, ifNotExists: Bool, comment: String?, location: String?)
    case dropDatabase(name: String, ifExists: Bool, cascade: Bool)
    case createTable(TableDefinition, ifNotExists: Bool)
    case dropTable(QualifiedName, ifExists: Bool)
    case addPartitions(QualifiedName, ifNotExists: Bool, partitions: [PartitionSpec])
    case dropPartitions(QualifiedName, ifExists: Bool, partitions: [PartitionSpec])
    case repairTable(QualifiedName)
    case showDatabases(like: String?)
    case showTables(database: String?, like: String?)
    case showColumns(QualifiedName)
    case showPartitions(QualifiedName)
    case showCreateTable(QualifiedName)
    case describe(QualifiedName)
    /// SELECT, WITH, VALUES, TABLE or ( ... ): left to the SQL engine.
    case query
}

public struct StatementError: Error, Sendable, Equatable {
    /// Formatted as Athena formats it, always beginning "line L:C: ".
    public var message: String
    /// 1-based line of the offending token.
    public var line: Int
    /// 1-based column of the offending token.
    public var column: Int

    public init(message: String, line: Int, column: Int) {
        self.message = message
        self.line = line
        self.column = column
    }

    init(line: Int, column: Int, detail: String) {
        self.init(message: "line \(line):\(column): \(detail)", line: line, column: column)
    }
}

// MARK: - Entry points

public enum AthenaStatements {
    /// What the first word of a statement may be; listed when it is anything else.
    static let statementStarts = ["'ALTER'", "'CREATE'", "'DESCRIBE'", "'DROP'", "'MSCK'", "'SELECT'", "'SHOW'", "'WITH'"]
    static let ddlStarts: Set<String> = ["ALTER", "CREATE", "DESC", "DESCRIBE", "DROP", "MSCK", "SHOW"]
    static let queryStarts: Set<String> = ["SELECT", "WITH", "VALUES", "TABLE"]

    public static func parse(_ sql: String) throws(StatementError) -> AthenaStatement {
        // Queries keep backslashes literal (Trino rules); DDL strings use Hive's backslash escapes,
        // so the first word decides how the whole text is lexed.
        let tokens = StatementLexer.tokenize(sql, hiveEscapes: false)
        let first = tokens[0]
        switch first.kind {
        case .end:
            // Athena reports an empty statement at its very start, whatever whitespace it holds.
            throw StatementError(
                line: 1, column: 1,
                detail: "mismatched input '<EOF>'. Expecting: " + statementStarts.joined(separator: ", "))
        case .word where ddlStarts.contains(first.keyword):
            var parser = StatementParser(tokens: StatementLexer.tokenize(sql, hiveEscapes: true))
            return try parser.statement()
        case .word where queryStarts.contains(first.keyword):
            try checkSingleQuery(tokens)
            return .query
        case .symbol where first.text == "(":
            try checkSingleQuery(tokens)
            return .query
        default:
            throw StatementParser.mismatched(first, expecting: statementStarts)
        }
    }

    public static func substatementType(_ statement: AthenaStatement) -> String {
        switch statement {
        case .createDatabase: "CREATE_DATABASE"
        case .dropDatabase: "DROP_DATABASE"
        case .createTable: "CREATE_TABLE"
        case .dropTable: "DROP_TABLE"
        case .addPartitions: "ALTER_TABLE_ADD_PARTITION"
        case .dropPartitions: "ALTER_TABLE_DROP_PARTITION"
        case .repairTable: "MSCK_REPAIR_TABLE"
        case .showDatabases: "SHOW_DATABASES"
        case .showTables: "SHOW_TABLES"
        case .showColumns: "SHOW_COLUMNS"
        case .showPartitions: "SHOW_PARTITIONS"
        case .showCreateTable: "SHOW_CREATE_TABLE"
        case .describe: "DESCRIBE_TABLE"
        case .query: "SELECT"
        }
    }

    /// The identifiers a query mentions, outside strings and comments, lower-cased: `a.b` gives
    /// database a / name b (and `c.a.b` gives both c.a and a.b, so catalog-qualified names still
    /// yield their db.table pair); an identifier on neither side of a dot gives a lone name.
    /// Trino's reserved words are not identifiers unless quoted, so they are left out.
    public static func mentionedNames(_ sql: String) -> [QualifiedName] {
        // A lexing error ends the list early rather than failing: this is only a best-effort scan.
        let tokens = StatementLexer.tokenize(sql, hiveEscapes: false)
        func identifier(at index: Int) -> String? {
            guard index >= 0, index < tokens.count else { return nil }
            let token = tokens[index]
            switch token.kind {
            case .quotedIdentifier:
                return token.text.lowercased()
            case .word:
                // Words beginning with a digit are Hive-only; Trino rejects them as identifiers.
                guard let first = token.text.first, first.isLetter || first == "_",
                    !trinoReservedWords.contains(token.keyword)
                else { return nil }
                return token.text.lowercased()
            default:
                return nil
            }
        }
        func isDot(_ index: Int) -> Bool { index >= 0 && index < tokens.count && tokens[index].isSymbol(".") }

        var names: [QualifiedName] = []
        var seen = Set<[String?]>()
        func add(_ name: QualifiedName) {
            if seen.insert([name.database, name.name]).inserted { names.append(name) }
        }
        for index in tokens.indices {
            guard let name = identifier(at: index) else { continue }
            if isDot(index + 1), let next = identifier(at: index + 2) {
                add(QualifiedName(database: name, name: next))
            } else if !(isDot(index - 1) && identifier(at: index - 2) != nil) {
                add(QualifiedName(database: nil, name: name))
            }
        }
        return names
    }

    /// Queries are not parsed here, but they must be one statement and lex cleanly.
    static func checkSingleQuery(_ tokens: [StatementToken]) throws(StatementError) {
        for (index, token) in tokens.enumerated() {
            if token.kind == .invalid { throw token.error }
            if token.isSymbol(";"), index + 1 < tokens.count, tokens[index + 1].kind != .end {
                throw StatementParser.mismatched(token, expecting: ["<EOF>"])
            }
        }
    }

    /// Trino's reserved words: never bare identifiers in a query.
    static let trinoReservedWords: Set<String> = [
        "ALTER", "AND", "AS", "BETWEEN", "BY", "CASE", "CAST", "CONSTRAINT", "CREATE", "CROSS", "CUBE",
        "CURRENT_CATALOG", "CURRENT_DATE", "CURRENT_PATH", "CURRENT_ROLE", "CURRENT_SCHEMA", "CURRENT_TIME",
        "CURRENT_TIMESTAMP", "CURRENT_USER", "DEALLOCATE", "DELETE", "DESCRIBE", "DISTINCT", "DROP", "ELSE",
        "END", "ESCAPE", "EXCEPT", "EXECUTE", "EXISTS", "EXTRACT", "FALSE", "FOR", "FROM", "FULL", "GROUP",
        "GROUPING", "HAVING", "IN", "INNER", "INSERT", "INTERSECT", "INTO", "IS", "JOIN", "JSON_ARRAY",
        "JSON_EXISTS", "JSON_OBJECT", "JSON_QUERY", "JSON_TABLE", "JSON_VALUE", "LEFT", "LIKE", "LISTAGG",
        "LOCALTIME", "LOCALTIMESTAMP", "NATURAL", "NORMALIZE", "NOT", "NULL", "ON", "OR", "ORDER", "OUTER",
        "PREPARE", "RECURSIVE", "RIGHT", "ROLLUP", "SELECT", "SKIP", "TABLE", "THEN", "TRIM", "TRUE",
        "UESCAPE", "UNION", "UNNEST", "USING", "VALUES", "WHEN", "WHERE", "WITH",
    ]
}

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
            StatementToken(
                kind: kind, text: text, raw: String(chars[start..<index]), line: startLine, column: startColumn)
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

// MARK: - DDL parser

struct StatementParser {
    private let tokens: [StatementToken]
    private var index = 0
    /// What was tried at `expectedIndex` without success, for the "Expecting:" list.
    private var expected: [String] = []
    private var expectedIndex = -1

    init(tokens: [StatementToken]) {
        // The lexer always ends with .end or .invalid; guard anyway so `current` is always valid.
        self.tokens = tokens.isEmpty ? [StatementToken(kind: .end, text: "", raw: "", line: 1, column: 1)] : tokens
    }

    /// Bare words that cannot name anything in Athena DDL without quoting (the structural subset of
    /// Athena's reserved DDL keywords; type names such as `date` stay usable as column names).
    static let reservedWords: Set<String> = [
        "ALL", "ALTER", "AND", "AS", "BETWEEN", "BY", "CASE", "CREATE", "CROSS", "DATABASE", "DELETE",
        "DESCRIBE", "DISTINCT", "DROP", "ELSE", "END", "EXISTS", "EXTERNAL", "FALSE", "FROM", "FULL", "GROUP",
        "HAVING", "IF", "IN", "INNER", "INSERT", "INTO", "IS", "JOIN", "LEFT", "LIKE", "NOT", "NULL", "ON",
        "OR", "ORDER", "OUTER", "PARTITION", "RIGHT", "ROW", "SELECT", "SET", "TABLE", "THEN", "TO", "TRUE",
        "UNION", "USING", "VALUES", "WHEN", "WHERE", "WITH",
    ]

    static func mismatched(_ token: StatementToken, expecting: [String]) -> StatementError {
        // A lexing error is reported as itself: it is why nothing sensible could be read there.
        if token.kind == .invalid { return token.error }
        let shown = token.kind == .end ? "<EOF>" : token.raw
        var detail = "mismatched input '\(shown)'"
        if !expecting.isEmpty { detail += ". Expecting: " + expecting.joined(separator: ", ") }
        return StatementError(line: token.line, column: token.column, detail: detail)
    }

    // MARK: Token helpers

    private var current: StatementToken { tokens[index] }
    private func peek(_ offset: Int = 1) -> StatementToken { tokens[min(index + offset, tokens.count - 1)] }

    private mutating func advance() {
        if index < tokens.count - 1 { index += 1 }
    }

    private mutating func note(_ alternative: String) {
        if expectedIndex != index {
            expected = []
            expectedIndex = index
        }
        if !expected.contains(alternative) { expected.append(alternative) }
    }

    /// An error at the current token listing everything tried there.
    private func fail() -> StatementError {
        Self.mismatched(current, expecting: expectedIndex == index ? expected : [])
    }

    private mutating func accept(_ keyword: String) -> Bool {
        if current.keyword == keyword {
            advance()
            return true
        }
        note("'\(keyword)'")
        return false
    }

    private mutating func expect(_ keyword: String) throws(StatementError) {
        if !accept(keyword) { throw fail() }
    }

    private mutating func acceptSymbol(_ symbol: String) -> Bool {
        if current.isSymbol(symbol) {
            advance()
            return true
        }
        note("'\(symbol)'")
        return false
    }

    private mutating func expectSymbol(_ symbol: String) throws(StatementError) {
        if !acceptSymbol(symbol) { throw fail() }
    }

    /// An optional clause that may appear at most once, in any order.
    private mutating func acceptClause(_ keyword: String, _ seen: inout Set<String>) -> Bool {
        guard !seen.contains(keyword), accept(keyword) else { return false }
        seen.insert(keyword)
        return true
    }

    private mutating func identifier() throws(StatementError) -> String {
        let token = current
        if token.kind == .quotedIdentifier || (token.kind == .word && !Self.reservedWords.contains(token.keyword)) {
            advance()
            return token.text.lowercased()
        }
        note("<identifier>")
        throw fail()
    }

    private mutating func qualifiedName() throws(StatementError) -> QualifiedName {
        let first = try identifier()
        guard acceptSymbol(".") else { return QualifiedName(database: nil, name: first) }
        return QualifiedName(database: first, name: try identifier())
    }

    private mutating func string() throws(StatementError) -> String {
        let token = current
        guard token.kind == .string else {
            note("<string>")
            throw fail()
        }
        advance()
        return token.text
    }

    private mutating func integer() throws(StatementError) -> String {
        let token = current
        guard token.kind == .number, token.text.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            note("<integer>")
            throw fail()
        }
        advance()
        return token.text
    }

    private mutating func ifNotExists() throws(StatementError) -> Bool {
        guard accept("IF") else { return false }
        try expect("NOT")
        try expect("EXISTS")
        return true
    }

    private mutating func ifExists() throws(StatementError) -> Bool {
        guard accept("IF") else { return false }
        try expect("EXISTS")
        return true
    }

    /// A trailing `;` is allowed; anything after it would be a second statement.
    private mutating func finish() throws(StatementError) {
        if current.isSymbol(";") {
            if peek().kind == .end { return }
            throw Self.mismatched(current, expecting: ["<EOF>"])
        }
        if current.kind == .end { return }
        note("<EOF>")
        throw fail()
    }

    // MARK: Statements

    mutating func statement() throws(StatementError) -> AthenaStatement {
        let leader = current.keyword
        guard AthenaStatements.ddlStarts.contains(leader) else {
            throw Self.mismatched(current, expecting: AthenaStatements.statementStarts)
        }
        advance()
        let result: AthenaStatement
        switch leader {
        case "CREATE": result = try create()
        case "DROP": result = try drop()
        case "ALTER": result = try alter()
        case "MSCK":
            try expect("REPAIR")
            try expect("TABLE")
            result = .repairTable(try qualifiedName())
        case "SHOW": result = try show()
        default: result = try describe()  // DESCRIBE or DESC
        }
        try finish()
        return result
    }

    private mutating func create() throws(StatementError) -> AthenaStatement {
        if accept("DATABASE") || accept("SCHEMA") { return try createDatabase() }
        let external = accept("EXTERNAL")
        if external {
            try expect("TABLE")
        } else if !accept("TABLE") {
            throw fail()
        }
        return try createTable(external: external)
    }

    private mutating func createDatabase() throws(StatementError) -> AthenaStatement {
        let ifNotExists = try ifNotExists()
        let name = try identifier()
        var comment: String?
        var location: String?
        var seen = Set<String>()
        while true {
            if acceptClause("COMMENT", &seen) {
                comment = try string()
            } else if acceptClause("LOCATION", &seen) {
                location = try string()
            } else if acceptClause("WITH", &seen) {
                // DBPROPERTIES are accepted but have nowhere to go.
                try expect("DBPROPERTIES")
                _ = try propertyList()
            } else {
                break
            }
        }
        return .createDatabase(name: name, ifNotExists: ifNotExists, comment: comment, location: location)
    }

    private mutating func createTable(external: Bool) throws(StatementError) -> AthenaStatement {
        let ifNotExists = try ifNotExists()
        let name = try qualifiedName()
        var table = TableDefinition(database: name.database, name: name.name, isExternal: external)
        // The column list is optional: some SerDes (Avro) supply the schema themselves.
        if acceptSymbol("(") { table.columns = try columnList() }
        var seen = Set<String>()
        while true {
            if acceptClause("COMMENT", &seen) {
                table.comment = try string()
            } else if acceptClause("PARTITIONED", &seen) {
                try expect("BY")
                try expectSymbol("(")
                table.partitionKeys = try columnList()
            } else if acceptClause("CLUSTERED", &seen) {
                try bucketing()
            } else if acceptClause("ROW", &seen) {
                try expect("FORMAT")
                table.rowFormat = try rowFormat()
            } else if acceptClause("STORED", &seen) {
                try expect("AS")
                table.storedAs = try storageFormat()
            } else if acceptClause("LOCATION", &seen) {
                table.location = try string()
            } else if acceptClause("TBLPROPERTIES", &seen) {
                table.properties = try propertyList()
            } else {
                break
            }
        }
        return .createTable(table, ifNotExists: ifNotExists)
    }

    /// `col type [COMMENT '...'], ... )` — the opening parenthesis already read.
    private mutating func columnList() throws(StatementError) -> [ColumnDefinition] {
        var columns: [ColumnDefinition] = []
        repeat {
            let name = try identifier()
            let type = try dataType(depth: 0)
            var comment: String?
            if accept("COMMENT") { comment = try string() }
            columns.append(ColumnDefinition(name: name, type: type, comment: comment))
        } while acceptSymbol(",")
        try expectSymbol(")")
        return columns
    }

    private static let primitiveTypes: Set<String> = [
        "boolean", "tinyint", "smallint", "int", "integer", "bigint", "float", "double", "string", "binary",
        "date", "timestamp",
    ]

    /// A Hive type read whole (nested `<...>` and `(...)`), lower-cased with no spaces.
    private mutating func dataType(depth: Int) throws(StatementError) -> String {
        // Bounded so that absurd nesting is an error, not a stack overflow.
        guard depth < 64 else {
            throw StatementError(line: current.line, column: current.column, detail: "type nesting is too deep")
        }
        let name = current.kind == .word ? current.text.lowercased() : ""
        if Self.primitiveTypes.contains(name) {
            advance()
            return name
        }
        switch name {
        case "decimal":
            advance()
            guard acceptSymbol("(") else { return name }
            var type = "decimal(" + (try integer())
            if acceptSymbol(",") { type += "," + (try integer()) }
            try expectSymbol(")")
            return type + ")"
        case "char", "varchar":
            advance()
            try expectSymbol("(")
            let length = try integer()
            try expectSymbol(")")
            return "\(name)(\(length))"
        case "array":
            advance()
            try expectSymbol("<")
            let element = try dataType(depth: depth + 1)
            try expectSymbol(">")
            return "array<\(element)>"
        case "map":
            advance()
            try expectSymbol("<")
            let key = try dataType(depth: depth + 1)
            try expectSymbol(",")
            let value = try dataType(depth: depth + 1)
            try expectSymbol(">")
            return "map<\(key),\(value)>"
        case "struct":
            advance()
            try expectSymbol("<")
            var fields: [String] = []
            repeat {
                let field = try fieldName()
                try expectSymbol(":")
                let type = try dataType(depth: depth + 1)
                if accept("COMMENT") { _ = try string() }  // field comments are not kept in the type
                fields.append("\(field):\(type)")
            } while acceptSymbol(",")
            try expectSymbol(">")
            return "struct<\(fields.joined(separator: ","))>"
        default:
            note("<type>")
            throw fail()
        }
    }

    /// Struct field names may be any word, reserved or not, or quoted.
    private mutating func fieldName() throws(StatementError) -> String {
        let token = current
        guard token.kind == .word || token.kind == .quotedIdentifier else {
            note("<identifier>")
            throw fail()
        }
        advance()
        return token.text.lowercased()
    }

    /// CLUSTERED BY (c, ...) [SORTED BY (c [ASC|DESC], ...)] INTO n BUCKETS: read and ignored,
    /// since bucketing does not change what a table holds.
    private mutating func bucketing() throws(StatementError) {
        try expect("BY")
        try expectSymbol("(")
        repeat { _ = try identifier() } while acceptSymbol(",")
        try expectSymbol(")")
        if accept("SORTED") {
            try expect("BY")
            try expectSymbol("(")
            repeat {
                _ = try identifier()
                if !accept("ASC") { _ = accept("DESC") }
            } while acceptSymbol(",")
            try expectSymbol(")")
        }
        try expect("INTO")
        _ = try integer()
        try expect("BUCKETS")
    }

    private mutating func rowFormat() throws(StatementError) -> RowFormat {
        if accept("DELIMITED") {
            var fields: String?
            var escape: String?
            var lines: String?
            var null: String?
            var seen = Set<String>()
            while true {
                if acceptClause("FIELDS", &seen) {
                    try terminatedBy()
                    fields = try string()
                    if accept("ESCAPED") {
                        try expect("BY")
                        escape = try string()
                    }
                } else if acceptClause("COLLECTION", &seen) {
                    // Collection and map-key delimiters have no field in RowFormat; read and dropped.
                    try expect("ITEMS")
                    try terminatedBy()
                    _ = try string()
                } else if acceptClause("MAP", &seen) {
                    try expect("KEYS")
                    try terminatedBy()
                    _ = try string()
                } else if acceptClause("LINES", &seen) {
                    try terminatedBy()
                    lines = try string()
                } else if acceptClause("NULL", &seen) {
                    try expect("DEFINED")
                    try expect("AS")
                    null = try string()
                } else {
                    break
                }
            }
            return .delimited(fieldDelimiter: fields, escape: escape, lineDelimiter: lines, nullFormat: null)
        }
        if accept("SERDE") {
            let name = try string()
            var properties: [String: String] = [:]
            if accept("WITH") {
                try expect("SERDEPROPERTIES")
                properties = try propertyList()
            }
            return .serde(name: name, properties: properties)
        }
        throw fail()
    }

    private mutating func terminatedBy() throws(StatementError) {
        try expect("TERMINATED")
        try expect("BY")
    }

    private mutating func storageFormat() throws(StatementError) -> String {
        if accept("INPUTFORMAT") {
            let input = try string()
            try expect("OUTPUTFORMAT")
            _ = try string()
            return input
        }
        guard current.kind == .word else {
            note("<identifier>")
            throw fail()
        }
        let format = current.keyword
        advance()
        return format
    }

    /// `('k' = 'v', ...)`; a repeated key keeps its last value.
    private mutating func propertyList() throws(StatementError) -> [String: String] {
        try expectSymbol("(")
        var properties: [String: String] = [:]
        repeat {
            let key = try string()
            try expectSymbol("=")
            properties[key] = try string()
        } while acceptSymbol(",")
        try expectSymbol(")")
        return properties
    }

    private mutating func drop() throws(StatementError) -> AthenaStatement {
        if accept("DATABASE") || accept("SCHEMA") {
            let ifExists = try ifExists()
            let name = try identifier()
            var cascade = false
            if accept("CASCADE") {
                cascade = true
            } else {
                _ = accept("RESTRICT")
            }
            return .dropDatabase(name: name, ifExists: ifExists, cascade: cascade)
        }
        try expect("TABLE")
        let ifExists = try ifExists()
        return .dropTable(try qualifiedName(), ifExists: ifExists)
    }

    private mutating func alter() throws(StatementError) -> AthenaStatement {
        try expect("TABLE")
        let name = try qualifiedName()
        if accept("ADD") {
            let ifNotExists = try ifNotExists()
            try expect("PARTITION")
            let partitions = try partitionSpecs(allowLocation: true)
            return .addPartitions(name, ifNotExists: ifNotExists, partitions: partitions)
        }
        if accept("DROP") {
            let ifExists = try ifExists()
            try expect("PARTITION")
            let partitions = try partitionSpecs(allowLocation: false)
            return .dropPartitions(name, ifExists: ifExists, partitions: partitions)
        }
        throw fail()
    }

    /// One or more `(k=v, ...) [LOCATION '...']` after the first PARTITION keyword. Further
    /// specs follow with PARTITION, optionally after a comma (ADD writes none, DROP writes one).
    private mutating func partitionSpecs(allowLocation: Bool) throws(StatementError) -> [PartitionSpec] {
        var specs: [PartitionSpec] = []
        while true {
            var spec = PartitionSpec(values: try partitionValues())
            if allowLocation, accept("LOCATION") { spec.location = try string() }
            specs.append(spec)
            if acceptSymbol(",") {
                try expect("PARTITION")
            } else if !accept("PARTITION") {
                return specs
            }
        }
    }

    private mutating func partitionValues() throws(StatementError) -> [PartitionValue] {
        try expectSymbol("(")
        var values: [PartitionValue] = []
        repeat {
            let key = try identifier()
            try expectSymbol("=")
            values.append(PartitionValue(key: key, value: try partitionLiteral()))
        } while acceptSymbol(",")
        try expectSymbol(")")
        return values
    }

    /// 'text', 42 or -42: the value as written (quotes removed).
    private mutating func partitionLiteral() throws(StatementError) -> String {
        let token = current
        if token.kind == .string || token.kind == .number {
            advance()
            return token.text
        }
        if token.isSymbol("-"), peek().kind == .number {
            advance()
            let digits = current.text
            advance()
            return "-" + digits
        }
        note("<string>")
        note("<number>")
        throw fail()
    }

    private mutating func show() throws(StatementError) -> AthenaStatement {
        if accept("DATABASES") || accept("SCHEMAS") {
            return .showDatabases(like: try pattern())
        }
        if accept("TABLES") {
            var database: String?
            if accept("IN") || accept("FROM") { database = try identifier() }
            return .showTables(database: database, like: try pattern())
        }
        if accept("COLUMNS") {
            guard accept("IN") || accept("FROM") else { throw fail() }
            var name = try qualifiedName()
            // SHOW COLUMNS IN t IN db: the trailing database wins over a qualified name.
            if accept("IN") || accept("FROM") { name.database = try identifier() }
            return .showColumns(name)
        }
        if accept("PARTITIONS") {
            return .showPartitions(try qualifiedName())
        }
        if accept("CREATE") {
            try expect("TABLE")
            return .showCreateTable(try qualifiedName())
        }
        throw fail()
    }

    /// An optional `[LIKE] 'pattern'`; once LIKE is written the pattern is required.
    private mutating func pattern() throws(StatementError) -> String? {
        if accept("LIKE") { return try string() }
        let token = current
        guard token.kind == .string else {
            note("<string>")
            return nil
        }
        advance()
        return token.text
    }

    private mutating func describe() throws(StatementError) -> AthenaStatement {
        // EXTENDED/FORMATTED are modifiers only when a table name follows them.
        let next = peek()
        if current.keyword == "EXTENDED" || current.keyword == "FORMATTED", next.kind != .end, !next.isSymbol(";") {
            advance()
        }
        return .describe(try qualifiedName())
    }
}
