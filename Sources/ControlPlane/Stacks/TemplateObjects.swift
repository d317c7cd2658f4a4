import CloudFormation
import Foundation
import NIOCore
import S3
import StevedoreCore

/// Templates read from the object store by `TemplateURL`: path style (`http://host/bucket/key`),
/// virtual-hosted (`https://bucket.s3.amazonaws.com/key`) or `s3://bucket/key`.
struct TemplateObjects: Sendable {
    let committer: Committer<ControlPlaneState>
    let files: ObjectFiles

    static func location(_ url: String) -> (bucket: String, key: String)? {
        guard let components = URLComponents(string: url), let scheme = components.scheme else { return nil }
        let path = components.percentEncodedPath.removingPercentEncoding ?? components.path
        if scheme == "s3" {
            guard let bucket = components.host, !bucket.isEmpty, path.count > 1 else { return nil }
            return (bucket, String(path.dropFirst()))
        }
        guard scheme == "http" || scheme == "https", let host = components.host else { return nil }
        for marker in [".s3.", ".s3-", ".localhost"] {
            if let range = host.range(of: marker), range.lowerBound > host.startIndex, path.count > 1 {
                return (String(host[..<range.lowerBound]), String(path.dropFirst()))
            }
        }
        let parts = path.dropFirst().split(separator: "/", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    func read(_ url: String) async throws(AWSError) -> String {
        guard let (bucket, key) = Self.location(url) else { throw .cfnValidation("TemplateURL must be a supported URL.") }
        let object: ObjectRecord
        do throws(AWSError) {
            object = try await committer.read { root, _ throws(AWSError) in try root.s3.object(bucket: bucket, key: key) }
        } catch {
            throw .cfnValidation("S3 error: Error occurred while GetObject. S3 Error Code: \(error.type). S3 Error Message: \(error.message)")
        }
        guard object.size <= StackTemplate.maximumBytes else {
            throw .cfnValidation("Template may not exceed \(StackTemplate.maximumBytes) bytes in size.")
        }
        let bytes: [UInt8]
        do {
            bytes = try await files.contents(of: object)
        } catch {
            throw AWSError(type: "InternalFailure", message: "The template could not be read from s3://\(bucket)/\(key) (\(error)); try again.", httpStatus: 500)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .cfnValidation("Template format error: the template is not UTF-8 text.") }
        return text
    }
}
