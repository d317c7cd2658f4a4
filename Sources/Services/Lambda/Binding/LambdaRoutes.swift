#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSProtocols
import LambdaShapes
import SQS
import StevedoreCore

/// Aliases, layers, concurrency, asynchronous invocation settings and tags.
extension LambdaAPI {
    static func aliasRoutes<Committer: StateCommitting>(committer: Committer) -> RESTRoutes where Committer.Root: LambdaHost {
        var routes = RESTRoutes(errorStyle: .lambda)
        let aliases = functions + "/{name}/aliases"
        routes.json("POST", aliases, status: 201) { (input: LambdaCreateAliasRequest, request) throws(AWSError) in
            let name = request.parameter("name")
            return try await committer.write { root, m throws(AWSError) in
                try root.lambda.createAlias(name, input, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("GET", aliases) { request throws(AWSError) in
            let (name, version) = (request.parameter("name"), request.query("FunctionVersion"))
            let (marker, maxItems) = (request.query("Marker"), request.query("MaxItems", as: Int.self))
            return try await committer.read { root, _ throws(AWSError) in
                try root.lambda.listAliases(name, version: version, marker: marker, maxItems: maxItems)
            }
        }
        routes.respond("GET", aliases + "/{alias}") { request throws(AWSError) in
            let (name, alias) = (request.parameter("name"), request.parameter("alias"))
            return try await committer.read { root, _ throws(AWSError) in try root.lambda.getAlias(name, alias: alias) }
        }
        routes.json("PUT", aliases + "/{alias}") { (input: LambdaUpdateAliasRequest, request) throws(AWSError) in
            let (name, alias) = (request.parameter("name"), request.parameter("alias"))
            return try await committer.write { root, m throws(AWSError) in
                try root.lambda.updateAlias(name, alias: alias, input, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("DELETE", aliases + "/{alias}", status: 204) { request throws(AWSError) in
            let (name, alias) = (request.parameter("name"), request.parameter("alias"))
            try await committer.write { root, m throws(AWSError) in try root.lambda.deleteAlias(name, alias: alias, changes: &m.changes) }
            return EmptyOutput()
        }
        return routes
    }

    static func layerRoutes<Committer: StateCommitting>(
        committer: Committer, runtime: any FunctionRuntime, settings: FunctionSettings
    ) -> RESTRoutes where Committer.Root: LambdaHost {
        var routes = RESTRoutes(errorStyle: .lambda)
        let layers = "/2018-10-31/layers"
        routes.json("POST", layers + "/{layer}/versions", limit: codeRequestLimit, status: 201) {
            (input: LambdaPublishLayerVersionRequest, request) throws(AWSError) in
            let layer = request.parameter("layer")
            guard let zip = try await LambdaAPI.codeBytes(
                zip: input.Content.ZipFile, bucket: input.Content.S3Bucket, key: input.Content.S3Key, runtime: runtime)
            else { throw AWSError.lambdaInvalidParameter("Content is required: a ZipFile, or an S3Bucket and S3Key.") }
            let bundle = try runtime.storeCode(zip, settings: settings)
            return try await committer.write { root, m throws(AWSError) in
                try root.lambda.publishLayerVersion(layer, input, code: bundle, now: m.now, changes: &m.changes)
            }
        }
        routes.respond("GET", layers + "/{layer}/versions") { request throws(AWSError) in
            let (layer, runtimeName) = (request.parameter("layer"), request.query("CompatibleRuntime"))
            let (marker, maxItems) = (request.query("Marker"), request.query("MaxItems", as: Int.self))
            return try await committer.read { root, _ throws(AWSError) in
                try root.lambda.listLayerVersions(layer, compatibleRuntime: runtimeName, marker: marker, maxItems: maxItems)
            }
        }
        routes.respond("GET", layers + "/{layer}/versions/{version}") { request throws(AWSError) in
            let (layer, version) = (request.parameter("layer"), Int(request.parameter("version")) ?? -1)
            return try await committer.read { root, _ throws(AWSError) in try root.lambda.getLayerVersion(layer, version: version) }
        }
        routes.respond("DELETE", layers + "/{layer}/versions/{version}", status: 204) { request throws(AWSError) in
            let (layer, version) = (request.parameter("layer"), Int(request.parameter("version")) ?? -1)
            try await committer.write { root, m throws(AWSError) in root.lambda.deleteLayerVersion(layer, version: version, changes: &m.changes) }
            return EmptyOutput()
        }
        routes.respond("GET", layers) { request throws(AWSError) in
            if request.query("find") == "LayerVersion" {
                let arn = request.query("Arn") ?? ""
                return try await committer.read { root, _ throws(AWSError) in
                    LayersAnswer.version(try root.lambda.getLayerVersion(byArn: arn))
                }
            }
            let (runtimeName, marker, maxItems) = (request.query("CompatibleRuntime"), request.query("Marker"), request.query("MaxItems", as: Int.self))
            return try await committer.read { root, _ throws(AWSError) in
                LayersAnswer.list(try root.lambda.listLayers(compatibleRuntime: runtimeName, marker: marker, maxItems: maxItems))
            }
        }
        return routes
    }

    /// `GET /2018-10-31/layers` answers ListLayers, or GetLayerVersionByArn with `?find=LayerVersion`.
    enum LayersAnswer: Encodable, Sendable {
        case list(LambdaListLayersResponse)
        case version(LambdaGetLayerVersionResponse)

        func encode(to encoder: any Encoder) throws {
            switch self {
            case .list(let list): try list.encode(to: encoder)
            case .version(let version): try version.encode(to: encoder)
            }
        }
    }

    static func concurrencyAndAsyncRoutes<Committer: StateCommitting>(committer: Committer) -> RESTRoutes
    where Committer.Root: LambdaHost {
        var routes = RESTRoutes(errorStyle: .lambda)
        routes.json("PUT", "/2017-10-31/functions/{name}/concurrency") { (input: LambdaPutFunctionConcurrencyRequest, request) throws(AWSError) in
            let name = request.parameter("name")
            return try await committer.write { root, m throws(AWSError) in
                try root.lambda.putFunctionConcurrency(name, reserved: input.ReservedConcurrentExecutions, changes: &m.changes)
            }
        }
        routes.respond("DELETE", "/2017-10-31/functions/{name}/concurrency", status: 204) { request throws(AWSError) in
            let name = request.parameter("name")
            try await committer.write { root, m throws(AWSError) in try root.lambda.deleteFunctionConcurrency(name, changes: &m.changes) }
            return EmptyOutput()
        }
        // The resource-based policy.
        let policy = "/2015-03-31/functions/{name}/policy"
        routes.json("POST", policy, status: 201) { (input: LambdaAddPermissionInput, request) throws(AWSError) in
            let (name, qualifier) = (request.parameter("name"), request.query("Qualifier"))
            return try await committer.write { root, m throws(AWSError) in
                try root.lambda.addPermission(name, qualifier: qualifier, input, changes: &m.changes)
            }
        }
        routes.respond("DELETE", policy + "/{statementId}", status: 204) { request throws(AWSError) in
            let (name, qualifier, statement) = (request.parameter("name"), request.query("Qualifier"), request.parameter("statementId"))
            try await committer.write { root, m throws(AWSError) in
                try root.lambda.removePermission(name, qualifier: qualifier, statementId: statement, changes: &m.changes)
            }
            return EmptyOutput()
        }
        routes.respond("GET", policy) { request throws(AWSError) in
            let (name, qualifier) = (request.parameter("name"), request.query("Qualifier"))
            return try await committer.read { root, _ throws(AWSError) in try root.lambda.policy(name, qualifier: qualifier) }
        }
        // Function URLs.
        let url = "/2021-10-31/functions/{name}/url"
        routes.json("POST", url, status: 201) { (input: LambdaCreateFunctionUrlConfigRequest, request) throws(AWSError) in
            let (name, qualifier) = (request.parameter("name"), request.query("Qualifier"))
            return try await committer.write { root, m throws(AWSError) in
                try root.lambda.createFunctionUrl(name, qualifier: qualifier, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("GET", url) { request throws(AWSError) in
            let (name, qualifier) = (request.parameter("name"), request.query("Qualifier"))
            return try await committer.read { root, _ throws(AWSError) in try root.lambda.functionUrlConfig(name, qualifier: qualifier) }
        }
        routes.json("PUT", url) { (input: LambdaUpdateFunctionUrlConfigRequest, request) throws(AWSError) in
            let (name, qualifier) = (request.parameter("name"), request.query("Qualifier"))
            return try await committer.write { root, m throws(AWSError) in
                try root.lambda.updateFunctionUrl(name, qualifier: qualifier, input, now: m.now, changes: &m.changes)
            }
        }
        routes.respond("DELETE", url, status: 204) { request throws(AWSError) in
            let (name, qualifier) = (request.parameter("name"), request.query("Qualifier"))
            try await committer.write { root, m throws(AWSError) in try root.lambda.deleteFunctionUrl(name, qualifier: qualifier, changes: &m.changes) }
            return EmptyOutput()
        }
        routes.respond("GET", "/2021-10-31/functions/{name}/urls") { request throws(AWSError) in
            let (name, marker, maximum) = (request.parameter("name"), request.query("Marker"), request.query("MaxItems").flatMap { Int($0) })
            return try await committer.read { root, _ throws(AWSError) in try root.lambda.functionUrlConfigs(name, marker: marker, maxItems: maximum) }
        }
        routes.respond("GET", "/2019-09-30/functions/{name}/concurrency") { request throws(AWSError) in
            let name = request.parameter("name")
            return try await committer.read { root, _ throws(AWSError) in try root.lambda.getFunctionConcurrency(name) }
        }
        let eventConfig = "/2019-09-25/functions/{name}/event-invoke-config"
        for (method, merge) in [("PUT", false), ("POST", true)] {
            routes.json(method, eventConfig) { (input: LambdaPutFunctionEventInvokeConfigRequest, request) throws(AWSError) in
                let (name, qualifier) = (request.parameter("name"), request.query("Qualifier"))
                return try await committer.write { root, m throws(AWSError) in
                    try root.lambda.putEventInvokeConfig(
                        name, qualifier: qualifier, retries: input.MaximumRetryAttempts, maximumAge: input.MaximumEventAgeInSeconds,
                        destinations: input.DestinationConfig, merge: merge, sqs: root.sqs, now: m.now, changes: &m.changes)
                }
            }
        }
        routes.respond("GET", eventConfig) { request throws(AWSError) in
            let (name, qualifier) = (request.parameter("name"), request.query("Qualifier"))
            return try await committer.read { root, _ throws(AWSError) in try root.lambda.getEventInvokeConfig(name, qualifier: qualifier) }
        }
        routes.respond("DELETE", eventConfig, status: 204) { request throws(AWSError) in
            let (name, qualifier) = (request.parameter("name"), request.query("Qualifier"))
            try await committer.write { root, m throws(AWSError) in
                try root.lambda.deleteEventInvokeConfig(name, qualifier: qualifier, changes: &m.changes)
            }
            return EmptyOutput()
        }
        routes.respond("GET", eventConfig + "/list") { request throws(AWSError) in
            let (name, marker, maxItems) = (request.parameter("name"), request.query("Marker"), request.query("MaxItems", as: Int.self))
            return try await committer.read { root, _ throws(AWSError) in
                try root.lambda.listEventInvokeConfigs(name, marker: marker, maxItems: maxItems)
            }
        }
        return routes
    }

    static let eventSourceMappings = "/2015-03-31/event-source-mappings"

    static func eventSourceMappingRoutes<Committer: StateCommitting>(committer: Committer) -> RESTRoutes where Committer.Root: LambdaHost {
        var routes = RESTRoutes(errorStyle: .lambda)
        routes.json("POST", eventSourceMappings, status: 202) { (input: LambdaCreateEventSourceMappingRequest, _) throws(AWSError) in
            try await committer.write { root, m throws(AWSError) in
                try root.createEventSourceMapping(input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("GET", eventSourceMappings) { request throws(AWSError) in
            let input = LambdaListEventSourceMappingsRequest(
                EventSourceArn: request.query("EventSourceArn"), FunctionName: request.query("FunctionName"), Marker: request.query("Marker"),
                MaxItems: request.query("MaxItems", as: Int.self))
            return try await committer.read { root, _ throws(AWSError) in try root.lambda.listEventSourceMappings(input) }
        }
        routes.respond("GET", eventSourceMappings + "/{uuid}") { request throws(AWSError) in
            let uuid = request.parameter("uuid")
            return try await committer.read { root, _ throws(AWSError) in root.lambda.mappingConfiguration(try root.lambda.mapping(uuid)) }
        }
        routes.json("PUT", eventSourceMappings + "/{uuid}", status: 202) { (input: LambdaUpdateEventSourceMappingRequest, request) throws(AWSError) in
            let uuid = request.parameter("uuid")
            return try await committer.write { root, m throws(AWSError) in try root.updateEventSourceMapping(uuid, input, now: m.now, changes: &m.changes) }
        }
        routes.respond("DELETE", eventSourceMappings + "/{uuid}", status: 202) { request throws(AWSError) in
            let uuid = request.parameter("uuid")
            return try await committer.write { root, m throws(AWSError) in try root.deleteEventSourceMapping(uuid, changes: &m.changes) }
        }
        return routes
    }

    static func tagRoutes<Committer: StateCommitting>(committer: Committer) -> RESTRoutes where Committer.Root: LambdaHost {
        var routes = RESTRoutes(errorStyle: .lambda)
        routes.json("POST", "/2017-03-31/tags/{arn}", status: 204) { (input: LambdaTagResourceRequest, request) throws(AWSError) in
            let arn = request.parameter("arn")
            try await committer.write { root, m throws(AWSError) in try root.lambda.tagFunction(arn, tags: input.Tags, changes: &m.changes) }
            return EmptyOutput()
        }
        routes.respond("DELETE", "/2017-03-31/tags/{arn}", status: 204) { request throws(AWSError) in
            let (arn, keys) = (request.parameter("arn"), request.queryAll("tagKeys"))
            try await committer.write { root, m throws(AWSError) in try root.lambda.untagFunction(arn, keys: keys, changes: &m.changes) }
            return EmptyOutput()
        }
        routes.respond("GET", "/2017-03-31/tags/{arn}") { request throws(AWSError) in
            let arn = request.parameter("arn")
            return try await committer.read { root, _ throws(AWSError) in LambdaListTagsResponse(Tags: try root.lambda.functionTags(arn)) }
        }
        return routes
    }
}
