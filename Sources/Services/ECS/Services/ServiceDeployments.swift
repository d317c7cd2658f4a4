#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import StevedoreCore

/// Service deployments and service revisions, as ECS keeps them beside a service's rolling
/// deployments: each deployment the service starts (CreateService, an UpdateService that changes
/// what runs, forceNewDeployment) makes a revision (what it deploys) and a service deployment
/// (from the revisions running to the new one), whose status follows the rollout: IN_PROGRESS,
/// then SUCCESSFUL, or STOPPED when the circuit breaker stops it or a newer one replaces it, or
/// ROLLBACK_REQUESTED → ROLLBACK_IN_PROGRESS → ROLLBACK_SUCCESSFUL. Task counts are read live from
/// the tasks of each revision's rolling deployments.
extension ECSState {
    /// AWS's limit on the ARNs of one DescribeServiceDeployments or DescribeServiceRevisions.
    public static let maxDescribedServiceDeployments = 20
    /// How long finished service deployments (and revisions nothing refers to) are kept: AWS's 90 days.
    public static let serviceDeploymentRetention: TimeInterval = 90 * 86_400

    // MARK: Bookkeeping (called by the service operations and the scheduler)

    /// Opens the service deployment of a new rolling deployment: a revision of what it deploys,
    /// and a deployment from the revisions its service runs now. An older one still going is
    /// STOPPED: the new one replaces it.
    mutating func openServiceDeployment(
        _ record: inout ServiceRecord,
        deployment: Deployment,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) {
        guard let deploymentId = deployment.id, let cluster = ARN(record.arn)?.firstPathComponent else { return }
        expireServiceDeployments(of: record, now: now, changes: &changes)
        let service = record.service
        var revisions = record.scheduler.revisionOfDeployment ?? [:]
        let live = Set((service.deployments ?? []).compactMap(\.id))
        revisions = revisions.filter { live.contains($0.key) }
        var deployments = record.scheduler.serviceDeploymentOf ?? [:]
        deployments = deployments.filter { live.contains($0.key) }

        let number = String(UInt64.random(in: 1_000_000_000_000_000_000...9_999_999_999_999_999_999, using: &generator))
        let definition = deployment.taskDefinition.flatMap { try? taskDefinition($0) }
        let revision = ServiceRevision(
            serviceRevisionArn: names.serviceRevision(cluster: cluster, service: record.name, number: number),
            serviceArn: record.arn,
            clusterArn: service.clusterArn,
            taskDefinition: deployment.taskDefinition,
            capacityProviderStrategy: deployment.capacityProviderStrategy,
            launchType: deployment.launchType,
            platformVersion: service.platformVersion,
            loadBalancers: service.loadBalancers ?? [],
            serviceRegistries: service.serviceRegistries ?? [],
            networkConfiguration: service.networkConfiguration,
            containerImages: (definition?.containerDefinitions ?? []).map { ContainerImage(containerName: $0.name, image: $0.image) },
            guardDutyEnabled: false,
            createdAt: now
        )
        putServiceRevision(revision, changes: &changes)

        if let current = service.currentServiceDeployment, var previous = serviceDeployments[current], previous.status?.isOngoing == true {
            previous.status = .stopped
            previous.statusReason = "Stopped: a newer service deployment replaced it."
            previous.stoppedAt = now
            previous.updatedAt = now
            putServiceDeployment(previous, changes: &changes)
        }
        // Newest first: the deployment just replaced comes first, a rollback's natural target.
        var sources: [String] = []
        for other in service.deployments ?? [] {
            if let revision = other.id.flatMap({ revisions[$0] }), !sources.contains(revision) { sources.append(revision) }
        }
        let breaker = service.deploymentConfiguration?.deploymentCircuitBreaker
        let serviceDeployment = ServiceDeployment(
            serviceDeploymentArn: names.serviceDeployment(cluster: cluster, service: record.name, id: Self.serviceDeploymentId(using: &generator)),
            serviceArn: record.arn,
            clusterArn: service.clusterArn,
            createdAt: now,
            startedAt: now,
            updatedAt: now,
            sourceServiceRevisions: sources.map { ServiceRevisionSummary(arn: $0) },
            targetServiceRevision: ServiceRevisionSummary(arn: revision.serviceRevisionArn),
            status: .inProgress,
            deploymentConfiguration: service.deploymentConfiguration,
            deploymentCircuitBreaker: ServiceDeploymentCircuitBreaker(
                status: breaker?.enable == true ? .monitoring : .disabled, failureCount: 0,
                threshold: settings.circuitBreakerThreshold(desired: deployment.desiredCount ?? 0)),
            alarms: ServiceDeploymentAlarms(status: .disabled)
        )
        putServiceDeployment(serviceDeployment, changes: &changes)
        revisions[deploymentId] = revision.serviceRevisionArn
        deployments[deploymentId] = serviceDeployment.serviceDeploymentArn
        record.scheduler.revisionOfDeployment = revisions
        record.scheduler.serviceDeploymentOf = deployments
        record.service.currentServiceDeployment = serviceDeployment.serviceDeploymentArn
    }

