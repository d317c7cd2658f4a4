import APIGateway
import APIGatewayShapes
import Foundation
import StevedoreCore
import Testing

/// HTTP APIs' control operations over the pure state: quick create, what deploys when, and
/// AWS's refusals.
struct HTTPAPIOperationsTests {
    let names = ResourceNames()
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let function = "arn:aws:lambda:us-east-1:000000000000:function:echo"
    var state = GatewayState(names: ResourceNames())
    var random = Xoshiro256(seed: 7)
    var changes = ChangeSet()

    mutating func createApi(_ input: V2CreateApiRequest) throws(AWSError) -> V2Api {
        try state.createApi(input, now: now, using: &random, changes: &changes)
    }

    @Test mutating func quickCreateMakesAnIntegrationARouteAndAnAutoDeployingDefaultStage() throws {
        let api = try createApi(V2CreateApiRequest(name: "quick", protocolType: .http, target: function))
        let id = try #require(api.apiId)
        #expect(id.count == 10 && api.apiEndpoint == "http://\(id).execute-api.localhost:8380")
        let record = try state.api(id)
        let integration = try #require(record.integrations.values.first)
        #expect(integration.integrationType == .awsProxy && integration.payloadFormatVersion == "2.0" && integration.timeoutInMillis == 30000)
        #expect(record.routes.values.map(\.routeKey) == ["$default"])
        #expect(record.routes.values.first?.target == "integrations/\(integration.integrationId ?? "")")
        let stage = try #require(record.stages["$default"])
        #expect(stage.autoDeploy == true)
        let deployment = try #require(record.deployments[stage.deploymentId ?? ""])
        #expect(deployment.deployment.autoDeployed == true && deployment.routes.map(\.routeKey) == ["$default"])
        #expect(changes.kinds == [.gatewayAPIs])
    }

    @Test mutating func quickCreateWithAURLIsAnHTTPProxy() throws {
        let api = try createApi(V2CreateApiRequest(name: "proxy", protocolType: .http, routeKey: "GET /x", target: "http://127.0.0.1:9/x"))
        let record = try state.api(api.apiId ?? "")
        let integration = try #require(record.integrations.values.first)
        #expect(integration.integrationType == .httpProxy && integration.integrationMethod == "ANY" && integration.payloadFormatVersion == "1.0")
        #expect(record.routes.values.map(\.routeKey) == ["GET /x"])
    }

    @Test mutating func changesReachAStageOnlyWhenDeployedUnlessItAutoDeploys() throws {
        let id = try createApi(V2CreateApiRequest(name: "manual", protocolType: .http)).apiId ?? ""
        let integration = try state.createIntegration(
            id, V2CreateIntegrationRequest(integrationType: .awsProxy, integrationUri: function, payloadFormatVersion: "1.0"), now: now,
            using: &random, changes: &changes)
        let target = "integrations/\(integration.integrationId ?? "")"
        _ = try state.createRoute(id, V2CreateRouteRequest(routeKey: "GET /a", target: target), now: now, using: &random, changes: &changes)
        _ = try state.createStage(id, V2CreateStageRequest(stageName: "prod"), now: now, using: &random, changes: &changes)
        _ = try state.createStage(id, V2CreateStageRequest(autoDeploy: true, stageName: "live"), now: now, using: &random, changes: &changes)
        #expect(try state.getStage(id, "prod").deploymentId == nil)
        #expect(state.destination(host: nil, path: "/\(id)/prod/a") == nil)
        let first = try #require(state.destination(host: nil, path: "/\(id)/live/a"))
        #expect(first.deployment.routes.map(\.routeKey) == ["GET /a"] && first.routePath == "/a" && first.rawPath == "/live/a")

        let deployment = try state.createDeployment(id, V2CreateDeploymentRequest(stageName: "prod"), now: now, using: &random, changes: &changes)
        #expect(try state.getStage(id, "prod").deploymentId == deployment.deploymentId)
        _ = try state.createRoute(id, V2CreateRouteRequest(routeKey: "GET /b", target: target), now: now, using: &random, changes: &changes)
        // prod still serves what it was deployed with; live deployed itself.
        #expect(state.destination(host: nil, path: "/\(id)/prod/b")?.deployment.routes.map(\.routeKey) == ["GET /a"])
        #expect(Set(state.destination(host: nil, path: "/\(id)/live/b")?.deployment.routes.map(\.routeKey) ?? []) == ["GET /a", "GET /b"])
        // Replaced automatic deployments are not kept; the manual one is.
        #expect(try state.getDeployments(id, maxResults: nil, nextToken: nil).items?.count == 2)
        #expect(throws: AWSError.self) { try state.deleteDeployment(id, deployment.deploymentId ?? "", changes: &changes) }
    }

