#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import APIGatewayShapes
import StevedoreCore

/// API Gateway v2's WebSocket APIs: what differs from HTTP APIs when they are created, their
/// routes and integrations checked, and their route responses and integration responses.
extension GatewayState {
    /// WebSocket APIs' integration timeout limit (AWS's: 29 seconds).
    static let maximumWebSocketTimeout = 29000

    mutating func createWebSocketApi(_ input: V2CreateApiRequest, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError) -> V2Api
    {
        try Self.checkName(input.name)
        guard let expression = input.routeSelectionExpression else {
            throw .gatewayBadRequest("RouteSelectionExpression is required for WEBSOCKET APIs, for example $request.body.action")
        }
        try WebSocketRouteSelection.check(expression)
        if input.target != nil || input.routeKey != nil {
            throw .gatewayBadRequest("Quick create (target, routeKey) is supported for HTTP APIs only; create the WebSocket API's routes one by one.")
        }
        if input.corsConfiguration != nil { throw .gatewayBadRequest("CORS configuration is supported for HTTP APIs only.") }
        let id = Self.newId(length: 10, using: &random) { apis[$0] == nil && restApis[$0] == nil }
        let api = V2Api(
            apiEndpoint: endpoint.url(of: id, protocolType: .websocket), apiId: id,
            apiKeySelectionExpression: input.apiKeySelectionExpression ?? "$request.header.x-api-key", createdDate: Self.timestamp(now),
            description: input.description, disableSchemaValidation: input.disableSchemaValidation,
            disableExecuteApiEndpoint: input.disableExecuteApiEndpoint ?? false, ipAddressType: input.ipAddressType ?? .ipv4, name: input.name,
            protocolType: .websocket, routeSelectionExpression: expression, tags: input.tags ?? [:], version: input.version)
        let record = GatewayAPIRecord(api: api)
        apis[id] = record
        changes.put(record)
        return presented(record.api)
    }

    // MARK: Route responses

    public mutating func createRouteResponse(
        _ apiId: String, _ routeId: String, _ input: V2CreateRouteResponseRequest, now: Date, using random: inout Xoshiro256,
        changes: inout ChangeSet
    ) throws(AWSError) -> V2RouteResponse {
        try change(apiId, now: now, using: &random, changes: &changes) { record, random throws(AWSError) in
            try record.checkWebSocket("Route responses")
            _ = try record.route(routeId)
            try Self.checkRouteResponseKey(input.routeResponseKey)
            let existing = record.routeResponses[routeId] ?? [:]
            guard !existing.values.contains(where: { $0.routeResponseKey == input.routeResponseKey }) else {
                throw .gatewayConflict("Unable to create route response \(input.routeResponseKey). The route response key already exists for this route.")
            }
            let id = Self.newId(length: 6, using: &random) { existing[$0] == nil }
            let response = V2RouteResponse(
                modelSelectionExpression: input.modelSelectionExpression, responseModels: input.responseModels,
                responseParameters: input.responseParameters, routeResponseId: id, routeResponseKey: input.routeResponseKey)
            record.routeResponses[routeId, default: [:]][id] = response
            return response
        }
    }

    public func getRouteResponse(_ apiId: String, _ routeId: String, _ responseId: String) throws(AWSError) -> V2RouteResponse {
        try api(apiId).routeResponse(routeId, responseId)
    }

    public func getRouteResponses(_ apiId: String, _ routeId: String, maxResults: String?, nextToken: String?) throws(AWSError)
        -> V2GetRouteResponsesResponse
    {
        let record = try api(apiId)
        _ = try record.route(routeId)
        let responses = record.routeResponses[routeId] ?? [:]
        let (page, token) = try Self.page(responses.keys.sorted(), maxResults: maxResults, nextToken: nextToken)
        return V2GetRouteResponsesResponse(items: page.compactMap { responses[$0] }, nextToken: token)
    }

    public mutating func updateRouteResponse(
        _ apiId: String, _ routeId: String, _ responseId: String, _ input: V2UpdateRouteResponseRequest, now: Date,
        using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) -> V2RouteResponse {
        try change(apiId, now: now, using: &random, changes: &changes) { record, _ throws(AWSError) in
            var response = try record.routeResponse(routeId, responseId)
            if let key = input.routeResponseKey {
                try Self.checkRouteResponseKey(key)
                response.routeResponseKey = key
            }
            if let value = input.modelSelectionExpression { response.modelSelectionExpression = value }
            if let value = input.responseModels { response.responseModels = value }
            if let value = input.responseParameters { response.responseParameters = value }
            record.routeResponses[routeId]?[responseId] = response
            return response
        }
    }

    public mutating func deleteRouteResponse(
        _ apiId: String, _ routeId: String, _ responseId: String, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) {
        try change(apiId, now: now, using: &random, changes: &changes) { record, _ throws(AWSError) in
            _ = try record.routeResponse(routeId, responseId)
            record.routeResponses[routeId]?[responseId] = nil
            if record.routeResponses[routeId]?.isEmpty == true { record.routeResponses[routeId] = nil }
        }
    }

