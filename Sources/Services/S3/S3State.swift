#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Archives
import StevedoreCore

/// The object store's buckets, the records of their objects, and multipart uploads in progress.
/// Objects' bytes are files the edge writes (and syncs) before a record naming them is committed,
/// so a committed record always has its bytes whole; a record replaced or removed hands its files
/// back for the edge to delete once the change is durable.
public struct S3State: Sendable {
    public let names: ResourceNames
    public package(set) var buckets: [String: BucketRecord] = [:]
    /// Each bucket's objects, with their keys in S3's order for listings.
    public package(set) var contents: [String: BucketContents] = [:]
    /// Multipart uploads in progress, by upload id.
    public package(set) var uploads: [String: UploadRecord] = [:]

    public init(names: ResourceNames) {
        self.names = names
    }

    public static let recordKinds: [RecordKind] = [.s3Buckets, .s3Objects, .s3Uploads]

    /// The account's canonical id, as listings and event messages name the owner.
    public static func ownerId(_ names: ResourceNames) -> String { Digest.hex(Digest.sha256(Array(names.accountId.utf8))) }

    public static func restore(names: ResourceNames, rows: StoredRows) throws -> S3State {
        var state = S3State(names: names)
        for bucket in try rows.decode(BucketRecord.self) {
            state.buckets[bucket.name] = bucket
            state.contents[bucket.name] = BucketContents()
        }
        for object in try rows.decode(ObjectRecord.self) { _ = state.contents[object.bucket, default: BucketContents()].put(object) }
        for upload in try rows.decode(UploadRecord.self) { state.uploads[upload.uploadId] = upload }
        return state
    }

    /// Every file a record refers to (objects' and uploaded parts'), relative to the store's directory.
    public var referencedFiles: Set<String> {
        var files = Set<String>()
        for bucket in contents.values {
            for object in bucket.byKey.values { files.formUnion(object.segments.map(\.file)) }
        }
        for upload in uploads.values {
            for part in upload.parts.values { files.insert(part.segment.file) }
        }
        return files
    }
}

/// The composed state the object store's operations run in.
public protocol S3Host: Sendable {
    var s3: S3State { get set }
}

/// One bucket's objects by key, and the keys sorted by their UTF-8 bytes (S3's listing order).
public struct BucketContents: Sendable {
    public private(set) var byKey: [String: ObjectRecord] = [:]
    public private(set) var keys: [String] = []

    public init() {}

    /// Adds or replaces an object; answers the one it replaced.
    mutating func put(_ object: ObjectRecord) -> ObjectRecord? {
        let replaced = byKey.updateValue(object, forKey: object.key)
        if replaced == nil { keys.insert(object.key, at: firstIndex(notBefore: object.key)) }
        return replaced
    }

    mutating func remove(_ key: String) -> ObjectRecord? {
        guard let removed = byKey.removeValue(forKey: key) else { return nil }
        keys.remove(at: firstIndex(notBefore: key))
        return removed
    }

