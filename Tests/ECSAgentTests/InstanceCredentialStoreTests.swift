import AgentProtocol
@testable import ECSAgent
import Foundation
import Testing

struct InstanceCredentialStoreTests {
    func credentials(_ key: String, issued: Int64 = 1_000, lifetime: Int64 = 600, instance: String = "arn:i/1") -> InstanceCredentials {
        InstanceCredentials(
            containerInstanceArn: instance, accessKeyId: key, secretAccessKey: "s", sessionToken: "STI1x", issuedAt: issued,
            expiresAt: issued + lifetime)
    }

    @Test func renewalIsDueAtHalfTheLifetimeAndOneCallerRenewsAtATime() {
        let store = InstanceCredentialStore()
        #expect(store.beginRenewal(now: 5_000) == nil)  // none yet: nothing to renew
        store.store(credentials("ASIA1"))
        #expect(store.beginRenewal(now: 1_299) == nil)
        #expect(store.beginRenewal(now: 1_300)?.accessKeyId == "ASIA1")
        #expect(store.beginRenewal(now: 1_300) == nil)  // another caller signs with the current ones meanwhile
        store.finishRenewal(nil)  // failed: the next call tries again
        #expect(store.current?.accessKeyId == "ASIA1")
        #expect(store.beginRenewal(now: 1_301)?.accessKeyId == "ASIA1")
        store.finishRenewal(credentials("ASIA2", issued: 1_301))
        #expect(store.current?.accessKeyId == "ASIA2")
        #expect(store.beginRenewal(now: 1_302) == nil)
    }

    @Test func aLateRenewalNeverReplacesNewerCredentialsOrThoseOfAnotherInstance() {
        let store = InstanceCredentialStore()
        store.store(credentials("ASIA1", issued: 1_000))
        #expect(store.beginRenewal(now: 0, force: true)?.accessKeyId == "ASIA1")
        // Meanwhile the instance was deregistered and the agent registered as a new one.
        store.store(credentials("ASIA9", issued: 1_100, instance: "arn:i/2"))
        store.finishRenewal(credentials("ASIA2", issued: 1_050))
        #expect(store.current?.accessKeyId == "ASIA9")
        #expect(store.beginRenewal(now: 0, force: true) != nil)
        store.finishRenewal(credentials("ASIA0", issued: 1_000, instance: "arn:i/2"))
        #expect(store.current?.accessKeyId == "ASIA9")
    }

    @Test func theyAreKeptPrivateAcrossRestartsWhenTheAgentCheckpoints() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("creds-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        InstanceCredentialStore(dataDirectory: directory, persist: true).store(credentials("ASIA1"))
        let attributes = try FileManager.default.attributesOfItem(atPath: directory + "/instance-credentials")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let restarted = InstanceCredentialStore(dataDirectory: directory, persist: true)
        #expect(restarted.current == credentials("ASIA1"))
        #expect(restarted.credentials(of: "arn:i/1") == credentials("ASIA1"))
        #expect(restarted.credentials(of: "arn:i/2") == nil)
        InstanceCredentialStore(dataDirectory: directory + "/other", persist: false).store(credentials("ASIA3"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/other/instance-credentials"))
    }
}
