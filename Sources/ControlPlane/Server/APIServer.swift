import ECSAPI
import ECSCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The HTTP face of `ecsd`: AWS JSON protocol calls on `POST /`, health on `GET /healthz`.
struct APIServer {
    let dispatcher: AWSJSONDispatcher
    let agents: AgentChannel
    let maxRequestBytes: Int
    /// When set, agents must present it (`X-Stevedore-Agent-Token`).
    let agentToken: String?
    let lambda: LambdaAPI
    let metrics: ServiceMetrics
    let capacity: CapacityAPI

    /// Operations only agents make; they need the agent token when one is configured.
    static let agentOperations: Set<String> = [
        "AmazonEC2ContainerServiceV20141113.RegisterContainerInstance",
        "AmazonEC2ContainerServiceV20141113.SubmitTaskStateChange",
        "AmazonEC2ContainerServiceV20141113.SubmitContainerStateChange",
    ]
    static let tokenHeader = HTTPField.Name(AgentProtocol.tokenHeader)!
    let requestIds = RequestIdGenerator()

    static let targetHeader = HTTPField.Name("X-Amz-Target")!
    static let requestIdHeader = HTTPField.Name("x-amzn-RequestId")!
    static let errorTypeHeader = HTTPField.Name("X-Amzn-ErrorType")!

