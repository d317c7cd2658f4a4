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

/// The service scheduler: one pass keeps every service at its desired count, rolls deployments
/// forward within minimumHealthyPercent/maximumPercent, replaces tasks of lost agents and draining
/// instances, backs off from tasks that keep failing, and trips circuit breakers. Pure: it reads
/// the state and the time it is given and changes the state. Task sets are scheduled in
/// TaskSetScheduling.swift, deployments followed in DeploymentRollouts.swift.
extension ECSState {
    /// Runs one pass over every service that is not INACTIVE.
    public mutating func reconcileServices(
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) {
        finishDraining(now: now, changes: &changes)
        for arn in services.keys.sorted() {
            reconcileService(arn, now: now, using: &generator, changes: &changes)
        }
    }

    mutating func reconcileService(
        _ arn: String,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) {
        guard var record = services[arn], record.service.serviceStatus != .inactive else { return }
        guard let clusterName = ARN(arn)?.firstPathComponent, let cluster = try? activeClusterRef(clusterName) else { return }
        let before = record
        var pass = ServicePass(name: record.name, now: now)

        if record.scheduler.rollbackPending {
            rollBack(&record, now: now, pass: &pass, using: &generator, changes: &changes)
        }
        // Tasks whose agent is gone or whose instance was deregistered are replaced elsewhere.
        for task in liveTasks(of: record) where !isOnHealthyInstance(task) {
            let stopped = requestStop(
                task.arn, code: .serviceSchedulerInitiated,
                reason: "Task stopped because its container instance stopped responding or was deregistered; the service scheduler replaced it.",
                now: now, changes: &changes)
            if stopped != nil { pass.stopped.append(task) }
        }
        if record.isExternallyDeployed {
            reconcileTaskSets(&record, cluster: cluster, pass: &pass, using: &generator, changes: &changes)
            updateTaskSets(&record, pass: &pass, changes: &changes)
        } else {
            switch record.service.schedulingStrategy ?? .replica {
            case .replica: reconcileReplicas(&record, cluster: cluster, pass: &pass, using: &generator, changes: &changes)
            case .daemon: reconcileDaemon(&record, cluster: cluster, pass: &pass, using: &generator, changes: &changes)
            }
            updateDeployments(&record, pass: &pass, changes: &changes)
        }
        if !pass.draining.isEmpty {
            // ECS's words for a deregistration.
            pass.events.append("has begun draining connections on \(Set(pass.draining.map(\.task)).count) tasks.")
            for group in Set(pass.draining.map(\.group)).sorted() {
                pass.events.append("deregistered \(pass.draining.filter { $0.group == group }.count) targets in (target-group \(group))")
            }
        }
        for message in pass.events {
            record.service.events = Self.prepend(event: pass.formatted(message), to: record.service.events, now: now, using: &generator)
        }
        if record != before { putService(record, changes: &changes) }
    }

    // MARK: Replicas

