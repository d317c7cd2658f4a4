#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import AWSProtocols
import ECSShapes
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
        /// The last registration sent, to register again with when the credentials expired.
        var registration: RegisterContainerInstanceRequest?
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

    /// Keeps the credentials a registration returned (written to the file under the lock, so the
    /// file always holds what memory does).
    public func store(_ credentials: InstanceCredentials) {
        state.withLock { state in
            state.credentials = credentials
            save(credentials)
        }
    }

    private func save(_ credentials: InstanceCredentials) {
        guard let path else { return }
        if let slash = path.lastIndex(of: "/") {
            try? FileManager.default.createDirectory(atPath: String(path[..<slash]), withIntermediateDirectories: true)
        }
        try? DurableFile.replace(path, bytes: AWSJSONCodec.encode(credentials), mode: 0o600)
    }

    var registration: RegisterContainerInstanceRequest? {
        get { state.withLock { $0.registration } }
        set { state.withLock { $0.registration = newValue } }
    }

    /// The credentials to renew with, when they are due (or `force`d: the control plane found
    /// them expired) and nobody renews them yet; the caller must then call ``finishRenewal(_:)``.
    func beginRenewal(now: Int64, force: Bool = false) -> InstanceCredentials? {
        state.withLock { state in
            guard let credentials = state.credentials, !state.renewing, force || credentials.needsRenewal(now: now) else { return nil }
            state.renewing = true
            return credentials
        }
    }

    /// Ends a renewal: with the new credentials, or nil when it failed (the next call tries again).
    /// Renewed credentials of an instance this agent no longer is (it registered as a new one
    /// meanwhile), or older than those it holds, are dropped.
    func finishRenewal(_ renewed: InstanceCredentials?) {
        state.withLock { state in
            state.renewing = false
            guard let renewed else { return }
            if let current = state.credentials,
                current.containerInstanceArn != renewed.containerInstanceArn || current.issuedAt > renewed.issuedAt
            {
                return
            }
            state.credentials = renewed
            save(renewed)
        }
    }
}
