import AWSProtocols
import SQSShapes
import StevedoreCore

/// The SQS subset (`AmazonSQS.<Operation>`, AWS JSON 1.0) that makes functions' dead-letter queues
/// and destinations real and inspectable.
public enum SQSAPI {
    public static let targetPrefix = "AmazonSQS"
    /// Long polls look again when messages change (a send: answered at once), and at least this
    /// often (messages whose delay or visibility timeout ends become visible with time).
    static let pollInterval: Duration = .milliseconds(50)

    /// - Parameter version: the state's version, through which long polls see sends as they happen.
    public static func operations<Committer: StateCommitting>(committer: Committer, version: StateVersion? = nil) -> JSONOperations<Committer>
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
        api.write("SendMessageBatch") { root, input, m, _ in try root.sqs.sendMessageBatch(input, now: m.now, using: &m.random, changes: &m.changes) }
        api.write("DeleteMessageBatch") { root, input, m, _ in try root.sqs.deleteMessageBatch(input, changes: &m.changes) }
        api.write("DeleteMessage") { (root, input: SQSDeleteMessageRequest, m, _) throws(AWSError) in
            try root.sqs.deleteMessage(input, changes: &m.changes)
            return EmptyOutput()
        }
        api.write("ChangeMessageVisibility") { (root, input: SQSChangeMessageVisibilityRequest, m, _) throws(AWSError) in
            try root.sqs.changeMessageVisibility(input, now: m.now, changes: &m.changes)
            return EmptyOutput()
        }
        // Long polling: look again when messages change (or every 50 ms) until one arrives or WaitTimeSeconds pass.
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
                let before = version?.current
                let result = try await committer.write { root, mutation throws(AWSError) in
                    try root.sqs.receiveMessages(input, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
                }
                if result.Messages != nil || ContinuousClock.now >= deadline || Task.isCancelled { return result }
                let lookAgain = min(deadline, ContinuousClock.now + pollInterval)
                guard let version, let before else {
                    try? await Task.sleep(until: lookAgain)
                    continue
                }
                // Until a change to messages (a send) or the next look.
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await version.waitForChange(after: before, in: [.queueMessages]) }
                    group.addTask { try? await Task.sleep(until: lookAgain) }
                    await group.next()
                    group.cancelAll()
                }
            }
        }
        return api
    }
}
