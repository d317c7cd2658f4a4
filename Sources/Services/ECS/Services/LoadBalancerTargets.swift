import AgentProtocol
import ECSShapes
import StevedoreCore
import HashTreeCollections

/// A task of a service registered in a target group: where to reach the container port the
/// service's `loadBalancers` entry names.
public struct LoadBalancerTarget: Sendable, Equatable {
    public var taskArn: String
    public var host: String
    public var port: Int

    public init(taskArn: String, host: String, port: Int) {
        self.taskArn = taskArn
        self.host = host
        self.port = port
    }
}

extension ECSState {
    /// The instance attribute that tells the gateway where an instance's published ports are
    /// reached (set it with ECS_INSTANCE_ATTRIBUTES on hosts other than the control plane's).
    public static let hostAddressAttribute = "stevedore.host-address"

    /// The healthy targets of a target group: RUNNING tasks (desired RUNNING) of the services (or,
    /// for EXTERNAL services, the task sets) whose `loadBalancers` name the group, not UNHEALTHY,
    /// and HEALTHY when their task definition has a health check; each at the host port its
    /// container's port is bound to. A task the scheduler decided to stop is no longer a target.
    public func loadBalancerTargets(group: String) -> [LoadBalancerTarget] {
        var targets: [LoadBalancerTarget] = []
        for record in services.values where record.allLoadBalancers.contains(where: { $0.targetGroupArn == group }) {
            for arn in (tasksByService[record.arn] ?? []).sorted() {
                guard let task = tasks[arn], task.desiredStatus == .running, task.lastStatus == .running,
                    task.task.healthStatus != .unhealthy
                else { continue }
                for balancer in record.loadBalancers(of: task) where balancer.targetGroupArn == group {
                    guard let containerName = balancer.containerName, let containerPort = balancer.containerPort else { continue }
                    guard let container = task.task.containers?.first(where: { $0.name == containerName }) else { continue }
                    if container.healthStatus == .unhealthy { continue }
                    if let checked = task.task.taskDefinitionArn.flatMap({ try? taskDefinition($0) })?.containerDefinitions?
                        .first(where: { $0.name == containerName })?.healthCheck, !checked.command.isEmpty,
                        container.healthStatus != .healthy
                    {
                        continue
                    }
                    guard let binding = container.networkBindings?.first(where: { $0.containerPort == containerPort && ($0.protocol ?? .tcp) == .tcp }),
                        let port = binding.hostPort
                    else { continue }
                    targets.append(LoadBalancerTarget(taskArn: arn, host: address(of: binding, on: task.task.containerInstanceArn), port: port))
                }
            }
        }
        return targets
    }

    /// The ARN of a live service whose `loadBalancers` name the target group, if any.
    public func serviceNaming(targetGroup: String) -> String? {
        services.values.first { record in
            // A deleted service (DRAINING until its tasks stop) no longer holds the group: its
            // draining tasks are served unchecked, as a group no elbv2 record has.
            record.service.status == "ACTIVE" && record.allLoadBalancers.contains { $0.targetGroupArn == targetGroup }
        }?.arn
    }

    /// Where a binding is reached: its own address, or its instance's (the host-address attribute;
    /// the loopback address for an instance on the control plane's host).
    func address(of binding: NetworkBinding, on instanceArn: String?) -> String {
        if let ip = binding.bindIP, !ip.isEmpty, ip != "0.0.0.0", ip != "::" { return ip }
        let attribute = instanceArn.flatMap { instances[$0] }?.attributes?.first { $0.name == Self.hostAddressAttribute }
        return attribute?.value ?? "127.0.0.1"
    }
}
