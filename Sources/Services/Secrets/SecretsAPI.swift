#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSProtocols
import SecretsShapes
import StevedoreCore

/// SSM Parameter Store (`AmazonSSM.<Operation>`) and Secrets Manager (`secretsmanager.<Operation>`)
/// subsets, AWS JSON 1.1. Values are sealed before they reach the committer and opened only for
/// answers that ask for them; no read that returns a value is cached.
public enum SecretsAPI {
    public static let parameterStorePrefix = "AmazonSSM"
    public static let secretsManagerPrefix = "secretsmanager"

    public static func parameterStore<Committer: StateCommitting>(committer: Committer, sealer: any ValueSealer) -> JSONOperations<Committer>
    where Committer.Root: SecretsHost {
        var api = JSONOperations(targetPrefix: parameterStorePrefix, committer: committer)
        api.custom("PutParameter") { (input: SSMPutParameterRequest, _) throws(AWSError) in
            let sealed = sealer.seal(input.Value)
            return try await committer.write { root, m throws(AWSError) in
                try root.secrets.putParameter(input, sealedValue: sealed, now: m.now, changes: &m.changes)
            }
        }
        api.custom("GetParameter") { (input: SSMGetParameterRequest, _) throws(AWSError) in
            let (record, names) = try await committer.read { root, _ throws(AWSError) in (try root.secrets.parameter(input.Name), root.secrets.names) }
            return SSMGetParameterResult(Parameter: try shape(record, decrypt: input.WithDecryption == true, names: names, sealer: sealer))
        }
        api.custom("GetParameters") { (input: SSMGetParametersRequest, _) throws(AWSError) in
            guard (1...10).contains(input.Names.count) else {
                throw AWSError(
                    type: "ValidationException",
                    message: "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10")
            }
            let (found, names) = try await committer.read { root, _ in
                (input.Names.map { (name: $0, record: try? root.secrets.parameter($0)) }, root.secrets.names)
            }
            var parameters: [SSMParameter] = []
            for entry in found {
                if let record = entry.record { parameters.append(try shape(record, decrypt: input.WithDecryption == true, names: names, sealer: sealer)) }
            }
            return SSMGetParametersResult(Parameters: parameters, InvalidParameters: found.filter { $0.record == nil }.map(\.name))
        }
        api.custom("GetParametersByPath") { (input: SSMGetParametersByPathRequest, _) throws(AWSError) in
            let (page, names) = try await committer.read { root, _ throws(AWSError) in (try root.secrets.parametersByPath(input), root.secrets.names) }
            let (records, next) = page
            var parameters: [SSMParameter] = []
            for record in records { parameters.append(try shape(record, decrypt: input.WithDecryption == true, names: names, sealer: sealer)) }
            return SSMGetParametersByPathResult(Parameters: parameters, NextToken: next)
        }
        api.write("DeleteParameter") { (root, input: SSMDeleteParameterRequest, m, _) throws(AWSError) in
            try root.secrets.deleteParameter(input.Name, changes: &m.changes)
            return SSMDeleteParameterResult()
        }
        return api
    }

    public static func secretsManager<Committer: StateCommitting>(
        committer: Committer, sealer: any ValueSealer, newVersionId: @escaping @Sendable () -> String
    ) -> JSONOperations<Committer> where Committer.Root: SecretsHost {
        var api = JSONOperations(targetPrefix: secretsManagerPrefix, committer: committer)
        api.custom("CreateSecret") { (input: SMCreateSecretRequest, _) throws(AWSError) in
            let sealed = sealer.seal(input.SecretString ?? "")
            let version = input.ClientRequestToken ?? newVersionId()
            return try await committer.write { root, m throws(AWSError) in
                try root.secrets.createSecret(input, sealedValue: sealed, versionId: version, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        api.custom("GetSecretValue") { (input: SMGetSecretValueRequest, _) throws(AWSError) in
            let record = try await committer.read { root, _ throws(AWSError) in try root.secrets.secret(input.SecretId) }
            guard let value = sealer.open(record.sealedValue) else { throw unreadable }
            return SMGetSecretValueResponse(
                ARN: record.arn, Name: record.name, VersionId: record.versionId, SecretString: value, VersionStages: ["AWSCURRENT"],
                CreatedDate: record.created)
        }
        api.custom("PutSecretValue") { (input: SMPutSecretValueRequest, _) throws(AWSError) in
            let sealed = sealer.seal(input.SecretString ?? "")
            let version = input.ClientRequestToken ?? newVersionId()
            return try await committer.write { root, m throws(AWSError) in
                try root.secrets.putSecretValue(input, sealedValue: sealed, versionId: version, changes: &m.changes)
            }
        }
        api.write("DeleteSecret") { root, input, m, _ in try root.secrets.deleteSecret(input, now: m.now, changes: &m.changes) }
        return api
    }

    /// A stored value that does not open with this control plane's key (`secret.key` replaced).
    static let unreadable = AWSError(
        type: "InternalServiceError", message: "The stored value cannot be decrypted with this control plane's key.", httpStatus: 500)

    static func shape(_ record: ParameterRecord, decrypt: Bool, names: ResourceNames, sealer: any ValueSealer) throws(AWSError) -> SSMParameter {
        var value = record.value
        if let sealed = record.sealedValue {
            // Without WithDecryption a SecureString is answered encrypted, as SSM answers it.
            if decrypt {
                guard let opened = sealer.open(sealed) else { throw unreadable }
                value = opened
            } else {
                value = sealed
            }
        }
        return SSMParameter(
            Name: record.name, Type: record.type, Value: value, Version: record.version, LastModifiedDate: record.lastModified,
            ARN: names.parameter(record.name), DataType: "text")
    }
}
