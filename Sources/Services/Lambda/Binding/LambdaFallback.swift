import AWSProtocols
import LambdaShapes
import StevedoreCore

extension LambdaAPI {
    /// Requests under Lambda's dated prefixes (`/2015-03-31/…`) that no route takes: an operation
    /// of the Lambda model this endpoint does not serve is named (501 `InternalFailure`, which
    /// clients do not retry); any other method or path gets what Lambda itself answers for a
    /// request it cannot route (403 `AccessDeniedException`).
    public static let fallback = RESTFallback(claims: isLambdaPath) { method, path, requestId in
        RESTErrorStyle.lambda.response(unrouted(method: method, path: path), requestId: requestId)
    }

    static func unrouted(method: String, path: String) -> AWSError {
        if let operation = LambdaModel.operations.first(where: { $0.matches(method: method, path: path) }) {
            return AWSError(
                type: "InternalFailure", message: "The \(operation.name) operation is not implemented by this endpoint.", httpStatus: 501,
                extraFields: ["Type": "Service"])
        }
        return AWSError(
            type: "AccessDeniedException", message: "Unable to determine service/operation name to be authorized", httpStatus: 403)
    }

    /// `/yyyy-mm-dd/…`: every Lambda API version prefix.
    static func isLambdaPath(_ path: String) -> Bool {
        let bytes = Array(path.utf8.prefix(12))
        guard bytes.count == 12, bytes[0] == UInt8(ascii: "/"), bytes[11] == UInt8(ascii: "/"), bytes[5] == UInt8(ascii: "-"),
            bytes[8] == UInt8(ascii: "-")
        else { return false }
        return [1, 2, 3, 4, 6, 7, 9, 10].allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[$0]) }
    }
}
