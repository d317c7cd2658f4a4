import AWSProtocols
import IAM
import Sealing
import SigV4
import StevedoreCore
import Synchronization

/// Who holds each access key that may sign requests, with its secret and policies: the
/// administrator's key (the account's root, allowed everything) and every active IAM user key.
/// Kept apart from the committed state so a request's signature is checked without entering the
/// committer; IAM's writes hand it their new state once durable, so a deleted or deactivated key
/// stops working before the call that removed it answers.
final class AccessKeyring: Sendable {
    struct Principal: Sendable {
        var caller: Caller
        var secret: String
        /// nil for the root, whom no policy limits.
        var policies: [PolicyDocument]?
    }

    private struct Entries {
        var revision: Int
        var principals: [String: Principal]
        /// Roles' policies by role name, for temporary credentials of tasks and functions.
        var roles: [String: [PolicyDocument]] = [:]
    }

    private let entries: Mutex<Entries>
    private let root: Principal?
    let box: SecretBox
    /// Seals and opens session tokens: a key of its own, apart from stored values'.
    let sessionBox: SecretBox
    let names: ResourceNames

    init(administrator: AWSCredentials?, names: ResourceNames, box: SecretBox, iam: IAMState) {
        root = administrator.map { key in
            Principal(
                caller: Caller(arn: names.rootPrincipal, userId: names.accountId, userName: nil, accessKeyId: key.accessKeyId),
                secret: key.secretAccessKey, policies: nil)
        }
        self.box = box
        sessionBox = box.derived(SessionCredentials.keyPurpose)
        self.names = names
        entries = Mutex(Entries(revision: -1, principals: [:]))
        update(iam)
    }

    func principal(_ accessKeyId: String) -> Principal? {
        if let root, root.caller.accessKeyId == accessKeyId { return root }
        return entries.withLock { $0.principals[accessKeyId] }
    }

    /// The principal of temporary credentials: the role's session, limited by the role's policies
    /// (none while no role of that name exists).
    func session(_ credentials: SessionCredentials) -> Principal {
        let roleName = ResourceNames.roleName(credentials.roleArn)
        let policies = entries.withLock { $0.roles[roleName] } ?? []
        return Principal(
            caller: Caller(
                arn: credentials.assumedRoleArn(names), userId: "AROA:" + credentials.sessionName, userName: nil,
                accessKeyId: credentials.accessKeyId),
            secret: credentials.secret, policies: policies)
    }

    /// Takes IAM's state unless a newer one was taken already (writes may finish out of order).
    func update(_ iam: IAMState) {
        let current = entries.withLock { $0 }
        guard iam.revision > current.revision else { return }
        var principals: [String: Principal] = [:]
        var policiesByUser: [String: [PolicyDocument]] = [:]
        for (key, user) in iam.activeKeys() {
            // Secrets already opened are reused; only new keys cost a decryption.
            guard let secret = current.principals[key.accessKeyId]?.secret ?? box.open(key.sealedSecret) else { continue }
            let policies =
                policiesByUser[user.userName]
                ?? iam.userPolicies(user)
            policiesByUser[user.userName] = policies
            principals[key.accessKeyId] = Principal(
                caller: Caller(arn: user.arn, userId: user.userId, userName: user.userName, accessKeyId: key.accessKeyId), secret: secret,
                policies: policies)
        }
        var roles: [String: [PolicyDocument]] = [:]
        for name in iam.roles.keys { roles[name] = iam.rolePolicies(name) ?? [] }
        entries.withLock { entries in
            guard iam.revision > entries.revision else { return }
            entries = Entries(revision: iam.revision, principals: principals, roles: roles)
        }
    }
}
