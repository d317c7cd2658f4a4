#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import S3
import StevedoreCore

// MARK: IAM

/// `AWS::IAM::Role`: CreateRole with its inline policies (PutRolePolicy) and managed policies
/// (`ManagedPolicyArns`, AttachRolePolicy); Ref is the role's name.
struct RoleProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        var parameters: [(String, String)] = [("RoleName", name), ("AssumeRolePolicyDocument", properties.jsonText("AssumeRolePolicyDocument") ?? "{}")]
        for member in ["Path", "Description"] { if let value = properties[member]?.string { parameters.append((member, value)) } }
        if let duration = properties.integer("MaxSessionDuration") { parameters.append(("MaxSessionDuration", String(duration))) }
        let result = try await context.calls.query("CreateRole", parameters)
        try await completing { () async throws(AWSError) in try await putPolicies(properties, role: name, context: context) } orUndo: { () async throws(AWSError) in
            try await delete(name, properties: properties, values: nil, context: context)
        }
        let role = result.child("Role")
        return ResourceValues(
            ref: name, attributes: ["Arn": role?.value("Arn") ?? context.names.iamRole(name), "RoleId": role?.value("RoleId") ?? ""])
    }

    func putPolicies(_ properties: Document, role: String, context: ProvisioningContext) async throws(AWSError) {
        for arn in Self.managedPolicies(properties) {
            do throws(AWSError) {
                _ = try await context.calls.query("AttachRolePolicy", [("RoleName", role), ("PolicyArn", arn)])
            } catch where error.isNotFound && arn.contains(":iam::aws:policy/") {
                // One of AWS's that Stevedore does not know: the role is made without it (it
                // would grant nothing here), as templates written for AWS expect it to exist.
            }
        }
        for policy in properties["Policies"]?.items ?? [] {
            guard let name = policy["PolicyName"]?.string else { continue }
            _ = try await context.calls.query(
                "PutRolePolicy", [("RoleName", role), ("PolicyName", name), ("PolicyDocument", policy.jsonText("PolicyDocument") ?? "{}")])
        }
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let attached = Set(Self.managedPolicies(properties))
        for arn in Self.managedPolicies(previous) where !attached.contains(arn) {
            do throws(AWSError) {
                _ = try await context.calls.query("DetachRolePolicy", [("RoleName", current.ref), ("PolicyArn", arn)])
            } catch where error.isNotFound {}
        }
        let kept = Set((properties["Policies"]?.items ?? []).compactMap { $0["PolicyName"]?.string })
        for policy in previous["Policies"]?.items ?? [] {
            guard let name = policy["PolicyName"]?.string, !kept.contains(name) else { continue }
            _ = try await context.calls.query("DeleteRolePolicy", [("RoleName", current.ref), ("PolicyName", name)])
        }
        try await putPolicies(properties, role: current.ref, context: context)
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        for arn in Self.managedPolicies(properties) {
            do throws(AWSError) {
                _ = try await context.calls.query("DetachRolePolicy", [("RoleName", physicalId), ("PolicyArn", arn)])
            } catch where error.isNotFound {}
        }
        for policy in properties["Policies"]?.items ?? [] {
            guard let name = policy["PolicyName"]?.string else { continue }
            do throws(AWSError) {
                _ = try await context.calls.query("DeleteRolePolicy", [("RoleName", physicalId), ("PolicyName", name)])
            } catch where error.isNotFound {}
        }
        _ = try await context.calls.query("DeleteRole", [("RoleName", physicalId)])
    }
}

extension RoleProvisioner {
    static func managedPolicies(_ properties: Document) -> [String] { properties["ManagedPolicyArns"]?.items.compactMap(\.string) ?? [] }
}

