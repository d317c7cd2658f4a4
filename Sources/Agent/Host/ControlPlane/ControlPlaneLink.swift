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
import SigV4
import StevedoreClient
import StevedoreCore
import Synchronization

/// The agent's connection to `ecsd`: the ECS calls the real agent makes, plus the work channel.
/// When the control plane requires it, registration presents the registration token and returns
/// the instance's own credentials (``InstanceCredentialStore``), which sign every other call.
public struct ControlPlaneLink: Sendable {
    public let cluster: String
    let api: APIClient
    let http: HTTPClient
    /// The registration token's header, sent with `RegisterContainerInstance` only.
    let registrationHeaders: [(String, String)]
    public let identity: InstanceCredentialStore

    /// - Parameter caFile: for an `https://` endpoint, the certificate authorities to verify it against.
    public init(endpoint: String, cluster: String, token: String?, caFile: String? = nil, identity: InstanceCredentialStore = InstanceCredentialStore()) {
        self.cluster = cluster
        registrationHeaders = token.map { [(WorkChannel.tokenHeader, $0)] } ?? []
        api = APIClient(endpoint: endpoint, caFile: caFile)
        http = HTTPClient(baseURL: endpoint, caFile: caFile)
        self.identity = identity
    }

    public var endpoint: String { api.endpoint }

    /// Registers (again, with `containerInstanceArn`, proving with that instance's credentials that
    /// it is this agent's) and keeps the credentials the answer carries.
    public func register(_ request: RegisterContainerInstanceRequest) async throws -> ContainerInstance {
        identity.registration = request
        let (instance, credentials) = try await registration(request)
        if let credentials { identity.store(credentials) }
        return instance
    }

    /// One `RegisterContainerInstance`: the instance, and the credentials the answer carries.
    private func registration(_ request: RegisterContainerInstanceRequest) async throws -> (ContainerInstance, InstanceCredentials?) {
        var call = HTTPClient.Request(
            method: "POST", path: "/",
            headers: [("Content-Type", AWSJSONDispatcher.contentType11), ("X-Amz-Target", APIClient.ecsTarget + ".RegisterContainerInstance")]
                + registrationHeaders,
            body: AWSJSONCodec.encode(request), timeout: .seconds(30))
        if let arn = request.containerInstanceArn, let credentials = identity.credentials(of: arn) {
            call = sign(call, with: credentials)
        }
        let response = try await http.execute(call)
        guard response.status == 200 else { throw APIClient.decodeError(response) }
        let answer = try AWSJSONCodec.decode(RegisterContainerInstanceResponse.self, from: response.body)
        guard let instance = answer.containerInstance else {
            throw AWSError.server("RegisterContainerInstance returned no container instance")
        }
        let header = response.headers.first { $0.name.lowercased() == WorkChannel.instanceCredentialsHeader.lowercased() }
        return (instance, header.flatMap { try? AWSJSONCodec.decode(InstanceCredentials.self, from: Array($0.value.utf8)) })
    }

    /// Creates the agent's cluster (`default` only, where agents must authenticate: the
    /// registration token admits that, before the agent has credentials of its own).
    public func createCluster() async throws {
        var api = self.api
        api.extraHeaders = registrationHeaders
        let _: CreateClusterResponse = try await api.ecs("CreateCluster", CreateClusterRequest(clusterName: cluster))
    }

    public func submit(_ change: SubmitTaskStateChangeRequest) async throws {
        var change = change
        change.cluster = cluster
        let _: SubmitTaskStateChangeResponse = try await ecs("SubmitTaskStateChange", change)
    }

    public func submit(_ change: SubmitContainerStateChangeRequest) async throws {
        var change = change
        change.cluster = cluster
        let _: SubmitContainerStateChangeResponse = try await ecs("SubmitContainerStateChange", change)
    }

    public func describeTaskDefinition(_ arn: String) async throws -> TaskDefinition {
        let response: DescribeTaskDefinitionResponse = try await ecs("DescribeTaskDefinition", DescribeTaskDefinitionRequest(taskDefinition: arn))
        guard let definition = response.taskDefinition else { throw AWSError.client("no task definition \(arn)") }
        return definition
    }

