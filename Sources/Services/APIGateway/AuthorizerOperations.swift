#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import APIGatewayShapes
import StevedoreCore

/// HTTP APIs' authorizers: JWT (issuer and audiences, keys from the issuer's JWKS) and REQUEST
/// (a function that answers yes or no, with simple responses or an IAM policy).
extension GatewayState {
    static let maximumAuthorizers = 10

    public mutating func createAuthorizer(
        _ apiId: String, _ input: V2CreateAuthorizerRequest, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) -> V2Authorizer {
        let names = self.names
        return try change(apiId, now: now, using: &random, changes: &changes) { record, random throws(AWSError) in
            guard record.authorizers.count < Self.maximumAuthorizers else {
                throw .gatewayBadRequest("Maximum number of authorizers (\(Self.maximumAuthorizers)) reached for this API.")
            }
            var authorizer = try Self.checkAuthorizer(
                V2Authorizer(
                    authorizerCredentialsArn: input.authorizerCredentialsArn, authorizerPayloadFormatVersion: input.authorizerPayloadFormatVersion,
                    authorizerResultTtlInSeconds: input.authorizerResultTtlInSeconds, authorizerType: input.authorizerType,
                    authorizerUri: input.authorizerUri, enableSimpleResponses: input.enableSimpleResponses, identitySource: input.identitySource,
                    identityValidationExpression: input.identityValidationExpression, jwtConfiguration: input.jwtConfiguration, name: input.name),
                names: names, webSocket: record.isWebSocket)
            authorizer.authorizerId = GatewayState.newId(length: 6, using: &random) { record.authorizers[$0] == nil }
            record.authorizers[authorizer.authorizerId ?? ""] = authorizer
            return authorizer
        }
    }

    public func getAuthorizer(_ apiId: String, _ authorizerId: String) throws(AWSError) -> V2Authorizer {
        try api(apiId).authorizer(authorizerId)
    }

    public func getAuthorizers(_ apiId: String, maxResults: String?, nextToken: String?) throws(AWSError) -> V2GetAuthorizersResponse {
        let record = try api(apiId)
        let (page, token) = try Self.page(record.authorizers.keys.sorted(), maxResults: maxResults, nextToken: nextToken)
        return V2GetAuthorizersResponse(items: page.compactMap { record.authorizers[$0] }, nextToken: token)
    }

    public mutating func updateAuthorizer(
        _ apiId: String, _ authorizerId: String, _ input: V2UpdateAuthorizerRequest, now: Date, using random: inout Xoshiro256,
        changes: inout ChangeSet
    ) throws(AWSError) -> V2Authorizer {
        let names = self.names
        return try change(apiId, now: now, using: &random, changes: &changes) { record, _ throws(AWSError) in
            var authorizer = try record.authorizer(authorizerId)
            if let value = input.name { authorizer.name = value }
            if let value = input.authorizerType, value != authorizer.authorizerType {
                if let route = record.routes.values.first(where: { $0.authorizerId == authorizerId }) {
                    throw .gatewayBadRequest("Authorizer \(authorizerId) is used by route \(route.routeKey); its type cannot change.")
                }
                authorizer.authorizerType = value
            }
            if let value = input.authorizerUri { authorizer.authorizerUri = value }
            if let value = input.authorizerPayloadFormatVersion { authorizer.authorizerPayloadFormatVersion = value }
            if let value = input.authorizerResultTtlInSeconds { authorizer.authorizerResultTtlInSeconds = value }
            if let value = input.enableSimpleResponses { authorizer.enableSimpleResponses = value }
            if let value = input.identitySource { authorizer.identitySource = value }
            if let value = input.jwtConfiguration { authorizer.jwtConfiguration = value }
            if let value = input.authorizerCredentialsArn { authorizer.authorizerCredentialsArn = value }
            authorizer = try Self.checkAuthorizer(authorizer, names: names, webSocket: record.isWebSocket)
            record.authorizers[authorizerId] = authorizer
            return authorizer
        }
    }

    public mutating func deleteAuthorizer(
        _ apiId: String, _ authorizerId: String, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) {
        try change(apiId, now: now, using: &random, changes: &changes) { record, _ throws(AWSError) in
            _ = try record.authorizer(authorizerId)
            if let route = record.routes.values.first(where: { $0.authorizerId == authorizerId }) {
                throw .gatewayConflict("Authorizer \(authorizerId) is used by route \(route.routeId ?? "") (\(route.routeKey)); remove it from the route first.")
            }
            record.authorizers[authorizerId] = nil
        }
    }

