import Archives
import Foundation
@testable import S3
import StevedoreCore
import Testing

/// Buckets, object records, listings and multipart uploads, decided without any file.
struct S3StateTests {
    var state = S3State(names: ResourceNames())
    var changes = ChangeSet()
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    init() throws {
        try state.createBucket("photos", locationConstraint: nil, now: now, changes: &changes)
    }

    func object(_ key: String, size: Int = 3, file: String? = nil) -> ObjectRecord {
        ObjectRecord(
            bucket: "photos", key: key, size: size, etag: "e", lastModified: now, attributes: ObjectAttributes(),
            segments: [StoredSegment(file: file ?? "objects/aa/\(key.utf8.count)", size: size)])
    }

    mutating func put(_ keys: [String]) throws {
        for key in keys { _ = try state.putObject(object(key), changes: &changes) }
    }

    @Test mutating func multipartUploadsArePagedByKeyThenByStart() throws {
        for (index, key) in ["b", "a", "b", "c"].enumerated() {
            try state.createUpload(
                UploadRecord(uploadId: "u\(index)", bucket: "photos", key: key, initiated: now.addingTimeInterval(Double(index)), attributes: ObjectAttributes()),
                changes: &changes)
        }
        let first = try state.uploadsPage(bucket: "photos", prefix: "", keyMarker: nil, uploadIdMarker: nil, maximum: 2)
        #expect(first.uploads.map(\.uploadId) == ["u1", "u0"] && first.truncated)
        let second = try state.uploadsPage(bucket: "photos", prefix: "", keyMarker: "b", uploadIdMarker: "u0", maximum: 2)
        #expect(second.uploads.map(\.uploadId) == ["u2", "u3"] && !second.truncated)
        let afterKey = try state.uploadsPage(bucket: "photos", prefix: "", keyMarker: "b", uploadIdMarker: nil, maximum: 10)
        #expect(afterKey.uploads.map(\.uploadId) == ["u3"])
        #expect(try state.uploadsPage(bucket: "photos", prefix: "c", keyMarker: nil, uploadIdMarker: nil, maximum: 10).uploads.map(\.key) == ["c"])
    }

    @Test func bucketNamesFollowS3sRules() throws {
        for good in ["abc", "my.bucket-1", String(repeating: "a", count: 63)] { try S3State.validateBucketName(good) }
        for bad in ["ab", "ABC", "-abc", "abc-", "a..b", "a.-b", "192.168.1.1", "a_b", String(repeating: "a", count: 64)] {
            #expect(throws: S3Error.invalidBucketName(bad)) { try S3State.validateBucketName(bad) }
        }
    }

    @Test mutating func creatingABucketTwiceInUSEast1SucceedsElsewhereItIsAlreadyOwned() throws {
        try state.createBucket("photos", locationConstraint: nil, now: now, changes: &changes)
        var west = S3State(names: ResourceNames(region: "eu-west-1"))
        try west.createBucket("logs", locationConstraint: "eu-west-1", now: now, changes: &changes)
        #expect(throws: S3Error.alreadyOwned("logs")) { try west.createBucket("logs", locationConstraint: "eu-west-1", now: now, changes: &changes) }
        #expect(west.buckets["logs"]?.region == "eu-west-1")
    }

    @Test mutating func aBucketWithObjectsIsNotDeletedAndAnEmptyOneIs() throws {
        try put(["a"])
        #expect(throws: S3Error.bucketNotEmpty("photos")) { try state.deleteBucket("photos", changes: &changes) }
        let files = try state.deleteObject(bucket: "photos", key: "a", changes: &changes)
        #expect(files == ["objects/aa/1"])
        _ = try state.deleteBucket("photos", changes: &changes)
        #expect(throws: S3Error.noSuchBucket("photos")) { try state.bucket("photos") }
    }

    @Test mutating func replacingAnObjectHandsBackTheOldFiles() throws {
        _ = try state.putObject(object("k", file: "objects/aa/old"), changes: &changes)
        let obsolete = try state.putObject(object("k", file: "objects/bb/new"), changes: &changes)
        #expect(obsolete == ["objects/aa/old"])
        #expect(state.referencedFiles == ["objects/bb/new"])
        #expect(try state.deleteObject(bucket: "photos", key: "missing", changes: &changes) == [])
    }

