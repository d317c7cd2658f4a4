#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Archives
import LambdaShapes
import SQS
import StevedoreCore

/// The Lambda control API over ``FunctionsState``: functions, versions, aliases, concurrency, async
/// settings and tags. Code bytes never pass through here: the control plane stores them first and
/// hands over a ``CodeBundle``.
extension FunctionsState {
    // MARK: Functions

    public mutating func createFunction(
        _ request: LambdaCreateFunctionRequest,
        code: CodeBundle?,
        sqs: SQSState,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> LambdaFunctionConfiguration {
        let name = request.FunctionName
        guard FunctionNames.isValidName(name) else { throw FunctionNames.invalidName(name) }
        guard functions[name] == nil else {
            throw AWSError.lambdaConflict("Function already exist: \(name)")
        }
        try FunctionValidation.role(request.Role)
        let packageType = request.PackageType ?? .zip
        var imageUri: String?
        switch packageType {
        case .zip:
            guard request.Code.ImageUri == nil else {
                throw AWSError.lambdaInvalidParameter("Code.ImageUri is only for PackageType Image; this function's PackageType is Zip.")
            }
            guard let runtime = request.Runtime else {
                throw AWSError.lambdaInvalidParameter("Runtime is required for .zip file archive functions; set Runtime (e.g. provided.al2023 or python3.11).")
            }
            guard request.Handler != nil else {
                throw AWSError.lambdaInvalidParameter("Handler is required for .zip file archive functions; set Handler (e.g. app.handler).")
            }
            try checkRuntime(runtime)
            guard code != nil else {
                throw AWSError.lambdaInvalidParameter("Code.ZipFile or Code.S3Bucket and Code.S3Key are required for PackageType Zip.")
            }
        case .image:
            guard let uri = request.Code.ImageUri, !uri.isEmpty else {
                throw AWSError.lambdaInvalidParameter("Code.ImageUri is required for PackageType Image.")
            }
            guard request.Runtime == nil, request.Handler == nil else {
                throw AWSError.lambdaInvalidParameter("Runtime and Handler are not supported for PackageType Image; the image's entry point runs the function.")
            }
            guard request.Layers?.isEmpty ?? true else {
                throw AWSError.lambdaInvalidParameter("Layers are not supported for PackageType Image; add them to the image instead.")
            }
            imageUri = uri
        }
        if request.FileSystemConfigs?.isEmpty == false {
            throw AWSError.lambdaInvalidParameter("FileSystemConfigs (EFS) are not supported by Stevedore.")
        }
        let layers = try resolveLayers(request.Layers ?? [], codeSize: code?.unzippedSize ?? 0)
        var configuration = LambdaFunctionConfiguration(
            FunctionName: name,
            FunctionArn: names.function(name),
            Runtime: request.Runtime,
            Role: request.Role,
            Handler: request.Handler,
            CodeSize: code?.size ?? 0,
            Description: request.Description ?? "",
            Timeout: request.Timeout ?? settings.defaultTimeout,
            MemorySize: request.MemorySize ?? settings.defaultMemory,
            LastModified: LambdaTimestamp.format(now),
            CodeSha256: code?.sha256 ?? imageDigest(imageUri ?? ""),
            Version: FunctionNames.latest,
            TracingConfig: LambdaTracingConfigResponse(Mode: request.TracingConfig?.Mode ?? .passThrough),
            RevisionId: Identifiers.uuid(using: &generator),
            State: .pending,
            StateReason: "The function is being created.",
            StateReasonCode: .creating,
            PackageType: packageType,
            Architectures: request.Architectures ?? [.x8664],
            EphemeralStorage: LambdaEphemeralStorage(Size: request.EphemeralStorage?.Size ?? settings.defaultEphemeralStorage),
            SnapStart: LambdaSnapStartResponse(ApplyOn: request.SnapStart?.ApplyOn ?? .none_, OptimizationStatus: .off),
            LoggingConfig: LambdaLoggingConfig(
                LogFormat: request.LoggingConfig?.LogFormat ?? .text, ApplicationLogLevel: request.LoggingConfig?.ApplicationLogLevel,
                SystemLogLevel: request.LoggingConfig?.SystemLogLevel, LogGroup: request.LoggingConfig?.LogGroup ?? "/aws/lambda/\(name)")
        )
        try apply(
            ConfigurationUpdate(
                description: request.Description, timeout: request.Timeout, memorySize: request.MemorySize,
                environment: request.Environment, vpcConfig: request.VpcConfig, deadLetterConfig: request.DeadLetterConfig,
                kmsKeyArn: request.KMSKeyArn, ephemeralStorage: request.EphemeralStorage, architectures: request.Architectures,
                imageConfig: request.ImageConfig, handler: request.Handler),
            to: &configuration, sqs: sqs)
        configuration.Layers = layers.isEmpty ? nil : layers.map { LambdaLayer(Arn: $0.arn, CodeSize: $0.record.codeSize) }
        if let imageConfig = request.ImageConfig { configuration.ImageConfigResponse = LambdaImageConfigResponse(ImageConfig: imageConfig) }
        var record = FunctionRecord(
            name: name,
            latest: FunctionVersionRecord(
                configuration: configuration, codeHash: code?.hash, imageUri: imageUri, imageConfig: request.ImageConfig,
                layerHashes: layers.map(\.record.codeHash)))
        if let tags = request.Tags {
            try validateLambdaTags(tags)
            record.tags = tags
        }
        if request.Publish == true {
            _ = publish(&record, description: nil, now: now, using: &generator)
        }
        functions[name] = record
        changes.put(record)
        return configuration
    }

    /// Pending → Active (and an update's InProgress → Successful) once the code is in place.
    public mutating func activateFunction(_ name: String, revisionId: String, changes: inout ChangeSet) {
        guard var record = functions[name], record.latest.revisionId == revisionId else { return }
        func settle(_ configuration: inout LambdaFunctionConfiguration) {
            if configuration.State == .pending {
                configuration.State = .active
                configuration.StateReason = nil
                configuration.StateReasonCode = nil
            }
            if configuration.LastUpdateStatus == .inProgress || configuration.LastUpdateStatus == nil {
                configuration.LastUpdateStatus = .successful
                configuration.LastUpdateStatusReason = nil
                configuration.LastUpdateStatusReasonCode = nil
            }
        }
        settle(&record.latest.configuration)
        for index in record.versions.indices where record.versions[index].configuration.State == .pending {
            settle(&record.versions[index].configuration)
        }
        functions[name] = record
        changes.put(record)
    }

    /// An environment of an image function could not start: the function is Failed until its code changes.
    public mutating func failFunction(_ name: String, revisionId: String, reason: String, changes: inout ChangeSet) {
        guard var record = functions[name], record.latest.revisionId == revisionId,
            record.latest.configuration.State != .failed
        else { return }
        record.latest.configuration.State = .failed
        record.latest.configuration.StateReasonCode = .invalidImage
        record.latest.configuration.StateReason = String(reason.prefix(512))
        functions[name] = record
        changes.put(record)
    }

    public func getFunction(_ reference: String, qualifier: String?) throws(AWSError) -> LambdaGetFunctionResponse {
        let (record, version) = try functionVersion(reference, qualifier: qualifier)
        return LambdaGetFunctionResponse(
            Configuration: version.configuration,
            Code: version.imageUri.map { LambdaFunctionCodeLocation(RepositoryType: "ECR", ImageUri: $0, ResolvedImageUri: $0) }
                ?? LambdaFunctionCodeLocation(RepositoryType: "S3", Location: version.codeHash.map { "/v1/functions/code/\($0)" }),
            Tags: record.tags,
            Concurrency: record.reservedConcurrency.map { LambdaConcurrency(ReservedConcurrentExecutions: $0) })
    }

    public func getFunctionConfiguration(_ reference: String, qualifier: String?) throws(AWSError) -> LambdaFunctionConfiguration {
        try functionVersion(reference, qualifier: qualifier).1.configuration
    }

    public func listFunctions(marker: String?, maxItems: Int?, allVersions: Bool) throws(AWSError) -> LambdaListFunctionsResponse {
        var all: [LambdaFunctionConfiguration] = []
        for name in functions.keys.sorted() {
            let record = functions[name]!
            all.append(record.latest.configuration)
            if allVersions { all += record.versions.map(\.configuration) }
        }
        let (page, next) = try lambdaPage(all, marker: marker, maxItems: maxItems)
        return LambdaListFunctionsResponse(NextMarker: next, Functions: page)
    }

    public mutating func updateFunctionCode(
        _ reference: String,
        _ request: LambdaUpdateFunctionCodeRequest,
        code: CodeBundle?,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> LambdaFunctionConfiguration {
        var record = try latestForUpdate(reference, revisionId: request.RevisionId)
        var latest = record.latest
        switch latest.configuration.PackageType ?? .zip {
        case .zip:
            guard let code else {
                if request.ImageUri != nil {
                    throw AWSError.lambdaInvalidParameter("Please provide ZipFile for a function with PackageType Zip; ImageUri is for Image functions.")
                }
                throw AWSError.lambdaInvalidParameter("ZipFile, or S3Bucket and S3Key, are required to update the code of a Zip function.")
            }
            let layerSize = layerRecords(for: latest).reduce(0) { $0 + $1.codeSize }
            guard code.unzippedSize + layerSize <= settings.maximumUnzippedSize else {
                throw AWSError.lambdaInvalidParameter(
                    "Function code combined with layers exceeds the maximum allowed size of \(settings.maximumUnzippedSize) bytes.")
            }
            latest.codeHash = code.hash
            latest.configuration.CodeSha256 = code.sha256
            latest.configuration.CodeSize = code.size
        case .image:
            guard let uri = request.ImageUri, !uri.isEmpty else {
                throw AWSError.lambdaInvalidParameter("Please provide ImageUri for a function with PackageType Image.")
            }
            latest.imageUri = uri
            latest.configuration.CodeSha256 = imageDigest(uri)
            latest.configuration.CodeSize = 0
            if latest.configuration.State == .failed {
                latest.configuration.State = .pending
                latest.configuration.StateReason = "The function is being created."
                latest.configuration.StateReasonCode = .creating
            }
        }
        if let architectures = request.Architectures {
            try FunctionValidation.architectures(architectures)
            latest.configuration.Architectures = architectures
        }
        if request.DryRun == true { return latest.configuration }
        markUpdated(&latest.configuration, now: now, using: &generator)
        record.latest = latest
        if request.Publish == true { _ = publish(&record, description: nil, now: now, using: &generator) }
        functions[record.name] = record
        changes.put(record)
        return latest.configuration
    }

    public mutating func updateFunctionConfiguration(
        _ reference: String,
        _ request: LambdaUpdateFunctionConfigurationRequest,
        sqs: SQSState,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> LambdaFunctionConfiguration {
        var record = try latestForUpdate(reference, revisionId: request.RevisionId)
        var latest = record.latest
        if let role = request.Role {
            try FunctionValidation.role(role)
            latest.configuration.Role = role
        }
        if let runtime = request.Runtime {
            guard latest.configuration.PackageType != .image else {
                throw AWSError.lambdaInvalidParameter("Runtime is not supported for PackageType Image.")
            }
            try checkRuntime(runtime)
            latest.configuration.Runtime = runtime
        }
        if request.FileSystemConfigs?.isEmpty == false {
            throw AWSError.lambdaInvalidParameter("FileSystemConfigs (EFS) are not supported by Stevedore.")
        }
        try apply(
            ConfigurationUpdate(
                description: request.Description, timeout: request.Timeout, memorySize: request.MemorySize,
                environment: request.Environment, vpcConfig: request.VpcConfig, deadLetterConfig: request.DeadLetterConfig,
                kmsKeyArn: request.KMSKeyArn, ephemeralStorage: request.EphemeralStorage, architectures: nil,
                imageConfig: request.ImageConfig, handler: request.Handler),
            to: &latest.configuration, sqs: sqs)
        if let mode = request.TracingConfig?.Mode { latest.configuration.TracingConfig = LambdaTracingConfigResponse(Mode: mode) }
        if let logging = request.LoggingConfig {
            var merged = latest.configuration.LoggingConfig ?? LambdaLoggingConfig()
            merged.LogFormat = logging.LogFormat ?? merged.LogFormat
            merged.ApplicationLogLevel = logging.ApplicationLogLevel ?? merged.ApplicationLogLevel
            merged.SystemLogLevel = logging.SystemLogLevel ?? merged.SystemLogLevel
            merged.LogGroup = logging.LogGroup ?? merged.LogGroup
            latest.configuration.LoggingConfig = merged
        }
        if let imageConfig = request.ImageConfig {
            guard latest.configuration.PackageType == .image else {
                throw AWSError.lambdaInvalidParameter("ImageConfig is only for PackageType Image.")
            }
            latest.imageConfig = imageConfig
            latest.configuration.ImageConfigResponse = LambdaImageConfigResponse(ImageConfig: imageConfig)
        }
        if let layers = request.Layers {
            guard latest.configuration.PackageType != .image || layers.isEmpty else {
                throw AWSError.lambdaInvalidParameter("Layers are not supported for PackageType Image.")
            }
            let resolved = try resolveLayers(layers, codeSize: 0)
            latest.configuration.Layers = resolved.isEmpty ? nil : resolved.map { LambdaLayer(Arn: $0.arn, CodeSize: $0.record.codeSize) }
            latest.layerHashes = resolved.map(\.record.codeHash)
        }
        if let snap = request.SnapStart?.ApplyOn { latest.configuration.SnapStart = LambdaSnapStartResponse(ApplyOn: snap, OptimizationStatus: .off) }
        markUpdated(&latest.configuration, now: now, using: &generator)
        record.latest = latest
        functions[record.name] = record
        changes.put(record)
        return latest.configuration
    }

    /// Deletes the function, or with a version qualifier just that version.
    public mutating func deleteFunction(_ reference: String, qualifier: String?, changes: inout ChangeSet) throws(AWSError) {
        let (name, embedded) = try FunctionNames.parse(reference)
        let qualifier = qualifier ?? embedded
        guard var record = functions[name] else { throw functionNotFound(name) }
        guard let qualifier, qualifier != FunctionNames.latest else {
            functions[name] = nil
            changes.delete(FunctionRecord.self, key: name)
            for id in asyncEvents.keys where asyncEvents[id]?.functionName == name {
                asyncEvents[id] = nil
                changes.delete(AsyncEventRecord.self, key: id)
            }
            return
        }
        guard Int(qualifier) != nil else {
            throw AWSError.lambdaInvalidParameter("Deletion of aliases is not supported by DeleteFunction; use DeleteAlias for '\(qualifier)'.")
        }
        guard record.versions.contains(where: { $0.version == qualifier }) else {
            throw functionNotFound(name, qualifier: qualifier)
        }
        if let alias = record.aliases.values.first(where: { $0.FunctionVersion == qualifier || $0.RoutingConfig?.AdditionalVersionWeights?[qualifier] != nil }) {
            throw AWSError.lambdaConflict("Unable to delete version because the following aliases reference it: [\(alias.Name ?? "")]")
        }
        record.versions.removeAll { $0.version == qualifier }
        record.eventInvokeConfigs[qualifier] = nil
        functions[name] = record
        changes.put(record)
    }

    // MARK: Helpers

    /// The function record and the version a reference with an optional qualifier names (aliases resolve to their primary version).
    public func functionVersion(_ reference: String, qualifier: String?) throws(AWSError) -> (FunctionRecord, FunctionVersionRecord) {
        let (name, embedded) = try FunctionNames.parse(reference)
        if let qualifier, let embedded, qualifier != embedded {
            throw AWSError.lambdaInvalidParameter("The derived qualifier from the function name does not match the specified qualifier.")
        }
        let qualifier = qualifier ?? embedded ?? FunctionNames.latest
        guard let record = functions[name] else { throw functionNotFound(name) }
        if let version = record.version(qualifier) { return (record, version) }
        if let alias = record.aliases[qualifier], let version = record.version(alias.FunctionVersion ?? FunctionNames.latest) {
            return (record, version)
        }
        throw functionNotFound(name, qualifier: qualifier)
    }

    func functionNotFound(_ name: String, qualifier: String? = nil) -> AWSError {
        .lambdaNotFound("Function not found: \(qualifier.map { names.function(name, qualifier: $0) } ?? names.function(name))")
    }

    func aliasNotFound(_ name: String, _ alias: String) -> AWSError {
        .lambdaNotFound("Cannot find alias arn: \(names.function(name, qualifier: alias))")
    }

    func latestForUpdate(_ reference: String, revisionId: String?) throws(AWSError) -> FunctionRecord {
        let (name, qualifier) = try FunctionNames.parse(reference)
        guard let record = functions[name] else { throw functionNotFound(name) }
        if let qualifier, qualifier != FunctionNames.latest {
            throw AWSError.lambdaInvalidParameter("Only $LATEST can be updated; '\(qualifier)' is a published version or alias.")
        }
        if record.latest.configuration.State == .pending {
            throw AWSError.lambdaConflict(
                "The operation cannot be performed at this time. The function is currently in the following state: Pending")
        }
        if record.latest.configuration.LastUpdateStatus == .inProgress {
            throw AWSError.lambdaConflict(
                "The operation cannot be performed at this time. An update is in progress for resource: \(names.function(name))")
        }
        if let revisionId, revisionId != record.latest.revisionId {
            throw AWSError.lambdaPreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
        }
        return record
    }

    func checkRuntime(_ runtime: LambdaRuntime) throws(AWSError) {
        guard settings.runtimeImages[runtime.rawValue] != nil else {
            let known = settings.runtimeImages.keys.sorted().joined(separator: ", ")
            throw AWSError.lambdaInvalidParameter(
                "The runtime parameter of \(runtime.rawValue) has no runtime image on this control plane (configured: \(known)). Start ecsd with --runtime-image \(runtime.rawValue)=IMAGE to add one.")
        }
    }

    struct ConfigurationUpdate {
        var description: String?
        var timeout: Int?
        var memorySize: Int?
        var environment: LambdaEnvironment?
        var vpcConfig: LambdaVpcConfig?
        var deadLetterConfig: LambdaDeadLetterConfig?
        var kmsKeyArn: String?
        var ephemeralStorage: LambdaEphemeralStorage?
        var architectures: [LambdaArchitecture]?
        var imageConfig: LambdaImageConfig?
        var handler: String?
    }

    func apply(_ update: ConfigurationUpdate, to configuration: inout LambdaFunctionConfiguration, sqs: SQSState) throws(AWSError) {
        if let handler = update.handler {
            try FunctionValidation.handler(handler)
            configuration.Handler = handler
        }
        if let description = update.description {
            try FunctionValidation.description(description)
            configuration.Description = description
        }
        if let timeout = update.timeout {
            try FunctionValidation.timeout(timeout, settings)
            configuration.Timeout = timeout
        }
        if let memory = update.memorySize {
            try FunctionValidation.memory(memory, settings)
            configuration.MemorySize = memory
        }
        if let storage = update.ephemeralStorage {
            try FunctionValidation.ephemeralStorage(storage.Size, settings)
            configuration.EphemeralStorage = storage
        }
        if let architectures = update.architectures { try FunctionValidation.architectures(architectures) }
        if let environment = update.environment {
            let variables = environment.Variables ?? [:]
            try FunctionValidation.environment(variables, settings)
            configuration.Environment = variables.isEmpty ? nil : LambdaEnvironmentResponse(Variables: variables)
        }
        if let vpc = update.vpcConfig {
            try FunctionValidation.vpc(vpc)
            let empty = (vpc.SubnetIds ?? []).isEmpty && (vpc.SecurityGroupIds ?? []).isEmpty
            configuration.VpcConfig =
                empty
                ? nil
                : LambdaVpcConfigResponse(
                    SubnetIds: vpc.SubnetIds ?? [], SecurityGroupIds: vpc.SecurityGroupIds ?? [], VpcId: "",
                    Ipv6AllowedForDualStack: vpc.Ipv6AllowedForDualStack ?? false)
        }
        if let deadLetter = update.deadLetterConfig {
            if let target = deadLetter.TargetArn, !target.isEmpty {
                try checkQueueTarget(target, field: "DeadLetterConfig.TargetArn", sqs: sqs)
                configuration.DeadLetterConfig = deadLetter
            } else {
                configuration.DeadLetterConfig = nil
            }
        }
        if let key = update.kmsKeyArn { configuration.KMSKeyArn = key.isEmpty ? nil : key }
    }

    /// Dead-letter and destination targets must be queues of this control plane's SQS API.
    func checkQueueTarget(_ arn: String, field: String, sqs: SQSState) throws(AWSError) {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[2] == "sqs" || parts[2] == "sns" else {
            throw AWSError.lambdaInvalidParameter("\(field) must be an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME); got '\(arn)'.")
        }
        guard parts[2] == "sqs" else {
            throw AWSError.lambdaInvalidParameter("\(field): SNS topics are not supported by Stevedore; use an SQS queue ARN.")
        }
        guard sqs.queues[String(parts[5])] != nil else {
            throw AWSError.lambdaInvalidParameter("\(field) names queue '\(parts[5])', which does not exist; create it first (sqs create-queue).")
        }
    }

    func resolveLayers(_ arns: [String], codeSize: Int) throws(AWSError) -> [(arn: String, record: LayerVersionRecord)] {
        guard arns.count <= settings.maximumLayers else {
            throw FunctionValidation.constraint(arns.count, "layers", "Member must have length less than or equal to \(settings.maximumLayers)")
        }
        var resolved: [(arn: String, record: LayerVersionRecord)] = []
        var seenLayers: Set<String> = []
        for arn in arns {
            let (layer, version) = try layerVersion(byArn: arn)
            guard seenLayers.insert(layer.name).inserted else {
                throw AWSError.lambdaInvalidParameter("Two different versions of the same layer are not allowed: \(layer.name).")
            }
            resolved.append((names.layerVersion(layer.name, version: version.version), version))
        }
        let total = resolved.reduce(codeSize) { $0 + $1.record.codeSize }
        guard total <= settings.maximumUnzippedSize else {
            throw AWSError.lambdaInvalidParameter(
                "Function code combined with layers exceeds the maximum allowed size of \(settings.maximumUnzippedSize) bytes.")
        }
        return resolved
    }

    func layerRecords(for version: FunctionVersionRecord) -> [LayerVersionRecord] {
        (version.configuration.Layers ?? []).compactMap { layer in
            guard let arn = layer.Arn else { return nil }
            return try? layerVersion(byArn: arn).1
        }
    }

    func markUpdated(_ configuration: inout LambdaFunctionConfiguration, now: Date, using generator: inout some RandomNumberGenerator) {
        configuration.LastModified = LambdaTimestamp.format(now)
        configuration.RevisionId = Identifiers.uuid(using: &generator)
        configuration.LastUpdateStatus = .inProgress
        configuration.LastUpdateStatusReason = "The function is being updated."
        configuration.LastUpdateStatusReasonCode = nil
    }

    func publish(
        _ record: inout FunctionRecord, description: String?, now: Date, using generator: inout some RandomNumberGenerator
    ) -> LambdaFunctionConfiguration {
        record.lastVersionNumber += 1
        let number = String(record.lastVersionNumber)
        var version = record.latest
        version.configuration.Version = number
        version.configuration.FunctionArn = names.function(record.name, qualifier: number)
        version.configuration.LastModified = LambdaTimestamp.format(now)
        version.configuration.RevisionId = Identifiers.uuid(using: &generator)
        if let description { version.configuration.Description = description }
        record.versions.append(version)
        return version.configuration
    }

    func sameCodeAndConfiguration(_ a: FunctionVersionRecord, _ b: FunctionVersionRecord) -> Bool {
        func normalized(_ v: FunctionVersionRecord) -> FunctionVersionRecord {
            var v = v
            v.configuration.Version = nil
            v.configuration.FunctionArn = nil
            v.configuration.LastModified = nil
            v.configuration.RevisionId = nil
            v.configuration.Description = nil
            v.configuration.State = nil
            v.configuration.StateReason = nil
            v.configuration.StateReasonCode = nil
            v.configuration.LastUpdateStatus = nil
            v.configuration.LastUpdateStatusReason = nil
            return v
        }
        return normalized(a) == normalized(b)
    }

    func validateAliasName(_ name: String) throws(AWSError) {
        guard (1...128).contains(name.count), name.utf8.allSatisfy(NameRules.isNameByte), !name.allSatisfy(\.isNumber) else {
            throw FunctionValidation.constraint(name, "name", "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)")
        }
    }

    func validateAliasTarget(_ record: FunctionRecord, version: String, routing: LambdaAliasRoutingConfiguration?) throws(AWSError) {
        guard record.version(version) != nil else {
            throw AWSError.lambdaNotFound("Function not found: \(names.function(record.name, qualifier: version))")
        }
        let weights = routing?.AdditionalVersionWeights ?? [:]
        guard weights.count <= 1 else {
            throw AWSError.lambdaInvalidParameter("Number of items in AdditionalVersionWeights cannot be greater than 1")
        }
        for (extra, weight) in weights {
            guard (0.0...1.0).contains(weight) else {
                throw FunctionValidation.constraint(weight, "routingConfig.additionalVersionWeights", "Member must have value between 0.0 and 1.0")
            }
            guard record.version(extra) != nil, extra != FunctionNames.latest else {
                throw AWSError.lambdaInvalidParameter("Invalid function version \(extra). Function version \(extra) does not exist or is $LATEST (weighted aliases route between published versions).")
            }
            guard version != FunctionNames.latest else {
                throw AWSError.lambdaInvalidParameter("$LATEST is not supported for an alias pointing to more than 1 version")
            }
            guard extra != version else {
                throw AWSError.lambdaInvalidParameter("Cannot set the primary version \(version) as an additional version.")
            }
        }
    }

    func functionForTagging(_ arn: String) throws(AWSError) -> FunctionRecord {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 7, parts[0] == "arn", parts[2] == "lambda", parts[5] == "function" else {
            throw AWSError.lambdaInvalidParameter("Tags apply to unqualified function ARNs (arn:aws:lambda:REGION:ACCOUNT:function:NAME); got '\(arn)'.")
        }
        let name = String(parts[6])
        guard let record = functions[name] else { throw functionNotFound(name) }
        return record
    }

    func validateLambdaTags(_ tags: [String: String]) throws(AWSError) {
        guard tags.count <= 50 else { throw AWSError.lambdaInvalidParameter("A function can have at most 50 tags.") }
        for (key, value) in tags {
            guard (1...128).contains(key.count), !key.lowercased().hasPrefix("aws:") else {
                throw AWSError.lambdaInvalidParameter("Tag key '\(key)' must be 1 to 128 characters and must not start with 'aws:'.")
            }
            guard value.count <= 256 else { throw AWSError.lambdaInvalidParameter("Tag value for '\(key)' must be at most 256 characters.") }
        }
    }

    /// Lambda shows an image function's CodeSha256 as the image digest; without a registry, a digest of its URI.
    func imageDigest(_ uri: String) -> String {
        Digest.hex(Digest.sha256(Array(uri.utf8)))
    }

    /// `Marker`/`MaxItems` pagination (the marker is an opaque offset).
    func lambdaPage<Item>(_ all: [Item], marker: String?, maxItems: Int?) throws(AWSError) -> ([Item], String?) {
        let limit = maxItems ?? 50
        guard (1...10000).contains(limit) else {
            throw FunctionValidation.constraint(limit, "maxItems", "Member must have value between 1 and 10000")
        }
        var start = 0
        if let marker {
            guard let offset = Int(marker), offset >= 0, offset <= all.count else {
                throw AWSError.lambdaInvalidParameter("Invalid Marker '\(marker)': pass the NextMarker of the previous page.")
            }
            start = offset
        }
        let end = min(all.count, start + limit)
        return (Array(all[start..<end]), end < all.count ? String(end) : nil)
    }
}