    /// A rolling deployment completed: its service deployment succeeded (or its rollback did).
    mutating func serviceDeploymentCompleted(_ record: ServiceRecord, deploymentId: String, now: Date, changes: inout ChangeSet) {
        guard var deployment = serviceDeployment(of: record, deploymentId: deploymentId) else { return }
        switch deployment.status {
        case .inProgress, .pending: deployment.status = .successful
        case .rollbackInProgress, .rollbackRequested: deployment.status = .rollbackSuccessful
        default: return
        }
        deployment.finishedAt = now
        deployment.updatedAt = now
        if deployment.deploymentCircuitBreaker?.status == .monitoring { deployment.deploymentCircuitBreaker?.status = .monitoringComplete }
        putServiceDeployment(deployment, changes: &changes)
    }

    /// A task of a rolling deployment failed: counted; when the circuit breaker trips, the service
    /// deployment is stopped, or rolls back when the breaker says so.
    mutating func serviceDeploymentTaskFailed(
        _ record: ServiceRecord, deploymentId: String, failures: Int, tripped: Bool, rollingBack: Bool, now: Date, changes: inout ChangeSet
    ) {
        guard var deployment = serviceDeployment(of: record, deploymentId: deploymentId), deployment.status?.isOngoing == true else { return }
        deployment.deploymentCircuitBreaker?.failureCount = failures
        deployment.updatedAt = now
        if tripped, deployment.status == .rollbackInProgress || deployment.status == .rollbackRequested {
            // The rollback's own tasks fail: nothing earlier to go to.
            deployment.status = .rollbackFailed
            deployment.statusReason = "ECS deployment circuit breaker: the rollback's tasks failed to start."
            deployment.finishedAt = now
        } else if tripped {
            deployment.deploymentCircuitBreaker?.status = .triggered
            deployment.statusReason = "ECS deployment circuit breaker: tasks failed to start."
            if rollingBack {
                deployment.status = .rollbackRequested
            } else {
                deployment.status = .stopped
                deployment.stoppedAt = now
            }
        }
        putServiceDeployment(deployment, changes: &changes)
    }

    /// The scheduler started rolling back `failedId`: its service deployment rolls back to the
    /// revision that ran `taskDefinition`, and the rollback's rolling deployment belongs to it.
    mutating func serviceDeploymentRollingBack(
        _ record: inout ServiceRecord, failedId: String, rollback: Deployment, now: Date, changes: inout ChangeSet
    ) {
        guard let rollbackId = rollback.id, let arn = record.scheduler.serviceDeploymentOf?[failedId], var deployment = serviceDeployments[arn],
            deployment.status == .rollbackRequested || deployment.status == .inProgress
        else { return }
        let candidates = (deployment.sourceServiceRevisions ?? []).compactMap(\.arn) + [record.scheduler.lastCompletedRevision].compactMap { $0 }
        let target = candidates.compactMap { serviceRevisions[$0] }.first { $0.taskDefinition == rollback.taskDefinition }?.serviceRevisionArn
        deployment.status = .rollbackInProgress
        deployment.rollback = Rollback(
            reason: deployment.statusReason ?? "Rolled back on request.", startedAt: now, serviceRevisionArn: target)
        deployment.updatedAt = now
        putServiceDeployment(deployment, changes: &changes)
        record.scheduler.serviceDeploymentOf?[rollbackId] = arn
        if let target { record.scheduler.revisionOfDeployment?[rollbackId] = target }
    }

