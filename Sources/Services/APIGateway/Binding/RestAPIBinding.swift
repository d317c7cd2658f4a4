import APIGatewayShapes
import AWSProtocols
import StevedoreCore

/// API Gateway's REST APIs control API (`/restapis`, `/apikeys`, `/usageplans`), as `aws apigateway`
/// and boto3 call it.
extension GatewayAPI {
    static func restRoutes<Committer: StateCommitting>(committer: Committer, usage: UsageQuotas, into routes: inout RESTRoutes)
    where Committer.Root: GatewayHost {
        let restApis = "/restapis"
        let api = restApis + "/{restapi_id}"
        let resource = api + "/resources/{resource_id}"
        let method = resource + "/methods/{http_method}"

        // CreateRestApi, or ImportRestApi with `?mode=import` (the body is then the document).
        routes.raw("POST", restApis, limit: 6 << 20) { request in
            do throws(AWSError) {
                if request.query("mode") == "import" {
                    let definition = try GatewayState.readRestDefinition(request.body, failOnWarnings: request.query("failonwarnings") == "true")
                    let api = try await committer.write { root, m throws(AWSError) in
                        try root.gateway.importRestApi(definition, now: m.now, using: &m.random, changes: &m.changes)
                    }
                    return RESTRoutes.output(api, status: 201, requestId: request.requestId)
                }
                let input: V1CreateRestApiRequest
                do throws(AWSError) {
                    input = try AWSJSONCodec.decode(V1CreateRestApiRequest.self, from: request.body)
                } catch {
                    throw RESTErrorStyle.apiGateway.decodeError(error)
                }
                let api = try await committer.write { root, m throws(AWSError) in
                    try root.gateway.createRestApi(input, now: m.now, using: &m.random, changes: &m.changes)
                }
                return RESTRoutes.output(api, status: 201, requestId: request.requestId)
            } catch {
                return RESTErrorStyle.apiGateway.response(error, requestId: request.requestId)
            }
        }
        // PutRestApi: the document replaces (`mode=overwrite`, the default) or adds to (`merge`) the API.
        routes.raw("PUT", api, limit: 6 << 20) { request in
            do throws(AWSError) {
                let id = request.parameter("restapi_id")
                let mode = request.query("mode") ?? "merge"
                guard mode == "merge" || mode == "overwrite" else { throw .gatewayBadRequest("Invalid mode \(mode): use merge or overwrite") }
                let definition = try GatewayState.readRestDefinition(request.body, failOnWarnings: request.query("failonwarnings") == "true")
                let api = try await committer.write { root, m throws(AWSError) in
                    try root.gateway.putRestApi(id, definition, merge: mode == "merge", using: &m.random, changes: &m.changes)
                }
                return RESTRoutes.output(api, status: 200, requestId: request.requestId)
            } catch {
                return RESTErrorStyle.apiGateway.response(error, requestId: request.requestId)
            }
        }
        routes.respond("GET", restApis) { request throws(AWSError) in
            let (limit, position) = (request.query("limit"), request.query("position"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getRestApis(limit: limit, position: position) }
        }
        routes.respond("GET", api) { request throws(AWSError) in
            let id = request.parameter("restapi_id")
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.restApi(id).api }
        }
        routes.json("PATCH", api) { (input: V1UpdateRestApiRequest, request) throws(AWSError) in
            let id = request.parameter("restapi_id")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.updateRestApi(id, input.patchOperations ?? [], changes: &m.changes)
            }
        }
        routes.respond("DELETE", api, status: 202) { request throws(AWSError) in
            let id = request.parameter("restapi_id")
            try await committer.write { root, m throws(AWSError) in try root.gateway.deleteRestApi(id, changes: &m.changes) }
            return EmptyOutput()
        }

