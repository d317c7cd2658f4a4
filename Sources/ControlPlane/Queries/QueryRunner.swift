import Archives
import Athena
import Foundation
import Glibc
import Logging
import Logs
import NIOCore
import NIOPosix
import S3
import ServiceLifecycle
import StevedoreCore
import Synchronization

/// Carries Athena's query executions out: up to `concurrency` at once (the rest wait QUEUED), each
/// on a thread of the runner's own. A query reads its tables' objects as they are when it starts,
/// through the engine; its rows are written as Athena writes them, `<id>.csv` (and
/// `<id>.csv.metadata`) at the output location, committed before the execution is marked
/// SUCCEEDED (a crash between the two leaves the results, and the execution FAILED as interrupted).
/// DDL runs against the catalog and answers in `<id>.txt`.
final class QueryRunner: QueryRunning, Service, Sendable {
    let committer: Committer<ControlPlaneState>
    let files: ObjectFiles
    let engine: any QueryEngine
    /// Where the `stevedore` database's log tables read.
    let logEvents: any LogEventStorage
    let accessLogs: AccessLogStore
    let concurrency: Int
    let logger: Logger
    private let pool: NIOThreadPool
    private let running = Mutex<[String: QueryCancellation]>([:])
    private let wakeStream: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation

    init(
        committer: Committer<ControlPlaneState>, files: ObjectFiles, engine: any QueryEngine, logEvents: any LogEventStorage, accessLogs: AccessLogStore,
        concurrency: Int = 4, logger: Logger
    ) {
        self.committer = committer
        self.files = files
        self.engine = engine
        self.logEvents = logEvents
        self.accessLogs = accessLogs
        self.concurrency = concurrency
        self.logger = logger
        pool = NIOThreadPool(numberOfThreads: concurrency)
        pool.start()
        (wakeStream, wakeContinuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    deinit { pool.shutdownGracefully { _ in } }

    func wake() { wakeContinuation.yield() }

    func stop(_ id: String) {
        running.withLock { $0[id] }?.cancel()
    }

    func resultBytes(_ execution: QueryExecutionRecord, from offset: Int, count: Int) async -> (bytes: [UInt8], total: Int)? {
        guard let location = ObjectLocation(execution.outputLocation) else { return nil }
        guard let object = try? await committer.read({ root, _ throws(AWSError) in try root.s3.object(bucket: location.bucket, key: location.prefix) }) else {
            return nil
        }
        guard offset < object.size, count > 0 else { return ([], object.size) }
        let range = offset...(min(object.size, offset + count) - 1)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(range.count)
        do {
            try await files.read(try files.open(object.segments, range: range), range: range) { bytes.append(contentsOf: $0.readableBytesView) }
        } catch {
            return nil
        }
        return (bytes, object.size)
    }

    func run() async throws {
        _ = try? await committer.write { root, m throws(AWSError) in root.athena.interruptRunning(now: m.now, changes: &m.changes) }
        wake()
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    // A safety net for a missed wake-up (and for queries waiting on a free slot).
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        self.wake()
                    }
                }
                for await _ in self.wakeStream {
                    if Task.isCancelled { break }
                    let queued = (try? await self.committer.read { root, _ in root.athena.queued.map { ($0.id, $0.bytesScannedCutoff) } }) ?? []
                    for (id, cutoff) in queued {
                        let cancellation = QueryCancellation(bytesCutoff: cutoff)
                        let admitted = self.running.withLock { running -> Bool in
                            guard running.count < self.concurrency, running[id] == nil else { return false }
                            running[id] = cancellation
                            return true
                        }
                        guard admitted else { continue }
                        group.addTask {
                            await self.execute(id, cancellation: cancellation)
                            _ = self.running.withLock { $0.removeValue(forKey: id) }
                            self.wake()
                        }
                    }
                }
                group.cancelAll()
                // Scans in the engine do not see task cancellation: they are stopped, and end as interrupted.
                self.running.withLock { running in for cancellation in running.values { cancellation.interrupt() } }
            }
        }
    }

    private func execute(_ id: String, cancellation: QueryCancellation) async {
        // `try?` flattens: nil when the write failed or the execution was no longer queued.
        guard let record = try? await committer.write({ root, m throws(AWSError) in root.athena.begin(id, now: m.now, changes: &m.changes) }) else {
            return
        }
        var outcome: Result<QueryResultSummary, QueryFailure>
        do throws(QueryFailure) {
            outcome = .success(try await carryOut(record, cancellation: cancellation))
        } catch {
            outcome = .failure(error)
        }
        if cancellation.wasInterrupted, case .failure = outcome { outcome = .failure(AthenaState.interruptedFailure) }
        let ended = outcome
        if case .failure(let failure) = ended, failure.type != QueryFailure.cancelledType {
            logger.info("query failed", metadata: ["query.id": "\(id)", "reason": "\(failure.message)"])
        }
        // The end must be recorded, or the execution stays RUNNING until a restart: tried again
        // while the store refuses it (a stop ends it as interrupted at the next start).
        for attempt in 1... {
            do {
                try await committer.write { root, m throws(AWSError) in root.athena.finish(id, outcome: ended, now: m.now, changes: &m.changes) }
                return
            } catch {
                if Task.isCancelled { return }
                try? await Task.sleep(for: .milliseconds(min(2000, 100 * attempt)))
            }
        }
    }

    /// Runs the statement; answers what the execution's record keeps.
    private func carryOut(_ record: QueryExecutionRecord, cancellation: QueryCancellation) async throws(QueryFailure) -> QueryResultSummary {
        let statement: AthenaStatement
        do {
            statement = try AthenaStatements.parse(record.query)
        } catch {
            throw .user(error.message)
        }
        var query = record.query
        var parameters = record.executionParameters ?? []
        switch statement {
        case .query:
            break
        case .execute(let name, let values):
            // The prepared query, bound to USING's values (or to the execution's parameters).
            let group = record.workGroup
            guard let prepared = try? await committer.read({ root, _ throws(AWSError) in try root.athena.preparedStatement(name, workGroup: group) })
            else {
                throw .user("line 1:1: Prepared statement not found: \(name)")
            }
            query = prepared.query
            if !values.isEmpty { parameters = values }
        default:
            return try await runCatalogStatement(statement, record: record)
        }
        let text = try QueryText.prepare(query, parameters: parameters)
        let tables = try await scans(for: query, record: record)
        let temporary = files.temporaryPath()
        let sink = CSVFileSink(path: temporary)
        let engine = self.engine
        let result: (rows: Int, bytesScanned: Int)
        do {
            result = try await pool.runIfActive { () throws -> (rows: Int, bytesScanned: Int) in
                try engine.run(text, database: record.database, tables: tables, cancellation: cancellation, sink: sink)
            }
            try sink.close()
        } catch let failure as QueryFailure {
            sink.discard()
            throw failure
        } catch {
            sink.discard()
            throw .engine("The query engine stopped: \(error)")
        }
        let encodedColumns: [UInt8] = (try? JSONEncoder().encode(sink.columns)).map { Array($0) } ?? Array("[]".utf8)
        var metadata: [UInt8] = Array(#"{"columns":"#.utf8)
        metadata += encodedColumns
        metadata.append(UInt8(ascii: "}"))
        try await store(temporary, at: record.outputLocation, contentType: "text/csv", extra: (record.outputLocation + ".metadata", metadata))
        return QueryResultSummary(columns: sink.columns, rowCount: result.rows, bytesScanned: result.bytesScanned)
    }

    /// DDL and SHOW/DESCRIBE: against the catalog, in the committer's turn; the answer's lines to `<id>.txt`.
    private func runCatalogStatement(_ statement: AthenaStatement, record: QueryExecutionRecord) async throws(QueryFailure) -> QueryResultSummary {
        var found: [String] = []
        if case .repairTable(let name) = statement {
            // The objects under the table's location now, for the partitions they lay out.
            found = (try? await committer.read { root, _ -> [String] in
                guard let (_, table) = try? root.athena.existingTable(name, context: record.database),
                    let location = table.definition.location.flatMap(ObjectLocation.init)
                else { return [] }
                return root.s3.contents[location.bucket]?.keys.filter { $0.hasPrefix(location.folder) } ?? []
            }) ?? []
        }
        let keys = found
        let output: StatementOutput
        do {
            output = try await committer.write { root, m throws(AWSError) in
                do throws(QueryFailure) {
                    return Result<StatementOutput, QueryFailure>.success(
                        try root.athena.run(
                            statement, database: record.database, workGroup: record.workGroup, objectKeys: keys, now: m.now, changes: &m.changes))
                } catch {
                    return .failure(error)
                }
            }.get()
        } catch let failure as QueryFailure {
            throw failure
        } catch {
            throw .engine("The catalog could not be changed: \(error)")
        }
        let temporary = files.temporaryPath()
        let text = output.lines.map { $0 + "\n" }.joined()
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8)) else {
            throw QueryFailure(category: 1, type: 401, message: "Failed to write the query's results")
        }
        try await store(temporary, at: record.outputLocation, contentType: "text/plain", extra: nil)
        return QueryResultSummary(columns: output.columns, rowCount: output.lines.count, bytesScanned: 0)
    }

    /// The tables a query names that exist, each with its objects as they are now (a partitioned
    /// table's: those of its partitions, with their values).
    private func scans(for query: String, record: QueryExecutionRecord) async throws(QueryFailure) -> [TableScan] {
        let names = AthenaStatements.mentionedNames(query)
        let files = self.files
        let found = try? await committer.read { root, now -> Result<([TableScan], [(scan: Int, sources: ClusterLogTables.Sources)]), QueryFailure> in
            var scans: [TableScan] = []
            var logSources: [(scan: Int, sources: ClusterLogTables.Sources)] = []
            var seen = Set<String>()
            for name in names {
                let database = name.database ?? record.database
                guard let table = root.athena.databases[database]?.tables[name.name], seen.insert(database + "." + table.name).inserted else { continue }
                if database == AthenaState.clusterDatabase {
                    if ClusterLogTables.columns[table.name] != nil {
                        logSources.append((scans.count, ClusterLogTables.sources(table.name, in: root)))
                    }
                    scans.append(TableScan(database: database, table: table, objects: [], rows: ClusterTables.rows(table.name, in: root)))
                    continue
                }
                var objects: [ScanObject] = []
                let projection: PartitionProjection?
                do throws(QueryFailure) {
                    projection = try PartitionProjection(table.definition)
                } catch {
                    return .failure(error)
                }
                if let projection {
                    // Projected: the objects whose paths give values the projection allows.
                    let tableFolder = table.definition.location.flatMap(ObjectLocation.init)?.folder ?? ""
                    if let location = ObjectLocation(projection.scanPrefix(tableLocation: table.definition.location ?? "")) {
                        for object in Self.objects(root.s3, under: location, files: files, partition: []) {
                            guard let values = projection.values(ofKey: object.key, bucket: location.bucket, tableFolder: tableFolder, now: now) else { continue }
                            var projected = object
                            projected.partition = values
                            objects.append(projected)
                        }
                    }
                } else if table.definition.partitionKeys.isEmpty {
                    if let location = table.definition.location.flatMap(ObjectLocation.init) {
                        objects = Self.objects(root.s3, under: location, files: files, partition: [])
                    }
                } else {
                    for partition in table.partitions {
                        guard let location = ObjectLocation(partition.location) else { continue }
                        objects += Self.objects(root.s3, under: location, files: files, partition: partition.values)
                    }
                }
                scans.append(TableScan(database: database, table: table, objects: objects))
            }
            return .success((scans, logSources))
        }
        guard let found else { throw .engine("The catalog could not be read; run the query again.") }
        var (scans, logSources) = try found.get()
        // The log tables' files, read outside the state's read, on the runner's threads (not on
        // those that run Swift tasks).
        guard !logSources.isEmpty else { return scans }
        let (tableNames, sources, events, accessLogs) = (logSources.map { scans[$0.scan].table.name }, logSources.map(\.sources), logEvents, accessLogs)
        guard
            let rows = try? await pool.runIfActive({
                zip(tableNames, sources).map { name, source in ClusterLogTables.rows(name, sources: source, events: events, accessLogs: accessLogs) }
            })
        else { throw .engine("The logs could not be read; run the query again.") }
        for (index, source) in logSources.enumerated() { scans[source.scan].rows = rows[index] }
        return scans
    }

    /// The objects under a location, Hive's hidden ones (`_…`, `.…`) and folder markers left out.
    static func objects(_ s3: S3State, under location: ObjectLocation, files: ObjectFiles, partition: [String]) -> [ScanObject] {
        guard let contents = s3.contents[location.bucket] else { return [] }
        let folder = location.folder
        return contents.keys.filter { $0.hasPrefix(folder) }.compactMap { key -> ScanObject? in
            let name = key.split(separator: "/").last ?? ""
            guard !key.hasSuffix("/"), !name.hasPrefix("_"), !name.hasPrefix("."), !key.hasSuffix("_$folder$"), let object = contents.byKey[key] else { return nil }
            return ScanObject(
                key: key, size: object.size, files: object.segments.map { ScanObject.File(path: files.path($0.file), size: $0.size) }, partition: partition)
        }
    }

    /// Moves a finished result file into the object store at `url` (and a small companion object), committed together.
    private func store(_ temporary: String, at url: String, contentType: String, extra: (url: String, bytes: [UInt8])?) async throws(QueryFailure) {
        guard let location = ObjectLocation(url) else { throw .user("outputLocation is not a valid S3 path: \(url)") }
        var adopted: [(ObjectLocation, String, Int, [UInt8])] = []
        do {
            let main = try await files.adopt(temporary)
            adopted.append((location, main.file, main.size, main.md5))
            if let extra, let extraLocation = ObjectLocation(extra.url) {
                let path = files.temporaryPath()
                guard FileManager.default.createFile(atPath: path, contents: Data(extra.bytes)) else { throw POSIXError(.EIO) }
                let written = try await files.adopt(path)
                adopted.append((extraLocation, written.file, written.size, written.md5))
            }
        } catch {
            unlink(temporary)
            files.remove(adopted.map(\.1))
            throw QueryFailure(category: 1, type: 401, message: "Failed to write the query's results to \(url): \(error)")
        }
        let records = adopted
        do {
            let obsolete = try await committer.write { root, m throws(AWSError) -> [String] in
                var obsolete: [String] = []
                for (place, file, size, md5) in records {
                    var attributes = ObjectAttributes()
                    attributes.contentType = place.prefix.hasSuffix(".metadata") ? "application/octet-stream" : contentType
                    let object = ObjectRecord(
                        bucket: place.bucket, key: place.prefix, size: size, etag: Digest.hex(md5), lastModified: m.now, attributes: attributes,
                        segments: [StoredSegment(file: file, size: size)])
                    obsolete += try root.s3.putObject(object, changes: &m.changes)
                }
                return obsolete
            }
            files.remove(obsolete)
        } catch {
            files.remove(records.map(\.1))
            if error.type == "NoSuchBucket" { throw .user("Unable to verify/create output bucket \(location.bucket)") }
            throw QueryFailure(category: 1, type: 401, message: "Failed to write the query's results to \(url): \(error.message)")
        }
    }
}

