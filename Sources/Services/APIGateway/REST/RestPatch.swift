import Foundation
import APIGatewayShapes
import StevedoreCore

/// REST APIs' updates: JSON Patch operations on paths of the resource (`/name`,
/// `/variables/NAME`, `/*/*/throttling/rateLimit`); `~1` stands for `/` within a path segment.
enum Patch {
    static func parts(_ operation: V1PatchOperation) throws(AWSError) -> (V1Op, String, String?) {
        guard let op = operation.op, let path = operation.path else { throw .gatewayBadRequest("A patch operation needs an op and a path") }
        return (op, path, operation.value)
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
    }

    static func unsupported(_ operation: V1PatchOperation) -> AWSError {
        .gatewayBadRequest("Invalid patch path \(operation.path ?? "") for op \(operation.op?.rawValue ?? "")")
    }

    /// A method setting's key (`*/*`, `pets/{id}/GET`) and setting (`throttling/rateLimit`).
    static func methodSetting(_ path: String) -> (String, String)? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        guard segments.count == 4 else { return nil }
        let resource = segments[0] == "*" ? "*" : String(unescape(segments[0]).drop { $0 == "/" })
        return ("\(resource)/\(segments[1])", "\(segments[2])/\(segments[3])")
    }
}