    /// A rollback asked for could not start (nothing else completed before): its service
    /// deployment ends ROLLBACK_FAILED rather than waiting for ever.
    mutating func serviceDeploymentRollbackImpossible(_ record: ServiceRecord, deploymentId: String, now: Date, changes: inout ChangeSet) {
        guard var deployment = serviceDeployment(of: record, deploymentId: deploymentId), deployment.status == .rollbackRequested else { return }
        deployment.status = .rollbackFailed
        deployment.statusReason = "No earlier service revision completed: there is nothing to roll back to."
        deployment.finishedAt = now
        deployment.updatedAt = now
        putServiceDeployment(deployment, changes: &changes)
    }

    /// The service was deleted: its deployment still going stops.
    mutating func serviceDeploymentServiceDeleted(_ record: ServiceRecord, now: Date, changes: inout ChangeSet) {
        guard let arn = record.service.currentServiceDeployment, var deployment = serviceDeployments[arn], deployment.status?.isOngoing == true
        else { return }
        deployment.status = .stopped
        deployment.statusReason = "Stopped: the service was deleted."
        deployment.stoppedAt = now
        deployment.updatedAt = now
        putServiceDeployment(deployment, changes: &changes)
    }

    // MARK: Operations

    public func listServiceDeployments(_ request: ListServiceDeploymentsRequest) throws(AWSError) -> ListServiceDeploymentsResponse {
        let clusterName = try activeClusterName(request.cluster)
        let record = try existingService(request.service, cluster: clusterName)
        let statuses = request.status.map(Set.init)
        let found = (serviceDeploymentsByService[record.arn] ?? []).compactMap { serviceDeployments[$0] }.filter { deployment in
            if let statuses, !statuses.contains(deployment.status ?? .pending) { return false }
            if let before = request.createdAt?.before, (deployment.createdAt ?? .distantPast) >= before { return false }
            if let after = request.createdAt?.after, (deployment.createdAt ?? .distantPast) <= after { return false }
            return true
        }
        // Newest first.
        let keyed = found.map { (key: Self.newestFirstKey($0), deployment: $0) }.sorted { $0.key < $1.key }
        let (page, token) = try Pagination.page(
            keyed, key: \.key, maxResults: request.maxResults ?? 20, nextToken: request.nextToken, comesAfter: >)
        return ListServiceDeploymentsResponse(
            serviceDeployments: page.map {
                let deployment = $0.deployment
                return ServiceDeploymentBrief(
                    serviceDeploymentArn: deployment.serviceDeploymentArn, serviceArn: deployment.serviceArn, clusterArn: deployment.clusterArn,
                    startedAt: deployment.startedAt, createdAt: deployment.createdAt, finishedAt: deployment.finishedAt,
                    targetServiceRevisionArn: deployment.targetServiceRevision?.arn, status: deployment.status,
                    statusReason: deployment.statusReason)
            },
            nextToken: token)
    }

    public func describeServiceDeployments(_ request: DescribeServiceDeploymentsRequest) throws(AWSError) -> DescribeServiceDeploymentsResponse {
        try Self.checkDescribedCount(request.serviceDeploymentArns.count, kind: "serviceDeploymentArns")
        var found: [ServiceDeployment] = []
        var failures: [Failure] = []
        for arn in request.serviceDeploymentArns {
            if let deployment = serviceDeployments[arn] {
                found.append(serviceDeploymentView(deployment))
            } else {
                failures.append(Failure(arn: arn, reason: "MISSING"))
            }
        }
        return DescribeServiceDeploymentsResponse(serviceDeployments: found, failures: failures)
    }

    public func describeServiceRevisions(_ request: DescribeServiceRevisionsRequest) throws(AWSError) -> DescribeServiceRevisionsResponse {
        try Self.checkDescribedCount(request.serviceRevisionArns.count, kind: "serviceRevisionArns")
        var found: [ServiceRevision] = []
        var failures: [Failure] = []
        for arn in request.serviceRevisionArns {
            if let revision = serviceRevisions[arn] { found.append(revision) } else { failures.append(Failure(arn: arn, reason: "MISSING")) }
        }
        return DescribeServiceRevisionsResponse(serviceRevisions: found, failures: failures)
    }