/// `AWS::IAM::Policy`: an inline policy put on each of its roles (and users).
struct PolicyProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        try await put(properties, context: context)
        return ResourceValues(ref: name)
    }

    func put(_ properties: Document, context: ProvisioningContext) async throws(AWSError) {
        let name = properties["PolicyName"]?.string ?? ""
        let document = properties.jsonText("PolicyDocument") ?? "{}"
        for role in properties["Roles"]?.items.compactMap(\.string) ?? [] {
            _ = try await context.calls.query("PutRolePolicy", [("RoleName", role), ("PolicyName", name), ("PolicyDocument", document)])
        }
        for user in properties["Users"]?.items.compactMap(\.string) ?? [] {
            _ = try await context.calls.query("PutUserPolicy", [("UserName", user), ("PolicyName", name), ("PolicyDocument", document)])
        }
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        try await delete(current.ref, properties: previous, values: current, context: context)
        try await put(properties, context: context)
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        let name = properties["PolicyName"]?.string ?? ""
        for role in properties["Roles"]?.items.compactMap(\.string) ?? [] {
            do throws(AWSError) {
                _ = try await context.calls.query("DeleteRolePolicy", [("RoleName", role), ("PolicyName", name)])
            } catch where error.isNotFound {}
        }
        for user in properties["Users"]?.items.compactMap(\.string) ?? [] {
            do throws(AWSError) {
                _ = try await context.calls.query("DeleteUserPolicy", [("UserName", user), ("PolicyName", name)])
            } catch where error.isNotFound {}
        }
    }
}

/// `AWS::IAM::ManagedPolicy`: CreatePolicy, attached to its `Roles` and `Users`; Ref is the
/// policy's ARN. A changed document becomes the policy's new default version.
struct ManagedPolicyProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        var parameters: [(String, String)] = [("PolicyName", name), ("PolicyDocument", properties.jsonText("PolicyDocument") ?? "{}")]
        for member in ["Path", "Description"] { if let value = properties[member]?.string { parameters.append((member, value)) } }
        let arn = try await context.calls.query("CreatePolicy", parameters).child("Policy")?.value("Arn") ?? ""
        try await completing { () async throws(AWSError) in
            try await attach(properties, except: nil, arn: arn, context: context)
        } orUndo: { () async throws(AWSError) in
            try await delete(arn, properties: properties, values: nil, context: context)
        }
        return ResourceValues(ref: arn, attributes: ["PolicyArn": arn])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let arn = current.ref
        if let document = properties.jsonText("PolicyDocument"), document != previous.jsonText("PolicyDocument") {
            // At five versions, the oldest that is not the default makes room.
            let versions = try await context.calls.query("ListPolicyVersions", [("PolicyArn", arn)]).child("Versions")?.all("member") ?? []
            if versions.count >= 5, let oldest = versions.last(where: { $0.value("IsDefaultVersion") != "true" })?.value("VersionId") {
                _ = try await context.calls.query("DeletePolicyVersion", [("PolicyArn", arn), ("VersionId", oldest)])
            }
            _ = try await context.calls.query("CreatePolicyVersion", [("PolicyArn", arn), ("PolicyDocument", document), ("SetAsDefault", "true")])
        }
        try await detach(previous, except: properties, arn: arn, context: context)
        try await attach(properties, except: previous, arn: arn, context: context)
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        try await detach(properties, except: nil, arn: physicalId, context: context)
        do throws(AWSError) {
            let versions = try await context.calls.query("ListPolicyVersions", [("PolicyArn", physicalId)]).child("Versions")?.all("member") ?? []
            for version in versions where version.value("IsDefaultVersion") != "true" {
                _ = try await context.calls.query("DeletePolicyVersion", [("PolicyArn", physicalId), ("VersionId", version.value("VersionId") ?? "")])
            }
            _ = try await context.calls.query("DeletePolicy", [("PolicyArn", physicalId)])
        } catch where error.isNotFound {}
    }

    /// The roles' and users' names listed in `properties` but not in `other`.
    static func entities(_ properties: Document, except other: Document?) -> [(action: String, member: String, name: String)] {
        var found: [(String, String, String)] = []
        for (list, action, member) in [("Roles", "Role", "RoleName"), ("Users", "User", "UserName")] {
            let excluded = Set(other?[list]?.items.compactMap(\.string) ?? [])
            for name in properties[list]?.items.compactMap(\.string) ?? [] where !excluded.contains(name) { found.append((action, member, name)) }
        }
        return found
    }

    func attach(_ properties: Document, except other: Document?, arn: String, context: ProvisioningContext) async throws(AWSError) {
        for entity in Self.entities(properties, except: other) {
            _ = try await context.calls.query("Attach\(entity.action)Policy", [(entity.member, entity.name), ("PolicyArn", arn)])
        }
    }

    func detach(_ properties: Document, except other: Document?, arn: String, context: ProvisioningContext) async throws(AWSError) {
        for entity in Self.entities(properties, except: other) {
            do throws(AWSError) {
                _ = try await context.calls.query("Detach\(entity.action)Policy", [(entity.member, entity.name), ("PolicyArn", arn)])
            } catch where error.isNotFound {}
        }
    }
}

