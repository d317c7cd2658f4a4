#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// A change to an object, told to the destinations of its bucket's notification configuration
/// in S3's event message (version 2.1) or, on EventBridge, as S3's "Object Created" and "Object
/// Deleted" events.
public struct ObjectEvent: Sendable, Equatable {
    /// `ObjectCreated:Put`, `ObjectCreated:Copy`, `ObjectCreated:CompleteMultipartUpload`, `ObjectRemoved:Delete`.
    public var name: String
    public var bucket: String
    public var key: String
    /// Absent for removals.
    public var size: Int?
    public var etag: String?
    public var time: Date
    public var requestId: String
    /// The caller: `AWS:` and its user id (the account id for the root).
    public var principalId: String
    public var sourceIPAddress: String
    /// Orders events on the same key: later changes have greater sequencers (hex, compared as strings).
    public var sequencer: String

    public init(
        name: String, bucket: String, key: String, size: Int? = nil, etag: String? = nil, time: Date, requestId: String, principalId: String,
        sourceIPAddress: String, sequencer: String
    ) {
        self.name = name
        self.bucket = bucket
        self.key = key
        self.size = size
        self.etag = etag
        self.time = time
        self.requestId = requestId
        self.principalId = principalId
        self.sourceIPAddress = sourceIPAddress
        self.sequencer = sequencer
    }

    /// A sequencer from a change's time: 16 hex digits of nanoseconds, growing with time.
    public static func sequencer(at time: Date) -> String {
        let nanoseconds = UInt64(max(0, time.timeIntervalSince1970 * 1_000_000_000))
        let hex = String(nanoseconds, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 16 - hex.count)) + hex
    }

    /// The key as S3's event messages carry it: URL-encoded as a form encodes it (spaces as `+`).
    public static func eventKey(_ key: String) -> String {
        var encoded = ""
        for byte in key.utf8 {
            switch byte {
            case UInt8(ascii: " "): encoded += "+"
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "*"), UInt8(ascii: "/"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                encoded += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return encoded
    }

    /// S3's event message for one destination: `{"Records": [one record]}`.
    public func message(configurationId: String, names: ResourceNames, ownerId: String) -> String {
        var object: [(String, Document)] = [("key", .string(Self.eventKey(key)))]
        if let size { object.append(("size", .integer(size))) }
        if let etag { object.append(("eTag", .string(etag))) }
        object.append(("sequencer", .string(sequencer)))
        let record: Document = .object([
            ("eventVersion", .string("2.1")), ("eventSource", .string("aws:s3")), ("awsRegion", .string(names.region)),
            ("eventTime", .string(S3XML.timestamp(time))), ("eventName", .string(name)),
            ("userIdentity", .object([("principalId", .string(principalId))])),
            ("requestParameters", .object([("sourceIPAddress", .string(sourceIPAddress))])),
            ("responseElements", .object([("x-amz-request-id", .string(requestId)), ("x-amz-id-2", .string(S3XML.hostId(requestId)))])),
            (
                "s3",
                .object([
                    ("s3SchemaVersion", .string("1.0")), ("configurationId", .string(configurationId)),
                    (
                        "bucket",
                        .object([
                            ("name", .string(bucket)), ("ownerIdentity", .object([("principalId", .string(ownerId))])),
                            ("arn", .string("arn:\(names.partition):s3:::\(bucket)")),
                        ])
                    ),
                    ("object", .object(object)),
                ])
            ),
        ])
        return Document.object([("Records", .array([record]))]).json()
    }

    /// S3's EventBridge detail type for the event, or nil for one EventBridge is not told of.
    public var detailType: String? {
        if name.hasPrefix("ObjectCreated:") { return "Object Created" }
        if name.hasPrefix("ObjectRemoved:") { return "Object Deleted" }
        return nil
    }

    /// The detail of S3's EventBridge event; `requester` is the caller's account.
    public func detail(requester: String) -> String {
        var object: [(String, Document)] = [("key", .string(key))]
        if let size { object.append(("size", .integer(size))) }
        if let etag { object.append(("etag", .string(etag))) }
        object.append(("sequencer", .string(sequencer.lowercased())))
        var fields: [(String, Document)] = [
            ("version", .string("0")), ("bucket", .object([("name", .string(bucket))])), ("object", .object(object)),
            ("request-id", .string(requestId)), ("requester", .string(requester)), ("source-ip-address", .string(sourceIPAddress)),
            ("reason", .string(reason)),
        ]
        if name.hasPrefix("ObjectRemoved:") { fields.append(("deletion-type", .string("Permanently Deleted"))) }
        return Document.object(fields).json()
    }

    /// The operation that made the change, as EventBridge's `reason` names it.
    var reason: String {
        switch name {
        case "ObjectCreated:Copy": "CopyObject"
        case "ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload"
        case "ObjectCreated:Post": "PostObject"
        case "ObjectRemoved:Delete": "DeleteObject"
        default: "PutObject"
        }
    }

    /// The message S3 sends queues and topics when a configuration naming them is put.
    public static func testEvent(bucket: String, requestId: String, time: Date) -> String {
        Document.object([
            ("Service", .string("Amazon S3")), ("Event", .string("s3:TestEvent")), ("Time", .string(S3XML.timestamp(time))),
            ("Bucket", .string(bucket)), ("RequestId", .string(requestId)), ("HostId", .string(S3XML.hostId(requestId))),
        ]).json()
    }
}
