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

/// A gateway request's context: the caller's address, for the events' `sourceIp`.
struct GatewayRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// The HTTP face of the gateway's data plane on `--gateway-listen`: every request goes to the
/// API its host or path names (see ``GatewayState/destination(host:path:)``).
struct GatewayResponder: HTTPResponder {
    let dataPlane: GatewayDataPlane
    let requestIds = RequestIdGenerator()
    let clock: @Sendable () -> Date

    func respond(to request: Request, context: GatewayRequestContext) async throws -> Response {
        let requestId = requestIds.next()
        var request = request
        guard let body = try? await request.collectBody(upTo: GatewayDataPlane.maximumBody) else {
            return Self.response(.requestTooLarge, requestId: requestId)
        }
        let path = request.uri.path
        let query = request.uri.query ?? ""
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(request.headers.count + 1)
        // HTTP/1.1's Host header arrives as the request's authority.
        if let authority = request.head.authority { headers.append(("Host", authority)) }
        for field in request.headers { headers.append((field.name.rawName, field.value)) }
        let gatewayRequest = GatewayRequest(
            method: request.method.rawValue, rawPath: path, routePath: path, rawQueryString: query, headers: headers,
            body: Array(body.readableBytesView), sourceIp: context.remoteAddress?.ipAddress ?? "127.0.0.1", requestId: requestId, time: clock())
        let answer = await dataPlane.handle(host: request.head.authority, path: path, request: gatewayRequest)
        return Self.response(answer, requestId: nil)
    }

    static func response(_ answer: GatewayResponse, requestId: String?) -> Response {
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let fieldName = HTTPField.Name(name) { fields.append(HTTPField(name: fieldName, value: value)) }
        }
        if let requestId, let name = HTTPField.Name("apigw-requestid") { fields[name] = requestId }
        return Response(
            status: HTTPResponse.Status(code: answer.status), headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}

/// HTTP_PROXY integrations' requests, sent with libcurl (its connection cache keeps backends'
/// connections open between requests).
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
        let (targets, checked) = (try? await committer.read { root, _ in
            (root.ecs.loadBalancerTargets(group: group), root.loadBalancing.groups[group]?.healthCheck.enabled == true)
        }) ?? ([], false)
        let all = targets.map { (host: $0.host, port: $0.port) }
        guard checked else { return all }
        let healthy = all.filter { health.health(group: group, target: TargetHealthRegistry.key(host: $0.host, port: $0.port)).state == .healthy }
        return healthy.isEmpty ? all : healthy
    }
}

extension FunctionLogStore: AccessLogSink {
    func write(group: String, line: String) { append(group, Data(line.utf8)) }
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
        switch authenticator.authenticate(signable, service: "execute-api", style: .restJSON) {
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
