import Archives
import ArgumentParser
import CurlHTTP
import Foundation
import SigV4
import StevedoreClient
import StevedoreCore

/// S3 on ecsd against moto_server's S3 and against the disk itself, in one run: small objects
/// with wrk (throughput, latency), large ones one at a time (MB/s), every request signed as the
/// SDKs sign them (ecsd checks each signature and each body's SHA-256).
struct S3Benchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "s3",
        abstract: "S3 PUT and GET: 4 KB objects (wrk) and 64 MB ones, ecsd vs moto_server, and large ones vs the disk's own sequential speed."
    )

    @Option(help: "Path to the ecsd binary (build it with -c release for real figures).") var ecsd = ".build/release/ecsd"
    @Option(help: "moto_server executable (pip install 'moto[server]').") var moto = "moto_server"
    @Option(help: "wrk executable (Debian package wrk).") var wrk = "wrk"
    @Option(help: "Concurrent connections for small objects.") var connections = 16
    @Option(help: "Seconds per small-object measurement.") var duration = 10
    @Option(help: "Size of the large object, in MiB.") var largeMiB = 64
    @Option(help: "Transfers of the large object per measurement.") var largeCount = 5
    @Option(help: "ecsd's --durability: normal (the default) or full (objects and commits synced before each answer).") var durability = "normal"

    func run() async throws {
        guard let wrkPath = which(wrk) else { throw BenchError("wrk not found: apt-get install wrk") }
        guard let motoPath = which(moto) else { throw BenchError("moto_server not found: pip install 'moto[server]'") }
        guard FileManager.default.isExecutableFile(atPath: ecsd) else { throw BenchError("\(ecsd) not found: swift build -c release --product ecsd") }
        let work = NSTemporaryDirectory() + "stevedore-s3-bench-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        let ecsdPort = freePort()
        let motoPort = ecsdPort + 1
        let ecsdProcess = try ChildProcess(
            name: "ecsd", executable: ecsd,
            arguments: ["--listen", "127.0.0.1:\(ecsdPort)", "--gateway-listen", "127.0.0.1:0", "--data-dir", work + "/ecsd", "--log-level", "warning", "--auth", "on",
                "--durability", durability],
            logPath: work + "/ecsd.log")
        defer { ecsdProcess.stop() }
        let motoProcess = try ChildProcess(name: "moto_server", executable: motoPath, arguments: ["-H", "127.0.0.1", "-p", "\(motoPort)"], logPath: work + "/moto.log")
        defer { motoProcess.stop() }
        let targets = [("ecsd", "127.0.0.1:\(ecsdPort)"), ("moto", "127.0.0.1:\(motoPort)")]
        try await ecsdProcess.waitUntilReady(HTTPClient(baseURL: "http://" + targets[0].1), path: "/healthz")
        try await motoProcess.waitUntilReady(HTTPClient(baseURL: "http://" + targets[1].1), path: "/moto-api/")
        let adminFile = try String(contentsOfFile: work + "/ecsd/admin-credentials", encoding: .utf8)
        guard let admin = SharedCredentialsFile.parse(adminFile)["default"] else { throw BenchError("no admin credentials in \(work)/ecsd") }

        for (_, host) in targets {
            let created = try await send(host, method: "PUT", path: "/bench", body: [], admin)
            guard created.status == 200 else { throw BenchError("CreateBucket on \(host) answered \(created.status): \(created.bodyText)") }
        }

        // Small objects: the same signed request again and again (a signature holds five minutes).
        let small = [UInt8](repeating: UInt8(ascii: "s"), count: 4096)
        var smallRows: [[String]] = []
        var smallResults: [String: [String: APIBenchmark.Measurement]] = [:]
        for (name, host) in targets {
            for method in ["PUT", "GET"] {
                let body = method == "PUT" ? small : []
                let headers = Self.signed(host, method: method, path: "/bench/small", body: body, admin)
                var script = "wrk.method = \"\(method)\"\n"
                if method == "PUT" { script += "wrk.body = string.rep(\"s\", \(small.count))\n" }
                script += headers.map { "wrk.headers[\"\($0.name)\"] = \"\($0.value)\"\n" }.joined()
                let path = work + "/\(name)-\(method).lua"
                try script.write(toFile: path, atomically: true, encoding: .utf8)
                _ = try runProgram(wrkPath, ["-t2", "-c\(connections)", "-d2s", "-s", path, "http://\(host)/bench/small"])
                let output = try runProgram(wrkPath, ["-t2", "-c\(connections)", "-d\(duration)s", "--latency", "-s", path, "http://\(host)/bench/small"])
                let measured = try APIBenchmark.parse(output)
                smallResults[method, default: [:]][name] = measured
                note("\(method) 4 KB on \(name): \(Int(measured.requestsPerSecond)) req/s")
            }
        }
        for method in ["PUT", "GET"] {
            for (name, _) in targets {
                let measured = smallResults[method]![name]!
                let ratio = name == "moto" ? "baseline" : String(format: "%.1fx moto", measured.requestsPerSecond / max(smallResults[method]!["moto"]!.requestsPerSecond, 0.001))
                smallRows.append([
                    "\(method) 4 KB", name, String(format: "%.0f", measured.requestsPerSecond), String(format: "%.2f ms", measured.p50),
                    String(format: "%.2f ms", measured.p99), "\(measured.errors)", ratio,
                ])
            }
        }

        // Large objects, one at a time.
        let size = largeMiB << 20
        var large = [UInt8](repeating: 0, count: size)
        var generator = SystemRandomNumberGenerator()
        for index in stride(from: 0, to: size, by: 8) {
            let value = generator.next()
            withUnsafeBytes(of: value) { bytes in
                for offset in 0..<min(8, size - index) { large[index + offset] = bytes[offset] }
            }
        }
        // The disk as ecsd uses it: written (and with full durability, synced), then read.
        let disk = try Self.diskSpeed(large, directory: work, count: largeCount, syncs: durability == "full")
        var largeRows: [[String]] = []
        var largeSpeeds: [String: (put: Double, get: Double)] = [:]
        for (name, host) in targets {
            var putSeconds = 0.0
            var getSeconds = 0.0
            let bodyHash = Digest.hex(Digest.sha256(large))
            for round in 0..<largeCount {
                let path = "/bench/large-\(round)"
                // Signed before the clock starts (the client's own hashing is not the server's time).
                let headers = Self.signed(host, method: "PUT", path: path, payloadHash: bodyHash, admin)
                let started = ContinuousClock.now
                let put = try await HTTPClient(baseURL: "http://" + host).execute(
                    HTTPClient.Request(method: "PUT", path: path, headers: headers, body: large, timeout: .seconds(300)))
                putSeconds += durationSeconds(ContinuousClock.now - started)
                guard put.status == 200 else { throw BenchError("PUT \(largeMiB) MiB on \(name) answered \(put.status): \(put.bodyText.prefix(300))") }
                let fetched = ContinuousClock.now
                let got = try await send(host, method: "GET", path: path, body: [], admin)
                getSeconds += durationSeconds(ContinuousClock.now - fetched)
                guard got.status == 200, got.body.count == size else { throw BenchError("GET \(largeMiB) MiB on \(name) answered \(got.status), \(got.body.count) bytes") }
            }
            let megabytes = Double(size * largeCount) / 1_048_576
            largeSpeeds[name] = (megabytes / putSeconds, megabytes / getSeconds)
            note("\(largeMiB) MiB on \(name): PUT \(Int(megabytes / putSeconds)) MiB/s, GET \(Int(megabytes / getSeconds)) MiB/s")
        }
        for (name, _) in targets {
            let speeds = largeSpeeds[name]!
            largeRows.append([
                "PUT \(largeMiB) MiB", name, String(format: "%.0f MiB/s", speeds.put),
                String(format: "%.2fx disk write", speeds.put / disk.write), String(format: "%.1fx moto", speeds.put / largeSpeeds["moto"]!.put),
            ])
            largeRows.append([
                "GET \(largeMiB) MiB", name, String(format: "%.0f MiB/s", speeds.get),
                String(format: "%.2fx disk read", speeds.get / disk.read), String(format: "%.1fx moto", speeds.get / largeSpeeds["moto"]!.get),
            ])
        }
        largeRows.append([(durability == "full" ? "write + fsync " : "write ") + "\(largeMiB) MiB", "the disk", String(format: "%.0f MiB/s", disk.write), "baseline", ""])
        largeRows.append(["read \(largeMiB) MiB", "the disk", String(format: "%.0f MiB/s", disk.read), "baseline", ""])

        print("Stevedore S3 benchmark: signed requests (ecsd checks signatures and bodies' SHA-256), 127.0.0.1")
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores\n")
        print("4 KB objects, wrk, \(connections) connections, \(duration) s each")
        print(table(["OPERATION", "SERVER", "REQ/S", "P50", "P99", "ERRORS", "RATIO"], smallRows))
        print("\n\(largeMiB) MiB objects, \(largeCount) transfers each, one at a time; ecsd --durability \(durability)")
        print(table(["OPERATION", "SERVER", "SPEED", "VS DISK", "VS MOTO"], largeRows))
        print("\ntargets: small objects >= 50x moto_server; large objects >= 0.7x the disk")
    }

    /// The headers that sign a request as the SDKs do (`Host` is the client's own).
    static func signed(_ host: String, method: String, path: String, body: [UInt8], _ credentials: AWSCredentials) -> [(name: String, value: String)] {
        signed(host, method: method, path: path, payloadHash: Digest.hex(Digest.sha256(body)), credentials)
    }

    static func signed(_ host: String, method: String, path: String, payloadHash: String, _ credentials: AWSCredentials) -> [(name: String, value: String)] {
        let request = SignableRequest(method: method, path: path, headers: [("Host", host)], body: [])
        return SigV4Signer.sign(
            request, accessKeyId: credentials.accessKeyId, secret: credentials.secretAccessKey, region: "us-east-1", service: "s3",
            now: Int64(Date().timeIntervalSince1970), payloadHash: payloadHash)
    }

    func send(_ host: String, method: String, path: String, body: [UInt8], _ credentials: AWSCredentials) async throws -> HTTPClient.Response {
        let headers = Self.signed(host, method: method, path: path, body: body, credentials)
        return try await HTTPClient(baseURL: "http://" + host).execute(
            HTTPClient.Request(method: method, path: path, headers: headers, body: method == "GET" ? nil : body, timeout: .seconds(300)))
    }

    /// The disk's own sequential speed on the same file system: `bytes` written in 1 MiB writes
    /// (and synced, when ecsd syncs), then read back, `count` times (MiB/s each way).
    static func diskSpeed(_ bytes: [UInt8], directory: String, count: Int, syncs: Bool) throws -> (write: Double, read: Double) {
        var writeSeconds = 0.0
        var readSeconds = 0.0
        for round in 0..<count {
            let path = directory + "/disk-\(round)"
            let started = ContinuousClock.now
            let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            guard descriptor >= 0 else { throw BenchError("cannot write \(path)") }
            try bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(descriptor, buffer.baseAddress! + offset, min(1 << 20, buffer.count - offset))
                    guard written > 0 else { throw BenchError("write failed") }
                    offset += written
                }
            }
            if syncs { fsync(descriptor) }
            close(descriptor)
            writeSeconds += durationSeconds(ContinuousClock.now - started)
            let reading = ContinuousClock.now
            let input = open(path, O_RDONLY)
            var chunk = [UInt8](repeating: 0, count: 1 << 18)
            while chunk.withUnsafeMutableBytes({ read(input, $0.baseAddress, $0.count) }) > 0 {}
            close(input)
            readSeconds += durationSeconds(ContinuousClock.now - reading)
            unlink(path)
        }
        let megabytes = Double(bytes.count * count) / 1_048_576
        return (megabytes / writeSeconds, megabytes / readSeconds)
    }
}
