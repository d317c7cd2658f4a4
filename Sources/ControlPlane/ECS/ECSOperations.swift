import ECSAPI
import ECSCore
import Foundation

/// The ECS API (`AmazonEC2ContainerServiceV20141113.<Operation>`): each operation decodes its
/// input shape, runs the matching pure operation of ``ECSState`` through the committer, and
/// encodes the output shape.
enum ECSOperations {
    static let targetPrefix = "AmazonEC2ContainerServiceV20141113"

    static func register(on dispatcher: inout AWSJSONDispatcher, committer: Committer, cache: ReadCache) {
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
            _ operation: @escaping @Sendable (inout ECSState, Input, inout WriteContext) throws -> Output
        ) {
            dispatcher.register(targetPrefix, name) { (input: Input, context) throws(AWSError) in
                try await committer.write { state, changes, now throws(AWSError) in
                    var write = WriteContext(now: now, request: context)
                    let output = try AWSError.rethrow { try operation(&state, input, &write) }
                    changes = write.changes
                    return output
                }
            }
        }

        // Clusters
        write("CreateCluster") { state, input, context in try state.createCluster(input, changes: &context.changes) }
        read("DescribeClusters") { state, input in try state.describeClusters(input) }
        read("ListClusters") { state, input in try state.listClusters(input) }
        write("DeleteCluster") { state, input, context in try state.deleteCluster(input, changes: &context.changes) }
        write("UpdateCluster") { state, input, context in try state.updateCluster(input, changes: &context.changes) }
        write("UpdateClusterSettings") { state, input, context in
            try state.updateClusterSettings(input, changes: &context.changes)
        }

        // Task definitions
        write("RegisterTaskDefinition") { state, input, context in
            try state.registerTaskDefinition(
                input, requestBytes: context.request.bodySize, now: context.now, changes: &context.changes)
        }
        read("DescribeTaskDefinition") { state, input in try state.describeTaskDefinition(input) }
        read("ListTaskDefinitions") { state, input in try state.listTaskDefinitions(input) }
        read("ListTaskDefinitionFamilies") { state, input in try state.listTaskDefinitionFamilies(input) }
        write("DeregisterTaskDefinition") { state, input, context in
            try state.deregisterTaskDefinition(input, now: context.now, changes: &context.changes)
        }
        write("DeleteTaskDefinitions") { state, input, context in
            try state.deleteTaskDefinitions(input, now: context.now, changes: &context.changes)
        }

        // Tags
        write("TagResource") { state, input, context in try state.tagResource(input, changes: &context.changes) }
        write("UntagResource") { state, input, context in try state.untagResource(input, changes: &context.changes) }
        read("ListTagsForResource") { state, input in try state.listTagsForResource(input) }
    }
}

/// What a write operation gets besides its input: the time, the request, and the rows it changes.
struct WriteContext {
    let now: Date
    let request: OperationContext
    var changes = ChangeSet()
}
