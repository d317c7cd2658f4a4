import AWSProtocols
@testable import ControlPlane
import IAM
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

    @Test func theRolesARequestHandsOverIncludeAServicesRole() {
        let body = #"{"serviceName":"s","taskDefinition":"web","role":"ecsServiceRole","overrides":{"taskRoleArn":"arn:aws:iam::000000000000:role/t"}}"#
        #expect(
            AccessPolicy.passedRoles(target: "AmazonEC2ContainerServiceV20141113.CreateService", body: Array(body.utf8))
                == ["ecsServiceRole", "arn:aws:iam::000000000000:role/t"])
        #expect(AccessPolicy.passedRoles(target: "AmazonSSM.GetParameter", body: Array(body.utf8)) == [])
    }
}
