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
    /// Bumped by every change, so a copy of the state can tell whether it is newer than another.
    public package(set) var revision = 0

    public init(names: ResourceNames) {
        self.names = names
    }

    public static let recordKinds: [RecordKind] = [.iamUsers, .iamAccessKeys]

    public static func restore(names: ResourceNames, rows: StoredRows) throws -> IAMState {
        var state = IAMState(names: names)
        for user in try rows.decode(IAMUserRecord.self) { state.users[user.userName] = user }
        for key in try rows.decode(AccessKeyRecord.self) { state.accessKeys[key.accessKeyId] = key }
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

extension RecordKind {
    public static let iamUsers = RecordKind("iam_users")
    public static let iamAccessKeys = RecordKind("iam_access_keys")
}

extension ResourceNames {
    /// `arn:aws:iam::<account>:user<path><name>`: IAM's ARNs name no region.
    public func iamUser(_ name: String, path: String = "/") -> String {
        "arn:\(partition):iam::\(accountId):user\(path)\(name)"
    }
}
