import APIGatewayShapes
import Crypto
import _CryptoExtras
import Foundation
import StevedoreCore

/// A compact JWS (`header.claims.signature`, base64url), as JWT authorizers receive them.
public struct JSONWebToken: Sendable {
    public var header: [String: JSONValue]
    public var claims: [String: JSONValue]
    /// `header.claims` as sent: what the signature covers.
    public var signedPart: [UInt8]
    public var signature: [UInt8]

    public init?(compact: String) {
        let parts = compact.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Self.decode(parts[0]), let claims = Self.decode(parts[1]),
            let signature = Base64URL.decode(parts[2]),
            case .object(let headerFields) = (try? JSONDecoder().decode(JSONValue.self, from: Data(header))),
            case .object(let claimFields) = (try? JSONDecoder().decode(JSONValue.self, from: Data(claims)))
        else { return nil }
        self.header = headerFields
        self.claims = claimFields
        signedPart = Array(parts[0].utf8) + [UInt8(ascii: ".")] + Array(parts[1].utf8)
        self.signature = signature
    }

    static func decode(_ part: Substring) -> [UInt8]? { Base64URL.decode(part) }
}

enum Base64URL {
    static func decode(_ text: Substring) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map(Array.init)
    }
}

/// An issuer's signing keys (a JWKS document's RSA keys, by `kid`).
public struct JSONWebKeySet: Sendable {
    public var keys: [String: _RSA.Signing.PublicKey]

    public init(keys: [String: _RSA.Signing.PublicKey]) {
        self.keys = keys
    }

    /// Parses `{"keys": [{"kty": "RSA", "kid": …, "n": …, "e": …}, …]}`; keys of other kinds are skipped.
    public init?(json: [UInt8]) {
        guard case .object(let document) = (try? JSONDecoder().decode(JSONValue.self, from: Data(json))),
            case .array(let entries) = document["keys"]
        else { return nil }
        var keys: [String: _RSA.Signing.PublicKey] = [:]
        for case .object(let entry) in entries {
            guard entry["kty"] == .string("RSA"), case .string(let kid) = entry["kid"], case .string(let n) = entry["n"],
                case .string(let e) = entry["e"], let modulus = Base64URL.decode(Substring(n)), let exponent = Base64URL.decode(Substring(e)),
                let key = try? _RSA.Signing.PublicKey(n: modulus, e: exponent)
            else { continue }
            if case .string(let use) = entry["use"], use != "sig" { continue }
            keys[kid] = key
        }
        self.keys = keys
    }
}

/// What a JWT authorizer decides for a token.
public enum JWTDecision: Sendable, Equatable {
    /// Let through; the claims (as text, as API Gateway passes them) and the token's scopes.
    case allow(claims: [String: String], scopes: [String]?)
    /// 401 Unauthorized: no token, a bad signature, a wrong issuer or audience, expired.
    case unauthorized
    /// 403 Forbidden: a valid token without any of the route's scopes.
    case forbidden
    /// The signing key is not among the keys known (fetch the issuer's keys again, then decide).
    case unknownKey
}

/// JWT authorizers' checks, as API Gateway makes them: RS256 with a key of the issuer's JWKS
/// (`kid`), `iss` equal to the issuer, `aud` or `client_id` among the audiences, `exp`, `nbf`
/// and `iat` against the clock, and one of the route's scopes in `scope` or `scp`.
public enum JWTAuthorization {
    public static func decide(
        token rawToken: String?, configuration: V2JWTConfiguration, keys: JSONWebKeySet, routeScopes: [String]?, now: Date
    ) -> JWTDecision {
        guard var text = rawToken?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return .unauthorized }
        if text.lowercased().hasPrefix("bearer ") { text = String(text.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
        guard let token = JSONWebToken(compact: text), token.header["alg"] == .string("RS256"), case .string(let kid) = token.header["kid"] else {
            return .unauthorized
        }
        guard let key = keys.keys[kid] else { return .unknownKey }
        guard key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: token.signature), for: token.signedPart, padding: .insecurePKCS1v1_5)
        else { return .unauthorized }
        let claims = token.claims
        guard let issuer = configuration.issuer, claims["iss"] == .string(issuer) else { return .unauthorized }
        let audiences = Set(configuration.audience ?? [])
        var tokenAudiences: [String] = []
        switch claims["aud"] {
        case .string(let one): tokenAudiences = [one]
        case .array(let many): tokenAudiences = many.compactMap { if case .string(let s) = $0 { s } else { nil } }
        default: break
        }
        if case .string(let client) = claims["client_id"] { tokenAudiences.append(client) }
        guard tokenAudiences.contains(where: audiences.contains) else { return .unauthorized }
        let seconds = now.timeIntervalSince1970
        guard case .number(let expires) = claims["exp"], expires > seconds else { return .unauthorized }
        if case .number(let notBefore) = claims["nbf"], notBefore > seconds { return .unauthorized }
        if case .number(let issued) = claims["iat"], issued > seconds + 5 { return .unauthorized }
        var scopes: [String]?
        switch claims["scope"] ?? claims["scp"] {
        case .string(let list): scopes = list.split(separator: " ").map(String.init)
        case .array(let list): scopes = list.compactMap { if case .string(let s) = $0 { s } else { nil } }
        default: scopes = nil
        }
        if let wanted = routeScopes, !wanted.isEmpty, !(scopes ?? []).contains(where: wanted.contains) { return .forbidden }
        var texts: [String: String] = [:]
        for (name, value) in claims { texts[name] = value.claimText }
        return .allow(claims: texts, scopes: scopes)
    }
}

extension JSONValue {
    /// A claim as API Gateway hands claims to integrations: text, numbers as written, arrays as `[a b]`.
    var claimText: String {
        switch self {
        case .string(let text): text
        case .number(let number): number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .bool(let flag): flag ? "true" : "false"
        case .null: "null"
        case .array(let values): "[" + values.map(\.claimText).joined(separator: " ") + "]"
        case .object: (try? String(decoding: JSONEncoder().encode(self), as: UTF8.self)) ?? "{}"
        }
    }
}
