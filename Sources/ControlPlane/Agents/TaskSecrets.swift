import AgentProtocol
import ECS
import ECSShapes
import Foundation
import IAM
import Secrets
import StevedoreCore

/// The values of a task's `secrets` for the agent that starts it (`POST /v1/agent/secrets`):
/// only for the instance the task was placed on, and — with authentication on — only what the
/// task definition's execution role may read (`ssm:GetParameters`, `secretsmanager:GetSecretValue`).
/// Values leave here for the agent alone; they are in no answer, log line or error.
struct TaskSecrets: Sendable {
    let committer: Committer<ControlPlaneState>
    let sealer: any ValueSealer
    /// Whether roles' policies are enforced (authentication on).
    let enforcePolicies: Bool

    func resolve(_ request: TaskSecretsRequest) async throws(AWSError) -> TaskSecretsResponse {
        let enforce = enforcePolicies
        let (references, denied) = try await committer.read { root, _ throws(AWSError) -> ([String: SecretsState.SecretReference], AWSError?) in
            guard let record = root.ecs.tasks[request.taskArn] else {
                throw AWSError.invalidParameter("The referenced task was not found: \(request.taskArn).")
            }
            guard record.task.containerInstanceArn == request.containerInstanceArn else {
                throw AWSError(type: "AccessDeniedException", message: "Task \(request.taskArn) does not run on \(request.containerInstanceArn).")
            }
            let definition = try root.ecs.taskDefinition(record.task.taskDefinitionArn ?? "")
            // The containers' secrets, and the registry credentials their images are pulled with.
            let containers = definition.containerDefinitions ?? []
            var references: [String: SecretsState.SecretReference] = [:]
            for valueFrom in Set(containers.flatMap { $0.secrets ?? [] }.map(\.valueFrom)) {
                references[valueFrom] = try root.secrets.reference(valueFrom)
            }
            for parameter in Set(containers.compactMap { $0.repositoryCredentials?.credentialsParameter }) {
                // A bare name means a secret here and a parameter in `secrets`: both at once is refused.
                if references[parameter] != nil, !parameter.hasPrefix("arn:") {
                    throw AWSError.invalidParameter(
                        "repositoryCredentials names '\(parameter)', which the containers' secrets also name as an SSM parameter: give the secret's ARN.")
                }
                references[parameter] = try root.secrets.reference(parameter, registryCredentials: true)
            }
            guard enforce, !references.isEmpty else { return (references, nil) }
            guard let role = definition.executionRoleArn else {
                return (references, AWSError(
                    type: "AccessDeniedException",
                    message: "The task definition has no executionRoleArn: name a role whose policies allow reading its secrets."))
            }
            let roleName = ResourceNames.roleName(role)
            let principal = "arn:\(root.iam.names.partition):sts::\(root.iam.names.accountId):assumed-role/\(roleName)/\(ARN(request.taskArn)?.lastPathComponent ?? "task")"
            let policies = root.iam.rolePolicies(role) ?? []
            for (_, reference) in references.sorted(by: { $0.key < $1.key }) {
                let decision = PolicyDecision(policies: policies, action: reference.action, resource: reference.resource)
                guard decision == .allowed else {
                    let reason =
                        decision == .explicitlyDenied
                        ? "with an explicit deny in an identity-based policy" : "because no identity-based policy allows the \(reference.action) action"
                    return (references, AWSError(
                        type: "AccessDeniedException",
                        message: "User: \(principal) is not authorized to perform: \(reference.action) on resource: \(reference.resource) \(reason)"))
                }
            }
            return (references, nil)
        }
        if let denied { throw denied }
        var values: [String: String] = [:]
        for (valueFrom, reference) in references {
            var value = reference.plainValue
            if let sealed = reference.sealedValue {
                guard let opened = sealer.open(sealed) else {
                    throw AWSError.server("The secret \(valueFrom) cannot be decrypted with this control plane's key.")
                }
                value = opened
            }
            if let key = reference.jsonKey {
                guard let object = (try? JSONSerialization.jsonObject(with: Data((value ?? "").utf8))) as? [String: Any], let member = object[key] else {
                    throw AWSError.invalidParameter("The secret \(valueFrom) is not a JSON object with the key \(key).")
                }
                value = member as? String ?? String(describing: member)
            }
            values[valueFrom] = value ?? ""
        }
        return TaskSecretsResponse(values: values)
    }
}
