import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

extension Array where Element: Sendable {
    /// `map`, spread over the machine's cores once there are enough elements to be worth it
    /// (start-up decodes every live row; a quarter of a second matters there). The order of the
    /// results is the order of the elements; the first error thrown is rethrown.
    public func concurrentMap<Mapped: Sendable>(
        minimumPerCore: Int = 1024, _ transform: @Sendable (Element) throws -> Mapped
    ) throws -> [Mapped] {
        let cores = Swift.min(Cores.active, count / Swift.max(minimumPerCore, 1))
        guard cores > 1 else { return try map(transform) }
        let chunkSize = (count + cores - 1) / cores
        let chunks = Mutex<[Int: Result<[Mapped], any Error>]>([:])
        DispatchQueue.concurrentPerform(iterations: cores) { chunk in
            let range = (chunk * chunkSize)..<Swift.min(count, (chunk + 1) * chunkSize)
            let result = Result { try self[range].map(transform) }
            chunks.withLock { $0[chunk] = result }
        }
        var mapped: [Mapped] = []
        mapped.reserveCapacity(count)
        let results = chunks.withLock { $0 }
        for chunk in 0..<cores { mapped += try results[chunk]!.get() }
        return mapped
    }
}

/// The cores this process may use, read once: each reading opens the cgroup's files, and
/// start-up asks for every table and record kind it loads.
public enum Cores {
    public static let active = ProcessInfo.processInfo.activeProcessorCount
}
