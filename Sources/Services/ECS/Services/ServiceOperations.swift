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
    public static let maxServiceEvents = 100

    // MARK: Lookup

    public func service(_ reference: String, inCluster cluster: String) -> ServiceRecord? {
        // Another region's or account's service ARN names none here (as clusters' do not).
        guard !names.isForeign(reference, resourceType: "service") else { return nil }
        let name = ARN(reference)?.lastPathComponent ?? reference
        return serviceIndex[cluster]?[name].flatMap { services[$0] }
    }

    func existingService(_ reference: String, cluster: String) throws(AWSError) -> ServiceRecord {
        guard let record = service(reference, inCluster: cluster), record.service.serviceStatus != .inactive else {
            throw AWSError(type: "ServiceNotFoundException", message: "Service not found: '\(reference)' in cluster \(cluster).")
        }
        return record
    }

    // MARK: Create

    public mutating func createService(
        _ request: CreateServiceRequest,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> CreateServiceResponse {
        let clusterName = try activeClusterName(request.cluster)
        let cluster = try activeCluster(clusterName)
        guard NameRules.isValidName(request.serviceName) else {
            throw .invalidParameter(
                "Invalid serviceName '\(request.serviceName)': up to 255 letters (uppercase and lowercase), numbers, underscores and hyphens.")
        }
        if let existing = service(request.serviceName, inCluster: clusterName), existing.service.serviceStatus != .inactive {
            if let token = request.clientToken, existing.scheduler.clientToken == token {
                // Written again unchanged: the store commits in order, so this answer waits until
                // the first request's rows are durable (a retry may arrive while they are not).
                changes.put(existing)
                return CreateServiceResponse(service: serviceView(existing))
            }
            throw .invalidParameter("Creation of service was not idempotent.")
        }
        if let token = request.clientToken, !IdempotencyTokens.isValid(token, maximumLength: 36) {
            throw .invalidParameter("clientToken must be 1 to 36 characters in the range 33-126, inclusive.")
        }
        switch request.deploymentController?.type ?? .ecs {
        case .ecs: break
        case .external: return try createExternalService(request, cluster: cluster, now: now, changes: &changes)
        case let other:
            throw .invalidParameter(
                "deploymentController \(other.rawValue) is not supported: Stevedore runs rolling (ECS) deployments, or task sets with EXTERNAL.")
        }
        guard let definitionReference = request.taskDefinition else {
            throw .invalidParameter("taskDefinition is required for services with the ECS deployment controller.")
        }
        let definition = try launchableDefinition(definitionReference)
        try validateLaunch(launchType: request.launchType, strategy: request.capacityProviderStrategy, network: request.networkConfiguration)
        let strategy = request.schedulingStrategy ?? .replica
        var desired = request.desiredCount ?? 0
        switch strategy {
        case .replica:
            guard let count = request.desiredCount else {
                throw .invalidParameter("desiredCount is required for services with the REPLICA scheduling strategy.")
            }
            guard count >= 0 else { throw .invalidParameter("desiredCount must be 0 or more.") }
        case .daemon:
            guard (request.desiredCount ?? 0) == 0 else {
                throw .invalidParameter("desiredCount is not supported for DAEMON services: they run one task on every eligible instance.")
            }
            guard (request.placementStrategy ?? []).isEmpty else {
                throw .invalidParameter("Placement strategies are not supported for DAEMON services.")
            }
            desired = 0
        }
        let configuration = try deploymentConfiguration(request.deploymentConfiguration, strategy: strategy, current: nil)
        _ = try placementRequest(
            definition: definition, overrides: nil, count: 1, group: "service:\(request.serviceName)",
            strategies: request.placementStrategy ?? [], constraints: request.placementConstraints ?? [],
            defaultRules: PlacementRule.serviceDefault)
        try validateLoadBalancers(request.loadBalancers ?? [], definition: definition)
        try TagRules.validate(request.tags ?? [])

        // As on ECS: with neither a launch type nor a strategy, the cluster's default strategy applies.
        let providerStrategy = try associatedStrategy(request.capacityProviderStrategy, cluster: cluster, launchType: request.launchType)
        try Self.checkPlatformVersion(request.platformVersion, launchType: request.launchType, throughProviders: providerStrategy != nil)
        let arn = names.service(cluster: clusterName, name: request.serviceName)
        var scheduler = ServiceSchedulerState()
        scheduler.clientToken = request.clientToken
        let deployment = newDeployment(
            taskDefinition: definition.taskDefinitionArn ?? "", desiredCount: desired, launchType: request.launchType,
            strategy: providerStrategy, now: now, scheduler: &scheduler, using: &generator)
        let service = ECSService(
            serviceArn: arn,
            serviceName: request.serviceName,
            clusterArn: cluster.clusterArn,
            loadBalancers: request.loadBalancers ?? [],
            serviceRegistries: request.serviceRegistries ?? [],
            status: ServiceStatus.active.rawValue,
            desiredCount: desired,
            runningCount: 0,
            pendingCount: 0,
            launchType: request.launchType ?? (providerStrategy == nil ? .ec2 : nil),
            capacityProviderStrategy: providerStrategy,
            taskDefinition: definition.taskDefinitionArn,
            deploymentConfiguration: configuration,
            deployments: [deployment],
            roleArn: request.role,
            events: [],
            createdAt: now,
            placementConstraints: request.placementConstraints ?? [],
            placementStrategy: request.placementStrategy ?? [],
            networkConfiguration: request.networkConfiguration,
            healthCheckGracePeriodSeconds: request.healthCheckGracePeriodSeconds ?? 0,
            schedulingStrategy: strategy,
            deploymentController: DeploymentController(type: .ecs),
            createdBy: names.rootPrincipal,
            enableECSManagedTags: request.enableECSManagedTags ?? false,
            propagateTags: request.propagateTags ?? .none_,
            enableExecuteCommand: request.enableExecuteCommand ?? false,
            availabilityZoneRebalancing: request.availabilityZoneRebalancing ?? .enabled
        )
        forgetDeletedService(arn, now: now, changes: &changes)
        var record = ServiceRecord(arn: arn, name: request.serviceName, service: service, scheduler: scheduler)
        openServiceDeployment(&record, deployment: deployment, now: now, using: &generator, changes: &changes)
        putService(record, changes: &changes)
        if let tags = request.tags, !tags.isEmpty { replaceTags(of: arn, with: tags, changes: &changes) }
        return CreateServiceResponse(service: serviceView(record))
    }

    /// A service deployed through task sets: it names no task definition, launch type or network
    /// of its own (its primary task set's show once there is one), as on ECS.
    private mutating func createExternalService(
        _ request: CreateServiceRequest,
        cluster: Cluster,
        now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> CreateServiceResponse {
        // AWS's words for what an EXTERNAL service must leave to its task sets.
        if request.taskDefinition != nil { throw .invalidParameter("TaskDefinition must be blank.") }
        if request.networkConfiguration != nil { throw .invalidParameter("NetworkConfiguration must be null.") }
        if request.launchType != nil { throw .invalidParameter("LaunchType must be blank.") }
        if !(request.capacityProviderStrategy ?? []).isEmpty { throw .invalidParameter("CapacityProviderStrategy must be empty.") }
        if !(request.loadBalancers ?? []).isEmpty { throw .invalidParameter("LoadBalancers must be empty.") }
        if !(request.serviceRegistries ?? []).isEmpty { throw .invalidParameter("ServiceRegistries must be empty.") }
        if request.platformVersion != nil { throw .invalidParameter("PlatformVersion must be blank.") }
        guard (request.schedulingStrategy ?? .replica) == .replica else {
            throw .invalidParameter("The DAEMON scheduling strategy is not supported with the EXTERNAL deployment controller.")
        }
        guard let desired = request.desiredCount else {
            throw .invalidParameter("desiredCount is required for services with the REPLICA scheduling strategy.")
        }
        guard desired >= 0 else { throw .invalidParameter("desiredCount must be 0 or more.") }
        let configuration = try deploymentConfiguration(request.deploymentConfiguration, strategy: .replica, current: nil)
        try TagRules.validate(request.tags ?? [])
        let clusterName = cluster.clusterName ?? ""
        let arn = names.service(cluster: clusterName, name: request.serviceName)
        var scheduler = ServiceSchedulerState()
        scheduler.clientToken = request.clientToken
        let service = ECSService(
            serviceArn: arn,
            serviceName: request.serviceName,
            clusterArn: cluster.clusterArn,
            loadBalancers: [],
            serviceRegistries: [],
            status: ServiceStatus.active.rawValue,
            desiredCount: desired,
            runningCount: 0,
            pendingCount: 0,
            deploymentConfiguration: configuration,
            taskSets: [],
            deployments: [],
            roleArn: request.role,
            events: [],
            createdAt: now,
            placementConstraints: request.placementConstraints ?? [],
            placementStrategy: request.placementStrategy ?? [],
            healthCheckGracePeriodSeconds: request.healthCheckGracePeriodSeconds ?? 0,
            schedulingStrategy: .replica,
            deploymentController: DeploymentController(type: .external),
            createdBy: names.rootPrincipal,
            enableECSManagedTags: request.enableECSManagedTags ?? false,
            propagateTags: request.propagateTags ?? .none_,
            enableExecuteCommand: request.enableExecuteCommand ?? false,
            availabilityZoneRebalancing: request.availabilityZoneRebalancing ?? .enabled
        )
        forgetDeletedService(arn, now: now, changes: &changes)
        let record = ServiceRecord(arn: arn, name: request.serviceName, service: service, scheduler: scheduler)
        putService(record, changes: &changes)
        if let tags = request.tags, !tags.isEmpty { replaceTags(of: arn, with: tags, changes: &changes) }
        return CreateServiceResponse(service: serviceView(record))
    }

    /// A service made again by the name of a deleted one starts without its deployments' history.
    private mutating func forgetDeletedService(_ arn: String, now: Date, changes: inout ChangeSet) {
        guard let deleted = services[arn] else { return }
        expireServiceDeployments(of: deleted, now: now, all: true, changes: &changes)
    }

    // MARK: Update

    public mutating func updateService(
        _ request: UpdateServiceRequest,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> UpdateServiceResponse {
        let clusterName = try activeClusterName(request.cluster)
        var record = try existingService(request.service, cluster: clusterName)
        guard record.service.serviceStatus == .active else {
            throw AWSError(type: "ServiceNotActiveException", message: "Service '\(record.name)' is \(record.service.status ?? "") and cannot be updated.")
        }
        if record.isExternallyDeployed {
            return try updateExternalService(request, record: record, now: now, changes: &changes)
        }
        if let controller = request.deploymentController, controller.type != .ecs {
            throw .invalidParameter("deploymentController \(controller.type.rawValue) is not supported.")
        }
        // A platform version sent with an update is not refused (tools resend what they declared).
        try validateLaunch(launchType: nil, strategy: request.capacityProviderStrategy, network: request.networkConfiguration)
        var service = record.service
        let strategy = service.schedulingStrategy ?? .replica
        if let desired = request.desiredCount {
            guard strategy == .replica else {
                throw .invalidParameter("desiredCount cannot be set on a DAEMON service.")
            }
            guard desired >= 0 else { throw .invalidParameter("desiredCount must be 0 or more.") }
            service.desiredCount = desired
        }
        var definitionArn = service.taskDefinition ?? ""
        if let reference = request.taskDefinition {
            definitionArn = try launchableDefinition(reference).taskDefinitionArn ?? definitionArn
        }
        let definition = try taskDefinition(definitionArn)
        if let configuration = request.deploymentConfiguration {
            service.deploymentConfiguration = try deploymentConfiguration(
                configuration, strategy: strategy, current: service.deploymentConfiguration)
        }
        if let constraints = request.placementConstraints { service.placementConstraints = constraints }
        if let strategies = request.placementStrategy {
            guard strategy == .replica || strategies.isEmpty else {
                throw .invalidParameter("Placement strategies are not supported for DAEMON services.")
            }
            service.placementStrategy = strategies
        }
        _ = try placementRequest(
            definition: definition, overrides: nil, count: 1, group: "service:\(record.name)",
            strategies: service.placementStrategy ?? [], constraints: service.placementConstraints ?? [],
            defaultRules: PlacementRule.serviceDefault)
        if let loadBalancers = request.loadBalancers {
            try validateLoadBalancers(loadBalancers, definition: definition)
            service.loadBalancers = loadBalancers
        }
        if let grace = request.healthCheckGracePeriodSeconds { service.healthCheckGracePeriodSeconds = grace }
        if let network = request.networkConfiguration { service.networkConfiguration = network }
        if let registries = request.serviceRegistries { service.serviceRegistries = registries }
        if let providers = request.capacityProviderStrategy { service.capacityProviderStrategy = providers }
        if let value = request.enableExecuteCommand { service.enableExecuteCommand = value }
        if let value = request.propagateTags { service.propagateTags = value }
        if let value = request.enableECSManagedTags { service.enableECSManagedTags = value }
        if let value = request.availabilityZoneRebalancing { service.availabilityZoneRebalancing = value }

        let newTaskDefinition = definitionArn != service.taskDefinition
        let redeploy = newTaskDefinition || request.forceNewDeployment == true || request.placementConstraints != nil
            || request.networkConfiguration != nil || request.capacityProviderStrategy != nil || request.loadBalancers != nil
            || request.serviceRegistries != nil
        service.taskDefinition = definitionArn
        var deployments = service.deployments ?? []
        var opened: Deployment?
        if redeploy {
            for index in deployments.indices where deployments[index].deploymentStatus == .primary {
                deployments[index].deploymentStatus = .active
                deployments[index].updatedAt = now
            }
            let deployment = newDeployment(
                taskDefinition: definitionArn, desiredCount: service.desiredCount ?? 0, launchType: service.launchType,
                strategy: service.capacityProviderStrategy, now: now, scheduler: &record.scheduler, using: &generator)
            deployments.insert(deployment, at: 0)
            opened = deployment
        } else if let index = deployments.firstIndex(where: { $0.deploymentStatus == .primary }) {
            deployments[index].desiredCount = service.desiredCount
            deployments[index].updatedAt = now
        }
        service.deployments = deployments
        record.service = service
        if let opened {
            openServiceDeployment(&record, deployment: opened, now: now, using: &generator, changes: &changes)
            // A rollback asked for before this update no longer applies: this deployment replaces it.
            record.scheduler.rollbackPending = false
            record.scheduler.rollbackTarget = nil
            record.scheduler.rollbackRevision = nil
        }
        // A change resets the launch back-off: the new configuration deserves a fresh start.
        record.scheduler.consecutiveFailedLaunches = 0
        record.scheduler.nextLaunchAt = nil
        record.scheduler.steady = false
        putService(record, changes: &changes)
        return UpdateServiceResponse(service: serviceView(record))
    }

    /// An EXTERNAL service changes its count, placement and settings; what its tasks run comes
    /// from task sets. Each task set's computed count follows the new desired count.
    private mutating func updateExternalService(
        _ request: UpdateServiceRequest,
        record: ServiceRecord,
        now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> UpdateServiceResponse {
        var record = record
        let controller = "on services with a EXTERNAL deployment controller. Create a new task set to deploy it."
        if request.taskDefinition != nil { throw .invalidParameter("Unable to update task definition \(controller)") }
        if request.networkConfiguration != nil { throw .invalidParameter("Unable to update network parameters \(controller)") }
        if request.loadBalancers != nil { throw .invalidParameter("Unable to update load balancers \(controller)") }
        if request.serviceRegistries != nil { throw .invalidParameter("Unable to update service registries \(controller)") }
        if request.capacityProviderStrategy != nil || request.platformVersion != nil {
            throw .invalidParameter("Unable to update launch parameters \(controller)")
        }
        if request.forceNewDeployment == true { throw .invalidParameter("Unable to force a new deployment \(controller)") }
        if let type = request.deploymentController?.type, type != .external {
            throw .invalidParameter("deploymentController \(type.rawValue) is not supported for a service created with EXTERNAL.")
        }
        var service = record.service
        if let desired = request.desiredCount {
            guard desired >= 0 else { throw .invalidParameter("desiredCount must be 0 or more.") }
            service.desiredCount = desired
        }
        if let configuration = request.deploymentConfiguration {
            service.deploymentConfiguration = try deploymentConfiguration(configuration, strategy: .replica, current: service.deploymentConfiguration)
        }
        if let constraints = request.placementConstraints { service.placementConstraints = constraints }
        if let strategies = request.placementStrategy { service.placementStrategy = strategies }
        for set in service.taskSets ?? [] {
            guard let definition = set.taskDefinition.flatMap({ try? taskDefinition($0) }) else { continue }
            _ = try placementRequest(
                definition: definition, overrides: nil, count: 1, group: "service:\(record.name)",
                strategies: service.placementStrategy ?? [], constraints: service.placementConstraints ?? [],
                defaultRules: PlacementRule.serviceDefault)
        }
        if let grace = request.healthCheckGracePeriodSeconds { service.healthCheckGracePeriodSeconds = grace }
        if let value = request.enableExecuteCommand { service.enableExecuteCommand = value }
        if let value = request.propagateTags { service.propagateTags = value }
        if let value = request.enableECSManagedTags { service.enableECSManagedTags = value }
        if let value = request.availabilityZoneRebalancing { service.availabilityZoneRebalancing = value }
        let desired = service.desiredCount ?? 0
        service.taskSets = (service.taskSets ?? []).map { set in
            var set = set
            let computed = set.status == TaskSetStatus.draining.rawValue ? 0 : Self.computedDesiredCount(desired: desired, scale: set.scale)
            if computed != set.computedDesiredCount {
                set.computedDesiredCount = computed
                set.updatedAt = now
            }
            return set
        }
        record.service = service
        record.scheduler.consecutiveFailedLaunches = 0
        record.scheduler.nextLaunchAt = nil
        record.scheduler.steady = false
        putService(record, changes: &changes)
        return UpdateServiceResponse(service: serviceView(record))
    }

    // MARK: Delete

    public mutating func deleteService(
        _ request: DeleteServiceRequest,
        now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> DeleteServiceResponse {
        let clusterName = try activeClusterName(request.cluster)
        var record = try existingService(request.service, cluster: clusterName)
        if record.service.serviceStatus == .draining { return DeleteServiceResponse(service: serviceView(record)) }
        if (record.service.schedulingStrategy ?? .replica) == .replica, (record.service.desiredCount ?? 0) > 0, request.force != true {
            throw .invalidParameter("The service cannot be stopped while it is scaled above 0.")
        }
        serviceDeploymentServiceDeleted(record, now: now, changes: &changes)
        record.service.serviceStatus = .draining
        record.service.desiredCount = 0
        record.service.deployments = (record.service.deployments ?? []).map { deployment in
            var deployment = deployment
            deployment.desiredCount = 0
            deployment.updatedAt = now
            return deployment
        }
        record.service.taskSets = record.service.taskSets.map { sets in
            sets.map { set in
                var set = set
                set.status = TaskSetStatus.draining.rawValue
                set.scale = Scale(value: 0, unit: .percent)
                set.computedDesiredCount = 0
                set.updatedAt = now
                return set
            }
        }
        putService(record, changes: &changes)
        return DeleteServiceResponse(service: serviceView(record))
    }

    // MARK: Read

    /// A service as the API shows it, with live task counts.
    public func serviceView(_ record: ServiceRecord, includeTags: Bool = false) -> ECSService {
        var service = record.service
        let counts = serviceTaskCounts(record)
        service.runningCount = counts.total.running
        service.pendingCount = counts.total.pending
        service.deployments = (service.deployments ?? []).map { deployment in
            var deployment = deployment
            let perDeployment = counts.byDeployment[deployment.id ?? ""] ?? (0, 0)
            deployment.runningCount = perDeployment.running
            deployment.pendingCount = perDeployment.pending
            return deployment
        }
        service.taskSets = service.taskSets.map { sets in
            sets.map { set in
                var set = set
                let perSet = counts.byDeployment[set.id ?? ""] ?? (0, 0)
                set.runningCount = perSet.running
                set.pendingCount = perSet.pending
                return set
            }
        }
        if !record.isExternallyDeployed { service.currentServiceRevisions = currentServiceRevisions(record) }
        service.tags = includeTags ? (tags[record.arn] ?? []) : nil
        return service
    }

    func serviceTaskCounts(
        _ record: ServiceRecord
    ) -> (total: (running: Int, pending: Int), byDeployment: [String: (running: Int, pending: Int)]) {
        var total = (running: 0, pending: 0)
        var byDeployment: [String: (running: Int, pending: Int)] = [:]
        for arn in tasksByService[record.arn] ?? [] {
            guard let task = tasks[arn], task.desiredStatus == .running, !task.isStopped else { continue }
            let key = task.task.startedBy ?? ""
            if task.lastStatus == .running {
                total.running += 1
                byDeployment[key, default: (0, 0)].running += 1
            } else {
                total.pending += 1
                byDeployment[key, default: (0, 0)].pending += 1
            }
        }
        return (total, byDeployment)
    }

    public func describeServices(_ request: DescribeServicesRequest) throws(AWSError) -> DescribeServicesResponse {
        guard !request.services.isEmpty else { throw .invalidParameter("Services cannot be empty.") }
        let clusterName = try activeClusterName(request.cluster)
        guard request.services.count <= 10 else {
            throw .invalidParameter("services must list between 1 and 10 services; got \(request.services.count).")
        }
        let includeTags = (request.include ?? []).contains(.tags)
        var found: [ECSService] = []
        var failures: [Failure] = []
        for reference in request.services {
            _ = try Self.checkedName(reference, kind: "Service", names: { ARN($0)?.lastPathComponent ?? $0 })
            if let record = service(reference, inCluster: clusterName) {
                found.append(serviceView(record, includeTags: includeTags))
            } else {
                failures.append(
                    Failure(arn: reference.hasPrefix("arn:") ? reference : names.service(cluster: clusterName, name: reference), reason: "MISSING"))
            }
        }
        return DescribeServicesResponse(services: found, failures: failures)
    }

    public func listServices(_ request: ListServicesRequest) throws(AWSError) -> ListServicesResponse {
        let clusterName = try activeClusterName(request.cluster)
        let arns = (serviceIndex[clusterName] ?? [:]).values.compactMap { arn -> String? in
            guard let record = services[arn], record.service.serviceStatus != .inactive else { return nil }
            if let strategy = request.schedulingStrategy, (record.service.schedulingStrategy ?? .replica) != strategy { return nil }
            if let launchType = request.launchType, record.service.launchType != launchType { return nil }
            return arn
        }.sorted()
        let (page, token) = try Pagination.page(
            arns, key: { $0 }, maxResults: request.maxResults, nextToken: request.nextToken, comesAfter: >)
        return ListServicesResponse(serviceArns: page, nextToken: token)
    }

    // MARK: Helpers

    mutating func newDeployment(
        taskDefinition: String,
        desiredCount: Int,
        launchType: LaunchType?,
        strategy: [CapacityProviderStrategyItem]?,
        now: Date,
        scheduler: inout ServiceSchedulerState,
        using generator: inout some RandomNumberGenerator
    ) -> Deployment {
        scheduler.deploymentCounter += 1
        let number = String(UInt64.random(in: 1_000_000_000_000_000_000...9_999_999_999_999_999_999, using: &generator))
        return Deployment(
            id: "ecs-svc/\(number)",
            status: DeploymentStatus.primary.rawValue,
            taskDefinition: taskDefinition,
            desiredCount: desiredCount,
            pendingCount: 0,
            runningCount: 0,
            failedTasks: 0,
            createdAt: now,
            updatedAt: now,
            capacityProviderStrategy: strategy,
            launchType: launchType ?? (strategy == nil ? .ec2 : nil),
            rolloutState: .inProgress,
            rolloutStateReason: "ECS deployment ecs-svc/\(number) in progress."
        )
    }

    func deploymentConfiguration(
        _ requested: DeploymentConfiguration?,
        strategy: SchedulingStrategy,
        current: DeploymentConfiguration?
    ) throws(AWSError) -> DeploymentConfiguration {
        var configuration = current ?? DeploymentConfiguration(
            deploymentCircuitBreaker: DeploymentCircuitBreaker(enable: false, rollback: false),
            maximumPercent: strategy == .daemon ? 100 : 200,
            minimumHealthyPercent: strategy == .daemon ? 0 : 100,
            strategy: .rolling
        )
        if let requested {
            if let value = requested.maximumPercent { configuration.maximumPercent = value }
            if let value = requested.minimumHealthyPercent { configuration.minimumHealthyPercent = value }
            if let breaker = requested.deploymentCircuitBreaker { configuration.deploymentCircuitBreaker = breaker }
            if let value = requested.strategy {
                guard value == .rolling else {
                    throw .invalidParameter("deploymentConfiguration.strategy \(value.rawValue) is not supported; Stevedore deploys ROLLING.")
                }
                configuration.strategy = value
            }
            if let alarms = requested.alarms { configuration.alarms = alarms }
            if let bake = requested.bakeTimeInMinutes { configuration.bakeTimeInMinutes = bake }
        }
        let minimum = configuration.minimumHealthyPercent ?? 100
        let maximum = configuration.maximumPercent ?? 200
        guard (0...100).contains(minimum) else {
            throw .invalidParameter("minimumHealthyPercent must be between 0 and 100; got \(minimum).")
        }
        if strategy == .daemon {
            guard maximum == 100 else { throw .invalidParameter("maximumPercent must be 100 for DAEMON services; got \(maximum).") }
        } else {
            guard maximum >= 100, maximum <= 1000 else {
                throw .invalidParameter("maximumPercent must be between 100 and 1000; got \(maximum).")
            }
        }
        return configuration
    }

    func validateLoadBalancers(_ loadBalancers: [LoadBalancer], definition: TaskDefinition) throws(AWSError) {
        guard loadBalancers.count <= 5 else {
            throw .invalidParameter("A service can have at most 5 load balancers (target groups); got \(loadBalancers.count).")
        }
        for balancer in loadBalancers {
            guard let name = balancer.containerName,
                let container = (definition.containerDefinitions ?? []).first(where: { $0.name == name })
            else {
                throw .invalidParameter(
                    "loadBalancers: container '\(balancer.containerName ?? "")' is not in task definition \(definition.family ?? ""):\(definition.revision ?? 0).")
            }
            guard let port = balancer.containerPort, (container.portMappings ?? []).contains(where: { $0.containerPort == port }) else {
                throw .invalidParameter(
                    "loadBalancers: container '\(name)' has no portMappings entry with containerPort \(balancer.containerPort.map(String.init) ?? "(none)").")
            }
        }
    }
}
