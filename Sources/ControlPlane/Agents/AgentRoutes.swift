import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import Foundation
import Lambda
import LambdaShapes
import StevedoreCore

/// The work channel's endpoints (see ``WorkChannel``): agents' long polls, usage samples, log
/// batches, function invocations and code; and the service utilisation series ecsctl reads.
struct AgentRoutes: Sendable {
    let agents: AgentChannel
    let router: FunctionRouter
    let code: CodeStore
    let metrics: ServiceMetrics
    /// Resolves tasks' secrets for their agents.
    var secrets: TaskSecrets?
    /// Issues tasks' and functions' role credentials to their agents.
    var credentials: RoleCredentials?
    /// When agents must authenticate: renews an instance's own credentials.
    var instances: AgentAuthenticator?
    /// Stores `awslogs` containers' output in CloudWatch Logs.
    var logIngest: LogIngest?

    /// What agents get while ecsd stops: they back off and reconnect to the next ecsd, instead of
    /// polling a closing server in a loop (which would keep its connections busy and delay the exit).
    static let shuttingDown = AWSError(type: "ServerException", message: "ecsd is shutting down; reconnect shortly.", httpStatus: 503)
    static let malformedLogEvents = AWSError(
        type: "SerializationException", message: "The log events batch is malformed: a length runs past the body, or a name is not UTF-8.", httpStatus: 400)

    var routes: RESTRoutes {
        var routes = RESTRoutes(errorStyle: .json, access: .agent)
        let agents = self.agents
        let router = self.router
        let code = self.code
        let secrets = self.secrets
        let credentials = self.credentials
        let instances = self.instances
        let logIngest = self.logIngest
        routes.raw("POST", WorkChannel.pollPath) { request in
            let closing = agents.committer.notifier.isShutDown
            var answer: APIResponse
            do throws(AWSError) {
                let poll = try AWSJSONCodec.decode(AgentPollRequest.self, from: request.body)
                try request.checkAgent(actsFor: poll.containerInstanceArn)
                if closing { throw Self.shuttingDown }
                answer = RESTRoutes.output(try await agents.poll(poll), status: 200, requestId: request.requestId)
            } catch {
                answer = RESTErrorStyle.json.response(error, requestId: request.requestId)
            }
            if agents.committer.notifier.isShutDown { answer.headers.append(("Connection", "close")) }
            return answer
        }
        routes.json("POST", WorkChannel.metricsPath, limit: 4 << 20) { (report: AgentMetricsReport, request) throws(AWSError) in
            try request.checkAgent(actsFor: report.containerInstanceArn)
            await agents.recordMetrics(report)
            return EmptyOutput()
        }
        // An agent's batch of log bytes; 410 tells it nobody listens any more.
        routes.raw("POST", WorkChannel.logsPath + "/{id}", limit: 8 << 20) { request in
            let listening = agents.logs.deliver(
                request.parameter("id"), from: request.agentInstance, bytes: request.body, done: request.query("done") == "1")
            return APIResponse(status: listening ? 200 : 410, body: [])
        }
        // An exec session's output frames from its agent; 410 tells it nobody listens any more.
        routes.raw("POST", ExecChannel.outputPath + "/{id}", limit: 8 << 20) { request in
            let listening = agents.execs.deliver(
                request.parameter("id"), from: request.agentInstance, bytes: request.body, done: request.query("done") == "1")
            return APIResponse(status: listening ? 200 : 410, body: [])
        }
        // What the caller typed since the agent last asked (held until there is some); 410 when the
        // caller left.
        routes.raw("POST", ExecChannel.inputPath + "/{id}", limit: 0) { request in
            guard let input = await agents.execs.takeInput(request.parameter("id"), from: request.agentInstance, wait: ExecChannel.inputWait)
            else { return APIResponse(status: 410, body: []) }
            return APIResponse(status: 200, headers: [("Content-Type", "application/octet-stream")], body: input)
        }
        if let logIngest {
            // An `awslogs` container's events (none: its stream made ready before it starts).
            // Binary (as agents send them), or JSON.
            routes.raw("POST", WorkChannel.logEventsPath, limit: 16 << 20) { request in
                do throws(AWSError) {
                    let newest: Int?
                    if request.header("Content-Type") == LogEventsBatch.binaryContentType {
                        guard let batch = LogEventsBatch.binary(request.body[...]) else { throw Self.malformedLogEvents }
                        try request.checkAgent(actsFor: batch.containerInstanceArn)
                        newest = try await logIngest.put(batch)
                    } else {
                        let batch: LogEventsBatch
                        do throws(AWSError) {
                            batch = try AWSJSONCodec.decode(LogEventsBatch.self, from: request.body)
                        } catch {
                            throw RESTErrorStyle.json.decodeError(error)
                        }
                        try request.checkAgent(actsFor: batch.containerInstanceArn)
                        newest = try await logIngest.put(
                            group: batch.group, stream: batch.stream, createGroup: batch.createGroup, events: batch.events.map { ($0.timestamp, $0.message) })
                    }
                    return RESTRoutes.output(LogEventsAccepted(lastEventTimestamp: newest), status: 200, requestId: request.requestId)
                } catch {
                    return RESTErrorStyle.json.response(error, requestId: request.requestId)
                }
            }
        }
        if let secrets {
            routes.json("POST", WorkChannel.secretsPath, limit: 1 << 16) { (request: TaskSecretsRequest, rest) throws(AWSError) in
                try rest.checkAgent(actsFor: request.containerInstanceArn)
                return try await secrets.resolve(request)
            }
        }
        if let credentials {
            routes.json("POST", WorkChannel.credentialsPath, limit: 1 << 16) { (request: TaskCredentialsRequest, rest) throws(AWSError) in
                try rest.checkAgent(actsFor: request.containerInstanceArn)
                return try await credentials.issue(request)
            }
        }
        if let instances {
            routes.json("POST", WorkChannel.instanceCredentialsPath, limit: 1 << 16) { (request: InstanceCredentialsRequest, rest) throws(AWSError) in
                try rest.checkAgent(actsFor: request.containerInstanceArn)
                return instances.issue(instanceArn: request.containerInstanceArn)
            }
        }
        routes.json("POST", WorkChannel.invocationPollPath, limit: 1 << 16) { (poll: InvocationPollRequest, request) throws(AWSError) in
            try request.checkAgent(actsFor: poll.containerInstanceArn)
            let wait = max(0, min(poll.waitMilliseconds, WorkChannel.maximumWait * 1000))
            return InvocationBatch(invocations: await router.poll(instance: poll.containerInstanceArn, waitMilliseconds: wait))
        }
        // Results of invocations; answered at once with any invocations queued meanwhile.
        routes.json("POST", WorkChannel.invocationResultsPath, limit: 64 << 20) { (results: InvocationResultsRequest, request) throws(AWSError) in
            try request.checkAgent(actsFor: results.containerInstanceArn)
            return InvocationBatch(invocations: await router.deliver(results, verified: request.agentInstance != nil))
        }
        routes.raw("GET", WorkChannel.codePath + "/{hash}", limit: 0) { request in
            let hash = request.parameter("hash")
            // An authenticated agent gets only the code of environments placed on its instance.
            if let instance = request.agentInstance,
                await ((try? agents.committer.read { root, _ in root.ecs.instance(instance, usesCode: hash) }) ?? false) == false
            {
                return RESTErrorStyle.lambda.response(
                    .lambdaNotFound("No execution environment on \(instance) uses a code bundle with that hash."), requestId: nil)
            }
            guard let bytes = code.read(hash) else {
                return RESTErrorStyle.lambda.response(.lambdaNotFound("No code bundle with that hash."), requestId: nil)
            }
            return APIResponse(status: 200, headers: [("Content-Type", "application/zip")], body: bytes)
        }
        return routes
    }

