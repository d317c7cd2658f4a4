@testable import APIGateway
import APIGatewayShapes
import StevedoreCore
import Testing

/// Stages' access logs: the destination's log group, the format's checks and its `$context` variables.
struct AccessLogTests {
    @Test func destinationsNameLogGroups() {
        #expect(AccessLogFormat.logGroup("arn:aws:logs:us-east-1:000000000000:log-group:/aws/apigateway/pets") == "/aws/apigateway/pets")
        #expect(AccessLogFormat.logGroup("arn:aws:logs:us-east-1:000000000000:log-group:access:*") == "access")
        #expect(AccessLogFormat.logGroup("arn:aws:s3:::bucket") == nil)
        #expect(AccessLogFormat.logGroup("arn:aws:logs:us-east-1:000000000000:log-group:") == nil)
    }

    @Test func formatsRenderContextVariablesAndDashesForTheMissing() {
        let line = AccessLogFormat.render(
            #"{"id":"$context.requestId","route":"$context.routeKey","status":$context.status,"ip":"$context.identity.sourceIp","err":"$context.error.message"} done at $context.requestTime."#,
            values: ["requestId": "r1", "routeKey": "GET /pets", "status": "200", "identity.sourceIp": "10.0.0.1", "requestTime": "t"])
        #expect(line == #"{"id":"r1","route":"GET /pets","status":200,"ip":"10.0.0.1","err":"-"} done at t."#)
    }

    @Test func settingsAreCheckedAsAPIGatewayChecksThem() throws {
        let group = "arn:aws:logs:us-east-1:000000000000:log-group:g"
        try AccessLogFormat.check(V2AccessLogSettings(destinationArn: group, format: "$context.requestId"))
        try AccessLogFormat.check(nil)
        for settings in [
            V2AccessLogSettings(destinationArn: "arn:aws:s3:::b", format: "$context.requestId"), V2AccessLogSettings(destinationArn: group),
            V2AccessLogSettings(destinationArn: group, format: "$context.status"), V2AccessLogSettings(format: "$context.requestId"),
        ] {
            #expect(throws: AWSError.self) { try AccessLogFormat.check(settings) }
        }
    }
}