    @Test mutating func listingsAreInByteOrderAndRollUpAtTheDelimiter() throws {
        try put(["b/2", "a", "b/1", "c/x/1", "Z", "é", "b0"])
        let all = try state.list(bucket: "photos", ListQuery())
        // Byte order: upper case before lower, multi-byte UTF-8 last.
        #expect(all.objects.map(\.key) == ["Z", "a", "b/1", "b/2", "b0", "c/x/1", "é"])
        let rolled = try state.list(bucket: "photos", ListQuery(delimiter: "/"))
        #expect(rolled.objects.map(\.key) == ["Z", "a", "b0", "é"])
        #expect(rolled.commonPrefixes == ["b/", "c/"])
        let under = try state.list(bucket: "photos", ListQuery(prefix: "b/", delimiter: "/"))
        #expect(under.objects.map(\.key) == ["b/1", "b/2"])
        #expect(under.commonPrefixes.isEmpty)
    }

    @Test mutating func pagesCountPrefixesOnceAndResumeAfterTheLastEntry() throws {
        try put(["a/1", "a/2", "a/3", "b", "c/1", "d"])
        var query = ListQuery(delimiter: "/", maxKeys: 2)
        let first = try state.list(bucket: "photos", query)
        #expect(first.commonPrefixes == ["a/"])
        #expect(first.objects.map(\.key) == ["b"])
        #expect(first.isTruncated && first.last == "b")
        query.after = first.last!
        let second = try state.list(bucket: "photos", query)
        #expect(second.commonPrefixes == ["c/"])
        #expect(second.objects.map(\.key) == ["d"])
        #expect(!second.isTruncated)
        // Resuming after a prefix skips every key under it.
        let afterPrefix = try state.list(bucket: "photos", ListQuery(delimiter: "/", after: "a/"))
        #expect(afterPrefix.objects.first?.key == "b")
        #expect(try state.list(bucket: "photos", ListQuery(maxKeys: 0)) == ListPage())
    }

    /// A key past every other under its prefix (U+10FFFF) still rolls up with them, and the
    /// listing ends (it once went back to that key for ever).
    @Test mutating func keysAtTheEndOfUnicodeRollUpAndListingsEnd() throws {
        try put(["a/\u{10FFFF}", "a/\u{10FFFF}x", "a/b", "b"])
        let rolled = try state.list(bucket: "photos", ListQuery(delimiter: "/"))
        #expect(rolled.commonPrefixes == ["a/"] && rolled.objects.map(\.key) == ["b"])
        let paged = try state.list(bucket: "photos", ListQuery(delimiter: "/", maxKeys: 1))
        #expect(paged.commonPrefixes == ["a/"] && paged.isTruncated)
        #expect(try state.list(bucket: "photos", ListQuery(delimiter: "/", after: "a/")).objects.map(\.key) == ["b"])
    }

    @Test func objectsTakeTenTagsAndBucketsFifty() throws {
        let eleven = (0..<11).map { S3Tag(key: "k\($0)", value: "v") }
        #expect(throws: AWSError.self) { try S3State.validateTags(eleven) }
        try S3State.validateTags(eleven, onBucket: true)
        #expect(throws: AWSError.self) { try S3State.validateTags([S3Tag(key: "a", value: "1"), S3Tag(key: "a", value: "2")]) }
    }

