#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Archives
import StevedoreCore

// MARK: Buckets

extension S3State {
    /// Every part of a multipart upload but the last must hold at least this many bytes.
    public static let minimumPartSize = 5 * 1024 * 1024
    /// A single PUT (and each part) holds at most 5 GiB.
    public static let maximumPutSize = 5 * 1024 * 1024 * 1024
    public static let maximumParts = 10_000

    /// S3's rules for bucket names: 3 to 63 of lower-case letters, digits, `.` and `-`, starting
    /// and ending with a letter or digit, no `..`, not shaped like an IP address.
    public static func validateBucketName(_ name: String) throws(AWSError) {
        let bytes = Array(name.utf8)
        let isLowerOrDigit = { (byte: UInt8) in byte &- 97 < 26 || byte &- 48 < 10 }
        guard (3...63).contains(bytes.count), bytes.allSatisfy({ isLowerOrDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }),
            isLowerOrDigit(bytes[0]), isLowerOrDigit(bytes[bytes.count - 1]), !name.contains(".."), !name.contains(".-"), !name.contains("-."),
            !isIPAddress(name)
        else { throw S3Error.invalidBucketName(name) }
    }

    static func isIPAddress(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in UInt8(part) != nil }
    }

    /// Creates a bucket. In us-east-1 creating one you already own succeeds again (as S3 answers
    /// there); elsewhere it is BucketAlreadyOwnedByYou.
    public mutating func createBucket(_ name: String, locationConstraint: String?, now: Date, changes: inout ChangeSet) throws(AWSError) {
        try Self.validateBucketName(name)
        let region = locationConstraint.flatMap { $0.isEmpty ? nil : $0 } ?? "us-east-1"
        if let constraint = locationConstraint, !constraint.isEmpty, constraint != names.region {
            throw AWSError(
                type: "IllegalLocationConstraintException",
                message: "The \(constraint) location constraint is incompatible for the region specific endpoint this request was sent to.",
                httpStatus: 400)
        }
        if buckets[name] != nil {
            if names.region == "us-east-1" { return }
            throw S3Error.alreadyOwned(name)
        }
        let record = BucketRecord(name: name, created: now, region: locationConstraint == nil ? names.region : region)
        buckets[name] = record
        contents[name] = BucketContents()
        changes.put(record)
    }

    public func bucket(_ name: String) throws(AWSError) -> BucketRecord {
        guard let bucket = buckets[name] else { throw S3Error.noSuchBucket(name) }
        return bucket
    }

    /// Deletes an empty bucket; answers the files of the uploads it still had in progress.
    public mutating func deleteBucket(_ name: String, changes: inout ChangeSet) throws(AWSError) -> [String] {
        _ = try bucket(name)
        guard contents[name]?.keys.isEmpty ?? true else { throw S3Error.bucketNotEmpty(name) }
        var files: [String] = []
        for upload in uploads.values where upload.bucket == name {
            files += upload.parts.values.map(\.segment.file)
            uploads[upload.uploadId] = nil
            changes.delete(UploadRecord.self, key: upload.uploadId)
        }
        buckets[name] = nil
        contents[name] = nil
        changes.delete(BucketRecord.self, key: name)
        return files
    }

    public mutating func setBucketPolicy(_ name: String, policy: String?, changes: inout ChangeSet) throws(AWSError) {
        var record = try bucket(name)
        if let policy {
            guard case .object(let json)? = try? JSONDecoder().decode(JSONValue.self, from: Data(policy.utf8)), json["Statement"] != nil else {
                throw AWSError(type: "MalformedPolicy", message: "Policies must be valid JSON and the first byte must be '{'", httpStatus: 400)
            }
        }
        record.policy = policy
        buckets[name] = record
        changes.put(record)
    }

    /// Stores a configuration already validated (an empty one removes the bucket's).
    public mutating func setBucketNotification(_ name: String, _ configuration: NotificationConfiguration, changes: inout ChangeSet) throws(AWSError) {
        var record = try bucket(name)
        record.notification = configuration.isEmpty ? nil : configuration
        buckets[name] = record
        changes.put(record)
    }

    public mutating func setBucketTags(_ name: String, tags: [S3Tag]?, changes: inout ChangeSet) throws(AWSError) {
        var record = try bucket(name)
        if let tags { try Self.validateTags(tags, onBucket: true) }
        record.tags = tags
        buckets[name] = record
        changes.put(record)
    }
}

