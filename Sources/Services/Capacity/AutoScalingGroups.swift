#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECS
import ECSShapes
import StevedoreCore
import HashTreeCollections

/// An auto scaling group of Stevedore's own (the part of EC2 Auto Scaling a capacity provider
/// needs): min/max/desired instances, launched and terminated by a launcher. Field names follow
/// EC2 Auto Scaling's API so its documentation reads across.
public struct AutoScalingGroupRecord: StoredRecord, Equatable {
    /// How instances come and go.
    public struct Launcher: Codable, Sendable, Equatable {
        public enum Kind: String, Codable, Sendable, CaseIterable {
            /// `ecs-agent` processes on the control plane's host (for trying things out and tests).
            case local
            /// A program run with STEVEDORE_ACTION=launch|terminate and the instance in its environment.
            case command
            /// An HTTP POST of the same facts as JSON.
            case webhook
        }

        public var `Type`: Kind
        /// The program and its arguments (command launcher).
        public var Command: [String]?
        /// Where to POST (webhook launcher).
        public var Url: String?
        /// ecs.config settings for the agents the local launcher starts (e.g. ECS_RESERVED_MEMORY).
        public var AgentConfig: [String: String]?

        public init(type: Kind, command: [String]? = nil, url: String? = nil, agentConfig: [String: String]? = nil) {
            self.Type = type
            self.Command = command
            self.Url = url
            self.AgentConfig = agentConfig
        }
    }

    /// EC2 Auto Scaling's lifecycle states, the ones Stevedore passes through.
    public enum LifecycleState: String, Codable, Sendable {
        /// Launched; its agent has not registered yet.
        case pending = "Pending"
        case inService = "InService"
        /// Chosen for removal: its container instance drains first.
        case terminatingWait = "Terminating:Wait"
        /// Drained (or never registered): the launcher is terminating it.
        case terminatingProceed = "Terminating:Proceed"
    }

    public struct Instance: Codable, Sendable, Equatable {
        public var InstanceId: String
        public var LifecycleState: LifecycleState
        public var HealthStatus: String
        /// Managed termination protection: set while tasks run on it.
        public var ProtectedFromScaleIn: Bool
        public var LaunchTime: Date
        public var ContainerInstanceArn: String?
        /// The local launcher's agent process.
        public var ProcessId: Int32?
        /// Why it is being terminated, for the activity.
        public var TerminationCause: String?
        /// After a failed termination: not retried before this.
        public var RetryAfter: Date?
    }

    public struct Activity: Codable, Sendable, Equatable {
        public var ActivityId: String
        public var AutoScalingGroupName: String
        public var Description: String
        public var Cause: String
        public var StartTime: Date
        public var EndTime: Date?
        /// Successful, Failed or InProgress.
        public var StatusCode: String
        public var StatusMessage: String?
    }

    public var AutoScalingGroupName: String
    public var AutoScalingGroupARN: String
    public var MinSize: Int
    public var MaxSize: Int
    public var DesiredCapacity: Int
    public var Launcher: Launcher
    public var Instances: [Instance] = []
    public var CreatedTime: Date
    /// "Delete in progress" once a forced delete waits for its instances to go.
    public var Status: String?
    /// Newest first, at most ``CapacityState/groupActivityHistory``.
    public var Activities: [Activity] = []
    /// After a failed launch: no new launch before this.
    public var LaunchRetryAfter: Date?

    public static var recordKind: RecordKind { .autoScalingGroups }
    public var recordKey: String { AutoScalingGroupName }

    /// Instances that are, or are about to be, capacity.
    public var activeInstances: [Instance] { Instances.filter { $0.LifecycleState == .pending || $0.LifecycleState == .inService } }
}

/// What `POST /v1/autoscaling/groups` and `PUT /v1/autoscaling/groups/{name}` take.
public struct AutoScalingGroupInput: Codable, Sendable, Equatable {
    public var AutoScalingGroupName: String?
    public var MinSize: Int?
    public var MaxSize: Int?
    public var DesiredCapacity: Int?
    public var Launcher: AutoScalingGroupRecord.Launcher?
    /// Delete even with instances: they are drained and terminated first.
    public var ForceDelete: Bool?

