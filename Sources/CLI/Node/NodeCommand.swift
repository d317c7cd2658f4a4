import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import Archives
import ArgumentParser
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import LambdaShapes
import StevedoreClient
import StevedoreCore

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Container instances: list, describe, drain and activate.",
        subcommands: [List.self, Describe.self, Drain.self, Activate.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List container instances.", aliases: ["list"])

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Option(help: "Cluster query language filter, e.g. 'attribute:ecs.availability-zone == us-east-1a'.") var filter: String?
        @Option(help: "ACTIVE, DRAINING, REGISTERING, DEREGISTERING or INACTIVE.") var status: String?
        @Flag(name: .shortAndLong, help: "Print ARNs only.") var quiet = false

        func run() async throws {
            let statusValue = try status.map { text in
                guard let value = ContainerInstanceStatus(rawValue: text) else {
                    throw ValidationError(ContainerInstanceStatus.invalidValueMessage(text))
                }
                return value
            }
            let client = global.client
            var arns: [String] = []
            var token: String?
            repeat {
                let page: ListContainerInstancesResponse = try await client.ecs(
                    "ListContainerInstances",
                    ListContainerInstancesRequest(cluster: cluster.name, filter: filter, nextToken: token, status: statusValue))
                arns += page.containerInstanceArns ?? []
                token = page.nextToken
            } while token != nil
            if quiet {
                arns.forEach { print($0) }
                return
            }
            let instances = try await describe(arns, client: client, cluster: cluster.name)
            if global.output == .json {
                Printer.json(instances)
                return
            }
            Printer.table(
                ["ID", "STATUS", "AGENT", "RUNNING", "PENDING", "CPU FREE", "MEMORY FREE", "ZONE"],
                instances.map { instance in
                    let zone = instance.attributes?.first { $0.name == "ecs.availability-zone" }?.value ?? "-"
                    return [
                        shortId(instance.containerInstanceArn), instance.status ?? "",
                        instance.agentConnected == true ? "connected" : "disconnected",
                        "\(instance.runningTasksCount ?? 0)", "\(instance.pendingTasksCount ?? 0)",
                        "\(resourceValue("CPU", instance.remainingResources))/\(resourceValue("CPU", instance.registeredResources))",
                        "\(resourceValue("MEMORY", instance.remainingResources))/\(resourceValue("MEMORY", instance.registeredResources))",
                        zone,
                    ]
                })
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a container instance: resources, attributes, version.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Container instance ARN or id.") var instance: String

        func run() async throws {
            guard let found = try await describe([instance], client: global.client, cluster: cluster.name).first else {
                throw CLIError("container instance '\(instance)' not found in cluster \(cluster.name)")
            }
            if global.output == .json {
                Printer.json(found)
                return
            }
            var pairs: [(String, String)] = [
                ("ARN", found.containerInstanceArn ?? ""),
                ("Instance id", found.ec2InstanceId ?? ""),
                ("Status", found.status ?? ""),
                ("Agent", found.agentConnected == true ? "connected" : "disconnected"),
                ("Agent version", found.versionInfo?.agentVersion ?? "-"),
                ("Docker version", found.versionInfo?.dockerVersion ?? "-"),
                ("Registered", found.registeredAt?.shortText ?? "-"),
                ("Running / pending", "\(found.runningTasksCount ?? 0) / \(found.pendingTasksCount ?? 0)"),
                ("CPU free / total", "\(resourceValue("CPU", found.remainingResources)) / \(resourceValue("CPU", found.registeredResources))"),
                ("Memory free / total", "\(resourceValue("MEMORY", found.remainingResources)) / \(resourceValue("MEMORY", found.registeredResources)) MiB"),
                ("Ports in use", (found.remainingResources?.first { $0.name == "PORTS" }?.stringSetValue ?? []).joined(separator: ",")),
            ]
            for attribute in (found.attributes ?? []) where attribute.value != nil {
                pairs.append(("attribute \(attribute.name)", attribute.value ?? ""))
            }
            let capabilities = (found.attributes ?? []).filter { $0.value == nil }.count
            pairs.append(("Capabilities", "\(capabilities) (see --output json)"))
            Printer.fields(pairs)
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set instances DRAINING: no new tasks; service tasks are replaced elsewhere within deployment limits.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Container instance ARNs or ids.") var instances: [String]

        func run() async throws { try await setState(.draining, instances, global: global, cluster: cluster.name) }
    }

    struct Activate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set instances ACTIVE again.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Container instance ARNs or ids.") var instances: [String]

        func run() async throws { try await setState(.active, instances, global: global, cluster: cluster.name) }
    }

    static func setState(_ status: ContainerInstanceStatus, _ instances: [String], global: GlobalOptions, cluster: String) async throws {
        let response: UpdateContainerInstancesStateResponse = try await global.client.ecs(
            "UpdateContainerInstancesState",
            UpdateContainerInstancesStateRequest(cluster: cluster, containerInstances: instances, status: status))
        if global.output == .json {
            Printer.json(response)
        } else {
            for instance in response.containerInstances ?? [] {
                print("\(shortId(instance.containerInstanceArn)) \(instance.status ?? "")")
            }
        }
        let failures = response.failures ?? []
        if !failures.isEmpty {
            throw CLIError(failures.map { "\($0.arn ?? ""): \($0.reason ?? "")" }.joined(separator: "; "))
        }
    }
}

func describe(_ arns: [String], client: APIClient, cluster: String) async throws -> [ContainerInstance] {
    var instances: [ContainerInstance] = []
    for start in stride(from: 0, to: arns.count, by: 100) {
        let response: DescribeContainerInstancesResponse = try await client.ecs(
            "DescribeContainerInstances",
            DescribeContainerInstancesRequest(cluster: cluster, containerInstances: Array(arns[start..<min(arns.count, start + 100)])))
        instances += response.containerInstances ?? []
    }
    return instances
}