/// Rows written as Athena writes its CSV results, to a file, a megabyte at a time.
final class CSVFileSink: ResultSink, @unchecked Sendable {
    let path: String
    private var descriptor: Int32 = -1
    private var pending: [UInt8] = []
    private(set) var columns: [ResultColumn] = []

    init(path: String) {
        self.path = path
    }

    func begin(columns: [ResultColumn]) throws(QueryFailure) {
        self.columns = columns
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw QueryFailure(category: 1, type: 401, message: "Failed to write the query's results") }
        pending.append(contentsOf: ResultFiles.csvLine(columns.map(\.name)).utf8)
    }

    func row(_ values: [String?]) throws(QueryFailure) {
        pending.append(contentsOf: ResultFiles.csvLine(values).utf8)
        if pending.count >= 1 << 20 { try flush() }
    }

    func end(columns: [ResultColumn]) throws(QueryFailure) {
        self.columns = columns
    }

    private func flush() throws(QueryFailure) {
        var written = 0
        while written < pending.count {
            let count = pending.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, $0.count - written) }
            guard count > 0 else { throw QueryFailure(category: 1, type: 401, message: "Failed to write the query's results: errno \(errno)") }
            written += count
        }
        pending.removeAll(keepingCapacity: true)
    }

    func close() throws(QueryFailure) {
        guard descriptor >= 0 else { throw QueryFailure(category: 1, type: 401, message: "The query produced no result") }
        try flush()
        Glibc.close(descriptor)
        descriptor = -1
    }

    func discard() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
        unlink(path)
    }
}
