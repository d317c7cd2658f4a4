import Foundation
import APIGatewayShapes
import StevedoreCore

/// API Gateway's REST APIs (`aws apigateway`): APIs, their resource trees, methods with their
/// integrations and responses, deployments and stages, as pure operations over the state.
extension GatewayState {
    static let restMethods: Set<String> = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY"]
    static let maximumRestTimeout = 29000

    // MARK: REST APIs

    public mutating func createRestApi(_ input: V1CreateRestApiRequest, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError) -> V1RestApi
    {
        guard (1...1024).contains(input.name.count) else { throw .gatewayBadRequest("Invalid REST API name specified: name must be 1 to 1024 characters.") }
        if input.cloneFrom != nil { throw .gatewayBadRequest("cloneFrom is not supported by this endpoint; import the API's exported definition instead.") }
        let id = Self.newId(length: 10, using: &random) { restApis[$0] == nil && apis[$0] == nil }
        let rootId = Self.newId(length: 10, using: &random) { _ in true }
        let api = V1RestApi(
            id: id, name: input.name, description: input.description, createdDate: now, version: input.version,
            binaryMediaTypes: input.binaryMediaTypes, minimumCompressionSize: input.minimumCompressionSize,
            apiKeySource: input.apiKeySource ?? .header,
            endpointConfiguration: input.endpointConfiguration ?? V1EndpointConfiguration(types: [.edge]), policy: input.policy,
            tags: input.tags ?? [:], disableExecuteApiEndpoint: input.disableExecuteApiEndpoint ?? false, rootResourceId: rootId)
        var record = RestAPIRecord(api: api)
        record.resources[rootId] = V1Resource(id: rootId, path: "/")
        restApis[id] = record
        changes.put(record)
        return api
    }

    public func restApi(_ id: String) throws(AWSError) -> RestAPIRecord {
        guard let record = restApis[id] else { throw .restNotFound("Invalid API identifier specified \(names.accountId):\(id)") }
        return record
    }

    public func getRestApis(limit: String?, position: String?) throws(AWSError) -> V1RestApis {
        let (page, next) = try Self.restPage(restApis.keys.sorted(), limit: limit, position: position)
        return V1RestApis(position: next, item: page.compactMap { restApis[$0]?.api })
    }

    public mutating func updateRestApi(_ id: String, _ operations: [V1PatchOperation], changes: inout ChangeSet) throws(AWSError) -> V1RestApi {
        var record = try restApi(id)
        for operation in operations {
            let (op, path, value) = try Patch.parts(operation)
            switch (op, path) {
            case (.replace, "/name"):
                guard let value, !value.isEmpty else { throw .gatewayBadRequest("Invalid REST API name specified") }
                record.api.name = value
            case (.replace, "/description"): record.api.description = value
            case (.replace, "/version"): record.api.version = value
            case (.replace, "/apiKeySource"):
                guard let source = value.flatMap(V1ApiKeySourceType.init(rawValue:)) else {
                    throw .gatewayBadRequest("Invalid apiKeySource \(value ?? ""): use HEADER or AUTHORIZER")
                }
                record.api.apiKeySource = source
            case (.replace, "/disableExecuteApiEndpoint"): record.api.disableExecuteApiEndpoint = value == "true"
            case (.add, _) where path.hasPrefix("/binaryMediaTypes/"):
                record.api.binaryMediaTypes = (record.api.binaryMediaTypes ?? []) + [Patch.unescape(String(path.dropFirst("/binaryMediaTypes/".count)))]
            case (.remove, _) where path.hasPrefix("/binaryMediaTypes/"):
                let type = Patch.unescape(String(path.dropFirst("/binaryMediaTypes/".count)))
                record.api.binaryMediaTypes?.removeAll { $0 == type }
            default:
                throw Patch.unsupported(operation)
            }
        }
        restApis[id] = record
        changes.put(record)
        return record.api
    }

    public mutating func deleteRestApi(_ id: String, changes: inout ChangeSet) throws(AWSError) {
        _ = try restApi(id)
        restApis[id] = nil
        changes.delete(RestAPIRecord.self, key: id)
    }

    // MARK: Resources