// MARK: SQS, SNS

/// `AWS::SQS::Queue`: CreateQueue with its attributes; Ref is the queue's URL.
struct QueueProvisioner: ResourceProvisioner {
    static let attributes = [
        "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "RedrivePolicy",
        "RedriveAllowPolicy", "FifoQueue", "ContentBasedDeduplication", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled",
        "DeduplicationScope", "FifoThroughputLimit",
    ]

    func attributes(_ properties: Document) -> Document {
        .object(Self.attributes.compactMap { name in properties.jsonText(name).map { (name, .string($0)) } })
    }

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        var queueName = properties["QueueName"]?.string ?? name
        if properties.boolean("FifoQueue") == true, !queueName.hasSuffix(".fifo") { queueName = String(queueName.prefix(75)) + ".fifo" }
        let tags = Document.object(context.tags(properties["Tags"]).filter { !$0.0.hasPrefix("aws:") }.map { ($0.0, .string($0.1)) })
        let answer = try await context.calls.json(
            "AmazonSQS.CreateQueue", .object([("QueueName", .string(queueName)), ("Attributes", attributes(properties)), ("tags", tags)]))
        let url = answer["QueueUrl"]?.string ?? ""
        let arn = try await completing { () async throws(AWSError) in
            try await context.calls.json(
                "AmazonSQS.GetQueueAttributes", .object([("QueueUrl", .string(url)), ("AttributeNames", .strings(["QueueArn"]))]))["Attributes"]?["QueueArn"]?.string
        } orUndo: { () async throws(AWSError) in
            try await delete(url, properties: properties, values: nil, context: context)
        }
        return ResourceValues(ref: url, attributes: ["Arn": arn ?? "", "QueueName": queueName, "QueueUrl": url])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        _ = try await context.calls.json("AmazonSQS.SetQueueAttributes", .object([("QueueUrl", .string(current.ref)), ("Attributes", attributes(properties))]))
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await context.calls.json("AmazonSQS.DeleteQueue", .object([("QueueUrl", .string(physicalId))]))
    }
}

/// `AWS::SNS::Topic`: CreateTopic and its inline subscriptions; Ref is the topic's ARN.
struct TopicProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        var parameters: [(String, String)] = [("Name", name)]
        var entry = 0
        for attribute in ["DisplayName", "KmsMasterKeyId", "DeliveryPolicy", "SignatureVersion", "TracingConfig", "FifoTopic", "ContentBasedDeduplication"] {
            guard let value = properties.jsonText(attribute) else { continue }
            entry += 1
            parameters += [("Attributes.entry.\(entry).key", attribute), ("Attributes.entry.\(entry).value", value)]
        }
        for (index, tag) in context.tags(properties["Tags"]).filter({ !$0.0.hasPrefix("aws:") }).enumerated() {
            parameters += [("Tags.member.\(index + 1).Key", tag.0), ("Tags.member.\(index + 1).Value", tag.1)]
        }
        let arn = try await context.calls.query("CreateTopic", parameters).value("TopicArn") ?? ""
        try await completing { () async throws(AWSError) in
            for subscription in properties["Subscription"]?.items ?? [] {
                _ = try await context.calls.query(
                    "Subscribe",
                    [("TopicArn", arn), ("Protocol", subscription["Protocol"]?.string ?? ""), ("Endpoint", subscription["Endpoint"]?.string ?? "")])
            }
        } orUndo: { () async throws(AWSError) in
            try await delete(arn, properties: properties, values: nil, context: context)
        }
        return ResourceValues(ref: arn, attributes: ["TopicArn": arn, "TopicName": name])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        if let display = properties["DisplayName"]?.string, display != previous["DisplayName"]?.string {
            _ = try await context.calls.query("SetTopicAttributes", [("TopicArn", current.ref), ("AttributeName", "DisplayName"), ("AttributeValue", display)])
        }
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await context.calls.query("DeleteTopic", [("TopicArn", physicalId)])
    }
}

