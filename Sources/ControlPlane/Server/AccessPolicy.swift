import APIGateway
import AgentProtocol
import ApplicationAutoScaling
import AWSProtocols
import Capacity
import ECS
import EventBridge
import Foundation
import LoadBalancing
import Logs
import IAM
import Lambda
import SNS
import SQS
import Athena
import Glue
import Secrets
import StevedoreCore

/// What a request asks to do, as IAM names it (`ecs:RunTask`), and on which resource: worked out
/// only when a policy must be consulted (the administrator's requests never pay for it).
struct RequestedAction {
    var action: String
    /// Every resource the request acts on (GetParameters names several): each must be allowed.
    var resources: () -> [String]

    init(action: String, resource: @escaping () -> String) {
        self.action = action
        resources = { [resource()] }
    }

    init(action: String, resources: @escaping () -> [String]) {
        self.action = action
        self.resources = resources
    }
}

/// Whether a principal's policies allow a request, and the refusal, in AWS's words, when they do not.
enum AccessPolicy {
    /// - Parameter stored: the ARN a resource the request names is stored under (see ``stored(_:in:names:)``).
    static func refusal(
        _ principal: AccessKeyring.Principal, _ requested: RequestedAction, style: RefusalStyle, stored: (String) -> String = { $0 }
    ) -> AWSError? {
        guard let policies = principal.policies else { return nil }
        for named in requested.resources() {
            let resource = stored(named)
            let decision = PolicyDecision(policies: policies, action: requested.action, resource: resource)
            if decision != .allowed { return refusal(principal, requested.action, resource, decision, style: style) }
        }
        return nil
    }

    private static func refusal(
        _ principal: AccessKeyring.Principal, _ action: String, _ resource: String, _ decision: PolicyDecision, style: RefusalStyle
    ) -> AWSError {
        let reason =
            decision == .explicitlyDenied
            ? "with an explicit deny in an identity-based policy" : "because no identity-based policy allows the \(action) action"
        let message = "User: \(principal.caller.arn) is not authorized to perform: \(action) on resource: \(resource) \(reason)"
        return switch style {
        case .json: AWSError(type: "AccessDeniedException", message: message, httpStatus: 400)
        case .restJSON: AWSError(type: "AccessDeniedException", message: message, httpStatus: 403)
        case .query: AWSError(type: "AccessDenied", message: message, httpStatus: 403)
        }
    }

    // MARK: Actions and resources by protocol

    /// IAM's service prefix of each AWS JSON target prefix.
    static let jsonServices: [String: String] = [
        ECSAPI.targetPrefix: "ecs", SQSAPI.targetPrefix: "sqs", ScalingAPI.targetPrefix: "application-autoscaling",
        SecretsAPI.parameterStorePrefix: "ssm", SecretsAPI.secretsManagerPrefix: "secretsmanager", LogsAPI.targetPrefix: "logs",
        EventBridgeAPI.targetPrefix: "events", AthenaAPI.targetPrefix: "athena", GlueAPI.targetPrefix: "glue",
    ]

