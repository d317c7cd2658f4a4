import AgentProtocol
import ECSShapes
import StevedoreCore
/// What placement knows about one container instance: what is left of it and what it is.
public struct InstanceSlot: Sendable, Equatable {
    public let arn: String
    /// The last part of the ARN, used in messages.
    public let id: String
    public var ec2InstanceId: String?
    /// `ACTIVE`, `DRAINING`, …
    public var status: InstanceStatus
    public var connected: Bool
    public var agentVersion: String?
    public var registeredAtSeconds: Double?
    public var capacityProviderName: String?
    public var attributes: [String: String?]
    public var cpuRemaining: Int
    public var memoryRemaining: Int
    public var tcpPortsInUse: Set<Int>
    public var udpPortsInUse: Set<Int>
    public var runningTasksCount: Int
    public var pendingTasksCount: Int
    /// Tasks on this instance per task group (`family:web`, `service:api`).
    public var groupCounts: [String: Int]

    public init(
        arn: String,
        ec2InstanceId: String? = nil,
        status: InstanceStatus = .active,
        connected: Bool = true,
        agentVersion: String? = nil,
        registeredAtSeconds: Double? = nil,
        capacityProviderName: String? = nil,
        attributes: [String: String?] = [:],
        cpu: Int,
        memory: Int,
        tcpPortsInUse: Set<Int> = [],
        udpPortsInUse: Set<Int> = []
    ) {
        self.arn = arn
        id = ARN(arn)?.lastPathComponent ?? arn
        self.ec2InstanceId = ec2InstanceId
        self.status = status
        self.connected = connected
        self.agentVersion = agentVersion
        self.registeredAtSeconds = registeredAtSeconds
        self.capacityProviderName = capacityProviderName
        self.attributes = attributes
        cpuRemaining = cpu
        memoryRemaining = memory
        self.tcpPortsInUse = tcpPortsInUse
        self.udpPortsInUse = udpPortsInUse
        runningTasksCount = 0
        pendingTasksCount = 0
        groupCounts = [:]
    }
}

extension InstanceSlot: QueryTarget {
    public var agentConnected: Bool { connected }

    public func attributeValue(_ name: String) -> String?? {
        attributes[name]
    }

    public func hasTask(inGroupMatching predicate: (String) -> Bool) -> Bool {
        groupCounts.contains { $0.value > 0 && predicate($0.key) }
    }
}

/// One cluster's instances as placement sees them, kept up to date as tasks come and go so no
/// request has to rebuild it.
public struct ClusterCapacity: Sendable, Equatable {
    public private(set) var slots: [InstanceSlot] = []
    private var indexByArn: [String: Int] = [:]
    /// Tasks of a group per value of an attribute, for spread strategies: built the first time a
    /// strategy asks, then kept current as tasks come and go (so spreading costs O(1) per task).
    private var spreadIndex: [SpreadKey: [String: Int]] = [:]

    struct SpreadKey: Hashable {
        var group: String
        var attribute: String
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.slots == rhs.slots && lhs.indexByArn == rhs.indexByArn
    }

    /// Prepares the counts a `spread(attribute:<name>)` strategy needs for a group.
    mutating func prepareSpread(group: String, attribute: String) {
        let key = SpreadKey(group: group, attribute: attribute)
        guard spreadIndex[key] == nil else { return }
        var counts: [String: Int] = [:]
        for slot in slots {
            counts[Self.spreadValue(attribute, slot), default: 0] += slot.groupCounts[group] ?? 0
        }
        spreadIndex[key] = counts
    }

    /// Tasks of the group per value of the attribute (prepared by ``prepareSpread(group:attribute:)``).
    func spreadTable(group: String, attribute: String) -> [String: Int] {
        spreadIndex[SpreadKey(group: group, attribute: attribute)] ?? [:]
    }

    static func spreadValue(_ attribute: String, _ slot: InstanceSlot) -> String {
        (slot.attributes[attribute] ?? nil) ?? ""
    }

    private mutating func adjustSpread(group: String, slot: InstanceSlot, by delta: Int) {
        guard !spreadIndex.isEmpty else { return }
        for key in spreadIndex.keys where key.group == group {
            spreadIndex[key]![Self.spreadValue(key.attribute, slot), default: 0] += delta
        }
    }

    public init(slots: [InstanceSlot] = []) {
        for slot in slots { upsert(slot) }
    }

    public var isEmpty: Bool { slots.isEmpty }

    public func index(of arn: String) -> Int? { indexByArn[arn] }

    public subscript(arn: String) -> InstanceSlot? { indexByArn[arn].map { slots[$0] } }

    /// Adds an instance, or replaces its description while keeping what its tasks use.
    public mutating func upsert(_ slot: InstanceSlot) {
        spreadIndex = [:]
        if let index = indexByArn[slot.arn] {
            slots[index] = slot
        } else {
            indexByArn[slot.arn] = slots.count
            slots.append(slot)
        }
    }

    public mutating func remove(_ arn: String) {
        guard let index = indexByArn.removeValue(forKey: arn) else { return }
        spreadIndex = [:]
        let last = slots.count - 1
        if index != last {
            slots.swapAt(index, last)
            indexByArn[slots[index].arn] = index
        }
        slots.removeLast()
    }

    /// Changes an instance's status, connectivity or attributes (not what its tasks take).
    public mutating func update(_ arn: String, _ change: (inout InstanceSlot) -> Void) {
        guard let index = indexByArn[arn] else { return }
        change(&slots[index])
        spreadIndex = [:]
    }

    /// Takes what a task needs on the instance at `index`.
    mutating func reserve(_ requirements: TaskRequirements, group: String, at index: Int, running: Bool = false) {
        slots[index].cpuRemaining -= requirements.cpu
        slots[index].memoryRemaining -= requirements.memory
        slots[index].tcpPortsInUse.formUnion(requirements.tcpPorts)
        slots[index].udpPortsInUse.formUnion(requirements.udpPorts)
        slots[index].groupCounts[group, default: 0] += 1
        adjustSpread(group: group, slot: slots[index], by: 1)
        if running { slots[index].runningTasksCount += 1 } else { slots[index].pendingTasksCount += 1 }
    }

    public mutating func reserve(_ requirements: TaskRequirements, group: String, on arn: String, running: Bool = false) {
        guard let index = indexByArn[arn] else { return }
        reserve(requirements, group: group, at: index, running: running)
    }

    /// Gives back what a task took (when it stops).
    public mutating func release(_ requirements: TaskRequirements, group: String, on arn: String, wasRunning: Bool) {
        guard let index = indexByArn[arn] else { return }
        slots[index].cpuRemaining += requirements.cpu
        slots[index].memoryRemaining += requirements.memory
        slots[index].tcpPortsInUse.subtract(requirements.tcpPorts)
        slots[index].udpPortsInUse.subtract(requirements.udpPorts)
        let count = (slots[index].groupCounts[group] ?? 1) - 1
        slots[index].groupCounts[group] = count > 0 ? count : nil
        adjustSpread(group: group, slot: slots[index], by: -1)
        if wasRunning {
            slots[index].runningTasksCount = max(0, slots[index].runningTasksCount - 1)
        } else {
            slots[index].pendingTasksCount = max(0, slots[index].pendingTasksCount - 1)
        }
    }

    /// A task moved from pending to running on the instance.
    public mutating func markRunning(on arn: String) {
        guard let index = indexByArn[arn] else { return }
        slots[index].pendingTasksCount = max(0, slots[index].pendingTasksCount - 1)
        slots[index].runningTasksCount += 1
    }
}
