import AWSProtocols
import StevedoreCore

/// Cloud Control API's GetResource (AWS JSON 1.0, `CloudApiService`), for the resources stacks
/// made: their properties as the stack last applied them, with their attributes. The `sam list`
/// commands read function URLs through it.
public enum CloudControlAPI {
    public static let targetPrefix = "CloudApiService"

    struct GetResourceInput: Codable, Sendable {
        var TypeName: String?
        var Identifier: String?
    }

    struct ResourceDescription: Codable, Sendable {
        var Identifier: String
        var Properties: String
    }

    struct GetResourceOutput: Codable, Sendable {
        var TypeName: String
        var ResourceDescription: ResourceDescription
    }

    public static func register<Committer: StateCommitting>(into dispatcher: inout AWSJSONDispatcher, committer: Committer)
    where Committer.Root: CloudFormationHost {
        dispatcher.register(targetPrefix, "GetResource", contentType: AWSJSONDispatcher.contentType10) {
            (input: GetResourceInput, _) throws(AWSError) -> GetResourceOutput in
            guard let type = input.TypeName, let identifier = input.Identifier else {
                throw AWSError(type: "ValidationException", message: "1 validation error detected: TypeName and Identifier are required.")
            }
            let properties = try await committer.read { root, _ in root.cloudFormation.resourceProperties(type: type, identifier: identifier) }
            guard let properties else {
                throw AWSError(
                    type: "ResourceNotFoundException",
                    message: "\(type) Handler returned status FAILED: Resource of type '\(type)' with identifier '\(identifier)' was not found. (HandlerErrorCode: NotFound)")
            }
            return GetResourceOutput(TypeName: type, ResourceDescription: ResourceDescription(Identifier: identifier, Properties: properties.json()))
        }
    }
}

extension CloudFormationState {
    /// A live stack resource's properties and attributes, by type and physical id.
    public func resourceProperties(type: String, identifier: String) -> Document? {
        for stack in stacks.values where !stack.isDeleted {
            for resource in stack.resources.values where resource.type == type && resource.physicalId == identifier && resource.status != "DELETE_COMPLETE" {
                var properties = resource.properties ?? .object([])
                for (name, value) in (resource.values?.attributes ?? [:]).sorted(by: { $0.key < $1.key }) where properties[name] == nil {
                    properties = properties.with(name, .string(value))
                }
                return properties
            }
        }
        return nil
    }
}
