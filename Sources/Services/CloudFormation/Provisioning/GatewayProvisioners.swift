import StevedoreCore

// MARK: API Gateway (REST APIs)

/// `AWS::ApiGateway::RestApi`: ImportRestApi from its `Body` (PutRestApi on update), or
/// CreateRestApi; Ref is the API's id.
struct RestApiProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let answer: Document
        if let body = properties["Body"] {
            answer = try await context.calls.rest("POST", "/restapis?mode=import&failonwarnings=\(properties.boolean("FailOnWarnings") ?? false)", body: titled(body, properties))
        } else {
            guard properties["BodyS3Location"] == nil else {
                throw AWSError(type: "InvalidRequest", message: "Stevedore reads a RestApi's definition from Body only; put the document in the template (sam and aws cloudformation package do).")
            }
            let create = properties.picking(["Name", "Description", "BinaryMediaTypes", "MinimumCompressionSize", "ApiKeySourceType", "EndpointConfiguration", "DisableExecuteApiEndpoint"])
                .camelCased()
            answer = try await context.calls.rest("POST", "/restapis", body: create.with("name", .string(properties["Name"]?.string ?? name)))
        }
        let id = answer["id"]?.string ?? ""
        return ResourceValues(ref: id, attributes: ["RestApiId": id, "RootResourceId": answer["rootResourceId"]?.string ?? ""])
    }

    /// The document with the template's `Name` as its title, as CloudFormation gives it.
    func titled(_ body: Document, _ properties: Document) -> Document {
        guard let name = properties["Name"]?.string, let info = body["info"] else { return body }
        return body.with("info", info.with("title", .string(name)))
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        if let body = properties["Body"] {
            _ = try await context.calls.rest("PUT", "/restapis/\(current.ref)?mode=overwrite", body: titled(body, properties))
        }
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await context.calls.rest("DELETE", "/restapis/\(escaped(physicalId))", body: nil)
    }
}

/// `AWS::ApiGateway::Deployment`: CreateDeployment (with the stage it names); Ref is its id.
struct RestDeploymentProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let api = properties["RestApiId"]?.string ?? ""
        let body = properties.picking(["StageName", "Description", "StageDescription"]).camelCased()
        let answer = try await context.calls.rest("POST", "/restapis/\(escaped(api))/deployments", body: body.with("stageDescription", properties["StageDescription"]?["Description"]))
        let id = answer["id"]?.string ?? ""
        return ResourceValues(ref: id, attributes: ["DeploymentId": id])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        let api = escaped(properties["RestApiId"]?.string ?? "")
        // The stage it made goes with it, unless a newer deployment is that stage's now.
        if let stage = properties["StageName"]?.string,
            let current = try? await context.calls.rest("GET", "/restapis/\(api)/stages/\(escaped(stage))", body: nil),
            current["deploymentId"]?.string == physicalId
        {
            do throws(AWSError) {
                _ = try await context.calls.rest("DELETE", "/restapis/\(api)/stages/\(escaped(stage))", body: nil)
            } catch where error.isNotFound {}
        }
        do throws(AWSError) {
            _ = try await context.calls.rest("DELETE", "/restapis/\(api)/deployments/\(escaped(physicalId))", body: nil)
        } catch where error.type == "BadRequestException" {
            // Still the deployment of a stage the template no longer manages: it goes with its API.
        }
    }
}

/// `AWS::ApiGateway::Stage`: CreateStage, UpdateStage (its deployment, description, variables); Ref is its name.
struct RestStageProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let api = properties["RestApiId"]?.string ?? ""
        let stage = properties["StageName"]?.string ?? name
        let body = Document.object([("stageName", .string(stage))])
            .with("deploymentId", properties["DeploymentId"]).with("description", properties["Description"]).with("variables", properties["Variables"])
            .with("tracingEnabled", properties["TracingEnabled"])
        _ = try await context.calls.rest("POST", "/restapis/\(escaped(api))/stages", body: body)
        return ResourceValues(ref: stage)
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let api = properties["RestApiId"]?.string ?? ""
        var operations: [Document] = []
        func replace(_ path: String, _ value: String?) {
            guard let value else { return }
            operations.append(.object([("op", .string("replace")), ("path", .string(path)), ("value", .string(value))]))
        }
        replace("/deploymentId", properties["DeploymentId"]?.string)
        replace("/description", properties["Description"]?.string)
        for (key, value) in properties["Variables"]?.members ?? [] { replace("/variables/\(key)", value.string) }
        _ = try await context.calls.rest("PATCH", "/restapis/\(escaped(api))/stages/\(escaped(current.ref))", body: .object([("patchOperations", .array(operations))]))
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        let api = properties["RestApiId"]?.string ?? ""
        _ = try await context.calls.rest("DELETE", "/restapis/\(escaped(api))/stages/\(escaped(physicalId))", body: nil)
    }
}

