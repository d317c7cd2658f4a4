#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// Athena's state: the data catalog's databases (with their tables and partitions) and the query
/// executions, each with where its results were written.
public struct AthenaState: Sendable {
    public let names: ResourceNames
    public package(set) var databases: [String: DatabaseRecord] = [:]
    public package(set) var executions: [String: QueryExecutionRecord] = [:]
    public package(set) var workGroups: [String: WorkGroupRecord] = [:]
    public package(set) var namedQueries: [String: NamedQueryRecord] = [:]
    /// By `<work group>/<name>`.
    public package(set) var preparedStatements: [String: PreparedStatementRecord] = [:]

    public init(names: ResourceNames) {
        self.names = names
        // Athena's `default` database and `primary` work group always exist; each is stored once something changes it.
        databases[Self.defaultDatabase] = DatabaseRecord(name: Self.defaultDatabase)
        workGroups[Self.primaryWorkGroup] = WorkGroupRecord(name: Self.primaryWorkGroup, created: Date(timeIntervalSince1970: 0))
    }

    public static let recordKinds: [RecordKind] = [
        .athenaDatabases, .athenaQueries, .athenaWorkGroups, .athenaNamedQueries, .athenaPreparedStatements,
    ]

    public static func restore(names: ResourceNames, rows: StoredRows) throws -> AthenaState {
        var state = AthenaState(names: names)
        for database in try rows.decode(DatabaseRecord.self) { state.databases[database.name] = database }
        for execution in try rows.decode(QueryExecutionRecord.self) { state.executions[execution.id] = execution }
        for group in try rows.decode(WorkGroupRecord.self) { state.workGroups[group.name] = group }
        for query in try rows.decode(NamedQueryRecord.self) { state.namedQueries[query.id] = query }
        for statement in try rows.decode(PreparedStatementRecord.self) { state.preparedStatements[statement.recordKey] = statement }
        return state
    }
}

/// The composed state Athena's operations run in.
public protocol AthenaHost: Sendable {
    var athena: AthenaState { get set }
}

/// One query execution, from StartQueryExecution to its end.
public struct QueryExecutionRecord: StoredRecord, Equatable {
    public enum State: String, Codable, Sendable {
        case queued = "QUEUED", running = "RUNNING", succeeded = "SUCCEEDED", failed = "FAILED", cancelled = "CANCELLED"

        public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
    }

    public var id: String
    public var query: String
    /// DDL, DML or UTILITY (SHOW and DESCRIBE).
    public var statementType: String
    public var substatementType: String?
    public var database: String
    public var catalog: String
    public var workGroup: String
    /// `s3://bucket/prefix/<id>.csv` (`.txt` for DDL).
    public var outputLocation: String
    public var executionParameters: [String]?
    public var clientRequestToken: String?
    public var state: State
    public var stateChangeReason: String?
    public var failure: QueryFailure?
    public var submitted: Date
    public var started: Date?
    public var completed: Date?
    public var dataScannedInBytes: Int = 0
    /// The work group's cutoff when the query started: past it, the scan is cancelled.
    public var bytesScannedCutoff: Int?
    public var columns: [ResultColumn] = []
    public var rowCount: Int = 0

    public static var recordKind: RecordKind { .athenaQueries }
    public var recordKey: String { id }

    public var isSelect: Bool { statementType == "DML" }
}

/// What StartQueryExecution asks for, checked.
public struct QueryExecutionRequest: Sendable, Equatable {
    public var query: String
    public var database: String
    public var catalog: String
    public var workGroup: String
    /// As asked for; the work group's is used when none is given, or when the work group enforces its own.
    public var outputLocation: String?
    public var executionParameters: [String]?
    public var clientRequestToken: String?
    public var statementType: String
    public var substatementType: String

    public init(
        query: String, database: String, catalog: String, workGroup: String, outputLocation: String?, executionParameters: [String]?,
        clientRequestToken: String?, statementType: String, substatementType: String
    ) {
        self.query = query
        self.database = database
        self.catalog = catalog
        self.workGroup = workGroup
        self.outputLocation = outputLocation
        self.executionParameters = executionParameters
        self.clientRequestToken = clientRequestToken
        self.statementType = statementType
        self.substatementType = substatementType
    }
}

extension AthenaState {
    /// The only work group: Athena's default.
    public static let primaryWorkGroup = "primary"
    public static let dataCatalog = "AwsDataCatalog"
    /// Executions kept: the oldest finished ones go beyond this.
    public static let keptExecutions = 10_000

