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

struct TaskDefinitionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "taskdef",
        abstract: "Register, list, describe and deregister task definitions.",
        subcommands: [Register.self, List.self, Describe.self, Deregister.self]
    )

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a task definition from a JSON file in AWS's format.",
            discussion: """
                The file is what `aws ecs register-task-definition --cli-input-json` takes (family, \
                containerDefinitions, …). The output of `describe-task-definition` works too: its \
                read-only fields are ignored.
                """
        )

        @OptionGroup var global: GlobalOptions
        @Option(name: .shortAndLong, help: "Task definition JSON file ('-' for stdin).") var file: String
        @Option(name: .customLong("tag"), help: "A tag as key=value; repeat for more.") var tags: [String] = []

        func run() async throws {
            var request = try Self.load(file)
            let extra = try parsePairs(tags, what: "Tag").map { ResourceTag(key: $0.0, value: $0.1) }
            if !extra.isEmpty { request.tags = TagRules.merge(request.tags ?? [], extra) }
            let response: RegisterTaskDefinitionResponse = try await global.client.ecs("RegisterTaskDefinition", request)
            guard let definition = response.taskDefinition else { throw CLIError("the control plane returned no task definition") }
            if global.output == .json {
                Printer.json(response)
            } else {
                print("registered \(definition.taskDefinitionArn ?? "")")
            }
        }

        static func load(_ path: String) throws -> RegisterTaskDefinitionRequest {
            let data: Data
            if path == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let contents = FileManager.default.contents(atPath: path) else {
                    throw CLIError("cannot read task definition file '\(path)'")
                }
                data = contents
            }
            struct Described: Decodable { var taskDefinition: RegisterTaskDefinitionRequest }
            let bytes = Array(data)
            if let described = try? AWSJSONCodec.decode(Described.self, from: bytes) {
                return described.taskDefinition
            }
            do {
                return try AWSJSONCodec.decode(RegisterTaskDefinitionRequest.self, from: bytes)
            } catch {
                throw CLIError("\(path): \(error.message)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List task definition revisions.", aliases: ["list"])

        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this family.") var family: String?
        @Option(help: "ACTIVE, INACTIVE or DELETE_IN_PROGRESS.") var status: String = "ACTIVE"
        @Flag(help: "Newest first.") var descending = false
        @Flag(name: .shortAndLong, help: "Print ARNs only.") var quiet = false

        func run() async throws {
            guard let statusValue = TaskDefinitionStatus(rawValue: status) else {
                throw ValidationError(TaskDefinitionStatus.invalidValueMessage(status))
            }
            var arns: [String] = []
            var token: String?
            repeat {
                let page: ListTaskDefinitionsResponse = try await global.client.ecs(
                    "ListTaskDefinitions",
                    ListTaskDefinitionsRequest(
                        familyPrefix: family, status: statusValue, sort: descending ? .desc : .asc, nextToken: token)
                )
                arns += page.taskDefinitionArns ?? []
                token = page.nextToken
            } while token != nil
            if quiet {
                arns.forEach { print($0) }
            } else if global.output == .json {
                Printer.json(arns)
            } else {
                Printer.table(
                    ["FAMILY", "REVISION", "STATUS", "ARN"],
                    arns.map { arn in
                        let reference = (try? TaskDefinitionReference.parse(arn))
                        return [reference?.family ?? "", reference?.revision.map(String.init) ?? "", status, arn]
                    }
                )
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a task definition: family, family:revision or ARN.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "family, family:revision or ARN.") var taskDefinition: String

        func run() async throws {
            let response: DescribeTaskDefinitionResponse = try await global.client.ecs(
                "DescribeTaskDefinition", DescribeTaskDefinitionRequest(taskDefinition: taskDefinition, include: [.tags]))
            guard let definition = response.taskDefinition else { throw CLIError("the control plane returned no task definition") }
            if global.output == .json {
                Printer.json(response)
                return
            }
            Printer.fields([
                ("Task definition", "\(definition.family ?? ""):\(definition.revision ?? 0)"),
                ("ARN", definition.taskDefinitionArn ?? ""),
                ("Status", definition.status?.rawValue ?? ""),
                ("Network mode", definition.networkMode?.rawValue ?? "bridge"),
                ("CPU", definition.cpu ?? "-"),
                ("Memory", definition.memory ?? "-"),
                ("Registered", definition.registeredAt?.shortText ?? ""),
                ("Requires", (definition.requiresAttributes ?? []).map(\.name).joined(separator: ", ")),
                ("Tags", (response.tags ?? []).map { "\($0.key ?? "")=\($0.value ?? "")" }.joined(separator: ", ")),
            ])
            print("")
            Printer.table(
                ["CONTAINER", "IMAGE", "CPU", "MEMORY", "ESSENTIAL", "PORTS"],
                (definition.containerDefinitions ?? []).map { container in
                    let memory = [container.memory.map { "\($0)" }, container.memoryReservation.map { "soft \($0)" }]
                        .compactMap { $0 }.joined(separator: "/")
                    let ports = (container.portMappings ?? []).map { mapping in
                        "\(mapping.hostPort.map { $0 == 0 ? "dyn" : "\($0)" } ?? "dyn")->\(mapping.containerPort ?? 0)/\(mapping.protocol?.rawValue ?? "tcp")"
                    }.joined(separator: ",")
                    return [container.name ?? "", container.image ?? "", "\(container.cpu ?? 0)", memory.isEmpty ? "-" : memory,
                            container.essential == false ? "no" : "yes", ports.isEmpty ? "-" : ports]
                }
            )
        }
    }

    struct Deregister: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark a revision INACTIVE (family:revision or ARN).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "family:revision or ARN.") var taskDefinition: String

        func run() async throws {
            let response: DeregisterTaskDefinitionResponse = try await global.client.ecs(
                "DeregisterTaskDefinition", DeregisterTaskDefinitionRequest(taskDefinition: taskDefinition))
            if global.output == .json {
                Printer.json(response)
            } else {
                print("deregistered \(response.taskDefinition?.taskDefinitionArn ?? taskDefinition)")
            }
        }
    }
}
