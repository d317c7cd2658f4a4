import AgentProtocol
import AWSProtocols
import ECSShapes
import StevedoreClient
import StevedoreCore

/// Task definitions the agent has fetched, by ARN. A revision never changes what it runs, so one
/// DescribeTaskDefinition per revision is enough; concurrent misses share one request.
public actor TaskDefinitionCache {
    private var definitions: [String: TaskDefinition] = [:]
    private var inFlight: [String: Task<TaskDefinition, any Error>] = [:]
    private let link: ControlPlaneLink

    public init(link: ControlPlaneLink) {
        self.link = link
    }

    public func definition(_ arn: String) async throws -> TaskDefinition {
        if let known = definitions[arn] { return known }
        if let pending = inFlight[arn] { return try await pending.value }
        let link = self.link
        let fetch = Task { try await withRetries("DescribeTaskDefinition") { try await link.describeTaskDefinition(arn) } }
        inFlight[arn] = fetch
        defer { inFlight[arn] = nil }
        let definition = try await fetch.value
        definitions[arn] = definition
        return definition
    }
}
