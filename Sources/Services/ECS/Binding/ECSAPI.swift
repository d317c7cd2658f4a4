import AgentProtocol
import AWSProtocols
import ECSShapes
import StevedoreCore

/// The ECS API (`AmazonEC2ContainerServiceV20141113.<Operation>`, AWS JSON 1.1): every operation
/// in one line, reads and writes visible. Reads that name the record kinds they depend on stay in
/// the read cache while other kinds change (tasks start and stop constantly; these do not count
/// them); the rest depend on everything. ReadDependencyTests checks each naming against writes. Each decodes its input shape, runs the matching pure
/// operation of ``ECSState`` through the committer, and encodes its output shape. The capacity
/// provider operations are ECS's too; the Capacity module binds them (they need its groups).
public enum ECSAPI {
    public static let targetPrefix = "AmazonEC2ContainerServiceV20141113"

    /// The operations only agents make (they present the agent token when ecsd has one).
    public static let agentOperations: Set<String> = [
        "RegisterContainerInstance", "SubmitTaskStateChange", "SubmitContainerStateChange",
    ]

    /// ``agentOperations`` as `X-Amz-Target` values, so checking a request costs one set lookup.
    public static let agentTargets = Set(agentOperations.map { targetPrefix + "." + $0 })

    public static func operations<Committer: StateCommitting>(
        committer: Committer, pollEndpoint: String
    ) -> JSONOperations<Committer> where Committer.Root: ECSHost {
        var api = JSONOperations(targetPrefix: targetPrefix, committer: committer)

        // Clusters
        api.write("CreateCluster") { root, input, m, context in try root.createCluster(input, caller: context.caller?.arn, changes: &m.changes) }
        api.read("DescribeClusters") { root, input, _ in try root.ecs.describeClusters(input) }
        api.read("ListClusters", reads: { _ in [.clusters] }) { root, input, _ in try root.ecs.listClusters(input) }
        api.write("DeleteCluster") { root, input, m, _ in try root.ecs.deleteCluster(input, changes: &m.changes) }
        api.write("UpdateCluster") { root, input, m, _ in try root.ecs.updateCluster(input, changes: &m.changes) }
        api.write("UpdateClusterSettings") { root, input, m, _ in try root.ecs.updateClusterSettings(input, changes: &m.changes) }

        // Account settings, per principal (the caller's unless the root names another)
        api.write("PutAccountSetting") { root, input, m, context in
            try root.ecs.putAccountSetting(input, caller: context.caller?.arn, changes: &m.changes)
        }
        api.write("PutAccountSettingDefault") { root, input, m, _ in try root.ecs.putAccountSettingDefault(input, changes: &m.changes) }
        api.write("DeleteAccountSetting") { root, input, m, context in
            try root.ecs.deleteAccountSetting(input, caller: context.caller?.arn, changes: &m.changes)
        }
        // Not through the read cache: the answer depends on who asks.
        api.custom("ListAccountSettings") { (input: ListAccountSettingsRequest, context) throws(AWSError) in
            try await committer.read { root, _ throws(AWSError) in try root.ecs.listAccountSettings(input, caller: context.caller?.arn) }
        }

        // Task definitions
        api.write("RegisterTaskDefinition") { root, input, m, context in
            try root.ecs.registerTaskDefinition(input, requestBytes: context.bodySize, now: m.now, changes: &m.changes)
        }
        api.read("DescribeTaskDefinition", reads: { _ in [.families, .taskDefinitions, .tags] }) { root, input, _ in try root.ecs.describeTaskDefinition(input) }
        api.read("ListTaskDefinitions", reads: { _ in [.families, .taskDefinitions] }) { root, input, _ in try root.ecs.listTaskDefinitions(input) }
        api.read("ListTaskDefinitionFamilies", reads: { _ in [.families, .taskDefinitions] }) { root, input, _ in try root.ecs.listTaskDefinitionFamilies(input) }
        api.write("DeregisterTaskDefinition") { root, input, m, _ in try root.ecs.deregisterTaskDefinition(input, now: m.now, changes: &m.changes) }
        api.write("DeleteTaskDefinitions") { root, input, m, _ in try root.ecs.deleteTaskDefinitions(input, now: m.now, changes: &m.changes) }

        // Container instances and attributes
        api.write("RegisterContainerInstance") { root, input, m, _ in
            try root.registerContainerInstance(input, now: m.now, using: &m.random, changes: &m.changes)
        }
        api.write("DeregisterContainerInstance") { root, input, m, _ in try root.ecs.deregisterContainerInstance(input, changes: &m.changes) }
        api.read("DescribeContainerInstances") { root, input, _ in try root.ecs.describeContainerInstances(input) }
        api.read("ListContainerInstances", reads: { ($0.filter ?? "").isEmpty ? [.clusters, .instanceMembership] : nil }) { root, input, _ in try root.ecs.listContainerInstances(input) }
        api.write("UpdateContainerInstancesState") { root, input, m, _ in try root.ecs.updateContainerInstancesState(input, changes: &m.changes) }
        api.write("PutAttributes") { root, input, m, _ in try root.ecs.putAttributes(input, changes: &m.changes) }
        api.write("DeleteAttributes") { root, input, m, _ in try root.ecs.deleteAttributes(input, changes: &m.changes) }
        api.read("ListAttributes", reads: { _ in [.clusters, .containerInstances] }) { root, input, _ in try root.ecs.listAttributes(input) }
        api.read("DiscoverPollEndpoint") { (_, _: DiscoverPollEndpointRequest, _) in
            DiscoverPollEndpointResponse(endpoint: pollEndpoint, telemetryEndpoint: pollEndpoint)
        }

        // Tasks
        api.write("RunTask") { root, input, m, _ in try root.ecs.runTask(input, now: m.now, using: &m.random, changes: &m.changes) }
        api.write("StartTask") { root, input, m, _ in try root.ecs.startTask(input, now: m.now, using: &m.random, changes: &m.changes) }
        api.write("StopTask") { root, input, m, _ in try root.ecs.stopTask(input, now: m.now, changes: &m.changes) }
        api.read("DescribeTasks") { root, input, _ in try root.ecs.describeTasks(input) }
        api.write("UpdateTaskProtection") { root, input, m, _ in try root.ecs.updateTaskProtection(input, now: m.now, changes: &m.changes) }
        // Not cached: protections expire with time.
        api.read("GetTaskProtection", cacheable: false) { root, input, now in try root.ecs.getTaskProtection(input, now: now) }
        api.read("ListTasks") { root, input, _ in try root.ecs.listTasks(input) }
        api.write("SubmitTaskStateChange") { root, input, m, context in
            try root.ecs.submitTaskStateChange(input, reporter: context.agentInstance, now: m.now, changes: &m.changes)
        }
        api.write("SubmitContainerStateChange") { root, input, m, context in
            try root.ecs.submitContainerStateChange(input, reporter: context.agentInstance, now: m.now, changes: &m.changes)
        }

        // Services
        api.write("CreateService") { root, input, m, _ in try root.ecs.createService(input, now: m.now, using: &m.random, changes: &m.changes) }
        api.write("UpdateService") { root, input, m, _ in try root.ecs.updateService(input, now: m.now, using: &m.random, changes: &m.changes) }
        api.write("DeleteService") { root, input, m, _ in try root.ecs.deleteService(input, now: m.now, changes: &m.changes) }
        api.read("DescribeServices", reads: { _ in [.clusters, .services, .serviceTasks, .tags] }) { root, input, _ in try root.ecs.describeServices(input) }
        api.read("ListServices", reads: { _ in [.clusters, .serviceMembership] }) { root, input, _ in try root.ecs.listServices(input) }

        // Service deployments and revisions (read from the deployments services keep)
        api.read("ListServiceDeployments", reads: { _ in [.clusters, .services, .serviceDeployments] }) { root, input, _ in try root.ecs.listServiceDeployments(input) }
        api.read("DescribeServiceDeployments", reads: { _ in [.services, .serviceTasks, .serviceDeployments, .serviceRevisions] }) { root, input, _ in
            try root.ecs.describeServiceDeployments(input)
        }
        api.read("DescribeServiceRevisions", reads: { _ in [.serviceRevisions] }) { root, input, _ in try root.ecs.describeServiceRevisions(input) }
        api.write("StopServiceDeployment") { root, input, m, _ in try root.ecs.stopServiceDeployment(input, now: m.now, changes: &m.changes) }

        // Task sets (services with the EXTERNAL deployment controller)
        api.write("CreateTaskSet") { root, input, m, _ in try root.ecs.createTaskSet(input, now: m.now, using: &m.random, changes: &m.changes) }
        api.read("DescribeTaskSets", reads: { _ in [.clusters, .services, .serviceTasks, .tags] }) { root, input, _ in try root.ecs.describeTaskSets(input) }
        api.write("UpdateTaskSet") { root, input, m, _ in try root.ecs.updateTaskSet(input, now: m.now, changes: &m.changes) }
        api.write("UpdateServicePrimaryTaskSet") { root, input, m, _ in try root.ecs.updateServicePrimaryTaskSet(input, now: m.now, changes: &m.changes) }
        api.write("DeleteTaskSet") { root, input, m, _ in try root.ecs.deleteTaskSet(input, now: m.now, changes: &m.changes) }

        // Tags
        api.write("TagResource") { root, input, m, _ in try root.tagResource(input, changes: &m.changes) }
        api.write("UntagResource") { root, input, m, _ in try root.untagResource(input, changes: &m.changes) }
        api.read("ListTagsForResource") { root, input, _ in try root.listTagsForResource(input) }
        return api
    }
}
