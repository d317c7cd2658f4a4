import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import Archives
import ArgumentParser
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import Foundation
import LambdaShapes
import StevedoreClient
import StevedoreCore

/// `--cluster`, for commands that work inside one cluster.
struct ClusterOption: ParsableArguments {
    @Option(help: "Cluster name or ARN (env ECS_CLUSTER; default: default).")
    var cluster: String?

    var name: String { cluster ?? ProcessInfo.processInfo.environment["ECS_CLUSTER"] ?? "default" }
}

/// Placement flags shared by `task run` and `service create|update`.
struct PlacementOptions: ParsableArguments {
    @Option(
        name: .customLong("strategy"),
        help: "A placement strategy: random, binpack:cpu, binpack:memory, spread:instanceId, spread:attribute:<name>. Repeat to chain.")
    var strategies: [String] = []

    @Option(
        name: .customLong("constraint"),
        help: "A placement constraint: distinctInstance, or memberOf:<expression>. Repeat for more.")
    var constraints: [String] = []

    func parsedStrategies() throws -> [PlacementStrategy]? {
        guard !strategies.isEmpty else { return nil }
        return try strategies.map { text in
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            guard let type = PlacementStrategyType(rawValue: parts[0]) else {
                throw ValidationError("Unknown strategy '\(text)': use random, binpack:cpu|memory or spread:<field>.")
            }
            return PlacementStrategy(type: type, field: parts.count > 1 ? parts[1] : nil)
        }
    }

    func parsedConstraints() throws -> [PlacementConstraint]? {
        guard !constraints.isEmpty else { return nil }
        return try constraints.map { text in
            if text == "distinctInstance" { return PlacementConstraint(type: .distinctInstance) }
            guard text.hasPrefix("memberOf:") else {
                throw ValidationError("Unknown constraint '\(text)': use distinctInstance or memberOf:<expression>.")
            }
            return PlacementConstraint(type: .memberOf, expression: String(text.dropFirst("memberOf:".count)))
        }
    }
}

/// The last path component of an ARN, for compact tables.
func shortId(_ arn: String?) -> String {
    guard let arn else { return "-" }
    return ARN(arn)?.lastPathComponent ?? arn
}

/// `family:revision` of a task definition ARN.
func shortTaskDefinition(_ arn: String?) -> String {
    guard let arn else { return "-" }
    return ARN(arn)?.resourceId ?? arn
}

func resourceValue(_ name: String, _ resources: [Resource]?) -> Int {
    guard let resource = resources?.first(where: { $0.name == name }) else { return 0 }
    return resource.integerValue ?? resource.longValue ?? 0
}
