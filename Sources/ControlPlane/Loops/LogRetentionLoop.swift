import Foundation
import Logs
import ServiceLifecycle
import StevedoreCore

/// CloudWatch Logs' retention on disk: every `interval`, the segments of each group with a
/// retention policy whose events are all past it are deleted (reads already leave such events
/// out; this gives their space back), then the oldest segments of any group while the store is
/// larger than its bound.
struct LogRetentionLoop: Service {
    let committer: Committer<ControlPlaneState>
    let files: LogEventFiles
    let interval: Duration
    /// The most the whole event store may hold (`--logs-max-mb`); nil: no bound but retention.
    var maximumBytes: Int?

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let retained = (try? await committer.readLatest { root, now in
                    root.logs.groups.values.compactMap { group in
                        group.retentionInDays.map { (group.storageId, LogEventRules.retained($0, now: epochMilliseconds(now))) }
                    }
                }) ?? []
                for (group, cutoff) in retained { files.drop(group: group, olderThan: cutoff) }
                if let maximumBytes { files.enforce(maximumBytes: maximumBytes) }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
