import AgentProtocol
@testable import ECS
import ECSShapes
import Foundation
import StevedoreCore
import StevedoreTestSupport
import Testing

struct ECSStateTests {
    var state = ECSState(names: ResourceNames())
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func registration(_ family: String) -> RegisterTaskDefinitionRequest {
        RegisterTaskDefinitionRequest(family: family, containerDefinitions: [ContainerDefinition(name: "c", image: "busybox", memory: 32)])
    }

    @Test mutating func createClusterIsIdempotentAndPersisted() throws {
        var changes = ChangeSet()
        let created = try state.createCluster(CreateClusterRequest(clusterName: "prod", tags: [ResourceTag(key: "team", value: "a")]), changes: &changes)
        #expect(created.cluster?.clusterArn == "arn:aws:ecs:us-east-1:000000000000:cluster/prod")
        #expect(created.cluster?.tags == [ResourceTag(key: "team", value: "a")])
        #expect(changes.changes.map(\.kind) == [.clusters, .tags])
        var again = ChangeSet()
        let second = try state.createCluster(CreateClusterRequest(clusterName: "prod"), changes: &again)
        #expect(again.isEmpty)
        #expect(second.cluster?.clusterArn == created.cluster?.clusterArn)
    }

    @Test mutating func clusterErrors() throws {
        var changes = ChangeSet()
        #expect(throws: AWSError.self) { try state.createCluster(CreateClusterRequest(clusterName: "bad name"), changes: &changes) }
        let setting = ClusterSetting(name: .containerInsights, value: "sometimes")
        #expect(throws: AWSError.invalidParameter("Invalid value 'sometimes' for cluster setting containerInsights: use enabled, disabled or enhanced.")) {
            try state.createCluster(CreateClusterRequest(clusterName: "x", settings: [setting]), changes: &changes)
        }
        #expect(throws: AWSError.clusterNotFound) { try state.deleteCluster(DeleteClusterRequest(cluster: "ghost"), changes: &changes) }
    }

    /// AWS's words for empty lists, checked before the cluster: scripts that describe what a list
    /// found (and find nothing) match on them.
    @Test mutating func emptyDescribeListsAreRefusedInAWSWords() throws {
        #expect(throws: AWSError.invalidParameter("Tasks cannot be empty.")) { try state.describeTasks(DescribeTasksRequest(cluster: "ghost", tasks: [])) }
        #expect(throws: AWSError.invalidParameter("Services cannot be empty.")) {
            try state.describeServices(DescribeServicesRequest(cluster: "ghost", services: []))
        }
        #expect(throws: AWSError.invalidParameter("Container instance cannot be empty.")) {
            try state.describeContainerInstances(DescribeContainerInstancesRequest(cluster: "ghost", containerInstances: []))
        }
        var changes = ChangeSet()
        let nameless = RegisterTaskDefinitionRequest(family: "f", containerDefinitions: [ContainerDefinition(name: "", image: "busybox", memory: 32)])
        #expect(throws: AWSError.client("Container.name should not be null or empty.")) {
            try state.registerTaskDefinition(nameless, requestBytes: 100, now: now, changes: &changes)
        }
    }

    @Test mutating func deleteMakesClusterInactiveButDescribable() throws {
        var changes = ChangeSet()
        _ = try state.createCluster(CreateClusterRequest(clusterName: "old"), changes: &changes)
        let deleted = try state.deleteCluster(DeleteClusterRequest(cluster: "old"), changes: &changes)
        #expect(deleted.cluster?.status == "INACTIVE")
        #expect(try state.listClusters(ListClustersRequest()).clusterArns == [])
        let described = try state.describeClusters(DescribeClustersRequest(clusters: ["old", "never"]))
        #expect(described.clusters?.first?.status == "INACTIVE")
        #expect(described.failures == [Failure(arn: "arn:aws:ecs:us-east-1:000000000000:cluster/never", reason: "MISSING")])
        // Re-creating an inactive cluster brings it back.
        _ = try state.createCluster(CreateClusterRequest(clusterName: "old"), changes: &changes)
        #expect(try state.activeCluster("old").status == "ACTIVE")
    }

    @Test mutating func listClustersPages() throws {
        var changes = ChangeSet()
        for index in 0..<7 {
            _ = try state.createCluster(CreateClusterRequest(clusterName: "c\(index)"), changes: &changes)
        }
        var seen: [String] = []
        var token: String?
        repeat {
            let page = try state.listClusters(ListClustersRequest(nextToken: token, maxResults: 3))
            #expect((page.clusterArns ?? []).count <= 3)
            seen += page.clusterArns ?? []
            token = page.nextToken
        } while token != nil
        #expect(seen.count == 7)
        #expect(seen == seen.sorted())
        #expect(throws: AWSError.self) { try state.listClusters(ListClustersRequest(maxResults: 0)) }
        #expect(throws: AWSError.self) { try state.listClusters(ListClustersRequest(nextToken: "garbage")) }
    }

    @Test mutating func revisionsAreNeverReused() throws {
        var changes = ChangeSet()
        for _ in 0..<3 { _ = try state.registerTaskDefinition(registration("web"), requestBytes: 100, now: now, changes: &changes) }
        _ = try state.deregisterTaskDefinition(DeregisterTaskDefinitionRequest(taskDefinition: "web:3"), now: now, changes: &changes)
        let deleted = try state.deleteTaskDefinitions(DeleteTaskDefinitionsRequest(taskDefinitions: ["web:3", "web:2", "web:9"]), now: now, changes: &changes)
        #expect(deleted.taskDefinitions?.map(\.status) == [.deleteInProgress])
        #expect(deleted.failures?.map(\.reason) == [
            "The specified task definition is still in ACTIVE status. Please deregister the target and try again.",
            "The specified task definition does not exist.",
        ])
        let next = try state.registerTaskDefinition(registration("web"), requestBytes: 100, now: now, changes: &changes)
        #expect(next.taskDefinition?.revision == 4)
        #expect(try state.taskDefinition("web").revision == 4)
        #expect(throws: AWSError.self) { try state.taskDefinition("web:3") }
    }

    @Test mutating func describeByFamilyTakesNewestActive() throws {
        var changes = ChangeSet()
        for _ in 0..<2 { _ = try state.registerTaskDefinition(registration("api"), requestBytes: 100, now: now, changes: &changes) }
        _ = try state.deregisterTaskDefinition(DeregisterTaskDefinitionRequest(taskDefinition: "api:2"), now: now, changes: &changes)
        #expect(try state.taskDefinition("api").revision == 1)
        #expect(try state.taskDefinition("arn:aws:ecs:us-east-1:000000000000:task-definition/api:2").status == .inactive)
        #expect(throws: AWSError.client("A revision is required to deregister: use api:<revision> or the task definition ARN.")) {
            try state.deregisterTaskDefinition(DeregisterTaskDefinitionRequest(taskDefinition: "api"), now: now, changes: &changes)
        }
        #expect(throws: AWSError.self) { try state.taskDefinition("api:zero") }
    }

    /// An ARN of another region or account names nothing here, as in AWS: it must not reach the
    /// resource of the same name here (a policy denying this account's ARN judges the ARN as written).
    @Test mutating func arnsOfAnotherRegionOrAccountNameNothingHere() throws {
        var changes = ChangeSet()
        _ = try state.createCluster(CreateClusterRequest(clusterName: "prod"), changes: &changes)
        _ = try state.registerTaskDefinition(registration("api"), requestBytes: 100, now: now, changes: &changes)
        var random = Xoshiro256(seed: 1)
        _ = try state.createService(
            CreateServiceRequest(cluster: "prod", serviceName: "web", taskDefinition: "api", desiredCount: 0), now: now, using: &random,
            changes: &changes)
        let foreign = [
            "arn:aws:ecs:eu-west-1:000000000000:", "arn:aws:ecs:us-east-1:999999999999:", "arn:aws-cn:ecs:us-east-1:000000000000:",
        ]
        for prefix in foreign {
            #expect(throws: AWSError.clusterNotFound) { try state.listServices(ListServicesRequest(cluster: prefix + "cluster/prod")) }
            let described = try state.describeClusters(DescribeClustersRequest(clusters: [prefix + "cluster/prod"]))
            #expect(described.clusters == [] && described.failures == [Failure(arn: prefix + "cluster/prod", reason: "MISSING")])
            #expect(throws: AWSError.client("Unable to describe task definition: '\(prefix)task-definition/api:1' does not exist.")) {
                try state.requestedTaskDefinition(prefix + "task-definition/api:1")
            }
            #expect(throws: AWSError.self) {
                try state.describeTaskDefinition(DescribeTaskDefinitionRequest(taskDefinition: prefix + "task-definition/api:1"))
            }
            #expect(throws: AWSError.clusterNotFound) {
                try state.tagResource(
                    TagResourceRequest(resourceArn: prefix + "cluster/prod", tags: [ResourceTag(key: "k", value: "v")]), changes: &changes)
            }
            let services = try state.describeServices(DescribeServicesRequest(cluster: "prod", services: [prefix + "service/prod/web"]))
            #expect(services.services == [] && services.failures?.first?.reason == "MISSING")
            // ARNs stored under an earlier --region or --account-id still resolve where ecsd looks
            // up what it stored itself (services' and tasks' task definitions).
            #expect(try state.taskDefinition(prefix + "task-definition/api:1").revision == 1)
            #expect(throws: AWSError.client("The specified task definition does not exist: \(prefix)task-definition/api:1.")) {
                try state.deregisterTaskDefinition(DeregisterTaskDefinitionRequest(taskDefinition: prefix + "task-definition/api:1"), now: now, changes: &changes)
            }
            let deleted = try state.deleteTaskDefinitions(
                DeleteTaskDefinitionsRequest(taskDefinitions: [prefix + "task-definition/api:1"]), now: now, changes: &changes)
            #expect(deleted.failures?.first?.reason == "The specified task definition does not exist.")
        }
        // This region's and account's ARNs, and plain names, do.
        let web = try state.describeServices(
            DescribeServicesRequest(cluster: "prod", services: ["arn:aws:ecs:us-east-1:000000000000:service/prod/web"]))
        #expect(web.services?.first?.serviceName == "web")
        #expect(try state.listServices(ListServicesRequest(cluster: "arn:aws:ecs:us-east-1:000000000000:cluster/prod")).serviceArns?.count == 1)
        #expect(try state.taskDefinition("arn:aws:ecs:us-east-1:000000000000:task-definition/api:1").revision == 1)
        #expect(try state.taskDefinition("api:1").status == .active)
    }

    @Test mutating func listTaskDefinitionsFiltersSortsAndPages() throws {
        var changes = ChangeSet()
        for family in ["b", "a", "a", "c", "a"] {
            _ = try state.registerTaskDefinition(registration(family), requestBytes: 100, now: now, changes: &changes)
        }
        _ = try state.deregisterTaskDefinition(DeregisterTaskDefinitionRequest(taskDefinition: "a:2"), now: now, changes: &changes)
        let arn = { (text: String) in "arn:aws:ecs:us-east-1:000000000000:task-definition/\(text)" }
        #expect(try state.listTaskDefinitions(ListTaskDefinitionsRequest()).taskDefinitionArns == ["a:1", "a:3", "b:1", "c:1"].map(arn))
        #expect(try state.listTaskDefinitions(ListTaskDefinitionsRequest(familyPrefix: "a", sort: .desc)).taskDefinitionArns == ["a:3", "a:1"].map(arn))
        #expect(try state.listTaskDefinitions(ListTaskDefinitionsRequest(status: .inactive)).taskDefinitionArns == [arn("a:2")])
        let first = try state.listTaskDefinitions(ListTaskDefinitionsRequest(sort: .desc, maxResults: 2))
        #expect(first.taskDefinitionArns == ["c:1", "b:1"].map(arn))
        let second = try state.listTaskDefinitions(ListTaskDefinitionsRequest(sort: .desc, nextToken: first.nextToken, maxResults: 2))
        #expect(second.taskDefinitionArns == ["a:3", "a:1"].map(arn))
        #expect(second.nextToken == nil)
        #expect(try state.listTaskDefinitionFamilies(ListTaskDefinitionFamiliesRequest(familyPrefix: "a")).families == ["a"])
        #expect(try state.listTaskDefinitionFamilies(ListTaskDefinitionFamiliesRequest(status: .all)).families == ["a", "b", "c"])
    }

    @Test mutating func tags() throws {
        var changes = ChangeSet()
        let cluster = try state.createCluster(CreateClusterRequest(clusterName: "t"), changes: &changes).cluster!.clusterArn!
        _ = try state.tagResource(TagResourceRequest(resourceArn: cluster, tags: [ResourceTag(key: "a", value: "1"), ResourceTag(key: "b", value: "2")]), changes: &changes)
        _ = try state.tagResource(TagResourceRequest(resourceArn: cluster, tags: [ResourceTag(key: "a", value: "3")]), changes: &changes)
        _ = try state.untagResource(UntagResourceRequest(resourceArn: cluster, tagKeys: ["b"]), changes: &changes)
        #expect(try state.listTagsForResource(ListTagsForResourceRequest(resourceArn: cluster)).tags == [ResourceTag(key: "a", value: "3")])
        #expect(throws: AWSError.self) {
            try state.tagResource(TagResourceRequest(resourceArn: cluster, tags: [ResourceTag(key: "aws:x", value: "1")]), changes: &changes)
        }
        let many = (0..<51).map { ResourceTag(key: "k\($0)", value: "v") }
        #expect(throws: AWSError.self) { try state.tagResource(TagResourceRequest(resourceArn: cluster, tags: many), changes: &changes) }
        #expect(throws: AWSError.clusterNotFound) {
            try state.listTagsForResource(ListTagsForResourceRequest(resourceArn: "arn:aws:ecs:us-east-1:000000000000:cluster/none"))
        }
        #expect(throws: AWSError.self) { try state.listTagsForResource(ListTagsForResourceRequest(resourceArn: "not-an-arn")) }
    }

    @Test mutating func restoresFromStoredRows() throws {
        var changes = ChangeSet()
        _ = try state.createCluster(CreateClusterRequest(clusterName: "keep", tags: [ResourceTag(key: "k", value: "v")]), changes: &changes)
        for _ in 0..<2 { _ = try state.registerTaskDefinition(registration("web"), requestBytes: 100, now: now, changes: &changes) }
        var rows: [RecordKind: [String: [UInt8]]] = [:]
        for change in changes.changes {
            rows[change.kind, default: [:]][change.key] = change.body
        }
        let restored = try ECSState.restore(names: state.names, rows: rows.mapValues { Array($0.values) })
        #expect(restored.clusters == state.clusters)
        #expect(restored.families == state.families)
        #expect(restored.tags == state.tags)
    }
}
