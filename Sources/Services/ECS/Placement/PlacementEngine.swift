import AgentProtocol
import ECSShapes
import StevedoreCore
/// Why an instance cannot take a task, in the order the checks run; the strings are ECS's.
public enum PlacementFailureReason: String, Sendable, CaseIterable, Comparable {
    case inactive = "INACTIVE"
    case draining = "DRAINING"
    case agent = "AGENT"
    case attribute = "ATTRIBUTE"
    case capacityProvider = "CAPACITY_PROVIDER"
    case cpu = "RESOURCE:CPU"
    case memory = "RESOURCE:MEMORY"
    case ports = "RESOURCE:PORTS"
    case memberOf = "MemberOf placement constraint unsatisfied"
    case distinctInstance = "DistinctInstance placement constraint unsatisfied"

    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// How a service event describes the closest instance that still did not fit.
    public var eventDetail: String {
        switch self {
        case .inactive: "is not active."
        case .draining: "is draining."
        case .agent: "encountered error \"AGENT\"."
        case .attribute: "is missing an attribute required by your task."
        case .capacityProvider: "is not in the task's capacity provider strategy."
        case .cpu: "has insufficient CPU units available."
        case .memory: "has insufficient memory available."
        case .ports: "is already using a port required by your task."
        case .memberOf: "does not satisfy the memberOf placement constraint."
        case .distinctInstance: "already runs a task of the same group (distinctInstance)."
        }
    }
}

/// A placement strategy, checked and parsed.
public enum PlacementRule: Sendable, Equatable {
    case binpackCPU
    case binpackMemory
    case spreadInstance
    case spreadAttribute(String)
    case random

    /// Parses ECS's `{type, field}`; the error names what to fix.
    public static func parse(_ strategy: PlacementStrategy) throws(AWSError) -> PlacementRule {
        let field = strategy.field ?? ""
        switch strategy.type {
        case .binpack:
            switch field.lowercased() {
            case "cpu": return .binpackCPU
            case "memory": return .binpackMemory
            default:
                throw .invalidParameter("A binpack placement strategy needs field cpu or memory; got '\(field)'.")
            }
        case .spread:
            if field == "instanceId" || field == "host" { return .spreadInstance }
            if field.hasPrefix("attribute:"), field.count > "attribute:".count {
                return .spreadAttribute(String(field.dropFirst("attribute:".count)))
            }
            throw .invalidParameter(
                "A spread placement strategy needs field instanceId, host or attribute:<name>; got '\(field)'.")
        case .random:
            guard field.isEmpty else {
                throw .invalidParameter("The random placement strategy takes no field; got '\(field)'.")
            }
            return .random
        case nil:
            throw .invalidParameter("A placement strategy needs a type: binpack, random or spread.")
        }
    }

    /// ECS's default for services: balance availability zones, then instances.
    public static let serviceDefault: [PlacementRule] = [.spreadAttribute("ecs.availability-zone"), .spreadInstance]
}

/// What to place: `count` tasks with the same requirements, as one task group.
public struct PlacementRequest: Sendable {
    public var requirements: TaskRequirements
    public var count: Int
    public var group: String
    public var rules: [PlacementRule]
    public var memberOf: [QueryExpression]
    public var distinctInstance: Bool
    /// When set, only instances of these capacity providers qualify.
    public var capacityProviders: Set<String>?
    /// Score every feasible instance instead of a sample (the baseline the benchmark compares with).
    public var exhaustive = false

    public init(
        requirements: TaskRequirements,
        count: Int = 1,
        group: String,
        rules: [PlacementRule] = [.random],
        memberOf: [QueryExpression] = [],
        distinctInstance: Bool = false,
        capacityProviders: Set<String>? = nil
    ) {
        self.requirements = requirements
        self.count = count
        self.group = group
        self.rules = rules
        self.memberOf = memberOf
        self.distinctInstance = distinctInstance
        self.capacityProviders = capacityProviders
    }
}

/// Where tasks went, and why the rest could not go anywhere.
public struct PlacementResult: Sendable, Equatable {
    /// Instance ARNs, one per placed task, in placement order.
    public var placed: [String] = []
    /// For an unplaceable task: each instance and the first check it failed (ECS's `failures`).
    public var failures: [Failure] = []
    /// The instance that got furthest through the checks, for service events.
    public var closest: (arn: String, reason: PlacementFailureReason)?

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.placed == rhs.placed && lhs.failures == rhs.failures && lhs.closest?.arn == rhs.closest?.arn
            && lhs.closest?.reason == rhs.closest?.reason
    }
}

/// The placement engine: filters instances by resources, attributes and constraints, ranks the
/// feasible ones by the strategies in order (later ones break ties of earlier ones), and takes the
/// best. Pure: it changes only the capacity it is given, and its randomness comes from the caller.
///
/// Like Nomad, it does not score every instance. It walks the instances in a random order and
/// stops after `candidateLimit(n)` feasible ones — all of them up to 64 instances, then a number
/// growing with log2(n) — so the cost of a placement grows logarithmically with the cluster.
public enum PlacementEngine {
    public static func candidateLimit(_ instances: Int) -> Int {
        guard instances > 64 else { return instances }
        var log2 = 0
        while (1 << log2) < instances { log2 += 1 }
        return 16 + 4 * log2
    }