// MARK: Objects

extension S3State {
    public func object(bucket name: String, key: String) throws(AWSError) -> ObjectRecord {
        _ = try bucket(name)
        guard let object = contents[name]?.byKey[key] else { throw S3Error.noSuchKey(key) }
        return object
    }

    /// Keys are 1 to 1024 bytes of UTF-8.
    public static func validateKey(_ key: String) throws(AWSError) {
        guard !key.isEmpty else { throw S3Error.invalidArgument("A key must not be empty.", name: "Key") }
        guard key.utf8.count <= 1024 else {
            throw AWSError(type: "KeyTooLongError", message: "Your key is too long", httpStatus: 400, extraFields: ["Size": String(key.utf8.count), "MaxSizeAllowed": "1024"])
        }
    }

    /// Stores an object's record (its bytes are already in the files it names); answers the files
    /// of the object it replaced, to delete once this change is durable.
    public mutating func putObject(_ object: ObjectRecord, changes: inout ChangeSet) throws(AWSError) -> [String] {
        _ = try bucket(object.bucket)
        try Self.validateKey(object.key)
        try Self.validateTags(object.tags)
        let replaced = contents[object.bucket, default: BucketContents()].put(object)
        changes.put(object)
        return replaced.map { $0.segments.map(\.file) } ?? []
    }

    /// Deletes an object (deleting one that does not exist succeeds, as in S3); answers its files.
    public mutating func deleteObject(bucket name: String, key: String, changes: inout ChangeSet) throws(AWSError) -> [String] {
        _ = try bucket(name)
        guard let removed = contents[name]?.remove(key) else { return [] }
        changes.delete(ObjectRecord.self, key: removed.recordKey)
        return removed.segments.map(\.file)
    }

    public mutating func setObjectTags(bucket name: String, key: String, tags: [S3Tag], changes: inout ChangeSet) throws(AWSError) {
        var object = try object(bucket: name, key: key)
        try Self.validateTags(tags)
        object.tags = tags
        _ = contents[name]?.put(object)
        changes.put(object)
    }

    /// At most 10 tags on an object (50 on a bucket), keys up to 128 characters, values up to
    /// 256, no key twice.
    public static func validateTags(_ tags: [S3Tag], onBucket: Bool = false) throws(AWSError) {
        if onBucket {
            guard tags.count <= 50 else { throw S3Error.invalidRequest("Bucket tag count cannot be greater than 50") }
        } else {
            guard tags.count <= 10 else { throw AWSError(type: "BadRequest", message: "Object tags cannot be greater than 10", httpStatus: 400) }
        }
        guard Set(tags.map(\.key)).count == tags.count else {
            throw S3Error.invalidRequest("Cannot provide multiple Tags with the same key")
        }
        for tag in tags where tag.key.isEmpty || tag.key.count > 128 || tag.value.count > 256 {
            throw AWSError(type: "InvalidTag", message: "The TagKey you have provided is invalid", httpStatus: 400)
        }
    }
}

// MARK: Listing

/// What a listing asks for: ListObjects' `marker` and ListObjectsV2's `start-after` or
/// continuation token both become `after` (keys and common prefixes up to it are skipped).
public struct ListQuery: Sendable, Equatable {
    public var prefix = ""
    public var delimiter = ""
    public var after = ""
    public var maxKeys = 1000

    public init(prefix: String = "", delimiter: String = "", after: String = "", maxKeys: Int = 1000) {
        self.prefix = prefix
        self.delimiter = delimiter
        self.after = after
        self.maxKeys = maxKeys
    }
}

public struct ListPage: Sendable, Equatable {
    public var objects: [ObjectRecord] = []
    public var commonPrefixes: [String] = []
    public var isTruncated = false
    /// The last key or common prefix answered: where the next page starts after.
    public var last: String?
}

