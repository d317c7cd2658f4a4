#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSProtocols
import StevedoreCore

/// The IAM subset (query protocol, version 2010-05-08) that manages users, their access keys and
/// their inline policies, and STS's GetCallerIdentity (version 2011-06-15), as `aws iam` and
/// `aws sts` call them.
public enum IAMAPI {
    public static let namespace = "https://iam.amazonaws.com/doc/2010-05-08/"
    public static let stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

    /// A new access key: its id, its secret, and the secret sealed for the store.
    public typealias NewKey = @Sendable () -> (accessKeyId: String, secret: String, sealedSecret: String)

    /// - Parameters:
    ///   - newKey: makes keys (from the system's cryptographic generator) and seals their secrets.
    ///   - changed: told the IAM state after every change is durable (the authenticator's key ring).
    public static func service<Committer: StateCommitting>(
        committer: Committer, newKey: @escaping NewKey, changed: @escaping @Sendable (IAMState) -> Void
    ) -> QueryService where Committer.Root: IAMHost {
        var service = QueryService(namespace: namespace, version: "2010-05-08")

        @Sendable func write<Result: Sendable>(_ body: @escaping @Sendable (inout IAMState, inout Mutation) throws(AWSError) -> Result)
            async throws(AWSError) -> Result
        {
            let (result, iam) = try await committer.write { root, m throws(AWSError) in (try body(&root.iam, &m), root.iam) }
            changed(iam)
            return result
        }
        @Sendable func read<Result: Sendable>(_ body: @escaping @Sendable (IAMState) throws(AWSError) -> Result) async throws(AWSError) -> Result {
            try await committer.read { root, _ throws(AWSError) in try body(root.iam) }
        }

        // Users
        service.action("CreateUser") { request, _ throws(AWSError) in
            let (name, path) = (try request.required("UserName"), request["Path"])
            let user = try await write { iam, m throws(AWSError) in try iam.createUser(name: name, path: path, now: m.now, using: &m.random, changes: &m.changes) }
            var xml = XMLWriter()
            xml.element("User") { writeUser(user, into: &$0) }
            return xml
        }
        service.action("GetUser") { request, context throws(AWSError) in
            let name = try request.userName(context)
            let user = try await read { iam throws(AWSError) in try iam.user(name) }
            var xml = XMLWriter()
            xml.element("User") { writeUser(user, into: &$0) }
            return xml
        }
        service.action("ListUsers") { request, _ throws(AWSError) in
            let (prefix, marker, maxItems) = (request["PathPrefix"], request["Marker"], try request.integer("MaxItems"))
            let (users, next) = try await read { iam throws(AWSError) in try iam.listUsers(pathPrefix: prefix, marker: marker, maxItems: maxItems) }
            var xml = XMLWriter()
            xml.element("Users") { xml in for user in users { xml.element("member") { writeUser(user, into: &$0) } } }
            xml.element("IsTruncated", next == nil ? "false" : "true")
            xml.element("Marker", next)
            return xml
        }
        service.actionWithoutResult("DeleteUser") { request, _ throws(AWSError) in
            let name = try request.required("UserName")
            try await write { iam, m throws(AWSError) in try iam.deleteUser(name, changes: &m.changes) }
        }

        // Access keys
        service.action("CreateAccessKey") { request, context throws(AWSError) in
            let name = try request.userName(context)
            let made = newKey()
            let key = try await write { iam, m throws(AWSError) in
                try iam.createAccessKey(userName: name, accessKeyId: made.accessKeyId, sealedSecret: made.sealedSecret, now: m.now, changes: &m.changes)
            }
            var xml = XMLWriter()
            xml.element("AccessKey") { xml in
                xml.element("UserName", key.userName)
                xml.element("AccessKeyId", key.accessKeyId)
                xml.element("Status", key.status.rawValue)
                xml.element("SecretAccessKey", made.secret)
                xml.element("CreateDate", timestamp(key.createDate))
            }
            return xml
        }
        service.action("ListAccessKeys") { request, context throws(AWSError) in
            let name = try request.userName(context)
            let keys = try await read { iam throws(AWSError) in try iam.listAccessKeys(userName: name) }
            var xml = XMLWriter()
            xml.element("UserName", name)
            xml.element("AccessKeyMetadata") { xml in
                for key in keys {
                    xml.element("member") { xml in
                        xml.element("UserName", key.userName)
                        xml.element("AccessKeyId", key.accessKeyId)
                        xml.element("Status", key.status.rawValue)
                        xml.element("CreateDate", timestamp(key.createDate))
                    }
                }
            }
            xml.element("IsTruncated", "false")
            return xml
        }
        service.actionWithoutResult("UpdateAccessKey") { request, context throws(AWSError) in
            let (id, status, name) = (try request.required("AccessKeyId"), try request.required("Status"), try request.userName(context))
            try await write { iam, m throws(AWSError) in try iam.updateAccessKey(id, userName: name, status: status, changes: &m.changes) }
        }
        service.actionWithoutResult("DeleteAccessKey") { request, context throws(AWSError) in
            let (id, name) = (try request.required("AccessKeyId"), try request.userName(context))
            try await write { iam, m throws(AWSError) in try iam.deleteAccessKey(id, userName: name, changes: &m.changes) }
        }

        // Inline policies
        service.actionWithoutResult("PutUserPolicy") { request, _ throws(AWSError) in
            let (name, policy, document) = (try request.required("UserName"), try request.required("PolicyName"), try request.required("PolicyDocument"))
            try await write { iam, m throws(AWSError) in try iam.putUserPolicy(userName: name, policyName: policy, document: document, changes: &m.changes) }
        }
        service.action("GetUserPolicy") { request, _ throws(AWSError) in
            let (name, policy) = (try request.required("UserName"), try request.required("PolicyName"))
            let document = try await read { iam throws(AWSError) in try iam.userPolicy(userName: name, policyName: policy) }
            var xml = XMLWriter()
            xml.element("UserName", name)
            xml.element("PolicyName", policy)
            // IAM answers with the document percent-encoded (the SDKs decode it).
            xml.element("PolicyDocument", PercentEncoding.encode(document))
            return xml
        }
        service.action("ListUserPolicies") { request, _ throws(AWSError) in
            let name = try request.required("UserName")
            let policies = try await read { iam throws(AWSError) in try iam.userPolicyNames(userName: name) }
            var xml = XMLWriter()
            xml.element("PolicyNames") { xml in for policy in policies { xml.element("member", policy) } }
            xml.element("IsTruncated", "false")
            return xml
        }
        service.actionWithoutResult("DeleteUserPolicy") { request, _ throws(AWSError) in
            let (name, policy) = (try request.required("UserName"), try request.required("PolicyName"))
            try await write { iam, m throws(AWSError) in try iam.deleteUserPolicy(userName: name, policyName: policy, changes: &m.changes) }
        }
        // Roles
        service.action("CreateRole") { request, _ throws(AWSError) in
            let (name, trust) = (try request.required("RoleName"), try request.required("AssumeRolePolicyDocument"))
            let (path, description) = (request["Path"], request["Description"])
            let role = try await write { iam, m throws(AWSError) in
                try iam.createRole(name: name, path: path, trustPolicy: trust, description: description, now: m.now, using: &m.random, changes: &m.changes)
            }
            var xml = XMLWriter()
            xml.element("Role") { writeRole(role, into: &$0) }
            return xml
        }
        service.action("GetRole") { request, _ throws(AWSError) in
            let name = try request.required("RoleName")
            let role = try await read { iam throws(AWSError) in try iam.role(name) }
            var xml = XMLWriter()
            xml.element("Role") { writeRole(role, into: &$0) }
            return xml
        }
        service.action("ListRoles") { _, _ throws(AWSError) in
            let roles = try await read { iam in iam.listRoles() }
            var xml = XMLWriter()
            xml.element("Roles") { xml in for role in roles { xml.element("member") { writeRole(role, into: &$0) } } }
            xml.element("IsTruncated", "false")
            return xml
        }
        service.actionWithoutResult("DeleteRole") { request, _ throws(AWSError) in
            let name = try request.required("RoleName")
            try await write { iam, m throws(AWSError) in try iam.deleteRole(name, changes: &m.changes) }
        }
        service.actionWithoutResult("PutRolePolicy") { request, _ throws(AWSError) in
            let (name, policy, document) = (try request.required("RoleName"), try request.required("PolicyName"), try request.required("PolicyDocument"))
            try await write { iam, m throws(AWSError) in try iam.putRolePolicy(roleName: name, policyName: policy, document: document, changes: &m.changes) }
        }
        service.action("GetRolePolicy") { request, _ throws(AWSError) in
            let (name, policy) = (try request.required("RoleName"), try request.required("PolicyName"))
            let document = try await read { iam throws(AWSError) in try iam.rolePolicy(roleName: name, policyName: policy) }
            var xml = XMLWriter()
            xml.element("RoleName", name)
            xml.element("PolicyName", policy)
            xml.element("PolicyDocument", PercentEncoding.encode(document))
            return xml
        }
        service.actionWithoutResult("DeleteRolePolicy") { request, _ throws(AWSError) in
            let (name, policy) = (try request.required("RoleName"), try request.required("PolicyName"))
            try await write { iam, m throws(AWSError) in try iam.deleteRolePolicy(roleName: name, policyName: policy, changes: &m.changes) }
        }

        // Managed policies
        service.action("CreatePolicy") { request, _ throws(AWSError) in
            let (name, document) = (try request.required("PolicyName"), try request.required("PolicyDocument"))
            let (path, description) = (request["Path"], request["Description"])
            let policy = try await write { iam, m throws(AWSError) in
                try iam.createPolicy(name: name, path: path, document: document, description: description, now: m.now, using: &m.random, changes: &m.changes)
            }
            var xml = XMLWriter()
            xml.element("Policy") { writePolicy(policy, attachments: 0, into: &$0) }
            return xml
        }
        service.action("GetPolicy") { request, _ throws(AWSError) in
            let arn = try request.required("PolicyArn")
            let (policy, attachments) = try await read { iam throws(AWSError) in (try iam.managedPolicy(arn), iam.attachmentCount(arn)) }
            var xml = XMLWriter()
            xml.element("Policy") { writePolicy(policy, attachments: attachments, into: &$0) }
            return xml
        }
        service.action("ListPolicies") { request, _ throws(AWSError) in
            let (scope, onlyAttached, prefix) = (request["Scope"], request["OnlyAttached"] == "true", request["PathPrefix"])
            let (marker, limit) = (request["Marker"], try IAMState.validateMaxItems(try request.integer("MaxItems")))
            let listed = try await read { iam throws(AWSError) in
                try iam.listPolicies(scope: scope, onlyAttached: onlyAttached, pathPrefix: prefix).map { ($0, iam.attachmentCount($0.arn)) }
            }
            // The marker is the last policy of the page before, as `name|arn` (the order's key):
            // the page after it starts at the first policy past it, even if that one went meanwhile.
            var start = 0
            if let marker {
                let parts = marker.split(separator: "|", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw AWSError(type: "InvalidInput", message: "Invalid Marker.", httpStatus: 400) }
                start = listed.firstIndex { ($0.0.policyName, $0.0.arn) > (parts[0], parts[1]) } ?? listed.count
            }
            let page = listed[start..<min(listed.count, start + limit)]
            var xml = XMLWriter()
            xml.element("Policies") { xml in for (policy, count) in page { xml.element("member") { writePolicy(policy, attachments: count, description: false, into: &$0) } } }
            xml.element("IsTruncated", start + limit < listed.count ? "true" : "false")
            xml.element("Marker", start + limit < listed.count ? page.last.map { $0.0.policyName + "|" + $0.0.arn } : nil)
            return xml
        }
        service.actionWithoutResult("DeletePolicy") { request, _ throws(AWSError) in
            let arn = try request.required("PolicyArn")
            try await write { iam, m throws(AWSError) in try iam.deletePolicy(arn, changes: &m.changes) }
        }
        service.action("CreatePolicyVersion") { request, _ throws(AWSError) in
            let (arn, document, isDefault) = (try request.required("PolicyArn"), try request.required("PolicyDocument"), request["SetAsDefault"] == "true")
            let version = try await write { iam, m throws(AWSError) in
                try iam.createPolicyVersion(arn, document: document, setAsDefault: isDefault, now: m.now, changes: &m.changes)
            }
            var xml = XMLWriter()
            xml.element("PolicyVersion") { writeVersion(version, isDefault: isDefault, document: false, into: &$0) }
            return xml
        }
        service.action("GetPolicyVersion") { request, _ throws(AWSError) in
            let (arn, versionId) = (try request.required("PolicyArn"), try request.required("VersionId"))
            let (version, isDefault) = try await read { iam throws(AWSError) in try iam.policyVersion(arn, versionId: versionId) }
            var xml = XMLWriter()
            xml.element("PolicyVersion") { writeVersion(version, isDefault: isDefault, document: true, into: &$0) }
            return xml
        }
        service.action("ListPolicyVersions") { request, _ throws(AWSError) in
            let arn = try request.required("PolicyArn")
            let policy = try await read { iam throws(AWSError) in try iam.managedPolicy(arn) }
            var xml = XMLWriter()
            xml.element("Versions") { xml in
                for version in policy.versions.reversed() {
                    xml.element("member") { writeVersion(version, isDefault: version.versionId == policy.defaultVersionId, document: false, into: &$0) }
                }
            }
            xml.element("IsTruncated", "false")
            return xml
        }
        service.actionWithoutResult("DeletePolicyVersion") { request, _ throws(AWSError) in
            let (arn, versionId) = (try request.required("PolicyArn"), try request.required("VersionId"))
            try await write { iam, m throws(AWSError) in try iam.deletePolicyVersion(arn, versionId: versionId, changes: &m.changes) }
        }
        service.actionWithoutResult("SetDefaultPolicyVersion") { request, _ throws(AWSError) in
            let (arn, versionId) = (try request.required("PolicyArn"), try request.required("VersionId"))
            try await write { iam, m throws(AWSError) in try iam.setDefaultPolicyVersion(arn, versionId: versionId, now: m.now, changes: &m.changes) }
        }
        service.actionWithoutResult("AttachRolePolicy") { request, _ throws(AWSError) in
            let (name, arn) = (try request.required("RoleName"), try request.required("PolicyArn"))
            try await write { iam, m throws(AWSError) in try iam.attachRolePolicy(roleName: name, policyArn: arn, changes: &m.changes) }
        }
        service.actionWithoutResult("DetachRolePolicy") { request, _ throws(AWSError) in
            let (name, arn) = (try request.required("RoleName"), try request.required("PolicyArn"))
            try await write { iam, m throws(AWSError) in try iam.detachRolePolicy(roleName: name, policyArn: arn, changes: &m.changes) }
        }
        service.action("ListAttachedRolePolicies") { request, _ throws(AWSError) in
            let name = try request.required("RoleName")
            let attached = try await read { iam throws(AWSError) in iam.attachedPolicies(try iam.role(name).attachedPolicies) }
            return attachedPoliciesXML(attached)
        }
        service.actionWithoutResult("AttachUserPolicy") { request, _ throws(AWSError) in
            let (name, arn) = (try request.required("UserName"), try request.required("PolicyArn"))
            try await write { iam, m throws(AWSError) in try iam.attachUserPolicy(userName: name, policyArn: arn, changes: &m.changes) }
        }
        service.actionWithoutResult("DetachUserPolicy") { request, _ throws(AWSError) in
            let (name, arn) = (try request.required("UserName"), try request.required("PolicyArn"))
            try await write { iam, m throws(AWSError) in try iam.detachUserPolicy(userName: name, policyArn: arn, changes: &m.changes) }
        }
        service.action("ListAttachedUserPolicies") { request, _ throws(AWSError) in
            let name = try request.required("UserName")
            let attached = try await read { iam throws(AWSError) in iam.attachedPolicies(try iam.user(name).attachedPolicies) }
            return attachedPoliciesXML(attached)
        }
        return service
    }

