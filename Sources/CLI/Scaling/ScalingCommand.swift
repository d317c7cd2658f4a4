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

/// `ecsctl scaling …`: service auto scaling through the Application Auto Scaling API.
struct ScalingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling",
        abstract: "Service auto scaling: scalable targets, target tracking, schedules, activities, metrics and a live view.",
        subcommands: [
            Register.self, TargetTracking.self, Schedule.self, List.self, Activities.self, Metrics.self, Watch.self, Deregister.self,
        ]
    )

    static let target = "AnyScaleFrontendService"

    static func resourceId(cluster: String, service: String) -> String { "service/\(cluster)/\(service)" }

    static func call<Input: Encodable, Output: Decodable>(_ client: APIClient, _ operation: String, _ input: Input) async throws -> Output {
        try await client.json(target: "\(target).\(operation)", input)
    }

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a service scalable between a minimum and a maximum desired count.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Service name.") var service: String
        @Option(help: "Lowest desired count.") var min: Int
        @Option(help: "Highest desired count.") var max: Int
        @Flag(name: .customLong("suspend"), help: "Suspend dynamic and scheduled scaling.") var suspend = false
        @Flag(name: .customLong("resume"), help: "Resume dynamic and scheduled scaling.") var resume = false

        func run() async throws {
            let suspended = suspend || resume
                ? AASSuspendedState(DynamicScalingInSuspended: suspend, DynamicScalingOutSuspended: suspend, ScheduledScalingSuspended: suspend) : nil
            let response: AASRegisterScalableTargetResponse = try await call(
                global.client, "RegisterScalableTarget",
                AASRegisterScalableTargetRequest(
                    ServiceNamespace: .ecs, ResourceId: resourceId(cluster: cluster.name, service: service),
                    ScalableDimension: .ecsServiceDesiredCount, MinCapacity: min, MaxCapacity: max, SuspendedState: suspended))
            if global.output == .json { Printer.json(response) } else { print("\(service): scalable \(min)-\(max)") }
        }
    }

    struct TargetTracking: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "target-tracking", abstract: "Keep a service's average CPU or memory utilisation near a target.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Service name.") var service: String
        @Option(help: "Target average CPU utilisation, percent of what the tasks reserve.") var cpu: Double?
        @Option(help: "Target average memory utilisation, percent.") var memory: Double?
        @Option(help: "Policy name (default: cpu-<target> or memory-<target>).") var name: String?
        @Option(name: .customLong("scale-out-cooldown"), help: "Seconds between scale-outs (default 300).") var scaleOutCooldown: Int?
        @Option(name: .customLong("scale-in-cooldown"), help: "Seconds between scale-ins (default 300).") var scaleInCooldown: Int?
        @Flag(name: .customLong("disable-scale-in"), help: "Only ever scale out.") var disableScaleIn = false

        func run() async throws {
            guard (cpu == nil) != (memory == nil) else { throw ValidationError("Give exactly one of --cpu or --memory.") }
            let metric: AASMetricType = cpu != nil ? .ecsserviceaveragecpuutilization : .ecsserviceaveragememoryutilization
            let value = cpu ?? memory!
            let policyName = name ?? "\(cpu != nil ? "cpu" : "memory")-\(Int(value))"
            let response: AASPutScalingPolicyResponse = try await call(
                global.client, "PutScalingPolicy",
                AASPutScalingPolicyRequest(
                    PolicyName: policyName, ServiceNamespace: .ecs, ResourceId: resourceId(cluster: cluster.name, service: service),
                    ScalableDimension: .ecsServiceDesiredCount, PolicyType: .targetTrackingScaling,
                    TargetTrackingScalingPolicyConfiguration: AASTargetTrackingScalingPolicyConfiguration(
                        TargetValue: value, PredefinedMetricSpecification: AASPredefinedMetricSpecification(PredefinedMetricType: metric),
                        ScaleOutCooldown: scaleOutCooldown, ScaleInCooldown: scaleInCooldown, DisableScaleIn: disableScaleIn ? true : nil)))
            if global.output == .json { Printer.json(response) } else { print("\(service): policy \(policyName) (\(metric.rawValue) \(value))") }
        }
    }

    struct Schedule: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a service's min/max on a schedule: at(yyyy-mm-ddThh:mm:ss), rate(5 minutes) or cron(0 9 * * ? *).")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Service name.") var service: String
        @Argument(help: "Scheduled action name.") var name: String
        @Option(help: "The schedule expression.") var schedule: String
        @Option(help: "Time zone of the expression, e.g. Europe/Paris (default UTC).") var timezone: String?
        @Option(help: "New minimum.") var min: Int?
        @Option(help: "New maximum.") var max: Int?

        func run() async throws {
            let _: AASPutScheduledActionResponse = try await call(
                global.client, "PutScheduledAction",
                AASPutScheduledActionRequest(
                    ServiceNamespace: .ecs, Schedule: schedule, Timezone: timezone, ScheduledActionName: name,
                    ResourceId: resourceId(cluster: cluster.name, service: service), ScalableDimension: .ecsServiceDesiredCount,
                    ScalableTargetAction: AASScalableTargetAction(MinCapacity: min, MaxCapacity: max)))
            print("\(service): scheduled action \(name) (\(schedule))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "Scalable services, their bounds, counts and policies.", aliases: ["list"])

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let client = global.client
            let targets: AASDescribeScalableTargetsResponse = try await call(client, "DescribeScalableTargets", AASDescribeScalableTargetsRequest(ServiceNamespace: .ecs))
            let policies: AASDescribeScalingPoliciesResponse = try await call(client, "DescribeScalingPolicies", AASDescribeScalingPoliciesRequest(ServiceNamespace: .ecs))
            if global.output == .json {
                Printer.json(targets)
                return
            }
            var rows: [[String]] = []
            for target in targets.ScalableTargets ?? [] {
                let parts = target.ResourceId.split(separator: "/").map(String.init)
                let service = parts.count == 3 ? try? await fetchService(parts[2], client: client, cluster: parts[1]) : nil
                let names = (policies.ScalingPolicies ?? []).filter { $0.ResourceId == target.ResourceId }.map(\.PolicyName)
                let suspended = target.SuspendedState?.DynamicScalingOutSuspended == true ? " (suspended)" : ""
                rows.append([
                    target.ResourceId, "\(target.MinCapacity)", "\(target.MaxCapacity)", "\(service?.desiredCount ?? 0)",
                    "\(service?.runningCount ?? 0)", (names.isEmpty ? "-" : names.joined(separator: ",")) + suspended,
                ])
            }
            Printer.table(["RESOURCE", "MIN", "MAX", "DESIRED", "RUNNING", "POLICIES"], rows)
        }
    }

    struct Activities: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recent scaling activities of a service, newest first.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Service name.") var service: String
        @Option(help: "How many.") var limit = 20

        func run() async throws {
            let response: AASDescribeScalingActivitiesResponse = try await call(
                global.client, "DescribeScalingActivities",
                AASDescribeScalingActivitiesRequest(
                    ServiceNamespace: .ecs, ResourceId: resourceId(cluster: cluster.name, service: service), MaxResults: Swift.min(50, limit)))
            if global.output == .json {
                Printer.json(response)
                return
            }
            for activity in response.ScalingActivities ?? [] {
                print("\(activity.StartTime.shortText)  \(activity.StatusCode.rawValue)  \(activity.Description)  (\(activity.Cause))")
            }
        }
    }

    struct Datapoint: Decodable {
        var at: Date
        var cpuUtilization: Double
        var memoryUtilization: Double
        var tasks: Int
    }

    struct Series: Decodable {
        var datapoints: [Datapoint]
    }

    static func datapoints(_ client: APIClient, cluster: String, service: String) async throws -> [Datapoint] {
        let query = "cluster=\(cluster)&service=\(service)".addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? ""
        let series: Series = try await client.lambda("GET", "/v1/metrics/services?\(query)", Optional<String>.none)
        return series.datapoints
    }

    struct Metrics: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A service's utilisation datapoints, as scaling policies see them.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Service name.") var service: String
        @Option(help: "How many recent datapoints.") var limit = 20

        func run() async throws {
            let points = try await datapoints(global.client, cluster: cluster.name, service: service).suffix(limit)
            Printer.table(
                ["TIME", "CPU %", "MEMORY %", "TASKS"],
                points.map { [$0.at.shortText, String(format: "%.1f", $0.cpuUtilization), String(format: "%.1f", $0.memoryUtilization), "\($0.tasks)"] })
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow a scalable service: desired and running counts, the latest datapoint, and activities as they happen.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Service name.") var service: String
        @Option(help: "Seconds between refreshes.") var interval = 2.0
        @Option(help: "Stop after this many seconds (default: until interrupted).") var timeout: Double?

        func run() async throws {
            let client = global.client
            let resource = resourceId(cluster: cluster.name, service: service)
            let deadline = timeout.map { Date().addingTimeInterval($0) }
            var seen = Set<String>()
            var first = true
            var last = ""
            while deadline.map({ Date() < $0 }) ?? true {
                let activities: AASDescribeScalingActivitiesResponse = try await call(
                    client, "DescribeScalingActivities", AASDescribeScalingActivitiesRequest(ServiceNamespace: .ecs, ResourceId: resource, MaxResults: 20))
                for activity in (activities.ScalingActivities ?? []).reversed() where !seen.contains(activity.ActivityId) {
                    seen.insert(activity.ActivityId)
                    if !first { print("\(activity.StartTime.shortText)  \(activity.Description)  (\(activity.Cause))") }
                }
                first = false
                let current = try await fetchService(service, client: client, cluster: cluster.name)
                let point = try await datapoints(client, cluster: cluster.name, service: service).last
                let line = "desired \(current.desiredCount ?? 0)  running \(current.runningCount ?? 0)  pending \(current.pendingCount ?? 0)"
                    + (point.map { String(format: "  cpu %.1f%%  memory %.1f%%", $0.cpuUtilization, $0.memoryUtilization) } ?? "  (no datapoints yet)")
                if line != last {
                    print("\(Date().shortText)  \(line)")
                    last = line
                }
                fflushStandardOutput()  // a live view, also through a pipe
                try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
            }
        }
    }

    struct Deregister: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Stop scaling a service (its policies and schedules go too).")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var cluster: ClusterOption
        @Argument(help: "Service name.") var service: String

        func run() async throws {
            let _: AASDeregisterScalableTargetResponse = try await call(
                global.client, "DeregisterScalableTarget",
                AASDeregisterScalableTargetRequest(
                    ServiceNamespace: .ecs, ResourceId: resourceId(cluster: cluster.name, service: service), ScalableDimension: .ecsServiceDesiredCount))
            print("\(service): no longer scalable")
        }
    }
}
