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

/// Where and how a batch of tasks is to be started.
struct LaunchSpec {
    var definition: TaskDefinition
    var overrides: TaskOverride?
    var group: String
    var startedBy: String?
    var serviceArn: String?
    var clientToken: String?
    var tags: [ResourceTag]
    var launchType: LaunchType?
    var enableExecuteCommand: Bool
    /// How to place it later, should it have to wait in PROVISIONING.
    var pending: PendingPlacement?
}

extension ECSState {
    // MARK: Starting tasks

    public mutating func runTask(
        _ request: RunTaskRequest,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> RunTaskResponse {
        let cluster = try activeClusterRef(request.cluster)
        let clusterName = cluster.name
        let count = request.count ?? 1
        guard (1...10).contains(count) else {
            throw .invalidParameter("count must be between 1 and 10; got \(count). Call RunTask again for more tasks.")
        }
        // Tokens are per cluster (AWS's scope); the same request again answers with its tasks.
        let tokenScope = Self.runTaskTokenScope(clusterName)
        var fingerprint = ""
        if let token = request.clientToken {
            guard IdempotencyTokens.isValid(token, maximumLength: 64) else {
                throw .invalidParameter("clientToken must be 1 to 64 characters in the range 33-126, inclusive.")
            }
            var unkeyed = request
            unkeyed.clientToken = nil
            fingerprint = IdempotencyTokens.fingerprint(unkeyed)
            switch runTaskTokens.lookup(scope: tokenScope, token: token, fingerprint: fingerprint, now: now) {
            case .new:
                break
            case .replay(let arns):
                // The token's row written again: the store commits in order, so this answer waits
                // until the first request's tasks are durable (a retry may arrive while they are not).
                runTaskTokens.rewrite(scope: tokenScope, token: token, changes: &changes)
                // Tasks stopped longer ago than retention are gone; say so rather than answer nothing.
                let found = arns.compactMap { task($0) }
                let missing = arns.filter { arn in !found.contains { $0.arn == arn } }
                return RunTaskResponse(
                    tasks: found.map { startedView($0) }, failures: missing.map { Failure(arn: $0, reason: "MISSING") })
            case .conflict(let arns):
                var conflict = AWSError(
                    type: "ConflictException", message: "The clientToken \(token) is already in use with a different RunTask request.")
                conflict.extraLists["resourceIds"] = arns
                throw conflict
            }
        }
        let definition = try launchableDefinition(request.taskDefinition)
        try validateLaunch(launchType: request.launchType, strategy: request.capacityProviderStrategy, network: request.networkConfiguration)
        try validateOverrides(request.overrides, definition: definition)
        let startedBy = try validateStartedBy(request.startedBy, maxLength: 128)
        let group = request.group ?? "family:\(definition.family ?? "")"
        guard group.count <= 255 else { throw .invalidParameter("group can be at most 255 characters.") }
        try TagRules.validate(request.tags ?? [])
        let strategy = try associatedStrategy(request.capacityProviderStrategy, cluster: cluster.cluster, launchType: request.launchType)
        try Self.checkPlatformVersion(request.platformVersion, launchType: request.launchType, throughProviders: strategy != nil)
        // Through capacity providers, tasks wait in PROVISIONING for capacity; otherwise they need an instance now.
        if strategy == nil, capacity[clusterName]?.isEmpty ?? true {
            throw .invalidParameter("No Container Instances were found in your cluster.")
        }

        var placement = try placementRequest(
            definition: definition,
            overrides: request.overrides,
            count: count,
            group: group,
            strategies: request.placementStrategy ?? [],
            constraints: request.placementConstraints ?? [],
            defaultRules: [.random]
        )
        // Through capacity providers, the tasks are spread over the strategy (base, then weight)
        // and each provider's share is placed on its instances or waits in PROVISIONING for them.
        let batches: [(provider: String?, count: Int)] =
            strategy.map { CapacityProviderDistribution.batches(CapacityProviderDistribution.assign(count, strategy: $0)).map { ($0.provider, $0.count) } }
            ?? [(nil, count)]
        var started: [ECSTask] = []
        var failures: [Failure] = []
        for batch in batches {
            placement.count = batch.count
            placement.capacityProviders = batch.provider.map { [$0] }
            var result = PlacementResult(placed: [], failures: [])
            if capacity[clusterName]?.isEmpty == false {
                result = place(placement, inCluster: clusterName, using: &generator, changes: &changes)
                // The engine reserved capacity for each placement; putTask takes it over per task.
                for arn in result.placed {
                    capacity[clusterName]?.release(placement.requirements, group: group, on: arn, wasRunning: false)
                }
            }
            let spec = LaunchSpec(
                definition: definition, overrides: request.overrides, group: group, startedBy: startedBy,
                serviceArn: nil, clientToken: request.clientToken, tags: request.tags ?? [],
                launchType: request.launchType, enableExecuteCommand: request.enableExecuteCommand ?? false,
                pending: batch.provider.map {
                    PendingPlacement(
                        strategies: request.placementStrategy ?? [], constraints: request.placementConstraints ?? [], capacityProviders: [$0],
                        since: now)
                })
            for instanceArn in result.placed {
                let record = launchTask(spec, requirements: placement.requirements, on: instanceArn, cluster: cluster, now: now, using: &generator, changes: &changes)
                started.append(startedView(record))
            }
            if spec.pending != nil {
                for _ in result.placed.count..<batch.count {
                    let record = launchTask(spec, requirements: placement.requirements, on: nil, cluster: cluster, now: now, using: &generator, changes: &changes)
                    started.append(startedView(record))
                }
            } else if result.placed.count < batch.count {
                failures += result.failures
            }
        }
        if let token = request.clientToken, !started.isEmpty {
            runTaskTokens.remember(
                IdempotencyTokens.Record(
                    scope: tokenScope, token: token, fingerprint: fingerprint, resourceIds: started.compactMap(\.taskArn), createdAt: now),
                changes: &changes)
        }
        return RunTaskResponse(tasks: started, failures: started.count < count ? failures : [])
    }

    public mutating func startTask(
        _ request: StartTaskRequest,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> StartTaskResponse {
        let cluster = try activeClusterRef(request.cluster)
        let clusterName = cluster.name
        guard (1...10).contains(request.containerInstances.count) else {
            throw .invalidParameter("containerInstances must list between 1 and 10 instances.")
        }
        let definition = try launchableDefinition(request.taskDefinition)
        try validateOverrides(request.overrides, definition: definition)
        let startedBy = try validateStartedBy(request.startedBy, maxLength: 36)
        let group = request.group ?? "family:\(definition.family ?? "")"
        try TagRules.validate(request.tags ?? [])
        let requirements = TaskRequirements(definition: definition, overrides: request.overrides)
        let check = PlacementRequest(requirements: requirements, group: group)
        var started: [ECSTask] = []
        var failures: [Failure] = []
        let spec = LaunchSpec(
            definition: definition, overrides: request.overrides, group: group, startedBy: startedBy,
            serviceArn: nil, clientToken: nil, tags: request.tags ?? [], launchType: .ec2,
            enableExecuteCommand: request.enableExecuteCommand ?? false)
        for reference in request.containerInstances {
            guard let instance = instance(reference, inCluster: clusterName) else {
                failures.append(Failure(arn: reference, reason: "MISSING"))
                continue
            }
            let arn = instance.containerInstanceArn!
            guard let slot = capacity[clusterName]?[arn] else {
                failures.append(Failure(arn: arn, reason: "INACTIVE"))
                continue
            }
            if let reason = PlacementEngine.check(check, slot) {
                failures.append(Failure(arn: arn, reason: reason.rawValue))
                changes.tally(Self.placementTally(reason.rawValue))
                continue
            }
            changes.tally(Self.placementTally("placed"))
            let record = launchTask(spec, requirements: requirements, on: arn, cluster: cluster, now: now, using: &generator, changes: &changes)
            started.append(startedView(record))
        }
        return StartTaskResponse(tasks: started, failures: failures)
    }

    /// Creates a PENDING task on an instance and queues it for the instance's agent; without an
    /// instance, a PROVISIONING task that waits for capacity (``placeProvisioningTasks``).
    mutating func launchTask(
        _ spec: LaunchSpec,
        requirements: TaskRequirements,
        on instanceArn: String?,
        cluster: ClusterRef,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) -> TaskRecord {
        let clusterName = cluster.name
        let id = Identifiers.hex32(using: &generator)
        let taskArn = names.task(cluster: clusterName, id: id)
        let instance = instanceArn.flatMap { instances[$0] }
        let attribute = { (name: String) in (instance?.attributes ?? []).first { $0.name == name }?.value }
        let overrides = Dictionary(
            (spec.overrides?.containerOverrides ?? []).compactMap { o in o.name.map { ($0, o) } },
            uniquingKeysWith: { a, _ in a })
        let containers = (spec.definition.containerDefinitions ?? []).map { definition in
            let override = definition.name.flatMap { overrides[$0] }
            return Container(
                containerArn: names.container(cluster: clusterName, taskId: id, id: Identifiers.uuid(using: &generator)),
                taskArn: taskArn,
                name: definition.name,
                image: definition.image,
                lastStatus: ContainerRunStatus.pending.rawValue,
                networkBindings: [],
                networkInterfaces: [],
                healthStatus: definition.healthCheck != nil ? .unknown : nil,
                cpu: String(override?.cpu ?? definition.cpu ?? 0),
                memory: (override?.memory ?? definition.memory).map(String.init),
                memoryReservation: (override?.memoryReservation ?? definition.memoryReservation).map(String.init)
            )
        }
        var taskOverrides = spec.overrides ?? TaskOverride()
        if taskOverrides.containerOverrides == nil {
            taskOverrides.containerOverrides = (spec.definition.containerDefinitions ?? []).map { ContainerOverride(name: $0.name) }
        }
        taskOverrides.inferenceAcceleratorOverrides = taskOverrides.inferenceAcceleratorOverrides ?? []
        let task = ECSTask(
            attachments: [],
            attributes: attribute("ecs.cpu-architecture").map { [Attribute(name: "ecs.cpu-architecture", value: $0)] } ?? [],
            availabilityZone: attribute("ecs.availability-zone") ?? nil,
            capacityProviderName: instance?.capacityProviderName ?? (instanceArn == nil ? spec.pending?.capacityProviders?.first : nil),
            clusterArn: cluster.cluster.clusterArn,
            containerInstanceArn: instanceArn,
            containers: containers,
            cpu: spec.overrides?.cpu ?? spec.definition.cpu,
            createdAt: now,
            desiredStatus: DesiredTaskStatus.running.rawValue,
            enableExecuteCommand: spec.enableExecuteCommand,
            group: spec.group,
            healthStatus: .unknown,
            lastStatus: (instanceArn == nil ? TaskStatus.provisioning : .pending).rawValue,
            launchType: spec.launchType == .external ? .external : .ec2,
            memory: spec.overrides?.memory ?? spec.definition.memory,
            overrides: taskOverrides,
            startedBy: spec.startedBy,
            tags: spec.tags,
            taskArn: taskArn,
            taskDefinitionArn: spec.definition.taskDefinitionArn,
            version: 1
        )
        var record = TaskRecord(
            arn: taskArn,
            task: task,
            assignmentSequence: instanceArn == nil ? 0 : nextAssignmentSequence(changes: &changes),
            serviceArn: spec.serviceArn,
            clientToken: spec.clientToken,
            requirements: requirements
        )
        record.provisioning = instanceArn == nil ? spec.pending : nil
        putTask(record, changes: &changes)
        if !spec.tags.isEmpty { replaceTags(of: taskArn, with: spec.tags, changes: &changes) }
        if let instanceArn { changes.assignedInstances.insert(instanceArn) }
        return record
    }

    // MARK: Stopping

    public mutating func stopTask(
        _ request: StopTaskRequest,
        now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> StopTaskResponse {
        let cluster = try activeClusterName(request.cluster)
        guard let record = task(request.task, inCluster: cluster) else {
            throw .invalidParameter("The referenced task was not found: '\(request.task)' in cluster \(cluster).")
        }
        if let reason = request.reason, reason.count > 255 {
            throw .invalidParameter("reason can be at most 255 characters.")
        }
        let stopped = requestStop(
            record.arn, code: .userInitiated, reason: request.reason ?? "Task stopped by user", now: now, changes: &changes)
        return StopTaskResponse(task: taskView(stopped ?? record))
    }

    /// Sets a task's desired status to STOPPED and tells its agent; a task no agent holds stops at
    /// once. With `drain`, a RUNNING task is DEACTIVATING first: no target any more, its agent told
    /// only once the deregistration delay has passed (see ``finishDraining(now:changes:)``).
    @discardableResult
    mutating func requestStop(
        _ arn: String,
        code: TaskStopCode,
        reason: String,
        now: Date,
        drain: Bool = false,
        changes: inout ChangeSet
    ) -> TaskRecord? {
        guard var record = tasks[arn] else { return nil }
        // Asked again while it drains (StopTask, its instance lost): it stops now.
        if record.lastStatus == .deactivating, !drain {
            tellAgentToStop(record, changes: &changes)
            return tasks[arn]
        }
        guard record.desiredStatus != .stopped, !record.isStopped else { return record }
        record.desiredStatus = .stopped
        record.task.stopCode = code
        record.task.stoppedReason = reason
        record.task.stoppingAt = now
        record.task.version = (record.task.version ?? 0) + 1
        if drain, record.lastStatus == .running, record.task.containerInstanceArn != nil {
            record.lastStatus = .deactivating
            putTask(record, changes: &changes)
            return record
        }
        if let instance = record.task.containerInstanceArn {
            if record.hasRun { record.lastStatus = .stopping }
            record.assignmentSequence = nextAssignmentSequence(changes: &changes)
            changes.assignedInstances.insert(instance)
        } else {
            markStopped(&record, now: now)
        }
        putTask(record, changes: &changes)
        return record
    }

    func markStopped(_ record: inout TaskRecord, now: Date) {
        record.lastStatus = .stopped
        record.desiredStatus = .stopped
        record.task.stoppedAt = now
        record.task.executionStoppedAt = record.task.executionStoppedAt ?? now
        if let containers = record.task.containers {
            record.task.containers = containers.map { container in
                var container = container
                if container.runStatus != .stopped { container.runStatus = .stopped }
                return container
            }
        }
    }

    // MARK: Reading

    /// A task as the API shows it.
    /// A task as RunTask and StartTask answer with it: with its tags, when it has some.
    func startedView(_ record: TaskRecord) -> ECSTask {
        taskView(record, includeTags: !(tags[record.arn] ?? []).isEmpty)
    }

    public func taskView(_ record: TaskRecord, includeTags: Bool = false) -> ECSTask {
        var task = record.task
        task.tags = includeTags ? (tags[record.arn] ?? []) : nil
        return task
    }

    public func describeTasks(_ request: DescribeTasksRequest) throws(AWSError) -> DescribeTasksResponse {
        // AWS's words, checked before the cluster (scripts that describe what ListTasks found match on them).
        guard !request.tasks.isEmpty else { throw .invalidParameter("Tasks cannot be empty.") }
        let cluster = try activeClusterName(request.cluster)
        guard request.tasks.count <= 100 else {
            throw .invalidParameter("tasks can list at most 100 tasks; got \(request.tasks.count).")
        }
        let includeTags = (request.include ?? []).contains(.tags)
        var found: [ECSTask] = []
        var failures: [Failure] = []
        for reference in request.tasks {
            if let record = task(reference, inCluster: cluster) {
                found.append(taskView(record, includeTags: includeTags))
            } else {
                failures.append(Failure(arn: reference, reason: "MISSING"))
            }
        }
        return DescribeTasksResponse(tasks: found, failures: failures)
    }

    public func listTasks(_ request: ListTasksRequest) throws(AWSError) -> ListTasksResponse {
        let cluster = try activeClusterName(request.cluster)
        let desired = request.desiredStatus ?? .running
        var instanceArn: String?
        if let reference = request.containerInstance {
            guard let instance = instance(reference, inCluster: cluster) else {
                throw .invalidParameter("Container instance '\(reference)' is not in cluster \(cluster).")
            }
            instanceArn = instance.containerInstanceArn
        }
        var serviceArn: String?
        if let name = request.serviceName {
            let key = ARN(name)?.lastPathComponent ?? name
            guard let arn = serviceIndex[cluster]?[key] else {
                throw AWSError(type: "ServiceNotFoundException", message: "Service '\(name)' was not found in cluster \(cluster).")
            }
            serviceArn = arn
        }
        func matches(
            desiredStatus: String, instance: String?, service: String?, definition: String?, startedBy: String?, launchType: String?
        ) -> Bool {
            guard desiredStatus == desired.rawValue else { return false }
            if let instanceArn, instance != instanceArn { return false }
            if let serviceArn, service != serviceArn { return false }
            if let family = request.family, ARN(definition ?? "")?.resourceId.split(separator: ":").first.map(String.init) != family {
                return false
            }
            if let wanted = request.startedBy, startedBy != wanted { return false }
            if let wanted = request.launchType, launchType != wanted.rawValue { return false }
            return true
        }
        let status = DesiredTaskStatus(rawValue: desired.rawValue) ?? .running
        if instanceArn == nil, serviceArn == nil, status != .stopped {
            // The common poll: a page straight from the cluster's ordered ARNs (no archive to merge).
            return try pageOfTasks(taskOrder[cluster]?[status] ?? SortedKeys(), request) { record in
                let task = record.task
                return matches(
                    desiredStatus: record.desiredStatus.rawValue, instance: task.containerInstanceArn, service: record.serviceArn,
                    definition: task.taskDefinitionArn, startedBy: task.startedBy, launchType: task.launchType?.rawValue)
            }
        }
        let candidates: [String] =
            if let instanceArn { Array(tasksByInstance[instanceArn] ?? []) } else if let serviceArn { Array(tasksByService[serviceArn] ?? []) } else {
                taskOrder[cluster]?[status]?.keys ?? []
            }
        var arns = candidates.compactMap { arn -> String? in
            guard let record = tasks[arn] else { return nil }
            let task = record.task
            return matches(
                desiredStatus: record.desiredStatus.rawValue, instance: task.containerInstanceArn, service: record.serviceArn,
                definition: task.taskDefinitionArn, startedBy: task.startedBy, launchType: task.launchType?.rawValue) ? arn : nil
        }
        if desired == .stopped {
            // A summary makes strings of only the fields a filter asks about.
            for summary in archive.summaries where summary.isIn(cluster: cluster) {
                if matches(
                    desiredStatus: summary.desiredStatus, instance: instanceArn == nil ? nil : summary.containerInstanceArn,
                    service: serviceArn == nil ? nil : summary.serviceArn, definition: request.family == nil ? nil : summary.taskDefinitionArn,
                    startedBy: request.startedBy == nil ? nil : summary.startedBy, launchType: request.launchType == nil ? nil : summary.launchType)
                {
                    arns.append(summary.arn)
                }
            }
        }
        let (page, token) = try Pagination.ascendingPage(arns, maxResults: request.maxResults, nextToken: request.nextToken)
        return ListTasksResponse(taskArns: page, nextToken: token)
    }

    private func pageOfTasks(
        _ ordered: SortedKeys, _ request: ListTasksRequest, where isIncluded: (TaskRecord) -> Bool
    ) throws(AWSError) -> ListTasksResponse {
        let (page, token) = try Pagination.sortedPage(ordered, maxResults: request.maxResults, nextToken: request.nextToken) { arn in
            tasks[arn].map(isIncluded) ?? false
        }
        return ListTasksResponse(taskArns: page, nextToken: token)
    }

    // MARK: Retention

    /// Forgets tasks stopped longer ago than `retention`, and instances deregistered as long ago.
    public mutating func pruneStopped(now: Date, retention: TimeInterval, changes: inout ChangeSet) {
        runTaskTokens.prune(now: now, changes: &changes)
        let expired = archive.summaries.filter { summary in
            summary.stoppedAt.map { now.timeIntervalSince($0) > retention } ?? false
        }.map(\.arn)
        for arn in expired { removeTask(arn, changes: &changes) }
        for (arn, record) in tasks where record.isStopped {
            if let stoppedAt = record.task.stoppedAt, now.timeIntervalSince(stoppedAt) > retention {
                removeTask(arn, changes: &changes)
            }
        }
        for (arn, instance) in instances where instance.instanceStatus == .inactive {
            let live = (tasksByInstance[arn] ?? []).contains { tasks[$0] != nil }
            if !live, now.timeIntervalSince(lastContact[arn] ?? .distantPast) > retention {
                instances[arn] = nil
                changes.touch(.instanceMembership)
                lastContact[arn] = nil
                tasksByInstance[arn] = nil
                changes.delete(ContainerInstance.self, key: arn)
                if tags.removeValue(forKey: arn) != nil { changes.delete(TagSet.self, key: arn) }
            }
        }
        collectDeletedTaskDefinitions(changes: &changes)
    }

    // MARK: Validation helpers

    func launchableDefinition(_ reference: String) throws(AWSError) -> TaskDefinition {
        let definition = try requestedTaskDefinition(reference)
        guard definition.status == .active else {
            throw .client("TaskDefinition is inactive: \(definition.taskDefinitionArn ?? reference) was deregistered and cannot start new tasks.")
        }
        return definition
    }

    func validateLaunch(launchType: LaunchType?, strategy: [CapacityProviderStrategyItem]?, network: NetworkConfiguration? = nil) throws(AWSError) {
        if network?.awsvpcConfiguration?.subnets.isEmpty == true { throw .invalidParameter("subnets can not be empty.") }
        if launchType != nil, !(strategy ?? []).isEmpty {
            throw .invalidParameter("Specifying both a launchType and a capacityProviderStrategy is not supported; choose one.")
        }
        if let launchType, launchType == .fargate || launchType == .managedInstances {
            throw .invalidParameter(
                "launchType \(launchType.rawValue) is not available: Stevedore runs tasks on registered container instances (use EC2 or EXTERNAL).")
        }
        try validateCapacityProviderStrategy(strategy ?? [], providers: [])
    }

    /// A platform version is Fargate's: refused for what launches on EC2 (named, or by default:
    /// no capacity provider strategy), in AWS's words.
    static func checkPlatformVersion(_ version: String?, launchType: LaunchType?, throughProviders: Bool) throws(AWSError) {
        guard version != nil, (launchType ?? (throughProviders ? nil : .ec2)) == .ec2 else { return }
        throw .invalidParameter("The platform version must be null when specifying an EC2 launch type.")
    }

    func validateOverrides(_ overrides: TaskOverride?, definition: TaskDefinition) throws(AWSError) {
        guard let overrides else { return }
        let names = Set((definition.containerDefinitions ?? []).compactMap(\.name))
        for override in overrides.containerOverrides ?? [] {
            guard let name = override.name, names.contains(name) else {
                throw .invalidParameter(
                    "Container override '\(override.name ?? "")' does not match a container in \(definition.family ?? ""):\(definition.revision ?? 0) (containers: \(names.sorted().joined(separator: ", "))).")
            }
            if let cpu = override.cpu, cpu < 0 { throw .invalidParameter("Container override '\(name)': cpu must be 0 or more.") }
            if let memory = override.memory, memory < TaskDefinitionValidator.minimumContainerMemoryMiB {
                throw .invalidParameter("Container override '\(name)': memory must be at least 6 MiB.")
            }
        }
        if let cpu = overrides.cpu, TaskSize.cpuUnits(cpu) == nil {
            throw .invalidParameter("overrides.cpu '\(cpu)' is not CPU units or vCPUs.")
        }
        if let memory = overrides.memory, TaskSize.memoryMiB(memory) == nil {
            throw .invalidParameter("overrides.memory '\(memory)' is not MiB or GB.")
        }
        let size = RecordCoding.encode(overrides).count
        guard size <= 8192 else { throw .invalidParameter("overrides are \(size) bytes of JSON; the limit is 8192.") }
    }

    func validateStartedBy(_ startedBy: String?, maxLength: Int) throws(AWSError) -> String? {
        guard let startedBy else { return nil }
        guard startedBy.count <= maxLength, startedBy.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_/".contains($0)) })
        else {
            throw .invalidParameter("startedBy must be up to \(maxLength) letters, numbers, hyphens, underscores or slashes.")
        }
        return startedBy
    }

    /// Builds the engine's request from ECS's strategies and constraints plus the task definition's.
    func placementRequest(
        definition: TaskDefinition,
        overrides: TaskOverride?,
        count: Int,
        group: String,
        strategies: [PlacementStrategy],
        constraints: [PlacementConstraint],
        defaultRules: [PlacementRule]
    ) throws(AWSError) -> PlacementRequest {
        guard strategies.count <= 5 else {
            throw .invalidParameter("placementStrategy can have at most 5 strategies; got \(strategies.count).")
        }
        let definitionConstraints = definition.placementConstraints ?? []
        guard constraints.count + definitionConstraints.count <= 10 else {
            throw .invalidParameter("A task can have at most 10 placement constraints, including its task definition's.")
        }
        var rules: [PlacementRule] = []
        for strategy in strategies { rules.append(try PlacementRule.parse(strategy)) }
        var memberOf: [QueryExpression] = []
        var distinct = false
        for constraint in constraints {
            switch constraint.type {
            case .distinctInstance:
                guard (constraint.expression ?? "").isEmpty else {
                    throw .invalidParameter("A distinctInstance placement constraint takes no expression.")
                }
                distinct = true
            case .memberOf:
                memberOf.append(try parseConstraint(constraint.expression))
            case nil:
                throw .invalidParameter("A placement constraint needs a type: distinctInstance or memberOf.")
            }
        }
        for constraint in definitionConstraints { memberOf.append(try parseConstraint(constraint.expression)) }
        return PlacementRequest(
            requirements: TaskRequirements(definition: definition, overrides: overrides),
            count: count,
            group: group,
            rules: rules.isEmpty ? defaultRules : rules,
            memberOf: memberOf,
            distinctInstance: distinct
        )
    }

    private func parseConstraint(_ expression: String?) throws(AWSError) -> QueryExpression {
        guard let expression, !expression.isEmpty else {
            throw .invalidParameter("A memberOf placement constraint needs an expression, e.g. attribute:ecs.instance-type =~ t3.*")
        }
        guard expression.count <= 2000 else { throw .invalidParameter("Placement constraint expressions can be at most 2000 characters.") }
        do {
            return try QueryExpression.parse(expression)
        } catch {
            throw .invalidParameter("Invalid memberOf expression: \(error.message)")
        }
    }
}
