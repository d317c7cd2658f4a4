import APIGateway
import AWSProtocols
import CurlHTTP
import ECS
import Foundation
import HTTPTypes
import Hummingbird
import LoadBalancing
import NIOCore
import SigV4
import StevedoreCore

extension GatewayChannel {
    /// Hummingbird's application asks for a responder; the gateway's channels answer their
    /// requests themselves (``GatewayHTTPHandler``), so this one is never called.
    static let unusedResponder = CallbackResponder { (_: Request, _: BasicRequestContext) in Response(status: .internalServerError) }
}

/// HTTP_PROXY integrations' requests to https URLs, sent with libcurl (its connection cache keeps
/// backends' connections open between requests); plain-HTTP ones go through ``BackendConnections``.
struct CurlForwarding: HTTPForwarding {
    func forward(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration) async
        -> ForwardingResult
    {
        guard let parsed = URLComponents(string: url), let scheme = parsed.scheme, let host = parsed.host else { return .failed }
        let base = "\(scheme)://\(host)\(parsed.port.map { ":\($0)" } ?? "")"
        var path = parsed.percentEncodedPath.isEmpty ? "/" : parsed.percentEncodedPath
        if let query = parsed.percentEncodedQuery { path += "?" + query }
        do {
            let response = try await HTTPClient(baseURL: base, connectTimeout: .seconds(5)).execute(
                HTTPClient.Request(method: method, path: path, headers: headers, body: body.isEmpty && method == "GET" ? nil : body, timeout: timeout))
            return .answered(GatewayResponse(status: response.status, headers: response.headers.map { ($0.name, $0.value) }, body: response.body))
        } catch let error as HTTPClientError where error.kind == .timedOut {
            return .timedOut
        } catch let error as HTTPClientError where error.kind == .couldNotConnect {
            return .refused
        } catch {
            return .failed
        }
    }
}

/// Target groups' targets, from ECS's committed state (see ``ECSState/loadBalancerTargets(group:)``).
struct ECSTargetDirectory: TargetDirectory {
    let committer: Committer<ControlPlaneState>
    let health: TargetHealthRegistry

    /// The group's RUNNING tasks; when the group (a target group made with `aws elbv2`) checks
    /// its targets, only the healthy ones, or all of them when none is (ELB fails open).
    func targets(of group: String) async -> [(host: String, port: Int)] {
        let found = try? await committer.read { root, _ in Self.registered(root, group: group) }
        return healthy(found ?? ([], false), group: group)
    }

    func targetsNow(of group: String) -> [(host: String, port: Int)]? {
        committer.readNow { Self.registered($0, group: group) }.map { healthy($0, group: group) }
    }

    /// The group's registered targets, and whether the group checks their health.
    static func registered(_ root: ControlPlaneState, group: String) -> ([(host: String, port: Int)], Bool) {
        (root.ecs.loadBalancerTargets(group: group).map { (host: $0.host, port: $0.port) }, root.loadBalancing.groups[group]?.healthCheck.enabled == true)
    }

    func healthy(_ registered: ([(host: String, port: Int)], Bool), group: String) -> [(host: String, port: Int)] {
        let (all, checked) = registered
        guard checked else { return all }
        let healthy = all.filter { health.health(group: group, target: TargetHealthRegistry.key(host: $0.host, port: $0.port)).state == .healthy }
        return healthy.isEmpty ? all : healthy
    }
}

extension AccessLogStore: AccessLogSink {
    func write(group: String, line: String) { append(group, Data(line.utf8)) }
}

/// Stages' access logs where AWS puts them, CloudWatch Logs (the stage's destination group, made
/// when missing; stream `access-log`), read with `aws logs`; and in the gateway's own store, which
/// `ecsctl api logs` tails. Neither write waits: CloudWatch Logs' ingest gathers lines and writes
/// them a stream at a time.
struct GatewayAccessLogs: AccessLogSink {
    static let stream = "access-log"
    let store: AccessLogStore
    let ingest: LogIngest
    let clock: @Sendable () -> Date

    func write(group: String, line: String) {
        store.write(group: group, line: line)
        ingest.submit(group: group, stream: Self.stream, messages: [line.hasSuffix("\n") ? String(line.dropLast()) : line], time: clock())
    }
}

/// AWS_IAM routes on ecsd's keys and policies: the signature (service `execute-api`) first, then
/// the action (`execute-api:Invoke`, or `execute-api:ManageConnections` for `@connections`) on the route's ARN.
struct GatewayRequestSigning: RequestSigning {
    let authenticator: RequestAuthenticator
    let accountId: String

    func authorize(_ request: GatewayRequest, routeArn: String, action: String) async -> IAMVerdict {
        let path = request.receivedPath.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.receivedPath
        let signable = SignableRequest(
            method: request.method, path: path, query: request.rawQueryString,
            headers: request.headers.map { (name: $0.name.lowercased(), value: $0.value) }, body: request.body)
        guard signable.header("authorization") != nil || request.rawQueryString.contains("X-Amz-Signature=") else {
            return .refused(.forbidden)
        }
        // Signed for the action's service: `execute-api` for routes, `lambda` for function URLs.
        let service = action.split(separator: ":").first.map(String.init) ?? "execute-api"
        switch authenticator.authenticate(signable, service: service, style: .restJSON) {
        case .failure(let refusal):
            return .refused(.message(403, refusal.message))
        case .success(let principal):
            if let refusal = AccessPolicy.refusal(principal, RequestedAction(action: action) { routeArn }, style: .restJSON) {
                return .refused(.message(403, refusal.message))
            }
            let caller = principal.caller
            return .allowed([
                "accessKey": .string(caller.accessKeyId), "accountId": .string(accountId), "callerId": .string(caller.userId),
                "principalOrgId": .null, "userArn": .string(caller.arn), "userId": .string(caller.userId),
            ])
        }
    }
}
