import AgentProtocol
import Testing

/// The work channel's binary log batches: what the agent writes, the control plane reads back
/// whole, and anything cut short or padded is refused rather than half read.
struct LogEventsBinaryTests {
    let batch = LogEventsBatch(
        containerInstanceArn: "arn:aws:ecs:us-east-1:000000000000:container-instance/c/1", taskArn: "arn:aws:ecs:us-east-1:000000000000:task/c/2",
        group: "/ecs/web", stream: "app/web/2", createGroup: true,
        events: [.init(timestamp: 30, message: "three ✓"), .init(timestamp: 10, message: ""), .init(timestamp: 20, message: "two")])

    @Test func aBatchIsReadBackAsItWasWritten() throws {
        let read = try #require(LogEventsBatch.binary(batch.binaryEncoded()![...]))
        #expect(read.batch == batch)
        #expect(read.count == 3 && read.minimumTimestamp == 10 && read.maximumTimestamp == 30)
        #expect(!read.inTimeOrder && read.longestMessage == "three ✓".utf8.count && read.messagesAreUTF8)
        // The payload is a stored block's: time, length, bytes.
        #expect(read.payload.count == 3 * 12 + "three ✓".utf8.count + "two".utf8.count)
        var ordered = batch
        ordered.events.sort { $0.timestamp < $1.timestamp }
        #expect(LogEventsBatch.binary(ordered.binaryEncoded()![...])?.inTimeOrder == true)
        var empty = batch
        empty.events = []
        let none = try #require(LogEventsBatch.binary(empty.binaryEncoded()![...]))
        #expect(none.count == 0 && none.payload.isEmpty && none.events.isEmpty && none.createGroup)
    }

    @Test func malformedBodiesAreRefused() {
        let bytes = batch.binaryEncoded()!
        #expect(LogEventsBatch.binary(bytes.dropLast()) == nil)
        #expect(LogEventsBatch.binary((bytes + [0])[...]) == nil)
        #expect(LogEventsBatch.binary(Array(#"{"events":[]}"#.utf8)[...]) == nil)
        #expect(LogEventsBatch.binary(bytes.prefix(4)) == nil)
        // A name that is not UTF-8.
        var broken = bytes
        broken[7] = 0xFF
        #expect(LogEventsBatch.binary(broken[...]) == nil)
        // A message length past the end.
        var long = bytes
        let firstLength = bytes.count - (3 * 12 + "three ✓".utf8.count + "two".utf8.count) + 8
        long[firstLength + 3] = 0x7F
        #expect(LogEventsBatch.binary(long[...]) == nil)
    }

    @Test func whatTheBinaryFormCannotCarryIsSaid() throws {
        // A name past a UInt16's count: the agent sends JSON instead.
        var long = batch
        long.stream = String(repeating: "s", count: 70_000)
        #expect(long.binaryEncoded() == nil)
        // A message that is not UTF-8 is read, and said to be so (ecsd mends it, as JSON would have).
        var bytes = batch.binaryEncoded()!
        let three = bytes.count - ("three ✓".utf8.count + 12 + 0 + 12 + "two".utf8.count)
        bytes[three] = 0xFF
        let read = try #require(LogEventsBatch.binary(bytes[...]))
        #expect(!read.messagesAreUTF8 && read.count == 3)
    }
}
