import AgentProtocol
@testable import ECS
import ECSShapes
import StevedoreCore
import StevedoreTestSupport
import Testing

func slot(
    _ id: String,
    cpu: Int = 4096,
    memory: Int = 8192,
    zone: String? = nil,
    status: InstanceStatus = .active,
    connected: Bool = true,
    attributes: [String: String?] = [:],
    ports: Set<Int> = []
) -> InstanceSlot {
    var all = attributes
    if let zone { all["ecs.availability-zone"] = zone }
    return InstanceSlot(
        arn: "arn:aws:ecs:us-east-1:000000000000:container-instance/c/\(id)", status: status, connected: connected,
        attributes: all, cpu: cpu, memory: memory, tcpPortsInUse: ports)
}

func arnId(_ arn: String) -> String { ARN(arn)!.lastPathComponent }

struct PlacementEngineTests {
    var random = Xoshiro256(seed: 42)

    mutating func place(
        _ slots: [InstanceSlot],
        cpu: Int = 256,
        memory: Int = 512,
        count: Int = 1,
        rules: [PlacementRule] = [.random],
        memberOf: [String] = [],
        distinct: Bool = false,
        ports: [Int] = [],
        udp: [Int] = [],
        attributes: [TaskRequirements.RequiredAttribute] = [],
        group: String = "g"
    ) throws -> (PlacementResult, ClusterCapacity) {
        var capacity = ClusterCapacity(slots: slots)
        let request = PlacementRequest(
            requirements: TaskRequirements(cpu: cpu, memory: memory, tcpPorts: ports, udpPorts: udp, attributes: attributes),
            count: count, group: group, rules: rules, memberOf: try memberOf.map { try QueryExpression.parse($0) },
            distinctInstance: distinct)
        let result = PlacementEngine.place(request, capacity: &capacity, using: &random)
        return (result, capacity)
    }

    @Test mutating func binpackMemoryPicksTheFullestInstanceThatFits() throws {
        let slots = [slot("roomy", memory: 8000), slot("tight", memory: 1000), slot("tooSmall", memory: 400)]
        let (result, capacity) = try place(slots, memory: 512, rules: [.binpackMemory])
        #expect(result.placed.map(arnId) == ["tight"])
        #expect(capacity["arn:aws:ecs:us-east-1:000000000000:container-instance/c/tight"]?.memoryRemaining == 488)
    }

    @Test mutating func binpackCPUFillsOneInstanceBeforeTheNext() throws {
        let slots = [slot("a", cpu: 1024), slot("b", cpu: 2048)]
        let (result, _) = try place(slots, cpu: 512, count: 5, rules: [.binpackCPU])
        #expect(result.placed.map(arnId) == ["a", "a", "b", "b", "b"])
    }

    @Test mutating func spreadByInstanceBalances() throws {
        let slots = (0..<4).map { slot("i\($0)") }
        let (result, _) = try place(slots, count: 8, rules: [.spreadInstance])
        let counts = Dictionary(grouping: result.placed, by: { $0 }).mapValues(\.count)
        #expect(counts.values.allSatisfy { $0 == 2 })
    }

    @Test mutating func spreadByAttributeBalancesZonesThenBinpacksWithin() throws {
        let slots = [
            slot("a1", zone: "a"), slot("a2", memory: 2048, zone: "a"), slot("b1", zone: "b"), slot("c1", zone: "c"),
        ]
        let (result, _) = try place(slots, count: 6, rules: [.spreadAttribute("ecs.availability-zone"), .binpackMemory])
        let zones = result.placed.map { arnId($0).prefix(1) }
        #expect(zones.filter { $0 == "a" }.count == 2)
        #expect(zones.filter { $0 == "b" }.count == 2)
        #expect(zones.filter { $0 == "c" }.count == 2)
        // Within zone a, binpack prefers the instance with less memory left.
        #expect(result.placed.filter { arnId($0).hasPrefix("a") }.map(arnId) == ["a2", "a2"])
    }

    @Test mutating func spreadCountsTasksAlreadyRunning() throws {
        var busy = slot("busy", zone: "a")
        busy.groupCounts = ["g": 3]
        let (result, _) = try place([busy, slot("idle", zone: "b")], count: 3, rules: [.spreadAttribute("ecs.availability-zone")])
        #expect(result.placed.map(arnId) == ["idle", "idle", "idle"])
    }

    @Test mutating func randomSpreadsAcrossRuns() throws {
        let slots = (0..<10).map { slot("i\($0)") }
        var seen = Set<String>()
        for _ in 0..<50 {
            let (result, _) = try place(slots)
            seen.insert(result.placed[0])
        }
        #expect(seen.count >= 8)
    }

