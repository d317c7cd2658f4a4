/// Builds and parses ARNs in AWS's formats for one region and account. Each service adds the
/// builders for its own resources (`cluster(_:)` in ECS, `function(_:)` in Lambda, …).
public struct ResourceNames: Sendable, Equatable {
    public var region: String
    public var accountId: String
    public var partition: String

    public init(region: String = "us-east-1", accountId: String = "000000000000", partition: String = "aws") {
        self.region = region
        self.accountId = accountId
        self.partition = partition
    }

    /// `arn:<partition>:<service>:<region>:<account>:<resource>`.
    public func arn(_ service: String, _ resource: String) -> String {
        "arn:\(partition):\(service):\(region):\(accountId):\(resource)"
    }

    /// The principal recorded as `registeredBy`.
    public var rootPrincipal: String { "arn:\(partition):iam::\(accountId):root" }
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

    /// The first `/`-separated segment of the resource id: the cluster of a task, service or
    /// container-instance ARN.
    public var firstPathComponent: String {
        String(resourceId.split(separator: "/", omittingEmptySubsequences: false).first ?? Substring(resourceId))
    }

    /// `ARN(string)?.firstPathComponent` without building the ARN: start-up and every task
    /// change ask a task's ARN for its cluster.
    public static func firstPathComponent(of string: String) -> String? {
        let utf8 = string.utf8
        guard utf8.starts(with: "arn:".utf8) else { return nil }
        var colons = 1
        var index = utf8.index(utf8.startIndex, offsetBy: 4)
        var serviceStart = index
        while index != utf8.endIndex, colons < 5 {
            if utf8[index] == UInt8(ascii: ":") {
                colons += 1
                if colons == 3, serviceStart == index { return nil }
                if colons == 2 { serviceStart = utf8.index(after: index) }
            }
            index = utf8.index(after: index)
        }
        guard colons == 5, let slash = utf8[index...].firstIndex(of: UInt8(ascii: "/")), slash != index else { return nil }
        let idStart = utf8.index(after: slash)
        guard idStart != utf8.endIndex else { return nil }
        let idEnd = utf8[idStart...].firstIndex(of: UInt8(ascii: "/")) ?? utf8.endIndex
        return String(string[idStart..<idEnd])
    }

    /// The last `/`-separated segment: the task id of a task ARN, the name of a service ARN.
    public var lastPathComponent: String {
        String(resourceId.split(separator: "/").last ?? Substring(resourceId))
    }
}
