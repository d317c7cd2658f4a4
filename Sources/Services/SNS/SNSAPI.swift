#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSProtocols
import StevedoreCore

/// SNS (query protocol, version 2010-03-31) as `aws sns` and boto3 call it: topics,
/// subscriptions (SQS queues, Lambda functions, HTTP and HTTPS endpoints), Publish and PublishBatch.
public enum SNSAPI {
    public static let namespace = "http://sns.amazonaws.com/doc/2010-03-31/"
    public static let version = "2010-03-31"

    /// - Parameter published: called after a write that may have queued functions' invocations
    ///   or HTTP deliveries (wakes those that make them).
    public static func service<Committer: StateCommitting>(committer: Committer, published: @escaping @Sendable () -> Void) -> QueryService
    where Committer.Root: SNSHost {
        var service = QueryService(namespace: namespace, version: version)
        @Sendable func write<Result: Sendable>(_ body: @escaping @Sendable (inout Committer.Root, inout Mutation) throws(AWSError) -> Result)
            async throws(AWSError) -> Result
        {
            try await committer.write(body)
        }
        @Sendable func read<Result: Sendable>(_ body: @escaping @Sendable (SNSState) throws(AWSError) -> Result) async throws(AWSError) -> Result {
            try await committer.read { root, _ throws(AWSError) in try body(root.sns) }
        }

        // Topics
        service.action("CreateTopic") { request, _ throws(AWSError) in
            let name = try request.required("Name")
            let (attributes, tags) = (request.map("Attributes"), request.tags("Tags"))
            let arn = try await write { root, m throws(AWSError) in try root.sns.createTopic(name: name, attributes: attributes, tags: tags, changes: &m.changes) }
            var xml = XMLWriter()
            xml.element("TopicArn", arn)
            return xml
        }
        service.actionWithoutResult("DeleteTopic") { request, _ throws(AWSError) in
            let arn = try request.required("TopicArn")
            try await write { root, m throws(AWSError) in try root.sns.deleteTopic(arn: arn, changes: &m.changes) }
        }
        service.action("ListTopics") { request, _ throws(AWSError) in
            let token = request["NextToken"]
            let all = try await read { sns in sns.topics.keys.sorted().map { sns.names.topic($0) } }
            let (page, next) = try page(all, token: token)
            var xml = XMLWriter()
            xml.element("Topics") { xml in for arn in page { xml.element("member") { $0.element("TopicArn", arn) } } }
            xml.element("NextToken", next)
            return xml
        }
        service.action("GetTopicAttributes") { request, _ throws(AWSError) in
            let arn = try request.required("TopicArn")
            return attributesXML(try await read { sns throws(AWSError) in try sns.topicAttributes(arn: arn) })
        }
        service.actionWithoutResult("SetTopicAttributes") { request, _ throws(AWSError) in
            let (arn, name, value) = (try request.required("TopicArn"), try request.required("AttributeName"), request["AttributeValue"] ?? "")
            try await write { root, m throws(AWSError) in try root.sns.setTopicAttribute(arn: arn, name: name, value: value, changes: &m.changes) }
        }

        // Subscriptions
        service.action("Subscribe") { request, _ throws(AWSError) in
            let (arn, kind) = (try request.required("TopicArn"), try request.required("Protocol"))
            let (endpoint, attributes, returnArn) = (request["Endpoint"], request.map("Attributes"), request["ReturnSubscriptionArn"] == "true")
            var system = SystemRandomNumberGenerator()
            let token = Identifiers.hex32(using: &system) + Identifiers.hex32(using: &system)
            let subscription = try await write { root, m throws(AWSError) in
                try root.sns.subscribe(
                    topicArn: arn, protocol: kind, endpoint: endpoint, attributes: attributes, returnArn: returnArn, token: token, now: m.now,
                    using: &m.random, changes: &m.changes)
            }
            published()
            var xml = XMLWriter()
            xml.element("SubscriptionArn", subscription)
            return xml
        }
        service.action("ConfirmSubscription") { request, _ throws(AWSError) in
            let (arn, token) = (try request.required("TopicArn"), try request.required("Token"))
            let subscription = try await write { root, m throws(AWSError) in try root.sns.confirmSubscription(topicArn: arn, token: token, changes: &m.changes) }
            var xml = XMLWriter()
            xml.element("SubscriptionArn", subscription)
            return xml
        }
        service.actionWithoutResult("Unsubscribe") { request, _ throws(AWSError) in
            let arn = try request.required("SubscriptionArn")
            try await write { root, m throws(AWSError) in try root.sns.unsubscribe(arn, changes: &m.changes) }
        }
        for (action, byTopic) in [("ListSubscriptions", false), ("ListSubscriptionsByTopic", true)] {
            service.action(action) { request, _ throws(AWSError) in
                let topic = byTopic ? try request.required("TopicArn") : nil
                let token = request["NextToken"]
                let all = try await read { sns throws(AWSError) in try sns.subscriptions(topicArn: topic).map { ($0.topicArn, $0.1) } }
                let (page, next) = try page(all, token: token)
                var xml = XMLWriter()
                xml.element("Subscriptions") { xml in
                    for (topicArn, subscription) in page {
                        xml.element("member") { xml in
                            xml.element("SubscriptionArn", subscription.confirmed ? subscription.arn : "PendingConfirmation")
                            xml.element("Owner", topicArn.split(separator: ":", omittingEmptySubsequences: false).dropFirst(4).first.map(String.init))
                            xml.element("Protocol", subscription.protocol)
                            xml.element("Endpoint", subscription.endpoint)
                            xml.element("TopicArn", topicArn)
                        }
                    }
                }
                xml.element("NextToken", next)
                return xml
            }
        }
        service.action("GetSubscriptionAttributes") { request, _ throws(AWSError) in
            let arn = try request.required("SubscriptionArn")
            return attributesXML(try await read { sns throws(AWSError) in try sns.subscriptionAttributes(arn) })
        }
        service.actionWithoutResult("SetSubscriptionAttributes") { request, _ throws(AWSError) in
            let (arn, name, value) = (try request.required("SubscriptionArn"), try request.required("AttributeName"), request["AttributeValue"] ?? "")
            try await write { root, m throws(AWSError) in try root.sns.setSubscriptionAttribute(arn, name: name, value: value, changes: &m.changes) }
        }

        // Publishing
        service.action("Publish") { request, _ throws(AWSError) in
            guard let arn = request["TopicArn"] ?? request["TargetArn"] else {
                throw .snsInvalidParameter(request["PhoneNumber"] != nil ? "SMS is not supported by Stevedore" : "TopicArn or TargetArn Reason: no value for required parameter")
            }
            let message = try request.required("Message")
            let (subject, structure) = (request["Subject"], request["MessageStructure"])
            let attributes = try request.messageAttributes("MessageAttributes")
            let id = try await write { root, m throws(AWSError) in
                try root.publish(
                    topicArn: arn, message: message, subject: subject, structure: structure, attributes: attributes, now: m.now, using: &m.random,
                    changes: &m.changes)
            }
            published()
            var xml = XMLWriter()
            xml.element("MessageId", id)
            return xml
        }
        service.action("PublishBatch") { request, _ throws(AWSError) in
            let arn = try request.required("TopicArn")
            let entries = try request.batchEntries("PublishBatchRequestEntries")
            guard !entries.isEmpty else {
                throw AWSError(type: "EmptyBatchRequest", message: "The batch request doesn't contain any entries.")
            }
            guard entries.count <= 10 else {
                throw AWSError(type: "TooManyEntriesInBatchRequest", message: "The batch request contains more entries than permissible.")
            }
            guard Set(entries.map(\.id)).count == entries.count else {
                throw AWSError(type: "BatchEntryIdsNotDistinct", message: "Two or more batch entries in the request have the same Id.")
            }
            for entry in entries where !(1...80).contains(entry.id.count) || !entry.id.utf8.allSatisfy(NameRules.isNameByte) {
                throw AWSError(type: "InvalidBatchEntryId", message: "The Id of a batch entry in a batch request doesn't abide by the specification.")
            }
            let total = entries.reduce(0) { $0 + ($1.message?.utf8.count ?? 0) }
            guard total <= 262_144 else {
                throw AWSError(type: "BatchRequestTooLong", message: "The length of all the messages put together is more than the limit.")
            }
            let results = try await write { root, m throws(AWSError) in
                _ = try root.sns.topic(arn: arn)
                return entries.map { entry -> (String, Result<String, AWSError>) in
                    do throws(AWSError) {
                        let id = try root.publish(
                            topicArn: arn, message: entry.message ?? "", subject: entry.subject, structure: entry.structure, attributes: entry.attributes,
                            now: m.now, using: &m.random, changes: &m.changes)
                        return (entry.id, .success(id))
                    } catch {
                        return (entry.id, .failure(error))
                    }
                }
            }
            published()
            var xml = XMLWriter()
            xml.element("Successful") { xml in
                for (id, result) in results {
                    if case .success(let messageId) = result { xml.element("member") { $0.element("Id", id); $0.element("MessageId", messageId) } }
                }
            }
            xml.element("Failed") { xml in
                for (id, result) in results {
                    if case .failure(let error) = result {
                        xml.element("member") { xml in
                            xml.element("Id", id)
                            xml.element("Code", error.type)
                            xml.element("Message", error.message)
                            xml.element("SenderFault", "true")
                        }
                    }
                }
            }
            return xml
        }

        // Tags
        service.actionWithoutResult("TagResource") { request, _ throws(AWSError) in
            let (arn, tags) = (try request.required("ResourceArn"), request.tags("Tags"))
            try await write { root, m throws(AWSError) in try root.sns.tag(arn: arn, tags: tags, remove: [], changes: &m.changes) }
        }
        service.actionWithoutResult("UntagResource") { request, _ throws(AWSError) in
            let (arn, keys) = (try request.required("ResourceArn"), request.list("TagKeys"))
            try await write { root, m throws(AWSError) in try root.sns.tag(arn: arn, tags: [:], remove: keys, changes: &m.changes) }
        }
        service.action("ListTagsForResource") { request, _ throws(AWSError) in
            let arn = try request.required("ResourceArn")
            let tags = try await read { sns throws(AWSError) in try sns.topic(arn: arn).tags }
            var xml = XMLWriter()
            xml.element("Tags") { xml in
                for key in tags.keys.sorted() { xml.element("member") { $0.element("Key", key); $0.element("Value", tags[key]) } }
            }
            return xml
        }
        return service
    }

