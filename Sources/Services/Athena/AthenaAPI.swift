import Foundation
import AWSProtocols
import AthenaShapes
import StevedoreCore

/// What the API needs from the edge: the runner that carries queries out, and their results as written.
public protocol QueryRunning: Sendable {
    /// A query was queued.
    func wake()
    /// StopQueryExecution: stops the scan of a running query.
    func stop(_ id: String)
    /// Up to `count` bytes of an execution's result file from `offset`, and the file's size; nil
    /// when it cannot be read.
    func resultBytes(_ execution: QueryExecutionRecord, from offset: Int, count: Int) async -> (bytes: [UInt8], total: Int)?
}

/// Athena (`AmazonAthena.<Operation>`, AWS JSON 1.1) as `aws athena`, boto3 and PyAthena call it.
public enum AthenaAPI {
    public static let targetPrefix = "AmazonAthena"
    public static let engineVersion = AthenaEngineVersion(SelectedEngineVersion: "AUTO", EffectiveEngineVersion: "Athena engine version 3")

    public static func operations<Committer: StateCommitting>(
        committer: Committer, runner: any QueryRunning, newId: @escaping @Sendable () -> String
    ) -> JSONOperations<Committer> where Committer.Root: AthenaHost {
        var api = JSONOperations(targetPrefix: targetPrefix, committer: committer)
        @Sendable func read<Output: Sendable>(_ body: @escaping @Sendable (AthenaState, Date) throws(AWSError) -> Output) async throws(AWSError) -> Output {
            try await committer.read { root, now throws(AWSError) in try body(root.athena, now) }
        }

        api.custom("StartQueryExecution") { (input: AthenaStartQueryExecutionInput, _) throws(AWSError) in
            let request = try queryRequest(input)
            let id = newId()
            let started = try await committer.write { root, m throws(AWSError) in try root.athena.start(request, id: id, now: m.now, changes: &m.changes) }
            runner.wake()
            return AthenaStartQueryExecutionOutput(QueryExecutionId: started)
        }
        api.custom("GetQueryExecution") { (input: AthenaGetQueryExecutionInput, _) throws(AWSError) in
            try await read { athena, now throws(AWSError) in AthenaGetQueryExecutionOutput(QueryExecution: shape(try athena.execution(input.QueryExecutionId), now: now)) }
        }
        api.custom("BatchGetQueryExecution") { (input: AthenaBatchGetQueryExecutionInput, _) throws(AWSError) in
            guard (1...50).contains(input.QueryExecutionIds.count) else {
                throw invalid(
                    "1 validation error detected: Value at 'queryExecutionIds' failed to satisfy constraint: Member must have length less than or equal to 50")
            }
            return try await read { athena, now in
                var found: [AthenaQueryExecution] = []
                var missing: [AthenaUnprocessedQueryExecutionId] = []
                for id in input.QueryExecutionIds {
                    if let record = athena.executions[id] {
                        found.append(shape(record, now: now))
                    } else {
                        missing.append(AthenaUnprocessedQueryExecutionId(QueryExecutionId: id, ErrorCode: "INVALID_INPUT", ErrorMessage: "QueryExecution \(id) was not found"))
                    }
                }
                return AthenaBatchGetQueryExecutionOutput(QueryExecutions: found, UnprocessedQueryExecutionIds: missing)
            }
        }
        api.custom("ListQueryExecutions") { (input: AthenaListQueryExecutionsInput, _) throws(AWSError) in
            let size = try pageSize(input.MaxResults, maximum: 50)
            let group = input.WorkGroup ?? AthenaState.primaryWorkGroup
            let ids = try await read { athena, _ throws(AWSError) in
                _ = try athena.workGroup(group)
                return athena.executions.values.filter { $0.workGroup == group }.sorted { ($0.submitted, $0.id) > ($1.submitted, $1.id) }.map(\.id)
            }
            let (page, next) = try pageOf(ids, token: input.NextToken, size: size)
            return AthenaListQueryExecutionsOutput(QueryExecutionIds: page, NextToken: next)
        }
        api.custom("StopQueryExecution") { (input: AthenaStopQueryExecutionInput, _) throws(AWSError) in
            try await committer.write { root, m throws(AWSError) in try root.athena.cancel(input.QueryExecutionId, now: m.now, changes: &m.changes) }
            runner.stop(input.QueryExecutionId)
            return AthenaStopQueryExecutionOutput()
        }
        api.custom("GetQueryResults") { (input: AthenaGetQueryResultsInput, _) throws(AWSError) in
            let size = try pageSize(input.MaxResults, maximum: 1000)
            let record = try await read { athena, _ throws(AWSError) in try athena.execution(input.QueryExecutionId) }
            switch record.state {
            case .succeeded: break
            case .queued, .running: throw invalid("Query has not yet finished. Current state: \(record.state.rawValue)")
            case .failed, .cancelled: throw invalid("Query did not finish successfully. Final query state: \(record.state.rawValue)")
            }
            // A page is read from where the last one ended (the token is that byte offset): paging
            // through a large result reads it once, not once per page.
            let tokenOffset = try ResultFiles.byteOffset(input.NextToken, execution: record.id)
            // From the byte before the offset, which must end a row.
            let readFrom = max(0, tokenOffset - 1)
            var chunk = 256 << 10
            var page: [[String?]] = []
            var next: String?
            while true {
                guard let (bytes, total) = await runner.resultBytes(record, from: readFrom, count: chunk + 1) else {
                    throw invalid("Unable to read the query's results at \(record.outputLocation): the object is gone or cannot be read.")
                }
                guard tokenOffset <= total, tokenOffset == 0 || bytes.first == UInt8(ascii: "\n") else {
                    throw invalid("The NextToken is not valid: \(input.NextToken ?? "")")
                }
                let rows = bytes[(tokenOffset - readFrom)...]
                let atEnd = readFrom + bytes.count >= total
                let (found, consumed) = ResultFiles.page(rows, csv: record.isSelect, limit: size, atEnd: atEnd)
                if found.count == size || atEnd {
                    page = found
                    next = tokenOffset + consumed < total ? ResultFiles.pageToken(tokenOffset + consumed, execution: record.id) : nil
                    break
                }
                chunk *= 4
            }
            let columns = record.columns.map { column in
                AthenaColumnInfo(
                    CatalogName: "hive", SchemaName: "", TableName: "", Name: column.name, Label: column.name, Type: column.type, Precision: precision(column.type),
                    Scale: 0, Nullable: .unknown, CaseSensitive: column.type == "varchar" || column.type == "string")
            }
            return AthenaGetQueryResultsOutput(
                UpdateCount: 0,
                ResultSet: AthenaResultSet(
                    Rows: page.map { AthenaRow(Data: $0.map { AthenaDatum(VarCharValue: $0) }) }, ResultSetMetadata: AthenaResultSetMetadata(ColumnInfo: columns)),
                NextToken: next)
        }
        api.custom("ListDataCatalogs") { (_: AthenaListDataCatalogsInput, _) throws(AWSError) in
            AthenaListDataCatalogsOutput(DataCatalogsSummary: [AthenaDataCatalogSummary(CatalogName: AthenaState.dataCatalog, Type: .glue)])
        }
        api.custom("GetDataCatalog") { (input: AthenaGetDataCatalogInput, _) throws(AWSError) in
            try checkCatalog(input.Name)
            return AthenaGetDataCatalogOutput(
                DataCatalog: AthenaDataCatalog(Name: AthenaState.dataCatalog, Description: "The data catalog of this Stevedore cluster", Type: .glue, Parameters: [:]))
        }
        api.custom("ListDatabases") { (input: AthenaListDatabasesInput, _) throws(AWSError) in
            try checkCatalog(input.CatalogName)
            let size = try pageSize(input.MaxResults, maximum: 50)
            let databases = try await read { athena, _ in athena.databases.values.sorted { $0.name < $1.name } }
            let (page, next) = try pageOf(databases, token: input.NextToken, size: size)
            return AthenaListDatabasesOutput(DatabaseList: page.map(shape), NextToken: next)
        }
        api.custom("GetDatabase") { (input: AthenaGetDatabaseInput, _) throws(AWSError) in
            try checkCatalog(input.CatalogName)
            let database = try await read { athena, _ throws(AWSError) in try existingDatabase(athena, input.DatabaseName) }
            return AthenaGetDatabaseOutput(Database: shape(database))
        }
        api.custom("ListTableMetadata") { (input: AthenaListTableMetadataInput, _) throws(AWSError) in
            try checkCatalog(input.CatalogName)
            let size = try pageSize(input.MaxResults, maximum: 50)
            let database = try await read { athena, _ throws(AWSError) in try existingDatabase(athena, input.DatabaseName) }
            let tables = database.tables.values.filter { AthenaState.matches($0.name, input.Expression) }.sorted { $0.name < $1.name }
            let (page, next) = try pageOf(tables, token: input.NextToken, size: size)
            return AthenaListTableMetadataOutput(TableMetadataList: page.map(shape), NextToken: next)
        }
        api.custom("GetTableMetadata") { (input: AthenaGetTableMetadataInput, _) throws(AWSError) in
            try checkCatalog(input.CatalogName)
            let database = try await read { athena, _ throws(AWSError) in try existingDatabase(athena, input.DatabaseName) }
            guard let table = database.tables[input.TableName.lowercased()] else {
                throw AWSError(type: "MetadataException", message: "Table \(input.TableName) not found in database \(database.name).")
            }
            return AthenaGetTableMetadataOutput(TableMetadata: shape(table))
        }
        api.custom("GetWorkGroup") { (input: AthenaGetWorkGroupInput, _) throws(AWSError) in
            try await read { athena, _ throws(AWSError) in AthenaGetWorkGroupOutput(WorkGroup: shape(try athena.workGroup(input.WorkGroup))) }
        }
        api.custom("ListWorkGroups") { (input: AthenaListWorkGroupsInput, _) throws(AWSError) in
            let size = try pageSize(input.MaxResults, maximum: 50)
            let groups = try await read { athena, _ in athena.workGroups.values.sorted { $0.name < $1.name } }
            let (page, next) = try pageOf(groups, token: input.NextToken, size: size)
            return AthenaListWorkGroupsOutput(
                WorkGroups: page.map {
                    AthenaWorkGroupSummary(Name: $0.name, State: $0.enabled ? .enabled : .disabled, Description: $0.description ?? "", CreationTime: $0.created, EngineVersion: engineVersion)
                }, NextToken: next)
        }
        api.write("CreateWorkGroup") { (root, input: AthenaCreateWorkGroupInput, m, _) throws(AWSError) in
            let configuration = input.Configuration
            let settings = WorkGroupSettings(
                description: input.Description, outputLocation: configuration?.ResultConfiguration?.OutputLocation.map { .some($0) },
                enforceConfiguration: configuration?.EnforceWorkGroupConfiguration, bytesScannedCutoffPerQuery: configuration?.BytesScannedCutoffPerQuery.map { .some($0) },
                publishMetrics: configuration?.PublishCloudWatchMetricsEnabled)
            try root.athena.createWorkGroup(input.Name, settings: settings, now: m.now, changes: &m.changes)
            return AthenaCreateWorkGroupOutput()
        }
        api.write("UpdateWorkGroup") { (root, input: AthenaUpdateWorkGroupInput, m, _) throws(AWSError) in
            let updates = input.ConfigurationUpdates
            var settings = WorkGroupSettings(
                description: input.Description, enabled: input.State.map { $0 == .enabled }, enforceConfiguration: updates?.EnforceWorkGroupConfiguration,
                publishMetrics: updates?.PublishCloudWatchMetricsEnabled)
            if let results = updates?.ResultConfigurationUpdates {
                if results.RemoveOutputLocation == true { settings.outputLocation = .some(nil) } else if let location = results.OutputLocation { settings.outputLocation = .some(location) }
            }
            if updates?.RemoveBytesScannedCutoffPerQuery == true {
                settings.bytesScannedCutoffPerQuery = .some(nil)
            } else if let cutoff = updates?.BytesScannedCutoffPerQuery {
                settings.bytesScannedCutoffPerQuery = .some(cutoff)
            }
            try root.athena.updateWorkGroup(input.WorkGroup, settings: settings, changes: &m.changes)
            return AthenaUpdateWorkGroupOutput()
        }
        api.write("DeleteWorkGroup") { (root, input: AthenaDeleteWorkGroupInput, m, _) throws(AWSError) in
            try root.athena.deleteWorkGroup(input.WorkGroup, recursive: input.RecursiveDeleteOption == true, changes: &m.changes)
            return AthenaDeleteWorkGroupOutput()
        }
        api.write("CreateNamedQuery") { (root, input: AthenaCreateNamedQueryInput, m, _) throws(AWSError) in
            let record = NamedQueryRecord(
                id: UUID().uuidString.lowercased(), name: input.Name, description: input.Description, database: input.Database, query: input.QueryString,
                workGroup: input.WorkGroup ?? AthenaState.primaryWorkGroup, clientRequestToken: input.ClientRequestToken)
            return AthenaCreateNamedQueryOutput(NamedQueryId: try root.athena.createNamedQuery(record, changes: &m.changes))
        }
        api.custom("GetNamedQuery") { (input: AthenaGetNamedQueryInput, _) throws(AWSError) in
            try await read { athena, _ throws(AWSError) in AthenaGetNamedQueryOutput(NamedQuery: shape(try athena.namedQuery(input.NamedQueryId))) }
        }
        api.custom("BatchGetNamedQuery") { (input: AthenaBatchGetNamedQueryInput, _) throws(AWSError) in
            guard (1...50).contains(input.NamedQueryIds.count) else {
                throw invalid("1 validation error detected: Value at 'namedQueryIds' failed to satisfy constraint: Member must have length less than or equal to 50")
            }
            return try await read { athena, _ in
                AthenaBatchGetNamedQueryOutput(
                    NamedQueries: input.NamedQueryIds.compactMap { athena.namedQueries[$0].map(shape) },
                    UnprocessedNamedQueryIds: input.NamedQueryIds.filter { athena.namedQueries[$0] == nil }.map {
                        AthenaUnprocessedNamedQueryId(NamedQueryId: $0, ErrorCode: "INVALID_INPUT", ErrorMessage: "NamedQuery \($0) was not found")
                    })
            }
        }
        api.custom("ListNamedQueries") { (input: AthenaListNamedQueriesInput, _) throws(AWSError) in
            let size = try pageSize(input.MaxResults, maximum: 50)
            let group = input.WorkGroup ?? AthenaState.primaryWorkGroup
            let ids = try await read { athena, _ throws(AWSError) in
                _ = try athena.workGroup(group)
                return athena.namedQueries.values.filter { $0.workGroup == group }.sorted { ($0.name, $0.id) < ($1.name, $1.id) }.map(\.id)
            }
            let (page, next) = try pageOf(ids, token: input.NextToken, size: size)
            return AthenaListNamedQueriesOutput(NamedQueryIds: page, NextToken: next)
        }
        api.write("DeleteNamedQuery") { (root, input: AthenaDeleteNamedQueryInput, m, _) throws(AWSError) in
            try root.athena.deleteNamedQuery(input.NamedQueryId, changes: &m.changes)
            return AthenaDeleteNamedQueryOutput()
        }

        // Prepared statements, per work group.
        api.write("CreatePreparedStatement") { (root, input: AthenaCreatePreparedStatementInput, m, _) throws(AWSError) in
            try root.athena.putPreparedStatement(
                PreparedStatementRecord(
                    name: input.StatementName, workGroup: input.WorkGroup, query: input.QueryStatement, description: input.Description, lastModified: m.now),
                creating: true, replacing: false, changes: &m.changes)
            return AthenaCreatePreparedStatementOutput()
        }
        api.write("UpdatePreparedStatement") { (root, input: AthenaUpdatePreparedStatementInput, m, _) throws(AWSError) in
            try root.athena.putPreparedStatement(
                PreparedStatementRecord(
                    name: input.StatementName, workGroup: input.WorkGroup, query: input.QueryStatement, description: input.Description, lastModified: m.now),
                creating: false, replacing: true, changes: &m.changes)
            return AthenaUpdatePreparedStatementOutput()
        }
        api.custom("GetPreparedStatement") { (input: AthenaGetPreparedStatementInput, _) throws(AWSError) in
            try await read { athena, _ throws(AWSError) in
                AthenaGetPreparedStatementOutput(PreparedStatement: shape(try athena.preparedStatement(input.StatementName, workGroup: input.WorkGroup)))
            }
        }
        api.custom("BatchGetPreparedStatement") { (input: AthenaBatchGetPreparedStatementInput, _) throws(AWSError) in
            guard (1...50).contains(input.PreparedStatementNames.count) else {
                throw invalid(
                    "1 validation error detected: Value at 'preparedStatementNames' failed to satisfy constraint: Member must have length less than or equal to 50")
            }
            return try await read { athena, _ throws(AWSError) in
                _ = try athena.workGroup(input.WorkGroup)
                var found: [AthenaPreparedStatement] = []
                var missing: [AthenaUnprocessedPreparedStatementName] = []
                for name in input.PreparedStatementNames {
                    if let record = try? athena.preparedStatement(name, workGroup: input.WorkGroup) {
                        found.append(shape(record))
                    } else {
                        missing.append(
                            AthenaUnprocessedPreparedStatementName(
                                StatementName: name, ErrorCode: "STATEMENT_NOT_FOUND", ErrorMessage: "Prepared statement \(name) was not found."))
                    }
                }
                return AthenaBatchGetPreparedStatementOutput(PreparedStatements: found, UnprocessedPreparedStatementNames: missing)
            }
        }
        api.custom("ListPreparedStatements") { (input: AthenaListPreparedStatementsInput, _) throws(AWSError) in
            let size = try pageSize(input.MaxResults, maximum: 50)
            let statements = try await read { athena, _ throws(AWSError) in try athena.preparedStatements(in: input.WorkGroup) }
            let (page, next) = try pageOf(statements, token: input.NextToken, size: size)
            return AthenaListPreparedStatementsOutput(
                PreparedStatements: page.map { AthenaPreparedStatementSummary(StatementName: $0.name, LastModifiedTime: $0.lastModified) }, NextToken: next)
        }
        api.write("DeletePreparedStatement") { (root, input: AthenaDeletePreparedStatementInput, m, _) throws(AWSError) in
            try root.athena.deletePreparedStatement(input.StatementName, workGroup: input.WorkGroup, changes: &m.changes)
            return AthenaDeletePreparedStatementOutput()
        }
        return api
    }

