import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import AWSProtocols
import CurlHTTP
import SigV4
import StevedoreCore

/// Calls Stevedore's AWS JSON APIs over HTTP, decoding outputs into the model's shapes and
/// errors into ``AWSError``.
public struct APIClient: Sendable {
    public var endpoint: String
    /// Sent with every request (e.g. an `Authorization` header for servers that route by it).
    public var extraHeaders: [(String, String)]
    /// When set, every request is signed with Signature Version 4 as the AWS SDKs sign them.
    public var credentials: AWSCredentials?
    /// The region in the signature's scope.
    public var region: String
    let http: HTTPClient

    /// - Parameter caFile: for an `https://` endpoint, the certificate authorities to verify it
    ///   against (a PEM file) instead of the system's store.
    public init(
        endpoint: String, extraHeaders: [(String, String)] = [], credentials: AWSCredentials? = nil, region: String = "us-east-1",
        caFile: String? = nil
    ) {
        self.endpoint = endpoint
        self.extraHeaders = extraHeaders
        self.credentials = credentials
        self.region = region
        http = HTTPClient(baseURL: endpoint, caFile: caFile)
    }

    /// `request` with `Host`, `X-Amz-Date` and `Authorization` added when there are credentials.
    /// The signing name is the service's (`ecs`, `lambda`); ecsd checks the signature, not the scope's service.
    func signed(_ request: HTTPClient.Request, service: String) -> HTTPClient.Request {
        guard let credentials else { return request }
        return Self.sign(request, endpoint: endpoint, credentials: credentials, region: region, service: service)
    }

    /// `request`, to be sent to `endpoint`, with `Host`, `X-Amz-Date` and `Authorization` added
    /// (and `X-Amz-Security-Token` for temporary credentials).
    public static func sign(
        _ request: HTTPClient.Request, endpoint: String, credentials: AWSCredentials, region: String = "us-east-1", service: String
    ) -> HTTPClient.Request {
        var request = request
        let (path, query) = request.path.splittingQuery
        request.headers.append(("Host", authority(of: endpoint)))
        let signable = SignableRequest(method: request.method, path: path, query: query, headers: request.headers, body: request.body ?? [])
        request.headers += SigV4Signer.sign(
            signable, accessKeyId: credentials.accessKeyId, secret: credentials.secretAccessKey, sessionToken: credentials.sessionToken,
            region: region, service: service, now: Int64(Date().timeIntervalSince1970))
        return request
    }

    /// `host[:port]` of an endpoint URL, as curl sends it in `Host`.
    static func authority(of endpoint: String) -> String {
        let afterScheme = endpoint.split(separator: "://", maxSplits: 1).last ?? Substring(endpoint)
        return String(afterScheme.prefix { $0 != "/" })
    }

    public static let ecsTarget = "AmazonEC2ContainerServiceV20141113"

    /// One ECS operation, e.g. `ecs("ListClusters", ListClustersRequest())`.
    public func ecs<Input: Encodable, Output: Decodable>(
        _ operation: String,
        _ input: Input,
        as output: Output.Type = Output.self
    ) async throws -> Output {
        try await json(target: "\(Self.ecsTarget).\(operation)", input, as: output)
    }

    public func json<Input: Encodable, Output: Decodable>(
        target: String,
        _ input: Input,
        as output: Output.Type = Output.self,
        contentType: String = AWSJSONDispatcher.contentType11
    ) async throws -> Output {
        let request = signed(
            HTTPClient.Request(
                method: "POST",
                path: "/",
                headers: [("Content-Type", contentType), ("X-Amz-Target", target)] + extraHeaders,
                body: AWSJSONCodec.encode(input)
            ),
            service: Self.signingName(target: target))
        let response = try await send(request)
        guard response.status == 200 else { throw Self.decodeError(response) }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        do {
            return try decoder.decode(Output.self, from: Data(response.body))
        } catch {
            throw APIClientError(message: "unexpected response from \(endpoint): \(error)", underlying: nil)
        }
    }

    /// The service name a JSON target's requests are signed for.
    static func signingName(target: String) -> String {
        if target.hasPrefix("AnyScaleFrontendService") { return "application-autoscaling" }
        if target.hasPrefix("AmazonAthena") { return "athena" }
        return "ecs"
    }

