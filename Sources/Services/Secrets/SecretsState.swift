#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SecretsShapes
import StevedoreCore

/// SSM Parameter Store's parameters and Secrets Manager's secrets. Secret values (SecureString
/// parameters, every secret) are held sealed, as the store keeps them: they are opened at the
/// edge, for an answer that asks for them or for an agent starting a task that names them.
public struct SecretsState: Sendable {
    public let names: ResourceNames
    public package(set) var parameters: [String: ParameterRecord] = [:]
    /// Secrets by name.
    public package(set) var secrets: [String: SecretRecord] = [:]

    public init(names: ResourceNames) {
        self.names = names
    }

    public static let recordKinds: [RecordKind] = [.parameters, .secrets]

    public static func restore(names: ResourceNames, rows: StoredRows) throws -> SecretsState {
        var state = SecretsState(names: names)
        for parameter in try rows.decode(ParameterRecord.self) { state.parameters[parameter.name] = parameter }
        for secret in try rows.decode(SecretRecord.self) { state.secrets[secret.name] = secret }
        return state
    }
}

/// The composed state the secrets services' operations run in.
public protocol SecretsHost: Sendable {
    var secrets: SecretsState { get set }
}

/// Seals values for the store and opens them again (AES-GCM under the control plane's key).
public protocol ValueSealer: Sendable {
    func seal(_ plaintext: String) -> String
    func open(_ sealed: String) -> String?
}

public struct ParameterRecord: StoredRecord, Equatable {
    public var name: String
    public var type: SSMParameterType
    /// The value of a String or StringList parameter; nil for a SecureString.
    public var value: String?
    /// A SecureString's value, sealed.
    public var sealedValue: String?
    public var version: Int
    public var lastModified: Date
    public var description: String?

    public static var recordKind: RecordKind { .parameters }
    public var recordKey: String { name }
}

public struct SecretRecord: StoredRecord, Equatable {
    public var name: String
    public var arn: String
    public var sealedValue: String
    public var versionId: String
    public var created: Date
    public var description: String?

    public static var recordKind: RecordKind { .secrets }
    public var recordKey: String { name }
}

extension RecordKind {
    public static let parameters = RecordKind("ssm_parameters")
    public static let secrets = RecordKind("secrets")
}

extension ResourceNames {
    /// `arn:aws:ssm:<region>:<account>:parameter/<name>` (a name that starts with `/` keeps it once).
    public func parameter(_ name: String) -> String {
        arn("ssm", "parameter" + (name.hasPrefix("/") ? name : "/" + name))
    }
}
