import Archives
import AWSProtocols
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3
import SigV4
import StevedoreCore

// MARK: Multipart uploads

extension S3Call {
    func createUpload() async throws(AWSError) -> Response {
        var algorithm: String?
        if let name = header("x-amz-checksum-algorithm") {
            guard let known = ChecksumAlgorithm(rawValue: name.uppercased()) else {
                throw S3Error.invalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, SHA1, SHA256]")
            }
            algorithm = known.rawValue
        }
        let upload = UploadRecord(
            uploadId: Self.newUploadId(), bucket: bucket, key: key, initiated: committer.now(), attributes: attributes(),
            tags: header("x-amz-tagging").map(S3XML.parseTaggingHeader) ?? [], checksumAlgorithm: algorithm)
        try await committer.write { root, m throws(AWSError) in try root.s3.createUpload(upload, changes: &m.changes) }
        var headers: [(String, String)] = []
        if let algorithm { headers.append(("x-amz-checksum-algorithm", algorithm)) }
        return xmlAnswer(
            S3XML.document("InitiateMultipartUploadResult") { xml in
                xml.element("Bucket", bucket)
                xml.element("Key", key)
                xml.element("UploadId", upload.uploadId)
            }, headers: headers)
    }

    static func newUploadId() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// `?partNumber=`: 1 to 10,000.
    func partNumber() throws(AWSError) -> Int {
        guard let partText = query["partNumber"], let number = Int(partText), (1...S3State.maximumParts).contains(number) else {
            throw S3Error.invalidArgument(
                "Part number must be an integer between 1 and 10000, inclusive", name: "partNumber", value: query["partNumber"])
        }
        return number
    }

    func uploadPart(_ form: SigV4Verifier.S3Body) async throws(AWSError) -> Response {
        let uploadId = query["uploadId"] ?? ""
        let number = try partNumber()
        let (name, key) = (bucket, self.key)
        let upload = try await committer.read { root, _ throws(AWSError) in try root.s3.upload(uploadId, bucket: name, key: key) }
        if let algorithm = upload.checksumAlgorithm {
            let declared = try ObjectChecksums.declared { header($0) }
            guard declared?.algorithm.rawValue == algorithm else {
                throw S3Error.invalidRequest(
                    "Checksum Type mismatch occurred, expected checksum Type: \(algorithm.lowercased()), actual checksum Type: \(declared?.algorithm.rawValue.lowercased() ?? "null")")
            }
        }
        let received = try await receiveBody(form)
        let part = PartRecord(
            number: number, segment: StoredSegment(file: received.file, size: received.size), etag: Digest.hex(received.md5),
            lastModified: committer.now(), checksum: received.checksum?.value)
        do throws(AWSError) {
            let obsolete = try await committer.write { root, m throws(AWSError) in
                try root.s3.putPart(part, uploadId: uploadId, bucket: name, key: key, changes: &m.changes)
            }
            files.remove(obsolete)
        } catch {
            await releaseUncommitted(received.file, uploadId: uploadId)
            throw error
        }
        var headers = [("ETag", S3XML.quoted(part.etag))]
        if let checksum = received.checksum { headers.append(("x-amz-checksum-" + checksum.algorithm.lowercased(), checksum.value)) }
        return answer(headers: headers)
    }

    /// UploadPartCopy: a part made of another object's bytes (all of them, or the
    /// `x-amz-copy-source-range`), copied file to file, hashed as an uploaded part is.
    func uploadPartCopy(principal: AccessKeyring.Principal?) async throws(AWSError) -> Response {
        let uploadId = query["uploadId"] ?? ""
        let number = try partNumber()
        let (sourceBucket, sourceKey) = try copySource(principal: principal)
        let (name, key) = (bucket, self.key)
        let upload = try await committer.read { root, _ throws(AWSError) in try root.s3.upload(uploadId, bucket: name, key: key) }
        let source = try await committer.read { root, _ throws(AWSError) in try root.s3.object(bucket: sourceBucket, key: sourceKey) }
        var range: ClosedRange<Int>?
        if let text = header("x-amz-copy-source-range") {
            let bounds = text.hasPrefix("bytes=") ? text.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false) : []
            guard bounds.count == 2, let first = Int(bounds[0]), let last = Int(bounds[1]), first <= last else {
                throw S3Error.invalidArgument(
                    "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
                    name: "x-amz-copy-source-range", value: text)
            }
            guard last < source.size else {
                throw S3Error.invalidArgument(
                    "Range specified is not valid for source object of size: \(source.size)", name: "x-amz-copy-source-range", value: text)
            }
            range = first...last
        }
        let (original, opened) = try await openObject(bucket: sourceBucket, key: sourceKey, range: range)
        try checkCopySourceConditions(original)
        let digests = ObjectDigests(sha256: false, checksum: upload.checksumAlgorithm.flatMap { ChecksumAlgorithm(rawValue: $0) })
        let copied = try await copyBytes(opened, range: range, digests: digests)
        let checksum = copied.digests.checksum.map { ObjectChecksum(algorithm: $0.algorithm.rawValue, value: $0.base64()) }
        let part = PartRecord(
            number: number, segment: StoredSegment(file: copied.file, size: copied.digests.count), etag: Digest.hex(copied.digests.md5Digest()),
            lastModified: committer.now(), checksum: checksum?.value)
        do throws(AWSError) {
            let obsolete = try await committer.write { root, m throws(AWSError) in
                try root.s3.putPart(part, uploadId: uploadId, bucket: name, key: key, changes: &m.changes)
            }
            files.remove(obsolete)
        } catch {
            await releaseUncommitted(copied.file, uploadId: uploadId)
            throw error
        }
        return xmlAnswer(
            S3XML.document("CopyPartResult") { xml in
                xml.element("LastModified", S3XML.timestamp(part.lastModified))
                xml.element("ETag", S3XML.quoted(part.etag))
                if let checksum { xml.element("Checksum" + checksum.algorithm, checksum.value) }
            })
    }

    func completeUpload() async throws(AWSError) -> Response {
        let uploadId = query["uploadId"] ?? ""
        let document = try await readDocument()
        guard let root = XMLNode.parse(document), root.name == "CompleteMultipartUpload" else { throw S3Error.malformedXML }
        var parts: [(number: Int, etag: String)] = []
        for part in root.all("Part") {
            guard let number = part.value("PartNumber").flatMap({ Int($0) }), let etag = part.value("ETag") else { throw S3Error.malformedXML }
            parts.append((number, etag))
        }
        let (name, key) = (bucket, self.key)
        let chosen = parts
        let change = objectChange("ObjectCreated:CompleteMultipartUpload")
        let (object, obsolete) = try await committer.write { root, m throws(AWSError) in
            let completed = try root.s3.completeUpload(uploadId, bucket: name, key: key, parts: chosen, now: m.now, changes: &m.changes)
            change.notify(&root, key: key, object: completed.object, m: &m)
            return completed
        }
        files.remove(obsolete)
        var headers: [(String, String)] = []
        if let checksum = object.checksum { headers.append(("x-amz-checksum-" + checksum.algorithm.lowercased(), checksum.value)) }
        return xmlAnswer(
            S3XML.document("CompleteMultipartUploadResult") { xml in
                xml.element("Location", "/" + bucket + "/" + PercentEncoding.encode(key, keepingSlashes: true))
                xml.element("Bucket", bucket)
                xml.element("Key", key)
                xml.element("ETag", S3XML.quoted(object.etag))
                if let checksum = object.checksum {
                    xml.element("Checksum" + checksum.algorithm, checksum.value)
                    xml.element("ChecksumType", checksum.type)
                }
            }, headers: headers)
    }

    func listParts() async throws(AWSError) -> Response {
        let uploadId = query["uploadId"] ?? ""
        let (name, key) = (bucket, self.key)
        let upload = try await committer.read { root, _ throws(AWSError) in try root.s3.upload(uploadId, bucket: name, key: key) }
        let marker = query["part-number-marker"].flatMap { Int($0) } ?? 0
        let maxParts = min(query["max-parts"].flatMap { Int($0) } ?? 1000, 1000)
        guard maxParts >= 1 else {
            throw S3Error.invalidArgument("Argument max-parts must be an integer between 1 and 1000", name: "max-parts", value: query["max-parts"])
        }
        guard marker >= 0 else {
            throw S3Error.invalidArgument("Argument part-number-marker must be an integer between 0 and 2147483647", name: "part-number-marker", value: query["part-number-marker"])
        }
        let all = upload.parts.values.sorted { $0.number < $1.number }.filter { $0.number > marker }
        let page = all.prefix(maxParts)
        let owner = endpoint.ownerId
        return xmlAnswer(
            S3XML.document("ListPartsResult") { xml in
                xml.element("Bucket", bucket)
                xml.element("Key", key)
                xml.element("UploadId", uploadId)
                xml.element("Initiator") { xml in
                    xml.element("ID", owner)
                    xml.element("DisplayName", "stevedore")
                }
                xml.element("Owner") { xml in
                    xml.element("ID", owner)
                    xml.element("DisplayName", "stevedore")
                }
                xml.element("StorageClass", "STANDARD")
                xml.element("PartNumberMarker", String(marker))
                xml.element("NextPartNumberMarker", String(page.last?.number ?? marker))
                xml.element("MaxParts", String(maxParts))
                xml.element("IsTruncated", all.count > page.count ? "true" : "false")
                if let algorithm = upload.checksumAlgorithm { xml.element("ChecksumAlgorithm", algorithm) }
                for part in page {
                    xml.element("Part") { xml in
                        xml.element("PartNumber", String(part.number))
                        xml.element("LastModified", S3XML.timestamp(part.lastModified))
                        xml.element("ETag", S3XML.quoted(part.etag))
                        xml.element("Size", String(part.segment.size))
                        if let algorithm = upload.checksumAlgorithm, let checksum = part.checksum { xml.element("Checksum" + algorithm, checksum) }
                    }
                }
            })
    }
}