    private mutating func reconcileReplicas(
        _ record: inout ServiceRecord,
        cluster: ClusterRef,
        pass: inout ServicePass,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) {
        let desired = record.service.desiredCount ?? 0
        let configuration = record.service.deploymentConfiguration
        let minimumHealthy = Int((Double(desired) * Double(configuration?.minimumHealthyPercent ?? 100) / 100).rounded(.up))
        let maximumTotal = Int((Double(desired) * Double(configuration?.maximumPercent ?? 200) / 100).rounded(.down))
        guard let primaryIndex = record.service.deployments?.firstIndex(where: { $0.deploymentStatus == .primary }) else { return }
        let primary = record.service.deployments![primaryIndex]
        let primaryId = primary.id ?? ""

        var live = liveTasks(of: record)
        stopUnhealthy(&live, pass: &pass, changes: &changes)

        // Scale in: more tasks of the current deployment than desired (protected tasks stay until
        // their protection ends).
        // A service being deleted stops every task, protected or not.
        let protectionHolds = record.service.serviceStatus != .draining
        func isProtected(_ task: TaskRecord) -> Bool { protectionHolds && task.isProtected(at: pass.now) }
        var keep = live.filter { $0.task.startedBy == primaryId && !isOnDrainingInstance($0) }
        if keep.count > desired {
            for task in scaleInOrder(keep.filter { !isProtected($0) }).prefix(keep.count - desired) {
                stop(task, reason: "Scaling activity initiated by (deployment \(primaryId))", pass: &pass, changes: &changes)
            }
            live.removeAll { pass.isStopped($0) }
            keep.removeAll { pass.isStopped($0) }
        }
        // Tasks of older deployments and on draining instances are replaced: pending ones right away,
        // running ones while enough healthy tasks remain.
        // (A protected task of an older deployment is left until its protection ends, as on ECS:
        // the deployment waits for it.)
        var replaceable = live.filter {
            isOnDrainingInstance($0) || ($0.task.startedBy != primaryId && !isProtected($0))
        }
        for task in replaceable where !task.hasRun {
            stop(task, reason: replacementReason(task, draining: isOnDrainingInstance(task), primaryId: primaryId), pass: &pass, changes: &changes)
        }
        live.removeAll { pass.isStopped($0) }
        replaceable.removeAll { pass.isStopped($0) }
        var healthy = live.filter { isHealthy($0) }.count
        for task in replaceable.sorted(by: { isHealthy($0) ? false : isHealthy($1) }) {
            if isHealthy(task) {
                guard healthy - 1 >= minimumHealthy else { break }
                healthy -= 1
            }
            stop(task, reason: replacementReason(task, draining: isOnDrainingInstance(task), primaryId: primaryId), pass: &pass, changes: &changes)
        }
        live.removeAll { pass.isStopped($0) }
        replaceable.removeAll { pass.isStopped($0) }

        // Scale out / roll forward within maximumPercent.
        let need = max(0, desired - keep.count)
        let room = max(0, maximumTotal - live.count)
        var starts = min(need, room)
        if need > 0, starts == 0, !replaceable.isEmpty, pass.stopped.isEmpty, !live.contains(where: { !$0.hasRun }) {
            pass.warn(
                "was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.",
                last: &record.scheduler.lastDeploymentConfigEventAt, interval: settings.repeatedEventInterval)
        }
        if starts > 0, primary.rolloutState == .failed { starts = 0 }
        if starts > 0, let next = record.scheduler.nextLaunchAt, pass.now < next {
            starts = 0
            pass.warn("is unable to consistently start tasks successfully.", last: &record.scheduler.lastThrottleEventAt, interval: settings.repeatedEventInterval)
        }
        guard starts > 0 else { return }
        launch(starts, for: &record, deployment: primary, cluster: cluster, onlyOn: nil, pass: &pass, using: &generator, changes: &changes)
    }

    /// Unhealthy tasks are replaced: they do not count as healthy, so stopping them never costs
    /// health. They leave `live`.
    mutating func stopUnhealthy(_ live: inout [TaskRecord], pass: inout ServicePass, changes: inout ChangeSet) {
        for task in live where task.lastStatus == .running && task.task.healthStatus == .unhealthy {
            stop(task, reason: "Task failed container health checks", pass: &pass, changes: &changes)
        }
        live.removeAll { pass.isStopped($0) }
    }

    func replacementReason(_ task: TaskRecord, draining: Bool, primaryId: String) -> String {
        if draining, let instance = task.task.containerInstanceArn {
            return "Task stopped because container instance \(ARN(instance)?.lastPathComponent ?? instance) is draining"
        }
        return "Scaling activity initiated by (deployment \(primaryId))"
    }

    /// The order to stop tasks in when scaling in: not yet running first, then from the instances
    /// holding the most tasks of the service (keeps the spread), newest first.
    func scaleInOrder(_ tasks: [TaskRecord]) -> [TaskRecord] {
        var perInstance: [String: Int] = [:]
        for task in tasks { perInstance[task.task.containerInstanceArn ?? "", default: 0] += 1 }
        return tasks.sorted { a, b in
            if a.hasRun != b.hasRun { return !a.hasRun }
            let crowdA = perInstance[a.task.containerInstanceArn ?? ""] ?? 0
            let crowdB = perInstance[b.task.containerInstanceArn ?? ""] ?? 0
            if crowdA != crowdB { return crowdA > crowdB }
            return (a.task.createdAt ?? .distantPast) > (b.task.createdAt ?? .distantPast)
        }
    }

