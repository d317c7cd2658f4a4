import StevedoreCore

/// Where an S3 request points: a bucket (from the virtual host or the first path segment) and a
/// key (the rest of the path, decoded).
public struct S3Address: Sendable, Equatable {
    public var bucket: String?
    public var key: String?

    public init(bucket: String?, key: String?) {
        self.bucket = bucket
        self.key = key
    }

    /// The bucket a `Host` names as a virtual host: `<bucket>.localhost` or
    /// `<bucket>.s3.localhost` (any port); nil for path-style hosts.
    public static func virtualHostBucket(_ host: String?) -> String? {
        guard var host = host?.lowercased() else { return nil }
        if let colon = host.lastIndex(of: ":"), !host.hasSuffix("]") { host = String(host[..<colon]) }
        guard host.hasSuffix(".localhost") else { return nil }
        var bucket = String(host.dropLast(".localhost".count))
        if bucket.hasSuffix(".s3") { bucket = String(bucket.dropLast(".s3".count)) }
        guard !bucket.isEmpty, bucket != "s3", !bucket.hasSuffix(".execute-api") else { return nil }
        return bucket
    }

    /// The address of a request's raw (percent-encoded) path, given the virtual host's bucket.
    public static func parse(rawPath: String, virtualHostBucket: String?) -> S3Address {
        let path = rawPath.hasPrefix("/") ? String(rawPath.dropFirst()) : rawPath
        if let bucket = virtualHostBucket {
            return S3Address(bucket: bucket, key: path.isEmpty ? nil : PercentEncoding.decode(path[...]))
        }
        guard !path.isEmpty else { return S3Address(bucket: nil, key: nil) }
        guard let slash = path.firstIndex(of: "/") else { return S3Address(bucket: PercentEncoding.decode(path[...]), key: nil) }
        let key = path[path.index(after: slash)...]
        return S3Address(bucket: PercentEncoding.decode(path[..<slash]), key: key.isEmpty ? nil : PercentEncoding.decode(key))
    }
}

/// The S3 operations served, with the IAM action each is authorized as.
public enum S3Operation: String, Sendable, CaseIterable {
    case listBuckets = "ListBuckets"
    case createBucket = "CreateBucket"
    case deleteBucket = "DeleteBucket"
    case headBucket = "HeadBucket"
    case getBucketLocation = "GetBucketLocation"
    case getBucketVersioning = "GetBucketVersioning"
    case listObjects = "ListObjects"
    case listObjectsV2 = "ListObjectsV2"
    case getBucketPolicy = "GetBucketPolicy"
    case putBucketPolicy = "PutBucketPolicy"
    case deleteBucketPolicy = "DeleteBucketPolicy"
    case getBucketTagging = "GetBucketTagging"
    case putBucketTagging = "PutBucketTagging"
    case deleteBucketTagging = "DeleteBucketTagging"
    case listMultipartUploads = "ListMultipartUploads"
    case deleteObjects = "DeleteObjects"
    case putObject = "PutObject"
    case copyObject = "CopyObject"
    case getObject = "GetObject"
    case headObject = "HeadObject"
    case deleteObject = "DeleteObject"
    case getObjectTagging = "GetObjectTagging"
    case putObjectTagging = "PutObjectTagging"
    case deleteObjectTagging = "DeleteObjectTagging"
    case createMultipartUpload = "CreateMultipartUpload"
    case uploadPart = "UploadPart"
    case uploadPartCopy = "UploadPartCopy"
    case completeMultipartUpload = "CompleteMultipartUpload"
    case abortMultipartUpload = "AbortMultipartUpload"
    case listParts = "ListParts"
    case getBucketNotificationConfiguration = "GetBucketNotificationConfiguration"
    case putBucketNotificationConfiguration = "PutBucketNotificationConfiguration"

    /// The IAM action a policy must allow (S3's, which are not always the operation's name).
    public var action: String {
        switch self {
        case .listBuckets: "s3:ListAllMyBuckets"
        case .headBucket, .listObjects, .listObjectsV2: "s3:ListBucket"
        case .listMultipartUploads: "s3:ListBucketMultipartUploads"
        case .deleteBucketTagging, .putBucketTagging: "s3:PutBucketTagging"
        case .getBucketTagging: "s3:GetBucketTagging"
        case .getBucketVersioning: "s3:GetBucketVersioning"
        case .deleteObjects, .deleteObject: "s3:DeleteObject"
        case .copyObject, .createMultipartUpload, .uploadPart, .uploadPartCopy, .completeMultipartUpload, .putObject: "s3:PutObject"
        case .headObject, .getObject: "s3:GetObject"
        case .listParts: "s3:ListMultipartUploadParts"
        case .getBucketNotificationConfiguration: "s3:GetBucketNotification"
        case .putBucketNotificationConfiguration: "s3:PutBucketNotification"
        default: "s3:" + rawValue
        }
    }

