/// A dictionary by string key, split into a fixed number of shards by a hash of the key.
///
/// The committer publishes the state for readers after writes; the next write then changes a copy
/// shared with them. A plain dictionary copies every entry for that (tens of thousands of tasks,
/// on every write); this copies the shard list and the one shard the write changes.
public struct ShardedDictionary<Value: Sendable>: Sendable {
    private var shards: [[String: Value]]
    public private(set) var count = 0

    private static var shardCount: Int { 256 }

    public init() {
        shards = Array(repeating: [:], count: Self.shardCount)
    }

    public var isEmpty: Bool { count == 0 }

    public subscript(key: String) -> Value? {
        get { shards[Self.shard(of: key)][key] }
        set {
            if let newValue {
                updateValue(newValue, forKey: key)
            } else {
                removeValue(forKey: key)
            }
        }
    }

    @discardableResult
    public mutating func updateValue(_ value: Value, forKey key: String) -> Value? {
        let old = shards[Self.shard(of: key)].updateValue(value, forKey: key)
        if old == nil { count += 1 }
        return old
    }

    @discardableResult
    public mutating func removeValue(forKey key: String) -> Value? {
        let old = shards[Self.shard(of: key)].removeValue(forKey: key)
        if old != nil { count -= 1 }
        return old
    }

    public var keys: some Sequence<String> { shards.lazy.flatMap(\.keys) }
    public var values: some Sequence<Value> { shards.lazy.flatMap(\.values) }

    /// FNV-1a over the key's last 16 bytes: the ends of ARNs and ids are where they differ. Keys
    /// are compared by their bytes' shard but by `String` equality within it, so two canonically
    /// equivalent spellings with different bytes would be different keys: the keys here (ARNs and
    /// ids the control plane makes) are ASCII.
    private static func shard(of key: String) -> Int {
        let hash = FNV1a.hash(key.utf8.suffix(16))
        return Int(truncatingIfNeeded: hash ^ (hash >> 32)) & (shardCount - 1)
    }
}

extension ShardedDictionary: Sequence {
    public typealias Element = (key: String, value: Value)

    public func makeIterator() -> some IteratorProtocol<Element> {
        shards.lazy.flatMap { $0.lazy.map { (key: $0.key, value: $0.value) } }.makeIterator()
    }

    public var underestimatedCount: Int { count }
}

// Equal contents land in equal shards, so shard-wise equality is content equality.
extension ShardedDictionary: Equatable where Value: Equatable {}