    /// Rolls an ongoing service deployment back to the revision that ran before it (ROLLBACK, the
    /// only stop ECS offers), whether or not its circuit breaker rolls back.
    public mutating func stopServiceDeployment(
        _ request: StopServiceDeploymentRequest,
        now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> StopServiceDeploymentResponse {
        let arn = request.serviceDeploymentArn
        guard var deployment = serviceDeployments[arn] else {
            throw AWSError(
                type: "ServiceDeploymentNotFoundException",
                message: "The service deployment \(arn) does not exist. You can use ListServiceDeployments to retrieve the service deployment ARNs.")
        }
        if let type = request.stopType, type != .rollback {
            throw .invalidParameter("Invalid stopType \(type.rawValue): the only supported stop type is ROLLBACK.")
        }
        switch deployment.status {
        case .rollbackRequested, .rollbackInProgress, .stopRequested:
            return StopServiceDeploymentResponse(serviceDeploymentArn: arn)
        case .pending, .inProgress:
            break
        default:
            throw AWSError(
                type: "ConflictException",
                message: "The service deployment is \(deployment.status?.rawValue ?? "") and can no longer be stopped.")
        }
        guard let serviceArn = deployment.serviceArn, var record = services[serviceArn], record.service.serviceStatus == .active,
            record.service.currentServiceDeployment == arn
        else {
            throw AWSError(type: "ConflictException", message: "The service deployment is no longer its service's current deployment.")
        }
        guard let source = (deployment.sourceServiceRevisions ?? []).compactMap(\.arn).compactMap({ serviceRevisions[$0] }).first,
            let target = source.taskDefinition
        else {
            throw AWSError(type: "ConflictException", message: "The service deployment has no earlier service revision to roll back to.")
        }
        deployment.status = .rollbackRequested
        deployment.statusReason = "Rollback requested by StopServiceDeployment."
        deployment.updatedAt = now
        putServiceDeployment(deployment, changes: &changes)
        record.scheduler.rollbackPending = true
        record.scheduler.rollbackTarget = target
        record.scheduler.rollbackRevision = source.serviceRevisionArn
        putService(record, changes: &changes)
        return StopServiceDeploymentResponse(serviceDeploymentArn: arn)
    }

    // MARK: Views

    /// A service deployment with its revisions' task counts as they are now.
    func serviceDeploymentView(_ deployment: ServiceDeployment) -> ServiceDeployment {
        var deployment = deployment
        guard let record = deployment.serviceArn.flatMap({ services[$0] }) else { return deployment }
        let counts = revisionCounts(record)
        func summary(_ arn: String?) -> ServiceRevisionSummary {
            let count = arn.flatMap { counts[$0] } ?? (0, 0, 0)
            return ServiceRevisionSummary(arn: arn, requestedTaskCount: count.requested, runningTaskCount: count.running, pendingTaskCount: count.pending)
        }
        deployment.sourceServiceRevisions = deployment.sourceServiceRevisions?.map { summary($0.arn) }
        deployment.targetServiceRevision = deployment.targetServiceRevision.map { summary($0.arn) }
        return deployment
    }

    /// The revisions a service runs now, with their tasks (DescribeServices'
    /// `currentServiceRevisions`).
    func currentServiceRevisions(_ record: ServiceRecord) -> [ServiceCurrentRevisionSummary] {
        revisionCounts(record).sorted { $0.key < $1.key }.map {
            ServiceCurrentRevisionSummary(arn: $0.key, requestedTaskCount: $0.value.requested, runningTaskCount: $0.value.running, pendingTaskCount: $0.value.pending)
        }
    }

    /// Per revision of a service's rolling deployments: the tasks asked of it (the primary
    /// deployment's count) and its live tasks.
    private func revisionCounts(_ record: ServiceRecord) -> [String: (requested: Int, running: Int, pending: Int)] {
        let revisionOf = record.scheduler.revisionOfDeployment ?? [:]
        let byDeployment = serviceTaskCounts(record).byDeployment
        var counts: [String: (requested: Int, running: Int, pending: Int)] = [:]
        for deployment in record.service.deployments ?? [] {
            guard let id = deployment.id, let revision = revisionOf[id] else { continue }
            let tasks = byDeployment[id] ?? (0, 0)
            var count = counts[revision] ?? (0, 0, 0)
            if deployment.deploymentStatus == .primary { count.requested += deployment.desiredCount ?? 0 }
            count.running += tasks.running
            count.pending += tasks.pending
            counts[revision] = count
        }
        return counts
    }

    // MARK: Helpers

    private func serviceDeployment(of record: ServiceRecord, deploymentId: String) -> ServiceDeployment? {
        record.scheduler.serviceDeploymentOf?[deploymentId].flatMap { serviceDeployments[$0] }
    }

    mutating func putServiceDeployment(_ deployment: ServiceDeployment, changes: inout ChangeSet) {
        serviceDeployments[deployment.recordKey] = deployment
        serviceDeploymentsByService[deployment.serviceArn ?? "", default: []].insert(deployment.recordKey)
        changes.put(deployment)
    }

    /// Finished deployments older than the retention go, with the revisions nothing kept refers to.
    /// `all`: every deployment and revision of the service (a service made again by the name of a
    /// deleted one starts without its history, as on ECS).
    mutating func expireServiceDeployments(of record: ServiceRecord, now: Date, all: Bool = false, changes: inout ChangeSet) {
        let horizon = now.addingTimeInterval(-Self.serviceDeploymentRetention)
        var kept: [ServiceDeployment] = []
        for arn in serviceDeploymentsByService[record.arn] ?? [] {
            guard let deployment = serviceDeployments[arn] else { continue }
            if all || (deployment.status?.isOngoing != true && (deployment.finishedAt ?? deployment.stoppedAt ?? deployment.createdAt ?? now) < horizon) {
                serviceDeployments[arn] = nil
                serviceDeploymentsByService[record.arn]?.remove(arn)
                changes.delete(ServiceDeployment.self, key: arn)
            } else {
                kept.append(deployment)
            }
        }
        var referenced = Set(kept.flatMap { ($0.sourceServiceRevisions ?? []).compactMap(\.arn) + [$0.targetServiceRevision?.arn, $0.rollback?.serviceRevisionArn].compactMap { $0 } })
        if !all {
            // What the scheduler may still go back to.
            referenced.formUnion((record.scheduler.revisionOfDeployment ?? [:]).values)
            referenced.formUnion([record.scheduler.lastCompletedRevision, record.scheduler.rollbackRevision].compactMap { $0 })
        }
        let expired = serviceRevisions.values.compactMap { revision -> String? in
            guard revision.serviceArn == record.arn, let arn = revision.serviceRevisionArn, !referenced.contains(arn),
                all || (revision.createdAt ?? now) < horizon
            else { return nil }
            return arn
        }
        for arn in expired {
            serviceRevisions[arn] = nil
            changes.delete(ServiceRevision.self, key: arn)
        }
    }

    mutating func putServiceRevision(_ revision: ServiceRevision, changes: inout ChangeSet) {
        serviceRevisions[revision.recordKey] = revision
        changes.put(revision)
    }

    private static func checkDescribedCount(_ count: Int, kind: String) throws(AWSError) {
        guard (1...maxDescribedServiceDeployments).contains(count) else {
            throw .invalidParameter("\(kind) must contain between 1 and \(maxDescribedServiceDeployments) ARNs; got \(count).")
        }
    }

    /// Sorts newest first: the time counted down from a far date, then the ARN.
    private static func newestFirstKey(_ deployment: ServiceDeployment) -> String {
        let milliseconds = Int64(((deployment.createdAt ?? .distantPast).timeIntervalSince1970 * 1000).rounded())
        let countdown = String(max(0, 99_999_999_999_999 - milliseconds))
        return String(repeating: "0", count: max(0, 14 - countdown.count)) + countdown + (deployment.serviceDeploymentArn ?? "")
    }

    /// 22 URL-safe characters, as ECS's deployment ids.
    private static func serviceDeploymentId(using generator: inout some RandomNumberGenerator) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        return String((0..<22).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }
}

extension ServiceDeploymentStatus {
    /// Not yet finished: a newer deployment stops it, StopServiceDeployment may roll it back.
    var isOngoing: Bool {
        switch self {
        case .pending, .inProgress, .stopRequested, .rollbackRequested, .rollbackInProgress: true
        default: false
        }
    }
}

extension ServiceDeployment: StoredRecord {
    public static var recordKind: RecordKind { .serviceDeployments }
    public var recordKey: String { serviceDeploymentArn ?? "" }
}

extension ServiceRevision: StoredRecord {
    public static var recordKind: RecordKind { .serviceRevisions }
    public var recordKey: String { serviceRevisionArn ?? "" }
}

extension RecordKind {
    public static let serviceDeployments = RecordKind("service_deployments")
    public static let serviceRevisions = RecordKind("service_revisions")
}
