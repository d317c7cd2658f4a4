#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSProtocols
import SQSShapes
import StevedoreCore

/// The SQS subset (`AmazonSQS.<Operation>`, AWS JSON 1.0) that makes functions' dead-letter queues
/// and destinations real and inspectable.
public enum SQSAPI {
    public static let targetPrefix = "AmazonSQS"
    /// Without the state's version, long polls look again this often.
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
        // Long polling: look again when a message comes to the queue or becomes visible, until one arrives or WaitTimeSeconds pass.
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
            let name = input.QueueUrl.split(separator: "/").last.map(String.init) ?? input.QueueUrl
            var first = true
            while true {
                // A caller that went away takes nothing (what it took would stay invisible for nothing).
                if !first, Task.isCancelled { return SQSReceiveMessageResult() }
                first = false
                let before = version?.current
                let (result, nextVisible) = try await committer.write { root, mutation throws(AWSError) in
                    let result = try root.sqs.receiveMessages(input, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
                    return (result, root.sqs.nextVisibility(name).map { $0.timeIntervalSince(mutation.now) })
                }
                if result.Messages != nil || ContinuousClock.now >= deadline || Task.isCancelled { return result }
                // Look again when a message comes to this queue, or when the next one's delay or
                // visibility timeout ends (at the deadline at the latest).
                var lookAgain = deadline
                if let seconds = nextVisible { lookAgain = min(deadline, ContinuousClock.now + .milliseconds(Int64(max(1, seconds * 1000)))) }
                guard let version, let before else {
                    try? await Task.sleep(until: min(lookAgain, ContinuousClock.now + pollInterval))
                    continue
                }
                let waitUntil = lookAgain
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await version.waitForChange(after: before, in: [SQSState.arrivals(name)]) }
                    group.addTask { try? await Task.sleep(until: waitUntil) }
                    await group.next()
                    group.cancelAll()
                }
            }
        }
        return api
    }
}
