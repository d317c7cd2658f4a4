#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ECS
import ECSShapes
import Lambda
import StevedoreCore

/// ECS's own events on the default bus, in the commit that made the change: "ECS Task State
/// Change" for every task a write changed (as AWS sends one when a task's or a container's
/// status changes), "ECS Container Instance State Change" for every container instance.
extension EventBridgeHost where Self: LambdaHost {
    /// Publishes the events of the ECS changes in `committed` (a write's changes so far).
    public mutating func publishECSEvents(of committed: ChangeSet, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet) {
        guard events.listensForECSEvents else { return }
        var seen: Set<String> = []
        for change in committed.changes where change.body != nil && seen.insert(change.kind.rawValue + change.key).inserted {
            switch change.kind {
            case .tasks, .stoppedTasks:
                guard let record = ecs.task(change.key), !seen.contains("task" + change.key) else { continue }
                seen.insert("task" + change.key)
                // Lambda's execution environments are Stevedore's own tasks, not the user's.
                guard record.function == nil else { continue }
                let task = ecs.taskView(record)
                // A change that leaves the task's and its containers' statuses as they were (an
                // agent reporting again) is not a state change.
                let statuses = ([task.lastStatus, task.desiredStatus] + (task.containers ?? []).map(\.lastStatus)).map { $0 ?? "" }.joined(separator: "/")
                guard events.publishedTaskStatuses[record.arn] != statuses else { continue }
                events.notePublished(task: record.arn, statuses: statuses)
                guard let detail = ECSEventDetail.text(task, updatedAt: now) else { continue }
                publish(
                    source: "aws.ecs", detailType: "ECS Task State Change", resources: [record.arn], detail: detail, now: now,
                    using: &generator, changes: &changes)
            case .containerInstances:
                guard let instance = ecs.instances[change.key], let detail = ECSEventDetail.text(ecs.instanceView(instance), updatedAt: now) else { continue }
                publish(
                    source: "aws.ecs", detailType: "ECS Container Instance State Change", resources: [change.key], detail: detail, now: now,
                    using: &generator, changes: &changes)
            default:
                continue
            }
        }
    }
}

/// ECS's resources as event details: the API's shape, times as ISO 8601 strings, `updatedAt`.
enum ECSEventDetail {
    static let timeFields: Set<String> = [
        "createdAt", "startedAt", "stoppedAt", "stoppingAt", "pullStartedAt", "pullStoppedAt", "connectivityAt", "executionStoppedAt",
        "registeredAt", "updatedAt",
    ]

    static func text(_ resource: some Encodable, updatedAt: Date) -> String? {
        guard let bytes = try? StreamingJSONEncoder.encode(resource),
            case .object(var fields) = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        else { return nil }
        fields["updatedAt"] = .number(updatedAt.timeIntervalSince1970)
        return TargetInput.encode(.object(fields).withTimesAsText(timeFields))
    }

    /// `2026-12-01T07:00:00.123Z`, as ECS's events give times.
    static func iso8601(_ given: Double) -> String {
        let seconds = given.isFinite ? min(max(given, EventBridgeState.eventTimes.lowerBound), EventBridgeState.eventTimes.upperBound) : 0
        let whole = Int64(seconds.rounded(.down))
        let millis = Int(((seconds - Double(whole)) * 1000).rounded(.down))
        let stamp = CivilCalendar.iso8601(secondsSince1970: whole)
        let padded = String(repeating: "0", count: 3 - String(millis).count) + String(millis)
        return String(stamp.dropLast()) + "." + padded + "Z"
    }
}

extension JSONValue {
    /// The value with numbers under the named keys (epoch seconds) written as ISO 8601 text.
    func withTimesAsText(_ keys: Set<String>) -> JSONValue {
        switch self {
        case .object(let fields):
            var converted: [String: JSONValue] = [:]
            for (key, value) in fields {
                if keys.contains(key), case .number(let seconds) = value {
                    converted[key] = .string(ECSEventDetail.iso8601(seconds))
                } else {
                    converted[key] = value.withTimesAsText(keys)
                }
            }
            return .object(converted)
        case .array(let items):
            return .array(items.map { $0.withTimesAsText(keys) })
        default:
            return self
        }
    }
}
