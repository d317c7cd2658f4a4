#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// IAM's state: users, their access keys and their inline policies. The administrator is the
/// account's root (its key lives in `<data-dir>/admin-credentials`, not here); every other
/// caller is a user of this state, allowed what its policies allow.
public struct IAMState: Sendable {
    public let names: ResourceNames
    public package(set) var users: [String: IAMUserRecord] = [:]
    public package(set) var accessKeys: [String: AccessKeyRecord] = [:]
    /// Roles by name: what tasks and functions that name them may do.
    public package(set) var roles: [String: IAMRoleRecord] = [:]
    /// Customer managed policies by ARN (AWS's are ``AWSManagedPolicies``, not stored).
    public package(set) var policies: [String: ManagedPolicyRecord] = [:]
    /// Bumped by every change, so a copy of the state can tell whether it is newer than another.
    public package(set) var revision = 0

    public init(names: ResourceNames) {
        self.names = names
    }

    public static let recordKinds: [RecordKind] = [.iamUsers, .iamAccessKeys, .iamRoles, .iamPolicies]

    public static func restore(names: ResourceNames, rows: StoredRows) throws -> IAMState {
        var state = IAMState(names: names)
        for user in try rows.decode(IAMUserRecord.self) { state.users[user.userName] = user }
        for key in try rows.decode(AccessKeyRecord.self) { state.accessKeys[key.accessKeyId] = key }
        for role in try rows.decode(IAMRoleRecord.self) { state.roles[role.roleName] = role }
        for policy in try rows.decode(ManagedPolicyRecord.self) { state.policies[policy.arn] = policy }
        return state
    }
}

/// The composed state IAM's operations run in.
public protocol IAMHost: Sendable {
    var iam: IAMState { get set }
}

/// A user: who signs with its access keys, and the inline policies that say what it may do.
public struct IAMUserRecord: StoredRecord, Equatable {
    public var userName: String
    public var userId: String
    public var path: String
    public var arn: String
    public var createDate: Date
    /// Inline policies by name, as the JSON text they were put with.
    public var policies: [String: String] = [:]
    /// Managed policies' ARNs, in the order they were attached.
    public var attachedPolicies: [String]?

    public static var recordKind: RecordKind { .iamUsers }
    public var recordKey: String { userName }
}

/// An access key. Its secret is stored sealed (``sealedSecret``, AES-GCM under the control
/// plane's key file); the plain secret is only ever in memory, in the authenticator's key ring.
public struct AccessKeyRecord: StoredRecord, Equatable {
    public enum Status: String, Codable, Sendable {
        case active = "Active"
        case inactive = "Inactive"
    }

    public var accessKeyId: String
    public var userName: String
    public var status: Status
    public var createDate: Date
    public var sealedSecret: String

    public static var recordKind: RecordKind { .iamAccessKeys }
    public var recordKey: String { accessKeyId }
}

/// A role: named by task definitions (`taskRoleArn`, `executionRoleArn`) and functions (`Role`);
/// its inline policies say what they may do. The trust policy is kept as given.
public struct IAMRoleRecord: StoredRecord, Equatable {
    public var roleName: String
    public var roleId: String
    public var path: String
    public var arn: String
    public var createDate: Date
    public var assumeRolePolicyDocument: String
    public var description: String?
    public var policies: [String: String] = [:]
    /// Managed policies' ARNs, in the order they were attached.
    public var attachedPolicies: [String]?

    public static var recordKind: RecordKind { .iamRoles }
    public var recordKey: String { roleName }
}

extension RecordKind {
    public static let iamRoles = RecordKind("iam_roles")
    public static let iamUsers = RecordKind("iam_users")
    public static let iamAccessKeys = RecordKind("iam_access_keys")
}

extension ResourceNames {
    /// `arn:aws:iam::<account>:user<path><name>`: IAM's ARNs name no region.
    public func iamUser(_ name: String, path: String = "/") -> String {
        "arn:\(partition):iam::\(accountId):user\(path)\(name)"
    }

    public func iamRole(_ name: String, path: String = "/") -> String {
        "arn:\(partition):iam::\(accountId):role\(path)\(name)"
    }

    /// A role's name from its ARN (`arn:aws:iam::123:role/path/name`) or a bare name.
    public static func roleName(_ reference: String) -> String {
        guard reference.hasPrefix("arn:") else { return reference }
        return String(reference.split(separator: "/").last ?? Substring(reference))
    }
}