/// `AWS::SNS::Subscription`: Subscribe with its attributes; Ref is the subscription's ARN.
struct SubscriptionProvisioner: ResourceProvisioner {
    static let attributes = ["RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "DeliveryPolicy"]

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        var parameters: [(String, String)] = [
            ("TopicArn", properties["TopicArn"]?.string ?? ""), ("Protocol", properties["Protocol"]?.string ?? ""),
            ("Endpoint", properties["Endpoint"]?.string ?? ""), ("ReturnSubscriptionArn", "true"),
        ]
        var entry = 0
        for attribute in Self.attributes {
            guard let value = properties.jsonText(attribute) else { continue }
            entry += 1
            parameters += [("Attributes.entry.\(entry).key", attribute), ("Attributes.entry.\(entry).value", value)]
        }
        let arn = try await context.calls.query("Subscribe", parameters).value("SubscriptionArn") ?? ""
        return ResourceValues(ref: arn, attributes: ["Arn": arn])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        for attribute in Self.attributes where properties.jsonText(attribute) != previous.jsonText(attribute) {
            _ = try await context.calls.query(
                "SetSubscriptionAttributes",
                [("SubscriptionArn", current.ref), ("AttributeName", attribute), ("AttributeValue", properties.jsonText(attribute) ?? "")])
        }
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await context.calls.query("Unsubscribe", [("SubscriptionArn", physicalId)])
    }
}

// MARK: CloudWatch Logs, S3

/// `AWS::Logs::LogGroup`: CreateLogGroup and its retention; Ref is the group's name.
struct LogGroupProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        _ = try await context.calls.json("Logs_20140328.CreateLogGroup", .object([("logGroupName", .string(name))]))
        try await completing { () async throws(AWSError) in try await retention(properties, name: name, previous: nil, context: context) } orUndo: { () async throws(AWSError) in
            try await delete(name, properties: properties, values: nil, context: context)
        }
        return ResourceValues(ref: name, attributes: ["Arn": context.names.arn("logs", "log-group:\(name):*")])
    }

    func retention(_ properties: Document, name: String, previous: Document?, context: ProvisioningContext) async throws(AWSError) {
        if let days = properties.integer("RetentionInDays") {
            _ = try await context.calls.json("Logs_20140328.PutRetentionPolicy", .object([("logGroupName", .string(name)), ("retentionInDays", .integer(days))]))
        } else if previous?["RetentionInDays"] != nil {
            _ = try await context.calls.json("Logs_20140328.DeleteRetentionPolicy", .object([("logGroupName", .string(name))]))
        }
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        try await retention(properties, name: current.ref, previous: previous, context: context)
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await context.calls.json("Logs_20140328.DeleteLogGroup", .object([("logGroupName", .string(physicalId))]))
    }
}

/// `AWS::S3::Bucket`: the bucket, its tags and its notification configuration; Ref is its name.
/// A bucket with objects is not deleted (as in AWS: the delete fails).
struct BucketProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        try await context.calls.createBucket(name)
        try await completing { () async throws(AWSError) in
            try await context.calls.setBucketTags(name, tags: context.tags(properties["Tags"]).map { S3Tag(key: $0.0, value: $0.1) })
            if let notification = properties["NotificationConfiguration"] {
                try await context.calls.setBucketNotification(name, Self.notification(notification))
            }
        } orUndo: { () async throws(AWSError) in
            try await context.calls.deleteBucket(name)
        }
        return ResourceValues(
            ref: name,
            attributes: [
                "Arn": "arn:\(context.names.partition):s3:::\(name)", "DomainName": "\(name).s3.amazonaws.com",
                "RegionalDomainName": "\(name).s3.\(context.names.region).amazonaws.com",
                "DualStackDomainName": "\(name).s3.dualstack.\(context.names.region).amazonaws.com",
                "WebsiteURL": "http://\(name).s3-website-\(context.names.region).amazonaws.com",
            ])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        try await context.calls.setBucketTags(current.ref, tags: context.tags(properties["Tags"]).map { S3Tag(key: $0.0, value: $0.1) })
        if properties["NotificationConfiguration"] != previous["NotificationConfiguration"] {
            try await context.calls.setBucketNotification(current.ref, Self.notification(properties["NotificationConfiguration"] ?? .object([])))
        }
        return current
    }

    /// The template's `NotificationConfiguration` (one event per configuration, rules under
    /// `Filter.S3Key.Rules`) as S3 takes it.
    static func notification(_ properties: Document) throws(AWSError) -> NotificationConfiguration {
        var configuration = NotificationConfiguration()
        let kinds: [(String, String, NotificationConfiguration.DestinationKind)] = [
            ("TopicConfigurations", "Topic", .topic), ("QueueConfigurations", "Queue", .queue), ("LambdaConfigurations", "Function", .function),
        ]
        for (list, arnProperty, kind) in kinds {
            guard case .array(let entries)? = properties[list] else { continue }
            for entry in entries {
                guard let arn = entry[arnProperty]?.string, let event = entry["Event"]?.string else {
                    throw AWSError(type: "ValidationError", message: "Properties validation failed: \(list) entries need \(arnProperty) and Event.")
                }
                var rules: [NotificationConfiguration.FilterRule] = []
                if case .array(let given)? = entry["Filter"]?["S3Key"]?["Rules"] {
                    for rule in given {
                        rules.append(.init(name: rule["Name"]?.string ?? "", value: rule["Value"]?.string ?? ""))
                    }
                }
                configuration.destinations.append(.init(id: entry["Id"]?.string ?? "", kind: kind, arn: arn, events: [event], filterRules: rules))
            }
        }
        configuration.eventBridge = properties["EventBridgeConfiguration"]?["EventBridgeEnabled"]?.string == "true"
        return configuration
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        try await context.calls.deleteBucket(physicalId)
    }
}

