#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Archives
import Lambda
import SQS
import SQSShapes
import StevedoreCore

/// A message attribute as Publish takes it (`String`, `String.Array`, `Number`, `Binary`).
public struct SNSMessageAttribute: Sendable, Equatable {
    public var dataType: String
    public var stringValue: String?
    public var binaryValue: Data?

    public init(dataType: String, stringValue: String? = nil, binaryValue: Data? = nil) {
        self.dataType = dataType
        self.stringValue = stringValue
        self.binaryValue = binaryValue
    }

    /// The value as filter policies see it: a number for `Number`, the array for `String.Array`.
    var filterValue: JSONValue? {
        switch dataType.split(separator: ".").first ?? "" {
        case "Number": return stringValue.flatMap(Double.init).map(JSONValue.number)
        case "Binary": return nil
        default:
            if dataType == "String.Array", let text = stringValue, case .array(let items)? = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) {
                return .array(items)
            }
            return stringValue.map(JSONValue.string)
        }
    }
}

/// What Publish gives each subscriber, and how.
extension SNSHost {
    /// Publishes to every confirmed subscription of the topic whose filter policy takes the
    /// message: queues get their message and functions their invocation in this commit; HTTP(S)
    /// endpoints a durable delivery. Returns the message id.
    public mutating func publish(
        topicArn: String, message: String, subject: String?, structure: String?, attributes: [String: SNSMessageAttribute], now: Date,
        using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) throws(AWSError) -> String {
        let topic = try sns.topic(arn: topicArn)
        try SNSMessages.validate(message: message, subject: subject, attributes: attributes)
        var perProtocol: [String: String] = [:]
        if let structure {
            guard structure == "json" else { throw .snsInvalidParameter("MessageStructure") }
            guard case .object(let fields)? = try? JSONDecoder().decode(JSONValue.self, from: Data(message.utf8)) else {
                throw .snsInvalidParameter("Message Structure - JSON message body failed to parse")
            }
            guard case .string? = fields["default"] else { throw .snsInvalidParameter("Message Structure - No default entry in JSON message body") }
            for (key, value) in fields { if case .string(let text) = value { perProtocol[key] = text } }
        }
        let messageId = Identifiers.uuid(using: &generator)
        for subscription in topic.subscriptions.values.sorted(by: { $0.arn < $1.arn }) where subscription.confirmed {
            let text = perProtocol[subscription.protocol] ?? perProtocol["default"] ?? message
            guard SNSMessages.passes(subscription, message: text, attributes: attributes) else { continue }
            let notification = SNSMessages.notification(
                messageId: messageId, topicArn: topicArn, subject: subject, message: text, attributes: attributes, now: now,
                unsubscribeURL: "\(sns.endpoint)/?Action=Unsubscribe&SubscriptionArn=\(PercentEncoding.encode(subscription.arn))")
            switch subscription.protocol {
            case "sqs":
                let queue = subscription.endpoint.split(separator: ":").last.map(String.init) ?? ""
                guard sqs.queues[queue] != nil else { continue }
                let raw = subscription.attributes["RawMessageDelivery"] == "true"
                var sqsAttributes: [String: SQSMessageAttributeValue] = [:]
                if raw {
                    for (name, value) in attributes {
                        sqsAttributes[name] = SQSMessageAttributeValue(StringValue: value.stringValue, BinaryValue: value.binaryValue, DataType: value.dataType)
                    }
                }
                _ = try? sqs.sendMessage(
                    SQSSendMessageRequest(QueueUrl: sqs.queueUrl(queue), MessageBody: raw ? text : notification, MessageAttributes: sqsAttributes.isEmpty ? nil : sqsAttributes),
                    now: now, using: &generator, changes: &changes)
            case "lambda":
                guard let (name, qualifier) = try? FunctionNames.parse(subscription.endpoint), lambda.functions[name] != nil else { continue }
                let event = SNSMessages.lambdaEvent(
                    subscriptionArn: subscription.arn, messageId: messageId, topicArn: topicArn, subject: subject, message: text, attributes: attributes,
                    now: now, unsubscribeURL: "\(sns.endpoint)/?Action=Unsubscribe&SubscriptionArn=\(PercentEncoding.encode(subscription.arn))")
                lambda.enqueueAsyncEvent(
                    AsyncEventRecord(requestId: Identifiers.uuid(using: &generator), functionName: name, qualifier: qualifier, payload: Data(event.utf8), enqueuedAt: now),
                    changes: &changes)
                changes.touch(.snsInvocations)
            default:
                sns.enqueueHTTP(
                    HTTPDeliveryRecord(
                        id: Identifiers.uuid(using: &generator), subscriptionArn: subscription.arn, url: subscription.endpoint,
                        messageType: "Notification", messageId: messageId, topicArn: topicArn,
                        body: subscription.attributes["RawMessageDelivery"] == "true" ? text : notification, nextAttemptAt: now),
                    changes: &changes)
            }
        }
        return messageId
    }
}

