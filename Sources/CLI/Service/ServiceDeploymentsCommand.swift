import ArgumentParser
import ECSShapes
import Foundation
import StevedoreClient
import StevedoreCore

extension ServiceCommand {
    struct Deployments: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a service's deployments (ListServiceDeployments), newest first, with what each deployed.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Service name or ARN.") var name: String
        @Option(help: "How many, newest first (1-100).") var limit = 20

        func run() async throws {
            let listed: ListServiceDeploymentsResponse = try await global.client.ecs(
                "ListServiceDeployments", ListServiceDeploymentsRequest(service: name, cluster: cluster.name, maxResults: limit))
            let briefs = listed.serviceDeployments ?? []
            if global.output == .json {
                Printer.json(listed)
                return
            }
            // What each deployed: its target revision's task definition.
            var definitions: [String: String] = [:]
            let revisions = Array(Set(briefs.compactMap(\.targetServiceRevisionArn))).sorted()
            for start in stride(from: 0, to: revisions.count, by: 20) {
                let described: DescribeServiceRevisionsResponse = try await global.client.ecs(
                    "DescribeServiceRevisions", DescribeServiceRevisionsRequest(serviceRevisionArns: Array(revisions[start..<min(revisions.count, start + 20)])))
                for revision in described.serviceRevisions ?? [] {
                    definitions[revision.serviceRevisionArn ?? ""] = shortTaskDefinition(revision.taskDefinition)
                }
            }
            Printer.table(
                ["DEPLOYMENT", "STATUS", "TASK DEFINITION", "STARTED", "FINISHED", "REASON"],
                briefs.map {
                    [
                        shortId($0.serviceDeploymentArn), $0.status?.rawValue ?? "-", definitions[$0.targetServiceRevisionArn ?? ""] ?? "-",
                        $0.startedAt?.shortText ?? "-", $0.finishedAt?.shortText ?? "-", $0.statusReason ?? "",
                    ]
                })
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Roll a service's deployment in progress back to the revision before it (StopServiceDeployment).")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Service name or ARN.") var name: String

        func run() async throws {
            let service = try await fetchService(name, client: global.client, cluster: cluster.name)
            guard let current = service.currentServiceDeployment else {
                throw CLIError("\(name) has no deployment to roll back (services deployed through task sets roll back by promoting a set)")
            }
            let response: StopServiceDeploymentResponse = try await global.client.ecs(
                "StopServiceDeployment", StopServiceDeploymentRequest(serviceDeploymentArn: current, stopType: .rollback))
            if global.output == .json {
                Printer.json(response)
            } else {
                print("\(shortId(response.serviceDeploymentArn)): ROLLBACK_REQUESTED (follow it with: ecsctl service deployments \(name))")
            }
        }
    }
}