    /// WebSocket APIs answer a route with its `$default` route response only.
    static func checkRouteResponseKey(_ key: String) throws(AWSError) {
        guard key == "$default" else {
            throw .gatewayBadRequest("Invalid route response key \(key): WebSocket routes support the $default route response key only.")
        }
    }

    // MARK: Integration responses

    public mutating func createIntegrationResponse(
        _ apiId: String, _ integrationId: String, _ input: V2CreateIntegrationResponseRequest, now: Date, using random: inout Xoshiro256,
        changes: inout ChangeSet
    ) throws(AWSError) -> V2IntegrationResponse {
        try change(apiId, now: now, using: &random, changes: &changes) { record, random throws(AWSError) in
            try record.checkWebSocket("Integration responses")
            _ = try record.integration(integrationId)
            try IntegrationResponseKey.check(input.integrationResponseKey)
            try MappingTemplates.check(input.responseTemplates)
            let existing = record.integrationResponses[integrationId] ?? [:]
            guard !existing.values.contains(where: { $0.integrationResponseKey == input.integrationResponseKey }) else {
                throw .gatewayConflict(
                    "Unable to create integration response \(input.integrationResponseKey). The integration response key already exists for this integration.")
            }
            let id = Self.newId(length: 6, using: &random) { existing[$0] == nil }
            let response = V2IntegrationResponse(
                contentHandlingStrategy: input.contentHandlingStrategy, integrationResponseId: id,
                integrationResponseKey: input.integrationResponseKey, responseParameters: input.responseParameters,
                responseTemplates: input.responseTemplates, templateSelectionExpression: input.templateSelectionExpression)
            record.integrationResponses[integrationId, default: [:]][id] = response
            return response
        }
    }

    public func getIntegrationResponse(_ apiId: String, _ integrationId: String, _ responseId: String) throws(AWSError)
        -> V2IntegrationResponse
    {
        try api(apiId).integrationResponse(integrationId, responseId)
    }

    public func getIntegrationResponses(_ apiId: String, _ integrationId: String, maxResults: String?, nextToken: String?)
        throws(AWSError) -> V2GetIntegrationResponsesResponse
    {
        let record = try api(apiId)
        _ = try record.integration(integrationId)
        let responses = record.integrationResponses[integrationId] ?? [:]
        let (page, token) = try Self.page(responses.keys.sorted(), maxResults: maxResults, nextToken: nextToken)
        return V2GetIntegrationResponsesResponse(items: page.compactMap { responses[$0] }, nextToken: token)
    }

    public mutating func updateIntegrationResponse(
        _ apiId: String, _ integrationId: String, _ responseId: String, _ input: V2UpdateIntegrationResponseRequest, now: Date,
        using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) -> V2IntegrationResponse {
        try change(apiId, now: now, using: &random, changes: &changes) { record, _ throws(AWSError) in
            var response = try record.integrationResponse(integrationId, responseId)
            if let key = input.integrationResponseKey {
                try IntegrationResponseKey.check(key)
                response.integrationResponseKey = key
            }
            try MappingTemplates.check(input.responseTemplates)
            if let value = input.responseTemplates { response.responseTemplates = value }
            if let value = input.templateSelectionExpression { response.templateSelectionExpression = value }
            if let value = input.responseParameters { response.responseParameters = value }
            if let value = input.contentHandlingStrategy { response.contentHandlingStrategy = value }
            record.integrationResponses[integrationId]?[responseId] = response
            return response
        }
    }

    public mutating func deleteIntegrationResponse(
        _ apiId: String, _ integrationId: String, _ responseId: String, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) {
        try change(apiId, now: now, using: &random, changes: &changes) { record, _ throws(AWSError) in
            _ = try record.integrationResponse(integrationId, responseId)
            record.integrationResponses[integrationId]?[responseId] = nil
            if record.integrationResponses[integrationId]?.isEmpty == true { record.integrationResponses[integrationId] = nil }
        }
    }

