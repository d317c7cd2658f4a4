import AWSProtocols
import ECSShapes
import Foundation
import StevedoreCore
import Testing

struct AWSJSONProtocolTests {
    func dispatcher() -> AWSJSONDispatcher {
        var dispatcher = AWSJSONDispatcher()
        dispatcher.register("Svc", "Echo") { (input: RegisterTaskDefinitionRequest, _) throws(AWSError) in
            RegisterTaskDefinitionResponse(tags: input.tags)
        }
        dispatcher.register("Svc", "Fail") { (_: ListClustersRequest, _) throws(AWSError) -> ListClustersResponse in
            throw AWSError(type: "ClusterNotFoundException", message: "Cluster not found.")
        }
        return dispatcher
    }

    func call(_ target: String?, _ body: String) async -> (Int, [String: Any]) {
        let response = await dispatcher().handle(target: target, body: Array(body.utf8), context: OperationContext(requestId: "r", bodySize: body.utf8.count))
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        return (response.status, json)
    }

    @Test func successEncodesOutputShape() async {
        let (status, json) = await call("Svc.Echo", #"{"family":"f","containerDefinitions":[],"tags":[{"key":"a","value":"b"}]}"#)
        #expect(status == 200)
        #expect((json["tags"] as? [[String: String]]) == [["key": "a", "value": "b"]])
    }

    @Test func emptyBodyIsAnEmptyObject() async {
        let (status, _) = await call("Svc.Fail", "")
        #expect(status == 400)
    }

    @Test func errorsCarryTypeAndMessage() async {
        let (status, json) = await call("Svc.Fail", "{}")
        #expect(status == 400)
        #expect(json["__type"] as? String == "ClusterNotFoundException")
        #expect(json["message"] as? String == "Cluster not found.")
    }

    @Test func malformedJSONIsASerializationException() async {
        let (status, json) = await call("Svc.Echo", #"{"family": "#)
        #expect(status == 400)
        #expect(json["__type"] as? String == "SerializationException")
        #expect((json["message"] as? String)?.contains("not valid JSON") == true)
    }

    @Test func invalidUTF8IsASerializationException() async {
        // "family": "f\xC3(" — a two-byte sequence cut short, inside a JSON string.
        let body = Array(#"{"family":"f"#.utf8) + [0xC3, 0x28] + Array(#"","containerDefinitions":[]}"#.utf8)
        let response = await dispatcher().handle(target: "Svc.Echo", body: body, context: OperationContext(requestId: "r", bodySize: body.count))
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        #expect(response.status == 400)
        #expect(json["__type"] as? String == "SerializationException")
        #expect(json["message"] as? String == "The request body is not valid UTF-8.")
    }

    @Test func missingRequiredMemberIsNamed() async {
        let (_, json) = await call("Svc.Echo", #"{"containerDefinitions":[]}"#)
        #expect(json["__type"] as? String == "InvalidParameterException")
        #expect(json["message"] as? String == "Missing required parameter 'family'.")
    }

    @Test func wrongTypeNamesThePath() async {
        let (_, json) = await call("Svc.Echo", #"{"family":"f","containerDefinitions":[{"name":"a","cpu":"lots"}]}"#)
        #expect(json["__type"] as? String == "SerializationException")
        #expect(json["message"] as? String == "Wrong type for 'containerDefinitions[0].cpu': expected a number.")
    }

    @Test func invalidEnumListsValidValues() async {
        let (_, json) = await call("Svc.Echo", #"{"family":"f","networkMode":"mesh","containerDefinitions":[]}"#)
        #expect(json["__type"] as? String == "InvalidParameterException")
        #expect(json["message"] as? String == "Invalid 'networkMode': Invalid value 'mesh'. Valid values: bridge, host, awsvpc, none.")
    }

    @Test func unknownOperationsAndTargets() async {
        let (status, json) = await call("Svc.Nope", "{}")
        #expect(status == 400)
        #expect(json["__type"] as? String == "UnknownOperationException")
        #expect((json["message"] as? String)?.contains("Unknown operation 'Svc.Nope'") == true)
        let (_, other) = await call("Other.Op", "{}")
        #expect((other["message"] as? String)?.contains("this endpoint serves Svc") == true)
        let (_, missing) = await call(nil, "{}")
        #expect((missing["message"] as? String)?.contains("Missing X-Amz-Target") == true)
    }

    @Test func datesAreEpochSeconds() {
        let bytes = AWSJSONCodec.encode(TaskDefinition(registeredAt: Date(timeIntervalSince1970: 1_700_000_000.5)))
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"registeredAt":1700000000.5}"#)
    }
}

/// Request ids are UUIDs, as AWS's are (tools and logs parse them so): version 4, RFC 4122's
/// variant, lowercase, and none repeats.
struct RequestIdTests {
    @Test func requestIdsAreDistinctVersion4UUIDs() {
        let generator = RequestIdGenerator()
        let ids = (0..<2_000).map { _ in generator.next() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(50) {
            let parts = id.split(separator: "-", omittingEmptySubsequences: false)
            #expect(parts.map(\.count) == [8, 4, 4, 4, 12], "\(id)")
            #expect(id.allSatisfy { $0 == "-" || $0.isHexDigit && !$0.isUppercase }, "\(id)")
            #expect(parts[2].first == "4" && "89ab".contains(parts[3].first!), "\(id)")
        }
        #expect(RequestIdGenerator().next().prefix(18) != generator.next().prefix(18), "another process's ids differ")
    }
}
