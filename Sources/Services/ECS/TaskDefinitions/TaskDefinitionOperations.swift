import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import StevedoreCore

/// `family`, `family:revision` or a task definition ARN.
public struct TaskDefinitionReference: Sendable, Equatable {
    public var family: String
    public var revision: Int?

    public init(family: String, revision: Int?) {
        self.family = family
        self.revision = revision
    }

    public static func parse(_ text: String) throws(AWSError) -> TaskDefinitionReference {
        var body = Substring(text)
        if text.hasPrefix("arn:") {
            guard let arn = ARN(text), arn.service == "ecs", arn.resourceType == "task-definition" else {
                throw .client("'\(text)' is not a task definition ARN (arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>).")
            }
            body = Substring(arn.resourceId)
        }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, NameRules.isValidName(String(parts[0])) else {
            throw .client("Invalid task definition '\(text)': use family, family:revision or the task definition ARN.")
        }
        var revision: Int?
        if parts.count == 2 {
            guard let number = Int(parts[1]), number >= 1 else {
                throw .client("Invalid revision in task definition '\(text)': revisions are whole numbers from 1.")
            }
            revision = number
        }
        return TaskDefinitionReference(family: String(parts[0]), revision: revision)
    }
}

extension ECSState {
    public static let maxTaskDefinitionBytes = 65_536
    public static let maxRevisionsPerFamily = 1_000_000

    /// The task definition a request names. An ARN of another region or account names none here
    /// (see ``ResourceNames/isForeign(_:resourceType:)``); ARNs this control plane stored itself
    /// are looked up with ``taskDefinition(_:)``, which still finds them after `--region` changed.
    public func requestedTaskDefinition(_ text: String) throws(AWSError) -> TaskDefinition {
        guard !names.isForeign(text, resourceType: "task-definition") else {
            _ = try TaskDefinitionReference.parse(text)
            throw .client("Unable to describe task definition: '\(text)' does not exist.")
        }
        return try taskDefinition(text)
    }

    /// The task definition a reference names: a given revision in any status, or a family's newest ACTIVE one.
    public func taskDefinition(_ text: String) throws(AWSError) -> TaskDefinition {
        let reference = try TaskDefinitionReference.parse(text)
        guard let family = families[reference.family] else {
            throw .client("Unable to describe task definition: '\(text)' does not exist.")
        }
        if let revision = reference.revision {
            guard let index = family.index(ofRevision: revision) else {
                throw .client("Unable to describe task definition: '\(text)' does not exist.")
            }
            return family.revisions[index]
        }
        guard let latest = family.latestActive else {
            throw .client("Unable to describe task definition: family '\(reference.family)' has no ACTIVE revision.")
        }
        return latest
    }

