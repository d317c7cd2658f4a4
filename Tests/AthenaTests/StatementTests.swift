import Foundation
import Testing

@testable import Athena

/// The parse result of a statement that should have failed, or the error it failed with.
private func failure(_ sql: String) -> StatementError? {
    do throws(StatementError) {
        _ = try AthenaStatements.parse(sql)
        return nil
    } catch {
        return error
    }
}

/// The table definition of a CREATE TABLE statement, or nil for any other statement.
private func table(_ sql: String) throws -> TableDefinition? {
    guard case .createTable(let definition, _) = try AthenaStatements.parse(sql) else { return nil }
    return definition
}

@Suite struct StatementTests {
    // MARK: Databases

    @Test func createDatabaseReadsEveryClause() throws {
        let sql = """
            CREATE DATABASE IF NOT EXISTS Sales COMMENT 'sales data' LOCATION 's3://b/sales/'
            WITH DBPROPERTIES ('creator'='me')
            """
        #expect(
            try AthenaStatements.parse(sql)
                == .createDatabase(name: "sales", ifNotExists: true, comment: "sales data", location: "s3://b/sales/"))
        #expect(
            try AthenaStatements.parse("create schema analytics;")
                == .createDatabase(name: "analytics", ifNotExists: false, comment: nil, location: nil))
    }

    @Test func dropDatabaseReadsIfExistsAndCascade() throws {
        #expect(
            try AthenaStatements.parse("DROP DATABASE IF EXISTS sales CASCADE")
                == .dropDatabase(name: "sales", ifExists: true, cascade: true))
        #expect(
            try AthenaStatements.parse("drop schema s restrict")
                == .dropDatabase(name: "s", ifExists: false, cascade: false))
    }

    // MARK: Tables

    @Test func csvTableExample() throws {
        let sql = """
            CREATE EXTERNAL TABLE IF NOT EXISTS sales.orders (
              id bigint COMMENT 'order id',
              customer string,
              amount double,
              created timestamp
            )
            PARTITIONED BY (dt string)
            ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
            STORED AS TEXTFILE
            LOCATION 's3://data/orders/'
            TBLPROPERTIES ('skip.header.line.count'='1');
            """
        let expected = TableDefinition(
            database: "sales", name: "orders",
            columns: [
                ColumnDefinition(name: "id", type: "bigint", comment: "order id"),
                ColumnDefinition(name: "customer", type: "string"),
                ColumnDefinition(name: "amount", type: "double"),
                ColumnDefinition(name: "created", type: "timestamp"),
            ],
            partitionKeys: [ColumnDefinition(name: "dt", type: "string")],
            rowFormat: .delimited(fieldDelimiter: ",", escape: nil, lineDelimiter: nil, nullFormat: nil),
            storedAs: "TEXTFILE", location: "s3://data/orders/", properties: ["skip.header.line.count": "1"],
            comment: nil, isExternal: true)
        #expect(try AthenaStatements.parse(sql) == .createTable(expected, ifNotExists: true))
    }

    @Test func jsonTableExample() throws {
        let sql = """
            CREATE EXTERNAL TABLE access_logs (`request_id` string, status int, latency_ms double, path string)
            PARTITIONED BY (`year` string, month string)
            ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
            WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
            LOCATION 's3://logs/access/'
            TBLPROPERTIES ('compressionType'='gzip')
            """
        let expected = TableDefinition(
            database: nil, name: "access_logs",
            columns: [
                ColumnDefinition(name: "request_id", type: "string"),
                ColumnDefinition(name: "status", type: "int"),
                ColumnDefinition(name: "latency_ms", type: "double"),
                ColumnDefinition(name: "path", type: "string"),
            ],
            partitionKeys: [ColumnDefinition(name: "year", type: "string"), ColumnDefinition(name: "month", type: "string")],
            rowFormat: .serde(name: "org.openx.data.jsonserde.JsonSerDe", properties: ["ignore.malformed.json": "true"]),
            storedAs: nil, location: "s3://logs/access/", properties: ["compressionType": "gzip"],
            comment: nil, isExternal: true)
        #expect(try AthenaStatements.parse(sql) == .createTable(expected, ifNotExists: false))
    }

    @Test func openCSVSerDePropertiesUnescapeBackslashes() throws {
        let sql = #"""
            CREATE EXTERNAL TABLE t (a string, b int)
            ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
            WITH SERDEPROPERTIES ('separatorChar' = ',', 'quoteChar' = '"', 'escapeChar' = '\\')
            LOCATION 's3://b/p/'
            """#
        guard let definition = try table(sql) else {
            Issue.record("not a CREATE TABLE")
            return
        }
        #expect(
            definition.rowFormat
                == .serde(
                    name: "org.apache.hadoop.hive.serde2.OpenCSVSerde",
                    properties: ["separatorChar": ",", "quoteChar": "\"", "escapeChar": "\\"]))
        #expect(definition.columns == [ColumnDefinition(name: "a", type: "string"), ColumnDefinition(name: "b", type: "int")])
        #expect(definition.location == "s3://b/p/")
        #expect(definition.storedAs == nil)
    }

    @Test func delimitedRowFormatReadsEveryOptionWithHiveEscapes() throws {
        let sql = #"""
            CREATE EXTERNAL TABLE t (a string)
            ROW FORMAT DELIMITED FIELDS TERMINATED BY '\t' ESCAPED BY '\\'
              COLLECTION ITEMS TERMINATED BY '\002' MAP KEYS TERMINATED BY ':'
              LINES TERMINATED BY '\n' NULL DEFINED AS 'NULL'
            STORED AS textfile
            """#
        let definition = try table(sql)
        #expect(
            definition?.rowFormat
                == .delimited(fieldDelimiter: "\t", escape: "\\", lineDelimiter: "\n", nullFormat: "NULL"))
        #expect(definition?.storedAs == "TEXTFILE")
        // Octal escapes, as in Hive's default '\001' separator.
        let ctrlA = try table(#"CREATE TABLE t (a int) ROW FORMAT DELIMITED FIELDS TERMINATED BY '\001'"#)
        #expect(ctrlA?.rowFormat == .delimited(fieldDelimiter: "\u{1}", escape: nil, lineDelimiter: nil, nullFormat: nil))
    }

    @Test func inputFormatCommentAndBucketingAreRead() throws {
        let sql = """
            CREATE TABLE db.t (a int) COMMENT 'a table'
            CLUSTERED BY (a) SORTED BY (a DESC) INTO 8 BUCKETS
            STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
              OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
            """
        let definition = try table(sql)
        #expect(definition?.database == "db")
        #expect(definition?.name == "t")
        #expect(definition?.comment == "a table")
        #expect(definition?.storedAs == "org.apache.hadoop.mapred.TextInputFormat")
        #expect(definition?.isExternal == false)
        #expect(definition?.rowFormat == nil)
    }

    @Test func typesAreReadWholeAndNormalised() throws {
        let sql = """
            CREATE EXTERNAL TABLE t (
              a DECIMAL( 10 , 2 ), b VARCHAR(20), c ARRAY < STRUCT < x : INT, Y : string > >,
              d map<string, array<bigint>>, e Char(3), f BOOLEAN, g decimal,
              h array<struct<a:int,b:string>>
            )
            """
        let types = try table(sql)?.columns.map(\.type)
        #expect(
            types == [
                "decimal(10,2)", "varchar(20)", "array<struct<x:int,y:string>>", "map<string,array<bigint>>",
                "char(3)", "boolean", "decimal", "array<struct<a:int,b:string>>",
            ])
    }

    @Test func quotedIdentifiersAndKeywordsAreCaseInsensitive() throws {
        let sql = #"create external TABLE "MyDb".`Orders` ("ID" BIGINT, `Total Amount` Double, "a""b" int) location 's3://x/'"#
        let definition = try table(sql)
        #expect(definition?.database == "mydb")
        #expect(definition?.name == "orders")
        #expect(
            definition?.columns == [
                ColumnDefinition(name: "id", type: "bigint"), ColumnDefinition(name: "total amount", type: "double"),
                ColumnDefinition(name: "a\"b", type: "int"),
            ])
        #expect(definition?.location == "s3://x/")
    }

    @Test func commentsAreSkipped() throws {
        let sql = """
            -- leading comment
            /* a block
               comment */ DROP TABLE /* inline */ IF EXISTS db.t -- trailing
            """
        #expect(try AthenaStatements.parse(sql) == .dropTable(QualifiedName(database: "db", name: "t"), ifExists: true))
        #expect(try AthenaStatements.parse("drop table t") == .dropTable(QualifiedName(database: nil, name: "t"), ifExists: false))
    }

    @Test func doubledQuoteEscapesAQuoteInStrings() throws {
        #expect(
            try AthenaStatements.parse("CREATE DATABASE d COMMENT 'it''s'")
                == .createDatabase(name: "d", ifNotExists: false, comment: "it's", location: nil))
    }

    // MARK: Partitions and utility statements

    @Test func addPartitionsExample() throws {
        let sql = """
            ALTER TABLE access_logs ADD IF NOT EXISTS PARTITION (year='2024', month='01') \
            LOCATION 's3://logs/access/year=2024/month=01/' PARTITION (year='2024', month='02')
            """
        let expected = AthenaStatement.addPartitions(
            QualifiedName(database: nil, name: "access_logs"), ifNotExists: true,
            partitions: [
                PartitionSpec(
                    values: [PartitionValue(key: "year", value: "2024"), PartitionValue(key: "month", value: "01")],
                    location: "s3://logs/access/year=2024/month=01/"),
                PartitionSpec(
                    values: [PartitionValue(key: "year", value: "2024"), PartitionValue(key: "month", value: "02")],
                    location: nil),
            ])
        #expect(try AthenaStatements.parse(sql) == expected)
    }

    @Test func dropPartitionsReadsNumbersAndCommas() throws {
        let sql = "ALTER TABLE logs.access DROP IF EXISTS PARTITION (DT='2024-01-01', hour=3), PARTITION (dt='2024-01-02', hour=-1)"
        let expected = AthenaStatement.dropPartitions(
            QualifiedName(database: "logs", name: "access"), ifExists: true,
            partitions: [
                PartitionSpec(values: [PartitionValue(key: "dt", value: "2024-01-01"), PartitionValue(key: "hour", value: "3")]),
                PartitionSpec(values: [PartitionValue(key: "dt", value: "2024-01-02"), PartitionValue(key: "hour", value: "-1")]),
            ])
        #expect(try AthenaStatements.parse(sql) == expected)
    }

    @Test func repairTable() throws {
        #expect(try AthenaStatements.parse("MSCK REPAIR TABLE db.t;") == .repairTable(QualifiedName(database: "db", name: "t")))
    }

    @Test func showStatements() throws {
        #expect(try AthenaStatements.parse("SHOW DATABASES") == .showDatabases(like: nil))
        #expect(try AthenaStatements.parse("show schemas like 'sa*'") == .showDatabases(like: "sa*"))
        #expect(try AthenaStatements.parse("SHOW DATABASES 'x|y'") == .showDatabases(like: "x|y"))
        #expect(try AthenaStatements.parse("SHOW TABLES") == .showTables(database: nil, like: nil))
        #expect(try AthenaStatements.parse("SHOW TABLES IN Sales 'ord*'") == .showTables(database: "sales", like: "ord*"))
        #expect(try AthenaStatements.parse("SHOW TABLES FROM sales LIKE 'o'") == .showTables(database: "sales", like: "o"))
        #expect(
            try AthenaStatements.parse("SHOW COLUMNS IN orders FROM sales")
                == .showColumns(QualifiedName(database: "sales", name: "orders")))
        #expect(
            try AthenaStatements.parse("SHOW COLUMNS FROM sales.orders")
                == .showColumns(QualifiedName(database: "sales", name: "orders")))
        #expect(
            try AthenaStatements.parse("SHOW PARTITIONS sales.orders")
                == .showPartitions(QualifiedName(database: "sales", name: "orders")))
        #expect(
            try AthenaStatements.parse("SHOW CREATE TABLE orders") == .showCreateTable(QualifiedName(database: nil, name: "orders")))
    }

    @Test func describeAcceptsModifiersAndDesc() throws {
        #expect(try AthenaStatements.parse("DESCRIBE t") == .describe(QualifiedName(database: nil, name: "t")))
        #expect(try AthenaStatements.parse("desc db.t") == .describe(QualifiedName(database: "db", name: "t")))
        #expect(try AthenaStatements.parse("DESCRIBE EXTENDED t") == .describe(QualifiedName(database: nil, name: "t")))
        #expect(try AthenaStatements.parse("DESCRIBE FORMATTED db.t") == .describe(QualifiedName(database: "db", name: "t")))
        // Without a following name, EXTENDED is the table's name.
        #expect(try AthenaStatements.parse("DESCRIBE extended;") == .describe(QualifiedName(database: nil, name: "extended")))
    }

    @Test func queriesAreLeftToTheEngine() throws {
        for sql in [
            "SELECT 1", "with x as (select 1) select * from x;", "VALUES 1, 2", "TABLE t", "(SELECT 1) UNION (SELECT 2)",
            // Backslashes are literal in queries, so this string ends at the second quote.
            #"select 'a\' as x"#,
        ] {
            #expect(try AthenaStatements.parse(sql) == .query, "\(sql)")
        }
    }

    // MARK: Prepared statements

    @Test func prepareExecuteAndDeallocate() throws {
        #expect(try AthenaStatements.parse("PREPARE q FROM\n  SELECT * FROM t WHERE a = ? ;") == .prepare(name: "q", query: "SELECT * FROM t WHERE a = ?"))
        #expect(try AthenaStatements.parse("execute q") == .execute(name: "q", parameters: []))
        #expect(
            try AthenaStatements.parse("EXECUTE \"q\" USING 'it''s, here', -1.5, DATE '2024-01-01', concat('a', 'b');")
                == .execute(name: "q", parameters: ["'it''s, here'", "-1.5", "DATE '2024-01-01'", "concat('a', 'b')"]))
        #expect(try AthenaStatements.parse("DEALLOCATE PREPARE q") == .deallocate(name: "q"))
        // A comment after a value is not part of it; brackets hold their commas.
        #expect(try AthenaStatements.parse("EXECUTE q USING 'bob' -- who\n, ARRAY[1, 2]") == .execute(name: "q", parameters: ["'bob'", "ARRAY[1, 2]"]))
        #expect(AthenaStatements.substatementType(.execute(name: "q", parameters: [])) == "EXECUTE")
        #expect(failure("PREPARE q SELECT 1")?.message == "line 1:11: mismatched input 'SELECT'. Expecting: 'FROM'")
        #expect(failure("EXECUTE q USING 1,")?.message == "line 1:19: mismatched input '<EOF>'. Expecting: <expression>")
        #expect(failure("DEALLOCATE q")?.message == "line 1:12: mismatched input 'q'. Expecting: 'PREPARE'")
        #expect(failure("PREPARE")?.message == "line 1:8: mismatched input '<EOF>'. Expecting: <identifier>")
    }

    // MARK: Errors

    @Test func emptyStatementFailsAtTheStart() {
        let message =
            "line 1:1: mismatched input '<EOF>'. Expecting: 'ALTER', 'CREATE', 'DEALLOCATE', 'DESCRIBE', 'DROP', 'EXECUTE', 'MSCK', 'PREPARE', 'SELECT', 'SHOW', 'WITH'"
        for sql in ["", "  \n -- nothing here\n /* nor here */ "] {
            #expect(failure(sql) == StatementError(message: message, line: 1, column: 1))
        }
    }

    @Test func unknownLeadingWordFailsAtThatWord() {
        let error = failure("SELEKT 1")
        #expect(error?.line == 1)
        #expect(error?.column == 1)
        #expect(
            error?.message
                == "line 1:1: mismatched input 'SELEKT'. Expecting: 'ALTER', 'CREATE', 'DEALLOCATE', 'DESCRIBE', 'DROP', 'EXECUTE', 'MSCK', 'PREPARE', 'SELECT', 'SHOW', 'WITH'")
    }

    @Test func missingTableNameFailsAtTheParenthesis() throws {
        #expect(
            failure("CREATE TABLE (a int)")
                == StatementError(message: "line 1:14: mismatched input '('. Expecting: 'IF', <identifier>", line: 1, column: 14))
        // A reserved word is not a name unless quoted.
        #expect(failure("DROP TABLE FROM")?.message == "line 1:12: mismatched input 'FROM'. Expecting: 'IF', <identifier>")
        #expect(try AthenaStatements.parse("DROP TABLE `from`") == .dropTable(QualifiedName(database: nil, name: "from"), ifExists: false))
    }

    @Test func errorsOnLaterLinesReportTheirLineAndColumn() {
        #expect(
            failure("CREATE EXTERNAL TABLE t (\n  a int,\n  b strin\n)")
                == StatementError(message: "line 3:5: mismatched input 'strin'. Expecting: <type>", line: 3, column: 5))
        #expect(
            failure("DROP TABLE\r\n  IF EXISTS\r\n  ;")
                == StatementError(message: "line 3:3: mismatched input ';'. Expecting: <identifier>", line: 3, column: 3))
    }

    @Test func unexpectedTokensNameWhatWasExpected() {
        #expect(
            failure("CREATE EXTERNAL TABLE t (a int) STORED PARQUET")?.message
                == "line 1:40: mismatched input 'PARQUET'. Expecting: 'AS'")
        #expect(failure("DROP TABLE t extra")?.message == "line 1:14: mismatched input 'extra'. Expecting: '.', <EOF>")
        #expect(
            failure("CREATE VIEW v AS SELECT 1")?.message
                == "line 1:8: mismatched input 'VIEW'. Expecting: 'DATABASE', 'SCHEMA', 'EXTERNAL', 'TABLE'")
        // A clause may appear only once.
        #expect(
            failure("CREATE DATABASE d LOCATION 's3://a/' LOCATION 's3://b/'")?.message
                == "line 1:38: mismatched input 'LOCATION'. Expecting: 'COMMENT', 'WITH', <EOF>")
    }

    @Test func unterminatedStringFailsWhereItStarts() {
        #expect(
            failure("CREATE DATABASE d COMMENT 'abc")
                == StatementError(message: "line 1:27: unterminated string literal", line: 1, column: 27))
        #expect(failure("SELECT 'abc")?.message == "line 1:8: unterminated string literal")
    }

    @Test func onlyOneStatementIsAllowed() throws {
        #expect(
            failure("SELECT 1; SELECT 2")
                == StatementError(message: "line 1:9: mismatched input ';'. Expecting: <EOF>", line: 1, column: 9))
        #expect(failure("DROP TABLE a;\nDROP TABLE b")?.message == "line 1:13: mismatched input ';'. Expecting: <EOF>")
        #expect(try AthenaStatements.parse("SELECT 1;  -- done") == .query)
    }

    @Test func garbageInputNeverCrashes() {
        let inputs = [
            ";", "'", "\"", "`", "/*", "CREATE", "CREATE TABLE t (a array<", "CREATE TABLE t (a struct<x:",
            "ALTER TABLE t ADD PARTITION (k=-", "SHOW", "DESCRIBE", "MSCK REPAIR", "CREATE TABLE t (a decimal(1,",
            String(repeating: "array<", count: 500), "CREATE TABLE t (a " + String(repeating: "array<", count: 500) + "int",
            "SHOW TABLES LIKE", "CREATE TABLE t ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\",
        ]
        for sql in inputs {
            let error = failure(sql)
            #expect(error?.message.hasPrefix("line \(error?.line ?? 0):\(error?.column ?? 0): ") == true, "\(sql)")
        }
    }

    // MARK: Helpers

    @Test func mentionedNamesFindsQualifiedAndQuotedNames() {
        let sql = """
            SELECT o.id, c.name FROM sales.orders AS o
            JOIN "Sales"."Customers" c ON o.customer_id = c.id /* archive.old */
            WHERE o.note <> 'ignored.table' -- hidden.name
            """
        #expect(
            AthenaStatements.mentionedNames(sql) == [
                QualifiedName(database: "o", name: "id"), QualifiedName(database: "c", name: "name"),
                QualifiedName(database: "sales", name: "orders"), QualifiedName(database: nil, name: "o"),
                QualifiedName(database: "sales", name: "customers"), QualifiedName(database: nil, name: "c"),
                QualifiedName(database: "o", name: "customer_id"), QualifiedName(database: "c", name: "id"),
                QualifiedName(database: "o", name: "note"),
            ])
        #expect(
            AthenaStatements.mentionedNames("select * from awsdatacatalog.sales.orders, orders") == [
                QualifiedName(database: "awsdatacatalog", name: "sales"), QualifiedName(database: "sales", name: "orders"),
                QualifiedName(database: nil, name: "orders"),
            ])
    }

    @Test func substatementTypes() throws {
        let cases: [(String, String)] = [
            ("SELECT 1", "SELECT"),
            ("CREATE DATABASE d", "CREATE_DATABASE"),
            ("DROP SCHEMA d", "DROP_DATABASE"),
            ("CREATE EXTERNAL TABLE t (a int)", "CREATE_TABLE"),
            ("DROP TABLE t", "DROP_TABLE"),
            ("ALTER TABLE t ADD PARTITION (k='v')", "ALTER_TABLE_ADD_PARTITION"),
            ("ALTER TABLE t DROP PARTITION (k='v')", "ALTER_TABLE_DROP_PARTITION"),
            ("MSCK REPAIR TABLE t", "MSCK_REPAIR_TABLE"),
            ("SHOW DATABASES", "SHOW_DATABASES"),
            ("SHOW TABLES", "SHOW_TABLES"),
            ("SHOW COLUMNS IN t", "SHOW_COLUMNS"),
            ("SHOW PARTITIONS t", "SHOW_PARTITIONS"),
            ("SHOW CREATE TABLE t", "SHOW_CREATE_TABLE"),
            ("DESCRIBE t", "DESCRIBE_TABLE"),
        ]
        for (sql, type) in cases {
            #expect(AthenaStatements.substatementType(try AthenaStatements.parse(sql)) == type, "\(sql)")
        }
    }

    @Test func tableDefinitionRoundTripsThroughJSON() throws {
        let definition = TableDefinition(
            database: "db", name: "t", columns: [ColumnDefinition(name: "a", type: "map<string,int>", comment: "c")],
            rowFormat: .serde(name: "x.Y", properties: ["k": "v"]), storedAs: "PARQUET", isExternal: true)
        let decoded = try JSONDecoder().decode(TableDefinition.self, from: JSONEncoder().encode(definition))
        #expect(decoded == definition)
    }
}
