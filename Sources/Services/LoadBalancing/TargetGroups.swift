import Foundation
import StevedoreCore

/// Elastic Load Balancing's target groups, as far as the gateway balances them: a group's name
/// and ARN (which ECS services' `loadBalancers` and the gateway's integrations name) and its HTTP
/// health check. Its targets are the RUNNING tasks of the services that name it.
public struct TargetGroupState: Sendable {
    public let names: ResourceNames
    public package(set) var groups: [String: TargetGroupRecord] = [:]

    public init(names: ResourceNames) {
        self.names = names
    }

    public static let recordKinds: [RecordKind] = [.targetGroups]

    public static func restore(names: ResourceNames, rows: StoredRows) throws -> TargetGroupState {
        var state = TargetGroupState(names: names)
        for group in try rows.decode(TargetGroupRecord.self) { state.groups[group.arn] = group }
        return state
    }
}

/// The composed state target groups' operations run in.
public protocol LoadBalancingHost: Sendable {
    var loadBalancing: TargetGroupState { get set }
}

/// How a group's targets are checked: `GET {path}` on the target's port every `interval`
/// seconds; `healthyThreshold` answers in `matcher` in a row make it healthy, `unhealthyThreshold`
/// failures in a row unhealthy.
public struct HealthCheck: Codable, Sendable, Equatable {
    public var enabled = true
    public var path = "/"
    public var intervalSeconds = 30
    public var timeoutSeconds = 5
    public var healthyThreshold = 5
    public var unhealthyThreshold = 2
    /// HTTP codes that count as healthy: `200`, `200,202` or `200-299`.
    public var matcher = "200"

    public init() {}

    /// Whether a status code is one the matcher takes.
    public func matches(_ status: Int) -> Bool {
        matcher.split(separator: ",").contains { item in
            let bounds = item.split(separator: "-").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            switch bounds.count {
            case 1: return status == bounds[0]
            case 2: return (bounds[0]...max(bounds[0], bounds[1])).contains(status)
            default: return false
            }
        }
    }
}

public struct TargetGroupRecord: StoredRecord, Equatable {
    public var arn: String
    public var name: String
    public var protocolName: String
    public var port: Int?
    public var vpcId: String?
    public var targetType: String
    public var healthCheck: HealthCheck
    public var createdAt: Date

    public static var recordKind: RecordKind { .targetGroups }
    public var recordKey: String { arn }
}

extension RecordKind {
    public static let targetGroups = RecordKind("elb_target_groups")
}

extension AWSError {
    static func elbValidation(_ message: String) -> AWSError { AWSError(type: "ValidationError", message: message, httpStatus: 400) }
    static let targetGroupNotFound = AWSError(type: "TargetGroupNotFound", message: "One or more target groups not found", httpStatus: 400)
}

extension TargetGroupState {
    /// What CreateTargetGroup and ModifyTargetGroup take.
    public struct Settings: Sendable {
        public var protocolName: String?
        public var port: Int?
        public var vpcId: String?
        public var targetType: String?
        public var healthCheckEnabled: Bool?
        public var healthCheckPath: String?
        public var healthCheckProtocol: String?
        public var intervalSeconds: Int?
        public var timeoutSeconds: Int?
        public var healthyThreshold: Int?
        public var unhealthyThreshold: Int?
        public var matcher: String?

        public init() {}
    }

    public mutating func createTargetGroup(name: String, _ settings: Settings, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError) -> TargetGroupRecord
    {
        guard (1...32).contains(name.count), name.utf8.allSatisfy({ NameRules.isNameByte($0) && $0 != UInt8(ascii: "_") }), !name.hasPrefix("-"), !name.hasSuffix("-") else {
            throw .elbValidation(
                "Target group name '\(name)' can only contain characters that are alphanumeric characters or hyphens(-), must be 1 to 32 characters, and must not begin or end with a hyphen")
        }
        let protocolName = settings.protocolName ?? "HTTP"
        guard protocolName == "HTTP" else { throw .elbValidation("Protocol '\(protocolName)' is not supported by this endpoint; target groups serve HTTP") }
        let targetType = settings.targetType ?? "instance"
        guard ["instance", "ip"].contains(targetType) else { throw .elbValidation("Target type '\(targetType)' must be instance or ip") }
        if let port = settings.port, !(1...65535).contains(port) { throw .elbValidation("Port must be between 1 and 65535") }
        var check = HealthCheck()
        try apply(settings, to: &check)
        let candidate = TargetGroupRecord(
            arn: "", name: name, protocolName: protocolName, port: settings.port, vpcId: settings.vpcId, targetType: targetType, healthCheck: check,
            createdAt: now)
        if let existing = groups.values.first(where: { $0.name == name }) {
            // The same settings again return the group that is there, as ELB does.
            var same = candidate
            same.arn = existing.arn
            same.createdAt = existing.createdAt
            guard same == existing else {
                throw AWSError(type: "DuplicateTargetGroupName", message: "A target group with the same name '\(name)' exists, but with different settings", httpStatus: 400)
            }
            return existing
        }
        var record = candidate
        let suffix = String((0..<16).map { _ in "0123456789abcdef".randomElement(using: &random) ?? "0" })
        record.arn = "arn:\(names.partition):elasticloadbalancing:\(names.region):\(names.accountId):targetgroup/\(name)/\(suffix)"
        groups[record.arn] = record
        changes.put(record)
        return record
    }

