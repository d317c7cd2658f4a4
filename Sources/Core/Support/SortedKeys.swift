/// Distinct strings kept in ascending order, for lists that are paged in key order (ListTasks):
/// a page is found by a binary search instead of a pass over, or a sort of, every key.
///
/// Kept in chunks of at most ``chunkLimit`` keys, so that changing a copy shared with readers (see
/// ``TrieDictionary``) copies the chunk list and one chunk, not every key.
public struct SortedKeys: Sendable {
    /// Non-empty, each ascending, each chunk's keys below the next chunk's.
    private var chunks: [[String]] = []
    public private(set) var count = 0

    static let chunkLimit = 256

    public init() {}

    /// Builds the order at once from keys in any order (a start-up's bulk load; duplicates dropped).
    public init<Keys: Sequence>(unordered: Keys) where Keys.Element == String {
        var keys = Array(unordered)
        keys.sort()
        var distinct: [String] = []
        distinct.reserveCapacity(keys.count)
        for key in keys where distinct.last != key { distinct.append(key) }
        count = distinct.count
        let half = Self.chunkLimit / 2
        chunks = stride(from: 0, to: distinct.count, by: half).map { Array(distinct[$0..<min($0 + half, distinct.count)]) }
    }

    public var isEmpty: Bool { count == 0 }

    /// Every key, ascending.
    public var keys: [String] { Array(chunks.joined()) }

    public func contains(_ key: String) -> Bool {
        let (chunk, index) = position(of: key)
        return chunk < chunks.count && index < chunks[chunk].count && chunks[chunk][index] == key
    }

    public mutating func insert(_ key: String) {
        guard !chunks.isEmpty else {
            chunks = [[key]]
            count = 1
            return
        }
        var (chunk, index) = position(of: key)
        if chunk == chunks.count {
            // Above every key: the end of the last chunk.
            chunk -= 1
            index = chunks[chunk].count
        } else if chunks[chunk][index] == key {
            return
        }
        chunks[chunk].insert(key, at: index)
        count += 1
        if chunks[chunk].count > Self.chunkLimit {
            let upper = Array(chunks[chunk][(Self.chunkLimit / 2)...])
            chunks[chunk].removeLast(upper.count)
            chunks.insert(upper, at: chunk + 1)
        }
    }

    public mutating func remove(_ key: String) {
        let (chunk, index) = position(of: key)
        guard chunk < chunks.count, chunks[chunk][index] == key else { return }
        chunks[chunk].remove(at: index)
        count -= 1
        if chunks[chunk].isEmpty { chunks.remove(at: chunk) }
    }

    /// The keys after `key` (all of them for nil), ascending.
    public func keys(after key: String?) -> Keys {
        guard let key else { return Keys(chunks: chunks, chunk: 0, index: 0) }
        var (chunk, index) = position(of: key)
        if chunk < chunks.count, chunks[chunk][index] == key { index += 1 }
        return Keys(chunks: chunks, chunk: chunk, index: index)
    }

    /// Keys from a position on, in order.
    public struct Keys: Sequence, IteratorProtocol {
        fileprivate let chunks: [[String]]
        fileprivate var chunk: Int
        fileprivate var index: Int

        public mutating func next() -> String? {
            while chunk < chunks.count {
                if index < chunks[chunk].count {
                    defer { index += 1 }
                    return chunks[chunk][index]
                }
                chunk += 1
                index = 0
            }
            return nil
        }
    }

    /// The chunk that holds `key` or would, and the index of the first key in it not below `key`;
    /// `chunks.count` for a key above every key.
    private func position(of key: String) -> (chunk: Int, index: Int) {
        var low = 0
        var high = chunks.count
        while low < high {
            let middle = (low + high) / 2
            if chunks[middle][chunks[middle].count - 1] < key { low = middle + 1 } else { high = middle }
        }
        guard low < chunks.count else { return (low, 0) }
        let keys = chunks[low]
        var first = 0
        var last = keys.count
        while first < last {
            let middle = (first + last) / 2
            if keys[middle] < key { first = middle + 1 } else { last = middle }
        }
        return (low, first)
    }
}

/// Equal when they hold the same keys, however they are chunked.
extension SortedKeys: Equatable {
    public static func == (lhs: SortedKeys, rhs: SortedKeys) -> Bool {
        lhs.count == rhs.count && lhs.chunks.joined().elementsEqual(rhs.chunks.joined())
    }
}
