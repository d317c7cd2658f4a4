#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LambdaShapes
import SQS
import StevedoreCore

/// Versions, aliases, concurrency, asynchronous invocation settings and tags of functions.
extension FunctionsState {
    // MARK: Versions

    public mutating func publishVersion(
        _ reference: String,
        _ request: LambdaPublishVersionRequest,
        now: Date,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> LambdaFunctionConfiguration {
        var record = try latestForUpdate(reference, revisionId: request.RevisionId)
        if let sha = request.CodeSha256, sha != record.latest.configuration.CodeSha256 {
            throw AWSError.lambdaPreconditionFailed(
                "CodeSHA256 (\(sha)) is different from current CodeSHA256 in $LATEST (\(record.latest.configuration.CodeSha256 ?? "")). Please try again with the CodeSHA256 in $LATEST.")
        }
        // Publishing an unchanged $LATEST returns the newest version instead of a copy.
        if let newest = record.versions.last, sameCodeAndConfiguration(newest, record.latest) {
            return newest.configuration
        }
        let configuration = publish(&record, description: request.Description, now: now, using: &generator)
        functions[record.name] = record
        changes.put(record)
        return configuration
    }

    public func listVersions(_ reference: String, marker: String?, maxItems: Int?) throws(AWSError) -> LambdaListVersionsByFunctionResponse {
        let (name, _) = try FunctionNames.parse(reference)
        guard let record = functions[name] else { throw functionNotFound(name) }
        let all = [record.latest.configuration] + record.versions.map(\.configuration)
        let (page, next) = try lambdaPage(all, marker: marker, maxItems: maxItems)
        return LambdaListVersionsByFunctionResponse(NextMarker: next, Versions: page)
    }

    // MARK: Aliases

    public mutating func createAlias(
        _ reference: String,
        _ request: LambdaCreateAliasRequest,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> LambdaAliasConfiguration {
        let (name, _) = try FunctionNames.parse(reference)
        guard var record = functions[name] else { throw functionNotFound(name) }
        try validateAliasName(request.Name)
        guard record.aliases[request.Name] == nil else {
            throw AWSError.lambdaConflict("Alias already exists: \(names.function(name, qualifier: request.Name))")
        }
        try validateAliasTarget(record, version: request.FunctionVersion, routing: request.RoutingConfig)
        let alias = LambdaAliasConfiguration(
            AliasArn: names.function(name, qualifier: request.Name), Name: request.Name, FunctionVersion: request.FunctionVersion,
            Description: request.Description ?? "", RoutingConfig: request.RoutingConfig,
            RevisionId: Identifiers.uuid(using: &generator))
        if let description = request.Description { try FunctionValidation.description(description) }
        record.aliases[request.Name] = alias
        functions[name] = record
        changes.put(record)
        return alias
    }

    public mutating func updateAlias(
        _ reference: String,
        alias aliasName: String,
        _ request: LambdaUpdateAliasRequest,
        using generator: inout some RandomNumberGenerator,
        changes: inout ChangeSet
    ) throws(AWSError) -> LambdaAliasConfiguration {
        let (name, _) = try FunctionNames.parse(reference)
        guard var record = functions[name] else { throw functionNotFound(name) }
        guard var alias = record.aliases[aliasName] else { throw aliasNotFound(name, aliasName) }
        if let revision = request.RevisionId, revision != alias.RevisionId {
            throw AWSError.lambdaPreconditionFailed("The Revision Id provided does not match the latest Revision Id. Call the GetAlias API to retrieve the latest Revision Id")
        }
        let version = request.FunctionVersion ?? alias.FunctionVersion ?? FunctionNames.latest
        let routing = request.RoutingConfig ?? alias.RoutingConfig
        try validateAliasTarget(record, version: version, routing: routing)
        if let description = request.Description {
            try FunctionValidation.description(description)
            alias.Description = description
        }
        alias.FunctionVersion = version
        alias.RoutingConfig = (routing?.AdditionalVersionWeights?.isEmpty ?? true) ? nil : routing
        alias.RevisionId = Identifiers.uuid(using: &generator)
        record.aliases[aliasName] = alias
        functions[name] = record
        changes.put(record)
        return alias
    }

    public func getAlias(_ reference: String, alias: String) throws(AWSError) -> LambdaAliasConfiguration {
        let (name, _) = try FunctionNames.parse(reference)
        guard let record = functions[name] else { throw functionNotFound(name) }
        guard let found = record.aliases[alias] else { throw aliasNotFound(name, alias) }
        return found
    }

    public func listAliases(_ reference: String, version: String?, marker: String?, maxItems: Int?) throws(AWSError) -> LambdaListAliasesResponse {
        let (name, _) = try FunctionNames.parse(reference)
        guard let record = functions[name] else { throw functionNotFound(name) }
        let all = record.aliases.keys.sorted().compactMap { record.aliases[$0] }.filter { version == nil || $0.FunctionVersion == version }
        let (page, next) = try lambdaPage(all, marker: marker, maxItems: maxItems)
        return LambdaListAliasesResponse(NextMarker: next, Aliases: page)
    }

    public mutating func deleteAlias(_ reference: String, alias: String, changes: inout ChangeSet) throws(AWSError) {
        let (name, _) = try FunctionNames.parse(reference)
        guard var record = functions[name] else { throw functionNotFound(name) }
        // Deleting a missing alias succeeds, as in Lambda.
        guard record.aliases.removeValue(forKey: alias) != nil else { return }
        record.eventInvokeConfigs[alias] = nil
        // What belongs to the alias goes with it: its function URL and its policy's statements.
        record.urls?[alias] = nil
        if record.urls?.isEmpty == true { record.urls = nil }
        record.permissions?.removeAll { $0.qualifier == alias }
        functions[name] = record
        changes.put(record)
    }

    // MARK: Concurrency

    public mutating func putFunctionConcurrency(_ reference: String, reserved: Int, changes: inout ChangeSet) throws(AWSError) -> LambdaConcurrency {
        let (name, _) = try FunctionNames.parse(reference)
        guard var record = functions[name] else { throw functionNotFound(name) }
        guard reserved >= 0 else {
            throw FunctionValidation.constraint(reserved, "reservedConcurrentExecutions", "Member must have value greater than or equal to 0")
        }
        let reservedElsewhere = functions.values.reduce(0) { $0 + ($1.name == name ? 0 : $1.reservedConcurrency ?? 0) }
        guard settings.concurrencyLimit - reservedElsewhere - reserved >= settings.unreservedMinimum else {
            throw AWSError.lambdaInvalidParameter(
                "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [\(settings.unreservedMinimum)].")
        }
        record.reservedConcurrency = reserved
        functions[name] = record
        changes.put(record)
        return LambdaConcurrency(ReservedConcurrentExecutions: reserved)
    }

    public func getFunctionConcurrency(_ reference: String) throws(AWSError) -> LambdaGetFunctionConcurrencyResponse {
        let (name, _) = try FunctionNames.parse(reference)
        guard let record = functions[name] else { throw functionNotFound(name) }
        return LambdaGetFunctionConcurrencyResponse(ReservedConcurrentExecutions: record.reservedConcurrency)
    }

    public mutating func deleteFunctionConcurrency(_ reference: String, changes: inout ChangeSet) throws(AWSError) {
        let (name, _) = try FunctionNames.parse(reference)
        guard var record = functions[name] else { throw functionNotFound(name) }
        record.reservedConcurrency = nil
        functions[name] = record
        changes.put(record)
    }

    public func accountSettings() -> LambdaGetAccountSettingsResponse {
        let reserved = functions.values.reduce(0) { $0 + ($1.reservedConcurrency ?? 0) }
        let codeSize = functions.values.reduce(0) { total, record in
            total + (record.latest.configuration.CodeSize ?? 0) + record.versions.reduce(0) { $0 + ($1.configuration.CodeSize ?? 0) }
        }
        return LambdaGetAccountSettingsResponse(
            AccountLimit: LambdaAccountLimit(
                TotalCodeSize: 80_530_636_800, CodeSizeUnzipped: settings.maximumUnzippedSize, CodeSizeZipped: settings.maximumZipSize,
                ConcurrentExecutions: settings.concurrencyLimit, UnreservedConcurrentExecutions: settings.concurrencyLimit - reserved),
            AccountUsage: LambdaAccountUsage(TotalCodeSize: codeSize, FunctionCount: functions.count))
    }

    // MARK: Asynchronous invocation settings

    public mutating func putEventInvokeConfig(
        _ reference: String,
        qualifier: String?,
        retries: Int?,
        maximumAge: Int?,
        destinations: LambdaDestinationConfig?,
        merge: Bool,
        sqs: SQSState,
        now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> LambdaFunctionEventInvokeConfig {
        let (name, embedded) = try FunctionNames.parse(reference)
        let qualifier = qualifier ?? embedded ?? FunctionNames.latest
        guard var record = functions[name] else { throw functionNotFound(name) }
        guard record.version(qualifier) != nil || record.aliases[qualifier] != nil else { throw functionNotFound(name, qualifier: qualifier) }
        if let retries, !(0...2).contains(retries) {
            throw FunctionValidation.constraint(retries, "maximumRetryAttempts", "Member must have value between 0 and 2")
        }
        if let maximumAge, !(60...21600).contains(maximumAge) {
            throw FunctionValidation.constraint(maximumAge, "maximumEventAgeInSeconds", "Member must have value between 60 and 21600")
        }
        for destination in [destinations?.OnSuccess?.Destination, destinations?.OnFailure?.Destination].compactMap({ $0 }) {
            try checkQueueTarget(destination, field: "DestinationConfig", sqs: sqs)
        }
        var config = merge ? (record.eventInvokeConfigs[qualifier] ?? LambdaFunctionEventInvokeConfig()) : LambdaFunctionEventInvokeConfig()
        if !merge || retries != nil { config.MaximumRetryAttempts = retries }
        if !merge || maximumAge != nil { config.MaximumEventAgeInSeconds = maximumAge }
        if !merge || destinations != nil { config.DestinationConfig = destinations ?? LambdaDestinationConfig(OnSuccess: LambdaOnSuccess(), OnFailure: LambdaOnFailure()) }
        if config.DestinationConfig == nil { config.DestinationConfig = LambdaDestinationConfig(OnSuccess: LambdaOnSuccess(), OnFailure: LambdaOnFailure()) }
        config.FunctionArn = names.function(name, qualifier: qualifier)
        config.LastModified = now
        record.eventInvokeConfigs[qualifier] = config
        functions[name] = record
        changes.put(record)
        return config
    }

    public func getEventInvokeConfig(_ reference: String, qualifier: String?) throws(AWSError) -> LambdaFunctionEventInvokeConfig {
        let (name, embedded) = try FunctionNames.parse(reference)
        let qualifier = qualifier ?? embedded ?? FunctionNames.latest
        guard let record = functions[name] else { throw functionNotFound(name) }
        guard let config = record.eventInvokeConfigs[qualifier] else {
            throw AWSError.lambdaNotFound("The function \(names.function(name, qualifier: qualifier)) doesn't have an EventInvokeConfig")
        }
        return config
    }

    public func listEventInvokeConfigs(_ reference: String, marker: String?, maxItems: Int?) throws(AWSError) -> LambdaListFunctionEventInvokeConfigsResponse {
        let (name, _) = try FunctionNames.parse(reference)
        guard let record = functions[name] else { throw functionNotFound(name) }
        let all = record.eventInvokeConfigs.keys.sorted().compactMap { record.eventInvokeConfigs[$0] }
        let (page, next) = try lambdaPage(all, marker: marker, maxItems: maxItems)
        return LambdaListFunctionEventInvokeConfigsResponse(FunctionEventInvokeConfigs: page, NextMarker: next)
    }

    public mutating func deleteEventInvokeConfig(_ reference: String, qualifier: String?, changes: inout ChangeSet) throws(AWSError) {
        let (name, embedded) = try FunctionNames.parse(reference)
        let qualifier = qualifier ?? embedded ?? FunctionNames.latest
        guard var record = functions[name] else { throw functionNotFound(name) }
        guard record.eventInvokeConfigs.removeValue(forKey: qualifier) != nil else {
            throw AWSError.lambdaNotFound("The function \(names.function(name, qualifier: qualifier)) doesn't have an EventInvokeConfig")
        }
        functions[name] = record
        changes.put(record)
    }

    // MARK: Tags

    public mutating func tagFunction(_ arn: String, tags: [String: String], changes: inout ChangeSet) throws(AWSError) {
        var record = try functionForTagging(arn)
        try validateLambdaTags(tags)
        record.tags.merge(tags) { _, new in new }
        guard record.tags.count <= 50 else { throw AWSError.lambdaInvalidParameter("A function can have at most 50 tags.") }
        functions[record.name] = record
        changes.put(record)
    }

    public mutating func untagFunction(_ arn: String, keys: [String], changes: inout ChangeSet) throws(AWSError) {
        var record = try functionForTagging(arn)
        for key in keys { record.tags[key] = nil }
        functions[record.name] = record
        changes.put(record)
    }

    public func functionTags(_ arn: String) throws(AWSError) -> [String: String] {
        try functionForTagging(arn).tags
    }
}
