import AgentProtocol
import StevedoreCore

/// ECS's ARN formats.
extension ResourceNames {
    public func cluster(_ name: String) -> String { arn("ecs", "cluster/\(name)") }
    public func taskDefinition(family: String, revision: Int) -> String {
        arn("ecs", "task-definition/\(family):\(revision)")
    }
    public func task(cluster: String, id: String) -> String { arn("ecs", "task/\(cluster)/\(id)") }
    public func containerInstance(cluster: String, id: String) -> String {
        arn("ecs", "container-instance/\(cluster)/\(id)")
    }
    public func service(cluster: String, name: String) -> String { arn("ecs", "service/\(cluster)/\(name)") }
    public func container(cluster: String, taskId: String, id: String) -> String {
        arn("ecs", "container/\(cluster)/\(taskId)/\(id)")
    }
    public func capacityProvider(_ name: String) -> String { arn("ecs", "capacity-provider/\(name)") }
    public func serviceDeployment(cluster: String, service: String, id: String) -> String {
        arn("ecs", "service-deployment/\(cluster)/\(service)/\(id)")
    }
    public func serviceRevision(cluster: String, service: String, number: String) -> String {
        arn("ecs", "service-revision/\(cluster)/\(service)/\(number)")
    }
    public func taskSet(cluster: String, service: String, id: String) -> String {
        arn("ecs", "task-set/\(cluster)/\(service)/\(id)")
    }

    /// Whether `reference` is an ARN of another partition, region or account. It names nothing
    /// here, as in AWS, so it must not reach the resource of the same name here: a policy judges
    /// the ARN as written, and a deny on this account's ARN would not hold against a foreign one.
    public func isForeign(_ reference: String, resourceType: String) -> Bool {
        reference.hasPrefix("arn:") && !reference.hasPrefix(arn("ecs", resourceType + "/"))
    }

    /// The cluster name in a name-or-ARN reference (`default`, `arn:aws:ecs:…:cluster/default`).
    public func clusterName(fromReference reference: String) -> String {
        guard let arn = ARN(reference), arn.resourceType == "cluster" else { return reference }
        return arn.resourceId
    }
}

extension AWSError {
    public static let clusterNotFound = AWSError(type: "ClusterNotFoundException", message: "Cluster not found.")
}
