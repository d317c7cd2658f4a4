import AWSProtocols
import Foundation
import StevedoreCore
import Synchronization
import Testing

/// The read cache in front of cacheable reads: identical requests are answered from the previous
/// response while the state's version is unchanged, or while only kinds of record the read does
/// not name changed; writes, other bodies, 5xx answers, disabled caching, non-cacheable reads and
/// reads that overlapped a write of what they read all compute again.
struct ReadCacheTests {
    let committer = FakeCommitter()
    let calls = OperationCalls()

    /// The test service's operations, behind a dispatcher with a read cache of `capacity` (nil: no cache).
    func dispatcher(capacity: Int? = 16, cache: ReadCache? = nil) -> AWSJSONDispatcher {
        let calls = self.calls
        let version = committer.version
        var operations = JSONOperations(targetPrefix: "Test", committer: committer)
        operations.read("Get") { (root: [String: Int], input: KeyInput, _: Date) in
            ValueOutput(value: root[input.key], computation: calls.record("Get"))
        }
        operations.read("GetToo") { (root: [String: Int], input: KeyInput, _: Date) in
            ValueOutput(value: root[input.key], computation: calls.record("GetToo"))
        }
        operations.read("Clock", cacheable: false) { (root: [String: Int], input: KeyInput, _: Date) in
            ValueOutput(value: root[input.key], computation: calls.record("Clock"))
        }
        operations.read("Broken") { (_: [String: Int], _: KeyInput, _: Date) -> ValueOutput in
            _ = calls.record("Broken")
            throw AWSError.server("the disk is on fire")
        }
        operations.read("Missing") { (_: [String: Int], _: KeyInput, _: Date) -> ValueOutput in
            _ = calls.record("Missing")
            throw AWSError.resourceNotFound("No such key.")
        }
        // A read during whose first computation a write lands.
        operations.read("Overlapping") { (root: [String: Int], input: KeyInput, _: Date) in
            let computation = calls.record("Overlapping")
            if computation == 1 { version.advance() }
            return ValueOutput(value: root[input.key], computation: computation)
        }
        operations.write("Put") { (root: inout [String: Int], input: PutInput, _: inout Mutation, _: OperationContext) in
            _ = calls.record("Put")
            root[input.key] = input.value
            return EmptyOutput()
        }
        // Reads and writes that name the kinds of record they touch.
        operations.read("GetItem", reads: { _ in [.items] }) { (root: [String: Int], input: KeyInput, _: Date) in
            ValueOutput(value: root[input.key], computation: calls.record("GetItem"))
        }
        operations.read("GetMaybe", reads: { $0.key == "anything" ? nil : [.items] }) { (root: [String: Int], input: KeyInput, _: Date) in
            ValueOutput(value: root[input.key], computation: calls.record("GetMaybe"))
        }
        operations.read("OverlappingOther", reads: { _ in [.items] }) { (root: [String: Int], input: KeyInput, _: Date) in
            let computation = calls.record("OverlappingOther")
            if computation == 1 { version.advance(changing: [.others]) }
            return ValueOutput(value: root[input.key], computation: computation)
        }
        operations.read("OverlappingItems", reads: { _ in [.items] }) { (root: [String: Int], input: KeyInput, _: Date) in
            let computation = calls.record("OverlappingItems")
            if computation == 1 { version.advance(changing: [.others, .items]) }
            return ValueOutput(value: root[input.key], computation: computation)
        }
        operations.read("MissingItem", reads: { _ in [.items] }) { (_: [String: Int], _: KeyInput, _: Date) -> ValueOutput in
            _ = calls.record("MissingItem")
            throw AWSError.resourceNotFound("No such item.")
        }
        for (name, kind) in [("PutItem", RecordKind.items), ("PutOther", .others)] {
            operations.write(name) { (root: inout [String: Int], input: PutInput, mutation: inout Mutation, _: OperationContext) in
                root[kind.rawValue + "/" + input.key] = input.value
                mutation.changes.put(kind, key: input.key, body: Array("\(input.value)".utf8))
                return EmptyOutput()
            }
        }
        var dispatcher = AWSJSONDispatcher(readCache: cache ?? capacity.map { ReadCache(capacity: $0, version: version) })
        dispatcher.add(operations)
        return dispatcher
    }

    func call(_ dispatcher: AWSJSONDispatcher, _ operation: String, _ body: String) async -> APIResponse {
        await dispatcher.handle(
            target: "Test.\(operation)", body: Array(body.utf8), context: OperationContext(requestId: "r", bodySize: body.utf8.count))
    }