    public func resolveSecrets(_ request: TaskSecretsRequest) async throws -> [String: String] {
        try await post(WorkChannel.secretsPath, request, as: TaskSecretsResponse.self).values
    }

    public func credentials(_ request: TaskCredentialsRequest) async throws -> TaskCredentials {
        try await post(WorkChannel.credentialsPath, request, as: TaskCredentials.self)
    }

    // MARK: Signing

    /// An ECS operation, signed with the instance's credentials when it has them; once more after
    /// registering again if the control plane found them expired.
    private func ecs<Input: Encodable, Output: Decodable>(_ operation: String, _ input: Input) async throws -> Output {
        do {
            var api = self.api
            api.credentials = await currentCredentials().map(Self.signingKey)
            return try await api.ecs(operation, input)
        } catch let error as AWSError where LinkFailure(error) == .credentialsExpired {
            var api = self.api
            api.credentials = await currentCredentials(expired: true).map(Self.signingKey)
            return try await api.ecs(operation, input)
        }
    }

    /// A work-channel request, signed with the instance's credentials when it has them; sent once
    /// more after registering again if the control plane found them expired.
    private func execute(_ request: HTTPClient.Request) async throws -> HTTPClient.Response {
        guard let credentials = await currentCredentials() else { return try await http.execute(request) }
        let response = try await http.execute(sign(request, with: credentials))
        guard response.status == 400, LinkFailure(APIClient.decodeError(response)) == .credentialsExpired,
            let registered = await currentCredentials(expired: true)
        else { return response }
        return try await http.execute(sign(request, with: registered))
    }

    private func sign(_ request: HTTPClient.Request, with credentials: InstanceCredentials) -> HTTPClient.Request {
        APIClient.sign(request, endpoint: api.endpoint, credentials: Self.signingKey(credentials), service: "ecs")
    }

    static func signingKey(_ credentials: InstanceCredentials) -> AWSCredentials {
        AWSCredentials(accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken)
    }

    /// The instance's credentials, renewed first when half their lifetime has passed. A failed
    /// renewal keeps the current ones (still valid for the other half) and is tried on the next
    /// call. Expired ones (or ones the control plane said are, `expired`) cannot renew
    /// themselves: the agent registers again, proving with them which instance it is.
    func currentCredentials(expired: Bool = false) async -> InstanceCredentials? {
        let now = Int64(Date().timeIntervalSince1970)
        if let due = identity.beginRenewal(now: now, force: expired) {
            if expired || due.expiresAt <= now {
                var renewed: InstanceCredentials?
                if var request = identity.registration {
                    request.containerInstanceArn = due.containerInstanceArn
                    renewed = try? await registration(request).1
                }
                identity.finishRenewal(renewed)
            } else {
                identity.finishRenewal(try? await renew(due))
            }
        }
        return identity.current
    }

    /// Renews the credentials if they are due: called every few seconds, so an idle agent's
    /// credentials do not run out between its polls.
    public func renewIfDue() async {
        _ = await currentCredentials()
    }

    private func renew(_ credentials: InstanceCredentials) async throws -> InstanceCredentials {
        let request = HTTPClient.Request(
            method: "POST", path: WorkChannel.instanceCredentialsPath, headers: [("Content-Type", "application/json")],
            body: AWSJSONCodec.encode(InstanceCredentialsRequest(containerInstanceArn: credentials.containerInstanceArn)), timeout: .seconds(30))
        let response = try await http.execute(sign(request, with: credentials))
        guard response.status == 200 else { throw APIClient.decodeError(response) }
        return try AWSJSONCodec.decode(InstanceCredentials.self, from: response.body)
    }

    // MARK: Work channel

