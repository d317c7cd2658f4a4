#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// A customer managed policy: a named, versioned document that users and roles have attached.
public struct ManagedPolicyRecord: StoredRecord, Equatable {
    public var policyName: String
    public var policyId: String
    public var path: String
    public var arn: String
    public var description: String?
    public var createDate: Date
    public var updateDate: Date
    /// Oldest first; IAM keeps at most five.
    public var versions: [ManagedPolicyVersion]
    public var defaultVersionId: String
    /// The number the next version takes (`v<n>`; numbers are not reused).
    public var nextVersion: Int

    public static var recordKind: RecordKind { .iamPolicies }
    public var recordKey: String { arn }

    public var defaultDocument: String { versions.first { $0.versionId == defaultVersionId }?.document ?? "{}" }
}

public struct ManagedPolicyVersion: Codable, Sendable, Equatable {
    public var versionId: String
    public var document: String
    public var createDate: Date
}

extension RecordKind {
    public static let iamPolicies = RecordKind("iam_policies")
}

/// AWS managed policies Stevedore knows (`arn:aws:iam::aws:policy/…`): those SAM attaches and the
/// ones templates name most, with AWS's documents cut to the services Stevedore has.
public enum AWSManagedPolicies {
    static let created = Date(timeIntervalSince1970: 1_423_180_800)  // 2015-02-06

