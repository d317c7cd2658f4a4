import AgentProtocol
@testable import ControlPlane
import Foundation
import Testing

/// The exec relay between a caller and an agent: attach with the token, input and output
/// frames, the end of a session.
@Suite(.timeLimit(.minutes(1)))
struct ExecRelayTests {
    let request = ExecRequest(id: "s1", taskArn: "task", container: "app", command: ["sh"], tty: true)

    @Test func aSessionRelaysBothWaysOnceTheCallerAttaches() async throws {
        let relay = ExecRelay()
        relay.create(request, instance: "i-1", token: "secret")
        // The agent hears of it only once the caller attaches, with the right token.
        #expect(relay.takeRequests(for: "i-1") == [])
        #expect(relay.attach("s1", token: "wrong", tty: false, size: nil) == nil)
        let stream = try #require(relay.attach("s1", token: "secret", tty: false, size: (80, 24)))
        #expect(relay.attach("s1", token: "secret", tty: false, size: nil) == nil)
        #expect(relay.takeRequests(for: "i-1").map(\.tty) == [false])
        // The size goes first, then what the caller typed.
        #expect(relay.send("s1", token: "secret", bytes: ExecFrame.encode([ExecFrame(.stdin, text: "ls\n")])))
        var decoder = ExecFrameDecoder()
        let input = try #require(await relay.takeInput("s1", from: "i-1", wait: .seconds(1)))
        #expect(try decoder.frames(input) == [ExecFrame(.resize, text: "80 24"), ExecFrame(.stdin, text: "ls\n")])
        // Another instance cannot read or feed it.
        #expect(await relay.takeInput("s1", from: "i-2", wait: .zero) == nil)
        #expect(!relay.deliver("s1", from: "i-2", bytes: [1], done: false))
        #expect(relay.deliver("s1", from: "i-1", bytes: ExecFrame.encode([ExecFrame(.stdout, text: "a")]), done: false))
        #expect(relay.deliver("s1", from: "i-1", bytes: ExecFrame.encode([ExecFrame(.exit, text: "0")]), done: true))
        var received: [UInt8] = []
        for await chunk in stream { received += chunk }
        var output = ExecFrameDecoder()
        #expect(try output.frames(received) == [ExecFrame(.stdout, text: "a"), ExecFrame(.exit, text: "0")])
    }

    @Test func anInputWaitEndsWhenTheCallerLeaves() async throws {
        let relay = ExecRelay()
        relay.create(request, instance: "i-1", token: "t")
        // The caller's stream, held as the server holds it while the caller reads.
        let stream = try #require(relay.attach("s1", token: "t", tty: true, size: nil))
        #expect(await relay.takeInput("s1", from: "i-1", wait: .milliseconds(50)) == [])
        withExtendedLifetime(stream) {}
        relay.close("s1")
        #expect(await relay.takeInput("s1", from: "i-1", wait: .seconds(1)) == nil)
        #expect(!relay.deliver("s1", from: "i-1", bytes: [], done: false))
        #expect(!relay.send("s1", token: "t", bytes: []))
    }

    @Test func anAgentThatNeverTakesTheCommandEndsTheSessionWithAFailure() async throws {
        let relay = ExecRelay()
        relay.create(request, instance: "i-1", token: "t")
        let stream = try #require(relay.attach("s1", token: "t", tty: true, size: nil))
        await relay.watch("s1", check: .milliseconds(10), silence: .milliseconds(50))
        var received: [UInt8] = []
        for await chunk in stream { received += chunk }
        var decoder = ExecFrameDecoder()
        #expect(try decoder.frames(received).map(\.kind) == [.failure])
        #expect(await relay.takeInput("s1", from: "i-1", wait: .zero) == nil)
    }

    @Test func aCallerWhoStopsReadingEndsTheSession() async throws {
        let relay = ExecRelay()
        relay.create(request, instance: "i-1", token: "t")
        do {
            _ = try #require(relay.attach("s1", token: "t", tty: true, size: nil))
        }
        #expect(await relay.takeInput("s1", from: "i-1", wait: .seconds(1)) == nil)
    }
}
