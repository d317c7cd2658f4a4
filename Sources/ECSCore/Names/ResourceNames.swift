/// Builds and parses ARNs in AWS's formats for one region and account.
public struct ResourceNames: Sendable, Equatable {
    public var region: String
    public var accountId: String
    public var partition: String

    public init(region: String = "us-east-1", accountId: String = "000000000000", partition: String = "aws") {
        self.region = region
        self.accountId = accountId
        self.partition = partition
    }

    private func arn(_ service: String, _ resource: String) -> String {
        "arn:\(partition):\(service):\(region):\(accountId):\(resource)"
    }

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
    /// The principal recorded as `registeredBy`.
    public var rootPrincipal: String { "arn:\(partition):iam::\(accountId):root" }

    /// The cluster name in a name-or-ARN reference (`default`, `arn:aws:ecs:…:cluster/default`).
    public func clusterName(fromReference reference: String) -> String {
        guard let arn = ARN(reference), arn.resourceType == "cluster" else { return reference }
        return arn.resourceId
    }
}

/// A parsed `arn:partition:service:region:account:type/id…` string.
public struct ARN: Sendable, Equatable {
    public var partition: String
    public var service: String
    public var region: String
    public var accountId: String
    /// `cluster`, `task-definition`, `task`, …
    public var resourceType: String
    /// Everything after the resource type's `/`, e.g. `web:3` or `prod/0f3a…`.
    public var resourceId: String

    public init?(_ string: String) {
        let parts = string.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", !parts[2].isEmpty else { return nil }
        partition = String(parts[1])
        service = String(parts[2])
        region = String(parts[3])
        accountId = String(parts[4])
        let resource = parts[5]
        guard let slash = resource.firstIndex(of: "/") else { return nil }
        resourceType = String(resource[..<slash])
        resourceId = String(resource[resource.index(after: slash)...])
        guard !resourceType.isEmpty, !resourceId.isEmpty else { return nil }
    }

    /// The last `/`-separated segment: the task id of a task ARN, the name of a service ARN.
    public var lastPathComponent: String {
        String(resourceId.split(separator: "/").last ?? Substring(resourceId))
    }
}
