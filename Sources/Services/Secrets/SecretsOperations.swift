#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SecretsShapes
import StevedoreCore

// MARK: SSM Parameter Store

extension SecretsState {
    /// Standard-tier parameters hold at most this many characters.
    public static let parameterValueLimit = 4096

    /// - Parameter sealedValue: the value sealed by the caller, kept if the parameter is (or stays) a SecureString.
    public mutating func putParameter(_ input: SSMPutParameterRequest, sealedValue: String, now: Date, changes: inout ChangeSet) throws(AWSError)
        -> SSMPutParameterResult
    {
        try Self.validateParameterName(input.Name)
        guard !input.Value.isEmpty else {
            throw Self.ssmValidation("1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1")
        }
        guard input.Value.count <= Self.parameterValueLimit else {
            throw Self.ssmValidation(
                "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier."
            )
        }
        let existing = parameters[input.Name]
        if existing != nil, input.Overwrite != true {
            throw AWSError(
                type: "ParameterAlreadyExists", message: "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
        }
        guard let type = input.`Type` ?? existing?.type else {
            throw Self.ssmValidation("A parameter type is required when you create a parameter.")
        }
        let secure = type == .secureString
        let record = ParameterRecord(
            name: input.Name, type: type, value: secure ? nil : input.Value, sealedValue: secure ? sealedValue : nil,
            version: (existing?.version ?? 0) + 1, lastModified: now, description: input.Description ?? existing?.description)
        parameters[input.Name] = record
        changes.put(record)
        return SSMPutParameterResult(Version: record.version, Tier: .standard)
    }

    /// A parameter by name or ARN; ParameterNotFound (AWS words it with no message) when absent.
    public func parameter(_ reference: String) throws(AWSError) -> ParameterRecord {
        guard let parameter = parameters[parameterName(reference)] else { throw AWSError(type: "ParameterNotFound", message: "") }
        return parameter
    }

    /// Parameters under `path` (`/a/b`), one level or all below it, in name order, paged.
    public func parametersByPath(_ input: SSMGetParametersByPathRequest) throws(AWSError) -> (records: [ParameterRecord], nextToken: String?) {
        guard input.Path.hasPrefix("/") else {
            throw Self.ssmValidation("The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".")
        }
        let limit = input.MaxResults ?? 10
        guard (1...10).contains(limit) else {
            throw Self.ssmValidation(
                "1 validation error detected: Value '\(limit)' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10")
        }
        let prefix = input.Path.hasSuffix("/") ? input.Path : input.Path + "/"
        let matching = parameters.values.filter { record in
            guard record.name.hasPrefix(prefix) else { return false }
            return input.Recursive == true || !record.name.dropFirst(prefix.count).contains("/")
        }.sorted { $0.name < $1.name }
        let start = input.NextToken.flatMap { token in matching.firstIndex { $0.name > token } } ?? (input.NextToken == nil ? 0 : matching.count)
        let page = Array(matching[start..<min(matching.count, start + limit)])
        return (page, start + limit < matching.count ? page.last?.name : nil)
    }

    public mutating func deleteParameter(_ name: String, changes: inout ChangeSet) throws(AWSError) {
        let record = try parameter(name)
        parameters[record.name] = nil
        changes.delete(ParameterRecord.self, key: record.name)
    }

    /// The parameter's name from a name or an `arn:aws:ssm:…:parameter/…` ARN.
    public func parameterName(_ reference: String) -> String {
        // Only this partition's, region's and account's ARNs name parameters here (so the ARN a
        // policy judges is the parameter the operation reads); any other stays a name none has.
        let prefix = names.arn("ssm", "parameter/")
        guard reference.hasPrefix(prefix) else { return reference }
        // `…:parameter/a/b` is the ARN of `/a/b`; `…:parameter/name` the ARN of `name`.
        let rest = "/" + reference.dropFirst(prefix.count)
        return parameters[rest] != nil ? rest : String(rest.dropFirst())
    }

    static func validateParameterName(_ name: String) throws(AWSError) {
        guard (1...2048).contains(name.count) else {
            throw ssmValidation("1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length less than or equal to 2048")
        }
        let lowered = name.lowercased().drop { $0 == "/" }
        let allowed = name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.-/".unicodeScalars.contains($0)) }
        guard allowed, !lowered.hasPrefix("aws"), !lowered.hasPrefix("ssm"), !name.contains("//"), name.filter({ $0 == "/" }).count <= 15 else {
            throw ssmValidation(
                "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_"
            )
        }
    }

    static func ssmValidation(_ message: String) -> AWSError { AWSError(type: "ValidationException", message: message) }
}

// MARK: Secrets Manager

extension SecretsState {
    /// - Parameters:
    ///   - sealedValue: `SecretString`, sealed by the caller.
    ///   - versionId: the version's id: the request's `ClientRequestToken` or one the caller made.
    public mutating func createSecret(
        _ input: SMCreateSecretRequest, sealedValue: String, versionId: String, now: Date, using random: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> SMCreateSecretResponse {
        try Self.validateSecretName(input.Name)
        guard input.SecretString != nil else {
            throw AWSError(type: "InvalidRequestException", message: "You must provide either SecretString or SecretBinary. Stevedore stores SecretString only.")
        }
        guard secrets[input.Name] == nil else {
            throw AWSError(type: "ResourceExistsException", message: "The operation failed because the secret \(input.Name) already exists.")
        }
        let suffix = String((0..<6).map { _ in Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")[Int(random.next(upperBound: UInt32(52)))] })
        let record = SecretRecord(
            name: input.Name, arn: names.arn("secretsmanager", "secret:\(input.Name)-\(suffix)"), sealedValue: sealedValue, versionId: versionId,
            created: now, description: input.Description)
        secrets[input.Name] = record
        changes.put(record)
        return SMCreateSecretResponse(ARN: record.arn, Name: record.name, VersionId: versionId)
    }

    /// A secret by name or ARN (with or without its random suffix).
    public func secret(_ id: String) throws(AWSError) -> SecretRecord {
        if let secret = secrets[id] { return secret }
        if id.hasPrefix("arn:"), let secret = secrets.values.first(where: { $0.arn == id || id.hasPrefix($0.arn + ":") }) { return secret }
        throw AWSError(type: "ResourceNotFoundException", message: "Secrets Manager can't find the specified secret.")
    }

    public mutating func putSecretValue(_ input: SMPutSecretValueRequest, sealedValue: String, versionId: String, changes: inout ChangeSet)
        throws(AWSError) -> SMPutSecretValueResponse
    {
        var record = try secret(input.SecretId)
        guard input.SecretString != nil else {
            throw AWSError(type: "InvalidRequestException", message: "You must provide either SecretString or SecretBinary. Stevedore stores SecretString only.")
        }
        record.sealedValue = sealedValue
        record.versionId = versionId
        secrets[record.name] = record
        changes.put(record)
        return SMPutSecretValueResponse(ARN: record.arn, Name: record.name, VersionId: versionId, VersionStages: ["AWSCURRENT"])
    }

    public mutating func deleteSecret(_ input: SMDeleteSecretRequest, now: Date, changes: inout ChangeSet) throws(AWSError) -> SMDeleteSecretResponse {
        let record = try secret(input.SecretId)
        if let days = input.RecoveryWindowInDays, !(7...30).contains(days) {
            throw AWSError(type: "InvalidParameterException", message: "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
        }
        // Deleted at once: Stevedore keeps no recovery window.
        secrets[record.name] = nil
        changes.delete(SecretRecord.self, key: record.name)
        return SMDeleteSecretResponse(ARN: record.arn, Name: record.name, DeletionDate: now)
    }

    static func validateSecretName(_ name: String) throws(AWSError) {
        let allowed = name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "/_+=.@-".unicodeScalars.contains($0)) }
        guard (1...512).contains(name.count), allowed else {
            throw AWSError(type: "ValidationException", message: "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
        }
    }
}

// MARK: Task secrets

extension SecretsState {
    /// What a task definition's `valueFrom` names: the IAM action and resource that reading it
    /// takes, and the value (sealed or plain).
    public struct SecretReference: Sendable, Equatable {
        public var action: String
        public var resource: String
        public var plainValue: String?
        public var sealedValue: String?
        /// For a Secrets Manager reference with a JSON key (`arn…:secret:name-abc:key::`).
        public var jsonKey: String?
    }

    /// Resolves a `valueFrom`: a Secrets Manager ARN (optionally `:json-key:version-stage:version-id`),
    /// or an SSM parameter's name or ARN. The error names the reference, never a value.
    /// What a task definition's `valueFrom` names: a Secrets Manager secret by ARN (with an
    /// optional JSON key), else a Parameter Store parameter by name or ARN. `registryCredentials`
    /// (a `repositoryCredentials.credentialsParameter`) names a Secrets Manager secret by ARN or name.
    public func reference(_ valueFrom: String, registryCredentials: Bool = false) throws(AWSError) -> SecretReference {
        if registryCredentials, valueFrom.hasPrefix("arn:"), !valueFrom.contains(":secretsmanager:") {
            throw AWSError(type: "ResourceNotFoundException", message: "repositoryCredentials must name a Secrets Manager secret; got \(valueFrom)")
        }
        if registryCredentials, !valueFrom.hasPrefix("arn:") {
            guard let record = secrets[valueFrom] else {
                throw AWSError(type: "ResourceNotFoundException", message: "Secrets Manager can't find the specified secret: \(valueFrom)")
            }
            return SecretReference(action: "secretsmanager:GetSecretValue", resource: record.arn, sealedValue: record.sealedValue)
        }
        if valueFrom.hasPrefix("arn:"), valueFrom.contains(":secretsmanager:") {
            // arn:aws:secretsmanager:region:account:secret:name-abcdef[:json-key:stage:version]
            let parts = valueFrom.split(separator: ":", omittingEmptySubsequences: false)
            let base = parts.prefix(7).joined(separator: ":")
            let jsonKey = parts.count > 7 && !parts[7].isEmpty ? String(parts[7]) : nil
            guard let record = try? secret(base) else {
                throw AWSError(type: "ResourceNotFoundException", message: "Secrets Manager can't find the specified secret: \(base)")
            }
            return SecretReference(action: "secretsmanager:GetSecretValue", resource: record.arn, sealedValue: record.sealedValue, jsonKey: jsonKey)
        }
        guard let record = parameters[parameterName(valueFrom)] else {
            throw AWSError(type: "ParameterNotFound", message: "invalid parameters: \(valueFrom)")
        }
        return SecretReference(action: "ssm:GetParameters", resource: names.parameter(record.name), plainValue: record.value, sealedValue: record.sealedValue)
    }
}
