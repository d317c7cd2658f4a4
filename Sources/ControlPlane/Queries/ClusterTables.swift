import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import Athena
import ECS
import ECSShapes
import Foundation
import Lambda
import LambdaShapes
import StevedoreCore

/// The built-in `stevedore` database: tables over the cluster's own records, read from the
/// committed state when a query starts (always current, never stored, read-only).
enum ClusterTables {
    typealias Row = [CellValue]

    static let columns: [String: [ColumnDefinition]] = [
        "tasks": [
            .init(name: "task_arn", type: "string"), .init(name: "cluster", type: "string"), .init(name: "task_definition", type: "string"),
            .init(name: "family", type: "string"), .init(name: "last_status", type: "string"), .init(name: "desired_status", type: "string"),
            .init(name: "launch_type", type: "string"), .init(name: "container_instance_arn", type: "string"), .init(name: "started_by", type: "string"),
            .init(name: "group", type: "string"), .init(name: "cpu", type: "int"), .init(name: "memory", type: "int"),
            .init(name: "created_at", type: "timestamp"), .init(name: "started_at", type: "timestamp"), .init(name: "stopped_at", type: "timestamp"),
            .init(name: "stopped_reason", type: "string"), .init(name: "health_status", type: "string"),
        ],
        "services": [
            .init(name: "service_arn", type: "string"), .init(name: "service_name", type: "string"), .init(name: "cluster", type: "string"),
            .init(name: "status", type: "string"), .init(name: "desired_count", type: "int"), .init(name: "running_count", type: "int"),
            .init(name: "pending_count", type: "int"), .init(name: "launch_type", type: "string"), .init(name: "task_definition", type: "string"),
            .init(name: "created_at", type: "timestamp"),
        ],
        "service_events": [
            .init(name: "service_name", type: "string"), .init(name: "cluster", type: "string"), .init(name: "event_id", type: "string"),
            .init(name: "created_at", type: "timestamp"), .init(name: "message", type: "string"),
        ],
        "container_instances": [
            .init(name: "container_instance_arn", type: "string"), .init(name: "cluster", type: "string"), .init(name: "ec2_instance_id", type: "string"),
            .init(name: "status", type: "string"), .init(name: "agent_connected", type: "boolean"), .init(name: "running_tasks", type: "int"),
            .init(name: "pending_tasks", type: "int"), .init(name: "cpu_registered", type: "int"), .init(name: "cpu_remaining", type: "int"),
            .init(name: "memory_registered", type: "int"), .init(name: "memory_remaining", type: "int"),
        ],
        "task_state_changes": [
            .init(name: "task_arn", type: "string"), .init(name: "cluster", type: "string"), .init(name: "family", type: "string"),
            .init(name: "status", type: "string"), .init(name: "changed_at", type: "timestamp"), .init(name: "reason", type: "string"),
        ],
        "scaling_activities": [
            .init(name: "activity_id", type: "string"), .init(name: "service_namespace", type: "string"), .init(name: "resource_id", type: "string"),
            .init(name: "scalable_dimension", type: "string"), .init(name: "description", type: "string"), .init(name: "cause", type: "string"),
            .init(name: "start_time", type: "timestamp"), .init(name: "end_time", type: "timestamp"), .init(name: "status_code", type: "string"),
            .init(name: "status_message", type: "string"),
        ],
        "functions": [
            .init(name: "function_name", type: "string"), .init(name: "function_arn", type: "string"), .init(name: "runtime", type: "string"),
            .init(name: "handler", type: "string"), .init(name: "memory_size", type: "int"), .init(name: "timeout", type: "int"),
            .init(name: "code_size", type: "bigint"), .init(name: "state", type: "string"), .init(name: "versions", type: "int"),
            .init(name: "last_modified", type: "string"),
        ],
    ]

    /// The database as the catalog lists it.
    static var database: DatabaseRecord {
        var record = DatabaseRecord(name: AthenaState.clusterDatabase, description: "The cluster's own records, always current (read-only)")
        for (name, columns) in columns.merging(ClusterLogTables.columns, uniquingKeysWith: { first, _ in first }) {
            let definition = TableDefinition(name: name, columns: columns, location: "stevedore://\(name)", comment: "The cluster's \(name.replacingOccurrences(of: "_", with: " "))")
            record.tables[name] = TableRecord(definition: definition, created: Date(timeIntervalSince1970: 0))
        }
        return record
    }

    /// A table's rows now.
    static func rows(_ table: String, in root: ControlPlaneState) -> [Row] {
        switch table {
        case "tasks": return root.ecs.tasks.values.map { taskRow($0.task) }
        case "services": return root.ecs.services.values.map { serviceRow($0.service) }
        case "service_events":
            return root.ecs.services.values.flatMap { record in
                (record.service.events ?? []).map { event in
                    [text(record.name), text(cluster(record.service.clusterArn)), text(event.id), time(event.createdAt), text(event.message)]
                }
            }
        case "container_instances": return root.ecs.instances.values.map(instanceRow)
        case "functions": return root.lambda.functions.values.map(functionRow)
        case "task_state_changes": return root.ecs.tasks.values.flatMap { stateChangeRows($0.task) }
        case "scaling_activities": return root.scaling.scalableTargets.values.flatMap { $0.activities.map(activityRow) }
        default: return []
        }
    }

