import StevedoreCore

/// What CloudFormation knows of each resource type it provisions, apart from how: the property
/// that names it (a name is made up when the template gives none), how long such names may be,
/// and which properties cannot change without replacing the resource.
public struct ResourceTypeTraits: Sendable {
    public var nameProperty: String?
    public var maximumNameLength: Int = 64
    public var lowercaseNames = false
    public var replacedBy: Set<String> = []
    /// Properties whose change may or may not replace (the change set says `Conditional`).
    public var conditionallyReplacedBy: Set<String> = []
}

public enum ResourceTypes {
    public static let traits: [String: ResourceTypeTraits] = [
        "AWS::Lambda::Function": .init(nameProperty: "FunctionName", replacedBy: ["FunctionName", "PackageType"]),
        "AWS::Lambda::Version": .init(replacedBy: ["FunctionName", "Description", "CodeSha256", "ProvisionedConcurrencyConfig"]),
        "AWS::Lambda::Alias": .init(replacedBy: ["Name", "FunctionName"]),
        "AWS::Lambda::Permission": .init(replacedBy: ["Action", "FunctionName", "Principal", "SourceArn", "SourceAccount", "EventSourceToken", "FunctionUrlAuthType"]),
        "AWS::Lambda::LayerVersion": .init(replacedBy: ["Content", "LayerName", "CompatibleRuntimes", "CompatibleArchitectures", "Description", "LicenseInfo"]),
        "AWS::Lambda::EventSourceMapping": .init(replacedBy: ["EventSourceArn", "StartingPosition"]),
        "AWS::Lambda::EventInvokeConfig": .init(replacedBy: ["FunctionName", "Qualifier"]),
        "AWS::Lambda::Url": .init(replacedBy: ["TargetFunctionArn", "Qualifier"]),
        "AWS::IAM::Role": .init(nameProperty: "RoleName", replacedBy: ["RoleName", "Path"]),
        "AWS::IAM::Policy": .init(),
        "AWS::IAM::ManagedPolicy": .init(nameProperty: "ManagedPolicyName", replacedBy: ["ManagedPolicyName", "Path", "Description"]),
        "AWS::CloudFormation::Stack": .init(),
        "AWS::SQS::Queue": .init(nameProperty: "QueueName", maximumNameLength: 80, replacedBy: ["QueueName", "FifoQueue"]),
        "AWS::SNS::Topic": .init(nameProperty: "TopicName", maximumNameLength: 256, replacedBy: ["TopicName", "FifoTopic"]),
        "AWS::SNS::Subscription": .init(replacedBy: ["Endpoint", "Protocol", "TopicArn"]),
        "AWS::SQS::QueuePolicy": .init(),
        "AWS::SNS::TopicPolicy": .init(),
        "AWS::Logs::LogGroup": .init(nameProperty: "LogGroupName", maximumNameLength: 512, replacedBy: ["LogGroupName"]),
        "AWS::S3::Bucket": .init(nameProperty: "BucketName", maximumNameLength: 63, lowercaseNames: true, replacedBy: ["BucketName"]),
        "AWS::S3::BucketPolicy": .init(replacedBy: ["Bucket"]),
        "AWS::Events::Rule": .init(nameProperty: "Name", replacedBy: ["Name", "EventBusName"]),
        "AWS::Scheduler::Schedule": .init(nameProperty: "Name", replacedBy: ["Name", "GroupName"]),
        "AWS::ApiGateway::RestApi": .init(),
        "AWS::ApiGateway::Resource": .init(replacedBy: ["RestApiId", "ParentId", "PathPart"]),
        "AWS::ApiGateway::Method": .init(replacedBy: ["RestApiId", "ResourceId", "HttpMethod"]),
        "AWS::ApiGateway::Deployment": .init(replacedBy: ["RestApiId", "DeploymentCanarySettings"]),
        "AWS::ApiGateway::Stage": .init(replacedBy: ["RestApiId", "StageName"]),
        "AWS::ApiGatewayV2::Api": .init(replacedBy: ["ProtocolType"]),
        "AWS::ApiGatewayV2::Stage": .init(replacedBy: ["ApiId", "StageName"]),
        "AWS::ApiGatewayV2::Deployment": .init(replacedBy: ["ApiId"]),
        "AWS::ApiGatewayV2::Route": .init(replacedBy: ["ApiId"]),
        "AWS::ApiGatewayV2::Integration": .init(replacedBy: ["ApiId"]),
        "AWS::ApiGatewayV2::Authorizer": .init(replacedBy: ["ApiId"]),
        "AWS::ElasticLoadBalancingV2::TargetGroup": .init(
            nameProperty: "Name", maximumNameLength: 32, replacedBy: ["Name", "Port", "Protocol", "VpcId", "TargetType"]),
        "AWS::ApplicationAutoScaling::ScalableTarget": .init(replacedBy: ["ResourceId", "ScalableDimension", "ServiceNamespace"]),
        "AWS::ApplicationAutoScaling::ScalingPolicy": .init(replacedBy: ["PolicyName", "PolicyType", "ResourceId", "ScalableDimension", "ServiceNamespace", "ScalingTargetId"]),
        "AWS::ECS::Cluster": .init(nameProperty: "ClusterName", maximumNameLength: 255, replacedBy: ["ClusterName"]),
        "AWS::ECS::TaskDefinition": .init(
            replacedBy: [
                "Family", "ContainerDefinitions", "Cpu", "Memory", "NetworkMode", "Volumes", "TaskRoleArn", "ExecutionRoleArn",
                "RequiresCompatibilities", "PlacementConstraints", "PidMode", "IpcMode", "RuntimePlatform", "Tags",
            ]),
        "AWS::ECS::CapacityProvider": .init(
            nameProperty: "Name", maximumNameLength: 255, replacedBy: ["Name"], conditionallyReplacedBy: ["AutoScalingGroupProvider"]),
        "AWS::ECS::ClusterCapacityProviderAssociations": .init(replacedBy: ["Cluster"]),
        "AWS::ECS::Service": .init(nameProperty: "ServiceName", maximumNameLength: 255, replacedBy: ["ServiceName", "Cluster", "LaunchType", "Role", "SchedulingStrategy"]),
    ]

