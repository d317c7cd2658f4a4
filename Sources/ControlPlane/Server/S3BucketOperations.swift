import Archives
import AWSProtocols
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3
import SigV4
import StevedoreCore

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
        let (keyMarker, uploadIdMarker) = (query["key-marker"], query["upload-id-marker"])
        var maximum = 1000
        if let text = query["max-uploads"] {
            guard let value = Int(text), value >= 0 else {
                throw S3Error.invalidArgument("Provided max-uploads not an integer or within integer range", name: "max-uploads", value: text)
            }
            maximum = min(value, 1000)
        }
        let limit = maximum
        let (uploads, truncated) = try await committer.read { root, _ throws(AWSError) in
            try root.s3.uploadsPage(bucket: name, prefix: prefix, keyMarker: keyMarker, uploadIdMarker: uploadIdMarker, maximum: limit)
        }
        let owner = endpoint.ownerId
        return xmlAnswer(
            S3XML.document("ListMultipartUploadsResult") { xml in
                xml.element("Bucket", bucket)
                xml.element("KeyMarker", keyMarker ?? "")
                xml.element("UploadIdMarker", uploadIdMarker ?? "")
                xml.element("NextKeyMarker", uploads.last?.key ?? "")
                xml.element("NextUploadIdMarker", uploads.last?.uploadId ?? "")
                if !prefix.isEmpty { xml.element("Prefix", prefix) }
                xml.element("MaxUploads", String(maximum))
                xml.element("IsTruncated", truncated ? "true" : "false")
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
        let change = objectChange("ObjectRemoved:Delete")
        let obsolete = try await committer.write { root, m throws(AWSError) in
            var files: [String] = []
            for key in chosen {
                let existed = root.s3.contents[name]?.byKey[key] != nil
                files += try root.s3.deleteObject(bucket: name, key: key, changes: &m.changes)
                if existed { change.notify(&root, key: key, object: nil, m: &m) }
            }
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
