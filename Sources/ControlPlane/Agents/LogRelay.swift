import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import Foundation
import Lambda
import LambdaShapes
import StevedoreCore
import Synchronization

/// Carries a task's logs from the agent that runs it to whoever asked (`ecsctl task logs`).
/// Agents connect outbound only, so the request travels on the agent's work channel and the agent
/// posts the bytes back in batches.
public final class LogRelay: Sendable {
    private struct Session {
        var instance: String
        var continuation: AsyncStream<[UInt8]>.Continuation
    }

    private struct State {
        var sessions: [String: Session] = [:]
        var pending: [String: [LogRequest]] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Opens a session for a task on an instance; the bytes arrive on the returned stream.
    func open(_ request: LogRequest, instance: String) -> AsyncStream<[UInt8]> {
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        let id = request.id
        continuation.onTermination = { [weak self] _ in self?.close(id) }
        state.withLock { state in
            state.sessions[id] = Session(instance: instance, continuation: continuation)
            state.pending[instance, default: []].append(request)
        }
        return stream
    }

    /// Log requests waiting for an instance's agent; handing them out removes them.
    func takeRequests(for instance: String) -> [LogRequest] {
        state.withLock { $0.pending.removeValue(forKey: instance) ?? [] }
    }

    func hasRequests(for instance: String) -> Bool {
        state.withLock { !($0.pending[instance] ?? []).isEmpty }
    }

    /// Bytes from an agent; `false` when nobody listens any more (the agent should stop).
    /// `instance`, when the agent proved which it is: a session asked of another one is not its to feed.
    func deliver(_ id: String, from instance: String? = nil, bytes: [UInt8], done: Bool) -> Bool {
        guard let session = state.withLock({ $0.sessions[id] }), instance == nil || session.instance == instance else { return false }
        let continuation = session.continuation
        if !bytes.isEmpty { continuation.yield(bytes) }
        if done { continuation.finish() }
        return true
    }

    func close(_ id: String) {
        let session = state.withLock { state -> Session? in
            guard let session = state.sessions.removeValue(forKey: id) else { return nil }
            state.pending[session.instance]?.removeAll { $0.id == id }
            return session
        }
        session?.continuation.finish()
    }
}
