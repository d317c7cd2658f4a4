import APIGateway
import AWSProtocols
import CloudFormation
import Foundation
import Lambda
import S3
import S3Notifications
import StevedoreCore
import Synchronization

/// A stack's calls to the other services, made through the same handlers that answer clients
/// (so they check and refuse exactly as a client's call would), without a socket in between.
struct InternalServiceCalls: ServiceCalls {
    /// The query services, completed after the deployer is made (CloudFormation's own API, which
    /// nested stacks call, needs the deployer first).
    final class QueryServices: Sendable {
        private let dispatcher: Mutex<QueryDispatcher>
        init(_ dispatcher: QueryDispatcher) { self.dispatcher = Mutex(dispatcher) }
        func complete(_ dispatcher: QueryDispatcher) { self.dispatcher.withLock { $0 = dispatcher } }
        func handle(_ body: [UInt8], context: OperationContext) async -> APIResponse {
            await dispatcher.withLock { $0 }.handle(body, context: context)
        }
    }

    let dispatcher: AWSJSONDispatcher
    let queryServices: QueryServices
    let routes: RouteTable
    let committer: Committer<ControlPlaneState>
    let requestIds: RequestIdGenerator
    let customResources: CustomResourceResponses

    func rest(_ method: String, _ path: String, body: Document?) async throws(AWSError) -> Document {
        let (pathPart, queryPart) = Self.split(path)
        guard let (route, parameters) = routes.match(method: method, path: pathPart) else {
            throw AWSError(type: "InternalFailure", message: "No operation answers \(method) \(pathPart).", httpStatus: 500)
        }
        let bytes = Array((body?.json() ?? "").utf8)
        let request = RESTRequest(
            method: method, path: pathPart, parameters: parameters, query: queryPart, headers: [("content-type", "application/json")], body: bytes,
            requestId: requestIds.next(), agentInstance: nil)
        return try Self.answer(await route.handler(request))
    }

    func json(_ target: String, _ body: Document) async throws(AWSError) -> Document {
        let bytes = Array(body.json().utf8)
        let answer = await dispatcher.handle(target: target, body: bytes, context: OperationContext(requestId: requestIds.next(), bodySize: bytes.count))
        return try Self.answer(answer)
    }

    func query(_ action: String, _ parameters: [(String, String)]) async throws(AWSError) -> XMLNode {
        let form = ([("Action", action)] + parameters).map { "\(Self.formEncoded($0.0))=\(Self.formEncoded($0.1))" }.joined(separator: "&")
        let bytes = Array(form.utf8)
        let answer = await queryServices.handle(bytes, context: OperationContext(requestId: requestIds.next(), bodySize: bytes.count))
        let document = XMLNode.parse(answer.body)
        guard answer.status < 300 else {
            let error = document?.child("Error")
            throw AWSError(type: error?.value("Code") ?? "InternalFailure", message: error?.value("Message") ?? "", httpStatus: answer.status)
        }
        return document?.child("\(action)Result") ?? XMLNode(name: "\(action)Result")
    }

    func createBucket(_ name: String) async throws(AWSError) {
        try await committer.write { root, m throws(AWSError) in try root.s3.createBucket(name, locationConstraint: nil, now: m.now, changes: &m.changes) }
    }

    func deleteBucket(_ name: String) async throws(AWSError) {
        _ = try await committer.write { root, m throws(AWSError) in try root.s3.deleteBucket(name, changes: &m.changes) }
    }

    func setBucketPolicy(_ name: String, policy: String?) async throws(AWSError) {
        try await committer.write { root, m throws(AWSError) in try root.s3.setBucketPolicy(name, policy: policy, changes: &m.changes) }
    }

    func setBucketTags(_ name: String, tags: [S3Tag]?) async throws(AWSError) {
        try await committer.write { root, m throws(AWSError) in try root.s3.setBucketTags(name, tags: tags, changes: &m.changes) }
    }

    func setBucketNotification(_ name: String, _ configuration: NotificationConfiguration) async throws(AWSError) {
        let requestId = requestIds.next()
        try await committer.write { root, m throws(AWSError) in
            try root.putBucketNotification(
                bucket: name, configuration, skipDestinationValidation: false, requestId: requestId, now: m.now, using: &m.random, changes: &m.changes)
        }
    }

