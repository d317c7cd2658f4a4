import Archives
import ArgumentParser
import Athena
import AthenaShapes
import Foundation
import StevedoreClient
import StevedoreCore

/// `ecsctl query "SQL"`: one statement through Athena, its rows printed as a table, JSON or CSV.
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Run SQL over stored objects and the cluster's own records (database `stevedore`) with Athena; print the rows.",
        discussion: """
            Examples:
              ecsctl query "SELECT last_status, count(*) FROM stevedore.tasks GROUP BY last_status"
              ecsctl query --database shop "SELECT customer, sum(amount) FROM orders GROUP BY customer" --output csv
            Results are written to --output-location, else the work group's location, else
            s3://ecsctl-query-results/ (made when missing).
            """)

    static let defaultBucket = "ecsctl-query-results"

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The statement: a query, or Hive DDL (CREATE EXTERNAL TABLE, SHOW TABLES…).") var sql: String
    @Option(help: "The database unqualified table names are in.") var database = "default"
    @Option(name: .customLong("work-group"), help: "The Athena work group.") var workGroup = "primary"
    @Option(name: .customLong("output-location"), help: "Where the results are written (s3://bucket/prefix/).") var outputLocation: String?

    func run() async throws {
        let client = global.client
        let location = try await resultLocation(client)
        let started: AthenaStartQueryExecutionOutput = try await client.json(
            target: "AmazonAthena.StartQueryExecution",
            AthenaStartQueryExecutionInput(
                QueryString: sql, ClientRequestToken: UUID().uuidString.lowercased(), QueryExecutionContext: AthenaQueryExecutionContext(Database: database),
                ResultConfiguration: location.map { AthenaResultConfiguration(OutputLocation: $0) }, WorkGroup: workGroup))
        guard let id = started.QueryExecutionId else { throw ValidationError("The control plane started no query.") }
        let execution = try await wait(for: id, client)
        let status = execution.Status
        guard status?.State == .succeeded else {
            let reason = status?.AthenaError?.ErrorMessage ?? status?.StateChangeReason ?? "no reason given"
            FileHandle.standardError.write(Data("query \(status?.State?.rawValue ?? "ended"): \(reason)\n".utf8))
            throw ExitCode(1)
        }
        let (columns, rows) = try await results(of: id, isSelect: execution.StatementType == .dml, client)
        switch global.output {
        case .json:
            Printer.json(QueryOutput(queryExecutionId: id, columns: columns, rows: rows, dataScannedInBytes: execution.Statistics?.DataScannedInBytes ?? 0))
        case .csv:
            if !columns.isEmpty { print(ResultFiles.csvLine(columns.map(\.name)), terminator: "") }
            for row in rows { print(ResultFiles.csvLine(row), terminator: "") }
        case .table:
            if columns.isEmpty {
                for row in rows { print(row.map { $0 ?? "" }.joined(separator: "\t")) }
            } else {
                Printer.table(columns.map { $0.name.uppercased() }, rows.map { $0.map { $0 ?? "NULL" } })
            }
            let scanned = execution.Statistics?.DataScannedInBytes ?? 0
            FileHandle.standardError.write(Data("(\(rows.count) row\(rows.count == 1 ? "" : "s"), \(Self.bytes(scanned)) scanned, \(execution.Statistics?.TotalExecutionTimeInMillis ?? 0) ms)\n".utf8))
        }
    }

    /// The location asked for; else the work group's (nil: the server takes it); else ecsctl's own bucket, made when missing.
    func resultLocation(_ client: APIClient) async throws -> String? {
        if let outputLocation { return outputLocation }
        let group: AthenaGetWorkGroupOutput = try await client.json(target: "AmazonAthena.GetWorkGroup", AthenaGetWorkGroupInput(WorkGroup: workGroup))
        if group.WorkGroup?.Configuration?.ResultConfiguration?.OutputLocation != nil { return nil }
        do {
            // S3 wants the body's SHA-256 signed too (here: of nothing).
            _ = try await client.rest(
                "PUT", "/\(Self.defaultBucket)", headers: [("x-amz-content-sha256", Digest.hex(Digest.sha256([UInt8]())))], service: "s3")
        } catch where "\(error)".contains("BucketAlreadyOwnedByYou") {
            // Made by an earlier query.
        }
        return "s3://\(Self.defaultBucket)/"
    }

    /// Polls until the query ends; on a terminal, shows how far it got meanwhile.
    func wait(for id: String, _ client: APIClient) async throws -> AthenaQueryExecution {
        let clock = ContinuousClock()
        let started = clock.now
        let interactive = isatty(2) != 0
        var shown = false
        while true {
            let answer: AthenaGetQueryExecutionOutput = try await client.json(
                target: "AmazonAthena.GetQueryExecution", AthenaGetQueryExecutionInput(QueryExecutionId: id))
            guard let execution = answer.QueryExecution else { throw ValidationError("The control plane lost query \(id).") }
            switch execution.Status?.State {
            case .succeeded?, .failed?, .cancelled?:
                if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                return execution
            default:
                let elapsed = clock.now - started
                if interactive, elapsed > .seconds(1) {
                    let scanned = execution.Statistics?.DataScannedInBytes ?? 0
                    FileHandle.standardError.write(
                        Data("\r\(execution.Status?.State?.rawValue ?? "RUNNING") \(elapsed.components.seconds) s, \(Self.bytes(scanned)) scanned".utf8))
                    shown = true
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Every page of the results; a SELECT's first row (the column labels) left out.
    func results(of id: String, isSelect: Bool, _ client: APIClient) async throws -> ([ResultColumn], [[String?]]) {
        var rows: [[String?]] = []
        var columns: [ResultColumn] = []
        var token: String?
        repeat {
            let page: AthenaGetQueryResultsOutput = try await client.json(
                target: "AmazonAthena.GetQueryResults", AthenaGetQueryResultsInput(QueryExecutionId: id, NextToken: token, MaxResults: 1000))
            if columns.isEmpty {
                columns = (page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []).map { ResultColumn(name: $0.Name, type: $0.Type) }
            }
            rows += (page.ResultSet?.Rows ?? []).map { row in (row.Data ?? []).map(\.VarCharValue) }
            token = page.NextToken
        } while token != nil
        if isSelect, !rows.isEmpty { rows.removeFirst() }
        return (columns, rows)
    }

    static func bytes(_ count: Int) -> String {
        if count < 1024 { return "\(count) B" }
        if count < 1 << 20 { return String(format: "%.1f KB", Double(count) / 1024) }
        if count < 1 << 30 { return String(format: "%.1f MB", Double(count) / Double(1 << 20)) }
        return String(format: "%.2f GB", Double(count) / Double(1 << 30))
    }
}

/// `ecsctl query --output json`.
struct QueryOutput: Encodable {
    var queryExecutionId: String
    var columns: [ResultColumn]
    var rows: [[String?]]
    var dataScannedInBytes: Int
}
