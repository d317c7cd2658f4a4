import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import StevedoreCore
import HashTreeCollections

/// Every change to instances, tasks and services goes through these, so the indexes and the
/// placement capacity always agree with the records.
extension ECSState {
    public static let resourceNames = ["CPU", "MEMORY", "PORTS", "PORTS_UDP"]

    /// Stores an instance and refreshes its placement slot (keeping what its tasks take).
    package mutating func putInstance(_ instance: ContainerInstance, changes: inout ChangeSet) {
        let arn = instance.containerInstanceArn ?? ""
        if instances[arn]?.instanceStatus != instance.instanceStatus { changes.touch(.instanceMembership) }
        instances[arn] = instance
        changes.put(instance)
        let cluster = clusterName(ofInstance: arn)
        if instance.instanceStatus == .inactive {
            capacity[cluster]?.remove(arn)
            return
        }
        let slot = InstanceSlot(
            arn: arn,
            ec2InstanceId: instance.ec2InstanceId,
            status: instance.instanceStatus,
            connected: capacity[cluster]?[arn]?.connected ?? true,
            agentVersion: instance.versionInfo?.agentVersion,
            registeredAtSeconds: instance.registeredAt?.timeIntervalSince1970,
            capacityProviderName: instance.capacityProviderName,
            attributes: Dictionary((instance.attributes ?? []).map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last }),
            cpu: Self.integerResource("CPU", instance.registeredResources),
            memory: Self.integerResource("MEMORY", instance.registeredResources),
            tcpPortsInUse: Self.portResource("PORTS", instance.registeredResources),
            udpPortsInUse: Self.portResource("PORTS_UDP", instance.registeredResources)
        )
        capacity[cluster, default: ClusterCapacity()].upsert(slot)
        // Re-apply what the instance's tasks take.
        for taskArn in tasksByInstance[arn] ?? [] {
            guard let record = tasks[taskArn], record.holdsResources else { continue }
            capacity[cluster]?.reserve(record.requirements, group: record.task.group ?? "", on: arn, running: record.hasRun)
        }
    }

    /// Stores a task, moving its resource reservation as its status changes.
    package mutating func putTask(_ record: TaskRecord, changes: inout ChangeSet) {
        let cluster = clusterName(ofTask: record)
        if record.isStopped {
            // Stopped tasks are stored apart, behind a summary, so a start need not decode them.
            changes.put(.stoppedTasks, key: record.arn, body: StoppedTaskArchive.row(record, cluster: cluster))
            // Its live row goes (also one a stopped task kept from before the archive existed).
            if !archive.contains(record.arn) { changes.delete(TaskRecord.self, key: record.arn) }
        } else {
            changes.put(record)
        }
        if record.serviceArn != nil { changes.touch(.serviceTasks) }
        restoreTask(record)
    }

    /// Takes a record into memory with its indexes and the capacity it holds (no row written).
    /// - Parameter ordering: whether to place it in `taskOrder` now; a bulk load orders all its
    ///   tasks at once afterwards (``orderAllTasks()``), as one insertion each would cost a square.
    package mutating func restoreTask(_ record: TaskRecord, ordering: Bool = true) {
        let arn = record.arn
        archive.remove(arn)
        let old = tasks[arn]
        tasks[arn] = record
        let cluster = clusterName(ofTask: record)
        if ordering {
            let oldPlace = old.map { (clusterName(ofTask: $0), $0.desiredStatus) }
            if let oldPlace, oldPlace != (cluster, record.desiredStatus) {
                removeFromOrder(arn, cluster: oldPlace.0, status: oldPlace.1)
            }
            if oldPlace.map({ $0 != (cluster, record.desiredStatus) }) ?? true {
                taskOrder[cluster, default: [:]][record.desiredStatus, default: SortedKeys()].insert(arn)
            }
        }
        if let old { taskCounts[clusterName(ofTask: old), default: TaskCounts()].add(old.lastStatus, -1) }
        taskCounts[cluster, default: TaskCounts()].add(record.lastStatus, 1)
        // Only when the record moved: a mutation of an index set shared with published readers
        // copies the whole set, even to insert what is there already.
        if let instance = record.task.containerInstanceArn, old?.task.containerInstanceArn != instance {
            tasksByInstance[instance, default: []].insert(arn)
        }
        if let service = record.serviceArn, old?.serviceArn != service { tasksByService[service, default: []].insert(arn) }
        if record.lastStatus == .provisioning {
            provisioningTasks.insert(arn)
        } else if provisioningTasks.contains(arn) {
            provisioningTasks.remove(arn)
        deactivatingTasks.remove(arn)
        }
        if record.lastStatus == .deactivating {
            deactivatingTasks.insert(arn)
        } else if deactivatingTasks.contains(arn) {
            deactivatingTasks.remove(arn)
        }

        let group = record.task.group ?? ""
        let wasHolding = old?.holdsResources ?? false
        if wasHolding, let old, let instance = old.task.containerInstanceArn {
            if !record.holdsResources || record.task.containerInstanceArn != instance {
                capacity[cluster]?.release(old.requirements, group: old.task.group ?? "", on: instance, wasRunning: old.hasRun)
            } else if !old.hasRun && record.hasRun {
                capacity[cluster]?.markRunning(on: instance)
            }
        }
        if record.holdsResources, let instance = record.task.containerInstanceArn,
            !wasHolding || old?.task.containerInstanceArn != instance
        {
            capacity[cluster]?.reserve(record.requirements, group: group, on: instance, running: record.hasRun)
        }
    }

    /// RunTask's tokens are scoped to a cluster, as AWS scopes them.
    static func runTaskTokenScope(_ cluster: String) -> String { "RunTask/" + cluster }

    /// RunTask tokens written before tokens had rows of their own live only on the tasks they
    /// started: a retry across the upgrade still gets those tasks (oldest order, as started).
    mutating func adoptTokensKeptOnTasks() {
        var started: [String: (scope: String, token: String, arns: [(Date, String)])] = [:]
        for (arn, record) in tasks {
            guard let token = record.clientToken, record.serviceArn == nil else { continue }
            let scope = Self.runTaskTokenScope(clusterName(ofTask: record))
            started[scope + "/" + token, default: (scope, token, [])].arns.append((record.task.createdAt ?? .distantPast, arn))
        }
        for (scope, token, arns) in started.values {
            let ordered = arns.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            runTaskTokens.adopt(scope: scope, token: token, resourceIds: ordered.map(\.1), createdAt: ordered[0].0)
        }
    }

    /// Takes a task out of `taskOrder`, leaving no empty list behind (a fresh load makes none).
    private mutating func removeFromOrder(_ arn: String, cluster: String, status: DesiredTaskStatus) {
        taskOrder[cluster]?[status]?.remove(arn)
        if taskOrder[cluster]?[status]?.isEmpty == true { taskOrder[cluster]?[status] = nil }
        if taskOrder[cluster]?.isEmpty == true { taskOrder[cluster] = nil }
    }

    /// The tasks in memory of a cluster, whatever their status.
    package func tasks(inCluster cluster: String) -> [TaskRecord] {
        (taskOrder[cluster] ?? [:]).values.flatMap { $0.keys(after: nil) }.compactMap { tasks[$0] }
    }

    /// Rebuilds `taskOrder` from `tasks`, sorting each list once.
    package mutating func orderAllTasks() {
        var unordered: [String: [DesiredTaskStatus: [String]]] = [:]
        for (arn, record) in tasks {
            unordered[clusterName(ofTask: record), default: [:]][record.desiredStatus, default: []].append(arn)
        }
        taskOrder = unordered.mapValues { $0.mapValues { SortedKeys(unordered: $0) } }
    }

    /// Removes a stopped task for good (retention expired).
    mutating func removeTask(_ arn: String, changes: inout ChangeSet) {
        if archive.remove(arn) != nil {
            changes.delete(.stoppedTasks, key: arn)
            // A row of the same task in the live table (written before the archive existed) would bring it back.
            changes.delete(TaskRecord.self, key: arn)
            if tags.removeValue(forKey: arn) != nil { changes.delete(TagSet.self, key: arn) }
            return
        }
        guard let record = tasks.removeValue(forKey: arn) else { return }
        changes.delete(TaskRecord.self, key: arn)
        if record.serviceArn != nil { changes.touch(.serviceTasks) }
        if record.isStopped { changes.delete(.stoppedTasks, key: arn) }
        taskCounts[clusterName(ofTask: record)]?.add(record.lastStatus, -1)
        removeFromOrder(arn, cluster: clusterName(ofTask: record), status: record.desiredStatus)
        if let instance = record.task.containerInstanceArn { tasksByInstance[instance]?.remove(arn) }
        if let service = record.serviceArn { tasksByService[service]?.remove(arn) }
        provisioningTasks.remove(arn)
        if tags.removeValue(forKey: arn) != nil { changes.delete(TagSet.self, key: arn) }
        if record.holdsResources, let instance = record.task.containerInstanceArn {
            capacity[clusterName(ofTask: record)]?.release(
                record.requirements, group: record.task.group ?? "", on: instance, wasRunning: record.hasRun)
        }
    }

    package mutating func putService(_ record: ServiceRecord, changes: inout ChangeSet) {
        let old = services[record.arn]?.service
        if old?.serviceStatus != record.service.serviceStatus || old?.launchType != record.service.launchType
            || old?.schedulingStrategy != record.service.schedulingStrategy
        {
            changes.touch(.serviceMembership)
        }
        services[record.arn] = record
        changes.put(record)
        let cluster = ARN(record.arn).map { String($0.resourceId.split(separator: "/").first ?? "") } ?? ""
        serviceIndex[cluster, default: [:]][record.name] = record.arn
    }

    mutating func removeService(_ arn: String, changes: inout ChangeSet) {
        guard let record = services.removeValue(forKey: arn) else { return }
        changes.delete(ServiceRecord.self, key: arn)
        changes.touch(.serviceMembership)
        let cluster = ARN(arn).map { String($0.resourceId.split(separator: "/").first ?? "") } ?? ""
        serviceIndex[cluster]?[record.name] = nil
        if tags.removeValue(forKey: arn) != nil { changes.delete(TagSet.self, key: arn) }
    }

    /// The next assignment sequence number, persisted with the change that uses it.
    mutating func nextAssignmentSequence(changes: inout ChangeSet) -> Int {
        counters.assignmentSequence += 1
        changes.put(counters)
        return counters.assignmentSequence
    }

    // MARK: Names and lookups

    package func clusterName(ofInstance arn: String) -> String {
        // container-instance/<cluster>/<id>
        ARN(arn).map { String($0.resourceId.split(separator: "/").first ?? "") } ?? ""
    }

    package func clusterName(ofTask record: TaskRecord) -> String {
        ARN.firstPathComponent(of: record.arn) ?? ""
    }

    package static func integerResource(_ name: String, _ resources: [Resource]?) -> Int {
        guard let resource = resources?.first(where: { $0.name == name }) else { return 0 }
        return resource.integerValue ?? resource.longValue ?? Int(resource.doubleValue ?? 0)
    }

    static func portResource(_ name: String, _ resources: [Resource]?) -> Set<Int> {
        Set((resources?.first(where: { $0.name == name })?.stringSetValue ?? []).compactMap { Int($0) })
    }

    /// Whether an instance is registered (deregistration revokes its agent's credentials).
    public func isRegisteredInstance(_ arn: String) -> Bool {
        instances[arn].map { $0.instanceStatus != .inactive } ?? false
    }

    /// Finds an instance of a cluster by ARN or id.
    public func instance(_ reference: String, inCluster cluster: String) -> ContainerInstance? {
        if reference.hasPrefix("arn:") {
            guard let instance = instances[reference], clusterName(ofInstance: reference) == cluster else { return nil }
            return instance
        }
        return instances[names.containerInstance(cluster: cluster, id: reference)]
    }

    /// Finds a task of a cluster by ARN or id.
    public func task(_ reference: String, inCluster cluster: String) -> TaskRecord? {
        let arn = reference.hasPrefix("arn:") ? reference : names.task(cluster: cluster, id: reference)
        guard let record = task(arn), clusterName(ofTask: record) == cluster else { return nil }
        return record
    }

    /// A task by ARN, live or archived.
    public func task(_ arn: String) -> TaskRecord? {
        tasks[arn] ?? archive.record(arn)
    }
}
