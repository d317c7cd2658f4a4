#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import APIGatewayShapes
import StevedoreCore

/// An API record's parts: finding them, checking and adding routes and integrations, deploying.
extension GatewayAPIRecord {
    /// A route's authorization: JWT needs a JWT authorizer of the API, CUSTOM a REQUEST one.
    func checkAuthorization(_ type: V2AuthorizationType, authorizerId: String?) throws(AWSError) -> V2AuthorizationType {
        switch type {
        case .none_, .awsIam:
            // AWS_IAM needs no authorizer: ecsd's own keys and policies decide.
            return type
        case .jwt, .custom:
            guard let authorizerId else { throw .gatewayBadRequest("An authorizer ID must be specified for authorization type \(type.rawValue)") }
            guard let authorizer = authorizers[authorizerId] else {
                throw .gatewayBadRequest("Invalid authorizer identifier specified: \(authorizerId)")
            }
            let wanted: V2AuthorizerType = type == .jwt ? .jwt : .request
            guard authorizer.authorizerType == wanted else {
                throw .gatewayBadRequest("Authorization type \(type.rawValue) needs a \(wanted.rawValue) authorizer; \(authorizerId) is \(authorizer.authorizerType?.rawValue ?? "")")
            }
            return type
        }
    }

    func route(_ routeId: String) throws(AWSError) -> V2Route {
        guard let route = routes[routeId] else { throw .gatewayNotFound("Invalid Route identifier specified \(routeId)", resourceType: "Route") }
        return route
    }

    func integration(_ integrationId: String) throws(AWSError) -> V2Integration {
        guard let integration = integrations[integrationId] else {
            throw .gatewayNotFound("Invalid Integration identifier specified \(integrationId)", resourceType: "Integration")
        }
        return integration
    }

    func stage(_ stageName: String) throws(AWSError) -> V2Stage {
        guard let stage = stages[stageName] else { throw .gatewayNotFound("Invalid stage identifier specified", resourceType: "Stage") }
        return stage
    }

    func deployment(_ deploymentId: String) throws(AWSError) -> GatewayDeployment {
        guard let deployment = deployments[deploymentId] else {
            throw .gatewayNotFound("Invalid Deployment identifier specified \(deploymentId)", resourceType: "Deployment")
        }
        return deployment
    }

    /// A route's target, which must name one of the API's integrations.
    func checkTarget(_ target: String) throws(AWSError) -> String {
        let prefix = "integrations/"
        guard target.hasPrefix(prefix), integrations[String(target.dropFirst(prefix.count))] != nil else {
            throw .gatewayBadRequest("Invalid integration identifier specified in target: \(target)")
        }
        return target
    }

    /// A route key as the API's protocol has them: `GET /pets/{id}` for HTTP APIs, `$connect` or a
    /// custom key for WebSocket APIs.
    func checkRouteKey(_ key: String) throws(AWSError) {
        if isWebSocket { try Self.checkWebSocketRouteKey(key) } else { try RouteKey.check(key) }
    }

    /// A route's response selection: WebSocket routes answer their client through `$default`.
    func checkRouteResponseSelection(_ expression: String) throws(AWSError) -> String {
        guard isWebSocket else { throw .gatewayBadRequest("Route response selection expressions are supported for WebSocket APIs only.") }
        guard expression == "$default" else {
            throw .gatewayBadRequest("Invalid route response selection expression \(expression): WebSocket routes support $default only.")
        }
        return expression
    }

    mutating func addRoute(_ input: V2CreateRouteRequest, using random: inout Xoshiro256) throws(AWSError) -> V2Route {
        try checkRouteKey(input.routeKey)
        guard !routes.values.contains(where: { $0.routeKey == input.routeKey }) else { throw .routeKeyExists(input.routeKey) }
        guard routes.count < GatewayState.maximumRoutes else {
            throw .gatewayBadRequest("Maximum number of routes (\(GatewayState.maximumRoutes)) reached for this API.")
        }
        let authorization = try checkAuthorization(input.authorizationType ?? .none_, authorizerId: input.authorizerId)
        if isWebSocket { try checkWebSocketAuthorization(routeKey: input.routeKey, type: authorization) }
        if input.apiKeyRequired == true {
            throw .gatewayBadRequest("API keys are not supported for this API's routes by this endpoint; use a REST API's usage plans or an authorizer.")
        }
        let responseSelection = try input.routeResponseSelectionExpression.map { (expression) throws(AWSError) in
            try checkRouteResponseSelection(expression)
        }
        let id = GatewayState.newId(length: 7, using: &random) { routes[$0] == nil }
        let route = V2Route(
            apiKeyRequired: input.apiKeyRequired ?? false, authorizationScopes: input.authorizationScopes, authorizationType: authorization,
            authorizerId: authorization == .none_ || authorization == .awsIam ? nil : input.authorizerId, operationName: input.operationName, requestModels: input.requestModels, requestParameters: input.requestParameters, routeId: id,
            routeKey: input.routeKey, routeResponseSelectionExpression: responseSelection,
            target: try input.target.map { (target) throws(AWSError) in try checkTarget(target) })
        routes[id] = route
        return route
    }

