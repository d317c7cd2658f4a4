import CurlHTTP
import Foundation
import Logging
import ServiceLifecycle
import SNS
import StevedoreCore
import Synchronization

/// SNS's HTTP(S) deliveries: each due delivery (a notification, or a subscription's
/// confirmation) is POSTed with SNS's headers; a 2xx answer ends it, anything else is tried again
/// (SNS's default policy: three more times, 20 s apart). The deliveries are in the store, so one
/// in flight when `ecsd` stops is made again after the restart: at least once.
final class SNSDeliveryLoop: Service, Sendable {
    let committer: Committer<ControlPlaneState>
    let logger: Logger
    /// Deliveries in flight at most.
    static let parallelism = 64
    private let busy = Mutex<Set<String>>([])
    private let wakeStream: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init(committer: Committer<ControlPlaneState>, logger: Logger) {
        self.committer = committer
        self.logger = logger
        (wakeStream, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Looks for due deliveries now (a publish made some).
    func wakeUp() { wake.yield() }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        self.wake.yield()
                    }
                }
                for await _ in self.wakeStream {
                    if Task.isCancelled { break }
                    let busy = self.busy.withLock { $0 }
                    let due = (try? await self.committer.readLatest { root, now in root.sns.dueHTTPDeliveries(now: now, excluding: busy) }) ?? []
                    let room = max(0, Self.parallelism - busy.count)
                    for delivery in due.prefix(room) {
                        self.busy.withLock { _ = $0.insert(delivery.id) }
                        group.addTask { await self.deliver(delivery) }
                    }
                }
                group.cancelAll()
            }
        }
    }

    private func deliver(_ delivery: HTTPDeliveryRecord) async {
        defer { _ = busy.withLock { $0.remove(delivery.id) } }
        var delivered = false
        if let url = URLComponents(string: delivery.url), let scheme = url.scheme, let host = url.host {
            let base = "\(scheme)://\(host)\(url.port.map { ":\($0)" } ?? "")"
            var path = url.percentEncodedPath.isEmpty ? "/" : url.percentEncodedPath
            if let query = url.percentEncodedQuery { path += "?" + query }
            let headers = [
                ("Content-Type", "text/plain; charset=UTF-8"), ("x-amz-sns-message-type", delivery.messageType),
                ("x-amz-sns-message-id", delivery.messageId), ("x-amz-sns-topic-arn", delivery.topicArn),
                ("x-amz-sns-subscription-arn", delivery.subscriptionArn), ("User-Agent", "Amazon Simple Notification Service Agent"),
            ]
            do {
                let response = try await HTTPClient(baseURL: base, connectTimeout: .seconds(5)).execute(
                    HTTPClient.Request(method: "POST", path: path, headers: headers, body: Array(delivery.body.utf8), timeout: .seconds(15)))
                delivered = (200..<300).contains(response.status)
            } catch {
                logger.debug("SNS delivery failed", metadata: ["url": "\(delivery.url)", "error": "\(error)"])
            }
        }
        let (id, outcome) = (delivery.id, delivered)
        _ = try? await committer.write { root, mutation throws(AWSError) in
            root.sns.recordHTTPAttempt(id, delivered: outcome, now: mutation.now, changes: &mutation.changes)
        }
    }
}
