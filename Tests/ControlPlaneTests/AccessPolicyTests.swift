import AWSProtocols
@testable import ControlPlane
import Foundation
import IAM
import Secrets
import SNS
import SecretsShapes
import StevedoreCore
import Testing

/// The action and resources a request is judged on, as IAM would judge them.
struct AccessPolicyTests {
    let names = ResourceNames()

    func principal(_ policy: String) throws -> AccessKeyring.Principal {
        AccessKeyring.Principal(
            caller: Caller(arn: "arn:aws:iam::000000000000:user/ci", userId: "AIDA", userName: "ci", accessKeyId: "AKIA"), secret: "s",
            policies: [try PolicyDocument(json: policy)])
    }

    func refusal(_ who: AccessKeyring.Principal, _ operation: String, _ body: String) -> AWSError? {
        AccessPolicy.refusal(who, AccessPolicy.json(target: "AmazonSSM." + operation, body: Array(body.utf8), names: names), style: .json)
    }

    @Test func everyParameterARequestNamesIsJudgedHoweverItIsSpelled() throws {
        let reader = try principal(
            #"{"Statement":[{"Effect":"Allow","Action":"ssm:GetParameter*","Resource":"*"},"#
                + #"{"Effect":"Deny","Action":"ssm:*","Resource":"arn:aws:ssm:us-east-1:000000000000:parameter/secret/*"}]}"#)
        #expect(refusal(reader, "GetParameter", #"{"Name":"/public/a"}"#) == nil)
        #expect(refusal(reader, "GetParameter", #"{"Name":"/secret/b"}"#)?.type == "AccessDeniedException")
        // By ARN: the ARN itself is the resource (not a parameter named after it).
        #expect(refusal(reader, "GetParameter", #"{"Name":"arn:aws:ssm:us-east-1:000000000000:parameter/secret/b"}"#) != nil)
        // Several names: each is judged, so one denied among allowed ones refuses the call.
        let several = refusal(reader, "GetParameters", #"{"Names":["/public/a","/secret/b"]}"#)
        #expect(
            several?.message
                == "User: arn:aws:iam::000000000000:user/ci is not authorized to perform: ssm:GetParameters on resource: arn:aws:ssm:us-east-1:000000000000:parameter/secret/b with an explicit deny in an identity-based policy"
        )
        #expect(refusal(reader, "GetParameters", #"{"Names":["/public/a","/public/c"]}"#) == nil)
    }

    @Test func policiesJudgeTheARNsResourcesAreStoredUnderWithPathsAndSuffixes() throws {
        var root = ControlPlaneState(names: names)
        var random = Xoshiro256(seed: 1)
        var changes = ChangeSet()
        let trust = #"{"Version":"2012-10-17","Statement":[]}"#
        let role = try root.iam.createRole(name: "app", path: "/service/", trustPolicy: trust, description: nil, now: Date(), using: &random, changes: &changes)
        #expect(role.arn == "arn:aws:iam::000000000000:role/service/app")
        _ = try root.iam.createUser(name: "ops", path: "/team/", now: Date(), using: &random, changes: &changes)
        let secret = try root.secrets.createSecret(
            SMCreateSecretRequest(Name: "db", SecretString: "x"), sealedValue: "sealed", versionId: "v1", now: Date(), using: &random,
            changes: &changes)
        let resources = StoredResources(root: root, names: names)
        let stored = resources.arn
        #expect(stored(names.iamRole("app")) == role.arn)
        #expect(stored("arn:aws:iam::000000000000:role/other-path/app") == role.arn, "roles are found by name, as credentials are")
        #expect(stored(names.iamUser("ops")) == "arn:aws:iam::000000000000:user/team/ops")
        #expect(resources.secret("db") == secret.ARN)
        #expect(resources.secret(try #require(secret.ARN)) == secret.ARN)
        // Unknown names, other accounts and other services stay as named.
        #expect(stored(names.iamRole("ghost")) == names.iamRole("ghost"))
        #expect(stored("arn:aws:iam::999999999999:role/app") == "arn:aws:iam::999999999999:role/app")
        #expect(stored("arn:aws:ecs:us-east-1:000000000000:cluster/c") == "arn:aws:ecs:us-east-1:000000000000:cluster/c")

        // A policy written for AWS (the secret's suffix as `-??????`, the role's path) allows what it names.
        let reader = try principal(
            #"{"Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:us-east-1:000000000000:secret:db-??????"},"#
                + #"{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::000000000000:role/service/*"}]}"#)
        let get = AccessPolicy.json(
            target: "secretsmanager.GetSecretValue", body: Array(#"{"SecretId":"db"}"#.utf8), names: names, secret: resources.secret)
        #expect(AccessPolicy.refusal(reader, get, style: .json, stored: stored) == nil)
        let unresolved = AccessPolicy.json(target: "secretsmanager.GetSecretValue", body: Array(#"{"SecretId":"db"}"#.utf8), names: names)
        #expect(AccessPolicy.refusal(reader, unresolved, style: .json) != nil, "as named, the suffix is missing")
        #expect(AccessPolicy.passRoleRefusal(reader, roles: ["app"], names: names, style: .json, stored: stored) == nil)
        #expect(AccessPolicy.passRoleRefusal(reader, roles: ["ghost"], names: names, style: .json, stored: stored) != nil)
    }

    @Test func executeCommandIsJudgedOnTheTask() {
        let action = AccessPolicy.json(
            target: "AmazonEC2ContainerServiceV20141113.ExecuteCommand", body: Array(#"{"cluster":"prod","task":"abc","command":"sh","interactive":true}"#.utf8),
            names: names)
        #expect(
            action.action == "ecs:ExecuteCommand"
                && action.resources() == ["arn:aws:ecs:us-east-1:000000000000:cluster/prod", "arn:aws:ecs:us-east-1:000000000000:task/prod/abc"])
        let byArn = AccessPolicy.json(
            target: "AmazonEC2ContainerServiceV20141113.ExecuteCommand",
            body: Array(#"{"task":"arn:aws:ecs:us-east-1:000000000000:task/c/x","command":"sh","interactive":true}"#.utf8), names: names)
        #expect(byArn.resources() == ["arn:aws:ecs:us-east-1:000000000000:cluster/default", "arn:aws:ecs:us-east-1:000000000000:task/c/x"])
    }

    @Test func logsActionsAreJudgedOnTheirGroupAndStream() throws {
        // As AWS's own task execution policies name them: a group's streams by `log-group:NAME:*`.
        let writer = try principal(
            #"{"Statement":[{"Effect":"Allow","Action":["logs:CreateLogStream","logs:PutLogEvents"],"Resource":"arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web:*"}]}"#)
        func judged(_ operation: String, _ body: String) -> AWSError? {
            AccessPolicy.refusal(writer, AccessPolicy.json(target: "Logs_20140328." + operation, body: Array(body.utf8), names: names), style: .json)
        }
        #expect(judged("PutLogEvents", #"{"logGroupName":"/ecs/web","logStreamName":"ecs/web/1","logEvents":[]}"#) == nil)
        #expect(judged("CreateLogStream", #"{"logGroupName":"/ecs/web","logStreamName":"s"}"#) == nil)
        #expect(judged("PutLogEvents", #"{"logGroupName":"/ecs/other","logStreamName":"s","logEvents":[]}"#)?.type == "AccessDeniedException")
        #expect(judged("DeleteLogGroup", #"{"logGroupName":"/ecs/web"}"#)?.type == "AccessDeniedException")
        let action = AccessPolicy.json(target: "Logs_20140328.GetLogEvents", body: Array(#"{"logGroupIdentifier":"arn:aws:logs:us-east-1:000000000000:log-group:g","logStreamName":"s"}"#.utf8), names: names)
        #expect(action.action == "logs:GetLogEvents" && action.resources() == ["arn:aws:logs:us-east-1:000000000000:log-group:g:log-stream:s"])
    }

    @Test func eventsActionsAreJudgedOnTheirRuleOrBus() throws {
        let orders = "arn:aws:events:us-east-1:000000000000:event-bus/orders"
        let publisher = try principal(
            #"{"Statement":[{"Effect":"Allow","Action":"events:PutEvents","Resource":"\#(orders)"},"#
                + #"{"Effect":"Allow","Action":"events:PutRule","Resource":"arn:aws:events:us-east-1:000000000000:rule/orders/*"}]}"#)
        func judged(_ operation: String, _ body: String) -> AWSError? {
            AccessPolicy.refusal(publisher, AccessPolicy.json(target: "AWSEvents." + operation, body: Array(body.utf8), names: names), style: .json)
        }
        #expect(judged("PutEvents", #"{"Entries":[{"EventBusName":"orders","Source":"a"}]}"#) == nil)
        #expect(judged("PutEvents", #"{"Entries":[{"EventBusName":"\#(orders)"}]}"#) == nil)
        // Every entry's bus must be allowed: one on the default bus is refused.
        #expect(judged("PutEvents", #"{"Entries":[{"EventBusName":"orders"},{"Source":"a"}]}"#)?.type == "AccessDeniedException")
        #expect(judged("PutRule", #"{"Name":"big","EventBusName":"orders"}"#) == nil)
        #expect(judged("PutRule", #"{"Name":"big"}"#)?.type == "AccessDeniedException")
    }

    @Test func queryActionsAreJudgedAsTheServiceThatAnswersThem() throws {
        // The namespace is the answering service's (chosen by Action), whatever Version says.
        let request = try #require(QueryRequest(form: Array("Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At&Message=x".utf8)))
        let publish = AccessPolicy.query(request, namespace: SNSAPI.namespace, names: names)
        #expect(publish.action == "sns:Publish" && publish.resources() == ["arn:aws:sns:us-east-1:000000000000:t"])
        let batch = try #require(QueryRequest(form: Array("Action=PublishBatch&TopicArn=t&Version=2015-12-01".utf8)))
        #expect(AccessPolicy.query(batch, namespace: SNSAPI.namespace, names: names).action == "sns:Publish")
        let user = try #require(QueryRequest(form: Array("Action=CreateUser&UserName=x&Version=2015-12-01".utf8)))
        #expect(AccessPolicy.query(user, namespace: IAMAPI.namespace, names: names).action == "iam:CreateUser")
    }

    @Test func aSecretNamedLikeAnothersARNCannotLendItsRightsToThatOne() throws {
        var root = ControlPlaneState(names: names)
        var random = Xoshiro256(seed: 2)
        var changes = ChangeSet()
        let guarded = try root.secrets.createSecret(
            SMCreateSecretRequest(Name: "prod/db", SecretString: "x"), sealedValue: "s", versionId: "v1", now: Date(), using: &random,
            changes: &changes)
        let guardedArn = try #require(guarded.ARN)
        // A secret whose name is the guarded one's name and suffix: its ARN is that plus a suffix of its own.
        let lookalikeName = String(guardedArn.split(separator: ":").last!)
        _ = try root.secrets.createSecret(
            SMCreateSecretRequest(Name: lookalikeName, SecretString: "y"), sealedValue: "s", versionId: "v1", now: Date(), using: &random,
            changes: &changes)
        let resources = StoredResources(root: root, names: names)
        let caller = try principal(
            #"{"Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"},"#
                + #"{"Effect":"Deny","Action":"secretsmanager:*","Resource":"arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-??????"}]}"#)
        func refusal(_ secretId: String) -> AWSError? {
            let body = Array(#"{"SecretId":"\#(secretId)"}"#.utf8)
            return AccessPolicy.refusal(
                caller, AccessPolicy.json(target: "secretsmanager.GetSecretValue", body: body, names: names, secret: resources.secret), style: .json,
                stored: resources.arn)
        }
        // The guarded secret by its full ARN (which is also the ARN-shaped name of the lookalike) is denied.
        #expect(refusal(guardedArn)?.type == "AccessDeniedException")
        #expect(refusal("prod/db")?.type == "AccessDeniedException")
        // The lookalike by its own name is another secret, and allowed.
        #expect(refusal(lookalikeName) == nil)
    }

    @Test func aRoleOrUserBeingCreatedIsJudgedWithThePathItWillHave() throws {
        let creator = try principal(
            #"{"Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"},"#
                + #"{"Effect":"Deny","Action":["iam:CreateRole","iam:CreateUser"],"Resource":["arn:aws:iam::000000000000:role/admin/*","arn:aws:iam::000000000000:user/admin/*"]}]}"#)
        func refusal(_ form: String) throws -> AWSError? {
            AccessPolicy.refusal(creator, AccessPolicy.query(try #require(QueryRequest(form: Array(form.utf8))), namespace: IAMAPI.namespace, names: names), style: .query)
        }
        #expect(try refusal("Action=CreateRole&RoleName=x&Path=%2Fadmin%2F&AssumeRolePolicyDocument=%7B%7D")?.type == "AccessDenied")
        #expect(try refusal("Action=CreateUser&UserName=x&Path=%2Fadmin%2F")?.type == "AccessDenied")
        #expect(try refusal("Action=CreateRole&RoleName=x&AssumeRolePolicyDocument=%7B%7D") == nil)
        #expect(try refusal("Action=CreateUser&UserName=x&Path=%2Fteam%2F") == nil)
    }

    @Test func theRolesARequestHandsOverIncludeAServicesRole() {
        let body = #"{"serviceName":"s","taskDefinition":"web","role":"ecsServiceRole","overrides":{"taskRoleArn":"arn:aws:iam::000000000000:role/t"}}"#
        #expect(
            AccessPolicy.passedRoles(target: "AmazonEC2ContainerServiceV20141113.CreateService", body: Array(body.utf8))
                == ["ecsServiceRole", "arn:aws:iam::000000000000:role/t"])
        #expect(AccessPolicy.passedRoles(target: "AmazonSSM.GetParameter", body: Array(body.utf8)) == [])
    }
}
