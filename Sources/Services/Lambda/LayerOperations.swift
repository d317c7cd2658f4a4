#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Archives
import LambdaShapes
import StevedoreCore

/// Lambda layers: immutable, numbered versions of a zip unpacked into `/opt`.
extension FunctionsState {
    public mutating func publishLayerVersion(
        _ name: String,
        _ request: LambdaPublishLayerVersionRequest,
        code: CodeBundle,
        now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> LambdaPublishLayerVersionResponse {
        try Self.validateLayerName(name)
        if let description = request.Description { try FunctionValidation.description(description) }
        if let runtimes = request.CompatibleRuntimes, runtimes.count > 15 {
            throw FunctionValidation.constraint(runtimes.count, "compatibleRuntimes", "Member must have length less than or equal to 15")
        }
        if let architectures = request.CompatibleArchitectures, architectures.count > 2 {
            throw FunctionValidation.constraint(architectures.count, "compatibleArchitectures", "Member must have length less than or equal to 2")
        }
        if let license = request.LicenseInfo, license.count > 512 {
            throw FunctionValidation.constraint(license.prefix(40) + "…", "licenseInfo", "Member must have length less than or equal to 512")
        }
        var record = layers[name] ?? LayerRecord(name: name)
        record.lastVersion += 1
        let version = LayerVersionRecord(
            version: record.lastVersion, description: request.Description ?? "", createdDate: LambdaTimestamp.format(now),
            compatibleRuntimes: request.CompatibleRuntimes, compatibleArchitectures: request.CompatibleArchitectures,
            licenseInfo: request.LicenseInfo, codeSha256: code.sha256, codeHash: code.hash, codeSize: code.size)
        record.versions.append(version)
        layers[name] = record
        changes.put(record)
        let view = layerView(name, version)
        return LambdaPublishLayerVersionResponse(
            Content: view.Content, LayerArn: view.LayerArn, LayerVersionArn: view.LayerVersionArn, Description: view.Description,
            CreatedDate: view.CreatedDate, Version: view.Version, CompatibleRuntimes: view.CompatibleRuntimes,
            LicenseInfo: view.LicenseInfo, CompatibleArchitectures: view.CompatibleArchitectures)
    }

    public func getLayerVersion(_ name: String, version: Int) throws(AWSError) -> LambdaGetLayerVersionResponse {
        guard let record = layers[name], let found = record.versions.first(where: { $0.version == version }) else {
            throw layerNotFound()
        }
        return layerView(name, found)
    }

    public func getLayerVersion(byArn arn: String) throws(AWSError) -> LambdaGetLayerVersionResponse {
        let (record, version) = try layerVersion(byArn: arn)
        return layerView(record.name, version)
    }

    public func listLayers(compatibleRuntime: String?, marker: String?, maxItems: Int?) throws(AWSError) -> LambdaListLayersResponse {
        let items: [LambdaLayersListItem] = layers.keys.sorted().compactMap { name in
            let record = layers[name]!
            guard let latest = record.versions.last(where: { Self.matches($0, runtime: compatibleRuntime) }) else { return nil }
            return LambdaLayersListItem(LayerName: name, LayerArn: names.layer(name), LatestMatchingVersion: listItem(name, latest))
        }
        let (page, next) = try lambdaPage(items, marker: marker, maxItems: maxItems)
        return LambdaListLayersResponse(NextMarker: next, Layers: page)
    }

    public func listLayerVersions(_ name: String, compatibleRuntime: String?, marker: String?, maxItems: Int?) throws(AWSError) -> LambdaListLayerVersionsResponse {
        let versions = (layers[name]?.versions ?? []).reversed().filter { Self.matches($0, runtime: compatibleRuntime) }
        let (page, next) = try lambdaPage(versions.map { listItem(name, $0) }, marker: marker, maxItems: maxItems)
        return LambdaListLayerVersionsResponse(NextMarker: next, LayerVersions: page)
    }

    /// Deleting a version functions still use is allowed, as in Lambda: they keep their copy.
    public mutating func deleteLayerVersion(_ name: String, version: Int, changes: inout ChangeSet) {
        guard var record = layers[name], record.versions.contains(where: { $0.version == version }) else { return }
        record.versions.removeAll { $0.version == version }
        layers[name] = record
        changes.put(record)
    }

    /// Content hashes that layer versions or functions still reference (the code store keeps these).
    public var referencedCode: Set<String> {
        var hashes: Set<String> = []
        for record in functions.values {
            for version in [record.latest] + record.versions {
                if let hash = version.codeHash { hashes.insert(hash) }
                hashes.formUnion(version.layerHashes)
            }
        }
        for record in layers.values { hashes.formUnion(record.versions.map(\.codeHash)) }
        return hashes
    }

    func layerVersion(byArn arn: String) throws(AWSError) -> (LayerRecord, LayerVersionRecord) {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 8, parts[0] == "arn", parts[2] == "lambda", parts[5] == "layer", let number = Int(parts[7]) else {
            throw AWSError.lambdaInvalidParameter(
                "1 validation error detected: Value '\(arn)' at 'layers' failed to satisfy constraint: Member must be a layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)")
        }
        guard String(parts[3]) == names.region, String(parts[4]) == names.accountId,
            let record = layers[String(parts[6])], let version = record.versions.first(where: { $0.version == number })
        else {
            throw AWSError.lambdaInvalidParameter("Layer version \(arn) does not exist.")
        }
        return (record, version)
    }

    private func layerView(_ name: String, _ version: LayerVersionRecord) -> LambdaGetLayerVersionResponse {
        LambdaGetLayerVersionResponse(
            Content: LambdaLayerVersionContentOutput(
                Location: "/v1/functions/code/\(version.codeHash)", CodeSha256: version.codeSha256, CodeSize: version.codeSize),
            LayerArn: names.layer(name), LayerVersionArn: names.layerVersion(name, version: version.version),
            Description: version.description, CreatedDate: version.createdDate, Version: version.version,
            CompatibleRuntimes: version.compatibleRuntimes, LicenseInfo: version.licenseInfo,
            CompatibleArchitectures: version.compatibleArchitectures)
    }

    private func listItem(_ name: String, _ version: LayerVersionRecord) -> LambdaLayerVersionsListItem {
        LambdaLayerVersionsListItem(
            LayerVersionArn: names.layerVersion(name, version: version.version), Version: version.version,
            Description: version.description, CreatedDate: version.createdDate, CompatibleRuntimes: version.compatibleRuntimes,
            LicenseInfo: version.licenseInfo, CompatibleArchitectures: version.compatibleArchitectures)
    }

    private func layerNotFound() -> AWSError {
        .lambdaNotFound("The resource you requested does not exist.")
    }

    private static func matches(_ version: LayerVersionRecord, runtime: String?) -> Bool {
        guard let runtime else { return true }
        return version.compatibleRuntimes?.contains { $0.rawValue == runtime } ?? false
    }

    static func validateLayerName(_ name: String) throws(AWSError) {
        guard (1...140).contains(name.count), name.utf8.allSatisfy(NameRules.isNameByte) else {
            throw FunctionValidation.constraint(name, "layerName", "Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+")
        }
    }
}
