#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import StevedoreCore

/// Task sets: the deployments of a service whose deployment controller is EXTERNAL. Whoever
/// deploys (a pipeline, a script) creates a task set per version, scales each to a percentage of
/// the service's desired count, and promotes one to PRIMARY; the service scheduler keeps each at
/// its computed count (``reconcileTaskSets``). Tasks carry their task set's id as `startedBy`.
extension ECSState {
    /// AWS's limit on the task sets of one service.
    public static let maxTaskSets = 5

    static let externalControllerOnly =
        "Amazon ECS only supports task set management on services configured to use external deployment controllers."

    /// The status strings of a task set (the shape's `status` is a plain string).
    public enum TaskSetStatus: String, Sendable {
        case primary = "PRIMARY"
        case active = "ACTIVE"
        case draining = "DRAINING"
    }

    // MARK: Create

    public mutating func createTaskSet(
        _ request: CreateTaskSetRequest,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> CreateTaskSetResponse {
        let cluster = try activeClusterRef(request.cluster)
        var record = try externalService(request.service, cluster: cluster.name, forWriting: true)
        if let token = request.clientToken {
            guard IdempotencyTokens.isValid(token, maximumLength: 36) else {
                throw .invalidParameter("clientToken must be 1 to 36 characters in the range 33-126, inclusive.")
            }
            if let id = record.scheduler.taskSetClientTokens?[token], let existing = record.service.taskSets?.first(where: { $0.id == id }) {
                // A retry: the first request's answer, once its rows are durable (written again
                // unchanged, the store commits them in order).
                changes.put(record)
                return CreateTaskSetResponse(taskSet: taskSetView(existing, of: record, includeTags: true))
            }
        }
        let sets = record.service.taskSets ?? []
        guard sets.count < Self.maxTaskSets else {
            throw .invalidParameter(
                "\(sets.count) deployments exist on the service. Unable to create new TaskSet since this exceeds the maximum limit.")
        }
        let scale = try Self.checkedScale(request.scale ?? Scale(value: 0, unit: .percent))
        let definition = try launchableDefinition(request.taskDefinition)
        try validateLaunch(launchType: request.launchType, strategy: request.capacityProviderStrategy, network: request.networkConfiguration)
        _ = try placementRequest(
            definition: definition, overrides: nil, count: 1, group: "service:\(record.name)",
            strategies: record.service.placementStrategy ?? [], constraints: record.service.placementConstraints ?? [],
            defaultRules: PlacementRule.serviceDefault)
        try validateLoadBalancers(request.loadBalancers ?? [], definition: definition)
        try TagRules.validate(request.tags ?? [])
        let providerStrategy = try associatedStrategy(request.capacityProviderStrategy, cluster: cluster.cluster, launchType: request.launchType)
        try Self.checkPlatformVersion(request.platformVersion, launchType: request.launchType, throughProviders: providerStrategy != nil)

        let number = String(UInt64.random(in: 1_000_000_000_000_000_000...9_999_999_999_999_999_999, using: &generator))
        let id = "ecs-svc/\(number)"
        let arn = names.taskSet(cluster: cluster.name, service: record.name, id: id)
        let taskSet = TaskSet(
            id: id,
            taskSetArn: arn,
            serviceArn: record.arn,
            clusterArn: cluster.cluster.clusterArn,
            externalId: request.externalId,
            status: TaskSetStatus.active.rawValue,
            taskDefinition: definition.taskDefinitionArn,
            computedDesiredCount: Self.computedDesiredCount(desired: record.service.desiredCount ?? 0, scale: scale),
            pendingCount: 0,
            runningCount: 0,
            createdAt: now,
            updatedAt: now,
            launchType: request.launchType ?? (providerStrategy == nil ? .ec2 : nil),
            capacityProviderStrategy: providerStrategy,
            platformVersion: request.platformVersion,
            networkConfiguration: request.networkConfiguration,
            loadBalancers: request.loadBalancers ?? [],
            serviceRegistries: request.serviceRegistries ?? [],
            scale: scale,
            stabilityStatus: .stabilizing,
            stabilityStatusAt: now
        )
        record.service.taskSets = sets + [taskSet]
        if let token = request.clientToken { record.scheduler.taskSetClientTokens = (record.scheduler.taskSetClientTokens ?? [:]).merging([token: id]) { $1 } }
        record.scheduler.steady = false
        record.scheduler.consecutiveFailedLaunches = 0
        record.scheduler.nextLaunchAt = nil
        putService(record, changes: &changes)
        if let tags = request.tags, !tags.isEmpty { replaceTags(of: arn, with: tags, changes: &changes) }
        return CreateTaskSetResponse(taskSet: taskSetView(taskSet, of: record, includeTags: true))
    }

    // MARK: Read

    public func describeTaskSets(_ request: DescribeTaskSetsRequest) throws(AWSError) -> DescribeTaskSetsResponse {
        let clusterName = try activeClusterName(request.cluster)
        let record = try externalService(request.service, cluster: clusterName, forWriting: false)
        let includeTags = (request.include ?? []).contains(.tags)
        let sets = record.service.taskSets ?? []
        guard let references = request.taskSets else {
            return DescribeTaskSetsResponse(taskSets: sets.map { taskSetView($0, of: record, includeTags: includeTags) }, failures: [])
        }
        var found: [TaskSet] = []
        var failures: [Failure] = []
        for reference in references {
            if let set = sets.first(where: { Self.names(reference, taskSet: $0) }) {
                found.append(taskSetView(set, of: record, includeTags: includeTags))
            } else {
                failures.append(Failure(arn: reference, reason: "MISSING"))
            }
        }
        return DescribeTaskSetsResponse(taskSets: found, failures: failures)
    }

    /// A task set as the API shows it: live task counts, tags on request.
    func taskSetView(_ set: TaskSet, of record: ServiceRecord, includeTags: Bool) -> TaskSet {
        var set = set
        let counts = serviceTaskCounts(record).byDeployment[set.id ?? ""] ?? (0, 0)
        set.runningCount = counts.running
        set.pendingCount = counts.pending
        set.tags = includeTags ? (tags[set.taskSetArn ?? ""] ?? []) : nil
        return set
    }

    // MARK: Update

    public mutating func updateTaskSet(
        _ request: UpdateTaskSetRequest,
        now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> UpdateTaskSetResponse {
        var (record, index) = try taskSetToChange(request.taskSet, service: request.service, cluster: request.cluster)
        let scale = try Self.checkedScale(request.scale)
        var set = record.service.taskSets![index]
        guard set.status != TaskSetStatus.draining.rawValue else {
            throw .invalidParameter("The task set \(set.id ?? "") is being deleted and cannot be updated.")
        }
        set.scale = scale
        set.computedDesiredCount = Self.computedDesiredCount(desired: record.service.desiredCount ?? 0, scale: scale)
        set.updatedAt = now
        set.stabilityStatus = .stabilizing
        set.stabilityStatusAt = now
        record.service.taskSets![index] = set
        record.scheduler.steady = false
        record.scheduler.consecutiveFailedLaunches = 0
        record.scheduler.nextLaunchAt = nil
        putService(record, changes: &changes)
        return UpdateTaskSetResponse(taskSet: taskSetView(set, of: record, includeTags: false))
    }

    /// Makes a task set the service's PRIMARY one: the service then shows its task definition,
    /// launch type, load balancers and network configuration. The former primary becomes ACTIVE.
    public mutating func updateServicePrimaryTaskSet(
        _ request: UpdateServicePrimaryTaskSetRequest,
        now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> UpdateServicePrimaryTaskSetResponse {
        var (record, index) = try taskSetToChange(request.primaryTaskSet, service: request.service, cluster: request.cluster)
        var sets = record.service.taskSets!
        guard sets[index].status != TaskSetStatus.draining.rawValue else {
            throw .invalidParameter("The task set \(sets[index].id ?? "") is being deleted and cannot be made primary.")
        }
        for other in sets.indices where other != index && sets[other].status == TaskSetStatus.primary.rawValue {
            sets[other].status = TaskSetStatus.active.rawValue
            sets[other].updatedAt = now
        }
        if sets[index].status != TaskSetStatus.primary.rawValue {
            sets[index].status = TaskSetStatus.primary.rawValue
            sets[index].updatedAt = now
        }
        let primary = sets[index]
        record.service.taskSets = sets
        record.service.taskDefinition = primary.taskDefinition
        record.service.launchType = primary.launchType
        record.service.capacityProviderStrategy = primary.capacityProviderStrategy
        record.service.platformVersion = primary.platformVersion
        record.service.loadBalancers = primary.loadBalancers
        record.service.serviceRegistries = primary.serviceRegistries
        record.service.networkConfiguration = primary.networkConfiguration
        putService(record, changes: &changes)
        return UpdateServicePrimaryTaskSetResponse(taskSet: taskSetView(primary, of: record, includeTags: false))
    }

    // MARK: Delete

    /// Marks a task set DRAINING, scaled to 0: the scheduler stops its tasks and the task set goes
    /// once none is left.
    public mutating func deleteTaskSet(
        _ request: DeleteTaskSetRequest,
        now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> DeleteTaskSetResponse {
        var (record, index) = try taskSetToChange(request.taskSet, service: request.service, cluster: request.cluster)
        var set = record.service.taskSets![index]
        if set.status == TaskSetStatus.draining.rawValue {
            return DeleteTaskSetResponse(taskSet: taskSetView(set, of: record, includeTags: false))
        }
        if request.force != true {
            guard set.status != TaskSetStatus.primary.rawValue else { throw .invalidParameter("Primary TaskSet cannot be deleted") }
            let counts = serviceTaskCounts(record).byDeployment[set.id ?? ""] ?? (0, 0)
            guard (set.scale?.value ?? 0) == 0, counts.running + counts.pending == 0 else {
                throw .invalidParameter("The task set cannot be deleted while it is scaled above 0. Scale it to 0 first, or delete it with force.")
            }
        }
        if set.status == TaskSetStatus.primary.rawValue {
            // Forced: the service no longer has a primary set to show.
            record.service.taskDefinition = nil
            record.service.launchType = nil
            record.service.capacityProviderStrategy = nil
            record.service.platformVersion = nil
            record.service.loadBalancers = []
            record.service.serviceRegistries = []
            record.service.networkConfiguration = nil
        }
        set.status = TaskSetStatus.draining.rawValue
        set.scale = Scale(value: 0, unit: .percent)
        set.computedDesiredCount = 0
        set.updatedAt = now
        set.stabilityStatus = .stabilizing
        set.stabilityStatusAt = now
        record.service.taskSets![index] = set
        record.scheduler.steady = false
        putService(record, changes: &changes)
        return DeleteTaskSetResponse(taskSet: taskSetView(set, of: record, includeTags: false))
    }

    // MARK: Helpers

    /// The service a task set operation names, when its deployment controller is EXTERNAL.
    private func externalService(_ reference: String, cluster: String, forWriting: Bool) throws(AWSError) -> ServiceRecord {
        let record = try existingService(reference, cluster: cluster)
        if forWriting, record.service.serviceStatus != .active {
            throw AWSError(type: "ServiceNotActiveException", message: "Service '\(record.name)' is \(record.service.status ?? "") and cannot be updated.")
        }
        guard record.isExternallyDeployed else { throw .invalidParameter(Self.externalControllerOnly) }
        return record
    }

    /// The EXTERNAL service a task set write names, and where its task set is among its sets.
    private func taskSetToChange(_ reference: String, service: String, cluster: String) throws(AWSError) -> (ServiceRecord, Int) {
        let record = try externalService(service, cluster: try activeClusterName(cluster), forWriting: true)
        return (record, try taskSetIndex(reference, in: record))
    }

    private func taskSetIndex(_ reference: String, in record: ServiceRecord) throws(AWSError) -> Int {
        guard let index = record.service.taskSets?.firstIndex(where: { Self.names(reference, taskSet: $0) }) else {
            throw AWSError(type: "TaskSetNotFoundException", message: "The specified task set does not exist.")
        }
        return index
    }

    /// A task set is named by its id (`ecs-svc/…`) or its ARN.
    private static func names(_ reference: String, taskSet: TaskSet) -> Bool {
        reference == taskSet.id || reference == taskSet.taskSetArn
    }

    static func checkedScale(_ scale: Scale) throws(AWSError) -> Scale {
        guard let value = scale.value, value.isFinite, (0...100).contains(value) else {
            throw .invalidParameter("Scale value must be between 0 and 100.")
        }
        return Scale(value: value, unit: .percent)
    }

    /// The service's desired count times the task set's scale, rounded up (1.2 tasks are 2).
    public static func computedDesiredCount(desired: Int, scale: Scale?) -> Int {
        Int((Double(desired) * (scale?.value ?? 0) / 100).rounded(.up))
    }
}

extension ServiceRecord {
    /// Deployed through task sets (the EXTERNAL deployment controller) rather than ECS's rolling
    /// deployments.
    public var isExternallyDeployed: Bool { service.deploymentController?.type == .external }

    /// The load balancers of the service and of its task sets (EXTERNAL services name theirs on
    /// each task set).
    public var allLoadBalancers: [LoadBalancer] {
        (service.loadBalancers ?? []) + (service.taskSets ?? []).flatMap { $0.loadBalancers ?? [] }
    }

    /// The load balancers a task of this service is registered with: its task set's for an
    /// EXTERNAL service, the service's otherwise.
    public func loadBalancers(of task: TaskRecord) -> [LoadBalancer] {
        guard isExternallyDeployed else { return service.loadBalancers ?? [] }
        return service.taskSets?.first { $0.id == task.task.startedBy }?.loadBalancers ?? []
    }
}