    /// `GET /v1/metrics/services?cluster=&service=&since=`: a service's utilisation series.
    var metricsRoutes: RESTRoutes {
        var routes = RESTRoutes(errorStyle: .json)
        let (agents, metrics) = (self.agents, self.metrics)
        routes.respond("GET", WorkChannel.serviceMetricsPath) { request throws(AWSError) in
            let cluster = request.query("cluster") ?? "default"
            guard let service = request.query("service") else { throw AWSError.invalidParameter("Add ?service=<name> (and cluster=).") }
            let arn = try await agents.committer.read { root, _ throws(AWSError) -> String in
                let clusterName = try root.ecs.activeClusterName(cluster)
                guard let record = root.ecs.service(service, inCluster: clusterName) else {
                    throw AWSError(type: "ServiceNotFoundException", message: "Service '\(service)' was not found in cluster \(clusterName).")
                }
                return record.arn
            }
            let since = request.query("since").flatMap(Double.init).map { Date(timeIntervalSince1970: $0) }
            let points = await agents.usage.points(service: arn, since: since)
            let datapoints = await metrics.datapoints(service: arn).filter { since == nil || $0.at >= since! }
            return ServiceSeries(service: arn, points: points, datapoints: datapoints)
        }
        return routes
    }

    struct ServiceSeries: Encodable, Sendable {
        var service: String
        /// The agents' samples, averaged per second.
        var points: [UsageStore.ServicePoint]
        /// What scaling policies evaluate: one per scaling period.
        var datapoints: [ServiceMetrics.Datapoint]
    }
}