    static let documents: [(path: String, name: String, actions: [String])] = [
        ("/", "AdministratorAccess", ["*"]),
        ("/", "PowerUserAccess", ["ecs:*", "lambda:*", "sqs:*", "sns:*", "s3:*", "logs:*", "events:*", "athena:*", "glue:*", "apigateway:*", "cloudformation:*"]),
        ("/service-role/", "AWSLambdaBasicExecutionRole", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]),
        (
            "/service-role/", "AWSLambdaSQSQueueExecutionRole",
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
        ),
        ("/service-role/", "AWSLambdaRole", ["lambda:InvokeFunction"]),
        (
            "/service-role/", "AWSLambdaKinesisExecutionRole",
            ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards",
             "kinesis:ListStreams", "kinesis:SubscribeToShard", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
        ),
        (
            "/service-role/", "AWSLambdaDynamoDBExecutionRole",
            ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams", "logs:CreateLogGroup",
             "logs:CreateLogStream", "logs:PutLogEvents"]
        ),
        (
            "/service-role/", "AWSLambdaVPCAccessExecutionRole",
            ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
             "ec2:UnassignPrivateIpAddresses", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
        ),
        ("/", "AWSLambdaExecute", ["logs:*", "s3:GetObject", "s3:PutObject"]),
        (
            "/service-role/", "AWSLambdaMSKExecutionRole",
            ["kafka:DescribeCluster", "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers", "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
             "ec2:DeleteNetworkInterface", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
        ),
        (
            "/service-role/", "AmazonEC2ContainerServiceforEC2Role",
            ["ecs:CreateCluster", "ecs:DeregisterContainerInstance", "ecs:DiscoverPollEndpoint", "ecs:Poll", "ecs:RegisterContainerInstance",
             "ecs:StartTelemetrySession", "ecs:UpdateContainerInstancesState", "ecs:Submit*", "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
             "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "logs:CreateLogStream", "logs:PutLogEvents"]
        ),
        ("/", "AmazonEC2ContainerRegistryReadOnly", ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:Get*", "ecr:Describe*", "ecr:List*", "ecr:BatchGetImage"]),
        ("/", "AmazonSSMManagedInstanceCore", ["ssm:Describe*", "ssm:Get*", "ssm:List*", "ssm:UpdateInstanceInformation", "ssmmessages:*", "ec2messages:*"]),
        (
            "/", "CloudWatchAgentServerPolicy",
            ["cloudwatch:PutMetricData", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:DescribeLogGroups", "logs:CreateLogStream",
             "logs:CreateLogGroup", "ssm:GetParameter"]
        ),
        ("/", "AWSXRayDaemonWriteAccess", ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"]),
        ("/", "AWSXrayWriteOnlyAccess", ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]),
        ("/service-role/", "AmazonECSTaskExecutionRolePolicy", ["logs:CreateLogStream", "logs:PutLogEvents"]),
        ("/", "AWSLambda_FullAccess", ["lambda:*", "logs:*", "s3:*", "sqs:*", "sns:*", "events:*", "iam:PassRole"]),
        ("/", "AWSLambda_ReadOnlyAccess", ["lambda:Get*", "lambda:List*", "logs:Describe*", "logs:Get*", "logs:FilterLogEvents"]),
        ("/", "AmazonECS_FullAccess", ["ecs:*", "application-autoscaling:*", "logs:*", "iam:PassRole"]),
        ("/", "AmazonS3FullAccess", ["s3:*"]),
        ("/", "AmazonS3ReadOnlyAccess", ["s3:Get*", "s3:List*"]),
        ("/", "AmazonSQSFullAccess", ["sqs:*"]),
        ("/", "AmazonSQSReadOnlyAccess", ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueues", "sqs:ListQueueTags", "sqs:ListDeadLetterSourceQueues"]),
        ("/", "AmazonSNSFullAccess", ["sns:*"]),
        ("/", "CloudWatchLogsFullAccess", ["logs:*"]),
        ("/", "CloudWatchLogsReadOnlyAccess", ["logs:Describe*", "logs:Get*", "logs:List*", "logs:FilterLogEvents", "logs:StartQuery", "logs:StopQuery"]),
        ("/", "AmazonEventBridgeFullAccess", ["events:*", "scheduler:*"]),
        ("/", "AmazonAthenaFullAccess", ["athena:*", "glue:*", "s3:*"]),
        ("/", "AmazonAPIGatewayInvokeFullAccess", ["execute-api:Invoke", "execute-api:ManageConnections"]),
        ("/", "SecretsManagerReadWrite", ["secretsmanager:*"]),
        ("/", "AmazonSSMReadOnlyAccess", ["ssm:Describe*", "ssm:Get*", "ssm:List*"]),
    ]

    /// The policy an AWS managed ARN names, as a record (not stored: the same in every install).
    public static func policy(_ arn: String, partition: String) -> ManagedPolicyRecord? {
        let prefix = "arn:\(partition):iam::aws:policy"
        guard arn.hasPrefix(prefix) else { return nil }
        let pathAndName = arn.dropFirst(prefix.count)
        guard let entry = documents.first(where: { $0.path + $0.name == pathAndName }) else { return nil }
        return record(entry, partition: partition)
    }

    static func all(partition: String) -> [ManagedPolicyRecord] { documents.map { record($0, partition: partition) } }

    static func record(_ entry: (path: String, name: String, actions: [String]), partition: String) -> ManagedPolicyRecord {
        let actions = entry.actions.map { "\"\($0)\"" }.joined(separator: ",")
        let document = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\(actions)],\"Resource\":\"*\"}]}"
        // A fixed id per policy, in IAM's alphabet.
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        let hash = FNV1a.hash(entry.name.utf8)
        let id = "ANPA" + String((0..<17).map { index in alphabet[Int((hash >> UInt64((index * 3) % 60)) & 31)] })
        return ManagedPolicyRecord(
            policyName: entry.name, policyId: id, path: entry.path, arn: "arn:\(partition):iam::aws:policy\(entry.path)\(entry.name)", description: nil,
            createDate: created, updateDate: created, versions: [ManagedPolicyVersion(versionId: "v1", document: document, createDate: created)],
            defaultVersionId: "v1", nextVersion: 2)
    }
}

/// Managed policies: created, versioned, attached to users and roles, and read with their
/// documents when a principal's permissions are worked out.
extension IAMState {
    /// IAM's quotas: managed policies per role or user, versions per policy.
    public static let attachedPoliciesPerEntity = 10
    public static let versionsPerPolicy = 5

    public mutating func createPolicy(
        name: String, path: String?, document: String, description: String?, now: Date, using random: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> ManagedPolicyRecord {
        try Self.validateName(name, member: "policyName", maximum: 128)
        let path = path ?? "/"
        try Self.validatePath(path)
        _ = try PolicyDocument(json: document)
        guard !policies.values.contains(where: { $0.policyName == name }) else {
            throw Self.alreadyExists("A policy called \(name) already exists. Duplicate names are not allowed.")
        }
        let policy = ManagedPolicyRecord(
            policyName: name, policyId: "ANPA" + Self.randomId(count: 17, using: &random), path: path,
            arn: "arn:\(names.partition):iam::\(names.accountId):policy\(path)\(name)", description: description, createDate: now, updateDate: now,
            versions: [ManagedPolicyVersion(versionId: "v1", document: document, createDate: now)], defaultVersionId: "v1", nextVersion: 2)
        policies[policy.arn] = policy
        changes.put(policy)
        revision += 1
        return policy
    }

    /// A customer managed policy or one of AWS's.
    public func managedPolicy(_ arn: String) throws(AWSError) -> ManagedPolicyRecord {
        guard let policy = policies[arn] ?? AWSManagedPolicies.policy(arn, partition: names.partition) else {
            throw Self.noSuchEntity("Policy \(arn) was not found.")
        }
        return policy
    }

    /// How many users and roles have the policy attached.
    public func attachmentCount(_ arn: String) -> Int {
        users.values.filter { $0.attachedPolicies?.contains(arn) == true }.count + roles.values.filter { $0.attachedPolicies?.contains(arn) == true }.count
    }

    /// Policies by name: `scope` All, AWS or Local; only attached ones with `onlyAttached`.
    public func listPolicies(scope: String?, onlyAttached: Bool, pathPrefix: String?) throws(AWSError) -> [ManagedPolicyRecord] {
        let scope = scope ?? "All"
        guard ["All", "AWS", "Local"].contains(scope) else {
            throw Self.validation("Value '\(scope)' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]")
        }
        var found: [ManagedPolicyRecord] = []
        if scope != "AWS" { found += policies.values }
        if scope != "Local" { found += AWSManagedPolicies.all(partition: names.partition) }
        let prefix = pathPrefix ?? "/"
        return found.filter { $0.path.hasPrefix(prefix) && (!onlyAttached || attachmentCount($0.arn) > 0) }.sorted { ($0.policyName, $0.arn) < ($1.policyName, $1.arn) }
    }

    public mutating func deletePolicy(_ arn: String, changes: inout ChangeSet) throws(AWSError) {
        guard let policy = policies[arn] else {
            if AWSManagedPolicies.policy(arn, partition: names.partition) != nil { throw Self.deleteConflict("Cannot delete a policy managed by AWS.") }
            throw Self.noSuchEntity("Policy \(arn) was not found.")
        }
        guard attachmentCount(arn) == 0 else { throw Self.deleteConflict("Cannot delete a policy attached to entities.") }
        guard policy.versions.count == 1 else {
            throw Self.deleteConflict(
                "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.")
        }
        policies[arn] = nil
        changes.delete(ManagedPolicyRecord.self, key: arn)
        revision += 1
    }

    // MARK: Versions

    public mutating func createPolicyVersion(_ arn: String, document: String, setAsDefault: Bool, now: Date, changes: inout ChangeSet) throws(AWSError)
        -> ManagedPolicyVersion
    {
        var policy = try customerPolicy(arn)
        _ = try PolicyDocument(json: document)
        guard policy.versions.count < Self.versionsPerPolicy else {
            throw AWSError(
                type: "LimitExceeded", message: "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.",
                httpStatus: 409)
        }
        let version = ManagedPolicyVersion(versionId: "v\(policy.nextVersion)", document: document, createDate: now)
        policy.nextVersion += 1
        policy.versions.append(version)
        if setAsDefault { policy.defaultVersionId = version.versionId }
        policy.updateDate = now
        put(policy, changes: &changes)
        return version
    }

    public func policyVersion(_ arn: String, versionId: String) throws(AWSError) -> (version: ManagedPolicyVersion, isDefault: Bool) {
        let policy = try managedPolicy(arn)
        guard let version = policy.versions.first(where: { $0.versionId == versionId }) else {
            throw Self.noSuchEntity("Policy \(arn) version \(versionId) does not exist or is not attachable.")
        }
        return (version, version.versionId == policy.defaultVersionId)
    }

    public mutating func deletePolicyVersion(_ arn: String, versionId: String, changes: inout ChangeSet) throws(AWSError) {
        var policy = try customerPolicy(arn)
        guard policy.versions.contains(where: { $0.versionId == versionId }) else {
            throw Self.noSuchEntity("Policy \(arn) version \(versionId) does not exist or is not attachable.")
        }
        guard versionId != policy.defaultVersionId else { throw Self.deleteConflict("Cannot delete the default version of a policy.") }
        policy.versions.removeAll { $0.versionId == versionId }
        put(policy, changes: &changes)
    }

    public mutating func setDefaultPolicyVersion(_ arn: String, versionId: String, now: Date, changes: inout ChangeSet) throws(AWSError) {
        var policy = try customerPolicy(arn)
        guard policy.versions.contains(where: { $0.versionId == versionId }) else {
            throw Self.noSuchEntity("Policy \(arn) version \(versionId) does not exist or is not attachable.")
        }
        policy.defaultVersionId = versionId
        policy.updateDate = now
        put(policy, changes: &changes)
    }

    // MARK: Attachments

    public mutating func attachRolePolicy(roleName: String, policyArn: String, changes: inout ChangeSet) throws(AWSError) {
        var role = try role(roleName)
        role.attachedPolicies = try attaching(policyArn, to: role.attachedPolicies, quota: "PoliciesPerRole")
        roles[roleName] = role
        changes.put(role)
        revision += 1
    }

    public mutating func detachRolePolicy(roleName: String, policyArn: String, changes: inout ChangeSet) throws(AWSError) {
        var role = try role(roleName)
        role.attachedPolicies = try detaching(policyArn, from: role.attachedPolicies)
        roles[roleName] = role
        changes.put(role)
        revision += 1
    }

    public mutating func attachUserPolicy(userName: String, policyArn: String, changes: inout ChangeSet) throws(AWSError) {
        var user = try user(userName)
        user.attachedPolicies = try attaching(policyArn, to: user.attachedPolicies, quota: "PoliciesPerUser")
        users[userName] = user
        changes.put(user)
        revision += 1
    }

    public mutating func detachUserPolicy(userName: String, policyArn: String, changes: inout ChangeSet) throws(AWSError) {
        var user = try user(userName)
        user.attachedPolicies = try detaching(policyArn, from: user.attachedPolicies)
        users[userName] = user
        changes.put(user)
        revision += 1
    }

    /// The attached policies' names and ARNs, in the order they were attached.
    public func attachedPolicies(_ arns: [String]?) -> [(name: String, arn: String)] {
        (arns ?? []).map { arn in (name: (try? managedPolicy(arn))?.policyName ?? String(arn.split(separator: "/").last ?? ""), arn: arn) }
    }

    /// The default versions' documents of the attached policies, parsed (for a principal's permissions).
    public func attachedDocuments(_ arns: [String]?) -> [PolicyDocument] {
        (arns ?? []).compactMap { arn in (try? managedPolicy(arn)).flatMap { try? PolicyDocument(json: $0.defaultDocument) } }
    }

    private func attaching(_ arn: String, to attached: [String]?, quota: String) throws(AWSError) -> [String] {
        guard (try? managedPolicy(arn)) != nil else { throw Self.noSuchEntity("Policy \(arn) does not exist or is not attachable.") }
        var list = attached ?? []
        guard !list.contains(arn) else { return list }
        guard list.count < Self.attachedPoliciesPerEntity else {
            throw AWSError(type: "LimitExceeded", message: "Cannot exceed quota for \(quota): \(Self.attachedPoliciesPerEntity)", httpStatus: 409)
        }
        list.append(arn)
        return list
    }

    private func detaching(_ arn: String, from attached: [String]?) throws(AWSError) -> [String]? {
        guard var list = attached, list.contains(arn) else { throw Self.noSuchEntity("Policy \(arn) was not found.") }
        list.removeAll { $0 == arn }
        return list.isEmpty ? nil : list
    }

    private func customerPolicy(_ arn: String) throws(AWSError) -> ManagedPolicyRecord {
        guard let policy = policies[arn] else {
            if AWSManagedPolicies.policy(arn, partition: names.partition) != nil {
                throw AWSError(type: "InvalidInput", message: "Cannot change a policy managed by AWS.", httpStatus: 400)
            }
            throw Self.noSuchEntity("Policy \(arn) was not found.")
        }
        return policy
    }

    private mutating func put(_ policy: ManagedPolicyRecord, changes: inout ChangeSet) {
        policies[policy.arn] = policy
        changes.put(policy)
        revision += 1
    }
}
