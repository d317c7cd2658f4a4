import ECSShapes
import Foundation
import StevedoreCore
import Testing

struct StreamingJSONEncoderTests {
    func roundTrip<Value: Codable & Equatable>(_ value: Value) throws -> Value {
        let bytes = try StreamingJSONEncoder.encode(value)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode(Value.self, from: Data(bytes))
    }

    @Test func producesWhatFoundationDecodesBack() throws {
        var definition = TaskDefinition(
            taskDefinitionArn: "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
            containerDefinitions: [
                ContainerDefinition(
                    name: "web", image: "nginx", cpu: 0, memory: 512, portMappings: [PortMapping(containerPort: 80, hostPort: 0, protocol: .tcp)],
                    essential: true, command: ["sh", "-c", "echo \"hi\"\n\t\\ done"], environment: [KeyValuePair(name: "A", value: "é✓")],
                    dockerLabels: ["b": "2", "a": "1"], healthCheck: HealthCheck(command: ["CMD", "true"], interval: 30))
            ],
            family: "web", networkMode: .bridge, revision: 1, status: .active,
            requiresAttributes: [Attribute(name: "x")], registeredAt: Date(timeIntervalSince1970: 1_700_000_000.25))
        definition.cpu = "256"
        #expect(try roundTrip(definition) == definition)
    }

    @Test func omitsNilsAndWritesAWSTypes() throws {
        let text = String(decoding: try StreamingJSONEncoder.encode(Failure(arn: "a/b", reason: "R")), as: UTF8.self)
        #expect(text == #"{"arn":"a/b","reason":"R"}"#)
        let date = String(decoding: try StreamingJSONEncoder.encode(["at": Date(timeIntervalSince1970: 1_700_000_000)]), as: UTF8.self)
        #expect(date == #"{"at":1700000000}"#)
        let fraction = String(decoding: try StreamingJSONEncoder.encode([Date(timeIntervalSince1970: 1.5)]), as: UTF8.self)
        #expect(fraction == "[1.5]")
        let control = String(decoding: try StreamingJSONEncoder.encode(["\u{1}"]), as: UTF8.self)
        #expect(control == #"["\u0001"]"#)
        #expect(String(decoding: try StreamingJSONEncoder.encode(EmptyShape()), as: UTF8.self) == "{}")
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder.encode([Double.nan]) }
    }

    @Test func encodesFreeFormDocuments() throws {
        let value = JSONValue.object(["list": .array([.number(1), .bool(true), .null, .string("x")])])
        #expect(try roundTrip(value) == value)
    }

    @Test func matchesFoundationForRealResponses() throws {
        let response = DescribeClustersResponse(
            clusters: [Cluster(clusterArn: "arn:aws:ecs:us-east-1:000000000000:cluster/a", clusterName: "a", status: "ACTIVE", registeredContainerInstancesCount: 0)],
            failures: [])
        let foundation = JSONEncoder()
        foundation.outputFormatting = [.withoutEscapingSlashes]
        let ours = try #require(JSONSerialization.jsonObject(with: Data(try StreamingJSONEncoder.encode(response))) as? NSDictionary)
        let theirs = try #require(JSONSerialization.jsonObject(with: try foundation.encode(response)) as? NSDictionary)
        #expect(ours.count == 2)
        #expect(ours == theirs)
    }
}

private struct EmptyShape: Codable, Equatable {}
