#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// `Custom::*` and `AWS::CloudFormation::CustomResource`: the function named by `ServiceToken` is
/// invoked (asynchronously), or the topic it names is sent a message (SNS's Publish, for whatever
/// subscribes), with CloudFormation's request — `RequestType` Create, Update or Delete,
/// the properties, and a presigned `ResponseURL` in the object store — and its answer, PUT there,
/// decides: `SUCCESS` with a `PhysicalResourceId` and `Data` (what `Fn::GetAtt` reads), or `FAILED`
/// with a `Reason`. No answer within `ServiceTimeout` seconds (3600 unless set) fails the resource.
struct CustomResourceProvisioner: ResourceProvisioner {
    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        try await request("Create", properties, previous: nil, physicalId: nil, fallbackId: name, context: context)
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        guard properties["ServiceToken"] == previous["ServiceToken"] else { throw CustomResponse.failure("Modifying service token is not allowed.") }
        return try await request("Update", properties, previous: previous, physicalId: current.ref, fallbackId: current.ref, context: context)
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        _ = try await request("Delete", properties, previous: nil, physicalId: physicalId, fallbackId: physicalId, context: context)
    }

    func request(
        _ type: String, _ properties: Document, previous: Document?, physicalId: String?, fallbackId: String, context: ProvisioningContext
    ) async throws(AWSError) -> ResourceValues {
        guard let token = properties["ServiceToken"]?.string, !token.isEmpty else {
            throw CustomResponse.failure("Property ServiceToken cannot be empty.")
        }
        let parts = token.split(separator: ":", omittingEmptySubsequences: false)
        let isFunction = parts.count >= 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function"
        let isTopic = parts.count == 6 && parts[0] == "arn" && parts[2] == "sns" && !parts[5].isEmpty
        guard isFunction || isTopic else {
            throw CustomResponse.failure("Invalid service token: \(token). A custom resource's ServiceToken is a Lambda function's or an SNS topic's ARN.")
        }
        let timeout = try Self.timeout(properties["ServiceTimeout"])
        let requestId = context.calls.newRequestId()
        let url = try await context.calls.customResourceResponseURL(stackId: context.stackId, logicalId: context.logicalId, requestId: requestId)
        var event: [(String, Document)] = [
            ("RequestType", .string(type)), ("ServiceToken", .string(token)), ("ResponseURL", .string(url)), ("StackId", .string(context.stackId)),
            ("RequestId", .string(requestId)), ("LogicalResourceId", .string(context.logicalId)), ("ResourceType", .string(context.resourceType)),
        ]
        if let physicalId { event.append(("PhysicalResourceId", .string(physicalId))) }
        event.append(("ResourceProperties", properties))
        if let previous { event.append(("OldResourceProperties", previous)) }
        let message = Document.object(event).json()
        if isTopic {
            _ = try await context.calls.query(
                "Publish", [("TopicArn", token), ("Subject", "AWS CloudFormation custom resource request"), ("Message", message)])
        } else {
            try await context.calls.invokeEvent(token, payload: Array(message.utf8))
        }
        guard let answer = try await context.calls.customResourceResponse(stackId: context.stackId, logicalId: context.logicalId, requestId: requestId, timeout: timeout)
        else {
            throw CustomResponse.failure(
                "CloudFormation did not receive a response from your Custom Resource. Please check your logs for requestId [\(requestId)]. If you are using the Python cfn-response module, you may need to update your Lambda function code so that CloudFormation can attach the updated version.")
        }
        return try CustomResponse.values(answer, requestId: requestId, physicalId: physicalId, fallbackId: fallbackId)
    }

    /// `ServiceTimeout`: 1 to 3600 seconds.
    static func timeout(_ value: Document?) throws(AWSError) -> Duration {
        guard let value else { return .seconds(3600) }
        guard let seconds = value.string.flatMap({ Int($0) }), (1...3600).contains(seconds) else {
            throw CustomResponse.failure("ServiceTimeout must be a whole number of seconds from 1 to 3600.")
        }
        return .seconds(seconds)
    }
}

/// A custom resource's answer, as the function PUT it.
enum CustomResponse {
    /// An error whose message is the resource's status reason as it stands (not wrapped as a handler's).
    static func failure(_ message: String) -> AWSError { AWSError(type: "CustomResourceFailure", message: message) }

    static func values(_ bytes: [UInt8], requestId: String, physicalId: String?, fallbackId: String) throws(AWSError) -> ResourceValues {
        guard bytes.count <= 4096 else { throw failure("Response object is too long.") }
        guard let answer = Document.parseJSON(bytes), case .object = answer else {
            throw failure("Invalid response object: the custom resource's response is not a JSON object (RequestId: \(requestId)).")
        }
        switch answer["Status"]?.string {
        case "SUCCESS": break
        case "FAILED":
            let reason = answer["Reason"]?.string ?? "See the details in CloudWatch Log Stream"
            throw failure("Received response status [FAILED] from custom resource. Message returned: \(reason) (RequestId: \(requestId))")
        default:
            throw failure("Invalid response object: Status must be SUCCESS or FAILED (RequestId: \(requestId)).")
        }
        var attributes: [String: String] = [:]
        for (key, value) in answer["Data"]?.members ?? [] { attributes[key] = value.string ?? value.json() }
        let ref = answer["PhysicalResourceId"]?.string.flatMap { $0.isEmpty ? nil : $0 } ?? physicalId ?? fallbackId
        return ResourceValues(ref: ref, attributes: attributes)
    }
}