    @Test mutating func destinationsByHostAndByPath() throws {
        let id = try createApi(V2CreateApiRequest(name: "d", protocolType: .http, target: function)).apiId ?? ""
        _ = try state.createStage(id, V2CreateStageRequest(autoDeploy: true, stageName: "v1"), now: now, using: &random, changes: &changes)
        let byHost = try #require(state.destination(host: "\(id).execute-api.localhost:8380", path: "/v1/pets"))
        #expect(byHost.stage.stageName == "v1" && byHost.routePath == "/pets" && byHost.rawPath == "/v1/pets")
        let byPath = try #require(state.destination(host: "127.0.0.1:8380", path: "/\(id)/pets"))
        #expect(byPath.stage.stageName == "$default" && byPath.routePath == "/pets" && byPath.rawPath == "/pets")
        #expect(state.destination(host: "127.0.0.1", path: "/\(id)")?.routePath == "/")
        #expect(state.destination(host: "127.0.0.1", path: "/\(id)/v1")?.routePath == "/")
        #expect(state.destination(host: "nope.execute-api.localhost", path: "/") == nil)
        #expect(state.destination(host: nil, path: "/") == nil)
        _ = try state.updateApi(id, V2UpdateApiRequest(disableExecuteApiEndpoint: true), now: now, using: &random, changes: &changes)
        #expect(state.destination(host: nil, path: "/\(id)/pets") == nil)
    }

