import Console
import Foundation
import StevedoreCore
import Testing

@Suite struct ConsoleSessionsTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func aSessionIsFoundByItsCookieUntilItExpires() {
        var sessions = ConsoleSessions()
        var random = Xoshiro256(seed: 1)
        let session = sessions.open(accessKeyId: "AKIA1", now: now, random: &random)
        #expect(session.id.count == 64 && session.csrfToken.count == 64 && session.id != session.csrfToken)
        let header = "other=1; \(ConsoleSessions.cookieName)=\(session.id); theme=dark"
        #expect(sessions.session(cookieHeader: header, now: now.addingTimeInterval(60))?.accessKeyId == "AKIA1")
        #expect(sessions.session(cookieHeader: "\(ConsoleSessions.cookieName)=\(String(repeating: "0", count: 64))", now: now) == nil)
        #expect(sessions.session(cookieHeader: nil, now: now) == nil)
        // Past its lifetime the session is gone, even if asked for again later.
        #expect(sessions.session(cookieHeader: header, now: now.addingTimeInterval(ConsoleSessions.lifetime + 1)) == nil)
        #expect(sessions.count == 0)
    }

    @Test func closingEndsTheSession() {
        var sessions = ConsoleSessions()
        var random = Xoshiro256(seed: 2)
        let session = sessions.open(accessKeyId: "AKIA1", now: now, random: &random)
        sessions.close(id: session.id)
        #expect(sessions.session(cookieHeader: "\(ConsoleSessions.cookieName)=\(session.id)", now: now) == nil)
    }

    @Test func theOldestSessionMakesRoomAtCapacity() {
        var sessions = ConsoleSessions()
        var random = Xoshiro256(seed: 3)
        let first = sessions.open(accessKeyId: "first", now: now, random: &random)
        for index in 1..<ConsoleSessions.capacity {
            _ = sessions.open(accessKeyId: "key\(index)", now: now.addingTimeInterval(Double(index)), random: &random)
        }
        #expect(sessions.count == ConsoleSessions.capacity)
        _ = sessions.open(accessKeyId: "one more", now: now.addingTimeInterval(5000), random: &random)
        #expect(sessions.count == ConsoleSessions.capacity)
        #expect(sessions.session(cookieHeader: "\(ConsoleSessions.cookieName)=\(first.id)", now: now.addingTimeInterval(5000)) == nil)
    }

    @Test func theCSRFTokenMustMatchExactly() {
        var sessions = ConsoleSessions()
        var random = Xoshiro256(seed: 4)
        let session = sessions.open(accessKeyId: "AKIA1", now: now, random: &random)
        #expect(ConsoleSessions.csrfMatches(session, header: session.csrfToken))
        #expect(!ConsoleSessions.csrfMatches(session, header: nil))
        #expect(!ConsoleSessions.csrfMatches(session, header: ""))
        #expect(!ConsoleSessions.csrfMatches(session, header: String(session.csrfToken.dropLast()) + "x"))
        #expect(!ConsoleSessions.csrfMatches(session, header: session.id))
    }

    @Test func theCookieIsHttpOnlyStrictAndScopedToTheConsole() {
        var sessions = ConsoleSessions()
        var random = Xoshiro256(seed: 5)
        let session = sessions.open(accessKeyId: "AKIA1", now: now, random: &random)
        let cookie = ConsoleSessions.setCookie(session, secure: false)
        #expect(cookie.hasPrefix("\(ConsoleSessions.cookieName)=\(session.id);"))
        #expect(cookie.contains("; HttpOnly") && cookie.contains("; SameSite=Strict") && cookie.contains("; Path=/console"))
        #expect(!cookie.contains("Secure"))
        #expect(ConsoleSessions.setCookie(session, secure: true).hasSuffix("; Secure"))
        #expect(ConsoleSessions.clearCookie(secure: false).contains("Max-Age=0"))
    }

    @Test func cookiesAreReadByExactName() {
        #expect(ConsoleSessions.cookie("a", in: "a=1; b=2") == "1")
        #expect(ConsoleSessions.cookie("b", in: "a=1;b=2") == "2")
        #expect(ConsoleSessions.cookie("a", in: "aa=1; ba=2") == nil)
        #expect(ConsoleSessions.cookie("a", in: "a=") == nil)
        #expect(ConsoleSessions.cookie("a", in: "") == nil)
    }
}
