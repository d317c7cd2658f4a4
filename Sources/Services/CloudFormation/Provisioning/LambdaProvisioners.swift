#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Archives
import StevedoreCore

private let functions = "/2015-03-31/functions"

/// `AWS::Lambda::Function`: CreateFunction, UpdateFunctionConfiguration and UpdateFunctionCode,
/// PutFunctionConcurrency, DeleteFunction. Inline `Code.ZipFile` source becomes `index.<ext>` in a zip.
struct LambdaFunctionProvisioner: ResourceProvisioner {
    static let configuration = [
        "Role", "Handler", "Runtime", "Description", "Timeout", "MemorySize", "Environment", "Layers", "DeadLetterConfig", "TracingConfig",
        "EphemeralStorage", "LoggingConfig", "VpcConfig", "KmsKeyArn", "ImageConfig", "FileSystemConfigs",
    ]
    static let numbers: Set<String> = ["Timeout", "MemorySize"]

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let functionName = properties["FunctionName"]?.string ?? name
        var body = properties.picking(Self.configuration + ["Architectures", "PackageType"]).numbering(Self.numbers)
        body = body.with("FunctionName", .string(functionName)).with("Code", Self.code(properties))
        var tags: [(String, Document)] = context.tags(properties["Tags"]).map { ($0.0, .string($0.1)) }
        tags.removeAll { $0.0.hasPrefix("aws:") }
        body = body.with("Tags", .object(tags))
        let answer = try await context.calls.rest("POST", functions, body: body)
        if let reserved = properties.integer("ReservedConcurrentExecutions") {
            try await completing { () async throws(AWSError) in
                _ = try await context.calls.rest(
                    "PUT", "/2017-10-31/functions/\(escaped(functionName))/concurrency", body: .object([("ReservedConcurrentExecutions", .integer(reserved))]))
            } orUndo: { () async throws(AWSError) in
                try await delete(functionName, properties: properties, values: nil, context: context)
            }
        }
        return ResourceValues(ref: functionName, attributes: ["Arn": answer["FunctionArn"]?.string ?? context.names.arn("lambda", "function:\(functionName)")])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let name = escaped(current.ref)
        _ = try await context.calls.rest("PUT", "\(functions)/\(name)/configuration", body: properties.picking(Self.configuration).numbering(Self.numbers))
        if properties["Code"] != previous["Code"] || properties["Architectures"] != previous["Architectures"] {
            var code = Self.code(properties)
            if let architectures = properties["Architectures"] { code = code.with("Architectures", architectures) }
            _ = try await context.calls.rest("PUT", "\(functions)/\(name)/code", body: code)
        }
        if properties["ReservedConcurrentExecutions"] != previous["ReservedConcurrentExecutions"] {
            if let reserved = properties.integer("ReservedConcurrentExecutions") {
                _ = try await context.calls.rest("PUT", "/2017-10-31/functions/\(name)/concurrency", body: .object([("ReservedConcurrentExecutions", .integer(reserved))]))
            } else {
                _ = try await context.calls.rest("DELETE", "/2017-10-31/functions/\(name)/concurrency", body: nil)
            }
        }
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await context.calls.rest("DELETE", "\(functions)/\(escaped(physicalId))", body: nil)
    }

    /// The `Code` member as CreateFunction takes it: inline source zipped as `index` with the runtime's extension.
    static func code(_ properties: Document) -> Document {
        guard let code = properties["Code"] else { return .object([]) }
        guard let source = code["ZipFile"]?.string else { return code }
        let runtime = properties["Runtime"]?.string ?? ""
        let file = runtime.hasPrefix("nodejs") ? "index.js" : runtime.hasPrefix("python") ? "index.py" : runtime.hasPrefix("ruby") ? "index.rb" : "index"
        var writer = ZipWriter()
        writer.add(path: file, contents: Array(source.utf8), mode: 0o644)
        return .object([("ZipFile", .string(Data(writer.finish()).base64EncodedString()))])
    }
}

