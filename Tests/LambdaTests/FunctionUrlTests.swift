import Archives
import Foundation
@testable import Lambda
import LambdaShapes
import SQS
import StevedoreCore
import Testing

/// Function URLs: their configuration's operations and Lambda's refusals, and what the gateway
/// reads to serve one.
struct FunctionUrlTests {
    var state = FunctionsState(names: ResourceNames())
    var random = Xoshiro256(seed: 3)
    var changes = ChangeSet()
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    init() throws {
        var writer = ZipWriter()
        writer.add(path: "bootstrap", contents: [1], mode: 0o755)
        let code = try CodeBundle.inspect(writer.finish(), settings: FunctionSettings())
        let created = try state.createFunction(
            LambdaCreateFunctionRequest(
                FunctionName: "web", Runtime: .providedAl2023, Role: "arn:aws:iam::000000000000:role/r", Handler: "h", Code: LambdaFunctionCode(ZipFile: Data([1]))),
            code: code, sqs: SQSState(names: ResourceNames()), now: now, using: &random, changes: &changes)
        state.activateFunction("web", revisionId: created.RevisionId ?? "", changes: &changes)
        state.settings.urlEndpoint = FunctionUrlEndpoint(scheme: "http", port: 9000)
    }

    @Test mutating func aUrlIsMadeOncePerQualifierAndFoundByItsId() throws {
        let created = try state.createFunctionUrl(
            "web", qualifier: nil, LambdaCreateFunctionUrlConfigRequest(AuthType: .none_), now: now, using: &random, changes: &changes)
        let id = try #require(FunctionUrlEndpoint.urlId(fromHost: String(created.FunctionUrl.dropFirst("http://".count).prefix { $0 != "/" })))
        #expect(created.FunctionUrl == "http://\(id).lambda-url.us-east-1.localhost:9000/" && created.CreationTime == "2027-01-15T08:00:00.000Z")
        #expect(created.FunctionArn == "arn:aws:lambda:us-east-1:000000000000:function:web" && created.InvokeMode == .buffered)
        #expect(throws: AWSError.self) {
            try state.createFunctionUrl("web", qualifier: nil, LambdaCreateFunctionUrlConfigRequest(AuthType: .none_), now: now, using: &random, changes: &changes)
        }
        // Anyone may invoke it only once the policy says so.
        #expect(state.functionUrlTarget(id)?.publiclyInvokable == false)
        let permission = try JSONDecoder().decode(
            LambdaAddPermissionInput.self,
            from: Data(#"{"StatementId":"url","Action":"lambda:InvokeFunctionUrl","Principal":"*","FunctionUrlAuthType":"NONE"}"#.utf8))
        _ = try state.addPermission("web", qualifier: nil, permission, changes: &changes)
        #expect(state.functionUrlTarget(id) == FunctionUrlTarget(
            functionName: "web", functionArn: created.FunctionArn, qualifier: nil, authType: "NONE", cors: nil, publiclyInvokable: true))
        let updated = try state.updateFunctionUrl(
            "web", qualifier: nil, LambdaUpdateFunctionUrlConfigRequest(AuthType: .awsIam, Cors: LambdaCors(AllowOrigins: ["*"])), now: now + 5,
            changes: &changes)
        #expect(updated.AuthType == .awsIam && updated.LastModifiedTime == "2027-01-15T08:00:05.000Z" && updated.Cors?.AllowOrigins == ["*"])
        #expect(try state.functionUrlConfigs("web", marker: nil, maxItems: nil).FunctionUrlConfigs.map(\.FunctionUrl) == [created.FunctionUrl])
        try state.deleteFunctionUrl("web", qualifier: nil, changes: &changes)
        #expect(state.functionUrlTarget(id) == nil)
        #expect(throws: AWSError.lambdaNotFound("The resource you requested does not exist.")) { try state.functionUrlConfig("web", qualifier: nil) }
    }

    @Test mutating func onlyAnUnconditionalGrantOpensAUrlAndAnAliasTakesItsUrlWithIt() throws {
        _ = try state.publishVersion("web", LambdaPublishVersionRequest(), now: now, using: &random, changes: &changes)
        _ = try state.createAlias("web", LambdaCreateAliasRequest(Name: "live", FunctionVersion: "1"), using: &random, changes: &changes)
        let created = try state.createFunctionUrl(
            "web", qualifier: "live", LambdaCreateFunctionUrlConfigRequest(AuthType: .none_), now: now, using: &random, changes: &changes)
        let id = String(created.FunctionUrl.dropFirst("http://".count).prefix(32))
        let conditional = try JSONDecoder().decode(
            LambdaAddPermissionInput.self,
            from: Data(#"{"StatementId":"org","Action":"lambda:InvokeFunctionUrl","Principal":"*","FunctionUrlAuthType":"NONE","PrincipalOrgID":"o-1"}"#.utf8))
        _ = try state.addPermission("web", qualifier: "live", conditional, changes: &changes)
        #expect(state.functionUrlTarget(id)?.publiclyInvokable == false)
        try state.deleteAlias("web", alias: "live", changes: &changes)
        #expect(state.functionUrlTarget(id) == nil && state.functions["web"]?.urls == nil && state.functions["web"]?.permissions?.isEmpty == true)
    }

    @Test mutating func versionsAndUnknownAliasesTakeNoUrl() {
        #expect(throws: AWSError.self) {
            try state.createFunctionUrl("web", qualifier: "1", LambdaCreateFunctionUrlConfigRequest(AuthType: .none_), now: now, using: &random, changes: &changes)
        }
        #expect(throws: AWSError.self) {
            try state.createFunctionUrl("web", qualifier: "live", LambdaCreateFunctionUrlConfigRequest(AuthType: .none_), now: now, using: &random, changes: &changes)
        }
        #expect(throws: AWSError.self) {
            try state.createFunctionUrl(
                "web", qualifier: nil, LambdaCreateFunctionUrlConfigRequest(AuthType: .none_, Cors: LambdaCors(MaxAge: 90000)), now: now, using: &random,
                changes: &changes)
        }
        #expect(FunctionUrlEndpoint.urlId(fromHost: "abc.lambda-url.us-east-1.localhost") == nil)
        #expect(FunctionUrlEndpoint.urlId(fromHost: "api1.execute-api.localhost:8380") == nil)
    }
}
