import Foundation
import StevedoreCore
import Testing

/// Client tokens: the same request replays, a different one conflicts, tokens expire after their
/// lifetime, the oldest go first when full, and they come back from stored rows.
struct IdempotencyTokensTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func record(_ token: String, _ fingerprint: String = "f", at offset: TimeInterval = 0, ids: [String] = ["a"]) -> IdempotencyTokens.Record {
        IdempotencyTokens.Record(scope: "RunTask/c", token: token, fingerprint: fingerprint, resourceIds: ids, createdAt: start + offset)
    }

    @Test func theSameRequestReplaysAndAnotherConflicts() {
        var tokens = IdempotencyTokens(lifetime: 100)
        var changes = ChangeSet()
        #expect(tokens.lookup(scope: "RunTask/c", token: "t", fingerprint: "f", now: start) == .new)
        tokens.remember(record("t", ids: ["x", "y"]), changes: &changes)
        #expect(changes.changes.map(\.key) == ["RunTask/c/t"] && changes.changes.first?.kind == .clientTokens)
        #expect(tokens.lookup(scope: "RunTask/c", token: "t", fingerprint: "f", now: start + 99) == .replay(["x", "y"]))
        #expect(tokens.lookup(scope: "RunTask/c", token: "t", fingerprint: "g", now: start + 1) == .conflict(["x", "y"]))
        // Scopes are apart, and a token past its lifetime is new again.
        #expect(tokens.lookup(scope: "RunTask/d", token: "t", fingerprint: "f", now: start) == .new)
        #expect(tokens.lookup(scope: "RunTask/c", token: "t", fingerprint: "f", now: start + 100) == .new)
    }

    @Test func pruningForgetsExpiredTokensAndDeletesTheirRows() {
        var tokens = IdempotencyTokens(lifetime: 100)
        var changes = ChangeSet()
        tokens.remember(record("old", at: 0), changes: &changes)
        tokens.remember(record("new", at: 50), changes: &changes)
        changes = ChangeSet()
        tokens.prune(now: start + 120, changes: &changes)
        #expect(tokens.count == 1)
        #expect(changes.changes.map { "\($0.key) \($0.body == nil ? "deleted" : "kept")" } == ["RunTask/c/old deleted"])
    }

    @Test func whenFullTheOldestTokenGoes() {
        var tokens = IdempotencyTokens(lifetime: 1000, capacity: 3)
        var changes = ChangeSet()
        for index in 0..<5 { tokens.remember(record("t\(index)", at: Double(index)), changes: &changes) }
        #expect(tokens.count == 3)
        #expect(tokens.lookup(scope: "RunTask/c", token: "t1", fingerprint: "f", now: start + 10) == .new)
        #expect(tokens.lookup(scope: "RunTask/c", token: "t4", fingerprint: "f", now: start + 10) == .replay(["a"]))
        #expect(changes.changes.filter { $0.body == nil }.map(\.key) == ["RunTask/c/t0", "RunTask/c/t1"])
    }

    @Test func aTokenUsedAgainAfterExpiringIsAgedFromItsNewUse() {
        // Pruning: the reused token's old place does not hold up the tokens behind it.
        var tokens = IdempotencyTokens(lifetime: 100)
        var changes = ChangeSet()
        tokens.remember(record("reused", at: 0), changes: &changes)
        tokens.remember(record("b", at: 10), changes: &changes)
        tokens.remember(record("reused", at: 150), changes: &changes)
        changes = ChangeSet()
        tokens.prune(now: start + 160, changes: &changes)
        #expect(changes.changes.map(\.key) == ["RunTask/c/b"])
        #expect(tokens.lookup(scope: "RunTask/c", token: "reused", fingerprint: "f", now: start + 160) == .replay(["a"]))

        // Eviction when full: the oldest by current use goes, not the token just used again.
        var full = IdempotencyTokens(lifetime: 100, capacity: 2)
        full.remember(record("reused", at: 0), changes: &changes)
        full.remember(record("b", at: 10), changes: &changes)
        full.remember(record("reused", at: 150), changes: &changes)
        full.remember(record("c", at: 151), changes: &changes)
        #expect(full.count == 2)
        #expect(full.lookup(scope: "RunTask/c", token: "reused", fingerprint: "f", now: start + 152) == .replay(["a"]))
        #expect(full.lookup(scope: "RunTask/c", token: "b", fingerprint: "f", now: start + 152) == .new)
    }

    @Test func storedRowsComeBack() throws {
        var tokens = IdempotencyTokens(lifetime: 1000)
        var changes = ChangeSet()
        tokens.remember(record("b", at: 5), changes: &changes)
        tokens.remember(record("a", at: 1), changes: &changes)
        let rows = try changes.changes.map { try RecordCoding.decode(IdempotencyTokens.Record.self, from: $0.body!) }
        var restored = IdempotencyTokens(lifetime: 1000)
        restored.restore(rows)
        #expect(restored.lookup(scope: "RunTask/c", token: "a", fingerprint: "f", now: start + 10) == .replay(["a"]))
        #expect(restored.count == 2)
    }

    @Test func fingerprintsAreStableAndTellRequestsApart() {
        struct Request: Encodable { var count: Int; var family: String }
        #expect(IdempotencyTokens.fingerprint(Request(count: 1, family: "web")) == IdempotencyTokens.fingerprint(Request(count: 1, family: "web")))
        #expect(IdempotencyTokens.fingerprint(Request(count: 1, family: "web")) != IdempotencyTokens.fingerprint(Request(count: 2, family: "web")))
    }

    @Test func tokensAreOneToNPrintableASCIICharacters() {
        #expect(IdempotencyTokens.isValid("!~az09", maximumLength: 64))
        #expect(!IdempotencyTokens.isValid("", maximumLength: 64))
        #expect(!IdempotencyTokens.isValid(String(repeating: "a", count: 37), maximumLength: 36))
        #expect(!IdempotencyTokens.isValid("a b", maximumLength: 64))
        #expect(!IdempotencyTokens.isValid("caf\u{e9}", maximumLength: 64))
    }
}
