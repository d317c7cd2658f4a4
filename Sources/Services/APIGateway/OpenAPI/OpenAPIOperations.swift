import Foundation
import APIGatewayShapes
import StevedoreCore

/// ImportApi, ReimportApi and ExportApi for HTTP APIs: OpenAPI 3 documents with API Gateway's
/// extensions (`x-amazon-apigateway-integration`, `-any-method`, `-cors`, `-authorizer`).
extension GatewayState {
    static let anyMethod = "x-amazon-apigateway-any-method"
    static let integrationExtension = "x-amazon-apigateway-integration"
    static let corsExtension = "x-amazon-apigateway-cors"
    static let authorizerExtension = "x-amazon-apigateway-authorizer"
    static let operationMethods = ["get", "put", "post", "delete", "options", "head", "patch"]

    public mutating func importApi(
        body: String, basepath: String?, failOnWarnings: Bool, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) -> V2Api {
        try importApi(Self.readDefinition(body, failOnWarnings: failOnWarnings), now: now, using: &random, changes: &changes)
    }

    /// Imports a definition read beforehand (``readDefinition(_:failOnWarnings:)``: reading a large
    /// document takes time that the committer's turn should not).
    public mutating func importApi(_ definition: Definition, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError) -> V2Api
    {
        let id = Self.newId(length: 10, using: &random) { apis[$0] == nil && restApis[$0] == nil }
        var record = GatewayAPIRecord(
            api: V2Api(
                apiEndpoint: endpoint.url(of: id), apiId: id, apiKeySelectionExpression: "$request.header.x-api-key", createdDate: Self.timestamp(now),
                disableExecuteApiEndpoint: false, ipAddressType: .ipv4, name: definition.name, protocolType: .http,
                routeSelectionExpression: "$request.method $request.path", tags: [:]))
        try record.apply(definition, names: names, using: &random)
        apis[id] = record
        changes.put(record)
        return presented(record.api)
    }

    public mutating func reimportApi(
        _ apiId: String, body: String, basepath: String?, failOnWarnings: Bool, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet
    ) throws(AWSError) -> V2Api {
        try reimportApi(apiId, Self.readDefinition(body, failOnWarnings: failOnWarnings), now: now, using: &random, changes: &changes)
    }

    public mutating func reimportApi(_ apiId: String, _ definition: Definition, now: Date, using random: inout Xoshiro256, changes: inout ChangeSet)
        throws(AWSError) -> V2Api
    {
        let names = self.names
        return try change(apiId, now: now, using: &random, changes: &changes) { record, random throws(AWSError) in
            // The document replaces the API's routes, integrations and authorizers; stages and deployments stay.
            record.routes = [:]
            record.integrations = [:]
            record.authorizers = [:]
            try record.apply(definition, names: names, using: &random)
            return record.api
        }.withEndpoint(endpoint)
    }

    public func exportApi(_ apiId: String, specification: String, outputType: String, stageName: String?, includeExtensions: Bool?)
        throws(AWSError) -> [UInt8]
    {
        guard specification == "OAS30" else { throw .gatewayBadRequest("Unsupported specification \(specification); use OAS30") }
        guard outputType == "JSON" || outputType == "YAML" else { throw .gatewayBadRequest("Unsupported output type \(outputType); use JSON or YAML") }
        let record = try api(apiId)
        var routes = Array(record.routes.values)
        var integrations = record.integrations
        var authorizers = record.authorizers
        if let stageName {
            let stage = try record.stage(stageName)
            guard let deployment = stage.deploymentId.flatMap({ record.deployments[$0] }) else {
                throw .gatewayBadRequest("Stage \(stageName) has no deployment to export.")
            }
            routes = deployment.routes
            integrations = deployment.integrations
            authorizers = deployment.authorizers ?? [:]
        }
        let document = Self.exportDocument(
            record.api, routes: routes, integrations: integrations, authorizers: authorizers, extensions: includeExtensions ?? true)
        return Array((outputType == "YAML" ? document.yaml() : document.json()).utf8)
    }

    // MARK: Reading a definition

    /// What an OpenAPI document defines, checked, before it touches any API.
    public struct Definition: Sendable {
        var name: String
        var version: String?
        var description: String?
        var cors: V2Cors?
        var authorizers: [(name: String, input: V2Authorizer)] = []
        var routes: [(key: String, operationName: String?, integration: V2CreateIntegrationRequest?, security: (name: String, scopes: [String])?)] = []
        var warnings: [String] = []
    }

