import Foundation
import AgentProtocol
import APIGatewayShapes
import Lambda
import StevedoreCore
import Synchronization

/// Deployments' route tables, made once each: a deployment never changes.
final class RouteTables: Sendable {
    private let tables = Mutex<[String: RouteTable]>([:])

    func table(api: String, deployment: GatewayDeployment) -> RouteTable {
        table(key: api + "/" + (deployment.deployment.deploymentId ?? "")) { deployment.routes.map { ($0.routeKey, $0.target) } }
    }

    /// The table kept under `key` (an API and deployment), made from `routes` the first time.
    func table(key: String, routes: () -> [(routeKey: String, target: String?)]) -> RouteTable {
        if let table = tables.withLock({ $0[key] }) { return table }
        let table = RouteTable(routes: routes())
        tables.withLock { tables in
            // Deleted APIs' and replaced deployments' tables go too, sooner or later.
            if tables.count >= 4096 { tables.removeAll() }
            tables[key] = table
        }
        return table
    }
}

/// Issuers' signing keys, fetched from their OpenID configuration's `jwks_uri` and kept an hour
/// (fetched again sooner for a key not seen yet, at most every 30 seconds).
final class SigningKeys: Sendable {
    private struct Entry {
        var keys: JSONWebKeySet?
        var fetched: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])

    func keys(issuer: String, refresh: Bool, http: any HTTPForwarding) async -> JSONWebKeySet? {
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[issuer] }) {
            let age = now - entry.fetched
            // A failed fetch is remembered for 30 seconds: requests do not each wait on an issuer that is down.
            if entry.keys == nil, age < .seconds(30) { return nil }
            if let keys = entry.keys, age < .seconds(3600), !refresh || age < .seconds(30) { return keys }
        }
        let base = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        guard case .answered(let discovery) = await http.forward(
            method: "GET", url: base + "/.well-known/openid-configuration", headers: [], body: [], timeout: .milliseconds(1500)),
            discovery.status == 200,
            case .object(let document) = (try? JSONDecoder().decode(JSONValue.self, from: Data(discovery.body))),
            case .string(let jwksURI) = document["jwks_uri"],
            case .answered(let answer) = await http.forward(method: "GET", url: jwksURI, headers: [], body: [], timeout: .milliseconds(1500)),
            answer.status == 200, answer.body.count <= 150_000, let keys = JSONWebKeySet(json: answer.body)
        else {
            return entries.withLock { entries in
                // Keys fetched before stay in use; with none, the failure is what is remembered.
                if let keys = entries[issuer]?.keys { return keys }
                if entries.count >= 1024 { entries.removeAll() }
                entries[issuer] = Entry(keys: nil, fetched: now)
                return nil
            }
        }
        entries.withLock { entries in
            if entries.count >= 1024 { entries.removeAll() }
            entries[issuer] = Entry(keys: keys, fetched: now)
        }
        return keys
    }
}

/// REQUEST authorizers' answers, by API, authorizer and identity, until their TTL runs out.
final class AuthorizationCache: Sendable {
    private let answers = Mutex<[String: (payload: [UInt8], until: Date)]>([:])

    func lookup(_ key: String, now: Date) -> [UInt8]? {
        answers.withLock { answers in
            guard let answer = answers[key] else { return nil }
            guard answer.until > now else {
                answers[key] = nil
                return nil
            }
            return answer.payload
        }
    }

    func store(_ key: String, _ payload: [UInt8], until: Date) {
        answers.withLock { answers in
            // Answers are small (AWS limits them to 8 KB); the count bounds the memory.
            guard payload.count <= 8192 else { return }
            if answers.count >= 10_000 { answers.removeAll() }
            answers[key] = (payload, until)
        }
    }
}

/// Where each target group's next request starts, so that requests go round its targets.
final class RoundRobin: Sendable {
    private let positions = Mutex<[String: Int]>([:])

    func next(_ group: String) -> Int {
        positions.withLock { positions in
            let position = positions[group, default: 0]
            positions[group] = position &+ 1
            return position & Int.max
        }
    }
}
