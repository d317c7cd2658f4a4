import APIGateway
import ECS
import Foundation
import LoadBalancing
import ServiceLifecycle
import StevedoreCore

/// Target groups' HTTP health checks: every second, the targets whose check is due (each group's
/// interval) are asked `GET {path}` on their port; the registry keeps what they answered, and the
/// gateway sends requests to healthy targets only.
struct TargetHealthChecker: Service {
    let committer: Committer<ControlPlaneState>
    let registry: TargetHealthRegistry
    let http: any HTTPForwarding

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // Probes run on their own: a slow target (up to its timeout) holds up no other check.
            await withDiscardingTaskGroup { probes in
                while !Task.isCancelled {
                    for (target, group, check) in await due() {
                        probes.addTask { await probe(target, group: group, check: check) }
                    }
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    /// The targets whose check is due now, with their group and its check.
    func due() async -> [(target: String, group: String, check: HealthCheck)] {
        let checked = (try? await committer.read { root, _ in
            root.loadBalancing.groups.values.filter(\.healthCheck.enabled).map { group in
                (group: group.arn, check: group.healthCheck, targets: root.ecs.loadBalancerTargets(group: group.arn))
            }
        }) ?? []
        registry.keep(groups: Set(checked.map(\.group)))
        let now = ContinuousClock.now
        return checked.flatMap { entry in
            let keys = entry.targets.map { TargetHealthRegistry.key(host: $0.host, port: $0.port) }
            return registry.due(group: entry.group, targets: keys, interval: .seconds(entry.check.intervalSeconds), now: now).map {
                (target: $0, group: entry.group, check: entry.check)
            }
        }
    }

    func probe(_ target: String, group: String, check: HealthCheck) async {
        let result = await http.forward(
            method: "GET", url: "http://\(target)\(check.path)", headers: [("User-Agent", "ELB-HealthChecker/2.0")], body: [],
            timeout: .seconds(check.timeoutSeconds))
        switch result {
        case .answered(let response):
            registry.record(group: group, target: target, status: response.status, timedOut: false, check: check, now: .now)
        case .timedOut:
            registry.record(group: group, target: target, status: nil, timedOut: true, check: check, now: .now)
        case .refused, .failed:
            registry.record(group: group, target: target, status: nil, timedOut: false, check: check, now: .now)
        }
    }
}
