/// Gives the host ECS's task credentials address, `169.254.170.2`, on its loopback interface, so
/// containers on a Docker bridge reach the agent's endpoint through their gateway, as they do on
/// ECS. (The real agent's `ecs-init` sends that address to 127.0.0.1 with iptables rules and
/// `route_localnet`; an address of the host's own needs neither, and lets several agents on one
/// host each serve their tasks on their own port.)
enum LinkLocalAddress {
    static let ipPaths = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]

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

    /// Whether the loopback interface has the address.
    static func present(_ ip: String) -> Bool {
        let listed = HostProgram.run(ip, ["-4", "-o", "address", "show", "dev", "lo"])?.output ?? ""
        return listed.contains(" \(CredentialsEndpoint.linkLocalAddress)/32 ")
    }
}
