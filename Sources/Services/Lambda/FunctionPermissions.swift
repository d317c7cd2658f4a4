#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LambdaShapes
import StevedoreCore

/// A statement of a function's resource-based policy, as AddPermission makes it.
public struct FunctionPermission: Codable, Sendable, Equatable {
    public var statementId: String
    /// `$LATEST` unless the permission is for a version or alias.
    public var qualifier: String
    public var action: String
    public var principal: String
    public var sourceArn: String?
    public var sourceAccount: String?
    public var principalOrgId: String?
    public var functionUrlAuthType: String?
}

/// AddPermission's body.
public struct LambdaAddPermissionInput: Codable, Sendable {
    public var StatementId: String?
    public var Action: String?
    public var Principal: String?
    public var SourceArn: String?
    public var SourceAccount: String?
    public var EventSourceToken: String?
    public var PrincipalOrgID: String?
    public var FunctionUrlAuthType: String?
    public var RevisionId: String?
}

public struct LambdaAddPermissionOutput: Codable, Sendable {
    public var Statement: String
}

public struct LambdaGetPolicyOutput: Codable, Sendable {
    public var Policy: String
    public var RevisionId: String
}

/// AddPermission, RemovePermission and GetPolicy: the function's resource-based policy, kept with it.
extension FunctionsState {
    public mutating func addPermission(
        _ reference: String, qualifier: String?, _ input: LambdaAddPermissionInput, changes: inout ChangeSet
    ) throws(AWSError) -> LambdaAddPermissionOutput {
        let (name, embedded) = try FunctionNames.parse(reference)
        let qualifier = qualifier ?? embedded ?? FunctionNames.latest
        guard var record = functions[name] else { throw functionNotFound(name) }
        guard record.version(qualifier) != nil || record.aliases[qualifier] != nil else { throw functionNotFound(name, qualifier: qualifier) }
        guard let statementId = input.StatementId else { throw FunctionValidation.missing("statementId") }
        guard let action = input.Action else { throw FunctionValidation.missing("action") }
        guard let principal = input.Principal else { throw FunctionValidation.missing("principal") }
        guard (1...100).contains(statementId.count), statementId.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw FunctionValidation.constraint(statementId, "statementId", "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_.]+)")
        }
        guard action == "*" || action.hasPrefix("lambda:") && action.dropFirst(7).allSatisfy({ $0.isLetter || $0 == "*" }) else {
            throw FunctionValidation.constraint(action, "action", "Member must satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])")
        }
        var permissions = record.permissions ?? []
        guard !permissions.contains(where: { $0.statementId == statementId && $0.qualifier == qualifier }) else {
            throw AWSError(
                type: "ResourceConflictException",
                message: "The statement id (\(statementId)) provided already exists. Please provide a new statement id, or remove the existing statement.",
                httpStatus: 409)
        }
        let permission = FunctionPermission(
            statementId: statementId, qualifier: qualifier, action: action, principal: principal, sourceArn: input.SourceArn,
            sourceAccount: input.SourceAccount, principalOrgId: input.PrincipalOrgID, functionUrlAuthType: input.FunctionUrlAuthType)
        permissions.append(permission)
        record.permissions = permissions
        functions[name] = record
        changes.put(record)
        return LambdaAddPermissionOutput(Statement: statement(permission, function: name).json())
    }

    public mutating func removePermission(_ reference: String, qualifier: String?, statementId: String, changes: inout ChangeSet) throws(AWSError) {
        let (name, embedded) = try FunctionNames.parse(reference)
        let qualifier = qualifier ?? embedded ?? FunctionNames.latest
        guard var record = functions[name] else { throw functionNotFound(name) }
        var permissions = record.permissions ?? []
        guard !permissions.filter({ $0.qualifier == qualifier }).isEmpty else {
            throw AWSError.lambdaNotFound("No policy is associated with the given resource.")
        }
        guard let index = permissions.firstIndex(where: { $0.statementId == statementId && $0.qualifier == qualifier }) else {
            throw AWSError.lambdaNotFound("Statement \(statementId) is not found in resource policy.")
        }
        permissions.remove(at: index)
        record.permissions = permissions
        functions[name] = record
        changes.put(record)
    }

    public func policy(_ reference: String, qualifier: String?) throws(AWSError) -> LambdaGetPolicyOutput {
        let (name, embedded) = try FunctionNames.parse(reference)
        let qualifier = qualifier ?? embedded ?? FunctionNames.latest
        guard let record = functions[name] else { throw functionNotFound(name) }
        let statements = (record.permissions ?? []).filter { $0.qualifier == qualifier }
        guard !statements.isEmpty else { throw AWSError.lambdaNotFound("No policy is associated with the given resource.") }
        let policy = Document.object([
            ("Version", .string("2012-10-17")), ("Id", .string("default")), ("Statement", .array(statements.map { statement($0, function: name) })),
        ])
        return LambdaGetPolicyOutput(Policy: policy.json(), RevisionId: record.latest.configuration.RevisionId ?? "")
    }

    /// Whether the function's resource-based policy lets an AWS service (`s3.amazonaws.com`) invoke
    /// it for a source, as a service checks before it sends a function events: a statement for the
    /// version or alias invoked, naming the service (or anyone), with any source ARN and account it
    /// names matching.
    public func permits(service: String, toInvoke name: String, qualifier: String?, sourceArn: String, sourceAccount: String) -> Bool {
        let qualifier = qualifier ?? FunctionNames.latest
        return (functions[name]?.permissions ?? []).contains { permission in
            permission.qualifier == qualifier && (permission.principal == service || permission.principal == "*")
                && ["lambda:InvokeFunction", "lambda:*", "*"].contains(permission.action)
                && (permission.sourceArn.map { Wildcard.matches($0, sourceArn, ignoringCase: false) } ?? true)
                && (permission.sourceAccount.map { $0 == sourceAccount } ?? true)
        }
    }

    /// The statement as GetPolicy shows it.
    func statement(_ permission: FunctionPermission, function name: String) -> Document {
        let principal: Document =
            permission.principal == "*"
            ? .string("*")
            : permission.principal.hasSuffix(".amazonaws.com") || permission.principal.hasSuffix(".amazonaws.com.cn")
                ? .object([("Service", .string(permission.principal))])
                : .object([("AWS", .string(permission.principal.allSatisfy(\.isNumber) ? "arn:\(names.partition):iam::\(permission.principal):root" : permission.principal))])
        var conditions: [(String, Document)] = []
        if let source = permission.sourceArn { conditions.append(("ArnLike", .object([("AWS:SourceArn", .string(source))]))) }
        var equals: [(String, Document)] = []
        if let account = permission.sourceAccount { equals.append(("AWS:SourceAccount", .string(account))) }
        if let org = permission.principalOrgId { equals.append(("aws:PrincipalOrgID", .string(org))) }
        if let auth = permission.functionUrlAuthType { equals.append(("lambda:FunctionUrlAuthType", .string(auth))) }
        if !equals.isEmpty { conditions.append(("StringEquals", .object(equals))) }
        let resource = permission.qualifier == FunctionNames.latest ? names.function(name) : names.function(name, qualifier: permission.qualifier)
        var statement: [(String, Document)] = [
            ("Sid", .string(permission.statementId)), ("Effect", .string("Allow")), ("Principal", principal), ("Action", .string(permission.action)),
            ("Resource", .string(resource)),
        ]
        if !conditions.isEmpty { statement.append(("Condition", .object(conditions))) }
        return .object(statement)
    }
}
