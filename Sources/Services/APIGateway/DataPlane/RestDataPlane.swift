import Foundation
import AgentProtocol
import APIGatewayShapes
import Lambda
import StevedoreCore

/// Where a request to a REST API goes: the API, the stage its first path segment names, and the
/// deployment that stage serves.
struct RestDestination {
    var api: RestAPIRecord
    var stage: V1Stage
    var deployment: RestDeployment
    /// The path after the stage, which resources are matched against.
    var resourcePath: String
}

extension GatewayState {
    /// A REST API request's destination: the API its reference names (see
    /// ``GatewayState/apiReference(host:path:)``), then the stage (REST APIs have no root stage).
    /// nil when the API is not a REST API; `.some(nil)` when it is but nothing is deployed where
    /// the path points.
    func restDestination(_ reference: (apiId: String, path: Substring)) -> RestDestination?? {
        let path = reference.path
        guard let api = restApis[reference.apiId] else { return nil }
        guard api.api.disableExecuteApiEndpoint != true else { return .some(nil) }
        let segments = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true)
        guard let stageName = segments.first.map(String.init), let stage = api.stages[stageName], let deploymentId = stage.deploymentId,
            let deployment = api.deployments[deploymentId]
        else { return .some(nil) }
        return .some(RestDestination(api: api, stage: stage, deployment: deployment, resourcePath: segments.count > 1 ? "/" + segments[1] : "/"))
    }

    /// The API key a request's `x-api-key` value names, when it exists.
    func apiKey(value: String) -> V1ApiKey? {
        apiKeys.values.first { $0.key.value == value }?.key
    }
}

