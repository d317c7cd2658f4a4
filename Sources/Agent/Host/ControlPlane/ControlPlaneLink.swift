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
    /// The control plane's endpoints; calls go to the current one, and one that cannot be reached
    /// (or answers 503) hands over to the next.
    let endpoints: EndpointRing
    /// The registration token's header, sent with `RegisterContainerInstance` only.
    let registrationHeaders: [(String, String)]
    public let identity: InstanceCredentialStore

    /// - Parameters:
    ///   - endpoint: the control plane's URL, or several separated by commas (replicas): each call
    ///     goes to the one in use, and the next takes over when it cannot be reached.
    ///   - caFile: for an `https://` endpoint, the certificate authorities to verify it against.
    public init(endpoint: String, cluster: String, token: String?, caFile: String? = nil, identity: InstanceCredentialStore = InstanceCredentialStore()) {
        self.cluster = cluster
        registrationHeaders = token.map { [(WorkChannel.tokenHeader, $0)] } ?? []
        endpoints = EndpointRing(endpoint, caFile: caFile)
        self.identity = identity
    }

    /// The endpoint in use now.
    public var endpoint: String { endpoints.current.api.endpoint }

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
        let target = endpoints.current
        if let arn = request.containerInstanceArn, let credentials = identity.credentials(of: arn) {
            call = sign(call, with: credentials, for: target)
        }
        let response = try await endpoints.attempt(target) { try await target.http.execute(call) }
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
        let target = endpoints.current
        var api = target.api
        api.extraHeaders = registrationHeaders
        let _: CreateClusterResponse = try await endpoints.attempt(target) { try await api.ecs("CreateCluster", CreateClusterRequest(clusterName: cluster)) }
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
            let target = endpoints.current
            var api = target.api
            api.credentials = await currentCredentials().map(Self.signingKey)
            return try await endpoints.attempt(target) { try await api.ecs(operation, input) }
        } catch let error as AWSError where LinkFailure(error) == .credentialsExpired {
            let target = endpoints.current
            var api = target.api
            api.credentials = await currentCredentials(expired: true).map(Self.signingKey)
            return try await endpoints.attempt(target) { try await api.ecs(operation, input) }
        }
    }

    /// A work-channel request, signed with the instance's credentials when it has them; sent once
    /// more after registering again if the control plane found them expired.
    private func execute(_ request: HTTPClient.Request) async throws -> HTTPClient.Response {
        let target = endpoints.current
        guard let credentials = await currentCredentials() else { return try await endpoints.attempt(target) { try await target.http.execute(request) } }
        let response = try await endpoints.attempt(target) { try await target.http.execute(sign(request, with: credentials, for: target)) }
        guard response.status == 400, LinkFailure(APIClient.decodeError(response)) == .credentialsExpired,
            let registered = await currentCredentials(expired: true)
        else { return response }
        return try await endpoints.attempt(target) { try await target.http.execute(sign(request, with: registered, for: target)) }
    }

    /// Signed for the endpoint it goes to (its host is part of the signature).
    private func sign(_ request: HTTPClient.Request, with credentials: InstanceCredentials, for target: EndpointRing.Endpoint) -> HTTPClient.Request {
        APIClient.sign(request, endpoint: target.api.endpoint, credentials: Self.signingKey(credentials), service: "ecs")
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
        let target = endpoints.current
        let response = try await endpoints.attempt(target) { try await target.http.execute(sign(request, with: credentials, for: target)) }
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

    public func postExecOutput(id: String, bytes: [UInt8], done: Bool) async throws -> Bool {
        let response = try await execute(
            HTTPClient.Request(
                method: "POST", path: ExecChannel.outputPath + "/" + id + (done ? "?done=1" : ""),
                headers: [("Content-Type", "application/octet-stream")], body: bytes, timeout: .seconds(30)))
        switch response.status {
        case 200: return true
        case 410: return false
        default: throw APIClient.decodeError(response)
        }
    }

    public func execInput(id: String) async throws -> [UInt8]? {
        let response = try await execute(
            HTTPClient.Request(method: "POST", path: ExecChannel.inputPath + "/" + id, body: [], timeout: ExecChannel.inputWait + .seconds(15)))
        guard response.status == 200 else {
            if response.status == 410 { return nil }
            throw APIClient.decodeError(response)
        }
        return response.body
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

/// The control plane's endpoints (replicas behind several addresses), one in use at a time: a call
/// that cannot reach it, or that it answers 503 (not serving), moves the ring on, so the caller's
/// next try goes to the next one. Copies of a link share the ring.
final class EndpointRing: Sendable {
    struct Endpoint: Sendable {
        var position: Int
        var api: APIClient
        var http: HTTPClient
    }

    let all: [Endpoint]
    private let index = Atomic<Int>(0)

    /// `list`: one URL or several separated by commas.
    init(_ list: String, caFile: String?) {
        let urls = list.split(separator: ",").map { String($0).trimmingWhitespace }.filter { !$0.isEmpty }
        all = (urls.isEmpty ? [list] : urls).enumerated().map { position, url in
            Endpoint(position: position, api: APIClient(endpoint: url, caFile: caFile), http: HTTPClient(baseURL: url, caFile: caFile))
        }
    }

    var current: Endpoint { all[index.load(ordering: .relaxed) % all.count] }

    /// Runs a call against `target`; when it cannot connect to the control plane there, or is
    /// answered 503, the next endpoint takes over (unless another call moved on already) and the
    /// error goes on.
    func attempt<Result>(_ target: Endpoint, _ call: () async throws -> Result) async throws -> Result {
        do {
            let result = try await call()
            if let response = result as? HTTPClient.Response, response.status == 503 { moveOn(from: target) }
            return result
        } catch {
            if Self.unreachable(error) || (error as? AWSError)?.httpStatus == 503 { moveOn(from: target) }
            throw error
        }
    }

    /// The control plane could not be reached there (not: it answered, slowly or with an error, or
    /// the call was cancelled).
    static func unreachable(_ error: any Error) -> Bool {
        let transport = (error as? HTTPClientError) ?? (error as? APIClientError)?.underlying
        return transport.map { $0.kind == .couldNotConnect } ?? false
    }

    private func moveOn(from target: Endpoint) {
        guard all.count > 1 else { return }
        _ = index.compareExchange(expected: target.position, desired: (target.position + 1) % all.count, ordering: .relaxed)
    }
}
