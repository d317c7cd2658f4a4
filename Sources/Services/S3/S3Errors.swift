import StevedoreCore

/// S3's errors, with its codes, statuses and wording (clients match on the codes; the extra
/// fields are the elements S3 adds to `<Error>`, such as `BucketName` and `Key`).
public enum S3Error {
    /// A failure of the store itself (a disk error): the client may try again.
    public static let internalError = AWSError(type: "InternalError", message: "We encountered an internal error. Please try again.", httpStatus: 500)

    public static func noSuchBucket(_ bucket: String) -> AWSError {
        AWSError(type: "NoSuchBucket", message: "The specified bucket does not exist", httpStatus: 404, extraFields: ["BucketName": bucket])
    }

    public static func noSuchKey(_ key: String) -> AWSError {
        AWSError(type: "NoSuchKey", message: "The specified key does not exist.", httpStatus: 404, extraFields: ["Key": key])
    }

    public static func bucketNotEmpty(_ bucket: String) -> AWSError {
        AWSError(type: "BucketNotEmpty", message: "The bucket you tried to delete is not empty", httpStatus: 409, extraFields: ["BucketName": bucket])
    }

    public static func alreadyOwned(_ bucket: String) -> AWSError {
        AWSError(
            type: "BucketAlreadyOwnedByYou", message: "Your previous request to create the named bucket succeeded and you already own it.",
            httpStatus: 409, extraFields: ["BucketName": bucket])
    }

    public static func invalidBucketName(_ bucket: String) -> AWSError {
        AWSError(type: "InvalidBucketName", message: "The specified bucket is not valid.", httpStatus: 400, extraFields: ["BucketName": bucket])
    }

    public static func noSuchUpload(_ uploadId: String) -> AWSError {
        AWSError(
            type: "NoSuchUpload",
            message: "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
            httpStatus: 404, extraFields: ["UploadId": uploadId])
    }

    public static let invalidPart = AWSError(
        type: "InvalidPart",
        message:
            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
        httpStatus: 400)

    public static let invalidPartOrder = AWSError(
        type: "InvalidPartOrder", message: "The list of parts was not in ascending order. Parts must be ordered by part number.", httpStatus: 400)

    public static func entityTooSmall(size: Int) -> AWSError {
        AWSError(
            type: "EntityTooSmall", message: "Your proposed upload is smaller than the minimum allowed size", httpStatus: 400,
            extraFields: ["ProposedSize": String(size), "MinSizeAllowed": String(S3State.minimumPartSize)])
    }

    public static let entityTooLarge = AWSError(type: "EntityTooLarge", message: "Your proposed upload exceeds the maximum allowed size", httpStatus: 400)

    public static let malformedXML = AWSError(
        type: "MalformedXML", message: "The XML you provided was not well-formed or did not validate against our published schema", httpStatus: 400)

    public static let noSuchBucketPolicy = AWSError(type: "NoSuchBucketPolicy", message: "The bucket policy does not exist", httpStatus: 404)

    public static let noSuchTagSet = AWSError(type: "NoSuchTagSet", message: "The TagSet does not exist", httpStatus: 404)

    public static let badDigest = AWSError(type: "BadDigest", message: "The Content-MD5 you specified did not match what we received.", httpStatus: 400)

    public static let invalidDigest = AWSError(type: "InvalidDigest", message: "The Content-MD5 you specified was invalid.", httpStatus: 400)

    public static let contentSHA256Mismatch = AWSError(
        type: "XAmzContentSHA256Mismatch", message: "The provided 'x-amz-content-sha256' header does not match what was computed.", httpStatus: 400)

    /// `condition` names the header whose condition did not hold.
    public static func preconditionFailed(_ condition: String) -> AWSError {
        AWSError(
            type: "PreconditionFailed", message: "At least one of the pre-conditions you specified did not hold", httpStatus: 412,
            extraFields: ["Condition": condition])
    }

    public static func invalidRange(size: Int, range: String) -> AWSError {
        AWSError(
            type: "InvalidRange", message: "The requested range is not satisfiable", httpStatus: 416,
            extraFields: ["ActualObjectSize": String(size), "RangeRequested": range])
    }

    public static func invalidArgument(_ message: String, name: String? = nil, value: String? = nil) -> AWSError {
        var fields: [String: String] = [:]
        if let name { fields["ArgumentName"] = name }
        if let value { fields["ArgumentValue"] = value }
        return AWSError(type: "InvalidArgument", message: message, httpStatus: 400, extraFields: fields)
    }

    public static func invalidRequest(_ message: String) -> AWSError {
        AWSError(type: "InvalidRequest", message: message, httpStatus: 400)
    }

    public static func methodNotAllowed(method: String, resourceType: String) -> AWSError {
        AWSError(
            type: "MethodNotAllowed", message: "The specified method is not allowed against this resource.", httpStatus: 405,
            extraFields: ["Method": method, "ResourceType": resourceType])
    }

    public static func notImplemented(_ header: String? = nil) -> AWSError {
        AWSError(
            type: "NotImplemented", message: "A header you provided implies functionality that is not implemented", httpStatus: 501,
            extraFields: header.map { ["Header": $0] } ?? [:])
    }

    public static let accessDenied = AWSError(type: "AccessDenied", message: "Access Denied", httpStatus: 403)

    /// A checksum header whose value is not one the algorithm could produce.
    public static func invalidChecksumHeader(_ algorithm: String) -> AWSError {
        invalidRequest("Value for x-amz-checksum-\(algorithm.lowercased()) header is invalid.")
    }

    /// A body whose checksum is not the one sent with it.
    public static func checksumMismatch(_ algorithm: String) -> AWSError {
        AWSError(type: "BadDigest", message: "The \(algorithm) you specified did not match the calculated checksum.", httpStatus: 400)
    }
}
