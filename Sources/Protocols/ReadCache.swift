import StevedoreCore
import Synchronization

/// Answers repeated identical reads (same operation, same request bytes) from the encoded response
/// of the previous one, as long as the state has not changed since. Agents, dashboards and
/// autoscalers poll the same Describe/List calls constantly; this skips decoding, the committer
/// and encoding for all but the first.
public final class ReadCache: Sendable {
    private struct Key: Hashable {
        var operation: String
        var body: [UInt8]
    }

    private struct Entry {
        var version: UInt64
        var response: APIResponse
    }

    private let entries = Mutex<[Key: Entry]>([:])
    private let capacity: Int
    /// Advanced by every write of the state the cached reads read.
    let version: StateVersion

    public init(capacity: Int = 4096, version: StateVersion) {
        self.capacity = capacity
        self.version = version
    }

    /// Wraps a read handler whose answer depends only on the request and the state.
    func caching(_ operation: String, _ handler: @escaping AWSJSONDispatcher.Handler) -> AWSJSONDispatcher.Handler {
        guard capacity > 0 else { return handler }
        return { body, context in
            let key = Key(operation: operation, body: body)
            // Read the version before computing: if a write lands meanwhile, the entry is tagged
            // with the older version and never served.
            let before = self.version.current
            if let hit = self.entries.withLock({ $0[key] }), hit.version == before {
                return hit.response
            }
            let response = await handler(body, context)
            guard response.status < 500 else { return response }
            self.entries.withLock { entries in
                if entries.count >= self.capacity { entries.removeAll(keepingCapacity: true) }
                entries[key] = Entry(version: before, response: response)
            }
            return response
        }
    }
}
