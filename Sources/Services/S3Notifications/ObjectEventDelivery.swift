#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import EventBridge
import IAM
import Lambda
import S3
import SNS
import SQS
import SQSShapes
import StevedoreCore

/// S3 event notifications: a bucket's configuration checked against its destinations when it is
/// put, and each change to an object told to the destinations that want it in the same commit as
/// the change (a function's asynchronous invocation queued, a queue's message sent, a topic's
/// message published, EventBridge's event routed), so none is lost to a crash.
extension EventBridgeHost where Self: SNSHost & S3Host {
    static var s3Service: String { "s3.amazonaws.com" }

    /// PutBucketNotificationConfiguration: validated (destinations too, unless the caller asked S3
    /// to skip them), stored, and a test event sent to each queue and topic it names.
    public mutating func putBucketNotification(
        bucket: String, _ configuration: NotificationConfiguration, skipDestinationValidation: Bool, requestId: String, now: Date,
        using generator: inout some RandomNumberGenerator, changes: inout ChangeSet
    ) throws(AWSError) {
        _ = try s3.bucket(bucket)
        var configuration = configuration
        try configuration.validate(using: &generator)
        if !skipDestinationValidation { try validateDestinations(of: configuration, bucket: bucket) }
        try s3.setBucketNotification(bucket, configuration, changes: &changes)
        let test = ObjectEvent.testEvent(bucket: bucket, requestId: requestId, time: now)
        for destination in configuration.destinations where destination.kind != .function && refusal(of: destination, bucket: bucket) == nil {
            send(test, subject: "Amazon S3 Notification", to: destination.arn, now: now, using: &generator, changes: &changes)
        }
    }

    /// Why each destination S3 could not validate is refused, in one InvalidArgument.
    func validateDestinations(of configuration: NotificationConfiguration, bucket: String) throws(AWSError) {
        var failures: [(arn: String, reason: String)] = []
        for destination in configuration.destinations {
            guard TargetKind(destination.arn) != nil else {
                throw S3Error.invalidArgument("The ARN could not be parsed", name: destination.kind.elements.arn, value: destination.arn)
            }
            if let reason = refusal(of: destination, bucket: bucket) {
                // S3 names a function it could not validate with ", null" after its ARN.
                failures.append((destination.kind == .function ? destination.arn + ", null" : destination.arn, reason))
            }
        }
        guard !failures.isEmpty else { return }
        var fields: [String: String] = [:]
        for (index, failure) in failures.enumerated() {
            fields["ArgumentName\(index + 1)"] = failure.arn
            fields["ArgumentValue\(index + 1)"] = failure.reason
        }
        throw AWSError(type: "InvalidArgument", message: "Unable to validate the following destination configurations", httpStatus: 400, extraFields: fields)
    }

    /// Why S3 may not send to a destination now (it is gone, in another account or region, or its
    /// policy does not let S3 send from this bucket), or nil. Checked when a configuration is put
    /// and again for every message, so a skipped validation or a policy taken back stops deliveries.
    func refusal(of destination: NotificationConfiguration.Destination, bucket: String) -> String? {
        let bucketArn = "arn:\(s3.names.partition):s3:::\(bucket)"
        let account = s3.names.accountId
        let parts = destination.arn.split(separator: ":", omittingEmptySubsequences: false)
        let local = parts.count >= 6 && parts[3] == s3.names.region && parts[4] == account
        switch (destination.kind, TargetKind(destination.arn)) {
        case (.function, .function(let name, let qualifier)?):
            // S3 does not tell a missing function from one it may not invoke.
            guard local, (try? lambda.functionVersion(name, qualifier: qualifier)) != nil,
                lambda.permits(service: Self.s3Service, toInvoke: name, qualifier: qualifier, sourceArn: bucketArn, sourceAccount: account)
            else { return "Not authorized to invoke function [\(destination.arn)]" }
            return nil
        case (.queue, .queue(let name)?):
            guard local, let queue = sqs.queues[name] else { return "The destination queue does not exist" }
            guard !queue.isFIFO else { return "FIFO queues are not supported as S3 event notification destinations" }
            guard ServiceGrant.allows(
                policy: queue.attributes["Policy"], service: Self.s3Service, action: "sqs:SendMessage", resource: destination.arn, sourceArn: bucketArn,
                sourceAccount: account)
            else { return "Permissions on the destination queue do not allow S3 to publish notifications from this bucket" }
            return nil
        case (.topic, .topic(let arn)?):
            guard local, let topic = try? sns.topic(arn: arn) else { return "The destination topic does not exist" }
            guard ServiceGrant.allows(
                policy: topic.attributes["Policy"], service: Self.s3Service, action: "sns:Publish", resource: arn, sourceArn: bucketArn, sourceAccount: account)
            else { return "Permissions on the destination topic do not allow S3 to publish notifications from this bucket" }
            return nil
        default:
            return "The destination is not one S3 sends notifications to"
        }
    }

    /// Tells the bucket's destinations of a change to one of its objects; `requester` is the
    /// caller's account, as EventBridge's events name it.
    public mutating func notify(_ event: ObjectEvent, requester: String, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet) {
        guard let configuration = s3.buckets[event.bucket]?.notification else { return }
        let owner = S3State.ownerId(s3.names)
        for destination in configuration.destinations(for: event.name, key: event.key) where refusal(of: destination, bucket: event.bucket) == nil {
            let message = event.message(configurationId: destination.id, names: s3.names, ownerId: owner)
            send(message, subject: "Amazon S3 Notification", to: destination.arn, now: now, using: &generator, changes: &changes)
        }
        if configuration.eventBridge, let detailType = event.detailType {
            publish(
                source: "aws.s3", detailType: detailType, resources: ["arn:\(s3.names.partition):s3:::\(event.bucket)"],
                detail: event.detail(requester: requester), now: now, using: &generator, changes: &changes)
        }
    }

    /// One message to one destination. A destination deleted since the configuration was put
    /// gets nothing, as in S3.
    mutating func send(_ message: String, subject: String, to arn: String, now: Date, using generator: inout some RandomNumberGenerator, changes: inout ChangeSet) {
        switch TargetKind(arn) {
        case .function(let name, let qualifier)?:
            guard (try? lambda.functionVersion(name, qualifier: qualifier)) != nil else { return }
            lambda.enqueueAsyncEvent(
                AsyncEventRecord(
                    requestId: Identifiers.uuid(using: &generator), functionName: name, qualifier: qualifier, payload: Data(message.utf8), enqueuedAt: now),
                changes: &changes)
            changes.touch(.eventInvocations)
        case .queue(let name)?:
            guard sqs.queues[name] != nil else { return }
            _ = try? sqs.sendMessage(SQSSendMessageRequest(QueueUrl: sqs.queueUrl(name), MessageBody: message), now: now, using: &generator, changes: &changes)
        case .topic(let topicArn)?:
            _ = try? publish(topicArn: topicArn, message: message, subject: subject, structure: nil, attributes: [:], now: now, using: &generator, changes: &changes)
        default:
            return
        }
    }
}
