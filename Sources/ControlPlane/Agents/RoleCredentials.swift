import AgentProtocol
import ECS
import ECSShapes
import Foundation
import IAM
import Sealing
import StevedoreCore

/// Temporary credentials of a task's role (`taskRoleArn`, overridden per task) or of a function
/// environment's (`Role`), for the agent running it (`POST /v1/agent/credentials`): only for a
/// task on the asking instance. A role Stevedore does not know is served too; its credentials
/// grant nothing until a role of that name is created.
struct RoleCredentials: Sendable {
    let committer: Committer<ControlPlaneState>
    /// The session-token box (``AccessKeyring/sessionBox``).
    let box: SecretBox
    /// Tasks' credentials last this long (the agent fetches new ones before they expire).
    var taskLifetime: Int64 = 6 * 3600
    /// Functions' last as long as an environment may (they are set in its environment once).
    var functionLifetime: Int64 = 12 * 3600

    func issue(_ request: TaskCredentialsRequest) async throws(AWSError) -> TaskCredentials {
        let (role, function) = try await committer.read { root, _ throws(AWSError) -> (String, Bool) in
            guard let record = root.ecs.tasks[request.taskArn] else {
                throw AWSError.invalidParameter("The referenced task was not found: \(request.taskArn).")
            }
            guard record.task.containerInstanceArn == request.containerInstanceArn else {
                throw AWSError(type: "AccessDeniedException", message: "Task \(request.taskArn) does not run on \(request.containerInstanceArn).")
            }
            if let function = record.function {
                guard let role = function.role else { throw AWSError.resourceNotFound("The function environment \(request.taskArn) has no role.") }
                return (role, true)
            }
            let definition = try? root.ecs.taskDefinition(record.task.taskDefinitionArn ?? "")
            guard let role = record.task.overrides?.taskRoleArn ?? definition?.taskRoleArn else {
                throw AWSError.resourceNotFound("Task \(request.taskArn) has no taskRoleArn.")
            }
            return (role, false)
        }
        let now = Int64(committer.now().timeIntervalSince1970)
        let session = SessionCredentials.issue(
            roleArn: role, sessionName: ARN(request.taskArn)?.lastPathComponent ?? "task", now: now,
            lifetime: function ? functionLifetime : taskLifetime)
        return TaskCredentials(
            RoleArn: role, AccessKeyId: session.accessKeyId, SecretAccessKey: session.secret, Token: session.token(box),
            Expiration: CivilCalendar.iso8601(secondsSince1970: session.expires))
    }
}