extension GatewayResponse {
    /// REST APIs' answer for a path or method no resource has (AWS's famous one).
    static let missingAuthenticationToken = GatewayResponse(
        status: 403, headers: [("content-type", "application/json"), ("x-amzn-ErrorType", "MissingAuthenticationTokenException")],
        body: Array(#"{"message":"Missing Authentication Token"}"#.utf8))
    static let limitExceeded = message(429, "Limit Exceeded")
    static let restInternalServerError = message(502, "Internal server error")
    /// A REST authorizer that failed or answered something that is not a policy.
    static let authorizerFailure = GatewayResponse(
        status: 500, headers: [("content-type", "application/json"), ("x-amzn-ErrorType", "AuthorizerConfigurationException")],
        body: Array(#"{"message":null}"#.utf8))
}

extension GatewayDataPlane {
    /// A request to a REST API's stage: its resource and method, the API key and usage plan, the
    /// stage's throttling, then the integration.
    func serveRest(_ request: GatewayRequest, to destination: RestDestination, state: GatewayState, trace: inout RequestTrace) async
        -> GatewayResponse
    {
        let api = destination.api
        let table = routeTables.table(key: "rest/\(api.id)/\(destination.deployment.deployment.id ?? "")") {
            destination.deployment.resources.flatMap { resource in
                (resource.resourceMethods ?? [:]).keys.sorted().map { method in
                    (routeKey: "\(method) \(resource.path ?? "/")", target: Optional(resource.id ?? ""))
                }
            }
        }
        guard let selection = table.select(method: request.method, path: destination.resourcePath),
            let resource = destination.deployment.resources.first(where: { $0.id == selection.target }),
            let methodName = selection.routeKey.split(separator: " ").first.map(String.init),
            let method = resource.resourceMethods?[methodName], let integration = method.methodIntegration
        else { return .missingAuthenticationToken }
        let stageName = destination.stage.stageName ?? ""
        let resourcePath = resource.path ?? "/"
        trace.restValues["resourcePath"] = resourcePath
        trace.restValues["resourceId"] = resource.id
        trace.routeKey = "\(methodName) \(resourcePath)"
        var context = ProxyContext(
            accountId: accountId, apiId: api.id, stage: stageName, routeKey: "\(methodName) \(resourcePath)",
            pathParameters: selection.pathParameters, stageVariables: destination.stage.variables ?? [:])

        // A Lambda authorizer first, then API keys and usage plans.
        let methodArn = LambdaAuthorization.routeArn(names: names, apiId: api.id, stage: stageName, method: request.method, path: destination.resourcePath)
        if method.authorizationType == "CUSTOM" {
            guard let authorizer = method.authorizerId.flatMap({ destination.deployment.authorizers[$0] }) else { return .authorizerFailure }
            switch await authorizeRest(request, authorizer: authorizer, context: context, methodArn: methodArn, resourceId: resource.id ?? "") {
            case .refused(let response): return response
            case .allowed(let found): context.authorizer = found
            }
        }
        if method.authorizationType == "AWS_IAM", let signing {
            if case .refused(let response) = await signing.authorize(request, routeArn: methodArn) { return response }
        }
        var caller: (key: V1ApiKey, plan: UsagePlanRecord)?
        if method.apiKeyRequired == true {
            guard let value = request.header("x-api-key"), let key = state.apiKey(value: value), key.enabled == true, let id = key.id,
                let plan = state.usagePlan(forKey: id, apiId: api.id, stage: stageName)
            else { return .forbidden }
            caller = (key, plan)
            trace.restValues["identity.apiKeyId"] = id
            let stagePlan = plan.plan.apiStages?.first { $0.apiId == api.id && $0.stage == stageName }
            let methodThrottle = stagePlan?.throttle?["\(resourcePath)/\(methodName)"]
            if let throttle = methodThrottle ?? plan.plan.throttle, throttle.rateLimit != nil || throttle.burstLimit != nil {
                let limits = (rate: throttle.rateLimit ?? 10_000, burst: throttle.burstLimit ?? 5_000)
                guard throttles.admit(key: "plan \(plan.id) \(id) \(methodThrottle == nil ? "" : resourcePath + "/" + methodName)", limits: limits) else {
                    return .tooManyRequests
                }
            }
            if let quota = plan.plan.quota, let limit = quota.limit, let period = quota.period {
                guard quotas.consume(key: "\(plan.id) \(id)", limit: limit, period: period, at: request.time) else { return .limitExceeded }
            }
            quotas.record(plan: plan.id, key: id, at: request.time)
        }
        // The stage's method settings: this method's, else every method's (`*/*`).
        let settingKey = "\(resourcePath.dropFirst())/\(methodName)"
        let settings = destination.stage.methodSettings?[settingKey] ?? destination.stage.methodSettings?["*/*"]
        if let settings, settings.throttlingRateLimit != nil || settings.throttlingBurstLimit != nil {
            let limits = (rate: settings.throttlingRateLimit ?? 10_000, burst: settings.throttlingBurstLimit ?? 5_000)
            let scope = destination.stage.methodSettings?[settingKey] == nil ? "*/*" : settingKey
            guard throttles.admit(key: "rest \(api.id) \(stageName) \(scope)", limits: limits) else { return .tooManyRequests }
        }
        // The method's request validator: required parameters, then the body against its model.
        if let validatorId = method.requestValidatorId, let validator = destination.deployment.requestValidators?[validatorId],
            let refusal = RequestValidation.refusal(
                method: method, validator: validator, models: destination.deployment.models ?? [:], request: request,
                pathParameters: selection.pathParameters)
        {
            var refused = GatewayResponse.message(400, refusal)
            refused.headers.append(("x-amzn-ErrorType", "BadRequestException"))
            return refused
        }
        switch integration.type {
        case .awsProxy:
            return await invokeRestFunction(integration, request: request, context: context, resourceId: resource.id ?? "", caller: caller?.key)
        case .httpProxy:
            let adapted = V2Integration(
                integrationMethod: integration.httpMethod, integrationType: .httpProxy, integrationUri: integration.uri,
                timeoutInMillis: integration.timeoutInMillis)
            let uri = Self.substitute(integration.uri ?? "", stageVariables: context.stageVariables)
            return await forward(adapted, to: uri, request: request, context: context, retryable: false, timedOut: .gatewayTimeout)
                ?? .restInternalServerError
        case .aws:
            return await invokeRestFunctionMapped(integration, request: request, context: context)
        case .http:
            return await forwardMapped(integration, request: request, context: context)
        case .mock:
            return mockRestAnswer(integration, request: request, context: context)
        default:
            return .restInternalServerError
        }
    }

    /// A REST API's Lambda authorizer: TOKEN gets the token and the method ARN, REQUEST the
    /// request as a 1.0 event; the function's IAM policy for the method ARN decides (its answer
    /// cached by identity for the TTL, 300 s unless set).
    func authorizeRest(_ request: GatewayRequest, authorizer: V1Authorizer, context: ProxyContext, methodArn: String, resourceId: String) async
        -> Authorization
    {
        var identity: [String] = []
        for source in RestIdentitySource.parse(authorizer.identitySource) {
            let value: String?
            switch source {
            case .header(let name): value = request.header(name)
            case .query(let name): value = request.queryItems.last { $0.name == name }?.value
            case .stageVariable(let name): value = context.stageVariables[name]
            case .context(let name): value = Self.restTemplateContext(request, context: context)[name]
            }
            guard let value, !value.isEmpty else { return .refused(.unauthorized) }
            identity.append(value)
        }
        if authorizer.type == .token, let pattern = authorizer.identityValidationExpression, let regex = try? Regex(pattern),
            identity.first?.wholeMatch(of: regex) == nil
        {
            return .refused(.unauthorized)
        }
        let event: [UInt8]
        if authorizer.type == .token {
            event = Array(
                Document.object([("type", .string("TOKEN")), ("authorizationToken", .string(identity.first ?? "")), ("methodArn", .string(methodArn))])
                    .json().utf8)
        } else {
            var request = request
            request.body = []
            var payload = Self.restEvent(request, context: context, resourceId: resourceId, caller: nil)
            payload.type = "REQUEST"
            payload.methodArn = methodArn
            event = AWSJSONEncoding.encode(payload)
        }
        let asked = V2Authorizer(
            authorizerId: authorizer.id, authorizerResultTtlInSeconds: authorizer.authorizerResultTtlInSeconds ?? 300, authorizerType: .request,
            authorizerUri: authorizer.authorizerUri, name: authorizer.name ?? "")
        guard
            let answer = await authorizerAnswer(
                asked, identity: identity, apiId: context.apiId, stageVariables: context.stageVariables, routeArn: methodArn,
                simpleResponses: false, time: request.time, event: event),
            let verdict = LambdaAuthorization.decide(answer, simpleResponses: false, routeArn: methodArn)
        else { return .refused(.authorizerFailure) }
        guard verdict.allowed else {
            let explicit = LambdaAuthorization.deniesExplicitly(answer, routeArn: methodArn)
            let message = "User is not authorized to access this resource" + (explicit ? " with an explicit deny" : "")
            return .refused(GatewayResponse(
                status: 403, headers: [("content-type", "application/json"), ("x-amzn-ErrorType", "AccessDeniedException")],
                body: Array(Document.object([("Message", .string(message))]).json().utf8)))
        }
        // REST APIs pass the principal and the context's values on as strings.
        return .allowed(.lambda(verdict.context.mapValues { .string($0.selectionText ?? $0.jsonText) }))
    }

    /// The 1.0 event as REST APIs send it: no `version`; `path` without the stage,
    /// `requestContext.path` with it; the resource's id; the caller's API key.
    static func restEvent(_ request: GatewayRequest, context: ProxyContext, resourceId: String, caller: V1ApiKey?) -> ProxyPayload.EventV1 {
        var event = ProxyPayload.eventV1(request, context: context)
        event.version = nil
        event.path = request.routePath
        event.requestContext.path = "/\(context.stage)" + request.routePath
        event.requestContext.resourceId = resourceId
        event.requestContext.identity.apiKey = caller?.value
        event.requestContext.identity.apiKeyId = caller?.id
        return event
    }

    /// AWS_PROXY for REST APIs: the 1.0 event as REST APIs send it (no `version`; `path` without
    /// the stage, `requestContext.path` with it; the resource's id), the answer mapped as 1.0's.
    func invokeRestFunction(_ integration: V1Integration, request: GatewayRequest, context: ProxyContext, resourceId: String, caller: V1ApiKey?)
        async -> GatewayResponse
    {
        let uri = Self.substitute(integration.uri ?? "", stageVariables: context.stageVariables)
        guard let target = FunctionTarget(integrationUri: uri) else { return .restInternalServerError }
        let event = Self.restEvent(request, context: context, resourceId: resourceId, caller: caller)
        let invocation = InvocationRequest(
            reference: target.functionArn, qualifier: nil, payload: Data(AWSJSONEncoding.encode(event)), requestId: UUID().uuidString.lowercased(),
            traceId: LambdaAPI.newTraceId(at: request.time))
        let functions = self.functions
        switch await Deadline.race(milliseconds: integration.timeoutInMillis ?? 29000, { try? await functions.invoke(invocation) }) {
        case .timedOut: return .gatewayTimeout
        case .finished(nil): return .restInternalServerError
        case .finished(let outcome?):
            guard outcome.status == .success, let response = ProxyPayload.response(from: Array(outcome.payload), format: .v1) else {
                return .restInternalServerError
            }
            return response
        }
    }

    /// MOCK: the request template (by the request's content type, else `application/json`) gives
    /// the `statusCode`; the integration response whose selection pattern matches it (else the
    /// one without a pattern) gives the status and the body from its response template.
    func mockRestAnswer(_ integration: V1Integration, request: GatewayRequest, context: ProxyContext) -> GatewayResponse {
        let contentType = request.header("content-type").map { String($0.split(separator: ";").first ?? "").trimmingCharacters(in: .whitespaces) }
        let variables = Self.restTemplateContext(request, context: context)
        var status = 200
        if let templates = integration.requestTemplates, !templates.isEmpty {
            let template = contentType.flatMap { templates[$0] } ?? templates["application/json"]
            guard let template else {
                // No template for the content type: NEVER and WHEN_NO_TEMPLATES refuse it.
                if integration.passthroughBehavior != "WHEN_NO_MATCH" { return .message(415, "Unsupported Media Type") }
                return .restInternalServerError
            }
            let rendered = MappingTemplates.render(
                template, context: variables, stageVariables: context.stageVariables, body: request.body, parameters: Self.templateParameters(request, context: context))
            if let code = JSONPath.value(at: ["statusCode"], in: Array(rendered.utf8))?.selectionText.flatMap(Int.init) { status = code }
        }
        return Self.mappedAnswer(integration, selecting: String(status), payload: [], backendHeaders: [], request: request, context: context)
            ?? .restInternalServerError
    }

    /// The request template's output for a non-proxy integration: the template of the request's
    /// content type; without one, the body as it came (WHEN_NO_MATCH; WHEN_NO_TEMPLATES only when
    /// the integration has no templates at all) or 415 `Unsupported Media Type`.
    enum MappedRequest {
        case body([UInt8])
        case refused(GatewayResponse)
    }

    static func mappedRequest(_ integration: V1Integration, request: GatewayRequest, context: ProxyContext) -> MappedRequest {
        let contentType = request.header("content-type").map { String($0.split(separator: ";").first ?? "").trimmingWhitespace.lowercased() }
            ?? "application/json"
        let templates = integration.requestTemplates ?? [:]
        if let template = templates[contentType] {
            let rendered = MappingTemplates.render(
                template, context: restTemplateContext(request, context: context), stageVariables: context.stageVariables, body: request.body,
                parameters: templateParameters(request, context: context))
            return .body(Array(rendered.utf8))
        }
        switch integration.passthroughBehavior ?? "WHEN_NO_MATCH" {
        case "WHEN_NO_MATCH": return .body(request.body)
        case "WHEN_NO_TEMPLATES" where templates.isEmpty: return .body(request.body)
        default: return .refused(.message(415, "Unsupported Media Type"))
        }
    }

    /// A non-proxy integration's answer: the integration response whose selection pattern matches
    /// `selecting` (a function's error message, a backend's status code), else the one without a
    /// pattern; its status, its template (over the integration's payload; without one the payload
    /// as it came) and its header mappings (`'static'`, `integration.response.header.NAME`,
    /// `integration.response.body.PATH`). nil when no integration response answers.
    static func mappedAnswer(
        _ integration: V1Integration, selecting: String?, payload: [UInt8], backendHeaders: [(String, String)], request: GatewayRequest,
        context: ProxyContext
    ) -> GatewayResponse? {
        let responses = (integration.integrationResponses ?? [:]).values.sorted { ($0.statusCode ?? "") < ($1.statusCode ?? "") }
        let chosen =
            responses.first { response in
                guard let selecting, let pattern = response.selectionPattern, !pattern.isEmpty, let regex = try? Regex(pattern) else { return false }
                return selecting.wholeMatch(of: regex) != nil
            } ?? responses.first { ($0.selectionPattern ?? "").isEmpty }
        guard let chosen, let code = chosen.statusCode.flatMap(Int.init) else { return nil }
        var body = payload
        if let templates = chosen.responseTemplates, let template = templates["application/json"] ?? templates.values.first {
            // The method request's parameters reach the response's template too.
            body = Array(
                MappingTemplates.render(
                    template, context: restTemplateContext(request, context: context), stageVariables: context.stageVariables, body: payload,
                    parameters: templateParameters(request, context: context)
                ).utf8)
        }
        var headers: [(String, String)] = [("content-type", "application/json")]
        for (name, value) in (chosen.responseParameters ?? [:]).sorted(by: { $0.key < $1.key }) where name.hasPrefix("method.response.header.") {
            let header = String(name.dropFirst("method.response.header.".count))
            var mapped: String?
            if value.hasPrefix("'"), value.hasSuffix("'"), value.count >= 2 {
                mapped = String(value.dropFirst().dropLast())
            } else if value.hasPrefix("integration.response.header.") {
                let source = value.dropFirst("integration.response.header.".count).lowercased()
                mapped = backendHeaders.first { $0.0.lowercased() == source }?.1
            } else if value.hasPrefix("integration.response.body") {
                let path = "$" + value.dropFirst("integration.response.body".count)
                if let steps = JSONPath.steps(path), let document = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)) {
                    mapped = JSONPath.value(at: steps, in: document).map { $0.selectionText ?? $0.jsonText }
                }
            }
            guard let mapped else { continue }
            headers.removeAll { $0.0.lowercased() == header.lowercased() }
            headers.append((header, mapped))
        }
        return GatewayResponse(status: code, headers: headers, body: body)
    }

    /// AWS (non-proxy) to a function: the request template's output is the event; the answer is
    /// mapped by the integration responses, a function error selected by its `errorMessage`.
    func invokeRestFunctionMapped(_ integration: V1Integration, request: GatewayRequest, context: ProxyContext) async -> GatewayResponse {
        let uri = Self.substitute(integration.uri ?? "", stageVariables: context.stageVariables)
        guard let target = FunctionTarget(integrationUri: uri) else { return .restInternalServerError }
        let payload: [UInt8]
        switch Self.mappedRequest(integration, request: request, context: context) {
        case .refused(let refusal): return refusal
        case .body(let mapped): payload = mapped
        }
        let invocation = InvocationRequest(
            reference: target.functionArn, qualifier: nil, payload: Data(payload), requestId: UUID().uuidString.lowercased(),
            traceId: LambdaAPI.newTraceId(at: request.time))
        let functions = self.functions
        switch await Deadline.race(milliseconds: integration.timeoutInMillis ?? 29000, { try? await functions.invoke(invocation) }) {
        case .timedOut: return .gatewayTimeout
        case .finished(nil): return .restInternalServerError
        case .finished(let outcome?):
            let answer = Array(outcome.payload)
            var errorMessage: String?
            if outcome.status != .success {
                errorMessage = JSONPath.value(at: ["errorMessage"], in: answer)?.selectionText ?? outcome.errorType ?? "Unhandled"
            }
            return Self.mappedAnswer(integration, selecting: errorMessage, payload: answer, backendHeaders: [], request: request, context: context)
                ?? .restInternalServerError
        }
    }

    /// HTTP (non-proxy): the request template's output is sent to the URI with the integration's
    /// method (path parameters filled in, the query string kept); the backend's status selects
    /// the integration response.
    func forwardMapped(_ integration: V1Integration, request: GatewayRequest, context: ProxyContext) async -> GatewayResponse {
        var mapped = request
        switch Self.mappedRequest(integration, request: request, context: context) {
        case .refused(let refusal): return refusal
        case .body(let body): mapped.body = body
        }
        let adapted = V2Integration(
            integrationMethod: integration.httpMethod, integrationType: .http, integrationUri: integration.uri,
            timeoutInMillis: integration.timeoutInMillis)
        let uri = Self.substitute(integration.uri ?? "", stageVariables: context.stageVariables)
        let exchange = Self.exchange(adapted, to: uri, request: mapped, context: context)
        let result = await http.forward(method: exchange.method, url: exchange.url, headers: exchange.headers, body: exchange.body, timeout: exchange.timeout)
        switch result {
        case .timedOut: return .gatewayTimeout
        case .refused, .failed: return .restInternalServerError
        case .answered(let backend):
            return Self.mappedAnswer(
                integration, selecting: String(backend.status), payload: backend.body, backendHeaders: backend.headers, request: request, context: context)
                ?? .restInternalServerError
        }
    }

    /// `$input.params()`: the path's, the query string's (the last of a repeated name) and the headers.
    static func templateParameters(_ request: GatewayRequest, context: ProxyContext) -> MappingTemplates.Parameters {
        var query: [String: String] = [:]
        for item in request.queryItems { query[item.name] = item.value }
        return MappingTemplates.Parameters(path: context.pathParameters, querystring: query, header: request.headers)
    }

    static func restTemplateContext(_ request: GatewayRequest, context: ProxyContext) -> [String: String] {
        [
            "requestId": request.requestId, "extendedRequestId": request.requestId, "apiId": context.apiId, "stage": context.stage,
            "httpMethod": request.method, "resourcePath": context.routeKey.split(separator: " ").dropFirst().first.map(String.init) ?? "/",
            "path": "/\(context.stage)" + request.routePath, "accountId": context.accountId, "identity.sourceIp": request.sourceIp,
            "identity.userAgent": request.header("user-agent") ?? "", "requestTime": ProxyPayload.commonLogTime(request.time),
            "requestTimeEpoch": String(Int64((request.time.timeIntervalSince1970 * 1000).rounded(.down))),
        ]
    }
}
