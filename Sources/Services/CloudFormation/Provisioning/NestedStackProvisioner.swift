#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import S3
import StevedoreCore

/// `AWS::CloudFormation::Stack`: a nested stack, made with CreateStack from its `TemplateURL` and
/// `Parameters` (every capability granted: the parent's deployment already had them), and waited
/// for. Ref is its stack id; `Fn::GetAtt Name.Outputs.Key` reads its outputs. A change updates it
/// in place; deleting the parent's resource deletes it.
struct NestedStackProvisioner: ResourceProvisioner {
    static let capabilities = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]

    func create(_ properties: Document, name: String, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        let created = try await context.calls.query("CreateStack", [("StackName", name)] + (try Self.parameters(properties, context: context)))
        let stackId = created.value("StackId") ?? name
        // A child that failed (rolled back) is deleted, as CloudFormation deletes it.
        return try await completing { () async throws(AWSError) -> ResourceValues in
            let (status, reason, outputs) = try await Self.settled(stackId, context: context)
            guard status == "CREATE_COMPLETE" else {
                throw CustomResponse.failure(
                    "Embedded stack \(stackId) was not successfully created: \(try await Self.failures(stackId, "CREATE_FAILED", "create", context: context) ?? reason ?? status)")
            }
            return Self.values(stackId, outputs: outputs)
        } orUndo: { () async throws(AWSError) in
            try await delete(stackId, properties: properties, values: nil, context: context)
        }
    }

    func update(_ properties: Document, previous: Document, current: ResourceValues, context: ProvisioningContext) async throws(AWSError) -> ResourceValues {
        // A child still busy (its own rollback after a restart) is waited for first: UpdateStack refuses it meanwhile.
        _ = try await Self.settled(current.ref, context: context)
        do throws(AWSError) {
            _ = try await context.calls.query("UpdateStack", [("StackName", current.ref)] + (try Self.parameters(properties, context: context)))
        } catch where error.message == "No updates are to be performed." {
            return current
        }
        let (status, reason, outputs) = try await Self.settled(current.ref, context: context)
        guard status == "UPDATE_COMPLETE" else {
            let why = try await Self.failures(current.ref, "UPDATE_FAILED", "update", context: context) ?? reason ?? status
            throw CustomResponse.failure("Embedded stack \(current.ref) was not successfully updated. Currently in \(status) with reason: \(why)")
        }
        return Self.values(current.ref, outputs: outputs)
    }

    func delete(_ physicalId: String, properties: Document, values: ResourceValues?, context: ProvisioningContext) async throws(AWSError) {
        do throws(AWSError) {
            // As for updates: DeleteStack refuses a stack with an operation under way.
            if try await Self.settled(physicalId, context: context).0 == "DELETE_COMPLETE" { return }
            _ = try await context.calls.query("DeleteStack", [("StackName", physicalId)])
            let (status, reason, _) = try await Self.settled(physicalId, context: context)
            guard status == "DELETE_COMPLETE" else {
                throw CustomResponse.failure("Embedded stack \(physicalId) was not successfully deleted: \(reason ?? status)")
            }
        } catch where error.message.hasSuffix("does not exist") {}
    }

    /// CreateStack's or UpdateStack's parameters: the template's URL, the stack's parameters (each
    /// a string), the capabilities, and the parent's tags.
    static func parameters(_ properties: Document, context: ProvisioningContext) throws(AWSError) -> [(String, String)] {
        guard let url = properties["TemplateURL"]?.string, !url.isEmpty else { throw AWSError.cfnValidation("Property TemplateURL cannot be empty.") }
        var parameters: [(String, String)] = [("TemplateURL", url)]
        var index = 1
        for (key, value) in properties["Parameters"]?.members ?? [] {
            // Numbers and booleans as their text, lists joined with commas (CommaDelimitedList).
            func scalar(_ value: Document) -> String {
                switch value {
                case .string(let string): string
                case .integer(let number): String(number)
                case .number(let number): number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number)
                case .bool(let flag): flag ? "true" : "false"
                default: value.json()
                }
            }
            let text: String
            if case .array(let items) = value { text = items.map(scalar).joined(separator: ",") } else { text = scalar(value) }
            parameters += [("Parameters.member.\(index).ParameterKey", key), ("Parameters.member.\(index).ParameterValue", text)]
            index += 1
        }
        for (offset, capability) in capabilities.enumerated() { parameters.append(("Capabilities.member.\(offset + 1)", capability)) }
        for (offset, tag) in context.stackTags.enumerated() {
            parameters += [("Tags.member.\(offset + 1).Key", tag.key), ("Tags.member.\(offset + 1).Value", tag.value)]
        }
        return parameters
    }

    /// The nested stack's status once no operation is under way, with its reason and outputs.
    static func settled(_ stackId: String, context: ProvisioningContext) async throws(AWSError) -> (String, String?, [(String, String)]) {
        while true {
            let stack = try await context.calls.query("DescribeStacks", [("StackName", stackId)]).child("Stacks")?.child("member")
            let status = stack?.value("StackStatus") ?? "DELETE_COMPLETE"
            if !status.hasSuffix("_IN_PROGRESS") {
                let outputs = (stack?.child("Outputs")?.all("member") ?? []).compactMap { member in
                    member.value("OutputKey").map { ($0, member.value("OutputValue") ?? "") }
                }
                return (status, stack?.value("StackStatusReason"), outputs)
            }
            do {
                try await Task.sleep(for: .milliseconds(250))
            } catch {
                throw AWSError(type: "InternalFailure", message: "Stopped while waiting for the embedded stack \(stackId).", httpStatus: 500)
            }
        }
    }

    /// CloudFormation's account of a child's failure: "The following resource(s) failed to create: [A, B]. ".
    static func failures(_ stackId: String, _ failedStatus: String, _ verb: String, context: ProvisioningContext) async throws(AWSError) -> String? {
        let events = try await context.calls.query("DescribeStackEvents", [("StackName", stackId)]).child("StackEvents")?.all("member") ?? []
        var failed: [String] = []
        for event in events.reversed() where event.value("ResourceStatus") == failedStatus && event.value("ResourceType") != "AWS::CloudFormation::Stack" {
            if let name = event.value("LogicalResourceId"), !failed.contains(name) { failed.append(name) }
        }
        return failed.isEmpty ? nil : "The following resource(s) failed to \(verb): [\(failed.joined(separator: ", "))]. "
    }

    static func values(_ stackId: String, outputs: [(String, String)]) -> ResourceValues {
        var attributes: [String: String] = [:]
        for (key, value) in outputs { attributes["Outputs." + key] = value }
        return ResourceValues(ref: stackId, attributes: attributes)
    }
}
