import StevedoreCore

let ecs = "AmazonEC2ContainerServiceV20141113."
private let scaling = "AnyScaleFrontendService."

/// ECS's tags from CloudFormation's `Tags` list (`key`/`value`, as ECS spells them).
func ecsTags(_ properties: Document) -> Document {
    .array((properties["Tags"]?.items ?? []).map { .object([("key", $0["Key"] ?? .string("")), ("value", $0["Value"] ?? .string(""))]) })
}

/// `AWS::ECS::Cluster`: CreateCluster; Ref is its name.
struct ClusterProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let body = properties.picking(["ClusterSettings", "Configuration", "CapacityProviders", "DefaultCapacityProviderStrategy", "ServiceConnectDefaults"])
            .camelCased().with("clusterName", .string(name)).with("tags", ecsTags(properties))
        let settings = body["clusterSettings"]
        let answer = try await context.calls.json(ecs + "CreateCluster", body.without(["clusterSettings"]).with("settings", settings))
        return ResourceValues(ref: name, attributes: ["Arn": answer["cluster"]?["clusterArn"]?.string ?? ""])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        if properties["CapacityProviders"] != previous["CapacityProviders"]
            || properties["DefaultCapacityProviderStrategy"] != previous["DefaultCapacityProviderStrategy"]
        {
            let body = properties.picking(["CapacityProviders", "DefaultCapacityProviderStrategy"]).camelCased().with("cluster", .string(current.ref))
            _ = try await context.calls.json(
                ecs + "PutClusterCapacityProviders",
                body.with("capacityProviders", body["capacityProviders"] ?? .array([])).with(
                    "defaultCapacityProviderStrategy", body["defaultCapacityProviderStrategy"] ?? .array([])))
        }
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        // A deleted service's tasks take a while to stop: the cluster goes once they have.
        try await retrying(while: { $0.type == "ClusterContainsTasksException" || $0.type == "ClusterContainsServicesException" }) { () async throws(AWSError) in
            _ = try await context.calls.json(ecs + "DeleteCluster", .object([("cluster", .string(physicalId))]))
        }
    }
}

/// `AWS::ECS::TaskDefinition`: RegisterTaskDefinition (every change registers a new revision);
/// Ref is the revision's ARN.
struct TaskDefinitionProvisioner: ResourceProvisioner {
    /// Members below which keys are the user's (labels, log options, sysctls).
    static let userKeys: Set<String> = ["DockerLabels", "Options", "DriverOpts", "Labels"]
    static let containerNumbers: Set<String> = [
        "Cpu", "Memory", "MemoryReservation", "StartTimeout", "StopTimeout", "ContainerPort", "HostPort", "Interval", "Timeout", "Retries",
        "StartPeriod", "SoftLimit", "HardLimit", "Size",
    ]

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        var body = Self.numbered(properties.without(["Tags"])).camelCased(keeping: Self.userKeys)
        // The task's cpu and memory are text in ECS's API; the containers' are numbers.
        for member in ["cpu", "memory"] { if let value = body[member]?.string { body = body.with(member, .string(value)) } }
        body = body.with("family", .string(properties["Family"]?.string ?? name)).with("tags", ecsTags(properties))
        if let constraints = body["placementConstraints"] { body = body.with("placementConstraints", constraints) }
        let answer = try await context.calls.json(ecs + "RegisterTaskDefinition", body)
        let arn = answer["taskDefinition"]?["taskDefinitionArn"]?.string ?? ""
        return ResourceValues(ref: arn, attributes: ["TaskDefinitionArn": arn])
    }

    static func numbered(_ value: Document) -> Document {
        switch value {
        case .object(let members):
            return Document.object(members.map { ($0.0, userKeys.contains($0.0) ? $0.1 : numbered($0.1)) }).numbering(containerNumbers)
        case .array(let items): return .array(items.map(numbered))
        default: return value
        }
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await context.calls.json(ecs + "DeregisterTaskDefinition", .object([("taskDefinition", .string(physicalId))]))
    }
}