    /// An AWS JSON request (`X-Amz-Target: <prefix>.<Operation>`); the resource comes from the
    /// body's naming members (a cluster, a task definition, a queue).
    /// - Parameter secret: the ARN a secret is stored under, found from the `SecretId` exactly as
    ///   Secrets Manager's operations find it (a name, or a full ARN), so the policy judges the
    ///   secret the operation will act on.
    static func json(target: String, body: [UInt8], names: ResourceNames, secret: @escaping (String) -> String? = { _ in nil }) -> RequestedAction {
        let (prefix, operation) = target.split(separator: ".", maxSplits: 1).map(String.init).pairOrEmpty
        let service = jsonServices[prefix] ?? prefix.lowercased()
        func resource(_ fields: NamingMembers) -> String {
            switch service {
            case "ecs":

                if let definition = fields.taskDefinition {
                    return definition.hasPrefix("arn:") ? definition : names.arn("ecs", "task-definition/\(definition)")
                }
                if operation == "RegisterTaskDefinition", let family = fields.family {
                    return names.arn("ecs", "task-definition/\(family):*")
                }
                if let cluster = fields.cluster ?? fields.clusterName {
                    return cluster.hasPrefix("arn:") ? cluster : names.cluster(cluster)
                }
                return "*"
            case "ssm":
                if let name = fields.Name ?? fields.Path { return name.hasPrefix("arn:") ? name : names.parameter(name) }
                return "*"
            case "secretsmanager":
                if let id = fields.SecretId ?? fields.Name {
                    return secret(id) ?? (id.hasPrefix("arn:") ? id : names.arn("secretsmanager", "secret:\(id)"))
                }
                return "*"
            case "logs":
                if let group = try? LogsState.groupName(fields.logGroupName, identifier: fields.logGroupIdentifier) {
                    return names.logGroup(group) + (fields.logStreamName.map { ":log-stream:\($0)" } ?? ":*")
                }
                return fields.resourceArn ?? "*"
            case "events":
                let bus = EventBridgeState.busName(fields.EventBusName)
                if let rule = fields.Rule ?? (operation.hasSuffix("Rule") ? fields.Name : nil) { return names.eventRule(rule, bus: bus) }
                if operation.hasSuffix("EventBus"), let name = fields.Name { return names.eventBus(name) }
                return fields.ResourceARN ?? names.eventBus(bus)
            case "sqs":
                if let url = fields.QueueUrl, let name = url.split(separator: "/").last { return names.queue(String(name)) }
                if let name = fields.QueueName { return names.queue(name) }
                return "*"
            default:
                return "*"
            }
        }
        return RequestedAction(action: service + ":" + operation, resources: {
            // Decoded as the operation decodes it, so the policy judges the same resource the
            // operation acts on (a body naming a member twice means the same thing to both).
            guard let fields = try? AWSJSONCodec.decode(NamingMembers.self, from: body) else { return ["*"] }
            // PutEvents acts on each entry's bus.
            if service == "events", operation == "PutEvents", let entries = fields.Entries, !entries.isEmpty {
                return Array(Set(entries.map { names.eventBus(EventBridgeState.busName($0.EventBusName)) })).sorted()
            }
            // ECS Exec acts on the cluster and on the task, as AWS's policies grant it (`cluster/<name>`
            // and `task/<cluster>/*`): both must be allowed.
            if service == "ecs", operation == "ExecuteCommand", let task = fields.task {
                let cluster = names.clusterName(fromReference: fields.cluster ?? "default")
                return [names.cluster(cluster), task.hasPrefix("arn:") ? task : names.task(cluster: cluster, id: task)]
            }
            if service == "ssm", let several = fields.Names, !several.isEmpty {
                return several.map { $0.hasPrefix("arn:") ? $0 : names.parameter($0) }
            }
            return [resource(fields)]
        })
    }

    /// The members of a JSON request that name its resource or the roles it passes.
    struct NamingMembers: Decodable {
        var cluster: String?
        /// CloudWatch Logs' group and stream, or a tagging ARN.
        var logGroupName: String?
        var logGroupIdentifier: String?
        var logStreamName: String?
        var resourceArn: String?
        var clusterName: String?
        /// ExecuteCommand's task.
        var task: String?
        var taskDefinition: String?
        var family: String?
        var taskRoleArn: String?
        var executionRoleArn: String?
        /// CreateService's role for its load balancers.
        var role: String?
        var overrides: RoleOverrides?
        var Name: String?
        /// GetParameters' names, GetParametersByPath's path.
        var Names: [String]?
        var Path: String?
        var SecretId: String?
        var QueueUrl: String?
        var QueueName: String?
        /// EventBridge's rule, bus and tagging ARN.
        var Rule: String?
        var EventBusName: String?
        var ResourceARN: String?
        /// PutEvents' entries (each names its bus).
        var Entries: [EntryNaming]?

        struct EntryNaming: Decodable {
            var EventBusName: String?
        }