    /// Queues a query; the same client request token answers the execution it started before.
    public mutating func start(_ request: QueryExecutionRequest, id newId: String, now: Date, changes: inout ChangeSet) throws(AWSError) -> String {
        if let token = request.clientRequestToken, let earlier = executions.values.first(where: { $0.clientRequestToken == token }) {
            guard earlier.query == request.query else {
                throw AWSError(
                    type: "InvalidRequestException",
                    message: "Idempotent parameters do not match", extraFields: ["AthenaErrorCode": "INVALID_INPUT"])
            }
            return earlier.id
        }
        let group = try workGroup(request.workGroup)
        guard group.enabled else { throw AthenaAPI.invalid("WorkGroup \(group.name) is disabled.") }
        let chosen = group.enforceConfiguration ? group.outputLocation ?? request.outputLocation : request.outputLocation ?? group.outputLocation
        guard let output = chosen else {
            throw AthenaAPI.invalid(
                "No output location provided. An output location is required either through the Workgroup result configuration setting or as an API input.")
        }
        let location = output.folderURL + newId + (request.statementType == "DML" ? ".csv" : ".txt")
        var record = QueryExecutionRecord(
            id: newId, query: request.query, statementType: request.statementType, substatementType: request.substatementType,
            database: request.database, catalog: request.catalog, workGroup: group.name, outputLocation: location,
            executionParameters: request.executionParameters, clientRequestToken: request.clientRequestToken, state: .queued, submitted: now)
        record.bytesScannedCutoff = group.bytesScannedCutoffPerQuery
        executions[newId] = record
        changes.put(record)
        prune(changes: &changes)
        return newId
    }

    public func execution(_ id: String) throws(AWSError) -> QueryExecutionRecord {
        guard let record = executions[id] else {
            throw AWSError(type: "InvalidRequestException", message: "QueryExecution \(id) was not found", extraFields: ["AthenaErrorCode": "INVALID_INPUT"])
        }
        return record
    }

    /// The queued executions, oldest first.
    public var queued: [QueryExecutionRecord] {
        executions.values.filter { $0.state == .queued }.sorted { ($0.submitted, $0.id) < ($1.submitted, $1.id) }
    }

    /// Marks a queued execution running and answers it; nil when it is no longer queued (cancelled meanwhile).
    public mutating func begin(_ id: String, now: Date, changes: inout ChangeSet) -> QueryExecutionRecord? {
        guard var record = executions[id], record.state == .queued else { return nil }
        record.state = .running
        record.started = now
        save(record, changes: &changes)
        return record
    }

    /// Records how a running execution ended (unless it was cancelled meanwhile).
    public mutating func finish(
        _ id: String, outcome: Result<QueryResultSummary, QueryFailure>, now: Date, changes: inout ChangeSet
    ) {
        guard var record = executions[id], !record.state.isFinal else { return }
        record.completed = now
        switch outcome {
        case .success(let summary):
            record.state = .succeeded
            record.columns = summary.columns
            record.rowCount = summary.rowCount
            record.dataScannedInBytes = summary.bytesScanned
        case .failure(let failure):
            record.state = failure.type == QueryFailure.cancelledType ? .cancelled : .failed
            record.failure = record.state == .failed ? failure : nil
            record.stateChangeReason = failure.message
        }
        save(record, changes: &changes)
    }

    /// StopQueryExecution: a queued or running execution is CANCELLED at once; the runner stops its scan.
    public mutating func cancel(_ id: String, now: Date, changes: inout ChangeSet) throws(AWSError) {
        var record = try execution(id)
        guard !record.state.isFinal else { return }
        record.state = .cancelled
        record.completed = now
        record.stateChangeReason = "Query cancelled by user"
        save(record, changes: &changes)
    }

    /// After a restart: what was running is cut off (its scan died with the process); queued ones run again.
    public mutating func interruptRunning(now: Date, changes: inout ChangeSet) {
        for record in executions.values where record.state == .running {
            finish(record.id, outcome: .failure(Self.interruptedFailure), now: now, changes: &changes)
        }
    }

    public static let interruptedFailure = QueryFailure.engine("The query was interrupted: ecsd stopped while it ran. Run it again.")

    mutating func save(_ record: QueryExecutionRecord, changes: inout ChangeSet) {
        executions[record.id] = record
        changes.put(record)
    }

    private mutating func prune(changes: inout ChangeSet) {
        guard executions.count > Self.keptExecutions else { return }
        let finished = executions.values.filter(\.state.isFinal).sorted { $0.submitted < $1.submitted }
        for record in finished.prefix(executions.count - Self.keptExecutions) {
            executions[record.id] = nil
            changes.delete(QueryExecutionRecord.self, key: record.id)
        }
    }
}

/// What a finished query leaves in its record.
public struct QueryResultSummary: Sendable, Equatable {
    public var columns: [ResultColumn]
    public var rowCount: Int
    public var bytesScanned: Int

    public init(columns: [ResultColumn], rowCount: Int, bytesScanned: Int) {
        self.columns = columns
        self.rowCount = rowCount
        self.bytesScanned = bytesScanned
    }
}

extension QueryFailure {
    /// The type a stopped query ends with: it is CANCELLED, not FAILED.
    public static let cancelledType = -1
    public static let cancelled = QueryFailure(category: 2, type: cancelledType, message: "Query cancelled by user")
    public static let bytesLimitExceeded = QueryFailure(category: 2, type: cancelledType, message: "Query cancelled! : Bytes scanned limit was exceeded")
}