    /// `stack-Logical-SUFFIX` cut to the type's limit the way CloudFormation cuts it (the stack
    /// and logical parts shortened, the random suffix kept).
    public static func physicalName(type: String, stackName: String, logicalId: String, suffix: String) -> String {
        let trait = traits[type] ?? ResourceTypeTraits()
        let limit = trait.maximumNameLength
        var stack = stackName
        var logical = logicalId
        let fixed = suffix.count + 2
        while stack.count + logical.count + fixed > limit {
            if stack.count >= logical.count, !stack.isEmpty { stack.removeLast() } else if !logical.isEmpty { logical.removeLast() } else { break }
        }
        let name = "\(stack)-\(logical)-\(suffix)"
        return trait.lowercaseNames ? name.lowercased() : name
    }

    /// Whether changing `old` into `new` replaces the resource: `True`, `Conditional` or `False`.
    public static func replacement(type: String, old: Document?, new: Document) -> String {
        // A custom resource is sent an Update request whatever changed (its function decides).
        let custom = type.hasPrefix("Custom::") || type == "AWS::CloudFormation::CustomResource"
        guard let old, let trait = custom ? ResourceTypeTraits() : traits[type] else { return "True" }
        let changed = Set(old.members.map(\.0) + new.members.map(\.0)).filter { old[$0] != new[$0] }
        if !changed.isDisjoint(with: trait.replacedBy) { return "True" }
        if !changed.isDisjoint(with: trait.conditionallyReplacedBy) { return "Conditional" }
        return "False"
    }
}