    @Test mutating func multipartUploadsCheckOrderETagsAndPartSizes() throws {
        let upload = UploadRecord(uploadId: "u1", bucket: "photos", key: "big", initiated: now, attributes: ObjectAttributes())
        try state.createUpload(upload, changes: &changes)
        let big = S3State.minimumPartSize
        let md5s = ["0cc175b9c0f1b6a831c399e269772661", "92eb5ffee6ae2fec3ad71c777531578f"]
        for (index, md5) in md5s.enumerated() {
            _ = try state.putPart(
                PartRecord(number: index + 1, segment: StoredSegment(file: "objects/p\(index)/x", size: index == 0 ? big : 10), etag: md5, lastModified: now),
                uploadId: "u1", bucket: "photos", key: "big", changes: &changes)
        }
        #expect(throws: S3Error.invalidPartOrder) {
            try state.completeUpload("u1", bucket: "photos", key: "big", parts: [(2, md5s[1]), (1, md5s[0])], now: now, changes: &changes)
        }
        #expect(throws: S3Error.invalidPart) {
            try state.completeUpload("u1", bucket: "photos", key: "big", parts: [(1, "\"ffff\"")], now: now, changes: &changes)
        }
        #expect(throws: S3Error.noSuchUpload("u2")) {
            try state.completeUpload("u2", bucket: "photos", key: "big", parts: [(1, md5s[0])], now: now, changes: &changes)
        }
        let (object, obsolete) = try state.completeUpload(
            "u1", bucket: "photos", key: "big", parts: [(1, "\"\(md5s[0])\""), (2, md5s[1])], now: now, changes: &changes)
        #expect(obsolete.isEmpty)
        #expect(object.size == big + 10)
        #expect(object.segments.map(\.file) == ["objects/p0/x", "objects/p1/x"])
        // The MD5 of the parts' MD5s, and how many parts.
        #expect(object.etag == Digest.hex(Digest.md5(md5s.flatMap { ASCIIHex.bytes($0)! })) + "-2")
        #expect(state.uploads.isEmpty)
    }

    @Test mutating func aSmallPartBeforeTheLastIsTooSmall() throws {
        try state.createUpload(UploadRecord(uploadId: "u", bucket: "photos", key: "k", initiated: now, attributes: ObjectAttributes()), changes: &changes)
        for number in 1...2 {
            _ = try state.putPart(
                PartRecord(number: number, segment: StoredSegment(file: "objects/a\(number)/x", size: 1), etag: "aa", lastModified: now),
                uploadId: "u", bucket: "photos", key: "k", changes: &changes)
        }
        #expect(throws: S3Error.entityTooSmall(size: 1)) {
            try state.completeUpload("u", bucket: "photos", key: "k", parts: [(1, "aa"), (2, "aa")], now: now, changes: &changes)
        }
        let aborted = try state.abortUpload("u", bucket: "photos", key: "k", changes: &changes)
        #expect(Set(aborted) == ["objects/a1/x", "objects/a2/x"])
    }

    @Test mutating func stateComesBackFromItsRows() throws {
        try put(["x", "y/z"])
        var rows = StoredRows()
        // The last row written under each key, as the store keeps it.
        var latest: [String: StateChange] = [:]
        for change in changes.changes { latest[change.kind.rawValue + "/" + change.key] = change }
        for change in latest.values { if let body = change.body { rows[change.kind, default: []].append(body) } }
        let restored = try S3State.restore(names: ResourceNames(), rows: rows)
        #expect(restored.contents["photos"]?.keys == ["x", "y/z"])
        #expect(restored.buckets.keys.sorted() == ["photos"])
    }
}

struct S3RequestTests {
    @Test func addressesComeFromTheVirtualHostOrThePath() {
        #expect(S3Address.virtualHostBucket("photos.localhost:8340") == "photos")
        #expect(S3Address.virtualHostBucket("photos.s3.localhost") == "photos")
        #expect(S3Address.virtualHostBucket("127.0.0.1:8340") == nil)
        #expect(S3Address.virtualHostBucket("abc.execute-api.localhost") == nil)
        #expect(S3Address.parse(rawPath: "/photos/a%20b/c%2Bd", virtualHostBucket: nil) == S3Address(bucket: "photos", key: "a b/c+d"))
        #expect(S3Address.parse(rawPath: "/photos/", virtualHostBucket: nil) == S3Address(bucket: "photos", key: nil))
        #expect(S3Address.parse(rawPath: "/", virtualHostBucket: nil) == S3Address(bucket: nil, key: nil))
        #expect(S3Address.parse(rawPath: "/k/1", virtualHostBucket: "photos") == S3Address(bucket: "photos", key: "k/1"))
    }

