import AgentProtocol
import ECSShapes
import StevedoreCore
extension ECSState {
    public mutating func tagResource(
        _ request: TagResourceRequest,
        changes: inout ChangeSet
    ) throws(AWSError) -> TagResourceResponse {
        let arn = try existingResource(request.resourceArn)
        let existing = tags[arn] ?? []
        let merged = TagRules.merge(existing, request.tags)
        try TagRules.validate(merged)
        replaceTags(of: arn, with: merged, changes: &changes)
        return TagResourceResponse()
    }

    public mutating func untagResource(
        _ request: UntagResourceRequest,
        changes: inout ChangeSet
    ) throws(AWSError) -> UntagResourceResponse {
        let arn = try existingResource(request.resourceArn)
        let keys = Set(request.tagKeys)
        let remaining = (tags[arn] ?? []).filter { !keys.contains($0.key ?? "") }
        replaceTags(of: arn, with: remaining, changes: &changes)
        return UntagResourceResponse()
    }

    public func listTagsForResource(_ request: ListTagsForResourceRequest) throws(AWSError) -> ListTagsForResourceResponse {
        let arn = try existingResource(request.resourceArn)
        return ListTagsForResourceResponse(tags: tags[arn] ?? [])
    }

    mutating func replaceTags(of arn: String, with newTags: [ResourceTag], changes: inout ChangeSet) {
        if newTags.isEmpty {
            if tags.removeValue(forKey: arn) != nil { changes.delete(TagSet.self, key: arn) }
        } else {
            tags[arn] = newTags
            changes.put(TagSet(resourceArn: arn, tags: newTags))
        }
    }

    /// The ARN of a taggable resource that exists, or the error ECS gives for it.
    private func existingResource(_ arnText: String) throws(AWSError) -> String {
        guard let arn = ARN(arnText), arn.service == "ecs" else {
            throw .invalidParameter("Invalid resourceArn '\(arnText)': expected an ECS ARN such as \(names.cluster("default")).")
        }
        switch arn.resourceType {
        case "cluster":
            guard !names.isForeign(arnText, resourceType: "cluster"), let cluster = clusters[arn.resourceId], cluster.clusterStatus == .active else {
                throw .clusterNotFound
            }
        case "task-definition":
            _ = try requestedTaskDefinition(arnText)
        case "task":
            guard let record = tasks[arnText], !record.isStopped else { throw .resourceNotFound("Task \(arnText) was not found or has stopped.") }
        case "service":
            guard let record = services[arnText], record.service.serviceStatus != .inactive else {
                throw AWSError(type: "ServiceNotFoundException", message: "Service \(arnText) was not found.")
            }
        case "task-set":
            // task-set/<cluster>/<service>/ecs-svc/<number>
            let parts = arn.resourceId.split(separator: "/", maxSplits: 2).map(String.init)
            guard parts.count == 3, let record = service(parts[1], inCluster: parts[0]), record.service.serviceStatus != .inactive,
                (record.service.taskSets ?? []).contains(where: { $0.taskSetArn == arnText })
            else { throw AWSError(type: "TaskSetNotFoundException", message: "The specified task set does not exist.") }
        case "container-instance":
            guard let instance = instances[arnText], instance.instanceStatus != .inactive else {
                throw .resourceNotFound("Container instance \(arnText) was not found.")
            }
        default:
            throw .invalidParameter(
                "Resource type '\(arn.resourceType)' of '\(arnText)' cannot be tagged: use a cluster, task definition, task, service, task set, or container instance ARN."
            )
        }
        return arnText
    }
}
