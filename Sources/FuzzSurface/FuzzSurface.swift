import APIGateway
import Athena
import Foundation
import APIGatewayShapes
import Archives
import CloudFormation
import AWSProtocols
import ECS
import ECSAgent
import ECSShapes
import IAM
import S3
import SigV4
import StevedoreCore

/// Every wire decoder that reads bytes from outside, behind one entry point, for libFuzzer
/// (`Fuzz/`, `make fuzz`) and for the unit test that replays the committed corpus. A decoder may
/// refuse its input; it must not crash, hang or read out of bounds.
public enum FuzzSurface {
    public enum Target: String, CaseIterable, Sendable {
        /// AWS JSON 1.1 bodies, decoded into ECS's largest input shapes.
        case awsJSON = "aws-json"
        /// The query protocol's form bodies, and IAM policy documents.
        case query
        /// Signature Version 4: `Authorization` headers, presigned query strings, verification.
        case sigv4
        /// The cluster query language (`memberOf`, `--filter`).
        case clusterQuery = "cluster-query"
        /// `/etc/ecs/ecs.config` and its values.
        case ecsConfig = "ecs-config"
        /// Function code zips: the central directory and every entry inflated.
        case zip
        /// YAML and JSON documents, and OpenAPI definitions read from them (ImportApi).
        case yaml
        /// What the gateway reads from outside: route keys, JWTs, functions' answers (proxy
        /// responses and authorizer verdicts), key sets, mapping templates (Velocity), request
        /// bodies against models (JSON Schema).
        case gateway
        /// S3's requests: XML documents, addresses and sub-resources, ranges, HTTP dates, checksum
        /// headers, and aws-chunked bodies decoded as they stream.
        case s3
        /// CloudFormation templates (JSON and YAML): sections, references, conditions, every
        /// intrinsic function worked out, and a stack deployed by the deployer's decisions.
        case cloudformation
        /// Athena's statements: Hive DDL parsed and applied to a catalog, queries made ready for
        /// the engine (tokens, parameters, casts, literals, NULL ordering), timestamps, and result files read back.
        case athena
    }