    @Test func operationsComeFromMethodAndSubresource() throws {
        let bucket = S3Address(bucket: "b", key: nil)
        let object = S3Address(bucket: "b", key: "k")
        #expect(try S3Operation.of(method: "GET", address: S3Address(bucket: nil, key: nil), query: [:], hasCopySource: false) == .listBuckets)
        #expect(try S3Operation.of(method: "GET", address: bucket, query: ["list-type": "2"], hasCopySource: false) == .listObjectsV2)
        #expect(try S3Operation.of(method: "GET", address: bucket, query: [:], hasCopySource: false) == .listObjects)
        #expect(try S3Operation.of(method: "PUT", address: bucket, query: ["policy": ""], hasCopySource: false) == .putBucketPolicy)
        #expect(try S3Operation.of(method: "POST", address: bucket, query: ["delete": ""], hasCopySource: false) == .deleteObjects)
        #expect(try S3Operation.of(method: "PUT", address: object, query: [:], hasCopySource: true) == .copyObject)
        #expect(try S3Operation.of(method: "PUT", address: object, query: ["partNumber": "1", "uploadId": "u"], hasCopySource: true) == .uploadPartCopy)
        #expect(S3Operation.uploadPartCopy.action == "s3:PutObject" && S3Operation.uploadPartCopy.onObject)
        #expect(try S3Operation.of(method: "PUT", address: object, query: ["partNumber": "1", "uploadId": "u"], hasCopySource: false) == .uploadPart)
        #expect(try S3Operation.of(method: "POST", address: object, query: ["uploads": ""], hasCopySource: false) == .createMultipartUpload)
        #expect(try S3Operation.of(method: "DELETE", address: object, query: ["uploadId": "u"], hasCopySource: false) == .abortMultipartUpload)
        #expect(S3Operation.headObject.action == "s3:GetObject")
        #expect(S3Operation.listObjectsV2.action == "s3:ListBucket")
        #expect(throws: S3Error.notImplemented("acl")) { try S3Operation.of(method: "GET", address: bucket, query: ["acl": ""], hasCopySource: false) }
        #expect(throws: S3Error.methodNotAllowed(method: "POST", resourceType: "OBJECT")) {
            try S3Operation.of(method: "POST", address: object, query: [:], hasCopySource: false)
        }
    }
}

struct ObjectReadTests {
    let modified = Date(timeIntervalSince1970: 1_000_000)

    @Test func conditionsFollowS3sPrecedence() {
        typealias C = ObjectReads.Conditions
        #expect(ObjectReads.evaluate(C(ifMatch: "\"abc\""), etag: "abc", lastModified: modified) == .proceed)
        #expect(ObjectReads.evaluate(C(ifMatch: "\"x\", \"abc\""), etag: "abc", lastModified: modified) == .proceed)
        #expect(ObjectReads.evaluate(C(ifMatch: "\"x\""), etag: "abc", lastModified: modified) == .preconditionFailed)
        // If-Match holding wins over a failed If-Unmodified-Since.
        #expect(ObjectReads.evaluate(C(ifMatch: "*", ifUnmodifiedSince: 1), etag: "abc", lastModified: modified) == .proceed)
        #expect(ObjectReads.evaluate(C(ifUnmodifiedSince: 1), etag: "abc", lastModified: modified) == .preconditionFailed)
        #expect(ObjectReads.evaluate(C(ifNoneMatch: "\"abc\""), etag: "abc", lastModified: modified) == .notModified)
        // If-None-Match not matching wins over If-Modified-Since.
        #expect(ObjectReads.evaluate(C(ifNoneMatch: "\"x\"", ifModifiedSince: 2_000_000), etag: "abc", lastModified: modified) == .proceed)
        #expect(ObjectReads.evaluate(C(ifModifiedSince: 2_000_000), etag: "abc", lastModified: modified) == .notModified)
        #expect(ObjectReads.evaluate(C(ifModifiedSince: 1), etag: "abc", lastModified: modified) == .proceed)
    }

    @Test func httpDatesParseAndAbsurdYearsDoNot() {
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Sun, 06 Nov 99999999999999 08:49:37 GMT") == nil)
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 25:49:37 GMT") == nil)
        #expect(HTTPDate.parse("yesterday") == nil)
    }