    @Test mutating func chainedStrategiesBreakTiesInOrder() throws {
        // Equal spread counts; binpack decides.
        let slots = [slot("big", memory: 8000, zone: "a"), slot("small", memory: 1000, zone: "b")]
        let (result, _) = try place(slots, rules: [.spreadInstance, .binpackMemory])
        #expect(result.placed.map(arnId) == ["small"])
    }

    @Test mutating func distinctInstanceNeverStacks() throws {
        let slots = (0..<3).map { slot("i\($0)") }
        let (result, _) = try place(slots, count: 5, distinct: true)
        #expect(Set(result.placed).count == 3)
        #expect(result.placed.count == 3)
        #expect(result.failures.allSatisfy { $0.reason == "DistinctInstance placement constraint unsatisfied" })
    }

    @Test mutating func memberOfFiltersInstances() throws {
        let slots = [slot("t2", attributes: ["ecs.instance-type": "t2.small"]), slot("m5", attributes: ["ecs.instance-type": "m5.large"])]
        let (result, _) = try place(slots, count: 3, memberOf: ["attribute:ecs.instance-type =~ t2.*"])
        #expect(result.placed.map(arnId) == ["t2", "t2", "t2"])
        let (none, _) = try place(slots, memberOf: ["attribute:ecs.instance-type == c5.xlarge"])
        #expect(none.placed.isEmpty)
        #expect(none.failures.map(\.reason) == Array(repeating: "MemberOf placement constraint unsatisfied", count: 2))
    }

    @Test mutating func taskGroupAffinityAndAntiAffinity() throws {
        var database = slot("db")
        database.groupCounts = ["service:database": 1]
        let slots = [database, slot("free")]
        let (near, _) = try place(slots, memberOf: ["task:group == service:database"])
        #expect(near.placed.map(arnId) == ["db"])
        let (away, _) = try place(slots, memberOf: ["not(task:group == service:database)"])
        #expect(away.placed.map(arnId) == ["free"])
    }

    @Test mutating func staticPortsConflict() throws {
        let slots = [slot("a", ports: [22, 80]), slot("b", ports: [22])]
        let (result, capacity) = try place(slots, count: 2, ports: [80])
        #expect(result.placed.map(arnId) == ["b"])
        #expect(result.failures.map(\.reason) == ["RESOURCE:PORTS", "RESOURCE:PORTS"])
        #expect(capacity.slots.allSatisfy { $0.tcpPortsInUse.contains(80) })
        // UDP ports are separate from TCP ones.
        let (udp, _) = try place(slots, count: 2, udp: [80])
        #expect(udp.placed.count == 2)
    }

    @Test mutating func failureReasonsNameTheFirstFailedCheck() throws {
        let slots = [
            slot("cpu", cpu: 100), slot("memory", memory: 100), slot("agent", connected: false), slot("drain", status: .draining),
            slot("attr"),
        ]
        let (result, _) = try place(slots, attributes: [.init(name: "ecs.capability.gpu", value: nil)])
        let reasons = Dictionary(uniqueKeysWithValues: result.failures.map { (arnId($0.arn!), $0.reason!) })
        #expect(reasons["drain"] == "DRAINING")
        #expect(reasons["agent"] == "AGENT")
        #expect(reasons["attr"] == "ATTRIBUTE")
        let (resources, _) = try place(Array(slots.prefix(2)))
        let resourceReasons = Dictionary(uniqueKeysWithValues: resources.failures.map { (arnId($0.arn!), $0.reason!) })
        #expect(resourceReasons == ["cpu": "RESOURCE:CPU", "memory": "RESOURCE:MEMORY"])
        #expect(resources.closest?.reason == .memory)
    }

    @Test mutating func requiredAttributeValuesMustMatch() throws {
        let slots = [slot("x86", attributes: ["ecs.cpu-architecture": "x86_64"]), slot("arm", attributes: ["ecs.cpu-architecture": "arm64"])]
        let (result, _) = try place(slots, count: 2, attributes: [.init(name: "ecs.cpu-architecture", value: "arm64")])
        #expect(result.placed.map(arnId) == ["arm", "arm"])
    }

    @Test mutating func emptyClusterPlacesNothing() throws {
        let (result, _) = try place([])
        #expect(result.placed.isEmpty)
        #expect(result.failures.isEmpty)
    }

    @Test func candidateLimitGrowsLogarithmically() {
        #expect(PlacementEngine.candidateLimit(10) == 10)
        #expect(PlacementEngine.candidateLimit(64) == 64)
        #expect(PlacementEngine.candidateLimit(1000) == 56)
        #expect(PlacementEngine.candidateLimit(10_000) == 72)
        #expect(PlacementEngine.candidateLimit(100_000) == 84)
    }

