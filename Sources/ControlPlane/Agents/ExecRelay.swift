import AgentProtocol
import Foundation
import StevedoreCore
import Synchronization

/// Carries exec sessions (ExecuteCommand) between the caller and the agent that runs the task
/// (see ``ExecChannel``). A session is made by ExecuteCommand with a token the caller presents;
/// the agent is told once the caller attaches; output goes to the caller's stream, input waits
/// for the agent's next request. Sessions live in memory: a restart of ecsd ends them.
public final class ExecRelay: Sendable {
    /// How long a session made by ExecuteCommand waits for its caller to attach.
    static let attachWindow: Duration = .seconds(60)

    private struct Session {
        var instance: String
        var request: ExecRequest
        var token: String
        var created: ContinuousClock.Instant
        var output: AsyncStream<[UInt8]>.Continuation?
        var input: [UInt8] = []
    }

    private struct State {
        var sessions: [String: Session] = [:]
        var pending: [String: [ExecRequest]] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// A session for a command (not yet relayed: the agent hears of it when the caller attaches).
    func create(_ request: ExecRequest, instance: String, token: String) {
        let now = ContinuousClock.now
        state.withLock { state in
            // Sessions never attached to expire here, when others are made.
            state.sessions = state.sessions.filter { $0.value.output != nil || now - $0.value.created < Self.attachWindow }
            state.sessions[request.id] = Session(instance: instance, request: request, token: token, created: now)
        }
    }

    /// The caller attaches: the agent is asked to start the command; its frames arrive on the
    /// returned stream. Nil when the session or token is unknown, or someone attached already.
    func attach(_ id: String, token: String, tty: Bool, size: (columns: Int, rows: Int)?) -> AsyncStream<[UInt8]>? {
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        let instance = state.withLock { state -> String? in
            guard var session = state.sessions[id], AgentAuthenticator.constantTimeEqual(session.token, token), session.output == nil else { return nil }
            session.output = continuation
            session.request.tty = tty
            if let size { session.input = ExecFrame.encode([ExecFrame(.resize, text: "\(size.columns) \(size.rows)")]) }
            state.sessions[id] = session
            state.pending[session.instance, default: []].append(session.request)
            return session.instance
        }
        guard instance != nil else { return nil }
        continuation.onTermination = { [weak self] _ in self?.close(id) }
        return stream
    }

    func instance(of id: String) -> String? { state.withLock { $0.sessions[id]?.instance } }

    /// Exec requests waiting for an instance's agent; handing them out removes them.
    func takeRequests(for instance: String) -> [ExecRequest] {
        state.withLock { $0.pending.removeValue(forKey: instance) ?? [] }
    }

    /// Output frames from the agent; `false` when nobody listens any more (the agent should end
    /// the command). `done`: the last frames (exit status or failure).
    func deliver(_ id: String, from instance: String?, bytes: [UInt8], done: Bool) -> Bool {
        guard let session = state.withLock({ $0.sessions[id] }), let output = session.output,
            instance == nil || session.instance == instance
        else { return false }
        if !bytes.isEmpty { output.yield(bytes) }
        if done { output.finish() }
        return true
    }

    /// Input frames from the caller; `false` when the session is gone.
    func send(_ id: String, token: String, bytes: [UInt8]) -> Bool {
        state.withLock { state in
            guard var session = state.sessions[id], AgentAuthenticator.constantTimeEqual(session.token, token) else { return false }
            session.input += bytes
            state.sessions[id] = session
            return true
        }
    }

    /// What the caller sent since the agent last asked, waiting up to `wait` for something; nil
    /// when the session is gone (the caller left: the agent ends the command).
    func takeInput(_ id: String, from instance: String?, wait: Duration) async -> [UInt8]? {
        let deadline = ContinuousClock.now + wait
        while true {
            let taken = state.withLock { state -> [UInt8]? in
                guard var session = state.sessions[id], instance == nil || session.instance == instance else { return nil }
                defer {
                    session.input = []
                    state.sessions[id] = session
                }
                return session.input
            }
            guard let taken else { return nil }
            if !taken.isEmpty || ContinuousClock.now >= deadline || Task.isCancelled { return taken }
            // Typing is slow next to this: 20 ms between looks costs nothing and keeps the echo quick.
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    func close(_ id: String) {
        let session = state.withLock { state -> Session? in
            guard let session = state.sessions.removeValue(forKey: id) else { return nil }
            state.pending[session.instance]?.removeAll { $0.id == id }
            return session
        }
        session?.output?.finish()
    }
}