/// `AWS::S3::BucketPolicy`: the bucket's policy document.
struct BucketPolicyProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let bucket = properties["Bucket"]?.string ?? ""
        try await context.calls.setBucketPolicy(bucket, policy: properties.jsonText("PolicyDocument") ?? "{}")
        return ResourceValues(ref: name)
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        _ = try await create(properties, name: current.ref, context: context)
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        try await context.calls.setBucketPolicy(properties["Bucket"]?.string ?? "", policy: nil)
    }
}

// MARK: EventBridge, Scheduler

/// `AWS::Events::Rule`: PutRule and PutTargets; Ref is the rule's name.
struct EventRuleProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let arn = try await put(properties, name: name, previous: nil, context: context)
        return ResourceValues(ref: name, attributes: ["Arn": arn])
    }

    func put(_ properties: Document, name: String, previous: Document?, context: ProvisioningContext) async throws(AWSError) -> String {
        var rule = properties.picking(["ScheduleExpression", "State", "Description", "EventBusName", "RoleArn"]).with("Name", .string(name))
        if let pattern = properties.jsonText("EventPattern") { rule = rule.with("EventPattern", .string(pattern)) }
        let answer = try await context.calls.json("AWSEvents.PutRule", rule)
        let bus = properties["EventBusName"]
        let targets = properties["Targets"]?.items ?? []
        let kept = Set(targets.compactMap { $0["Id"]?.string })
        let removed = (previous?["Targets"]?.items ?? []).compactMap { $0["Id"]?.string }.filter { !kept.contains($0) }
        if !removed.isEmpty {
            _ = try await context.calls.json("AWSEvents.RemoveTargets", Document.object([("Rule", .string(name)), ("Ids", .strings(removed))]).with("EventBusName", bus))
        }
        if !targets.isEmpty {
            let body = Document.object([("Rule", .string(name)), ("Targets", .array(targets.map { $0.with("Input", $0.jsonText("Input").map { .string($0) }) }))])
            _ = try await context.calls.json("AWSEvents.PutTargets", body.with("EventBusName", bus))
        }
        return answer["RuleArn"]?.string ?? ""
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        _ = try await put(properties, name: current.ref, previous: previous, context: context)
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        let bus = properties["EventBusName"]
        let ids = (properties["Targets"]?.items ?? []).compactMap { $0["Id"]?.string }
        if !ids.isEmpty {
            _ = try await context.calls.json("AWSEvents.RemoveTargets", Document.object([("Rule", .string(physicalId)), ("Ids", .strings(ids))]).with("EventBusName", bus))
        }
        _ = try await context.calls.json("AWSEvents.DeleteRule", Document.object([("Name", .string(physicalId))]).with("EventBusName", bus))
    }
}

/// `AWS::Scheduler::Schedule`: CreateSchedule, UpdateSchedule, DeleteSchedule; Ref is its name.
struct ScheduleProvisioner: ResourceProvisioner {
    static let members = [
        "ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow", "Target", "State", "Description", "GroupName", "StartDate", "EndDate",
        "KmsKeyArn",
    ]

