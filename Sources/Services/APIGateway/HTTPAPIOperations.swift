#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import APIGatewayShapes
import StevedoreCore

/// API Gateway v2's HTTP APIs: APIs (with quick create), routes, integrations, stages and
/// deployments, as `aws apigatewayv2` and boto3 manage them.
extension GatewayState {
    static let defaultStage = "$default"
    static let autoDeployDescription = "Automatic deployment triggered by changes to the Api configuration"
    /// HTTP APIs' limits (AWS's quotas).
    static let maximumRoutes = 300
    static let maximumIntegrations = 300
    static let maximumStages = 10

    // MARK: APIs

    public mutating func createApi(_ input: V2CreateApiRequest, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError) -> V2Api
    {
        if input.protocolType == .websocket { return try createWebSocketApi(input, now: now, using: &random, changes: &changes) }
        try Self.checkName(input.name)
        try Self.checkCors(input.corsConfiguration)
        if input.routeKey != nil, input.target == nil {
            throw .gatewayBadRequest("A route key can only be given with a target (quick create).")
        }
        if let expression = input.routeSelectionExpression, expression != "${request.method} ${request.path}" {
            throw .gatewayBadRequest("Unsupported route selection expression for HTTP API: \(expression)")
        }
        let id = Self.newId(length: 10, using: &random) { apis[$0] == nil && restApis[$0] == nil }
        let api = V2Api(
            apiEndpoint: endpoint.url(of: id), apiId: id, apiKeySelectionExpression: input.apiKeySelectionExpression ?? "$request.header.x-api-key",
            corsConfiguration: input.corsConfiguration, createdDate: Self.timestamp(now), description: input.description,
            disableExecuteApiEndpoint: input.disableExecuteApiEndpoint ?? false, ipAddressType: input.ipAddressType ?? .ipv4, name: input.name,
            protocolType: .http, routeSelectionExpression: "$request.method $request.path", tags: input.tags ?? [:], version: input.version)
        var record = GatewayAPIRecord(api: api)
        if let target = input.target {
            // Quick create: an integration with the target, a route to it and an auto-deploying `$default` stage.
            let integration = try record.addIntegration(
                Self.quickIntegration(target: target, credentialsArn: input.credentialsArn), names: names, using: &random)
            let routeKey = input.routeKey ?? Self.defaultStage
            _ = try record.addRoute(V2CreateRouteRequest(routeKey: routeKey, target: "integrations/\(integration.integrationId ?? "")"), using: &random)
            record.stages[Self.defaultStage] = V2Stage(
                autoDeploy: true, createdDate: Self.timestamp(now), defaultRouteSettings: V2RouteSettings(detailedMetricsEnabled: false),
                lastUpdatedDate: Self.timestamp(now), routeSettings: [:], stageName: Self.defaultStage, stageVariables: [:], tags: [:])
            record.autoDeploy(now: now, using: &random)
        }
        apis[id] = record
        changes.put(record)
        return presented(record.api)
    }

    public func getApi(_ apiId: String) throws(AWSError) -> V2Api {
        presented(try api(apiId).api)
    }

    public func getApis(maxResults: String?, nextToken: String?) throws(AWSError) -> V2GetApisResponse {
        let ids = apis.keys.sorted()
        let (page, token) = try Self.page(ids, maxResults: maxResults, nextToken: nextToken)
        return V2GetApisResponse(items: page.compactMap { apis[$0].map { presented($0.api) } }, nextToken: token)
    }

    public mutating func updateApi(_ apiId: String, _ input: V2UpdateApiRequest, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError) -> V2Api
    {
        var record = try api(apiId)
        if let name = input.name {
            try Self.checkName(name)
            record.api.name = name
        }
        if let expression = input.routeSelectionExpression, expression != record.api.routeSelectionExpression {
            guard record.isWebSocket else { throw .gatewayBadRequest("Unsupported route selection expression for HTTP API: \(expression)") }
            try WebSocketRouteSelection.check(expression)
            record.api.routeSelectionExpression = expression
        }
        if input.target != nil || input.routeKey != nil || input.credentialsArn != nil {
            throw .gatewayBadRequest("Updating a quick-create target is not supported; update the API's integration instead.")
        }
        if let description = input.description { record.api.description = description }
        if let version = input.version { record.api.version = version }
        if let cors = input.corsConfiguration {
            if record.isWebSocket { throw .gatewayBadRequest("CORS configuration is supported for HTTP APIs only.") }
            try Self.checkCors(cors)
            record.api.corsConfiguration = cors
        }
        if let disable = input.disableExecuteApiEndpoint { record.api.disableExecuteApiEndpoint = disable }
        if let selection = input.apiKeySelectionExpression { record.api.apiKeySelectionExpression = selection }
        if let ipAddressType = input.ipAddressType { record.api.ipAddressType = ipAddressType }
        if input.corsConfiguration != nil { record.autoDeploy(now: now, using: &random) }
        apis[apiId] = record
        changes.put(record)
        return presented(record.api)
    }