    mutating func addIntegration(_ input: V2CreateIntegrationRequest, names: ResourceNames, using random: inout Xoshiro256) throws(AWSError)
        -> V2Integration
    {
        guard integrations.count < GatewayState.maximumIntegrations else {
            throw .gatewayBadRequest("Maximum number of integrations (\(GatewayState.maximumIntegrations)) reached for this API.")
        }
        var integration =
            isWebSocket ? try GatewayState.checkWebSocketIntegration(input, names: names) : try GatewayState.checkIntegration(input, names: names)
        let id = GatewayState.newId(length: 7, using: &random) { integrations[$0] == nil }
        integration.integrationId = id
        integrations[id] = integration
        return integration
    }

    /// A new deployment of the routes and integrations as they are now.
    mutating func deploy(description: String?, autoDeployed: Bool, now: Date, using random: inout Xoshiro256) -> V2Deployment {
        let id = GatewayState.newId(length: 6, using: &random) { deployments[$0] == nil }
        let deployment = V2Deployment(
            autoDeployed: autoDeployed, createdDate: GatewayState.timestamp(now), deploymentId: id, deploymentStatus: .deployed,
            description: description)
        deployments[id] = GatewayDeployment(
            deployment: deployment, routes: routes.values.sorted { ($0.routeId ?? "") < ($1.routeId ?? "") }, integrations: integrations,
            authorizers: authorizers,
            routeResponses: routeResponses.isEmpty ? nil : routeResponses.mapValues { $0.values.map(\.routeResponseKey).sorted() },
            integrationResponses: integrationResponses.isEmpty
                ? nil : integrationResponses.mapValues { $0.values.sorted { $0.integrationResponseKey < $1.integrationResponseKey } })
        return deployment
    }

    /// Deploys the current configuration to every auto-deploy stage (or only `stageName`).
    mutating func autoDeploy(now: Date, using random: inout Xoshiro256, only stageName: String? = nil) {
        let targets = stages.values.filter { $0.autoDeploy == true && (stageName == nil || $0.stageName == stageName) }.map(\.stageName)
        guard !targets.isEmpty else { return }
        let previous = Set(targets.compactMap { stages[$0]?.deploymentId })
        let deployment = deploy(description: GatewayState.autoDeployDescription, autoDeployed: true, now: now, using: &random)
        for name in targets {
            stages[name]?.deploymentId = deployment.deploymentId
            stages[name]?.lastDeploymentStatusMessage = "Successfully deployed stage with deployment ID '\(deployment.deploymentId ?? "")'"
            stages[name]?.lastUpdatedDate = GatewayState.timestamp(now)
        }
        // Automatic deployments no stage points at any more are not kept (AWS lists only the latest).
        for id in previous where deployments[id]?.deployment.autoDeployed == true && !stages.values.contains(where: { $0.deploymentId == id }) {
            deployments[id] = nil
        }
    }
}

extension UInt8 {
    var isASCIIAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}

extension AWSError {
    static func gatewayBadRequest(_ message: String) -> AWSError {
        AWSError(type: "BadRequestException", message: message, httpStatus: 400)
    }

    static func gatewayNotFound(_ message: String, resourceType: String?) -> AWSError {
        AWSError(type: "NotFoundException", message: message, httpStatus: 404, extraFields: resourceType.map { ["resourceType": $0] } ?? [:])
    }

    static func gatewayConflict(_ message: String) -> AWSError {
        AWSError(type: "ConflictException", message: message, httpStatus: 409)
    }

    static func routeKeyExists(_ key: String) -> AWSError {
        .gatewayConflict("Unable to create route \(key). The route key already exists in this API.")
    }
}
