import Foundation
import AgentProtocol
import APIGatewayShapes
import Lambda
import StevedoreCore
import Synchronization

/// The function an AWS_PROXY integration invokes: its URI is the function's ARN, or API Gateway's
/// invocation URI around it (`arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations`).
public struct FunctionTarget: Sendable, Equatable {
    public var functionArn: String

    public init?(integrationUri: String) {
        var uri = Substring(integrationUri)
        if uri.hasPrefix("arn:"), uri.contains(":apigateway:"), let range = uri.range(of: ":lambda:path/2015-03-31/functions/") {
            uri = uri[range.upperBound...]
            guard uri.hasSuffix("/invocations") else { return nil }
            uri = uri.dropLast("/invocations".count)
        }
        let parts = uri.split(separator: ":", omittingEmptySubsequences: false)
        // arn:partition:lambda:region:account:function:name[:qualifier]; a stage variable may stand for any part.
        guard parts.count == 7 || parts.count == 8, parts[0] == "arn", parts[2] == "lambda", parts[5] == "function", !parts[6].isEmpty else {
            return nil
        }
        functionArn = String(uri)
    }
}

/// Sends a request to an HTTP backend (HTTP_PROXY integrations); the control plane's is libcurl's.
public protocol HTTPForwarding: Sendable {
    func forward(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration) async
        -> ForwardingResult
}

/// A request on its way to an HTTP backend.
public struct ForwardedExchange: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var timeout: Duration

    public init(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// How a forwarded request ended.
public enum ForwardingResult: Sendable {
    case answered(GatewayResponse)
    /// No answer within the integration's timeout.
    case timedOut
    /// No connection could be made: nothing was sent, so another target may be tried.
    case refused
    /// A broken exchange.
    case failed
}

/// AWS_IAM routes: the request's Signature Version 4 (service `execute-api`) checked against the
/// control plane's keys, and the signer's policies against `execute-api:Invoke` on the route.
public protocol RequestSigning: Sendable {
    /// - Parameter action: what the signer's policies must allow on `routeArn`.
    func authorize(_ request: GatewayRequest, routeArn: String, action: String) async -> IAMVerdict
}

extension RequestSigning {
    /// Invoking a route: `execute-api:Invoke`.
    public func authorize(_ request: GatewayRequest, routeArn: String) async -> IAMVerdict {
        await authorize(request, routeArn: routeArn, action: "execute-api:Invoke")
    }
}

public enum IAMVerdict: Sendable {
    /// Who signed: `accessKey`, `accountId`, `callerId`, `userArn`, `userId`, as the event's `authorizer.iam`.
    case allowed([String: JSONValue])
    case refused(GatewayResponse)
}

/// The targets of a target group (an ECS service's `loadBalancers` entry): where its healthy
/// tasks listen. The control plane's reads ECS's state.
public protocol TargetDirectory: Sendable {
    func targets(of group: String) async -> [(host: String, port: Int)]
    /// The same targets when they can be read without waiting; nil otherwise.
    func targetsNow(of group: String) -> [(host: String, port: Int)]?
}

extension TargetDirectory {
    public func targetsNow(of group: String) -> [(host: String, port: Int)]? { nil }
}

/// A target group's ARN, as ECS services' `loadBalancers` name them and HTTP_PROXY integrations
/// may name them instead of a URL: `arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/{name}/{id}`.
public enum TargetGroup {
    public static func isArn(_ text: String) -> Bool {
        guard text.hasPrefix("arn:") else { return false }
        let parts = text.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        return parts.count == 6 && parts[0] == "arn" && parts[2] == "elasticloadbalancing" && parts[5].hasPrefix("targetgroup/")
    }
}

/// Where a request goes: the API and stage its host and path name, and the deployment the stage serves.
public struct GatewayDestination: Sendable {
    public var api: GatewayAPIRecord
    public var stage: V2Stage
    public var deployment: GatewayDeployment
    /// The path as the event's `rawPath` gives it (with a named stage's prefix).
    public var rawPath: String
    /// The path routes are matched against.
    public var routePath: String
}

extension GatewayState {
    /// The API a request is for, by its `Host` (`{api-id}.execute-api.localhost[:port]`) or, for any
    /// other host, by the first segment of its path (`/{api-id}/…`); then the stage, by the next
    /// segment, or `$default`. nil when nothing serves it (404).
    public func destination(host: String?, path: String) -> GatewayDestination? {
        Self.apiReference(host: host, path: path).flatMap(destination)
    }

    /// The API a request names, by its `Host` (`{api-id}.execute-api.localhost[:port]`) or, for
    /// any other host, by the first segment of its path; and the path after that segment.
    static func apiReference(host: String?, path: String) -> (apiId: String, path: Substring)? {
        let path = Substring(path.isEmpty ? "/" : path)
        let hostName = host.map { $0.split(separator: ":").first ?? "" } ?? ""
        if let dot = hostName.firstIndex(of: "."), hostName[dot...].hasPrefix(".execute-api.") {
            return (String(hostName[..<dot]), path)
        }
        let segments = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true)
        guard let first = segments.first else { return nil }
        return (String(first), segments.count > 1 ? "/" + segments[1] : "/")
    }

    /// An HTTP or WebSocket API's destination for a request's API reference.
    func destination(_ reference: (apiId: String, path: Substring)) -> GatewayDestination? {
        let path = reference.path
        guard let api = apis[reference.apiId], api.api.disableExecuteApiEndpoint != true else { return nil }
        let first = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true).first.map(String.init)
        let stage: V2Stage
        var routePath = String(path)
        if let first, first != Self.defaultStage, let named = api.stages[first] {
            stage = named
            routePath = String(path.dropFirst(1 + first.utf8.count))
            if routePath.isEmpty { routePath = "/" }
        } else if let fallback = api.stages[Self.defaultStage] {
            stage = fallback
        } else {
            return nil
        }
        guard let deploymentId = stage.deploymentId, let deployment = api.deployments[deploymentId] else { return nil }
        return GatewayDestination(api: api, stage: stage, deployment: deployment, rawPath: String(path), routePath: routePath)
    }
}

/// The gateway's data plane: takes a request to a deployed stage through its route to the
