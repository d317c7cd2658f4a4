import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import Archives
import ArgumentParser
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import LambdaShapes
import StevedoreClient
import StevedoreCore

/// `ecsctl`: the command-line client for Stevedore, noun then verb (`ecsctl cluster ls`).
public struct ECSCtl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ecsctl",
        abstract: "Drive a Stevedore control plane: clusters, task definitions, nodes, tasks, services, functions, APIs, auto scaling and queries.",
        version: StevedoreVersion.current,
        subcommands: [
            ClusterCommand.self, TaskDefinitionCommand.self, NodeCommand.self, TaskCommand.self, ServiceCommand.self,
            FunctionCommand.self, APICommand.self, ScalingCommand.self, CapacityCommand.self, QueryCommand.self, AuthCommand.self,
        ]
    )

    public init() {}
}
