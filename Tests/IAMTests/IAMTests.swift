import AWSProtocols
import Foundation
@testable import IAM
import Sealing
import StevedoreCore
import Testing

struct PolicyDocumentTests {
    static let readOnly = """
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ecs:Describe*", "ecs:List*"], "Resource": "*"}]}
        """

    @Test func allowsWhatAStatementAllowsAndNothingElse() throws {
        let policy = try PolicyDocument(json: Self.readOnly)
        #expect(PolicyDecision(policies: [policy], action: "ecs:DescribeTasks", resource: "*") == .allowed)
        #expect(PolicyDecision(policies: [policy], action: "ECS:listclusters", resource: "*") == .allowed)
        #expect(PolicyDecision(policies: [policy], action: "ecs:RunTask", resource: "*") == .implicitlyDenied)
        #expect(PolicyDecision(policies: [], action: "ecs:DescribeTasks", resource: "*") == .implicitlyDenied)
    }

    @Test func anExplicitDenyWinsOverAnyAllow() throws {
        let policy = try PolicyDocument(
            json: """
                {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                               {"Effect": "Deny", "Action": "ecs:RunTask", "Resource": "arn:aws:ecs:us-east-1:000000000000:task-definition/secret*"}]}
                """)
        #expect(PolicyDecision(policies: [policy], action: "ecs:RunTask", resource: "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1") == .allowed)
        #expect(
            PolicyDecision(policies: [policy], action: "ecs:RunTask", resource: "arn:aws:ecs:us-east-1:000000000000:task-definition/secret-job:3")
                == .explicitlyDenied)
        // A deny in a second policy wins too.
        let deny = try PolicyDocument(json: #"{"Statement": {"Effect": "Deny", "Action": "ecs:*", "Resource": "*"}}"#)
        #expect(PolicyDecision(policies: [.allowAll, deny], action: "ecs:ListClusters", resource: "*") == .explicitlyDenied)
    }

    @Test func notActionAndNotResourceMatchEverythingElse() throws {
        let policy = try PolicyDocument(
            json: """
                {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:ecs:us-east-1:000000000000:cluster/prod"}]}
                """)
        #expect(PolicyDecision(policies: [policy], action: "ecs:RunTask", resource: "arn:aws:ecs:us-east-1:000000000000:cluster/dev") == .allowed)
        #expect(PolicyDecision(policies: [policy], action: "iam:CreateUser", resource: "*") == .implicitlyDenied)
        #expect(PolicyDecision(policies: [policy], action: "ecs:RunTask", resource: "arn:aws:ecs:us-east-1:000000000000:cluster/prod") == .implicitlyDenied)
    }

    @Test(arguments: [
        ("*", "anything", true), ("ecs:*", "ecs:RunTask", true), ("ecs:Run?ask", "ecs:RunTask", true), ("ecs:Run?ask", "ecs:RunTTask", false),
        ("a*b*c", "aXXbYYc", true), ("a*b*c", "aXXbYY", false), ("*Task", "ecs:RunTask", true), ("", "", true), ("", "x", false),
        ("a**", "a", true), ("arn:aws:ecs:*:*:cluster/p*", "arn:aws:ecs:us-east-1:0:cluster/prod", true),
    ])
    func wildcards(pattern: String, text: String, matches: Bool) {
        #expect(Wildcard.matches(pattern, text, ignoringCase: false) == matches)
    }

    @Test func resourcesMatchWithCaseButActionsWithout() {
        #expect(Wildcard.matches("ecs:runtask", "ecs:RunTask", ignoringCase: true))
        #expect(!Wildcard.matches("arn:aws:ecs:us-east-1:0:cluster/Prod", "arn:aws:ecs:us-east-1:0:cluster/prod", ignoringCase: false))
    }

