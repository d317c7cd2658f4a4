import Foundation
import S3
import SigV4
import StevedoreCore

/// Where custom resources' functions answer CloudFormation: objects of a bucket of ecsd's own
/// (`cloudformation-custom-resource-response-<region>`, made when first needed), each behind a
/// presigned PUT URL on ecsd's endpoint, signed with the administrator's key (any key, when
/// authentication is off), valid for two hours. The deployer waits for the object, reads it and
/// removes it.
struct CustomResourceResponses: Sendable {
    let committer: Committer<ControlPlaneState>
    let files: ObjectFiles
    let endpoint: String
    let credentials: AWSCredentials?
    let names: ResourceNames

    var bucket: String { "cloudformation-custom-resource-response-\(names.region)" }

    /// `<stack id's last part>/<logical id>/<request id>`.
    static func key(stackId: String, logicalId: String, requestId: String) -> String {
        "\(stackId.split(separator: "/").last ?? "stack")/\(logicalId)/\(requestId)"
    }

    func url(stackId: String, logicalId: String, requestId: String) async throws(AWSError) -> String {
        let bucket = self.bucket
        try await committer.write { root, m throws(AWSError) in
            guard root.s3.buckets[bucket] == nil else { return }
            try root.s3.createBucket(bucket, locationConstraint: nil, now: m.now, changes: &m.changes)
        }
        let path = "/\(bucket)/" + PercentEncoding.encode(Self.key(stackId: stackId, logicalId: logicalId, requestId: requestId), keepingSlashes: true)
        let host = endpoint.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first.map(String.init) ?? "127.0.0.1"
        let query = SigV4Signer.presignedQuery(
            method: "PUT", path: path, host: host, accessKeyId: credentials?.accessKeyId ?? "AKIASTEVEDORE", secret: credentials?.secretAccessKey ?? "stevedore",
            region: names.region, service: "s3", now: Int64(committer.now().timeIntervalSince1970), expires: 7200)
        return endpoint + path + "?" + query
    }

    /// The answer once its object is there (read, then removed), or nil past `timeout`.
    func response(stackId: String, logicalId: String, requestId: String, timeout: Duration) async throws(AWSError) -> [UInt8]? {
        let (bucket, key) = (bucket, Self.key(stackId: stackId, logicalId: logicalId, requestId: requestId))
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let object = try await committer.read({ root, _ in root.s3.contents[bucket]?.byKey[key] }) {
                var bytes = [UInt8](repeating: 0x20, count: min(object.size, 4097))
                do {
                    // Anything past a response's 4 KB is refused unread (the provisioner says so).
                    if object.size <= 4096 { bytes = try await files.contents(of: object) }
                } catch {
                    throw AWSError(type: "InternalFailure", message: "The custom resource's response could not be read (\(error)).", httpStatus: 500)
                }
                let obsolete = try? await committer.write { root, m throws(AWSError) in try root.s3.deleteObject(bucket: bucket, key: key, changes: &m.changes) }
                files.remove(obsolete ?? [])
                return bytes
            }
            do {
                try await Task.sleep(for: .milliseconds(200))
            } catch {
                return nil
            }
        }
        return nil
    }
}
