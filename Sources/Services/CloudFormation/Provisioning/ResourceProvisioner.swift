#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import S3
import StevedoreCore

/// The services' own operations, as a stack's resources are made with them: the same checks and
/// errors as a client's call, made as the stack's caller would make them.
public protocol ServiceCalls: Sendable {
    /// A REST-JSON operation (Lambda, API Gateway, Scheduler); `path` may carry a query. The answer's JSON.
    func rest(_ method: String, _ path: String, body: Document?) async throws(AWSError) -> Document
    /// An AWS JSON operation (ECS, SQS, CloudWatch Logs, EventBridge, Application Auto Scaling).
    func json(_ target: String, _ body: Document) async throws(AWSError) -> Document
    /// A query-protocol action (IAM, SNS): the answer's `<Action>Result` element.
    func query(_ action: String, _ parameters: [(String, String)]) async throws(AWSError) -> XMLNode
    func createBucket(_ name: String) async throws(AWSError)
    func deleteBucket(_ name: String) async throws(AWSError)
    func setBucketPolicy(_ name: String, policy: String?) async throws(AWSError)
    func setBucketTags(_ name: String, tags: [S3Tag]?) async throws(AWSError)
    /// PutBucketNotificationConfiguration, destinations validated as for a client.
    func setBucketNotification(_ name: String, _ configuration: NotificationConfiguration) async throws(AWSError)
    /// An `Event` invocation of a function (custom resources' requests).
    func invokeEvent(_ functionArn: String, payload: [UInt8]) async throws(AWSError)
    /// Where a custom resource's function PUTs its answer: a presigned URL in the object store.
    func customResourceResponseURL(stackId: String, logicalId: String, requestId: String) async throws(AWSError) -> String
    /// That answer once it is there (and then removed), or nil when `timeout` passes first.
    func customResourceResponse(stackId: String, logicalId: String, requestId: String, timeout: Duration) async throws(AWSError) -> [UInt8]?
    /// A request id, as CloudFormation gives each custom resource request.
    func newRequestId() -> String
}

/// Makes, changes and removes the resources of one type.
public protocol ResourceProvisioner: Sendable {
    /// - Parameter name: the physical name to use where the template gives none.
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues
    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues
    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError)
}

/// What provisioners share: the calls, the account's names, the stack's name and tags.
public struct ProvisioningContext: Sendable {
    public var calls: any ServiceCalls
    public var names: ResourceNames
    public var stackName: String
    public var stackId: String
    public var logicalId: String
    public var stackTags: [StackTag]
    /// The resource's type as the template gives it (custom resources' requests name it).
    public var resourceType: String

    public init(
        calls: any ServiceCalls, names: ResourceNames, stackName: String, stackId: String, logicalId: String, stackTags: [StackTag],
        resourceType: String = ""
    ) {
        self.calls = calls
        self.names = names
        self.stackName = stackName
        self.stackId = stackId
        self.logicalId = logicalId
        self.stackTags = stackTags
        self.resourceType = resourceType
    }

    /// The tags CloudFormation puts on what it makes, with the template's own.
    func tags(_ declared: Document?) -> [(String, String)] {
        var tags = [
            ("aws:cloudformation:stack-name", stackName), ("aws:cloudformation:stack-id", stackId), ("aws:cloudformation:logical-id", logicalId),
        ]
        tags += stackTags.map { ($0.key, $0.value) }
        for tag in declared?.items ?? [] {
            if let key = tag["Key"]?.string, let value = tag["Value"]?.string { tags.append((key, value)) }
        }
        // One value per key: the resource's own tag over the stack's.
        var seen = Set<String>()
        return tags.reversed().filter { seen.insert($0.0).inserted }.reversed()
    }
}