    /// Checks an authorizer for an HTTP API and fills in AWS's defaults.
    static func checkAuthorizer(_ input: V2Authorizer, names: ResourceNames, webSocket: Bool = false) throws(AWSError) -> V2Authorizer {
        var authorizer = input
        guard (1...128).contains(input.name.count) else { throw .gatewayBadRequest("Authorizer name must be 1 to 128 characters.") }
        let sources = input.identitySource ?? []
        if webSocket { return try checkWebSocketAuthorizer(input, names: names) }
        for source in sources where IdentitySource(source) == nil {
            throw .gatewayBadRequest(
                "Invalid identity source \(source): use $request.header.NAME, $request.querystring.NAME, $context.NAME or $stageVariables.NAME")
        }
        switch input.authorizerType {
        case .jwt:
            guard let jwt = input.jwtConfiguration, let issuer = jwt.issuer, URL(string: issuer)?.host != nil else {
                throw .gatewayBadRequest("JWT authorizers need a JwtConfiguration with an Issuer URL.")
            }
            guard let audience = jwt.audience, (1...50).contains(audience.count) else {
                throw .gatewayBadRequest("JWT authorizers need 1 to 50 audiences (JwtConfiguration.Audience).")
            }
            guard sources.count == 1, sources[0].hasPrefix("$request.") else {
                throw .gatewayBadRequest("JWT authorizers take exactly one identity source, a header or query parameter: $request.header.Authorization")
            }
            authorizer.authorizerUri = nil
        case .request:
            guard let uri = input.authorizerUri, FunctionTarget(integrationUri: uri) != nil else {
                throw .gatewayBadRequest(
                    "REQUEST authorizers need an AuthorizerUri: a function ARN or arn:aws:apigateway:\(names.region):lambda:path/2015-03-31/functions/ARN/invocations")
            }
            guard let version = input.authorizerPayloadFormatVersion, version == "1.0" || version == "2.0" else {
                throw .gatewayBadRequest("AuthorizerPayloadFormatVersion must be 1.0 or 2.0 for REQUEST authorizers.")
            }
            if input.enableSimpleResponses == true, version != "2.0" {
                throw .gatewayBadRequest("Simple responses are only supported with authorizer payload format version 2.0.")
            }
            let ttl = input.authorizerResultTtlInSeconds ?? 0
            guard (0...3600).contains(ttl) else { throw .gatewayBadRequest("AuthorizerResultTtlInSeconds must be between 0 and 3600.") }
            if ttl > 0, sources.isEmpty {
                throw .gatewayBadRequest("An identity source is required when authorizer results are cached (AuthorizerResultTtlInSeconds > 0).")
            }
            authorizer.authorizerResultTtlInSeconds = ttl
            authorizer.enableSimpleResponses = input.enableSimpleResponses ?? false
        default:
            throw .gatewayBadRequest("AuthorizerType must be JWT or REQUEST.")
        }
        return authorizer
    }
}

extension GatewayState {
    /// WebSocket APIs' authorizers: REQUEST (Lambda) authorizers answering with an IAM policy for
    /// `$connect`, their identity in `route.request.header.NAME` or `route.request.querystring.NAME`.
    static func checkWebSocketAuthorizer(_ input: V2Authorizer, names: ResourceNames) throws(AWSError) -> V2Authorizer {
        var authorizer = input
        guard input.authorizerType == .request else { throw .gatewayBadRequest("WebSocket APIs support REQUEST authorizers only.") }
        for source in input.identitySource ?? [] where IdentitySource(webSocket: source) == nil {
            throw .gatewayBadRequest(
                "Invalid identity source \(source): use route.request.header.NAME, route.request.querystring.NAME, context.NAME or stageVariables.NAME")
        }
        guard let uri = input.authorizerUri, FunctionTarget(integrationUri: uri) != nil else {
            throw .gatewayBadRequest(
                "REQUEST authorizers need an AuthorizerUri: a function ARN or arn:aws:apigateway:\(names.region):lambda:path/2015-03-31/functions/ARN/invocations")
        }
        guard input.authorizerPayloadFormatVersion == nil, input.enableSimpleResponses != true else {
            throw .gatewayBadRequest("AuthorizerPayloadFormatVersion and EnableSimpleResponses are supported for HTTP APIs only.")
        }
        let ttl = input.authorizerResultTtlInSeconds ?? 0
        guard (0...3600).contains(ttl) else { throw .gatewayBadRequest("AuthorizerResultTtlInSeconds must be between 0 and 3600.") }
        if ttl > 0, (input.identitySource ?? []).isEmpty {
            throw .gatewayBadRequest("An identity source is required when authorizer results are cached (AuthorizerResultTtlInSeconds > 0).")
        }
        authorizer.authorizerResultTtlInSeconds = ttl
        return authorizer
    }
}

extension GatewayAPIRecord {
    func authorizer(_ authorizerId: String) throws(AWSError) -> V2Authorizer {
        guard let authorizer = authorizers[authorizerId] else {
            throw .gatewayNotFound("Invalid Authorizer identifier specified \(authorizerId)", resourceType: "Authorizer")
        }
        return authorizer
    }
}

/// Where an authorizer finds the caller's identity: `$request.header.Authorization`,
/// `$request.querystring.token`, `$context.x` or `$stageVariables.x`.
public enum IdentitySource: Sendable, Equatable {
    case header(String)
    case query(String)
    case context(String)
    case stageVariable(String)

    public init?(_ text: String) {
        func rest(_ prefix: String) -> String? {
            text.hasPrefix(prefix) && text.count > prefix.count ? String(text.dropFirst(prefix.count)) : nil
        }
        if let name = rest("$request.header.") {
            self = .header(name)
        } else if let name = rest("$request.querystring.") {
            self = .query(name)
        } else if let name = rest("$context.") {
            self = .context(name)
        } else if let name = rest("$stageVariables.") {
            self = .stageVariable(name)
        } else {
            return nil
        }
    }

    /// A WebSocket API's identity source: `route.request.header.NAME`,
    /// `route.request.querystring.NAME`, `context.NAME` or `stageVariables.NAME`.
    public init?(webSocket text: String) {
        for (prefix, make) in [
            ("route.request.header.", IdentitySource.header), ("route.request.querystring.", IdentitySource.query),
            ("context.", IdentitySource.context), ("stageVariables.", IdentitySource.stageVariable),
        ] where text.hasPrefix(prefix) && text.count > prefix.count {
            self = make(String(text.dropFirst(prefix.count)))
            return
        }
        return nil
    }
}
