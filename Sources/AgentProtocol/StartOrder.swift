import ECSShapes

/// Container start order: a container starts after the containers it `dependsOn` or `links` to.
public enum StartOrder {
    /// The containers each container waits for (dependsOn targets and link targets).
    public static func prerequisites(of container: ContainerDefinition) -> [String] {
        let dependencies = (container.dependsOn ?? []).map(\.containerName)
        let links = (container.links ?? []).compactMap { $0.split(separator: ":", maxSplits: 1).first.map(String.init) }
        var seen = Set<String>()
        return (dependencies + links).filter { seen.insert($0).inserted }
    }

    /// A cycle as a list of names (first repeated at the end), or `nil` when the order is acyclic.
    public static func cycle(in containers: [ContainerDefinition]) -> [String]? {
        let edges = Dictionary(
            containers.compactMap { container in container.name.map { ($0, prerequisites(of: container)) } },
            uniquingKeysWith: { first, _ in first }
        )
        var state: [String: Int] = [:]  // 1 visiting, 2 done
        var stack: [String] = []
        func visit(_ name: String) -> [String]? {
            if state[name] == 2 { return nil }
            if state[name] == 1 {
                let start = stack.firstIndex(of: name)!
                return Array(stack[start...]) + [name]
            }
            state[name] = 1
            stack.append(name)
            for next in edges[name] ?? [] where edges[next] != nil {
                if let cycle = visit(next) { return cycle }
            }
            stack.removeLast()
            state[name] = 2
            return nil
        }
        for container in containers {
            if let name = container.name, let cycle = visit(name) { return cycle }
        }
        return nil
    }

    /// Names in an order where every container comes after its prerequisites (input order otherwise).
    public static func sorted(_ containers: [ContainerDefinition]) -> [String] {
        var placed: [String] = []
        var placedSet = Set<String>()
        var remaining = containers.compactMap(\.name)
        let byName = Dictionary(containers.compactMap { c in c.name.map { ($0, c) } }, uniquingKeysWith: { a, _ in a })
        while !remaining.isEmpty {
            let ready = remaining.filter { name in
                prerequisites(of: byName[name]!).allSatisfy { placedSet.contains($0) || byName[$0] == nil }
            }
            let next = ready.isEmpty ? remaining : ready  // a cycle cannot pass validation; stay total anyway
            for name in next {
                placed.append(name)
                placedSet.insert(name)
            }
            remaining.removeAll { placedSet.contains($0) }
        }
        return placed
    }
}