    /// A REST-JSON call (the Lambda API, or the service signing names): the raw response; non-2xx
    /// answers become ``AWSError``s.
    public func rest(
        _ method: String, _ path: String, body: [UInt8]? = nil, headers: [(String, String)] = [], timeout: Duration? = .seconds(960),
        service: String = "lambda"
    ) async throws -> HTTPClient.Response {
        let request = signed(
            HTTPClient.Request(
                method: method, path: path, headers: (body != nil ? [("Content-Type", "application/json")] : []) + headers + extraHeaders,
                body: body, timeout: timeout),
            service: service)
        let response = try await send(request)
        guard (200..<300).contains(response.status) else { throw Self.decodeError(response) }
        return response
    }

    /// A query-protocol call (IAM, STS): form parameters in, the XML answer out as elements'
    /// texts; an `ErrorResponse` becomes an ``AWSError``.
    public func query(_ action: String, _ parameters: [(String, String)] = [], service: String = "iam", version: String = "2010-05-08") async throws
        -> QueryAnswer
    {
        let pairs = [("Action", action), ("Version", version)] + parameters
        let body = pairs.map { "\(PercentEncoding.encode($0.0))=\(PercentEncoding.encode($0.1))" }.joined(separator: "&")
        let request = signed(
            HTTPClient.Request(
                method: "POST", path: "/", headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")] + extraHeaders,
                body: Array(body.utf8)),
            service: service)
        let response = try await send(request)
        let answer = QueryAnswer(xml: response.bodyText)
        guard response.status == 200 else {
            throw AWSError(type: answer.first("Code") ?? "HTTP \(response.status)", message: answer.first("Message") ?? response.bodyText, httpStatus: response.status)
        }
        return answer
    }

    /// A Lambda API call (or another REST-JSON service's, by its signing name) with a JSON body
    /// and a JSON answer.
    public func lambda<Input: Encodable, Output: Decodable>(
        _ method: String, _ path: String, _ input: Input?, as output: Output.Type = Output.self, service: String = "lambda"
    ) async throws -> Output {
        let response = try await rest(method, path, body: input.map { AWSJSONCodec.encode($0) }, service: service)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        do {
            return try decoder.decode(Output.self, from: Data(response.body.isEmpty ? Array("{}".utf8) : response.body))
        } catch {
            throw APIClientError(message: "unexpected response from \(endpoint): \(error)", underlying: nil)
        }
    }

    /// An API Gateway stage's access log, by its log group, as it grows (`GET /v1/gateway/logs`).
    public func gatewayLogs(group: String, follow: Bool, tailBytes: Int?) async throws -> AsyncThrowingStream<[UInt8], any Error> {
        var query = "group=\(group.percentEncoded())"
        if follow { query += "&follow=1" }
        if let tailBytes { query += "&tail=\(tailBytes)" }
        return try await streamBody("/v1/gateway/logs?" + query)
    }

    /// A task's container logs as they arrive (`GET /v1/tasks/logs`).
    public func taskLogs(cluster: String, task: String, container: String?, follow: Bool, tail: Int?) async throws
        -> AsyncThrowingStream<[UInt8], any Error>
    {
        var query = "cluster=\(cluster.percentEncoded())"
        query += "&task=\(task.percentEncoded())"
        if let container { query += "&container=\(container.percentEncoded())" }
        if follow { query += "&follow=1" }
        if let tail { query += "&tail=\(tail)" }
        return try await streamBody(WorkChannel.taskLogsPath + "?" + query)
    }

    /// Attaches to an exec session (ExecuteCommand's): its frames, as the command runs.
    public func execOutput(sessionId: String, token: String, tty: Bool, size: (columns: Int, rows: Int)?) async throws
        -> AsyncThrowingStream<[UInt8], any Error>
    {
        var query = "token=\(token.percentEncoded())"
        if tty { query += "&tty=1" }
        if let size { query += "&columns=\(size.columns)&rows=\(size.rows)" }
        return try await streamBody(ExecChannel.sessionPath + "/" + sessionId.percentEncoded(keeping: "-_.~") + "?" + query)
    }