/// `AWS::Lambda::Version`: PublishVersion; Ref is the version's ARN.
struct LambdaVersionProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let function = properties["FunctionName"]?.string ?? ""
        let answer = try await context.calls.rest(
            "POST", "\(functions)/\(escaped(function))/versions", body: properties.picking(["Description", "CodeSha256"]))
        let arn = answer["FunctionArn"]?.string ?? ""
        return ResourceValues(ref: arn, attributes: ["Version": answer["Version"]?.string ?? "", "FunctionArn": arn])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        guard let colon = physicalId.lastIndex(of: ":") else { return }
        let function = String(physicalId[..<colon])
        _ = try await context.calls.rest("DELETE", "\(functions)/\(escaped(function))?Qualifier=\(escaped(String(physicalId[physicalId.index(after: colon)...])))", body: nil)
    }
}

/// `AWS::Lambda::Alias`: CreateAlias, UpdateAlias, DeleteAlias; Ref is the alias's ARN.
struct LambdaAliasProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let function = properties["FunctionName"]?.string ?? ""
        let answer = try await context.calls.rest("POST", "\(functions)/\(escaped(function))/aliases", body: Self.body(properties, includeName: true))
        let arn = answer["AliasArn"]?.string ?? ""
        return ResourceValues(ref: arn, attributes: ["AliasArn": arn])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let function = properties["FunctionName"]?.string ?? ""
        let alias = properties["Name"]?.string ?? ""
        _ = try await context.calls.rest("PUT", "\(functions)/\(escaped(function))/aliases/\(escaped(alias))", body: Self.body(properties, includeName: false))
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        let function = properties["FunctionName"]?.string ?? ""
        let alias = properties["Name"]?.string ?? ""
        _ = try await context.calls.rest("DELETE", "\(functions)/\(escaped(function))/aliases/\(escaped(alias))", body: nil)
    }

    /// CloudFormation lists routing weights; the API takes them as a map of version to weight.
    static func body(_ properties: Document, includeName: Bool) -> Document {
        var body = properties.picking(includeName ? ["Name", "FunctionVersion", "Description"] : ["FunctionVersion", "Description"])
        let weights = properties["RoutingConfig"]?["AdditionalVersionWeights"]?.items ?? []
        if !weights.isEmpty {
            let map: [(String, Document)] = weights.compactMap { weight in
                guard let version = weight["FunctionVersion"]?.string, let value = weight["FunctionWeight"]?.string, let number = Double(value) else { return nil }
                return (version, .number(number))
            }
            body = body.with("RoutingConfig", .object([("AdditionalVersionWeights", .object(map))]))
        }
        return body
    }
}

/// `AWS::Lambda::Permission`: AddPermission with a statement id of its own; RemovePermission.
struct LambdaPermissionProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let function = properties["FunctionName"]?.string ?? ""
        let body = properties.picking(["Action", "Principal", "SourceArn", "SourceAccount", "EventSourceToken", "FunctionUrlAuthType", "PrincipalOrgID"])
            .with("StatementId", .string(name))
        _ = try await context.calls.rest("POST", "\(functions)/\(escaped(function))/policy", body: body)
        return ResourceValues(ref: name)
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        let function = properties["FunctionName"]?.string ?? ""
        _ = try await context.calls.rest("DELETE", "\(functions)/\(escaped(function))/policy/\(escaped(physicalId))", body: nil)
    }
}

/// `AWS::Lambda::LayerVersion`: PublishLayerVersion, DeleteLayerVersion; Ref is the version's ARN.
struct LambdaLayerProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let layer = properties["LayerName"]?.string ?? context.logicalId
        let answer = try await context.calls.rest(
            "POST", "/2018-10-31/layers/\(escaped(layer))/versions",
            body: properties.picking(["Content", "CompatibleRuntimes", "CompatibleArchitectures", "Description", "LicenseInfo"]))
        let arn = answer["LayerVersionArn"]?.string ?? ""
        return ResourceValues(ref: arn, attributes: ["LayerVersionArn": arn])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        // arn:aws:lambda:region:account:layer:NAME:VERSION
        let parts = physicalId.split(separator: ":")
        guard parts.count == 8 else { return }
        _ = try await context.calls.rest("DELETE", "/2018-10-31/layers/\(escaped(String(parts[6])))/versions/\(parts[7])", body: nil)
    }
}