    static func attributesXML(_ attributes: [String: String]) -> XMLWriter {
        var xml = XMLWriter()
        xml.element("Attributes") { xml in
            for key in attributes.keys.sorted() {
                xml.element("entry") { $0.element("key", key); $0.element("value", attributes[key]) }
            }
        }
        return xml
    }

    /// 100 to a page, as SNS lists them.
    static func page<Item>(_ all: [Item], token: String?) throws(AWSError) -> ([Item], String?) {
        let start = token.map { Int($0) ?? -1 } ?? 0
        guard (0...all.count).contains(start) else { throw .snsInvalidParameter("NextToken") }
        let end = min(all.count, start + 100)
        return (Array(all[start..<end]), end < all.count ? String(end) : nil)
    }
}

/// SNS's flattened maps and entries in query requests.
extension QueryRequest {
    /// `Name.entry.N.key` / `Name.entry.N.value`.
    func map(_ name: String) -> [String: String] {
        var result: [String: String] = [:]
        for index in 1...200 {
            guard let key = self["\(name).entry.\(index).key"] else { break }
            result[key] = self["\(name).entry.\(index).value"] ?? ""
        }
        return result
    }

    /// `Name.member.N.Key` / `Name.member.N.Value`.
    func tags(_ name: String) -> [String: String] {
        var result: [String: String] = [:]
        for index in 1...200 {
            guard let key = self["\(name).member.\(index).Key"] else { break }
            result[key] = self["\(name).member.\(index).Value"] ?? ""
        }
        return result
    }