/// Every resource type a stack may hold, by type name. A type missing here fails its resource
/// (and the stack rolls back) with a message naming it.
public enum Provisioners {
    public static let all: [String: any ResourceProvisioner] = [
        "AWS::Lambda::Function": LambdaFunctionProvisioner(),
        "AWS::Lambda::Version": LambdaVersionProvisioner(),
        "AWS::Lambda::Alias": LambdaAliasProvisioner(),
        "AWS::Lambda::Permission": LambdaPermissionProvisioner(),
        "AWS::Lambda::LayerVersion": LambdaLayerProvisioner(),
        "AWS::Lambda::EventSourceMapping": EventSourceMappingProvisioner(),
        "AWS::Lambda::EventInvokeConfig": EventInvokeConfigProvisioner(),
        "AWS::Lambda::Url": LambdaUrlProvisioner(),
        "AWS::IAM::Role": RoleProvisioner(),
        "AWS::IAM::Policy": PolicyProvisioner(),
        "AWS::IAM::ManagedPolicy": ManagedPolicyProvisioner(),
        "AWS::CloudFormation::Stack": NestedStackProvisioner(),
        "AWS::SQS::Queue": QueueProvisioner(),
        "AWS::SNS::Topic": TopicProvisioner(),
        "AWS::SNS::Subscription": SubscriptionProvisioner(),
        "AWS::SQS::QueuePolicy": ResourcePolicyProvisioner(kind: .queues),
        "AWS::SNS::TopicPolicy": ResourcePolicyProvisioner(kind: .topics),
        "AWS::Logs::LogGroup": LogGroupProvisioner(),
        "AWS::S3::Bucket": BucketProvisioner(),
        "AWS::S3::BucketPolicy": BucketPolicyProvisioner(),
        "AWS::Events::Rule": EventRuleProvisioner(),
        "AWS::Scheduler::Schedule": ScheduleProvisioner(),
        "AWS::ApiGateway::RestApi": RestApiProvisioner(),
        "AWS::ApiGateway::Resource": RestResourceProvisioner(),
        "AWS::ApiGateway::Method": RestMethodProvisioner(),
        "AWS::ApiGateway::Deployment": RestDeploymentProvisioner(),
        "AWS::ApiGateway::Stage": RestStageProvisioner(),
        "AWS::ApiGatewayV2::Api": HTTPApiProvisioner(),
        "AWS::ApiGatewayV2::Stage": HTTPApiPartProvisioner.stage,
        "AWS::ApiGatewayV2::Route": HTTPApiPartProvisioner.route,
        "AWS::ApiGatewayV2::Integration": HTTPApiPartProvisioner.integration,
        "AWS::ApiGatewayV2::Deployment": HTTPApiPartProvisioner.deployment,
        "AWS::ApiGatewayV2::Authorizer": HTTPApiPartProvisioner.authorizer,
        "AWS::ECS::Cluster": ClusterProvisioner(),
        "AWS::ECS::TaskDefinition": TaskDefinitionProvisioner(),
        "AWS::ECS::Service": ECSServiceProvisioner(),
        "AWS::ECS::CapacityProvider": CapacityProviderProvisioner(),
        "AWS::ECS::ClusterCapacityProviderAssociations": ClusterCapacityProvidersProvisioner(),
        "AWS::ApplicationAutoScaling::ScalableTarget": ScalableTargetProvisioner(),
        "AWS::ApplicationAutoScaling::ScalingPolicy": ScalingPolicyProvisioner(),
        "AWS::ElasticLoadBalancingV2::TargetGroup": TargetGroupProvisioner(),
    ]

    /// The provisioner of a type: its own, or custom resources' for `Custom::*`.
    static func provisioner(of type: String) -> (any ResourceProvisioner)? {
        if type.hasPrefix("Custom::") || type == "AWS::CloudFormation::CustomResource" { return CustomResourceProvisioner() }
        return all[type]
    }

    /// Runs one step of a stack's deployment.
    public static func run(_ step: ResourceStep, context: ProvisioningContext) async -> StepOutcome {
        guard let provisioner = provisioner(of: step.type) else {
            if step.action == .delete { return .succeeded(physicalId: step.physicalId, values: ResourceValues(ref: step.physicalId)) }
            return .failed("Stevedore does not provision resources of type \(step.type). Resource types it provisions: \(all.keys.sorted().joined(separator: ", ")).")
        }
        do throws(AWSError) {
            switch step.action {
            case .create:
                let values = try await provisioner.create(step.properties, name: step.physicalId, context: context)
                return .succeeded(physicalId: values.ref, values: values)
            case .update:
                let current = step.values ?? ResourceValues(ref: step.physicalId)
                let values = try await provisioner.update(step.properties, previous: step.previousProperties ?? .object([]), current: current, context: context)
                return .succeeded(physicalId: values.ref, values: values)
            case .delete:
                do throws(AWSError) {
                    try await provisioner.delete(step.physicalId, properties: step.properties, values: step.values, context: context)
                } catch where error.isNotFound {
                    // Already gone: what a delete wants.
                }
                return .succeeded(physicalId: step.physicalId, values: ResourceValues(ref: step.physicalId))
            }
        } catch where error.type == "CustomResourceFailure" {
            return .failed(error.message)
        } catch {
            return .failed("Resource handler returned message: \"\(error.message)\" (HandlerErrorCode: \(error.handlerErrorCode))")
        }
    }
}

extension AWSError {
    var isNotFound: Bool {
        httpStatus == 404 || type.hasSuffix("NotFoundException") || type.hasSuffix("NotFound") || type.hasPrefix("NoSuch")
            || type == "NonExistentQueue" || type == "AWS.SimpleQueueService.NonExistentQueue" || type == "ClusterNotFoundException"
    }

