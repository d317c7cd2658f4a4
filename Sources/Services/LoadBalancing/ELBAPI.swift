import Foundation
import AWSProtocols
import StevedoreCore

/// Elastic Load Balancing v2's target group actions (query protocol, version 2015-12-01), as
/// `aws elbv2` and boto3 call them: the gateway is the load balancer.
public enum ELBAPI {
    public static let namespace = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
    public static let version = "2015-12-01"

    /// A target as `DescribeTargetHealth` lists it: where it listens and how it is.
    public struct TargetDescription: Sendable {
        public var host: String
        public var port: Int
        public var health: TargetHealth

        public init(host: String, port: Int, health: TargetHealth) {
            self.host = host
            self.port = port
            self.health = health
        }
    }

    /// - Parameters:
    ///   - targets: a group's targets and their health (ECS's tasks, the registry's checks).
    ///   - user: the ECS service that names a group, if any (a group in use cannot be deleted).
    public static func service<Committer: StateCommitting>(
        committer: Committer, targets: @escaping @Sendable (String) async -> [TargetDescription],
        user: @escaping @Sendable (Committer.Root, String) -> String?
    ) -> QueryService where Committer.Root: LoadBalancingHost {
        var service = QueryService(namespace: namespace, version: version)

        service.action("CreateTargetGroup") { request, _ throws(AWSError) in
            let name = try request.required("Name")
            let settings = try Self.settings(request)
            let group = try await committer.write { root, m throws(AWSError) in
                try root.loadBalancing.createTargetGroup(name: name, settings, now: m.now, using: &m.random, changes: &m.changes)
            }
            var xml = XMLWriter()
            xml.element("TargetGroups") { $0.element("member") { write(group, into: &$0) } }
            return xml
        }
        service.action("DescribeTargetGroups") { request, _ throws(AWSError) in
            let (arns, names) = (request.list("TargetGroupArns"), request.list("Names"))
            let groups = try await committer.read { root, _ throws(AWSError) in try root.loadBalancing.describeTargetGroups(arns: arns, names: names) }
            var xml = XMLWriter()
            xml.element("TargetGroups") { xml in for group in groups { xml.element("member") { write(group, into: &$0) } } }
            return xml
        }
        service.action("ModifyTargetGroup") { request, _ throws(AWSError) in
            let arn = try request.required("TargetGroupArn")
            let settings = try Self.settings(request)
            let group = try await committer.write { root, m throws(AWSError) in try root.loadBalancing.modifyTargetGroup(arn, settings, changes: &m.changes) }
            var xml = XMLWriter()
            xml.element("TargetGroups") { $0.element("member") { write(group, into: &$0) } }
            return xml
        }
        // An empty DeleteTargetGroupResult, which the SDKs expect.
        service.action("DeleteTargetGroup") { request, _ throws(AWSError) in
            let arn = try request.required("TargetGroupArn")
            try await committer.write { root, m throws(AWSError) in
                try root.loadBalancing.deleteTargetGroup(arn, inUseBy: user(root, arn), changes: &m.changes)
            }
            return XMLWriter()
        }
        service.action("DescribeTargetHealth") { request, _ throws(AWSError) in
            let arn = try request.required("TargetGroupArn")
            let group = try await committer.read { root, _ throws(AWSError) in try root.loadBalancing.targetGroup(arn) }
            let described = await targets(arn)
            var xml = XMLWriter()
            xml.element("TargetHealthDescriptions") { xml in
                for target in described {
                    xml.element("member") { xml in
                        xml.element("Target") { xml in
                            xml.element("Id", target.host)
                            xml.element("Port", String(target.port))
                        }
                        xml.element("HealthCheckPort", String(target.port))
                        xml.element("TargetHealth") { xml in
                            xml.element("State", group.healthCheck.enabled ? target.health.state.rawValue : "unavailable")
                            if group.healthCheck.enabled {
                                xml.element("Reason", target.health.reason)
                                xml.element("Description", target.health.description)
                            } else {
                                xml.element("Reason", "Target.HealthCheckDisabled")
                                xml.element("Description", "Health checks are disabled")
                            }
                        }
                    }
                }
            }
            return xml
        }
        return service
    }

    static func settings(_ request: QueryRequest) throws(AWSError) -> TargetGroupState.Settings {
        let integer = request.integer
        var settings = TargetGroupState.Settings()
        settings.protocolName = request["Protocol"]
        settings.port = try integer("Port")
        settings.vpcId = request["VpcId"]
        settings.targetType = request["TargetType"]
        settings.healthCheckEnabled = request["HealthCheckEnabled"].map { $0 == "true" }
        settings.healthCheckPath = request["HealthCheckPath"]
        settings.healthCheckProtocol = request["HealthCheckProtocol"]
        settings.intervalSeconds = try integer("HealthCheckIntervalSeconds")
        settings.timeoutSeconds = try integer("HealthCheckTimeoutSeconds")
        settings.healthyThreshold = try integer("HealthyThresholdCount")
        settings.unhealthyThreshold = try integer("UnhealthyThresholdCount")
        settings.matcher = request["Matcher.HttpCode"]
        return settings
    }

    static func write(_ group: TargetGroupRecord, into xml: inout XMLWriter) {
        xml.element("TargetGroupArn", group.arn)
        xml.element("TargetGroupName", group.name)
        xml.element("Protocol", group.protocolName)
        xml.element("Port", group.port.map(String.init))
        xml.element("VpcId", group.vpcId)
        xml.element("HealthCheckProtocol", "HTTP")
        xml.element("HealthCheckPort", "traffic-port")
        xml.element("HealthCheckEnabled", group.healthCheck.enabled ? "true" : "false")
        xml.element("HealthCheckIntervalSeconds", String(group.healthCheck.intervalSeconds))
        xml.element("HealthCheckTimeoutSeconds", String(group.healthCheck.timeoutSeconds))
        xml.element("HealthyThresholdCount", String(group.healthCheck.healthyThreshold))
        xml.element("UnhealthyThresholdCount", String(group.healthCheck.unhealthyThreshold))
        xml.element("HealthCheckPath", group.healthCheck.path)
        xml.element("Matcher") { $0.element("HttpCode", group.healthCheck.matcher) }
        xml.element("LoadBalancerArns") { _ in }
        xml.element("TargetType", group.targetType)
        xml.element("ProtocolVersion", "HTTP1")
        xml.element("IpAddressType", "ipv4")
    }
}
