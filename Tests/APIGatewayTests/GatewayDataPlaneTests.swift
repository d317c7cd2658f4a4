import AgentProtocol
@testable import APIGateway
import APIGatewayShapes
import Foundation
import Lambda
import StevedoreCore
import Synchronization
import Testing

/// The data plane with twins of its edges: a backend that answers (or refuses) per host, a
/// target directory, and functions that echo.
struct GatewayDataPlaneTests {
    final class Backends: HTTPForwarding {
        let refusing: Set<String>
        let calls = Mutex<[String]>([])

        init(refusing: Set<String> = []) { self.refusing = refusing }

        func forward(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration) async
            -> ForwardingResult
        {
            calls.withLock { $0.append("\(method) \(url)") }
            let host = URLComponents(string: url)?.host ?? ""
            if refusing.contains(host) { return .refused }
            return .answered(GatewayResponse(status: 200, headers: [("x-host", host), ("Connection", "close")], body: Array(host.utf8)))
        }
    }

    struct Directory: TargetDirectory {
        let hosts: [String]
        func targets(of group: String) async -> [(host: String, port: Int)] { hosts.map { ($0, 80) } }
    }

    struct EchoFunctions: FunctionRuntime {
        func invoke(_ request: InvocationRequest) async throws(AWSError) -> InvocationOutcome {
            InvocationOutcome(status: .success, payload: request.payload, errorType: nil, log: nil, executedVersion: "$LATEST", functionName: "f")
        }
        func check(_ reference: String, qualifier: String?) async throws(AWSError) -> InvokeTarget { throw AWSError.server("unused") }
        func enqueue(requestId: String, function: String, qualifier: String?, payload: Data) async throws(AWSError) {}
        func storeCode(_ zip: [UInt8], settings: FunctionSettings) throws(AWSError) -> CodeBundle { throw AWSError.server("unused") }
        func objectBytes(bucket: String, key: String) async throws(AWSError) -> [UInt8] { throw AWSError.server("unused") }
        func now() -> Date { Date() }
    }

    let group = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/1"

    func plane(_ state: GatewayState, backends: Backends, hosts: [String]) -> GatewayDataPlane {
        GatewayDataPlane(names: ResourceNames(), functions: EchoFunctions(), http: backends, targets: Directory(hosts: hosts)) { state }
    }

    func state(target: String, cors: V2Cors? = nil) throws -> (GatewayState, String) {
        var state = GatewayState(names: ResourceNames())
        var random = Xoshiro256(seed: 1)
        var changes = ChangeSet()
        let api = try state.createApi(
            V2CreateApiRequest(corsConfiguration: cors, name: "a", protocolType: .http, target: target), now: Date(), using: &random, changes: &changes)
        return (state, api.apiId ?? "")
    }

    func request(_ path: String, method: String = "GET", headers: [(name: String, value: String)] = []) -> GatewayRequest {
        GatewayRequest(method: method, rawPath: path, routePath: path, rawQueryString: "q=1", headers: headers, body: [], sourceIp: "10.1.1.1", requestId: "r", time: Date())
    }

    @Test func targetGroupsTakeRequestsInTurnAndSkipRefusingTargets() async throws {
        let (state, api) = try state(target: group)
        let backends = Backends(refusing: ["10.0.0.2"])
        let gateway = plane(state, backends: backends, hosts: ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
        var answeredBy: [String] = []
        for _ in 0..<6 {
            let response = await gateway.handle(host: nil, path: "/\(api)/items", request: request("/\(api)/items"))
            #expect(response.status == 200)
            #expect(!response.headers.contains { $0.0 == "Connection" })
            answeredBy.append(String(decoding: response.body, as: UTF8.self))
        }
        #expect(Set(answeredBy) == ["10.0.0.1", "10.0.0.3"])
        #expect(backends.calls.withLock { $0.first } == "GET http://10.0.0.1:80/items?q=1")
        let none = plane(state, backends: Backends(), hosts: [])
        #expect(await none.handle(host: nil, path: "/\(api)/x", request: request("/\(api)/x")) .status == 503)
        let allRefuse = plane(state, backends: Backends(refusing: ["10.0.0.1"]), hosts: ["10.0.0.1"])
        #expect(await allRefuse.handle(host: nil, path: "/\(api)/x", request: request("/\(api)/x")).status == 503)
    }

    @Test func functionsAnswerAndEveryAnswerCarriesTheRequestId() async throws {
        let (state, api) = try state(target: "arn:aws:lambda:us-east-1:000000000000:function:f")
        let gateway = plane(state, backends: Backends(), hosts: [])
        let response = await gateway.handle(host: "\(api).execute-api.localhost", path: "/hello", request: request("/hello"))
        // The echo function returns the event: JSON without a statusCode is a 200 body.
        #expect(response.status == 200 && response.headers.contains { $0 == ("apigw-requestid", "r") })
        let event = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        #expect(event["rawPath"] as? String == "/hello" && event["rawQueryString"] as? String == "q=1")
        let missing = await gateway.handle(host: "nope.execute-api.localhost", path: "/", request: request("/"))
        #expect(missing.status == 404 && missing.body == Array(#"{"message":"Not Found"}"#.utf8))
    }

    @Test func preflightsNeverReachTheIntegration() async throws {
        let (state, api) = try state(target: group, cors: V2Cors(allowMethods: ["GET"], allowOrigins: ["https://a"]))
        let backends = Backends()
        let gateway = plane(state, backends: backends, hosts: ["10.0.0.1"])
        let response = await gateway.handle(
            host: nil, path: "/\(api)/x", request: request("/\(api)/x", method: "OPTIONS", headers: [("Origin", "https://a"), ("Access-Control-Request-Method", "GET")]))
        #expect(response.status == 204 && backends.calls.withLock { $0.isEmpty })
    }

    struct Signing: RequestSigning {
        func authorize(_ request: GatewayRequest, routeArn: String, action: String) async -> IAMVerdict {
            guard action == "execute-api:Invoke" else { return .refused(.forbidden) }
            return request.header("authorization") == "good"
                ? .allowed(["userArn": .string("arn:aws:iam::000000000000:root"), "route": .string(routeArn)]) : .refused(.forbidden)
        }
    }

    @Test func awsIAMRoutesAskTheSigningCheck() async throws {
        var (state, api) = try state(target: "arn:aws:lambda:us-east-1:000000000000:function:f")
        var random = Xoshiro256(seed: 9)
        var changes = ChangeSet()
        let route = try #require(try state.getRoutes(api, maxResults: nil, nextToken: nil).items?.first)
        _ = try state.updateRoute(api, route.routeId ?? "", V2UpdateRouteRequest(authorizationType: .awsIam), now: Date(), using: &random, changes: &changes)
        let frozen = state
        let gateway = GatewayDataPlane(names: ResourceNames(), functions: EchoFunctions(), http: Backends(), targets: Directory(hosts: []), signing: Signing()) { frozen }
        let refused = await gateway.handle(host: nil, path: "/\(api)/x", request: request("/\(api)/x"))
        #expect(refused.status == 403)
        let allowed = await gateway.handle(host: nil, path: "/\(api)/x", request: request("/\(api)/x", headers: [("Authorization", "good")]))
        let event = try #require(try JSONSerialization.jsonObject(with: Data(allowed.body)) as? [String: Any])
        let iam = try #require(((event["requestContext"] as? [String: Any])?["authorizer"] as? [String: Any])?["iam"] as? [String: String])
        #expect(iam["userArn"] == "arn:aws:iam::000000000000:root" && iam["route"] == "arn:aws:execute-api:us-east-1:000000000000:\(api)/$default/GET/x")
    }
}
