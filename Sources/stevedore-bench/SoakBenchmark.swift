import Glibc
import AgentProtocol
import ArgumentParser
import CurlHTTP
import ECSAgent
import ECSShapes
import Foundation
import Logging
import StevedoreClient
import StevedoreCore
import Synchronization

/// Crash soak: RunTask, CreateService and UpdateService load with client tokens and retries
/// while ecsd is killed with SIGKILL every few seconds, then an audit of every acknowledged write.
struct SoakBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "kill -9 ecsd under RunTask/CreateService/UpdateService load; audit lost and duplicated writes, time restarts."
    )

    @Option(help: "Path to the ecsd binary.") var ecsd = ".build/release/ecsd"
    @Option(help: "How many times ecsd is killed.") var kills = 20
    @Option(help: "Seconds of load between kills.") var interval = 3.0
    @Option(help: "Concurrent callers.") var callers = 8
    @Option(help: "Simulated container instances.") var instances = 20

    func run() async throws {
        guard FileManager.default.isExecutableFile(atPath: ecsd) else {
            throw BenchError("\(ecsd) not found: swift build -c release --product ecsd")
        }
        let work = NSTemporaryDirectory() + "stevedore-soak-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let port = freePort()
        let endpoint = "http://127.0.0.1:\(port)"
        let server = Restartable(ecsd: ecsd, port: port, work: work)
        defer { server.stop() }
        _ = try await server.start()
        let client = APIClient(endpoint: endpoint)
        let _: CreateClusterResponse = try await client.ecs("CreateCluster", CreateClusterRequest(clusterName: "soak"))
        let _: RegisterTaskDefinitionResponse = try await client.ecs("RegisterTaskDefinition", RunTaskBenchmark.definition)

        let fleetTask = try await RunTaskBenchmark.startFleet(endpoint: endpoint, cluster: "soak", instances: instances, client: client)
        defer { fleetTask.cancel() }

        let ledger = Ledger()
        let running = LoadSwitch()
        note("soak: \(callers) callers, ecsd killed every \(interval) s, \(kills) times")
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for caller in 0..<callers {
                    group.addTask { await Self.caller(caller, client: client, ledger: ledger, running: running) }
                }
            }
        }
        var restarts: [Double] = []
        for kill in 1...kills {
            try await Task.sleep(for: .seconds(interval))
            server.kill()
            restarts.append(try await server.start())
            note("kill \(kill)/\(kills): back in \(ms(restarts.last!))")
        }
        try await Task.sleep(for: .seconds(interval))
        running.turnOff()
        await load.value

        note("auditing")
        let audit = try await Self.audit(ledger, client: client)
        restarts.sort()
        print("Crash soak: \(kills) x kill -9 of ecsd, one every \(interval) s, \(callers) callers, \(instances) simulated instances")
        print(
            table(
                ["WRITE", "ACKNOWLEDGED", "LOST", "DUPLICATED"],
                [
                    ["RunTask (with clientToken)", "\(audit.runTasks)", "\(audit.lostTasks)", "\(audit.duplicatedRuns)"],
                    ["CreateService (with clientToken)", "\(audit.services)", "\(audit.lostServices)", "\(audit.duplicatedServices)"],
                    ["UpdateService", "\(audit.updates)", "\(audit.lostUpdates)", "-"],
                ]))
        print("retried calls (connection lost or 5xx, then repeated with the same token): \(ledger.retries)")
        print("restart (spawn -> first API answer): p50 \(ms(restarts.percentile(0.5))), max \(ms(restarts.last ?? 0))")
        print("tasks kept at the end: \(audit.tasksKept)")
        print("target: 0 lost, 0 duplicated")
    }

    // MARK: Load

    /// One caller: RunTask mostly, and CreateService / UpdateService on services of its own (so the
    /// last acknowledged desired count of each is known), each retried with the same token until answered.
    static func caller(_ index: Int, client: APIClient, ledger: Ledger, running: LoadSwitch) async {
        var generator = SystemRandomNumberGenerator()
        var services: [String] = []
        var sequence = 0
        while running.isOn {
            sequence += 1
            let roll = Int.random(in: 0..<100, using: &generator)
            if roll < 70 || services.isEmpty && roll < 85 {
                let token = UUID().uuidString
                let count = Int.random(in: 1...3, using: &generator)
                let startedBy = "soak-\(index)-\(sequence)"
                let request = RunTaskRequest(cluster: "soak", count: count, startedBy: startedBy, taskDefinition: "bench", clientToken: token)
                if let response: PlacedTasks = await retrying(ledger, running: running, { try await client.ecs("RunTask", request) }) {
                    ledger.ranTasks(startedBy: startedBy, count: count, arns: response.tasks?.compactMap(\.taskArn) ?? [])
                }
            } else if roll < 85 || services.isEmpty {
                let name = "svc-\(index)-\(sequence)"
                let request = CreateServiceRequest(
                    cluster: "soak", serviceName: name, taskDefinition: "bench", desiredCount: 1, clientToken: String(UUID().uuidString.prefix(36)))
                if let _: CreateServiceResponse = await retrying(ledger, running: running, { try await client.ecs("CreateService", request) }) {
                    services.append(name)
                    ledger.createdService(name, desired: 1)
                }
            } else {
                let name = services.randomElement(using: &generator)!
                let desired = Int.random(in: 0...3, using: &generator)
                let request = UpdateServiceRequest(cluster: "soak", service: name, desiredCount: desired)
                if let _: UpdateServiceResponse = await retrying(ledger, running: running, { try await client.ecs("UpdateService", request) }) {
                    ledger.updatedService(name, desired: desired)
                }
            }
        }
    }

    /// Repeats a call that failed for want of an answer (connection lost, 5xx) until it is answered;
    /// nil when the soak ended first or the call was refused.
    static func retrying<Output: Sendable>(
        _ ledger: Ledger, running: LoadSwitch, _ call: () async throws -> Output
    ) async -> Output? {
        var attempts = 0
        while true {
            do {
                return try await call()
            } catch let error as AWSError where !error.isRetryable {
                ledger.refused(error)
                return nil
            } catch {
                attempts += 1
                ledger.retried()
                // After the soak, keep trying a while so in-flight writes settle (they may have landed).
                if !running.isOn && attempts > 100 { return nil }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    // MARK: Audit

    struct Audit {
        var runTasks = 0, lostTasks = 0, duplicatedRuns = 0
        var services = 0, lostServices = 0, duplicatedServices = 0
        var updates = 0, lostUpdates = 0
        var tasksKept = 0
    }

    static func audit(_ ledger: Ledger, client: APIClient) async throws -> Audit {
        var audit = Audit()
        let record = ledger.snapshot
        // Every task of the cluster, by who started it.
        var byStarter: [String: Set<String>] = [:]
        var all: Set<String> = []
        for status in [DesiredStatus.running, .stopped] {
            var token: String?
            repeat {
                let page: ListTasksResponse = try await client.ecs(
                    "ListTasks", ListTasksRequest(cluster: "soak", nextToken: token, maxResults: 100, desiredStatus: status))
                all.formUnion(page.taskArns ?? [])
                token = page.nextToken
            } while token != nil
        }
        audit.tasksKept = all.count
        let arns = Array(all)
        for start in stride(from: 0, to: arns.count, by: 100) {
            let described: DescribeTasksResponse = try await client.ecs(
                "DescribeTasks", DescribeTasksRequest(cluster: "soak", tasks: Array(arns[start..<min(arns.count, start + 100)])))
            for task in described.tasks ?? [] {
                if let starter = task.startedBy, let arn = task.taskArn { byStarter[starter, default: []].insert(arn) }
            }
        }
        for run in record.runs {
            audit.runTasks += 1
            let found = byStarter[run.startedBy] ?? []
            audit.lostTasks += run.arns.filter { !found.contains($0) }.count
            if found.count > run.count { audit.duplicatedRuns += 1 }
        }
        var listedServices: [String] = []
        var token: String?
        repeat {
            let page: ListServicesResponse = try await client.ecs(
                "ListServices", ListServicesRequest(cluster: "soak", nextToken: token, maxResults: 100))
            listedServices += page.serviceArns ?? []
            token = page.nextToken
        } while token != nil
        let names = listedServices.map { ARN($0)?.lastPathComponent ?? $0 }
        audit.duplicatedServices = names.count - Set(names).count
        let names10 = Array(record.services.keys)
        for start in stride(from: 0, to: names10.count, by: 10) {
            let chunk = Array(names10[start..<min(names10.count, start + 10)])
            let described: DescribeServicesResponse = try await client.ecs(
                "DescribeServices", DescribeServicesRequest(cluster: "soak", services: chunk))
            let desired = Dictionary((described.services ?? []).compactMap { s in s.serviceName.map { ($0, s.desiredCount ?? -1) } }) { a, _ in a }
            for name in chunk {
                audit.services += 1
                guard let actual = desired[name] else {
                    audit.lostServices += 1
                    continue
                }
                if actual != record.services[name] { audit.lostUpdates += 1 }
            }
        }
        audit.updates = record.updates
        return audit
    }
}

/// Whether the soak's callers keep going.
final class LoadSwitch: Sendable {
    private let on = Atomic<Bool>(true)
    var isOn: Bool { on.load(ordering: .relaxed) }
    func turnOff() { on.store(false, ordering: .relaxed) }
}

/// What the soak's callers were told was done.
final class Ledger: Sendable {
    struct Run {
        var startedBy: String
        var count: Int
        var arns: [String]
    }

    struct Record {
        var runs: [Run] = []
        /// The last acknowledged desired count of each service.
        var services: [String: Int] = [:]
        var updates = 0
        var retries = 0
        var refusals: [String: Int] = [:]
    }

    private let record = Mutex(Record())

    var snapshot: Record { record.withLock { $0 } }
    var retries: Int { record.withLock { $0.retries } }

    func ranTasks(startedBy: String, count: Int, arns: [String]) {
        record.withLock { $0.runs.append(Run(startedBy: startedBy, count: count, arns: arns)) }
    }

    func createdService(_ name: String, desired: Int) { record.withLock { $0.services[name] = desired } }

    func updatedService(_ name: String, desired: Int) {
        record.withLock {
            $0.services[name] = desired
            $0.updates += 1
        }
    }

    func retried() { record.withLock { $0.retries += 1 } }

    func refused(_ error: AWSError) { record.withLock { $0.refusals[error.type, default: 0] += 1 } }
}

/// An ecsd that is killed and started again on the same port and data directory.
final class Restartable: @unchecked Sendable {
    let ecsd: String
    let port: Int
    let work: String
    let dataDirectory: String
    private var process: ChildProcess?
    private var starts = 0

    init(ecsd: String, port: Int, work: String, dataDirectory: String? = nil) {
        self.ecsd = ecsd
        self.port = port
        self.work = work
        self.dataDirectory = dataDirectory ?? work + "/ecsd"
    }

    var residentKiB: Int? { process?.residentKiB }

    /// Starts ecsd and returns the seconds from spawn to its first answer to an API call.
    func start() async throws -> Double {
        starts += 1
        let began = ContinuousClock.now
        let child = try ChildProcess(
            name: "ecsd", executable: ecsd,
            arguments: ["--listen", "127.0.0.1:\(port)", "--gateway-listen", "127.0.0.1:0", "--data-dir", dataDirectory, "--log-level", "warning", "--auth", "off", "--agent-timeout", "120"],
            logPath: work + "/ecsd-\(starts).log")
        process = child
        let client = APIClient(endpoint: "http://127.0.0.1:\(port)")
        let deadline = began + .seconds(60)
        while ContinuousClock.now < deadline {
            guard child.process.isRunning else { throw BenchError("ecsd exited with status \(child.process.terminationStatus)") }
            if (try? await client.ecs("ListClusters", ListClustersRequest(), as: ListClustersResponse.self)) != nil {
                return durationSeconds(ContinuousClock.now - began)
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw BenchError("ecsd did not answer within 60 s of starting")
    }

    func kill() {
        guard let process, process.process.isRunning else { return }
        Glibc.kill(process.process.processIdentifier, SIGKILL)
        process.process.waitUntilExit()
    }

    func stop() { process?.stop() }
}