    public mutating func deleteApi(_ apiId: String, changes: inout ChangeSet) throws(AWSError) {
        let record = try api(apiId)
        apis[apiId] = nil
        changes.delete(GatewayAPIRecord.self, key: record.id)
    }

    // MARK: Routes

    public mutating func createRoute(
        _ apiId: String, _ input: V2CreateRouteRequest, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) -> V2Route {
        try change(apiId, now: now, using: &random, changes: &changes) { record, random throws(AWSError) in
            try record.addRoute(input, using: &random)
        }
    }

    public func getRoute(_ apiId: String, _ routeId: String) throws(AWSError) -> V2Route {
        try api(apiId).route(routeId)
    }

    public func getRoutes(_ apiId: String, maxResults: String?, nextToken: String?) throws(AWSError) -> V2GetRoutesResponse {
        let record = try api(apiId)
        let (page, token) = try Self.page(record.routes.keys.sorted(), maxResults: maxResults, nextToken: nextToken)
        return V2GetRoutesResponse(items: page.compactMap { record.routes[$0] }, nextToken: token)
    }

    public mutating func updateRoute(
        _ apiId: String, _ routeId: String, _ input: V2UpdateRouteRequest, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) -> V2Route {
        try change(apiId, now: now, using: &random, changes: &changes) { record, _ throws(AWSError) in
            var route = try record.route(routeId)
            if let key = input.routeKey, key != route.routeKey {
                try record.checkRouteKey(key)
                if record.routes.values.contains(where: { $0.routeKey == key }) { throw .routeKeyExists(key) }
                route.routeKey = key
            }
            if let target = input.target { route.target = try record.checkTarget(target) }
            if input.authorizationType != nil || input.authorizerId != nil {
                let type = input.authorizationType ?? route.authorizationType ?? .none_
                let authorizer = input.authorizerId ?? (type == route.authorizationType ? route.authorizerId : nil)
                route.authorizationType = try record.checkAuthorization(type, authorizerId: authorizer)
                route.authorizerId = type == .none_ || type == .awsIam ? nil : authorizer
            }
            if record.isWebSocket { try record.checkWebSocketAuthorization(routeKey: route.routeKey, type: route.authorizationType ?? .none_) }
            if let expression = input.routeResponseSelectionExpression {
                route.routeResponseSelectionExpression = try record.checkRouteResponseSelection(expression)
            }
            if let scopes = input.authorizationScopes { route.authorizationScopes = scopes }
            if input.apiKeyRequired == true {
                throw .gatewayBadRequest("API keys are not supported for this API's routes by this endpoint; use a REST API's usage plans or an authorizer.")
            }
            if let operation = input.operationName { route.operationName = operation }
            record.routes[routeId] = route
            return route
        }
    }

    public mutating func deleteRoute(_ apiId: String, _ routeId: String, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError)
    {
        try change(apiId, now: now, using: &random, changes: &changes) { record, _ throws(AWSError) in
            _ = try record.route(routeId)
            record.routes[routeId] = nil
            record.routeResponses[routeId] = nil
        }
    }

    // MARK: Integrations

    public mutating func createIntegration(
        _ apiId: String, _ input: V2CreateIntegrationRequest, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) -> V2Integration {
        let names = self.names
        return try change(apiId, now: now, using: &random, changes: &changes) { record, random throws(AWSError) in
            try record.addIntegration(input, names: names, using: &random)
        }
    }

    public func getIntegration(_ apiId: String, _ integrationId: String) throws(AWSError) -> V2Integration {
        try api(apiId).integration(integrationId)
    }

    public func getIntegrations(_ apiId: String, maxResults: String?, nextToken: String?) throws(AWSError) -> V2GetIntegrationsResponse {
        let record = try api(apiId)
        let (page, token) = try Self.page(record.integrations.keys.sorted(), maxResults: maxResults, nextToken: nextToken)
        return V2GetIntegrationsResponse(items: page.compactMap { record.integrations[$0] }, nextToken: token)
    }

