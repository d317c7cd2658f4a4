import AWSProtocols
@testable import ControlPlane
import Foundation
import IAM
import Sealing
import StevedoreCore
import Testing

struct SessionCredentialsTests {
    let box = SecretBox(keyBytes: SecretBox.newKeyBytes())

    @Test func aTokenCarriesItsKeySecretRoleAndExpiryAndOpensOnlyWithItsKey() throws {
        let issued = SessionCredentials.issue(roleArn: "arn:aws:iam::000000000000:role/app", sessionName: "0f3a", now: 1_000, lifetime: 60)
        #expect(issued.accessKeyId.hasPrefix("ASIA") && issued.accessKeyId.count == 20 && issued.secret.count == 40 && issued.expires == 1_060)
        let token = issued.token(box)
        #expect(!token.contains(issued.secret))
        #expect(SessionCredentials.open(token, box: box) == issued)
        #expect(SessionCredentials.open(token, box: SecretBox(keyBytes: SecretBox.newKeyBytes())) == nil)
        #expect(SessionCredentials.open("STV1" + String(token.dropFirst(4).reversed()), box: box) == nil)
        #expect(SessionCredentials.open("not a token", box: box) == nil)
        #expect(issued.assumedRoleArn(ResourceNames()) == "arn:aws:sts::000000000000:assumed-role/app/0f3a")
    }

    @Test func aSessionIsLimitedByItsRolesPoliciesAsTheyAreNow() throws {
        var iam = IAMState(names: ResourceNames())
        var changes = ChangeSet()
        var random = Xoshiro256(seed: 1)
        let keyring = AccessKeyring(administrator: nil, names: ResourceNames(), box: box, iam: iam)
        let session = SessionCredentials.issue(roleArn: "arn:aws:iam::000000000000:role/app", sessionName: "t", now: 0)
        // No role of that name yet: no policies at all, so nothing is allowed.
        #expect(keyring.session(session).policies == [])
        _ = try iam.createRole(name: "app", path: nil, trustPolicy: "{}", description: nil, now: Date(), using: &random, changes: &changes)
        try iam.putRolePolicy(
            roleName: "app", policyName: "p", document: #"{"Statement":{"Effect":"Allow","Action":"ecs:List*","Resource":"*"}}"#, changes: &changes)
        keyring.update(iam)
        let principal = keyring.session(session)
        #expect(principal.caller.arn == "arn:aws:sts::000000000000:assumed-role/app/t" && principal.secret == session.secret)
        #expect(PolicyDecision(policies: principal.policies ?? [], action: "ecs:ListClusters", resource: "*") == .allowed)
        #expect(PolicyDecision(policies: principal.policies ?? [], action: "ecs:RunTask", resource: "*") == .implicitlyDenied)
    }

    @Test func theKeyRingTakesOnlyNewerIAMStatesAndAReloadedStateIsNewer() throws {
        var iam = IAMState(names: ResourceNames())
        var changes = ChangeSet()
        var random = Xoshiro256(seed: 1)
        _ = try iam.createUser(name: "u", path: nil, now: Date(), using: &random, changes: &changes)
        let sealed = box.seal("secret-of-u")
        let before = iam
        _ = try iam.createAccessKey(userName: "u", accessKeyId: "AKIAAAAAAAAAAAAAAAA1", sealedSecret: sealed, now: Date(), changes: &changes)
        let keyring = AccessKeyring(administrator: nil, names: ResourceNames(), box: box, iam: iam)
        #expect(keyring.principal("AKIAAAAAAAAAAAAAAAA1")?.secret == "secret-of-u")
        keyring.update(before)  // an older state finishing late changes nothing
        #expect(keyring.principal("AKIAAAAAAAAAAAAAAAA1") != nil)
        // A state reloaded from rows (after a failed commit) without the key is taken.
        let reloaded = try ControlPlaneState.restore(
            names: ResourceNames(), settings: .init(), rows: [.iamUsers: [RecordCoding.encode(try before.user("u"))]], now: Date())
        #expect(reloaded.iam.revision > iam.revision)
        keyring.update(reloaded.iam)
        #expect(keyring.principal("AKIAAAAAAAAAAAAAAAA1") == nil)
        // Reloaded again with the clock stepped back an hour: still newer, and a key created then
        // (a later change of that state) is taken too.
        var again = try ControlPlaneState.restore(
            names: ResourceNames(), settings: .init(), rows: [.iamUsers: [RecordCoding.encode(try before.user("u"))]],
            now: Date().addingTimeInterval(-3600))
        #expect(again.iam.revision > reloaded.iam.revision)
        _ = try again.iam.createAccessKey(userName: "u", accessKeyId: "AKIAAAAAAAAAAAAAAAA2", sealedSecret: sealed, now: Date(), changes: &changes)
        keyring.update(again.iam)
        #expect(keyring.principal("AKIAAAAAAAAAAAAAAAA2")?.secret == "secret-of-u")
    }
}

struct SessionTokenKeyTests {
    @Test func aValueSealedForStorageIsNoSessionToken() throws {
        let box = SecretBox(keyBytes: SecretBox.newKeyBytes())
        let sessions = box.derived(SessionCredentials.keyPurpose)
        let forged = #"{"k":"ASIAFORGED","s":"pw","r":"arn:aws:iam::000000000000:role/admin","n":"x","e":9999999999}"#
        // A SecureString's sealed text, as GetParameter answers it without decryption.
        #expect(SessionCredentials.open("STV1" + box.seal(forged), box: sessions) == nil)
        let real = SessionCredentials.issue(roleArn: "arn:aws:iam::000000000000:role/app", sessionName: "t", now: 0)
        #expect(SessionCredentials.open(real.token(sessions), box: sessions) == real)
        #expect(SessionCredentials.open(real.token(sessions), box: box) == nil)
    }
}