    public init(name: String? = nil, minSize: Int? = nil, maxSize: Int? = nil, desiredCapacity: Int? = nil, launcher: AutoScalingGroupRecord.Launcher? = nil) {
        self.AutoScalingGroupName = name
        self.MinSize = minSize
        self.MaxSize = maxSize
        self.DesiredCapacity = desiredCapacity
        self.Launcher = launcher
    }
}

public struct AutoScalingGroupsView: Codable, Sendable, Equatable {
    public var AutoScalingGroups: [AutoScalingGroupRecord]
}

extension AWSError {
    static func groupValidation(_ message: String) -> AWSError { AWSError(type: "ValidationError", message: message) }
}

/// Auto scaling groups: their API and the lifecycle of their instances. Pure, like every
/// operation on a service's state; the capacity loop in `ControlPlane` does the launching.
extension CapacityState {
    public static let groupActivityHistory = 100
    /// A launcher that failed is not asked again before this many seconds.
    public static let launcherRetryDelay: TimeInterval = 10
    /// Instances an agent has not registered from within this long are replaced (EC2 Auto
    /// Scaling's health check grace period; instanceWarmupPeriod is about metrics, not this).
    public static let registrationGracePeriod: TimeInterval = 300

    public mutating func createAutoScalingGroup(
        _ input: AutoScalingGroupInput, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) throws(AWSError) -> AutoScalingGroupRecord {
        guard let name = input.AutoScalingGroupName, NameRules.isValidName(name) else {
            throw .groupValidation(
                "AutoScalingGroupName is required: up to 255 letters, numbers, underscores and hyphens; got '\(input.AutoScalingGroupName ?? "")'.")
        }
        guard groups[name] == nil else {
            throw AWSError(type: "AlreadyExists", message: "AutoScalingGroup by this name already exists: \(name).")
        }
        guard let launcher = input.Launcher else {
            throw .groupValidation("Launcher is required: {\"Type\": \"local\"}, {\"Type\": \"command\", \"Command\": [...]} or {\"Type\": \"webhook\", \"Url\": \"...\"}.")
        }
        try validateLauncher(launcher)
        let minimum = input.MinSize ?? 0
        let maximum = input.MaxSize ?? max(minimum, 1)
        let desired = input.DesiredCapacity ?? minimum
        try validateSizes(minimum: minimum, maximum: maximum, desired: desired)
        let record = AutoScalingGroupRecord(
            AutoScalingGroupName: name,
            AutoScalingGroupARN: "arn:\(names.partition):autoscaling:\(names.region):\(names.accountId):autoScalingGroup:\(Identifiers.uuid(using: &generator)):autoScalingGroupName/\(name)",
            MinSize: minimum, MaxSize: maximum, DesiredCapacity: desired, Launcher: launcher, CreatedTime: now)
        groups[name] = record
        changes.put(record)
        return record
    }

    /// Sets min, max and desired (any of them); a new desired count is what the group reconciles to.
    public mutating func updateAutoScalingGroup(_ name: String, _ input: AutoScalingGroupInput, changes: inout ChangeSet) throws(AWSError) -> AutoScalingGroupRecord {
        var record = try autoScalingGroup(name)
        guard record.Status == nil else { throw .groupValidation("AutoScalingGroup \(name) is being deleted.") }
        record.MinSize = input.MinSize ?? record.MinSize
        record.MaxSize = input.MaxSize ?? record.MaxSize
        if let launcher = input.Launcher {
            try validateLauncher(launcher)
            record.Launcher = launcher
        }
        // As EC2 Auto Scaling does: new bounds pull the desired count within them.
        let desired = input.DesiredCapacity ?? min(record.MaxSize, max(record.MinSize, record.DesiredCapacity))
        try validateSizes(minimum: record.MinSize, maximum: record.MaxSize, desired: desired)
        record.DesiredCapacity = desired
        groups[name] = record
        changes.put(record)
        return record
    }

