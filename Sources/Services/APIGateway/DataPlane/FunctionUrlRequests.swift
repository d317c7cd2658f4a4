import AgentProtocol
import APIGatewayShapes
import Foundation
import Lambda
import LambdaShapes
import StevedoreCore

/// Function URLs on the gateway's listener: a request to `<url-id>.lambda-url.<region>.localhost`
/// invokes its function with the 2.0 event (`routeKey` and `stage` `$default`, the URL id as
/// `apiId`), after the URL's CORS settings and its authorization: `AWS_IAM` takes SigV4 for
/// `lambda:InvokeFunctionUrl`; `NONE` needs the function's policy to let anyone invoke the URL,
/// as Lambda requires.
extension GatewayDataPlane {
    func serveFunctionUrl(_ urlId: String, request: GatewayRequest) async -> GatewayResponse {
        guard let lookup = functionUrls, let target = await lookup(urlId) else { return .notFound }
        let cors = target.cors.map {
            CrossOrigin(
                configuration: V2Cors(
                    allowCredentials: $0.AllowCredentials, allowHeaders: $0.AllowHeaders, allowMethods: $0.AllowMethods, allowOrigins: $0.AllowOrigins,
                    exposeHeaders: $0.ExposeHeaders, maxAge: $0.MaxAge))
        }
        if let cors, CrossOrigin.isPreflight(request) { return cors.preflight(request) }
        var context = ProxyContext(accountId: "anonymous", apiId: urlId, stage: "$default", routeKey: "$default", pathParameters: [:], stageVariables: [:])
        if target.authType == LambdaFunctionUrlAuthType.awsIam.rawValue {
            // Without a signing check (authentication off), AWS_IAM URLs are open, as routes are.
            if let signing {
                switch await signing.authorize(request, routeArn: target.functionArn, action: "lambda:InvokeFunctionUrl") {
                case .refused: return Self.forbidden
                case .allowed(let caller):
                    context.authorizer = .iam(caller)
                    context.accountId = accountId
                }
            }
        } else if !target.publiclyInvokable {
            return Self.forbidden
        }
        var direct = request
        direct.routePath = request.rawPath
        let event = ProxyPayload.event(direct, context: context, format: .v2)
        let invocation = InvocationRequest(
            reference: target.functionName, qualifier: target.qualifier, payload: Data(event), requestId: UUID().uuidString.lowercased(),
            traceId: LambdaAPI.newTraceId(at: request.time))
        var response: GatewayResponse
        do {
            let outcome = try await functions.invoke(invocation)
            response = outcome.status == .success ? ProxyPayload.response(from: Array(outcome.payload), format: .v2) ?? Self.failed : Self.failed
        } catch {
            response = error.type == "TooManyRequestsException" ? .message(429, "Rate Exceeded.") : Self.failed
        }
        return cors?.decorate(response, origin: request.header("origin")) ?? response
    }

    /// Lambda's own answers on function URLs.
    static let forbidden = GatewayResponse(status: 403, headers: [("content-type", "application/json")], body: Array(#"{"Message":"Forbidden"}"#.utf8))
    static let failed = GatewayResponse(status: 502, headers: [("content-type", "application/json")], body: Array(#"{"Message":"Internal Server Error"}"#.utf8))
}