    public static func readDefinition(_ body: String, failOnWarnings: Bool) throws(AWSError) -> Definition {
        let document: Document
        if body.drop(while: { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }).first == "{" {
            guard let json = Document.parseJSON(Array(body.utf8)) else {
                throw .gatewayBadRequest("The OpenAPI definition is not valid JSON.")
            }
            document = json
        } else {
            do {
                document = try YAMLReader.read(body)
            } catch {
                throw .gatewayBadRequest("The OpenAPI definition is not valid YAML (\(error)).")
            }
        }
        guard case .object = document else { throw .gatewayBadRequest("The OpenAPI definition must be an object.") }
        guard let version = document["openapi"]?.string, version.hasPrefix("3.") else {
            throw .gatewayBadRequest("Only OpenAPI 3.0 definitions can be imported into HTTP APIs (the document has no \"openapi\": \"3.x\").")
        }
        guard let title = document["info"]?["title"]?.string, !title.isEmpty else {
            throw .gatewayBadRequest("The OpenAPI definition needs info.title: it names the API.")
        }
        var definition = Definition(name: String(title.prefix(128)), version: document["info"]?["version"]?.string, description: document["info"]?["description"]?.string)
        if let cors = document[corsExtension] {
            definition.cors = V2Cors(
                allowCredentials: cors["allowCredentials"].flatMap { if case .bool(let flag) = $0 { flag } else { nil } },
                allowHeaders: cors["allowHeaders"]?.items.compactMap(\.string), allowMethods: cors["allowMethods"]?.items.compactMap(\.string),
                allowOrigins: cors["allowOrigins"]?.items.compactMap(\.string), exposeHeaders: cors["exposeHeaders"]?.items.compactMap(\.string),
                maxAge: cors["maxAge"].flatMap { if case .integer(let value) = $0 { value } else { nil } })
            try checkCors(definition.cors)
        }
        // A requirement of the whole document applies to operations without their own.
        let documentSecurity = document["security"]?.items.first?.members.first
        for (name, scheme) in document["components"]?["securitySchemes"]?.members ?? [] {
            guard let authorizer = scheme[authorizerExtension] else {
                definition.warnings.append("Security scheme \(name) has no x-amazon-apigateway-authorizer and was ignored.")
                continue
            }
            let type = authorizer["type"]?.string?.uppercased()
            let sources = authorizer["identitySource"].map { value -> [String] in
                if case .array(let items) = value { return items.compactMap(\.string) }
                return (value.string ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
            var input = V2Authorizer(
                authorizerPayloadFormatVersion: authorizer["authorizerPayloadFormatVersion"]?.string,
                authorizerResultTtlInSeconds: authorizer["authorizerResultTtlInSeconds"].flatMap { if case .integer(let value) = $0 { value } else { nil } },
                authorizerType: type == "JWT" ? .jwt : type == "REQUEST" ? .request : nil, authorizerUri: authorizer["authorizerUri"]?.string,
                enableSimpleResponses: authorizer["enableSimpleResponses"].flatMap { if case .bool(let flag) = $0 { flag } else { nil } },
                identitySource: sources, name: name)
            if let jwt = authorizer["jwtConfiguration"] {
                input.jwtConfiguration = V2JWTConfiguration(audience: jwt["audience"]?.items.compactMap(\.string), issuer: jwt["issuer"]?.string)
            }
            definition.authorizers.append((name, input))
        }
        for (path, item) in document["paths"]?.members ?? [] {
            for (method, operation) in item.members {
                let verb: String
                if method == anyMethod {
                    verb = "ANY"
                } else if operationMethods.contains(method.lowercased()) {
                    verb = method.uppercased()
                } else {
                    if !["parameters", "summary", "description", "servers"].contains(method) {
                        definition.warnings.append("Unsupported method \(method) at \(path) was ignored.")
                    }
                    continue
                }
                let key = path == "$default" ? "$default" : "\(verb) \(path)"
                guard key == "$default" || RouteKey(key) != nil else {
                    throw .gatewayBadRequest("Invalid path \(path) in the OpenAPI definition: routes take literal segments, {param} and a last {proxy+}.")
                }
                var integration: V2CreateIntegrationRequest?
                if let spec = operation[integrationExtension] {
                    let kind = (spec["type"]?.string ?? "").uppercased()
                    guard let type = V2IntegrationType(rawValue: kind) else {
                        throw .gatewayBadRequest("Invalid integration type \(spec["type"]?.string ?? "(none)") for \(key) in the OpenAPI definition.")
                    }
                    let subtype = spec["integrationSubtype"]?.string
                    var parameters: [String: String]?
                    if case .object(let given)? = spec["requestParameters"] { parameters = Dictionary(given.compactMap { ($0.0, $0.1.string ?? "") }) { a, _ in a } }
                    integration = V2CreateIntegrationRequest(
                        connectionType: spec["connectionType"]?.string.flatMap(V2ConnectionType.init(rawValue:)),
                        credentialsArn: spec["credentials"]?.string, integrationMethod: spec["httpMethod"]?.string, integrationSubtype: subtype,
                        integrationType: type, integrationUri: spec["uri"]?.string,
                        payloadFormatVersion: spec["payloadFormatVersion"]?.string ?? (type == .awsProxy ? (subtype == nil ? "2.0" : "1.0") : nil),
                        requestParameters: parameters,
                        timeoutInMillis: spec["timeoutInMillis"].flatMap { if case .integer(let value) = $0 { value } else { nil } })
                } else {
                    definition.warnings.append("Route \(key) has no x-amazon-apigateway-integration: it was imported without a target.")
                }
                var security: (String, [String])?
                let requirement = operation["security"] != nil ? operation["security"]?.items.first?.members.first : documentSecurity
                if let requirement {
                    security = (requirement.0, requirement.1.items.compactMap(\.string))
                }
                definition.routes.append((key, operation["operationId"]?.string, integration, security))
            }
        }
        if failOnWarnings, !definition.warnings.isEmpty {
            throw .gatewayBadRequest("Warnings found during import:\n\t" + definition.warnings.joined(separator: "\n\t"))
        }
        return definition
    }

    // MARK: Writing a definition

    static func exportDocument(
        _ api: V2Api, routes: [V2Route], integrations: [String: V2Integration], authorizers: [String: V2Authorizer], extensions: Bool
    ) -> Document {
        var info: [(String, Document)] = [("title", .string(api.name)), ("version", .string(api.version ?? api.createdDate ?? "1.0"))]
        if let description = api.description { info.append(("description", .string(description))) }
        var members: [(String, Document)] = [("openapi", .string("3.0.1")), ("info", .object(info))]
        if let url = api.apiEndpoint { members.append(("servers", .array([.object([("url", .string(url))])]))) }
        var paths: [(String, [(String, Document)])] = []
        for route in routes.sorted(by: { $0.routeKey < $1.routeKey }) {
            let (method, path): (String, String)
            if route.routeKey == "$default" {
                (method, path) = (anyMethod, "$default")
            } else {
                let parts = route.routeKey.split(separator: " ", maxSplits: 1)
                (method, path) = (parts[0] == "ANY" ? anyMethod : parts[0].lowercased(), String(parts[1]))
            }
            var operation: [(String, Document)] = []
            if let name = route.operationName { operation.append(("operationId", .string(name))) }
            let shownMethod = method == anyMethod ? "ANY" : method.uppercased()
            operation.append(("responses", .object([("default", .object([("description", .string("Default response for \(shownMethod) \(path)"))]))])))
            if let id = route.authorizerId, let authorizer = authorizers[id], route.authorizationType != .none_ {
                operation.append(("security", .array([.object([(authorizer.name, .array((route.authorizationScopes ?? []).map(Document.string)))])])))
            }
            if extensions, let target = route.target, let integration = integrations[String(target.dropFirst("integrations/".count))] {
                var spec: [(String, Document)] = [("type", .string((integration.integrationType?.rawValue ?? "").lowercased()))]
                if let method = integration.integrationMethod { spec.append(("httpMethod", .string(method))) }
                if let uri = integration.integrationUri { spec.append(("uri", .string(uri))) }
                if let subtype = integration.integrationSubtype { spec.append(("integrationSubtype", .string(subtype))) }
                if let credentials = integration.credentialsArn { spec.append(("credentials", .string(credentials))) }
                if let parameters = integration.requestParameters, integration.integrationSubtype != nil {
                    spec.append(("requestParameters", .object(parameters.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
                }
                if let version = integration.payloadFormatVersion { spec.append(("payloadFormatVersion", .string(version))) }
                if let type = integration.connectionType { spec.append(("connectionType", .string(type.rawValue))) }
                if let timeout = integration.timeoutInMillis { spec.append(("timeoutInMillis", .integer(timeout))) }
                operation.append((integrationExtension, .object(spec)))
            }
            if let index = paths.firstIndex(where: { $0.0 == path }) {
                paths[index].1.append((method, .object(operation)))
            } else {
                paths.append((path, [(method, .object(operation))]))
            }
        }
        members.append(("paths", .object(paths.map { ($0.0, .object($0.1)) })))
        let used = Set(routes.compactMap { $0.authorizationType == .none_ ? nil : $0.authorizerId })
        let schemes = authorizers.values.filter { used.contains($0.authorizerId ?? "") }.sorted { $0.name < $1.name }
        if !schemes.isEmpty {
            members.append(("components", .object([("securitySchemes", .object(schemes.map { authorizer in
                var scheme: [(String, Document)] = [("type", .string(authorizer.authorizerType == .jwt ? "oauth2" : "apiKey"))]
                if authorizer.authorizerType == .jwt {
                    scheme.append(("flows", .object([])))
                } else {
                    scheme += [("name", .string("Unused")), ("in", .string("header"))]
                }
                if extensions {
                    var spec: [(String, Document)] = [("type", .string(authorizer.authorizerType == .jwt ? "jwt" : "request"))]
                    spec.append(("identitySource", .string((authorizer.identitySource ?? []).joined(separator: ", "))))
                    if let jwt = authorizer.jwtConfiguration {
                        spec.append(("jwtConfiguration", .object([
                            ("audience", .array((jwt.audience ?? []).map(Document.string))), ("issuer", .string(jwt.issuer ?? "")),
                        ])))
                    }
                    if let uri = authorizer.authorizerUri { spec.append(("authorizerUri", .string(uri))) }
                    if let version = authorizer.authorizerPayloadFormatVersion { spec.append(("authorizerPayloadFormatVersion", .string(version))) }
                    if let ttl = authorizer.authorizerResultTtlInSeconds, authorizer.authorizerType == .request {
                        spec.append(("authorizerResultTtlInSeconds", .integer(ttl)))
                    }
                    if authorizer.enableSimpleResponses == true { spec.append(("enableSimpleResponses", .bool(true))) }
                    scheme.append((authorizerExtension, .object(spec)))
                }
                return (authorizer.name, Document.object(scheme))
            }))])))
        }
        if extensions, let cors = api.corsConfiguration {
            var spec: [(String, Document)] = []
            if let value = cors.allowOrigins { spec.append(("allowOrigins", .array(value.map(Document.string)))) }
            if let value = cors.allowMethods { spec.append(("allowMethods", .array(value.map(Document.string)))) }
            if let value = cors.allowHeaders { spec.append(("allowHeaders", .array(value.map(Document.string)))) }
            if let value = cors.exposeHeaders { spec.append(("exposeHeaders", .array(value.map(Document.string)))) }
            if let value = cors.maxAge { spec.append(("maxAge", .integer(value))) }
            if let value = cors.allowCredentials { spec.append(("allowCredentials", .bool(value))) }
            members.append((corsExtension, .object(spec)))
        }
        if extensions { members.append(("x-amazon-apigateway-importexport-version", .string("1.0"))) }
        return .object(members)
    }
}

extension GatewayAPIRecord {
    /// Adds what a definition defines: authorizers, integrations (one per distinct configuration)
    /// and routes, each checked as if created one by one.
    mutating func apply(_ definition: GatewayState.Definition, names: ResourceNames, using random: inout Xoshiro256) throws(AWSError) {
        api.name = definition.name
        api.version = definition.version
        api.description = definition.description
        api.corsConfiguration = definition.cors
        api.warnings = definition.warnings.isEmpty ? nil : definition.warnings
        var authorizerIds: [String: String] = [:]
        for (name, input) in definition.authorizers {
            var authorizer = try GatewayState.checkAuthorizer(input, names: names)
            let id = GatewayState.newId(length: 6, using: &random) { authorizers[$0] == nil }
            authorizer.authorizerId = id
            authorizers[id] = authorizer
            authorizerIds[name] = id
        }
        var integrationIds: [String: String] = [:]
        for route in definition.routes {
            var target: String?
            if let spec = route.integration {
                let key = String(decoding: AWSJSONEncoding.encode(spec), as: UTF8.self)
                if integrationIds[key] == nil { integrationIds[key] = try addIntegration(spec, names: names, using: &random).integrationId }
                target = integrationIds[key].map { "integrations/\($0)" }
            }
            var input = V2CreateRouteRequest(operationName: route.operationName, routeKey: route.key, target: target)
            if let security = route.security {
                guard let id = authorizerIds[security.name], let authorizer = authorizers[id] else {
                    throw .gatewayBadRequest("Route \(route.key) names security scheme \(security.name), which has no x-amazon-apigateway-authorizer.")
                }
                input.authorizationType = authorizer.authorizerType == .jwt ? .jwt : .custom
                input.authorizerId = id
                input.authorizationScopes = security.scopes.isEmpty ? nil : security.scopes
            }
            _ = try addRoute(input, using: &random)
        }
    }
}

extension V2Api {
    /// The API with its endpoint as the gateway listens now.
    func withEndpoint(_ endpoint: GatewayEndpoint) -> V2Api {
        var api = self
        if let id = apiId { api.apiEndpoint = endpoint.url(of: id, protocolType: protocolType) }
        return api
    }
}