extension SNSState {
    /// HTTP(S) deliveries whose next attempt is due.
    public func dueHTTPDeliveries(now: Date, excluding busy: Set<String>) -> [HTTPDeliveryRecord] {
        httpDeliveries.values.filter { $0.nextAttemptAt <= now && !busy.contains($0.id) }.sorted { $0.nextAttemptAt < $1.nextAttemptAt }
    }

    /// After an attempt: done, or tried again later (SNS's default HTTP policy: 3 retries, 20 s
    /// apart; a subscription's or topic's DeliveryPolicy is not read yet), or dropped.
    public mutating func recordHTTPAttempt(_ id: String, delivered: Bool, now: Date, changes: inout ChangeSet) {
        guard var delivery = httpDeliveries[id] else { return }
        delivery.attempts += 1
        if delivered || delivery.attempts > Self.httpRetries || subscriptionTopics[delivery.subscriptionArn] == nil {
            httpDeliveries[id] = nil
            changes.delete(HTTPDeliveryRecord.self, key: id)
            return
        }
        delivery.nextAttemptAt = now.addingTimeInterval(Self.httpRetryDelay)
        httpDeliveries[id] = delivery
        changes.put(delivery)
    }

    public static let httpRetries = 3
    public static let httpRetryDelay: TimeInterval = 20
}