    @Test mutating func refusalsAreAPIGateways() throws {
        func refusal(_ body: () throws -> Void) -> (String, Int) {
            do {
                try body()
                return ("none", 0)
            } catch let error as AWSError {
                return (error.type, error.httpStatus)
            } catch {
                return ("\(error)", 0)
            }
        }
        #expect(refusal { _ = try state.getApi("missing") } == ("NotFoundException", 404))
        #expect(
            refusal { _ = try createApi(V2CreateApiRequest(name: "x", protocolType: .http, routeSelectionExpression: "$request.body.a")) }
                == ("BadRequestException", 400))
        #expect(refusal { _ = try createApi(V2CreateApiRequest(name: "", protocolType: .http)) } == ("BadRequestException", 400))
        #expect(refusal { _ = try createApi(V2CreateApiRequest(name: "k", protocolType: .http, routeKey: "GET /")) } == ("BadRequestException", 400))
        let id = try createApi(V2CreateApiRequest(name: "e", protocolType: .http)).apiId ?? ""
        for input in [
            V2CreateIntegrationRequest(integrationType: .awsProxy, integrationUri: function),
            V2CreateIntegrationRequest(integrationType: .awsProxy, integrationUri: "arn:aws:s3:::bucket", payloadFormatVersion: "2.0"),
            V2CreateIntegrationRequest(integrationType: .awsProxy, integrationUri: function, payloadFormatVersion: "3.0"),
            V2CreateIntegrationRequest(integrationType: .awsProxy, integrationUri: function, payloadFormatVersion: "2.0", timeoutInMillis: 49),
            V2CreateIntegrationRequest(integrationType: .httpProxy, integrationUri: "http://x"),
            V2CreateIntegrationRequest(integrationMethod: "GET", integrationType: .httpProxy, integrationUri: "ftp://x"),
            V2CreateIntegrationRequest(integrationType: .mock),
        ] {
            #expect(refusal { _ = try state.createIntegration(id, input, now: now, using: &random, changes: &changes) } == ("BadRequestException", 400))
        }
        let wrapped = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/\(function)/invocations"
        let integration = try state.createIntegration(
            id, V2CreateIntegrationRequest(integrationType: .awsProxy, integrationUri: wrapped, payloadFormatVersion: "2.0"), now: now,
            using: &random, changes: &changes)
        let target = "integrations/\(integration.integrationId ?? "")"
        let route = try state.createRoute(id, V2CreateRouteRequest(routeKey: "GET /a", target: target), now: now, using: &random, changes: &changes)
        #expect(
            refusal { _ = try state.createRoute(id, V2CreateRouteRequest(routeKey: "GET /a"), now: now, using: &random, changes: &changes) }
                == ("ConflictException", 409))
        #expect(
            refusal { _ = try state.createRoute(id, V2CreateRouteRequest(routeKey: "GET /b", target: "integrations/x"), now: now, using: &random, changes: &changes) }
                == ("BadRequestException", 400))
        #expect(
            refusal {
                _ = try state.createRoute(id, V2CreateRouteRequest(authorizationType: .jwt, routeKey: "GET /c"), now: now, using: &random, changes: &changes)
            } == ("BadRequestException", 400))
        #expect(
            refusal { try state.deleteIntegration(id, integration.integrationId ?? "", now: now, using: &random, changes: &changes) }
                == ("ConflictException", 409))
        #expect(refusal { _ = try state.createDeployment(id, V2CreateDeploymentRequest(stageName: "x"), now: now, using: &random, changes: &changes) } == ("NotFoundException", 404))
        _ = try state.createStage(id, V2CreateStageRequest(stageName: "s"), now: now, using: &random, changes: &changes)
        #expect(refusal { _ = try state.createStage(id, V2CreateStageRequest(stageName: "s"), now: now, using: &random, changes: &changes) } == ("ConflictException", 409))
        #expect(refusal { _ = try state.createStage(id, V2CreateStageRequest(stageName: "bad name"), now: now, using: &random, changes: &changes) } == ("BadRequestException", 400))
        #expect(
            refusal { _ = try state.createStage(id, V2CreateStageRequest(stageName: "t", stageVariables: ["bad-key": "v"]), now: now, using: &random, changes: &changes) }
                == ("BadRequestException", 400))
        try state.deleteRoute(id, route.routeId ?? "", now: now, using: &random, changes: &changes)
        #expect(refusal { _ = try state.createDeployment(id, V2CreateDeploymentRequest(), now: now, using: &random, changes: &changes) } == ("BadRequestException", 400))
        try state.deleteIntegration(id, integration.integrationId ?? "", now: now, using: &random, changes: &changes)
        try state.deleteApi(id, changes: &changes)
        #expect(refusal { _ = try state.getRoutes(id, maxResults: nil, nextToken: nil) } == ("NotFoundException", 404))
    }

    @Test mutating func apisPageAndRestoreFromTheirRows() throws {
        var ids: [String] = []
        for index in 0..<5 { ids.append(try createApi(V2CreateApiRequest(name: "a\(index)", protocolType: .http, target: function)).apiId ?? "") }
        let first = try state.getApis(maxResults: "2", nextToken: nil)
        let second = try state.getApis(maxResults: "10", nextToken: first.nextToken)
        #expect(((first.items ?? []) + (second.items ?? [])).compactMap(\.apiId) == ids.sorted() && second.nextToken == nil)
        var rows: StoredRows = [:]
        for change in changes.changes { if let body = change.body { rows[change.kind, default: []].append(body) } }
        let restored = try GatewayState.restore(names: names, rows: rows)
        #expect(restored.apis == state.apis)
    }
}