    /// The computation number a `Get`-like answer carries (which computation produced it).
    func computation(_ response: APIResponse) throws -> Int {
        #expect(response.status == 200)
        return try JSONDecoder().decode(ValueOutput.self, from: Data(response.body)).computation
    }

    @Test func aRepeatedIdenticalReadIsAnsweredFromTheCache() async throws {
        let dispatcher = dispatcher()
        let first = await call(dispatcher, "Get", #"{"key":"a"}"#)
        let second = await call(dispatcher, "Get", #"{"key":"a"}"#)
        let third = await call(dispatcher, "Get", #"{"key":"a"}"#)
        #expect(calls.count("Get") == 1)
        #expect(try computation(first) == 1)
        // The very answer of the first computation, status, headers and body.
        #expect(second.status == first.status && second.body == first.body)
        #expect(second.headers.map { "\($0.0): \($0.1)" } == first.headers.map { "\($0.0): \($0.1)" })
        #expect(try computation(third) == 1)
    }

    @Test func aWriteMakesTheNextReadComputeAgain() async throws {
        let dispatcher = dispatcher()
        #expect(try computation(await call(dispatcher, "Get", #"{"key":"a"}"#)) == 1)
        let put = await call(dispatcher, "Put", #"{"key":"a","value":7}"#)
        #expect(put.status == 200)
        let after = await call(dispatcher, "Get", #"{"key":"a"}"#)
        #expect(calls.count("Get") == 2)
        let decoded = try JSONDecoder().decode(ValueOutput.self, from: Data(after.body))
        #expect(decoded == ValueOutput(value: 7, computation: 2))
        // And that answer is cached in turn.
        #expect(try computation(await call(dispatcher, "Get", #"{"key":"a"}"#)) == 2)
        #expect(calls.count("Get") == 2)
    }

    @Test func aVersionAdvanceAloneInvalidatesTheCache() async throws {
        let dispatcher = dispatcher()
        _ = await call(dispatcher, "Get", #"{"key":"a"}"#)
        committer.version.advance()
        #expect(try computation(await call(dispatcher, "Get", #"{"key":"a"}"#)) == 2)
    }

    @Test func differentBodiesAndOperationsAreDifferentEntries() async throws {
        let dispatcher = dispatcher()
        _ = await call(dispatcher, "Get", #"{"key":"a"}"#)
        _ = await call(dispatcher, "Get", #"{"key":"b"}"#)
        // The same request spelled differently is a different entry (bytes are the key).
        _ = await call(dispatcher, "Get", #"{ "key": "a" }"#)
        #expect(calls.count("Get") == 3)
        // The same body to another operation.
        _ = await call(dispatcher, "GetToo", #"{"key":"a"}"#)
        #expect(calls.count("GetToo") == 1)
        // Each is now cached on its own.
        _ = await call(dispatcher, "Get", #"{"key":"a"}"#)
        _ = await call(dispatcher, "Get", #"{"key":"b"}"#)
        _ = await call(dispatcher, "Get", #"{ "key": "a" }"#)
        _ = await call(dispatcher, "GetToo", #"{"key":"a"}"#)
        #expect(calls.count("Get") == 3)
        #expect(calls.count("GetToo") == 1)
    }

    @Test func serverErrorsAreNotCachedButClientErrorsAre() async throws {
        let dispatcher = dispatcher()
        let broken = await call(dispatcher, "Broken", #"{"key":"a"}"#)
        #expect(broken.status == 500)
        _ = await call(dispatcher, "Broken", #"{"key":"a"}"#)
        #expect(calls.count("Broken") == 2)
        // A refusal depends only on the request and the state: cached like an answer.
        let missing = await call(dispatcher, "Missing", #"{"key":"a"}"#)
        #expect(missing.status == 400)
        let again = await call(dispatcher, "Missing", #"{"key":"a"}"#)
        #expect(again.status == 400 && again.body == missing.body)
        #expect(calls.count("Missing") == 1)
    }

    @Test func capacityZeroDisablesCaching() async throws {
        let dispatcher = dispatcher(capacity: 0)
        for expected in 1...3 {
            #expect(try computation(await call(dispatcher, "Get", #"{"key":"a"}"#)) == expected)
        }
        #expect(calls.count("Get") == 3)
    }

    @Test func withoutAReadCacheEveryReadComputes() async throws {
        let dispatcher = dispatcher(capacity: nil)
        _ = await call(dispatcher, "Get", #"{"key":"a"}"#)
        _ = await call(dispatcher, "Get", #"{"key":"a"}"#)
        #expect(calls.count("Get") == 2)
    }

    @Test func theCacheIsBoundedInBytes() async throws {
        let cache = ReadCache(capacity: 100_000, capacityBytes: 64 * 1024, version: committer.version)
        let dispatcher = dispatcher(cache: cache)
        // 400 distinct 2 KiB keys: 800 KiB asked for, never more than 64 KiB held.
        for index in 0..<400 {
            let key = String(repeating: "k", count: 2048) + "\(index)"
            _ = await call(dispatcher, "Get", #"{"key":"\#(key)"}"#)
            #expect(cache.bytesHeld <= 64 * 1024)
        }
        #expect(cache.bytesHeld > 0)
        // An answer bigger than a sixteenth of the cache is computed every time, never kept.
        let huge = String(repeating: "h", count: 8 * 1024)
        _ = await call(dispatcher, "Get", #"{"key":"\#(huge)"}"#)
        _ = await call(dispatcher, "Get", #"{"key":"\#(huge)"}"#)
        #expect(calls.count("Get") == 402)
    }

    @Test func aFullCacheNeverGrowsPastItsCapacity() async throws {
        let dispatcher = dispatcher(capacity: 1)
        _ = await call(dispatcher, "Get", #"{"key":"a"}"#)
        _ = await call(dispatcher, "Get", #"{"key":"a"}"#)
        #expect(calls.count("Get") == 1)
        // b takes the only place: a is computed again.
        _ = await call(dispatcher, "Get", #"{"key":"b"}"#)
        _ = await call(dispatcher, "Get", #"{"key":"a"}"#)
        #expect(calls.count("Get") == 3)
    }

    @Test func readsRegisteredAsNotCacheableAreNeverCached() async throws {
        let dispatcher = dispatcher()
        for expected in 1...3 {
            #expect(try computation(await call(dispatcher, "Clock", #"{"key":"a"}"#)) == expected)
        }
        #expect(calls.count("Clock") == 3)
    }

    @Test func writesAreNeverAnsweredFromTheCache() async throws {
        let dispatcher = dispatcher()
        let versionBefore = committer.version.current
        _ = await call(dispatcher, "Put", #"{"key":"a","value":1}"#)
        _ = await call(dispatcher, "Put", #"{"key":"a","value":1}"#)
        #expect(calls.count("Put") == 2)
        #expect(committer.version.current == versionBefore + 2)
    }

    @Test func aReadWhoseComputationOverlappedAWriteIsNotServedAfterwards() async throws {
        let dispatcher = dispatcher()
        // A write lands during the first computation: its answer may be from before the write.
        #expect(try computation(await call(dispatcher, "Overlapping", #"{"key":"a"}"#)) == 1)
        #expect(try computation(await call(dispatcher, "Overlapping", #"{"key":"a"}"#)) == 2)
        // The second computation overlapped nothing: it is served from now on.
        #expect(try computation(await call(dispatcher, "Overlapping", #"{"key":"a"}"#)) == 2)
        #expect(calls.count("Overlapping") == 2)
    }
}

extension ReadCacheTests {
    // MARK: Reads that name what they depend on

    @Test func aReadNamingItsKindsStaysCachedWhileOtherKindsChange() async throws {
        let dispatcher = dispatcher()
        #expect(try computation(await call(dispatcher, "GetItem", #"{"key":"items/a"}"#)) == 1)
        #expect(await call(dispatcher, "PutOther", #"{"key":"a","value":1}"#).status == 200)
        #expect(await call(dispatcher, "PutOther", #"{"key":"b","value":2}"#).status == 200)
        #expect(try computation(await call(dispatcher, "GetItem", #"{"key":"items/a"}"#)) == 1)
        // A write of its own kind: computed again, and the answer holds the write.
        #expect(await call(dispatcher, "PutItem", #"{"key":"a","value":5}"#).status == 200)
        let after = await call(dispatcher, "GetItem", #"{"key":"items/a"}"#)
        #expect(try JSONDecoder().decode(ValueOutput.self, from: Data(after.body)) == ValueOutput(value: 5, computation: 2))
        #expect(try computation(await call(dispatcher, "GetItem", #"{"key":"items/a"}"#)) == 2)
    }

    @Test func aReadThatNamesNoKindsComputesAgainAfterAnyWrite() async throws {
        let dispatcher = dispatcher()
        #expect(try computation(await call(dispatcher, "Get", #"{"key":"a"}"#)) == 1)
        _ = await call(dispatcher, "PutOther", #"{"key":"a","value":1}"#)
        #expect(try computation(await call(dispatcher, "Get", #"{"key":"a"}"#)) == 2)
    }

    @Test func aChangeOfEverythingInvalidatesReadsThatNameKinds() async throws {
        let dispatcher = dispatcher()
        #expect(try computation(await call(dispatcher, "GetItem", #"{"key":"a"}"#)) == 1)
        // Memory-only changes and reloads advance everything.
        committer.version.advance()
        #expect(try computation(await call(dispatcher, "GetItem", #"{"key":"a"}"#)) == 2)
    }

    @Test func theKindsCanDependOnTheRequest() async throws {
        let dispatcher = dispatcher()
        #expect(try computation(await call(dispatcher, "GetMaybe", #"{"key":"anything"}"#)) == 1)
        #expect(try computation(await call(dispatcher, "GetMaybe", #"{"key":"a"}"#)) == 2)
        _ = await call(dispatcher, "PutOther", #"{"key":"a","value":1}"#)
        // The request that depends on anything is computed again; the other is not.
        #expect(try computation(await call(dispatcher, "GetMaybe", #"{"key":"anything"}"#)) == 3)
        #expect(try computation(await call(dispatcher, "GetMaybe", #"{"key":"a"}"#)) == 2)
    }

    @Test func aWriteOfAnotherKindDuringTheComputationDoesNotSpoilIt() async throws {
        let dispatcher = dispatcher()
        #expect(try computation(await call(dispatcher, "OverlappingOther", #"{"key":"a"}"#)) == 1)
        #expect(try computation(await call(dispatcher, "OverlappingOther", #"{"key":"a"}"#)) == 1)
    }

    @Test func aWriteOfItsKindDuringTheComputationIsNotServedAfterwards() async throws {
        let dispatcher = dispatcher()
        #expect(try computation(await call(dispatcher, "OverlappingItems", #"{"key":"a"}"#)) == 1)
        #expect(try computation(await call(dispatcher, "OverlappingItems", #"{"key":"a"}"#)) == 2)
        #expect(try computation(await call(dispatcher, "OverlappingItems", #"{"key":"a"}"#)) == 2)
    }

    @Test func refusalsDependOnEverything() async throws {
        let dispatcher = dispatcher()
        // A refusal of a read that names its kinds is cached, but as depending on anything.
        #expect(await call(dispatcher, "MissingItem", #"{"key":"a"}"#).status == 400)
        #expect(await call(dispatcher, "MissingItem", #"{"key":"a"}"#).status == 400)
        #expect(calls.count("MissingItem") == 1)
        _ = await call(dispatcher, "PutOther", #"{"key":"a","value":1}"#)
        #expect(await call(dispatcher, "MissingItem", #"{"key":"a"}"#).status == 400)
        #expect(calls.count("MissingItem") == 2)
    }
}

extension RecordKind {
    static let items = RecordKind("items")
    static let others = RecordKind("others")
}

// MARK: - A committer over a dictionary

struct KeyInput: Codable, Sendable {
    var key: String
}

struct PutInput: Codable, Sendable {
    var key: String
    var value: Int
}

struct ValueOutput: Codable, Sendable, Equatable {
    var value: Int?
    /// Which computation of the operation produced this answer (1 for the first).
    var computation: Int
}

/// Counts each operation's computations.
final class OperationCalls: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    /// Counts a computation of `operation`; returns its number.
    func record(_ operation: String) -> Int {
        counts.withLock { counts in
            counts[operation, default: 0] += 1
            return counts[operation]!
        }
    }

    func count(_ operation: String) -> Int { counts.withLock { $0[operation] ?? 0 } }
}

/// Reads and writes a dictionary; every write advances the version, as the real committer's do.
final class FakeCommitter: StateCommitting {
    typealias Root = [String: Int]
    let version = StateVersion()
    private let state = Mutex<[String: Int]>([:])

    func read<Result: Sendable>(_ body: @Sendable ([String: Int], Date) throws(AWSError) -> Result) async throws(AWSError) -> Result {
        try body(state.withLock { $0 }, Date(timeIntervalSince1970: 1_800_000_000))
    }

    func write<Result: Sendable>(
        _ body: @Sendable (inout [String: Int], inout Mutation) throws(AWSError) -> Result
    ) async throws(AWSError) -> Result {
        var root = state.withLock { $0 }
        var mutation = Mutation(now: Date(timeIntervalSince1970: 1_800_000_000), random: Xoshiro256(seed: 1))
        let result = try body(&root, &mutation)
        state.withLock { $0 = root }
        // As the real committer: the kinds of the rows written, or everything when none are named.
        let kinds = mutation.changes.changes.map(\.kind)
        if kinds.isEmpty { version.advance() } else { version.advance(changing: kinds) }
        return result
    }
}
