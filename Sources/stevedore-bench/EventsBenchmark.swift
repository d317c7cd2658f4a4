import ArgumentParser
import AWSProtocols
import CurlHTTP
import DockerClient
import Archives
import ECSShapes
import EventsShapes
import Foundation
import LambdaShapes
import LogsShapes
import SQSShapes
import StevedoreClient
import StevedoreCore

/// Events and logs: CloudWatch Logs' ingestion and FilterLogEvents over a million events, against
/// grep over the same lines in a file, measured in the same run.
struct EventsBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "CloudWatch Logs: PutLogEvents ingestion, and FilterLogEvents over 1 million events against grep over the same lines."
    )

    @Option(help: "Path to ecsd.") var ecsd = ".build/release/ecsd"
    @Option(help: "Events stored before filtering.") var events = 1_000_000
    @Option(help: "Streams the events are spread over.") var streams = 10
    @Option(help: "Filter runs per pattern (the median is reported).") var runs = 3
    @Option(name: .customLong("agent"), help: "Path to ecs-agent (for the container log ingestion part).") var agentPath = ".build/release/ecs-agent"
    @Option(help: "Lines the container writes in the ingestion part (0 skips it).") var lines = 500_000
    @Option(help: "Image of the writing container (built from busybox-static when missing).") var image = "stevedore/busybox:test"
    @Option(help: "Events timed from PutEvents to their target, per kind of target (0 skips the part).") var deliveries = 200
    @Option(help: "Messages an SQS event source mapping drains into a function (0 skips the part).") var queueMessages = 20_000
    @Option(help: "The mapping's ScalingConfig.MaximumConcurrency (its pollers, and so the function's environments; 0: none, Lambda's default).") var mappingConcurrency = 0

    func run() async throws {
        guard FileManager.default.isExecutableFile(atPath: ecsd) else { throw BenchError("\(ecsd) not found: swift build -c release") }
        let work = NSTemporaryDirectory() + "stevedore-events-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { if ProcessInfo.processInfo.environment["STEVEDORE_BENCH_KEEP"] == nil { try? FileManager.default.removeItem(atPath: work) } }
        let port = freePort()
        let endpoint = "http://127.0.0.1:\(port)"
        let server = try ChildProcess(
            name: "ecsd", executable: ecsd,
            arguments: [
                "--listen", "127.0.0.1:\(port)", "--gateway-listen", "127.0.0.1:\(freePort())", "--data-dir", work + "/ecsd", "--log-level", "warning",
                "--auth", "off", "--functions-cluster", Self.cluster,
            ],
            logPath: work + "/ecsd.log")
        defer { server.stop() }
        try await server.waitUntilReady(HTTPClient(baseURL: endpoint), path: "/healthz")
        let client = APIClient(endpoint: endpoint)
        if events > 0 { try await filtering(client: client, work: work) }

        if lines > 0 {
            let ingestion = try await ingest(client: client, endpoint: endpoint, work: work, ecsd: server.process.processIdentifier)
            print(
                "\nContainer log ingestion: a container writing \(lines) lines as fast as it can (busybox seq), through the agent to CloudWatch Logs, "
                    + "against the same container on Docker's json-file driver; each timed from the container's start until its last line is stored "
                    + "(json-file: in Docker's log file; awslogs: read back with GetLogEvents)")
            print(
                table(
                    ["DRIVER", "SECONDS", "LINES/S", "AGENT CPU", "ECSD CPU", "DOCKERD CPU"],
                    [
                        ["json-file (Docker alone)", String(format: "%.2f", ingestion.jsonSeconds), String(format: "%.0f", Double(lines) / ingestion.jsonSeconds), "-", "-",
                         ingestion.dockerdCPU.map { String(format: "%.2f s", $0.json) } ?? "?"],
                        ["awslogs (agent -> ecsd)", String(format: "%.2f", ingestion.awslogsSeconds), String(format: "%.0f", Double(lines) / ingestion.awslogsSeconds),
                         String(format: "%.2f s (%.0f%% of a core)", ingestion.agentCPU, ingestion.agentCPU / ingestion.awslogsSeconds * 100),
                         String(format: "%.2f s", ingestion.ecsdCPU), ingestion.dockerdCPU.map { String(format: "%.2f s", $0.awslogs) } ?? "?"],
                    ]))
            print(String(format: "(the json-file container itself exited after %.2f s; Docker's copy of its output lags)", ingestion.containerSeconds))
            print(String(format: "ratio: %.2fx json-file's lines per second (target >= 0.8x)", ingestion.jsonSeconds / ingestion.awslogsSeconds))
        }

        if deliveries > 0 {
            let (results, drain) = try await deliveryLatency(client: client, endpoint: endpoint, work: work)
            func percentile(_ values: [Double], _ fraction: Double) -> Double {
                let sorted = values.sorted()
                return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
            }
            print("\nEvent delivery: \(deliveries) events of each kind, one at a time, from the send until the target's message is received (SQS long poll)")
            print(
                table(
                    ["PATH", "P50", "P99"],
                    results.map { name, values in
                        [name, String(format: "%.2f ms", percentile(values, 0.5) * 1000), String(format: "%.2f ms", percentile(values, 0.99) * 1000)]
                    }))
            print(
                String(
                    format: "EventBridge's share: %.2f ms to a queue, %.2f ms to a function (p50 differences); target: PutEvents -> function invoked p50 under 5 ms",
                    (percentile(results[1].1, 0.5) - percentile(results[0].1, 0.5)) * 1000,
                    (percentile(results[3].1, 0.5) - percentile(results[2].1, 0.5)) * 1000))
            if let drain {
                print("\nSQS -> function: \(queueMessages) messages drained, from the first taken to the queue empty (mapping's MaximumConcurrency \(mappingConcurrency == 0 ? "unset" : String(mappingConcurrency)))")
                print(
                    table(
                        ["CONSUMER", "SECONDS", "MESSAGES/S"],
                        [
                            ["8 consumers: ReceiveMessage (10) + DeleteMessageBatch, no function (baseline)", String(format: "%.2f", drain.consumers),
                             String(format: "%.0f", Double(queueMessages) / drain.consumers)],
                            ["event source mapping -> function (batches of 10)", String(format: "%.2f", drain.mapping),
                             String(format: "%.0f", Double(queueMessages) / drain.mapping)],
                        ]))
                print(String(format: "ratio: %.2fx the consumers' rate; target: >= 5,000 messages/s on 2 cores", drain.consumers / drain.mapping))
            }
        }
    }

    /// PutLogEvents' rate storing `events`, then FilterLogEvents over them against grep.
    func filtering(client: APIClient, work: String) async throws {
        func logs<Input: Encodable, Output: Decodable>(_ operation: String, _ input: Input, as: Output.Type = Output.self) async throws -> Output {
            try await client.json(target: "Logs_20140328.\(operation)", input, as: Output.self)
        }

        // One event in a thousand is an ERROR; the others are access lines of the same shape.
        let group = "/bench/app"
        let _: EmptyOutput = try await logs("CreateLogGroup", CWLCreateLogGroupRequest(logGroupName: group))
        let start = Int(Date().timeIntervalSince1970 * 1000) - 3_600_000
        func message(_ index: Int) -> String {
            index % 1000 == 999
                ? "2026-12-01T10:00:00Z ERROR request \(index) failed: upstream timed out after 30000 ms user=u\(index % 97)"
                : "2026-12-01T10:00:00Z INFO request \(index) GET /items/\(index % 5000) 200 \(index % 9000) ms user=u\(index % 97)"
        }
        note("storing \(events) events in \(streams) streams (batches of 10,000)")
        var text = ""
        text.reserveCapacity(events * 90)
        let perStream = events / streams
        var storing = Duration.zero
        for stream in 0..<streams {
            let name = "stream-\(stream)"
            let _: EmptyOutput = try await logs("CreateLogStream", CWLCreateLogStreamRequest(logGroupName: group, logStreamName: name))
            var sent = 0
            while sent < perStream {
                let count = min(10_000, perStream - sent)
                let batch = (0..<count).map { offset -> CWLInputLogEvent in
                    let index = stream * perStream + sent + offset
                    // Timestamps across one hour, each stream's in order.
                    return CWLInputLogEvent(timestamp: start + (sent + offset) * 3_600_000 / perStream, message: message(index))
                }
                for event in batch { text += event.message + "\n" }
                let began = ContinuousClock.now
                let _: CWLPutLogEventsResponse = try await logs("PutLogEvents", CWLPutLogEventsRequest(logGroupName: group, logStreamName: name, logEvents: batch))
                storing += ContinuousClock.now - began
                sent += count
            }
        }
        let file = work + "/lines.log"
        try text.write(toFile: file, atomically: true, encoding: .utf8)

        func filter(_ pattern: String) async throws -> (seconds: Double, matched: Int) {
            var timings: [Double] = []
            var matched = 0
            for _ in 0..<runs {
                let began = ContinuousClock.now
                var token: String?
                matched = 0
                repeat {
                    let page: CWLFilterLogEventsResponse = try await logs(
                        "FilterLogEvents", CWLFilterLogEventsRequest(logGroupName: group, filterPattern: pattern, nextToken: token, limit: 10_000))
                    matched += page.events?.count ?? 0
                    token = page.nextToken
                } while token != nil
                timings.append(durationSeconds(ContinuousClock.now - began))
            }
            return (timings.sorted()[timings.count / 2], matched)
        }
        func grep(_ arguments: [String]) throws -> Double {
            var timings: [Double] = []
            for _ in 0..<runs {
                let began = ContinuousClock.now
                _ = try runProgram("/bin/grep", arguments + [file])
                timings.append(durationSeconds(ContinuousClock.now - began))
            }
            return timings.sorted()[timings.count / 2]
        }
        note("filtering (\(runs) runs each, median)")
        let term = try await filter("ERROR")
        let delimited = try await filter("[time, level = ERROR, ...]")
        let json = try await filter("?timed ?refused")
        let grepTerm = try grep(["-c", "ERROR"])
        let grepWords = try grep(["-c", "-E", "timed|refused"])

        print("CloudWatch Logs benchmark: release ecsd on 127.0.0.1; \(events) events (~\(text.utf8.count / 1_000_000) MB) in \(streams) streams\n")
        print(String(format: "PutLogEvents: %.0f events/s (batches of 10,000, each synced before it is answered)\n", Double(events) / durationSeconds(storing)))
        print(
            table(
                ["FILTER", "MATCHED", "FILTERLOGEVENTS (ALL PAGES)", "GREP -c (SAME LINES, ONE FILE)", "RATIO"],
                [
                    ["ERROR (a term, 0.1%)", "\(term.matched)", String(format: "%.3f s", term.seconds), String(format: "%.3f s", grepTerm),
                     String(format: "%.1fx", term.seconds / max(grepTerm, 0.000_001))],
                    ["[time, level = ERROR, ...] (space-delimited)", "\(delimited.matched)", String(format: "%.3f s", delimited.seconds), "-", "-"],
                    ["?timed ?refused (alternatives)", "\(json.matched)", String(format: "%.3f s", json.seconds), String(format: "%.3f s", grepWords),
                     String(format: "%.1fx", json.seconds / max(grepWords, 0.000_001))],
                ]))
        print("target: FilterLogEvents over 1 million events under 1 s for a pattern matching 0.1%")
    }

    /// The same writer under json-file (straight through Docker, its last line in the log file) and
    /// under awslogs (a task on a real agent, its last line in CloudWatch Logs), each timed from the
    /// container's start.
    func ingest(client: APIClient, endpoint: String, work: String, ecsd: Int32) async throws
        -> (jsonSeconds: Double, containerSeconds: Double, awslogsSeconds: Double, agentCPU: Double, ecsdCPU: Double, dockerdCPU: (json: Double, awslogs: Double)?)
    {
        // Docker's own CPU in each part, where its pid can be read.
        let dockerd = (try? String(contentsOfFile: "/var/run/docker.pid", encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let dockerdBefore = dockerd.map { cpuSeconds(pid: $0) }
        guard FileManager.default.isExecutableFile(atPath: agentPath) else { throw BenchError("\(agentPath) not found: swift build -c release") }
        let docker = try await DockerClient.connect()
        try await ensureBusybox(docker, image: image)
        let command = ["/bin/busybox", "seq", "1", String(lines)]

        note("ingestion: \(lines) lines under json-file, straight through Docker")
        var config = ContainerConfig(image: image)
        config.cmd = command
        config.hostConfig = HostConfig()
        config.hostConfig.logConfig = LogConfig(type: "json-file", config: [:])
        let baseline = try await docker.createContainer(name: "stevedore-events-bench-\(UUID().uuidString.prefix(8))", config: config)
        defer { Task { try? await docker.removeContainer(baseline, force: true) } }
        try await docker.startContainer(baseline)
        // Done when the log file holds the last line: Docker writes it well after the container
        // exits (its copy of the output lags the writer), as the agent's side is done only once
        // the last line is stored. Where the file cannot be read, the container's exit.
        let logPath = try await docker.inspectContainer(baseline).logPath
        let lastEntry = Array("{\"log\":\"\(lines)\\n\"".utf8)
        var logged: Date?
        if let logPath, access(logPath, R_OK) == 0 {
            let deadline = ContinuousClock.now + .seconds(600)
            while ContinuousClock.now < deadline {
                if Self.tail(of: logPath, bytes: 256).contains(lastEntry) {
                    logged = Date()
                    break
                }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        _ = try await docker.waitContainer(baseline)
        let finished = try await docker.inspectContainer(baseline).state
        let containerSeconds = try Self.seconds(from: finished.startedAt, to: finished.finishedAt)
        let jsonSeconds = try logged.map { $0.timeIntervalSince(try Self.date(finished.startedAt)) } ?? containerSeconds
        let dockerdJSON = dockerd.map { cpuSeconds(pid: $0) - (dockerdBefore ?? 0) }
        if logged == nil { note("ingestion: the json-file log cannot be read here; its side is timed to the container's exit") }

        note("ingestion: \(lines) lines under awslogs, through a real agent")
        let cluster = Self.cluster
        let _: CreateClusterResponse = try await client.ecs("CreateCluster", CreateClusterRequest(clusterName: cluster))
        let options = ["awslogs-group": "/bench/ingest", "awslogs-stream-prefix": "bench", "awslogs-create-group": "true"]
        let _: RegisterTaskDefinitionResponse = try await client.ecs(
            "RegisterTaskDefinition",
            RegisterTaskDefinitionRequest(
                family: "writer",
                containerDefinitions: [
                    ContainerDefinition(
                        name: "writer", image: image, memory: 64, command: command,
                        logConfiguration: LogConfiguration(logDriver: .awslogs, options: options))
                ]))
        let agent = try ChildProcess(
            name: "ecs-agent", executable: "/usr/bin/env",
            arguments: [
                "ECS_CLUSTER=\(cluster)", "ECS_BACKEND_HOST=\(endpoint)", "ECS_DATADIR=\(work)/agent", "ECS_IMAGE_PULL_BEHAVIOR=prefer-cached",
                "ECS_LOGLEVEL=warn", agentPath, "--config", "/dev/null",
            ],
            logPath: work + "/agent.log")
        defer {
            agent.stop()
            removeContainers(cluster: cluster)
        }
        while true {
            let listed: ListContainerInstancesResponse = try await client.ecs("ListContainerInstances", ListContainerInstancesRequest(cluster: cluster))
            if !(listed.containerInstanceArns ?? []).isEmpty { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let cpuBefore = cpuSeconds(pid: agent.process.processIdentifier)
        let ecsdBefore = cpuSeconds(pid: ecsd)
        let dockerdAWSLogsBefore = dockerd.map { cpuSeconds(pid: $0) }
        let run: RunTaskResponse = try await client.ecs("RunTask", RunTaskRequest(cluster: cluster, taskDefinition: "writer"))
        guard let arn = run.tasks?.first?.taskArn else { throw BenchError("RunTask placed nothing: \(run.failures ?? [])") }
        let stream = "bench/writer/\(arn.split(separator: "/").last ?? "")"
        // Done when the newest event in the stream is the last line.
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            let newest: CWLGetLogEventsResponse? = try? await client.json(
                target: "Logs_20140328.GetLogEvents", CWLGetLogEventsRequest(logGroupName: "/bench/ingest", logStreamName: stream, limit: 1))
            if newest?.events?.first?.message == String(lines) { break }
            try await Task.sleep(for: .milliseconds(2))
        }
        let done = Date()
        let agentCPU = cpuSeconds(pid: agent.process.processIdentifier) - cpuBefore
        let ecsdCPU = cpuSeconds(pid: ecsd) - ecsdBefore
        let dockerdAWSLogs = dockerd.map { cpuSeconds(pid: $0) - (dockerdAWSLogsBefore ?? 0) }
        let described: DescribeTasksResponse = try await client.ecs("DescribeTasks", DescribeTasksRequest(cluster: cluster, tasks: [arn]))
        guard let runtimeId = described.tasks?.first?.containers?.first?.runtimeId else { throw BenchError("the writer's container id is unknown") }
        let started = try Self.date(try await docker.inspectContainer(runtimeId).state.startedAt)
        let dockerdCPU = dockerdJSON.flatMap { json in dockerdAWSLogs.map { (json, $0) } }
        return (jsonSeconds, containerSeconds, done.timeIntervalSince(started), agentCPU, ecsdCPU, dockerdCPU)
    }

    static let cluster = "events-bench"

    /// Event delivery latency: PutEvents until an SQS target's message is received, against
    /// SendMessage until it is received; PutEvents until a function's invocation ended (its
    /// OnSuccess destination's record received), against an `Event` Invoke until the same.
    /// Sequential, one event in flight; p50 and p99 of `deliveries` each.
    func deliveryLatency(client: APIClient, endpoint: String, work: String) async throws
        -> (latencies: [(String, [Double])], drain: (mapping: Double, consumers: Double)?)
    {
        guard FileManager.default.isExecutableFile(atPath: agentPath) else { throw BenchError("\(agentPath) not found: swift build -c release") }
        let agent = try ChildProcess(
            name: "ecs-agent", executable: "/usr/bin/env",
            arguments: [
                "ECS_CLUSTER=\(Self.cluster)", "ECS_BACKEND_HOST=\(endpoint)", "ECS_DATADIR=\(work)/agent-deliveries", "ECS_LOGLEVEL=warn", agentPath,
                "--config", "/dev/null",
            ],
            logPath: work + "/agent-deliveries.log")
        defer {
            agent.stop()
            removeContainers(cluster: Self.cluster)
        }
        let _: CreateClusterResponse = try await client.ecs("CreateCluster", CreateClusterRequest(clusterName: Self.cluster))
        while true {
            let listed: ListContainerInstancesResponse = try await client.ecs("ListContainerInstances", ListContainerInstancesRequest(cluster: Self.cluster))
            if !(listed.containerInstanceArns ?? []).isEmpty { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        func sqs<Output: Decodable>(_ operation: String, _ input: some Encodable, as: Output.Type = Output.self) async throws -> Output {
            try await client.json(target: "AmazonSQS.\(operation)", input, contentType: "application/x-amz-json-1.0")
        }
        func events<Output: Decodable>(_ operation: String, _ input: some Encodable, as: Output.Type = Output.self) async throws -> Output {
            try await client.json(target: "AWSEvents.\(operation)", input)
        }
        var queues: [String: String] = [:]
        for name in ["direct", "invoked"] {
            queues[name] = try await sqs("CreateQueue", SQSCreateQueueRequest(QueueName: name), as: SQSCreateQueueResult.self).QueueUrl
        }
        let account = "000000000000"
        note("delivery: compiling the native runtime client; a function whose OnSuccess destination is a queue")
        try FileManager.default.createDirectory(atPath: work + "/code", withIntermediateDirectories: true)
        let binary = try NativeRuntime.build(in: work + "/code")
        var writer = ZipWriter()
        writer.add(path: "bootstrap", contents: Array(FileManager.default.contents(atPath: binary)!), mode: 0o755)
        let _: LambdaFunctionConfiguration = try await client.lambda(
            "POST", "/2015-03-31/functions",
            LambdaCreateFunctionRequest(
                FunctionName: "echo", Runtime: .providedAl2023, Role: "arn:aws:iam::\(account):role/bench", Handler: "echo",
                Code: LambdaFunctionCode(ZipFile: Data(writer.finish())), Timeout: 30, MemorySize: 128))
        let _: LambdaFunctionEventInvokeConfig = try await client.lambda(
            "PUT", "/2019-09-25/functions/echo/event-invoke-config",
            LambdaPutFunctionEventInvokeConfigRequest(
                DestinationConfig: LambdaDestinationConfig(OnSuccess: LambdaOnSuccess(Destination: "arn:aws:sqs:us-east-1:\(account):invoked"))))
        let _: EVBPutRuleResponse = try await events("PutRule", EVBPutRuleRequest(Name: "to-queue", EventPattern: #"{"source":["bench.queue"]}"#))
        let _: EVBPutTargetsResponse = try await events(
            "PutTargets", EVBPutTargetsRequest(Rule: "to-queue", Targets: [EVBTarget(Id: "q", Arn: "arn:aws:sqs:us-east-1:\(account):direct")]))
        let _: EVBPutRuleResponse = try await events("PutRule", EVBPutRuleRequest(Name: "to-function", EventPattern: #"{"source":["bench.function"]}"#))
        let _: EVBPutTargetsResponse = try await events(
            "PutTargets", EVBPutTargetsRequest(Rule: "to-function", Targets: [EVBTarget(Id: "f", Arn: "arn:aws:lambda:us-east-1:\(account):function:echo")]))

        /// Sends, then long-polls the queue until the message is there and deletes it; seconds.
        func timed(_ queue: String, _ send: () async throws -> Void) async throws -> Double {
            let began = ContinuousClock.now
            try await send()
            while true {
                let received: SQSReceiveMessageResult = try await sqs(
                    "ReceiveMessage", SQSReceiveMessageRequest(QueueUrl: queues[queue]!, MaxNumberOfMessages: 1, WaitTimeSeconds: 20))
                if let message = received.Messages?.first {
                    let elapsed = durationSeconds(ContinuousClock.now - began)
                    let _: EmptyOutput = try await sqs("DeleteMessage", SQSDeleteMessageRequest(QueueUrl: queues[queue]!, ReceiptHandle: message.ReceiptHandle!))
                    return elapsed
                }
            }
        }
        func putEvent(_ source: String) async throws {
            let answer: EVBPutEventsResponse = try await events(
                "PutEvents", EVBPutEventsRequest(Entries: [EVBPutEventsRequestEntry(Source: source, DetailType: "Bench", Detail: #"{"n":1}"#)]))
            guard answer.FailedEntryCount == 0 else { throw BenchError("PutEvents failed: \(answer)") }
        }
        func invokeAsync() async throws {
            let response = try await HTTPClient(baseURL: endpoint).execute(
                HTTPClient.Request(
                    method: "POST", path: "/2015-03-31/functions/echo/invocations", headers: [("X-Amz-Invocation-Type", "Event")],
                    body: Array(#"{"n":1}"#.utf8)))
            guard response.status == 202 else { throw BenchError("Event invoke answered \(response.status): \(response.bodyText)") }
        }
        // Warm-up: the first environment builds the provided runtime image on this host.
        note("delivery: warming the function up")
        _ = try await timed("invoked", invokeAsync)
        var results: [(String, [Double])] = [("SendMessage -> received (baseline)", []), ("PutEvents -> SQS target received", []),
            ("Invoke(Event) -> function ran, destination received (baseline)", []), ("PutEvents -> function ran, destination received", [])]
        var drained: (mapping: Double, consumers: Double)?
        if queueMessages > 0 {
            drained = try await drain(
                sqs: { operation, input in
                    try await client.json(target: "AmazonSQS.\(operation)", input, as: JSONValue.self, contentType: "application/x-amz-json-1.0")
                }, client: client)
        }
        note("delivery: \(deliveries) events of each kind, one at a time")
        for _ in 0..<deliveries {
            results[0].1.append(
                try await timed("direct") {
                    let _: SQSSendMessageResult = try await sqs("SendMessage", SQSSendMessageRequest(QueueUrl: queues["direct"]!, MessageBody: "{}"))
                })
            results[1].1.append(try await timed("direct") { try await putEvent("bench.queue") })
            results[2].1.append(try await timed("invoked", invokeAsync))
            results[3].1.append(try await timed("invoked") { try await putEvent("bench.function") })
        }
        return (results, drained)
    }

    /// `queueMessages` messages drained from a queue two ways: by an event source mapping into
    /// the echo function (batches of 10), and by 8 consumers of the bench's own (ReceiveMessage of
    /// 10, DeleteMessageBatch) with no function at all, the queue's own ceiling. Seconds each,
    /// from the first message taken to the queue empty.
    func drain(sqs: @escaping @Sendable (String, any Encodable & Sendable) async throws -> JSONValue, client: APIClient) async throws -> (mapping: Double, consumers: Double) {
        let account = "000000000000"
        func fill(_ url: String) async throws {
            note("drain: sending \(queueMessages) messages (SendMessageBatch, 8 at once)")
            let batches = (queueMessages + 9) / 10
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        var batch = worker
                        while batch < batches {
                            let entries = (0..<min(10, queueMessages - batch * 10)).map {
                                SQSSendMessageBatchRequestEntry(Id: "m\($0)", MessageBody: #"{"order":\#(batch * 10 + $0)}"#)
                            }
                            _ = try await sqs("SendMessageBatch", SQSSendMessageBatchRequest(QueueUrl: url, Entries: entries))
                            batch += 8
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        func waitEmpty(_ url: String) async throws -> ContinuousClock.Instant {
            while true {
                let answer = try await sqs(
                    "GetQueueAttributes",
                    SQSGetQueueAttributesRequest(QueueUrl: url, AttributeNames: [.approximateNumberOfMessages, .approximateNumberOfMessagesNotVisible]))
                guard case .object(let fields) = answer, case .object(let attributes)? = fields["Attributes"],
                    case .string(let visible)? = attributes["ApproximateNumberOfMessages"],
                    case .string(let invisible)? = attributes["ApproximateNumberOfMessagesNotVisible"]
                else { throw BenchError("GetQueueAttributes answered \(answer)") }
                if visible == "0" && invisible == "0" { return .now }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        func url(of answer: JSONValue) throws -> String {
            guard case .object(let fields) = answer, case .string(let url)? = fields["QueueUrl"] else { throw BenchError("CreateQueue answered \(answer)") }
            return url
        }

        // The queue's own ceiling: consumers that take and delete, nothing else.
        let plain = try url(of: try await sqs("CreateQueue", SQSCreateQueueRequest(QueueName: "drain-plain")))
        try await fill(plain)
        note("drain: 8 consumers of the bench's own")
        let consumersBegan = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    while true {
                        let answer = try await sqs("ReceiveMessage", SQSReceiveMessageRequest(QueueUrl: plain, MaxNumberOfMessages: 10))
                        guard case .object(let fields) = answer, case .array(let messages)? = fields["Messages"], !messages.isEmpty else { return }
                        let entries = messages.enumerated().compactMap { index, message -> SQSDeleteMessageBatchRequestEntry? in
                            guard case .object(let fields) = message, case .string(let handle)? = fields["ReceiptHandle"] else { return nil }
                            return SQSDeleteMessageBatchRequestEntry(Id: "d\(index)", ReceiptHandle: handle)
                        }
                        _ = try await sqs("DeleteMessageBatch", SQSDeleteMessageBatchRequest(QueueUrl: plain, Entries: entries))
                    }
                }
            }
            try await group.waitForAll()
        }
        let consumers = durationSeconds(try await waitEmpty(plain) - consumersBegan)

        // The same through an event source mapping into the echo function.
        let mapped = try url(of: try await sqs("CreateQueue", SQSCreateQueueRequest(QueueName: "drain-mapped")))
        try await fill(mapped)
        note("drain: an event source mapping into the function (batches of 10)")
        let mappingBegan = ContinuousClock.now
        let _: LambdaEventSourceMappingConfiguration = try await client.lambda(
            "POST", "/2015-03-31/event-source-mappings",
            LambdaCreateEventSourceMappingRequest(
                EventSourceArn: "arn:aws:sqs:us-east-1:\(account):drain-mapped", FunctionName: "echo", BatchSize: 10,
                ScalingConfig: mappingConcurrency == 0 ? nil : LambdaScalingConfig(MaximumConcurrency: mappingConcurrency)))
        let mapping = durationSeconds(try await waitEmpty(mapped) - mappingBegan)
        return (mapping, consumers)
    }

    /// Docker's RFC 3339 times (nanoseconds cut to milliseconds).
    static func date(_ text: String?) throws -> Date {
        guard let text else { throw BenchError("no time from Docker") }
        var trimmed = text
        if let dot = text.firstIndex(of: "."), let zone = text.lastIndex(where: { $0 == "Z" || $0 == "+" }) {
            trimmed = String(text[..<dot]) + String(text[dot..<zone].prefix(4)) + String(text[zone...])
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let date = formatter.date(from: trimmed) ?? ISO8601DateFormatter().date(from: trimmed) else { throw BenchError("unreadable time \(text)") }
        return date
    }

    /// The last bytes of a file.
    static func tail(of path: String, bytes count: Int) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return [] }
        let start = max(0, Int(info.st_size) - count)
        var buffer = [UInt8](repeating: 0, count: Int(info.st_size) - start)
        let read = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(start)) }
        return read > 0 ? Array(buffer.prefix(read)) : []
    }

    static func seconds(from start: String?, to end: String?) throws -> Double {
        try date(end).timeIntervalSince(try date(start))
    }
}
