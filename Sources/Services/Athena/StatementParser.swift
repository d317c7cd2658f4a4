// The Hive DDL and utility statements, parsed from tokens, with Athena's error wording.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

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
