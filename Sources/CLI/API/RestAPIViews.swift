import APIGatewayShapes
import ArgumentParser
import CurlHTTP
import Foundation
import StevedoreClient
import StevedoreCore

/// `ecsctl api` for REST APIs (`aws apigateway`): found by id or name like HTTP and WebSocket
/// APIs, shown by resource and method, called by the path form with a stage.
extension APICommand {
    static let restApisPath = "/restapis"

    /// An API of either kind, by id or name.
    enum Found {
        case v2(V2Api)
        case rest(V1RestApi)

        var id: String {
            switch self {
            case .v2(let api): api.apiId ?? ""
            case .rest(let api): api.id ?? ""
            }
        }
    }

    static func allRestApis(_ global: GlobalOptions) async throws -> [V1RestApi] {
        var apis: [V1RestApi] = []
        var position: String?
        repeat {
            let page: V1RestApis = try await get(global, restApisPath + "?limit=500" + (position.map { "&position=\($0.percentEncoded())" } ?? ""))
            apis += page.item ?? []
            position = page.position
        } while position != nil
        return apis
    }

    static func find(_ global: GlobalOptions, _ reference: String) async throws -> Found {
        if let api = try? await get(global, apisPath + "/" + reference.percentEncoded(), as: V2Api.self) { return .v2(api) }
        if let api = try? await get(global, restApisPath + "/" + reference.percentEncoded(), as: V1RestApi.self) { return .rest(api) }
        if let api = try await allApis(global).first(where: { $0.name == reference }) { return .v2(api) }
        if let api = try await allRestApis(global).first(where: { $0.name == reference }) { return .rest(api) }
        throw CLIError("no API with id or name \(reference) (see `ecsctl api ls`)")
    }

    /// Every method of a REST API's resources, by path.
    static func restMethods(_ global: GlobalOptions, _ id: String) async throws -> [(path: String, resource: String, method: V1Method)] {
        let resources: V1Resources = try await get(global, restApisPath + "/\(id)/resources?embed=methods&limit=500")
        return (resources.item ?? []).sorted { ($0.path ?? "") < ($1.path ?? "") }.flatMap { resource in
            (resource.resourceMethods ?? [:]).sorted { $0.key < $1.key }.map { (resource.path ?? "/", resource.id ?? "", $0.value) }
        }
    }

    static func describeRestIntegration(_ integration: V1Integration?) -> String {
        guard let integration else { return "(no integration)" }
        let uri = integration.uri.map { uri in
            // A function's invocation URI, shortened to its ARN.
            uri.range(of: "/functions/").map { String(uri[$0.upperBound...].dropLast("/invocations".count)) } ?? uri
        }
        return ([integration.type?.rawValue ?? ""] + [uri].compactMap { $0 }).joined(separator: " ")
    }

    static func printRestMethods(_ methods: [(path: String, resource: String, method: V1Method)], withIds: Bool) {
        Printer.table(
            ["PATH", "METHOD"] + (withIds ? ["RESOURCE"] : []) + ["AUTH", "API KEY", "INTEGRATION"],
            methods.map { entry in
                [entry.path, entry.method.httpMethod ?? ""] + (withIds ? [entry.resource] : []) + [
                    entry.method.authorizationType ?? "NONE", entry.method.apiKeyRequired == true ? "required" : "-",
                    describeRestIntegration(entry.method.methodIntegration),
                ]
            })
    }

    static func describeRest(_ global: GlobalOptions, _ api: V1RestApi) async throws {
        let id = api.id ?? ""
        let stages: V1Stages = try await get(global, restApisPath + "/\(id)/stages")
        let methods = try await restMethods(global, id)
        if global.output == .json { return Printer.json(api) }
        Printer.fields([
            ("Name", api.name ?? ""), ("Id", id), ("Protocol", "REST"), ("Path form", "/\(id)/STAGE/… on the gateway listener"),
            ("Host form", "http://\(id).execute-api.localhost:PORT/STAGE/…"), ("API key source", api.apiKeySource?.rawValue ?? "HEADER"),
            ("Created", api.createdDate.map { CivilCalendar.iso8601(secondsSince1970: Int64($0.timeIntervalSince1970)) } ?? ""),
            ("Description", api.description ?? ""),
        ])
        print("")
        Printer.table(
            ["STAGE", "DEPLOYMENT", "VARIABLES", "THROTTLING"],
            (stages.item ?? []).map { stage in
                let variables = (stage.variables ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                let throttling = (stage.methodSettings ?? [:]).sorted { $0.key < $1.key }.compactMap { key, setting -> String? in
                    guard setting.throttlingRateLimit != nil || setting.throttlingBurstLimit != nil else { return nil }
                    return "\(key): \(setting.throttlingRateLimit.map { "\($0)/s" } ?? "-") burst \(setting.throttlingBurstLimit.map(String.init) ?? "-")"
                }.joined(separator: ", ")
                return [stage.stageName ?? "", stage.deploymentId ?? "", variables.isEmpty ? "-" : variables, throttling.isEmpty ? "-" : throttling]
            })
        print("")
        printRestMethods(methods, withIds: false)
        let authorizers: V1Authorizers = try await get(global, restApisPath + "/\(id)/authorizers")
        if let items = authorizers.item, !items.isEmpty {
            print("")
            Printer.table(
                ["AUTHORIZER", "ID", "TYPE", "IDENTITY", "TTL", "FUNCTION"],
                items.map {
                    [
                        $0.name ?? "", $0.id ?? "", $0.type?.rawValue ?? "", $0.identitySource ?? "",
                        String($0.authorizerResultTtlInSeconds ?? 300), describeRestIntegration(V1Integration(uri: $0.authorizerUri)).trimmingCharacters(in: .whitespaces),
                    ]
                })
        }
    }
}