    public mutating func createResource(
        _ apiId: String, parentId: String, pathPart: String, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) -> V1Resource {
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            let parent = try record.resource(parentId)
            try Self.checkPathPart(pathPart)
            if parent.pathPart?.hasSuffix("+}") == true {
                throw .gatewayBadRequest("Cannot create a child of a resource with a greedy path variable: \(parent.path ?? "")")
            }
            let siblings = record.resources.values.filter { $0.parentId == parentId }
            if siblings.contains(where: { $0.pathPart == pathPart }) {
                throw .gatewayConflict("Another resource with the same parent already has this name: \(pathPart)")
            }
            if pathPart.hasPrefix("{"), let other = siblings.first(where: { $0.pathPart?.hasPrefix("{") == true }) {
                throw .gatewayBadRequest(
                    "A sibling (\(other.pathPart ?? "")) of this resource already has a variable path part -- only one is allowed")
            }
            let id = Self.newId(length: 6, using: &random) { record.resources[$0] == nil }
            let resource = V1Resource(id: id, parentId: parentId, pathPart: pathPart, path: RestAPIRecord.path(parent: parent.path ?? "/", part: pathPart))
            record.resources[id] = resource
            return resource
        }
    }

    /// A path part: letters, digits and `-._:` or one variable, `{name}` or a greedy `{name+}`.
    static func checkPathPart(_ part: String) throws(AWSError) {
        let isName: (Substring) -> Bool = { name in
            !name.isEmpty && name.utf8.allSatisfy { $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
        }
        let literal = !part.isEmpty && part.utf8.allSatisfy { $0.isASCIIAlphanumeric || "-._:".utf8.contains($0) }
        var variable = false
        if part.hasPrefix("{"), part.hasSuffix("}") {
            var name = part.dropFirst().dropLast()
            if name.hasSuffix("+") { name = name.dropLast() }
            variable = isName(name)
        }
        guard literal || variable else {
            throw .gatewayBadRequest(
                "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end and an optional plus sign before the closing brace.")
        }
    }

    public func getResources(_ apiId: String, embedMethods: Bool, limit: String?, position: String?) throws(AWSError) -> V1Resources {
        let record = try restApi(apiId)
        let ordered = record.resources.values.sorted { ($0.path ?? "") < ($1.path ?? "") }.compactMap(\.id)
        let (page, next) = try Self.restPage(ordered, limit: limit, position: position, sorted: false)
        return V1Resources(position: next, item: page.compactMap { record.resources[$0].map { Self.presented($0, embedMethods: embedMethods) } })
    }

    public func getResource(_ apiId: String, _ resourceId: String, embedMethods: Bool) throws(AWSError) -> V1Resource {
        Self.presented(try restApi(apiId).resource(resourceId), embedMethods: embedMethods)
    }

    /// Without `embed=methods` a resource lists its methods' names only, as AWS's does.
    static func presented(_ resource: V1Resource, embedMethods: Bool) -> V1Resource {
        var resource = resource
        if resource.resourceMethods?.isEmpty ?? true {
            resource.resourceMethods = nil
        } else if !embedMethods {
            resource.resourceMethods = resource.resourceMethods?.mapValues { _ in V1Method() }
        }
        return resource
    }

    public mutating func deleteResource(_ apiId: String, _ resourceId: String, changes: inout ChangeSet) throws(AWSError) {
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            _ = try record.resource(resourceId)
            guard resourceId != record.api.rootResourceId else { throw .gatewayBadRequest("Cannot delete the root resource of a REST API") }
            var doomed: Set = [resourceId]
            var grew = true
            while grew {
                let children = record.resources.values.filter { doomed.contains($0.parentId ?? "") }.compactMap(\.id)
                grew = !Set(children).isSubset(of: doomed)
                doomed.formUnion(children)
            }
            for id in doomed { record.resources[id] = nil }
        }
    }

    // MARK: Methods

    public mutating func putMethod(
        _ apiId: String, _ resourceId: String, _ httpMethod: String, _ input: V1PutMethodRequest, changes: inout ChangeSet
    ) throws(AWSError) -> V1Method {
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            var resource = try record.resource(resourceId)
            guard Self.restMethods.contains(httpMethod) else { throw .gatewayBadRequest("Invalid HttpMethod specified: \(httpMethod)") }
            guard resource.resourceMethods?[httpMethod] == nil else { throw .gatewayConflict("Method already exists for this resource") }
            let authorization = input.authorizationType
            guard ["NONE", "AWS_IAM", "CUSTOM", "COGNITO_USER_POOLS"].contains(authorization) else {
                throw .gatewayBadRequest("Invalid authorization type specified: \(authorization). Valid values are NONE, AWS_IAM, CUSTOM and COGNITO_USER_POOLS")
            }
            if authorization == "COGNITO_USER_POOLS" { throw .gatewayBadRequest("COGNITO_USER_POOLS authorization is not supported by this endpoint.") }
            if authorization == "CUSTOM" {
                guard let authorizerId = input.authorizerId, record.authorizers[authorizerId] != nil else {
                    throw .gatewayBadRequest("Invalid authorizer ID specified. Setting the authorization type to CUSTOM requires a valid authorizer.")
                }
            }
            let method = V1Method(
                httpMethod: httpMethod, authorizationType: authorization, authorizerId: authorization == "CUSTOM" ? input.authorizerId : nil,
                apiKeyRequired: input.apiKeyRequired ?? false, requestValidatorId: input.requestValidatorId, operationName: input.operationName,
                requestParameters: input.requestParameters, requestModels: input.requestModels)
            try Self.checkMethodRequest(method, record: record)
            resource.resourceMethods = (resource.resourceMethods ?? [:]).merging([httpMethod: method]) { _, new in new }
            record.resources[resourceId] = resource
            return method
        }
    }

    public func getMethod(_ apiId: String, _ resourceId: String, _ httpMethod: String) throws(AWSError) -> V1Method {
        try restApi(apiId).method(resourceId, httpMethod)
    }

    public mutating func updateMethod(
        _ apiId: String, _ resourceId: String, _ httpMethod: String, _ operations: [V1PatchOperation], changes: inout ChangeSet
    ) throws(AWSError) -> V1Method {
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            let authorizers = record.authorizers
            let snapshot = record
            return try record.changeMethod(resourceId, httpMethod) { method throws(AWSError) in
                for operation in operations {
                    let (op, path, value) = try Patch.parts(operation)
                    switch (op, path) {
                    case (.replace, "/apiKeyRequired"): method.apiKeyRequired = value == "true"
                    case (.replace, "/authorizationType"):
                        guard let value, ["NONE", "AWS_IAM", "CUSTOM"].contains(value) else {
                            throw .gatewayBadRequest("Invalid authorization type specified: \(value ?? "")")
                        }
                        method.authorizationType = value
                        if value != "CUSTOM" { method.authorizerId = nil }
                    case (.replace, "/authorizerId"):
                        guard let value, authorizers[value] != nil else { throw .gatewayBadRequest("Invalid authorizer ID specified") }
                        method.authorizerId = value
                    case (.replace, "/operationName"): method.operationName = value
                    case (.replace, "/requestValidatorId"): method.requestValidatorId = value.flatMap { $0.isEmpty ? nil : $0 }
                    case (.add, _) where path.hasPrefix("/requestModels/"), (.replace, _) where path.hasPrefix("/requestModels/"):
                        let contentType = Patch.unescape(String(path.dropFirst("/requestModels/".count)))
                        method.requestModels = (method.requestModels ?? [:]).merging([contentType: value ?? ""]) { _, new in new }
                    case (.remove, _) where path.hasPrefix("/requestModels/"):
                        method.requestModels?[Patch.unescape(String(path.dropFirst("/requestModels/".count)))] = nil
                    case (.add, _) where path.hasPrefix("/requestParameters/"), (.replace, _) where path.hasPrefix("/requestParameters/"):
                        let name = Patch.unescape(String(path.dropFirst("/requestParameters/".count)))
                        method.requestParameters = (method.requestParameters ?? [:]).merging([name: value == "true"]) { _, new in new }
                    case (.remove, _) where path.hasPrefix("/requestParameters/"):
                        method.requestParameters?[Patch.unescape(String(path.dropFirst("/requestParameters/".count)))] = nil
                    default: throw Patch.unsupported(operation)
                    }
                }
                try Self.checkMethodRequest(method, record: snapshot)
                if method.authorizationType == "CUSTOM", method.authorizerId == nil {
                    throw .gatewayBadRequest("Invalid authorizer ID specified. Setting the authorization type to CUSTOM requires a valid authorizer.")
                }
                return method
            }
        }
    }

    public mutating func deleteMethod(_ apiId: String, _ resourceId: String, _ httpMethod: String, changes: inout ChangeSet) throws(AWSError) {
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            _ = try record.method(resourceId, httpMethod)
            record.resources[resourceId]?.resourceMethods?[httpMethod] = nil
        }
    }

    // MARK: Method responses

    public mutating func putMethodResponse(
        _ apiId: String, _ resourceId: String, _ httpMethod: String, _ statusCode: String, _ input: V1PutMethodResponseRequest,
        changes: inout ChangeSet
    ) throws(AWSError) -> V1MethodResponse {
        try Self.checkStatusCode(statusCode)
        return try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            try record.changeMethod(resourceId, httpMethod) { method throws(AWSError) in
                let response = V1MethodResponse(
                    statusCode: statusCode, responseParameters: input.responseParameters, responseModels: input.responseModels)
                method.methodResponses = (method.methodResponses ?? [:]).merging([statusCode: response]) { _, new in new }
                return response
            }
        }
    }

    public func getMethodResponse(_ apiId: String, _ resourceId: String, _ httpMethod: String, _ statusCode: String) throws(AWSError)
        -> V1MethodResponse
    {
        guard let response = try restApi(apiId).method(resourceId, httpMethod).methodResponses?[statusCode] else {
            throw .restNotFound("Invalid Response status code specified")
        }
        return response
    }

    public mutating func deleteMethodResponse(
        _ apiId: String, _ resourceId: String, _ httpMethod: String, _ statusCode: String, changes: inout ChangeSet
    ) throws(AWSError) {
        _ = try getMethodResponse(apiId, resourceId, httpMethod, statusCode)
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            try record.changeMethod(resourceId, httpMethod) { method throws(AWSError) in method.methodResponses?[statusCode] = nil }
        }
    }

    static func checkStatusCode(_ statusCode: String) throws(AWSError) {
        guard statusCode.count == 3, let code = Int(statusCode), (100...599).contains(code) else {
            throw .gatewayBadRequest("Invalid status code specified: \(statusCode)")
        }
    }

    // MARK: Integrations

    public mutating func putIntegration(
        _ apiId: String, _ resourceId: String, _ httpMethod: String, _ input: V1PutIntegrationRequest, changes: inout ChangeSet
    ) throws(AWSError) -> V1Integration {
        let names = self.names
        return try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            try record.changeMethod(resourceId, httpMethod) { method throws(AWSError) in
                let integration = try Self.checkRestIntegration(input, resourceId: resourceId, names: names)
                method.methodIntegration = integration
                return integration
            }
        }
    }

    static func checkRestIntegration(_ input: V1PutIntegrationRequest, resourceId: String, names: ResourceNames) throws(AWSError) -> V1Integration {
        let timeout = input.timeoutInMillis ?? maximumRestTimeout
        guard (50...maximumRestTimeout).contains(timeout) else {
            throw .gatewayBadRequest("Timeout should be between 50 ms and \(maximumRestTimeout) ms")
        }
        try MappingTemplates.check(input.requestTemplates)
        let passthrough = input.passthroughBehavior ?? "WHEN_NO_MATCH"
        guard ["WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER"].contains(passthrough) else {
            throw .gatewayBadRequest("Invalid passthrough behavior specified: \(passthrough)")
        }
        var integration = V1Integration(
            type: input.type, httpMethod: input.httpMethod, uri: input.uri, connectionType: input.connectionType ?? .internet,
            credentials: input.credentials, requestParameters: input.requestParameters, requestTemplates: input.requestTemplates,
            passthroughBehavior: passthrough, contentHandling: input.contentHandling, timeoutInMillis: timeout,
            cacheNamespace: input.cacheNamespace ?? resourceId, cacheKeyParameters: input.cacheKeyParameters ?? [])
        guard integration.connectionType != .vpcLink else { throw .gatewayBadRequest("VPC links are not supported by this endpoint.") }
        switch input.type {
        case .awsProxy, .aws:
            guard let uri = input.uri, FunctionTarget(integrationUri: uri) != nil else {
                throw .gatewayBadRequest(
                    "Invalid integration URI specified: use arn:aws:apigateway:\(names.region):lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations")
            }
            guard input.httpMethod == "POST" else {
                throw .gatewayBadRequest("Lambda integrations call functions with the integration HTTP method POST (--integration-http-method POST).")
            }
        case .httpProxy, .http:
            guard let uri = input.uri, isHTTPURL(uri) else {
                throw .gatewayBadRequest("Invalid HTTP endpoint specified for URI")
            }
            guard let method = input.httpMethod, restMethods.contains(method) else {
                throw .gatewayBadRequest("Enumeration value for HttpMethod must be non-empty")
            }
        case .mock:
            integration.httpMethod = nil
            integration.uri = nil
        }
        return integration
    }

    public func getIntegration(_ apiId: String, _ resourceId: String, _ httpMethod: String) throws(AWSError) -> V1Integration {
        try restApi(apiId).integration(resourceId, httpMethod)
    }

    public mutating func deleteIntegration(_ apiId: String, _ resourceId: String, _ httpMethod: String, changes: inout ChangeSet) throws(AWSError) {
        _ = try getIntegration(apiId, resourceId, httpMethod)
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            try record.changeMethod(resourceId, httpMethod) { method throws(AWSError) in method.methodIntegration = nil }
        }
    }

    // MARK: Integration responses

    public mutating func putIntegrationResponse(
        _ apiId: String, _ resourceId: String, _ httpMethod: String, _ statusCode: String, _ input: V1PutIntegrationResponseRequest,
        changes: inout ChangeSet
    ) throws(AWSError) -> V1IntegrationResponse {
        try Self.checkStatusCode(statusCode)
        try MappingTemplates.check(input.responseTemplates)
        if let pattern = input.selectionPattern, !pattern.isEmpty, (try? Regex(pattern)) == nil {
            throw .gatewayBadRequest("Invalid selection pattern specified: \(pattern)")
        }
        return try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            try record.changeMethod(resourceId, httpMethod) { method throws(AWSError) in
                guard var integration = method.methodIntegration else { throw .restNotFound("No integration defined for method") }
                guard method.methodResponses?[statusCode] != nil else { throw .restNotFound("Invalid Response status code specified") }
                let response = V1IntegrationResponse(
                    statusCode: statusCode, selectionPattern: input.selectionPattern, responseParameters: input.responseParameters,
                    responseTemplates: input.responseTemplates, contentHandling: input.contentHandling)
                integration.integrationResponses = (integration.integrationResponses ?? [:]).merging([statusCode: response]) { _, new in new }
                method.methodIntegration = integration
                return response
            }
        }
    }

    public func getIntegrationResponse(_ apiId: String, _ resourceId: String, _ httpMethod: String, _ statusCode: String) throws(AWSError)
        -> V1IntegrationResponse
    {
        guard let response = try restApi(apiId).integration(resourceId, httpMethod).integrationResponses?[statusCode] else {
            throw .restNotFound("Invalid Response status code specified")
        }
        return response
    }

    public mutating func deleteIntegrationResponse(
        _ apiId: String, _ resourceId: String, _ httpMethod: String, _ statusCode: String, changes: inout ChangeSet
    ) throws(AWSError) {
        _ = try getIntegrationResponse(apiId, resourceId, httpMethod, statusCode)
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            try record.changeMethod(resourceId, httpMethod) { method throws(AWSError) in
                method.methodIntegration?.integrationResponses?[statusCode] = nil
            }
        }
    }

    // MARK: Deployments

    public mutating func createRestDeployment(
        _ apiId: String, _ input: V1CreateDeploymentRequest, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) -> V1Deployment {
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            let methods = record.resources.values.flatMap { resource in (resource.resourceMethods ?? [:]).values }
            guard !methods.isEmpty else { throw .gatewayBadRequest("The REST API doesn't contain any methods") }
            guard methods.allSatisfy({ $0.methodIntegration != nil }) else { throw .gatewayBadRequest("No integration defined for method") }
            if let name = input.stageName { try Self.checkRestStageName(name) }
            try Self.checkStageVariables(input.variables)
            let id = Self.newId(length: 6, using: &random) { record.deployments[$0] == nil }
            var summary: [String: [String: V1MethodSnapshot]] = [:]
            for resource in record.resources.values {
                for (name, method) in resource.resourceMethods ?? [:] {
                    summary[resource.path ?? "/", default: [:]][name] = V1MethodSnapshot(
                        authorizationType: method.authorizationType, apiKeyRequired: method.apiKeyRequired)
                }
            }
            let deployment = V1Deployment(id: id, description: input.description, createdDate: now, apiSummary: summary)
            record.deployments[id] = RestDeployment(
                deployment: deployment, resources: record.resources.values.sorted { ($0.path ?? "") < ($1.path ?? "") },
                authorizers: record.authorizers, models: record.models, requestValidators: record.requestValidators)
            if let name = input.stageName {
                var stage = record.stages[name] ?? Self.newStage(name, deploymentId: id, description: input.stageDescription, now: now)
                stage.deploymentId = id
                stage.lastUpdatedDate = now
                if let variables = input.variables { stage.variables = (stage.variables ?? [:]).merging(variables) { _, new in new } }
                record.stages[name] = stage
            }
            return deployment
        }
    }

    public func getRestDeployments(_ apiId: String, limit: String?, position: String?) throws(AWSError) -> V1Deployments {
        let record = try restApi(apiId)
        let (page, next) = try Self.restPage(record.deployments.keys.sorted(), limit: limit, position: position)
        return V1Deployments(position: next, item: page.compactMap { record.deployments[$0]?.deployment })
    }

    public func getRestDeployment(_ apiId: String, _ deploymentId: String) throws(AWSError) -> V1Deployment {
        try restApi(apiId).deployment(deploymentId).deployment
    }

    public mutating func deleteRestDeployment(_ apiId: String, _ deploymentId: String, changes: inout ChangeSet) throws(AWSError) {
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            _ = try record.deployment(deploymentId)
            if record.stages.values.contains(where: { $0.deploymentId == deploymentId }) {
                throw .gatewayBadRequest("Active stages pointing to this deployment must be moved or deleted")
            }
            record.deployments[deploymentId] = nil
        }
    }

    // MARK: Stages

    static func newStage(_ name: String, deploymentId: String, description: String?, now: Date) -> V1Stage {
        V1Stage(
            deploymentId: deploymentId, stageName: name, description: description, cacheClusterEnabled: false,
            cacheClusterStatus: .notAvailable, methodSettings: [:], tracingEnabled: false, createdDate: now, lastUpdatedDate: now)
    }

    static func checkRestStageName(_ name: String) throws(AWSError) {
        guard isStageName(name) else { throw .gatewayBadRequest("Stage name only allows a-zA-Z0-9_ and -: \(name)") }
    }

    public mutating func createRestStage(_ apiId: String, _ input: V1CreateStageRequest, now: Date, changes: inout ChangeSet) throws(AWSError)
        -> V1Stage
    {
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            try Self.checkRestStageName(input.stageName)
            _ = try record.deployment(input.deploymentId)
            guard record.stages[input.stageName] == nil else { throw .gatewayConflict("Stage already exists") }
            try Self.checkStageVariables(input.variables)
            var stage = Self.newStage(input.stageName, deploymentId: input.deploymentId, description: input.description, now: now)
            stage.variables = input.variables
            stage.tags = input.tags
            record.stages[input.stageName] = stage
            return stage
        }
    }

    public func getRestStage(_ apiId: String, _ name: String) throws(AWSError) -> V1Stage {
        try restApi(apiId).stage(name)
    }

    public func getRestStages(_ apiId: String) throws(AWSError) -> V1Stages {
        let record = try restApi(apiId)
        return V1Stages(item: record.stages.keys.sorted().compactMap { record.stages[$0] })
    }

    public mutating func updateRestStage(_ apiId: String, _ name: String, _ operations: [V1PatchOperation], now: Date, changes: inout ChangeSet)
        throws(AWSError) -> V1Stage
    {
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            var stage = try record.stage(name)
            for operation in operations {
                let (op, path, value) = try Patch.parts(operation)
                switch (op, path) {
                case (.replace, "/deploymentId"):
                    _ = try record.deployment(value ?? "")
                    stage.deploymentId = value
                case (.replace, "/description"): stage.description = value
                case (.replace, "/accessLogSettings/destinationArn"), (.replace, "/accessLogSettings/format"):
                    var settings = stage.accessLogSettings ?? V1AccessLogSettings()
                    if path.hasSuffix("destinationArn") { settings.destinationArn = value } else { settings.format = value }
                    stage.accessLogSettings = settings
                case (.remove, "/accessLogSettings"):
                    stage.accessLogSettings = nil
                case (.replace, _) where path.hasPrefix("/variables/"), (.add, _) where path.hasPrefix("/variables/"):
                    let variable = Patch.unescape(String(path.dropFirst("/variables/".count)))
                    var variables = stage.variables ?? [:]
                    variables[variable] = value ?? ""
                    try Self.checkStageVariables(variables)
                    stage.variables = variables
                case (.remove, _) where path.hasPrefix("/variables/"):
                    stage.variables?[Patch.unescape(String(path.dropFirst("/variables/".count)))] = nil
                default:
                    // Method settings: /{resource path, ~1 for /}/{METHOD}/{setting}, or /*/*/{setting}.
                    guard op == .replace, let (key, setting) = Patch.methodSetting(path) else { throw Patch.unsupported(operation) }
                    var settings = stage.methodSettings?[key] ?? V1MethodSetting()
                    switch setting {
                    case "throttling/rateLimit":
                        guard let rate = value.flatMap(Double.init), rate >= 0 else { throw .gatewayBadRequest("Invalid rate limit: \(value ?? "")") }
                        settings.throttlingRateLimit = rate
                    case "throttling/burstLimit":
                        guard let burst = value.flatMap(Int.init), burst >= 0 else { throw .gatewayBadRequest("Invalid burst limit: \(value ?? "")") }
                        settings.throttlingBurstLimit = burst
                    case "metrics/enabled": settings.metricsEnabled = value == "true"
                    case "logging/loglevel": settings.loggingLevel = value
                    case "logging/dataTrace": settings.dataTraceEnabled = value == "true"
                    default: throw Patch.unsupported(operation)
                    }
                    stage.methodSettings = (stage.methodSettings ?? [:]).merging([key: settings]) { _, new in new }
                }
            }
            // Access logs need both a log group and a format with the request id, as HTTP APIs' do.
            if let settings = stage.accessLogSettings, settings.destinationArn != nil, settings.format != nil {
                try AccessLogFormat.check(V2AccessLogSettings(destinationArn: settings.destinationArn, format: settings.format))
            }
            stage.lastUpdatedDate = now
            record.stages[name] = stage
            return stage
        }
    }

    public mutating func deleteRestStage(_ apiId: String, _ name: String, changes: inout ChangeSet) throws(AWSError) {
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            _ = try record.stage(name)
            record.stages[name] = nil
        }
    }

    // MARK: Helpers

    mutating func changeRestApi<Result>(_ apiId: String, changes: inout ChangeSet, _ body: (inout RestAPIRecord) throws(AWSError) -> Result)
        throws(AWSError) -> Result
    {
        var record = try restApi(apiId)
        let result = try body(&record)
        restApis[apiId] = record
        changes.put(record)
        return result
    }

    /// REST APIs' paging: `limit` (1-500, default 25) and `position`, the next item's key.
    static func restPage(_ keys: [String], limit: String?, position: String?, sorted: Bool = true) throws(AWSError) -> ([String], String?) {
        var size = 25
        if let limit {
            guard let value = Int(limit), (1...500).contains(value) else { throw .gatewayBadRequest("Invalid limit specified: \(limit); use 1 to 500") }
            size = value
        }
        var start = 0
        if let position {
            guard let index = keys.firstIndex(of: position) else { throw .gatewayBadRequest("Invalid position specified: \(position)") }
            start = index
        }
        let page = Array(keys[start..<min(keys.count, start + size)])
        return (page, start + size < keys.count ? keys[start + size] : nil)
    }
}