        struct RoleOverrides: Decodable {
            var taskRoleArn: String?
            var executionRoleArn: String?
        }

        /// Roles the request hands to what it creates or runs.
        var passedRoles: [String] {
            [taskRoleArn, executionRoleArn, role, overrides?.taskRoleArn, overrides?.executionRoleArn].compactMap { $0 }
        }
    }

    /// Roles an AWS JSON request passes (a task definition's, a RunTask override): the caller
    /// needs `iam:PassRole` on each, as in AWS, or it could take any role's rights.
    static func passedRoles(target: String, body: [UInt8]) -> [String] {
        guard target.hasPrefix(ECSAPI.targetPrefix + "."), let fields = try? AWSJSONCodec.decode(NamingMembers.self, from: body) else { return [] }
        return fields.passedRoles
    }

    /// The task definition a request names (RunTask's, a service's).
    static func taskDefinition(_ body: [UInt8]) -> String? {
        (try? AWSJSONCodec.decode(NamingMembers.self, from: body))?.taskDefinition
    }

    /// The refusal of a role the caller may not pass, if any.
    static func passRoleRefusal(
        _ principal: AccessKeyring.Principal, roles: [String], names: ResourceNames, style: RefusalStyle, stored: (String) -> String = { $0 }
    ) -> AWSError? {
        for role in roles {
            let arn = role.hasPrefix("arn:") ? role : names.iamRole(role)
            if let refusal = refusal(principal, RequestedAction(action: "iam:PassRole") { arn }, style: style, stored: stored) { return refusal }
        }
        return nil
    }

    /// The ARN a role or user is stored under, which is what policies written for AWS name: with
    /// its path (`role/service/app`, asked for as `app`). (Secrets are found from the request's
    /// own `SecretId`, see ``json(target:body:names:secret:)``.) Other resources, other accounts'
    /// and anything not found stay as the request named them.
    static func stored(_ resource: String, in root: ControlPlaneState, names: ResourceNames) -> String {
        let roles = names.iamRole("")
        if resource.hasPrefix(roles) {
            return root.iam.roles[ResourceNames.roleName(resource)]?.arn ?? resource
        }
        let users = names.iamUser("")
        if resource.hasPrefix(users) {
            return root.iam.users[String(resource.split(separator: "/").last ?? "")]?.arn ?? resource
        }
        return resource
    }

