import Foundation
import APIGatewayShapes

/// An HTTP API's CORS configuration at work: the gateway answers preflight requests itself and
/// puts the configured headers on other answers to allowed origins (replacing any the integration
/// sent, as API Gateway does).
struct CrossOrigin: Sendable {
    let configuration: V2Cors

    /// Whether a request is a CORS preflight: OPTIONS with an Origin and a requested method.
    static func isPreflight(_ request: GatewayRequest) -> Bool {
        request.method == "OPTIONS" && request.header("origin") != nil && request.header("access-control-request-method") != nil
    }

    /// The value of `access-control-allow-origin` for a request's origin, or nil when it is not allowed.
    func allowedOrigin(_ origin: String?) -> String? {
        guard let origin else { return nil }
        let origins = configuration.allowOrigins ?? []
        if origins.contains("*") { return configuration.allowCredentials == true ? origin : "*" }
        return origins.contains { $0.caseInsensitiveCompare(origin) == .orderedSame } ? origin : nil
    }

    /// The answer to a preflight: 204 with the allowed methods and headers, or without CORS headers
    /// when the origin, method or headers are not allowed.
    func preflight(_ request: GatewayRequest) -> GatewayResponse {
        var response = GatewayResponse(status: 204)
        guard let origin = allowedOrigin(request.header("origin")), let method = request.header("access-control-request-method") else {
            return response
        }
        let methods = (configuration.allowMethods ?? []).map { $0.uppercased() }
        guard methods.contains("*") || methods.contains(method.uppercased()) else { return response }
        let requested = (request.header("access-control-request-headers") ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }.filter { !$0.isEmpty }
        let allowedHeaders = (configuration.allowHeaders ?? []).map { $0.lowercased() }
        guard allowedHeaders.contains("*") || requested.allSatisfy(allowedHeaders.contains) else { return response }
        response.headers.append(("access-control-allow-origin", origin))
        response.headers.append(("access-control-allow-methods", methods.contains("*") ? method.uppercased() : methods.joined(separator: ",")))
        if !requested.isEmpty {
            response.headers.append(("access-control-allow-headers", allowedHeaders.contains("*") ? requested.joined(separator: ",") : allowedHeaders.joined(separator: ",")))
        }
        if let maxAge = configuration.maxAge { response.headers.append(("access-control-max-age", String(maxAge))) }
        if configuration.allowCredentials == true { response.headers.append(("access-control-allow-credentials", "true")) }
        return response
    }

    /// An integration's answer with the CORS headers of the configuration.
    func decorate(_ response: GatewayResponse, origin: String?) -> GatewayResponse {
        var response = response
        response.headers.removeAll { $0.0.lowercased().hasPrefix("access-control-") }
        guard let allowed = allowedOrigin(origin) else { return response }
        response.headers.append(("access-control-allow-origin", allowed))
        if let expose = configuration.exposeHeaders, !expose.isEmpty {
            response.headers.append(("access-control-expose-headers", expose.joined(separator: ",")))
        }
        if configuration.allowCredentials == true { response.headers.append(("access-control-allow-credentials", "true")) }
        return response
    }
}
