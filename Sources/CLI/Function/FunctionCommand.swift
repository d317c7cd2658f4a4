import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import Archives
import ArgumentParser
import AWSProtocols
import Capacity
import CurlHTTP
import ECS
import ECSShapes
import Foundation
import LambdaShapes
import StevedoreClient
import StevedoreCore

struct FunctionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fn",
        abstract: "Create, invoke, version and watch functions (the Lambda API).",
        subcommands: [
            Create.self, List.self, Describe.self, Invoke.self, Update.self, Publish.self, Alias.self, Logs.self, Concurrency.self,
            Delete.self,
        ]
    )

    static let functionsPath = "/2015-03-31/functions"

    static func path(_ name: String, _ suffix: String = "") -> String {
        functionsPath + "/" + (name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(["-", "_"])) ?? name) + suffix
    }

    /// Code options shared by create and update.
    struct CodeOptions: ParsableArguments {
        @Option(help: "The code: a directory (zipped for you, modes kept) or a .zip file.") var code: String?
        @Option(help: "A container image instead of a zip (PackageType Image).") var image: String?
    }

    struct ConfigurationOptions: ParsableArguments {
        @Option(help: "Runtime, e.g. provided.al2023 or python3.11.") var runtime: String?
        @Option(help: "Handler, e.g. function.handler or app.handler.") var handler: String?
        @Option(help: "Memory in MB (128-3008, steps of 64).") var memory: Int?
        @Option(help: "Timeout in seconds (1-900).") var timeout: Int?
        @Option(name: .customLong("tmp"), help: "/tmp size in MB (512 or more).") var ephemeralStorage: Int?
        @Option(name: .customLong("env"), help: "An environment variable as KEY=VALUE; repeat for more.") var environment: [String] = []
        @Option(name: .customLong("layer"), help: "A layer version ARN; repeat for more (unpacked into /opt in order).") var layers: [String] = []
        @Option(name: .customLong("dlq"), help: "Dead-letter queue ARN for failed asynchronous invocations.") var deadLetter: String?
        @Option(help: "Description.") var description: String?

        func variables() throws -> [String: String]? {
            guard !environment.isEmpty else { return nil }
            return Dictionary(try parsePairs(environment, what: "Environment variable"), uniquingKeysWith: { _, b in b })
        }
    }

    /// Reads a zip, or zips a directory (uncompressed, with its files' modes).
    static func zip(_ path: String) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CLIError("no such file or directory: \(path)")
        }
        guard isDirectory.boolValue else {
            guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
            return data
        }
        var writer = ZipWriter()
        let root = URL(fileURLWithPath: path).standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: root) else { throw CLIError("cannot read directory \(path)") }
        var files: [String] = []
        while let relative = walker.nextObject() as? String { files.append(relative) }
        for relative in files.sorted() {
            let full = root + "/" + relative
            var info = stat()
            guard stat(full, &info) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFDIR {
                writer.add(path: relative + "/", contents: [], mode: 0o755)
            } else if let data = FileManager.default.contents(atPath: full) {
                writer.add(path: relative, contents: Array(data), mode: UInt32(info.st_mode & 0o7777))
            }
        }
        return Data(writer.finish())
    }

    // MARK: Commands

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a function from a directory, a zip or an image.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Function name.") var name: String
        @OptionGroup var code: CodeOptions
        @OptionGroup var settings: ConfigurationOptions
        @Option(help: "Execution role ARN (recorded, as Lambda requires one).") var role = "arn:aws:iam::000000000000:role/lambda-role"
        @Flag(help: "Also publish version 1.") var publish = false

        func run() async throws {
            var request = LambdaCreateFunctionRequest(FunctionName: name, Role: role, Code: LambdaFunctionCode())
            if let image = code.image {
                request.PackageType = .image
                request.Code.ImageUri = image
            } else {
                guard let path = code.code else { throw ValidationError("Give --code DIR|ZIP (or --image URI).") }
                request.Code.ZipFile = try FunctionCommand.zip(path)
                guard let runtime = settings.runtime else { throw ValidationError("Give --runtime (e.g. provided.al2023 or python3.11).") }
                guard let value = LambdaRuntime(rawValue: runtime) else { throw ValidationError(LambdaRuntime.invalidValueMessage(runtime)) }
                request.Runtime = value
                request.Handler = settings.handler ?? (runtime.hasPrefix("python") ? "lambda_function.lambda_handler" : "function.handler")
            }
            request.MemorySize = settings.memory
            request.Timeout = settings.timeout
            request.Description = settings.description
            request.EphemeralStorage = settings.ephemeralStorage.map { LambdaEphemeralStorage(Size: $0) }
            request.Environment = try settings.variables().map { LambdaEnvironment(Variables: $0) }
            request.Layers = settings.layers.isEmpty ? nil : settings.layers
            request.DeadLetterConfig = settings.deadLetter.map { LambdaDeadLetterConfig(TargetArn: $0) }
            request.Publish = publish
            let configuration: LambdaFunctionConfiguration = try await global.client.lambda("POST", FunctionCommand.functionsPath, request)
            if global.output == .json { return Printer.json(configuration) }
            print("created \(configuration.FunctionArn ?? name) (\(configuration.Runtime?.rawValue ?? "image"), \(configuration.MemorySize ?? 0) MB, \(configuration.CodeSize ?? 0) bytes)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List functions.", aliases: ["list"])
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            var all: [LambdaFunctionConfiguration] = []
            var marker: String?
            repeat {
                let query = marker.map { "?Marker=\($0)" } ?? ""
                let page: LambdaListFunctionsResponse = try await global.client.lambda("GET", FunctionCommand.functionsPath + query, Optional<Int>.none)
                all += page.Functions ?? []
                marker = page.NextMarker
            } while marker != nil
            if global.output == .json { return Printer.json(LambdaListFunctionsResponse(Functions: all)) }
            Printer.table(
                ["NAME", "RUNTIME", "MEMORY", "TIMEOUT", "STATE", "LAST MODIFIED"],
                all.map {
                    [
                        $0.FunctionName ?? "", $0.Runtime?.rawValue ?? ($0.PackageType == .image ? "image" : ""), "\($0.MemorySize ?? 0)",
                        "\($0.Timeout ?? 0)", $0.State?.rawValue ?? "", $0.LastModified ?? "",
                    ]
                })
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a function (or one version or alias: NAME:QUALIFIER).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Function name, NAME:QUALIFIER or ARN.") var name: String

        func run() async throws {
            let response: LambdaGetFunctionResponse = try await global.client.lambda("GET", FunctionCommand.path(name), Optional<Int>.none)
            if global.output == .json { return Printer.json(response) }
            let c = response.Configuration ?? LambdaFunctionConfiguration()
            let rows: [[String]] = [
                ["arn", c.FunctionArn ?? ""], ["version", c.Version ?? ""], ["state", "\(c.State?.rawValue ?? "") / \(c.LastUpdateStatus?.rawValue ?? "")"],
                ["runtime", c.Runtime?.rawValue ?? c.PackageType?.rawValue ?? ""], ["handler", c.Handler ?? ""],
                ["memory", "\(c.MemorySize ?? 0) MB"], ["timeout", "\(c.Timeout ?? 0) s"], ["tmp", "\(c.EphemeralStorage?.Size ?? 512) MB"],
                ["code", "\(c.CodeSize ?? 0) bytes, sha256 \(c.CodeSha256 ?? "")"],
                ["layers", (c.Layers ?? []).compactMap(\.Arn).joined(separator: ", ")],
                ["reserved concurrency", response.Concurrency?.ReservedConcurrentExecutions.map(String.init) ?? "-"],
                ["dead-letter queue", c.DeadLetterConfig?.TargetArn ?? "-"],
                ["environment", (c.Environment?.Variables ?? [:]).keys.sorted().joined(separator: ", ")],
            ]
            Printer.table(["FIELD", "VALUE"], rows)
        }
    }

    struct Invoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Invoke a function and print its response.",
            discussion: "Exits 1 when the function fails (its error JSON is printed). --async queues the event (202).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Function name, NAME:QUALIFIER or ARN.") var name: String
        @Option(help: "Event JSON.") var payload = "{}"
        @Option(name: .customLong("payload-file"), help: "Read the event from a file ('-' for stdin).") var payloadFile: String?
        @Option(help: "Version or alias.") var qualifier: String?
        @Flag(name: .customLong("async"), help: "Invoke asynchronously (InvocationType Event).") var asynchronous = false
        @Flag(help: "Print the invocation's log tail to stderr.") var log = false

        func run() async throws {
            var body = Array(payload.utf8)
            if let payloadFile {
                let data = payloadFile == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: payloadFile)
                guard let data else { throw CLIError("cannot read \(payloadFile)") }
                body = Array(data)
            }
            var headers = [("X-Amz-Invocation-Type", asynchronous ? "Event" : "RequestResponse")]
            if log && !asynchronous { headers.append(("X-Amz-Log-Type", "Tail")) }
            let query = qualifier.map { "?Qualifier=\($0)" } ?? ""
            let response = try await global.client.rest("POST", FunctionCommand.path(name, "/invocations") + query, body: body, headers: headers)
            if asynchronous {
                print("queued (request id \(response.header("x-amzn-RequestId") ?? "?"))")
                return
            }
            if let tail = response.header("X-Amz-Log-Result"), let decoded = Data(base64Encoded: tail) {
                FileHandle.standardError.write(decoded)
            }
            print(response.bodyText)
            if response.header("X-Amz-Function-Error") != nil { throw ExitCode(1) }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Update a function's code and/or configuration.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Function name.") var name: String
        @OptionGroup var code: CodeOptions
        @OptionGroup var settings: ConfigurationOptions

        func run() async throws {
            var configuration: LambdaFunctionConfiguration?
            if code.code != nil || code.image != nil {
                var request = LambdaUpdateFunctionCodeRequest()
                if let image = code.image { request.ImageUri = image } else { request.ZipFile = try FunctionCommand.zip(code.code!) }
                configuration = try await global.client.lambda("PUT", FunctionCommand.path(name, "/code"), request)
            }
            var request = LambdaUpdateFunctionConfigurationRequest()
            request.Runtime = try settings.runtime.map { runtime in
                guard let value = LambdaRuntime(rawValue: runtime) else { throw ValidationError(LambdaRuntime.invalidValueMessage(runtime)) }
                return value
            }
            request.Handler = settings.handler
            request.MemorySize = settings.memory
            request.Timeout = settings.timeout
            request.Description = settings.description
            request.EphemeralStorage = settings.ephemeralStorage.map { LambdaEphemeralStorage(Size: $0) }
            request.Environment = try settings.variables().map { LambdaEnvironment(Variables: $0) }
            request.Layers = settings.layers.isEmpty ? nil : settings.layers
            request.DeadLetterConfig = settings.deadLetter.map { LambdaDeadLetterConfig(TargetArn: $0) }
            if request != LambdaUpdateFunctionConfigurationRequest() {
                // The code update must settle first, as in Lambda.
                configuration = try await global.client.lambda("PUT", FunctionCommand.path(name, "/configuration"), request)
            }
            guard let configuration else { throw ValidationError("Nothing to update: give --code/--image or a setting.") }
            if global.output == .json { return Printer.json(configuration) }
            print("updated \(configuration.FunctionArn ?? name) (revision \(configuration.RevisionId ?? ""))")
        }
    }

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish $LATEST as a new immutable version.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Function name.") var name: String
        @Option(help: "Version description.") var description: String?

        func run() async throws {
            let configuration: LambdaFunctionConfiguration = try await global.client.lambda(
                "POST", FunctionCommand.path(name, "/versions"), LambdaPublishVersionRequest(Description: description))
            if global.output == .json { return Printer.json(configuration) }
            print("published version \(configuration.Version ?? "") (\(configuration.FunctionArn ?? ""))")
        }
    }

    struct Alias: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Point an alias at a version (created or updated), optionally splitting traffic with a second one.",
            discussion: "ecsctl fn alias hello live --version 2 --routing 3=0.1 sends 10% of live's invocations to version 3.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Function name.") var name: String
        @Argument(help: "Alias name (omit to list the aliases).") var alias: String?
        @Option(help: "Version the alias points at.") var version: String?
        @Option(help: "VERSION=WEIGHT: also route this share (0.0-1.0) to a second version.") var routing: String?
        @Flag(help: "Delete the alias.") var delete = false

        func run() async throws {
            let client = global.client
            guard let alias else {
                let list: LambdaListAliasesResponse = try await client.lambda("GET", FunctionCommand.path(name, "/aliases"), Optional<Int>.none)
                if global.output == .json { return Printer.json(list) }
                return Printer.table(
                    ["ALIAS", "VERSION", "ROUTING"],
                    (list.Aliases ?? []).map { a in
                        [a.Name ?? "", a.FunctionVersion ?? "", (a.RoutingConfig?.AdditionalVersionWeights ?? [:]).map { "\($0.key)=\($0.value)" }.joined(separator: ",")]
                    })
            }
            if delete {
                _ = try await client.rest("DELETE", FunctionCommand.path(name, "/aliases/\(alias)"))
                return print("deleted alias \(alias)")
            }
            var weights: LambdaAliasRoutingConfiguration?
            if let routing {
                let pair = try parsePairs([routing], what: "Routing")[0]
                guard let weight = Double(pair.1) else { throw ValidationError("Routing weight '\(pair.1)' is not a number between 0 and 1.") }
                weights = LambdaAliasRoutingConfiguration(AdditionalVersionWeights: [pair.0: weight])
            }
            let result: LambdaAliasConfiguration
            do {
                let existing: LambdaAliasConfiguration = try await client.lambda("GET", FunctionCommand.path(name, "/aliases/\(alias)"), Optional<Int>.none)
                result = try await client.lambda(
                    "PUT", FunctionCommand.path(name, "/aliases/\(alias)"),
                    LambdaUpdateAliasRequest(FunctionVersion: version ?? existing.FunctionVersion, RoutingConfig: weights ?? LambdaAliasRoutingConfiguration(AdditionalVersionWeights: [:])))
            } catch let error as AWSError where error.type == "ResourceNotFoundException" {
                guard let version else { throw ValidationError("Give --version for a new alias.") }
                result = try await client.lambda(
                    "POST", FunctionCommand.path(name, "/aliases"), LambdaCreateAliasRequest(Name: alias, FunctionVersion: version, RoutingConfig: weights))
            }
            if global.output == .json { return Printer.json(result) }
            print("\(result.AliasArn ?? alias) -> \(result.FunctionVersion ?? "")")
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a function's log (START/END/REPORT lines and its output), from CloudWatch Logs' /aws/lambda/NAME.",
            discussion: "The same events `aws logs filter-log-events --log-group-name /aws/lambda/NAME` reads, in time order across the function's environments.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Function name.") var name: String
        @Flag(name: .shortAndLong, help: "Keep printing new lines.") var follow = false
        @Option(help: "How far back to start: 30s, 10m, 2h, 1d.") var since = "1h"
        @Option(help: "Only the last N lines of that time.") var tail: Int?
        @Option(help: "Only lines matching a CloudWatch Logs filter pattern (ERROR, \"a phrase\", '{ $.level = \"error\" }').")
        var filter: String?

        func run() async throws {
            guard let window = LogWindow.milliseconds(since) else {
                throw ValidationError("--since \(since): give a number and a unit: 30s, 10m, 2h or 1d")
            }
            try await LogWindow.follow(
                client: global.client, group: "/aws/lambda/\(name)", since: window, tail: tail, filter: filter, follow: follow,
                missing: "no log for function \(name) yet: it has not run (or there is no such function)")
        }
    }

    struct Concurrency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show, set or clear a function's reserved concurrency.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Function name.") var name: String
        @Argument(help: "Reserved concurrent executions to set (0 stops all invocations).") var reserved: Int?
        @Flag(help: "Remove the reservation.") var clear = false

        func run() async throws {
            let path = "/2017-10-31/functions/\(name)/concurrency"
            if clear {
                _ = try await global.client.rest("DELETE", path)
                return print("\(name): no reserved concurrency")
            }
            if let reserved {
                let result: LambdaConcurrency = try await global.client.lambda(
                    "PUT", path, LambdaPutFunctionConcurrencyRequest(ReservedConcurrentExecutions: reserved))
                return print("\(name): reserved concurrency \(result.ReservedConcurrentExecutions ?? reserved)")
            }
            let current: LambdaGetFunctionConcurrencyResponse = try await global.client.lambda(
                "GET", "/2019-09-30/functions/\(name)/concurrency", Optional<Int>.none)
            print("\(name): reserved concurrency \(current.ReservedConcurrentExecutions.map(String.init) ?? "none (unreserved pool)")")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a function (or one version: NAME:VERSION).", aliases: ["delete"])
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Function name or NAME:VERSION.") var name: String

        func run() async throws {
            _ = try await global.client.rest("DELETE", FunctionCommand.path(name))
            print("deleted \(name)")
        }
    }
}
