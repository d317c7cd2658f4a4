import ECSAPI
import ECSCore
import Foundation

/// The ECS API (`AmazonEC2ContainerServiceV20141113.<Operation>`): each operation decodes its
/// input shape, runs the matching pure operation of ``ECSState`` through the committer, and
/// encodes the output shape.
enum ECSOperations {
    static let targetPrefix = "AmazonEC2ContainerServiceV20141113"

    static func register(
        on dispatcher: inout AWSJSONDispatcher,
        committer: Committer,
        cache: ReadCache,
        pollEndpoint: String
    ) {
        func read<Input: Decodable & Sendable, Output: Encodable & Sendable>(
            _ name: String,
            _ operation: @escaping @Sendable (ECSState, Input) throws -> Output
        ) {
            let handler = AWSJSONDispatcher.typed { (input: Input, _) throws(AWSError) in
                try await committer.read { state, _ throws(AWSError) in try AWSError.rethrow { try operation(state, input) } }
            }
            dispatcher.registerRaw(targetPrefix, name, cache.caching(name, version: committer.version, handler))
        }
        func write<Input: Decodable & Sendable, Output: Encodable & Sendable>(
            _ name: String,
            _ operation: @escaping @Sendable (inout ECSState, Input, inout Mutation, OperationContext) throws -> Output
        ) {
            dispatcher.register(targetPrefix, name) { (input: Input, context) throws(AWSError) in
                try await committer.write { state, mutation throws(AWSError) in
                    try AWSError.rethrow { try operation(&state, input, &mutation, context) }
                }
            }
        }

        // Clusters
        write("CreateCluster") { state, input, m, _ in try state.createCluster(input, changes: &m.changes) }
        read("DescribeClusters") { state, input in try state.describeClusters(input) }
        read("ListClusters") { state, input in try state.listClusters(input) }
        write("DeleteCluster") { state, input, m, _ in try state.deleteCluster(input, changes: &m.changes) }
        write("UpdateCluster") { state, input, m, _ in try state.updateCluster(input, changes: &m.changes) }
        write("UpdateClusterSettings") { state, input, m, _ in try state.updateClusterSettings(input, changes: &m.changes) }

        // Task definitions
        write("RegisterTaskDefinition") { state, input, m, context in
            try state.registerTaskDefinition(input, requestBytes: context.bodySize, now: m.now, changes: &m.changes)
        }
        read("DescribeTaskDefinition") { state, input in try state.describeTaskDefinition(input) }
        read("ListTaskDefinitions") { state, input in try state.listTaskDefinitions(input) }
        read("ListTaskDefinitionFamilies") { state, input in try state.listTaskDefinitionFamilies(input) }
        write("DeregisterTaskDefinition") { state, input, m, _ in
            try state.deregisterTaskDefinition(input, now: m.now, changes: &m.changes)
        }
        write("DeleteTaskDefinitions") { state, input, m, _ in
            try state.deleteTaskDefinitions(input, now: m.now, changes: &m.changes)
        }

        // Container instances and attributes
        write("RegisterContainerInstance") { state, input, m, _ in
            try state.registerContainerInstance(input, now: m.now, using: &m.random, changes: &m.changes)
        }
        write("DeregisterContainerInstance") { state, input, m, _ in
            try state.deregisterContainerInstance(input, changes: &m.changes)
        }
        read("DescribeContainerInstances") { state, input in try state.describeContainerInstances(input) }
        read("ListContainerInstances") { state, input in try state.listContainerInstances(input) }
        write("UpdateContainerInstancesState") { state, input, m, _ in
            try state.updateContainerInstancesState(input, changes: &m.changes)
        }
        write("PutAttributes") { state, input, m, _ in try state.putAttributes(input, changes: &m.changes) }
        write("DeleteAttributes") { state, input, m, _ in try state.deleteAttributes(input, changes: &m.changes) }
        read("ListAttributes") { state, input in try state.listAttributes(input) }
        read("DiscoverPollEndpoint") { (_: ECSState, _: DiscoverPollEndpointRequest) in
            DiscoverPollEndpointResponse(endpoint: pollEndpoint, telemetryEndpoint: pollEndpoint)
        }

        // Tasks
        write("RunTask") { state, input, m, _ in try state.runTask(input, now: m.now, using: &m.random, changes: &m.changes) }
        write("StartTask") { state, input, m, _ in try state.startTask(input, now: m.now, using: &m.random, changes: &m.changes) }
        write("StopTask") { state, input, m, _ in try state.stopTask(input, now: m.now, changes: &m.changes) }
        read("DescribeTasks") { state, input in try state.describeTasks(input) }
        read("ListTasks") { state, input in try state.listTasks(input) }
        write("SubmitTaskStateChange") { state, input, m, _ in
            try state.submitTaskStateChange(input, now: m.now, changes: &m.changes)
        }
        write("SubmitContainerStateChange") { state, input, m, _ in
            try state.submitContainerStateChange(input, now: m.now, changes: &m.changes)
        }

        // Capacity providers
        write("CreateCapacityProvider") { state, input, m, _ in try state.createCapacityProvider(input, changes: &m.changes) }
        write("UpdateCapacityProvider") { state, input, m, _ in try state.updateCapacityProvider(input, changes: &m.changes) }
        write("DeleteCapacityProvider") { state, input, m, _ in try state.deleteCapacityProvider(input, changes: &m.changes) }
        read("DescribeCapacityProviders") { state, input in try state.describeCapacityProviders(input) }
        write("PutClusterCapacityProviders") { state, input, m, _ in try state.putClusterCapacityProviders(input, changes: &m.changes) }

        // Services
        write("CreateService") { state, input, m, _ in
            try state.createService(input, now: m.now, using: &m.random, changes: &m.changes)
        }
        write("UpdateService") { state, input, m, _ in
            try state.updateService(input, now: m.now, using: &m.random, changes: &m.changes)
        }
        write("DeleteService") { state, input, m, _ in try state.deleteService(input, now: m.now, changes: &m.changes) }
        read("DescribeServices") { state, input in try state.describeServices(input) }
        read("ListServices") { state, input in try state.listServices(input) }

        // Tags
        write("TagResource") { state, input, m, _ in try state.tagResource(input, changes: &m.changes) }
        write("UntagResource") { state, input, m, _ in try state.untagResource(input, changes: &m.changes) }
        read("ListTagsForResource") { state, input in try state.listTagsForResource(input) }
    }
}