    /// Sends input frames to an exec session; `false` when it has ended.
    public func execInput(sessionId: String, token: String, frames: [ExecFrame]) async throws -> Bool {
        let response = try await send(
            HTTPClient.Request(
                method: "POST", path: ExecChannel.sessionPath + "/" + sessionId.percentEncoded(keeping: "-_.~") + "/input?token=" + token.percentEncoded(),
                headers: extraHeaders + [("Content-Type", "application/octet-stream")], body: ExecFrame.encode(frames), timeout: .seconds(30)))
        return response.status == 200
    }

    /// Sends a request; a transport failure becomes an ``APIClientError`` that says where it went.
    private func send(_ request: HTTPClient.Request) async throws -> HTTPClient.Response {
        do {
            return try await http.execute(request)
        } catch let error as HTTPClientError {
            throw APIClientError(
                message: "cannot reach the control plane at \(endpoint): \(error.message). Is ecsd running? (set --endpoint or ECS_ENDPOINT)",
                underlying: error)
        }
    }

    /// A `GET` whose body is followed as it grows (no timeout); non-200 answers become ``AWSError``s.
    private func streamBody(_ path: String) async throws -> AsyncThrowingStream<[UInt8], any Error> {
        let response: HTTPClient.StreamingResponse
        do {
            response = try await http.stream(signed(HTTPClient.Request(path: path, headers: extraHeaders, timeout: nil), service: "ecs"))
        } catch let error as HTTPClientError {
            throw APIClientError(message: "cannot reach the control plane at \(endpoint): \(error.message)", underlying: error)
        }
        guard response.status == 200 else {
            throw Self.decodeError(HTTPClient.Response(status: response.status, headers: response.headers, body: try await response.collect()))
        }
        return response.body
    }

    public static func decodeError(_ response: HTTPClient.Response) -> AWSError {
        struct Body: Decodable {
            var type: String?
            var message: String?
            var Message: String?
            enum CodingKeys: String, CodingKey {
                case type = "__type"
                case message, Message
            }
        }
        let body = try? JSONDecoder().decode(Body.self, from: Data(response.body))
        let rawType = body?.type ?? response.header("X-Amzn-ErrorType") ?? "HTTP \(response.status)"
        // AWS clients take the part before ':' and after '#'.
        let type = String(rawType.split(separator: ":").first ?? "").split(separator: "#").last.map(String.init) ?? rawType
        return AWSError(
            type: type,
            message: body?.message ?? body?.Message ?? response.bodyText,
            httpStatus: response.status
        )
    }
}

/// The control plane could not be reached, or answered something that is not the API.
public struct APIClientError: Error, CustomStringConvertible {
    public var message: String
    public var underlying: HTTPClientError?
    public var description: String { message }
}

extension String {
    /// The path and the query (without `?`) of a request target.
    fileprivate var splittingQuery: (path: String, query: String) {
        guard let mark = firstIndex(of: "?") else { return (self, "") }
        return (String(self[..<mark]), String(self[index(after: mark)...]))
    }
}

/// The elements of a query-protocol answer, read by name (the answers are flat enough for that).
public struct QueryAnswer: Sendable {
    public let xml: String

    public init(xml: String) {
        self.xml = xml
    }

    /// The texts of every `<name>…</name>` element without child elements, in order.
    public func all(_ name: String) -> [String] {
        var values: [String] = []
        var rest = xml[...]
        while let open = rest.firstRange(of: "<\(name)>") {
            guard let close = rest[open.upperBound...].firstRange(of: "</\(name)>") else { break }
            let text = rest[open.upperBound..<close.lowerBound]
            if !text.contains("<") { values.append(Self.unescaped(String(text))) }
            rest = rest[close.upperBound...]
        }
        return values
    }

    public func first(_ name: String) -> String? { all(name).first }

    static func unescaped(_ text: String) -> String {
        guard text.contains("&") else { return text }
        return text.replacing("&lt;", with: "<").replacing("&gt;", with: ">").replacing("&quot;", with: "\"").replacing("&apos;", with: "'")
            .replacing("&amp;", with: "&")
    }
}
