import ArgumentParser
import CurlHTTP
import ECSAgent
import ECSShapes
import Foundation
import Logging
import StevedoreClient

/// The state on PostgreSQL against the embedded SQLite file: the same RunTask load (count=10,
/// concurrent callers, simulated instances) on each, in the same run.
struct StoreBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "RunTask throughput and p99 with ecsd's state on PostgreSQL against SQLite, in the same run (needs Debian's postgresql)."
    )

    @Option(help: "Path to ecsd.") var ecsd = ".build/release/ecsd"
    @Option(help: "A PostgreSQL database to use (postgres://…); without, a temporary server is made with initdb.") var postgres: String?
    @Option(help: "Simulated container instances.") var instances = 50
    @Option(help: "Concurrent RunTask callers.") var callers = 8
    @Option(help: "Seconds of load on each store.") var seconds = 10

    func run() async throws {
        guard FileManager.default.isExecutableFile(atPath: ecsd) else { throw BenchError("\(ecsd) not found: swift build -c release") }
        let work = NSTemporaryDirectory() + "stevedore-store-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        var server: TemporaryPostgres?
        let url: String
        if let postgres {
            url = postgres
        } else {
            note("starting a temporary PostgreSQL (initdb)")
            let made = try TemporaryPostgres(directory: work + "/pg")
            server = made
            url = try made.createDatabase("bench")
        }
        defer { server?.stop() }

        var results: [(String, RunTaskBenchmark.LoadResult)] = []
        for (name, store) in [("SQLite (embedded)", "sqlite"), ("PostgreSQL \(server?.version ?? "")", url)] {
            note("\(name): \(instances) instances, \(callers) callers, \(seconds) s")
            results.append((name, try await load(store: store, work: work + "/\(results.count)")))
        }
        print("ecsd's state on PostgreSQL against SQLite: RunTask count=10, \(callers) concurrent callers, \(instances) simulated instances, \(seconds) s each\n")
        print(
            table(
                ["STORE", "TASKS PLACED", "TASKS/S", "RUNTASK P50", "RUNTASK P99", "FAILED CALLS"],
                results.map { name, load in
                    [name, "\(load.placed)", String(format: "%.0f", load.tasksPerSecond), ms(load.callLatencies.percentile(0.5)),
                     ms(load.callLatencies.percentile(0.99)), "\(load.failures)"]
                }))
        print(String(format: "\nPostgreSQL / SQLite: %.2fx the tasks placed per second (target >= 0.5x)", results[1].1.tasksPerSecond / max(results[0].1.tasksPerSecond, 1)))
    }

    func ms(_ seconds: Double) -> String { String(format: "%.2f ms", seconds * 1000) }

    func load(store: String, work: String) async throws -> RunTaskBenchmark.LoadResult {
        let port = freePort()
        let endpoint = "http://127.0.0.1:\(port)"
        let process = try ChildProcess(
            name: "ecsd", executable: ecsd,
            arguments: [
                "--listen", "127.0.0.1:\(port)", "--gateway-listen", "127.0.0.1:0", "--data-dir", work, "--log-level", "warning", "--auth", "off",
                "--agent-timeout", "120", "--store", store,
            ],
            logPath: work + ".log")
        defer { process.stop() }
        try await process.waitUntilReady(HTTPClient(baseURL: endpoint), path: "/healthz")
        let client = APIClient(endpoint: endpoint)
        let _: CreateClusterResponse = try await client.ecs("CreateCluster", CreateClusterRequest(clusterName: "bench"))
        let _: RegisterTaskDefinitionResponse = try await client.ecs("RegisterTaskDefinition", RunTaskBenchmark.definition)
        let fleetTask = try await RunTaskBenchmark.startFleet(
            endpoint: endpoint, cluster: "bench", instances: instances, client: client, registrationTimeout: .seconds(120))
        defer { fleetTask.cancel() }
        return try await RunTaskBenchmark.runLoad(client: client, cluster: "bench", seconds: seconds, callers: callers)
    }
}

/// A PostgreSQL server of the benchmark's own: initdb in a directory, a free port, stopped after
/// (as the `postgres` user when run as root, which initdb refuses).
struct TemporaryPostgres {
    let bin: String
    let directory: String
    let port = freePort()
    let asPostgres = getuid() == 0

    init(directory: String) throws {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?.sorted() ?? []
        guard let version = versions.last else { throw BenchError("PostgreSQL's server is not installed (apt-get install postgresql)") }
        bin = "/usr/lib/postgresql/\(version)/bin"
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if asPostgres, let user = getpwnam("postgres") { chown(directory, user.pointee.pw_uid, user.pointee.pw_gid) }
        try run("initdb", "-D", directory + "/data", "-A", "trust", "-U", "stevedore")
        try run("pg_ctl", "-D", directory + "/data", "-l", directory + "/server.log", "-w", "-o", "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1", "start")
    }

    var version: String { String(bin.split(separator: "/").dropLast().last ?? "") }

    func run(_ program: String, _ arguments: String...) throws {
        let status =
            asPostgres ? runQuietly("/usr/sbin/runuser", ["-u", "postgres", "--", bin + "/" + program] + arguments) : runQuietly(bin + "/" + program, arguments)
        guard status == 0 else { throw BenchError("\(program) failed (\(status)); see \(directory)") }
    }

    func createDatabase(_ name: String) throws -> String {
        try run("createdb", "-h", "127.0.0.1", "-p", "\(port)", "-U", "stevedore", name)
        return "postgres://stevedore@127.0.0.1:\(port)/\(name)"
    }

    func stop() {
        try? run("pg_ctl", "-D", directory + "/data", "-m", "fast", "stop")
    }
}