    func apply(_ settings: Settings, to check: inout HealthCheck) throws(AWSError) {
        if let enabled = settings.healthCheckEnabled { check.enabled = enabled }
        if let path = settings.healthCheckPath {
            guard path.hasPrefix("/"), path.count <= 1024 else { throw .elbValidation("Health check path must begin with a '/' character and be at most 1024 characters") }
            check.path = path
        }
        if let protocolName = settings.healthCheckProtocol, protocolName != "HTTP" {
            throw .elbValidation("Health check protocol '\(protocolName)' is not supported by this endpoint; use HTTP")
        }
        if let interval = settings.intervalSeconds {
            guard (5...300).contains(interval) else { throw .elbValidation("Health check interval must be between 5 and 300 seconds") }
            check.intervalSeconds = interval
        }
        if let timeout = settings.timeoutSeconds {
            guard (2...120).contains(timeout) else { throw .elbValidation("Health check timeout must be between 2 and 120 seconds") }
            check.timeoutSeconds = timeout
        }
        if settings.timeoutSeconds == nil, check.timeoutSeconds >= check.intervalSeconds {
            // A short interval without a timeout of its own takes one that fits in it.
            check.timeoutSeconds = max(2, check.intervalSeconds - 1)
        }
        guard check.timeoutSeconds < check.intervalSeconds else {
            throw .elbValidation("Health check interval must be greater than the timeout.")
        }
        for (value, what) in [(settings.healthyThreshold, "Healthy"), (settings.unhealthyThreshold, "Unhealthy")] {
            if let value, !(2...10).contains(value) { throw .elbValidation("\(what) threshold count must be between 2 and 10") }
        }
        if let value = settings.healthyThreshold { check.healthyThreshold = value }
        if let value = settings.unhealthyThreshold { check.unhealthyThreshold = value }
        if let matcher = settings.matcher {
            let valid = !matcher.isEmpty && matcher.split(separator: ",").allSatisfy { item in
                let bounds = item.split(separator: "-", omittingEmptySubsequences: false)
                return (1...2).contains(bounds.count) && bounds.allSatisfy { Int($0).map { (200...499).contains($0) } ?? false }
            }
            guard valid else { throw .elbValidation("Health check matcher HTTP code '\(matcher)' must be codes from 200 to 499: 200, 200,202 or 200-299") }
            check.matcher = matcher
        }
    }

    public func describeTargetGroups(arns: [String], names wanted: [String]) throws(AWSError) -> [TargetGroupRecord] {
        var found = groups.values.sorted { $0.name < $1.name }
        if !arns.isEmpty {
            found = found.filter { arns.contains($0.arn) }
            guard found.count == Set(arns).count else { throw .targetGroupNotFound }
        }
        if !wanted.isEmpty {
            found = found.filter { wanted.contains($0.name) }
            guard found.count == Set(wanted).count else { throw .targetGroupNotFound }
        }
        return found
    }

    public func targetGroup(_ arn: String) throws(AWSError) -> TargetGroupRecord {
        guard let group = groups[arn] else { throw .targetGroupNotFound }
        return group
    }

    public mutating func modifyTargetGroup(_ arn: String, _ settings: Settings, changes: inout ChangeSet) throws(AWSError) -> TargetGroupRecord {
        var group = try targetGroup(arn)
        try apply(settings, to: &group.healthCheck)
        groups[arn] = group
        changes.put(group)
        return group
    }

    /// - Parameter inUseBy: the service that names the group, if any (it cannot go then).
    public mutating func deleteTargetGroup(_ arn: String, inUseBy service: String?, changes: inout ChangeSet) throws(AWSError) {
        guard groups[arn] != nil else { return }
        if let service {
            throw AWSError(type: "ResourceInUse", message: "Target group '\(arn)' is currently in use by ECS service '\(service)'", httpStatus: 400)
        }
        groups[arn] = nil
        changes.delete(TargetGroupRecord.self, key: arn)
    }
}
