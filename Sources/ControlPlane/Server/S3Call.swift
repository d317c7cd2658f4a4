import Archives
import AWSProtocols
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3
import SigV4
import StevedoreCore

/// One S3 request being answered: authenticated and authorized first, then its operation, with
/// its body streamed (objects) or read whole (XML and policy documents).
struct S3Call: Sendable {
    let endpoint: S3Endpoint
    let request: Request
    let operation: S3Operation
    let bucket: String
    let key: String
    let query: [String: String]
    let requestId: String
    let bodyUse: BodyUse
    /// What the signature says of the body (set once the request is authenticated).
    var bodyForm: SigV4Verifier.S3Body = .unsigned

    var committer: Committer<ControlPlaneState> { endpoint.committer }
    var files: ObjectFiles { endpoint.files }

    func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { request.headers[$0] }
    }

    /// The request as its signature covers it (no body: that is checked as it streams).
    var signable: SignableRequest {
        var headers: [(name: String, value: String)] = []
        if let authority = request.head.authority { headers.append(("host", authority)) }
        for field in request.headers { headers.append((field.name.canonicalName, field.value)) }
        return SignableRequest(method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "", headers: headers)
    }

    func run() async throws(AWSError) -> Response {
        let signable = self.signable
        let body: SigV4Verifier.S3Body
        var principal: AccessKeyring.Principal?
        if let authenticator = endpoint.authenticator, query["AWSAccessKeyId"] != nil, query["Signature"] != nil {
            // A presigned URL of the older form (the aws CLI v1's `s3 presign` makes these).
            let parameters = request.uri.queryParameters.map { (name: String($0.key), value: String($0.value)) }
            switch authenticator.authenticateS3PresignedV2(
                method: request.method.rawValue, rawPath: request.uri.path, query: parameters, header: header,
                headerNames: request.headers.map(\.name.canonicalName), virtualHostBucket: S3Address.virtualHostBucket(request.head.authority))
            {
            case .failure(let refusal): throw refusal
            case .success(let signer): principal = signer
            }
            body = .unsigned
            if let principal, let refusal = authorize(principal, operation: operation) { throw refusal }
        } else if let authenticator = endpoint.authenticator {
            switch authenticator.authenticateS3(signable, queryToken: query["X-Amz-Security-Token"]) {
            case .failure(let refusal): throw refusal
            case .success(let (signer, declared)):
                principal = signer
                body = declared
            }
            if let principal, let refusal = authorize(principal, operation: operation) { throw refusal }
        } else {
            body = SigV4Verifier.declaredS3Body(signable)
        }
        var call = self
        call.bodyForm = body
        return try await call.perform(principal: principal)
    }

    /// The operation, once its caller is known and allowed.
    func perform(principal: AccessKeyring.Principal?) async throws(AWSError) -> Response {
        let body = bodyForm
        switch operation {
        case .listBuckets: return try await listBuckets()
        case .createBucket: return try await createBucket()
        case .headBucket:
            let record = try await committer.read { root, _ throws(AWSError) in try root.s3.bucket(bucket) }
            return answer(headers: [("x-amz-bucket-region", record.region)])
        case .deleteBucket:
            let obsolete = try await committer.write { root, m throws(AWSError) in try root.s3.deleteBucket(bucket, changes: &m.changes) }
            files.remove(obsolete)
            return answer(status: 204)
        case .getBucketLocation:
            let record = try await committer.read { root, _ throws(AWSError) in try root.s3.bucket(bucket) }
            // us-east-1 answers an empty constraint, as S3 does.
            let region = record.region == "us-east-1" ? "" : XMLWriter.escape(record.region)
            return xmlAnswer(Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"\(S3XML.namespace)\">\(region)</LocationConstraint>".utf8))
        case .getBucketVersioning:
            _ = try await committer.read { root, _ throws(AWSError) in try root.s3.bucket(bucket) }
            return xmlAnswer(S3XML.document("VersioningConfiguration") { _ in })
        case .listObjects, .listObjectsV2: return try await list(version2: operation == .listObjectsV2)
        case .getBucketPolicy:
            let record = try await committer.read { root, _ throws(AWSError) in try root.s3.bucket(bucket) }
            guard let policy = record.policy else { throw S3Error.noSuchBucketPolicy }
            return answer(headers: [("Content-Type", "application/json")], body: Array(policy.utf8))
        case .putBucketPolicy:
            let document = try await readDocument()
            guard let policy = String(validating: document, as: UTF8.self) else { throw S3Error.malformedXML }
            try await committer.write { root, m throws(AWSError) in try root.s3.setBucketPolicy(bucket, policy: policy, changes: &m.changes) }
            return answer(status: 204)
        case .deleteBucketPolicy:
            try await committer.write { root, m throws(AWSError) in try root.s3.setBucketPolicy(bucket, policy: nil, changes: &m.changes) }
            return answer(status: 204)
        case .getBucketTagging:
            let record = try await committer.read { root, _ throws(AWSError) in try root.s3.bucket(bucket) }
            guard let tags = record.tags else { throw S3Error.noSuchTagSet }
            return xmlAnswer(S3XML.tagging(tags))
        case .putBucketTagging:
            let tags = try S3XML.parseTagging(try await readDocument())
            try await committer.write { root, m throws(AWSError) in try root.s3.setBucketTags(bucket, tags: tags, changes: &m.changes) }
            return answer(status: 204)
        case .deleteBucketTagging:
            try await committer.write { root, m throws(AWSError) in try root.s3.setBucketTags(bucket, tags: nil, changes: &m.changes) }
            return answer(status: 204)
        case .listMultipartUploads: return try await listUploads()
        case .deleteObjects: return try await deleteObjects(principal: principal)
        case .putObject: return try await putObject(body)
        case .copyObject: return try await copyObject(principal: principal)
        case .getObject, .headObject: return try await getObject(head: operation == .headObject)
        case .deleteObject:
            let obsolete = try await committer.write { root, m throws(AWSError) in try root.s3.deleteObject(bucket: bucket, key: key, changes: &m.changes) }
            files.remove(obsolete)
            return answer(status: 204)
        case .getObjectTagging:
            let object = try await committer.read { root, _ throws(AWSError) in try root.s3.object(bucket: bucket, key: key) }
            return xmlAnswer(S3XML.tagging(object.tags))
        case .putObjectTagging:
            let tags = try S3XML.parseTagging(try await readDocument())
            guard tags.count <= 10 else { throw AWSError(type: "BadRequest", message: "Object tags cannot be greater than 10", httpStatus: 400) }
            try await committer.write { root, m throws(AWSError) in try root.s3.setObjectTags(bucket: bucket, key: key, tags: tags, changes: &m.changes) }
            return answer()
        case .deleteObjectTagging:
            try await committer.write { root, m throws(AWSError) in try root.s3.setObjectTags(bucket: bucket, key: key, tags: [], changes: &m.changes) }
            return answer(status: 204)
        case .createMultipartUpload: return try await createUpload()
        case .uploadPart: return try await uploadPart(body)
        case .completeMultipartUpload: return try await completeUpload()
        case .abortMultipartUpload:
            let uploadId = query["uploadId"] ?? ""
            let obsolete = try await committer.write { root, m throws(AWSError) in
                try root.s3.abortUpload(uploadId, bucket: bucket, key: key, changes: &m.changes)
            }
            files.remove(obsolete)
            return answer(status: 204)
        case .listParts: return try await listParts()
        }
    }

    /// The up-front decision for an operation (DeleteObjects decides per key, once its keys are read).
    func authorize(_ principal: AccessKeyring.Principal, operation: S3Operation) -> AWSError? {
        guard operation != .deleteObjects else { return nil }
        return authorize(principal, action: operation.action, key: operation.onObject ? key : nil)
    }

    /// The policy decision for one action on this bucket or one of its keys, as S3's AccessDenied.
    func authorize(_ principal: AccessKeyring.Principal, action: String, key: String?, bucket: String? = nil) -> AWSError? {
        let resource = "arn:aws:s3:::" + (bucket ?? self.bucket) + (key.map { "/" + $0 } ?? "")
        let target = operation == .listBuckets ? "*" : resource
        guard let refusal = AccessPolicy.refusal(principal, RequestedAction(action: action) { target }, style: .restJSON) else { return nil }
        return AWSError(type: "AccessDenied", message: refusal.message, httpStatus: 403)
    }

    // MARK: Answers

    func answer(status: Int = 200, headers: [(String, String)] = [], body: [UInt8] = []) -> Response {
        var fields = S3Endpoint.baseHeaders(requestId)
        for (name, value) in headers { if let field = HTTPField.Name(name) { fields[field] = value } }
        return Response(status: HTTPResponse.Status(code: status), headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    func xmlAnswer(_ body: [UInt8], headers: [(String, String)] = []) -> Response {
        answer(headers: [("Content-Type", "application/xml")] + headers, body: body)
    }

    /// An XML or JSON document body, read whole (MalformedXML past the limit, as S3 answers).
    func readDocument() async throws(AWSError) -> [UInt8] {
        var request = self.request
        bodyUse.start()
        guard let buffer = try? await request.collectBody(upTo: S3Endpoint.documentLimit) else { throw S3Error.malformedXML }
        var bytes = Array(buffer.readableBytesView)
        switch bodyForm {
        case .unsigned: break
        case .hashed(let hash):
            guard Digest.hex(Digest.sha256(bytes)) == hash else { throw S3Error.contentSHA256Mismatch }
        case .chunked(var decoder):
            var payload: [UInt8] = []
            let fed: Result<Void, SignatureFailure> = bytes.withUnsafeBytes { raw in
                do throws(SignatureFailure) {
                    try decoder.feed(raw) { payload.append(contentsOf: $0) }
                    try decoder.finish(signable)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            if case .failure(let failure) = fed { throw failure.s3Error }
            bytes = payload
        }
        if let md5 = header("content-md5") {
            guard try ObjectChecksums.contentMD5(md5) == Digest.md5(bytes) else { throw S3Error.badDigest }
        }
        return bytes
    }
}

// MARK: Buckets

extension S3Call {
    func listBuckets() async throws(AWSError) -> Response {
        let buckets = try await committer.read { root, _ in root.s3.buckets.values.sorted { $0.name < $1.name } }
        return xmlAnswer(S3XML.listBuckets(buckets, owner: endpoint.ownerId))
    }

    func createBucket() async throws(AWSError) -> Response {
        let document = try await readDocument()
        var constraint: String?
        if !document.isEmpty {
            guard let root = XMLNode.parse(document), root.name == "CreateBucketConfiguration" else { throw S3Error.malformedXML }
            constraint = root.value("LocationConstraint")
        }
        let (name, location) = (bucket, constraint)
        try await committer.write { root, m throws(AWSError) in
            try root.s3.createBucket(name, locationConstraint: location, now: m.now, changes: &m.changes)
        }
        return answer(headers: [("Location", "/" + bucket)])
    }

    func list(version2: Bool) async throws(AWSError) -> Response {
        let encodeURL = query["encoding-type"] == "url"
        if let encoding = query["encoding-type"], encoding != "url" {
            throw S3Error.invalidArgument("Invalid Encoding Method specified in Request", name: "encoding-type", value: encoding)
        }
        var listQuery = ListQuery(prefix: query["prefix"] ?? "", delimiter: query["delimiter"] ?? "")
        if let text = query["max-keys"] {
            guard let value = Int(text), value >= 0 else {
                throw S3Error.invalidArgument("Provided max-keys not an integer or within integer range", name: "max-keys", value: text)
            }
            listQuery.maxKeys = min(value, 1000)
        }
        let token = query["continuation-token"]
        if version2 {
            if let token {
                guard let data = Data(base64Encoded: token), let after = String(data: data, encoding: .utf8) else {
                    throw S3Error.invalidArgument("The continuation token provided is incorrect", name: "continuation-token")
                }
                listQuery.after = after
            } else {
                listQuery.after = query["start-after"] ?? ""
            }
        } else {
            listQuery.after = query["marker"] ?? ""
        }
        let (name, asked) = (bucket, listQuery)
        let page = try await committer.read { root, _ throws(AWSError) in try root.s3.list(bucket: name, asked) }
        let text = { (value: String) in encodeURL ? PercentEncoding.encode(value, keepingSlashes: true) : value }
        let owner = endpoint.ownerId
        let body = S3XML.document("ListBucketResult") { xml in
            xml.element("Name", bucket)
            xml.element("Prefix", text(listQuery.prefix))
            if version2 {
                if let token { xml.element("ContinuationToken", token) }
                if let startAfter = query["start-after"] { xml.element("StartAfter", text(startAfter)) }
                xml.element("KeyCount", String(page.objects.count + page.commonPrefixes.count))
            } else {
                xml.element("Marker", text(listQuery.after))
            }
            xml.element("MaxKeys", String(listQuery.maxKeys))
            if !listQuery.delimiter.isEmpty { xml.element("Delimiter", text(listQuery.delimiter)) }
            if encodeURL { xml.element("EncodingType", "url") }
            xml.element("IsTruncated", page.isTruncated ? "true" : "false")
            if page.isTruncated, let last = page.last {
                if version2 {
                    xml.element("NextContinuationToken", Data(last.utf8).base64EncodedString())
                } else if !listQuery.delimiter.isEmpty {
                    xml.element("NextMarker", text(last))
                }
            }
            for object in page.objects {
                var entry = object
                entry.key = text(object.key)
                S3XML.objectEntry(entry, owner: version2 && query["fetch-owner"] != "true" ? nil : owner, into: &xml)
            }
            for prefix in page.commonPrefixes {
                xml.element("CommonPrefixes") { $0.element("Prefix", text(prefix)) }
            }
        }
        return xmlAnswer(body)
    }

    func listUploads() async throws(AWSError) -> Response {
        let name = bucket
        let prefix = query["prefix"] ?? ""
        let uploads = try await committer.read { root, _ throws(AWSError) in
            _ = try root.s3.bucket(name)
            return root.s3.uploads.values.filter { $0.bucket == name && $0.key.hasPrefix(prefix) }
                .sorted { $0.key == $1.key ? $0.initiated < $1.initiated : S3Order.precedes($0.key, $1.key) }
        }
        let owner = endpoint.ownerId
        return xmlAnswer(
            S3XML.document("ListMultipartUploadsResult") { xml in
                xml.element("Bucket", bucket)
                xml.element("KeyMarker", "")
                xml.element("UploadIdMarker", "")
                xml.element("NextKeyMarker", uploads.last?.key ?? "")
                xml.element("NextUploadIdMarker", uploads.last?.uploadId ?? "")
                if !prefix.isEmpty { xml.element("Prefix", prefix) }
                xml.element("MaxUploads", "1000")
                xml.element("IsTruncated", "false")
                for upload in uploads {
                    xml.element("Upload") { xml in
                        xml.element("Key", upload.key)
                        xml.element("UploadId", upload.uploadId)
                        xml.element("Initiator") { xml in
                            xml.element("ID", owner)
                            xml.element("DisplayName", "stevedore")
                        }
                        xml.element("Owner") { xml in
                            xml.element("ID", owner)
                            xml.element("DisplayName", "stevedore")
                        }
                        xml.element("StorageClass", "STANDARD")
                        xml.element("Initiated", S3XML.timestamp(upload.initiated))
                    }
                }
            })
    }

    func deleteObjects(principal: AccessKeyring.Principal?) async throws(AWSError) -> Response {
        guard header("content-md5") != nil || ChecksumAlgorithm.allCases.contains(where: { header($0.headerName) != nil }) else {
            throw S3Error.invalidRequest("Missing required header for this request: Content-Md5")
        }
        let document = try await readDocument()
        if let declared = try ObjectChecksums.declared({ header($0) }), let value = declared.value,
            Data(declared.algorithm.digest(document)).base64EncodedString() != value
        {
            throw S3Error.checksumMismatch(declared.algorithm.rawValue)
        }
        guard let root = XMLNode.parse(document), root.name == "Delete" else { throw S3Error.malformedXML }
        let objects = root.all("Object")
        guard !objects.isEmpty, objects.count <= 1000 else { throw S3Error.malformedXML }
        let quiet = root.value("Quiet") == "true"
        let bucketName = bucket
        _ = try await committer.read { root, _ throws(AWSError) in try root.s3.bucket(bucketName) }
        var keys: [String] = []
        var refused: [(key: String, error: AWSError)] = []
        for object in objects {
            guard let key = object.value("Key") else { throw S3Error.malformedXML }
            if let principal, let refusal = authorize(principal, action: "s3:DeleteObject", key: key) {
                refused.append((key, refusal))
            } else {
                keys.append(key)
            }
        }
        let name = bucket
        let chosen = keys
        let obsolete = try await committer.write { root, m throws(AWSError) in
            var files: [String] = []
            for key in chosen { files += try root.s3.deleteObject(bucket: name, key: key, changes: &m.changes) }
            return files
        }
        files.remove(obsolete)
        return xmlAnswer(
            S3XML.document("DeleteResult") { xml in
                if !quiet {
                    for key in keys { xml.element("Deleted") { $0.element("Key", key) } }
                }
                for (key, error) in refused {
                    xml.element("Error") { xml in
                        xml.element("Key", key)
                        xml.element("Code", error.type)
                        xml.element("Message", error.message)
                    }
                }
            })
    }
}

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
            throw AWSError(type: "InternalError", message: "We encountered an internal error. Please try again.", httpStatus: 500)
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
        do throws(AWSError) {
            let obsolete = try await committer.write { root, m throws(AWSError) in
                // Conditions again, on the object there is now: two conditional writes racing do not both win.
                if let refusal = Self.writeRefusal(existing: root.s3.contents[name]?.byKey[key], ifNoneMatch: ifNoneMatch, ifMatch: ifMatch, key: key) {
                    throw refusal
                }
                var stored = object
                stored.lastModified = m.now
                return try root.s3.putObject(stored, changes: &m.changes)
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
        throw AWSError(type: "InternalError", message: "We encountered an internal error. Please try again.", httpStatus: 500)
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
                throw AWSError(type: "InternalError", message: "We encountered an internal error. Please try again.", httpStatus: 500)
            }
            object = newer
            opened = reopened
        }
        do {
            if let small = try files.readSmall(opened, range: range) {
                return Response(status: HTTPResponse.Status(code: status), headers: fields, body: ResponseBody(byteBuffer: small))
            }
        } catch {
            throw AWSError(type: "InternalError", message: "We encountered an internal error. Please try again.", httpStatus: 500)
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

    func copyObject(principal: AccessKeyring.Principal?) async throws(AWSError) -> Response {
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
        let (name, key) = (bucket, self.key)
        _ = try await committer.read { root, _ throws(AWSError) in try root.s3.bucket(name) }
        let (original, opened) = try await openObject(bucket: sourceBucket, key: sourceKey)
        try S3State.validateKey(key)
        let conditions = ObjectReads.Conditions(
            ifMatch: header("x-amz-copy-source-if-match"), ifNoneMatch: header("x-amz-copy-source-if-none-match"),
            ifModifiedSince: header("x-amz-copy-source-if-modified-since").flatMap(HTTPDate.parse),
            ifUnmodifiedSince: header("x-amz-copy-source-if-unmodified-since").flatMap(HTTPDate.parse))
        guard ObjectReads.evaluate(conditions, etag: original.etag, lastModified: original.lastModified) == .proceed else {
            throw S3Error.preconditionFailed(header("x-amz-copy-source-if-match") != nil ? "x-amz-copy-source-If-Match" : "x-amz-copy-source-If-Unmodified-Since")
        }
        let replaceMetadata = header("x-amz-metadata-directive")?.uppercased() == "REPLACE"
        let replaceTags = header("x-amz-tagging-directive")?.uppercased() == "REPLACE"
        if sourceBucket == name, sourceKey == key, !replaceMetadata, !replaceTags {
            throw S3Error.invalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            )
        }
        let digests = ObjectDigests(sha256: false, checksum: original.checksum.flatMap { ChecksumAlgorithm(rawValue: $0.algorithm) })
        let copied: (file: String, digests: ObjectDigests)
        let writer: ObjectWriter
        do {
            writer = try files.create(digests: digests)
        } catch {
            throw AWSError(type: "InternalError", message: "We encountered an internal error. Please try again.", httpStatus: 500)
        }
        do {
            try await files.read(opened, range: nil) { buffer in try await writer.append(buffer) }
            copied = try await writer.finish()
        } catch {
            await writer.discard()
            throw AWSError(type: "InternalError", message: "We encountered an internal error. Please try again.", httpStatus: 500)
        }
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
        do throws(AWSError) {
            let (obsolete, record) = try await committer.write { [object] root, m throws(AWSError) in
                var record = object
                record.lastModified = m.now
                return (try root.s3.putObject(record, changes: &m.changes), record)
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

    func uploadPart(_ form: SigV4Verifier.S3Body) async throws(AWSError) -> Response {
        let uploadId = query["uploadId"] ?? ""
        guard let partText = query["partNumber"], let number = Int(partText), (1...S3State.maximumParts).contains(number) else {
            throw S3Error.invalidArgument(
                "Part number must be an integer between 1 and 10000, inclusive", name: "partNumber", value: query["partNumber"])
        }
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
        let (object, obsolete) = try await committer.write { root, m throws(AWSError) in
            try root.s3.completeUpload(uploadId, bucket: name, key: key, parts: chosen, now: m.now, changes: &m.changes)
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
