import ECSAPI
import ECSCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The Lambda API over REST-JSON (`/2015-03-31/functions…` and the other dated prefixes), with
/// Lambda's error shape: `x-amzn-ErrorType`, `{"Type": "User", "message": …}`.
struct LambdaAPI: Sendable {
    let committer: Committer
    let router: FunctionRouter
    let code: CodeStore
    let logs: FunctionLogStore
    let asyncQueue: AsyncInvoker
    let settings: FunctionSettings
    let requestIds = RequestIdGenerator()

    static let errorTypeHeader = HTTPField.Name("x-amzn-ErrorType")!
    static let requestIdHeader = HTTPField.Name("x-amzn-RequestId")!
    static let functionErrorHeader = HTTPField.Name("X-Amz-Function-Error")!
    static let logResultHeader = HTTPField.Name("X-Amz-Log-Result")!
    static let executedVersionHeader = HTTPField.Name("X-Amz-Executed-Version")!
    static let invocationTypeHeader = HTTPField.Name("X-Amz-Invocation-Type")!
    static let logTypeHeader = HTTPField.Name("X-Amz-Log-Type")!
    static let clientContextHeader = HTTPField.Name("X-Amz-Client-Context")!
    static let traceHeader = HTTPField.Name("X-Amzn-Trace-Id")!

    /// Room for a 50 MB zip, base64-encoded, in a JSON body.
    static let codeRequestLimit = 72 << 20

