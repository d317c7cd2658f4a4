import Foundation
import Logs
import ServiceLifecycle
import StevedoreCore

/// CloudWatch Logs' retention on disk: every `interval`, the segments of each group with a
/// retention policy whose events are all past it are deleted. (Reads already leave such events
/// out; this gives their space back.)
struct LogRetentionLoop: Service {
    let committer: Committer<ControlPlaneState>
    let files: LogEventFiles
    let interval: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let retained = (try? await committer.readLatest { root, now in
                    root.logs.groups.values.compactMap { group in
                        group.retentionInDays.map { (group.storageId, LogEventRules.retained($0, now: epochMilliseconds(now))) }
                    }
                }) ?? []
                for (group, cutoff) in retained { files.drop(group: group, olderThan: cutoff) }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