    public mutating func updateIntegration(
        _ apiId: String, _ integrationId: String, _ input: V2UpdateIntegrationRequest, now: Date, using random: inout Xoshiro256,
        changes: inout ChangeSet
    ) throws(AWSError) -> V2Integration {
        let names = self.names
        return try change(apiId, now: now, using: &random, changes: &changes) { record, _ throws(AWSError) in
            let current = try record.integration(integrationId)
            var merged = V2CreateIntegrationRequest(
                connectionId: input.connectionId ?? current.connectionId, connectionType: input.connectionType ?? current.connectionType,
                credentialsArn: input.credentialsArn ?? current.credentialsArn, description: input.description ?? current.description,
                integrationMethod: input.integrationMethod ?? current.integrationMethod,
                integrationType: input.integrationType ?? current.integrationType ?? .awsProxy,
                integrationUri: input.integrationUri ?? current.integrationUri, payloadFormatVersion: input.payloadFormatVersion ?? current.payloadFormatVersion,
                requestParameters: input.requestParameters ?? current.requestParameters, timeoutInMillis: input.timeoutInMillis ?? current.timeoutInMillis)
            merged.integrationSubtype = input.integrationSubtype ?? current.integrationSubtype
            merged.responseParameters = input.responseParameters ?? current.responseParameters
            merged.requestTemplates = input.requestTemplates ?? current.requestTemplates
            merged.templateSelectionExpression = input.templateSelectionExpression ?? current.templateSelectionExpression
            merged.passthroughBehavior = input.passthroughBehavior ?? current.passthroughBehavior
            merged.contentHandlingStrategy = input.contentHandlingStrategy ?? current.contentHandlingStrategy
            var integration =
                record.isWebSocket ? try Self.checkWebSocketIntegration(merged, names: names) : try Self.checkIntegration(merged, names: names)
            integration.integrationId = integrationId
            record.integrations[integrationId] = integration
            return integration
        }
    }

    public mutating func deleteIntegration(
        _ apiId: String, _ integrationId: String, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) {
        try change(apiId, now: now, using: &random, changes: &changes) { record, _ throws(AWSError) in
            _ = try record.integration(integrationId)
            if let route = record.routes.values.first(where: { $0.target == "integrations/\(integrationId)" }) {
                throw .gatewayConflict("Integration \(integrationId) is used by route \(route.routeId ?? "") (\(route.routeKey)); delete or retarget the route first.")
            }
            record.integrations[integrationId] = nil
            record.integrationResponses[integrationId] = nil
        }
    }

    // MARK: Stages

    public mutating func createStage(
        _ apiId: String, _ input: V2CreateStageRequest, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) -> V2Stage {
        var record = try api(apiId)
        let name = input.stageName
        guard name == Self.defaultStage || Self.isStageName(name) else {
            throw .gatewayBadRequest("Stage name must be $default or 1 to 128 letters, digits, hyphens and underscores: \(name)")
        }
        guard record.stages[name] == nil else { throw .gatewayConflict("Stage already exists") }
        guard record.stages.count < Self.maximumStages else {
            throw .gatewayBadRequest("Maximum number of stages (\(Self.maximumStages)) reached for this API.")
        }
        if let deploymentId = input.deploymentId { _ = try record.deployment(deploymentId) }
        try Self.checkStageVariables(input.stageVariables)
        try AccessLogFormat.check(input.accessLogSettings)
        let stage = V2Stage(
            accessLogSettings: input.accessLogSettings, autoDeploy: input.autoDeploy ?? false, clientCertificateId: input.clientCertificateId,
            createdDate: Self.timestamp(now), defaultRouteSettings: input.defaultRouteSettings ?? V2RouteSettings(detailedMetricsEnabled: false),
            deploymentId: input.deploymentId, description: input.description, lastUpdatedDate: Self.timestamp(now),
            routeSettings: input.routeSettings ?? [:], stageName: name, stageVariables: input.stageVariables ?? [:], tags: input.tags ?? [:])
        record.stages[name] = stage
        if stage.autoDeploy == true, !record.routes.isEmpty { record.autoDeploy(now: now, using: &random, only: name) }
        apis[apiId] = record
        changes.put(record)
        return record.stages[name] ?? stage
    }

