@testable import APIGateway
import APIGatewayShapes
import Crypto
import _CryptoExtras
import Foundation
import StevedoreCore
import Testing

/// JWT authorizers' checks with a key made here, and REQUEST authorizers' verdicts.
struct AuthorizationTests {
    static let key = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let other = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let configuration = V2JWTConfiguration(audience: ["app"], issuer: "http://127.0.0.1:9/issuer")

    static func base64URL(_ bytes: some DataProtocol) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    func token(_ claims: [String: Any], kid: String = "k1", alg: String = "RS256", key: _RSA.Signing.PrivateKey = Self.key) throws -> String {
        let header = Self.base64URL(try JSONSerialization.data(withJSONObject: ["alg": alg, "kid": kid, "typ": "JWT"]))
        let body = Self.base64URL(try JSONSerialization.data(withJSONObject: claims))
        let signature = try key.signature(for: Data("\(header).\(body)".utf8), padding: .insecurePKCS1v1_5)
        return "\(header).\(body).\(Self.base64URL(signature.rawRepresentation))"
    }

    var keys: JSONWebKeySet { JSONWebKeySet(keys: ["k1": Self.key.publicKey]) }

    func decide(_ token: String?, scopes: [String]? = nil) -> JWTDecision {
        JWTAuthorization.decide(token: token, configuration: configuration, keys: keys, routeScopes: scopes, now: now)
    }

    var valid: [String: Any] { ["iss": "http://127.0.0.1:9/issuer", "aud": "app", "sub": "u1", "exp": 1_800_000_600, "iat": 1_799_999_000, "scope": "read write"] }

    @Test func aValidTokenPassesWithItsClaimsAndScopes() throws {
        let decision = decide("Bearer " + (try token(valid)))
        guard case .allow(let claims, let scopes) = decision else {
            Issue.record("refused: \(decision)")
            return
        }
        #expect(claims["sub"] == "u1" && claims["exp"] == "1800000600" && claims["aud"] == "app" && scopes == ["read", "write"])
        guard case .allow = decide(try token(valid), scopes: ["write", "admin"]) else {
            Issue.record("one of the route's scopes is enough")
            return
        }
    }

    @Test func refusals() throws {
        var expired = valid
        expired["exp"] = 1_799_999_999
        var early = valid
        early["nbf"] = 1_800_000_100
        var stranger = valid
        stranger["iss"] = "http://elsewhere"
        var otherAudience = valid
        otherAudience["aud"] = ["x", "y"]
        var byClient = valid
        byClient["aud"] = nil
        byClient["client_id"] = "app"
        #expect(decide(nil) == .unauthorized)
        #expect(decide("") == .unauthorized)
        #expect(decide("not.a.jwt") == .unauthorized)
        #expect(decide(try token(expired)) == .unauthorized)
        #expect(decide(try token(early)) == .unauthorized)
        #expect(decide(try token(stranger)) == .unauthorized)
        #expect(decide(try token(otherAudience)) == .unauthorized)
        #expect(decide(try token(valid, key: Self.other)) == .unauthorized)
        #expect(decide(try token(valid, alg: "HS256")) == .unauthorized)
        #expect(decide(try token(valid, kid: "k2")) == .unknownKey)
        #expect(decide(try token(valid), scopes: ["admin"]) == .forbidden)
        if case .allow = decide(try token(byClient)) {} else { Issue.record("client_id should stand for aud") }
        // A signature over other claims.
        let parts = try token(valid).split(separator: ".")
        let forged = Self.base64URL(try JSONSerialization.data(withJSONObject: valid.merging(["sub": "admin"]) { $1 }))
        #expect(decide("\(parts[0]).\(forged).\(parts[2])") == .unauthorized)
    }

    @Test func keySetsParseRSAKeysByKid() throws {
        let primitives = try Self.key.publicKey.getKeyPrimitives()
        let document: [String: Any] = ["keys": [
            ["kty": "RSA", "kid": "k1", "use": "sig", "n": Self.base64URL(primitives.modulus), "e": Self.base64URL(primitives.publicExponent)],
            ["kty": "EC", "kid": "e1", "crv": "P-256", "x": "AA", "y": "AA"],
        ]]
        let set = try #require(JSONWebKeySet(json: Array(try JSONSerialization.data(withJSONObject: document))))
        #expect(Array(set.keys.keys) == ["k1"])
        #expect(JSONWebKeySet(json: Array("{}".utf8)) == nil)
    }

    @Test func simpleAndPolicyVerdicts() {
        let arn = "arn:aws:execute-api:us-east-1:000000000000:abc/$default/GET/pets"
        func decide(_ text: String, simple: Bool) -> (Bool, [String: JSONValue])? {
            LambdaAuthorization.decide(Array(text.utf8), simpleResponses: simple, routeArn: arn).map { ($0.allowed, $0.context) }
        }
        #expect(decide(#"{"isAuthorized": true, "context": {"user": "u1"}}"#, simple: true).map { "\($0.0) \($0.1)" } == "true [\"user\": StevedoreCore.JSONValue.string(\"u1\")]")
        #expect(decide(#"{"isAuthorized": false}"#, simple: true)?.0 == false)
        #expect(decide(#"{"isAuthorized": "yes"}"#, simple: true) == nil)
        #expect(decide("[]", simple: true) == nil)
        let allow = #"{"principalId": "u1", "policyDocument": {"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:us-east-1:000000000000:abc/*/GET/*"}]}}"#
        #expect(decide(allow, simple: false)?.0 == true)
        #expect(decide(allow, simple: false)?.1["principalId"] == .string("u1"))
        let deny = #"{"policyDocument": {"Statement": [{"Action": "*", "Effect": "Allow", "Resource": "*"}, {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": ["arn:aws:execute-api:*"]}]}}"#
        #expect(decide(deny, simple: false)?.0 == false)
        let elsewhere = #"{"policyDocument": {"Statement": {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:us-east-1:000000000000:abc/prod/*"}}}"#
        #expect(decide(elsewhere, simple: false)?.0 == false)
        #expect(decide(#"{"principalId": "x"}"#, simple: false) == nil)
    }

    @Test func identitySourcesAreReadOrTheRequestIsUnauthorized() {
        let request = GatewayRequest(
            method: "GET", rawPath: "/x", routePath: "/x", rawQueryString: "token=q1", headers: [("Authorization", "a1")], body: [], sourceIp: "1.2.3.4",
            requestId: "r", time: now)
        let stage = V2Stage(stageName: "s", stageVariables: ["v": "s1"])
        #expect(
            LambdaAuthorization.identity(
                ["$request.header.Authorization", "$request.querystring.token", "$stageVariables.v", "$context.identity.sourceIp"], request: request,
                stage: stage, context: ["identity.sourceIp": "1.2.3.4"]) == ["a1", "q1", "s1", "1.2.3.4"])
        #expect(LambdaAuthorization.identity(["$request.header.X-Missing"], request: request, stage: stage, context: [:]) == nil)
        #expect(LambdaAuthorization.identity([], request: request, stage: stage, context: [:]) == [])
        #expect(IdentitySource("$request.body.x") == nil)
    }
}
