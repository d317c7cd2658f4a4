import Glibc
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import Observability
import ServiceLifecycle
import UnixSignals
import StevedoreCore
import Storage
import Synchronization

/// Several `ecsd` on one PostgreSQL: each starts as a follower that forwards the API to the
/// leader (``LeaderForwarder``) until it takes the leader lease; then it loads the state and runs
/// the control plane, renewing the lease (``LeaseKeeper``) until it stops or is deposed.
public enum Replica {
    /// What `/metrics` says of this replica: `ecsd_leader` (1 or 0) and the lease's token.
    public final class Role: Sendable {
        let leader = Atomic<Bool>(false)
        let token = Atomic<Int64>(0)

        public init(registry: PrometheusRegistry) {
            registry.addCollector { [self] in
                [
                    .init(name: "ecsd_leader", help: "1 on the replica that holds the leader lease (or the only ecsd), 0 on a follower.",
                          value: self.leader.load(ordering: .relaxed) ? 1 : 0),
                    .init(name: "ecsd_lease_token", help: "The fencing token of the leader lease this replica holds (0: none).",
                          value: Double(self.token.load(ordering: .relaxed))),
                ]
            }
        }

        public func lead(_ token: Int64?) {
            leader.store(true, ordering: .relaxed)
            self.token.store(token ?? 0, ordering: .relaxed)
        }
    }

    /// A follower: serves the API listener, forwarding to the leader, and tries to take the lease.
    public final class Follower: Sendable {
        private let group: ServiceGroup?
        private let running: Task<Void, Never>?
        private let taken: AsyncStream<LeaseFence>
        /// Whether the follower's services ended (on their own: SIGTERM, SIGINT; or by ``stop()``).
        private let ended = Ended()

        private final class Ended: Sendable {
            let value = Atomic<Bool>(false)
        }

