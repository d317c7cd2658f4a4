import AgentProtocol
import AWSProtocols
import ECS
import ECSShapes
import StevedoreCore

/// Cluster auto scaling on the wire: ECS's capacity provider operations (AWS JSON 1.1, on ECS's
/// target prefix), Stevedore's auto scaling groups over REST-JSON (EC2 Auto Scaling's field
/// names), and the CapacityProviderReservation metric.
public enum CapacityAPI {
    public static let groupsPath = "/v1/autoscaling/groups"
    public static let reservationsPath = "/v1/metrics/capacity-providers"

    public static func operations<Committer: StateCommitting>(committer: Committer) -> JSONOperations<Committer>
    where Committer.Root: CapacityHost {
        var api = JSONOperations(targetPrefix: ECSAPI.targetPrefix, committer: committer)
        api.write("CreateCapacityProvider") { root, input, m, _ in try root.capacity.createCapacityProvider(input, changes: &m.changes) }
        api.write("UpdateCapacityProvider") { root, input, m, _ in try root.capacity.updateCapacityProvider(input, changes: &m.changes) }
        api.write("DeleteCapacityProvider") { root, input, m, _ in try root.deleteCapacityProvider(input, changes: &m.changes) }
        api.read("DescribeCapacityProviders") { root, input, _ in try root.capacity.describeCapacityProviders(input) }
        api.write("PutClusterCapacityProviders") { root, input, m, _ in try root.putClusterCapacityProviders(input, changes: &m.changes) }
        return api
    }

    public static func routes<Committer: StateCommitting>(committer: Committer) -> RESTRoutes where Committer.Root: CapacityHost {
        var routes = RESTRoutes(errorStyle: .json)
        routes.json("POST", groupsPath, status: 201) { (input: AutoScalingGroupInput, _) throws(AWSError) in
            try await committer.write { root, m throws(AWSError) in
                try root.capacity.createAutoScalingGroup(input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("GET", groupsPath) { _ throws(AWSError) in
            try await committer.read { root, _ in root.capacity.describeAutoScalingGroups() }
        }
        routes.respond("GET", groupsPath + "/{name}") { request throws(AWSError) in
            let name = request.parameter("name")
            return try await committer.read { root, _ throws(AWSError) in try root.capacity.autoScalingGroup(name) }
        }
        routes.json("PUT", groupsPath + "/{name}") { (input: AutoScalingGroupInput, request) throws(AWSError) in
            let name = request.parameter("name")
            return try await committer.write { root, m throws(AWSError) in
                try root.capacity.updateAutoScalingGroup(name, input, changes: &m.changes)
            }
        }
        routes.respond("DELETE", groupsPath + "/{name}") { request throws(AWSError) in
            let (name, force) = (request.parameter("name"), request.query("force") == "true")
            try await committer.write { root, m throws(AWSError) in
                try root.capacity.deleteAutoScalingGroup(name, force: force, changes: &m.changes)
            }
            return EmptyOutput()
        }
        routes.respond("GET", reservationsPath) { _ throws(AWSError) in
            try await committer.read { root, _ in
                ["capacityProviders": root.capacity.providers.keys.sorted().compactMap { root.capacityReservation($0) }]
            }
        }
        return routes
    }
}