    /// StartQueryExecution's input, checked; the statement is classified here (a statement that
    /// does not parse still starts, and fails as Athena's do).
    static func queryRequest(_ input: AthenaStartQueryExecutionInput) throws(AWSError) -> QueryExecutionRequest {
        guard !input.QueryString.isEmpty, input.QueryString.utf8.count <= 262_144 else {
            throw invalid(
                "1 validation error detected: Value at 'queryString' failed to satisfy constraint: Member must have length between 1 and 262144")
        }
        if let catalog = input.QueryExecutionContext?.Catalog { try checkCatalog(catalog) }
        let output = input.ResultConfiguration?.OutputLocation.flatMap { $0.isEmpty ? nil : $0 }
        if let output, ObjectLocation(output) == nil { throw invalid("outputLocation is not a valid S3 path. Provided \(output)") }
        let statement = (try? AthenaStatements.parse(input.QueryString)) ?? .query
        return QueryExecutionRequest(
            query: input.QueryString, database: (input.QueryExecutionContext?.Database ?? AthenaState.defaultDatabase).lowercased(),
            catalog: AthenaState.dataCatalog, workGroup: input.WorkGroup ?? AthenaState.primaryWorkGroup, outputLocation: output, executionParameters: input.ExecutionParameters,
            clientRequestToken: input.ClientRequestToken, statementType: statementType(statement),
            substatementType: AthenaStatements.substatementType(statement))
    }