    // MARK: Daemons

    private mutating func reconcileDaemon(
        _ record: inout ServiceRecord,
        cluster: ClusterRef,
        pass: inout ServicePass,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) {
        guard let primary = record.service.deployments?.first(where: { $0.deploymentStatus == .primary }),
            let definition = primary.taskDefinition.flatMap({ try? taskDefinition($0) })
        else { return }
        let clusterName = cluster.name
        let primaryId = primary.id ?? ""
        let draining = record.service.serviceStatus == .draining
        let request = try? placementRequest(
            definition: definition, overrides: nil, count: 1, group: "service:\(record.name)", strategies: [],
            constraints: record.service.placementConstraints ?? [], defaultRules: [.random])
        var byInstance: [String: [TaskRecord]] = [:]
        for task in liveTasks(of: record) { byInstance[task.task.containerInstanceArn ?? "", default: []].append(task) }

        var eligible = 0
        var targets: [String] = []
        for slot in capacity[clusterName]?.slots ?? [] {
            let present = byInstance.removeValue(forKey: slot.arn) ?? []
            // Placement checks ignore this service's own task on the instance.
            let fits: Bool = {
                guard let request, slot.status == .active, slot.connected else { return false }
                var relaxed = slot
                for task in present where task.holdsResources {
                    relaxed.cpuRemaining += task.requirements.cpu
                    relaxed.memoryRemaining += task.requirements.memory
                    relaxed.tcpPortsInUse.subtract(task.requirements.tcpPorts)
                    relaxed.udpPortsInUse.subtract(task.requirements.udpPorts)
                }
                return PlacementEngine.check(request, relaxed) == nil
            }()
            let wanted = fits && !draining
            if wanted { eligible += 1 }
            let keeper = present.first { $0.task.startedBy == primaryId }
            for task in present where !wanted || task.arn != keeper?.arn {
                let reason =
                    slot.status == .draining
                    ? "Task stopped because container instance \(slot.id) is draining"
                    : "Scaling activity initiated by (deployment \(primaryId))"
                stop(task, reason: reason, pass: &pass, changes: &changes)
            }
            // Start once the instance no longer runs an older daemon task.
            if wanted, present.isEmpty { targets.append(slot.arn) }
        }
        // Daemon tasks on instances that left the cluster were handled as lost above.
        record.service.desiredCount = draining ? 0 : eligible
        if let index = record.service.deployments?.firstIndex(where: { $0.deploymentStatus == .primary }) {
            record.service.deployments![index].desiredCount = record.service.desiredCount
        }
        if primary.rolloutState == .failed { return }
        if let next = record.scheduler.nextLaunchAt, pass.now < next, !targets.isEmpty {
            pass.warn("is unable to consistently start tasks successfully.", last: &record.scheduler.lastThrottleEventAt, interval: settings.repeatedEventInterval)
            return
        }
        for target in targets {
            launch(1, for: &record, deployment: primary, cluster: cluster, onlyOn: target, pass: &pass, using: &generator, changes: &changes)
        }
    }

    // MARK: Launching and stopping