    static func writePolicy(_ policy: ManagedPolicyRecord, attachments: Int, description: Bool = true, into xml: inout XMLWriter) {
        xml.element("PolicyName", policy.policyName)
        xml.element("PolicyId", policy.policyId)
        xml.element("Arn", policy.arn)
        xml.element("Path", policy.path)
        xml.element("DefaultVersionId", policy.defaultVersionId)
        xml.element("AttachmentCount", String(attachments))
        xml.element("PermissionsBoundaryUsageCount", "0")
        xml.element("IsAttachable", "true")
        if description { xml.element("Description", policy.description) }
        xml.element("CreateDate", timestamp(policy.createDate))
        xml.element("UpdateDate", timestamp(policy.updateDate))
    }

    static func writeVersion(_ version: ManagedPolicyVersion, isDefault: Bool, document: Bool, into xml: inout XMLWriter) {
        if document { xml.element("Document", PercentEncoding.encode(version.document)) }
        xml.element("VersionId", version.versionId)
        xml.element("IsDefaultVersion", isDefault ? "true" : "false")
        xml.element("CreateDate", timestamp(version.createDate))
    }

    static func attachedPoliciesXML(_ attached: [(name: String, arn: String)]) -> XMLWriter {
        var xml = XMLWriter()
        xml.element("AttachedPolicies") { xml in
            for policy in attached {
                xml.element("member") { xml in
                    xml.element("PolicyName", policy.name)
                    xml.element("PolicyArn", policy.arn)
                }
            }
        }
        xml.element("IsTruncated", "false")
        return xml
    }