    /// DML for queries; UTILITY for what only reads the catalog (SHOW, DESCRIBE); DDL for what changes it.
    static func statementType(_ statement: AthenaStatement) -> String {
        switch statement {
        case .query, .execute: "DML"
        case .showDatabases, .showTables, .showColumns, .showPartitions, .showCreateTable, .describe, .prepare, .deallocate: "UTILITY"
        default: "DDL"
        }
    }

    static func shape(_ record: PreparedStatementRecord) -> AthenaPreparedStatement {
        AthenaPreparedStatement(
            StatementName: record.name, QueryStatement: record.query, WorkGroupName: record.workGroup, Description: record.description,
            LastModifiedTime: record.lastModified)
    }

    static func shape(_ record: QueryExecutionRecord, now: Date) -> AthenaQueryExecution {
        func millis(_ from: Date?, _ to: Date?) -> Int? {
            guard let from else { return nil }
            return max(0, Int(((to ?? now).timeIntervalSince(from) * 1000).rounded()))
        }
        let error = record.failure.map { failure in
            AthenaAthenaError(ErrorCategory: failure.category, ErrorType: failure.type, Retryable: failure.category == 1, ErrorMessage: failure.message)
        }
        return AthenaQueryExecution(
            QueryExecutionId: record.id, Query: record.query, StatementType: AthenaStatementType(rawValue: record.statementType),
            ResultConfiguration: AthenaResultConfiguration(OutputLocation: record.outputLocation),
            ResultReuseConfiguration: AthenaResultReuseConfiguration(ResultReuseByAgeConfiguration: AthenaResultReuseByAgeConfiguration(Enabled: false)),
            QueryExecutionContext: AthenaQueryExecutionContext(Database: record.database, Catalog: record.catalog.lowercased()),
            Status: AthenaQueryExecutionStatus(
                State: AthenaQueryExecutionState(rawValue: record.state.rawValue), StateChangeReason: record.stateChangeReason, SubmissionDateTime: record.submitted,
                CompletionDateTime: record.completed, AthenaError: error),
            Statistics: AthenaQueryExecutionStatistics(
                EngineExecutionTimeInMillis: millis(record.started, record.completed) ?? 0, DataScannedInBytes: record.dataScannedInBytes,
                TotalExecutionTimeInMillis: millis(record.submitted, record.completed), QueryQueueTimeInMillis: millis(record.submitted, record.started ?? record.completed),
                ServicePreProcessingTimeInMillis: 0, QueryPlanningTimeInMillis: 0, ServiceProcessingTimeInMillis: 0,
                ResultReuseInformation: AthenaResultReuseInformation(ReusedPreviousResult: false)),
            WorkGroup: record.workGroup, EngineVersion: engineVersion, ExecutionParameters: record.executionParameters,
            SubstatementType: record.substatementType)
    }

