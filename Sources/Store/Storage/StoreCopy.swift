import StevedoreCore

/// A table's rows with their keys, in the order they were written.
public typealias KeyedRows = [(key: String, body: [UInt8])]

/// A store whose rows can be read with their keys: what copies of the state (`ecsd store
/// export|import`) read and write.
public protocol CopyableStateStore: ClosableStateStore {
    /// Every table's rows, read as of one moment (a consistent view, even while ecsd writes).
    func snapshotRows() async throws -> [(table: String, rows: KeyedRows)]
}

/// Copies a whole state into a store that holds none.
public enum StoreCopy {
    /// Writes every row (tables in the schema's order), each through `rewrite` (which may change
    /// a row's body), then `extra`, in one transaction: a copy that fails leaves the target as
    /// empty as it was. Refuses a target that holds any row.
    /// - Returns: the rows copied.
    @discardableResult
    public static func copy(
        _ tables: [(table: String, rows: KeyedRows)], to target: some CopyableStateStore,
        rewrite: (StateChange) -> StateChange = { $0 }, extra: [StateChange] = []
    ) async throws -> Int {
        if let (table, _) = try await target.snapshotRows().first(where: { !$0.rows.isEmpty }) {
            throw StoreError("the target store already holds state (table \(table) has rows): copy into an empty one")
        }
        var changes: [StateChange] = []
        changes.reserveCapacity(tables.reduce(0) { $0 + $1.rows.count } + extra.count)
        for (table, rows) in tables {
            for row in rows { changes.append(rewrite(StateChange(kind: RecordKind(table), key: row.key, body: row.body))) }
        }
        let copied = changes.count
        changes += extra
        if !changes.isEmpty { try await target.commit(changes) }
        return copied
    }
}