// MARK: API Gateway (HTTP and WebSocket APIs)

/// `AWS::ApiGatewayV2::Api`: ImportApi from its `Body` (ReimportApi on update), or CreateApi; Ref is the API's id.
struct HTTPApiProvisioner: ResourceProvisioner {
    static let members = [
        "Name", "ProtocolType", "Description", "RouteSelectionExpression", "ApiKeySelectionExpression", "CorsConfiguration", "DisableExecuteApiEndpoint",
        "Target", "RouteKey", "CredentialsArn", "Version",
    ]

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let answer: Document
        if let body = properties["Body"] {
            answer = try await context.calls.rest("PUT", "/v2/apis", body: .object([("body", .string(body.json()))]))
        } else {
            var create = properties.picking(Self.members).camelCased(keeping: ["CorsConfiguration"])
            if let cors = properties["CorsConfiguration"] { create = create.with("corsConfiguration", cors.camelCased()) }
            answer = try await context.calls.rest("POST", "/v2/apis", body: create.with("name", .string(properties["Name"]?.string ?? name)))
        }
        let id = answer["apiId"]?.string ?? ""
        return ResourceValues(ref: id, attributes: ["ApiId": id, "ApiEndpoint": answer["apiEndpoint"]?.string ?? ""])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        if let body = properties["Body"] {
            _ = try await context.calls.rest("PUT", "/v2/apis/\(current.ref)", body: .object([("body", .string(body.json()))]))
        } else {
            _ = try await context.calls.rest(
                "PATCH", "/v2/apis/\(current.ref)", body: properties.picking(Self.members.filter { $0 != "ProtocolType" }).camelCased())
        }
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await context.calls.rest("DELETE", "/v2/apis/\(escaped(physicalId))", body: nil)
    }
}

/// A sub-resource of an HTTP or WebSocket API made by one POST and changed by PATCH: routes,
/// integrations, stages, deployments.
struct HTTPApiPartProvisioner: ResourceProvisioner {
    let collection: String
    let idMember: String
    let members: [String]
    /// Members whose keys are the user's own (route settings by route key, request parameters).
    var keptKeys: Set<String> = []
    /// Ref is a member of the request (a stage's name) rather than an id the service makes.
    var refFromRequest: String?

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let api = properties["ApiId"]?.string ?? ""
        var body = properties.picking(members).camelCased(keeping: keptKeys)
        if let member = refFromRequest, body[member] == nil { body = body.with(member, .string(name)) }
        let answer = try await context.calls.rest("POST", "/v2/apis/\(escaped(api))/\(collection)", body: body)
        let id = refFromRequest.flatMap { body[$0]?.string } ?? answer[idMember]?.string ?? ""
        return ResourceValues(ref: id, attributes: [idMember.prefix(1).uppercased() + idMember.dropFirst(): id])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let api = properties["ApiId"]?.string ?? ""
        let body = properties.picking(members).camelCased(keeping: keptKeys).without(refFromRequest.map { [$0] } ?? [])
        _ = try await context.calls.rest("PATCH", "/v2/apis/\(escaped(api))/\(collection)/\(escaped(current.ref))", body: body)
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        let api = properties["ApiId"]?.string ?? ""
        _ = try await context.calls.rest("DELETE", "/v2/apis/\(escaped(api))/\(collection)/\(escaped(physicalId))", body: nil)
    }
}

extension HTTPApiPartProvisioner {
    static let stage =
    HTTPApiPartProvisioner(
        collection: "stages", idMember: "stageName",
        members: ["StageName", "AutoDeploy", "DeploymentId", "Description", "StageVariables", "DefaultRouteSettings", "RouteSettings", "AccessLogSettings"],
        keptKeys: ["StageVariables", "RouteSettings"], refFromRequest: "stageName")

    static let route =
    HTTPApiPartProvisioner(
        collection: "routes", idMember: "routeId",
        members: [
            "RouteKey", "Target", "AuthorizationType", "AuthorizerId", "AuthorizationScopes", "ApiKeyRequired", "OperationName", "RouteResponseSelectionExpression",
            "ModelSelectionExpression", "RequestModels", "RequestParameters",
        ], keptKeys: ["RequestModels", "RequestParameters"])

    static let integration =
    HTTPApiPartProvisioner(
        collection: "integrations", idMember: "integrationId",
        members: [
            "IntegrationType", "IntegrationUri", "IntegrationMethod", "PayloadFormatVersion", "ConnectionType", "ConnectionId", "TimeoutInMillis", "Description",
            "RequestParameters", "RequestTemplates", "TemplateSelectionExpression", "CredentialsArn", "PassthroughBehavior", "IntegrationSubtype",
            "ContentHandlingStrategy",
        ], keptKeys: ["RequestParameters", "RequestTemplates"])