    static func writeRole(_ role: IAMRoleRecord, into xml: inout XMLWriter) {
        xml.element("Path", role.path)
        xml.element("RoleName", role.roleName)
        xml.element("RoleId", role.roleId)
        xml.element("Arn", role.arn)
        xml.element("CreateDate", timestamp(role.createDate))
        xml.element("AssumeRolePolicyDocument", PercentEncoding.encode(role.assumeRolePolicyDocument))
        xml.element("Description", role.description)
    }

    /// STS: GetCallerIdentity, which needs no permission (AWS allows it to every caller).
    public static func securityTokenService(names: ResourceNames) -> QueryService {
        var service = QueryService(namespace: stsNamespace, version: "2011-06-15")
        service.action("GetCallerIdentity") { _, context in
            let caller = context.caller
            var xml = XMLWriter()
            xml.element("Arn", caller?.arn ?? names.rootPrincipal)
            xml.element("UserId", caller?.userId ?? names.accountId)
            xml.element("Account", names.accountId)
            return xml
        }
        return service
    }

    static func writeUser(_ user: IAMUserRecord, into xml: inout XMLWriter) {
        xml.element("Path", user.path)
        xml.element("UserName", user.userName)
        xml.element("UserId", user.userId)
        xml.element("Arn", user.arn)
        xml.element("CreateDate", timestamp(user.createDate))
    }

    static func timestamp(_ date: Date) -> String {
        CivilCalendar.iso8601(secondsSince1970: Int64(date.timeIntervalSince1970.rounded(.down)))
    }
}

extension QueryRequest {
    /// `UserName`, or the calling user's own name when it is left out (as IAM does).
    func userName(_ context: OperationContext) throws(AWSError) -> String {
        if let name = self["UserName"] { return name }
        guard let name = context.caller?.userName else {
            throw AWSError(type: "ValidationError", message: "Must specify userName when calling with non-User credentials")
        }
        return name
    }
}