    /// Deletes a group: at once when it has no instances, after terminating them with ForceDelete.
    public mutating func deleteAutoScalingGroup(_ name: String, force: Bool, changes: inout ChangeSet) throws(AWSError) {
        var record = try autoScalingGroup(name)
        if let provider = providers.values.first(where: {
            $0.provider.status == .active && $0.provider.autoScalingGroupProvider?.autoScalingGroupArn == record.AutoScalingGroupARN
        }) {
            throw AWSError(
                type: "ResourceInUse",
                message: "AutoScalingGroup \(name) is used by capacity provider \(provider.provider.name ?? ""); delete the capacity provider first.")
        }
        if record.Instances.isEmpty {
            groups[name] = nil
            changes.delete(AutoScalingGroupRecord.self, key: name)
            return
        }
        guard force else {
            throw AWSError(
                type: "ResourceInUse",
                message: "AutoScalingGroup \(name) has \(record.Instances.count) instance(s); set its desired capacity to 0 first, or pass ForceDelete to drain and terminate them.")
        }
        record.Status = "Delete in progress"
        record.MinSize = 0
        record.DesiredCapacity = 0
        groups[name] = record
        changes.put(record)
    }

    public func autoScalingGroup(_ reference: String) throws(AWSError) -> AutoScalingGroupRecord {
        if let record = groups[reference] ?? groups.values.first(where: { $0.AutoScalingGroupARN == reference }) {
            return record
        }
        throw AWSError(type: "ValidationError", message: "AutoScalingGroup name not found: \(reference).", httpStatus: 404)
    }

    public func describeAutoScalingGroups() -> AutoScalingGroupsView {
        AutoScalingGroupsView(AutoScalingGroups: groups.keys.sorted().compactMap { groups[$0] })
    }

    private func validateLauncher(_ launcher: AutoScalingGroupRecord.Launcher) throws(AWSError) {
        switch launcher.Type {
        case .local:
            break
        case .command:
            guard let command = launcher.Command, let program = command.first, !program.isEmpty else {
                throw .groupValidation("A command launcher needs Command: the program and its arguments, e.g. [\"/usr/local/bin/launch-vm\"].")
            }
        case .webhook:
            guard let url = launcher.Url, url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw .groupValidation("A webhook launcher needs Url: an http:// or https:// address to POST to.")
            }
        }
        for key in (launcher.AgentConfig ?? [:]).keys where !key.hasPrefix("ECS_") {
            throw .groupValidation("AgentConfig keys are ecs.config settings (ECS_...); got '\(key)'.")
        }
    }

    private func validateSizes(minimum: Int, maximum: Int, desired: Int) throws(AWSError) {
        guard minimum >= 0, maximum >= minimum, maximum <= 1000 else {
            throw .groupValidation("MinSize (\(minimum)) must be 0 or more and at most MaxSize (\(maximum)), which can be at most 1000.")
        }
        guard (minimum...maximum).contains(desired) else {
            throw .groupValidation("Desired capacity:\(desired) must be between the specified min size:\(minimum) and max size:\(maximum)")
        }
    }
}

extension CapacityState {
    /// The capacity provider (ACTIVE) that uses a group, if any.
    public func capacityProvider(usingGroup arn: String) -> CapacityProviderRecord? {
        providers.values.first { $0.provider.status == .active && $0.provider.autoScalingGroupProvider?.autoScalingGroupArn == arn }
    }

    /// The cluster a group's instances join: the one its capacity provider is attached to.
    public func cluster(in ecs: ECSState, forGroup record: AutoScalingGroupRecord) -> String? {
        guard let provider = capacityProvider(usingGroup: record.AutoScalingGroupARN)?.provider.name else { return nil }
        return ecs.clusters.values.first { $0.clusterStatus == .active && ($0.capacityProviders ?? []).contains(provider) }?.clusterName
    }

