#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import AWSProtocols
import StevedoreCore
import Synchronization

/// The credentials of this agent's container instance, when the control plane requires them: set
/// by each registration, renewed once half their lifetime has passed (by one caller at a time;
/// the others keep signing with the current ones, still valid), and kept in the data directory
/// (mode 0600) when the agent checkpoints, so a restarted agent can prove which instance it was.
public final class InstanceCredentialStore: Sendable {
    private struct State {
        var credentials: InstanceCredentials?
        var renewing = false
    }

    private let state: Mutex<State>
    /// Where they are kept across restarts; nil keeps them in memory only.
    let path: String?

    public init(path: String? = nil) {
        self.path = path
        let saved = path.flatMap { FileManager.default.contents(atPath: $0) }.flatMap { try? AWSJSONCodec.decode(InstanceCredentials.self, from: Array($0)) }
        state = Mutex(State(credentials: saved))
    }

    /// In `dataDirectory/instance-credentials` when `persist`, else in memory.
    public convenience init(dataDirectory: String, persist: Bool) {
        self.init(path: persist ? dataDirectory + "/instance-credentials" : nil)
    }

    public var current: InstanceCredentials? { state.withLock { $0.credentials } }

    /// The credentials of `instance`, if these are its.
    func credentials(of instance: String) -> InstanceCredentials? {
        current.flatMap { $0.containerInstanceArn == instance ? $0 : nil }
    }

    public func store(_ credentials: InstanceCredentials) {
        state.withLock { $0.credentials = credentials }
        guard let path else { return }
        if let slash = path.lastIndex(of: "/") {
            try? FileManager.default.createDirectory(atPath: String(path[..<slash]), withIntermediateDirectories: true)
        }
        try? DurableFile.replace(path, bytes: AWSJSONCodec.encode(credentials), mode: 0o600)
    }

    /// The credentials to renew with, when they are due and nobody renews them yet; the caller
    /// must then call ``finishRenewal(_:)``.
    func beginRenewal(now: Int64) -> InstanceCredentials? {
        state.withLock { state in
            guard let credentials = state.credentials, !state.renewing, credentials.needsRenewal(now: now) else { return nil }
            state.renewing = true
            return credentials
        }
    }

    /// Ends a renewal: with the new credentials, or nil when it failed (the next call tries again).
    func finishRenewal(_ renewed: InstanceCredentials?) {
        if let renewed { store(renewed) }
        state.withLock { $0.renewing = false }
    }
}
