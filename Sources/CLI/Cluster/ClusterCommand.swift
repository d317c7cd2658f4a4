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

struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Create, list, describe and delete clusters.",
        subcommands: [Create.self, List.self, Describe.self, Delete.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a cluster (returns the existing one if it exists).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Cluster name.") var name: String = "default"
        @Option(name: .customLong("tag"), help: "A tag as key=value; repeat for more.") var tags: [String] = []
        @Option(name: .customLong("container-insights"), help: "enabled, disabled or enhanced.") var containerInsights: String?

        func run() async throws {
            let request = CreateClusterRequest(
                clusterName: name,
                tags: try parsePairs(tags, what: "Tag").map { ResourceTag(key: $0.0, value: $0.1) },
                settings: containerInsights.map { [ClusterSetting(name: .containerInsights, value: $0)] }
            )
            let response: CreateClusterResponse = try await global.client.ecs("CreateCluster", request)
            try show(response.cluster, global: global)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List clusters.", aliases: ["list"])

        @OptionGroup var global: GlobalOptions
        @Flag(name: .shortAndLong, help: "Print cluster ARNs only.") var quiet = false

        func run() async throws {
            let client = global.client
            var arns: [String] = []
            var token: String?
            repeat {
                let page: ListClustersResponse = try await client.ecs("ListClusters", ListClustersRequest(nextToken: token))
                arns += page.clusterArns ?? []
                token = page.nextToken
            } while token != nil
            if quiet {
                arns.forEach { print($0) }
                return
            }
            var clusters: [Cluster] = []
            for start in stride(from: 0, to: arns.count, by: 100) {
                let batch = Array(arns[start..<min(arns.count, start + 100)])
                let described: DescribeClustersResponse = try await client.ecs(
                    "DescribeClusters", DescribeClustersRequest(clusters: batch))
                clusters += described.clusters ?? []
            }
            if global.output == .json {
                Printer.json(clusters)
                return
            }
            Printer.table(
                ["NAME", "STATUS", "INSTANCES", "RUNNING", "PENDING", "SERVICES"],
                clusters.map {
                    [$0.clusterName ?? "", $0.status ?? "", "\($0.registeredContainerInstancesCount ?? 0)",
                     "\($0.runningTasksCount ?? 0)", "\($0.pendingTasksCount ?? 0)", "\($0.activeServicesCount ?? 0)"]
                }
            )
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one cluster with its settings, statistics and tags.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Cluster name or ARN.") var name: String = "default"

        func run() async throws {
            let response: DescribeClustersResponse = try await global.client.ecs(
                "DescribeClusters",
                DescribeClustersRequest(clusters: [name], include: [.settings, .statistics, .tags, .configurations])
            )
            guard let cluster = response.clusters?.first else { throw AWSError.clusterNotFound }
            try show(cluster, global: global)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a cluster (it must have no instances, services or tasks).", aliases: ["rm"])

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Cluster name or ARN.") var name: String

        func run() async throws {
            let response: DeleteClusterResponse = try await global.client.ecs("DeleteCluster", DeleteClusterRequest(cluster: name))
            if global.output == .json {
                Printer.json(response)
            } else {
                print("deleted \(response.cluster?.clusterArn ?? name)")
            }
        }
    }

    static func show(_ cluster: Cluster?, global: GlobalOptions) throws {
        guard let cluster else { throw CLIError("the control plane returned no cluster") }
        if global.output == .json {
            Printer.json(cluster)
            return
        }
        var pairs: [(String, String)] = [
            ("Name", cluster.clusterName ?? ""),
            ("ARN", cluster.clusterArn ?? ""),
            ("Status", cluster.status ?? ""),
            ("Instances", "\(cluster.registeredContainerInstancesCount ?? 0)"),
            ("Running tasks", "\(cluster.runningTasksCount ?? 0)"),
            ("Pending tasks", "\(cluster.pendingTasksCount ?? 0)"),
            ("Services", "\(cluster.activeServicesCount ?? 0)"),
        ]
        for setting in cluster.settings ?? [] {
            pairs.append((setting.name?.rawValue ?? "setting", setting.value ?? ""))
        }
        if let providers = cluster.capacityProviders, !providers.isEmpty {
            pairs.append(("Capacity providers", providers.joined(separator: ", ")))
        }
        for tag in cluster.tags ?? [] {
            pairs.append(("tag \(tag.key ?? "")", tag.value ?? ""))
        }
        Printer.fields(pairs)
    }
}
