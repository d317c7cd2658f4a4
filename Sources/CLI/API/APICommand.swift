import APIGatewayShapes
import ArgumentParser
import CurlHTTP
import Foundation
import StevedoreClient
import StevedoreCore

/// `ecsctl api`: HTTP APIs made with API Gateway (`aws apigatewayv2` makes and changes them; this
/// shows them and calls them).
struct APICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "See and call HTTP, WebSocket and REST APIs (API Gateway): list, describe, routes, test, access logs, quick create, delete.",
        subcommands: [List.self, Describe.self, Routes.self, Test.self, Logs.self, Create.self, Delete.self]
    )

    static let apisPath = "/v2/apis"

    static func get<Output: Decodable>(_ global: GlobalOptions, _ path: String, as type: Output.Type = Output.self) async throws -> Output {
        try await global.client.lambda("GET", path, Optional<Int>.none, as: type, service: "apigateway")
    }

    static func allApis(_ global: GlobalOptions) async throws -> [V2Api] {
        var apis: [V2Api] = []
        var token: String?
        repeat {
            let page: V2GetApisResponse = try await get(global, apisPath + (token.map { "?nextToken=\($0.percentEncoded())" } ?? ""))
            apis += page.items ?? []
            token = page.nextToken
        } while token != nil
        return apis
    }

    /// An API by id or by name (names need not be unique; the first one found is taken and said so).
    static func api(_ global: GlobalOptions, _ reference: String) async throws -> V2Api {
        if let api = try? await get(global, apisPath + "/" + reference.percentEncoded(), as: V2Api.self) { return api }
        let named = try await allApis(global).filter { $0.name == reference }
        guard let first = named.first else { throw CLIError("no API with id or name \(reference) (see `ecsctl api ls`)") }
        if named.count > 1 { FileHandle.standardError.write(Data("several APIs are named \(reference); using \(first.apiId ?? "")\n".utf8)) }
        return first
    }

    static func routesAndIntegrations(_ global: GlobalOptions, _ id: String) async throws -> ([V2Route], [String: V2Integration]) {
        let routes: V2GetRoutesResponse = try await get(global, apisPath + "/\(id)/routes?maxResults=500")
        let integrations: V2GetIntegrationsResponse = try await get(global, apisPath + "/\(id)/integrations?maxResults=500")
        var byId: [String: V2Integration] = [:]
        for integration in integrations.items ?? [] { byId[integration.integrationId ?? ""] = integration }
        return ((routes.items ?? []).sorted { $0.routeKey < $1.routeKey }, byId)
    }

    static func describeTarget(_ target: String?, _ integrations: [String: V2Integration]) -> String {
        guard let target else { return "(no target)" }
        guard let integration = integrations[String(target.dropFirst("integrations/".count))] else { return target }
        let type = integration.integrationType?.rawValue ?? ""
        let format = integration.integrationType == .awsProxy ? " (payload \(integration.payloadFormatVersion ?? "2.0"))" : ""
        return "\(type) \(integration.integrationUri ?? "")\(format)"
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List HTTP, WebSocket and REST APIs.", aliases: ["list"])
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let apis = try await APICommand.allApis(global)
            let restApis = try await APICommand.allRestApis(global)
            if global.output == .json { return Printer.json(V2GetApisResponse(items: apis)) }
            Printer.table(
                ["NAME", "ID", "PROTOCOL", "ENDPOINT", "CREATED"],
                apis.map { [$0.name, $0.apiId ?? "", $0.protocolType.rawValue, $0.apiEndpoint ?? "", $0.createdDate ?? ""] }
                    + restApis.map { api in
                        [
                            api.name ?? "", api.id ?? "", "REST", "/\(api.id ?? "")/STAGE/… on the gateway",
                            api.createdDate.map { CivilCalendar.iso8601(secondsSince1970: Int64($0.timeIntervalSince1970)) } ?? "",
                        ]
                    })
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an API, its stages and its routes.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "API id or name.") var api: String

        func run() async throws {
            let api: V2Api
            switch try await APICommand.find(global, self.api) {
            case .rest(let rest): return try await APICommand.describeRest(global, rest)
            case .v2(let found): api = found
            }
            let id = api.apiId ?? ""
            let stages: V2GetStagesResponse = try await APICommand.get(global, APICommand.apisPath + "/\(id)/stages")
            let (routes, integrations) = try await APICommand.routesAndIntegrations(global, id)
            if global.output == .json { return Printer.json(api) }
            Printer.fields([
                ("Name", api.name), ("Id", id), ("Protocol", api.protocolType.rawValue), ("Endpoint", api.apiEndpoint ?? ""),
                ("Path form", "/\(id)/… on the gateway listener"), ("Created", api.createdDate ?? ""), ("Description", api.description ?? ""),
            ])
            print("")
            Printer.table(
                ["STAGE", "DEPLOYMENT", "AUTO DEPLOY", "URL", "ACCESS LOG", "EDGE FUNCTIONS"],
                (stages.items ?? []).map { stage in
                    let url = (api.apiEndpoint ?? "") + (stage.stageName == "$default" ? "/" : "/\(stage.stageName)/")
                    let log = stage.accessLogSettings?.destinationArn?.split(separator: ":", maxSplits: 6).last.map(String.init) ?? "-"
                    let edge = (stage.tags ?? [:]).filter { $0.key.hasPrefix("stevedore:edge:") }.sorted { $0.key < $1.key }
                        .map { "\($0.key.dropFirst("stevedore:edge:".count))=\($0.value.split(separator: ":").last.map(String.init) ?? $0.value)" }
                    return [
                        stage.stageName, stage.deploymentId ?? "(not deployed)", stage.autoDeploy == true ? "yes" : "no", url, log,
                        edge.isEmpty ? "-" : edge.joined(separator: " "),
                    ]
                })
            print("")
            if api.protocolType == .websocket {
                print("Messages select their route by \(api.routeSelectionExpression); a route with a route response answers its client.")
                Printer.table(
                    ["ROUTE", "AUTH", "ANSWERS", "TARGET"],
                    routes.map {
                        [
                            $0.routeKey, $0.authorizationType?.rawValue ?? "NONE", $0.routeResponseSelectionExpression == nil ? "no" : "yes",
                            APICommand.describeTarget($0.target, integrations),
                        ]
                    })
            } else {
                Printer.table(
                    ["ROUTE", "AUTH", "TARGET"],
                    routes.map { [$0.routeKey, $0.authorizationType?.rawValue ?? "NONE", APICommand.describeTarget($0.target, integrations)] })
            }
            let authorizers: V2GetAuthorizersResponse = try await APICommand.get(global, APICommand.apisPath + "/\(id)/authorizers")
            if let items = authorizers.items, !items.isEmpty {
                print("")
                Printer.table(
                    ["AUTHORIZER", "ID", "TYPE", "IDENTITY", "ISSUER OR FUNCTION"],
                    items.map {
                        [
                            $0.name, $0.authorizerId ?? "", $0.authorizerType?.rawValue ?? "", ($0.identitySource ?? []).joined(separator: ","),
                            $0.jwtConfiguration?.issuer ?? $0.authorizerUri ?? "",
                        ]
                    })
            }
        }
    }

    struct Routes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List an API's routes and what each calls.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "API id or name.") var api: String

        func run() async throws {
            let found = try await APICommand.find(global, api)
            if case .rest(let rest) = found {
                let methods = try await APICommand.restMethods(global, rest.id ?? "")
                if global.output == .json { return Printer.json(methods.map(\.method)) }
                return APICommand.printRestMethods(methods, withIds: true)
            }
            let id = found.id
            let (routes, integrations) = try await APICommand.routesAndIntegrations(global, id)
            if global.output == .json { return Printer.json(V2GetRoutesResponse(items: routes)) }
            Printer.table(
                ["ROUTE", "ID", "AUTH", "TARGET"],
                routes.map { [$0.routeKey, $0.routeId ?? "", $0.authorizationType?.rawValue ?? "NONE", APICommand.describeTarget($0.target, integrations)] })
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Call an API through the gateway and show the answer (status, headers, body, time).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "API id or name.") var api: String
        @Argument(help: "Path to call, e.g. /pets/7?limit=2.") var path = "/"
        @Option(name: .shortAndLong, help: "HTTP method.") var method = "GET"
        @Option(help: "Stage (default: $default, served at the root).") var stage: String?
        @Option(name: .shortAndLong, help: "Request body.") var data: String?
        @Option(name: .customShort("H"), help: "A header as 'Name: value'; repeat for more.") var header: [String] = []
        @Option(help: "The gateway's address (default: the API endpoint's port on the --endpoint host; 8380 for REST APIs).") var gateway: String?

        func run() async throws {
            let api: V2Api
            switch try await APICommand.find(global, self.api) {
            case .v2(let found): api = found
            case .rest(let rest):
                guard stage != nil else {
                    throw ValidationError("\(rest.name ?? "") is a REST API: give the stage to call with --stage (REST APIs have no root stage).")
                }
                // REST APIs do not say where they are served: the gateway's default port on the endpoint's host.
                let host = URLComponents(string: global.resolvedEndpoint)?.host ?? "127.0.0.1"
                return try await call(id: rest.id ?? "", base: gateway ?? "http://\(host):8380")
            }
            let id = api.apiId ?? ""
            if api.protocolType == .websocket {
                throw CLIError(
                    "\(api.name) is a WebSocket API: connect to \(api.apiEndpoint ?? "")/STAGE with a WebSocket client (for example Python's websockets), and reach a connection with `aws apigatewaymanagementapi post-to-connection --endpoint-url http://HOST:PORT/\(id)/STAGE`")
            }
            try await call(id: id, base: try gatewayBase(api))
        }

        func call(id: String, base: String) async throws {
            var headers: [(name: String, value: String)] = []
            for item in header {
                let parts = item.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else { throw ValidationError("-H takes 'Name: value'; got \(item)") }
                headers.append((String(parts[0]).trimmingCharacters(in: .whitespaces), String(parts[1]).trimmingCharacters(in: .whitespaces)))
            }
            let relative = path.hasPrefix("/") ? path : "/" + path
            let requestPath = "/\(id)" + (stage.map { "/\($0)" } ?? "") + relative
            let started = ContinuousClock.now
            let response = try await HTTPClient(baseURL: base).execute(
                HTTPClient.Request(method: method.uppercased(), path: requestPath, headers: headers, body: data.map { Array($0.utf8) }, timeout: .seconds(60)))
            let elapsed = ContinuousClock.now - started
            print("\(method.uppercased()) \(base)\(requestPath) -> \(response.status) in \(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000) ms")
            for (name, value) in response.headers { print("\(name): \(value)") }
            print("")
            print(response.bodyText)
        }

        func gatewayBase(_ api: V2Api) throws -> String {
            if let gateway { return gateway }
            guard let endpoint = URLComponents(string: api.apiEndpoint ?? ""), let port = endpoint.port,
                let host = URLComponents(string: global.resolvedEndpoint)?.host
            else {
                throw CLIError("cannot tell where the gateway listens; give --gateway http://HOST:PORT")
            }
            return "http://\(host):\(port)"
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a stage's access log (the stage's AccessLogSettings: a log group and a format of $context variables).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "API id or name.") var api: String
        @Option(help: "Stage (default: $default).") var stage = "$default"
        @Flag(name: .shortAndLong, help: "Keep printing new lines.") var follow = false
        @Option(help: "How many bytes of the end of the log to start with.") var tail: Int = 16 * 1024

        func run() async throws {
            let found = try await APICommand.find(global, api)
            let id = found.id
            let arn: String?
            if case .rest = found {
                let stage: V1Stage = try await APICommand.get(global, APICommand.restApisPath + "/\(id)/stages/\(self.stage.percentEncoded())")
                arn = stage.accessLogSettings?.destinationArn
            } else {
                let stage: V2Stage = try await APICommand.get(global, APICommand.apisPath + "/\(id)/stages/\(self.stage.percentEncoded())")
                arn = stage.accessLogSettings?.destinationArn
            }
            guard let arn, let group = arn.split(separator: ":", maxSplits: 6).last.map(String.init) else {
                throw CLIError(
                    "stage \(self.stage) of \(id) keeps no access log; turn it on with: aws apigatewayv2 update-stage --api-id \(id) --stage-name '\(self.stage)' --access-log-settings DestinationArn=arn:aws:logs:us-east-1:000000000000:log-group:/aws/apigateway/\(id),Format='$context.requestId $context.routeKey $context.status'")
            }
            let name = group.hasSuffix(":*") ? String(group.dropLast(2)) : group
            for try await chunk in try await global.client.gatewayLogs(group: name, follow: follow, tailBytes: tail) {
                FileHandle.standardOutput.write(Data(chunk))
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Quick create: an HTTP API whose $default stage sends every request (or --route) to a function or URL.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "API name.") var name: String
        @Option(help: "A function ARN (or function name) or an http(s) URL.") var target: String
        @Option(help: "The route key, e.g. 'GET /hello' (default: $default, every request).") var route: String?

        func run() async throws {
            var target = self.target
            if !target.hasPrefix("arn:"), !target.hasPrefix("http://"), !target.hasPrefix("https://") {
                let configuration: LambdaFunctionSummary = try await global.client.lambda(
                    "GET", "/2015-03-31/functions/\(target.percentEncoded())/configuration", Optional<Int>.none)
                target = configuration.FunctionArn ?? target
            }
            let api: V2Api = try await global.client.lambda(
                "POST", APICommand.apisPath, V2CreateApiRequest(name: name, protocolType: .http, routeKey: route, target: target), service: "apigateway")
            if global.output == .json { return Printer.json(api) }
            print("created \(api.apiId ?? "") \(api.apiEndpoint ?? "") -> \(target)")
        }

        struct LambdaFunctionSummary: Decodable {
            var FunctionArn: String?
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete an API.", aliases: ["delete"])
        @OptionGroup var global: GlobalOptions
        @Argument(help: "API id or name.") var api: String

        func run() async throws {
            let found = try await APICommand.find(global, api)
            let path = { if case .rest = found { APICommand.restApisPath } else { APICommand.apisPath } }()
            _ = try await global.client.rest("DELETE", path + "/\(found.id)", service: "apigateway")
            print("deleted \(found.id)")
        }
    }
}