        // Resources.
        routes.respond("GET", api + "/resources") { request throws(AWSError) in
            let (id, embed) = (request.parameter("restapi_id"), request.queryAll("embed").contains("methods"))
            let (limit, position) = (request.query("limit"), request.query("position"))
            return try await committer.read { root, _ throws(AWSError) in
                try root.gateway.getResources(id, embedMethods: embed, limit: limit, position: position)
            }
        }
        routes.respond("GET", resource) { request throws(AWSError) in
            let (id, resourceId) = (request.parameter("restapi_id"), request.parameter("resource_id"))
            let embed = request.queryAll("embed").contains("methods")
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getResource(id, resourceId, embedMethods: embed) }
        }
        // CreateResource's parent id sits where the other operations' resource id does.
        routes.json("POST", resource, status: 201) { (input: V1CreateResourceRequest, request) throws(AWSError) in
            let (id, parent) = (request.parameter("restapi_id"), request.parameter("resource_id"))
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.createResource(id, parentId: parent, pathPart: input.pathPart, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("DELETE", resource, status: 202) { request throws(AWSError) in
            let (id, resourceId) = (request.parameter("restapi_id"), request.parameter("resource_id"))
            try await committer.write { root, m throws(AWSError) in try root.gateway.deleteResource(id, resourceId, changes: &m.changes) }
            return EmptyOutput()
        }

        // Methods and their responses.
        routes.json("PUT", method, status: 201) { (input: V1PutMethodRequest, request) throws(AWSError) in
            let (id, resourceId, verb) = (request.parameter("restapi_id"), request.parameter("resource_id"), request.parameter("http_method"))
            return try await committer.write { root, m throws(AWSError) in try root.gateway.putMethod(id, resourceId, verb, input, changes: &m.changes) }
        }
        routes.respond("GET", method) { request throws(AWSError) in
            let (id, resourceId, verb) = (request.parameter("restapi_id"), request.parameter("resource_id"), request.parameter("http_method"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getMethod(id, resourceId, verb) }
        }
        routes.json("PATCH", method) { (input: V1UpdateRestApiRequest, request) throws(AWSError) in
            let (id, resourceId, verb) = (request.parameter("restapi_id"), request.parameter("resource_id"), request.parameter("http_method"))
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.updateMethod(id, resourceId, verb, input.patchOperations ?? [], changes: &m.changes)
            }
        }
        routes.respond("DELETE", method, status: 204) { request throws(AWSError) in
            let (id, resourceId, verb) = (request.parameter("restapi_id"), request.parameter("resource_id"), request.parameter("http_method"))
            try await committer.write { root, m throws(AWSError) in try root.gateway.deleteMethod(id, resourceId, verb, changes: &m.changes) }
            return EmptyOutput()
        }
        routes.json("PUT", method + "/responses/{status_code}", status: 201) { (input: V1PutMethodResponseRequest, request) throws(AWSError) in
            let (id, resourceId, verb) = (request.parameter("restapi_id"), request.parameter("resource_id"), request.parameter("http_method"))
            let status = request.parameter("status_code")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.putMethodResponse(id, resourceId, verb, status, input, changes: &m.changes)
            }
        }
        routes.respond("GET", method + "/responses/{status_code}") { request throws(AWSError) in
            let (id, resourceId, verb) = (request.parameter("restapi_id"), request.parameter("resource_id"), request.parameter("http_method"))
            let status = request.parameter("status_code")
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getMethodResponse(id, resourceId, verb, status) }
        }
        routes.respond("DELETE", method + "/responses/{status_code}", status: 204) { request throws(AWSError) in
            let (id, resourceId, verb) = (request.parameter("restapi_id"), request.parameter("resource_id"), request.parameter("http_method"))
            let status = request.parameter("status_code")
            try await committer.write { root, m throws(AWSError) in
                try root.gateway.deleteMethodResponse(id, resourceId, verb, status, changes: &m.changes)
            }
            return EmptyOutput()
        }

        // Integrations and their responses.
        routes.json("PUT", method + "/integration", status: 201) { (input: V1PutIntegrationRequest, request) throws(AWSError) in
            let (id, resourceId, verb) = (request.parameter("restapi_id"), request.parameter("resource_id"), request.parameter("http_method"))
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.putIntegration(id, resourceId, verb, input, changes: &m.changes)
            }
        }
        routes.respond("GET", method + "/integration") { request throws(AWSError) in
            let (id, resourceId, verb) = (request.parameter("restapi_id"), request.parameter("resource_id"), request.parameter("http_method"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getIntegration(id, resourceId, verb) }
        }
        routes.respond("DELETE", method + "/integration", status: 204) { request throws(AWSError) in
            let (id, resourceId, verb) = (request.parameter("restapi_id"), request.parameter("resource_id"), request.parameter("http_method"))
            try await committer.write { root, m throws(AWSError) in try root.gateway.deleteIntegration(id, resourceId, verb, changes: &m.changes) }
            return EmptyOutput()
        }
        let integrationResponse = method + "/integration/responses/{status_code}"
        routes.json("PUT", integrationResponse, status: 201) { (input: V1PutIntegrationResponseRequest, request) throws(AWSError) in
            let (id, resourceId, verb) = (request.parameter("restapi_id"), request.parameter("resource_id"), request.parameter("http_method"))
            let status = request.parameter("status_code")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.putIntegrationResponse(id, resourceId, verb, status, input, changes: &m.changes)
            }
        }
        routes.respond("GET", integrationResponse) { request throws(AWSError) in
            let (id, resourceId, verb) = (request.parameter("restapi_id"), request.parameter("resource_id"), request.parameter("http_method"))
            let status = request.parameter("status_code")
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getIntegrationResponse(id, resourceId, verb, status) }
        }
        routes.respond("DELETE", integrationResponse, status: 204) { request throws(AWSError) in
            let (id, resourceId, verb) = (request.parameter("restapi_id"), request.parameter("resource_id"), request.parameter("http_method"))
            let status = request.parameter("status_code")
            try await committer.write { root, m throws(AWSError) in
                try root.gateway.deleteIntegrationResponse(id, resourceId, verb, status, changes: &m.changes)
            }
            return EmptyOutput()
        }

        // Deployments and stages.
        routes.json("POST", api + "/deployments", status: 201) { (input: V1CreateDeploymentRequest, request) throws(AWSError) in
            let id = request.parameter("restapi_id")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.createRestDeployment(id, input, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("GET", api + "/deployments") { request throws(AWSError) in
            let (id, limit, position) = (request.parameter("restapi_id"), request.query("limit"), request.query("position"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getRestDeployments(id, limit: limit, position: position) }
        }
        routes.respond("GET", api + "/deployments/{deployment_id}") { request throws(AWSError) in
            let (id, deployment) = (request.parameter("restapi_id"), request.parameter("deployment_id"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getRestDeployment(id, deployment) }
        }
        routes.respond("DELETE", api + "/deployments/{deployment_id}", status: 202) { request throws(AWSError) in
            let (id, deployment) = (request.parameter("restapi_id"), request.parameter("deployment_id"))
            try await committer.write { root, m throws(AWSError) in try root.gateway.deleteRestDeployment(id, deployment, changes: &m.changes) }
            return EmptyOutput()
        }
        routes.json("POST", api + "/stages", status: 201) { (input: V1CreateStageRequest, request) throws(AWSError) in
            let id = request.parameter("restapi_id")
            return try await committer.write { root, m throws(AWSError) in try root.gateway.createRestStage(id, input, now: m.now, changes: &m.changes) }
        }
        routes.respond("GET", api + "/stages") { request throws(AWSError) in
            let id = request.parameter("restapi_id")
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getRestStages(id) }
        }
        routes.respond("GET", api + "/stages/{stage_name}") { request throws(AWSError) in
            let (id, name) = (request.parameter("restapi_id"), request.parameter("stage_name"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getRestStage(id, name) }
        }
        routes.json("PATCH", api + "/stages/{stage_name}") { (input: V1UpdateStageRequest, request) throws(AWSError) in
            let (id, name) = (request.parameter("restapi_id"), request.parameter("stage_name"))
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.updateRestStage(id, name, input.patchOperations ?? [], now: m.now, changes: &m.changes)
            }
        }
        routes.respond("DELETE", api + "/stages/{stage_name}", status: 202) { request throws(AWSError) in
            let (id, name) = (request.parameter("restapi_id"), request.parameter("stage_name"))
            try await committer.write { root, m throws(AWSError) in try root.gateway.deleteRestStage(id, name, changes: &m.changes) }
            return EmptyOutput()
        }

        // Lambda authorizers.
        // Models (JSON Schema documents) and request validators.
        routes.json("POST", api + "/models", status: 201) { (input: V1CreateModelRequest, request) throws(AWSError) in
            let id = request.parameter("restapi_id")
            return try await committer.write { root, m throws(AWSError) in try root.gateway.createModel(id, input, using: &m.random, changes: &m.changes) }
        }
        routes.respond("GET", api + "/models") { request throws(AWSError) in
            let id = request.parameter("restapi_id")
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getModels(id) }
        }
        routes.respond("GET", api + "/models/{model_name}") { request throws(AWSError) in
            let (id, name) = (request.parameter("restapi_id"), request.parameter("model_name"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getModel(id, name) }
        }
        routes.json("PATCH", api + "/models/{model_name}") { (input: V1UpdateModelRequest, request) throws(AWSError) in
            let (id, name) = (request.parameter("restapi_id"), request.parameter("model_name"))
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.updateModel(id, name, input.patchOperations ?? [], changes: &m.changes)
            }
        }
        routes.respond("DELETE", api + "/models/{model_name}", status: 202) { request throws(AWSError) in
            let (id, name) = (request.parameter("restapi_id"), request.parameter("model_name"))
            try await committer.write { root, m throws(AWSError) in try root.gateway.deleteModel(id, name, changes: &m.changes) }
            return EmptyOutput()
        }
        routes.json("POST", api + "/requestvalidators", status: 201) { (input: V1CreateRequestValidatorRequest, request) throws(AWSError) in
            let id = request.parameter("restapi_id")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.createRequestValidator(id, input, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("GET", api + "/requestvalidators") { request throws(AWSError) in
            let id = request.parameter("restapi_id")
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getRequestValidators(id) }
        }
        routes.respond("GET", api + "/requestvalidators/{requestvalidator_id}") { request throws(AWSError) in
            let (id, validator) = (request.parameter("restapi_id"), request.parameter("requestvalidator_id"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getRequestValidator(id, validator) }
        }
        routes.json("PATCH", api + "/requestvalidators/{requestvalidator_id}") { (input: V1UpdateRequestValidatorRequest, request) throws(AWSError) in
            let (id, validator) = (request.parameter("restapi_id"), request.parameter("requestvalidator_id"))
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.updateRequestValidator(id, validator, input.patchOperations ?? [], changes: &m.changes)
            }
        }
        routes.respond("DELETE", api + "/requestvalidators/{requestvalidator_id}", status: 202) { request throws(AWSError) in
            let (id, validator) = (request.parameter("restapi_id"), request.parameter("requestvalidator_id"))
            try await committer.write { root, m throws(AWSError) in try root.gateway.deleteRequestValidator(id, validator, changes: &m.changes) }
            return EmptyOutput()
        }

        routes.json("POST", api + "/authorizers", status: 201) { (input: V1CreateAuthorizerRequest, request) throws(AWSError) in
            let id = request.parameter("restapi_id")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.createRestAuthorizer(id, input, using: &m.random, changes: &m.changes)
            }
        }
        routes.respond("GET", api + "/authorizers") { request throws(AWSError) in
            let id = request.parameter("restapi_id")
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getRestAuthorizers(id) }
        }
        routes.respond("GET", api + "/authorizers/{authorizer_id}") { request throws(AWSError) in
            let (id, authorizer) = (request.parameter("restapi_id"), request.parameter("authorizer_id"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getRestAuthorizer(id, authorizer) }
        }
        routes.json("PATCH", api + "/authorizers/{authorizer_id}") { (input: V1UpdateRestApiRequest, request) throws(AWSError) in
            let (id, authorizer) = (request.parameter("restapi_id"), request.parameter("authorizer_id"))
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.updateRestAuthorizer(id, authorizer, input.patchOperations ?? [], changes: &m.changes)
            }
        }
        routes.respond("DELETE", api + "/authorizers/{authorizer_id}", status: 202) { request throws(AWSError) in
            let (id, authorizer) = (request.parameter("restapi_id"), request.parameter("authorizer_id"))
            try await committer.write { root, m throws(AWSError) in try root.gateway.deleteRestAuthorizer(id, authorizer, changes: &m.changes) }
            return EmptyOutput()
        }

        // API keys.
        routes.json("POST", "/apikeys", status: 201) { (input: V1CreateApiKeyRequest, _) throws(AWSError) in
            try await committer.write { root, m throws(AWSError) in try root.gateway.createApiKey(input, now: m.now, using: &m.random, changes: &m.changes) }
        }
        routes.respond("GET", "/apikeys") { request throws(AWSError) in
            let (values, name) = (request.query("includeValues") == "true", request.query("name"))
            let (limit, position) = (request.query("limit"), request.query("position"))
            return try await committer.read { root, _ throws(AWSError) in
                try root.gateway.getApiKeys(includeValues: values, nameQuery: name, limit: limit, position: position)
            }
        }
        routes.respond("GET", "/apikeys/{api_Key}") { request throws(AWSError) in
            let (id, value) = (request.parameter("api_Key"), request.query("includeValue") == "true")
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getApiKey(id, includeValue: value) }
        }
        routes.json("PATCH", "/apikeys/{api_Key}") { (input: V1UpdateApiKeyRequest, request) throws(AWSError) in
            let id = request.parameter("api_Key")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.updateApiKey(id, input.patchOperations ?? [], now: m.now, changes: &m.changes)
            }
        }
        routes.respond("DELETE", "/apikeys/{api_Key}", status: 202) { request throws(AWSError) in
            let id = request.parameter("api_Key")
            try await committer.write { root, m throws(AWSError) in try root.gateway.deleteApiKey(id, changes: &m.changes) }
            return EmptyOutput()
        }

        // Usage plans and their keys.
        routes.json("POST", "/usageplans", status: 201) { (input: V1CreateUsagePlanRequest, _) throws(AWSError) in
            try await committer.write { root, m throws(AWSError) in try root.gateway.createUsagePlan(input, using: &m.random, changes: &m.changes) }
        }
        routes.respond("GET", "/usageplans") { request throws(AWSError) in
            let (key, limit, position) = (request.query("keyId"), request.query("limit"), request.query("position"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getUsagePlans(keyId: key, limit: limit, position: position) }
        }
        routes.respond("GET", "/usageplans/{usageplanId}") { request throws(AWSError) in
            let id = request.parameter("usageplanId")
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getUsagePlan(id) }
        }
        routes.json("PATCH", "/usageplans/{usageplanId}") { (input: V1UpdateUsagePlanRequest, request) throws(AWSError) in
            let id = request.parameter("usageplanId")
            return try await committer.write { root, m throws(AWSError) in
                try root.gateway.updateUsagePlan(id, input.patchOperations ?? [], changes: &m.changes)
            }
        }
        routes.respond("DELETE", "/usageplans/{usageplanId}", status: 202) { request throws(AWSError) in
            let id = request.parameter("usageplanId")
            try await committer.write { root, m throws(AWSError) in try root.gateway.deleteUsagePlan(id, changes: &m.changes) }
            return EmptyOutput()
        }
        // GetUsage: each key's requests per day, with what the quota leaves ([used, remaining]).
        routes.respond("GET", "/usageplans/{usageplanId}/usage") { request throws(AWSError) in
            let id = request.parameter("usageplanId")
            guard let start = request.query("startDate"), let end = request.query("endDate") else {
                throw .gatewayBadRequest("Both startDate and endDate are required, as yyyy-MM-dd.")
            }
            guard let first = Self.usageDay(start), let last = Self.usageDay(end) else {
                throw .gatewayBadRequest("Invalid date format: startDate and endDate are yyyy-MM-dd (e.g. 2016-01-01).")
            }
            guard first <= last else { throw .gatewayBadRequest("The end date must not be before the start date.") }
            guard last - first < UsageQuotas.keptDays else { throw .gatewayBadRequest("The usage data covers at most 90 days.") }
            let limit = request.query("limit", as: Int.self) ?? 25
            guard (1...500).contains(limit) else { throw .gatewayBadRequest("The limit must be between 1 and 500.") }
            let keyId = request.query("keyId")
            let plan = try await committer.read { root, _ throws(AWSError) in try root.gateway.usagePlan(id) }
            let keys = plan.keyIds.sorted().filter { keyId == nil || $0 == keyId }
            let start0 = request.query("position").flatMap { position in keys.firstIndex { $0 > position } } ?? (request.query("position") == nil ? 0 : keys.count)
            let page = keys[start0..<min(keys.count, start0 + limit)]
            var values: [String: [[Int]]] = [:]
            for key in page { values[key] = usage.usage(plan: id, key: key, days: first...last, quota: plan.plan.quota) }
            return V1Usage(
                usagePlanId: id, startDate: start, endDate: end, position: start0 + limit < keys.count ? page.last : nil, values: values)
        }
        routes.json("POST", "/usageplans/{usageplanId}/keys", status: 201) { (input: V1CreateUsagePlanKeyRequest, request) throws(AWSError) in
            let id = request.parameter("usageplanId")
            return try await committer.write { root, m throws(AWSError) in try root.gateway.createUsagePlanKey(id, input, changes: &m.changes) }
        }
        routes.respond("GET", "/usageplans/{usageplanId}/keys") { request throws(AWSError) in
            let (id, limit, position) = (request.parameter("usageplanId"), request.query("limit"), request.query("position"))
            return try await committer.read { root, _ throws(AWSError) in try root.gateway.getUsagePlanKeys(id, limit: limit, position: position) }
        }
        routes.respond("DELETE", "/usageplans/{usageplanId}/keys/{keyId}", status: 202) { request throws(AWSError) in
            let (id, key) = (request.parameter("usageplanId"), request.parameter("keyId"))
            try await committer.write { root, m throws(AWSError) in try root.gateway.deleteUsagePlanKey(id, key, changes: &m.changes) }
            return EmptyOutput()
        }
    }

    /// A `yyyy-MM-dd` date as days since 1970.
    static func usageDay(_ text: String) -> Int? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2, let year = Int(parts[0]), let month = Int(parts[1]),
            let day = Int(parts[2]), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        return CivilCalendar.days(year: year, month: month, day: day)
    }

    /// REST APIs' paths that no route takes: an operation of the model this endpoint does not serve
    /// is named, as for HTTP APIs.
    public static let restFallback = RESTFallback(claims: { path in
        ["/restapis", "/apikeys", "/usageplans", "/domainnames", "/vpclinks", "/clientcertificates", "/account", "/sdktypes"]
            .contains { path == $0 || path.hasPrefix($0 + "/") }
    }) { method, path, requestId in
        let error: AWSError
        if let operation = V1ServiceModel.operations.first(where: { $0.matches(method: method, path: path) }) {
            error = AWSError(type: "NotImplementedException", message: "The \(operation.name) operation is not implemented by this endpoint.", httpStatus: 501)
        } else {
            error = AWSError(type: "NotFoundException", message: "Invalid request path \(path)", httpStatus: 404)
        }
        return RESTErrorStyle.apiGateway.response(error, requestId: requestId)
    }
}