    func invokeEvent(_ functionArn: String, payload: [UInt8]) async throws(AWSError) {
        try await committer.write { root, m throws(AWSError) in
            let (name, qualifier) = try FunctionNames.parse(functionArn)
            _ = try root.lambda.functionVersion(name, qualifier: qualifier)
            root.lambda.enqueueAsyncEvent(
                AsyncEventRecord(requestId: Identifiers.uuid(using: &m.random), functionName: name, qualifier: qualifier, payload: Data(payload), enqueuedAt: m.now),
                changes: &m.changes)
        }
    }

    func customResourceResponseURL(stackId: String, logicalId: String, requestId: String) async throws(AWSError) -> String {
        try await customResources.url(stackId: stackId, logicalId: logicalId, requestId: requestId)
    }

    func customResourceResponse(stackId: String, logicalId: String, requestId: String, timeout: Duration) async throws(AWSError) -> [UInt8]? {
        try await customResources.response(stackId: stackId, logicalId: logicalId, requestId: requestId, timeout: timeout)
    }

    func newRequestId() -> String { UUID().uuidString.lowercased() }

    // MARK: Reading answers

    static func split(_ path: String) -> (String, [(name: String, value: String)]) {
        guard let mark = path.firstIndex(of: "?") else { return (path, []) }
        let query = path[path.index(after: mark)...].split(separator: "&").map { pair -> (name: String, value: String) in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in text.removingPercentEncoding ?? String(text) }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
        return (String(path[..<mark]), query)
    }

    /// The answer's JSON, or its error as the service worded it.
    static func answer(_ response: APIResponse) throws(AWSError) -> Document {
        let document = response.body.isEmpty ? nil : Document.parseJSON(response.body)
        guard response.status < 300 else {
            let header = response.headers.first { $0.0.lowercased() == "x-amzn-errortype" }?.1
            let type = (header ?? document?["__type"]?.string ?? document?["code"]?.string ?? document?["Type"]?.string ?? "InternalFailure")
            let message = document?["message"]?.string ?? document?["Message"]?.string ?? ""
            let short = type.split(separator: ":").first.map(String.init) ?? type
            throw AWSError(type: short.split(separator: "#").last.map(String.init) ?? short, message: message, httpStatus: response.status)
        }
        return document ?? .object([])
    }

    static func formEncoded(_ text: String) -> String {
        PercentEncoding.encode(text)
    }
}

/// REST routes by method and path template (`/functions/{name}/versions`), for calls made
/// inside the control plane.
struct RouteTable: Sendable {
    private let routes: [(route: RESTRoute, segments: [Substring])]

    init(_ routes: [RESTRoute]) {
        self.routes = routes.map { ($0, $0.path.split(separator: "/")) }
    }

    func match(method: String, path: String) -> (RESTRoute, [String: String])? {
        let segments = path.split(separator: "/")
        for (route, template) in routes where route.method == method && template.count == segments.count {
            var parameters: [String: String] = [:]
            var matched = true
            for (pattern, segment) in zip(template, segments) {
                if pattern.hasPrefix("{"), pattern.hasSuffix("}") {
                    let name = String(pattern.dropFirst().dropLast())
                    parameters[name] = segment.removingPercentEncoding ?? String(segment)
                } else if pattern != segment {
                    matched = false
                    break
                }
            }
            if matched { return (route, parameters) }
        }
        return nil
    }
}

/// AWS service integrations' calls (an HTTP API route sending to SQS or EventBridge), made through
/// the same handlers that answer clients, without a socket in between.
struct InternalServiceActions: ServiceActions {
    let dispatcher: AWSJSONDispatcher
    let requestIds: RequestIdGenerator

    func call(target: String, body: [UInt8]) async -> (status: Int, body: [UInt8]) {
        let answer = await dispatcher.handle(target: target, body: body, context: OperationContext(requestId: requestIds.next(), bodySize: body.count))
        return (answer.status, answer.body)
    }
}