    /// `Name.entry.N.Name`, `.Value.DataType`, `.Value.StringValue`, `.Value.BinaryValue` (base64).
    func messageAttributes(_ name: String) throws(AWSError) -> [String: SNSMessageAttribute] {
        var result: [String: SNSMessageAttribute] = [:]
        for index in 1...200 {
            let prefix = "\(name).entry.\(index)"
            guard let attribute = self["\(prefix).Name"] else { break }
            guard let type = self["\(prefix).Value.DataType"] else {
                throw .snsInvalidParameter("The message attribute '\(attribute)' must contain non-empty message attribute type.")
            }
            var binary: Data?
            if let encoded = self["\(prefix).Value.BinaryValue"] {
                guard let data = Data(base64Encoded: encoded) else { throw .snsInvalidParameter("The message attribute '\(attribute)' has an invalid binary value.") }
                binary = data
            }
            result[attribute] = SNSMessageAttribute(dataType: type, stringValue: self["\(prefix).Value.StringValue"], binaryValue: binary)
        }
        return result
    }

    struct BatchEntry: Sendable {
        var id: String
        var message: String?
        var subject: String?
        var structure: String?
        var attributes: [String: SNSMessageAttribute]
    }

    func batchEntries(_ name: String) throws(AWSError) -> [BatchEntry] {
        var entries: [BatchEntry] = []
        for index in 1...20 {
            let prefix = "\(name).member.\(index)"
            guard let id = self["\(prefix).Id"] else { break }
            entries.append(
                BatchEntry(
                    id: id, message: self["\(prefix).Message"], subject: self["\(prefix).Subject"], structure: self["\(prefix).MessageStructure"],
                    attributes: try messageAttributes("\(prefix).MessageAttributes")))
        }
        return entries
    }
}
