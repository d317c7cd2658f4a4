import Foundation
import APIGatewayShapes
import StevedoreCore

/// Where a stage's access log lines go (its `accessLogSettings.destinationArn` names a log group).
public protocol AccessLogSink: Sendable {
    func write(group: String, line: String)
}

/// Access logs as stages configure them: a format with `$context` variables, one line per request.
public enum AccessLogFormat {
    /// The log group an access log destination names: `arn:aws:logs:{region}:{account}:log-group:{name}[:*]`.
    public static func logGroup(_ destinationArn: String) -> String? {
        let parts = destinationArn.split(separator: ":", maxSplits: 6, omittingEmptySubsequences: false)
        guard parts.count == 7, parts[0] == "arn", parts[2] == "logs", parts[5] == "log-group", !parts[6].isEmpty else { return nil }
        var name = parts[6]
        if name.hasSuffix(":*") { name = name.dropLast(2) }
        return name.isEmpty ? nil : String(name)
    }

    /// Checks a stage's access log settings as API Gateway does.
    static func check(_ settings: V2AccessLogSettings?) throws(AWSError) {
        guard let settings else { return }
        guard let arn = settings.destinationArn, logGroup(arn) != nil else {
            throw .gatewayBadRequest("Access log destination must be a CloudWatch Logs log group ARN: arn:aws:logs:REGION:ACCOUNT:log-group:NAME")
        }
        guard let format = settings.format, !format.isEmpty else {
            throw .gatewayBadRequest("Access log format must be specified with an access log destination.")
        }
        guard format.contains("$context.requestId") || format.contains("$context.extendedRequestId") else {
            throw .gatewayBadRequest("Access log format must include $context.requestId or $context.extendedRequestId.")
        }
        guard format.utf8.count <= 3000 else { throw .gatewayBadRequest("Access log format must be at most 3000 characters.") }
    }

    /// The format with each `$context.name` replaced by its value, `-` when there is none.
    public static func render(_ format: String, values: [String: String]) -> String {
        var out = ""
        var rest = Substring(format)
        while let range = rest.range(of: "$context.") {
            out += rest[..<range.lowerBound]
            rest = rest[range.upperBound...]
            let name = rest.prefix { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-" }
            // A trailing dot ends a sentence, not a name.
            let trimmed = name.hasSuffix(".") ? name.dropLast() : name
            out += values[String(trimmed)].flatMap { $0.isEmpty ? nil : $0 } ?? "-"
            rest = rest.dropFirst(trimmed.count)
        }
        return out + rest
    }
}