        /// Starts following: the listener opens and the lease is tried at once, then each poll interval.
        public init(lease: LeaderLease, configuration: ControlPlaneConfiguration, systemd: SystemdNotifier, logger: Logger) async throws {
            let forwarder = LeaderForwarder(
                lease: lease, maxRequestBytes: max(configuration.maxRequestBytes, 64 << 20),
                metrics: MetricsEndpoint(registry: configuration.prometheus, token: configuration.metricsToken),
                caFile: configuration.tls?.certificateChain, logger: logger)
            let tls = try configuration.tls.map(ControlPlane.serverTLS)
            let http1 = HTTPServerBuilder.http1(configuration: .init(idleTimeout: TimeAmount(configuration.connectionLimits.idleTimeout)))
            let (taken, found) = AsyncStream.makeStream(of: LeaseFence.self)
            self.taken = taken
            // Free (the first ecsd, or the leader gone long enough): lead without following first.
            let asked = ContinuousClock.now
            if let token = try await lease.tryTake() {
                found.yield(LeaseFence(token: token, term: lease.term, takenAt: asked))
                found.finish()
                group = nil
                running = nil
                return
            }
            let election = ElectionService(lease: lease, forwarder: forwarder, systemd: systemd, found: found, logger: logger)
            let application = Application(
                responder: CallbackResponder { (request: Request, _: BasicRequestContext) in await forwarder.respond(to: request) },
                server: tls.flatMap { try? HTTPServerBuilder.tls(http1, tlsConfiguration: $0) } ?? http1,
                configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: "ecsd"),
                onServerRunning: { _ in
                    election.listening.store(true, ordering: .relaxed)
                    let leader = (try? await lease.current()).map { " at \($0.endpoint)" } ?? ""
                    systemd.notify("READY=1\nSTATUS=Following the leader\(leader); forwarding the API to it")
                    logger.notice("ecsd follows: the API is forwarded to the leader", metadata: ["endpoint": "\(lease.endpoint)", "leader": "\(leader)"])
                },
                logger: logger)
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: application), .init(service: election)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            self.group = group
            running = Task { [ended] in
                do {
                    try await group.run()
                } catch {
                    logger.error("the follower stopped", metadata: ["error": "\(error)"])
                }
                ended.value.store(true, ordering: .relaxed)
                found.finish()
            }
        }

        /// The lease's fence once this replica took it; nil when the follower stopped first.
        public func leaseTaken() async -> LeaseFence? {
            var iterator = taken.makeAsyncIterator()
            return await iterator.next()
        }

        /// Stops forwarding and closes the listener (the leader's server opens it next). False
        /// when the follower had already stopped (the process was asked to stop).
        public func stop() async -> Bool {
            guard let group, let running else { return true }
            let endedBefore = ended.value.load(ordering: .relaxed)
            await group.triggerGracefulShutdown()
            await running.value
            return !endedBefore
        }
    }

    /// A follower's loop: tries to take the lease each poll interval; once taken, reports it and
    /// waits to be stopped. Feeds systemd's watchdog meanwhile.
    final class ElectionService: Service {
        let lease: LeaderLease
        let forwarder: LeaderForwarder
        let systemd: SystemdNotifier
        let found: AsyncStream<LeaseFence>.Continuation
        /// Set once the listener holds the port: no other process serves this replica's address on
        /// this host, so a lease naming it is a dead process's, to take at once.
        let listening = Atomic<Bool>(false)
        let logger: Logger

        init(lease: LeaderLease, forwarder: LeaderForwarder, systemd: SystemdNotifier, found: AsyncStream<LeaseFence>.Continuation, logger: Logger) {
            self.lease = lease
            self.forwarder = forwarder
            self.systemd = systemd
            self.found = found
            self.logger = logger
        }

        func run() async throws {
            // Stopping (or taking over): what the listener still forwards ends now, so it closes at once.
            defer { forwarder.close() }
            await cancelWhenGracefulShutdown {
                var first = true
                while !Task.isCancelled {
                    if !first { try? await Task.sleep(for: self.lease.pollInterval) }
                    first = false
                    if self.systemd.watchdogInterval != nil { self.systemd.notify("WATCHDOG=1") }
                    do {
                        let asked = ContinuousClock.now
                        if let token = try await self.lease.tryTake(reclaim: self.listening.load(ordering: .relaxed)) {
                            self.logger.notice("this ecsd took the leader lease", metadata: ["lease.token": "\(token)"])
                            self.systemd.notify("STATUS=Taking over as the leader: loading the state")
                            self.found.yield(LeaseFence(token: token, term: self.lease.term, takenAt: asked))
                            // The listener forwards on (requests wait for this replica to lead)
                            // until the state is loaded and the follower is stopped.
                            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                            return
                        }
                    } catch {
                        self.logger.warning("could not read the leader lease", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
    }
}

/// The leader's side of the lease, from the moment it is taken (before the state is loaded):
/// renews it every ``LeaderLease/renewInterval``.
///
/// - When no renewal was answered within the term since the last good one began (PostgreSQL
///   down, or this host cut off from it; by this clock, and PostgreSQL's term ran out no sooner),
///   the leader stops serving (``isServing``: the API answers 503, so agents and clients move on)
///   and keeps trying: another replica may have taken over, or none could (the server down for
///   all), and only the next answer tells.
/// - Once a renewal is refused or a commit finds another's token, it was deposed: it ends the
///   process (exit status 75) at once, with no graceful shutdown (which would wait for requests and
///   commits a cut-off store may never answer; nothing acknowledged is lost, as an answer waits for
///   its commit), and a supervisor (systemd's `Restart=`) starts it again as a follower.
public final class LeaseRenewal: Sendable {
    public let lease: LeaderLease
    public let fence: LeaseFence
    private let logger: Logger
    private let renewing = Mutex<Task<Void, Never>?>(nil)
    private let releasing = Atomic<Bool>(false)
    private let lapsed = Atomic<Bool>(false)

    /// Whether the lease is known to be this replica's now (renewed within the term): the API
    /// serves only then.
    public var isServing: Bool { !lapsed.load(ordering: .relaxed) }

    public init(lease: LeaderLease, fence: LeaseFence, logger: Logger) {
        self.lease = lease
        self.fence = fence
        self.logger = logger
        renewing.withLock { $0 = Task { [self] in await self.renew() } }
    }

    /// Stops renewing and ends the term now, so a follower takes over at once (a graceful stop,
    /// after the store closed).
    public func release() async {
        releasing.store(true, ordering: .relaxed)
        renewing.withLock { $0 }?.cancel()
        await lease.release(fence.token)
        logger.notice("leader lease released", metadata: ["lease.token": "\(fence.token)"])
    }

    private func renew() async {
        let check = min(lease.renewInterval, .milliseconds(250))
        var lastRenewal = fence.takenAt
        var nextRenewal = lastRenewal + lease.renewInterval
        while !Task.isCancelled {
            try? await Task.sleep(for: check)
            if fence.isBroken { return depose("another ecsd took the leader lease: a write found its token") }
            guard ContinuousClock.now >= nextRenewal else { continue }
            let started = ContinuousClock.now
            nextRenewal = started + lease.renewInterval
            // Not a task group: a renewal stuck on a cut-off connection may ignore cancellation,
            // and no answer may be waited for past the term.
            // While the term holds, no answer may be waited for past it; after, a renewal interval.
            let remaining = lease.term - (started - lastRenewal)
            let wait = remaining > .zero ? remaining : lease.renewInterval
            var renewed: Bool?
            if case .finished(let answer) = await Deadline.race(milliseconds: Int(max(1, wait.milliseconds)), {
                try? await self.lease.renew(self.fence.token)
            }) {
                renewed = answer
            }
            if releasing.load(ordering: .relaxed) { return }
            switch Self.verdict(renewed: renewed, sinceLastRenewal: ContinuousClock.now - lastRenewal, term: lease.term) {
            case .leading:
                if renewed == true {
                    lastRenewal = started
                    if lapsed.exchange(false, ordering: .relaxed) { logger.notice("leader lease renewed again: serving", metadata: ["lease.token": "\(fence.token)"]) }
                } else {
                    logger.warning("the leader lease could not be renewed", metadata: ["lease.token": "\(fence.token)"])
                }
            case .lapsed:
                if !lapsed.exchange(true, ordering: .relaxed) {
                    logger.error(
                        "the leader lease could not be renewed within its term: not serving until it is (or another replica took it)",
                        metadata: ["lease.token": "\(fence.token)"])
                }
            case .deposed(let reason): return depose(reason)
            }
        }
    }

    private func depose(_ reason: String) {
        guard !releasing.load(ordering: .relaxed) else { return }
        logger.critical("this ecsd is no longer the leader: stopping now; start it again to follow the new one", metadata: ["reason": "\(reason)"])
        _exit(75)
    }

    enum Verdict: Equatable {
        /// The lease is this replica's (renewed, or its term since the last renewal holds).
        case leading
        /// No answer within the term: maybe another's now; serve nothing until an answer says.
        case lapsed
        case deposed(String)
    }

    /// After a renewal: `renewed` true (extended), false (the token is no longer the lease's), or
    /// nil (no answer). Without an answer the leader leads on until the term since its last
    /// renewal began has run out by its own clock; PostgreSQL's term ran out no sooner, since that
    /// renewal ran after it began.
    static func verdict(renewed: Bool?, sinceLastRenewal: Duration, term: Duration) -> Verdict {
        switch renewed {
        case true: .leading
        case false: .deposed("another ecsd took the leader lease (this one's token is no longer it)")
        default: sinceLastRenewal >= term ? .lapsed : .leading
        }
    }
}

/// Holds the lease while the control plane runs: it starts first and stops last, so the lease is
/// released after the store closed.
struct LeaseKeeper: Service {
    let renewal: LeaseRenewal

    func run() async throws {
        try? await gracefulShutdown()
        await renewal.release()
    }
}
