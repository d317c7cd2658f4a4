@testable import ECSAgent
import AgentProtocol
import Foundation
import Testing

struct CredentialsEndpointTests {
    static let credentials = TaskCredentials(
        RoleArn: "arn:aws:iam::000000000000:role/app", AccessKeyId: "ASIAEXAMPLE", SecretAccessKey: "s", Token: "t",
        Expiration: "2099-01-01T00:00:00Z")

    @Test func aContainerGetsItsOwnTasksCredentialsWithItsTokenAndNoOneElsesWithout() async throws {
        let endpoint = try await CredentialsEndpoint(port: 0, keyBytes: Array(repeating: 7, count: 32)) { _ in Self.credentials }
        let environment = Dictionary(uniqueKeysWithValues: endpoint.environment(for: "arn:aws:ecs:us-east-1:0:task/c/abc", bridged: false))
        let uri = try #require(environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"])
        let token = try #require(environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"])
        #expect(uri.hasPrefix("http://127.0.0.1:\(endpoint.port)/v2/credentials/"))
        let path = String(uri.dropFirst("http://127.0.0.1:\(endpoint.port)".count))
        let (status, body) = await endpoint.answer(path: path, authorization: token)
        #expect(status == 200)
        #expect(try JSONDecoder().decode(TaskCredentials.self, from: Data(body)) == Self.credentials)
        // Another task's token does not open this task's credentials; nor does none.
        let other = Dictionary(uniqueKeysWithValues: endpoint.environment(for: "arn:aws:ecs:us-east-1:0:task/c/other", bridged: false))
        #expect(await endpoint.answer(path: path, authorization: other["AWS_CONTAINER_AUTHORIZATION_TOKEN"]).0 == 401)
        #expect(await endpoint.answer(path: path, authorization: nil).0 == 401)
        #expect(await endpoint.answer(path: "/v2/credentials/zz", authorization: token).0 == 404)
        // The same key gives the same token after a restart of the agent.
        let again = try await CredentialsEndpoint(port: 0, keyBytes: Array(repeating: 7, count: 32)) { _ in Self.credentials }
        #expect(again.token(for: "arn:aws:ecs:us-east-1:0:task/c/abc") == token)
    }

    @Test func bridgedTasksGetTheLinkLocalAddressOnlyWhenTheEndpointListensThere() async throws {
        // Off: bridged tasks are pointed at loopback, and the reason is kept for the agent's log.
        let off = try await CredentialsEndpoint(port: 0, keyBytes: Array(repeating: 7, count: 32), linkLocal: false) { _ in Self.credentials }
        #expect(off.linkLocalProblem?.contains("not asked to listen on 169.254.170.2") == true)
        #expect(Dictionary(uniqueKeysWithValues: off.environment(for: "t", bridged: true))["AWS_CONTAINER_CREDENTIALS_FULL_URI"]?
            .hasPrefix("http://127.0.0.1:\(off.port)/") == true)
        // On: where the host has 169.254.170.2 (the agent adds it at start; a unit test does not
        // change the host), bridged tasks get it on the same port; where not, loopback and the reason.
        let on = try await CredentialsEndpoint(port: 0, keyBytes: Array(repeating: 7, count: 32), linkLocal: true) { _ in Self.credentials }
        let uri = Dictionary(uniqueKeysWithValues: on.environment(for: "t", bridged: true))["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
        let hostUri = Dictionary(uniqueKeysWithValues: on.environment(for: "t", bridged: false))["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
        #expect(hostUri?.hasPrefix("http://127.0.0.1:\(on.port)/") == true)
        if on.linkLocalProblem == nil {
            #expect(uri?.hasPrefix("http://169.254.170.2:\(on.port)/v2/credentials/") == true)
        } else {
            #expect(on.linkLocalProblem?.contains("169.254.170.2") == true)
            #expect(uri?.hasPrefix("http://127.0.0.1:\(on.port)/") == true)
        }
    }

    @Test func expirationsAreReadAsSecondsSince1970() {
        #expect(CredentialsEndpoint.seconds("1970-01-02T00:00:10Z") == 86_410)
        #expect(CredentialsEndpoint.seconds("2026-11-30T08:00:00Z") == 1_796_025_600)
        #expect(CredentialsEndpoint.seconds("garbage") == nil)
    }
}
