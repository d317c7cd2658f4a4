#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// IAM's operations: pure functions of the state, the request and the time, with IAM's errors.
extension IAMState {
    /// AWS's quota of access keys per user.
    public static let accessKeysPerUser = 2

    public mutating func createUser(name: String, path: String?, now: Date, using random: inout some RandomNumberGenerator, changes: inout ChangeSet)
        throws(AWSError) -> IAMUserRecord
    {
        try Self.validateName(name, member: "userName", maximum: 64)
        let path = path ?? "/"
        try Self.validatePath(path)
        guard users[name] == nil else { throw Self.alreadyExists("User with name \(name) already exists.") }
        let user = IAMUserRecord(
            userName: name, userId: "AIDA" + Self.randomId(count: 17, using: &random), path: path, arn: names.iamUser(name, path: path),
            createDate: now)
        users[name] = user
        changes.put(user)
        revision += 1
        return user
    }

    public func user(_ name: String) throws(AWSError) -> IAMUserRecord {
        try Self.validateName(name, member: "userName", maximum: 64)
        guard let user = users[name] else { throw Self.noSuchEntity("The user with name \(name) cannot be found.") }
        return user
    }

    /// Users by name, from after `marker`, at most `maxItems` (1-1000); the marker of the next page.
    public func listUsers(pathPrefix: String?, marker: String?, maxItems: Int?) throws(AWSError) -> (users: [IAMUserRecord], marker: String?) {
        let limit = try Self.validateMaxItems(maxItems)
        let prefix = pathPrefix ?? "/"
        let all = users.values.filter { $0.path.hasPrefix(prefix) }.sorted { $0.userName < $1.userName }
        let start = marker.map { marker in all.firstIndex { $0.userName > marker } ?? all.count } ?? 0
        let page = Array(all[start..<min(all.count, start + limit)])
        return (page, start + limit < all.count ? page.last?.userName : nil)
    }

    public mutating func deleteUser(_ name: String, changes: inout ChangeSet) throws(AWSError) {
        let user = try user(name)
        if accessKeys.values.contains(where: { $0.userName == name }) {
            throw Self.deleteConflict("Cannot delete entity, must delete access keys first.")
        }
        if !user.policies.isEmpty { throw Self.deleteConflict("Cannot delete entity, must delete policies first.") }
        if user.attachedPolicies?.isEmpty == false { throw Self.deleteConflict("Cannot delete entity, must detach all policies first.") }
        users[name] = nil
        changes.delete(IAMUserRecord.self, key: name)
        revision += 1
    }

    /// Records a key made (and its secret sealed) by the caller: secrets come from the system's
    /// cryptographic generator, never from the state's seeded randomness.
    public mutating func createAccessKey(userName: String, accessKeyId: String, sealedSecret: String, now: Date, changes: inout ChangeSet)
        throws(AWSError) -> AccessKeyRecord
    {
        _ = try user(userName)
        let count = accessKeys.values.count { $0.userName == userName }
        guard count < Self.accessKeysPerUser else {
            throw AWSError(type: "LimitExceeded", message: "Cannot exceed quota for AccessKeysPerUser: \(Self.accessKeysPerUser)", httpStatus: 409)
        }
        let key = AccessKeyRecord(accessKeyId: accessKeyId, userName: userName, status: .active, createDate: now, sealedSecret: sealedSecret)
        accessKeys[accessKeyId] = key
        changes.put(key)
        revision += 1
        return key
    }

    public func listAccessKeys(userName: String) throws(AWSError) -> [AccessKeyRecord] {
        _ = try user(userName)
        return accessKeys.values.filter { $0.userName == userName }.sorted { ($0.createDate, $0.accessKeyId) < ($1.createDate, $1.accessKeyId) }
    }

    /// The key, which must belong to `userName`.
    public func accessKey(_ id: String, userName: String) throws(AWSError) -> AccessKeyRecord {
        try Self.validateAccessKeyId(id)
        _ = try user(userName)
        guard let key = accessKeys[id], key.userName == userName else {
            throw Self.noSuchEntity("The Access Key with id \(id) cannot be found.")
        }
        return key
    }

