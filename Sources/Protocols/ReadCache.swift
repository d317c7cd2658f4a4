import StevedoreCore
import Synchronization

/// Answers repeated identical reads (same operation, same request bytes) from the encoded response
/// of the previous one, as long as nothing the read depends on has changed since. Agents,
/// dashboards and autoscalers poll the same Describe/List calls constantly; this skips decoding,
/// the committer and encoding for all but the first. A read that names the record kinds it
/// depends on stays cached while writes change other kinds (ListClusters while tasks start).
public final class ReadCache: Sendable {
    /// Computes a read's answer and names the record kinds the answer depends on (nil: anything).
    public typealias Computation = @Sendable ([UInt8], OperationContext) async -> (response: APIResponse, reads: [RecordKind]?)

    private struct Key: Hashable {
        var operation: String
        var body: [UInt8]
    }

    private struct Entry {
        var version: UInt64
        var reads: [RecordKind]?
        var response: APIResponse
    }

    private struct Entries {
        var byKey: [Key: Entry] = [:]
        var bytes = 0
    }

    private let entries = Mutex(Entries())
    private let capacity: Int
    private let capacityBytes: Int
    /// Advanced by every write of the state the cached reads read, with the kinds it changed.
    let version: StateVersion

    /// At most `capacity` answers and `capacityBytes` bytes of requests and answers (clients choose
    /// both sizes, so both are bounded); an answer larger than a sixteenth of that is not kept.
    public init(capacity: Int = 4096, capacityBytes: Int = 32 << 20, version: StateVersion) {
        self.capacity = capacity
        self.capacityBytes = capacityBytes
        self.version = version
    }

    /// Bytes held now (requests and answers).
    public var bytesHeld: Int { entries.withLock { $0.bytes } }

    /// Wraps a read whose answer depends only on the request and the state (the kinds it names).
    func caching(_ operation: String, _ compute: @escaping Computation) -> AWSJSONDispatcher.Handler {
        guard capacity > 0 else { return { await compute($0, $1).response } }
        return { body, context in
            let key = Key(operation: operation, body: body)
            // Read the version before computing: if a write lands meanwhile, the entry is tagged
            // with the older version and is not served once that write is visible.
            let before = self.version.current
            if let hit = self.entries.withLock({ $0.byKey[key] }), self.version.unchanged(since: hit.version, in: hit.reads) {
                return hit.response
            }
            let (response, reads) = await compute(body, context)
            let size = Self.size(key, response)
            guard response.status < 500, size <= self.capacityBytes / 16 else { return response }
            self.entries.withLock { entries in
                if entries.byKey.count >= self.capacity || entries.bytes + size > self.capacityBytes {
                    entries = Entries()
                }
                if let replaced = entries.byKey.updateValue(Entry(version: before, reads: reads, response: response), forKey: key) {
                    entries.bytes -= Self.size(key, replaced.response)
                }
                entries.bytes += size
            }
            return response
        }
    }
}

extension ReadCache {
    private static func size(_ key: Key, _ response: APIResponse) -> Int {
        let headers = response.headers.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count }
        return key.operation.utf8.count + key.body.count + response.body.count + headers + 64
    }
}