    static let deployment = HTTPApiPartProvisioner(collection: "deployments", idMember: "deploymentId", members: ["StageName", "Description"])
}

// MARK: API Gateway (REST APIs' resources and methods)

/// `AWS::ApiGateway::Resource`: CreateResource under its parent; Ref is the resource's id.
struct RestResourceProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let api = escaped(properties["RestApiId"]?.string ?? "")
        let parent = escaped(properties["ParentId"]?.string ?? "")
        let answer = try await context.calls.rest(
            "POST", "/restapis/\(api)/resources/\(parent)", body: .object([("pathPart", properties["PathPart"] ?? .string(""))]))
        let id = answer["id"]?.string ?? ""
        return ResourceValues(ref: id, attributes: ["ResourceId": id])
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        let api = escaped(properties["RestApiId"]?.string ?? "")
        _ = try await context.calls.rest("DELETE", "/restapis/\(api)/resources/\(escaped(physicalId))", body: nil)
    }
}

/// `AWS::ApiGateway::Method`: PutMethod, then its integration, integration responses and
/// method responses; an update puts them all again (PutMethod replaces the method whole).
struct RestMethodProvisioner: ResourceProvisioner {
    func path(_ properties: Document) -> String {
        let api = escaped(properties["RestApiId"]?.string ?? "")
        let resource = escaped(properties["ResourceId"]?.string ?? "")
        return "/restapis/\(api)/resources/\(resource)/methods/\(escaped(properties["HttpMethod"]?.string ?? ""))"
    }

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        try await put(properties, context: context)
        return ResourceValues(ref: name)
    }

    func put(_ properties: Document, context: ProvisioningContext) async throws(AWSError) {
        let method = path(properties)
        var body = properties.picking(["AuthorizerId", "ApiKeyRequired", "OperationName", "RequestModels", "RequestValidatorId", "AuthorizationScopes"])
            .booleans(["ApiKeyRequired"]).camelCased(keeping: ["RequestModels"])
        body = body.with("authorizationType", properties["AuthorizationType"] ?? .string("NONE"))
        if let parameters = properties["RequestParameters"] {
            // `method.request.querystring.q: true`, or "true" from a parameter.
            body = body.with("requestParameters", .object(parameters.members.map { ($0.0, $0.1.string == "true" ? .bool(true) : $0.1.string == "false" ? .bool(false) : $0.1) }))
        }
        _ = try await context.calls.rest("PUT", method, body: body)
        for response in properties["MethodResponses"]?.items ?? [] {
            let status = escaped(response["StatusCode"]?.string ?? "200")
            let responseBody = response.picking(["ResponseModels", "ResponseParameters"]).camelCased(keeping: ["ResponseModels", "ResponseParameters"])
            _ = try await context.calls.rest("PUT", "\(method)/responses/\(status)", body: responseBody)
        }
        guard let integration = properties["Integration"] else { return }
        var integrationBody = integration.picking([
            "Type", "Uri", "Credentials", "RequestParameters", "RequestTemplates", "PassthroughBehavior", "CacheNamespace", "CacheKeyParameters",
            "ContentHandling", "TimeoutInMillis", "ConnectionType", "ConnectionId",
        ]).numbering(["TimeoutInMillis"]).camelCased(keeping: ["RequestParameters", "RequestTemplates"])
        if let verb = integration["IntegrationHttpMethod"] { integrationBody = integrationBody.with("httpMethod", verb) }
        _ = try await context.calls.rest("PUT", "\(method)/integration", body: integrationBody)
        for response in integration["IntegrationResponses"]?.items ?? [] {
            let status = escaped(response["StatusCode"]?.string ?? "200")
            let responseBody = response.picking(["SelectionPattern", "ResponseTemplates", "ResponseParameters", "ContentHandling"])
                .camelCased(keeping: ["ResponseTemplates", "ResponseParameters"])
            _ = try await context.calls.rest("PUT", "\(method)/integration/responses/\(status)", body: responseBody)
        }
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        try await put(properties, context: context)
        return current
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await context.calls.rest("DELETE", path(properties), body: nil)
    }
}

extension HTTPApiPartProvisioner {
    static let authorizer = HTTPApiPartProvisioner(
        collection: "authorizers", idMember: "authorizerId",
        members: [
            "Name", "AuthorizerType", "IdentitySource", "JwtConfiguration", "AuthorizerUri", "AuthorizerPayloadFormatVersion", "EnableSimpleResponses",
            "AuthorizerResultTtlInSeconds", "AuthorizerCredentialsArn", "IdentityValidationExpression",
        ])
}
