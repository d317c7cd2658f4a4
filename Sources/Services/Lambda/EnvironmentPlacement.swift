#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECS
import ECSShapes
import StevedoreCore

/// Execution environments are tasks: placed by the same engine, run by the same agents, stopped
/// the same way. These are the function router's writes.
extension LambdaHost {
    /// Places a new environment for `spec` in the functions cluster and queues it for its agent.
    public mutating func launchEnvironment(
        _ spec: FunctionEnvironmentSpec,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> TaskRecord {
        let clusterName = lambda.settings.cluster
        let definition = FunctionsState.environmentDefinition(spec, names: lambda.names)
        switch ecs.launchEnvironmentTask(spec, definition: definition, cluster: clusterName, now: now, using: &generator, changes: &changes) {
        case .success(let record):
            return record
        case .failure(.noCluster):
            throw AWSError.lambdaService(
                "Execution environments run in cluster '\(clusterName)', which does not exist; start an agent (ecsd --dev runs one) or set --functions-cluster.")
        case .failure(.noInstances):
            throw AWSError(
                type: "ResourceNotReadyException",
                message: "No container instance is registered in cluster '\(clusterName)' to run an execution environment; start an agent.",
                httpStatus: 502, extraFields: ["Type": "Service"])
        case .failure(.noRoom(let reason)):
            throw AWSError(
                type: "ResourceNotReadyException",
                message: "No container instance in cluster '\(clusterName)' can take an execution environment of \(spec.functionName) (\(spec.memory) MB): \(FunctionsState.describe(reason)).",
                httpStatus: 502, extraFields: ["Type": "Service"])
        }
    }

    /// Stops an environment (idle too long, or its version changed).
    public mutating func stopEnvironment(_ arn: String, reason: String, now: Date, changes: inout ChangeSet) {
        ecs.stopEnvironmentTask(arn, reason: reason, now: now, changes: &changes)
    }

    /// Environments the agents still run or are starting.
    public var liveEnvironments: [TaskRecord] {
        ecs.liveEnvironmentTasks(inCluster: lambda.settings.cluster)
    }
}

extension FunctionsState {
    static func describe(_ reason: PlacementFailureReason?) -> String {
        switch reason {
        case .agent: return "its agent is disconnected"
        case .memory: return "not enough memory free"
        case .cpu: return "not enough CPU free"
        case .draining: return "the instances are draining"
        case .some(let other): return other.rawValue
        case nil: return "no instance qualifies"
        }
    }

    /// What a control plane's task views show for an environment: one container running the runtime.
    static func environmentDefinition(_ spec: FunctionEnvironmentSpec, names: ResourceNames) -> TaskDefinition {
        TaskDefinition(
            taskDefinitionArn: names.function(spec.functionName, qualifier: spec.version),
            containerDefinitions: [
                ContainerDefinition(
                    name: FunctionEnvironmentSpec.containerName, image: spec.image, cpu: FunctionEnvironmentSpec.cpuUnits(memory: spec.memory), memory: spec.memory,
                    essential: true)
            ],
            family: "lambda-\(spec.functionName)",
            revision: Int(spec.version) ?? 0)
    }
}