    public static func place(
        _ request: PlacementRequest,
        capacity: inout ClusterCapacity,
        using generator: inout some RandomNumberGenerator
    ) -> PlacementResult {
        var result = PlacementResult()
        for rule in request.rules {
            if case .spreadAttribute(let name) = rule { capacity.prepareSpread(group: request.group, attribute: name) }
        }
        for _ in 0..<request.count {
            guard let index = choose(request, capacity: capacity, using: &generator) else {
                let diagnosis = diagnose(request, capacity: capacity)
                result.failures = diagnosis.failures
                result.closest = diagnosis.closest
                break
            }
            capacity.reserve(request.requirements, group: request.group, at: index)
            result.placed.append(capacity.slots[index].arn)
        }
        return result
    }

    /// Whether a task fits on the slot; `nil` when it does, else the first failed check.
    public static func check(_ request: PlacementRequest, _ slot: InstanceSlot) -> PlacementFailureReason? {
        if slot.status != .active { return slot.status == .draining ? .draining : .inactive }
        if !slot.connected { return .agent }
        for attribute in request.requirements.attributes {
            guard let present = slot.attributes[attribute.name] else { return .attribute }
            if let wanted = attribute.value, present != wanted { return .attribute }
        }
        if let providers = request.capacityProviders, !providers.contains(slot.capacityProviderName ?? "") {
            return .capacityProvider
        }
        if slot.cpuRemaining < request.requirements.cpu { return .cpu }
        if slot.memoryRemaining < request.requirements.memory { return .memory }
        for port in request.requirements.tcpPorts where slot.tcpPortsInUse.contains(port) { return .ports }
        for port in request.requirements.udpPorts where slot.udpPortsInUse.contains(port) { return .ports }
        for expression in request.memberOf where !expression.matches(slot) { return .memberOf }
        if request.distinctInstance, (slot.groupCounts[request.group] ?? 0) > 0 { return .distinctInstance }
        return nil
    }

    private static func choose(
        _ request: PlacementRequest,
        capacity: ClusterCapacity,
        using generator: inout some RandomNumberGenerator
    ) -> Int? {
        let n = capacity.slots.count
        guard n > 0 else { return nil }
        let limit = request.exhaustive ? n : candidateLimit(n)
        // A random start and a stride coprime with n visit every instance once, in a random order.
        let start = Int.random(in: 0..<n, using: &generator)
        let stride = coprimeStride(n, using: &generator)
        // Spread tables are looked up once per decision, not once per comparison.
        let spreadTables: [[String: Int]] = request.rules.map { rule in
            if case .spreadAttribute(let name) = rule { return capacity.spreadTable(group: request.group, attribute: name) }
            return [:]
        }
        var best: Int?
        var bestScores = [Int](repeating: 0, count: request.rules.count)
        var scores = bestScores
        var feasible = 0
        var position = start
        return capacity.slots.withUnsafeBufferPointer { slots -> Int? in
            for _ in 0..<n {
                let index = position
                position += stride
                if position >= n { position -= n }
                guard check(request, slots[index]) == nil else { continue }
                feasible += 1
                // Lower is better for every rule; rules later in the list break ties of earlier ones.
                for (ruleIndex, rule) in request.rules.enumerated() {
                    switch rule {
                    case .binpackCPU: scores[ruleIndex] = slots[index].cpuRemaining
                    case .binpackMemory: scores[ruleIndex] = slots[index].memoryRemaining
                    case .spreadInstance: scores[ruleIndex] = slots[index].groupCounts[request.group] ?? 0
                    case .spreadAttribute(let name):
                        scores[ruleIndex] = spreadTables[ruleIndex][ClusterCapacity.spreadValue(name, slots[index])] ?? 0
                    case .random: scores[ruleIndex] = Int(truncatingIfNeeded: generator.next() >> 1)
                    }
                }
                if best == nil || scores.lexicographicallyPrecedes(bestScores) {
                    best = index
                    swap(&scores, &bestScores)
                }
                if feasible >= limit { break }
            }
            return best
        }
    }

    private static func coprimeStride(_ n: Int, using generator: inout some RandomNumberGenerator) -> Int {
        guard n > 2 else { return 1 }
        let primes = [1_000_003, 1_000_033, 1_000_037, 1_000_039, 999_983, 999_979]
        var offset = Int.random(in: 0..<primes.count, using: &generator)
        for _ in 0..<primes.count {
            let prime = primes[offset]
            if n % prime != 0 { return prime % n == 0 ? 1 : prime % n }
            offset = (offset + 1) % primes.count
        }
        return 1
    }

    /// Every instance with the first check it failed, and the one that got furthest.
    public static func diagnose(
        _ request: PlacementRequest,
        capacity: ClusterCapacity,
        limit: Int = 100
    ) -> (failures: [Failure], closest: (arn: String, reason: PlacementFailureReason)?) {
        var failures: [Failure] = []
        var closest: (arn: String, reason: PlacementFailureReason)?
        for slot in capacity.slots {
            guard let reason = check(request, slot) else { continue }
            if failures.count < limit { failures.append(Failure(arn: slot.arn, reason: reason.rawValue)) }
            if closest == nil || reason > closest!.reason { closest = (slot.arn, reason) }
        }
        return (failures, closest)
    }
}