extension S3State {
    /// A page of a bucket's keys under `prefix`, rolled up at the first `delimiter` after it into
    /// common prefixes (each counted once, as one entry).
    public func list(bucket name: String, _ query: ListQuery) throws(AWSError) -> ListPage {
        _ = try bucket(name)
        guard let bucket = contents[name] else { return ListPage() }
        var page = ListPage()
        guard query.maxKeys > 0 else { return page }
        let start = max(bucket.firstIndex(notBefore: query.prefix), query.after.isEmpty ? 0 : bucket.firstIndex(notBefore: query.after))
        var index = start
        while index < bucket.keys.count {
            let key = bucket.keys[index]
            guard key.utf8.starts(with: query.prefix.utf8) else { break }
            if !query.after.isEmpty, !S3Order.precedes(query.after, key) {
                index += 1
                continue
            }
            var entry = key
            var isPrefix = false
            if !query.delimiter.isEmpty, let rolled = Self.rollUp(key, prefix: query.prefix, delimiter: query.delimiter) {
                entry = rolled
                isPrefix = true
            }
            if isPrefix, entry == query.after || entry == page.commonPrefixes.last {
                // Every key under a prefix already answered (here or on an earlier page).
                index = bucket.firstIndex(after: entry)
                continue
            }
            if page.objects.count + page.commonPrefixes.count == query.maxKeys {
                page.isTruncated = true
                break
            }
            if isPrefix {
                page.commonPrefixes.append(entry)
                index = bucket.firstIndex(after: entry)
            } else {
                if let object = bucket.byKey[key] { page.objects.append(object) }
                index += 1
            }
            page.last = entry
        }
        return page
    }

    /// `key` cut after the first `delimiter` past `prefix`, if there is one.
    static func rollUp(_ key: String, prefix: String, delimiter: String) -> String? {
        let rest = key.utf8.dropFirst(prefix.utf8.count)
        let delimiterBytes = Array(delimiter.utf8)
        var index = rest.startIndex
        while index != rest.endIndex {
            if rest[index...].starts(with: delimiterBytes) {
                let end = key.utf8.index(index, offsetBy: delimiterBytes.count)
                return String(key[..<end])
            }
            index = rest.index(after: index)
        }
        return nil
    }
}

// MARK: Multipart uploads

extension S3State {
    public mutating func createUpload(_ upload: UploadRecord, changes: inout ChangeSet) throws(AWSError) {
        _ = try bucket(upload.bucket)
        try Self.validateKey(upload.key)
        try Self.validateTags(upload.tags)
        uploads[upload.uploadId] = upload
        changes.put(upload)
    }

    /// ListMultipartUploads' page: uploads by key (in byte order), then by when they began, after
    /// `key-marker` (and, within that key, after `upload-id-marker`), at most `maximum`.
    public func uploadsPage(
        bucket name: String, prefix: String, keyMarker: String?, uploadIdMarker: String?, maximum: Int
    ) throws(AWSError) -> (uploads: [UploadRecord], truncated: Bool) {
        _ = try bucket(name)
        let all = uploads.values.filter { $0.bucket == name && $0.key.hasPrefix(prefix) }
            .sorted { $0.key == $1.key ? ($0.initiated, $0.uploadId) < ($1.initiated, $1.uploadId) : S3Order.precedes($0.key, $1.key) }
        var start = 0
        if let keyMarker, !keyMarker.isEmpty {
            if let uploadIdMarker, !uploadIdMarker.isEmpty, let marked = all.firstIndex(where: { $0.key == keyMarker && $0.uploadId == uploadIdMarker }) {
                start = marked + 1
            } else {
                start = all.firstIndex { S3Order.precedes(keyMarker, $0.key) } ?? all.count
            }
        }
        let page = Array(all[start..<min(all.count, start + maximum)])
        return (page, start + page.count < all.count)
    }

    public func upload(_ uploadId: String, bucket name: String, key: String) throws(AWSError) -> UploadRecord {
        _ = try bucket(name)
        guard let upload = uploads[uploadId], upload.bucket == name, upload.key == key else { throw S3Error.noSuchUpload(uploadId) }
        return upload
    }

