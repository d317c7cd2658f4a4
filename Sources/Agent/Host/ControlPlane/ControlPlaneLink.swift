import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import AWSProtocols
import CurlHTTP
import ECSShapes
import StevedoreClient
import StevedoreCore

/// The agent's connection to `ecsd`: the ECS calls the real agent makes, plus the work channel.
public struct ControlPlaneLink: Sendable {
    public let cluster: String
    let api: APIClient
    let http: HTTPClient
    let headers: [(String, String)]

    /// - Parameter caFile: for an `https://` endpoint, the certificate authorities to verify it against.
    public init(endpoint: String, cluster: String, token: String?, caFile: String? = nil) {
        self.cluster = cluster
        headers = token.map { [(WorkChannel.tokenHeader, $0)] } ?? []
        api = APIClient(endpoint: endpoint, extraHeaders: headers, caFile: caFile)
        http = HTTPClient(baseURL: endpoint, caFile: caFile)
    }

    public var endpoint: String { api.endpoint }

    public func register(_ request: RegisterContainerInstanceRequest) async throws -> ContainerInstance {
        let response: RegisterContainerInstanceResponse = try await api.ecs("RegisterContainerInstance", request)
        guard let instance = response.containerInstance else {
            throw AWSError.server("RegisterContainerInstance returned no container instance")
        }
        return instance
    }

    public func createCluster() async throws {
        let _: CreateClusterResponse = try await api.ecs("CreateCluster", CreateClusterRequest(clusterName: cluster))
    }

    public func submit(_ change: SubmitTaskStateChangeRequest) async throws {
        var change = change
        change.cluster = cluster
        let _: SubmitTaskStateChangeResponse = try await api.ecs("SubmitTaskStateChange", change)
    }

    public func submit(_ change: SubmitContainerStateChangeRequest) async throws {
        var change = change
        change.cluster = cluster
        let _: SubmitContainerStateChangeResponse = try await api.ecs("SubmitContainerStateChange", change)
    }

    public func describeTaskDefinition(_ arn: String) async throws -> TaskDefinition {
        let response: DescribeTaskDefinitionResponse = try await api.ecs(
            "DescribeTaskDefinition", DescribeTaskDefinitionRequest(taskDefinition: arn))
        guard let definition = response.taskDefinition else { throw AWSError.client("no task definition \(arn)") }
        return definition
    }

    public func resolveSecrets(_ request: TaskSecretsRequest) async throws -> [String: String] {
        try await post(WorkChannel.secretsPath, request, as: TaskSecretsResponse.self).values
    }

    public func credentials(_ request: TaskCredentialsRequest) async throws -> TaskCredentials {
        try await post(WorkChannel.credentialsPath, request, as: TaskCredentials.self)
    }

    /// A JSON call on the work channel (with the agent token).
    private func post<Input: Encodable, Output: Decodable>(_ path: String, _ input: Input, as: Output.Type) async throws -> Output {
        let response = try await http.execute(
            HTTPClient.Request(
                method: "POST", path: path, headers: [("Content-Type", "application/json")] + headers, body: AWSJSONCodec.encode(input),
                timeout: .seconds(30)))
        guard response.status == 200 else { throw APIClient.decodeError(response) }
        return try AWSJSONCodec.decode(Output.self, from: response.body)
    }

    public func publishMetrics(_ report: AgentMetricsReport) async throws {
        let response = try await http.execute(
            HTTPClient.Request(
                method: "POST", path: WorkChannel.metricsPath, headers: [("Content-Type", "application/json")] + headers,
                body: AWSJSONCodec.encode(report), timeout: .seconds(10)))
        guard response.status == 200 else { throw APIClient.decodeError(response) }
    }

    /// Posts a batch of log bytes; `false` when nobody listens any more.
    public func postLogs(id: String, bytes: [UInt8], done: Bool) async throws -> Bool {
        let response = try await http.execute(
            HTTPClient.Request(
                method: "POST", path: WorkChannel.logsPath + "/" + id + (done ? "?done=1" : ""),
                headers: [("Content-Type", "application/octet-stream")] + headers, body: bytes, timeout: .seconds(30)))
        return response.status == 200
    }

    /// One long poll of the work channel.
    public func poll(instance: String, since: Int, wait: Int) async throws -> AgentPollResponse {
        let request = AgentPollRequest(cluster: cluster, containerInstanceArn: instance, since: since, waitSeconds: wait)
        let response = try await http.execute(
            HTTPClient.Request(
                method: "POST", path: WorkChannel.pollPath,
                headers: [("Content-Type", "application/json")] + headers,
                body: AWSJSONCodec.encode(request),
                timeout: .seconds(wait + 15)
            ))
        guard response.status == 200 else { throw APIClient.decodeError(response) }
        return try AWSJSONCodec.decode(AgentPollResponse.self, from: response.body)
    }

    // MARK: Functions

    /// Long-polls for invocations of this instance's execution environments.
    public func pollInvocations(instance: String, waitMilliseconds: Int) async throws -> [AgentInvocation] {
        let response = try await http.execute(
            HTTPClient.Request(
                method: "POST", path: WorkChannel.invocationPollPath, headers: [("Content-Type", "application/json")] + headers,
                body: AWSJSONCodec.encode(InvocationPollRequest(containerInstanceArn: instance, waitMilliseconds: waitMilliseconds)),
                timeout: .milliseconds(waitMilliseconds) + .seconds(15)))
        guard response.status == 200 else { throw APIClient.decodeError(response) }
        return try AWSJSONCodec.decode(InvocationBatch.self, from: response.body).invocations
    }

    /// Reports results; gets the invocations queued meanwhile.
    public func postResults(_ request: InvocationResultsRequest) async throws -> [AgentInvocation] {
        let response = try await http.execute(
            HTTPClient.Request(
                method: "POST", path: WorkChannel.invocationResultsPath, headers: [("Content-Type", "application/json")] + headers,
                body: AWSJSONCodec.encode(request), timeout: .seconds(30)))
        guard response.status == 200 else { throw APIClient.decodeError(response) }
        return try AWSJSONCodec.decode(InvocationBatch.self, from: response.body).invocations
    }

    /// Downloads a code or layer zip by its content address.
    public func fetchCode(_ hash: String) async throws -> [UInt8] {
        let response = try await http.execute(
            HTTPClient.Request(path: WorkChannel.codePath + "/" + hash, headers: headers, timeout: .seconds(300)))
        guard response.status == 200 else { throw APIClient.decodeError(response) }
        return response.body
    }
}