    /// A JSON call on the work channel.
    private func post<Input: Encodable, Output: Decodable>(
        _ path: String, _ input: Input, as: Output.Type, timeout: Duration = .seconds(30)
    ) async throws -> Output {
        let response = try await execute(
            HTTPClient.Request(method: "POST", path: path, headers: [("Content-Type", "application/json")], body: AWSJSONCodec.encode(input), timeout: timeout))
        guard response.status == 200 else { throw APIClient.decodeError(response) }
        return try AWSJSONCodec.decode(Output.self, from: response.body)
    }

    public func publishMetrics(_ report: AgentMetricsReport) async throws {
        _ = try await post(WorkChannel.metricsPath, report, as: EmptyOutput.self, timeout: .seconds(10))
    }

    /// Posts a batch of log bytes; `false` when nobody listens any more.
    public func postLogs(id: String, bytes: [UInt8], done: Bool) async throws -> Bool {
        let response = try await execute(
            HTTPClient.Request(
                method: "POST", path: WorkChannel.logsPath + "/" + id + (done ? "?done=1" : ""),
                headers: [("Content-Type", "application/octet-stream")], body: bytes, timeout: .seconds(30)))
        return response.status == 200
    }

    /// Set once the control plane refused a binary batch as unreadable.
    static let jsonLogEvents = Atomic<Bool>(false)

    /// Stores a batch of an `awslogs` container's events (or, empty, makes sure its stream can take
    /// them): in the binary form, or as JSON to a control plane that does not read that.
    @discardableResult
    public func putLogEvents(_ batch: LogEventsBatch) async throws -> LogEventsAccepted {
        if !Self.jsonLogEvents.load(ordering: .relaxed), let body = batch.binaryEncoded() {
            let response = try await execute(
                HTTPClient.Request(
                    method: "POST", path: WorkChannel.logEventsPath, headers: [("Content-Type", LogEventsBatch.binaryContentType)], body: body,
                    timeout: .seconds(30)))
            if response.status == 200 { return try AWSJSONCodec.decode(LogEventsAccepted.self, from: response.body) }
            let error = APIClient.decodeError(response)
            // A control plane from before binary batches reads the body as JSON, and refuses it:
            // from then on, JSON.
            guard error.type == "SerializationException" else { throw error }
            Self.jsonLogEvents.store(true, ordering: .relaxed)
        }
        return try await post(WorkChannel.logEventsPath, batch, as: LogEventsAccepted.self, timeout: .seconds(30))
    }

    /// One long poll of the work channel.
    public func poll(instance: String, since: Int, wait: Int, heldDefinitions: [String] = [], epoch: String? = nil) async throws -> AgentPollResponse {
        try await post(
            WorkChannel.pollPath,
            AgentPollRequest(
                cluster: cluster, containerInstanceArn: instance, since: since, waitSeconds: wait,
                heldDefinitions: heldDefinitions.isEmpty ? nil : heldDefinitions, epoch: epoch),
            as: AgentPollResponse.self, timeout: .seconds(wait + 15))
    }

    // MARK: Functions

    /// Long-polls for invocations of this instance's execution environments.
    public func pollInvocations(instance: String, waitMilliseconds: Int) async throws -> [AgentInvocation] {
        try await post(
            WorkChannel.invocationPollPath, InvocationPollRequest(containerInstanceArn: instance, waitMilliseconds: waitMilliseconds),
            as: InvocationBatch.self, timeout: .milliseconds(waitMilliseconds) + .seconds(15)
        ).invocations
    }

    /// Reports results; gets the invocations queued meanwhile.
    public func postResults(_ request: InvocationResultsRequest) async throws -> [AgentInvocation] {
        try await post(WorkChannel.invocationResultsPath, request, as: InvocationBatch.self).invocations
    }

    /// Downloads a code or layer zip by its content address.
    public func fetchCode(_ hash: String) async throws -> [UInt8] {
        let response = try await execute(HTTPClient.Request(path: WorkChannel.codePath + "/" + hash, timeout: .seconds(300)))
        guard response.status == 200 else { throw APIClient.decodeError(response) }
        return response.body
    }
}