    public func getStage(_ apiId: String, _ stageName: String) throws(AWSError) -> V2Stage {
        try api(apiId).stage(stageName)
    }

    public func getStages(_ apiId: String, maxResults: String?, nextToken: String?) throws(AWSError) -> V2GetStagesResponse {
        let record = try api(apiId)
        let (page, token) = try Self.page(record.stages.keys.sorted(), maxResults: maxResults, nextToken: nextToken)
        return V2GetStagesResponse(items: page.compactMap { record.stages[$0] }, nextToken: token)
    }

    public mutating func updateStage(
        _ apiId: String, _ stageName: String, _ input: V2UpdateStageRequest, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) -> V2Stage {
        var record = try api(apiId)
        var stage = try record.stage(stageName)
        if let deploymentId = input.deploymentId {
            _ = try record.deployment(deploymentId)
            stage.deploymentId = deploymentId
        }
        try Self.checkStageVariables(input.stageVariables)
        if let variables = input.stageVariables { stage.stageVariables = variables }
        if let description = input.description { stage.description = description }
        if let settings = input.defaultRouteSettings { stage.defaultRouteSettings = settings }
        if let settings = input.routeSettings { stage.routeSettings = settings }
        if let logs = input.accessLogSettings {
            // Empty settings turn access logging off.
            if logs.destinationArn == nil, logs.format == nil {
                stage.accessLogSettings = nil
            } else {
                try AccessLogFormat.check(logs)
                stage.accessLogSettings = logs
            }
        }
        let turnedOn = input.autoDeploy == true && stage.autoDeploy != true
        if let autoDeploy = input.autoDeploy { stage.autoDeploy = autoDeploy }
        stage.lastUpdatedDate = Self.timestamp(now)
        record.stages[stageName] = stage
        if turnedOn, !record.routes.isEmpty { record.autoDeploy(now: now, using: &random, only: stageName) }
        apis[apiId] = record
        changes.put(record)
        return record.stages[stageName] ?? stage
    }

    public mutating func deleteStage(_ apiId: String, _ stageName: String, changes: inout ChangeSet) throws(AWSError) {
        var record = try api(apiId)
        _ = try record.stage(stageName)
        record.stages[stageName] = nil
        apis[apiId] = record
        changes.put(record)
    }

    // MARK: Deployments

    public mutating func createDeployment(
        _ apiId: String, _ input: V2CreateDeploymentRequest, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) -> V2Deployment {
        var record = try api(apiId)
        if let stageName = input.stageName { _ = try record.stage(stageName) }
        guard !record.routes.isEmpty else {
            throw .gatewayBadRequest("Unable to deploy API because no routes exist in this API")
        }
        let deployment = record.deploy(description: input.description, autoDeployed: false, now: now, using: &random)
        if let stageName = input.stageName {
            record.stages[stageName]?.deploymentId = deployment.deploymentId
            record.stages[stageName]?.lastUpdatedDate = Self.timestamp(now)
        }
        apis[apiId] = record
        changes.put(record)
        return deployment
    }

    public func getDeployment(_ apiId: String, _ deploymentId: String) throws(AWSError) -> V2Deployment {
        try api(apiId).deployment(deploymentId).deployment
    }

    public func getDeployments(_ apiId: String, maxResults: String?, nextToken: String?) throws(AWSError) -> V2GetDeploymentsResponse {
        let record = try api(apiId)
        let (page, token) = try Self.page(record.deployments.keys.sorted(), maxResults: maxResults, nextToken: nextToken)
        return V2GetDeploymentsResponse(items: page.compactMap { record.deployments[$0]?.deployment }, nextToken: token)
    }

    public mutating func deleteDeployment(_ apiId: String, _ deploymentId: String, changes: inout ChangeSet) throws(AWSError) {
        var record = try api(apiId)
        _ = try record.deployment(deploymentId)
        if let stage = record.stages.values.first(where: { $0.deploymentId == deploymentId }) {
            throw .gatewayBadRequest("Deployment \(deploymentId) is in use by stage \(stage.stageName); point the stage at another deployment first.")
        }
        record.deployments[deploymentId] = nil
        apis[apiId] = record
        changes.put(record)
    }

    // MARK: Tags

