import Foundation
import APIGatewayShapes
import StevedoreCore

/// ImportRestApi and PutRestApi: Swagger 2.0 and OpenAPI 3 documents with API Gateway's
/// extensions (`x-amazon-apigateway-integration` with its `responses`, `-any-method`,
/// `-authorizer`, `-authtype`, `-api-key-source`, `-binary-media-types`), as REST APIs read them.
extension GatewayState {
    /// What a document defines for a REST API, read and checked before it touches any API.
    public struct RestDefinition: Sendable {
        var name: String
        var description: String?
        var version: String?
        var apiKeySource: V1ApiKeySourceType?
        var binaryMediaTypes: [String]?
        var authorizers: [V1Authorizer] = []
        var methods: [(path: String, method: String, definition: V1Method)] = []
        var warnings: [String] = []
    }

    public static func readRestDefinition(_ body: [UInt8], failOnWarnings: Bool) throws(AWSError) -> RestDefinition {
        let text = String(decoding: body, as: UTF8.self)
        let document: Document
        if text.drop(while: { $0.isWhitespace }).first == "{" {
            guard let json = Document.parseJSON(body) else { throw .gatewayBadRequest("Invalid OpenAPI input: the document is not valid JSON.") }
            document = json
        } else {
            do {
                document = try YAMLReader.read(text)
            } catch {
                throw .gatewayBadRequest("Invalid OpenAPI input: the document is not valid YAML (\(error)).")
            }
        }
        let swagger = document["swagger"]?.string == "2.0"
        guard swagger || document["openapi"]?.string?.hasPrefix("3.") == true else {
            throw .gatewayBadRequest("Invalid OpenAPI input: the document needs \"swagger\": \"2.0\" or \"openapi\": \"3.x\".")
        }
        guard let title = document["info"]?["title"]?.string, !title.isEmpty else {
            throw .gatewayBadRequest("Invalid OpenAPI input: info.title names the API and is required.")
        }
        var definition = RestDefinition(
            name: title, description: document["info"]?["description"]?.string, version: document["info"]?["version"]?.string,
            apiKeySource: document["x-amazon-apigateway-api-key-source"]?.string.flatMap(V1ApiKeySourceType.init(rawValue:)),
            binaryMediaTypes: document["x-amazon-apigateway-binary-media-types"]?.items.compactMap(\.string))

        // Security schemes: API keys (`in: header`, `name: x-api-key`), and Lambda authorizers.
        let schemes = swagger ? document["securityDefinitions"] : document["components"]?["securitySchemes"]
        var apiKeySchemes: Set<String> = []
        for (name, scheme) in schemes?.members ?? [] {
            if let authorizer = scheme["x-amazon-apigateway-authorizer"] {
                let type = (authorizer["type"]?.string ?? "token").uppercased()
                var source = authorizer["identitySource"]?.string
                if type == "TOKEN", source == nil, let header = scheme["name"]?.string { source = "method.request.header.\(header)" }
                definition.authorizers.append(V1Authorizer(
                    name: name, type: V1AuthorizerType(rawValue: type), authorizerUri: authorizer["authorizerUri"]?.string,
                    authorizerCredentials: authorizer["authorizerCredentials"]?.string, identitySource: source,
                    identityValidationExpression: authorizer["identityValidationExpression"]?.string,
                    authorizerResultTtlInSeconds: authorizer["authorizerResultTtlInSeconds"].flatMap { if case .integer(let v) = $0 { v } else { nil } } ?? 300))
            } else if scheme["type"]?.string == "apiKey", scheme["name"]?.string?.lowercased() == "x-api-key" {
                apiKeySchemes.insert(name)
            } else {
                definition.warnings.append("Security scheme \(name) is neither an API key nor a Lambda authorizer and was ignored.")
            }
        }
        let documentSecurity = document["security"]?.items ?? []
        for (path, item) in document["paths"]?.members ?? [] {
            guard path.hasPrefix("/") else { throw .gatewayBadRequest("Invalid OpenAPI input: path \(path) must start with /") }
            for part in path.split(separator: "/") { try checkPathPart(String(part)) }
            for (key, operation) in item.members {
                let method: String
                if key == anyMethod {
                    method = "ANY"
                } else if operationMethods.contains(key.lowercased()) {
                    method = key.uppercased()
                } else {
                    if !["parameters", "summary", "description", "servers"].contains(key) {
                        definition.warnings.append("Unsupported method \(key) at \(path) was ignored.")
                    }
                    continue
                }
                var authorization = operation["x-amazon-apigateway-authtype"]?.string == "awsSigv4" ? "AWS_IAM" : "NONE"
                var authorizerName: String?
                var keyRequired = false
                for requirement in (operation["security"] != nil ? operation["security"]?.items ?? [] : documentSecurity) {
                    for (scheme, _) in requirement.members {
                        if apiKeySchemes.contains(scheme) {
                            keyRequired = true
                        } else if definition.authorizers.contains(where: { $0.name == scheme }) {
                            authorization = "CUSTOM"
                            authorizerName = scheme
                        } else if schemes?[scheme]?["x-amazon-apigateway-authtype"]?.string == "awsSigv4" {
                            authorization = "AWS_IAM"
                        }
                    }
                }
                var methodDefinition = V1Method(
                    httpMethod: method, authorizationType: authorization, authorizerId: authorizerName, apiKeyRequired: keyRequired,
                    operationName: operation["operationId"]?.string)
                var responses: [String: V1MethodResponse] = [:]
                for (status, _) in operation["responses"]?.members ?? [] where status.count == 3 && Int(status) != nil {
                    responses[status] = V1MethodResponse(statusCode: status)
                }
                if let spec = operation[integrationExtension] {
                    methodDefinition.methodIntegration = try restIntegration(spec, at: "\(method) \(path)", responses: &responses)
                } else {
                    definition.warnings.append("Method \(method) \(path) has no x-amazon-apigateway-integration: it was imported without one.")
                }
                methodDefinition.methodResponses = responses.isEmpty ? nil : responses
                definition.methods.append((path, method, methodDefinition))
            }
        }
        if failOnWarnings, !definition.warnings.isEmpty {
            throw .gatewayBadRequest("Warnings found during import:\n\t" + definition.warnings.joined(separator: "\n\t"))
        }
        return definition
    }

