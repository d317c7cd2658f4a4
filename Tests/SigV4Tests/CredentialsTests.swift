import Archives
@testable import SigV4
import Testing

/// The shared credentials file as the AWS CLI reads and writes it, and keys as IAM shapes them.
struct CredentialsTests {
    @Test func readsEachProfileWithBothPartsAndSkipsTheRest() {
        let text = """
            # written by hand
            [default]
            aws_access_key_id = AKIADEFAULT000000000
            aws_secret_access_key=secret/with+symbols=
            \t
            [profile ci]
            AWS_ACCESS_KEY_ID = AKIACI00000000000000
            aws_secret_access_key = ci-secret
            aws_session_token = token ; not a comment mid-line
            ; a comment
            [incomplete]
            aws_access_key_id = AKIAHALF000000000000
            """
        let profiles = SharedCredentialsFile.parse(text)
        #expect(profiles.count == 2)
        #expect(profiles["default"] == AWSCredentials(accessKeyId: "AKIADEFAULT000000000", secretAccessKey: "secret/with+symbols="))
        #expect(
            profiles["ci"]
                == AWSCredentials(accessKeyId: "AKIACI00000000000000", secretAccessKey: "ci-secret", sessionToken: "token ; not a comment mid-line"))
        #expect(profiles["incomplete"] == nil)
    }

    @Test func whatItWritesReadsBack() {
        let key = AWSCredentials(accessKeyId: "AKIA1234567890ABCDEF", secretAccessKey: "s3cr3t/+key")
        #expect(SharedCredentialsFile.render(profile: "default", key) == "[default]\naws_access_key_id = AKIA1234567890ABCDEF\naws_secret_access_key = s3cr3t/+key\n")
        #expect(SharedCredentialsFile.parse(SharedCredentialsFile.render(profile: "default", key))["default"] == key)
        let temporary = AWSCredentials(accessKeyId: "ASIA1234567890ABCDEF", secretAccessKey: "x", sessionToken: "t")
        #expect(SharedCredentialsFile.parse(SharedCredentialsFile.render(profile: "p", temporary))["p"] == temporary)
    }

    @Test func generatedKeysHaveIAMsShapeAndDiffer() {
        let first = AWSCredentials.generate()
        let second = AWSCredentials.generate()
        #expect(first.accessKeyId.hasPrefix("AKIA") && first.accessKeyId.count == 20)
        #expect(first.accessKeyId.allSatisfy { "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".contains($0) })
        #expect(first.secretAccessKey.count == 40)
        #expect(first.sessionToken == nil)
        #expect(first != second)
    }

    @Test func aKeySignedByTheSignerIsAcceptedAndAnotherSecretIsNot() throws {
        let key = AWSCredentials.generate()
        let request = SignableRequest(
            method: "POST", path: "/", headers: [("Host", "127.0.0.1:8340"), ("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")],
            body: Array("{}".utf8))
        let now: Int64 = 1_790_000_000
        var signed = request
        signed.headers += SigV4Signer.sign(request, accessKeyId: key.accessKeyId, secret: key.secretAccessKey, region: "us-east-1", service: "ecs", now: now)
        let verifier = SigV4Verifier { $0 == key.accessKeyId ? key.secretAccessKey : nil }
        #expect(try verifier.verify(signed, service: "ecs", now: now + 299) == key.accessKeyId)
        let impostor = SigV4Verifier { _ in "not the secret" }
        #expect(throws: SignatureFailure.mismatch) { try impostor.verify(signed, service: "ecs", now: now) }
        var tampered = signed
        tampered.body = Array(#"{"maxResults":1}"#.utf8)
        #expect(throws: SignatureFailure.mismatch) { try verifier.verify(tampered, service: "ecs", now: now) }
    }

    @Test func theBodyTheOperationAndTheHostAreBoundToTheSignature() throws {
        let key = AWSCredentials(accessKeyId: "AKIAEXAMPLEEXAMPLE00", secretAccessKey: "secret")
        let verifier = SigV4Verifier { $0 == key.accessKeyId ? key.secretAccessKey : nil }
        let now: Int64 = 1_790_000_000
        func signed(_ headers: [(name: String, value: String)], body: String) -> SignableRequest {
            let request = SignableRequest(method: "POST", path: "/", headers: headers, body: Array(body.utf8))
            var signed = request
            signed.headers += SigV4Signer.sign(request, accessKeyId: key.accessKeyId, secret: key.secretAccessKey, region: "us-east-1", service: "ecs", now: now)
            return signed
        }
        let target = ("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.CreateCluster")
        let request = signed([("Host", "127.0.0.1:8340"), target], body: #"{"clusterName":"a"}"#)
        #expect(try verifier.verify(request, service: nil, now: now) == key.accessKeyId)

        // Another body, even with the signed body's hash declared.
        var forged = request
        forged.body = Array(#"{"clusterName":"b"}"#.utf8)
        #expect(throws: SignatureFailure.mismatch) { try verifier.verify(forged, service: nil, now: now) }
        forged.headers.append(("X-Amz-Content-Sha256", Digest.hex(Digest.sha256(request.body))))
        #expect(throws: SignatureFailure.mismatch) { try verifier.verify(forged, service: nil, now: now) }

        // A target that was not signed, and a host that was not.
        let unsignedTarget = signed([("Host", "127.0.0.1:8340")], body: "{}")
        var withTarget = unsignedTarget
        withTarget.headers.append(target)
        #expect(throws: SignatureFailure.incomplete("'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")) {
            try verifier.verify(withTarget, service: nil, now: now)
        }
        let hostless = signed([target], body: "{}")
        #expect(throws: SignatureFailure.incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")) {
            try verifier.verify(hostless, service: nil, now: now)
        }
    }

    @Test func scopesMustNameARegionAndAService() {
        let verifier = SigV4Verifier { _ in "secret" }
        for scope in ["us-east-1/" + String(repeating: "s", count: 65), "US_EAST/ecs", "/ecs", "us-east-1/"] {
            let request = SignableRequest(
                method: "GET", path: "/",
                headers: [
                    ("Host", "h"), ("X-Amz-Date", "20260101T000000Z"),
                    ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIA/20260101/\(scope)/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"),
                ])
            #expect(throws: SignatureFailure.incomplete("Credential should be scoped to a valid region. ")) {
                try verifier.verify(request, service: nil, now: SigningTime.seconds("20260101T000000Z")!)
            }
        }
    }
}