    static func shape(_ database: DatabaseRecord) -> AthenaDatabase {
        var parameters: [String: String] = [:]
        if let location = database.location { parameters["location"] = location }
        return AthenaDatabase(Name: database.name, Description: database.description, Parameters: parameters)
    }

    static func shape(_ table: TableRecord) -> AthenaTableMetadata {
        let definition = table.definition
        var parameters = definition.properties
        parameters["EXTERNAL"] = "TRUE"
        parameters["location"] = definition.location
        parameters["inputformat"] = "org.apache.hadoop.mapred.TextInputFormat"
        parameters["outputformat"] = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
        switch definition.rowFormat {
        case .serde(let name, let properties)?:
            parameters["serde.serialization.lib"] = name
            for (key, value) in properties { parameters["serde.param." + key] = value }
        case .delimited(let field, _, _, _)?:
            parameters["serde.serialization.lib"] = TableFormat.lazySimpleSerDe
            parameters["serde.param.field.delim"] = field
        case nil:
            parameters["serde.serialization.lib"] = TableFormat.lazySimpleSerDe
        }
        func columns(_ list: [ColumnDefinition]) -> [AthenaColumn] { list.map { AthenaColumn(Name: $0.name, Type: $0.type, Comment: $0.comment) } }
        return AthenaTableMetadata(
            Name: definition.name, CreateTime: table.created, TableType: "EXTERNAL_TABLE", Columns: columns(definition.columns),
            PartitionKeys: columns(definition.partitionKeys), Parameters: parameters)
    }

