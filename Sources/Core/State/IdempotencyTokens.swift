#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Client tokens that make a create operation idempotent (ECS RunTask's `clientToken`, and the
/// tokens of the services to come), kept durably so a retry after a restart is still recognised.
///
/// Each token is scoped (`RunTask/<cluster>`: AWS scopes RunTask's tokens to a cluster), remembers
/// a fingerprint of the request it came with and the resources it produced, and is honoured for
/// `lifetime` (RunTask: 24 hours). At most `capacity` tokens are kept, the oldest given up first,
/// so a client that sends a fresh token with every call (as the SDKs do) cannot grow memory
/// without bound.
public struct IdempotencyTokens: Sendable {
    public struct Record: StoredRecord, Equatable {
        public static let recordKind = RecordKind.clientTokens
        public var scope: String
        public var token: String
        /// A hash of the request without its token: a different request reusing the token conflicts.
        public var fingerprint: String
        /// What the first request produced (task ARNs).
        public var resourceIds: [String]
        public var createdAt: Date

        public var recordKey: String { IdempotencyTokens.key(scope: scope, token: token) }

        public init(scope: String, token: String, fingerprint: String, resourceIds: [String], createdAt: Date) {
            self.scope = scope
            self.token = token
            self.fingerprint = fingerprint
            self.resourceIds = resourceIds
            self.createdAt = createdAt
        }
    }

    /// What a request with a token should do.
    public enum Lookup: Sendable, Equatable {
        /// First use (or expired): run the request, then ``remember(_:changes:)`` it.
        case new
        /// The same request again: answer with what it produced.
        case replay([String])
        /// The token came with a different request.
        case conflict([String])
    }

    public var lifetime: TimeInterval
    public var capacity: Int
    private var records: [String: Record] = [:]
    /// Keys oldest first, for giving up the oldest when full and for expiry; an entry whose time
    /// is not its record's any more (the token was used again after expiring) is skipped.
    private var order: [(key: String, createdAt: Date)] = []
    private var orderStart = 0

    public init(lifetime: TimeInterval, capacity: Int = 100_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    public var count: Int { records.count }

    static func key(scope: String, token: String) -> String { scope + "/" + token }

    public func lookup(scope: String, token: String, fingerprint: String, now: Date) -> Lookup {
        guard let record = records[Self.key(scope: scope, token: token)], now.timeIntervalSince(record.createdAt) < lifetime else {
            return .new
        }
        // An adopted token (see ``adopt(scope:token:resourceIds:createdAt:)``) has no fingerprint to compare.
        return record.fingerprint == fingerprint || record.fingerprint.isEmpty ? .replay(record.resourceIds) : .conflict(record.resourceIds)
    }

    /// Takes in a token found on the resources it made, from a version that kept tokens only there
    /// (memory only: it needs no row, as the resources carry it). Its request's fingerprint is not
    /// known, so any request with it is answered as a replay.
    public mutating func adopt(scope: String, token: String, resourceIds: [String], createdAt: Date) {
        let key = Self.key(scope: scope, token: token)
        guard records[key] == nil else { return }
        records[key] = Record(scope: scope, token: token, fingerprint: "", resourceIds: resourceIds, createdAt: createdAt)
        order.append((key, createdAt))
    }

    public mutating func remember(_ record: Record, changes: inout ChangeSet) {
        records[record.recordKey] = record
        order.append((record.recordKey, record.createdAt))
        changes.put(record)
        while records.count > capacity, let oldest = popOldest() {
            changes.delete(Record.self, key: oldest)
        }
    }

    /// Writes a token's row again, unchanged (see RunTask's replay).
    public func rewrite(scope: String, token: String, changes: inout ChangeSet) {
        if let record = records[Self.key(scope: scope, token: token)] { changes.put(record) }
    }

    /// Forgets tokens past their lifetime.
    public mutating func prune(now: Date, changes: inout ChangeSet) {
        while let oldest = oldestCurrent() {
            guard now.timeIntervalSince(oldest.createdAt) >= lifetime else { break }
            if let key = popOldest() { changes.delete(Record.self, key: key) }
        }
    }

    /// The oldest record, skipping order entries that are out of date.
    private mutating func oldestCurrent() -> Record? {
        while orderStart < order.count {
            let entry = order[orderStart]
            if let record = records[entry.key], record.createdAt == entry.createdAt { return record }
            advance()
        }
        return nil
    }

    private mutating func popOldest() -> String? {
        guard let oldest = oldestCurrent() else { return nil }
        advance()
        records[oldest.recordKey] = nil
        return oldest.recordKey
    }

    private mutating func advance() {
        orderStart += 1
        if orderStart > 1024, orderStart * 2 > order.count {
            order.removeFirst(orderStart)
            orderStart = 0
        }
    }

    /// Rebuilds from stored rows, oldest first.
    public mutating func restore(_ rows: [Record]) {
        for record in rows.sorted(by: { $0.createdAt < $1.createdAt }) {
            records[record.recordKey] = record
            order.append((record.recordKey, record.createdAt))
        }
    }

    /// A stable fingerprint of a request's canonical encoding (FNV-1a, 64 bits, as hex): equal for
    /// equal requests across processes and restarts.
    public static func fingerprint<Request: Encodable>(_ request: Request) -> String {
        String(FNV1a.hash((try? StreamingJSONEncoder.encode(request)) ?? []), radix: 16)
    }

    /// Whether a token is one AWS accepts: 1 to `maximumLength` characters from `!` to `~`.
    public static func isValid(_ token: String, maximumLength: Int) -> Bool {
        !token.isEmpty && token.utf8.count <= maximumLength && token.utf8.allSatisfy { (33...126).contains($0) }
    }
}

extension RecordKind {
    public static let clientTokens = RecordKind("client_tokens")
}
