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
    /// How long an attached session waits for its agent to take the command, and, once taken,
    /// for the agent's next call: then the agent is taken for gone and the caller is told.
    static let agentSilence: Duration = .seconds(30)
    /// How often an idle session writes an empty frame to its caller: a caller that went away is
    /// found out (the write fails) and the session ends.
    static let heartbeat: Duration = .seconds(15)

    private struct Session {
        var instance: String
        var request: ExecRequest
        var token: String
        var created: ContinuousClock.Instant
        var output: AsyncStream<[UInt8]>.Continuation?
        var input: [UInt8] = []
        /// When the caller attached (the agent was asked), and when the agent last called.
        var attached: ContinuousClock.Instant?
        var agentContact: ContinuousClock.Instant?
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
        // Nothing is dropped: the agent posts a megabyte at a time, and only as its command writes.
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .unbounded)
        let instance = state.withLock { state -> String? in
            guard var session = state.sessions[id], AgentAuthenticator.constantTimeEqual(session.token, token), session.output == nil else { return nil }
            session.output = continuation
            session.attached = .now
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
        guard let session = state.withLock({ state -> Session? in
            guard var session = state.sessions[id], instance == nil || session.instance == instance else { return nil }
            session.agentContact = .now
            state.sessions[id] = session
            return session
        }), let output = session.output
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
                    session.agentContact = .now
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

    /// Watches an attached session until it ends: an agent that never takes the command, or
    /// stops calling, ends it with a failure frame; an empty frame now and then finds out a caller
    /// that went away.
    func watch(_ id: String, check: Duration = .seconds(1), silence: Duration = agentSilence, inputWait: Duration = ExecChannel.inputWait) async {
        var lastBeat = ContinuousClock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: check)
            let now = ContinuousClock.now
            guard let session = state.withLock({ $0.sessions[id] }), let output = session.output else { return }
            let silentSince = session.agentContact ?? session.attached ?? now
            if now - silentSince > silence + (session.agentContact == nil ? .zero : inputWait) {
                let why =
                    session.agentContact == nil
                    ? "the agent of the task's instance did not take the command (is it connected?)"
                    : "the agent of the task's instance stopped relaying the command"
                output.yield(ExecFrame.encode([ExecFrame(.failure, text: why)]))
                output.finish()
                return
            }
            if now - lastBeat >= Self.heartbeat {
                lastBeat = now
                output.yield(ExecFrame.encode([ExecFrame(.stdout)]))
            }
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
