import AWSProtocols
import SQSShapes
import StevedoreCore

/// The SQS subset (`AmazonSQS.<Operation>`, AWS JSON 1.0) that makes functions' dead-letter queues
/// and destinations real and inspectable.
public enum SQSAPI {
    public static let targetPrefix = "AmazonSQS"
    /// Long polls re-check for messages this often.
    static let pollInterval: Duration = .milliseconds(50)

    public static func operations<Committer: StateCommitting>(committer: Committer) -> JSONOperations<Committer>
    where Committer.Root: SQSHost {
        var api = JSONOperations(targetPrefix: targetPrefix, contentType: AWSJSONDispatcher.contentType10, committer: committer)
        api.write("CreateQueue") { root, input, m, _ in try root.sqs.createQueue(input, now: m.now, changes: &m.changes) }
        api.read("GetQueueUrl") { root, input, _ in try root.sqs.getQueueUrl(input) }
        api.read("ListQueues") { root, input, _ in try root.sqs.listQueues(input) }
        api.write("DeleteQueue") { (root, input: SQSDeleteQueueRequest, m, _) throws(AWSError) in
            try root.sqs.deleteQueue(input.QueueUrl, changes: &m.changes)
            return EmptyOutput()
        }
        api.write("PurgeQueue") { (root, input: SQSPurgeQueueRequest, m, _) throws(AWSError) in
            try root.sqs.purgeQueue(input.QueueUrl, changes: &m.changes)
            return EmptyOutput()
        }
        // Counts messages by visibility, which depends on the time: never cached.
        api.read("GetQueueAttributes", cacheable: false) { root, input, now in try root.sqs.queueAttributes(input, now: now) }
        api.write("SetQueueAttributes") { (root, input: SQSSetQueueAttributesRequest, m, _) throws(AWSError) in
            try root.sqs.setQueueAttributes(input, now: m.now, changes: &m.changes)
            return EmptyOutput()
        }
        api.write("SendMessage") { root, input, m, _ in try root.sqs.sendMessage(input, now: m.now, using: &m.random, changes: &m.changes) }
        api.write("DeleteMessage") { (root, input: SQSDeleteMessageRequest, m, _) throws(AWSError) in
            try root.sqs.deleteMessage(input, changes: &m.changes)
            return EmptyOutput()
        }
        api.write("ChangeMessageVisibility") { (root, input: SQSChangeMessageVisibilityRequest, m, _) throws(AWSError) in
            try root.sqs.changeMessageVisibility(input, now: m.now, changes: &m.changes)
            return EmptyOutput()
        }
        // Long polling: look again every 50 ms until a message arrives or WaitTimeSeconds pass.
        api.custom("ReceiveMessage") { (input: SQSReceiveRequest, _) throws(AWSError) in
            let queueWait = try await committer.read { root, _ throws(AWSError) in
                Int(try root.sqs.queue(forUrl: input.QueueUrl).attributes["ReceiveMessageWaitTimeSeconds"] ?? "0") ?? 0
            }
            let wait = input.WaitTimeSeconds ?? queueWait
            guard (0...20).contains(wait) else {
                throw AWSError(
                    type: "com.amazonaws.sqs#InvalidParameterValue",
                    message: "Value \(wait) for parameter WaitTimeSeconds is invalid. Reason: must be between 0 and 20, if provided.",
                    headers: ["x-amzn-query-error": "InvalidParameterValue;Sender"])
            }
            let deadline = ContinuousClock.now + .seconds(wait)
            while true {
                let result = try await committer.write { root, mutation throws(AWSError) in
                    try root.sqs.receiveMessages(input, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
                }
                if result.Messages != nil || ContinuousClock.now >= deadline || Task.isCancelled { return result }
                try? await Task.sleep(for: pollInterval)
            }
        }
        return api
    }
}
