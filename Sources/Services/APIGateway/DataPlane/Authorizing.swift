import Foundation
import AgentProtocol
import APIGatewayShapes
import Lambda
import StevedoreCore
import Synchronization

/// Routes' authorizers at work (JWT and Lambda REQUEST authorizers).
extension GatewayDataPlane {
    enum Authorization {
        case allowed(AuthorizerContext)
        case refused(GatewayResponse)
    }

    /// The route's authorizer at work: a JWT checked against its issuer's keys, or a REQUEST
    /// authorizer's function asked (its answers cached by identity for their TTL).
    func authorize(
        _ request: GatewayRequest, route: V2Route, authorizer: V2Authorizer, destination: GatewayDestination, context: ProxyContext
    ) async -> Authorization {
        let sources = authorizer.identitySource ?? []
        let requestContext = ["requestId": request.requestId, "stage": destination.stage.stageName, "apiId": destination.api.id,
                              "identity.sourceIp": request.sourceIp, "routeKey": context.routeKey]
        switch authorizer.authorizerType {
        case .jwt:
            guard let configuration = authorizer.jwtConfiguration, let issuer = configuration.issuer else { return .refused(.internalServerError) }
            let token = LambdaAuthorization.identity(sources, request: request, stage: destination.stage, context: requestContext)?.first
            guard token != nil else { return .refused(.unauthorized) }
            var refreshed = false
            while true {
                guard let keys = await signingKeys.keys(issuer: issuer, refresh: refreshed, http: http) else { return .refused(.unauthorized) }
                switch JWTAuthorization.decide(token: token, configuration: configuration, keys: keys, routeScopes: route.authorizationScopes, now: request.time) {
                case .allow(let claims, let scopes): return .allowed(.jwt(claims: claims, scopes: scopes))
                case .unauthorized: return .refused(.unauthorized)
                case .forbidden: return .refused(.forbidden)
                case .unknownKey:
                    // A key made after the last fetch: fetch the issuer's keys once more.
                    if refreshed { return .refused(.unauthorized) }
                    refreshed = true
                }
            }
        default:
            guard let identity = LambdaAuthorization.identity(sources, request: request, stage: destination.stage, context: requestContext) else {
                return .refused(.unauthorized)
            }
            let routeArn = LambdaAuthorization.routeArn(
                names: names, apiId: destination.api.id, stage: destination.stage.stageName, method: request.method, path: request.routePath)
            let simple = authorizer.enableSimpleResponses == true
            let format = ProxyPayload.Format(rawValue: authorizer.authorizerPayloadFormatVersion ?? "2.0") ?? .v2
            guard
                let answer = await authorizerAnswer(
                    authorizer, identity: identity, apiId: destination.api.id, stageVariables: context.stageVariables, routeArn: routeArn,
                    simpleResponses: simple, time: request.time,
                    event: LambdaAuthorization.event(request, context: context, format: format, routeArn: routeArn, identity: identity))
            else { return .refused(.internalServerError) }
            guard let verdict = LambdaAuthorization.decide(answer, simpleResponses: simple, routeArn: routeArn) else {
                return .refused(.internalServerError)
            }
            return verdict.allowed ? .allowed(.lambda(verdict.context)) : .refused(.forbidden)
        }
    }

    /// A REQUEST authorizer's answer to an identity: the cached one while its TTL lasts, else its
    /// function's (10 seconds to answer), cached when it makes sense. The function's answer is
    /// cached, not the verdict: a policy is judged against each request's own route. nil when the
    /// function fails.
    func authorizerAnswer(
        _ authorizer: V2Authorizer, identity: [String], apiId: String, stageVariables: [String: String], routeArn: String,
        simpleResponses: Bool, time: Date, event: @autoclosure () -> [UInt8]
    ) async -> [UInt8]? {
        let ttl = authorizer.authorizerResultTtlInSeconds ?? 0
        let cacheKey = ([apiId, authorizer.authorizerId ?? ""] + identity).joined(separator: "\u{1}")
        if ttl > 0, let cached = authorizations.lookup(cacheKey, now: time) { return cached }
        let uri = Self.substitute(authorizer.authorizerUri ?? "", stageVariables: stageVariables)
        guard let target = FunctionTarget(integrationUri: uri) else { return nil }
        let invocation = InvocationRequest(
            reference: target.functionArn, qualifier: nil, payload: Data(event()), requestId: UUID().uuidString.lowercased(),
            traceId: LambdaAPI.newTraceId(at: time))
        let functions = self.functions
        guard case .finished(let outcome?) = await Deadline.race(milliseconds: 10_000, { try? await functions.invoke(invocation) }),
            outcome.status == .success
        else { return nil }
        let answer = Array(outcome.payload)
        if ttl > 0, LambdaAuthorization.decide(answer, simpleResponses: simpleResponses, routeArn: routeArn) != nil {
            authorizations.store(cacheKey, answer, until: time.addingTimeInterval(Double(ttl)))
        }
        return answer
    }
}
