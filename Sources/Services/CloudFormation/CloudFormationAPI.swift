#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSProtocols
import StevedoreCore

/// Where a request's template comes from and what runs its transforms: edges the control plane
/// provides (the object store, the SAM translator).
public struct TemplateSources: Sendable {
    /// The text of a template at a `TemplateURL` (an object in the object store).
    public var read: @Sendable (_ url: String) async throws(AWSError) -> String
    /// The SAM transform: the template's text and parameter values in, the processed template out.
    public var serverless: @Sendable (_ template: String, _ parameters: [String: String]) async throws(AWSError) -> Document

    public init(
        read: @escaping @Sendable (String) async throws(AWSError) -> String,
        serverless: @escaping @Sendable (String, [String: String]) async throws(AWSError) -> Document
    ) {
        self.read = read
        self.serverless = serverless
    }
}

/// CloudFormation (query protocol, version 2010-05-15) as `aws cloudformation`, boto3 and the
/// `sam` CLI call it: stacks, change sets, events, resources, templates, exports.
public enum CloudFormationAPI {
    public static let namespace = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
    public static let version = "2010-05-15"
    public static let serverlessTransform = "AWS::Serverless-2016-10-31"

    /// How long CreateStack, UpdateStack, DeleteStack and ExecuteChangeSet wait for the operation
    /// they started before answering. Clients poll a stack's status with waiters that sleep 5 to
    /// 30 s between looks (`aws cloudformation deploy`, sam's managed stack); a stack that is done
    /// within this time is found complete at their first look.
    public static let settleWait: Duration = .seconds(2)

