#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Lambda
import SQS
import StevedoreCore

/// Topics and subscriptions.
extension SNSState {
    static let settableTopicAttributes: Set<String> = ["DisplayName", "Policy", "DeliveryPolicy", "KmsMasterKeyId", "TracingConfig", "SignatureVersion"]
    static let settableSubscriptionAttributes: Set<String> = ["RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "DeliveryPolicy"]

    /// The topic a TopicArn names.
    public func topic(arn: String) throws(AWSError) -> TopicRecord {
        let name = arn.split(separator: ":", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        guard arn.hasPrefix("arn:"), arn.split(separator: ":", omittingEmptySubsequences: false).count == 6 else {
            throw .snsInvalidParameter("TopicArn")
        }
        guard let topic = topics[name], names.topic(name) == arn else { throw .snsNotFound("Topic does not exist") }
        return topic
    }

    public mutating func createTopic(name: String, attributes: [String: String], tags: [String: String], changes: inout ChangeSet) throws(AWSError) -> String {
        guard (1...256).contains(name.count), name.utf8.allSatisfy(NameRules.isNameByte) else {
            throw .snsInvalidParameter("Topic Name")
        }
        guard !name.hasSuffix(".fifo"), attributes["FifoTopic"] != "true" else {
            throw .snsInvalidParameter("FIFO topics are not supported by Stevedore; create a standard topic.")
        }
        for key in attributes.keys where !Self.settableTopicAttributes.contains(key) {
            throw .snsInvalidParameter("Attributes Reason: Unknown attribute \(key)")
        }
        if var existing = topics[name] {
            for (key, value) in attributes where existing.attributes[key] != value {
                throw .snsInvalidParameter("Attributes Reason: Topic already exists with different attributes")
            }
            // CreateTopic is idempotent; new tags are added.
            if !tags.isEmpty {
                existing.tags.merge(tags) { _, new in new }
                topics[name] = existing
                changes.put(existing)
            }
            return names.topic(name)
        }
        let topic = TopicRecord(name: name, attributes: attributes, tags: tags)
        topics[name] = topic
        changes.put(topic)
        return names.topic(name)
    }

    public mutating func deleteTopic(arn: String, changes: inout ChangeSet) throws(AWSError) {
        // Deleting a topic that does not exist succeeds, as in AWS.
        guard let topic = try? topic(arn: arn) else { return }
        for subscription in topic.subscriptions.keys {
            subscriptionTopics[subscription] = nil
            dropHTTPDeliveries(of: subscription, changes: &changes)
        }
        topics[topic.name] = nil
        changes.delete(TopicRecord.self, key: topic.name)
    }

    public func topicAttributes(arn: String) throws(AWSError) -> [String: String] {
        let topic = try topic(arn: arn)
        var all = topic.attributes
        all["TopicArn"] = arn
        all["Owner"] = names.accountId
        all["DisplayName"] = all["DisplayName"] ?? ""
        all["SubscriptionsConfirmed"] = String(topic.subscriptions.values.filter(\.confirmed).count)
        all["SubscriptionsPending"] = String(topic.subscriptions.values.filter { !$0.confirmed }.count)
        all["SubscriptionsDeleted"] = "0"
        all["EffectiveDeliveryPolicy"] = all["DeliveryPolicy"] ?? Self.defaultDeliveryPolicy
        return all
    }

    static let defaultDeliveryPolicy =
        #"{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}"#

    public mutating func setTopicAttribute(arn: String, name: String, value: String, changes: inout ChangeSet) throws(AWSError) {
        var topic = try topic(arn: arn)
        guard Self.settableTopicAttributes.contains(name) else { throw .snsInvalidParameter("AttributeName") }
        topic.attributes[name] = value
        topics[topic.name] = topic
        changes.put(topic)
    }

    /// Subscribes an endpoint. Queues and functions are confirmed at once; an HTTP(S) endpoint
    /// gets a SubscriptionConfirmation and stays pending until ConfirmSubscription.
    /// - Parameter token: the confirmation token for an HTTP(S) endpoint, made by the caller from
    ///   the system's cryptographic generator (it is the endpoint's credential, not to be guessed
    ///   from the state's seeded one).
    public mutating func subscribe(
        topicArn: String, protocol kind: String, endpoint: String?, attributes: [String: String], returnArn: Bool, token newToken: String, now: Date,
        using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) throws(AWSError) -> String {
        var topic = try topic(arn: topicArn)
        guard ["sqs", "lambda", "http", "https"].contains(kind) else {
            throw .snsInvalidParameter("Stevedore's SNS delivers to sqs, lambda, http and https endpoints; \(kind) is not supported.")
        }
        guard let endpoint, !endpoint.isEmpty else { throw .snsInvalidParameter("Endpoint") }
        switch kind {
        case "sqs":
            guard endpoint.hasPrefix("arn:") && endpoint.contains(":sqs:") else { throw .snsInvalidParameter("SQS endpoint ARN") }
            guard !endpoint.hasSuffix(".fifo") else {
                throw .snsInvalidParameter("Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics")
            }
        case "lambda": guard endpoint.hasPrefix("arn:") && endpoint.contains(":lambda:") else { throw .snsInvalidParameter("Lambda endpoint ARN") }
        default: guard endpoint.hasPrefix(kind + "://") else { throw .snsInvalidParameter("Endpoint must match the specified protocol") }
        }
        for (key, value) in attributes {
            guard Self.settableSubscriptionAttributes.contains(key) else { throw .snsInvalidParameter("Attributes Reason: Unknown attribute \(key)") }
            if key == "FilterPolicy", !value.isEmpty { try Self.validateFilterPolicy(value) }
        }
        // The same endpoint subscribed again is the same subscription.
        if let existing = topic.subscriptions.values.first(where: { $0.protocol == kind && $0.endpoint == endpoint }) {
            return existing.confirmed || returnArn ? existing.arn : "pending confirmation"
        }
        let arn = "\(topicArn):\(Identifiers.uuid(using: &generator))"
        let needsConfirmation = kind == "http" || kind == "https"
        let token = needsConfirmation ? newToken : nil
        topic.subscriptions[arn] = SubscriptionRecord(
            arn: arn, protocol: kind, endpoint: endpoint, attributes: attributes, confirmationToken: token, confirmed: !needsConfirmation)
        topics[topic.name] = topic
        subscriptionTopics[arn] = topic.name
        changes.put(topic)
        if let token {
            let messageId = Identifiers.uuid(using: &generator)
            let body = SNSMessages.confirmation(
                messageId: messageId, topicArn: topicArn, token: token,
                subscribeURL: "\(self.endpoint)/?Action=ConfirmSubscription&TopicArn=\(PercentEncoding.encode(topicArn))&Token=\(token)", now: now)
            enqueueHTTP(
                HTTPDeliveryRecord(
                    id: Identifiers.uuid(using: &generator), subscriptionArn: arn, url: endpoint, messageType: "SubscriptionConfirmation",
                    messageId: messageId, topicArn: topicArn, body: body, nextAttemptAt: now),
                changes: &changes)
        }
        return needsConfirmation && !returnArn ? "pending confirmation" : arn
    }

    public mutating func confirmSubscription(topicArn: String, token: String, changes: inout ChangeSet) throws(AWSError) -> String {
        var topic = try topic(arn: topicArn)
        guard var subscription = topic.subscriptions.values.first(where: { $0.confirmationToken == token }) else {
            throw .snsInvalidParameter("Token")
        }
        subscription.confirmed = true
        topic.subscriptions[subscription.arn] = subscription
        topics[topic.name] = topic
        changes.put(topic)
        return subscription.arn
    }

    public mutating func unsubscribe(_ arn: String, changes: inout ChangeSet) throws(AWSError) {
        guard let name = subscriptionTopics[arn], var topic = topics[name] else { throw .snsNotFound("Subscription does not exist") }
        topic.subscriptions[arn] = nil
        subscriptionTopics[arn] = nil
        topics[name] = topic
        changes.put(topic)
        dropHTTPDeliveries(of: arn, changes: &changes)
    }

    /// A subscription that goes takes its waiting deliveries with it.
    mutating func dropHTTPDeliveries(of subscription: String, changes: inout ChangeSet) {
        for delivery in httpDeliveries.values where delivery.subscriptionArn == subscription {
            httpDeliveries[delivery.id] = nil
            changes.delete(HTTPDeliveryRecord.self, key: delivery.id)
        }
    }

    public func subscription(_ arn: String) throws(AWSError) -> (TopicRecord, SubscriptionRecord) {
        guard let name = subscriptionTopics[arn], let topic = topics[name], let subscription = topic.subscriptions[arn] else {
            throw .snsNotFound("Subscription does not exist")
        }
        return (topic, subscription)
    }

    public func subscriptionAttributes(_ arn: String) throws(AWSError) -> [String: String] {
        let (topic, subscription) = try subscription(arn)
        var all = subscription.attributes
        all["SubscriptionArn"] = arn
        all["TopicArn"] = names.topic(topic.name)
        all["Protocol"] = subscription.protocol
        all["Endpoint"] = subscription.endpoint
        all["Owner"] = names.accountId
        all["ConfirmationWasAuthenticated"] = subscription.confirmed ? "true" : "false"
        all["PendingConfirmation"] = subscription.confirmed ? "false" : "true"
        all["RawMessageDelivery"] = all["RawMessageDelivery"] ?? "false"
        return all
    }

    public mutating func setSubscriptionAttribute(_ arn: String, name: String, value: String, changes: inout ChangeSet) throws(AWSError) {
        var (topic, subscription) = try subscription(arn)
        guard Self.settableSubscriptionAttributes.contains(name) else { throw .snsInvalidParameter("AttributeName") }
        if name == "FilterPolicy", !value.isEmpty { try Self.validateFilterPolicy(value) }
        subscription.attributes[name] = value.isEmpty && name == "FilterPolicy" ? nil : value
        topic.subscriptions[arn] = subscription
        topics[topic.name] = topic
        changes.put(topic)
    }

    /// All subscriptions (of one topic, or every topic), ordered by ARN.
    public func subscriptions(topicArn: String?) throws(AWSError) -> [(topicArn: String, SubscriptionRecord)] {
        let chosen = try topicArn.map { arn throws(AWSError) in [try topic(arn: arn)] } ?? Array(topics.values)
        return chosen.flatMap { topic in topic.subscriptions.values.map { (names.topic(topic.name), $0) } }.sorted { $0.1.arn < $1.1.arn }
    }

    public mutating func tag(arn: String, tags: [String: String], remove keys: [String], changes: inout ChangeSet) throws(AWSError) {
        var topic = try topic(arn: arn)
        topic.tags.merge(tags) { _, new in new }
        for key in keys { topic.tags[key] = nil }
        guard topic.tags.count <= 50 else { throw AWSError(type: "TagLimitExceeded", message: "Could not complete request: tag quota of per resource exceeded") }
        topics[topic.name] = topic
        changes.put(topic)
    }

    /// Filter policies are EventBridge-style patterns (at most 150 combinations in AWS; here, patterns that parse).
    static func validateFilterPolicy(_ text: String) throws(AWSError) {
        do throws(EventPattern.ParseError) {
            _ = try EventPattern.parse(text)
        } catch {
            throw .snsInvalidParameter("Filter policy: \(error.reason)")
        }
    }

    mutating func enqueueHTTP(_ delivery: HTTPDeliveryRecord, changes: inout ChangeSet) {
        httpDeliveries[delivery.id] = delivery
        changes.put(delivery)
    }
}
