import CurlHTTP
import ECS
import ECSShapes
import Foundation
import StevedoreClient
import StevedoreCore
import Testing

@Suite struct APIServerTests {
    @Test func healthz() async throws {
        try await ControlPlaneHarness.run { harness in
            let response = try await harness.http.execute(.init(path: "/healthz"))
            #expect(response.status == 200)
            #expect(response.bodyText == #"{"role":"leader","status":"ok"}"#)
        }
    }

    @Test func wireErrors() async throws {
        try await ControlPlaneHarness.run { harness in
            let unknown = try await harness.raw(target: "AmazonEC2ContainerServiceV20141113.LaunchRocket", body: "{}")
            #expect(unknown.status == 400)
            #expect(unknown.bodyText.contains("UnknownOperationException"))
            #expect(unknown.header("x-amzn-RequestId") != nil)

            let missing = try await harness.raw(target: nil, body: "{}")
            #expect(missing.status == 400)
            #expect(missing.bodyText.contains("Missing X-Amz-Target"))

            let malformed = try await harness.raw(target: "AmazonEC2ContainerServiceV20141113.CreateCluster", body: "{nope")
            #expect(malformed.status == 400)
            #expect(malformed.header("X-Amzn-ErrorType") == "SerializationException")

            let huge = String(repeating: " ", count: 9 << 20)
            let tooLarge = try await harness.raw(target: "AmazonEC2ContainerServiceV20141113.CreateCluster", body: huge)
            #expect(tooLarge.status == 413)

            let bigDefinition = #"{"family":"big","containerDefinitions":[{"name":"a","image":"busybox","memory":64,"command":[""# + String(repeating: "x", count: 70_000) + #""]}]}"#
            let refused = try await harness.raw(target: "AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition", body: bigDefinition)
            #expect(refused.status == 400)
            #expect(refused.bodyText.contains("64 KiB"))

            // The server is still healthy.
            #expect(try await harness.http.execute(.init(path: "/healthz")).status == 200)
        }
    }

    @Test func clustersAndTaskDefinitionsThroughTheClient() async throws {
        try await ControlPlaneHarness.run { harness in
            let client = harness.client
            let created: CreateClusterResponse = try await client.ecs("CreateCluster", CreateClusterRequest(clusterName: "web"))
            #expect(created.cluster?.status == "ACTIVE")
            let registered: RegisterTaskDefinitionResponse = try await client.ecs(
                "RegisterTaskDefinition",
                RegisterTaskDefinitionRequest(family: "web", containerDefinitions: [ContainerDefinition(name: "a", image: "busybox", memory: 32)])
            )
            #expect(registered.taskDefinition?.revision == 1)
            await #expect(throws: AWSError.clusterNotFound) {
                let _: DeleteClusterResponse = try await client.ecs("DeleteCluster", DeleteClusterRequest(cluster: "ghost"))
            }
        }
    }

    @Test func concurrentRegistrationsGetDistinctRevisions() async throws {
        try await ControlPlaneHarness.run { harness in
            let revisions = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        let response: RegisterTaskDefinitionResponse = try await harness.client.ecs(
                            "RegisterTaskDefinition",
                            RegisterTaskDefinitionRequest(family: "race", containerDefinitions: [ContainerDefinition(name: "a", image: "busybox", memory: 32)])
                        )
                        return response.taskDefinition?.revision ?? 0
                    }
                }
                var all: [Int] = []
                for try await revision in group { all.append(revision) }
                return all
            }
            #expect(revisions.sorted() == Array(1...50))
        }
    }

    @Test func stateSurvivesARestart() async throws {
        let directory = ControlPlaneHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await ControlPlaneHarness.run(dataDirectory: directory, removeAfterwards: false) { harness in
            let _: CreateClusterResponse = try await harness.client.ecs(
                "CreateCluster", CreateClusterRequest(clusterName: "kept", tags: [ResourceTag(key: "k", value: "v")]))
            for _ in 0..<3 {
                let _: RegisterTaskDefinitionResponse = try await harness.client.ecs(
                    "RegisterTaskDefinition",
                    RegisterTaskDefinitionRequest(family: "kept", containerDefinitions: [ContainerDefinition(name: "a", image: "busybox", memory: 32)])
                )
            }
        }
        try await ControlPlaneHarness.run(dataDirectory: directory, removeAfterwards: false) { harness in
            let clusters: DescribeClustersResponse = try await harness.client.ecs(
                "DescribeClusters", DescribeClustersRequest(clusters: ["kept"], include: [.tags]))
            #expect(clusters.clusters?.first?.tags == [ResourceTag(key: "k", value: "v")])
            let next: RegisterTaskDefinitionResponse = try await harness.client.ecs(
                "RegisterTaskDefinition",
                RegisterTaskDefinitionRequest(family: "kept", containerDefinitions: [ContainerDefinition(name: "a", image: "busybox", memory: 32)])
            )
            #expect(next.taskDefinition?.revision == 4)
        }
    }
}