    /// A REST route, by the action its service names it (Lambda's table; Stevedore's own routes
    /// carry theirs); the resource is the function the path names.
    static func rest(_ route: RESTRoute, parameters: [String: String], query: [String: String] = [:], body: [UInt8] = [], names: ResourceNames) -> RequestedAction {
        // API Gateway authorizes by method and resource path: `apigateway:POST` on `…::/apis/{apiId}/routes`.
        let path = route.path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? parameters[String(segment.dropFirst().dropLast())] ?? String(segment) : String(segment)
        }.joined(separator: "/")
        if let (action, resource) = GatewayAPI.iamAction(method: route.method, path: path, names: names) {
            return RequestedAction(action: action) { resource }
        }
        if let action = SchedulerAPI.iamActions["\(route.method) \(route.path)"] {
            return RequestedAction(action: action) {
                if route.path.hasPrefix("/schedules/"), let name = parameters["name"] {
                    // The group the request names: a query parameter (Get, Delete), or the body's GroupName (Create, Update).
                    struct Grouped: Decodable { var GroupName: String? }
                    let group = query["groupName"] ?? (try? AWSJSONCodec.decode(Grouped.self, from: body))?.GroupName
                    return names.schedule(name, group: group ?? EventBridgeState.defaultScheduleGroup)
                }
                if route.path.hasPrefix("/schedule-groups/"), let name = parameters["name"] { return names.scheduleGroup(name) }
                return parameters["arn"] ?? "*"
            }
        }
        let action = LambdaAPI.iamActions["\(route.method) \(route.path)"] ?? stevedoreActions["\(route.method) \(route.path)"] ?? "stevedore:\(route.method)"
        return RequestedAction(action: action) {
            if let name = parameters["name"] {
                return name.hasPrefix("arn:") ? name : names.function(name)
            }
            return "*"
        }
    }

    /// Stevedore's own REST routes (capacity groups, scaling alarms, metrics), named after the
    /// nearest AWS actions so policies written for AWS cover them.
    static let stevedoreActions: [String: String] = {
        let groups = CapacityAPI.groupsPath
        let pairs: [(String, String, String)] = [
            ("POST", groups, "autoscaling:CreateAutoScalingGroup"), ("GET", groups, "autoscaling:DescribeAutoScalingGroups"),
            ("GET", groups + "/{name}", "autoscaling:DescribeAutoScalingGroups"), ("PUT", groups + "/{name}", "autoscaling:UpdateAutoScalingGroup"),
            ("DELETE", groups + "/{name}", "autoscaling:DeleteAutoScalingGroup"), ("GET", CapacityAPI.reservationsPath, "cloudwatch:GetMetricData"),
            ("PUT", WorkChannel.scalingAlarmsPath, "cloudwatch:PutMetricAlarm"), ("GET", WorkChannel.scalingAlarmsPath, "cloudwatch:DescribeAlarms"),
            ("GET", WorkChannel.serviceMetricsPath, "cloudwatch:GetMetricData"),
        ]
        return Dictionary(uniqueKeysWithValues: pairs.map { ("\($0.0) \($0.1)", $0.2) })
    }()

    /// A query-protocol request: IAM's actions on the user or role they name (one being created
    /// with the `Path` it will have).
    /// - Parameter namespace: that of the service that will answer (chosen by `Action`, as the
    ///   dispatcher chooses it; the request's `Version` says nothing the caller cannot change).
    static func query(_ request: QueryRequest, namespace: String, names: ResourceNames) -> RequestedAction {
        let action = request.action ?? ""
        if namespace == SNSAPI.namespace {
            // SNS's actions, on the topic (or the subscription's topic) they name; PublishBatch is sns:Publish.
            return RequestedAction(action: "sns:" + (action == "PublishBatch" ? "Publish" : action)) {
                if action == "CreateTopic", let name = request["Name"] { return names.topic(name) }
                return request["TopicArn"] ?? request["TargetArn"] ?? request["ResourceArn"]
                    ?? request["SubscriptionArn"].map { String($0.split(separator: ":").dropLast().joined(separator: ":")) } ?? "*"
            }
        }
        if namespace == ELBAPI.namespace {
            // Elastic Load Balancing's actions, on the target group they name.
            return RequestedAction(action: "elasticloadbalancing:" + action) { request["TargetGroupArn"] ?? "*" }
        }
        return RequestedAction(action: "iam:" + action) {
            let path = ["CreateUser", "CreateRole", "CreatePolicy"].contains(action) ? request["Path"] ?? "/" : "/"
            // Attaching and detaching act on the user or role; the policy's own actions on the policy.
            return request["UserName"].map { names.iamUser($0, path: path) } ?? request["RoleName"].map { names.iamRole($0, path: path) }
                ?? request["PolicyArn"]
                ?? (action == "CreatePolicy" ? request["PolicyName"].map { "arn:\(names.partition):iam::\(names.accountId):policy\(path)\($0)" } : nil) ?? "*"
        }
    }
}

/// Resources as they are stored, from one state snapshot (see ``AccessPolicy/stored(_:in:names:)``).
struct StoredResources: Sendable {
    let root: ControlPlaneState?
    let names: ResourceNames

    func arn(_ resource: String) -> String { root.map { AccessPolicy.stored(resource, in: $0, names: names) } ?? resource }

    /// A secret's ARN, found from a `SecretId` as the operations find it.
    func secret(_ id: String) -> String? { (try? root?.secrets.secret(id))?.arn }
}

extension Array where Element == String {
    fileprivate var pairOrEmpty: (String, String) { count == 2 ? (self[0], self[1]) : (first ?? "", "") }
}