    static func shape(_ group: WorkGroupRecord) -> AthenaWorkGroup {
        AthenaWorkGroup(
            Name: group.name, State: group.enabled ? .enabled : .disabled,
            Configuration: AthenaWorkGroupConfiguration(
                ResultConfiguration: group.outputLocation.map { AthenaResultConfiguration(OutputLocation: $0) }, EnforceWorkGroupConfiguration: group.enforceConfiguration,
                PublishCloudWatchMetricsEnabled: group.publishMetrics, BytesScannedCutoffPerQuery: group.bytesScannedCutoffPerQuery, RequesterPaysEnabled: false,
                EngineVersion: engineVersion),
            Description: group.description ?? "", CreationTime: group.created)
    }

    static func shape(_ query: NamedQueryRecord) -> AthenaNamedQuery {
        AthenaNamedQuery(
            Name: query.name, Description: query.description, Database: query.database, QueryString: query.query, NamedQueryId: query.id,
            WorkGroup: query.workGroup)
    }

    static func existingDatabase(_ athena: AthenaState, _ name: String) throws(AWSError) -> DatabaseRecord {
        guard let database = athena.databases[name.lowercased()] else {
            throw AWSError(type: "MetadataException", message: "Database \(name) not found.")
        }
        return database
    }

    static func checkCatalog(_ name: String) throws(AWSError) {
        guard name.lowercased() == AthenaState.dataCatalog.lowercased() else {
            throw invalid("Catalog \(name) was not found. Only \(AthenaState.dataCatalog) exists.")
        }
    }