    mutating func launch(
        _ count: Int,
        for record: inout ServiceRecord,
        deployment: Deployment,
        cluster: ClusterRef,
        onlyOn instance: String?,
        pass: inout ServicePass,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) {
        let clusterName = cluster.name
        guard let definition = deployment.taskDefinition.flatMap({ try? taskDefinition($0) }) else { return }
        let group = "service:\(record.name)"
        guard var request = try? placementRequest(
            definition: definition, overrides: nil, count: count, group: group,
            strategies: record.service.placementStrategy ?? [], constraints: record.service.placementConstraints ?? [],
            defaultRules: PlacementRule.serviceDefault)
        else { return }
        // A daemon goes on the instance chosen for it, whatever its provider. Replicas through
        // capacity providers are spread over the strategy, counting the service's live tasks, and
        // each provider's share is placed on its instances or waits in PROVISIONING for them.
        let strategy = instance != nil ? nil : effectiveStrategy(deployment.capacityProviderStrategy, cluster: cluster.cluster, launchType: deployment.launchType)
        var batches: [(provider: String?, count: Int)] = [(nil, count)]
        if let strategy {
            let existing = Dictionary(
                liveTasks(of: record).compactMap { task in task.task.capacityProviderName.map { ($0, 1) } }, uniquingKeysWith: +)
            batches = CapacityProviderDistribution.batches(CapacityProviderDistribution.assign(count, strategy: strategy, existing: existing))
                .map { ($0.provider, $0.count) }
        }
        var placedCount = 0
        var waiting = 0
        var closest: (arn: String, reason: PlacementFailureReason)?
        var started: [String] = []
        for batch in batches {
            request.count = batch.count
            request.capacityProviders = batch.provider.map { [$0] }
            var placed: [String] = []
            if let instance {
                if let slot = capacity[clusterName]?[instance] {
                    if let reason = PlacementEngine.check(request, slot) { closest = (instance, reason) } else { placed = [instance] }
                    changes.tally(Self.placementTally(placed.isEmpty ? closest?.reason.rawValue ?? "NO_INSTANCES" : "placed"))
                }
            } else if capacity[clusterName]?.isEmpty == false {
                let result = place(request, inCluster: clusterName, using: &generator, changes: &changes)
                for arn in result.placed { capacity[clusterName]?.release(request.requirements, group: group, on: arn, wasRunning: false) }
                placed = result.placed
                closest = result.closest ?? closest
            }
            let spec = LaunchSpec(
                definition: definition, overrides: nil, group: group, startedBy: deployment.id, serviceArn: record.arn,
                clientToken: nil, tags: record.service.propagateTags == .service ? (tags[record.arn] ?? []) : [],
                launchType: deployment.launchType, enableExecuteCommand: record.service.enableExecuteCommand ?? false,
                pending: batch.provider.map {
                    PendingPlacement(
                        strategies: record.service.placementStrategy ?? [], constraints: record.service.placementConstraints ?? [],
                        capacityProviders: [$0], since: pass.now)
                })
            for arn in placed {
                let task = launchTask(spec, requirements: request.requirements, on: arn, cluster: cluster, now: pass.now, using: &generator, changes: &changes)
                started.append(ARN(task.arn)?.lastPathComponent ?? task.arn)
            }
            placedCount += placed.count
            // The rest wait in PROVISIONING while managed scaling adds instances.
            if spec.pending != nil, placed.count < batch.count {
                for _ in placed.count..<batch.count {
                    let task = launchTask(spec, requirements: request.requirements, on: nil, cluster: cluster, now: pass.now, using: &generator, changes: &changes)
                    started.append(ARN(task.arn)?.lastPathComponent ?? task.arn)
                    waiting += 1
                }
            }
        }
        if !started.isEmpty {
            pass.events.append("has started \(started.count) tasks: \(started.map { "(task \($0))" }.joined(separator: " ")).")
            pass.changed = true
        }
        if placedCount + waiting < count {
            let detail: String
            if let closest {
                let id = ARN(closest.arn)?.lastPathComponent ?? closest.arn
                detail = "The closest matching (container-instance \(id)) \(closest.reason.eventDetail)"
            } else {
                detail = "Reason: No Container Instances were found in your cluster."
            }
            pass.warn(
                "was unable to place a task because no container instance met all of its requirements. \(detail) For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.",
                last: &record.scheduler.lastPlacementFailureEventAt, interval: settings.repeatedEventInterval)
        }
    }

    mutating func stop(_ task: TaskRecord, reason: String, pass: inout ServicePass, changes: inout ChangeSet) {
        guard !pass.isStopped(task) else { return }
        // A task behind a target group drains first: deregistered now, stopped after the delay.
        let groups = task.serviceArn.flatMap { services[$0] }.map { $0.loadBalancers(of: task).compactMap(\.targetGroupArn) } ?? []
        let drain = !groups.isEmpty && settings.deregistrationDelay > 0 && task.lastStatus == .running
        if requestStop(task.arn, code: .serviceSchedulerInitiated, reason: reason, now: pass.now, drain: drain, changes: &changes) != nil {
            pass.stopped.append(task)
            pass.changed = true
            if drain { pass.draining.append(contentsOf: groups.map { ($0, task.arn) }) }
        }
    }