    public static func run(_ target: Target, _ bytes: [UInt8]) {
        switch target {
        case .cloudformation:
            deployTemplate(String(decoding: bytes, as: UTF8.self))
        case .athena:
            runStatement(String(decoding: bytes, as: UTF8.self))
            _ = ResultFiles.parseCSV(bytes)
            _ = ResultFiles.parseLines(bytes)
        case .awsJSON:
            _ = try? AWSJSONCodec.decode(RegisterTaskDefinitionRequest.self, from: bytes)
            _ = try? AWSJSONCodec.decode(RunTaskRequest.self, from: bytes)
            _ = try? AWSJSONCodec.decode(CreateServiceRequest.self, from: bytes)
        case .query:
            if let request = QueryRequest(form: bytes) {
                _ = request.list("Names")
                if let document = request["PolicyDocument"] { _ = try? PolicyDocument(json: document) }
            }
            _ = try? PolicyDocument(json: String(decoding: bytes, as: UTF8.self))
        case .sigv4:
            // Lines: method, path, query, then header lines `name: value`; a blank line, then the body.
            let text = String(decoding: bytes, as: UTF8.self)
            let (head, body) = text.split(separator: "\n\n", maxSplits: 1, omittingEmptySubsequences: false).pair
            let lines = head.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            var headers: [(name: String, value: String)] = []
            for line in lines.dropFirst(3) {
                let parts = line.split(separator: ":", maxSplits: 1).map(String.init)
                if parts.count == 2 { headers.append((parts[0], parts[1])) }
            }
            let request = SignableRequest(
                method: lines.first ?? "POST", path: lines.count > 1 ? lines[1] : "/", query: lines.count > 2 ? lines[2] : "",
                headers: headers, body: Array(body.utf8))
            let verifier = SigV4Verifier(secret: { $0.hasPrefix("AKIA") ? "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" : nil })
            _ = try? verifier.verify(request, service: nil, now: 1_440_938_160)
            _ = try? verifier.verifyPayload(request, service: nil, now: 1_440_938_160)
            _ = try? SigV4Verifier.decodeChunked(Array(body.utf8))
        case .clusterQuery:
            _ = try? QueryExpression.parse(String(decoding: bytes, as: UTF8.self))
        case .ecsConfig:
            let values = AgentConfiguration.parseFile(String(decoding: bytes, as: UTF8.self))
            _ = try? AgentConfiguration.load(file: values, environment: [:])
        case .zip:
            guard let directory = try? ZipDirectory(bytes) else { return }
            for entry in directory.entries.prefix(16) where entry.uncompressedSize <= 1 << 20 {
                _ = try? ZipContents.read(entry, in: bytes)
            }
        case .yaml:
            let text = String(decoding: bytes, as: UTF8.self)
            if let document = try? YAMLReader.read(text) {
                _ = document.json()
                _ = document.yaml()
            }
            _ = Document.parseJSON(bytes)
            _ = try? GatewayState.readDefinition(text, failOnWarnings: false)
            // REST APIs' Swagger and OpenAPI imports, read and built into an API.
            if let definition = try? GatewayState.readRestDefinition(bytes, failOnWarnings: false) {
                var state = GatewayState(names: ResourceNames())
                var random = Xoshiro256(seed: 1)
                var changes = ChangeSet()
                _ = try? state.importRestApi(definition, now: Date(timeIntervalSince1970: 1_800_000_000), using: &random, changes: &changes)
            }
        case .gateway:
            let text = String(decoding: bytes, as: UTF8.self)
            _ = RouteKey(text)
            _ = RouteTable(routes: [(text, nil), ("ANY /{proxy+}", nil)]).select(method: "GET", path: text)
            _ = ProxyPayload.response(from: bytes, format: .v2)
            _ = ProxyPayload.response(from: bytes, format: .v1)
            _ = LambdaAuthorization.decide(bytes, simpleResponses: false, routeArn: "arn:aws:execute-api:us-east-1:000000000000:a/$default/GET/x")
            _ = JSONWebKeySet(json: bytes)
            _ = JWTAuthorization.decide(
                token: text, configuration: V2JWTConfiguration(audience: ["a"], issuer: "https://i"), keys: JSONWebKeySet(keys: [:]),
                routeScopes: ["s"], now: Date(timeIntervalSince1970: 1_800_000_000))
            _ = AccessLogFormat.render(text, values: ["requestId": "r"])
            // WebSocket messages: route selection, mapping templates over them, functions' answers.
            _ = WebSocketRouteSelection.routeKey(expression: "$request.body.action.name", message: bytes, routeKeys: ["$default", "send"])
            _ = MappingTemplates.render(text, context: ["connectionId": "c"], stageVariables: ["v": "1"], body: bytes)
            _ = MappingTemplates.render("$input.json('$.a.b') $input.path('$.a') $input.body", context: [:], stageVariables: [:], body: bytes)
            _ = WebSocketEvent.answer(from: bytes)
            // The bytes as a JSON Schema and as a body checked against one.
            if let value = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) {
                _ = JSONSchema.validates(value, against: value)
                _ = JSONSchema.validates(value, against: .object(["type": .string("object"), "required": .array([.string("a")])]))
            }
        case .s3:
            let text = String(decoding: bytes, as: UTF8.self)
            if let node = XMLNode.parse(bytes) { _ = node.all("Object").map { $0.value("Key") } }
            _ = try? S3XML.parseTagging(bytes)
            _ = S3XML.parseTaggingHeader(text)
            let address = S3Address.parse(rawPath: text, virtualHostBucket: S3Address.virtualHostBucket(text))
            var query: [String: String] = [:]
            for pair in text.split(separator: "&").prefix(16) {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                query[parts.first ?? ""] = parts.count > 1 ? parts[1] : ""
            }
            for method in ["GET", "PUT", "POST", "DELETE", "HEAD"] {
                _ = try? S3Operation.of(method: method, address: address, query: query, hasCopySource: text.hasPrefix("c"))
            }
            _ = try? ObjectReads.range(text, size: 1000)
            _ = try? ObjectReads.range(text, size: 0)
            _ = HTTPDate.parse(text)
            _ = try? ObjectChecksums.declared { name in name == "x-amz-trailer" || name.hasPrefix("x-amz-checksum") ? text : nil }
            // The bytes as an aws-chunked body with unsigned trailers, fed in uneven pieces.
            let head = SignableRequest(
                method: "PUT", path: "/b/k",
                headers: [("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"), ("x-amz-trailer", "x-amz-checksum-crc32"),
                          ("x-amz-decoded-content-length", "5")])
            if case .chunked(var decoder) = SigV4Verifier.declaredS3Body(head) {
                var offset = 0
                var piece = 1
                while offset < bytes.count {
                    let end = min(bytes.count, offset + piece)
                    let failed = bytes[offset..<end].withUnsafeBytes { raw in
                        do throws(SignatureFailure) {
                            try decoder.feed(raw) { _ in }
                            return false
                        } catch {
                            return true
                        }
                    }
                    if failed { break }
                    offset = end
                    piece = piece * 3 % 17 + 1
                }
                _ = try? decoder.finish(head)
            }
        }
    }
}