    /// An operation's `x-amazon-apigateway-integration`: its type, URI and templates, and its
    /// `responses`, keyed by selection pattern (`default` for none), each giving a status.
    static func restIntegration(_ spec: Document, at place: String, responses: inout [String: V1MethodResponse]) throws(AWSError) -> V1Integration {
        guard let type = spec["type"]?.string.flatMap({ V1IntegrationType(rawValue: $0.uppercased()) }) else {
            throw .gatewayBadRequest("Invalid OpenAPI input: the integration of \(place) needs a type (aws_proxy, aws, http_proxy, http or mock).")
        }
        var templates: [String: String]?
        if let members = spec["requestTemplates"]?.members, !members.isEmpty {
            templates = Dictionary(members.compactMap { key, value in value.string.map { (key, $0) } }, uniquingKeysWith: { first, _ in first })
        }
        var integrationResponses: [String: V1IntegrationResponse] = [:]
        for (pattern, response) in spec["responses"]?.members ?? [] {
            guard let status = response["statusCode"]?.string ?? response["statusCode"].flatMap({ if case .integer(let v) = $0 { String(v) } else { nil } })
            else { throw .gatewayBadRequest("Invalid OpenAPI input: the integration response \(pattern) of \(place) needs a statusCode.") }
            var responseTemplates: [String: String]?
            if let members = response["responseTemplates"]?.members, !members.isEmpty {
                responseTemplates = Dictionary(members.compactMap { key, value in value.string.map { (key, $0) } }, uniquingKeysWith: { first, _ in first })
                try MappingTemplates.check(responseTemplates)
            }
            var parameters: [String: String]?
            if let members = response["responseParameters"]?.members, !members.isEmpty {
                parameters = Dictionary(members.compactMap { key, value in value.string.map { (key, $0) } }, uniquingKeysWith: { first, _ in first })
            }
            integrationResponses[status] = V1IntegrationResponse(
                statusCode: status, selectionPattern: pattern == "default" ? nil : pattern, responseParameters: parameters,
                responseTemplates: responseTemplates)
            if responses[status] == nil { responses[status] = V1MethodResponse(statusCode: status) }
        }
        let input = V1PutIntegrationRequest(
            type: type, httpMethod: spec["httpMethod"]?.string?.uppercased(), uri: spec["uri"]?.string,
            connectionType: spec["connectionType"]?.string.flatMap(V1ConnectionType.init(rawValue:)), requestTemplates: templates,
            passthroughBehavior: spec["passthroughBehavior"]?.string?.uppercased(),
            timeoutInMillis: spec["timeoutInMillis"].flatMap { if case .integer(let value) = $0 { value } else { nil } })
        var integration = try checkRestIntegration(input, resourceId: "", names: ResourceNames())
        integration.cacheNamespace = nil
        integration.integrationResponses = integrationResponses.isEmpty ? nil : integrationResponses
        return integration
    }

