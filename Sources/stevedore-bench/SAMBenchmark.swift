import ArgumentParser
import CurlHTTP
import Foundation

/// `sam deploy` of the hello-world API (Examples/sam/hello-api), timed from the command to
/// its end, against ecsd and against moto_server in the same run: the real aws-sam-cli, pointed
/// at each by AWS_ENDPOINT_URL alone. Most of a deploy is sam's own waiting: the figures say
/// which poll delay it used.
struct SAMBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sam",
        abstract: "sam deploy of the hello-world stack, seconds from the command to complete, ecsd vs moto_server."
    )

    @Option(help: "Path to the ecsd binary (build it with -c release for real figures).") var ecsd = ".build/release/ecsd"
    @Option(help: "moto_server executable (pip install 'moto[server]').") var moto = "moto_server"
    @Option(help: "The sam CLI (make test-deps puts it in ~/.local/share/stevedore/sam).")
    var sam = NSHomeDirectory() + "/.local/share/stevedore/sam/bin/sam"
    @Option(help: "The SAM project to deploy.") var project = "Examples/sam/hello-api"
    @Option(help: "Deploys per target after the first.") var repeats = 3
    @Option(help: "SAM_CLI_POLL_DELAY: seconds between sam's DescribeStackEvents calls (its default is 0.5).") var pollDelay = "0.5"

    func run() async throws {
        guard let motoPath = which(moto) else { throw BenchError("moto_server not found: pip install 'moto[server]'") }
        guard FileManager.default.isExecutableFile(atPath: ecsd) else { throw BenchError("\(ecsd) not found: swift build -c release --product ecsd") }
        guard FileManager.default.isExecutableFile(atPath: sam) else { throw BenchError("\(sam) not found: scripts/install-test-deps.sh installs it") }
        let work = NSTemporaryDirectory() + "stevedore-sam-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        try FileManager.default.copyItem(atPath: project, toPath: work + "/project")
        try FileManager.default.createDirectory(atPath: work + "/home", withIntermediateDirectories: true)

        let ecsdPort = freePort()
        let motoPort = ecsdPort + 1
        let ecsdProcess = try ChildProcess(
            name: "ecsd", executable: ecsd,
            arguments: ["--listen", "127.0.0.1:\(ecsdPort)", "--gateway-listen", "127.0.0.1:0", "--data-dir", work + "/ecsd", "--log-level", "warning", "--auth", "off"],
            logPath: work + "/ecsd.log")
        defer { ecsdProcess.stop() }
        let motoProcess = try ChildProcess(name: "moto_server", executable: motoPath, arguments: ["-H", "127.0.0.1", "-p", "\(motoPort)"], logPath: work + "/moto.log")
        defer { motoProcess.stop() }
        // moto's CloudFormation reads a path-style TemplateURL only when its host says "localhost".
        let targets = [("ecsd", "http://127.0.0.1:\(ecsdPort)"), ("moto", "http://localhost:\(motoPort)")]
        try await ecsdProcess.waitUntilReady(HTTPClient(baseURL: targets[0].1), path: "/healthz")
        try await motoProcess.waitUntilReady(HTTPClient(baseURL: "http://127.0.0.1:\(motoPort)"), path: "/moto-api/")

        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ACCESS_KEY_ID"] = "bench"
        environment["AWS_SECRET_ACCESS_KEY"] = "bench"
        environment["AWS_DEFAULT_REGION"] = "us-east-1"
        environment["SAM_CLI_TELEMETRY"] = "0"
        environment["SAM_CLI_POLL_DELAY"] = pollDelay
        environment["HOME"] = work + "/home"
        let built = try Self.timed(sam, ["build"], directory: work + "/project", environment: environment)
        guard built.status == 0 else { throw BenchError("sam build failed: \(built.output)") }

        // Both targets deploy from a bucket made beforehand (moto_server's managed stack lacks
        // what `--resolve-s3` checks); ecsd's `--resolve-s3` deploy, which also makes sam's
        // managed stack, is timed apart.
        guard let awsPath = which("aws") else { throw BenchError("aws not found: pip install awscli") }
        var rows: [[String]] = []
        var medians: [String: Double] = [:]
        var resolved: Double?
        for (name, endpoint) in targets {
            var env = environment
            env["AWS_ENDPOINT_URL"] = endpoint
            let bucket = try Self.timed(awsPath, ["--endpoint-url", endpoint, "s3", "mb", "s3://bench-artifacts"], directory: work, environment: env)
            guard bucket.status == 0 else { throw BenchError("CreateBucket on \(name) failed: \(bucket.output)") }
            if name == "ecsd" {
                let deploy = try Self.timed(
                    sam, ["deploy", "--resolve-s3", "--stack-name", "bench-resolved", "--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset", "--no-progressbar"],
                    directory: work + "/project", environment: env)
                guard deploy.status == 0 else { throw BenchError("sam deploy --resolve-s3 to ecsd failed: \(deploy.output.suffix(2000))") }
                resolved = deploy.seconds
            }
            var seconds: [Double] = []
            for index in 0...repeats {
                let stack = "bench-\(index)"
                let deploy = try Self.timed(
                    sam, ["deploy", "--s3-bucket", "bench-artifacts", "--stack-name", stack, "--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset", "--no-progressbar"],
                    directory: work + "/project", environment: env)
                guard deploy.status == 0, deploy.output.contains("Successfully created/updated stack") else {
                    throw BenchError("sam deploy to \(name) failed (\(deploy.status)): \(deploy.output.suffix(2000))")
                }
                note(String(format: "sam deploy %@ to %@: %.1f s", stack, name, deploy.seconds))
                seconds.append(deploy.seconds)
            }
            let later = seconds.dropFirst().sorted()
            let median = later.isEmpty ? seconds[0] : later[later.count / 2]
            medians[name] = median
            rows.append([name, String(format: "%.1f s", seconds[0]), String(format: "%.1f s", median), String(format: "%.1f s", later.first ?? seconds[0]),
                String(format: "%.1f s", later.last ?? seconds[0])])
            note(String(format: "%@: first %.1f s, median of the next %d %.1f s", name, seconds[0], repeats, median))
        }
        for index in rows.indices {
            let name = rows[index][0]
            rows[index].append(name == "moto" ? "baseline" : String(format: "%.2fx moto's time", medians[name]! / max(medians["moto"]!, 0.001)))
        }
        print("sam deploy of \(project) (aws-sam-cli, --s3-bucket made beforehand, SAM_CLI_POLL_DELAY=\(pollDelay) s; sam build took \(String(format: "%.1f", built.seconds)) s)")
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores\n")
        print(table(["target", "first deploy", "median of next \(repeats)", "fastest", "slowest", "ratio"], rows))
        if let resolved { print(String(format: "\necsd with --resolve-s3 (sam's managed bucket stack made first): %.1f s", resolved)) }
        print("\nMuch of a deploy is the client's own waiting: sam polls DescribeChangeSet and DescribeStackEvents every SAM_CLI_POLL_DELAY seconds.")
    }

    /// Runs a program to its end in `directory`; its exit status, output (stdout and stderr) and wall time.
    static func timed(_ executable: String, _ arguments: [String], directory: String, environment: [String: String]) throws
        -> (status: Int32, output: String, seconds: Double)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let start = ContinuousClock.now
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let elapsed = ContinuousClock.now - start
        return (process.terminationStatus, String(decoding: data, as: UTF8.self), durationSeconds(elapsed))
    }
}