    /// Records what the launcher did with a launch.
    public mutating func recordLaunch(
        group name: String, instanceId: String, processId: Int32?, error: String?, now: Date,
        using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) {
        guard var record = groups[name], let index = record.Instances.firstIndex(where: { $0.InstanceId == instanceId }) else { return }
        if let activity = record.Activities.firstIndex(where: { $0.Description.hasSuffix(instanceId) && $0.StatusCode == "InProgress" }) {
            record.Activities[activity].EndTime = now
            record.Activities[activity].StatusCode = error == nil ? "Successful" : "Failed"
            record.Activities[activity].StatusMessage = error
        }
        if let error {
            // The launcher may have created it before failing (a timeout): ask it to terminate.
            record.Instances[index].LifecycleState = .terminatingProceed
            record.Instances[index].HealthStatus = "Unhealthy"
            record.Instances[index].TerminationCause = "an instance was taken out of service in response to a failed launch: \(error)"
            record.LaunchRetryAfter = now.addingTimeInterval(Self.launcherRetryDelay)
        } else {
            record.Instances[index].ProcessId = processId
            record.LaunchRetryAfter = nil
        }
        groups[name] = record
        changes.put(record)
    }
}

/// Reads of ECS's state the groups decide on.
extension ECSState {
    /// Tasks on a container instance that have not stopped yet (including those still stopping,
    /// whose containers an instance's termination would kill).
    func liveTaskCount(onInstance arn: String) -> Int {
        (tasksByInstance[arn] ?? []).reduce(0) { count, taskArn in
            guard let task = tasks[taskArn], !task.isStopped else { return count }
            return count + 1
        }
    }

    /// Whether an instance runs work that makes it busy for managed scaling and termination
    /// protection: any task not stopped, except those of DAEMON services (as on ECS, they run
    /// on every instance and would otherwise keep every instance busy).
    func isBusy(_ arn: String) -> Bool {
        (tasksByInstance[arn] ?? []).contains { taskArn in
            guard let task = tasks[taskArn], !task.isStopped else { return false }
            guard let service = task.serviceArn.flatMap({ services[$0] }) else { return true }
            return service.service.schedulingStrategy != .daemon
        }
    }

    /// Sets a container instance DRAINING so the service scheduler moves what runs there.
    mutating func drainForTermination(_ arn: String, changes: inout ChangeSet) {
        guard var instance = instances[arn], instance.instanceStatus == .active else { return }
        instance.instanceStatus = .draining
        instance.version = (instance.version ?? 0) + 1
        putInstance(instance, changes: &changes)
    }
}

/// The groups' instances as they meet ECS's container instances.
extension CapacityHost {
    /// Called when a container instance registers: links it to its group's instance (same
    /// instance id) and gives it the group's capacity provider (or, when the group is removing
    /// that instance, keeps it DRAINING).
    public mutating func linkRegisteredInstance(_ arn: String, changes: inout ChangeSet) {
        guard var instance = ecs.instances[arn] else { return }
        let before = instance
        linkToGroup(&instance, cluster: ecs.clusterName(ofInstance: arn), changes: &changes)
        if instance != before { ecs.putInstance(instance, changes: &changes) }
    }

    mutating func linkToGroup(_ instance: inout ContainerInstance, cluster: String, changes: inout ChangeSet) {
        guard let id = instance.ec2InstanceId else { return }
        for (name, record) in capacity.groups {
            guard let index = record.Instances.firstIndex(where: { $0.InstanceId == id }) else { continue }
            var updated = record
            let state = updated.Instances[index].LifecycleState
            if state == .pending { updated.Instances[index].LifecycleState = .inService }
            updated.Instances[index].ContainerInstanceArn = instance.containerInstanceArn
            capacity.groups[name] = updated
            changes.put(updated)
            if state == .terminatingWait || state == .terminatingProceed {
                // Its agent came back (restarted, or re-registered after a deregistration) while
                // the group is removing it: it takes no new work.
                instance.instanceStatus = .draining
                return
            }
            if let provider = capacity.capacityProvider(usingGroup: record.AutoScalingGroupARN)?.provider.name,
                (ecs.clusters[cluster]?.capacityProviders ?? []).contains(provider)
            {
                instance.capacityProviderName = provider
            }
            return
        }
    }

