#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ECS
import ECSShapes
import Lambda
import SNS
import StevedoreCore

/// ECS's own events on the default bus, in the commit that made the change: "ECS Task State
/// Change" for every task a write changed (as AWS sends one when a task's or a container's
/// status changes), "ECS Container Instance State Change" for every container instance.
extension EventBridgeHost where Self: SNSHost {
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
            case .services:
                guard let record = ecs.services[change.key] else { continue }
                publishServiceEvents(record, now: now, using: &generator, changes: &changes)
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

extension EventBridgeHost where Self: SNSHost {
    /// "ECS Service Action" for the service events this write made (steady state, placement
    /// failures), "ECS Deployment State Change" for each deployment whose rollout state changed.
    mutating func publishServiceEvents(_ record: ServiceRecord, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet) {
        let cluster = record.service.clusterArn ?? ""
        for event in record.service.events ?? [] where event.createdAt == now {
            let message = event.message ?? ""
            let (type, name): (String, String)
            if message.hasSuffix("has reached a steady state.") {
                (type, name) = ("INFO", "SERVICE_STEADY_STATE")
            } else if message.contains("was unable to place a task") {
                (type, name) = ("ERROR", "SERVICE_TASK_PLACEMENT_FAILURE")
            } else {
                continue
            }
            let detail: JSONValue = .object([
                "eventType": .string(type), "eventName": .string(name), "clusterArn": .string(cluster),
                "createdAt": .string(ECSEventDetail.iso8601(now.timeIntervalSince1970)),
            ])
            publish(
                source: "aws.ecs", detailType: "ECS Service Action", resources: [record.arn], detail: detail.sortedText, now: now,
                using: &generator, changes: &changes)
        }
        for deployment in record.service.deployments ?? [] {
            guard let id = deployment.id, let state = deployment.rolloutState, events.publishedRollouts[id] != state.rawValue else { continue }
            events.notePublished(deployment: id, state: state.rawValue)
            let (type, name, reason): (String, String, String) =
                switch state {
                case .completed: ("INFO", "SERVICE_DEPLOYMENT_COMPLETED", "ECS deployment \(id) completed.")
                case .failed: ("ERROR", "SERVICE_DEPLOYMENT_FAILED", deployment.rolloutStateReason ?? "ECS deployment circuit breaker: task failed to start.")
                default: ("INFO", "SERVICE_DEPLOYMENT_IN_PROGRESS", "ECS deployment \(id) in progress.")
                }
            let detail: JSONValue = .object([
                "eventType": .string(type), "eventName": .string(name), "deploymentId": .string(id),
                "updatedAt": .string(ECSEventDetail.iso8601(now.timeIntervalSince1970)), "reason": .string(reason),
            ])
            publish(
                source: "aws.ecs", detailType: "ECS Deployment State Change", resources: [record.arn], detail: detail.sortedText, now: now,
                using: &generator, changes: &changes)
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
        return JSONValue.object(fields).withTimesAsText(timeFields).sortedText
    }

    /// `2026-12-01T07:00:00.123Z`, as ECS's events give times.
    static func iso8601(_ given: Double) -> String {
        let seconds = given.isFinite ? min(max(given, EventBridgeState.eventTimes.lowerBound), EventBridgeState.eventTimes.upperBound) : 0
        return CivilCalendar.iso8601(millisecondsSince1970: Int64((seconds * 1000).rounded(.down)))
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