    func register(on router: Router<BasicRequestContext>) {
        let functions = "/2015-03-31/functions"
        router.post(RouterPath(functions)) { request, _ in
            await json(request, limit: Self.codeRequestLimit, status: .created) { (input: LambdaCreateFunctionRequest) in
                try await createFunction(input)
            }
        }
        router.get(RouterPath(functions)) { request, _ in
            let query = request.uri.queryParameters
            return await respond {
                try await committer.read { state, _ throws(AWSError) in
                    try state.listFunctions(
                        marker: query.get("Marker"), maxItems: query.get("MaxItems", as: Int.self),
                        allVersions: query.get("FunctionVersion") == "ALL")
                }
            }
        }
        router.get(RouterPath(functions + "/{name}")) { request, context in
            let name = Self.name(context)
            let qualifier = request.uri.queryParameters.get("Qualifier")
            return await respond { try await committer.read { state, _ throws(AWSError) in try state.getFunction(name, qualifier: qualifier) } }
        }
        router.delete(RouterPath(functions + "/{name}")) { request, context in
            let name = Self.name(context)
            let qualifier = request.uri.queryParameters.get("Qualifier")
            return await respond(status: .noContent) { () -> Empty in
                try await committer.write { state, mutation throws(AWSError) in
                    try state.deleteFunction(name, qualifier: qualifier, changes: &mutation.changes)
                }
                if qualifier == nil, let bare = try? FunctionNames.parse(name), bare.qualifier == nil { logs.remove(bare.name) }
                return Empty()
            }
        }
        router.get(RouterPath(functions + "/{name}/configuration")) { request, context in
            let name = Self.name(context)
            let qualifier = request.uri.queryParameters.get("Qualifier")
            return await respond {
                try await committer.read { state, _ throws(AWSError) in try state.getFunctionConfiguration(name, qualifier: qualifier) }
            }
        }
        router.put(RouterPath(functions + "/{name}/configuration")) { request, context in
            let name = Self.name(context)
            return await json(request) { (input: LambdaUpdateFunctionConfigurationRequest) in
                let configuration = try await committer.write { state, mutation throws(AWSError) in
                    try state.updateFunctionConfiguration(name, input, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
                }
                await settle(configuration)
                return configuration
            }
        }
        router.put(RouterPath(functions + "/{name}/code")) { request, context in
            let name = Self.name(context)
            return await json(request, limit: Self.codeRequestLimit) { (input: LambdaUpdateFunctionCodeRequest) in
                let bundle = try input.ZipFile.map { zip throws(AWSError) in try code.store(Array(zip), settings: settings) }
                let configuration = try await committer.write { state, mutation throws(AWSError) in
                    try state.updateFunctionCode(name, input, code: bundle, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
                }
                if input.DryRun != true { await settle(configuration) }
                return configuration
            }
        }
        router.post(RouterPath(functions + "/{name}/invocations")) { request, context in
            await invoke(request, name: Self.name(context))
        }
        router.post(RouterPath(functions + "/{name}/versions")) { request, context in
            let name = Self.name(context)
            return await json(request, status: .created) { (input: LambdaPublishVersionRequest) in
                try await committer.write { state, mutation throws(AWSError) in
                    try state.publishVersion(name, input, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
                }
            }
        }
        router.get(RouterPath(functions + "/{name}/versions")) { request, context in
            let name = Self.name(context)
            let query = request.uri.queryParameters
            return await respond {
                try await committer.read { state, _ throws(AWSError) in
                    try state.listVersions(name, marker: query.get("Marker"), maxItems: query.get("MaxItems", as: Int.self))
                }
            }
        }
        registerAliases(on: router, functions: functions)
        registerLayers(on: router)
        registerConcurrencyAndAsync(on: router)
        registerTags(on: router)
        router.get("/2016-08-19/account-settings") { _, _ in
            await respond { try await committer.read { state, _ in state.accountSettings() } }
        }
        router.get(RouterPath(AgentProtocol.codePath + "/{hash}")) { _, context in
            guard let bytes = code.read(context.parameters.get("hash") ?? "") else {
                return Self.errorResponse(.lambdaNotFound("No code bundle with that hash."), requestId: nil)
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/zip"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        router.get(RouterPath(AgentProtocol.functionLogsPath)) { request, _ in
            functionLogs(request)
        }
    }

    // MARK: Functions

    private func createFunction(_ input: LambdaCreateFunctionRequest) async throws(AWSError) -> LambdaFunctionConfiguration {
        let bundle = try input.Code.ZipFile.map { zip throws(AWSError) in try code.store(Array(zip), settings: settings) }
        let configuration = try await committer.write { state, mutation throws(AWSError) in
            try state.createFunction(input, code: bundle, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
        }
        await settle(configuration)
        return configuration
    }

    /// The code is stored and the configuration committed: the function is ready (Pending →
    /// Active, InProgress → Successful). The response still shows the state at acceptance.
    private func settle(_ configuration: LambdaFunctionConfiguration) async {
        guard let name = configuration.FunctionName, let revision = configuration.RevisionId else { return }
        _ = try? await committer.write { state, mutation throws(AWSError) in
            state.activateFunction(name, revisionId: revision, changes: &mutation.changes)
        }
    }

    // MARK: Invoke

    private func invoke(_ request: Request, name: String) async -> Response {
        let requestId = UUID().uuidString.lowercased()
        var request = request
        let headers = request.headers
        let qualifier = request.uri.queryParameters.get("Qualifier")
        do throws(AWSError) {
            let type = headers[Self.invocationTypeHeader] ?? "RequestResponse"
            guard ["RequestResponse", "Event", "DryRun"].contains(type) else {
                throw AWSError.lambdaInvalidParameter(
                    "1 validation error detected: Value '\(type)' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]")
            }
            let logType = headers[Self.logTypeHeader] ?? "None"
            guard logType == "None" || logType == "Tail" else {
                throw AWSError.lambdaInvalidParameter(
                    "1 validation error detected: Value '\(logType)' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [Tail, None]")
            }
            let limit = type == "Event" ? settings.asynchronousPayloadLimit : settings.synchronousPayloadLimit
            guard let body = try? await request.collectBody(upTo: limit) else {
                throw AWSError(
                    type: "RequestTooLargeException",
                    message: "Request must be smaller than \(limit) bytes for the InvokeFunction operation",
                    httpStatus: 413, extraFields: ["Type": "User"])
            }
            let payload = Data(body.readableBytesView)
            if !payload.isEmpty {
                guard (try? JSONSerialization.jsonObject(with: payload, options: [.fragmentsAllowed])) != nil else {
                    throw AWSError(
                        type: "InvalidRequestContentException", message: "Could not parse request body into json: the payload is not valid JSON.",
                        extraFields: ["Type": "User"])
                }
            }
            var clientContext: String?
            if let encoded = headers[Self.clientContextHeader] {
                guard encoded.utf8.count <= 3583, let decoded = Data(base64Encoded: encoded) else {
                    throw AWSError.lambdaInvalidParameter("Client context must be base64-encoded JSON of at most 3583 bytes.")
                }
                clientContext = String(decoding: decoded, as: UTF8.self)
            }
            let trace = headers[Self.traceHeader] ?? Self.newTraceId()
            switch type {
            case "DryRun":
                _ = try await router.check(name, qualifier: qualifier)
                return Self.plain(status: .noContent, requestId: requestId)
            case "Event":
                let target = try await router.check(name, qualifier: qualifier)
                try await asyncQueue.enqueue(
                    requestId: requestId, function: target.spec.functionName,
                    qualifier: qualifier ?? (try? FunctionNames.parse(name))?.qualifier, payload: payload)
                return Self.plain(status: .accepted, requestId: requestId)
            default:
                let outcome = try await router.invoke(
                    InvocationRequest(
                        reference: name, qualifier: qualifier, payload: payload, requestId: requestId, traceId: trace,
                        clientContext: clientContext, tailLogs: logType == "Tail"))
                return Self.invocationResponse(outcome, requestId: requestId, tail: logType == "Tail")
            }
        } catch {
            return Self.errorResponse(error, requestId: requestId)
        }
    }

    static func invocationResponse(_ outcome: InvocationOutcome, requestId: String, tail: Bool) -> Response {
        var fields = HTTPFields()
        fields[requestIdHeader] = requestId
        fields[.contentType] = "application/json"
        switch outcome.status {
        case .success, .functionError:
            fields[executedVersionHeader] = outcome.executedVersion
            if outcome.status == .functionError { fields[functionErrorHeader] = "Unhandled" }
            if tail, let log = outcome.log { fields[logResultHeader] = Data(log.suffix(4096)).base64EncodedString() }
            return Response(status: .ok, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: outcome.payload)))
        case .environmentFailure:
            let message =
                (try? JSONSerialization.jsonObject(with: outcome.payload) as? [String: Any])?["errorMessage"] as? String
                ?? "The execution environment failed."
            let type = outcome.errorType ?? "ServiceException"
            let status = type == "ServiceException" ? 500 : 502
            return errorResponse(AWSError(type: type, message: message, httpStatus: status, extraFields: ["Type": "Service"]), requestId: requestId)
        }
    }

    /// An X-Ray trace header: `Root=1-<epoch hex>-<24 hex>;Parent=<16 hex>;Sampled=0`.
    static func newTraceId() -> String {
        func hex(_ value: UInt64, digits: Int) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: max(0, digits - text.count)) + text
        }
        let epoch = String(Int(Date().timeIntervalSince1970), radix: 16)
        let random = hex(UInt64.random(in: 0...UInt64.max), digits: 16) + hex(UInt64(UInt32.random(in: 0...UInt32.max)), digits: 8)
        return "Root=1-\(epoch)-\(random);Parent=\(hex(UInt64.random(in: 0...UInt64.max), digits: 16));Sampled=0"
    }

    // MARK: Aliases, layers, concurrency, async configuration, tags

    private func registerAliases(on router: Router<BasicRequestContext>, functions: String) {
        router.post(RouterPath(functions + "/{name}/aliases")) { request, context in
            let name = Self.name(context)
            return await json(request, status: .created) { (input: LambdaCreateAliasRequest) in
                try await committer.write { state, mutation throws(AWSError) in
                    try state.createAlias(name, input, using: &mutation.random, changes: &mutation.changes)
                }
            }
        }
        router.get(RouterPath(functions + "/{name}/aliases")) { request, context in
            let name = Self.name(context)
            let query = request.uri.queryParameters
            return await respond {
                try await committer.read { state, _ throws(AWSError) in
                    try state.listAliases(
                        name, version: query.get("FunctionVersion"), marker: query.get("Marker"), maxItems: query.get("MaxItems", as: Int.self))
                }
            }
        }
        router.get(RouterPath(functions + "/{name}/aliases/{alias}")) { _, context in
            let (name, alias) = (Self.name(context), Self.parameter(context, "alias"))
            return await respond { try await committer.read { state, _ throws(AWSError) in try state.getAlias(name, alias: alias) } }
        }
        router.put(RouterPath(functions + "/{name}/aliases/{alias}")) { request, context in
            let (name, alias) = (Self.name(context), Self.parameter(context, "alias"))
            return await json(request) { (input: LambdaUpdateAliasRequest) in
                try await committer.write { state, mutation throws(AWSError) in
                    try state.updateAlias(name, alias: alias, input, using: &mutation.random, changes: &mutation.changes)
                }
            }
        }
        router.delete(RouterPath(functions + "/{name}/aliases/{alias}")) { _, context in
            let (name, alias) = (Self.name(context), Self.parameter(context, "alias"))
            return await respond(status: .noContent) { () -> Empty in
                try await committer.write { state, mutation throws(AWSError) in
                    try state.deleteAlias(name, alias: alias, changes: &mutation.changes)
                }
                return Empty()
            }
        }
    }

    private func registerLayers(on router: Router<BasicRequestContext>) {
        let layers = "/2018-10-31/layers"
        router.post(RouterPath(layers + "/{layer}/versions")) { request, context in
            let layer = Self.parameter(context, "layer")
            return await json(request, limit: Self.codeRequestLimit, status: .created) { (input: LambdaPublishLayerVersionRequest) in
                guard let zip = input.Content.ZipFile else {
                    throw AWSError.lambdaInvalidParameter("Content.ZipFile is required (S3 locations are not supported by Stevedore).")
                }
                let bundle = try code.store(Array(zip), settings: settings)
                return try await committer.write { state, mutation throws(AWSError) in
                    try state.publishLayerVersion(layer, input, code: bundle, now: mutation.now, changes: &mutation.changes)
                }
            }
        }
        router.get(RouterPath(layers + "/{layer}/versions")) { request, context in
            let layer = Self.parameter(context, "layer")
            let query = request.uri.queryParameters
            return await respond {
                try await committer.read { state, _ throws(AWSError) in
                    try state.listLayerVersions(
                        layer, compatibleRuntime: query.get("CompatibleRuntime"), marker: query.get("Marker"),
                        maxItems: query.get("MaxItems", as: Int.self))
                }
            }
        }
        router.get(RouterPath(layers + "/{layer}/versions/{version}")) { _, context in
            let layer = Self.parameter(context, "layer")
            let version = context.parameters.get("version", as: Int.self) ?? -1
            return await respond { try await committer.read { state, _ throws(AWSError) in try state.getLayerVersion(layer, version: version) } }
        }
        router.delete(RouterPath(layers + "/{layer}/versions/{version}")) { _, context in
            let layer = Self.parameter(context, "layer")
            let version = context.parameters.get("version", as: Int.self) ?? -1
            return await respond(status: .noContent) { () -> Empty in
                try await committer.write { state, mutation throws(AWSError) in
                    state.deleteLayerVersion(layer, version: version, changes: &mutation.changes)
                }
                return Empty()
            }
        }
        router.get(RouterPath(layers)) { request, _ in
            let query = request.uri.queryParameters
            if query.get("find") == "LayerVersion" {
                let arn = query.get("Arn") ?? ""
                return await respond { try await committer.read { state, _ throws(AWSError) in try state.getLayerVersion(byArn: arn) } }
            }
            return await respond {
                try await committer.read { state, _ throws(AWSError) in
                    try state.listLayers(
                        compatibleRuntime: query.get("CompatibleRuntime"), marker: query.get("Marker"),
                        maxItems: query.get("MaxItems", as: Int.self))
                }
            }
        }
    }

    private func registerConcurrencyAndAsync(on router: Router<BasicRequestContext>) {
        router.put("/2017-10-31/functions/{name}/concurrency") { request, context in
            let name = Self.name(context)
            return await json(request) { (input: LambdaPutFunctionConcurrencyRequest) in
                try await committer.write { state, mutation throws(AWSError) in
                    try state.putFunctionConcurrency(name, reserved: input.ReservedConcurrentExecutions, changes: &mutation.changes)
                }
            }
        }
        router.delete("/2017-10-31/functions/{name}/concurrency") { _, context in
            let name = Self.name(context)
            return await respond(status: .noContent) { () -> Empty in
                try await committer.write { state, mutation throws(AWSError) in
                    try state.deleteFunctionConcurrency(name, changes: &mutation.changes)
                }
                return Empty()
            }
        }
        router.get("/2019-09-30/functions/{name}/concurrency") { _, context in
            let name = Self.name(context)
            return await respond { try await committer.read { state, _ throws(AWSError) in try state.getFunctionConcurrency(name) } }
        }
        let eventConfig = "/2019-09-25/functions/{name}/event-invoke-config"
        for (method, merge) in [(HTTPRequest.Method.put, false), (.post, true)] {
            router.on(RouterPath(eventConfig), method: method) { request, context in
                let name = Self.name(context)
                let qualifier = request.uri.queryParameters.get("Qualifier")
                return await json(request) { (input: LambdaPutFunctionEventInvokeConfigRequest) in
                    try await committer.write { state, mutation throws(AWSError) in
                        try state.putEventInvokeConfig(
                            name, qualifier: qualifier, retries: input.MaximumRetryAttempts, maximumAge: input.MaximumEventAgeInSeconds,
                            destinations: input.DestinationConfig, merge: merge, now: mutation.now, changes: &mutation.changes)
                    }
                }
            }
        }
        router.get(RouterPath(eventConfig)) { request, context in
            let name = Self.name(context)
            let qualifier = request.uri.queryParameters.get("Qualifier")
            return await respond { try await committer.read { state, _ throws(AWSError) in try state.getEventInvokeConfig(name, qualifier: qualifier) } }
        }
        router.delete(RouterPath(eventConfig)) { request, context in
            let name = Self.name(context)
            let qualifier = request.uri.queryParameters.get("Qualifier")
            return await respond(status: .noContent) { () -> Empty in
                try await committer.write { state, mutation throws(AWSError) in
                    try state.deleteEventInvokeConfig(name, qualifier: qualifier, changes: &mutation.changes)
                }
                return Empty()
            }
        }
        router.get(RouterPath(eventConfig + "/list")) { request, context in
            let name = Self.name(context)
            let query = request.uri.queryParameters
            return await respond {
                try await committer.read { state, _ throws(AWSError) in
                    try state.listEventInvokeConfigs(name, marker: query.get("Marker"), maxItems: query.get("MaxItems", as: Int.self))
                }
            }
        }
    }

    private func registerTags(on router: Router<BasicRequestContext>) {
        router.post("/2017-03-31/tags/{arn}") { request, context in
            let arn = Self.parameter(context, "arn")
            return await json(request, status: .noContent) { (input: LambdaTagResourceRequest) -> Empty in
                try await committer.write { state, mutation throws(AWSError) in
                    try state.tagFunction(arn, tags: input.Tags, changes: &mutation.changes)
                }
                return Empty()
            }
        }
        router.delete("/2017-03-31/tags/{arn}") { request, context in
            let arn = Self.parameter(context, "arn")
            let keys = request.uri.queryParameters.getAll("tagKeys")
            return await respond(status: .noContent) { () -> Empty in
                try await committer.write { state, mutation throws(AWSError) in
                    try state.untagFunction(arn, keys: keys, changes: &mutation.changes)
                }
                return Empty()
            }
        }
        router.get("/2017-03-31/tags/{arn}") { _, context in
            let arn = Self.parameter(context, "arn")
            return await respond { try await committer.read { state, _ throws(AWSError) in LambdaListTagsResponse(Tags: try state.functionTags(arn)) } }
        }
    }

    // MARK: Logs

    private func functionLogs(_ request: Request) -> Response {
        let query = request.uri.queryParameters
        guard let name = query.get("name"), FunctionNames.isValidName(name) else {
            return Self.errorResponse(.lambdaInvalidParameter("Add ?name=<function name> (and follow=1, tail=BYTES)."), requestId: nil)
        }
        let follow = query.get("follow") == "1" || query.get("follow") == "true"
        let stream = logs.read(name, tailBytes: query.get("tail", as: Int.self) ?? 64 * 1024, follow: follow)
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                for await chunk in stream { try await writer.write(ByteBuffer(bytes: chunk)) }
                try await writer.finish(nil)
            })
    }

    // MARK: Plumbing

    struct Empty: Encodable, Sendable {}

    /// Decodes the body as `Input` (Lambda's error types for bad JSON), runs `body`, encodes its output.
    private func json<Input: Decodable & Sendable, Output: Encodable & Sendable>(
        _ request: Request,
        limit: Int = 1 << 20,
        status: HTTPResponse.Status = .ok,
        _ body: @Sendable (Input) async throws -> Output
    ) async -> Response {
        var request = request
        let requestId = requestIds.next()
        do throws(AWSError) {
            guard let buffer = try? await request.collectBody(upTo: limit) else {
                throw AWSError(
                    type: "RequestEntityTooLargeException", message: "The request body is larger than \(limit) bytes.", httpStatus: 413,
                    extraFields: ["Type": "User"])
            }
            let input: Input
            do {
                input = try AWSJSONCodec.decode(Input.self, from: Array(buffer.readableBytesView))
            } catch {
                throw Self.lambdaDecodeError(error)
            }
            let output = try await AWSError.rethrowing { try await body(input) }
            return Self.jsonResponse(output, status: status, requestId: requestId)
        } catch {
            return Self.errorResponse(error, requestId: requestId)
        }
    }

    private func respond<Output: Encodable & Sendable>(
        status: HTTPResponse.Status = .ok,
        _ body: @Sendable () async throws -> Output
    ) async -> Response {
        let requestId = requestIds.next()
        do throws(AWSError) {
            return Self.jsonResponse(try await AWSError.rethrowing { try await body() }, status: status, requestId: requestId)
        } catch {
            return Self.errorResponse(error, requestId: requestId)
        }
    }

    static func lambdaDecodeError(_ error: AWSError) -> AWSError {
        switch error.type {
        case "SerializationException":
            return AWSError(type: "InvalidRequestContentException", message: error.message, extraFields: ["Type": "User"])
        default:
            return .lambdaInvalidParameter(error.message)
        }
    }

    static func jsonResponse<Output: Encodable>(_ output: Output, status: HTTPResponse.Status, requestId: String) -> Response {
        var fields = HTTPFields()
        fields[requestIdHeader] = requestId
        if status == .noContent { return Response(status: status, headers: fields) }
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: AWSJSONCodec.encode(output))))
    }

    static func plain(status: HTTPResponse.Status, requestId: String) -> Response {
        var fields = HTTPFields()
        fields[requestIdHeader] = requestId
        return Response(status: status, headers: fields)
    }

    /// Lambda's error shape; ResourceNotFound and Service exceptions spell the member `Message`.
    static func errorResponse(_ error: AWSError, requestId: String?) -> Response {
        var fields = HTTPFields()
        if let requestId { fields[requestIdHeader] = requestId }
        fields[errorTypeHeader] = error.type
        fields[.contentType] = "application/json"
        for (name, value) in error.headers {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        var body = error.extraFields
        body["Type"] = body["Type"] ?? (error.httpStatus >= 500 ? "Service" : "User")
        body[error.type == "ResourceNotFoundException" || error.type == "ServiceException" ? "Message" : "message"] = error.message
        if error.httpStatus == 429 { fields[HTTPField.Name("Retry-After")!] = "1" }
        return Response(
            status: HTTPResponse.Status(code: error.httpStatus), headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: AWSJSONCodec.encode(body))))
    }

    static func name(_ context: BasicRequestContext) -> String { parameter(context, "name") }

    static func parameter(_ context: BasicRequestContext, _ key: String) -> String {
        let raw = context.parameters.get(key) ?? ""
        return raw.removingPercentEncoding ?? raw
    }
}