/// `AWS::ECS::Service`: CreateService, UpdateService, DeleteService (forced); Ref is its ARN.
struct ECSServiceProvisioner: ResourceProvisioner {
    static let members = [
        "Cluster", "TaskDefinition", "DesiredCount", "LaunchType", "LoadBalancers", "NetworkConfiguration", "DeploymentConfiguration", "PlacementConstraints",
        "CapacityProviderStrategy", "HealthCheckGracePeriodSeconds", "EnableECSManagedTags", "PropagateTags", "ServiceRegistries", "SchedulingStrategy",
        "EnableExecuteCommand", "PlatformVersion", "DeploymentController",
    ]
    static let numbers: Set<String> = [
        "DesiredCount", "HealthCheckGracePeriodSeconds", "ContainerPort", "MaximumPercent", "MinimumHealthyPercent", "Weight", "Base", "Port",
    ]

    func body(_ properties: Document) -> Document {
        var body = TaskDefinitionProvisioner.numbered(properties.picking(Self.members)).numbering(Self.numbers).camelCased()
        if let strategies = properties["PlacementStrategies"] { body = body.with("placementStrategy", strategies.camelCased()) }
        return body
    }

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let request = body(properties).with("serviceName", .string(name)).with("tags", ecsTags(properties))
        let answer = try await context.calls.json(ecs + "CreateService", request)
        let arn = answer["service"]?["serviceArn"]?.string ?? ""
        return ResourceValues(ref: arn, attributes: ["Name": name, "ServiceArn": arn])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let request = body(properties).without(["launchType", "schedulingStrategy", "deploymentController", "enableECSManagedTags", "propagateTags"])
            .with("service", .string(current.attributes["Name"] ?? current.ref))
        _ = try await context.calls.json(ecs + "UpdateService", request)
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        let cluster = properties["Cluster"] ?? .string("default")
        _ = try await context.calls.json(ecs + "DeleteService", .object([("cluster", cluster), ("service", .string(physicalId)), ("force", .bool(true))]))
        // As CloudFormation does, the delete completes once the service is INACTIVE (its tasks stopped).
        try await retrying(while: { $0.type == "ServiceDraining" }) { () async throws(AWSError) in
            let described = try await context.calls.json(ecs + "DescribeServices", .object([("cluster", cluster), ("services", .strings([physicalId]))]))
            if let status = described["services"]?.items.first?["status"]?.string, status != "INACTIVE" {
                throw AWSError(type: "ServiceDraining", message: "The service \(physicalId) is still \(status): its tasks have not all stopped.")
            }
        }
    }
}

/// `AWS::ApplicationAutoScaling::ScalableTarget`: RegisterScalableTarget; Ref is
/// `resourceId|scalableDimension|serviceNamespace`, as in CloudFormation.
struct ScalableTargetProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let body = properties.picking(["ServiceNamespace", "ResourceId", "ScalableDimension", "MinCapacity", "MaxCapacity", "RoleARN", "SuspendedState"])
            .numbering(["MinCapacity", "MaxCapacity"])
        _ = try await context.calls.json(scaling + "RegisterScalableTarget", body)
        let id = [properties["ResourceId"]?.string ?? "", properties["ScalableDimension"]?.string ?? "", properties["ServiceNamespace"]?.string ?? ""]
            .joined(separator: "|")
        return ResourceValues(ref: id)
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        _ = try await create(properties, name: current.ref, context: context)
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await context.calls.json(scaling + "DeregisterScalableTarget", properties.picking(["ServiceNamespace", "ResourceId", "ScalableDimension"]))
    }
}

/// `AWS::ApplicationAutoScaling::ScalingPolicy`: PutScalingPolicy, DeleteScalingPolicy; Ref is its ARN.
struct ScalingPolicyProvisioner: ResourceProvisioner {
    static let numbers: Set<String> = ["TargetValue", "ScaleInCooldown", "ScaleOutCooldown", "Cooldown", "MinAdjustmentMagnitude", "ScalingAdjustment", "MetricIntervalLowerBound", "MetricIntervalUpperBound"]