    /// Records an uploaded part; answers the file of the part it replaced.
    public mutating func putPart(_ part: PartRecord, uploadId: String, bucket name: String, key: String, changes: inout ChangeSet) throws(AWSError) -> [String] {
        var upload = try upload(uploadId, bucket: name, key: key)
        try Self.validatePartNumber(part.number)
        let replaced = upload.parts.updateValue(part, forKey: part.number)
        uploads[uploadId] = upload
        changes.put(upload)
        return replaced.map { [$0.segment.file] } ?? []
    }

    static func validatePartNumber(_ number: Int) throws(AWSError) {
        guard (1...maximumParts).contains(number) else {
            throw S3Error.invalidArgument("Part number must be an integer between 1 and 10000, inclusive", name: "partNumber", value: String(number))
        }
    }

    /// Makes the object of the parts named, in their order (ascending, each with its ETag); the
    /// parts not named are dropped. Answers the object and the files no longer needed.
    public mutating func completeUpload(
        _ uploadId: String, bucket name: String, key: String, parts requested: [(number: Int, etag: String)], now: Date,
        changes: inout ChangeSet
    ) throws(AWSError) -> (object: ObjectRecord, obsolete: [String]) {
        let upload = try upload(uploadId, bucket: name, key: key)
        guard !requested.isEmpty else {
            throw S3Error.invalidRequest("You must specify at least one part")
        }
        var chosen: [PartRecord] = []
        for (index, entry) in requested.enumerated() {
            if index > 0, entry.number <= requested[index - 1].number { throw S3Error.invalidPartOrder }
            guard let part = upload.parts[entry.number], Self.unquoted(entry.etag) == part.etag else { throw S3Error.invalidPart }
            chosen.append(part)
        }
        for part in chosen.dropLast() where part.segment.size < Self.minimumPartSize {
            throw S3Error.entityTooSmall(size: part.segment.size)
        }
        // The ETag of a multipart object: the MD5 of its parts' MD5s, and how many there were.
        var digests: [UInt8] = []
        for part in chosen { digests += ASCIIHex.bytes(part.etag) ?? [] }
        let etag = Digest.hex(Digest.md5(digests)) + "-\(chosen.count)"
        var checksum: ObjectChecksum?
        if let algorithm = upload.checksumAlgorithm {
            let partValues = chosen.compactMap(\.checksum)
            if partValues.count == chosen.count, let composite = ObjectChecksums.composite(algorithm: algorithm, partValues: partValues) {
                checksum = ObjectChecksum(algorithm: algorithm, value: composite + "-\(chosen.count)", type: "COMPOSITE")
            }
        }
        let object = ObjectRecord(
            bucket: name, key: key, size: chosen.reduce(0) { $0 + $1.segment.size }, etag: etag, lastModified: now,
            attributes: upload.attributes, segments: chosen.map(\.segment), checksum: checksum, tags: upload.tags, partCount: chosen.count)
        let kept = Set(chosen.map(\.number))
        var obsolete = upload.parts.values.filter { !kept.contains($0.number) }.map(\.segment.file)
        obsolete += try putObject(object, changes: &changes)
        uploads[uploadId] = nil
        changes.delete(UploadRecord.self, key: uploadId)
        return (object, obsolete)
    }

    public mutating func abortUpload(_ uploadId: String, bucket name: String, key: String, changes: inout ChangeSet) throws(AWSError) -> [String] {
        let upload = try upload(uploadId, bucket: name, key: key)
        uploads[uploadId] = nil
        changes.delete(UploadRecord.self, key: uploadId)
        return upload.parts.values.map(\.segment.file)
    }

    /// An ETag as clients send it back (quoted or not).
    static func unquoted(_ etag: String) -> String {
        etag.count >= 2 && etag.hasPrefix("\"") && etag.hasSuffix("\"") ? String(etag.dropFirst().dropLast()) : etag
    }
}

extension ASCIIHex {
    /// The bytes of an even-length hex string; nil if it is not one.
    static func bytes(_ hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
