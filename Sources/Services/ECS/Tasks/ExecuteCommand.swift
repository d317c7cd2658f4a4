import AgentProtocol
import ECSShapes
import StevedoreCore

/// Where an ExecuteCommand runs, once ECS's checks pass: a RUNNING task started with
/// `enableExecuteCommand`, one of its containers, on its instance.
public struct ExecTarget: Sendable, Equatable {
    public var clusterArn: String
    public var taskArn: String
    public var containerName: String
    public var containerArn: String?
    public var instanceArn: String
    public var command: [String]
}

extension ECSState {
    /// ExecuteCommand's checks, in ECS's words where ECS's are known.
    public func execTarget(_ request: ExecuteCommandRequest) throws(AWSError) -> ExecTarget {
        let clusterName = try activeClusterName(request.cluster)
        guard request.interactive else {
            throw .invalidParameter("Interactive is the only mode supported currently.")
        }
        guard let command = CommandLineWords.split(request.command), !command.isEmpty else {
            throw .invalidParameter("The command '\(request.command)' is empty or has an unclosed quote.")
        }
        guard let record = task(request.task, inCluster: clusterName), !record.isStopped else {
            throw .invalidParameter("The referenced task was not found: '\(request.task)' in cluster \(clusterName).")
        }
        guard record.task.enableExecuteCommand == true else {
            throw AWSError(
                type: "TargetNotConnectedException",
                message:
                    "The execute command failed because execute command was not enabled when the task was run or the execute command agent isn’t running. Wait and try the request again.")
        }
        guard record.lastStatus == .running, let instance = record.task.containerInstanceArn else {
            throw .invalidParameter("The execute command failed because the task is \(record.lastStatus.rawValue); it must be RUNNING.")
        }
        guard capacity[clusterName]?[instance]?.connected == true else {
            // Its agent is not there to run it (ECS's words for an agent it cannot reach).
            throw AWSError(type: "TargetNotConnectedException", message: "The execute command failed due to an internal error. Try again later.")
        }
        let containers = record.task.containers ?? []
        let container: Container
        if let name = request.container {
            guard let named = containers.first(where: { $0.name == name }) else {
                throw .invalidParameter("The container '\(name)' was not found in the task (its containers: \(containers.compactMap(\.name).joined(separator: ", "))).")
            }
            container = named
        } else {
            guard containers.count == 1, let only = containers.first else {
                throw .invalidParameter("The task has \(containers.count) containers; name the one to run the command in with container.")
            }
            container = only
        }
        guard container.lastStatus == "RUNNING" else {
            throw .invalidParameter("The execute command failed because container '\(container.name ?? "")' is \(container.lastStatus ?? "not running").")
        }
        return ExecTarget(
            clusterArn: names.cluster(clusterName), taskArn: record.arn, containerName: container.name ?? "",
            containerArn: container.containerArn, instanceArn: instance, command: command)
    }
}