    /// Checks an integration of a WebSocket API: a function (AWS_PROXY), an HTTP backend
    /// (HTTP_PROXY, the message as the body) or MOCK (answered from templates).
    static func checkWebSocketIntegration(_ input: V2CreateIntegrationRequest, names: ResourceNames) throws(AWSError) -> V2Integration {
        let timeout = input.timeoutInMillis ?? maximumWebSocketTimeout
        guard (50...maximumWebSocketTimeout).contains(timeout) else {
            throw .gatewayBadRequest("Timeout must be between 50 milliseconds and \(maximumWebSocketTimeout) milliseconds.")
        }
        try MappingTemplates.check(input.requestTemplates)
        var integration = V2Integration(
            connectionType: input.connectionType ?? .internet, contentHandlingStrategy: input.contentHandlingStrategy,
            credentialsArn: input.credentialsArn, description: input.description, integrationMethod: input.integrationMethod,
            integrationType: input.integrationType, integrationUri: input.integrationUri,
            passthroughBehavior: input.passthroughBehavior ?? .whenNoMatch, requestParameters: input.requestParameters,
            requestTemplates: input.requestTemplates, templateSelectionExpression: input.templateSelectionExpression, timeoutInMillis: timeout)
        guard integration.connectionType != .vpcLink else { throw .gatewayBadRequest("VPC links are not supported by this endpoint.") }
        switch input.integrationType {
        case .awsProxy:
            guard let uri = input.integrationUri, FunctionTarget(integrationUri: uri) != nil else {
                throw .gatewayBadRequest(
                    "Invalid integration URI specified: give a function ARN (arn:aws:lambda:\(names.region):\(names.accountId):function:NAME) or its invocation URI (arn:aws:apigateway:\(names.region):lambda:path/2015-03-31/functions/ARN/invocations)")
            }
            guard input.payloadFormatVersion == nil || input.payloadFormatVersion == "1.0" else {
                throw .gatewayBadRequest("WebSocket APIs support payload format version 1.0 only")
            }
            integration.payloadFormatVersion = "1.0"
            integration.integrationMethod = input.integrationMethod ?? "POST"
        case .httpProxy:
            guard let uri = input.integrationUri, isHTTPURL(uri) else {
                throw .gatewayBadRequest("Invalid integration URI specified: HTTP_PROXY integrations need an http:// or https:// URL.")
            }
            let method = input.integrationMethod ?? "POST"
            guard method == "ANY" || RouteKey.methods.contains(method) else { throw .gatewayBadRequest("Invalid integration method: \(method)") }
            integration.integrationMethod = method
            integration.payloadFormatVersion = "1.0"
        case .mock:
            guard input.integrationUri == nil else { throw .gatewayBadRequest("MOCK integrations take no integration URI.") }
            integration.payloadFormatVersion = "1.0"
            integration.integrationResponseSelectionExpression = "${integration.response.statuscode}"
        default:
            throw .gatewayBadRequest(
                "Integration type \(input.integrationType.rawValue) is not supported for WebSocket APIs; use AWS_PROXY, HTTP_PROXY or MOCK.")
        }
        return integration
    }
}

extension GatewayAPIRecord {
    func checkWebSocket(_ what: String) throws(AWSError) {
        guard isWebSocket else { throw .gatewayBadRequest("\(what) are supported for WebSocket APIs only.") }
    }

    func routeResponse(_ routeId: String, _ responseId: String) throws(AWSError) -> V2RouteResponse {
        _ = try route(routeId)
        guard let response = routeResponses[routeId]?[responseId] else {
            throw .gatewayNotFound("Invalid RouteResponse identifier specified \(responseId)", resourceType: "RouteResponse")
        }
        return response
    }

    func integrationResponse(_ integrationId: String, _ responseId: String) throws(AWSError) -> V2IntegrationResponse {
        _ = try integration(integrationId)
        guard let response = integrationResponses[integrationId]?[responseId] else {
            throw .gatewayNotFound("Invalid IntegrationResponse identifier specified \(responseId)", resourceType: "IntegrationResponse")
        }
        return response
    }

    /// A WebSocket route key: `$connect`, `$disconnect`, `$default`, or a custom key a message's
    /// route selection expression evaluates to (other keys starting with `$` are reserved).
    static func checkWebSocketRouteKey(_ key: String) throws(AWSError) {
        guard (1...128).contains(key.count) else { throw .gatewayBadRequest("Route keys must be 1 to 128 characters.") }
        guard !key.hasPrefix("$") || WebSocketRouteKey.reserved.contains(key) else {
            throw .gatewayBadRequest("Invalid route key \(key): keys starting with $ are reserved; use $connect, $disconnect, $default or a custom key.")
        }
    }

    /// WebSocket APIs authorize the `$connect` route only, with IAM or a REQUEST authorizer.
    func checkWebSocketAuthorization(routeKey: String, type: V2AuthorizationType) throws(AWSError) {
        guard type != .none_ else { return }
        guard routeKey == WebSocketRouteKey.connect else {
            throw .gatewayBadRequest("Currently, authorization is restricted to the $connect route only")
        }
        guard type != .jwt else { throw .gatewayBadRequest("JWT authorization is supported for HTTP APIs only.") }
    }
}

/// The route keys WebSocket APIs reserve.
public enum WebSocketRouteKey {
    public static let connect = "$connect"
    public static let disconnect = "$disconnect"
    public static let `default` = "$default"
    static let reserved: Set<String> = [connect, disconnect, `default`]
}

/// An integration response's key: `$default`, or a regular expression between slashes that the
/// integration's status code is matched against (`/2\d\d/`).
enum IntegrationResponseKey {
    static func check(_ key: String) throws(AWSError) {
        if key == "$default" { return }
        guard key.count > 2, key.hasPrefix("/"), key.hasSuffix("/"), (try? Regex(String(key.dropFirst().dropLast()))) != nil else {
            throw .gatewayBadRequest("Invalid integration response key \(key): use $default or a regular expression between slashes, such as /2\\d\\d/")
        }
    }
}
