@testable import APIGateway
import APIGatewayShapes
import Foundation
import StevedoreCore
import Testing

/// OpenAPI 3 import and export of HTTP APIs, with API Gateway's extensions.
struct OpenAPITests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let function = "arn:aws:lambda:us-east-1:000000000000:function:pets"

    static let definition = """
        {
          "openapi": "3.0.1",
          "info": {"title": "Pets", "version": "2024-01-01", "description": "pets for all"},
          "x-amazon-apigateway-cors": {"allowOrigins": ["https://a.example"], "allowMethods": ["GET"], "maxAge": 60},
          "paths": {
            "/pets": {
              "get": {"operationId": "listPets", "security": [{"issuer": ["pets:read"]}],
                      "x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": "\(function)", "payloadFormatVersion": "2.0", "httpMethod": "POST"}},
              "post": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": "\(function)", "payloadFormatVersion": "2.0", "httpMethod": "POST"}}
            },
            "/pets/{id}": {
              "x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {"type": "http_proxy", "uri": "http://127.0.0.1:9/pets/{id}", "httpMethod": "ANY"}}
            },
            "/docs": {"get": {"responses": {"200": {"description": "no integration"}}}}
          },
          "components": {"securitySchemes": {"issuer": {"type": "oauth2", "x-amazon-apigateway-authorizer": {
            "type": "jwt", "identitySource": "$request.header.Authorization",
            "jwtConfiguration": {"issuer": "https://issuer.example", "audience": ["app"]}}}}}
        }
        """

    @Test func importMakesRoutesIntegrationsAndAuthorizers() throws {
        var state = GatewayState(names: ResourceNames())
        var random = Xoshiro256(seed: 3)
        var changes = ChangeSet()
        let api = try state.importApi(body: Self.definition, basepath: nil, failOnWarnings: false, now: now, using: &random, changes: &changes)
        #expect(api.name == "Pets" && api.version == "2024-01-01" && api.corsConfiguration?.maxAge == 60)
        #expect(api.warnings?.count == 1 && api.warnings?.first?.contains("/docs") == true)
        let record = try state.api(api.apiId ?? "")
        #expect(Set(record.routes.values.map(\.routeKey)) == ["GET /pets", "POST /pets", "ANY /pets/{id}", "GET /docs"])
        // Identical integrations are one integration.
        #expect(record.integrations.count == 2)
        let list = try #require(record.routes.values.first { $0.routeKey == "GET /pets" })
        #expect(list.authorizationType == .jwt && list.authorizationScopes == ["pets:read"] && list.operationName == "listPets")
        #expect(record.authorizers.values.map(\.name) == ["issuer"] && record.stages.isEmpty)
        #expect(record.routes.values.first { $0.routeKey == "GET /docs" }?.target == nil)
        #expect(throws: AWSError.self) {
            try state.importApi(body: Self.definition, basepath: nil, failOnWarnings: true, now: now, using: &random, changes: &changes)
        }
    }

    @Test func exportsReadBackAsTheSameAPI() throws {
        var state = GatewayState(names: ResourceNames())
        var random = Xoshiro256(seed: 4)
        var changes = ChangeSet()
        let id = try state.importApi(body: Self.definition, basepath: nil, failOnWarnings: false, now: now, using: &random, changes: &changes).apiId ?? ""
        let json = String(decoding: try state.exportApi(id, specification: "OAS30", outputType: "JSON", stageName: nil, includeExtensions: nil), as: UTF8.self)
        #expect(json.hasPrefix(#"{"openapi":"3.0.1","info":{"title":"Pets","version":"2024-01-01","description":"pets for all"}"#))
        let again = try state.importApi(body: json, basepath: nil, failOnWarnings: false, now: now, using: &random, changes: &changes).apiId ?? ""
        let (first, second) = (try state.api(id), try state.api(again))
        #expect(Set(first.routes.values.map(\.routeKey)) == Set(second.routes.values.map(\.routeKey)) && second.routes.count == 4)
        #expect(Set(first.integrations.values.map { $0.integrationUri ?? "" }) == Set(second.integrations.values.map { $0.integrationUri ?? "" }))
        #expect(second.authorizers.values.first?.jwtConfiguration == first.authorizers.values.first?.jwtConfiguration)
        #expect(second.api.corsConfiguration == first.api.corsConfiguration)
        // The YAML export, with its extensions, reads back as the same API too.
        let fullYAML = String(decoding: try state.exportApi(id, specification: "OAS30", outputType: "YAML", stageName: nil, includeExtensions: true), as: UTF8.self)
        let yamlId = try state.importApi(body: fullYAML, basepath: nil, failOnWarnings: false, now: now, using: &random, changes: &changes).apiId ?? ""
        let fromYAML = try state.api(yamlId)
        #expect(Set(fromYAML.routes.values.map(\.routeKey)) == Set(first.routes.values.map(\.routeKey)))
        #expect(Set(fromYAML.integrations.values.map { $0.integrationUri ?? "" }) == Set(first.integrations.values.map { $0.integrationUri ?? "" }))
        #expect(fromYAML.api.corsConfiguration == first.api.corsConfiguration && fromYAML.authorizers.count == 1)
        let yaml = String(decoding: try state.exportApi(id, specification: "OAS30", outputType: "YAML", stageName: nil, includeExtensions: false), as: UTF8.self)
        #expect(yaml.hasPrefix("openapi: \"3.0.1\"\ninfo:\n  title: Pets\n  version: \"2024-01-01\"\n"))
        #expect(yaml.contains("  /pets/{id}:\n    x-amazon-apigateway-any-method:\n") && !yaml.contains("x-amazon-apigateway-integration"))
        #expect(throws: AWSError.self) { try state.exportApi(id, specification: "OAS20", outputType: "JSON", stageName: nil, includeExtensions: nil) }
        #expect(throws: AWSError.self) { try state.exportApi(id, specification: "OAS30", outputType: "JSON", stageName: "none", includeExtensions: nil) }
    }

    @Test func reimportReplacesRoutesAndKeepsStages() throws {
        var state = GatewayState(names: ResourceNames())
        var random = Xoshiro256(seed: 5)
        var changes = ChangeSet()
        let id = try state.createApi(V2CreateApiRequest(name: "q", protocolType: .http, target: Self.function), now: now, using: &random, changes: &changes).apiId ?? ""
        _ = try state.reimportApi(id, body: Self.definition, basepath: nil, failOnWarnings: false, now: now, using: &random, changes: &changes)
        let record = try state.api(id)
        #expect(record.api.name == "Pets" && record.routes.count == 4 && record.stages["$default"] != nil)
        // The auto-deploying stage serves the new routes.
        #expect(state.destination(host: nil, path: "/\(id)/pets")?.deployment.routes.count == 4)
    }

    @Test(arguments: [
        "not json", #"{"swagger": "2.0", "info": {"title": "x"}}"#, #"{"openapi": "3.0.1", "info": {}}"#,
        #"{"openapi": "3.0.1", "info": {"title": "x"}, "paths": {"pets": {"get": {}}}}"#,
        #"{"openapi": "3.0.1", "info": {"title": "x"}, "paths": {"/p": {"get": {"x-amazon-apigateway-integration": {"type": "lambda"}}}}}"#,
        #"{"openapi": "3.0.1", "info": {"title": "x"}, "paths": {"/p": {"get": {"security": [{"nope": []}], "x-amazon-apigateway-integration": {"type": "http_proxy", "uri": "http://x", "httpMethod": "GET"}}}}}"#,
    ])
    func badDefinitionsAreRefused(_ body: String) {
        var state = GatewayState(names: ResourceNames())
        var random = Xoshiro256(seed: 6)
        var changes = ChangeSet()
        #expect(throws: AWSError.self) { try state.importApi(body: body, basepath: nil, failOnWarnings: false, now: now, using: &random, changes: &changes) }
        #expect(state.apis.isEmpty)
    }

    @Test func yamlQuotesWhatWouldReadAsSomethingElse() {
        let document = Document.object([
            ("a", .string("true")), ("b", .string("12")), ("c", .string("x: y")), ("d", .string("plain text")), ("e", .array([])),
            ("f", .array([.object([("k", .integer(1)), ("l", .bool(false))]), .string("-x")])),
        ])
        #expect(document.yaml() == "a: \"true\"\nb: \"12\"\nc: \"x: y\"\nd: plain text\ne: []\nf:\n  - k: 1\n    l: false\n  - \"-x\"\n")
    }
}