    /// Whether the operation acts on an object (its resource is `bucket/key`) rather than a bucket.
    public var onObject: Bool {
        switch self {
        case .putObject, .copyObject, .getObject, .headObject, .deleteObject, .getObjectTagging, .putObjectTagging, .deleteObjectTagging,
            .createMultipartUpload, .uploadPart, .uploadPartCopy, .completeMultipartUpload, .abortMultipartUpload, .listParts:
            true
        default: false
        }
    }

    /// The operation a method, address and query name (sub-resources are query parameters such
    /// as `?policy`, `?uploads`, `?list-type=2`), or S3's refusal.
    public static func of(method: String, address: S3Address, query: [String: String], hasCopySource: Bool) throws(AWSError) -> S3Operation {
        guard let bucket = address.bucket else {
            guard method == "GET" else { throw S3Error.methodNotAllowed(method: method, resourceType: "SERVICE") }
            return .listBuckets
        }
        _ = bucket
        if address.key == nil {
            switch method {
            case "GET":
                if query["policy"] != nil { return .getBucketPolicy }
                if query["tagging"] != nil { return .getBucketTagging }
                if query["location"] != nil { return .getBucketLocation }
                if query["versioning"] != nil { return .getBucketVersioning }
                if query["uploads"] != nil { return .listMultipartUploads }
                if query["notification"] != nil { return .getBucketNotificationConfiguration }
                if let unsupported = unsupportedSubresource(query) { throw S3Error.notImplemented(unsupported) }
                return query["list-type"] == "2" ? .listObjectsV2 : .listObjects
            case "PUT":
                if query["policy"] != nil { return .putBucketPolicy }
                if query["tagging"] != nil { return .putBucketTagging }
                if query["notification"] != nil { return .putBucketNotificationConfiguration }
                if let unsupported = unsupportedSubresource(query) { throw S3Error.notImplemented(unsupported) }
                return .createBucket
            case "DELETE":
                if query["policy"] != nil { return .deleteBucketPolicy }
                if query["tagging"] != nil { return .deleteBucketTagging }
                // A sub-resource not served must not be taken for the bucket itself.
                if let unsupported = unsupportedSubresource(query) { throw S3Error.notImplemented(unsupported) }
                return .deleteBucket
            case "HEAD": return .headBucket
            case "POST":
                if query["delete"] != nil { return .deleteObjects }
                throw S3Error.methodNotAllowed(method: method, resourceType: "BUCKET")
            default: throw S3Error.methodNotAllowed(method: method, resourceType: "BUCKET")
            }
        }
        switch method {
        case "GET":
            if query["tagging"] != nil { return .getObjectTagging }
            if query["uploadId"] != nil { return .listParts }
            return .getObject
        case "HEAD": return .headObject
        case "PUT":
            if query["tagging"] != nil { return .putObjectTagging }
            if query["partNumber"] != nil || query["uploadId"] != nil {
                return hasCopySource ? .uploadPartCopy : .uploadPart
            }
            return hasCopySource ? .copyObject : .putObject
        case "DELETE":
            if query["tagging"] != nil { return .deleteObjectTagging }
            if query["uploadId"] != nil { return .abortMultipartUpload }
            return .deleteObject
        case "POST":
            if query["uploads"] != nil { return .createMultipartUpload }
            if query["uploadId"] != nil { return .completeMultipartUpload }
            throw S3Error.methodNotAllowed(method: method, resourceType: "OBJECT")
        default: throw S3Error.methodNotAllowed(method: method, resourceType: "OBJECT")
        }
    }

    /// Bucket sub-resources S3 has and this store does not (answered NotImplemented, not mistaken
    /// for a listing or a bucket creation).
    static func unsupportedSubresource(_ query: [String: String]) -> String? {
        let known = [
            "acl", "cors", "lifecycle", "website", "logging", "notification", "replication", "encryption", "object-lock", "accelerate",
            "requestPayment", "ownershipControls", "publicAccessBlock", "analytics", "metrics", "inventory", "intelligent-tiering", "versions",
        ]
        return known.first { query[$0] != nil }
    }
}