    static func taskRow(_ task: ECSTask) -> Row {
        let definition = task.taskDefinitionArn ?? ""
        let family = definition.split(separator: "/").last.map { String($0.split(separator: ":").first ?? "") }
        return [
            text(task.taskArn), text(cluster(task.clusterArn)), text(definition), text(family), text(task.lastStatus), text(task.desiredStatus),
            text(task.launchType?.rawValue), text(task.containerInstanceArn), text(task.startedBy), text(task.group), integer(task.cpu.flatMap { Int($0) }),
            integer(task.memory.flatMap { Int($0) }), time(task.createdAt), time(task.startedAt), time(task.stoppedAt), text(task.stoppedReason),
            text(task.healthStatus?.rawValue),
        ]
    }

    /// A task's changes of state, as its times record them: the status each time marks, in order
    /// (EventBridge's "ECS Task State Change" events, one per transition).
    static func stateChangeRows(_ task: ECSTask) -> [Row] {
        let family = taskRow(task)[3]
        let marks: [(status: String, at: Date?, reason: String?)] = [
            ("PROVISIONING", task.createdAt, nil), ("PULL_STARTED", task.pullStartedAt, nil), ("PULL_STOPPED", task.pullStoppedAt, nil),
            ("RUNNING", task.startedAt, nil), ("STOPPING", task.stoppingAt, task.stoppedReason),
            ("EXECUTION_STOPPED", task.executionStoppedAt, nil), ("STOPPED", task.stoppedAt, task.stoppedReason),
        ]
        return marks.compactMap { mark in
            mark.at.map { [text(task.taskArn), text(cluster(task.clusterArn)), family, text(mark.status), time($0), text(mark.reason)] }
        }
    }

    static func activityRow(_ activity: AASScalingActivity) -> Row {
        [
            text(activity.ActivityId), text(activity.ServiceNamespace.rawValue), text(activity.ResourceId), text(activity.ScalableDimension.rawValue),
            text(activity.Description), text(activity.Cause), time(activity.StartTime), time(activity.EndTime), text(activity.StatusCode.rawValue),
            text(activity.StatusMessage),
        ]
    }

    static func serviceRow(_ service: ECSService) -> Row {
        [
            text(service.serviceArn), text(service.serviceName), text(cluster(service.clusterArn)), text(service.status), integer(service.desiredCount),
            integer(service.runningCount), integer(service.pendingCount), text(service.launchType?.rawValue), text(service.taskDefinition),
            time(service.createdAt),
        ]
    }

    static func instanceRow(_ instance: ContainerInstance) -> Row {
        func resource(_ list: [Resource]?, _ name: String) -> CellValue { integer(list?.first { $0.name == name }?.integerValue) }
        // arn:aws:ecs:<region>:<account>:container-instance/<cluster>/<id>
        let parts = (instance.containerInstanceArn ?? "").split(separator: "/")
        return [
            text(instance.containerInstanceArn), text(parts.count == 3 ? String(parts[1]) : nil), text(instance.ec2InstanceId), text(instance.status),
            instance.agentConnected.map { .integer($0 ? 1 : 0) } ?? .null, integer(instance.runningTasksCount), integer(instance.pendingTasksCount),
            resource(instance.registeredResources, "CPU"), resource(instance.remainingResources, "CPU"), resource(instance.registeredResources, "MEMORY"),
            resource(instance.remainingResources, "MEMORY"),
        ]
    }

    static func functionRow(_ function: FunctionRecord) -> Row {
        let configuration = function.latest.configuration
        return [
            text(function.name), text(configuration.FunctionArn), text(configuration.Runtime?.rawValue), text(configuration.Handler),
            integer(configuration.MemorySize), integer(configuration.Timeout), integer(configuration.CodeSize), text(configuration.State?.rawValue),
            .integer(Int64(function.versions.count)), text(configuration.LastModified),
        ]
    }

    static func text(_ value: String?) -> CellValue { value.map(CellValue.text) ?? .null }
    static func integer(_ value: Int?) -> CellValue { value.map { .integer(Int64($0)) } ?? .null }

    /// As the tables hold timestamps: Athena's text, in UTC.
    static func time(_ date: Date?) -> CellValue {
        date.map { .text(Timestamp(milliseconds: Int64(($0.timeIntervalSince1970 * 1000).rounded(.down))).text) } ?? .null
    }

    /// A cluster's name from its ARN.
    static func cluster(_ arn: String?) -> String? { arn.map { String($0.split(separator: "/").last ?? "") } }
}
