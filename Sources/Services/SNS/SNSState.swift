#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Lambda
import StevedoreCore

/// SNS's state: topics with their subscriptions, and the HTTP(S) deliveries waiting to be made
/// or made again. Publishing to queues and functions lands in SQS's and Lambda's state in the
/// same commit; HTTP(S) endpoints are called by a loop from the durable deliveries here.
public struct SNSState: Sendable {
    public let names: ResourceNames
    /// Where SubscribeURL and UnsubscribeURL point: this control plane's endpoint.
    public var endpoint = "http://127.0.0.1:8340"
    public package(set) var topics: [String: TopicRecord] = [:]
    /// Subscriptions' topic, by subscription ARN.
    public package(set) var subscriptionTopics: [String: String] = [:]
    public package(set) var httpDeliveries: [String: HTTPDeliveryRecord] = [:]

    public init(names: ResourceNames) {
        self.names = names
    }

    public static let recordKinds: [RecordKind] = [.snsTopics, .snsDeliveries]

    public static func restore(names: ResourceNames, rows: StoredRows) throws -> SNSState {
        var state = SNSState(names: names)
        for topic in try rows.decode(TopicRecord.self) {
            state.topics[topic.name] = topic
            for arn in topic.subscriptions.keys { state.subscriptionTopics[arn] = topic.name }
        }
        for delivery in try rows.decode(HTTPDeliveryRecord.self) { state.httpDeliveries[delivery.id] = delivery }
        return state
    }
}

/// The composed state SNS's operations run in (queues and functions are subscribers).
public protocol SNSHost: LambdaHost {
    var sns: SNSState { get set }
}

/// A topic with its subscriptions (created and deleted with it, listed together).
public struct TopicRecord: StoredRecord, Equatable {
    public var name: String
    public var attributes: [String: String]
    public var tags: [String: String] = [:]
    public var subscriptions: [String: SubscriptionRecord] = [:]

    public static var recordKind: RecordKind { .snsTopics }
    public var recordKey: String { name }
}

public struct SubscriptionRecord: Codable, Sendable, Equatable {
    public var arn: String
    /// `sqs`, `lambda`, `http` or `https`.
    public var `protocol`: String
    public var endpoint: String
    public var attributes: [String: String]
    /// HTTP(S) subscriptions wait for ConfirmSubscription with this token.
    public var confirmationToken: String?
    public var confirmed: Bool
}

/// A message on its way to an HTTP(S) endpoint (a notification, or a subscription's confirmation).
public struct HTTPDeliveryRecord: StoredRecord, Equatable {
    public var id: String
    public var subscriptionArn: String
    public var url: String
    /// `Notification` or `SubscriptionConfirmation` (the `x-amz-sns-message-type` header).
    public var messageType: String
    public var messageId: String
    public var topicArn: String
    public var body: String
    public var attempts: Int = 0
    public var nextAttemptAt: Date

    public static var recordKind: RecordKind { .snsDeliveries }
    public var recordKey: String { id }
}

extension RecordKind {
    public static let snsTopics = RecordKind("sns_topics")
    public static let snsDeliveries = RecordKind("sns_deliveries")
}

extension ResourceNames {
    public func topic(_ name: String) -> String { arn("sns", name) }
}

extension AWSError {
    static func snsInvalidParameter(_ message: String) -> AWSError {
        AWSError(type: "InvalidParameter", message: "Invalid parameter: \(message)")
    }

    static func snsNotFound(_ message: String) -> AWSError {
        AWSError(type: "NotFound", message: message, httpStatus: 404)
    }
}
