import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import Archives
import ArgumentParser
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import Foundation
import LambdaShapes
import StevedoreClient
import StevedoreCore

struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task",
        abstract: "Run, list, describe and stop tasks; read their logs; run commands in them.",
        subcommands: [Run.self, List.self, Describe.self, Stop.self, Logs.self, Exec.self]
    )

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run tasks from a task definition (family, family:revision or ARN).")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @OptionGroup var placement: PlacementOptions
        @Argument(help: "Task definition.") var taskDefinition: String
        @Option(help: "How many tasks (1-10).") var count = 1
        @Option(help: "Task group (default family:<family>).") var group: String?
        @Option(name: .customLong("started-by"), help: "Free text recorded on the tasks.") var startedBy: String?
        @Option(name: .customLong("env"), help: "NAME=VALUE for every container; repeat for more.") var environment: [String] = []
        @Flag(help: "Wait until the tasks are RUNNING (or stopped).") var wait = false

        func run() async throws {
            let variables = try parsePairs(environment, what: "Environment variable").map { KeyValuePair(name: $0.0, value: $0.1) }
            var overrides: TaskOverride?
            if !variables.isEmpty {
                let definition: DescribeTaskDefinitionResponse = try await global.client.ecs(
                    "DescribeTaskDefinition", DescribeTaskDefinitionRequest(taskDefinition: taskDefinition))
                overrides = TaskOverride(
                    containerOverrides: (definition.taskDefinition?.containerDefinitions ?? []).map {
                        ContainerOverride(name: $0.name, environment: variables)
                    })
            }
            let response: RunTaskResponse = try await global.client.ecs(
                "RunTask",
                RunTaskRequest(
                    cluster: cluster.name, count: count, group: group, overrides: overrides,
                    placementConstraints: try placement.parsedConstraints(), placementStrategy: try placement.parsedStrategies(),
                    startedBy: startedBy, taskDefinition: taskDefinition))
            var tasks = response.tasks ?? []
            if wait, !tasks.isEmpty {
                tasks = try await waitForStart(tasks.compactMap(\.taskArn), client: global.client, cluster: cluster.name)
            }
            if global.output == .json {
                Printer.json(RunTaskResponse(tasks: tasks, failures: response.failures))
            } else {
                printTasks(tasks)
                for failure in response.failures ?? [] {
                    FileHandle.standardError.write(Data("not placed: \(shortId(failure.arn)) \(failure.reason ?? "")\n".utf8))
                }
            }
            if tasks.isEmpty { throw CLIError("no task was placed") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List tasks.", aliases: ["list"])

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Option(help: "Only tasks of this service.") var service: String?
        @Option(help: "Only tasks of this family.") var family: String?
        @Option(help: "Only tasks on this container instance.") var node: String?
        @Option(help: "Desired status: RUNNING (default) or STOPPED.") var status = "RUNNING"
        @Flag(name: .shortAndLong, help: "Print ARNs only.") var quiet = false

        func run() async throws {
            guard let desired = DesiredStatus(rawValue: status) else { throw ValidationError(DesiredStatus.invalidValueMessage(status)) }
            var arns: [String] = []
            var token: String?
            repeat {
                let page: ListTasksResponse = try await global.client.ecs(
                    "ListTasks",
                    ListTasksRequest(
                        cluster: cluster.name, containerInstance: node, family: family, nextToken: token, serviceName: service,
                        desiredStatus: desired))
                arns += page.taskArns ?? []
                token = page.nextToken
            } while token != nil
            if quiet {
                arns.forEach { print($0) }
                return
            }
            let tasks = try await describeTasks(arns, client: global.client, cluster: cluster.name)
            if global.output == .json { Printer.json(tasks) } else { printTasks(tasks) }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a task and its containers.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Task ARN or id.") var task: String

        func run() async throws {
            guard let found = try await describeTasks([task], client: global.client, cluster: cluster.name).first else {
                throw CLIError("task '\(task)' not found in cluster \(cluster.name)")
            }
            if global.output == .json {
                Printer.json(found)
                return
            }
            Printer.fields([
                ("Task", found.taskArn ?? ""),
                ("Task definition", shortTaskDefinition(found.taskDefinitionArn)),
                ("Status", "\(found.lastStatus ?? "") (desired \(found.desiredStatus ?? ""))"),
                ("Health", found.healthStatus?.rawValue ?? "-"),
                ("Instance", shortId(found.containerInstanceArn)),
                ("Group", found.group ?? "-"),
                ("Started by", found.startedBy ?? "-"),
                ("Created", found.createdAt?.shortText ?? "-"),
                ("Started", found.startedAt?.shortText ?? "-"),
                ("Stopped", found.stoppedAt?.shortText ?? "-"),
                ("Stop code", found.stopCode?.rawValue ?? "-"),
                ("Stopped reason", found.stoppedReason ?? "-"),
                ("Version", "\(found.version ?? 0)"),
            ])
            print("")
            Printer.table(
                ["CONTAINER", "IMAGE", "STATUS", "EXIT", "PORTS", "REASON"],
                (found.containers ?? []).map { container in
                    let ports = (container.networkBindings ?? []).map { "\($0.hostPort ?? 0)->\($0.containerPort ?? 0)/\($0.protocol?.rawValue ?? "tcp")" }
                    return [
                        container.name ?? "", container.image ?? "", container.lastStatus ?? "",
                        container.exitCode.map(String.init) ?? "-", ports.isEmpty ? "-" : ports.joined(separator: ","),
                        container.reason ?? "-",
                    ]
                })
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a task (SIGTERM, then SIGKILL after its stopTimeout).")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Task ARN or id.") var task: String
        @Option(help: "Recorded as the task's stoppedReason.") var reason: String?

        func run() async throws {
            let response: StopTaskResponse = try await global.client.ecs(
                "StopTask", StopTaskRequest(cluster: cluster.name, task: task, reason: reason))
            if global.output == .json {
                Printer.json(response)
            } else {
                print("stopping \(response.task?.taskArn ?? task)")
            }
        }
    }
}

extension TaskCommand {
    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a task's container logs.",
            discussion: """
                Containers with the awslogs driver are read from CloudWatch Logs (their streams, from the task's start); \
                others are relayed from the agent that runs the task. With several containers, each line starts with the container's name.
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Task ARN or id.") var task: String
        @Option(help: "Only this container.") var container: String?
        @Flag(name: .shortAndLong, help: "Keep printing new output until interrupted.") var follow = false
        @Option(help: "Only the last N lines of each container.") var tail: Int?

        func run() async throws {
            if let streams = try await cloudWatchStreams() {
                return try await LogWindow.follow(
                    client: global.client, group: streams.group, streams: Array(streams.labels.keys), since: streams.since, tail: tail, filter: nil,
                    follow: follow, missing: "no log for task \(task) yet (its group \(streams.group) does not exist)", labels: streams.labels)
            }
            let stream = try await global.client.taskLogs(cluster: cluster.name, task: task, container: container, follow: follow, tail: tail)
            for try await chunk in stream {
                FileHandle.standardOutput.write(Data(chunk))
            }
        }

        /// When every container asked for logs with `awslogs` to one group: the group, each
        /// stream's line prefix (the container's name, when there are several), and how long ago
        /// the task began. nil otherwise (the agent relays the output).
        func cloudWatchStreams() async throws -> (group: String, labels: [String: String], since: Int)? {
            let client = global.client
            guard let found = try await describeTasks([task], client: client, cluster: cluster.name).first, let arn = found.taskArn,
                let definitionArn = found.taskDefinitionArn
            else { return nil }
            let response: DescribeTaskDefinitionResponse = try await client.ecs("DescribeTaskDefinition", DescribeTaskDefinitionRequest(taskDefinition: definitionArn))
            let containers = (response.taskDefinition?.containerDefinitions ?? []).filter { container == nil || $0.name == container }
            let taskId = arn.split(separator: "/").last.map(String.init) ?? arn
            var group: String?
            var labels: [String: String] = [:]
            for definition in containers {
                guard let log = definition.logConfiguration, log.logDriver == .awslogs, let named = log.options?["awslogs-group"],
                    group == nil || group == named, let name = definition.name,
                    let stream = log.options?["awslogs-stream-prefix"].map({ "\($0)/\(name)/\(taskId)" })
                        ?? found.containers?.first(where: { $0.name == name })?.runtimeId
                else { return nil }
                group = named
                labels[stream] = containers.count > 1 ? "\(name) | " : ""
            }
            guard let group, !labels.isEmpty else { return nil }
            let began = found.createdAt.map { Int($0.timeIntervalSince1970 * 1000) } ?? 0
            return (group, labels, max(0, Int(Date().timeIntervalSince1970 * 1000) - began) + 1000)
        }
    }
}

func describeTasks(_ arns: [String], client: APIClient, cluster: String) async throws -> [ECSTask] {
    var tasks: [ECSTask] = []
    for start in stride(from: 0, to: arns.count, by: 100) {
        let response: DescribeTasksResponse = try await client.ecs(
            "DescribeTasks", DescribeTasksRequest(cluster: cluster, tasks: Array(arns[start..<min(arns.count, start + 100)])))
        tasks += response.tasks ?? []
    }
    return tasks
}

func printTasks(_ tasks: [ECSTask]) {
    Printer.table(
        ["TASK", "TASK DEFINITION", "LAST", "DESIRED", "INSTANCE", "GROUP", "STARTED"],
        tasks.map {
            [
                shortId($0.taskArn), shortTaskDefinition($0.taskDefinitionArn), $0.lastStatus ?? "", $0.desiredStatus ?? "",
                shortId($0.containerInstanceArn), $0.group ?? "-", $0.startedAt?.shortText ?? "-",
            ]
        })
}

/// Polls until every task is RUNNING or STOPPED.
func waitForStart(_ arns: [String], client: APIClient, cluster: String, timeout: Duration = .seconds(300)) async throws -> [ECSTask] {
    let deadline = ContinuousClock.now + timeout
    while true {
        let tasks = try await describeTasks(arns, client: client, cluster: cluster)
        if tasks.allSatisfy({ $0.taskStatus == .running || $0.taskStatus == .stopped }) { return tasks }
        guard ContinuousClock.now < deadline else { throw CLIError("tasks did not start within \(timeout)") }
        try await Task.sleep(for: .milliseconds(250))
    }
}
