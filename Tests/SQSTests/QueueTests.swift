import Archives
@testable import SQS
import SQSShapes
import StevedoreCore
import Testing

struct QueueDigestTests {
    @Test func sqsAttributeDigestFollowsTheDocumentedEncoding() {
        // One string attribute: name, type, transport byte 1, value, each length-prefixed.
        var expected: [UInt8] = []
        for part in ["a", "String"] { expected += [0, 0, 0, UInt8(part.utf8.count)] + Array(part.utf8) }
        expected += [1, 0, 0, 0, 1] + Array("x".utf8)
        let digest = SQSState.md5OfMessageAttributes(["a": SQSMessageAttributeValue(StringValue: "x", DataType: "String")])
        #expect(digest == Digest.hex(Digest.md5(expected)))
    }
}
