#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ECSShapes
import StevedoreCore

/// How ECS spreads tasks over a capacity provider strategy: each provider's `base` first (in
/// strategy order), then the tasks beyond the bases in proportion to the weights.
public enum CapacityProviderDistribution {
    /// The provider of each of `count` new tasks, given the tasks each provider has already
    /// (a service's live tasks; none for RunTask).
    public static func assign(_ count: Int, strategy: [CapacityProviderStrategyItem], existing: [String: Int] = [:]) -> [String] {
        var counts = existing
        var result: [String] = []
        let weighted = strategy.filter { ($0.weight ?? 0) > 0 }
        for _ in 0..<count {
            let item =
                strategy.first { ($0.base ?? 0) > counts[$0.capacityProvider, default: 0] }
                ?? weighted.min { left, right in
                    share(left, counts) < share(right, counts)
                }
            guard let provider = item?.capacityProvider else { break }
            result.append(provider)
            counts[provider, default: 0] += 1
        }
        return result
    }

    /// Tasks beyond the base, per unit of weight, after one more: the provider with the smallest
    /// share gets the next task (the first in strategy order on a tie, as `min` keeps it).
    private static func share(_ item: CapacityProviderStrategyItem, _ counts: [String: Int]) -> Double {
        let beyond = max(0, counts[item.capacityProvider, default: 0] - (item.base ?? 0))
        return Double(beyond + 1) / Double(item.weight ?? 1)
    }

    /// Runs of the same provider, in order: `[a, a, b]` → `[(a, 2), (b, 1)]`.
    public static func batches(_ assignment: [String]) -> [(provider: String, count: Int)] {
        var result: [(provider: String, count: Int)] = []
        for provider in assignment {
            if let last = result.last, last.provider == provider {
                result[result.count - 1].count += 1
            } else if let index = result.firstIndex(where: { $0.provider == provider }) {
                result[index].count += 1
            } else {
                result.append((provider, 1))
            }
        }
        return result
    }
}

extension ECSState {
    /// The strategy a launch uses: its own, else (with no launch type) the cluster's default; nil
    /// when it does not go through capacity providers.
    func effectiveStrategy(_ strategy: [CapacityProviderStrategyItem]?, cluster: Cluster, launchType: LaunchType?) -> [CapacityProviderStrategyItem]? {
        if let strategy, !strategy.isEmpty { return strategy }
        guard launchType == nil, let defaults = cluster.defaultCapacityProviderStrategy, !defaults.isEmpty else { return nil }
        return defaults
    }

    /// ``effectiveStrategy(_:cluster:launchType:)``, refused when it names a provider the cluster does not have.
    func associatedStrategy(_ strategy: [CapacityProviderStrategyItem]?, cluster: Cluster, launchType: LaunchType?) throws(AWSError)
        -> [CapacityProviderStrategyItem]?
    {
        let effective = effectiveStrategy(strategy, cluster: cluster, launchType: launchType)
        for item in effective ?? [] where !(cluster.capacityProviders ?? []).contains(item.capacityProvider) {
            throw .invalidParameter(
                "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster: \(item.capacityProvider). Associate it with PutClusterCapacityProviders first.")
        }
        return effective
    }
}
