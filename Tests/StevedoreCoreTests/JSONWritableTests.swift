import APIGatewayShapes
import ApplicationAutoScalingShapes
import ECSShapes
import Foundation
import LambdaShapes
import SQSShapes
import SecretsShapes
import StevedoreCore
import Testing

/// The generated shapes' lists (scripts/codegen writes one file per service into ShapeLists/).
enum ShapeLists {
    static var all: [(String, [any (JSONWritable & Decodable).Type])] {
        [
            ("ecs", ecs), ("lambda", lambda), ("application-autoscaling", applicationAutoscaling), ("sqs", sqs), ("ssm", ssm),
            ("secretsmanager", secretsmanager), ("apigatewayv2", apigatewayv2), ("logs", logs), ("events", events), ("scheduler", scheduler),
            ("athena", athena), ("glue", glue),
        ]
    }
}

/// Shapes write their own JSON (JSONWritable) for speed; the bytes must be exactly those their
/// Codable conformance writes, for every member of every generated shape.
struct JSONWritableTests {
    @Test(arguments: ShapeLists.all.map(\.0))
    func everyGeneratedShapeWritesWhatCodableWrites(service: String) throws {
        let types = try #require(ShapeLists.all.first { $0.0 == service }?.1)
        #expect(types.count > 5)
        var bytesWritten = 0
        var empty = 0
        for type in types {
            let (written, members) = try compareBothPaths(type)
            bytesWritten += written
            // Shapes without members (empty answers) write `{}` by right.
            if written <= 2, members > 0 { empty += 1 }
        }
        // The filled values really hold members: a filler that filled nothing would compare "{}"s.
        #expect(empty == 0)
        #expect(bytesWritten > types.count * 100)
    }

    /// Fills a value of `type`, writes it both ways, compares; returns how many bytes it wrote.
    /// Also answers how many members the shape has.
    private func compareBothPaths<Shape: JSONWritable & Decodable>(_ type: Shape.Type) throws -> (Int, Int) {
        let value = try Shape(from: FillingDecoder())
        let own = try StreamingJSONEncoder.encode(value)
        let codable = try StreamingJSONEncoder.encodeThroughCodable(value)
        #expect(String(decoding: own, as: UTF8.self) == String(decoding: codable, as: UTF8.self), "\(Shape.self)")
        // And it is JSON.
        _ = try JSONSerialization.jsonObject(with: Data(own))
        return (own.count, Mirror(reflecting: value).children.count)
    }

    @Test func nilMembersAreLeftOutAndAnEmptyShapeIsAnEmptyObject() throws {
        let service = ECSService(serviceName: "web", desiredCount: 2)
        #expect(String(decoding: try StreamingJSONEncoder.encode(service), as: UTF8.self) == #"{"serviceName":"web","desiredCount":2}"#)
        #expect(String(decoding: try StreamingJSONEncoder.encode(ECSService()), as: UTF8.self) == "{}")
    }

    @Test func stringsAreEscapedDatesAreEpochSecondsAndEnumsTheirRawValues() throws {
        let event = ServiceEvent(id: "a\"b\\c\n\u{1}", createdAt: Date(timeIntervalSince1970: 1_700_000_000.5), message: "ünïcode /")
        let written = String(decoding: try StreamingJSONEncoder.encode(event), as: UTF8.self)
        #expect(written == #"{"id":"a\"b\\c\n\u0001","createdAt":1700000000.5,"message":"ünïcode /"}"#)
        let whole = ServiceEvent(createdAt: Date(timeIntervalSince1970: 1_700_000_000))
        #expect(String(decoding: try StreamingJSONEncoder.encode(whole), as: UTF8.self) == #"{"createdAt":1700000000}"#)
        let deployment = Deployment(launchType: .fargate)
        #expect(String(decoding: try StreamingJSONEncoder.encode(deployment), as: UTF8.self) == #"{"launchType":"FARGATE"}"#)
    }

    @Test func aNumberJSONCannotHoldIsRefusedOnBothPaths() {
        let bad = JSONValue.array([.number(.nan)])
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder.encode(bad) }
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder.encodeThroughCodable(bad) }
    }

    @Test func freeFormDocumentsWriteAsCodableWritesThem() throws {
        let document = JSONValue.object(["a": .array([.null, .bool(true), .number(1.5), .number(3), .string("x\"y")])])
        #expect(try StreamingJSONEncoder.encode(document) == StreamingJSONEncoder.encodeThroughCodable(document))
        #expect(String(decoding: try StreamingJSONEncoder.encode(document), as: UTF8.self) == #"{"a":[null,true,1.5,3,"x\"y"]}"#)
    }

    /// A record written through Codable takes the shapes' own path for the shapes it holds.
    @Test func shapesInsideCodableValuesWriteTheSame() throws {
        struct Record: Encodable {
            var name = "r"
            var service = ECSService(serviceName: "web", events: [ServiceEvent(id: "e1", message: "m")])
            var optional: ECSTask? = ECSTask(taskArn: "arn")
        }
        let own = try StreamingJSONEncoder.encode(Record())
        #expect(own == (try StreamingJSONEncoder.encodeThroughCodable(Record())))
        #expect(
            String(decoding: own, as: UTF8.self)
                == #"{"name":"r","service":{"serviceName":"web","events":[{"id":"e1","message":"m"}]},"optional":{"taskArn":"arn"}}"#)
    }
}
