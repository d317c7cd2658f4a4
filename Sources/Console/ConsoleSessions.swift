import Foundation
import SigV4
import StevedoreCore

/// The console's signed-in browsers: a session per sign-in, named by an unguessable id kept in
/// an HttpOnly, SameSite=Strict cookie, with a CSRF token the page must echo in a header on every
/// change it asks for. A session remembers only the access key it was opened with: each request
/// looks the key up again, so a deleted key or a changed policy takes effect at once.
public struct ConsoleSessions: Sendable {
    public struct Session: Sendable, Equatable {
        public var id: String
        public var csrfToken: String
        public var accessKeyId: String
        public var expires: Date
    }

    /// How long a sign-in lasts (AWS's console signs out after 12 hours too).
    public static let lifetime: TimeInterval = 12 * 3600
    /// At most this many sessions are kept; opening one more drops the one that ends first.
    public static let capacity = 1000
    public static let cookieName = "stevedore_console"
    public static let csrfHeader = "x-console-csrf"

    private var sessions: [String: Session] = [:]

    public init() {}

    public var count: Int { sessions.count }

    /// A new session for `accessKeyId`; ids and tokens are 256 random bits, hex-encoded.
    public mutating func open(accessKeyId: String, now: Date, random: inout some RandomNumberGenerator) -> Session {
        sessions = sessions.filter { $0.value.expires > now }
        if sessions.count >= Self.capacity, let oldest = sessions.values.min(by: { $0.expires < $1.expires }) {
            sessions[oldest.id] = nil
        }
        let session = Session(
            id: Self.token(&random), csrfToken: Self.token(&random), accessKeyId: accessKeyId, expires: now.addingTimeInterval(Self.lifetime))
        sessions[session.id] = session
        return session
    }

    /// The live session a request's `Cookie` header names, if any.
    public mutating func session(cookieHeader: String?, now: Date) -> Session? {
        guard let id = Self.cookie(Self.cookieName, in: cookieHeader), let session = sessions[id] else { return nil }
        guard session.expires > now else {
            sessions[id] = nil
            return nil
        }
        return session
    }

    public mutating func close(id: String) {
        sessions[id] = nil
    }

    /// Whether a request that changes something carries the session's CSRF token (compared in
    /// constant time).
    public static func csrfMatches(_ session: Session, header: String?) -> Bool {
        guard let header else { return false }
        return constantTimeEqual(Array(header.utf8), Array(session.csrfToken.utf8))
    }

    /// The `Set-Cookie` value that hands the browser its session (scoped to the console's paths).
    public static func setCookie(_ session: Session, secure: Bool) -> String {
        "\(cookieName)=\(session.id); Path=/console; Max-Age=\(Int(lifetime)); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    /// The `Set-Cookie` value that ends it.
    public static func clearCookie(secure: Bool) -> String {
        "\(cookieName)=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    /// A cookie's value in a `Cookie` header (`a=1; b=2`).
    public static func cookie(_ name: String, in header: String?) -> String? {
        guard let header else { return nil }
        for pair in header.split(separator: ";") {
            let trimmed = pair.drop { $0 == " " }
            guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals] == name else { continue }
            let value = trimmed[trimmed.index(after: equals)...]
            return value.isEmpty ? nil : String(value)
        }
        return nil
    }

    /// Compares secrets without stopping at the first difference (SigV4's comparison).
    public static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        SigV4.constantTimeEqual(lhs, rhs)
    }

    /// 256 random bits, as 64 hex characters.
    static func token(_ random: inout some RandomNumberGenerator) -> String {
        Identifiers.hex32(using: &random) + Identifiers.hex32(using: &random)
    }
}
