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
            if let token = try await lease.tryTake() {
                found.yield(LeaseFence(token: token, term: lease.term))
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
                        if let token = try await self.lease.tryTake(reclaim: self.listening.load(ordering: .relaxed)) {
                            self.logger.notice("this ecsd took the leader lease", metadata: ["lease.token": "\(token)"])
                            self.systemd.notify("STATUS=Taking over as the leader: loading the state")
                            self.found.yield(LeaseFence(token: token, term: self.lease.term))
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

/// The leader's side of the lease: renews it, and ends the process (exit status 75) once it may
/// have lost it (a renewal refused or late, or a commit that found another's token): a deposed
/// leader stops acting at once, and a supervisor (systemd's `Restart=`) starts it again as a
/// follower. On a graceful stop, after the store closed, it ends the term so a follower takes
/// over at once.
struct LeaseKeeper: Service {
    let lease: LeaderLease
    let fence: LeaseFence
    let logger: Logger

    struct Deposed: Error, CustomStringConvertible {
        var description: String
    }

    enum Verdict: Equatable {
        case leading
        case deposed(String)
    }

    /// After a renewal: `renewed` true (extended), false (the token is no longer the lease's), or
    /// nil (no answer within the term). Without an answer the leader leads on until the term since
    /// its last renewal began has run out by its own clock; PostgreSQL's term ran out no sooner,
    /// since that renewal ran after it began.
    static func verdict(renewed: Bool?, sinceLastRenewal: Duration, term: Duration) -> Verdict {
        switch renewed {
        case true: .leading
        case false: .deposed("another ecsd took the leader lease (this one's token is no longer it)")
        default:
            sinceLastRenewal >= term ? .deposed("the leader lease could not be renewed within its term of \(term)") : .leading
        }
    }

    func run() async throws {
        do {
            try await keep()
        } catch let deposed as Deposed {
            // Stop acting at once: no graceful shutdown, which would wait for requests and
            // commits a cut-off store may never answer. Nothing acknowledged is lost (an answer
            // waits for its commit), and agents move on to another replica.
            logger.critical("this ecsd is no longer the leader: stopping now; start it again to follow the new one", metadata: ["reason": "\(deposed)"])
            _exit(75)
        }
    }

    private func keep() async throws {
        let check = min(lease.renewInterval, .milliseconds(250))
        let stop = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try? await gracefulShutdown()
                return true
            }
            group.addTask {
                var lastRenewal = ContinuousClock.now
                var nextRenewal = lastRenewal + lease.renewInterval
                while !Task.isCancelled {
                    try? await Task.sleep(for: check)
                    if fence.isBroken { throw Deposed(description: "another ecsd took the leader lease: a write found its token") }
                    guard ContinuousClock.now >= nextRenewal else { continue }
                    let started = ContinuousClock.now
                    nextRenewal = started + lease.renewInterval
                    // Not a task group: a renewal stuck on a cut-off connection may ignore
                    // cancellation, and the keeper must not wait for it.
                    let renewed: Bool?
                    switch await Deadline.race(milliseconds: Int(lease.term.milliseconds), {
                        try? await lease.renew(fence.token)
                    }) {
                    case .finished(let answer): renewed = answer
                    case .timedOut: renewed = nil
                    }
                    switch Self.verdict(renewed: renewed, sinceLastRenewal: ContinuousClock.now - lastRenewal, term: lease.term) {
                    case .leading: if renewed == true { lastRenewal = started }
                    case .deposed(let reason): throw Deposed(description: reason)
                    }
                    if renewed == nil { logger.warning("the leader lease could not be renewed", metadata: ["lease.token": "\(fence.token)"]) }
                }
                return false
            }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
        if stop {
            await lease.release(fence.token)
            logger.notice("leader lease released", metadata: ["lease.token": "\(fence.token)"])
        }
    }
}
