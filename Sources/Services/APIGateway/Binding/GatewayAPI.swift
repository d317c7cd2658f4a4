import APIGatewayShapes
import AWSProtocols
import StevedoreCore

/// API Gateway v2's control API (REST-JSON under `/v2/`), as `aws apigatewayv2` and boto3 call it.
public enum GatewayAPI {
    static let apis = "/v2/apis"

    /// - Parameter usage: the data plane's request counts per usage plan and key (GetUsage reads them).
    public static func routes<Committer: StateCommitting>(committer: Committer, usage: UsageQuotas) -> RESTRoutes where Committer.Root: GatewayHost {
        var routes = RESTRoutes(errorStyle: .apiGateway)
        let api = apis + "/{apiId}"

        routes.json("POST", apis, status: 201) { (input: V2CreateApiRequest, _) throws(AWSError) in
            try await committer.write { root, m throws(AWSError) in try root.gateway.createApi(input, now: m.now, using: &m.random, changes: &m.changes) }
        }
        // OpenAPI: ImportApi (PUT /v2/apis), ReimportApi (PUT /v2/apis/{apiId}), ExportApi.
        routes.json("PUT", apis, limit: 6 << 20, status: 201) { (input: V2ImportApiRequest, request) throws(AWSError) in
            // Read before the committer's turn: a large document takes a while.
            let definition = try GatewayState.readDefinition(input.body, failOnWarnings: request.query("failOnWarnings") == "true")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.importApi(definition, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.json("PUT", api, limit: 6 << 20, status: 201) { (input: V2ReimportApiRequest, request) throws(AWSError) in
            let id = request.parameter("apiId")
            let definition = try GatewayState.readDefinition(input.body, failOnWarnings: request.query("failOnWarnings") == "true")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.reimportApi(id, definition, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.raw("GET", api + "/exports/{specification}", limit: 0) { request in
            let (id, specification) = (request.parameter("apiId"), request.parameter("specification"))
            let (outputType, stageName) = (request.query("outputType") ?? "", request.query("stageName"))
            let extensions = request.query("includeExtensions").map { $0 == "true" }
            do throws(AWSError) {
                let body = try await committer.read { root, _ throws(AWSError) in
                    try root.gateway.exportApi(id, specification: specification, outputType: outputType, stageName: stageName, includeExtensions: extensions)
                }
                return APIResponse(
                    status: 200, headers: [("Content-Type", outputType == "YAML" ? "application/yaml" : "application/json"), ("x-amzn-RequestId", request.requestId)],
                    body: body)
            } catch {
                return RESTErrorStyle.apiGateway.response(error, requestId: request.requestId)
            }
        }
        routes.respond("GET", apis) { request throws(AWSError) in
            let (maxResults, nextToken) = (request.query("maxResults"), request.query("nextToken"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getApis(maxResults: maxResults, nextToken: nextToken) }
        }
        routes.respond("GET", api) { request throws(AWSError) in
            let id = request.parameter("apiId")
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getApi(id) }
        }
        routes.json("PATCH", api) { (input: V2UpdateApiRequest, request) throws(AWSError) in
            let id = request.parameter("apiId")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.updateApi(id, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("DELETE", api, status: 204) { request throws(AWSError) in
            let id = request.parameter("apiId")
            try await committer.write { root, m throws(AWSError) in try root.gateway.deleteApi(id, changes: &m.changes) }
            return EmptyOutput()
        }

        // Routes.
        routes.json("POST", api + "/routes", status: 201) { (input: V2CreateRouteRequest, request) throws(AWSError) in
            let id = request.parameter("apiId")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.createRoute(id, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("GET", api + "/routes") { request throws(AWSError) in
            let (id, maxResults, nextToken) = (request.parameter("apiId"), request.query("maxResults"), request.query("nextToken"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getRoutes(id, maxResults: maxResults, nextToken: nextToken) }
        }
        routes.respond("GET", api + "/routes/{routeId}") { request throws(AWSError) in
            let (id, route) = (request.parameter("apiId"), request.parameter("routeId"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getRoute(id, route) }
        }
        routes.json("PATCH", api + "/routes/{routeId}") { (input: V2UpdateRouteRequest, request) throws(AWSError) in
            let (id, route) = (request.parameter("apiId"), request.parameter("routeId"))
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.updateRoute(id, route, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("DELETE", api + "/routes/{routeId}", status: 204) { request throws(AWSError) in
            let (id, route) = (request.parameter("apiId"), request.parameter("routeId"))
            try await committer.write { root, m throws(AWSError) in
                try root.gateway.deleteRoute(id, route, now: m.now, using: &m.random, changes: &m.changes)
            }
            return EmptyOutput()
        }

        // Integrations.
        routes.json("POST", api + "/integrations", status: 201) { (input: V2CreateIntegrationRequest, request) throws(AWSError) in
            let id = request.parameter("apiId")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.createIntegration(id, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("GET", api + "/integrations") { request throws(AWSError) in
            let (id, maxResults, nextToken) = (request.parameter("apiId"), request.query("maxResults"), request.query("nextToken"))
            return try await committer.read { root, _ throws(AWSError) in
                try root.gateway.getIntegrations(id, maxResults: maxResults, nextToken: nextToken)
            }
        }
        routes.respond("GET", api + "/integrations/{integrationId}") { request throws(AWSError) in
            let (id, integration) = (request.parameter("apiId"), request.parameter("integrationId"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getIntegration(id, integration) }
        }
        routes.json("PATCH", api + "/integrations/{integrationId}") { (input: V2UpdateIntegrationRequest, request) throws(AWSError) in
            let (id, integration) = (request.parameter("apiId"), request.parameter("integrationId"))
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.updateIntegration(id, integration, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("DELETE", api + "/integrations/{integrationId}", status: 204) { request throws(AWSError) in
            let (id, integration) = (request.parameter("apiId"), request.parameter("integrationId"))
            try await committer.write { root, m throws(AWSError) in
                try root.gateway.deleteIntegration(id, integration, now: m.now, using: &m.random, changes: &m.changes)
            }
            return EmptyOutput()
        }

        // WebSocket APIs' route responses and integration responses.
        let routeResponses = api + "/routes/{routeId}/routeresponses"
        routes.json("POST", routeResponses, status: 201) { (input: V2CreateRouteResponseRequest, request) throws(AWSError) in
            let (id, route) = (request.parameter("apiId"), request.parameter("routeId"))
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.createRouteResponse(id, route, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("GET", routeResponses) { request throws(AWSError) in
            let (id, route) = (request.parameter("apiId"), request.parameter("routeId"))
            let (maxResults, nextToken) = (request.query("maxResults"), request.query("nextToken"))
            return try await committer.read { root, _ throws(AWSError) in
                try root.gateway.getRouteResponses(id, route, maxResults: maxResults, nextToken: nextToken)
            }
        }
        routes.respond("GET", routeResponses + "/{routeResponseId}") { request throws(AWSError) in
            let (id, route, response) = (request.parameter("apiId"), request.parameter("routeId"), request.parameter("routeResponseId"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getRouteResponse(id, route, response) }
        }
        routes.json("PATCH", routeResponses + "/{routeResponseId}") { (input: V2UpdateRouteResponseRequest, request) throws(AWSError) in
            let (id, route, response) = (request.parameter("apiId"), request.parameter("routeId"), request.parameter("routeResponseId"))
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.updateRouteResponse(id, route, response, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("DELETE", routeResponses + "/{routeResponseId}", status: 204) { request throws(AWSError) in
            let (id, route, response) = (request.parameter("apiId"), request.parameter("routeId"), request.parameter("routeResponseId"))
            try await committer.write { root, m throws(AWSError) in
                try root.gateway.deleteRouteResponse(id, route, response, now: m.now, using: &m.random, changes: &m.changes)
            }
            return EmptyOutput()
        }
        let integrationResponses = api + "/integrations/{integrationId}/integrationresponses"
        routes.json("POST", integrationResponses, status: 201) { (input: V2CreateIntegrationResponseRequest, request) throws(AWSError) in
            let (id, integration) = (request.parameter("apiId"), request.parameter("integrationId"))
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.createIntegrationResponse(id, integration, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("GET", integrationResponses) { request throws(AWSError) in
            let (id, integration) = (request.parameter("apiId"), request.parameter("integrationId"))
            let (maxResults, nextToken) = (request.query("maxResults"), request.query("nextToken"))
            return try await committer.read { root, _ throws(AWSError) in
                try root.gateway.getIntegrationResponses(id, integration, maxResults: maxResults, nextToken: nextToken)
            }
        }
        routes.respond("GET", integrationResponses + "/{integrationResponseId}") { request throws(AWSError) in
            let (id, integration, response) = (
                request.parameter("apiId"), request.parameter("integrationId"), request.parameter("integrationResponseId")
            )
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getIntegrationResponse(id, integration, response) }
        }
        routes.json("PATCH", integrationResponses + "/{integrationResponseId}") { (input: V2UpdateIntegrationResponseRequest, request) throws(AWSError) in
            let (id, integration, response) = (
                request.parameter("apiId"), request.parameter("integrationId"), request.parameter("integrationResponseId")
            )
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.updateIntegrationResponse(id, integration, response, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("DELETE", integrationResponses + "/{integrationResponseId}", status: 204) { request throws(AWSError) in
            let (id, integration, response) = (
                request.parameter("apiId"), request.parameter("integrationId"), request.parameter("integrationResponseId")
            )
            try await committer.write { root, m throws(AWSError) in
                try root.gateway.deleteIntegrationResponse(id, integration, response, now: m.now, using: &m.random, changes: &m.changes)
            }
            return EmptyOutput()
        }

        // Stages.
        routes.json("POST", api + "/stages", status: 201) { (input: V2CreateStageRequest, request) throws(AWSError) in
            let id = request.parameter("apiId")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.createStage(id, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("GET", api + "/stages") { request throws(AWSError) in
            let (id, maxResults, nextToken) = (request.parameter("apiId"), request.query("maxResults"), request.query("nextToken"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getStages(id, maxResults: maxResults, nextToken: nextToken) }
        }
        routes.respond("GET", api + "/stages/{stageName}") { request throws(AWSError) in
            let (id, stage) = (request.parameter("apiId"), request.parameter("stageName"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getStage(id, stage) }
        }
        routes.json("PATCH", api + "/stages/{stageName}") { (input: V2UpdateStageRequest, request) throws(AWSError) in
            let (id, stage) = (request.parameter("apiId"), request.parameter("stageName"))
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.updateStage(id, stage, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("DELETE", api + "/stages/{stageName}", status: 204) { request throws(AWSError) in
            let (id, stage) = (request.parameter("apiId"), request.parameter("stageName"))
            try await committer.write { root, m throws(AWSError) in try root.gateway.deleteStage(id, stage, changes: &m.changes) }
            return EmptyOutput()
        }

        // Deployments.
        routes.json("POST", api + "/deployments", status: 201) { (input: V2CreateDeploymentRequest, request) throws(AWSError) in
            let id = request.parameter("apiId")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.createDeployment(id, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("GET", api + "/deployments") { request throws(AWSError) in
            let (id, maxResults, nextToken) = (request.parameter("apiId"), request.query("maxResults"), request.query("nextToken"))
            return try await committer.read { root, _ throws(AWSError) in
                try root.gateway.getDeployments(id, maxResults: maxResults, nextToken: nextToken)
            }
        }
        routes.respond("GET", api + "/deployments/{deploymentId}") { request throws(AWSError) in
            let (id, deployment) = (request.parameter("apiId"), request.parameter("deploymentId"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getDeployment(id, deployment) }
        }
        routes.respond("DELETE", api + "/deployments/{deploymentId}", status: 204) { request throws(AWSError) in
            let (id, deployment) = (request.parameter("apiId"), request.parameter("deploymentId"))
            try await committer.write { root, m throws(AWSError) in try root.gateway.deleteDeployment(id, deployment, changes: &m.changes) }
            return EmptyOutput()
        }

        // Authorizers.
        routes.json("POST", api + "/authorizers", status: 201) { (input: V2CreateAuthorizerRequest, request) throws(AWSError) in
            let id = request.parameter("apiId")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.createAuthorizer(id, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("GET", api + "/authorizers") { request throws(AWSError) in
            let (id, maxResults, nextToken) = (request.parameter("apiId"), request.query("maxResults"), request.query("nextToken"))
            return try await committer.read { root, _ throws(AWSError) in
                try root.gateway.getAuthorizers(id, maxResults: maxResults, nextToken: nextToken)
            }
        }
        routes.respond("GET", api + "/authorizers/{authorizerId}") { request throws(AWSError) in
            let (id, authorizer) = (request.parameter("apiId"), request.parameter("authorizerId"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getAuthorizer(id, authorizer) }
        }
        routes.json("PATCH", api + "/authorizers/{authorizerId}") { (input: V2UpdateAuthorizerRequest, request) throws(AWSError) in
            let (id, authorizer) = (request.parameter("apiId"), request.parameter("authorizerId"))
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.updateAuthorizer(id, authorizer, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("DELETE", api + "/authorizers/{authorizerId}", status: 204) { request throws(AWSError) in
            let (id, authorizer) = (request.parameter("apiId"), request.parameter("authorizerId"))
            try await committer.write { root, m throws(AWSError) in
                try root.gateway.deleteAuthorizer(id, authorizer, now: m.now, using: &m.random, changes: &m.changes)
            }
            return EmptyOutput()
        }

        // Tags, by the API's ARN.
        let tags = "/v2/tags/{resourceArn}"
        routes.respond("GET", tags) { request throws(AWSError) in
            let arn = request.parameter("resourceArn")
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getTags(arn) }
        }
        routes.json("POST", tags, status: 201) { (input: V2TagResourceRequest, request) throws(AWSError) in
            let arn = request.parameter("resourceArn")
            try await committer.write { root, m throws(AWSError) in try root.gateway.tagResource(arn, tags: input.tags ?? [:], changes: &m.changes) }
            return V2TagResourceResponse()
        }
        routes.respond("DELETE", tags, status: 204) { request throws(AWSError) in
            let (arn, keys) = (request.parameter("resourceArn"), request.queryAll("tagKeys"))
            try await committer.write { root, m throws(AWSError) in try root.gateway.untagResource(arn, keys: keys, changes: &m.changes) }
            return EmptyOutput()
        }
        restRoutes(committer: committer, usage: usage, into: &routes)
        return routes
    }

    /// Requests under `/v2/` that no route takes: an operation of the model this endpoint does not
    /// serve is named; any other path is not found, as API Gateway answers.
    public static let fallback = RESTFallback(claims: { $0 == "/v2" || $0.hasPrefix("/v2/") }) { method, path, requestId in
        let error: AWSError
        if let operation = V2Model.operations.first(where: { $0.matches(method: method, path: path) }) {
            error = AWSError(type: "NotImplementedException", message: "The \(operation.name) operation is not implemented by this endpoint.", httpStatus: 501)
        } else {
            error = AWSError(type: "NotFoundException", message: "Invalid request path \(path)", httpStatus: 404)
        }
        return RESTErrorStyle.apiGateway.response(error, requestId: requestId)
    }

    /// The IAM action API Gateway's management requests are authorized as (`apigateway:GET`, …) and
    /// the resource: `arn:aws:apigateway:{region}::/apis/{apiId}/…`.
    public static func iamAction(method: String, path: String, names: ResourceNames) -> (action: String, resource: String)? {
        if path.hasPrefix("/v2/") {
            return ("apigateway:\(method)", "arn:\(names.partition):apigateway:\(names.region)::\(path.dropFirst(3))")
        }
        guard restFallback.claims(path) else { return nil }
        return ("apigateway:\(method)", "arn:\(names.partition):apigateway:\(names.region)::\(path)")
    }
}
