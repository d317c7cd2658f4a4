import StevedoreCore

/// A table's rows with their keys, in the order they were written.
public typealias KeyedRows = [(key: String, body: [UInt8])]

/// A store whose rows can be read with their keys: what copies of the state (`ecsd store
/// export|import`) read and write.
public protocol CopyableStateStore: ClosableStateStore {
    /// Every table's rows, read as of one moment (a consistent view, even while ecsd writes).
    func snapshotRows() async throws -> [(table: String, rows: KeyedRows)]
}

/// Copies a whole state from one store into another that holds none.
public enum StoreCopy {
    /// Rows per transaction: large enough to be quick, small enough to keep a transaction short.
    static let rowsPerCommit = 2_000

    /// Copies every row, table by table in the schema's order, each through `rewrite` (which
    /// may change a row's body); then commits `extra`. Refuses a target that holds any row.
    /// - Returns: the rows copied.
    @discardableResult
    public static func copy(
        from source: some CopyableStateStore, to target: some CopyableStateStore,
        rewrite: (StateChange) -> StateChange = { $0 }, extra: [StateChange] = []
    ) async throws -> Int {
        if let (table, _) = try await target.snapshotRows().first(where: { !$0.rows.isEmpty }) {
            throw StoreError("the target store already holds state (table \(table) has rows): copy into an empty one")
        }
        var copied = 0
        for (table, rows) in try await source.snapshotRows() {
            var start = 0
            while start < rows.count {
                let piece = rows[start..<min(rows.count, start + rowsPerCommit)]
                try await target.commit(piece.map { rewrite(StateChange(kind: RecordKind(table), key: $0.key, body: $0.body)) })
                start += piece.count
            }
            copied += rows.count
        }
        if !extra.isEmpty { try await target.commit(extra) }
        return copied
    }
}