    static func pageSize(_ asked: Int?, maximum: Int) throws(AWSError) -> Int {
        guard let asked else { return maximum }
        guard (1...maximum).contains(asked) else {
            throw invalid(
                "1 validation error detected: Value '\(asked)' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to \(maximum)")
        }
        return asked
    }

    static func pageOf<Item>(_ items: [Item], token: String?, size: Int) throws(AWSError) -> ([Item], String?) {
        let offset = try ResultFiles.offset(token, count: items.count)
        let end = min(items.count, offset + size)
        return (Array(items[offset..<end]), end < items.count ? String(end) : nil)
    }

    /// Athena's precision for a type: the number of digits, or characters for text.
    static func precision(_ type: String) -> Int {
        switch type {
        case "tinyint": 3
        case "smallint": 5
        case "integer", "int": 10
        case "bigint": 19
        case "double": 17
        case "float", "real": 7
        case "boolean": 0
        default: 2_147_483_647
        }
    }

    static func invalid(_ message: String) -> AWSError {
        AWSError(type: "InvalidRequestException", message: message, extraFields: ["AthenaErrorCode": "INVALID_INPUT"])
    }
}

/// Result files as Athena writes them, read back for GetQueryResults.
public enum ResultFiles {
    /// CSV as Athena writes it: every value quoted, `""` inside, a NULL an empty unquoted field.
    public static func csvLine(_ values: [String?]) -> String {
        var line = ""
        for (index, value) in values.enumerated() {
            if index > 0 { line += "," }
            guard let value else { continue }
            line += "\""
            line += value.contains("\"") ? value.replacingOccurrences(of: "\"", with: "\"\"") : value
            line += "\""
        }
        return line + "\n"
    }