    @Test func rangesAsS3ServesThem() throws {
        #expect(try ObjectReads.range("bytes=0-9", size: 100) == 0...9)
        #expect(try ObjectReads.range("bytes=90-", size: 100) == 90...99)
        #expect(try ObjectReads.range("bytes=-10", size: 100) == 90...99)
        #expect(try ObjectReads.range("bytes=-500", size: 100) == 0...99)
        #expect(try ObjectReads.range("bytes=50-500", size: 100) == 50...99)
        #expect(try ObjectReads.range("bytes=0-1,5-6", size: 100) == nil)
        #expect(try ObjectReads.range("items=0-1", size: 100) == nil)
        #expect(try ObjectReads.range("bytes=9-1", size: 100) == nil)
        #expect(throws: S3Error.invalidRange(size: 100, range: "bytes=100-")) { try ObjectReads.range("bytes=100-", size: 100) }
    }
}

struct S3DocumentTests {
    @Test func requestDocumentsParse() throws {
        let body = Array(
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a&amp;b</Key></Object><Object><Key><![CDATA[<c>]]></Key></Object>\
            <!-- note --><Quiet>true</Quiet></Delete>
            """.utf8)
        let root = try #require(XMLNode.parse(body))
        #expect(root.name == "Delete")
        #expect(root.all("Object").compactMap { $0.value("Key") } == ["a&b", "<c>"])
        #expect(root.value("Quiet") == "true")
        #expect(XMLNode.parse(Array("<a><b></a>".utf8)) == nil)
        #expect(XMLNode.parse(Array("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>".utf8)) == nil)
        #expect(XMLNode.parse(Array("<a>x</a>trailing".utf8)) == nil)
        // Nesting is bounded (a deep document is refused, not recursed into).
        let deep = String(repeating: "<a>", count: 100_000) + String(repeating: "</a>", count: 100_000)
        #expect(XMLNode.parse(Array(deep.utf8)) == nil)
        #expect(try S3XML.parseTagging(Array("<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>".utf8)) == [S3Tag(key: "k", value: "v")])
        #expect(throws: S3Error.malformedXML) { try S3XML.parseTagging(Array("<Tags/>".utf8)) }
        #expect(S3XML.parseTaggingHeader("a=1&b%20c=x+y") == [S3Tag(key: "a", value: "1"), S3Tag(key: "b c", value: "x y")])
    }

    @Test func errorsCarryS3sElements() {
        let text = String(decoding: S3XML.error(S3Error.noSuchKey("a<b"), resource: "/b/a%3Cb", requestId: "r1"), as: UTF8.self)
        #expect(text.contains("<Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&lt;b</Key><Resource>/b/a%3Cb</Resource><RequestId>r1</RequestId>"))
    }
}

struct ObjectChecksumTests {
    /// Values from S3's documentation examples and the algorithms' check values ("123456789").
    @Test func checksumsMatchTheirCheckValues() {
        let check = Array("123456789".utf8)
        #expect(ChecksumAlgorithm.crc32.digest(check) == [0xCB, 0xF4, 0x39, 0x26])
        #expect(ChecksumAlgorithm.crc32c.digest(check) == [0xE3, 0x06, 0x92, 0x83])
        #expect(Digest.hex(ChecksumAlgorithm.sha1.digest(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        // Fed in pieces of every size, the same value.
        var crc = StreamingChecksum(.crc32c)
        let long = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var offset = 0
        for size in [1, 3, 8, 17, 64, 907] {
            long[offset..<(offset + size)].withUnsafeBytes { crc.update($0) }
            offset += size
        }
        #expect(crc.finalize() == ChecksumAlgorithm.crc32c.digest(long))
    }

    @Test func declaredChecksumsAreValidated() throws {
        let headers = ["x-amz-checksum-crc32": "y/Q5Jg=="]
        #expect(try ObjectChecksums.declared { headers[$0] } == DeclaredChecksum(algorithm: .crc32, value: "y/Q5Jg=="))
        #expect(throws: S3Error.invalidChecksumHeader("CRC32")) { try ObjectChecksums.declared { ["x-amz-checksum-crc32": "nope"][$0] } }
        let trailer = ["x-amz-trailer": "x-amz-checksum-crc32c"]
        #expect(try ObjectChecksums.declared { trailer[$0] } == DeclaredChecksum(algorithm: .crc32c, value: nil))
        #expect(try ObjectChecksums.declared { _ in nil } == nil)
        #expect(throws: S3Error.invalidDigest) { try ObjectChecksums.contentMD5("abc") }
    }
}
