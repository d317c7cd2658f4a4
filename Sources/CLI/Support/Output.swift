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
import SigV4
import StevedoreClient
import StevedoreCore

public enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case table
    case json
    /// Rows as CSV (`ecsctl query`; other commands print tables).
    case csv
}

/// Options every command takes.
public struct GlobalOptions: ParsableArguments {
    @Option(help: "Control plane endpoint, or several separated by commas: the first that answers is used (env ECS_ENDPOINT).")
    public var endpoint: String?

    @Option(help: "Output format: table or json (and csv for ecsctl query).")
    public var output: OutputFormat = .table

    @Option(help: "Credentials profile to sign requests with (env AWS_PROFILE; default: default).")
    public var profile: String?

    @Option(help: "For an https endpoint: PEM file of the certificate authorities to trust (env AWS_CA_BUNDLE; default: the system's).")
    public var caFile: String?

    public init() {}

    public func validate() throws {
        let environment = ProcessInfo.processInfo.environment
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw ValidationError("--ca-file \(caFile): no readable file there (a PEM file of certificate authorities).")
        }
        if let profile, CredentialChain.find(profile: profile, environment: environment) == nil {
            throw ValidationError(
                "The profile '\(profile)' has no aws_access_key_id and aws_secret_access_key in \(CredentialChain.sharedFile(environment)) (set AWS_SHARED_CREDENTIALS_FILE, e.g. to ecsd's <data-dir>/admin-credentials).")
        }
    }

    /// The control plane's endpoint: the flag, then ECS_ENDPOINT, then the local default; of
    /// several (separated by commas), the first that accepts a connection.
    public var resolvedEndpoint: String {
        EndpointChoice.reachable(endpoint ?? ProcessInfo.processInfo.environment["ECS_ENDPOINT"] ?? "http://127.0.0.1:8340")
    }

    public var client: APIClient {
        let environment = ProcessInfo.processInfo.environment
        return APIClient(
            endpoint: resolvedEndpoint,
            credentials: CredentialChain.find(profile: profile, environment: environment),
            region: environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1",
            caFile: caFile ?? environment["AWS_CA_BUNDLE"])
    }
}

/// Writes to stdout; tables for people, JSON (the API's shapes) for scripts.
enum Printer {
    static func json<Value: Encodable>(_ value: Value) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .secondsSince1970
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        print(String(decoding: data, as: UTF8.self))
    }

    /// Left-aligned columns separated by two spaces; the header in capitals.
    static func table(_ header: [String], _ rows: [[String]]) {
        print(renderTable(header, rows), terminator: "")
    }

    static func renderTable(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        var text = ""
        for row in all {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            text += cells.joined(separator: "  ") + "\n"
        }
        return text
    }

    /// `key: value` lines for one resource.
    static func fields(_ pairs: [(String, String)]) {
        let width = pairs.map(\.0.count).max() ?? 0
        for (key, value) in pairs {
            print("\(key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)")
        }
    }
}

extension Date {
    /// `2026-11-29 14:03:12` in UTC, for tables.
    var shortText: String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: self)
    }
}

/// `key=value` pairs given on the command line.
func parsePairs(_ items: [String], what: String) throws -> [(String, String)] {
    try items.map { item in
        guard let equals = item.firstIndex(of: "=") else {
            throw ValidationError("\(what) '\(item)' must look like key=value.")
        }
        return (String(item[..<equals]), String(item[item.index(after: equals)...]))
    }
}

/// A CLI failure with a message for the user; printed to stderr, exit status 1.
public struct CLIError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