    /// - Parameter changed: called after a write that gave the deployer work.
    public static func service<Committer: StateCommitting>(
        committer: Committer, templates: TemplateSources, changed: @escaping @Sendable () -> Void
    ) -> QueryService where Committer.Root: CloudFormationHost {
        /// Returns once the stack has no operation under way, or after ``settleWait``.
        @Sendable func settled(_ stackId: String) async {
            let clock = ContinuousClock()
            let deadline = clock.now + settleWait
            while clock.now < deadline {
                let busy = (try? await committer.read { root, _ in root.cloudFormation.stacks[stackId]?.operation != nil }) ?? false
                if !busy { return }
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        var service = QueryService(namespace: namespace, version: version)
        @Sendable func write<Result: Sendable>(_ body: @escaping @Sendable (inout CloudFormationState, inout Mutation) throws(AWSError) -> Result)
            async throws(AWSError) -> Result
        {
            try await committer.write { root, mutation throws(AWSError) in try body(&root.cloudFormation, &mutation) }
        }
        @Sendable func read<Result: Sendable>(_ body: @escaping @Sendable (CloudFormationState) throws(AWSError) -> Result) async throws(AWSError) -> Result {
            try await committer.read { root, _ throws(AWSError) in try body(root.cloudFormation) }
        }
        @Sendable func prepared(_ request: QueryRequest, stackName: String, previous: StackRecord?) async throws(AWSError) -> PreparedTemplate {
            try await prepare(request, stackName: stackName, previous: previous, templates: templates)
        }

        /// CreateStack and UpdateStack: the template prepared, the request written, the answer once the stack settles.
        @Sendable func startStack(
            _ request: QueryRequest, name: String, previous: StackRecord?,
            _ start: @escaping @Sendable (inout CloudFormationState, StackRequest, inout Mutation) throws(AWSError) -> String
        ) async throws(AWSError) -> XMLWriter {
            let template = try await prepared(request, stackName: previous?.stackName ?? name, previous: previous)
            if let failure = template.failure { throw .cfnValidation(failure) }
            let stackRequest = try stackRequest(request, name: name, template: template)
            let id = try await write { cfn, m throws(AWSError) in try start(&cfn, stackRequest, &m) }
            changed()
            await settled(id)
            var xml = XMLWriter()
            xml.element("StackId", id)
            return xml
        }

        service.action("CreateStack") { request, _ throws(AWSError) in
            let name = try request.required("StackName")
            return try await startStack(request, name: name, previous: nil) { cfn, stackRequest, m throws(AWSError) in
                try cfn.createStack(stackRequest, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        service.action("UpdateStack") { request, _ throws(AWSError) in
            let name = try request.required("StackName")
            let existing = try await read { cfn throws(AWSError) in try cfn.existingStack(name) }
            return try await startStack(request, name: name, previous: existing) { cfn, stackRequest, m throws(AWSError) in
                try cfn.updateStack(stackRequest, now: m.now, using: &m.random, changes: &m.changes)
            }
        }
        service.actionWithoutResult("DeleteStack") { request, _ throws(AWSError) in
            let name = try request.required("StackName")
            let retain = request.list("RetainResources")
            let id = try await write { cfn, m throws(AWSError) in
                try cfn.deleteStack(name, retain: retain, now: m.now, using: &m.random, changes: &m.changes)
                return cfn.stack(name)?.stackId
            }
            changed()
            if let id { await settled(id) }
        }
        service.action("DescribeStacks") { request, _ throws(AWSError) in
            let name = request["StackName"]
            let stacks = try await read { cfn throws(AWSError) in
                if let name { return [try cfn.existingStack(name)] }
                return cfn.stacks.values.filter { !$0.isDeleted }.sorted { $0.creationTime > $1.creationTime }
            }
            let (page, next) = try pageOf(stacks, token: request["NextToken"], size: 100)
            var xml = XMLWriter()
            xml.element("Stacks") { xml in for stack in page { xml.element("member") { stackXML(stack, into: &$0) } } }
            xml.element("NextToken", next)
            return xml
        }
        service.action("ListStacks") { request, _ throws(AWSError) in
            let filter = Set(request.list("StackStatusFilter"))
            let stacks = try await read { cfn in
                cfn.stacks.values.filter { filter.isEmpty || filter.contains($0.status) }.sorted { $0.creationTime > $1.creationTime }
            }
            let (page, next) = try pageOf(stacks, token: request["NextToken"], size: 100)
            var xml = XMLWriter()
            xml.element("StackSummaries") { xml in
                for stack in page {
                    xml.element("member") { xml in
                        xml.element("StackId", stack.stackId)
                        xml.element("StackName", stack.stackName)
                        xml.element("TemplateDescription", stack.description)
                        xml.element("CreationTime", timestamp(stack.creationTime))
                        xml.element("LastUpdatedTime", stack.lastUpdatedTime.map(timestamp))
                        xml.element("DeletionTime", stack.deletionTime.map(timestamp))
                        xml.element("StackStatus", stack.status)
                        xml.element("StackStatusReason", stack.statusReason)
                        xml.element("DriftInformation") { $0.element("StackDriftStatus", "NOT_CHECKED") }
                    }
                }
            }
            xml.element("NextToken", next)
            return xml
        }
        service.action("DescribeStackEvents") { request, _ throws(AWSError) in
            let name = try request.required("StackName")
            let stack = try await read { cfn throws(AWSError) in try cfn.existingStack(name) }
            let (page, next) = try pageOf(Array(stack.events.reversed()), token: request["NextToken"], size: 100)
            var xml = XMLWriter()
            xml.element("StackEvents") { xml in
                for event in page {
                    xml.element("member") { xml in
                        xml.element("StackId", stack.stackId)
                        xml.element("EventId", event.eventId)
                        xml.element("StackName", stack.stackName)
                        xml.element("LogicalResourceId", event.logicalId)
                        xml.element("PhysicalResourceId", event.physicalId)
                        xml.element("ResourceType", event.type)
                        xml.element("Timestamp", timestamp(event.timestamp))
                        xml.element("ResourceStatus", event.status)
                        xml.element("ResourceStatusReason", event.reason)
                        xml.element("ResourceProperties", event.properties)
                    }
                }
            }
            xml.element("NextToken", next)
            return xml
        }
        service.action("DescribeStackResources") { request, _ throws(AWSError) in
            guard let name = request["StackName"] else {
                throw .cfnValidation("Stevedore answers DescribeStackResources by StackName; PhysicalResourceId alone is not supported.")
            }
            let stack = try await read { cfn throws(AWSError) in try cfn.existingStack(name) }
            let logicalId = request["LogicalResourceId"]
            var xml = XMLWriter()
            xml.element("StackResources") { xml in
                for resource in liveResources(stack) where logicalId == nil || resource.logicalId == logicalId {
                    xml.element("member") { resourceXML(resource, stack: stack, into: &$0, timestampMember: "Timestamp") }
                }
            }
            return xml
        }
        service.action("DescribeStackResource") { request, _ throws(AWSError) in
            let (name, logicalId) = (try request.required("StackName"), try request.required("LogicalResourceId"))
            let stack = try await read { cfn throws(AWSError) in try cfn.existingStack(name) }
            guard let resource = stack.resources[logicalId] else {
                throw .cfnValidation("Resource \(logicalId) does not exist for stack \(name)")
            }
            var xml = XMLWriter()
            xml.element("StackResourceDetail") { xml in
                resourceXML(resource, stack: stack, into: &xml, timestampMember: "LastUpdatedTimestamp")
                xml.element("Metadata", "{}")
            }
            return xml
        }
        service.action("ListStackResources") { request, _ throws(AWSError) in
            let name = try request.required("StackName")
            let stack = try await read { cfn throws(AWSError) in try cfn.existingStack(name) }
            let (page, next) = try pageOf(liveResources(stack), token: request["NextToken"], size: 100)
            var xml = XMLWriter()
            xml.element("StackResourceSummaries") { xml in
                for resource in page {
                    xml.element("member") { xml in
                        xml.element("LogicalResourceId", resource.logicalId)
                        xml.element("PhysicalResourceId", resource.physicalId)
                        xml.element("ResourceType", resource.type)
                        xml.element("LastUpdatedTimestamp", timestamp(resource.lastUpdated))
                        xml.element("ResourceStatus", resource.status)
                        xml.element("ResourceStatusReason", resource.statusReason)
                        xml.element("DriftInformation") { $0.element("StackResourceDriftStatus", "NOT_CHECKED") }
                    }
                }
            }
            xml.element("NextToken", next)
            return xml
        }
        service.action("GetTemplate") { request, _ throws(AWSError) in
            let stage = request["TemplateStage"] ?? "Original"
            let (template, stages): (String, [String])
            if let changeSet = request["ChangeSetName"] {
                let (_, record) = try await read { cfn throws(AWSError) in try cfn.changeSet(changeSet, stackName: request["StackName"]) }
                template = stage == "Processed" ? record.template : record.originalTemplate
                stages = ["Original", "Processed"]
            } else {
                let name = try request.required("StackName")
                let stack = try await read { cfn throws(AWSError) in try cfn.existingStack(name) }
                template = stage == "Processed" ? stack.template : stack.originalTemplate
                stages = ["Original", "Processed"]
            }
            var xml = XMLWriter()
            xml.element("TemplateBody", template)
            xml.element("StagesAvailable") { xml in for stage in stages { xml.element("member", stage) } }
            return xml
        }
        service.action("GetTemplateSummary") { request, _ throws(AWSError) in
            let text: String
            if let name = request["StackName"] {
                text = try await read { cfn throws(AWSError) in try cfn.existingStack(name).originalTemplate }
            } else {
                text = try await templateText(request, templates: templates)
            }
            return summaryXML(try StackTemplate.parse(text), full: true)
        }
        service.action("ValidateTemplate") { request, _ throws(AWSError) in
            let text = try await templateText(request, templates: templates)
            return summaryXML(try StackTemplate.parse(text), full: false)
        }
        service.action("ListExports") { request, _ throws(AWSError) in
            let exports = try await read { cfn in cfn.exports.map { ($0.key, $0.value.value, $0.value.stackId) }.sorted { $0.0 < $1.0 } }
            let (page, next) = try pageOf(exports, token: request["NextToken"], size: 100)
            var xml = XMLWriter()
            xml.element("Exports") { xml in
                for export in page {
                    xml.element("member") { xml in
                        xml.element("ExportingStackId", export.2)
                        xml.element("Name", export.0)
                        xml.element("Value", export.1)
                    }
                }
            }
            xml.element("NextToken", next)
            return xml
        }
        service.action("ListImports") { request, _ throws(AWSError) in
            let export = try request.required("ExportName")
            let importers = try await read { cfn throws(AWSError) in
                guard cfn.exports[export] != nil else { throw .cfnValidation("Export '\(export)' does not exist.") }
                return cfn.stacks.values.filter { !$0.isDeleted && $0.imports.contains(export) }.map(\.stackName).sorted()
            }
            var xml = XMLWriter()
            xml.element("Imports") { xml in for name in importers { xml.element("member", name) } }
            return xml
        }
        service.action("UpdateTerminationProtection") { request, _ throws(AWSError) in
            let name = try request.required("StackName")
            let enabled = try request.required("EnableTerminationProtection") == "true"
            let id = try await write { cfn, m throws(AWSError) in try cfn.setTerminationProtection(name, enabled: enabled, changes: &m.changes) }
            var xml = XMLWriter()
            xml.element("StackId", id)
            return xml
        }

        // Change sets
        service.action("CreateChangeSet") { request, _ throws(AWSError) in
            let name = try request.required("StackName")
            let changeSetName = try request.required("ChangeSetName")
            let type = request["ChangeSetType"] ?? "UPDATE"
            let existing = try await read { cfn in cfn.stack(name) }
            if request["UsePreviousTemplate"] == "true", existing == nil { throw .cfnValidation("Stack [\(name)] does not exist") }
            let template = try await prepared(request, stackName: name, previous: existing)
            let changeSet = CloudFormationState.ChangeSetRequest(
                stack: try stackRequest(request, name: name, template: template), changeSetName: changeSetName, changeSetType: type,
                description: request["Description"], failure: template.failure)
            let (id, stackId) = try await write { cfn, m throws(AWSError) in
                try cfn.createChangeSet(changeSet, now: m.now, using: &m.random, changes: &m.changes)
            }
            var xml = XMLWriter()
            xml.element("Id", id)
            xml.element("StackId", stackId)
            return xml
        }
        service.action("DescribeChangeSet") { request, _ throws(AWSError) in
            let name = try request.required("ChangeSetName")
            let (stack, record) = try await read { cfn throws(AWSError) in try cfn.changeSet(name, stackName: request["StackName"]) }
            var xml = XMLWriter()
            xml.element("ChangeSetName", record.name)
            xml.element("ChangeSetId", record.id)
            xml.element("StackId", stack.stackId)
            xml.element("StackName", stack.stackName)
            xml.element("Description", record.description)
            parametersXML(record.parameters, into: &xml)
            xml.element("CreationTime", timestamp(record.creationTime))
            xml.element("ExecutionStatus", record.executionStatus)
            xml.element("Status", record.status)
            xml.element("StatusReason", record.statusReason)
            xml.element("NotificationARNs") { xml in for arn in record.notificationARNs { xml.element("member", arn) } }
            xml.element("RollbackConfiguration") { _ in }
            xml.element("Capabilities") { xml in for capability in record.capabilities { xml.element("member", capability) } }
            tagsXML(record.tags, into: &xml)
            xml.element("Changes") { xml in
                for change in record.changes {
                    xml.element("member") { xml in
                        xml.element("Type", "Resource")
                        xml.element("ResourceChange") { xml in
                            xml.element("Action", change.action)
                            xml.element("LogicalResourceId", change.logicalId)
                            xml.element("PhysicalResourceId", change.physicalId)
                            xml.element("ResourceType", change.type)
                            xml.element("Replacement", change.replacement)
                            xml.element("Scope") { xml in for scope in change.scope { xml.element("member", scope) } }
                            xml.element("Details") { _ in }
                        }
                    }
                }
            }
            xml.element("IncludeNestedStacks", "false")
            return xml
        }
        // ExecuteChangeSet and DeleteChangeSet answer an empty result element (botocore reads it).
        service.action("ExecuteChangeSet") { request, _ throws(AWSError) in
            let name = try request.required("ChangeSetName")
            let disableRollback = request["DisableRollback"] == "true"
            let id = try await write { cfn, m throws(AWSError) in
                try cfn.executeChangeSet(name, stackName: request["StackName"], disableRollback: disableRollback, now: m.now, using: &m.random, changes: &m.changes)
            }
            changed()
            await settled(id)
            return XMLWriter()
        }
        service.action("DeleteChangeSet") { request, _ throws(AWSError) in
            let name = try request.required("ChangeSetName")
            try await write { cfn, m throws(AWSError) in try cfn.deleteChangeSet(name, stackName: request["StackName"], changes: &m.changes) }
            return XMLWriter()
        }
        service.action("ListChangeSets") { request, _ throws(AWSError) in
            let name = try request.required("StackName")
            let stack = try await read { cfn throws(AWSError) in try cfn.existingStack(name) }
            var xml = XMLWriter()
            xml.element("Summaries") { xml in
                for record in stack.changeSets {
                    xml.element("member") { xml in
                        xml.element("StackId", stack.stackId)
                        xml.element("StackName", stack.stackName)
                        xml.element("ChangeSetId", record.id)
                        xml.element("ChangeSetName", record.name)
                        xml.element("ExecutionStatus", record.executionStatus)
                        xml.element("Status", record.status)
                        xml.element("StatusReason", record.statusReason)
                        xml.element("CreationTime", timestamp(record.creationTime))
                        xml.element("Description", record.description)
                        xml.element("IncludeNestedStacks", "false")
                    }
                }
            }
            return xml
        }
        return service
    }

    // MARK: Reading requests

    /// A request's template, read and (for the SAM transform) processed; a transform's failure is kept, not thrown.
    struct PreparedTemplate: Sendable {
        var original: String
        var template: StackTemplate
        var failure: String?
    }

    static func templateText(_ request: QueryRequest, templates: TemplateSources) async throws(AWSError) -> String {
        switch (request["TemplateBody"], request["TemplateURL"]) {
        case (let body?, nil): return body
        case (nil, let url?): return try await templates.read(url)
        case (nil, nil): throw .cfnValidation("Either Template URL or Template Body must be specified.")
        default: throw .cfnValidation("Specify exactly one of TemplateBody or TemplateUrl.")
        }
    }

    static func prepare(_ request: QueryRequest, stackName: String, previous: StackRecord?, templates: TemplateSources) async throws(AWSError)
        -> PreparedTemplate
    {
        let text: String
        if request["UsePreviousTemplate"] == "true" {
            guard let previous else { throw .cfnValidation("Stack [\(stackName)] does not exist") }
            text = previous.originalTemplate
        } else {
            text = try await templateText(request, templates: templates)
        }
        let parsed = try StackTemplate.parse(text)
        guard !parsed.transforms.isEmpty else { return PreparedTemplate(original: text, template: parsed) }
        for transform in parsed.transforms where transform != serverlessTransform {
            return PreparedTemplate(
                original: text, template: parsed,
                failure: "Transform \(transform) failed with: Stevedore runs only the \(serverlessTransform) transform.")
        }
        var values: [String: String] = [:]
        for parameter in parsed.parameters { values[parameter.name] = parameter.defaultValue }
        for parameter in parameterInputs(request) {
            if let value = parameter.value {
                values[parameter.key] = value
            } else if parameter.usePreviousValue, let old = previous?.parameters.first(where: { $0.key == parameter.key }) {
                values[parameter.key] = old.value
            }
        }
        do throws(AWSError) {
            let processed = try await templates.serverless(text, values)
            return PreparedTemplate(original: text, template: try StackTemplate(processed))
        } catch {
            return PreparedTemplate(original: text, template: parsed, failure: "Transform \(serverlessTransform) failed with: \(error.message)")
        }
    }

    static func parameterInputs(_ request: QueryRequest) -> [ParameterInput] {
        request.structures("Parameters").compactMap { member in
            member["ParameterKey"].map { ParameterInput(key: $0, value: member["ParameterValue"], usePreviousValue: member["UsePreviousValue"] == "true") }
        }
    }

    static func stackRequest(_ request: QueryRequest, name: String, template: PreparedTemplate) throws(AWSError) -> StackRequest {
        let tags: [StackTag]? =
            request.parameters.keys.contains { $0 == "Tags" || $0.hasPrefix("Tags.") }
            ? request.structures("Tags").map { StackTag(key: $0["Key"] ?? "", value: $0["Value"] ?? "") } : nil
        if let tags, tags.count > 50 { throw .cfnValidation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50") }
        return StackRequest(
            stackName: name, originalTemplate: template.original, template: template.template, parameters: parameterInputs(request), tags: tags,
            capabilities: request.list("Capabilities"), disableRollback: request["DisableRollback"] == "true" || request["OnFailure"] == "DO_NOTHING",
            notificationARNs: request.list("NotificationARNs"))
    }

    // MARK: Answers

    static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = milliseconds / 1000
        let text = CivilCalendar.iso8601(secondsSince1970: seconds)
        let millis = String(milliseconds % 1000)
        let fraction = "." + String(repeating: "0", count: 3 - millis.count) + millis
        return text.hasSuffix("Z") ? String(text.dropLast()) + fraction + "Z" : text
    }

    static func pageOf<Item>(_ items: [Item], token: String?, size: Int) throws(AWSError) -> ([Item], String?) {
        var start = 0
        if let token {
            guard let offset = Int(token), offset >= 0, offset <= items.count else { throw .cfnValidation("Invalid NextToken") }
            start = offset
        }
        let end = min(items.count, start + size)
        return (Array(items[start..<end]), end < items.count ? String(end) : nil)
    }

    static func liveResources(_ stack: StackRecord) -> [StackResource] {
        stack.resources.values.sorted { $0.logicalId < $1.logicalId }
    }

    static func parametersXML(_ parameters: [StackParameter], into xml: inout XMLWriter) {
        xml.element("Parameters") { xml in
            for parameter in parameters {
                xml.element("member") { xml in
                    xml.element("ParameterKey", parameter.key)
                    xml.element("ParameterValue", parameter.noEcho ? "****" : parameter.value)
                }
            }
        }
    }

    static func tagsXML(_ tags: [StackTag], into xml: inout XMLWriter) {
        xml.element("Tags") { xml in
            for tag in tags {
                xml.element("member") { xml in
                    xml.element("Key", tag.key)
                    xml.element("Value", tag.value)
                }
            }
        }
    }

    static func stackXML(_ stack: StackRecord, into xml: inout XMLWriter) {
        xml.element("StackId", stack.stackId)
        xml.element("StackName", stack.stackName)
        xml.element("ChangeSetId", stack.changeSetId)
        xml.element("Description", stack.description)
        parametersXML(stack.parameters, into: &xml)
        xml.element("CreationTime", timestamp(stack.creationTime))
        xml.element("DeletionTime", stack.deletionTime.map(timestamp))
        xml.element("LastUpdatedTime", stack.lastUpdatedTime.map(timestamp))
        xml.element("RollbackConfiguration") { _ in }
        xml.element("StackStatus", stack.status)
        xml.element("StackStatusReason", stack.statusReason)
        xml.element("DisableRollback", stack.disableRollback ? "true" : "false")
        xml.element("NotificationARNs") { xml in for arn in stack.notificationARNs { xml.element("member", arn) } }
        xml.element("Capabilities") { xml in for capability in stack.capabilities { xml.element("member", capability) } }
        xml.element("Outputs") { xml in
            for output in stack.outputs {
                xml.element("member") { xml in
                    xml.element("OutputKey", output.key)
                    xml.element("OutputValue", output.value)
                    xml.element("Description", output.description)
                    xml.element("ExportName", output.exportName)
                }
            }
        }
        tagsXML(stack.tags, into: &xml)
        xml.element("EnableTerminationProtection", stack.terminationProtection ? "true" : "false")
        xml.element("DriftInformation") { $0.element("StackDriftStatus", "NOT_CHECKED") }
    }

    static func resourceXML(_ resource: StackResource, stack: StackRecord, into xml: inout XMLWriter, timestampMember: String) {
        xml.element("StackName", stack.stackName)
        xml.element("StackId", stack.stackId)
        xml.element("LogicalResourceId", resource.logicalId)
        xml.element("PhysicalResourceId", resource.physicalId)
        xml.element("ResourceType", resource.type)
        xml.element(timestampMember, timestamp(resource.lastUpdated))
        xml.element("ResourceStatus", resource.status)
        xml.element("ResourceStatusReason", resource.statusReason)
        xml.element("DriftInformation") { $0.element("StackResourceDriftStatus", "NOT_CHECKED") }
    }

    /// GetTemplateSummary's and ValidateTemplate's answer: parameters, capabilities and what the template declares.
    static func summaryXML(_ template: StackTemplate, full: Bool) -> XMLWriter {
        var xml = XMLWriter()
        xml.element("Parameters") { xml in
            for parameter in template.parameters {
                xml.element("member") { xml in
                    xml.element("ParameterKey", parameter.name)
                    if full { xml.element("ParameterType", parameter.type) }
                    xml.element("DefaultValue", parameter.defaultValue)
                    xml.element("NoEcho", parameter.noEcho ? "true" : "false")
                    xml.element("Description", parameter.description)
                    if full, let allowed = parameter.allowedValues {
                        xml.element("ParameterConstraints") { xml in
                            xml.element("AllowedValues") { xml in for value in allowed { xml.element("member", value) } }
                        }
                    }
                }
            }
        }
        xml.element("Description", template.description)
        let needed = template.transforms.isEmpty ? template.requiredCapabilities() : ["CAPABILITY_AUTO_EXPAND"] + template.requiredCapabilities()
        xml.element("Capabilities") { xml in for capability in needed { xml.element("member", capability) } }
        if !needed.isEmpty { xml.element("CapabilitiesReason", "The following resource(s) require capabilities: [\(Set(template.resources.filter { $0.type.hasPrefix("AWS::IAM::") }.map(\.type)).sorted().joined(separator: ", "))]") }
        xml.element("DeclaredTransforms") { xml in for transform in template.transforms { xml.element("member", transform) } }
        if full {
            xml.element("ResourceTypes") { xml in for type in Set(template.resources.map(\.type)).sorted() { xml.element("member", type) } }
            xml.element("Version", "2010-09-09")
            xml.element("Metadata", template.document["Metadata"]?.json())
            xml.element("ResourceIdentifierSummaries") { _ in }
        }
        return xml
    }
}

extension CloudFormationState {
    public mutating func setTerminationProtection(_ name: String, enabled: Bool, changes: inout ChangeSet) throws(AWSError) -> String {
        var stack = try existingStack(name)
        stack.terminationProtection = enabled
        save(stack, changes: &changes)
        return stack.stackId
    }
}

extension QueryRequest {
    /// The members of a flattened list of structures, `Name.member.N.Field`, in order of N.
    func structures(_ name: String) -> [[String: String]] {
        let prefix = name + ".member."
        var byIndex: [Int: [String: String]] = [:]
        for (key, value) in parameters where key.hasPrefix(prefix) {
            let rest = key.dropFirst(prefix.count)
            guard let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]) else { continue }
            byIndex[index, default: [:]][String(rest[rest.index(after: dot)...])] = value
        }
        return byIndex.keys.sorted().map { byIndex[$0]! }
    }
}