    /// CloudFormation's handler error code for a service's error.
    var handlerErrorCode: String {
        if isNotFound { return "NotFound" }
        if type.contains("AlreadyExists") || type.contains("ResourceConflict") || type == "EntityAlreadyExists" { return "AlreadyExists" }
        if httpStatus == 403 || type.contains("AccessDenied") { return "AccessDenied" }
        if type.contains("Throttl") || type.contains("TooManyRequests") { return "Throttling" }
        if httpStatus >= 500 { return "ServiceInternalError" }
        return "InvalidRequest"
    }
}

/// The rest of a creation made in several calls; when it fails, what the first call made is
/// removed, so a failed resource leaves nothing behind for the rollback to miss.
func completing<Result>(
    _ rest: () async throws(AWSError) -> Result, orUndo undo: () async throws(AWSError) -> Void
) async throws(AWSError) -> Result {
    do throws(AWSError) {
        return try await rest()
    } catch {
        try? await undo()
        throw error
    }
}

/// Runs `body` again while it fails with an error `transient` accepts (a resource still in use,
/// draining), every half second, for up to `limit`; then the last error stands.
func retrying(
    while transient: (AWSError) -> Bool, for limit: Duration = .seconds(600), _ body: () async throws(AWSError) -> Void
) async throws(AWSError) {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while true {
        do throws(AWSError) {
            try await body()
            return
        } catch where transient(error) && clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(500))
            if Task.isCancelled { throw error }
        }
    }
}

// MARK: Helpers for reading properties

extension Document {
    /// A copy with only these members, in this order, renamed where a pair says so.
    func picking(_ names: [String]) -> Document {
        .object(names.compactMap { name in self[name].map { (name, $0) } })
    }

    /// A member's integer value, whether written as a number or as text (a parameter's Ref is text).
    func integer(_ name: String) -> Int? {
        switch self[name] {
        case .integer(let value)?: value
        case .string(let text)?: Int(text)
        default: nil
        }
    }

    func boolean(_ name: String) -> Bool? {
        switch self[name] {
        case .bool(let flag)?: flag
        case .string(let text)?: text == "true" ? true : text == "false" ? false : nil
        default: nil
        }
    }

    /// A member that holds a JSON document (a policy, a pattern) as the text an API takes.
    func jsonText(_ name: String) -> String? {
        switch self[name] {
        case .string(let text)?: text
        case let value?: value.json()
        case nil: nil
        }
    }

    /// Members written as numbers where a template wrote text (`"30"`), for APIs that take numbers.
    func numbering(_ names: Set<String>) -> Document {
        guard case .object(let members) = self else { return self }
        return .object(
            members.map { key, value in
                if names.contains(key), case .string(let text) = value, let number = Int(text) { return (key, .integer(number)) }
                if names.contains(key), case .string(let text) = value, let number = Double(text) { return (key, .number(number)) }
                if case .string(let text) = value, names.contains(key), text == "true" || text == "false" { return (key, .bool(text == "true")) }
                return (key, value)
            })
    }

    /// Members written as booleans where a template wrote text.
    func booleans(_ names: Set<String>) -> Document {
        guard case .object(let members) = self else { return self }
        return .object(
            members.map { key, value in
                if names.contains(key), case .string(let text) = value, text == "true" || text == "false" { return (key, .bool(text == "true")) }
                return (key, value)
            })
    }

    /// CloudFormation's `PascalCase` properties as an API's `camelCase` members, all the way down;
    /// the members of maps whose keys are the user's own (labels, options, settings by route key)
    /// keep their keys, their values converted.
    func camelCased(keeping keptKeys: Set<String> = []) -> Document {
        switch self {
        case .object(let members):
            return .object(
                members.map { key, value in
                    let name = Self.camelNames[key] ?? key.prefix(1).lowercased() + key.dropFirst()
                    guard keptKeys.contains(key), case .object(let entries) = value else { return (name, value.camelCased(keeping: keptKeys)) }
                    return (name, .object(entries.map { ($0.0, $0.1.camelCased(keeping: keptKeys)) }))
                })
        case .array(let items): return .array(items.map { $0.camelCased(keeping: keptKeys) })
        default: return self
        }
    }

    /// Names whose API spelling is not the property's with its first letter lowered (acronyms).
    static let camelNames = [
        "EFSVolumeConfiguration": "efsVolumeConfiguration", "FilesystemId": "fileSystemId", "IAM": "iam",
        "FSxWindowsFileServerVolumeConfiguration": "fsxWindowsFileServerVolumeConfiguration",
    ]

    static func strings(_ items: [String]) -> Document { .array(items.map { .string($0) }) }

    func with(_ key: String, _ value: Document?) -> Document {
        guard case .object(var members) = self else { return self }
        members.removeAll { $0.0 == key }
        if let value { members.append((key, value)) }
        return .object(members)
    }

    func without(_ keys: Set<String>) -> Document {
        guard case .object(let members) = self else { return self }
        return .object(members.filter { !keys.contains($0.0) })
    }
}

/// Path segments and query values as a URL carries them.
func escaped(_ text: String) -> String {
    PercentEncoding.encode(text)
}