    public mutating func importRestApi(_ definition: RestDefinition, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError) -> V1RestApi
    {
        var api = try createRestApi(
            V1CreateRestApiRequest(
                name: definition.name, description: definition.description, version: definition.version,
                binaryMediaTypes: definition.binaryMediaTypes, apiKeySource: definition.apiKeySource), now: now, using: &random,
            changes: &changes)
        let names = self.names
        try changeRestApi(api.id ?? "", changes: &changes) { record throws(AWSError) in
            try record.apply(definition, names: names, overwrite: true, using: &random)
        }
        api.warnings = definition.warnings.isEmpty ? nil : definition.warnings
        return api
    }

    /// PutRestApi: `overwrite` replaces the API's resources and authorizers with the document's
    /// (stages and deployments stay); `merge` adds the document's to them.
    public mutating func putRestApi(_ apiId: String, _ definition: RestDefinition, merge: Bool, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError) -> V1RestApi
    {
        let names = self.names
        var api = try changeRestApi(apiId, changes: &changes) { record throws(AWSError) in
            try record.apply(definition, names: names, overwrite: !merge, using: &random)
            if !merge {
                record.api.description = definition.description
                record.api.version = definition.version
            }
            return record.api
        }
        api.warnings = definition.warnings.isEmpty ? nil : definition.warnings
        return api
    }
}

extension RestAPIRecord {
    /// Builds the document's resource tree (a resource per path segment) with its methods, and its authorizers.
    mutating func apply(_ definition: GatewayState.RestDefinition, names: ResourceNames, overwrite: Bool, using random: inout Xoshiro256)
        throws(AWSError)
    {
        let rootId = api.rootResourceId ?? ""
        if overwrite {
            resources = resources.filter { $0.key == rootId }
            resources[rootId]?.resourceMethods = nil
            authorizers = [:]
        }
        var authorizerIds: [String: String] = [:]
        for var authorizer in definition.authorizers {
            try GatewayState.checkRestAuthorizer(authorizer, names: names)
            if let existing = authorizers.values.first(where: { $0.name == authorizer.name }), let id = existing.id {
                authorizer.id = id
            } else {
                authorizer.id = GatewayState.newId(length: 6, using: &random) { authorizers[$0] == nil }
            }
            authorizers[authorizer.id ?? ""] = authorizer
            authorizerIds[authorizer.name ?? ""] = authorizer.id
        }
        guard authorizers.count <= GatewayState.maximumRestAuthorizers else {
            throw .gatewayBadRequest("Maximum number of authorizers (\(GatewayState.maximumRestAuthorizers)) reached for this API.")
        }
        for (path, _, definition) in definition.methods {
            var parentId = rootId
            for part in path.split(separator: "/").map(String.init) {
                if let child = resources.values.first(where: { $0.parentId == parentId && $0.pathPart == part }), let id = child.id {
                    parentId = id
                    continue
                }
                // The tree's rules hold for imported paths as for CreateResource.
                let parent = resources[parentId]
                if parent?.pathPart?.hasSuffix("+}") == true {
                    throw .gatewayBadRequest("Invalid OpenAPI input: \(path) goes on under the greedy path variable of \(parent?.path ?? "")")
                }
                if part.hasPrefix("{"), let other = resources.values.first(where: { $0.parentId == parentId && $0.pathPart?.hasPrefix("{") == true }) {
                    throw .gatewayBadRequest(
                        "Invalid OpenAPI input: \(path) and \(other.path ?? "") have different variables at the same level -- only one is allowed")
                }
                let parentPath = parent?.path ?? "/"
                let id = GatewayState.newId(length: 6, using: &random) { resources[$0] == nil }
                resources[id] = V1Resource(id: id, parentId: parentId, pathPart: part, path: RestAPIRecord.path(parent: parentPath, part: part))
                parentId = id
            }
            var method = definition
            method.authorizerId = definition.authorizerId.flatMap { authorizerIds[$0] }
            if var integration = method.methodIntegration {
                integration.cacheNamespace = parentId
                method.methodIntegration = integration
            }
            var resource = resources[parentId] ?? V1Resource(id: parentId)
            resource.resourceMethods = (resource.resourceMethods ?? [:]).merging([method.httpMethod ?? "ANY": method]) { _, new in new }
            resources[parentId] = resource
        }
    }
}