    func buildRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/healthz") { _, _ -> Response in
            Self.response(APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array(#"{"status":"ok"}"#.utf8)), requestId: nil)
        }
        router.post("/") { request, _ -> Response in
            await handleAWSJSON(request)
        }
        router.post(RouterPath(AgentProtocol.pollPath)) { request, _ -> Response in
            await handleAgentPoll(request)
        }
        router.post(RouterPath(AgentProtocol.metricsPath)) { request, _ -> Response in
            await handleMetrics(request)
        }
        router.post(RouterPath(AgentProtocol.logsPath + "/{id}")) { request, context -> Response in
            await handleLogBatch(request, id: context.parameters.get("id") ?? "")
        }
        router.get(RouterPath(AgentProtocol.taskLogsPath)) { request, _ -> Response in
            await handleTaskLogs(request)
        }
        router.get(RouterPath(AgentProtocol.serviceMetricsPath)) { request, _ -> Response in
            await handleServiceMetrics(request)
        }
        router.post(RouterPath(AgentProtocol.invocationPollPath)) { request, _ -> Response in
            await handleInvocationPoll(request)
        }
        router.post(RouterPath(AgentProtocol.invocationResultsPath)) { request, _ -> Response in
            await handleInvocationResults(request)
        }
        lambda.register(on: router)
        capacity.register(on: router)
        router.put(RouterPath(AgentProtocol.scalingAlarmsPath)) { request, _ -> Response in
            await handlePutAlarm(request)
        }
        router.get(RouterPath(AgentProtocol.scalingAlarmsPath)) { _, _ -> Response in
            let alarms = (try? await agents.committer.read { state, _ in state.scalableTargets.values.flatMap { $0.alarms.values } }) ?? []
            struct List: Encodable { var MetricAlarms: [ScalingAlarm] }
            return Self.response(
                APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: AWSJSONCodec.encode(List(MetricAlarms: alarms))),
                requestId: nil)
        }
        return router
    }

    func handleAWSJSON(_ request: Request) async -> Response {
        let requestId = requestIds.next()
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maxRequestBytes)
        } catch {
            let tooLarge = AWSError(
                type: "RequestEntityTooLargeException",
                message: "The request body is larger than \(maxRequestBytes) bytes.",
                httpStatus: 413
            )
            return Self.response(.error(tooLarge), requestId: requestId)
        }
        let bytes = Array(body.readableBytesView)
        let target = request.headers[Self.targetHeader]
        if let target, Self.agentOperations.contains(target), let refusal = checkAgentToken(request) {
            return Self.response(.error(refusal), requestId: requestId)
        }
        let answer = await dispatcher.handle(
            target: target,
            body: bytes,
            context: OperationContext(requestId: requestId, bodySize: bytes.count)
        )
        return Self.response(answer, requestId: requestId)
    }

    func checkAgentToken(_ request: Request) -> AWSError? {
        guard let agentToken, request.headers[Self.tokenHeader] != agentToken else { return nil }
        return AWSError(
            type: "AccessDeniedException",
            message: "This control plane requires an agent token: set ECS_AGENT_REGISTRATION_TOKEN on the agent to ecsd's --agent-token.")
    }

    func handleAgentPoll(_ request: Request) async -> Response {
        let requestId = requestIds.next()
        var request = request
        let answer: APIResponse
        do throws(AWSError) {
            if let refusal = checkAgentToken(request) { throw refusal }
            guard let body = try? await request.collectBody(upTo: 1 << 20) else {
                throw AWSError(type: "SerializationException", message: "The poll request body could not be read.")
            }
            let poll = try AWSJSONCodec.decode(AgentPollRequest.self, from: Array(body.readableBytesView))
            if agents.committer.notifier.isShutDown { throw Self.shuttingDown }
            let response = try await agents.poll(poll)
            answer = APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: AWSJSONCodec.encode(response))
        } catch {
            answer = .error(error, contentType: "application/json")
        }
        return Self.response(answer, requestId: requestId, closing: agents.committer.notifier.isShutDown)
    }

    /// An agent's long poll for invocations of the environments it runs.
    func handleInvocationPoll(_ request: Request) async -> Response {
        var request = request
        do throws(AWSError) {
            if let refusal = checkAgentToken(request) { throw refusal }
            guard let body = try? await request.collectBody(upTo: 1 << 16) else {
                throw AWSError(type: "SerializationException", message: "The poll request body could not be read.")
            }
            let poll = try AWSJSONCodec.decode(InvocationPollRequest.self, from: Array(body.readableBytesView))
            let batch = await lambda.router.poll(
                instance: poll.containerInstanceArn, waitMilliseconds: max(0, min(poll.waitMilliseconds, AgentProtocol.maximumWait * 1000)))
            return Self.response(
                APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: AWSJSONCodec.encode(InvocationBatch(invocations: batch))),
                requestId: nil)
        } catch {
            return Self.response(.error(error, contentType: "application/json"), requestId: nil)
        }
    }

    /// Results of invocations; answered at once with any invocations queued meanwhile.
    func handleInvocationResults(_ request: Request) async -> Response {
        var request = request
        do throws(AWSError) {
            if let refusal = checkAgentToken(request) { throw refusal }
            guard let body = try? await request.collectBody(upTo: 64 << 20) else {
                throw AWSError(type: "SerializationException", message: "The results body could not be read.")
            }
            let results = try AWSJSONCodec.decode(InvocationResultsRequest.self, from: Array(body.readableBytesView))
            let batch = await lambda.router.deliver(results)
            return Self.response(
                APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: AWSJSONCodec.encode(InvocationBatch(invocations: batch))),
                requestId: nil)
        } catch {
            return Self.response(.error(error, contentType: "application/json"), requestId: nil)
        }
    }

    func handleMetrics(_ request: Request) async -> Response {
        var request = request
        do throws(AWSError) {
            if let refusal = checkAgentToken(request) { throw refusal }
            guard let body = try? await request.collectBody(upTo: 4 << 20) else {
                throw AWSError(type: "SerializationException", message: "The metrics body could not be read.")
            }
            let report = try AWSJSONCodec.decode(AgentMetricsReport.self, from: Array(body.readableBytesView))
            await agents.recordMetrics(report)
            return Self.response(APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array("{}".utf8)), requestId: nil)
        } catch {
            return Self.response(.error(error, contentType: "application/json"), requestId: nil)
        }
    }

    /// An agent's batch of log bytes; 410 tells it nobody listens any more.
    func handleLogBatch(_ request: Request, id: String) async -> Response {
        var request = request
        if let refusal = checkAgentToken(request) {
            return Self.response(.error(refusal, contentType: "application/json"), requestId: nil)
        }
        let body = (try? await request.collectBody(upTo: 8 << 20)).map { Array($0.readableBytesView) } ?? []
        let done = request.uri.queryParameters["done"] == "1"
        let listening = agents.logs.deliver(id, bytes: body, done: done)
        return Response(status: listening ? .ok : .gone)
    }

    /// Streams a task's logs as plain text for as long as the caller (and, with follow, the task) lasts.
    func handleTaskLogs(_ request: Request) async -> Response {
        let query = request.uri.queryParameters
        let stream: AsyncStream<[UInt8]>
        do throws(AWSError) {
            guard let task = query["task"].map(String.init) else {
                throw AWSError.invalidParameter("Add ?task=<task id or ARN> (and cluster=, container=, follow=1, tail=N).")
            }
            stream = try await agents.openLogs(
                cluster: query["cluster"].map(String.init) ?? "default", task: task, container: query["container"].map(String.init),
                follow: query["follow"] == "1" || query["follow"] == "true", tail: query["tail"].flatMap { Int($0) })
        } catch {
            return Self.response(.error(error, contentType: "application/json"), requestId: nil)
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                for await chunk in stream {
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
                try await writer.finish(nil)
            })
    }

    /// A step-scaling alarm, in CloudWatch PutMetricAlarm's field names (AlarmName, MetricName,
    /// ComparisonOperator, Threshold, EvaluationPeriods, AlarmActions; the rest is accepted and ignored).
    func handlePutAlarm(_ request: Request) async -> Response {
        var request = request
        do throws(AWSError) {
            guard let body = try? await request.collectBody(upTo: 1 << 16) else {
                throw AWSError(type: "SerializationException", message: "The alarm body could not be read.")
            }
            let alarm = try AWSJSONCodec.decode(ScalingAlarm.self, from: Array(body.readableBytesView))
            try await agents.committer.write { state, mutation throws(AWSError) in try state.putScalingAlarm(alarm, changes: &mutation.changes) }
            return Self.response(APIResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array("{}".utf8)), requestId: nil)
        } catch {
            return Self.response(.error(error, contentType: "application/json"), requestId: nil)
        }
    }

    func handleServiceMetrics(_ request: Request) async -> Response {
        let query = request.uri.queryParameters
        let cluster = query["cluster"].map(String.init) ?? "default"
        guard let service = query["service"].map(String.init) else {
            return Self.response(.error(.invalidParameter("Add ?service=<name> (and cluster=)."), contentType: "application/json"), requestId: nil)
        }
        let arn = try? await agents.committer.read { state, _ throws(AWSError) -> String in
            let clusterName = try state.activeCluster(cluster).clusterName ?? ""
            guard let record = state.service(service, inCluster: clusterName) else {
                throw AWSError(type: "ServiceNotFoundException", message: "Service '\(service)' was not found in cluster \(clusterName).")
            }
            return record.arn
        }
        guard let arn else {
            return Self.response(.error(AWSError(type: "ServiceNotFoundException", message: "Service '\(service)' was not found."), contentType: "application/json"), requestId: nil)
        }
        struct Series: Encodable {
            var service: String
            /// The agents' samples, averaged per second.
            var points: [UsageStore.ServicePoint]
            /// What scaling policies evaluate: one per scaling period.
            var datapoints: [ServiceMetrics.Datapoint]
        }
        let since = request.uri.queryParameters.get("since", as: Double.self).map { Date(timeIntervalSince1970: $0) }
        let points = await agents.usage.points(service: arn, since: since)
        let datapoints = await metrics.datapoints(service: arn).filter { since == nil || $0.at >= since! }
        return Self.response(
            APIResponse(
                status: 200, headers: [("Content-Type", "application/json")],
                body: AWSJSONCodec.encode(Series(service: arn, points: points, datapoints: datapoints))),
            requestId: nil)
    }

    /// What agents get while ecsd stops: they back off and reconnect to the next ecsd, instead of
    /// polling a closing server in a loop (which would keep its connections busy and delay the exit).
    static let shuttingDown = AWSError(type: "ServerException", message: "ecsd is shutting down; reconnect shortly.", httpStatus: 503)

    static func response(_ answer: APIResponse, requestId: String?, closing: Bool = false) -> Response {
        var fields = HTTPFields()
        if closing { fields[.connection] = "close" }
        for (name, value) in answer.headers {
            if let fieldName = HTTPField.Name(name) { fields[fieldName] = value }
        }
        if let requestId { fields[requestIdHeader] = requestId }
        return Response(
            status: HTTPResponse.Status(code: answer.status),
            headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body))
        )
    }
}

/// Unique, cheap request ids: a per-process random prefix and a counter.
final class RequestIdGenerator: Sendable {
    private let prefix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    private let counter = Atomic<UInt64>(0)

    func next() -> String {
        let value = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return "\(prefix)-\(String(value, radix: 16))"
    }
}