    /// Tasks DEACTIVATING whose deregistration delay has passed go on to STOPPING: their agents
    /// are told to stop them now.
    /// Every DEACTIVATING task counts, whatever its service has become since (load balancers
    /// removed, the service deleted or made again).
    public mutating func finishDraining(now: Date, changes: inout ChangeSet) {
        guard !deactivatingTasks.isEmpty else { return }
        for arn in deactivatingTasks.sorted() {
            guard let task = tasks[arn], task.lastStatus == .deactivating else { continue }
            guard now.timeIntervalSince(task.task.stoppingAt ?? now) >= settings.deregistrationDelay else { continue }
            tellAgentToStop(task, changes: &changes)
        }
    }

    /// A DEACTIVATING task's agent is told to stop it now.
    mutating func tellAgentToStop(_ record: TaskRecord, changes: inout ChangeSet) {
        var task = record
        guard let instance = task.task.containerInstanceArn else { return }
        task.lastStatus = .stopping
        task.task.version = (task.task.version ?? 0) + 1
        task.assignmentSequence = nextAssignmentSequence(changes: &changes)
        changes.assignedInstances.insert(instance)
        putTask(task, changes: &changes)
    }

    // MARK: Helpers

    func liveTasks(of record: ServiceRecord) -> [TaskRecord] {
        (tasksByService[record.arn] ?? []).compactMap { tasks[$0] }.filter { $0.desiredStatus == .running && !$0.isStopped }
            .sorted { $0.arn < $1.arn }
    }

    func isOnDrainingInstance(_ task: TaskRecord) -> Bool {
        instanceStatus(task) == .draining
    }

    func instanceStatus(_ task: TaskRecord) -> InstanceStatus? {
        guard let arn = task.task.containerInstanceArn else { return nil }
        return capacity[clusterName(ofInstance: arn)]?[arn]?.status
    }

    /// On an instance that is registered and whose agent is connected.
    func isOnHealthyInstance(_ task: TaskRecord) -> Bool {
        guard let arn = task.task.containerInstanceArn else { return true }
        guard let slot = capacity[clusterName(ofInstance: arn)]?[arn] else { return false }
        return slot.connected
    }

    /// RUNNING, and HEALTHY when its essential containers have health checks.
    package func isHealthy(_ task: TaskRecord) -> Bool {
        guard task.lastStatus == .running, task.task.healthStatus != .unhealthy else { return false }
        guard let definition = task.task.taskDefinitionArn.flatMap({ try? taskDefinition($0) }) else { return true }
        let checked = (definition.containerDefinitions ?? []).contains { $0.essential != false && $0.healthCheck != nil }
        return !checked || task.task.healthStatus == .healthy
    }

    static func prepend(
        event message: String,
        to events: [ServiceEvent]?,
        now: Date,
        using generator: inout some RandomNumberGenerator
    ) -> [ServiceEvent] {
        var list = events ?? []
        list.insert(ServiceEvent(id: Identifiers.uuid(using: &generator), createdAt: now, message: message), at: 0)
        if list.count > maxServiceEvents { list.removeLast(list.count - maxServiceEvents) }
        return list
    }

    static func prependDeterministic(event message: String, to events: [ServiceEvent]?, now: Date, seed: Int) -> [ServiceEvent] {
        var generator = Xoshiro256(seed: UInt64(now.timeIntervalSince1970 * 1000) &+ UInt64(seed))
        return prepend(event: message, to: events, now: now, using: &generator)
    }
}

/// What one pass over a service did, to report it as events.
struct ServicePass {
    let name: String
    let now: Date
    var stopped: [TaskRecord] = []
    /// Tasks deregistered from target groups in this pass.
    var draining: [(group: String, task: String)] = []
    var events: [String] = []
    var changed = false

    init(name: String, now: Date) {
        self.name = name
        self.now = now
    }

    func isStopped(_ task: TaskRecord) -> Bool { stopped.contains { $0.arn == task.arn } }

    /// A warning that repeats at most once per `interval`.
    mutating func warn(_ message: String, last: inout Date?, interval: TimeInterval) {
        if let last, now.timeIntervalSince(last) < interval { return }
        last = now
        events.append(message)
    }
}

extension ServicePass {
    /// Event messages carry the service name first, as ECS's do.
    func formatted(_ message: String) -> String { "(service \(name)) \(message)" }
}
