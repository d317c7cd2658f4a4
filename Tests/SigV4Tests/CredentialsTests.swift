import SigV4
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
}
