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
import StevedoreCore

// MARK: - Entry points

public enum AthenaStatements {
    /// What the first word of a statement may be; listed when it is anything else.
    static let statementStarts = [
        "'ALTER'", "'CREATE'", "'DEALLOCATE'", "'DESCRIBE'", "'DROP'", "'EXECUTE'", "'MSCK'", "'PREPARE'", "'SELECT'", "'SHOW'", "'WITH'",
    ]
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
        case .word where first.keyword == "PREPARE":
            return try preparation(sql, tokens)
        case .word where first.keyword == "EXECUTE":
            return try execution(sql, tokens)
        case .word where first.keyword == "DEALLOCATE":
            try expect(tokens, 1, keyword: "PREPARE")
            let name = try statementName(tokens, 2)
            try expectEnd(tokens, 3)
            return .deallocate(name: name)
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
        case .prepare: "PREPARE"
        case .execute: "EXECUTE"
        case .deallocate: "DEALLOCATE"
        }
    }

    // MARK: Prepared statements

    /// PREPARE name FROM query: the query as written after FROM (one statement that lexes).
    static func preparation(_ sql: String, _ tokens: [StatementToken]) throws(StatementError) -> AthenaStatement {
        let name = try statementName(tokens, 1)
        try expect(tokens, 2, keyword: "FROM")
        let body = tokens.count > 3 ? Array(tokens[3...]) : [at(tokens, 3)]
        guard let start = body.first, start.kind != .end else { throw StatementParser.mismatched(at(tokens, 3), expecting: statementStarts) }
        try checkSingleQuery(body)
        var query = String(Array(sql)[start.offset...]).trimmingWhitespace
        if query.hasSuffix(";") { query = String(query.dropLast()).trimmingWhitespace }
        return .prepare(name: name, query: query)
    }

    /// EXECUTE name [USING value, …]: each value as written, up to the next comma outside parentheses.
    static func execution(_ sql: String, _ tokens: [StatementToken]) throws(StatementError) -> AthenaStatement {
        let name = try statementName(tokens, 1)
        var index = 2
        if at(tokens, index).kind == .symbol, at(tokens, index).text == ";" { index += 1 }
        if at(tokens, index).kind == .end { return .execute(name: name, parameters: []) }
        try expect(tokens, index, keyword: "USING")
        index += 1
        let characters = Array(sql)
        var parameters: [String] = []
        var depth = 0
        var valueStart: StatementToken?
        var valueEnd: StatementToken?
        while true {
            let token = at(tokens, index)
            if token.kind == .invalid { throw token.error }
            let ends = token.kind == .end || (depth == 0 && token.kind == .symbol && (token.text == "," || token.text == ";"))
            if ends {
                guard let first = valueStart, let last = valueEnd else { throw StatementParser.mismatched(token, expecting: ["<expression>"]) }
                // From its first token to the end of its last (a comment after it is not part of it).
                parameters.append(String(characters[first.offset..<(last.offset + last.raw.count)]))
                valueStart = nil
                valueEnd = nil
                if token.kind == .end || token.text == ";" {
                    try expectEnd(tokens, token.kind == .end ? index : index + 1)
                    return .execute(name: name, parameters: parameters)
                }
            } else {
                if valueStart == nil { valueStart = token }
                valueEnd = token
                if token.isSymbol("(") || token.isSymbol("[") { depth += 1 }
                if token.isSymbol(")") || token.isSymbol("]") { depth -= 1 }
            }
            index += 1
        }
    }

    /// The token at `index`, or the last (the end, or a lexing error) past it.
    static func at(_ tokens: [StatementToken], _ index: Int) -> StatementToken { index < tokens.count ? tokens[index] : tokens[tokens.count - 1] }

    static func statementName(_ tokens: [StatementToken], _ index: Int) throws(StatementError) -> String {
        let token = at(tokens, index)
        guard token.kind == .word || token.kind == .quotedIdentifier else { throw StatementParser.mismatched(token, expecting: ["<identifier>"]) }
        return token.text
    }

    static func expect(_ tokens: [StatementToken], _ index: Int, keyword: String) throws(StatementError) {
        guard at(tokens, index).keyword == keyword else { throw StatementParser.mismatched(at(tokens, index), expecting: ["'\(keyword)'"]) }
    }

    /// Nothing but an optional `;` from `index` on.
    static func expectEnd(_ tokens: [StatementToken], _ index: Int) throws(StatementError) {
        var index = index
        if at(tokens, index).isSymbol(";") { index += 1 }
        guard at(tokens, index).kind == .end else { throw StatementParser.mismatched(at(tokens, index), expecting: ["<EOF>"]) }
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