    func target(_ properties: Document) -> Document {
        if let id = properties["ScalingTargetId"]?.string {
            let parts = id.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            if parts.count == 3 {
                return .object([("ResourceId", .string(parts[0])), ("ScalableDimension", .string(parts[1])), ("ServiceNamespace", .string(parts[2]))])
            }
        }
        return properties.picking(["ServiceNamespace", "ResourceId", "ScalableDimension"])
    }

    func body(_ properties: Document) -> Document {
        var body = target(properties).with("PolicyName", properties["PolicyName"]).with("PolicyType", properties["PolicyType"])
        for member in ["TargetTrackingScalingPolicyConfiguration", "StepScalingPolicyConfiguration"] {
            if let configuration = properties[member] { body = body.with(member, Self.numbered(configuration)) }
        }
        return body
    }

    static func numbered(_ value: Document) -> Document {
        switch value {
        case .object(let members): Document.object(members.map { ($0.0, numbered($0.1)) }).numbering(numbers)
        case .array(let items): .array(items.map(numbered))
        default: value
        }
    }

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let answer = try await context.calls.json(scaling + "PutScalingPolicy", body(properties))
        let arn = answer["PolicyARN"]?.string ?? ""
        return ResourceValues(ref: arn, attributes: ["Arn": arn])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        _ = try await create(properties, name: current.ref, context: context)
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await context.calls.json(scaling + "DeleteScalingPolicy", target(properties).with("PolicyName", properties["PolicyName"]))
    }
}

/// `AWS::ECS::CapacityProvider`: CreateCapacityProvider over an auto scaling group; Ref is its name.
struct CapacityProviderProvisioner: ResourceProvisioner {
    static let numbers: Set<String> = ["TargetCapacity", "MinimumScalingStepSize", "MaximumScalingStepSize", "InstanceWarmupPeriod"]

    func provider(_ properties: Document) -> Document? {
        guard let group = properties["AutoScalingGroupProvider"] else { return nil }
        var provider = group
        if let scaling = group["ManagedScaling"] { provider = provider.with("ManagedScaling", scaling.numbering(Self.numbers)) }
        return provider.camelCased()
    }

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let body = Document.object([("name", .string(name)), ("tags", ecsTags(properties))]).with("autoScalingGroupProvider", provider(properties))
        _ = try await context.calls.json(ecs + "CreateCapacityProvider", body)
        return ResourceValues(ref: name)
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let provider = self.provider(properties)?.without(["autoScalingGroupArn"])
        _ = try await context.calls.json(ecs + "UpdateCapacityProvider", Document.object([("name", .string(current.ref))]).with("autoScalingGroupProvider", provider))
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        // A cluster's association may still be on its way out.
        try await retrying(while: { $0.type == "ResourceInUseException" }, for: .seconds(60)) { () async throws(AWSError) in
            _ = try await context.calls.json(ecs + "DeleteCapacityProvider", .object([("capacityProvider", .string(physicalId))]))
        }
    }
}

/// `AWS::ECS::ClusterCapacityProviderAssociations`: PutClusterCapacityProviders; deleting it
/// leaves the cluster with none. Ref is the cluster's name.
struct ClusterCapacityProvidersProvisioner: ResourceProvisioner {
    func put(_ properties: Document, cluster: String, context: ProvisioningContext) async throws(AWSError) {
        let strategy = (properties["DefaultCapacityProviderStrategy"]?.items ?? []).map { $0.numbering(["Weight", "Base"]).camelCased() }
        _ = try await context.calls.json(
            ecs + "PutClusterCapacityProviders",
            .object([
                ("cluster", .string(cluster)), ("capacityProviders", properties["CapacityProviders"] ?? .array([])),
                ("defaultCapacityProviderStrategy", .array(strategy)),
            ]))
    }

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let cluster = properties["Cluster"]?.string ?? ""
        try await put(properties, cluster: cluster, context: context)
        return ResourceValues(ref: cluster)
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        try await put(properties, cluster: current.ref, context: context)
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        try await put(.object([]), cluster: properties["Cluster"]?.string ?? physicalId, context: context)
    }
}
