import AgentProtocol
import AWSProtocols
@testable import ControlPlane
import Foundation
import Sealing
import Synchronization
import Testing

struct AgentAuthenticatorTests {
    let box = SecretBox(keyBytes: SecretBox.newKeyBytes())

    @Test func credentialsNameTheirInstanceAndLifetimeAndOpenOnlyUnderTheirOwnKey() {
        let clock = Mutex<Int64>(1_000)
        let authenticator = AgentAuthenticator(registrationToken: "t", box: box, lifetime: 600, now: { clock.withLock { $0 } })
        let issued = authenticator.issue(instanceArn: "arn:aws:ecs:us-east-1:000000000000:container-instance/c/1")
        #expect(issued.accessKeyId.hasPrefix("ASIA") && issued.accessKeyId.count == 20 && issued.secretAccessKey.count == 40)
        #expect(issued.issuedAt == 1_000 && issued.expiresAt == 1_600)
        #expect(issued.sessionToken.hasPrefix("STI1") && !issued.sessionToken.contains(issued.secretAccessKey))
        #expect(authenticator.open(issued.sessionToken) == issued)
        #expect(authenticator.issue(instanceArn: issued.containerInstanceArn).accessKeyId != issued.accessKeyId)
        // Another control plane's key, a role session's key, the stored values' key: none opens them.
        let other = AgentAuthenticator(registrationToken: "t", box: SecretBox(keyBytes: SecretBox.newKeyBytes()), lifetime: 600)
        #expect(other.open(issued.sessionToken) == nil)
        let sealedForSessions = "STI1" + box.derived(SessionCredentials.keyPurpose).seal(#"{"a":"x","k":"ASIAX","s":"s","i":0,"e":9999999999}"#)
        #expect(authenticator.open(sealedForSessions) == nil)
        #expect(authenticator.open("STI1" + box.seal(#"{"a":"x","k":"ASIAX","s":"s","i":0,"e":9999999999}"#)) == nil)
        #expect(authenticator.open("STV1" + issued.sessionToken.dropFirst(4)) == nil)
    }

    @Test func renewalIsDueAtHalfTheirLifetime() {
        let credentials = InstanceCredentials(
            containerInstanceArn: "i", accessKeyId: "k", secretAccessKey: "s", sessionToken: "t", issuedAt: 1_000, expiresAt: 1_600)
        #expect(!credentials.needsRenewal(now: 1_299))
        #expect(credentials.needsRenewal(now: 1_300))
    }
}