    public mutating func updateAccessKey(_ id: String, userName: String, status: String, changes: inout ChangeSet) throws(AWSError) {
        guard let status = AccessKeyRecord.Status(rawValue: status) else {
            throw Self.validation("Value '\(status)' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]")
        }
        var key = try accessKey(id, userName: userName)
        key.status = status
        accessKeys[id] = key
        changes.put(key)
        revision += 1
    }

    public mutating func deleteAccessKey(_ id: String, userName: String, changes: inout ChangeSet) throws(AWSError) {
        _ = try accessKey(id, userName: userName)
        accessKeys[id] = nil
        changes.delete(AccessKeyRecord.self, key: id)
        revision += 1
    }

    // MARK: Inline policies

    public mutating func putUserPolicy(userName: String, policyName: String, document: String, changes: inout ChangeSet) throws(AWSError) {
        try Self.validateName(policyName, member: "policyName", maximum: 128)
        guard (1...131_072).contains(document.utf8.count) else {
            throw Self.validation("Value at 'policyDocument' failed to satisfy constraint: Member must have length less than or equal to 131072")
        }
        _ = try PolicyDocument(json: document)
        var user = try user(userName)
        user.policies[policyName] = document
        users[userName] = user
        changes.put(user)
        revision += 1
    }

    public func userPolicy(userName: String, policyName: String) throws(AWSError) -> String {
        try Self.validateName(policyName, member: "policyName", maximum: 128)
        guard let document = try user(userName).policies[policyName] else {
            throw Self.noSuchEntity("The user policy with name \(policyName) cannot be found.")
        }
        return document
    }

    public func userPolicyNames(userName: String) throws(AWSError) -> [String] {
        try user(userName).policies.keys.sorted()
    }

    public mutating func deleteUserPolicy(userName: String, policyName: String, changes: inout ChangeSet) throws(AWSError) {
        _ = try userPolicy(userName: userName, policyName: policyName)
        var user = try user(userName)
        user.policies[policyName] = nil
        users[userName] = user
        changes.put(user)
        revision += 1
    }

    /// The user that holds an active key, and the key's sealed secret (for the key ring).
    public func activeKeys() -> [(key: AccessKeyRecord, user: IAMUserRecord)] {
        accessKeys.values.compactMap { key in
            guard key.status == .active, let user = users[key.userName] else { return nil }
            return (key, user)
        }
    }

    // MARK: Roles

