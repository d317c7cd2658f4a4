import AgentProtocol
@testable import APIGateway
import APIGatewayShapes
import Foundation
import Lambda
import StevedoreCore
import Testing

/// REST APIs: the resource tree and its refusals, deployments as snapshots, patches, and the data
/// plane's resource matching, API keys, usage plans and MOCK answers.
struct RestAPITests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    struct Built {
        var state: GatewayState
        var api: String
        var root: String
        var pets: String
        var pet: String
    }

    /// `/pets` (GET, key required) and `/pets/{id}` (GET, DELETE answering 404 through a pattern), deployed to `prod`.
    func build() throws -> Built {
        var state = GatewayState(names: ResourceNames())
        var random = Xoshiro256(seed: 5)
        var changes = ChangeSet()
        let api = try state.createRestApi(V1CreateRestApiRequest(name: "pets"), now: now, using: &random, changes: &changes)
        let id = try #require(api.id)
        let root = try #require(api.rootResourceId)
        let pets = try #require(try state.createResource(id, parentId: root, pathPart: "pets", using: &random, changes: &changes).id)
        let pet = try #require(try state.createResource(id, parentId: pets, pathPart: "{id}", using: &random, changes: &changes).id)
        func mock(_ resource: String, _ method: String, status: Int, key: Bool = false, template: String) throws {
            _ = try state.putMethod(id, resource, method, V1PutMethodRequest(authorizationType: "NONE", apiKeyRequired: key), changes: &changes)
            _ = try state.putIntegration(
                id, resource, method, V1PutIntegrationRequest(type: .mock, requestTemplates: ["application/json": #"{"statusCode": \#(status)}"#]),
                changes: &changes)
            for code in ["200", "404"] {
                _ = try state.putMethodResponse(id, resource, method, code, V1PutMethodResponseRequest(), changes: &changes)
            }
            _ = try state.putIntegrationResponse(
                id, resource, method, "200", V1PutIntegrationResponseRequest(responseTemplates: ["application/json": template]), changes: &changes)
            _ = try state.putIntegrationResponse(
                id, resource, method, "404",
                V1PutIntegrationResponseRequest(selectionPattern: "404", responseTemplates: ["application/json": #"{"missing":"$context.resourcePath"}"#]),
                changes: &changes)
        }
        try mock(pets, "GET", status: 200, key: true, template: #"{"pets":"$stageVariables.kind"}"#)
        try mock(pet, "GET", status: 200, template: #"{"pet":"$context.path"}"#)
        try mock(pet, "DELETE", status: 404, template: "{}")
        _ = try state.createRestDeployment(
            id, V1CreateDeploymentRequest(stageName: "prod", variables: ["kind": "dogs"]), now: now, using: &random, changes: &changes)
        return Built(state: state, api: id, root: root, pets: pets, pet: pet)
    }

    struct NoFunctions: FunctionRuntime {
        func invoke(_ request: InvocationRequest) async throws(AWSError) -> InvocationOutcome { throw AWSError.server("unused") }
        func check(_ reference: String, qualifier: String?) async throws(AWSError) -> InvokeTarget { throw AWSError.server("unused") }
        func enqueue(requestId: String, function: String, qualifier: String?, payload: Data) async throws(AWSError) {}
        func storeCode(_ zip: [UInt8], settings: FunctionSettings) throws(AWSError) -> CodeBundle { throw AWSError.server("unused") }
        func objectBytes(bucket: String, key: String) async throws(AWSError) -> [UInt8] { throw AWSError.server("unused") }
        func now() -> Date { Date() }
    }

    func plane(_ state: GatewayState) -> GatewayDataPlane {
        GatewayDataPlane(names: ResourceNames(), functions: NoFunctions(), http: WebSocketTests.NoBackends(), targets: WebSocketTests.NoTargets()) {
            state
        }
    }

    func get(_ gateway: GatewayDataPlane, _ path: String, method: String = "GET", headers: [(name: String, value: String)] = []) async
        -> (Int, String)
    {
        let response = await gateway.handle(
            host: nil, path: path,
            request: GatewayRequest(
                method: method, rawPath: path, routePath: path, rawQueryString: "", headers: headers, body: [], sourceIp: "1.1.1.1", requestId: "r",
                time: now))
        return (response.status, String(decoding: response.body, as: UTF8.self))
    }

    @Test func resourcesFormATreeWithAWSsRefusals() throws {
        var built = try build()
        var random = Xoshiro256(seed: 1)
        var changes = ChangeSet()
        let record = try built.state.restApi(built.api)
        #expect(Set(record.resources.values.compactMap(\.path)) == ["/", "/pets", "/pets/{id}"])
        #expect(throws: AWSError.self) { try built.state.createResource(built.api, parentId: built.pets, pathPart: "{other}", using: &random, changes: &changes) }
        #expect(throws: AWSError.self) { try built.state.createResource(built.api, parentId: built.root, pathPart: "pets", using: &random, changes: &changes) }
        #expect(throws: AWSError.self) { try built.state.createResource(built.api, parentId: built.root, pathPart: "{a+", using: &random, changes: &changes) }
        let greedy = try built.state.createResource(built.api, parentId: built.root, pathPart: "{proxy+}", using: &random, changes: &changes)
        #expect(throws: AWSError.self) {
            try built.state.createResource(built.api, parentId: greedy.id ?? "", pathPart: "x", using: &random, changes: &changes)
        }
        // A deployment keeps the tree as it was: deleting /pets leaves prod serving it.
        try built.state.deleteResource(built.api, built.pets, changes: &changes)
        let after = try built.state.restApi(built.api)
        #expect(Set(after.resources.values.compactMap(\.path)) == ["/", "/{proxy+}"])
        let deployed = try #require(after.deployments[after.stages["prod"]?.deploymentId ?? ""])
        #expect(deployed.resources.compactMap(\.path) == ["/", "/pets", "/pets/{id}"])
    }

    @Test func stagePatchesSetVariablesAndMethodSettings() throws {
        var built = try build()
        var changes = ChangeSet()
        let stage = try built.state.updateRestStage(
            built.api, "prod",
            [
                V1PatchOperation(op: .replace, path: "/variables/kind", value: "cats"),
                V1PatchOperation(op: .replace, path: "/~1pets~1{id}/GET/throttling/burstLimit", value: "3"),
                V1PatchOperation(op: .replace, path: "/*/*/throttling/rateLimit", value: "5"),
            ], now: now, changes: &changes)
        #expect(stage.variables == ["kind": "cats"])
        #expect(stage.methodSettings?["pets/{id}/GET"]?.throttlingBurstLimit == 3 && stage.methodSettings?["*/*"]?.throttlingRateLimit == 5)
        #expect(throws: AWSError.self) {
            try built.state.updateRestStage(built.api, "prod", [V1PatchOperation(op: .replace, path: "/deploymentId", value: "nope")], now: now, changes: &changes)
        }
    }

    @Test func requestsFindTheirResourceAndMockIntegrationsAnswerByStatus() async throws {
        let built = try build()
        let gateway = plane(built.state)
        #expect(await get(gateway, "/\(built.api)/prod/pets/7") == (200, #"{"pet":"/prod/pets/7"}"#))
        #expect(await get(gateway, "/\(built.api)/prod/pets/7", method: "DELETE") == (404, #"{"missing":"/pets/{id}"}"#))
        #expect(await get(gateway, "/\(built.api)/prod/cats") == (403, #"{"message":"Missing Authentication Token"}"#))
        #expect(await get(gateway, "/\(built.api)/prod/pets/7", method: "PUT").0 == 403)
        #expect(await get(gateway, "/\(built.api)/test/pets/7") == (403, #"{"message":"Forbidden"}"#))
    }

    @Test func keysMustBeEnabledAndInAPlanForTheStageAndQuotasCount() async throws {
        var built = try build()
        var random = Xoshiro256(seed: 2)
        var changes = ChangeSet()
        let key = try built.state.createApiKey(V1CreateApiKeyRequest(name: "k", enabled: true), now: now, using: &random, changes: &changes)
        let value = key.value ?? ""
        let path = "/\(built.api)/prod/pets"
        #expect(await get(plane(built.state), path, headers: [("x-api-key", value)]).0 == 403)
        let plan = try built.state.createUsagePlan(
            V1CreateUsagePlanRequest(
                name: "p", apiStages: [V1ApiStage(apiId: built.api, stage: "prod")], quota: V1QuotaSettings(limit: 2, period: .week)),
            using: &random, changes: &changes)
        _ = try built.state.createUsagePlanKey(plan.id ?? "", V1CreateUsagePlanKeyRequest(keyId: key.id ?? "", keyType: "API_KEY"), changes: &changes)
        let gateway = plane(built.state)
        #expect(await get(gateway, path, headers: [("x-api-key", value)]) == (200, #"{"pets":"dogs"}"#))
        #expect(await get(gateway, path, headers: [("x-api-key", value)]).0 == 200)
        #expect(await get(gateway, path, headers: [("x-api-key", value)]) == (429, #"{"message":"Limit Exceeded"}"#))
        #expect(await get(gateway, path).0 == 403)
        _ = try built.state.updateApiKey(key.id ?? "", [V1PatchOperation(op: .replace, path: "/enabled", value: "false")], now: now, changes: &changes)
        #expect(await get(plane(built.state), path, headers: [("x-api-key", value)]).0 == 403)
    }

    @Test func quotaPeriodsTurnOverAtUTCDaysMondaysAndMonths() {
        let thursday = Date(timeIntervalSince1970: 0)
        let sunday = Date(timeIntervalSince1970: 3 * 86_400 + 86_399)
        let monday = Date(timeIntervalSince1970: 4 * 86_400)
        #expect(UsageQuotas.period(.week, of: thursday) == UsageQuotas.period(.week, of: sunday))
        #expect(UsageQuotas.period(.week, of: sunday) != UsageQuotas.period(.week, of: monday))
        #expect(UsageQuotas.period(.day, of: sunday) != UsageQuotas.period(.day, of: monday))
        #expect(UsageQuotas.period(.month, of: thursday) == UsageQuotas.period(.month, of: Date(timeIntervalSince1970: 30 * 86_400)))
        #expect(UsageQuotas.period(.month, of: thursday) != UsageQuotas.period(.month, of: Date(timeIntervalSince1970: 31 * 86_400)))
        let quotas = UsageQuotas()
        #expect(quotas.consume(key: "k", limit: 1, period: .day, at: sunday))
        #expect(!quotas.consume(key: "k", limit: 1, period: .day, at: sunday))
        #expect(quotas.consume(key: "k", limit: 1, period: .day, at: monday))
    }

    @Test func authorizersNeedAFunctionAndReadableIdentitySources() throws {
        var built = try build()
        var random = Xoshiro256(seed: 4)
        var changes = ChangeSet()
        let uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:gate/invocations"
        func create(_ input: V1CreateAuthorizerRequest) throws(AWSError) -> V1Authorizer {
            try built.state.createRestAuthorizer(built.api, input, using: &random, changes: &changes)
        }
        #expect(throws: AWSError.self) { try create(V1CreateAuthorizerRequest(name: "a", type: .token, authorizerUri: uri, identitySource: "method.request.querystring.t")) }
        #expect(throws: AWSError.self) {
            try create(V1CreateAuthorizerRequest(name: "a", type: .token, authorizerUri: uri, identitySource: "method.request.header.A", identityValidationExpression: "(("))
        }
        #expect(throws: AWSError.self) { try create(V1CreateAuthorizerRequest(name: "a", type: .cognitoUserPools, providerARNs: ["x"])) }
        #expect(throws: AWSError.self) { try create(V1CreateAuthorizerRequest(name: "a", type: .request, authorizerUri: uri, identitySource: "header.x")) }
        let made = try create(V1CreateAuthorizerRequest(name: "a", type: .request, authorizerUri: uri, identitySource: "method.request.header.x, stageVariables.v"))
        #expect(made.authorizerResultTtlInSeconds == 300)
        #expect(RestIdentitySource.parse(made.identitySource) == [.header("x"), .stageVariable("v")])
        _ = try built.state.updateMethod(
            built.api, built.pet, "GET",
            [V1PatchOperation(op: .replace, path: "/authorizationType", value: "CUSTOM"), V1PatchOperation(op: .replace, path: "/authorizerId", value: made.id)],
            changes: &changes)
        #expect(throws: AWSError.self) { try built.state.deleteRestAuthorizer(built.api, made.id ?? "", changes: &changes) }
    }
}
