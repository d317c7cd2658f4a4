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

struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract: "Create, inspect, update, scale and delete services; wait for them to settle.",
        subcommands: [Create.self, List.self, Describe.self, Update.self, Scale.self, Delete.self, WaitStable.self, Deployments.self, Rollback.self]
    )

    /// Deployment flags shared by create and update.
    struct DeploymentOptions: ParsableArguments {
        @Option(name: .customLong("min-healthy-percent"), help: "Lower bound of healthy tasks during deployments (% of desired).")
        var minimumHealthyPercent: Int?
        @Option(name: .customLong("max-percent"), help: "Upper bound of running plus pending tasks during deployments (% of desired).")
        var maximumPercent: Int?
        @Flag(name: .customLong("circuit-breaker"), help: "Fail a deployment whose tasks keep failing.")
        var circuitBreaker = false
        @Flag(help: "With --circuit-breaker: roll back to the last completed deployment when it trips.")
        var rollback = false

        var configuration: DeploymentConfiguration? {
            guard minimumHealthyPercent != nil || maximumPercent != nil || circuitBreaker else { return nil }
            return DeploymentConfiguration(
                deploymentCircuitBreaker: circuitBreaker ? DeploymentCircuitBreaker(enable: true, rollback: rollback) : nil,
                maximumPercent: maximumPercent, minimumHealthyPercent: minimumHealthyPercent)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a service that keeps tasks of a task definition running.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @OptionGroup var placement: PlacementOptions
        @OptionGroup var deployment: DeploymentOptions
        @Argument(help: "Service name.") var name: String
        @Option(name: [.customLong("task-definition"), .short], help: "family, family:revision or ARN.") var taskDefinition: String
        @Option(name: .customLong("desired-count"), help: "Tasks to keep running (not for --daemon).") var desiredCount: Int?
        @Flag(help: "One task on every eligible instance (DAEMON scheduling).") var daemon = false

        func run() async throws {
            let response: CreateServiceResponse = try await global.client.ecs(
                "CreateService",
                CreateServiceRequest(
                    cluster: cluster.name, serviceName: name, taskDefinition: taskDefinition,
                    desiredCount: daemon ? nil : (desiredCount ?? 1),
                    deploymentConfiguration: deployment.configuration,
                    placementConstraints: try placement.parsedConstraints(), placementStrategy: try placement.parsedStrategies(),
                    schedulingStrategy: daemon ? .daemon : .replica))
            try show(response.service, global: global)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List services.", aliases: ["list"])

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Flag(name: .shortAndLong, help: "Print ARNs only.") var quiet = false

        func run() async throws {
            var arns: [String] = []
            var token: String?
            repeat {
                let page: ListServicesResponse = try await global.client.ecs(
                    "ListServices", ListServicesRequest(cluster: cluster.name, nextToken: token))
                arns += page.serviceArns ?? []
                token = page.nextToken
            } while token != nil
            if quiet {
                arns.forEach { print($0) }
                return
            }
            var services: [ECSService] = []
            for start in stride(from: 0, to: arns.count, by: 10) {
                let response: DescribeServicesResponse = try await global.client.ecs(
                    "DescribeServices", DescribeServicesRequest(cluster: cluster.name, services: Array(arns[start..<min(arns.count, start + 10)])))
                services += response.services ?? []
            }
            if global.output == .json {
                Printer.json(services)
                return
            }
            Printer.table(
                ["NAME", "STATUS", "DESIRED", "RUNNING", "PENDING", "TASK DEFINITION", "DEPLOYMENT"],
                services.map { service in
                    let primary = service.deployments?.first { $0.deploymentStatus == .primary }
                    return [
                        service.serviceName ?? "", service.status ?? "", "\(service.desiredCount ?? 0)", "\(service.runningCount ?? 0)",
                        "\(service.pendingCount ?? 0)", shortTaskDefinition(service.taskDefinition),
                        primary?.rolloutState?.rawValue ?? "-",
                    ]
                })
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a service, its deployments and recent events.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Service name or ARN.") var name: String
        @Option(help: "How many recent events to show.") var events = 10

        func run() async throws {
            let service = try await fetchService(name, client: global.client, cluster: cluster.name)
            try show(service, global: global, events: events)
            if global.output == .table, !(service.loadBalancers ?? []).isEmpty {
                try await showTargets(service)
            }
        }

        /// The service's tasks as its target groups see them (as ELB's DescribeTargetHealth would).
        func showTargets(_ service: ECSService) async throws {
            var arns: [String] = []
            for status in ["RUNNING", "STOPPED"] {
                let listed: ListTasksResponse = try await global.client.ecs(
                    "ListTasks", ListTasksRequest(cluster: cluster.name, serviceName: service.serviceName, desiredStatus: DesiredStatus(rawValue: status)))
                arns += listed.taskArns ?? []
            }
            var tasks: [ECSTask] = []
            for chunk in stride(from: 0, to: arns.count, by: 100).map({ Array(arns[$0..<min($0 + 100, arns.count)]) }) {
                let described: DescribeTasksResponse = try await global.client.ecs("DescribeTasks", DescribeTasksRequest(cluster: cluster.name, tasks: chunk))
                tasks += described.tasks ?? []
            }
            var rows: [[String]] = []
            for balancer in service.loadBalancers ?? [] {
                for task in tasks.sorted(by: { ($0.taskArn ?? "") < ($1.taskArn ?? "") }) {
                    guard let container = task.containers?.first(where: { $0.name == balancer.containerName }),
                        let binding = container.networkBindings?.first(where: { $0.containerPort == balancer.containerPort })
                    else { continue }
                    let state: String
                    switch task.lastStatus {
                    case "DEACTIVATING": state = "draining"
                    case "RUNNING" where task.desiredStatus == "RUNNING":
                        state = container.healthStatus == .unhealthy ? "unhealthy" : container.healthStatus == .unknown ? "initial" : "healthy"
                    default: continue
                    }
                    let host = binding.bindIP.flatMap { $0 == "0.0.0.0" ? nil : $0 } ?? "(instance)"
                    rows.append([shortId(balancer.targetGroupArn), shortId(task.taskArn), "\(host):\(binding.hostPort ?? 0)", state])
                }
            }
            print("")
            Printer.table(["TARGET GROUP", "TASK", "TARGET", "HEALTH"], rows)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a service: task definition (starts a rolling deployment), count, deployment or placement settings.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @OptionGroup var placement: PlacementOptions
        @OptionGroup var deployment: DeploymentOptions
        @Argument(help: "Service name or ARN.") var name: String
        @Option(name: [.customLong("task-definition"), .short], help: "family, family:revision or ARN.") var taskDefinition: String?
        @Option(name: .customLong("desired-count")) var desiredCount: Int?
        @Flag(name: .customLong("force-new-deployment"), help: "Replace every task even if nothing changed.") var force = false

        func run() async throws {
            let response: UpdateServiceResponse = try await global.client.ecs(
                "UpdateService",
                UpdateServiceRequest(
                    cluster: cluster.name, service: name, desiredCount: desiredCount, taskDefinition: taskDefinition,
                    deploymentConfiguration: deployment.configuration, placementConstraints: try placement.parsedConstraints(),
                    placementStrategy: try placement.parsedStrategies(), forceNewDeployment: force ? true : nil))
            try show(response.service, global: global)
        }
    }

    struct Scale: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a service's desired count.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Service name or ARN.") var name: String
        @Argument(help: "Desired count.") var count: Int

        func run() async throws {
            let response: UpdateServiceResponse = try await global.client.ecs(
                "UpdateService", UpdateServiceRequest(cluster: cluster.name, service: name, desiredCount: count))
            if global.output == .json {
                Printer.json(response)
            } else {
                print("\(response.service?.serviceName ?? name): desired \(response.service?.desiredCount ?? count)")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a service (scale it to 0 first, or use --force).", aliases: ["rm"])

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Service name or ARN.") var name: String
        @Flag(help: "Delete even if tasks are still desired: they are stopped.") var force = false

        func run() async throws {
            let response: DeleteServiceResponse = try await global.client.ecs(
                "DeleteService", DeleteServiceRequest(cluster: cluster.name, service: name, force: force ? true : nil))
            if global.output == .json {
                Printer.json(response)
            } else {
                print("\(response.service?.serviceName ?? name): \(response.service?.status ?? "DRAINING")")
            }
        }
    }

    struct WaitStable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "wait-stable",
            abstract: "Follow a service until its deployment completes and it runs its desired count.",
            discussion: "Exits 0 when stable, 1 when the deployment failed, 2 on timeout.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Service name or ARN.") var name: String
        @Option(help: "Seconds to wait.") var timeout = 600

        func run() async throws {
            let deadline = ContinuousClock.now + .seconds(timeout)
            let live = isatty(STDOUT_FILENO) == 1
            var seenEvents = Set<String>()
            var first = true
            var lastLine = ""
            while true {
                let service = try await fetchService(name, client: global.client, cluster: cluster.name)
                for event in (service.events ?? []).reversed() where !seenEvents.contains(event.id ?? "") {
                    seenEvents.insert(event.id ?? "")
                    if !first {
                        if live { print("\r\u{1B}[K", terminator: "") }
                        print("\(event.createdAt?.shortText ?? "")  \(event.message ?? "")")
                    }
                }
                first = false
                let progress = Self.progress(service)
                if live {
                    print("\r\u{1B}[K\(progress)", terminator: "")
                    fflushStandardOutput()
                } else if progress != lastLine {
                    print(progress)
                }
                lastLine = progress
                let primary = service.deployments?.first { $0.deploymentStatus == .primary }
                if primary?.rolloutState == .failed {
                    if live { print("") }
                    FileHandle.standardError.write(Data("deployment failed: \(primary?.rolloutStateReason ?? "")\n".utf8))
                    throw ExitCode(1)
                }
                if Self.isStable(service) {
                    if live { print("") }
                    print("\(service.serviceName ?? name) is stable: \(service.runningCount ?? 0)/\(service.desiredCount ?? 0) running")
                    return
                }
                if ContinuousClock.now >= deadline {
                    if live { print("") }
                    FileHandle.standardError.write(Data("timed out after \(timeout)s waiting for \(name) to become stable\n".utf8))
                    throw ExitCode(2)
                }
                try await Task.sleep(for: .milliseconds(500))
            }
        }

        static func isStable(_ service: ECSService) -> Bool {
            let deployments = service.deployments ?? []
            return deployments.count == 1 && deployments[0].rolloutState == .completed
                && service.runningCount == service.desiredCount && (service.pendingCount ?? 0) == 0
        }

        static func progress(_ service: ECSService) -> String {
            let deployments = (service.deployments ?? []).map { deployment in
                "\(deployment.status ?? "") \(shortTaskDefinition(deployment.taskDefinition)) \(deployment.runningCount ?? 0)/\(deployment.desiredCount ?? 0)\(deployment.rolloutState.map { " " + $0.rawValue } ?? "")"
            }
            let bar = progressBar(running: service.runningCount ?? 0, desired: service.desiredCount ?? 0)
            return "\(service.serviceName ?? "") \(bar) \(service.runningCount ?? 0)/\(service.desiredCount ?? 0) running, \(service.pendingCount ?? 0) pending | \(deployments.joined(separator: " | "))"
        }

        static func progressBar(running: Int, desired: Int, width: Int = 20) -> String {
            let filled = desired == 0 ? width : min(width, running * width / max(desired, 1))
            return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
        }
    }

    static func show(_ service: ECSService?, global: GlobalOptions, events: Int = 5) throws {
        guard let service else { throw CLIError("the control plane returned no service") }
        if global.output == .json {
            Printer.json(service)
            return
        }
        let configuration = service.deploymentConfiguration
        Printer.fields([
            ("Service", service.serviceName ?? ""),
            ("ARN", service.serviceArn ?? ""),
            ("Status", service.status ?? ""),
            ("Scheduling", service.schedulingStrategy?.rawValue ?? "REPLICA"),
            ("Task definition", shortTaskDefinition(service.taskDefinition)),
            ("Desired / running / pending", "\(service.desiredCount ?? 0) / \(service.runningCount ?? 0) / \(service.pendingCount ?? 0)"),
            ("Deployment limits", "min \(configuration?.minimumHealthyPercent ?? 100)% max \(configuration?.maximumPercent ?? 200)%"),
            ("Circuit breaker", configuration?.deploymentCircuitBreaker.map { $0.enable ? ($0.rollback ? "on, rollback" : "on") : "off" } ?? "off"),
            ("Placement", (service.placementStrategy ?? []).map { "\($0.type?.rawValue ?? ""):\($0.field ?? "")" }.joined(separator: ", ")),
        ])
        print("")
        if service.deploymentController?.type == .external {
            // Deployed through task sets: each at its share of the desired count.
            Printer.table(
                ["TASK SET", "STATUS", "TASK DEFINITION", "SCALE", "DESIRED", "RUNNING", "PENDING", "STABILITY"],
                (service.taskSets ?? []).map {
                    [
                        $0.id ?? "", $0.status ?? "", shortTaskDefinition($0.taskDefinition), percentText($0.scale?.value ?? 0),
                        "\($0.computedDesiredCount ?? 0)", "\($0.runningCount ?? 0)", "\($0.pendingCount ?? 0)", $0.stabilityStatus?.rawValue ?? "-",
                    ]
                })
        } else {
            Printer.table(
                ["DEPLOYMENT", "STATUS", "TASK DEFINITION", "DESIRED", "RUNNING", "PENDING", "FAILED", "ROLLOUT"],
                (service.deployments ?? []).map {
                    [
                        $0.id ?? "", $0.status ?? "", shortTaskDefinition($0.taskDefinition), "\($0.desiredCount ?? 0)", "\($0.runningCount ?? 0)",
                        "\($0.pendingCount ?? 0)", "\($0.failedTasks ?? 0)", $0.rolloutState?.rawValue ?? "-",
                    ]
                })
        }
        let recent = (service.events ?? []).prefix(events)
        if !recent.isEmpty {
            print("")
            for event in recent { print("\(event.createdAt?.shortText ?? "")  \(event.message ?? "")") }
        }
    }
}

/// 25 → "25%", 12.5 → "12.5%".
func percentText(_ value: Double) -> String {
    value.rounded() == value && abs(value) < 1e15 ? "\(Int(value))%" : "\(value)%"
}

func fetchService(_ name: String, client: APIClient, cluster: String) async throws -> ECSService {
    let response: DescribeServicesResponse = try await client.ecs(
        "DescribeServices", DescribeServicesRequest(cluster: cluster, services: [name]))
    guard let service = response.services?.first else {
        throw AWSError(type: "ServiceNotFoundException", message: "Service '\(name)' not found in cluster \(cluster).")
    }
    return service
}

/// Flushes stdio (all streams: `fflush(NULL)`), so a progress line without a newline shows.
func fflushStandardOutput() {
    fflush(nil)
}