    /// The API a tagging ARN names (`arn:aws:apigateway:{region}::/apis/{apiId}`).
    func taggedApi(_ arn: String) throws(AWSError) -> String {
        let prefix = "arn:\(names.partition):apigateway:\(names.region)::/apis/"
        guard arn.hasPrefix(prefix), let id = arn.dropFirst(prefix.count).split(separator: "/").first.map(String.init), apis[id] != nil else {
            throw .gatewayNotFound("Invalid resource identifier specified \(arn)", resourceType: nil)
        }
        return id
    }

    public func getTags(_ arn: String) throws(AWSError) -> V2GetTagsResponse {
        V2GetTagsResponse(tags: apis[try taggedApi(arn)]?.api.tags ?? [:])
    }

    public mutating func tagResource(_ arn: String, tags: [String: String], changes: inout ChangeSet) throws(AWSError) {
        let id = try taggedApi(arn)
        guard var record = apis[id] else { return }
        record.api.tags = (record.api.tags ?? [:]).merging(tags) { _, new in new }
        guard (record.api.tags?.count ?? 0) <= 50 else { throw .gatewayBadRequest("An API can have at most 50 tags.") }
        apis[id] = record
        changes.put(record)
    }

    public mutating func untagResource(_ arn: String, keys: [String], changes: inout ChangeSet) throws(AWSError) {
        let id = try taggedApi(arn)
        guard var record = apis[id] else { return }
        for key in keys { record.api.tags?[key] = nil }
        apis[id] = record
        changes.put(record)
    }

    // MARK: Helpers

    public func api(_ apiId: String) throws(AWSError) -> GatewayAPIRecord {
        guard let record = apis[apiId] else {
            throw .gatewayNotFound("Invalid API identifier specified \(names.accountId):\(apiId)", resourceType: nil)
        }
        return record
    }

    /// Runs a change to an API's routes or integrations, then redeploys its auto-deploy stages.
    mutating func change<Result>(
        _ apiId: String, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet,
        _ body: (inout GatewayAPIRecord, inout Xoshiro256) throws(AWSError) -> Result
    ) throws(AWSError) -> Result {
        var record = try api(apiId)
        let result = try body(&record, &random)
        if !record.routes.isEmpty { record.autoDeploy(now: now, using: &random) }
        apis[apiId] = record
        changes.put(record)
        return result
    }

    static func timestamp(_ date: Date) -> String {
        CivilCalendar.iso8601(secondsSince1970: Int64(date.timeIntervalSince1970.rounded(.down)))
    }

    /// A new id of lowercase letters and digits, as API Gateway's.
    static func newId(length: Int, using random: inout Xoshiro256, isFree: (String) -> Bool) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        while true {
            let id = String((0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
            if isFree(id) { return id }
        }
    }

    static func page(_ keys: [String], maxResults: String?, nextToken: String?) throws(AWSError) -> (page: [String], nextToken: String?) {
        var size: Int?
        if let maxResults {
            guard let value = Int(maxResults) else { throw .gatewayBadRequest("maxResults must be a number: \(maxResults)") }
            size = value
        }
        do {
            return try Pagination.page(keys, key: { $0 }, maxResults: size, nextToken: nextToken, limit: 500, comesAfter: { $0 > $1 })
        } catch {
            throw .gatewayBadRequest(error.message)
        }
    }

    /// AWS refuses credentials with any origin: the browser would be sent every site's cookies' answers.
    static func checkCors(_ cors: V2Cors?) throws(AWSError) {
        guard let cors, cors.allowCredentials == true, (cors.allowOrigins ?? []).contains("*") else { return }
        throw .gatewayBadRequest("CORS allowOrigins cannot be * when allowCredentials is true; list the origins allowed to send credentials.")
    }

    /// An API as the control API shows it: its endpoint as the gateway listens now.
    func presented(_ api: V2Api) -> V2Api { api.withEndpoint(endpoint) }

    static func checkName(_ name: String) throws(AWSError) {
        guard (1...128).contains(name.count) else { throw .gatewayBadRequest("Invalid API name specified: name must be 1 to 128 characters.") }
    }

    /// 1 to 128 letters, digits, hyphens and underscores, for HTTP, WebSocket and REST APIs' stages.
    static func isStageName(_ name: String) -> Bool {
        NameRules.isValidName(name, maxLength: 128)
    }

    /// An http:// or https:// URL with a host: what HTTP_PROXY integrations send requests to.
    static func isHTTPURL(_ text: String) -> Bool {
        URL(string: text).map { ["http", "https"].contains($0.scheme ?? "") && $0.host != nil } == true
    }

    static func checkStageVariables(_ variables: [String: String]?) throws(AWSError) {
        guard let variables else { return }
        guard variables.count <= 100 else { throw .gatewayBadRequest("A stage can have at most 100 stage variables.") }
        for (key, value) in variables {
            guard (1...64).contains(key.count), key.utf8.allSatisfy({ $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "_") }) else {
                throw .gatewayBadRequest("Stage variable names must be 1 to 64 letters, digits and underscores: \(key)")
            }
            guard value.count <= 512 else { throw .gatewayBadRequest("Stage variable \(key)'s value is longer than 512 characters.") }
        }
    }