    func body(_ properties: Document) -> Document {
        var body = properties.picking(Self.members)
        if let target = properties["Target"] {
            body = body.with("Target", target.with("Input", target.jsonText("Input").map { .string($0) }))
        }
        return body
    }

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let answer = try await context.calls.rest("POST", "/schedules/\(escaped(name))", body: body(properties))
        return ResourceValues(ref: name, attributes: ["Arn": answer["ScheduleArn"]?.string ?? ""])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        _ = try await context.calls.rest("PUT", "/schedules/\(escaped(current.ref))", body: body(properties))
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        let group = properties["GroupName"]?.string.map { "?groupName=\(escaped($0))" } ?? ""
        _ = try await context.calls.rest("DELETE", "/schedules/\(escaped(physicalId))\(group)", body: nil)
    }
}

extension ResourceNames {
    func iamRole(_ name: String) -> String { "arn:\(partition):iam::\(accountId):role/\(name)" }
}

// MARK: Elastic Load Balancing

/// `AWS::ElasticLoadBalancingV2::TargetGroup`: CreateTargetGroup with its health check; Ref is its ARN.
struct TargetGroupProvisioner: ResourceProvisioner {
    static let members = [
        "Protocol", "Port", "VpcId", "TargetType", "HealthCheckProtocol", "HealthCheckPort", "HealthCheckPath", "HealthCheckIntervalSeconds",
        "HealthCheckTimeoutSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount", "HealthCheckEnabled",
    ]

    func parameters(_ properties: Document) -> [(String, String)] {
        var parameters: [(String, String)] = []
        for member in Self.members { if let value = properties[member]?.string { parameters.append((member, value)) } }
        if let codes = properties["Matcher"]?["HttpCode"]?.string { parameters.append(("Matcher.HttpCode", codes)) }
        return parameters
    }

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let result = try await context.calls.query("CreateTargetGroup", [("Name", name)] + parameters(properties))
        let arn = result.child("TargetGroups")?.child("member")?.value("TargetGroupArn") ?? ""
        let fullName = arn.split(separator: ":").last.map(String.init) ?? name
        return ResourceValues(ref: arn, attributes: ["TargetGroupArn": arn, "TargetGroupName": name, "TargetGroupFullName": fullName])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let changed = parameters(properties).filter { $0.0.hasPrefix("HealthCheck") || $0.0.hasPrefix("Healthy") || $0.0.hasPrefix("Unhealthy") || $0.0.hasPrefix("Matcher") }
        _ = try await context.calls.query("ModifyTargetGroup", [("TargetGroupArn", current.ref)] + changed)
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await context.calls.query("DeleteTargetGroup", [("TargetGroupArn", physicalId)])
    }
}

/// `AWS::SQS::QueuePolicy` and `AWS::SNS::TopicPolicy`: one policy document set as the `Policy`
/// attribute of each queue (by URL) or topic (by ARN) listed; removed from them when the resource
/// goes. Ref is the resource's own name.
struct ResourcePolicyProvisioner: ResourceProvisioner {
    enum Kind { case queues, topics }
    let kind: Kind

    var listProperty: String { kind == .queues ? "Queues" : "Topics" }

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let policy = properties.jsonText("PolicyDocument") ?? "{}"
        let targets = properties[listProperty]?.items.compactMap(\.string) ?? []
        for target in targets { try await set(policy, on: target, context: context) }
        return ResourceValues(ref: name)
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let kept = Set(properties[listProperty]?.items.compactMap(\.string) ?? [])
        for gone in previous[listProperty]?.items.compactMap(\.string) ?? [] where !kept.contains(gone) {
            try? await set("", on: gone, context: context)
        }
        _ = try await create(properties, name: current.ref, context: context)
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        for target in properties[listProperty]?.items.compactMap(\.string) ?? [] {
            do throws(AWSError) {
                try await set("", on: target, context: context)
            } catch where error.isNotFound {
                // The queue or topic went first: nothing to remove the policy from.
            }
        }
    }

    /// The policy text on one queue or topic (empty text removes it).
    func set(_ policy: String, on target: String, context: ProvisioningContext) async throws(AWSError) {
        switch kind {
        case .queues:
            _ = try await context.calls.json(
                "AmazonSQS.SetQueueAttributes", .object([("QueueUrl", .string(target)), ("Attributes", .object([("Policy", .string(policy))]))]))
        case .topics:
            _ = try await context.calls.query("SetTopicAttributes", [("TopicArn", target), ("AttributeName", "Policy"), ("AttributeValue", policy)])
        }
    }
}