extension Array where Element == Substring {
    fileprivate var pair: (Substring, Substring) { (first ?? "", count > 1 ? self[1] : "") }
}

extension FuzzSurface {
    /// A template read, checked, and deployed with every step succeeding, then deleted.
    /// A statement as the query runner takes it: parsed, then DDL applied to a catalog that has a
    /// table, or a query prepared with a parameter per placeholder.
    static func runStatement(_ text: String) {
        _ = AthenaStatements.mentionedNames(text)
        _ = Timestamp(text)
        _ = Timestamp(iso8601: text)
        guard let statement = try? AthenaStatements.parse(text) else {
            _ = try? QueryText.prepare(text)
            return
        }
        var changes = ChangeSet()
        var state = AthenaState(names: ResourceNames(region: "us-east-1", accountId: "000000000000"))
        _ = try? state.run(
            try AthenaStatements.parse("CREATE EXTERNAL TABLE t (a string) PARTITIONED BY (k string) LOCATION 's3://b/t/'"),
            database: AthenaState.defaultDatabase, now: Date(timeIntervalSince1970: 0), changes: &changes)
        if statement == .query {
            let placeholders = text.utf8.filter { $0 == UInt8(ascii: "?") }.count
            _ = try? QueryText.prepare(text, parameters: Array(repeating: "1", count: placeholders))
            _ = try? QueryText.prepare(text)
        } else {
            _ = try? state.run(statement, database: AthenaState.defaultDatabase, objectKeys: ["t/k=1/a", "t/k=2/b", "t/x"], now: Date(), changes: &changes)
        }
    }

    static func deployTemplate(_ text: String) {
        guard let template = try? StackTemplate.parse(text) else { return }
        _ = try? template.creationOrder()
        var state = CloudFormationState(names: ResourceNames())
        var random = Xoshiro256(seed: 1)
        var changes = ChangeSet()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let request = StackRequest(
            stackName: "fuzz", originalTemplate: text, template: template, parameters: [], tags: nil,
            capabilities: ["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"])
        guard (try? state.createStack(request, now: now, using: &random, changes: &changes)) != nil else { return }
        // Bounded: a template has at most so many resources, each needing a step or two.
        for _ in 0..<64 {
            let steps = state.startSteps(now: now, using: &random, changes: &changes)
            if steps.isEmpty { break }
            for started in steps {
                let values = ResourceValues(ref: started.step.physicalId, attributes: ["Arn": "arn:" + started.step.logicalId])
                state.finishStep(
                    stackId: started.stackId, key: started.key, outcome: .succeeded(physicalId: started.step.physicalId, values: values), now: now,
                    using: &random, changes: &changes)
            }
        }
        try? state.deleteStack("fuzz", retain: [], now: now, using: &random, changes: &changes)
        for _ in 0..<64 {
            let steps = state.startSteps(now: now, using: &random, changes: &changes)
            if steps.isEmpty { break }
            for started in steps {
                state.finishStep(
                    stackId: started.stackId, key: started.key, outcome: .failed("no"), now: now, using: &random, changes: &changes)
            }
        }
    }
}
