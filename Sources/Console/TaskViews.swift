import ECS
import ECSShapes
import Foundation
import StevedoreCore

/// The tasks page: tasks filtered by cluster, status, family and instance, each with its
/// containers, exit codes, reasons and network bindings.
public enum TaskViews {
    public struct Filter: Sendable {
        public var cluster: String?
        /// A last status (`RUNNING`, `PENDING`, `STOPPED`, …) or nil for any.
        public var status: String?
        public var family: String?
        /// A container instance's id or ARN.
        public var instance: String?
        public var service: String?
        public var limit: Int
        /// Which task ARNs the reader may see (nil: all).
        public var allowed: (@Sendable (String) -> Bool)?

        public init(cluster: String? = nil, status: String? = nil, family: String? = nil, instance: String? = nil, service: String? = nil, limit: Int = 200) {
            self.cluster = cluster
            self.status = status
            self.family = family
            self.instance = instance
            self.service = service
            self.limit = limit
        }
    }

    public struct ContainerView: Encodable, Sendable, Equatable {
        public var name: String
        public var image: String
        public var lastStatus: String
        public var exitCode: Int?
        public var reason: String?
        public var health: String?
        /// `127.0.0.1:32768 → 80/tcp`.
        public var bindings: [String]
    }

    public struct TaskView: Encodable, Sendable, Equatable {
        public var id: String
        public var arn: String
        public var cluster: String
        public var taskDefinition: String
        public var lastStatus: String
        public var desiredStatus: String
        public var group: String?
        public var instanceId: String?
        public var cpu: String?
        public var memory: String?
        public var createdAt: Date?
        public var startedAt: Date?
        public var stoppedAt: Date?
        public var stopCode: String?
        public var stoppedReason: String?
        public var containers: [ContainerView]
    }

    public struct TaskList: Encodable, Sendable {
        /// How many tasks match the filter (the list shows the newest `limit` of them).
        public var total: Int
        public var tasks: [TaskView]
    }

    /// The tasks that match, newest first. One pass over the candidates reading each task once,
    /// then a sort on numbers (10,000 tasks take a few milliseconds).
    public static func tasks(_ ecs: ECSState, filter: Filter) -> TaskList {
        let instanceArn = filter.instance.flatMap { instance in
            instance.hasPrefix("arn:") ? instance : ecs.instances.keys.first { $0.hasSuffix("/" + instance) }
        }
        // A service named without its cluster is the `default` cluster's, as ECS's operations take it.
        let serviceArn = filter.service.map { ecs.names.service(cluster: filter.cluster ?? "default", name: $0) }
        if filter.instance != nil && instanceArn == nil { return TaskList(total: 0, tasks: []) }
        var matching: [(created: Double, sequence: Int, record: TaskRecord)] = []
        func consider(_ record: TaskRecord) {
            let task = record.task
            if let cluster = filter.cluster, ARN.firstPathComponent(of: record.arn) != cluster { return }
            if let status = filter.status, task.lastStatus != status { return }
            if let family = filter.family, !isFamily(family, of: task.taskDefinitionArn) { return }
            if let allowed = filter.allowed, !allowed(record.arn) { return }
            matching.append((task.createdAt?.timeIntervalSince1970 ?? 0, record.assignmentSequence, record))
        }
        if let instanceArn {
            if let arns = ecs.tasksByInstance[instanceArn] { arns.compactMap { ecs.tasks[$0] }.forEach(consider) }
        } else if let serviceArn {
            if let arns = ecs.tasksByService[serviceArn] { arns.compactMap { ecs.tasks[$0] }.forEach(consider) }
        } else {
            matching.reserveCapacity(ecs.tasks.count)
            for record in ecs.tasks.values { consider(record) }
        }
        matching.sort { ($0.created, $0.sequence) > ($1.created, $1.sequence) }
        return TaskList(total: matching.count, tasks: matching.prefix(max(0, filter.limit)).map { view($0.record) })
    }

    /// Whether a task definition ARN (`…:task-definition/<family>:<revision>`) is of `family`.
    static func isFamily(_ family: String, of arn: String?) -> Bool {
        guard let arn, let slash = arn.lastIndex(of: "/") else { return false }
        let name = arn[arn.index(after: slash)...]
        return name.prefix { $0 != ":" } == family
    }

    public static func task(_ ecs: ECSState, cluster: String, id: String) -> TaskView? {
        ecs.task(id, inCluster: cluster).map { view($0) }
    }

    static func view(_ record: TaskRecord) -> TaskView {
        let task = record.task
        let containers = (task.containers ?? []).map { container in
            ContainerView(
                name: container.name ?? "", image: container.image ?? "", lastStatus: container.lastStatus ?? "", exitCode: container.exitCode,
                reason: container.reason, health: container.healthStatus?.rawValue,
                bindings: (container.networkBindings ?? []).map { binding in
                    "\(binding.bindIP ?? "0.0.0.0"):\(binding.hostPort.map(String.init) ?? "?") → \(binding.containerPort.map(String.init) ?? "?")/\(binding.protocol?.rawValue ?? "tcp")"
                })
        }
        let arn = record.arn
        let cluster = task.clusterArn.flatMap { $0.split(separator: "/").last.map(String.init) } ?? ""
        return TaskView(
            id: arn.split(separator: "/").last.map(String.init) ?? arn, arn: arn, cluster: cluster,
            taskDefinition: ClusterViews.shortDefinition(task.taskDefinitionArn), lastStatus: task.lastStatus ?? "",
            desiredStatus: task.desiredStatus ?? "", group: task.group,
            instanceId: task.containerInstanceArn.flatMap { $0.split(separator: "/").last.map(String.init) }, cpu: task.cpu, memory: task.memory,
            createdAt: task.createdAt, startedAt: task.startedAt, stoppedAt: task.stoppedAt, stopCode: task.stopCode?.rawValue,
            stoppedReason: task.stoppedReason, containers: containers)
    }
}