    @Test mutating func largeClustersStillPackSensibly() throws {
        // With sampling, binpack still prefers fuller instances among the candidates it sees.
        // Half the instances are nearly full; a sample of ~56 misses all of them with probability 2^-56.
        let slots = (0..<2000).map { index in slot("i\(index)", memory: index.isMultiple(of: 2) ? 600 : 8192) }
        let (result, _) = try place(slots, memory: 512, count: 3, rules: [.binpackMemory])
        #expect(result.placed.count == 3)
        for placed in result.placed {
            let index = try #require(Int(arnId(placed).dropFirst()))
            #expect(index.isMultiple(of: 2), "binpack chose roomy instance \(arnId(placed))")
        }
    }

    @Test func strategyParsing() throws {
        #expect(try PlacementRule.parse(PlacementStrategy(type: .binpack, field: "MEMORY")) == .binpackMemory)
        #expect(try PlacementRule.parse(PlacementStrategy(type: .spread, field: "host")) == .spreadInstance)
        #expect(try PlacementRule.parse(PlacementStrategy(type: .spread, field: "attribute:stack")) == .spreadAttribute("stack"))
        #expect(try PlacementRule.parse(PlacementStrategy(type: .random)) == .random)
        #expect(throws: AWSError.self) { try PlacementRule.parse(PlacementStrategy(type: .binpack, field: "disk")) }
        #expect(throws: AWSError.self) { try PlacementRule.parse(PlacementStrategy(type: .spread)) }
        #expect(throws: AWSError.self) { try PlacementRule.parse(PlacementStrategy(type: .random, field: "cpu")) }
        #expect(throws: AWSError.self) { try PlacementRule.parse(PlacementStrategy()) }
    }
}

/// Property-style: whatever the cluster and the requests, no placement ever over-commits.
struct PlacementPropertyTests {
    @Test(arguments: 0..<40)
    func neverOverCommits(seed: Int) throws {
        var random = Xoshiro256(seed: UInt64(seed))
        let instanceCount = Int.random(in: 1...80, using: &random)
        var slots: [InstanceSlot] = []
        for index in 0..<instanceCount {
            let reserved = Set((0..<Int.random(in: 0...3, using: &random)).map { _ in Int.random(in: 8000...8010, using: &random) })
            slots.append(
                slot(
                    "i\(index)", cpu: Int.random(in: 0...4096, using: &random), memory: Int.random(in: 0...8192, using: &random),
                    zone: ["a", "b", "c"].randomElement(using: &random), connected: Int.random(in: 0..<10, using: &random) > 0,
                    ports: reserved))
        }
        var capacity = ClusterCapacity(slots: slots)
        let registered = Dictionary(uniqueKeysWithValues: slots.map { ($0.arn, $0) })
        let allRules: [[PlacementRule]] = [
            [.random], [.binpackCPU], [.binpackMemory], [.spreadInstance], [.spreadAttribute("ecs.availability-zone"), .binpackMemory],
        ]
        var placedPorts: [String: [Int]] = [:]
        for _ in 0..<30 {
            let ports = Int.random(in: 0..<3, using: &random) == 0 ? [Int.random(in: 8000...8010, using: &random)] : []
            let request = PlacementRequest(
                requirements: TaskRequirements(
                    cpu: Int.random(in: 0...1024, using: &random), memory: Int.random(in: 6...2048, using: &random), tcpPorts: ports),
                count: Int.random(in: 1...10, using: &random), group: "g\(Int.random(in: 0..<3, using: &random))",
                rules: allRules.randomElement(using: &random)!, distinctInstance: Int.random(in: 0..<4, using: &random) == 0)
            let result = PlacementEngine.place(request, capacity: &capacity, using: &random)
            for arn in result.placed {
                #expect(registered[arn]!.connected, "placed on a disconnected instance")
                for port in ports {
                    #expect(!(placedPorts[arn] ?? []).contains(port), "port \(port) placed twice on \(arn)")
                    #expect(!registered[arn]!.tcpPortsInUse.contains(port), "reserved port \(port) taken")
                    placedPorts[arn, default: []].append(port)
                }
            }
            if request.distinctInstance {
                #expect(Set(result.placed).count == result.placed.count)
            }
        }
        for slot in capacity.slots {
            #expect(slot.cpuRemaining >= 0, "CPU over-committed on \(slot.id)")
            #expect(slot.memoryRemaining >= 0, "memory over-committed on \(slot.id)")
        }
    }
}
