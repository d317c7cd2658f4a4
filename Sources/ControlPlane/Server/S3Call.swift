import Archives
import AWSProtocols
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3
import S3Notifications
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
    /// The peer's address, as event notifications give it.
    let sourceAddress: String
    /// What the signature says of the body (set once the request is authenticated).
    var bodyForm: SigV4Verifier.S3Body = .unsigned
    /// Who signed the request (nil when authentication is off), as event notifications name them.
    var caller: Caller?

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
        call.caller = principal?.caller
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
            let change = objectChange("ObjectRemoved:Delete")
            let obsolete = try await committer.write { root, m throws(AWSError) in
                let existed = root.s3.contents[bucket]?.byKey[key] != nil
                let files = try root.s3.deleteObject(bucket: bucket, key: key, changes: &m.changes)
                if existed { change.notify(&root, key: key, object: nil, m: &m) }
                return files
            }
            files.remove(obsolete)
            return answer(status: 204)
        case .getBucketNotificationConfiguration:
            let record = try await committer.read { root, _ throws(AWSError) in try root.s3.bucket(bucket) }
            return xmlAnswer(S3XML.notification(record.notification))
        case .putBucketNotificationConfiguration:
            let configuration = try S3XML.parseNotification(try await readDocument())
            let skip = header("x-amz-skip-destination-validation") == "true"
            try await committer.write { [requestId] root, m throws(AWSError) in
                try root.putBucketNotification(
                    bucket: bucket, configuration, skipDestinationValidation: skip, requestId: requestId, now: m.now, using: &m.random, changes: &m.changes)
            }
            return answer()
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
        case .uploadPartCopy: return try await uploadPartCopy(principal: principal)
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

/// A change a request makes to an object, told to its bucket's notification destinations in the
/// commit that makes it (``ObjectEvent``).
struct ObjectChange: Sendable {
    let name: String
    let bucket: String
    let requestId: String
    let principalId: String
    let account: String
    let sourceAddress: String

    func notify(_ root: inout ControlPlaneState, key: String, object: ObjectRecord?, m: inout Mutation) {
        guard root.s3.buckets[bucket]?.notification != nil else { return }
        let event = ObjectEvent(
            name: name, bucket: bucket, key: key, size: object?.size, etag: object?.etag, time: m.now, requestId: requestId, principalId: principalId,
            sourceIPAddress: sourceAddress, sequencer: ObjectEvent.sequencer(at: m.now))
        root.notify(event, requester: account, now: m.now, using: &m.random, changes: &m.changes)
    }
}

extension S3Call {
    /// The change this request makes, by S3's event name (`ObjectCreated:Put`, …).
    func objectChange(_ name: String) -> ObjectChange {
        let account = endpoint.names.accountId
        return ObjectChange(name: name, bucket: bucket, requestId: requestId, principalId: "AWS:" + (caller?.userId ?? account), account: account,
            sourceAddress: sourceAddress)
    }
}