/// `AWS::Lambda::EventSourceMapping`: Create, Update and DeleteEventSourceMapping; Ref is its UUID.
struct EventSourceMappingProvisioner: ResourceProvisioner {
    static let members = [
        "FunctionName", "Enabled", "BatchSize", "MaximumBatchingWindowInSeconds", "FilterCriteria", "FunctionResponseTypes", "ScalingConfig",
        "DestinationConfig", "MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError", "ParallelizationFactor",
        "TumblingWindowInSeconds",
    ]
    static let numbers: Set<String> = [
        "BatchSize", "MaximumBatchingWindowInSeconds", "MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "ParallelizationFactor",
        "TumblingWindowInSeconds", "Enabled", "BisectBatchOnFunctionError",
    ]

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let body = properties.picking(Self.members + ["EventSourceArn", "StartingPosition", "StartingPositionTimestamp"]).numbering(Self.numbers)
        let answer = try await context.calls.rest("POST", "/2015-03-31/event-source-mappings", body: body)
        let id = answer["UUID"]?.string ?? ""
        return ResourceValues(ref: id, attributes: ["Id": id, "EventSourceMappingArn": answer["EventSourceMappingArn"]?.string ?? ""])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        _ = try await context.calls.rest("PUT", "/2015-03-31/event-source-mappings/\(current.ref)", body: properties.picking(Self.members).numbering(Self.numbers))
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await context.calls.rest("DELETE", "/2015-03-31/event-source-mappings/\(physicalId)", body: nil)
    }
}

/// `AWS::Lambda::EventInvokeConfig`: Put and DeleteFunctionEventInvokeConfig.
struct EventInvokeConfigProvisioner: ResourceProvisioner {
    func path(_ properties: Document) -> String {
        let function = properties["FunctionName"]?.string ?? ""
        let qualifier = properties["Qualifier"]?.string ?? "$LATEST"
        return "/2019-09-25/functions/\(escaped(function))/event-invoke-config?Qualifier=\(escaped(qualifier))"
    }

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let body = properties.picking(["MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig"])
            .numbering(["MaximumRetryAttempts", "MaximumEventAgeInSeconds"])
        _ = try await context.calls.rest("PUT", path(properties), body: body)
        return ResourceValues(ref: name)
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        _ = try await create(properties, name: current.ref, context: context)
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await context.calls.rest("DELETE", path(properties), body: nil)
    }
}

/// `AWS::Lambda::Url`: Create/Update/DeleteFunctionUrlConfig on `TargetFunctionArn` (and
/// `Qualifier`); Ref is the function's ARN, `FunctionUrl` its URL.
struct LambdaUrlProvisioner: ResourceProvisioner {
    static let path = "/2021-10-31/functions"

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let answer = try await context.calls.rest(
            "POST", Self.target(properties), body: properties.picking(["AuthType", "Cors", "InvokeMode"]))
        let arn = answer["FunctionArn"]?.string ?? ""
        return ResourceValues(ref: arn, attributes: ["FunctionArn": arn, "FunctionUrl": answer["FunctionUrl"]?.string ?? ""])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let answer = try await context.calls.rest("PUT", Self.target(properties), body: properties.picking(["AuthType", "Cors", "InvokeMode"]))
        return ResourceValues(ref: current.ref, attributes: ["FunctionArn": current.ref, "FunctionUrl": answer["FunctionUrl"]?.string ?? ""])
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await context.calls.rest("DELETE", Self.target(properties), body: nil)
    }

    static func target(_ properties: Document) -> String {
        let function = properties["TargetFunctionArn"]?.string ?? ""
        let qualifier = properties["Qualifier"]?.string.map { "?Qualifier=\(escaped($0))" } ?? ""
        return "\(path)/\(escaped(function))/url\(qualifier)"
    }
}