    /// What the capacity loop must do for the groups now: instances to launch (already recorded
    /// as Pending) and instances to terminate (drained). Moves instances along their lifecycle.
    public mutating func planGroups(
        now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) -> GroupPlan {
        var plan = GroupPlan()
        for name in capacity.groups.keys.sorted() {
            guard var record = capacity.groups[name] else { continue }
            let before = record
            let cluster = capacity.cluster(in: ecs, forGroup: record)
            let provider = capacity.capacityProvider(usingGroup: record.AutoScalingGroupARN)?.provider
            let protection = provider?.autoScalingGroupProvider?.managedTerminationProtection == .enabled

            for index in record.Instances.indices {
                var instance = record.Instances[index]
                let containerInstance = instance.ContainerInstanceArn.flatMap { ecs.instances[$0] }
                let busy = containerInstance.map { ecs.isBusy($0.containerInstanceArn ?? "") } ?? false
                // A task protected from scale-in protects its instance too.
                instance.ProtectedFromScaleIn =
                    (protection && busy) || (containerInstance?.containerInstanceArn.map { ecs.runsProtectedTask($0, at: now) } ?? false)
                // Never registered within the warmup: replace it.
                if instance.LifecycleState == .pending, now.timeIntervalSince(instance.LaunchTime) > CapacityState.registrationGracePeriod {
                    instance.LifecycleState = .terminatingProceed
                    instance.HealthStatus = "Unhealthy"
                    instance.TerminationCause = "an instance was taken out of service in response to its agent not registering within \(Int(CapacityState.registrationGracePeriod)) seconds"
                }
                // Deregistered behind our back: it is no capacity any more.
                if instance.LifecycleState == .inService, let containerInstance, containerInstance.instanceStatus == .inactive {
                    instance.LifecycleState = .terminatingProceed
                    instance.TerminationCause = "an instance was taken out of service in response to its container instance being deregistered"
                }
                record.Instances[index] = instance
            }

            // Too few: launch. Too many: choose instances to drain, idle ones first.
            let active = record.activeInstances
            if active.count < record.DesiredCapacity, record.LaunchRetryAfter.map({ now >= $0 }) ?? true {
                let count = min(record.DesiredCapacity - active.count, 10)
                for _ in 0..<count {
                    let id = "i-" + String(Identifiers.hex32(using: &generator).prefix(17))
                    record.Instances.append(
                        AutoScalingGroupRecord.Instance(
                            InstanceId: id, LifecycleState: .pending, HealthStatus: "Healthy", ProtectedFromScaleIn: false, LaunchTime: now))
                    plan.launches.append(GroupPlan.Launch(group: name, instanceId: id, cluster: cluster, launcher: record.Launcher))
                    record.appendActivity(
                        description: "Launching a new EC2 instance: \(id)",
                        cause: "At \(now.formatted(.iso8601)) an instance was started in response to a difference between desired and actual capacity, increasing the capacity from \(active.count) to \(record.DesiredCapacity).",
                        status: "InProgress", now: now, using: &generator)
                }
            } else if active.count > record.DesiredCapacity {
                let candidates = active.filter { !$0.ProtectedFromScaleIn }.sorted { left, right in
                    // Pending (no tasks yet) and idle instances go first, newest first.
                    let leftBusy = left.ContainerInstanceArn.map { ecs.liveTaskCount(onInstance: $0) } ?? 0
                    let rightBusy = right.ContainerInstanceArn.map { ecs.liveTaskCount(onInstance: $0) } ?? 0
                    // (Daemon tasks count here: with equal work, fewer tasks to move.)
                    return leftBusy != rightBusy ? leftBusy < rightBusy : left.LaunchTime > right.LaunchTime
                }
                for chosen in candidates.prefix(active.count - record.DesiredCapacity) {
                    guard let index = record.Instances.firstIndex(where: { $0.InstanceId == chosen.InstanceId }) else { continue }
                    record.Instances[index].LifecycleState = .terminatingWait
                    record.Instances[index].TerminationCause =
                        "an instance was taken out of service in response to a difference between desired and actual capacity, shrinking the capacity from \(active.count) to \(record.DesiredCapacity)"
                    if let arn = chosen.ContainerInstanceArn { ecs.drainForTermination(arn, changes: &changes) }
                }
            }

            // Draining instances: terminate once no task is left (managed draining).
            for index in record.Instances.indices where record.Instances[index].LifecycleState == .terminatingWait {
                let arn = record.Instances[index].ContainerInstanceArn
                if arn.map({ ecs.liveTaskCount(onInstance: $0) }) ?? 0 == 0 {
                    record.Instances[index].LifecycleState = .terminatingProceed
                }
            }
            for instance in record.Instances
            where instance.LifecycleState == .terminatingProceed && instance.RetryAfter.map({ now >= $0 }) ?? true {
                plan.terminations.append(
                    GroupPlan.Termination(group: name, instanceId: instance.InstanceId, processId: instance.ProcessId, cluster: cluster, launcher: record.Launcher))
            }
            if record.Status != nil, record.Instances.isEmpty {
                capacity.groups[name] = nil
                changes.delete(AutoScalingGroupRecord.self, key: name)
                continue
            }
            if record != before {
                capacity.groups[name] = record
                changes.put(record)
            }
        }
        return plan
    }