    public mutating func createRole(
        name: String, path: String?, trustPolicy: String, description: String?, now: Date, using random: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> IAMRoleRecord {
        try Self.validateName(name, member: "roleName", maximum: 64)
        let path = path ?? "/"
        try Self.validatePath(path)
        guard (try? JSONDecoder().decode(JSONValue.self, from: Data(trustPolicy.utf8))) != nil else {
            throw PolicyDocument.malformed("Syntax errors in policy.")
        }
        guard roles[name] == nil else { throw Self.alreadyExists("Role with name \(name) already exists.") }
        let role = IAMRoleRecord(
            roleName: name, roleId: "AROA" + Self.randomId(count: 17, using: &random), path: path, arn: names.iamRole(name, path: path),
            createDate: now, assumeRolePolicyDocument: trustPolicy, description: description)
        roles[name] = role
        changes.put(role)
        revision += 1
        return role
    }

    public func role(_ name: String) throws(AWSError) -> IAMRoleRecord {
        try Self.validateName(name, member: "roleName", maximum: 64)
        guard let role = roles[name] else { throw Self.noSuchEntity("The role with name \(name) cannot be found.") }
        return role
    }

    public func listRoles() -> [IAMRoleRecord] {
        roles.values.sorted { $0.roleName < $1.roleName }
    }

    public mutating func deleteRole(_ name: String, changes: inout ChangeSet) throws(AWSError) {
        let role = try role(name)
        guard role.policies.isEmpty else { throw Self.deleteConflict("Cannot delete entity, must delete policies first.") }
        guard role.attachedPolicies?.isEmpty != false else { throw Self.deleteConflict("Cannot delete entity, must detach all policies first.") }
        roles[name] = nil
        changes.delete(IAMRoleRecord.self, key: name)
        revision += 1
    }

    public mutating func putRolePolicy(roleName: String, policyName: String, document: String, changes: inout ChangeSet) throws(AWSError) {
        try Self.validateName(policyName, member: "policyName", maximum: 128)
        _ = try PolicyDocument(json: document)
        var role = try role(roleName)
        role.policies[policyName] = document
        roles[roleName] = role
        changes.put(role)
        revision += 1
    }

    public func rolePolicy(roleName: String, policyName: String) throws(AWSError) -> String {
        guard let document = try role(roleName).policies[policyName] else {
            throw Self.noSuchEntity("The role policy with name \(policyName) cannot be found.")
        }
        return document
    }

    public mutating func deleteRolePolicy(roleName: String, policyName: String, changes: inout ChangeSet) throws(AWSError) {
        _ = try rolePolicy(roleName: roleName, policyName: policyName)
        var role = try role(roleName)
        role.policies[policyName] = nil
        roles[roleName] = role
        changes.put(role)
        revision += 1
    }

    /// The parsed policies of the role a task or function names; nil for a role that does not exist
    /// (accepted when named, granting nothing until it is created).
    public func rolePolicies(_ reference: String) -> [PolicyDocument]? {
        guard let role = roles[ResourceNames.roleName(reference)] else { return nil }
        return role.policies.keys.sorted().compactMap { try? PolicyDocument(json: role.policies[$0] ?? "") } + attachedDocuments(role.attachedPolicies)
    }

    /// The parsed policies of a user: inline, then attached.
    public func userPolicies(_ user: IAMUserRecord) -> [PolicyDocument] {
        user.policies.keys.sorted().compactMap { try? PolicyDocument(json: user.policies[$0] ?? "") } + attachedDocuments(user.attachedPolicies)
    }

    // MARK: Validation and errors, in IAM's words

    static func validateName(_ name: String, member: String, maximum: Int) throws(AWSError) {
        guard (1...maximum).contains(name.count) else {
            throw validation(
                "Value '\(name)' at '\(member)' failed to satisfy constraint: Member must have length \(name.isEmpty ? "greater than or equal to 1" : "less than or equal to \(maximum)")"
            )
        }
        let allowed = name.unicodeScalars.allSatisfy { scalar in
            scalar.properties.isAlphabetic && scalar.isASCII || ("0"..."9").contains(scalar) || "_+=,.@-".unicodeScalars.contains(scalar)
        }
        guard allowed else {
            throw validation("Value '\(name)' at '\(member)' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+")
        }
    }

    static func validatePath(_ path: String) throws(AWSError) {
        guard path.hasPrefix("/"), path.hasSuffix("/"), path.count <= 512, path.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) else {
            throw validation("The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.")
        }
    }

    static func validateAccessKeyId(_ id: String) throws(AWSError) {
        guard (16...128).contains(id.count), id.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }) else {
            throw validation("Value '\(id)' at 'accessKeyId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]+")
        }
    }

    static func validateMaxItems(_ value: Int?) throws(AWSError) -> Int {
        guard let value else { return 100 }
        guard (1...1000).contains(value) else {
            throw validation("Value '\(value)' at 'maxItems' failed to satisfy constraint: Member must have value \(value < 1 ? "greater than or equal to 1" : "less than or equal to 1000")")
        }
        return value
    }

    static func validation(_ message: String) -> AWSError {
        AWSError(type: "ValidationError", message: message.hasPrefix("Value") ? "1 validation error detected: " + message : message)
    }

    static func noSuchEntity(_ message: String) -> AWSError { AWSError(type: "NoSuchEntity", message: message, httpStatus: 404) }
    static func alreadyExists(_ message: String) -> AWSError { AWSError(type: "EntityAlreadyExists", message: message, httpStatus: 409) }
    static func deleteConflict(_ message: String) -> AWSError { AWSError(type: "DeleteConflict", message: message, httpStatus: 409) }

    static func randomId(count: Int, using random: inout some RandomNumberGenerator) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        return String((0..<count).map { _ in alphabet[Int(random.next(upperBound: UInt32(alphabet.count)))] })
    }
}
