#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import AWSProtocols
import LambdaShapes
import SQS
import StevedoreCore

/// The Lambda API over REST-JSON (`/2015-03-31/functions…` and the other dated prefixes), with
/// Lambda's error shape: `x-amzn-ErrorType`, `{"Type": "User", "message": …}`. Reads and writes go
/// through the committer; invocations, the asynchronous queue and code bytes through the
/// ``FunctionRuntime`` the control plane provides.
public enum LambdaAPI {
    /// Room for a 50 MB zip, base64-encoded, in a JSON body.
    public static let codeRequestLimit = 72 << 20
    static let functions = "/2015-03-31/functions"

    /// A zip given inline or as an object store location (both at once is refused, as Lambda does).
    static func codeBytes(zip: Data?, bucket: String?, key: String?, runtime: any FunctionRuntime) async throws(AWSError) -> [UInt8]? {
        if let zip {
            guard bucket == nil, key == nil else {
                throw AWSError.lambdaInvalidParameter("Please provide a source for function code: either a ZipFile or an S3 location, not both.")
            }
            return Array(zip)
        }
        guard bucket != nil || key != nil else { return nil }
        guard let bucket, let key else {
            throw AWSError.lambdaInvalidParameter("Please provide both S3Bucket and S3Key for an S3 code location.")
        }
        return try await runtime.objectBytes(bucket: bucket, key: key)
    }

    public static func routes<Committer: StateCommitting>(
        committer: Committer, runtime: any FunctionRuntime, settings: FunctionSettings
    ) -> RESTRoutes where Committer.Root: LambdaHost {
        var routes = RESTRoutes(errorStyle: .lambda)
        @Sendable func name(_ request: RESTRequest) -> String { request.parameter("name") }

        // Functions
        routes.json("POST", functions, limit: codeRequestLimit, status: 201) { (input: LambdaCreateFunctionRequest, _) throws(AWSError) in
            let zip = try await codeBytes(zip: input.Code.ZipFile, bucket: input.Code.S3Bucket, key: input.Code.S3Key, runtime: runtime)
            let bundle = try zip.map { zip throws(AWSError) in try runtime.storeCode(zip, settings: settings) }
            let configuration = try await committer.write { root, m throws(AWSError) in
                try root.lambda.createFunction(input, code: bundle, sqs: root.sqs, now: m.now, using: &m.random, changes: &m.changes)
            }
            await settle(configuration, committer: committer)
            return configuration
        }
        routes.respond("GET", functions) { request throws(AWSError) in
            let (marker, maxItems, all) = (request.query("Marker"), request.query("MaxItems", as: Int.self), request.query("FunctionVersion") == "ALL")
            return try await committer.read { root, _ throws(AWSError) in
                try root.lambda.listFunctions(marker: marker, maxItems: maxItems, allVersions: all)
            }
        }
        routes.respond("GET", functions + "/{name}") { request throws(AWSError) in
            let (name, qualifier) = (name(request), request.query("Qualifier"))
            return try await committer.read { root, _ throws(AWSError) in try root.lambda.getFunction(name, qualifier: qualifier) }
        }
        routes.respond("DELETE", functions + "/{name}", status: 204) { request throws(AWSError) in
            let (name, qualifier) = (name(request), request.query("Qualifier"))
            try await committer.write { root, m throws(AWSError) in try root.lambda.deleteFunction(name, qualifier: qualifier, changes: &m.changes) }
            return EmptyOutput()
        }
        routes.respond("GET", functions + "/{name}/configuration") { request throws(AWSError) in
            let (name, qualifier) = (name(request), request.query("Qualifier"))
            return try await committer.read { root, _ throws(AWSError) in try root.lambda.getFunctionConfiguration(name, qualifier: qualifier) }
        }
        routes.json("PUT", functions + "/{name}/configuration") { (input: LambdaUpdateFunctionConfigurationRequest, request) throws(AWSError) in
            let name = name(request)
            let configuration = try await committer.write { root, m throws(AWSError) in
                try root.lambda.updateFunctionConfiguration(name, input, sqs: root.sqs, now: m.now, using: &m.random, changes: &m.changes)
            }
            await settle(configuration, committer: committer)
            return configuration
        }
        routes.json("PUT", functions + "/{name}/code", limit: codeRequestLimit) { (input: LambdaUpdateFunctionCodeRequest, request) throws(AWSError) in
            let name = name(request)
            let zip = try await codeBytes(zip: input.ZipFile, bucket: input.S3Bucket, key: input.S3Key, runtime: runtime)
            let bundle = try zip.map { zip throws(AWSError) in try runtime.storeCode(zip, settings: settings) }
            let configuration = try await committer.write { root, m throws(AWSError) in
                try root.lambda.updateFunctionCode(name, input, code: bundle, now: m.now, using: &m.random, changes: &m.changes)
            }
            if input.DryRun != true { await settle(configuration, committer: committer) }
            return configuration
        }
        routes.raw(
            "POST", functions + "/{name}/invocations", limit: settings.synchronousPayloadLimit,
            tooLarge: requestTooLarge(settings.synchronousPayloadLimit)
        ) { request in
            await invoke(request, runtime: runtime, settings: settings)
        }

        // Versions
        routes.json("POST", functions + "/{name}/versions", status: 201) { (input: LambdaPublishVersionRequest, request) throws(AWSError) in
            let name = name(request)
            return try await committer.write { root, m throws(AWSError) in
                try root.lambda.publishVersion(name, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("GET", functions + "/{name}/versions") { request throws(AWSError) in
            let (name, marker, maxItems) = (name(request), request.query("Marker"), request.query("MaxItems", as: Int.self))
            return try await committer.read { root, _ throws(AWSError) in try root.lambda.listVersions(name, marker: marker, maxItems: maxItems) }
        }
        routes.append(contentsOf: aliasRoutes(committer: committer))
        routes.append(contentsOf: layerRoutes(committer: committer, runtime: runtime, settings: settings))
        routes.append(contentsOf: concurrencyAndAsyncRoutes(committer: committer))
        routes.append(contentsOf: tagRoutes(committer: committer))
        routes.append(contentsOf: eventSourceMappingRoutes(committer: committer))
        routes.respond("GET", "/2016-08-19/account-settings") { _ throws(AWSError) in
            try await committer.read { root, _ in root.lambda.accountSettings() }
        }
        return routes
    }

    /// The code is stored and the configuration committed: the function is ready (Pending →
    /// Active, InProgress → Successful). The response still shows the state at acceptance.
    static func settle<Committer: StateCommitting>(_ configuration: LambdaFunctionConfiguration, committer: Committer) async
    where Committer.Root: LambdaHost {
        guard let name = configuration.FunctionName, let revision = configuration.RevisionId else { return }
        _ = try? await committer.write { root, m throws(AWSError) in
            root.lambda.activateFunction(name, revisionId: revision, changes: &m.changes)
        }
    }
}
