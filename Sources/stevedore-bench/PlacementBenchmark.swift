import AgentProtocol
import ApplicationAutoScalingShapes
import Archives
import ArgumentParser
import AWSProtocols
import ECS
import ECSShapes
import Foundation
import LambdaShapes
import StevedoreClient
import StevedoreCore

/// Placement decisions per second of the pure engine, sampled against exhaustive scoring.
struct PlacementBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placement",
        abstract: "Placement decisions/s of the engine at 100, 1,000 and 10,000 instances, sampled vs exhaustive."
    )

    @Option(help: "Seconds per measurement.") var seconds = 2.0
    @Option(help: "Cluster sizes.") var sizes = "100,1000,10000"

    func run() throws {
        let counts = sizes.split(separator: ",").compactMap { Int($0) }
        let strategies: [(String, [PlacementRule])] = [
            ("random", [.random]),
            ("binpack(memory)", [.binpackMemory]),
            ("spread(zone)+binpack(memory)", [.spreadAttribute("ecs.availability-zone"), .binpackMemory]),
        ]
        print("Placement engine benchmark: decisions per second on one core, \(seconds) s per figure")
        print("baseline: the same engine scoring every feasible instance (no candidate sampling)\n")
        var rows: [[String]] = []
        var perPlacement: [String: [Int: Double]] = [:]
        for (name, rules) in strategies {
            for count in counts {
                let sampled = measure(instances: count, rules: rules, exhaustive: false)
                let exhaustive = measure(instances: count, rules: rules, exhaustive: true)
                perPlacement[name, default: [:]][count] = 1e9 / sampled
                rows.append([
                    name, "\(count)", "\(PlacementEngine.candidateLimit(count))", format(sampled), format(exhaustive),
                    String(format: "%.1fx", sampled / exhaustive), String(format: "%.0f ns", 1e9 / sampled),
                ])
            }
        }
        print(table(["STRATEGY", "INSTANCES", "CANDIDATES", "SAMPLED/S", "EXHAUSTIVE/S", "SPEEDUP", "COST/PLACEMENT"], rows))
        print("")
        for (name, costs) in perPlacement.sorted(by: { $0.key < $1.key }) {
            guard let small = costs[counts.first ?? 100], let large = costs[counts.last ?? 10000] else { continue }
            let growth = large / small
            let logGrowth = log2(Double(counts.last ?? 1)) / log2(Double(counts.first ?? 2))
            print(String(format: "%@: cost grows %.2fx from %d to %d instances (log2 grows %.2fx, linear would be %.0fx)",
                         name, growth, counts.first ?? 0, counts.last ?? 0, logGrowth, Double(counts.last ?? 1) / Double(counts.first ?? 1)))
        }
        print("target: >= 50,000 placements/s at 1,000 instances; cost growing no faster than log(instances)")
    }

    /// Places small tasks one at a time for `seconds`; refills the cluster when it is full.
    func measure(instances: Int, rules: [PlacementRule], exhaustive: Bool) -> Double {
        var random = Xoshiro256(seed: 1)
        let zones = ["a", "b", "c"]
        func fresh() -> ClusterCapacity {
            ClusterCapacity(
                slots: (0..<instances).map { index in
                    InstanceSlot(
                        arn: "arn:aws:ecs:us-east-1:000000000000:container-instance/bench/\(index)",
                        attributes: ["ecs.availability-zone": zones[index % 3], "ecs.os-type": "linux"],
                        cpu: 4096, memory: 8192)
                })
        }
        var capacity = fresh()
        var request = PlacementRequest(
            requirements: TaskRequirements(cpu: 8, memory: 16, attributes: [TaskRequirements.RequiredAttribute(name: "ecs.os-type", value: nil)]),
            count: 1, group: "service:bench", rules: rules)
        request.exhaustive = exhaustive
        var placed = 0
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .milliseconds(Int64(seconds * 1000))
        while clock.now < deadline {
            for _ in 0..<200 {
                let result = PlacementEngine.place(request, capacity: &capacity, using: &random)
                if result.placed.isEmpty { capacity = fresh() } else { placed += 1 }
            }
        }
        let elapsed = clock.now - start
        return Double(placed) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    func format(_ value: Double) -> String { String(format: "%.0f", value) }
}