    /// Records a finished termination: the instance leaves the group and its container instance is deregistered.
    public mutating func recordTermination(
        group name: String, instanceId: String, error: String?, now: Date,
        using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) {
        guard var record = capacity.groups[name], let index = record.Instances.firstIndex(where: { $0.InstanceId == instanceId }) else { return }
        let instance = record.Instances[index]
        let cause = "At \(now.formatted(.iso8601)) \(instance.TerminationCause ?? "an instance was terminated")."
        if let error {
            record.Instances[index].RetryAfter = now.addingTimeInterval(CapacityState.launcherRetryDelay)
            record.appendActivity(
                description: "Terminating EC2 instance: \(instanceId)", cause: cause, status: "Failed", message: error, now: now, using: &generator)
        } else {
            record.Instances.remove(at: index)
            record.appendActivity(description: "Terminating EC2 instance: \(instanceId)", cause: cause, status: "Successful", now: now, using: &generator)
            if let arn = instance.ContainerInstanceArn, var containerInstance = ecs.instances[arn], containerInstance.instanceStatus != .inactive {
                containerInstance.instanceStatus = .inactive
                containerInstance.version = (containerInstance.version ?? 0) + 1
                ecs.putInstance(containerInstance, changes: &changes)
            }
        }
        capacity.groups[name] = record
        changes.put(record)
    }
}

extension AutoScalingGroupRecord {
    mutating func appendActivity(
        description: String, cause: String, status: String, message: String? = nil, now: Date, using generator: inout some RandomNumberGenerator
    ) {
        Activities.insert(
            Activity(
                ActivityId: Identifiers.uuid(using: &generator), AutoScalingGroupName: AutoScalingGroupName, Description: description,
                Cause: cause, StartTime: now, EndTime: status == "InProgress" ? nil : now, StatusCode: status, StatusMessage: message),
            at: 0)
        if Activities.count > CapacityState.groupActivityHistory { Activities.removeLast(Activities.count - CapacityState.groupActivityHistory) }
    }
}

/// IO for the capacity loop to do, decided by ``CapacityHost/planGroups(now:using:changes:)``.
public struct GroupPlan: Sendable, Equatable {
    public struct Launch: Sendable, Equatable {
        public var group: String
        public var instanceId: String
        public var cluster: String?
        public var launcher: AutoScalingGroupRecord.Launcher
    }

    public struct Termination: Sendable, Equatable {
        public var group: String
        public var instanceId: String
        public var processId: Int32?
        public var cluster: String?
        public var launcher: AutoScalingGroupRecord.Launcher
    }

    public var launches: [Launch] = []
    public var terminations: [Termination] = []
}

extension CapacityState {
    /// A health check failed (the local launcher's agent process is gone): the instance is
    /// replaced, as EC2 Auto Scaling replaces an unhealthy instance.
    public mutating func markInstanceUnhealthy(group name: String, instanceId: String, reason: String, changes: inout ChangeSet) {
        guard var record = groups[name], let index = record.Instances.firstIndex(where: { $0.InstanceId == instanceId }),
            record.Instances[index].LifecycleState == .pending || record.Instances[index].LifecycleState == .inService
        else { return }
        record.Instances[index].LifecycleState = .terminatingProceed
        record.Instances[index].HealthStatus = "Unhealthy"
        record.Instances[index].TerminationCause = "an instance was taken out of service in response to a health check: \(reason)"
        groups[name] = record
        changes.put(record)
    }
}
