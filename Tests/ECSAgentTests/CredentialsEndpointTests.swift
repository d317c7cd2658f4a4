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
        let environment = Dictionary(uniqueKeysWithValues: endpoint.environment(for: "arn:aws:ecs:us-east-1:0:task/c/abc"))
        let uri = try #require(environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"])
        let token = try #require(environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"])
        #expect(uri.hasPrefix("http://127.0.0.1:\(endpoint.port)/v2/credentials/"))
        let path = String(uri.dropFirst("http://127.0.0.1:\(endpoint.port)".count))
        let (status, body) = await endpoint.answer(path: path, authorization: token)
        #expect(status == 200)
        #expect(try JSONDecoder().decode(TaskCredentials.self, from: Data(body)) == Self.credentials)
        // Another task's token does not open this task's credentials; nor does none.
        let other = Dictionary(uniqueKeysWithValues: endpoint.environment(for: "arn:aws:ecs:us-east-1:0:task/c/other"))
        #expect(await endpoint.answer(path: path, authorization: other["AWS_CONTAINER_AUTHORIZATION_TOKEN"]).0 == 401)
        #expect(await endpoint.answer(path: path, authorization: nil).0 == 401)
        #expect(await endpoint.answer(path: "/v2/credentials/zz", authorization: token).0 == 404)
        // The same key gives the same token after a restart of the agent.
        let again = try await CredentialsEndpoint(port: 0, keyBytes: Array(repeating: 7, count: 32)) { _ in Self.credentials }
        #expect(again.token(for: "arn:aws:ecs:us-east-1:0:task/c/abc") == token)
    }

    @Test func expirationsAreReadAsSecondsSince1970() {
        #expect(CredentialsEndpoint.seconds("1970-01-02T00:00:10Z") == 86_410)
        #expect(CredentialsEndpoint.seconds("2026-11-30T08:00:00Z") == 1_796_025_600)
        #expect(CredentialsEndpoint.seconds("garbage") == nil)
    }
}
