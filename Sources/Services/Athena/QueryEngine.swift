import Synchronization

/// A stored object a table is read from: its key, its files on disk (in order), and, in a
/// partitioned table, its partition's values.
public struct ScanObject: Sendable, Equatable {
    public struct File: Sendable, Equatable {
        public var path: String
        public var size: Int

        public init(path: String, size: Int) {
            self.path = path
            self.size = size
        }
    }

    public var key: String
    public var size: Int
    public var files: [File]
    public var partition: [String]

    public init(key: String, size: Int, files: [File], partition: [String] = []) {
        self.key = key
        self.size = size
        self.files = files
        self.partition = partition
    }
}

/// A value of a row given whole (a table over the cluster's own records).
public enum CellValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
}

/// A table as one query reads it: its definition, and its objects as they are when the query
/// starts, or (a table of the built-in `stevedore` database) its rows, taken from the cluster's state.
public struct TableScan: Sendable {
    public var database: String
    public var table: TableRecord
    public var objects: [ScanObject]
    public var rows: [[CellValue]]?

    public init(database: String, table: TableRecord, objects: [ScanObject], rows: [[CellValue]]? = nil) {
        self.database = database
        self.table = table
        self.objects = objects
        self.rows = rows
    }
}

/// Set by StopQueryExecution; the engine checks it as it scans and stops.
public final class QueryCancellation: Sendable {
    private let flag = Atomic<Bool>(false)
    /// The work group's limit on the bytes one query scans: past it, the scan stops and the query is CANCELLED.
    public let bytesCutoff: Int?

    public init(bytesCutoff: Int? = nil) {
        self.bytesCutoff = bytesCutoff
    }

    private let interrupted = Atomic<Bool>(false)

    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
    /// StopQueryExecution.
    public func cancel() { flag.store(true, ordering: .relaxed) }
    /// ecsd is stopping: the scan ends, and the query is failed as interrupted rather than cancelled by a user.
    public func interrupt() {
        interrupted.store(true, ordering: .relaxed)
        flag.store(true, ordering: .relaxed)
    }
    public var wasInterrupted: Bool { interrupted.load(ordering: .relaxed) }
}

/// Where a query's rows go as the engine produces them.
public protocol ResultSink: AnyObject {
    /// Before the first row: the columns' names, and their types as far as the statement declares them.
    func begin(columns: [ResultColumn]) throws(QueryFailure)
    /// One row: each value as Athena prints it, nil for NULL.
    func row(_ values: [String?]) throws(QueryFailure)
    /// After the last row: every column's type settled (an expression's from the values it gave).
    func end(columns: [ResultColumn]) throws(QueryFailure)
}

/// Runs a query over tables read at query time. Synchronous: the runner calls it on a thread of its own.
public protocol QueryEngine: Sendable {
    /// - Parameter query: the query's text as ``QueryText/prepare(_:parameters:)`` made it.
    /// - Returns: the rows produced and the bytes read from the tables' files.
    func run(_ query: QueryText, database: String, tables: [TableScan], cancellation: QueryCancellation, sink: any ResultSink) throws(QueryFailure)
        -> (rows: Int, bytesScanned: Int)
}
