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

extension ECSState {
    public static let maxCustomAttributes = 10

    // MARK: Registration (agent-facing)

    public mutating func registerContainerInstance(
        _ request: RegisterContainerInstanceRequest,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> RegisterContainerInstanceResponse {
        let clusterName = try activeClusterName(request.cluster)
        let resources = request.totalResources ?? []
        for name in ["CPU", "MEMORY"] {
            guard let resource = resources.first(where: { $0.name == name }),
                (resource.integerValue ?? resource.longValue ?? 0) > 0
            else {
                throw .invalidParameter("totalResources must include \(name) as a positive INTEGER (CPU units, MiB of memory).")
            }
        }
        for resource in resources {
            guard let name = resource.name, Self.resourceNames.contains(name) || name == "GPU" else {
                throw .invalidParameter("Unknown resource '\(resource.name ?? "")': use CPU, MEMORY, PORTS or PORTS_UDP.")
            }
            if name.hasPrefix("PORTS") {
                for port in resource.stringSetValue ?? [] where Int(port).map({ !(1...65535).contains($0) }) ?? true {
                    throw .invalidParameter("\(name) lists '\(port)', which is not a port number (1-65535).")
                }
            }
        }
        var attributes = request.attributes ?? []
        try validateAttributes(attributes, allowReserved: true)
        let identity = InstanceIdentity(document: request.instanceIdentityDocument)

        var instance: ContainerInstance
        if let existingArn = request.containerInstanceArn {
            guard let existing = instances[existingArn], self.clusterName(ofInstance: existingArn) == clusterName else {
                throw .invalidParameter(
                    "Container instance \(existingArn) is not registered in cluster \(clusterName); register without containerInstanceArn to join as a new instance."
                )
            }
            guard existing.instanceStatus != .inactive else {
                throw .invalidParameter(
                    "Container instance \(existingArn) was deregistered; register without containerInstanceArn to join as a new instance."
                )
            }
            instance = existing
            // Agents resend built-in attributes only; custom ones set before (or by PutAttributes) stay.
            let sent = Set(attributes.map(\.name))
            attributes += (existing.attributes ?? []).filter { !sent.contains($0.name) && !Self.isReservedAttribute($0.name) }
            instance.version = (existing.version ?? 0) + 1
        } else {
            let id = Identifiers.hex32(using: &generator)
            instance = ContainerInstance(
                containerInstanceArn: names.containerInstance(cluster: clusterName, id: id),
                ec2InstanceId: identity.instanceId ?? "i-" + String(id.prefix(17)),
                version: 1,
                registeredAt: now
            )
        }
        let custom = attributes.filter { !Self.isReservedAttribute($0.name) }
        guard custom.count <= Self.maxCustomAttributes else {
            throw AWSError(
                type: "AttributeLimitExceededException",
                message: "An instance can have at most \(Self.maxCustomAttributes) custom attributes; this registration has \(custom.count)."
            )
        }
        for (name, value) in [
            ("ecs.os-type", "linux"), ("ecs.availability-zone", identity.availabilityZone),
            ("ecs.instance-type", identity.instanceType), ("ecs.ami-id", identity.imageId),
        ] {
            if let value, !value.isEmpty, !attributes.contains(where: { $0.name == name }) {
                attributes.append(Attribute(name: name, value: value))
            }
        }
        instance.attributes = attributes.map { Attribute(name: $0.name, value: $0.value) }
        instance.registeredResources = resources.map { resource in
            Resource(
                name: resource.name, type: resource.type ?? (resource.name?.hasPrefix("PORTS") == true ? "STRINGSET" : "INTEGER"),
                doubleValue: resource.doubleValue ?? 0, longValue: resource.longValue ?? 0,
                integerValue: resource.integerValue ?? resource.longValue ?? 0, stringSetValue: resource.stringSetValue)
        }
        instance.versionInfo = request.versionInfo
        instance.instanceStatus = .active
        instance.statusReason = nil
        instance.agentUpdateStatus = nil
        let arn = instance.containerInstanceArn!
        lastContact[arn] = now
        putInstance(instance, changes: &changes)
        capacity[clusterName]?.update(arn) { $0.connected = true }
        if let tags = request.tags, !tags.isEmpty {
            try TagRules.validate(tags)
            replaceTags(of: arn, with: tags, changes: &changes)
        }
        return RegisterContainerInstanceResponse(containerInstance: instanceView(instances[arn]!))
    }

    public mutating func deregisterContainerInstance(
        _ request: DeregisterContainerInstanceRequest,
        changes: inout ChangeSet
    ) throws(AWSError) -> DeregisterContainerInstanceResponse {
        let cluster = try activeClusterName(request.cluster)
        guard var instance = instance(request.containerInstance, inCluster: cluster), instance.instanceStatus != .inactive else {
            throw .invalidParameter("Container instance '\(request.containerInstance)' is not registered in cluster \(cluster).")
        }
        let arn = instance.containerInstanceArn!
        let live = (tasksByInstance[arn] ?? []).compactMap { tasks[$0] }.filter { $0.desiredStatus == .running && !$0.isStopped }
        if !live.isEmpty, request.force != true {
            throw .invalidParameter(
                "Container instance \(ARN(arn)?.lastPathComponent ?? arn) still has \(live.count) task(s) to run. Stop them, or pass force to deregister it anyway."
            )
        }
        let view = instanceView(instance)
        instance.instanceStatus = .inactive
        instance.version = (instance.version ?? 0) + 1
        putInstance(instance, changes: &changes)
        var result = view
        result.instanceStatus = .inactive
        result.agentConnected = false
        return DeregisterContainerInstanceResponse(containerInstance: result)
    }

    // MARK: Reading

    /// An instance as the API shows it: remaining resources, task counts, connectivity.
    public func instanceView(_ instance: ContainerInstance, includeTags: Bool = false) -> ContainerInstance {
        var view = instance
        let arn = instance.containerInstanceArn ?? ""
        let slot = capacity[clusterName(ofInstance: arn)]?[arn]
        view.agentConnected = slot?.connected ?? false
        view.runningTasksCount = slot?.runningTasksCount ?? 0
        view.pendingTasksCount = slot?.pendingTasksCount ?? 0
        if let slot {
            var tcp = slot.tcpPortsInUse
            var udp = slot.udpPortsInUse
            for taskArn in tasksByInstance[arn] ?? [] {
                guard let record = tasks[taskArn], record.holdsResources else { continue }
                for container in record.task.containers ?? [] {
                    for binding in container.networkBindings ?? [] {
                        guard let port = binding.hostPort else { continue }
                        if binding.protocol == .udp { udp.insert(port) } else { tcp.insert(port) }
                    }
                }
            }
            view.remainingResources = [
                Resource(name: "CPU", type: "INTEGER", doubleValue: 0, longValue: 0, integerValue: slot.cpuRemaining),
                Resource(name: "MEMORY", type: "INTEGER", doubleValue: 0, longValue: 0, integerValue: slot.memoryRemaining),
                Resource(name: "PORTS", type: "STRINGSET", doubleValue: 0, longValue: 0, integerValue: 0, stringSetValue: tcp.sorted().map(String.init)),
                Resource(name: "PORTS_UDP", type: "STRINGSET", doubleValue: 0, longValue: 0, integerValue: 0, stringSetValue: udp.sorted().map(String.init)),
            ]
        } else {
            view.remainingResources = instance.registeredResources
        }
        view.tags = includeTags ? (tags[arn] ?? []) : nil
        return view
    }

    public func describeContainerInstances(
        _ request: DescribeContainerInstancesRequest
    ) throws(AWSError) -> DescribeContainerInstancesResponse {
        guard !request.containerInstances.isEmpty else { throw .invalidParameter("Container instance cannot be empty.") }
        let cluster = try activeClusterName(request.cluster)
        guard request.containerInstances.count <= 100 else {
            throw .invalidParameter("containerInstances can list at most 100 instances; got \(request.containerInstances.count).")
        }
        let includeTags = (request.include ?? []).contains(.tags)
        var found: [ContainerInstance] = []
        var failures: [Failure] = []
        for reference in request.containerInstances {
            if let instance = instance(reference, inCluster: cluster) {
                found.append(instanceView(instance, includeTags: includeTags))
            } else {
                failures.append(Failure(arn: reference, reason: "MISSING"))
            }
        }
        return DescribeContainerInstancesResponse(containerInstances: found, failures: failures)
    }

    public func listContainerInstances(
        _ request: ListContainerInstancesRequest
    ) throws(AWSError) -> ListContainerInstancesResponse {
        let cluster = try activeClusterName(request.cluster)
        var filter: QueryExpression?
        if let text = request.filter, !text.isEmpty {
            do {
                filter = try QueryExpression.parse(text)
            } catch {
                throw .invalidParameter("Invalid filter: \(error.message)")
            }
        }
        let prefix = names.containerInstance(cluster: cluster, id: "")
        let arns = instances.values.compactMap { instance -> String? in
            guard let arn = instance.containerInstanceArn, arn.hasPrefix(prefix) else { return nil }
            let status = instance.instanceStatus
            if let wanted = request.status {
                guard status.rawValue == wanted.rawValue else { return nil }
            } else if status == .inactive {
                return nil
            }
            if let filter {
                let slot = capacity[cluster]?[arn] ?? InstanceSlot(arn: arn, status: status, connected: false, cpu: 0, memory: 0)
                guard filter.matches(slot) else { return nil }
            }
            return arn
        }.sorted()
        let (page, token) = try Pagination.page(
            arns, key: { $0 }, maxResults: request.maxResults, nextToken: request.nextToken, comesAfter: >)
        return ListContainerInstancesResponse(containerInstanceArns: page, nextToken: token)
    }

    // MARK: Draining

    public mutating func updateContainerInstancesState(
        _ request: UpdateContainerInstancesStateRequest,
        changes: inout ChangeSet
    ) throws(AWSError) -> UpdateContainerInstancesStateResponse {
        let cluster = try activeClusterName(request.cluster)
        guard request.status == .active || request.status == .draining else {
            throw .invalidParameter("status must be ACTIVE or DRAINING; \(request.status.rawValue) is set by ECS itself.")
        }
        guard (1...10).contains(request.containerInstances.count) else {
            throw .invalidParameter("containerInstances must list between 1 and 10 instances.")
        }
        var updated: [ContainerInstance] = []
        var failures: [Failure] = []
        for reference in request.containerInstances {
            guard var instance = instance(reference, inCluster: cluster), instance.instanceStatus != .inactive else {
                failures.append(Failure(arn: reference, reason: "MISSING"))
                continue
            }
            if instance.status != request.status.rawValue {
                instance.status = request.status.rawValue
                instance.version = (instance.version ?? 0) + 1
                putInstance(instance, changes: &changes)
                if request.status == .draining { stopPendingServiceTasks(on: instance.containerInstanceArn!, changes: &changes) }
            }
            updated.append(instanceView(instance))
        }
        return UpdateContainerInstancesStateResponse(containerInstances: updated, failures: failures)
    }

    /// Draining stops service tasks that have not started yet right away; running ones are
    /// replaced by the service scheduler within each service's deployment limits.
    private mutating func stopPendingServiceTasks(on instance: String, changes: inout ChangeSet) {
        for arn in tasksByInstance[instance] ?? [] {
            guard var record = tasks[arn], record.serviceArn != nil, record.desiredStatus == .running, !record.hasRun,
                !record.isStopped
            else { continue }
            record.desiredStatus = .stopped
            record.task.stopCode = .serviceSchedulerInitiated
            record.task.stoppedReason = "Container instance is draining"
            record.task.version = (record.task.version ?? 0) + 1
            record.assignmentSequence = nextAssignmentSequence(changes: &changes)
            changes.assignedInstances.insert(instance)
            putTask(record, changes: &changes)
        }
    }

    // MARK: Attributes

    public mutating func putAttributes(
        _ request: PutAttributesRequest,
        changes: inout ChangeSet
    ) throws(AWSError) -> PutAttributesResponse {
        let cluster = try activeClusterName(request.cluster)
        guard (1...10).contains(request.attributes.count) else {
            throw .invalidParameter("attributes must list between 1 and 10 attributes.")
        }
        try validateAttributes(request.attributes, allowReserved: false)
        var updated: [String: ContainerInstance] = [:]
        for attribute in request.attributes {
            let target = try attributeTarget(attribute, cluster: cluster)
            var instance = updated[target] ?? instances[target]!
            var list = instance.attributes ?? []
            list.removeAll { $0.name == attribute.name }
            list.append(Attribute(name: attribute.name, value: attribute.value))
            instance.attributes = list
            updated[target] = instance
        }
        for instance in updated.values {
            let custom = (instance.attributes ?? []).filter { !Self.isReservedAttribute($0.name) }.count
            guard custom <= Self.maxCustomAttributes else {
                throw AWSError(
                    type: "AttributeLimitExceededException",
                    message: "An instance can have at most \(Self.maxCustomAttributes) custom attributes; this would give it \(custom)."
                )
            }
        }
        for (_, var instance) in updated {
            instance.version = (instance.version ?? 0) + 1
            putInstance(instance, changes: &changes)
        }
        return PutAttributesResponse(attributes: request.attributes)
    }

    public mutating func deleteAttributes(
        _ request: DeleteAttributesRequest,
        changes: inout ChangeSet
    ) throws(AWSError) -> DeleteAttributesResponse {
        let cluster = try activeClusterName(request.cluster)
        var updated: [String: ContainerInstance] = [:]
        for attribute in request.attributes {
            guard !Self.isReservedAttribute(attribute.name) else {
                throw .invalidParameter("Attribute '\(attribute.name)' is set by ECS and cannot be deleted.")
            }
            let target = try attributeTarget(attribute, cluster: cluster)
            var instance = updated[target] ?? instances[target]!
            instance.attributes = (instance.attributes ?? []).filter { $0.name != attribute.name }
            updated[target] = instance
        }
        for (_, var instance) in updated {
            instance.version = (instance.version ?? 0) + 1
            putInstance(instance, changes: &changes)
        }
        return DeleteAttributesResponse(attributes: request.attributes)
    }

    public func listAttributes(_ request: ListAttributesRequest) throws(AWSError) -> ListAttributesResponse {
        let cluster = try activeClusterName(request.cluster)
        let prefix = names.containerInstance(cluster: cluster, id: "")
        var found: [Attribute] = []
        for (arn, instance) in instances where arn.hasPrefix(prefix) && instance.instanceStatus != .inactive {
            for attribute in instance.attributes ?? [] {
                if let name = request.attributeName, attribute.name != name { continue }
                if let value = request.attributeValue, attribute.value != value { continue }
                found.append(Attribute(name: attribute.name, value: attribute.value, targetType: .containerInstance, targetId: arn))
            }
        }
        found.sort { ($0.targetId ?? "", $0.name) < ($1.targetId ?? "", $1.name) }
        let (page, token) = try Pagination.page(
            found, key: { ($0.targetId ?? "") + "|" + $0.name }, maxResults: request.maxResults,
            nextToken: request.nextToken, comesAfter: >)
        return ListAttributesResponse(attributes: page, nextToken: token)
    }

    private func attributeTarget(_ attribute: Attribute, cluster: String) throws(AWSError) -> String {
        guard let target = attribute.targetId, !target.isEmpty else {
            throw .invalidParameter("Attribute '\(attribute.name)' needs a targetId: the container instance ARN or id.")
        }
        if let type = attribute.targetType, type != .containerInstance {
            throw .invalidParameter("targetType must be container-instance.")
        }
        guard let instance = instance(target, inCluster: cluster), instance.instanceStatus != .inactive else {
            throw AWSError(type: "TargetNotFoundException", message: "Could not find container instance '\(target)' in cluster \(cluster).")
        }
        return instance.containerInstanceArn!
    }

    static func isReservedAttribute(_ name: String) -> Bool {
        name.hasPrefix("ecs.") || name.hasPrefix("com.amazonaws.ecs.")
    }

    /// Names: 1-128 of letters, digits, `-_/\.`; values: 1-128 of those plus `@:` and spaces, trimmed.
    func validateAttributes(_ attributes: [Attribute], allowReserved: Bool) throws(AWSError) {
        for attribute in attributes {
            let name = attribute.name
            guard (1...128).contains(name.count),
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_/\\.".contains($0)) })
            else {
                throw .invalidParameter(
                    "Invalid attribute name '\(name)': use 1-128 letters, numbers, hyphens, underscores, slashes, backslashes or periods.")
            }
            if !allowReserved, Self.isReservedAttribute(name) {
                throw .invalidParameter("Attribute '\(name)' is reserved for ECS (ecs.* and com.amazonaws.ecs.*); choose another name.")
            }
            if let value = attribute.value {
                guard (1...128).contains(value.count), value.first != " ", value.last != " ",
                    value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_./\\@: ".contains($0)) })
                else {
                    throw .invalidParameter(
                        "Invalid value '\(value)' for attribute '\(name)': use 1-128 letters, numbers, hyphens, underscores, periods, @, slashes, colons or inner spaces.")
                }
            }
        }
    }

    // MARK: Liveness

    /// Notes that an instance's agent was heard from (each poll, at its start and its end).
    /// Returns true when this reconnected a disconnected agent.
    @discardableResult
    public mutating func agentContact(_ arn: String, now: Date) -> Bool {
        lastContact[arn] = now
        let cluster = clusterName(ofInstance: arn)
        guard let slot = capacity[cluster]?[arn], !slot.connected else { return false }
        capacity[cluster]?.update(arn) { $0.connected = true }
        return true
    }

    /// Agents silent for longer than `timeout` are disconnected: they get no placements, and
    /// services replace their tasks. (The control plane holds polls for at most half the timeout,
    /// so a live agent is heard from well within it.) Returns the instances that just went quiet.
    public mutating func detectLostAgents(now: Date, timeout: TimeInterval) -> [String] {
        var lost: [String] = []
        for (cluster, clusterCapacity) in capacity {
            for slot in clusterCapacity.slots where slot.connected {
                let last = lastContact[slot.arn] ?? .distantPast
                if now.timeIntervalSince(last) > timeout {
                    capacity[cluster]?.update(slot.arn) { $0.connected = false }
                    lost.append(slot.arn)
                }
            }
        }
        return lost
    }

    /// After a restart every registered agent gets a full timeout to come back.
    public mutating func resetLiveness(now: Date) {
        for arn in instances.keys { lastContact[arn] = now }
    }
}

/// The few fields of an instance identity document Stevedore reads, when an agent sends one
/// (`{"instanceId": …, "availabilityZone": …, "instanceType": …}`).
struct InstanceIdentity {
    var instanceId: String?
    var availabilityZone: String?
    var instanceType: String?
    /// The image the instance was made from: `ecs.ami-id`.
    var imageId: String?

    init(document: String?) {
        struct Document: Decodable {
            var instanceId: String?
            var availabilityZone: String?
            var instanceType: String?
            var imageId: String?
        }
        guard let document, let parsed = try? JSONDecoder().decode(Document.self, from: Data(document.utf8)) else { return }
        instanceId = parsed.instanceId
        availabilityZone = parsed.availabilityZone
        instanceType = parsed.instanceType
        imageId = parsed.imageId
    }
}