    public mutating func registerTaskDefinition(
        _ request: RegisterTaskDefinitionRequest,
        requestBytes: Int,
        now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> RegisterTaskDefinitionResponse {
        guard requestBytes <= Self.maxTaskDefinitionBytes else {
            throw .client("The task definition is \(requestBytes) bytes; the limit is 64 KiB (\(Self.maxTaskDefinitionBytes) bytes).")
        }
        var family = families[request.family] ?? TaskDefinitionFamily(family: request.family, lastRevision: 0)
        guard family.lastRevision < Self.maxRevisionsPerFamily else {
            throw AWSError(type: "LimitExceededException", message: "Family '\(request.family)' has reached the limit of \(Self.maxRevisionsPerFamily) revisions.")
        }
        let definition = try TaskDefinitionValidator().validate(
            request, revision: family.lastRevision + 1, names: names, registeredAt: now)
        family.insert(definition)
        families[request.family] = family
        changes.put(family)
        changes.put(definition)
        let arn = definition.taskDefinitionArn!
        replaceTags(of: arn, with: request.tags ?? [], changes: &changes)
        return RegisterTaskDefinitionResponse(taskDefinition: definition, tags: request.tags)
    }

    public func describeTaskDefinition(_ request: DescribeTaskDefinitionRequest) throws(AWSError) -> DescribeTaskDefinitionResponse {
        let definition = try requestedTaskDefinition(request.taskDefinition)
        let includeTags = (request.include ?? []).contains(.tags)
        return DescribeTaskDefinitionResponse(
            taskDefinition: definition,
            tags: includeTags ? (tags[definition.taskDefinitionArn ?? ""] ?? []) : nil
        )
    }

    public func listTaskDefinitions(_ request: ListTaskDefinitionsRequest) throws(AWSError) -> ListTaskDefinitionsResponse {
        let status = request.status ?? .active
        let descending = request.sort == .desc
        // ECS treats familyPrefix here as the full family name.
        let selected: [TaskDefinitionFamily] =
            if let family = request.familyPrefix { families[family].map { [$0] } ?? [] } else { Array(families.values) }
        var entries: [(family: String, revision: Int, arn: String)] = []
        for family in selected {
            for definition in family.revisions where definition.status == status {
                entries.append((family.family, definition.revision ?? 0, definition.taskDefinitionArn ?? ""))
            }
        }
        entries.sort { ($0.family, $0.revision) < ($1.family, $1.revision) }
        if descending { entries.reverse() }
        let sortKey = { (entry: (family: String, revision: Int, arn: String)) in
            entry.family + ":" + String(repeating: "0", count: max(0, 7 - String(entry.revision).count)) + String(entry.revision)
        }
        let (page, token) = try Pagination.page(
            entries, key: sortKey, maxResults: request.maxResults, nextToken: request.nextToken,
            comesAfter: { descending ? $0 < $1 : $0 > $1 }
        )
        return ListTaskDefinitionsResponse(taskDefinitionArns: page.map(\.arn), nextToken: token)
    }

    public func listTaskDefinitionFamilies(
        _ request: ListTaskDefinitionFamiliesRequest
    ) throws(AWSError) -> ListTaskDefinitionFamiliesResponse {
        let status = request.status ?? .active
        let prefix = request.familyPrefix ?? ""
        let names = families.values.filter { family in
            guard family.family.hasPrefix(prefix), !family.revisions.isEmpty else { return false }
            let hasActive = family.revisions.contains { $0.status == .active }
            switch status {
            case .active: return hasActive
            case .inactive: return !hasActive
            case .all: return true
            }
        }.map(\.family).sorted()
        let (page, token) = try Pagination.page(
            names, key: { $0 }, maxResults: request.maxResults, nextToken: request.nextToken, comesAfter: >)
        return ListTaskDefinitionFamiliesResponse(families: page, nextToken: token)
    }

    public mutating func deregisterTaskDefinition(
        _ request: DeregisterTaskDefinitionRequest,
        now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> DeregisterTaskDefinitionResponse {
        let reference = try TaskDefinitionReference.parse(request.taskDefinition)
        guard let revision = reference.revision else {
            throw .client("A revision is required to deregister: use \(reference.family):<revision> or the task definition ARN.")
        }
        guard !names.isForeign(request.taskDefinition, resourceType: "task-definition"), var family = families[reference.family],
            let index = family.index(ofRevision: revision)
        else {
            throw .client("The specified task definition does not exist: \(request.taskDefinition).")
        }
        var definition = family.revisions[index]
        if definition.status == .active {
            definition.status = .inactive
            definition.deregisteredAt = now
            family.revisions[index] = definition
            families[reference.family] = family
            changes.put(definition)
        }
        return DeregisterTaskDefinitionResponse(taskDefinition: definition)
    }

    public mutating func deleteTaskDefinitions(
        _ request: DeleteTaskDefinitionsRequest,
        now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> DeleteTaskDefinitionsResponse {
        guard (1...10).contains(request.taskDefinitions.count) else {
            throw .invalidParameter("taskDefinitions must list between 1 and 10 task definitions; got \(request.taskDefinitions.count).")
        }
        var deleted: [TaskDefinition] = []
        var failures: [Failure] = []
        for text in request.taskDefinitions {
            let reference: TaskDefinitionReference
            do {
                reference = try TaskDefinitionReference.parse(text)
            } catch {
                failures.append(Failure(arn: text, reason: "INVALID", detail: error.message))
                continue
            }
            guard let revision = reference.revision else {
                failures.append(Failure(arn: text, reason: "A revision is required: use family:revision or the ARN."))
                continue
            }
            guard !names.isForeign(text, resourceType: "task-definition"), var family = families[reference.family],
                let index = family.index(ofRevision: revision)
            else {
                failures.append(Failure(arn: text, reason: "The specified task definition does not exist."))
                continue
            }
            var definition = family.revisions[index]
            if definition.status == .active {
                failures.append(
                    Failure(
                        arn: definition.taskDefinitionArn,
                        reason: "The specified task definition is still in ACTIVE status. Please deregister the target and try again."
                    )
                )
                continue
            }
            if definition.status == .inactive {
                definition.status = .deleteInProgress
                definition.deleteRequestedAt = now
                family.revisions[index] = definition
                families[reference.family] = family
                changes.put(definition)
            }
            deleted.append(definition)
        }
        collectDeletedTaskDefinitions(changes: &changes)
        return DeleteTaskDefinitionsResponse(taskDefinitions: deleted, failures: failures)
    }

    /// Removes DELETE_IN_PROGRESS revisions no task or service uses any more.
    public mutating func collectDeletedTaskDefinitions(changes: inout ChangeSet) {
        for (name, family) in families {
            let doomed = family.revisions.filter {
                $0.status == .deleteInProgress && !isTaskDefinitionInUse($0.taskDefinitionArn ?? "")
            }
            guard !doomed.isEmpty else { continue }
            var updated = family
            for definition in doomed {
                let arn = definition.taskDefinitionArn ?? ""
                updated.revisions.removeAll { $0.taskDefinitionArn == arn }
                changes.delete(TaskDefinition.self, key: arn)
                if tags.removeValue(forKey: arn) != nil { changes.delete(TagSet.self, key: arn) }
            }
            families[name] = updated
        }
    }

    func isTaskDefinitionInUse(_ arn: String) -> Bool {
        tasks.values.contains { $0.task.taskDefinitionArn == arn && !$0.isStopped }
            || services.values.contains { record in
                record.service.serviceStatus != .inactive
                    && ((record.service.deployments ?? []).contains { $0.taskDefinition == arn }
                        || (record.service.taskSets ?? []).contains { $0.taskDefinition == arn })
            }
    }
}
