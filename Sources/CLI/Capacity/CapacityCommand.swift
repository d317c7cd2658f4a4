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

/// `ecsctl capacity …`: cluster auto scaling — auto scaling groups, capacity providers, the
/// cluster's providers and a live view.
struct CapacityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capacity",
        abstract: "Cluster auto scaling: auto scaling groups, capacity providers and a live view of capacity.",
        subcommands: [GroupCommand.self, ProviderCommand.self, Use.self, Status.self, Watch.self]
    )

    static let groupsPath = "/v1/autoscaling/groups"

    static func groups(_ client: APIClient) async throws -> [AutoScalingGroupRecord] {
        let view: AutoScalingGroupsView = try await client.lambda("GET", groupsPath, Optional<String>.none)
        return view.AutoScalingGroups
    }

    struct Reservations: Decodable {
        var capacityProviders: [CapacityReservation]
    }

    static func reservations(_ client: APIClient) async throws -> [CapacityReservation] {
        let view: Reservations = try await client.lambda("GET", "/v1/metrics/capacity-providers", Optional<String>.none)
        return view.capacityProviders
    }

    // MARK: Groups

    struct GroupCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "group", abstract: "Auto scaling groups: instances launched and terminated by a launcher.",
            subcommands: [Create.self, List.self, Describe.self, Set.self, Delete.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Create a group. Launchers: --local (ecs-agent processes on the ecsd host), --command PROGRAM [ARGS…] or --webhook URL.",
                discussion: """
                    A command is run with STEVEDORE_ACTION (launch or terminate), STEVEDORE_INSTANCE_ID, STEVEDORE_GROUP, \
                    STEVEDORE_CLUSTER and STEVEDORE_ENDPOINT in its environment; a webhook gets the same as a JSON POST. \
                    On launch, start an ecs-agent with ECS_CLUSTER, ECS_BACKEND_HOST and ECS_INSTANCE_ID set from them; \
                    exit 0 (or answer 2xx) when done.
                    """)

            @OptionGroup var global: GlobalOptions
            @Argument(help: "Group name.") var name: String
            @Option(help: "Fewest instances.") var min = 0
            @Option(help: "Most instances.") var max: Int
            @Option(help: "Instances to start with (default: --min).") var desired: Int?
            @Flag(help: "Start ecs-agent processes on the control plane's host.") var local = false
            @Option(help: "A program (and arguments, space-separated) that launches and terminates instances.") var command: String?
            @Option(help: "A URL to POST launch and terminate requests to.") var webhook: String?
            @Option(name: .customLong("agent-config"), help: "KEY=VALUE ecs.config settings for --local agents (repeatable).")
            var agentConfig: [String] = []

            func run() async throws {
                let chosen = [local, command != nil, webhook != nil].filter { $0 }.count
                guard chosen == 1 else { throw ValidationError("Choose one launcher: --local, --command or --webhook.") }
                let config = try parsePairs(agentConfig, what: "--agent-config")
                let launcher =
                    local
                    ? AutoScalingGroupRecord.Launcher(type: .local, agentConfig: config.isEmpty ? nil : Dictionary(config, uniquingKeysWith: { $1 }))
                    : command != nil
                        ? AutoScalingGroupRecord.Launcher(type: .command, command: command!.split(separator: " ").map(String.init))
                        : AutoScalingGroupRecord.Launcher(type: .webhook, url: webhook)
                let group: AutoScalingGroupRecord = try await global.client.lambda(
                    "POST", groupsPath, AutoScalingGroupInput(name: name, minSize: min, maxSize: max, desiredCapacity: desired, launcher: launcher))
                try show(group, global: global)
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "ls", abstract: "List groups.", aliases: ["list"])

            @OptionGroup var global: GlobalOptions

            func run() async throws {
                let all = try await groups(global.client)
                if global.output == .json {
                    Printer.json(all)
                    return
                }
                Printer.table(
                    ["NAME", "LAUNCHER", "MIN", "MAX", "DESIRED", "IN SERVICE", "PENDING", "TERMINATING"],
                    all.map { group in
                        [
                            group.AutoScalingGroupName + (group.Status.map { " (\($0))" } ?? ""), group.Launcher.Type.rawValue, "\(group.MinSize)",
                            "\(group.MaxSize)", "\(group.DesiredCapacity)", "\(group.Instances.filter { $0.LifecycleState == .inService }.count)",
                            "\(group.Instances.filter { $0.LifecycleState == .pending }.count)",
                            "\(group.Instances.filter { $0.LifecycleState.rawValue.hasPrefix("Terminating") }.count)",
                        ]
                    })
            }
        }

        struct Describe: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "A group's instances and recent activities.")

            @OptionGroup var global: GlobalOptions
            @Argument(help: "Group name.") var name: String

            func run() async throws {
                let group: AutoScalingGroupRecord = try await global.client.lambda("GET", "\(groupsPath)/\(name)", Optional<String>.none)
                try show(group, global: global)
            }
        }

        struct Set: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Change a group's min, max or desired capacity.")

            @OptionGroup var global: GlobalOptions
            @Argument(help: "Group name.") var name: String
            @Option var min: Int?
            @Option var max: Int?
            @Option var desired: Int?

            func run() async throws {
                let group: AutoScalingGroupRecord = try await global.client.lambda(
                    "PUT", "\(groupsPath)/\(name)", AutoScalingGroupInput(minSize: min, maxSize: max, desiredCapacity: desired))
                try show(group, global: global)
            }
        }

        struct Delete: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a group (--force drains and terminates its instances first).")

            @OptionGroup var global: GlobalOptions
            @Argument(help: "Group name.") var name: String
            @Flag var force = false

            func run() async throws {
                _ = try await global.client.rest("DELETE", "\(groupsPath)/\(name)\(force ? "?force=true" : "")")
                print("\(name): \(force ? "deleting" : "deleted")")
            }
        }

        static func show(_ group: AutoScalingGroupRecord, global: GlobalOptions) throws {
            if global.output == .json {
                Printer.json(group)
                return
            }
            Printer.fields([
                ("Name", group.AutoScalingGroupName), ("ARN", group.AutoScalingGroupARN), ("Launcher", group.Launcher.Type.rawValue),
                ("Min / max / desired", "\(group.MinSize) / \(group.MaxSize) / \(group.DesiredCapacity)"),
            ])
            if !group.Instances.isEmpty {
                print("")
                Printer.table(
                    ["INSTANCE", "STATE", "HEALTH", "PROTECTED", "LAUNCHED", "CONTAINER INSTANCE"],
                    group.Instances.map {
                        [
                            $0.InstanceId, $0.LifecycleState.rawValue, $0.HealthStatus, $0.ProtectedFromScaleIn ? "yes" : "no", $0.LaunchTime.shortText,
                            shortId($0.ContainerInstanceArn),
                        ]
                    })
            }
            if !group.Activities.isEmpty {
                print("\nActivities:")
                for activity in group.Activities.prefix(10) {
                    print("\(activity.StartTime.shortText)  \(activity.StatusCode)  \(activity.Description)\(activity.StatusMessage.map { ": \($0)" } ?? "")")
                }
            }
        }
    }

    // MARK: Providers

    struct ProviderCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "provider", abstract: "Capacity providers: a group with managed scaling and termination protection.",
            subcommands: [Create.self, List.self, Delete.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Create a capacity provider over an auto scaling group.")

            @OptionGroup var global: GlobalOptions
            @Argument(help: "Provider name.") var name: String
            @Option(help: "The auto scaling group (name or ARN).") var group: String
            @Flag(name: .customLong("managed-scaling"), help: "Let the cluster's needs set the group's desired capacity.") var managedScaling = false
            @Option(name: .customLong("target-capacity"), help: "Percent of instances tasks should use (1-100).") var targetCapacity: Int?
            @Option(name: .customLong("min-step"), help: "Fewest instances to add or remove at once.") var minimumStep: Int?
            @Option(name: .customLong("max-step"), help: "Most instances to add or remove at once.") var maximumStep: Int?
            @Flag(name: .customLong("termination-protection"), help: "Never remove an instance with tasks (needs --managed-scaling).")
            var terminationProtection = false

            func run() async throws {
                let response: CreateCapacityProviderResponse = try await global.client.ecs(
                    "CreateCapacityProvider",
                    CreateCapacityProviderRequest(
                        name: name,
                        autoScalingGroupProvider: AutoScalingGroupProvider(
                            autoScalingGroupArn: group,
                            managedScaling: ManagedScaling(
                                status: managedScaling ? .enabled : .disabled, targetCapacity: targetCapacity,
                                minimumScalingStepSize: minimumStep, maximumScalingStepSize: maximumStep),
                            managedTerminationProtection: terminationProtection ? .enabled : .disabled)))
                if global.output == .json {
                    Printer.json(response)
                } else {
                    print("\(name): \(response.capacityProvider?.status?.rawValue ?? "ACTIVE") over \(group)")
                }
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "ls", abstract: "List capacity providers.", aliases: ["list"])

            @OptionGroup var global: GlobalOptions

            func run() async throws {
                var providers: [CapacityProvider] = []
                var token: String?
                repeat {
                    let page: DescribeCapacityProvidersResponse = try await global.client.ecs(
                        "DescribeCapacityProviders", DescribeCapacityProvidersRequest(nextToken: token))
                    providers += page.capacityProviders ?? []
                    token = page.nextToken
                } while token != nil
                if global.output == .json {
                    Printer.json(providers)
                    return
                }
                Printer.table(
                    ["NAME", "STATUS", "GROUP", "MANAGED SCALING", "TARGET %", "TERMINATION PROTECTION"],
                    providers.map { provider in
                        let group = provider.autoScalingGroupProvider
                        return [
                            provider.name ?? "", provider.status?.rawValue ?? "", shortId(group?.autoScalingGroupArn),
                            group?.managedScaling?.status?.rawValue ?? "-", "\(group?.managedScaling?.targetCapacity ?? 100)",
                            group?.managedTerminationProtection?.rawValue ?? "-",
                        ]
                    })
            }
        }

        struct Delete: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a capacity provider.")

            @OptionGroup var global: GlobalOptions
            @Argument(help: "Provider name.") var name: String

            func run() async throws {
                let _: DeleteCapacityProviderResponse = try await global.client.ecs(
                    "DeleteCapacityProvider", DeleteCapacityProviderRequest(capacityProvider: name))
                print("\(name): deleted")
            }
        }
    }

    struct Use: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a cluster's capacity providers and default strategy: PROVIDER[:weight[:base]] …")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Providers, each with an optional weight (default 1) and base (default 0).") var providers: [String] = []

        func run() async throws {
            let items = try providers.map { text -> CapacityProviderStrategyItem in
                let parts = text.split(separator: ":").map(String.init)
                guard (1...3).contains(parts.count), let weight = parts.count > 1 ? Int(parts[1]) : 1, let base = parts.count > 2 ? Int(parts[2]) : 0
                else { throw ValidationError("'\(text)' is not PROVIDER[:weight[:base]].") }
                return CapacityProviderStrategyItem(capacityProvider: parts[0], weight: weight, base: base)
            }
            let response: PutClusterCapacityProvidersResponse = try await global.client.ecs(
                "PutClusterCapacityProviders",
                PutClusterCapacityProvidersRequest(cluster: cluster.name, capacityProviders: items.map(\.capacityProvider), defaultCapacityProviderStrategy: items))
            if global.output == .json {
                Printer.json(response)
            } else {
                print("\(cluster.name): capacity providers \(items.map(\.capacityProvider).joined(separator: ", "))")
            }
        }
    }

    static func statusRows(_ reservations: [CapacityReservation], _ groups: [AutoScalingGroupRecord]) -> [[String]] {
        reservations.map { reservation in
            let group = groups.first { $0.AutoScalingGroupName == reservation.autoScalingGroup }
            let inService = group?.Instances.filter { $0.LifecycleState == .inService }.count ?? 0
            return [
                reservation.capacityProvider, reservation.cluster ?? "-", reservation.autoScalingGroup ?? "-",
                String(format: "%.0f%%", reservation.capacityProviderReservation), "\(reservation.targetCapacity)%",
                "\(reservation.instancesNeeded)/\(reservation.instances)", "\(reservation.desiredCapacity)", "\(inService)",
                "\(reservation.provisioningTasks)",
            ]
        }
    }

    static let statusHeader = ["PROVIDER", "CLUSTER", "GROUP", "RESERVATION", "TARGET", "M/N", "DESIRED", "IN SERVICE", "PROVISIONING TASKS"]

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each provider's CapacityProviderReservation, instances and waiting tasks.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let reservations = try await CapacityCommand.reservations(global.client)
            if global.output == .json {
                Printer.json(reservations)
                return
            }
            Printer.table(statusHeader, statusRows(reservations, try await groups(global.client)))
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Follow capacity: a status line per provider when it changes, and group activities as they happen.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "Seconds between refreshes.") var interval = 1.0
        @Option(help: "Stop after this many seconds (default: until interrupted).") var timeout: Double?

        func run() async throws {
            let client = global.client
            let deadline = timeout.map { Date().addingTimeInterval($0) }
            var seen = Swift.Set<String>()
            var first = true
            var last: [String: String] = [:]
            while deadline.map({ Date() < $0 }) ?? true {
                let all = try await groups(client)
                for activity in all.flatMap(\.Activities).sorted(by: { $0.StartTime < $1.StartTime }) where !seen.contains(activity.ActivityId + activity.StatusCode) {
                    seen.insert(activity.ActivityId + activity.StatusCode)
                    if !first {
                        print("\(activity.StartTime.shortText)  \(activity.AutoScalingGroupName)  \(activity.StatusCode)  \(activity.Description)")
                    }
                }
                first = false
                for row in statusRows(try await reservations(client), all) {
                    let line = "reservation \(row[3]) (target \(row[4]))  M/N \(row[5])  desired \(row[6])  in service \(row[7])  provisioning tasks \(row[8])"
                    if last[row[0]] != line {
                        print("\(Date().shortText)  \(row[0])  \(line)")
                        last[row[0]] = line
                    }
                }
                fflushStandardOutput()  // a live view, also through a pipe
                try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
            }
        }
    }
}
