import ECSAPI
import ECSCore
import Foundation

/// The SQS subset (`AmazonSQS.<Operation>`, AWS JSON 1.0) that makes functions' dead-letter queues
/// and destinations real and inspectable.
enum SQSOperations {
    static let targetPrefix = "AmazonSQS"
    /// Long polls re-check for messages this often.
    static let pollInterval: Duration = .milliseconds(50)

    static func register(on dispatcher: inout AWSJSONDispatcher, committer: Committer) {
        let json10 = AWSJSONDispatcher.contentType10
        func read<Input: Decodable & Sendable, Output: Encodable & Sendable>(
            _ name: String, _ operation: @escaping @Sendable (ECSState, Input, Date) throws(AWSError) -> Output
        ) {
            dispatcher.register(targetPrefix, name, contentType: json10) { (input: Input, _) throws(AWSError) in
                try await committer.read { state, now throws(AWSError) in try operation(state, input, now) }
            }
        }
        func write<Input: Decodable & Sendable, Output: Encodable & Sendable>(
            _ name: String, _ operation: @escaping @Sendable (inout ECSState, Input, inout Mutation) throws(AWSError) -> Output
        ) {
            dispatcher.register(targetPrefix, name, contentType: json10) { (input: Input, _) throws(AWSError) in
                try await committer.write { state, mutation throws(AWSError) in try operation(&state, input, &mutation) }
            }
        }
        struct Empty: Codable, Sendable {}

        write("CreateQueue") { (state, input: SQSCreateQueueRequest, m) throws(AWSError) in
            try state.createQueue(input, now: m.now, changes: &m.changes)
        }
        read("GetQueueUrl") { (state, input: SQSGetQueueUrlRequest, _) throws(AWSError) in try state.getQueueUrl(input) }
        read("ListQueues") { (state, input: SQSListQueuesRequest, _) throws(AWSError) in try state.listQueues(input) }
        write("DeleteQueue") { (state, input: SQSDeleteQueueRequest, m) throws(AWSError) -> Empty in
            try state.deleteQueue(input.QueueUrl, changes: &m.changes)
            return Empty()
        }
        write("PurgeQueue") { (state, input: SQSPurgeQueueRequest, m) throws(AWSError) -> Empty in
            try state.purgeQueue(input.QueueUrl, changes: &m.changes)
            return Empty()
        }
        read("GetQueueAttributes") { (state, input: SQSGetQueueAttributesRequest, now) throws(AWSError) in
            try state.queueAttributes(input, now: now)
        }
        write("SetQueueAttributes") { (state, input: SQSSetQueueAttributesRequest, m) throws(AWSError) -> Empty in
            try state.setQueueAttributes(input, now: m.now, changes: &m.changes)
            return Empty()
        }
        write("SendMessage") { (state, input: SQSSendMessageRequest, m) throws(AWSError) in
            try state.sendMessage(input, now: m.now, using: &m.random, changes: &m.changes)
        }
        write("DeleteMessage") { (state, input: SQSDeleteMessageRequest, m) throws(AWSError) -> Empty in
            try state.deleteMessage(input, changes: &m.changes)
            return Empty()
        }
        write("ChangeMessageVisibility") { (state, input: SQSChangeMessageVisibilityRequest, m) throws(AWSError) -> Empty in
            try state.changeMessageVisibility(input, now: m.now, changes: &m.changes)
            return Empty()
        }
        // Long polling: look again every 50 ms until a message arrives or WaitTimeSeconds pass.
        dispatcher.register(targetPrefix, "ReceiveMessage", contentType: json10) { (input: SQSReceiveRequest, _) throws(AWSError) in
            let queueWait = try await committer.read { state, _ throws(AWSError) in
                Int(try state.queue(forUrl: input.QueueUrl).attributes["ReceiveMessageWaitTimeSeconds"] ?? "0") ?? 0
            }
            let wait = input.WaitTimeSeconds ?? queueWait
            guard (0...20).contains(wait) else {
                throw AWSError(
                    type: "com.amazonaws.sqs#InvalidParameterValue", message: "Value \(wait) for parameter WaitTimeSeconds is invalid. Reason: must be between 0 and 20, if provided.",
                    headers: ["x-amzn-query-error": "InvalidParameterValue;Sender"])
            }
            let deadline = ContinuousClock.now + .seconds(wait)
            while true {
                let result = try await committer.write { state, mutation throws(AWSError) in
                    try state.receiveMessages(input, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
                }
                if result.Messages != nil || ContinuousClock.now >= deadline || Task.isCancelled { return result }
                try? await Task.sleep(for: pollInterval)
            }
        }
    }
}