/// SNS's message formats.
public enum SNSMessages {
    static func validate(message: String, subject: String?, attributes: [String: SNSMessageAttribute]) throws(AWSError) {
        guard !message.isEmpty else { throw .snsInvalidParameter("Empty message") }
        let size = message.utf8.count + attributes.reduce(0) { $0 + $1.key.utf8.count + $1.value.dataType.utf8.count + ($1.value.stringValue?.utf8.count ?? 0) + ($1.value.binaryValue?.count ?? 0) }
        guard size <= 262_144 else { throw .snsInvalidParameter("Message too long") }
        if let subject {
            guard !subject.isEmpty, subject.count <= 100, subject.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0 != "\n" }) else {
                throw .snsInvalidParameter("Subject")
            }
        }
        guard attributes.count <= 10 else { throw .snsInvalidParameter("Too many message attributes") }
        for (name, value) in attributes {
            let type = value.dataType.split(separator: ".").first.map(String.init) ?? ""
            guard ["String", "Number", "Binary"].contains(type) else {
                throw .snsInvalidParameter("The message attribute '\(name)' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.")
            }
            if type == "Number", value.stringValue.flatMap(Double.init) == nil {
                throw .snsInvalidParameter("Could not cast message attribute '\(name)' value to number.")
            }
            if type != "Binary", value.stringValue == nil {
                throw .snsInvalidParameter("The message attribute '\(name)' must contain non-empty message attribute value for message attribute type '\(type)'.")
            }
        }
    }

    /// Whether the subscription's filter policy (on the attributes, or with FilterPolicyScope
    /// MessageBody on the JSON message) takes the message.
    static func passes(_ subscription: SubscriptionRecord, message: String, attributes: [String: SNSMessageAttribute]) -> Bool {
        guard let text = subscription.attributes["FilterPolicy"], let policy = try? EventPattern.parse(text) else { return true }
        if subscription.attributes["FilterPolicyScope"] == "MessageBody" {
            guard let body = try? JSONDecoder().decode(JSONValue.self, from: Data(message.utf8)) else { return false }
            return policy.matches(body)
        }
        var fields: [String: JSONValue] = [:]
        for (name, value) in attributes { if let filterable = value.filterValue { fields[name] = filterable } }
        return policy.matches(.object(fields))
    }

    static func json(_ text: String) -> String { String(decoding: RecordCoding.encode(JSONValue.string(text)), as: UTF8.self) }

    /// `2026-12-01T07:00:00.123Z`.
    static func timestamp(_ date: Date) -> String {
        CivilCalendar.iso8601(millisecondsSince1970: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }

    static func attributesJSON(_ attributes: [String: SNSMessageAttribute], typeKey: String, valueKey: String) -> String {
        "{" + attributes.keys.sorted().map { name in
            let value = attributes[name]!
            let text = value.binaryValue.map { $0.base64EncodedString() } ?? value.stringValue ?? ""
            return "\(json(name)):{\(json(typeKey)):\(json(value.dataType)),\(json(valueKey)):\(json(text))}"
        }.joined(separator: ",") + "}"
    }

    /// Stevedore signs nothing with AWS's certificate: the signature is the SHA-256 of the
    /// message's canonical text, and says so by its SigningCertURL.
    static func signature(_ text: String) -> String { Data(Digest.sha256(Array(text.utf8))).base64EncodedString() }

    static let signingCertURL = "https://stevedore.invalid/sns-messages-are-not-signed.pem"

    /// The JSON an SQS queue (without raw delivery) or an HTTP(S) endpoint receives.
    static func notification(
        messageId: String, topicArn: String, subject: String?, message: String, attributes: [String: SNSMessageAttribute], now: Date, unsubscribeURL: String
    ) -> String {
        var fields = [
            ("Type", json("Notification")), ("MessageId", json(messageId)), ("TopicArn", json(topicArn)),
        ]
        if let subject { fields.append(("Subject", json(subject))) }
        fields += [
            ("Message", json(message)), ("Timestamp", json(timestamp(now))), ("SignatureVersion", json("1")),
            ("Signature", json(signature(messageId + message + topicArn))), ("SigningCertURL", json(signingCertURL)),
            ("UnsubscribeURL", json(unsubscribeURL)),
        ]
        if !attributes.isEmpty { fields.append(("MessageAttributes", attributesJSON(attributes, typeKey: "Type", valueKey: "Value"))) }
        return "{" + fields.map { "\(json($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    /// What an HTTP(S) endpoint receives when subscribed: the token and the URL that confirms.
    static func confirmation(messageId: String, topicArn: String, token: String, subscribeURL: String, now: Date) -> String {
        let message = "You have chosen to subscribe to the topic \(topicArn).\nTo confirm the subscription, visit the SubscribeURL included in this message."
        let fields = [
            ("Type", json("SubscriptionConfirmation")), ("MessageId", json(messageId)), ("Token", json(token)), ("TopicArn", json(topicArn)),
            ("Message", json(message)), ("SubscribeURL", json(subscribeURL)), ("Timestamp", json(timestamp(now))),
            ("SignatureVersion", json("1")), ("Signature", json(signature(messageId + token + topicArn))), ("SigningCertURL", json(signingCertURL)),
        ]
        return "{" + fields.map { "\(json($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    /// The event a subscribed function is invoked with.
    static func lambdaEvent(
        subscriptionArn: String, messageId: String, topicArn: String, subject: String?, message: String, attributes: [String: SNSMessageAttribute],
        now: Date, unsubscribeURL: String
    ) -> String {
        let sns = [
            ("Type", json("Notification")), ("MessageId", json(messageId)), ("TopicArn", json(topicArn)),
            ("Subject", subject.map(json) ?? "null"), ("Message", json(message)), ("Timestamp", json(timestamp(now))),
            ("SignatureVersion", json("1")), ("Signature", json(signature(messageId + message + topicArn))), ("SigningCertUrl", json(signingCertURL)),
            ("UnsubscribeUrl", json(unsubscribeURL)), ("MessageAttributes", attributesJSON(attributes, typeKey: "Type", valueKey: "Value")),
        ]
        let snsText = "{" + sns.map { "\(json($0.0)):\($0.1)" }.joined(separator: ",") + "}"
        return #"{"Records":[{"EventSource":"aws:sns","EventVersion":"1.0","EventSubscriptionArn":\#(json(subscriptionArn)),"Sns":\#(snsText)}]}"#
    }
}

extension RecordKind {
    /// Touched when a publish queued a function's invocation (the invoker is woken).
    public static let snsInvocations = RecordKind("sns_invocations")
}
