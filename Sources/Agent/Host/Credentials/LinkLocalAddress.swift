/// Gives the host ECS's task credentials address, `169.254.170.2`, on its loopback interface, so
/// containers on a Docker bridge reach the agent's endpoint through their gateway, as they do on
/// ECS. (The real agent's `ecs-init` sends that address to 127.0.0.1 with iptables rules and
/// `route_localnet`; an address of the host's own needs neither, and lets several agents on one
/// host each serve their tasks on their own port.)
///
/// An address of the host's own is also answered to on every other interface (Linux answers ARP
/// for any of its addresses), so a machine on the same network segment could reach the endpoint
/// too. ``guardFromNetwork()`` drops packets for it that do not come from the host itself or a
/// Docker bridge.
enum LinkLocalAddress {
    static let ipPaths = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
    static let iptablesPaths = ["/usr/sbin/iptables", "/sbin/iptables", "/usr/bin/iptables", "/bin/iptables"]
    /// The chain `INPUT` sends the address's packets to: the interfaces they may come in on return
    /// (loopback, Docker's default bridge and its user-defined ones), anything else is dropped.
    static let chain = "STEVEDORE-CREDENTIALS"
    static let allowedInterfaces = ["lo", "docker+", "br-+"]

    /// Adds the address unless the host has it; nil on success, else why not.
    static func ensure() -> String? {
        guard let ip = HostProgram.find(ipPaths) else { return "iproute2's `ip` is not installed (apt-get install iproute2)" }
        if present(ip) { return nil }
        let address = CredentialsEndpoint.linkLocalAddress + "/32"
        guard let outcome = HostProgram.run(ip, ["-4", "address", "add", address, "dev", "lo"]) else { return "\(ip) could not be started" }
        // Another agent on this host may have added it meanwhile (iproute2 words that differently by version).
        if outcome.status == 0 || present(ip) { return nil }
        let reason = outcome.errors.split(separator: "\n").first.map(String.init) ?? "exit status \(outcome.status)"
        return "`ip address add \(address) dev lo` failed: \(reason)"
    }

    /// Makes sure only the host and its Docker bridges reach the address (several agents on one
    /// host share the rules: each adds what is missing, in order). nil on success, else why not.
    static func guardFromNetwork() -> String? {
        guard let iptables = HostProgram.find(iptablesPaths) else { return "iptables is not installed (apt-get install iptables)" }
        func run(_ arguments: [String]) -> HostProgram.Outcome? { HostProgram.run(iptables, ["-w"] + arguments) }
        // Exists already (another agent, an earlier start) unless this makes it.
        _ = run(["-N", chain])
        let rules = allowedInterfaces.map { ["-i", $0, "-j", "RETURN"] } + [["-j", "DROP"]]
        let wanted = ["-N \(chain)"] + rules.map { "-A \(chain) " + $0.joined(separator: " ") }
        let listed = (run(["-S", chain])?.output ?? "").split(separator: "\n").map(String.init)
        if listed != wanted {
            // Made by another version, or edited: rebuilt in order (a RETURN after the DROP would
            // let nothing in). Another agent doing the same at once can only duplicate rules.
            _ = run(["-F", chain])
            for rule in rules {
                guard let outcome = run(["-A", chain] + rule), outcome.status == 0 else {
                    return "`iptables -A \(chain) \(rule.joined(separator: " "))` failed"
                }
            }
        }
        let jump = ["INPUT", "-d", CredentialsEndpoint.linkLocalAddress + "/32", "-j", chain]
        if run(["-C"] + jump)?.status != 0 {
            let outcome = run(["-I"] + jump)
            if outcome?.status != 0 {
                let reason = outcome.map { $0.errors.split(separator: "\n").first.map(String.init) ?? "exit status \($0.status)" } ?? "could not start"
                return "`iptables -I \(jump.joined(separator: " "))` failed: \(reason)"
            }
        }
        return nil
    }

    /// Whether the loopback interface has the address.
    static func present(_ ip: String) -> Bool {
        let listed = HostProgram.run(ip, ["-4", "-o", "address", "show", "dev", "lo"])?.output ?? ""
        return listed.contains(" \(CredentialsEndpoint.linkLocalAddress)/32 ")
    }
}
