import Foundation
import APIGatewayShapes
import StevedoreCore

/// REST APIs' Lambda authorizers: TOKEN (a header's token, checked against an optional pattern)
/// and REQUEST (headers, query strings, stage variables and context values).
extension GatewayState {
    static let maximumRestAuthorizers = 10

    public mutating func createRestAuthorizer(
        _ apiId: String, _ input: V1CreateAuthorizerRequest, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) -> V1Authorizer {
        let names = self.names
        return try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            guard record.authorizers.count < Self.maximumRestAuthorizers else {
                throw .gatewayBadRequest("Maximum number of authorizers (\(Self.maximumRestAuthorizers)) reached for this API.")
            }
            var authorizer = V1Authorizer(
                name: input.name, type: input.type, authorizerUri: input.authorizerUri, authorizerCredentials: input.authorizerCredentials,
                identitySource: input.identitySource, identityValidationExpression: input.identityValidationExpression,
                authorizerResultTtlInSeconds: input.authorizerResultTtlInSeconds ?? 300)
            try Self.checkRestAuthorizer(authorizer, names: names)
            authorizer.id = Self.newId(length: 6, using: &random) { record.authorizers[$0] == nil }
            record.authorizers[authorizer.id ?? ""] = authorizer
            return authorizer
        }
    }

    static func checkRestAuthorizer(_ authorizer: V1Authorizer, names: ResourceNames) throws(AWSError) {
        guard let name = authorizer.name, (1...128).contains(name.count) else { throw .gatewayBadRequest("Authorizer name must be 1 to 128 characters.") }
        switch authorizer.type {
        case .token, .request:
            guard let uri = authorizer.authorizerUri, FunctionTarget(integrationUri: uri) != nil else {
                throw .gatewayBadRequest(
                    "Invalid authorizer URI specified: use arn:aws:apigateway:\(names.region):lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations")
            }
        default:
            throw .gatewayBadRequest("Authorizer type \(authorizer.type?.rawValue ?? "") is not supported by this endpoint; use TOKEN or REQUEST.")
        }
        let sources = RestIdentitySource.parse(authorizer.identitySource)
        if authorizer.type == .token {
            guard sources.count == 1, case .header = sources.first else {
                throw .gatewayBadRequest("Invalid identity source for a TOKEN authorizer: use method.request.header.NAME")
            }
            if let pattern = authorizer.identityValidationExpression, (try? Regex(pattern)) == nil {
                throw .gatewayBadRequest("Invalid identity validation expression specified: \(pattern)")
            }
        }
        guard sources.count == (authorizer.identitySource ?? "").split(separator: ",").count else {
            throw .gatewayBadRequest(
                "Invalid identity source \(authorizer.identitySource ?? ""): use method.request.header.NAME, method.request.querystring.NAME, stageVariables.NAME or context.NAME, separated by commas")
        }
        let ttl = authorizer.authorizerResultTtlInSeconds ?? 300
        guard (0...3600).contains(ttl) else { throw .gatewayBadRequest("AuthorizerResultTtlInSeconds must be between 0 and 3600.") }
        if ttl > 0, authorizer.type == .request, sources.isEmpty {
            throw .gatewayBadRequest("An identity source is required when authorizer results are cached (AuthorizerResultTtlInSeconds > 0).")
        }
    }

    public func getRestAuthorizer(_ apiId: String, _ authorizerId: String) throws(AWSError) -> V1Authorizer {
        guard let authorizer = try restApi(apiId).authorizers[authorizerId] else {
            throw .restNotFound("Invalid Authorizer identifier specified")
        }
        return authorizer
    }

    public func getRestAuthorizers(_ apiId: String) throws(AWSError) -> V1Authorizers {
        let record = try restApi(apiId)
        return V1Authorizers(item: record.authorizers.keys.sorted().compactMap { record.authorizers[$0] })
    }

    public mutating func updateRestAuthorizer(_ apiId: String, _ authorizerId: String, _ operations: [V1PatchOperation], changes: inout ChangeSet)
        throws(AWSError) -> V1Authorizer
    {
        var authorizer = try getRestAuthorizer(apiId, authorizerId)
        for operation in operations {
            let (op, path, value) = try Patch.parts(operation)
            switch (op, path) {
            case (.replace, "/name"): authorizer.name = value
            case (.replace, "/authorizerUri"): authorizer.authorizerUri = value
            case (.replace, "/identitySource"): authorizer.identitySource = value
            case (.replace, "/identityValidationExpression"): authorizer.identityValidationExpression = value
            case (.replace, "/authorizerResultTtlInSeconds"):
                guard let ttl = value.flatMap(Int.init) else { throw .gatewayBadRequest("Invalid TTL: \(value ?? "")") }
                authorizer.authorizerResultTtlInSeconds = ttl
            default: throw Patch.unsupported(operation)
            }
        }
        try Self.checkRestAuthorizer(authorizer, names: names)
        let updated = authorizer
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in record.authorizers[authorizerId] = updated }
        return updated
    }

    public mutating func deleteRestAuthorizer(_ apiId: String, _ authorizerId: String, changes: inout ChangeSet) throws(AWSError) {
        _ = try getRestAuthorizer(apiId, authorizerId)
        try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            for resource in record.resources.values {
                for (name, method) in resource.resourceMethods ?? [:] where method.authorizerId == authorizerId {
                    throw .gatewayBadRequest("Cannot delete authorizer '\(authorizerId)', is referenced in method: \(name) \(resource.path ?? "")")
                }
            }
            record.authorizers[authorizerId] = nil
        }
    }
}

/// Where a REST authorizer finds the caller's identity.
enum RestIdentitySource: Equatable {
    case header(String)
    case query(String)
    case stageVariable(String)
    case context(String)

    /// The sources of a comma-separated `identitySource`; unreadable ones are left out.
    static func parse(_ text: String?) -> [RestIdentitySource] {
        (text ?? "").split(separator: ",").compactMap { item in
            let source = item.trimmingCharacters(in: .whitespaces)
            for (prefix, make) in [
                ("method.request.header.", RestIdentitySource.header), ("method.request.querystring.", RestIdentitySource.query),
                ("stageVariables.", RestIdentitySource.stageVariable), ("context.", RestIdentitySource.context),
            ] where source.hasPrefix(prefix) && source.count > prefix.count {
                return make(String(source.dropFirst(prefix.count)))
            }
            return nil
        }
    }
}