    /// The position of the first key that neither precedes `prefix` nor starts with it: where a
    /// listing goes on after rolling the keys under `prefix` up into one common prefix.
    func firstIndex(after prefix: String) -> Int {
        var low = 0
        var high = keys.count
        while low < high {
            let middle = (low + high) / 2
            let key = keys[middle]
            if S3Order.precedes(key, prefix) || key.utf8.starts(with: prefix.utf8) { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The position of the first key that is not before `key` (binary search).
    func firstIndex(notBefore key: String) -> Int {
        var low = 0
        var high = keys.count
        while low < high {
            let middle = (low + high) / 2
            if S3Order.precedes(keys[middle], key) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// S3 orders keys by their UTF-8 bytes (Swift's `<` compares by Unicode canonical order).
public enum S3Order {
    public static func precedes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
}

public struct BucketRecord: StoredRecord, Equatable {
    public var name: String
    public var created: Date
    public var region: String
    /// The bucket policy's JSON, as put.
    public var policy: String?
    public var tags: [S3Tag]?
    /// Where notice of its objects' changes goes; nil when nowhere.
    public var notification: NotificationConfiguration?

    public static var recordKind: RecordKind { .s3Buckets }
    public var recordKey: String { name }
}

public struct S3Tag: Codable, Sendable, Equatable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// What an uploader sets on an object besides its bytes, answered back as headers.
public struct ObjectAttributes: Codable, Sendable, Equatable {
    public var contentType: String?
    public var contentEncoding: String?
    public var contentDisposition: String?
    public var contentLanguage: String?
    public var cacheControl: String?
    public var expires: String?
    /// `x-amz-meta-*` headers: names lower-cased, without the prefix.
    public var metadata: [String: String] = [:]

    public init() {}
}

/// A file holding some of an object's bytes (a whole object, or one part of a multipart upload).
public struct StoredSegment: Codable, Sendable, Equatable {
    /// Relative to the object store's directory.
    public var file: String
    public var size: Int

    public init(file: String, size: Int) {
        self.file = file
        self.size = size
    }
}

/// A checksum as S3 answers it: the algorithm (`CRC32`, `CRC32C`, `SHA1`, `SHA256`), its base64
/// value, and whether it covers the whole object or is made of its parts' (`-N` suffixed).
public struct ObjectChecksum: Codable, Sendable, Equatable {
    public var algorithm: String
    public var value: String
    /// `FULL_OBJECT` or `COMPOSITE`.
    public var type: String

    public init(algorithm: String, value: String, type: String = "FULL_OBJECT") {
        self.algorithm = algorithm
        self.value = value
        self.type = type
    }
}

public struct ObjectRecord: StoredRecord, Equatable {
    public var bucket: String
    public var key: String
    public var size: Int
    /// Without quotes: the MD5's hex, or for a multipart object the MD5 of its parts' MD5s and `-N`.
    public var etag: String
    public var lastModified: Date
    public var attributes: ObjectAttributes
    public var segments: [StoredSegment]
    public var checksum: ObjectChecksum?
    public var tags: [S3Tag] = []
    /// For a multipart object, how many parts it was made of.
    public var partCount: Int?

    public init(
        bucket: String, key: String, size: Int, etag: String, lastModified: Date, attributes: ObjectAttributes, segments: [StoredSegment],
        checksum: ObjectChecksum? = nil, tags: [S3Tag] = [], partCount: Int? = nil
    ) {
        self.bucket = bucket
        self.key = key
        self.size = size
        self.etag = etag
        self.lastModified = lastModified
        self.attributes = attributes
        self.segments = segments
        self.checksum = checksum
        self.tags = tags
        self.partCount = partCount
    }

    public static var recordKind: RecordKind { .s3Objects }
    /// Bucket names hold no `/`, so this is unique.
    public var recordKey: String { bucket + "/" + key }
}

public struct PartRecord: Codable, Sendable, Equatable {
    public var number: Int
    public var segment: StoredSegment
    /// The part's MD5, hex, without quotes.
    public var etag: String
    public var lastModified: Date
    public var checksum: String?

    public init(number: Int, segment: StoredSegment, etag: String, lastModified: Date, checksum: String? = nil) {
        self.number = number
        self.segment = segment
        self.etag = etag
        self.lastModified = lastModified
        self.checksum = checksum
    }
}

public struct UploadRecord: StoredRecord, Equatable {
    public var uploadId: String
    public var bucket: String
    public var key: String
    public var initiated: Date
    public var attributes: ObjectAttributes
    public var tags: [S3Tag] = []
    /// The checksum algorithm the upload was created with, if any: each part must carry one.
    public var checksumAlgorithm: String?
    public var parts: [Int: PartRecord] = [:]

    public init(
        uploadId: String, bucket: String, key: String, initiated: Date, attributes: ObjectAttributes, tags: [S3Tag] = [],
        checksumAlgorithm: String? = nil
    ) {
        self.uploadId = uploadId
        self.bucket = bucket
        self.key = key
        self.initiated = initiated
        self.attributes = attributes
        self.tags = tags
        self.checksumAlgorithm = checksumAlgorithm
    }

    public static var recordKind: RecordKind { .s3Uploads }
    public var recordKey: String { uploadId }
}

extension RecordKind {
    public static let s3Buckets = RecordKind("s3_buckets")
    public static let s3Objects = RecordKind("s3_objects")
    public static let s3Uploads = RecordKind("s3_uploads")
}
