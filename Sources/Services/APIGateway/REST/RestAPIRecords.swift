#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import APIGatewayShapes
import StevedoreCore

/// One REST API and everything under it, stored as one row: its resources (each with its methods,
/// their integrations and responses, as AWS nests them), deployments, stages and authorizers.
public struct RestAPIRecord: StoredRecord, Equatable {
    public var api: V1RestApi
    public var resources: [String: V1Resource] = [:]
    public var deployments: [String: RestDeployment] = [:]
    public var stages: [String: V1Stage] = [:]
    public var authorizers: [String: V1Authorizer] = [:]
    /// Models by name (optional: rows stored before models existed have none).
    public var models: [String: V1Model]?
    /// Request validators by id.
    public var requestValidators: [String: V1RequestValidator]?

    public init(api: V1RestApi) {
        self.api = api
    }

    public var id: String { api.id ?? "" }
    public static var recordKind: RecordKind { .gatewayRestAPIs }
    public var recordKey: String { id }
}

/// A deployment and the resources it serves, as they were when it was made.
public struct RestDeployment: Codable, Sendable, Equatable {
    public var deployment: V1Deployment
    public var resources: [V1Resource]
    public var authorizers: [String: V1Authorizer]
    public var models: [String: V1Model]?
    public var requestValidators: [String: V1RequestValidator]?
}

/// An API key: its id, secret value, and whether it is enabled.
public struct APIKeyRecord: StoredRecord, Equatable {
    public var key: V1ApiKey
    public var id: String { key.id ?? "" }
    public static var recordKind: RecordKind { .gatewayAPIKeys }
    public var recordKey: String { id }
}

/// A usage plan: the API stages it covers, its throttle and quota, and the API keys in it.
public struct UsagePlanRecord: StoredRecord, Equatable {
    public var plan: V1UsagePlan
    public var keyIds: [String] = []
    public var id: String { plan.id ?? "" }
    public static var recordKind: RecordKind { .gatewayUsagePlans }
    public var recordKey: String { id }
}

extension RecordKind {
    public static let gatewayRestAPIs = RecordKind("gateway_rest_apis")
    public static let gatewayAPIKeys = RecordKind("gateway_api_keys")
    public static let gatewayUsagePlans = RecordKind("gateway_usage_plans")
}

extension AWSError {
    static func restNotFound(_ message: String) -> AWSError {
        AWSError(type: "NotFoundException", message: message, httpStatus: 404)
    }
}

extension RestAPIRecord {
    func resource(_ resourceId: String) throws(AWSError) -> V1Resource {
        guard let resource = resources[resourceId] else { throw .restNotFound("Invalid Resource identifier specified") }
        return resource
    }

    func method(_ resourceId: String, _ httpMethod: String) throws(AWSError) -> V1Method {
        guard let method = try resource(resourceId).resourceMethods?[httpMethod] else {
            throw .restNotFound("Invalid Method identifier specified")
        }
        return method
    }

    func integration(_ resourceId: String, _ httpMethod: String) throws(AWSError) -> V1Integration {
        guard let integration = try method(resourceId, httpMethod).methodIntegration else {
            throw .restNotFound("No integration defined for method")
        }
        return integration
    }

    func stage(_ name: String) throws(AWSError) -> V1Stage {
        guard let stage = stages[name] else { throw .restNotFound("Invalid stage identifier specified") }
        return stage
    }

    func deployment(_ deploymentId: String) throws(AWSError) -> RestDeployment {
        guard let deployment = deployments[deploymentId] else { throw .restNotFound("Invalid Deployment identifier specified") }
        return deployment
    }

    /// Changes one method of a resource in place.
    mutating func changeMethod<Result>(
        _ resourceId: String, _ httpMethod: String, _ body: (inout V1Method) throws(AWSError) -> Result
    ) throws(AWSError) -> Result {
        var resource = try self.resource(resourceId)
        guard var method = resource.resourceMethods?[httpMethod] else { throw .restNotFound("Invalid Method identifier specified") }
        let result = try body(&method)
        resource.resourceMethods?[httpMethod] = method
        resources[resourceId] = resource
        return result
    }

    /// A resource's path: its parent's and its own part (`/pets/{id}`).
    static func path(parent: String, part: String) -> String {
        parent == "/" ? "/" + part : parent + "/" + part
    }
}