    public static func parseCSV(_ bytes: [UInt8]) -> [[String?]] { page(bytes[...], csv: true, limit: .max, atEnd: true).rows }

    /// A DDL statement's output: one line per row, one value per line.
    public static func parseLines(_ bytes: [UInt8]) -> [[String?]] { page(bytes[...], csv: false, limit: .max, atEnd: true).rows }

    /// Up to `limit` rows from the start of `bytes` (CSV as ``csvLine(_:)`` writes it, or one
    /// value per line), and how many bytes they took: whole rows only (ended by a newline outside
    /// quotes), unless `atEnd` says the bytes end the file.
    public static func page(_ bytes: ArraySlice<UInt8>, csv: Bool, limit: Int, atEnd: Bool) -> (rows: [[String?]], consumed: Int) {
        var rows: [[String?]] = []
        var row: [String?] = []
        var field: [UInt8] = []
        var quoted = false
        var inQuotes = false
        var consumed = 0
        var index = bytes.startIndex
        func endField() {
            row.append(quoted || !csv ? String(decoding: field, as: UTF8.self) : (field.isEmpty ? nil : String(decoding: field, as: UTF8.self)))
            field.removeAll(keepingCapacity: true)
            quoted = false
        }
        while index < bytes.endIndex, rows.count < limit {
            let byte = bytes[index]
            if inQuotes {
                if byte == UInt8(ascii: "\"") {
                    if index + 1 < bytes.endIndex, bytes[index + 1] == UInt8(ascii: "\"") {
                        field.append(byte)
                        index += 1
                    } else if index + 1 == bytes.endIndex, !atEnd {
                        // The next byte may be the second quote of a pair: the row is not whole here.
                        break
                    } else {
                        inQuotes = false
                    }
                } else {
                    field.append(byte)
                }
            } else {
                switch byte {
                case UInt8(ascii: "\"") where csv:
                    inQuotes = true
                    quoted = true
                case UInt8(ascii: ",") where csv:
                    endField()
                case UInt8(ascii: "\n"):
                    endField()
                    rows.append(row)
                    row = []
                    consumed = index + 1 - bytes.startIndex
                default:
                    field.append(byte)
                }
            }
            index += 1
        }
        if atEnd, rows.count < limit, index == bytes.endIndex, !field.isEmpty || !row.isEmpty || quoted {
            endField()
            rows.append(row)
            consumed = bytes.count
        }
        return (rows, consumed)
    }

    /// A list's page token: the position of the page's first item.
    static func offset(_ token: String?, count: Int) throws(AWSError) -> Int {
        guard let token else { return 0 }
        guard let offset = Int(token), offset >= 0, offset <= count else { throw AthenaAPI.invalid("The NextToken is not valid: \(token)") }
        return offset
    }

    /// A result page's token: the byte offset where the page starts and a check of it with the
    /// execution's id, opaque (a token of another execution, or an offset made up, is refused).
    static func pageToken(_ offset: Int, execution: String) -> String {
        let check = FNV1a.hash(Array("\(execution):\(offset)".utf8))
        return Data("\(offset):\(String(check, radix: 16))".utf8).base64EncodedString()
    }

    static func byteOffset(_ token: String?, execution: String) throws(AWSError) -> Int {
        guard let token else { return 0 }
        guard let decoded = Data(base64Encoded: token).map({ String(decoding: $0, as: UTF8.self) }),
            let offset = decoded.split(separator: ":").first.flatMap({ Int($0) }), offset > 0, pageToken(offset, execution: execution) == token
        else { throw AthenaAPI.invalid("The NextToken is not valid: \(token)") }
        return offset
    }
}
