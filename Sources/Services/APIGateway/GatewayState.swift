#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import APIGatewayShapes
import StevedoreCore

/// API Gateway's state: HTTP APIs, each with its routes, integrations, stages and deployments.
/// Operations are pure functions over it; the data plane reads the deployment each stage points at.
public struct GatewayState: Sendable {
    public let names: ResourceNames
    /// Where APIs are served (`--gateway-listen`), for their `apiEndpoint`.
    public var endpoint = GatewayEndpoint()
    public package(set) var apis: [String: GatewayAPIRecord] = [:]
    /// REST APIs (`/restapis`), API keys and usage plans.
    public package(set) var restApis: [String: RestAPIRecord] = [:]
    public package(set) var apiKeys: [String: APIKeyRecord] = [:]
    public package(set) var usagePlans: [String: UsagePlanRecord] = [:]

    public init(names: ResourceNames) {
        self.names = names
    }

    public static let recordKinds: [RecordKind] = [.gatewayAPIs, .gatewayRestAPIs, .gatewayAPIKeys, .gatewayUsagePlans]

    public static func restore(names: ResourceNames, rows: StoredRows) throws -> GatewayState {
        var state = GatewayState(names: names)
        for api in try rows.decode(GatewayAPIRecord.self) {
            state.apis[api.id] = api
        }
        for api in try rows.decode(RestAPIRecord.self) {
            state.restApis[api.id] = api
        }
        for key in try rows.decode(APIKeyRecord.self) {
            state.apiKeys[key.id] = key
        }
        for plan in try rows.decode(UsagePlanRecord.self) {
            state.usagePlans[plan.id] = plan
        }
        return state
    }
}

/// The gateway's listener as APIs' endpoints name it: `http://{api-id}.execute-api.localhost:8380`.
public struct GatewayEndpoint: Sendable, Equatable {
    public var scheme = "http"
    public var port = 8380

    public init(scheme: String = "http", port: Int = 8380) {
        self.scheme = scheme
        self.port = port
    }

    /// The host name that selects an API by its `Host` header.
    public static func host(of apiId: String) -> String { "\(apiId).execute-api.localhost" }

    public func url(of apiId: String) -> String { "\(scheme)://\(Self.host(of: apiId)):\(port)" }

    /// A WebSocket API's endpoint is the same listener by `ws://` (`wss://` with TLS).
    public func url(of apiId: String, protocolType: V2ProtocolType) -> String {
        guard protocolType == .websocket else { return url(of: apiId) }
        return "\(scheme == "https" ? "wss" : "ws")://\(Self.host(of: apiId)):\(port)"
    }
}

/// The composed state API Gateway's operations run in.
public protocol GatewayHost: Sendable {
    var gateway: GatewayState { get set }
}

/// One API and everything under it, stored as one row: an API is small (at most 300 routes and
/// 300 integrations) and its parts change together (a change can redeploy auto-deploy stages).
public struct GatewayAPIRecord: StoredRecord, Equatable {
    public var api: V2Api
    public var routes: [String: V2Route] = [:]
    public var integrations: [String: V2Integration] = [:]
    public var stages: [String: V2Stage] = [:]
    public var deployments: [String: GatewayDeployment] = [:]
    public var authorizers: [String: V2Authorizer] = [:]
    /// WebSocket APIs' route responses, by route id, then route response id.
    public var routeResponses: [String: [String: V2RouteResponse]] = [:]
    /// WebSocket APIs' integration responses, by integration id, then integration response id.
    public var integrationResponses: [String: [String: V2IntegrationResponse]] = [:]

    public init(api: V2Api) {
        self.api = api
    }

    enum CodingKeys: String, CodingKey {
        case api, routes, integrations, stages, deployments, authorizers, routeResponses, integrationResponses
    }

    /// Parts added after the first rows were written are read as empty when absent.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        api = try container.decode(V2Api.self, forKey: .api)
        routes = try container.decodeIfPresent([String: V2Route].self, forKey: .routes) ?? [:]
        integrations = try container.decodeIfPresent([String: V2Integration].self, forKey: .integrations) ?? [:]
        stages = try container.decodeIfPresent([String: V2Stage].self, forKey: .stages) ?? [:]
        deployments = try container.decodeIfPresent([String: GatewayDeployment].self, forKey: .deployments) ?? [:]
        authorizers = try container.decodeIfPresent([String: V2Authorizer].self, forKey: .authorizers) ?? [:]
        routeResponses = try container.decodeIfPresent([String: [String: V2RouteResponse]].self, forKey: .routeResponses) ?? [:]
        integrationResponses =
            try container.decodeIfPresent([String: [String: V2IntegrationResponse]].self, forKey: .integrationResponses) ?? [:]
    }

    public var isWebSocket: Bool { api.protocolType == .websocket }

    public var id: String { api.apiId ?? "" }

    public static var recordKind: RecordKind { .gatewayAPIs }
    public var recordKey: String { id }
}

/// A deployment and what it serves: the routes and integrations as they were when it was made,
/// so that changes reach a stage only when it is deployed again (or deploys itself).
public struct GatewayDeployment: Codable, Sendable, Equatable {
    public var deployment: V2Deployment
    public var routes: [V2Route]
    public var integrations: [String: V2Integration]
    public var authorizers: [String: V2Authorizer]?
    /// WebSocket routes' response keys by route id: a route answers its client only with one.
    public var routeResponses: [String: [String]]?
    /// WebSocket integrations' responses by integration id (MOCK integrations' templates).
    public var integrationResponses: [String: [V2IntegrationResponse]]?

    public init(
        deployment: V2Deployment, routes: [V2Route], integrations: [String: V2Integration], authorizers: [String: V2Authorizer] = [:],
        routeResponses: [String: [String]]? = nil, integrationResponses: [String: [V2IntegrationResponse]]? = nil
    ) {
        self.deployment = deployment
        self.routes = routes
        self.integrations = integrations
        self.authorizers = authorizers
        self.routeResponses = routeResponses
        self.integrationResponses = integrationResponses
    }
}

extension RecordKind {
    public static let gatewayAPIs = RecordKind("gateway_apis")
}