    /// A quick-create target: a function (AWS_PROXY, payload 2.0), or a URL or target group (HTTP_PROXY).
    static func quickIntegration(target: String, credentialsArn: String?) -> V2CreateIntegrationRequest {
        if target.hasPrefix("http://") || target.hasPrefix("https://") || TargetGroup.isArn(target) {
            return V2CreateIntegrationRequest(
                integrationMethod: "ANY", integrationType: .httpProxy, integrationUri: target, payloadFormatVersion: "1.0")
        }
        return V2CreateIntegrationRequest(
            credentialsArn: credentialsArn, integrationType: .awsProxy, integrationUri: target, payloadFormatVersion: "2.0")
    }

    /// Checks an integration for an HTTP API and fills in AWS's defaults.
    static func checkIntegration(_ input: V2CreateIntegrationRequest, names: ResourceNames) throws(AWSError) -> V2Integration {
        let timeout = input.timeoutInMillis ?? 30000
        guard (50...30000).contains(timeout) else {
            throw .gatewayBadRequest("Timeout must be between 50 milliseconds and 30000 milliseconds.")
        }
        var integration = V2Integration(
            connectionId: input.connectionId, connectionType: input.connectionType ?? .internet, credentialsArn: input.credentialsArn,
            description: input.description, integrationMethod: input.integrationMethod, integrationType: input.integrationType,
            integrationUri: input.integrationUri, payloadFormatVersion: input.payloadFormatVersion, requestParameters: input.requestParameters,
            responseParameters: input.responseParameters, timeoutInMillis: timeout)
        guard integration.connectionType != .vpcLink else { throw .gatewayBadRequest("VPC links are not supported by this endpoint.") }
        if let subtype = input.integrationSubtype {
            _ = try ServiceIntegration.check(input, subtype: subtype)
            integration.integrationSubtype = subtype
            integration.integrationUri = nil
            integration.payloadFormatVersion = "1.0"
            return integration
        }
        switch input.integrationType {
        case .awsProxy:
            guard let uri = input.integrationUri, FunctionTarget(integrationUri: uri) != nil else {
                throw .gatewayBadRequest(
                    "Invalid integration URI specified: give a function ARN (arn:aws:lambda:\(names.region):\(names.accountId):function:NAME) or its invocation URI (arn:aws:apigateway:\(names.region):lambda:path/2015-03-31/functions/ARN/invocations)")
            }
            guard let version = input.payloadFormatVersion else {
                throw .gatewayBadRequest("PayloadFormatVersion is required for AWS_PROXY integrations")
            }
            guard version == "1.0" || version == "2.0" else {
                throw .gatewayBadRequest("Unsupported payload format version \(version); use 1.0 or 2.0")
            }
            integration.integrationMethod = input.integrationMethod ?? "POST"
        case .httpProxy:
            guard let uri = input.integrationUri,
                TargetGroup.isArn(uri) || Self.isHTTPURL(uri)
            else {
                throw .gatewayBadRequest(
                    "Invalid integration URI specified: HTTP_PROXY integrations need an http:// or https:// URL, or the target group ARN of ECS services' loadBalancers.")
            }
            guard let method = input.integrationMethod else {
                throw .gatewayBadRequest("Integration method must be specified for HTTP_PROXY integrations")
            }
            guard method == "ANY" || RouteKey.methods.contains(method) else { throw .gatewayBadRequest("Invalid integration method: \(method)") }
            guard input.payloadFormatVersion == nil || input.payloadFormatVersion == "1.0" else {
                throw .gatewayBadRequest("HTTP_PROXY integrations support payload format version 1.0 only")
            }
            integration.payloadFormatVersion = "1.0"
        default:
            throw .gatewayBadRequest(
                "Integration type \(input.integrationType.rawValue) is not supported for HTTP APIs; use AWS_PROXY or HTTP_PROXY.")
        }
        return integration
    }
}