    @Test(arguments: [
        ("not json", "Syntax errors in policy."),
        (#"{"Version": "2012-10-17"}"#, "Missing required field Statement"),
        (#"{"Statement": []}"#, "Missing required field Statement"),
        (#"{"Statement": [{"Action": "*", "Resource": "*"}]}"#, "Missing required field Effect"),
        (#"{"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}"#, "Invalid effect: Maybe"),
        (#"{"Statement": [{"Effect": "Allow", "Resource": "*"}]}"#, "Missing required field Action"),
        (#"{"Statement": [{"Effect": "Allow", "Action": "*"}]}"#, "Missing required field Resource"),
        (#"{"Statement": [{"Effect": "Allow", "Action": "*", "NotAction": "x:y", "Resource": "*"}]}"#, "Statement cannot have both Action and NotAction."),
        (#"{"Statement": [{"Effect": "Allow", "Action": "RunTask", "Resource": "*"}]}"#, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
        (#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "cluster/x"}]}"#, "Resource cluster/x must be in ARN format or \"*\"."),
        (#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}]}"#, "Condition is not supported: remove the statement's Condition."),
        (#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}]}"#, "Policy document should not specify a principal."),
        (#"{"Version": "2020-01-01", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#, "The policy failed legacy parsing"),
        (#"{"Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]}"#, "Action must be a string or a non-empty list of strings."),
    ])
    func malformedPoliciesAreRefusedSayingWhy(document: String, message: String) {
        #expect(throws: AWSError(type: "MalformedPolicyDocument", message: message)) { try PolicyDocument(json: document) }
    }
}

struct IAMOperationTests {
    let names = ResourceNames()
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func state(users: [String] = []) throws -> IAMState {
        var state = IAMState(names: names)
        var random = Xoshiro256(seed: 1)
        var changes = ChangeSet()
        for user in users { _ = try state.createUser(name: user, path: nil, now: now, using: &random, changes: &changes) }
        return state
    }

    @Test func createUserRecordsTheUserWithAnARNAndAnAIDAId() throws {
        var state = try state()
        var random = Xoshiro256(seed: 1)
        var changes = ChangeSet()
        let user = try state.createUser(name: "reader", path: "/team/", now: now, using: &random, changes: &changes)
        #expect(user.arn == "arn:aws:iam::000000000000:user/team/reader")
        #expect(user.userId.hasPrefix("AIDA") && user.userId.count == 21)
        #expect(state.users["reader"] == user)
        #expect(changes.changes.map(\.kind) == [.iamUsers])
        #expect(throws: AWSError(type: "EntityAlreadyExists", message: "User with name reader already exists.", httpStatus: 409)) {
            try state.createUser(name: "reader", path: nil, now: now, using: &random, changes: &changes)
        }
    }

    @Test(arguments: ["", "has space", "slash/no", String(repeating: "a", count: 65)])
    func badUserNamesAreValidationErrors(name: String) throws {
        var state = try state()
        var random = Xoshiro256(seed: 1)
        var changes = ChangeSet()
        #expect {
            try state.createUser(name: name, path: nil, now: now, using: &random, changes: &changes)
        } throws: { error in
            (error as? AWSError)?.type == "ValidationError" && (error as? AWSError)?.message.hasPrefix("1 validation error detected: Value '\(name)' at 'userName'") == true
        }
        #expect(state.users.isEmpty && changes.changes.isEmpty)
    }

    @Test func aUserHasAtMostTwoKeysAndKeysBelongToTheirUser() throws {
        var state = try state(users: ["a", "b"])
        var changes = ChangeSet()
        _ = try state.createAccessKey(userName: "a", accessKeyId: "AKIAAAAAAAAAAAAAAAA1", sealedSecret: "s1", now: now, changes: &changes)
        _ = try state.createAccessKey(userName: "a", accessKeyId: "AKIAAAAAAAAAAAAAAAA2", sealedSecret: "s2", now: now, changes: &changes)
        #expect(throws: AWSError(type: "LimitExceeded", message: "Cannot exceed quota for AccessKeysPerUser: 2", httpStatus: 409)) {
            try state.createAccessKey(userName: "a", accessKeyId: "AKIAAAAAAAAAAAAAAAA3", sealedSecret: "s3", now: now, changes: &changes)
        }
        #expect(try state.listAccessKeys(userName: "a").map(\.accessKeyId) == ["AKIAAAAAAAAAAAAAAAA1", "AKIAAAAAAAAAAAAAAAA2"])
        #expect(try state.listAccessKeys(userName: "b").isEmpty)
        // b cannot delete a's key.
        #expect(throws: AWSError(type: "NoSuchEntity", message: "The Access Key with id AKIAAAAAAAAAAAAAAAA1 cannot be found.", httpStatus: 404)) {
            try state.deleteAccessKey("AKIAAAAAAAAAAAAAAAA1", userName: "b", changes: &changes)
        }
        try state.updateAccessKey("AKIAAAAAAAAAAAAAAAA1", userName: "a", status: "Inactive", changes: &changes)
        #expect(state.activeKeys().map(\.key.accessKeyId) == ["AKIAAAAAAAAAAAAAAAA2"])
        try state.deleteAccessKey("AKIAAAAAAAAAAAAAAAA2", userName: "a", changes: &changes)
        #expect(state.activeKeys().isEmpty)
        #expect(throws: AWSError(type: "DeleteConflict", message: "Cannot delete entity, must delete access keys first.", httpStatus: 409)) {
            try state.deleteUser("a", changes: &changes)
        }
    }

    @Test func everyChangeAdvancesTheRevision() throws {
        var state = try state(users: ["a"])
        var changes = ChangeSet()
        let start = state.revision
        try state.putUserPolicy(userName: "a", policyName: "read", document: PolicyDocumentTests.readOnly, changes: &changes)
        _ = try state.createAccessKey(userName: "a", accessKeyId: "AKIAAAAAAAAAAAAAAAA1", sealedSecret: "s", now: now, changes: &changes)
        try state.deleteUserPolicy(userName: "a", policyName: "read", changes: &changes)
        #expect(state.revision == start + 3)
        // A refused change changes nothing.
        #expect(throws: AWSError.self) { try state.deleteUserPolicy(userName: "a", policyName: "read", changes: &changes) }
        #expect(state.revision == start + 3)
    }

    @Test func policiesAreValidatedWhenPutAndReadBackAsWritten() throws {
        var state = try state(users: ["a"])
        var changes = ChangeSet()
        #expect(throws: AWSError(type: "MalformedPolicyDocument", message: "Syntax errors in policy.")) {
            try state.putUserPolicy(userName: "a", policyName: "p", document: "{", changes: &changes)
        }
        try state.putUserPolicy(userName: "a", policyName: "read", document: PolicyDocumentTests.readOnly, changes: &changes)
        #expect(try state.userPolicy(userName: "a", policyName: "read") == PolicyDocumentTests.readOnly)
        #expect(try state.userPolicyNames(userName: "a") == ["read"])
        #expect(throws: AWSError(type: "DeleteConflict", message: "Cannot delete entity, must delete policies first.", httpStatus: 409)) {
            try state.deleteUser("a", changes: &changes)
        }
        #expect(throws: AWSError(type: "NoSuchEntity", message: "The user policy with name nope cannot be found.", httpStatus: 404)) {
            try state.userPolicy(userName: "a", policyName: "nope")
        }
        #expect(throws: AWSError(type: "NoSuchEntity", message: "The user with name ghost cannot be found.", httpStatus: 404)) {
            try state.userPolicy(userName: "ghost", policyName: "read")
        }
    }

    @Test func listUsersPagesByName() throws {
        let state = try state(users: ["c", "a", "b"])
        let first = try state.listUsers(pathPrefix: nil, marker: nil, maxItems: 2)
        #expect(first.users.map(\.userName) == ["a", "b"] && first.marker == "b")
        let second = try state.listUsers(pathPrefix: nil, marker: first.marker, maxItems: 2)
        #expect(second.users.map(\.userName) == ["c"] && second.marker == nil)
        #expect(throws: AWSError.self) { try state.listUsers(pathPrefix: nil, marker: nil, maxItems: 0) }
    }

    @Test func theStateRestoresFromItsRows() throws {
        var state = try state(users: ["a"])
        var changes = ChangeSet()
        _ = try state.createAccessKey(userName: "a", accessKeyId: "AKIAAAAAAAAAAAAAAAA1", sealedSecret: "sealed", now: now, changes: &changes)
        try state.putUserPolicy(userName: "a", policyName: "read", document: PolicyDocumentTests.readOnly, changes: &changes)
        var rows = StoredRows()
        // The last row written under each key, as the store keeps it.
        var latest: [String: StateChange] = [:]
        for change in changes.changes { latest[change.kind.rawValue + "/" + change.key] = change }
        for change in latest.values { if let body = change.body { rows[change.kind, default: []].append(body) } }
        let restored = try IAMState.restore(names: names, rows: rows)
        #expect(restored.accessKeys == state.accessKeys)
        #expect(restored.users["a"]?.policies == state.users["a"]?.policies)
    }
}

struct QueryProtocolTests {
    @Test func formBodiesDecodePlusAndPercentEscapes() throws {
        let request = try #require(QueryRequest(form: Array("Action=PutUserPolicy&PolicyDocument=%7B%22a%22%3A+1%7D&Empty=&Tags.member.2=b&Tags.member.1=a".utf8)))
        #expect(request.action == "PutUserPolicy")
        #expect(request["PolicyDocument"] == #"{"a": 1}"#)
        #expect(request["Empty"] == "")
        #expect(request.list("Tags") == ["a", "b"])
        #expect(QueryRequest(form: Array("Action=%ZZ".utf8)) == nil)
        #expect(QueryRequest(form: Array("Action=%4".utf8)) == nil)
    }

    @Test func answersWrapTheResultAndRequestIdInTheServiceNamespace() async throws {
        var service = QueryService(namespace: "https://iam.amazonaws.com/doc/2010-05-08/", version: "2010-05-08")
        service.action("GetUser") { _, _ in
            var xml = XMLWriter()
            xml.element("User") { $0.element("UserName", "a<b") }
            return xml
        }
        service.actionWithoutResult("DeleteUser") { _, _ throws(AWSError) in throw AWSError(type: "NoSuchEntity", message: "gone", httpStatus: 404) }
        let context = OperationContext(requestId: "r-1", bodySize: 0)
        let answer = await service.handle(QueryRequest(parameters: ["Action": "GetUser"]), context: context)
        #expect(answer.status == 200)
        #expect(
            String(decoding: answer.body, as: UTF8.self)
                == #"<GetUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetUserResult><User><UserName>a&lt;b</UserName></User></GetUserResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></GetUserResponse>"#
        )
        let refused = await service.handle(QueryRequest(parameters: ["Action": "DeleteUser"]), context: context)
        #expect(refused.status == 404)
        #expect(
            String(decoding: refused.body, as: UTF8.self)
                == #"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>gone</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"#
        )
        let unknown = await service.handle(QueryRequest(parameters: ["Action": "Nope", "Version": "2010-05-08"]), context: context)
        #expect(String(decoding: unknown.body, as: UTF8.self).contains("<Code>InvalidAction</Code><Message>Could not find operation Nope for version 2010-05-08</Message>"))
    }

    @Test func policyDocumentsArePercentEncodedAsIAMAnswersThem() {
        #expect(PercentEncoding.encode(#"{"A": "b~c"}"#) == "%7B%22A%22%3A%20%22b~c%22%7D")
    }
}

struct SecretBoxTests {
    @Test func sealedSecretsOpenOnlyWithTheirKeyAndUnaltered() throws {
        let box = SecretBox(keyBytes: SecretBox.newKeyBytes())
        let sealed = box.seal("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        #expect(!sealed.contains("wJalr"))
        #expect(box.open(sealed) == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        #expect(box.seal("same") != box.seal("same"))  // a fresh nonce each time
        #expect(SecretBox(keyBytes: SecretBox.newKeyBytes()).open(sealed) == nil)
        var altered = Array(try #require(Data(base64Encoded: sealed)))
        altered[altered.count / 2] ^= 1
        #expect(box.open(Data(altered).base64EncodedString()) == nil)
        #expect(box.open("not base64!") == nil)
    }
}

struct XMLEscapingTests {
    @Test func controlCharactersXMLForbidsAreReplaced() {
        #expect(XMLWriter.escape("a\u{01}b\tc\n<&>\u{FFFE}") == "a\u{FFFD}b\tc\n&lt;&amp;&gt;\u{FFFD}")
    }
}

/// Managed policies: their documents count for the users and roles that have them attached, the
/// default version is the one that counts, and IAM's conflicts hold.
struct ManagedPolicyTests {
    static let names = ResourceNames()
    static let listQueues = #"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}]}"#
    static let createQueue = #"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:CreateQueue", "Resource": "*"}]}"#

    @Test func attachedPoliciesGrantThroughTheirDefaultVersion() throws {
        var iam = IAMState(names: Self.names)
        var changes = ChangeSet()
        var random = SystemRandomNumberGenerator()
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        _ = try iam.createRole(name: "worker", path: nil, trustPolicy: "{}", description: nil, now: now, using: &random, changes: &changes)
        let policy = try iam.createPolicy(name: "queues", path: nil, document: Self.listQueues, description: nil, now: now, using: &random, changes: &changes)
        func decision(_ action: String) -> PolicyDecision { PolicyDecision(policies: iam.rolePolicies("worker") ?? [], action: action, resource: "*") }
        #expect(decision("sqs:ListQueues") == .implicitlyDenied)
        try iam.attachRolePolicy(roleName: "worker", policyArn: policy.arn, changes: &changes)
        try iam.attachRolePolicy(roleName: "worker", policyArn: "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole", changes: &changes)
        #expect(decision("sqs:ListQueues") == .allowed && decision("logs:PutLogEvents") == .allowed && decision("sqs:CreateQueue") == .implicitlyDenied)
        // Attaching twice keeps one attachment.
        try iam.attachRolePolicy(roleName: "worker", policyArn: policy.arn, changes: &changes)
        #expect(iam.attachmentCount(policy.arn) == 1 && iam.attachedPolicies(iam.roles["worker"]?.attachedPolicies).map(\.name) == ["queues", "AWSLambdaBasicExecutionRole"])

        // Attached: it cannot be deleted (checked while it has one version, so the attachment is what refuses).
        #expect(throws: AWSError(type: "DeleteConflict", message: "Cannot delete a policy attached to entities.", httpStatus: 409)) {
            try iam.deletePolicy(policy.arn, changes: &changes)
        }
        _ = try iam.createPolicyVersion(policy.arn, document: Self.createQueue, setAsDefault: false, now: now, changes: &changes)
        #expect(decision("sqs:ListQueues") == .allowed)
        try iam.setDefaultPolicyVersion(policy.arn, versionId: "v2", now: now, changes: &changes)
        #expect(decision("sqs:ListQueues") == .implicitlyDenied && decision("sqs:CreateQueue") == .allowed)

        #expect(throws: AWSError.self) { try iam.deletePolicy(policy.arn, changes: &changes) }
        #expect(throws: AWSError.self) { try iam.deleteRole("worker", changes: &changes) }
        #expect(throws: AWSError.self) { try iam.deletePolicyVersion(policy.arn, versionId: "v2", changes: &changes) }
        #expect(throws: AWSError.self) { try iam.attachRolePolicy(roleName: "worker", policyArn: "arn:aws:iam::aws:policy/Unknown", changes: &changes) }
        try iam.detachRolePolicy(roleName: "worker", policyArn: policy.arn, changes: &changes)
        #expect(decision("sqs:CreateQueue") == .implicitlyDenied)
        // Five versions at most.
        for _ in 3...5 { _ = try iam.createPolicyVersion(policy.arn, document: Self.listQueues, setAsDefault: false, now: now, changes: &changes) }
        #expect(throws: AWSError.self) { try iam.createPolicyVersion(policy.arn, document: Self.listQueues, setAsDefault: false, now: now, changes: &changes) }
    }

    @Test func awsManagedPoliciesAreKnownByTheirFullPath() throws {
        let iam = IAMState(names: Self.names)
        let basic = try iam.managedPolicy("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
        #expect(basic.policyName == "AWSLambdaBasicExecutionRole" && basic.path == "/service-role/" && basic.policyId.hasPrefix("ANPA"))
        #expect((try? iam.managedPolicy("arn:aws:iam::aws:policy/AWSLambdaBasicExecutionRole")) == nil)
        #expect(try PolicyDocument(json: basic.defaultDocument).statements.count == 1)
        let serviceRoles = try iam.listPolicies(scope: "AWS", onlyAttached: false, pathPrefix: "/service-role/")
        #expect(!serviceRoles.isEmpty && serviceRoles.allSatisfy { $0.path == "/service-role/" })
    }
}
