import ArgumentParser
import AthenaShapes
import ECSShapes
import CurlHTTP
import Foundation
import StevedoreClient

/// Athena on ecsd against DuckDB reading the same files directly and against the sqlite3 shell
/// importing then querying them, in one run: a GROUP BY over a CSV file and over gzip JSON lines
/// (MB/s of the uncompressed data, end to end); and small lookups on the `stevedore` database
/// (queries per second, one client) against DescribeServices answering the same question.
struct AthenaBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "athena",
        abstract: "A GROUP BY over CSV and gzip JSON lines: ecsd's Athena vs DuckDB (files read directly) vs the sqlite3 shell (import, then query)."
    )

    @Option(help: "Path to the ecsd binary (build it with -c release for real figures).") var ecsd = ".build/release/ecsd"
    @Option(name: .customLong("size-mib"), help: "Size of each data set, in MiB (uncompressed).") var sizeMiB = 1024
    @Option(help: "A Python with duckdb (pip install duckdb).") var python = "python3"
    @Option(help: "The sqlite3 shell (Debian package sqlite3).") var sqlite3 = "sqlite3"
    @Option(help: "Seconds of small lookups.") var lookupSeconds = 5

    static let groupBy = "SELECT category, count(*) AS n, sum(amount) AS total, avg(amount) AS mean FROM %@ GROUP BY category ORDER BY category"

    func run() async throws {
        guard FileManager.default.isExecutableFile(atPath: ecsd) else { throw BenchError("\(ecsd) not found: swift build -c release --product ecsd") }
        guard let pythonPath = which(python) else { throw BenchError("\(python) not found") }
        guard (try? runProgram(pythonPath, ["-c", "import duckdb; print(duckdb.__version__)"]))?.isEmpty == false else {
            throw BenchError("duckdb not importable by \(python): pip install duckdb")
        }
        guard let sqlitePath = which(sqlite3) else { throw BenchError("sqlite3 not found: apt-get install sqlite3") }
        guard let awsPath = which("aws") else { throw BenchError("aws not found: pip install awscli") }
        let work = NSTemporaryDirectory() + "stevedore-athena-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        note("writing \(sizeMiB) MiB of CSV and of JSON lines")
        let csvBytes = try Self.write(work + "/sales.csv", size: sizeMiB << 20) { id, category, amount in "\(id),\(category),\(amount),order \(id) of \(category)\n" }
        let jsonBytes = try Self.write(work + "/sales.json", size: sizeMiB << 20) { id, category, amount in
            "{\"id\":\(id),\"category\":\"\(category)\",\"amount\":\(amount),\"note\":\"order \(id) of \(category)\"}\n"
        }
        _ = try runProgram("/bin/sh", ["-c", "gzip -1 -c '\(work)/sales.json' > '\(work)/sales.json.gz'"])

        let port = freePort()
        let endpoint = "http://127.0.0.1:\(port)"
        let server = try ChildProcess(
            name: "ecsd", executable: ecsd,
            arguments: ["--listen", "127.0.0.1:\(port)", "--gateway-listen", "127.0.0.1:0", "--data-dir", work + "/ecsd", "--log-level", "warning", "--auth", "off"],
            logPath: work + "/ecsd.log")
        defer { server.stop() }
        try await server.waitUntilReady(HTTPClient(baseURL: endpoint), path: "/healthz")
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ACCESS_KEY_ID"] = "bench"
        environment["AWS_SECRET_ACCESS_KEY"] = "bench"
        environment["AWS_DEFAULT_REGION"] = "us-east-1"
        for command in [
            ["s3", "mb", "s3://bench"], ["s3", "mb", "s3://results"], ["s3", "cp", work + "/sales.csv", "s3://bench/csv/sales.csv"],
            ["s3", "cp", work + "/sales.json.gz", "s3://bench/json/sales.json.gz"],
        ] {
            let done = try SAMBenchmark.timed(awsPath, ["--endpoint-url", endpoint] + command, directory: work, environment: environment)
            guard done.status == 0 else { throw BenchError("aws \(command.joined(separator: " ")) failed: \(done.output)") }
        }
        let client = APIClient(endpoint: endpoint)
        _ = try await query(client, "CREATE EXTERNAL TABLE csv_sales (id bigint, category string, amount double, note string) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 's3://bench/csv/'")
        _ = try await query(client, "CREATE EXTERNAL TABLE json_sales (id bigint, category string, amount double, note string) ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://bench/json/'")

        var rows: [[String]] = []
        for (name, table, bytes, duck, file) in [
            ("CSV", "csv_sales", csvBytes, "read_csv('\(work)/sales.csv', header=false, columns={'id':'BIGINT','category':'VARCHAR','amount':'DOUBLE','note':'VARCHAR'})", "sales.csv"),
            ("gzip JSON lines", "json_sales", jsonBytes, "read_json('\(work)/sales.json.gz', format='newline_delimited')", "sales.json.gz"),
        ] {
            note("\(name): ecsd")
            let ecsdSeconds = try await query(client, String(format: Self.groupBy, table))
            note("\(name): DuckDB")
            let script = "import duckdb, time\nt = time.time()\nduckdb.sql(\"\"\"\(String(format: Self.groupBy, duck))\"\"\").fetchall()\nprint(time.time() - t)"
            let duck = try SAMBenchmark.timed(pythonPath, ["-c", script], directory: work, environment: ProcessInfo.processInfo.environment)
            let duckSeconds = Double(duck.output.split(separator: "\n").last.map(String.init) ?? "") ?? .nan
            if duckSeconds.isNaN { note("DuckDB failed: \(duck.output.suffix(600))") }
            note("\(name): sqlite3 import and query")
            let sqliteSeconds = try sqliteImportAndQuery(sqlitePath, work: work, file: file)
            let mb = Double(bytes) / 1_048_576
            rows.append([name, String(format: "%.0f MiB", mb), String(format: "%.1f s, %.0f MB/s", ecsdSeconds, mb / ecsdSeconds),
                String(format: "%.1f s, %.0f MB/s", duckSeconds, mb / duckSeconds), String(format: "%.1f s, %.0f MB/s", sqliteSeconds, mb / sqliteSeconds),
                String(format: "%.2fx", duckSeconds / ecsdSeconds), String(format: "%.2fx", sqliteSeconds / ecsdSeconds)])
        }

        // Small lookups on the cluster's own records, one after another.
        note("lookups on stevedore.services")
        let _: CreateClusterResponse = try await client.ecs("CreateCluster", CreateClusterRequest(clusterName: "bench"))
        let _: RegisterTaskDefinitionResponse = try await client.ecs(
            "RegisterTaskDefinition",
            RegisterTaskDefinitionRequest(family: "web", containerDefinitions: [ContainerDefinition(name: "web", image: "busybox", memory: 16)]))
        for index in 0..<100 {
            let _: CreateServiceResponse = try await client.ecs(
                "CreateService", CreateServiceRequest(cluster: "bench", serviceName: "svc-\(index)", taskDefinition: "web", desiredCount: 0))
        }
        let lookups = try await repeatFor(seconds: lookupSeconds) {
            _ = try await query(client, "SELECT service_name, desired_count FROM stevedore.services WHERE service_name = 'svc-42'")
        }
        let describes = try await repeatFor(seconds: lookupSeconds) {
            let _: DescribeServicesResponse = try await client.ecs("DescribeServices", DescribeServicesRequest(cluster: "bench", services: ["svc-42"]))
        }

        print("Athena benchmark: release build, one ecsd, DuckDB \(try runProgram(pythonPath, ["-c", "import duckdb; print(duckdb.__version__)"]).trimmingCharacters(in: .whitespacesAndNewlines)), \(try runProgram(sqlitePath, ["--version"]).split(separator: " ").first ?? "sqlite3"); machine: \(ProcessInfo.processInfo.activeProcessorCount) cores\n")
        print("A GROUP BY over every row (\(String(format: Self.groupBy, "t"))), end to end:")
        print(table(["data", "size", "ecsd Athena", "DuckDB (files directly)", "sqlite3 (import, then query)", "ecsd vs DuckDB", "ecsd vs sqlite3"], rows))
        print(String(format: "\nLookups on stevedore.services (100 services), one client: %.0f queries/s (start, wait, results); DescribeServices of the same service: %.0f/s; ratio %.2fx",
            lookups, describes, lookups / max(describes, 0.001)))
        print("Targets: faster than import-then-query end to end; at least 0.25x DuckDB's rate.")
    }

    /// Writes rows of 50 categories until `size` bytes; answers the bytes written.
    static func write(_ path: String, size: Int, _ line: (Int, String, String) -> String) throws -> Int {
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw BenchError("cannot write \(path)") }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw BenchError("cannot write \(path)") }
        defer { try? handle.close() }
        var buffer = ""
        var written = 0
        var id = 0
        while written < size {
            id += 1
            buffer += line(id, "c\(id % 50)", "\(id % 1000).\(id % 100)")
            if buffer.utf8.count >= 1 << 20 {
                written += buffer.utf8.count
                handle.write(Data(buffer.utf8))
                buffer = ""
            }
        }
        if !buffer.isEmpty {
            written += buffer.utf8.count
            handle.write(Data(buffer.utf8))
        }
        return written
    }

    /// The sqlite3 shell's way: load the file into a table, then run the query.
    func sqliteImportAndQuery(_ sqlitePath: String, work: String, file: String) throws -> Double {
        let database = work + "/import-\(UUID().uuidString.prefix(6)).db"
        defer { try? FileManager.default.removeItem(atPath: database) }
        // The shell's commands as its arguments, run in order; JSON lines are imported whole, one per row, then read with json_extract.
        let commands: [String]
        if file.hasSuffix(".csv") {
            commands = [
                "CREATE TABLE t (id INTEGER, category TEXT, amount REAL, note TEXT);", ".mode csv", ".import '\(work)/\(file)' t",
                String(format: Self.groupBy, "t") + ";",
            ]
        } else {
            commands = [
                "CREATE TABLE raw (line TEXT);", ".mode ascii", ".separator \"\\037\" \"\\n\"", ".import /dev/stdin raw",
                String(format: Self.groupBy, "(SELECT json_extract(line, '$.category') AS category, json_extract(line, '$.amount') AS amount FROM raw)") + ";",
            ]
        }
        let quoted = commands.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let command = (file.hasSuffix(".gz") ? "zcat '\(work)/\(file)' | " : "") + "'\(sqlitePath)' '\(database)' \(quoted) > '\(work)/sqlite-out.txt'"
        let done = try SAMBenchmark.timed("/bin/sh", ["-c", command], directory: work, environment: ProcessInfo.processInfo.environment)
        guard done.status == 0 else { throw BenchError("sqlite3 failed: \(done.output)") }
        return done.seconds
    }

    /// Starts a query and waits for it: the seconds from the start to SUCCEEDED.
    func query(_ client: APIClient, _ sql: String) async throws -> Double {
        let started = ContinuousClock.now
        let answer: AthenaStartQueryExecutionOutput = try await client.json(
            target: "AmazonAthena.StartQueryExecution",
            AthenaStartQueryExecutionInput(QueryString: sql, ResultConfiguration: AthenaResultConfiguration(OutputLocation: "s3://results/bench/")))
        guard let id = answer.QueryExecutionId else { throw BenchError("no query id") }
        while true {
            let execution: AthenaGetQueryExecutionOutput = try await client.json(
                target: "AmazonAthena.GetQueryExecution", AthenaGetQueryExecutionInput(QueryExecutionId: id))
            let status = execution.QueryExecution?.Status
            switch status?.State {
            case .succeeded?:
                let _: AthenaGetQueryResultsOutput = try await client.json(
                    target: "AmazonAthena.GetQueryResults", AthenaGetQueryResultsInput(QueryExecutionId: id))
                return durationSeconds(ContinuousClock.now - started)
            case .failed?, .cancelled?:
                throw BenchError("query \(status?.State?.rawValue ?? ""): \(status?.StateChangeReason ?? "")")
            default: try await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    func repeatFor(seconds: Int, _ body: () async throws -> Void) async throws -> Double {
        let clock = ContinuousClock()
        let end = clock.now + .seconds(seconds)
        let start = clock.now
        var count = 0
        while clock.now < end {
            try await body()
            count += 1
        }
        return Double(count) / durationSeconds(clock.now - start)
    }
}
