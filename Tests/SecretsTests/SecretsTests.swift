import Foundation
@testable import Secrets
import SecretsShapes
import StevedoreCore
import Testing

struct ParameterStoreTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func secureStringsAreKeptSealedAndOthersPlain() throws {
        var state = SecretsState(names: ResourceNames())
        var changes = ChangeSet()
        _ = try state.putParameter(SSMPutParameterRequest(Name: "/db/host", Value: "db.internal", Type: .string), sealedValue: "S1", now: now, changes: &changes)
        _ = try state.putParameter(
            SSMPutParameterRequest(Name: "/db/password", Value: "hunter2", Type: .secureString), sealedValue: "S2", now: now, changes: &changes)
        #expect(state.parameters["/db/host"]?.value == "db.internal" && state.parameters["/db/host"]?.sealedValue == nil)
        #expect(state.parameters["/db/password"]?.value == nil && state.parameters["/db/password"]?.sealedValue == "S2")
        // Nothing stored holds the plain secret.
        #expect(!changes.changes.contains { String(decoding: $0.body ?? [], as: UTF8.self).contains("hunter2") })
    }

    @Test func overwritingNeedsOverwriteAndBumpsTheVersion() throws {
        var state = SecretsState(names: ResourceNames())
        var changes = ChangeSet()
        _ = try state.putParameter(SSMPutParameterRequest(Name: "p", Value: "1", Type: .string), sealedValue: "", now: now, changes: &changes)
        #expect(
            throws: AWSError(
                type: "ParameterAlreadyExists", message: "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
        ) {
            try state.putParameter(SSMPutParameterRequest(Name: "p", Value: "2"), sealedValue: "", now: now, changes: &changes)
        }
        let result = try state.putParameter(SSMPutParameterRequest(Name: "p", Value: "2", Overwrite: true), sealedValue: "", now: now, changes: &changes)
        #expect(result.Version == 2 && state.parameters["p"]?.value == "2" && state.parameters["p"]?.type == .string)
    }

    @Test(arguments: ["aws-thing", "/ssm/x", "has space", "a//b", ""])
    func reservedOrMalformedNamesAreRefused(name: String) {
        var state = SecretsState(names: ResourceNames())
        var changes = ChangeSet()
        #expect(throws: AWSError.self) {
            try state.putParameter(SSMPutParameterRequest(Name: name, Value: "v", Type: .string), sealedValue: "", now: now, changes: &changes)
        }
    }

    @Test func parametersAreFoundByNameOrARNAndByPath() throws {
        var state = SecretsState(names: ResourceNames())
        var changes = ChangeSet()
        for name in ["/app/a", "/app/b", "/app/deep/c", "/other/d", "plain"] {
            _ = try state.putParameter(SSMPutParameterRequest(Name: name, Value: "v", Type: .string), sealedValue: "", now: now, changes: &changes)
        }
        #expect(try state.parameter("arn:aws:ssm:us-east-1:000000000000:parameter/app/a").name == "/app/a")
        #expect(try state.parameter("arn:aws:ssm:us-east-1:000000000000:parameter/plain").name == "plain")
        // Only this region's and account's ARNs name parameters: anything else names none (a policy
        // judges the ARN as sent, so a spelling the policy does not match must not reach one).
        for foreign in [
            "arn:aws:ssm:zz:1:parameterX/app/a", "arn:aws:ssm:eu-west-1:000000000000:parameter/app/a",
            "arn:aws:ssm:us-east-1:111111111111:parameter/app/a", "arn:aws:ssm:us-east-1:000000000000:parameterX/app/a",
        ] {
            #expect(throws: AWSError.self) { try state.parameter(foreign) }
        }
        #expect(ResourceNames().parameter("/app/a") == "arn:aws:ssm:us-east-1:000000000000:parameter/app/a")
        #expect(ResourceNames().parameter("plain") == "arn:aws:ssm:us-east-1:000000000000:parameter/plain")
        #expect(throws: AWSError(type: "ParameterNotFound", message: "")) { try state.parameter("/nope") }
        #expect(try state.parametersByPath(SSMGetParametersByPathRequest(Path: "/app")).records.map(\.name) == ["/app/a", "/app/b"])
        #expect(
            try state.parametersByPath(SSMGetParametersByPathRequest(Path: "/app", Recursive: true)).records.map(\.name) == ["/app/a", "/app/b", "/app/deep/c"])
        let first = try state.parametersByPath(SSMGetParametersByPathRequest(Path: "/app", Recursive: true, MaxResults: 2))
        #expect(first.records.count == 2 && first.nextToken == "/app/b")
        let rest = try state.parametersByPath(SSMGetParametersByPathRequest(Path: "/app", Recursive: true, MaxResults: 2, NextToken: first.nextToken))
        #expect(rest.records.map(\.name) == ["/app/deep/c"] && rest.nextToken == nil)
    }
}

struct SecretsManagerTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func secretsHaveARandomSuffixedARNAndAreFoundByEither() throws {
        var state = SecretsState(names: ResourceNames())
        var changes = ChangeSet()
        var random = Xoshiro256(seed: 3)
        let created = try state.createSecret(
            SMCreateSecretRequest(Name: "prod/db", SecretString: "s3cret"), sealedValue: "SEALED", versionId: "v1", now: now, using: &random,
            changes: &changes)
        let arn = try #require(created.ARN)
        #expect(arn.hasPrefix("arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-") && arn.count == "arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-".count + 6)
        #expect(try state.secret("prod/db").sealedValue == "SEALED")
        #expect(try state.secret(arn).name == "prod/db")
        #expect(throws: AWSError(type: "ResourceExistsException", message: "The operation failed because the secret prod/db already exists.")) {
            try state.createSecret(SMCreateSecretRequest(Name: "prod/db", SecretString: "x"), sealedValue: "", versionId: "v", now: now, using: &random, changes: &changes)
        }
        #expect(throws: AWSError(type: "ResourceNotFoundException", message: "Secrets Manager can't find the specified secret.")) { try state.secret("nope") }
        #expect(!changes.changes.contains { String(decoding: $0.body ?? [], as: UTF8.self).contains("s3cret") })
    }

    @Test func taskReferencesNameTheActionTheResourceAndTheJSONKey() throws {
        var state = SecretsState(names: ResourceNames())
        var changes = ChangeSet()
        var random = Xoshiro256(seed: 3)
        let arn = try #require(
            try state.createSecret(
                SMCreateSecretRequest(Name: "db", SecretString: #"{"password":"p"}"#), sealedValue: "SEALED", versionId: "v1", now: now, using: &random,
                changes: &changes
            ).ARN)
        _ = try state.putParameter(SSMPutParameterRequest(Name: "/app/token", Value: "t", Type: .secureString), sealedValue: "ST", now: now, changes: &changes)
        let secret = try state.reference(arn + ":password::")
        #expect(secret.action == "secretsmanager:GetSecretValue" && secret.resource == arn && secret.jsonKey == "password" && secret.sealedValue == "SEALED")
        let parameter = try state.reference("/app/token")
        #expect(parameter.action == "ssm:GetParameters" && parameter.resource == "arn:aws:ssm:us-east-1:000000000000:parameter/app/token")
        #expect(try state.reference("arn:aws:ssm:us-east-1:000000000000:parameter/app/token") == parameter)
        #expect(throws: AWSError.self) { try state.reference("/app/missing") }
    }
}
