import Archives
import AWSProtocols
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3
import SigV4
import StevedoreCore

// MARK: Objects

extension S3Call {
    /// What the request's headers set on the object it writes.
    func attributes() -> ObjectAttributes {
        var attributes = ObjectAttributes()
        attributes.contentType = header("content-type")
        // `aws-chunked` is how the body came, not what the object is.
        if let encoding = header("content-encoding") {
            let kept = encoding.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0 != "aws-chunked" && !$0.isEmpty }
            attributes.contentEncoding = kept.isEmpty ? nil : kept.joined(separator: ",")
        }
        attributes.contentDisposition = header("content-disposition")
        attributes.contentLanguage = header("content-language")
        attributes.cacheControl = header("cache-control")
        attributes.expires = header("expires")
        for field in request.headers where field.name.canonicalName.hasPrefix("x-amz-meta-") {
            attributes.metadata[String(field.name.canonicalName.dropFirst("x-amz-meta-".count))] = field.value
        }
        return attributes
    }

    /// A body streamed to a new file, checked against everything the request declared about it.
    struct ReceivedBody {
        var file: String
        var size: Int
        var md5: [UInt8]
        var checksum: ObjectChecksum?
    }

    func receiveBody(_ form: SigV4Verifier.S3Body) async throws(AWSError) -> ReceivedBody {
        if let length = header("content-length").flatMap(Int.init), length > S3State.maximumPutSize { throw S3Error.entityTooLarge }
        if header("content-length") == nil, case .chunked = form {} else if header("content-length") == nil {
            throw AWSError(type: "MissingContentLength", message: "You must provide the Content-Length HTTP header.", httpStatus: 411)
        }
        let declared = try ObjectChecksums.declared { header($0) }
        let md5 = try header("content-md5").map { value throws(AWSError) in try ObjectChecksums.contentMD5(value) }
        var sha256: String?
        var decoder: ChunkedBodyDecoder?
        switch form {
        case .hashed(let hash): sha256 = hash
        case .unsigned: break
        case .chunked(let chunked): decoder = chunked
        }
        let writer: ObjectWriter
        do {
            writer = try files.create(digests: ObjectDigests(sha256: sha256 != nil, checksum: declared?.algorithm))
        } catch {
            throw S3Error.internalError
        }
        bodyUse.start()
        do {
            // A body refused part-way is still read to its end (its bytes would otherwise be
            // taken for the next request on the connection), and nothing more of it is kept.
            var refusal: (any Error)?
            for try await buffer in request.body where refusal == nil {
                do {
                    if decoder != nil {
                        try buffer.withUnsafeReadableBytes { bytes throws(SignatureFailure) in
                            try decoder!.feed(bytes) { writer.appendSynchronously($0) }
                        }
                        if writer.gathered >= ObjectFiles.writeSize { try await writer.flush() }
                    } else {
                        try await writer.append(buffer)
                    }
                    if writer.received > S3State.maximumPutSize { throw S3Error.entityTooLarge }
                } catch {
                    refusal = error
                }
            }
            if let refusal { throw refusal }
            if let decoder { try decoder.finish(signable) }
            let (file, digests) = try await writer.finish()
            var body = ReceivedBody(file: file, size: digests.count, md5: digests.md5Digest(), checksum: nil)
            do throws(AWSError) {
                if let sha256, digests.sha256Hex() != sha256 { throw S3Error.contentSHA256Mismatch }
                if let md5, md5 != body.md5 { throw S3Error.badDigest }
                if let declared, let computed = digests.checksum?.base64() {
                    let sent = declared.value ?? decoder?.trailers.first { $0.name == declared.algorithm.headerName }?.value
                    guard let sent else { throw S3Error.invalidRequest("The upload's \(declared.algorithm.headerName) trailer is missing.") }
                    guard sent == computed else { throw S3Error.checksumMismatch(declared.algorithm.rawValue) }
                    body.checksum = ObjectChecksum(algorithm: declared.algorithm.rawValue, value: computed)
                }
            } catch {
                files.remove([file])
                throw error
            }
            return body
        } catch let error as AWSError {
            await writer.discard()
            throw error
        } catch let failure as SignatureFailure {
            await writer.discard()
            throw failure.s3Error
        } catch {
            await writer.discard()
            throw AWSError(type: "IncompleteBody", message: "The request body terminated unexpectedly", httpStatus: 400)
        }
    }

    /// Conditional writes: `If-None-Match: *` (only if absent) and `If-Match` (only that ETag),
    /// decided on the object there is (checked before the body is read, and again in the commit).
    static func writeRefusal(existing: ObjectRecord?, ifNoneMatch: String?, ifMatch: String?, key: String) -> AWSError? {
        if ifNoneMatch == "*", existing != nil { return S3Error.preconditionFailed("If-None-Match") }
        if let ifMatch {
            guard let existing else { return S3Error.noSuchKey(key) }
            if ObjectReads.evaluate(.init(ifMatch: ifMatch), etag: existing.etag, lastModified: existing.lastModified) != .proceed {
                return S3Error.preconditionFailed("If-Match")
            }
        }
        return nil
    }

    /// A new file whose commit failed goes, unless the commit landed after all (a store that
    /// failed to answer may have kept it): then a record names it. Files a failure leaves behind
    /// are swept at the next start.
    func releaseUncommitted(_ file: String, uploadId: String? = nil) async {
        let (name, key) = (bucket, self.key)
        let referenced =
            (try? await committer.read { root, _ in
                if let uploadId { return root.s3.uploads[uploadId]?.parts.values.contains { $0.segment.file == file } ?? false }
                return root.s3.contents[name]?.byKey[key]?.segments.contains { $0.file == file } ?? false
            }) ?? true
        if !referenced { files.remove([file]) }
    }

    func putObject(_ form: SigV4Verifier.S3Body) async throws(AWSError) -> Response {
        let (name, key) = (bucket, self.key)
        let (ifNoneMatch, ifMatch) = (header("if-none-match"), header("if-match"))
        // Refused before a byte is stored: a missing bucket, a bad key or tags, a failed condition.
        let existing = try await committer.read { root, _ throws(AWSError) in
            _ = try root.s3.bucket(name)
            return root.s3.contents[name]?.byKey[key]
        }
        try S3State.validateKey(key)
        if let refusal = Self.writeRefusal(existing: existing, ifNoneMatch: ifNoneMatch, ifMatch: ifMatch, key: key) { throw refusal }
        let tags = header("x-amz-tagging").map(S3XML.parseTaggingHeader) ?? []
        try S3State.validateTags(tags)
        let attributes = self.attributes()
        let received = try await receiveBody(form)
        let object = ObjectRecord(
            bucket: name, key: key, size: received.size, etag: Digest.hex(received.md5), lastModified: committer.now(), attributes: attributes,
            segments: [StoredSegment(file: received.file, size: received.size)], checksum: received.checksum, tags: tags)
        let change = objectChange("ObjectCreated:Put")
        do throws(AWSError) {
            let obsolete = try await committer.write { root, m throws(AWSError) in
                // Conditions again, on the object there is now: two conditional writes racing do not both win.
                if let refusal = Self.writeRefusal(existing: root.s3.contents[name]?.byKey[key], ifNoneMatch: ifNoneMatch, ifMatch: ifMatch, key: key) {
                    throw refusal
                }
                var stored = object
                stored.lastModified = m.now
                let replaced = try root.s3.putObject(stored, changes: &m.changes)
                change.notify(&root, key: key, object: stored, m: &m)
                return replaced
            }
            files.remove(obsolete)
        } catch {
            await releaseUncommitted(received.file)
            throw error
        }
        var headers = [("ETag", S3XML.quoted(object.etag))]
        if let checksum = received.checksum { headers.append(("x-amz-checksum-" + checksum.algorithm.lowercased(), checksum.value)) }
        return answer(headers: headers)
    }

    /// An object's record and its files, opened together: a write that replaces the object
    /// between the two is seen, and the record read again (once).
    func openObject(bucket name: String, key: String, range: ClosedRange<Int>? = nil) async throws(AWSError) -> (ObjectRecord, OpenedObject) {
        for attempt in 0..<2 {
            let object = try await committer.read { root, _ throws(AWSError) in try root.s3.object(bucket: name, key: key) }
            if let opened = try? files.open(object.segments, range: range) { return (object, opened) }
            if attempt == 1 { break }
        }
        throw S3Error.internalError
    }

    func getObject(head: Bool) async throws(AWSError) -> Response {
        let (name, key) = (bucket, self.key)
        var object = try await committer.read { root, _ throws(AWSError) in try root.s3.object(bucket: name, key: key) }
        let conditions = ObjectReads.Conditions(
            ifMatch: header("if-match"), ifNoneMatch: header("if-none-match"), ifModifiedSince: header("if-modified-since").flatMap(HTTPDate.parse),
            ifUnmodifiedSince: header("if-unmodified-since").flatMap(HTTPDate.parse))
        switch ObjectReads.evaluate(conditions, etag: object.etag, lastModified: object.lastModified) {
        case .proceed: break
        case .notModified:
            return answer(status: 304, headers: [("ETag", S3XML.quoted(object.etag)), ("Last-Modified", S3XML.httpDate(object.lastModified))])
        case .preconditionFailed: throw S3Error.preconditionFailed(header("if-match") != nil ? "If-Match" : "If-Unmodified-Since")
        }
        var range = try ObjectReads.range(header("range"), size: object.size)
        var headers = ObjectReads.headers(object, overrides: query.filter { $0.key.hasPrefix("response-") })
        // Objects share the API listener's origin with the console: a browser opening one (an
        // HTML object, a presigned link) runs none of its scripts there, nor guesses its type.
        headers += [("Content-Security-Policy", "sandbox"), ("X-Content-Type-Options", "nosniff")]
        if let partText = query["partNumber"] {
            guard header("range") == nil else { throw S3Error.invalidRequest("Cannot specify both Range header and partNumber query parameter") }
            guard let part = Int(partText), (1...S3State.maximumParts).contains(part) else {
                throw S3Error.invalidArgument("Part number must be an integer between 1 and 10000, inclusive", name: "partNumber", value: partText)
            }
            let segments = object.partCount == nil ? [StoredSegment(file: "", size: object.size)] : object.segments
            guard part <= segments.count else {
                throw AWSError(
                    type: "InvalidPartNumber", message: "The requested partnumber is not satisfiable", httpStatus: 416,
                    extraFields: ["PartNumberRequested": String(part), "ActualPartCount": String(segments.count)])
            }
            let start = segments.prefix(part - 1).reduce(0) { $0 + $1.size }
            if segments[part - 1].size > 0 { range = start...(start + segments[part - 1].size - 1) }
            headers.append(("x-amz-mp-parts-count", String(segments.count)))
        }
        if header("x-amz-checksum-mode")?.uppercased() == "ENABLED", range == nil, let checksum = object.checksum {
            headers.append(("x-amz-checksum-" + checksum.algorithm.lowercased(), checksum.value))
            headers.append(("x-amz-checksum-type", checksum.type))
        }
        let length = range.map { $0.count } ?? object.size
        headers.append(("Content-Length", String(length)))
        var status = 200
        if let range {
            status = 206
            headers.append(("Content-Range", "bytes \(range.lowerBound)-\(range.upperBound)/\(object.size)"))
        }
        var fields = S3Endpoint.baseHeaders(requestId)
        for (name, value) in headers { if let field = HTTPField.Name(name) { fields[field] = value } }
        if head || length == 0 {
            return Response(status: HTTPResponse.Status(code: status), headers: fields, body: ResponseBody())
        }
        // The files of the bytes to send, opened now; if the object was replaced since its
        // record was read, the newer one is sent only if it is the same object (same ETag).
        let opened: OpenedObject
        do {
            opened = try files.open(object.segments, range: range)
        } catch {
            let (newer, reopened) = try await openObject(bucket: name, key: key, range: range)
            guard newer.etag == object.etag else {
                throw S3Error.internalError
            }
            object = newer
            opened = reopened
        }
        do {
            if let small = try files.readSmall(opened, range: range) {
                return Response(status: HTTPResponse.Status(code: status), headers: fields, body: ResponseBody(byteBuffer: small))
            }
        } catch {
            throw S3Error.internalError
        }
        let files = self.files
        let wanted = range
        return Response(
            status: HTTPResponse.Status(code: status), headers: fields,
            body: ResponseBody(contentLength: length) { writer in
                try await files.read(opened, range: wanted) { buffer in try await writer.write(buffer) }
                try await writer.finish(nil)
            })
    }

    /// `x-amz-copy-source` (`bucket/key`, percent-encoded, a leading `/` and a `?versionId` allowed),
    /// checked against the caller's `s3:GetObject`.
    func copySource(principal: AccessKeyring.Principal?) throws(AWSError) -> (bucket: String, key: String) {
        guard var source = header("x-amz-copy-source") else { throw S3Error.invalidRequest("Missing copy source") }
        if let question = source.firstIndex(of: "?") { source = String(source[..<question]) }
        source = PercentEncoding.decode(source[...])
        if source.hasPrefix("/") { source.removeFirst() }
        guard let slash = source.firstIndex(of: "/"), slash != source.startIndex, source.index(after: slash) != source.endIndex else {
            throw S3Error.invalidArgument("Invalid copy source object key", name: "x-amz-copy-source", value: header("x-amz-copy-source"))
        }
        let sourceBucket = String(source[..<slash])
        let sourceKey = String(source[source.index(after: slash)...])
        if let principal, let refusal = authorize(principal, action: "s3:GetObject", key: sourceKey, bucket: sourceBucket) { throw refusal }
        return (sourceBucket, sourceKey)
    }

    /// The `x-amz-copy-source-if-*` conditions, against the source object.
    func checkCopySourceConditions(_ original: ObjectRecord) throws(AWSError) {
        let conditions = ObjectReads.Conditions(
            ifMatch: header("x-amz-copy-source-if-match"), ifNoneMatch: header("x-amz-copy-source-if-none-match"),
            ifModifiedSince: header("x-amz-copy-source-if-modified-since").flatMap(HTTPDate.parse),
            ifUnmodifiedSince: header("x-amz-copy-source-if-unmodified-since").flatMap(HTTPDate.parse))
        guard ObjectReads.evaluate(conditions, etag: original.etag, lastModified: original.lastModified) == .proceed else {
            throw S3Error.preconditionFailed(header("x-amz-copy-source-if-match") != nil ? "x-amz-copy-source-If-Match" : "x-amz-copy-source-If-Unmodified-Since")
        }
    }

    /// An opened object's bytes (or a range of them) copied into a new file, hashed on the way:
    /// CopyObject's and UploadPartCopy's body. The file is not committed yet.
    func copyBytes(_ opened: OpenedObject, range: ClosedRange<Int>?, digests: ObjectDigests) async throws(AWSError) -> (file: String, digests: ObjectDigests) {
        let writer: ObjectWriter
        do {
            writer = try files.create(digests: digests)
        } catch {
            throw S3Error.internalError
        }
        do {
            try await files.read(opened, range: range) { buffer in try await writer.append(buffer) }
            return try await writer.finish()
        } catch {
            await writer.discard()
            throw S3Error.internalError
        }
    }

    func copyObject(principal: AccessKeyring.Principal?) async throws(AWSError) -> Response {
        let (sourceBucket, sourceKey) = try copySource(principal: principal)
        let (name, key) = (bucket, self.key)
        _ = try await committer.read { root, _ throws(AWSError) in try root.s3.bucket(name) }
        let (original, opened) = try await openObject(bucket: sourceBucket, key: sourceKey)
        try S3State.validateKey(key)
        try checkCopySourceConditions(original)
        let replaceMetadata = header("x-amz-metadata-directive")?.uppercased() == "REPLACE"
        let replaceTags = header("x-amz-tagging-directive")?.uppercased() == "REPLACE"
        if sourceBucket == name, sourceKey == key, !replaceMetadata, !replaceTags {
            throw S3Error.invalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            )
        }
        let digests = ObjectDigests(sha256: false, checksum: original.checksum.flatMap { ChecksumAlgorithm(rawValue: $0.algorithm) })
        let copied = try await copyBytes(opened, range: nil, digests: digests)
        var object = original
        object.bucket = name
        object.key = key
        object.segments = [StoredSegment(file: copied.file, size: copied.digests.count)]
        object.etag = Digest.hex(copied.digests.md5Digest())
        object.partCount = nil
        if let checksum = copied.digests.checksum { object.checksum = ObjectChecksum(algorithm: checksum.algorithm.rawValue, value: checksum.base64()) }
        if replaceMetadata { object.attributes = attributes() }
        if replaceTags { object.tags = header("x-amz-tagging").map(S3XML.parseTaggingHeader) ?? [] }
        let stored: ObjectRecord
        let change = objectChange("ObjectCreated:Copy")
        do throws(AWSError) {
            let (obsolete, record) = try await committer.write { [object] root, m throws(AWSError) in
                var record = object
                record.lastModified = m.now
                let replaced = try root.s3.putObject(record, changes: &m.changes)
                change.notify(&root, key: record.key, object: record, m: &m)
                return (replaced, record)
            }
            stored = record
            files.remove(obsolete)
        } catch {
            await releaseUncommitted(copied.file)
            throw error
        }
        return xmlAnswer(
            S3XML.document("CopyObjectResult") { xml in
                xml.element("LastModified", S3XML.timestamp(stored.lastModified))
                xml.element("ETag", S3XML.quoted(stored.etag))
                if let checksum = stored.checksum { xml.element("Checksum" + checksum.algorithm, checksum.value) }
            })
    }
}
