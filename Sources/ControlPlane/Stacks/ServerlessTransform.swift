import CloudFormation
import Foundation
import StevedoreCore

/// The SAM transform, run by AWS's own translator (the aws-sam-translator Python package) in a
/// child process that stays up between change sets (importing the translator takes most of a
/// second): one JSON line in (the template's text and parameter values), one out (the processed
/// template, or the translator's refusal). A worker that dies or hangs is replaced.
actor ServerlessTransform {
    let python: String
    let region: String
    let timeout: Duration
    private var worker: Worker?

    init(python: String = "python3", region: String, timeout: Duration = .seconds(120)) {
        self.python = python
        self.region = region
        self.timeout = timeout
    }

    static let missingTranslator =
        "The SAM transform needs AWS's translator, the aws-sam-translator Python package, which this host lacks: install it with `python3 -m pip install aws-sam-translator` (the README's install command does) and try again."

    /// The translator's managed policies by name, for `Policies: AWSLambdaBasicExecutionRole` and the like.
    static let managedPolicies = [
        "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "AWSLambdaExecute": "arn:aws:iam::aws:policy/AWSLambdaExecute",
        "AWSLambdaRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaRole",
        "AWSLambdaSQSQueueExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
        "AWSLambdaVPCAccessExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
        "AWSXRayDaemonWriteAccess": "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
        "AmazonS3ReadOnlyAccess": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        "AmazonS3FullAccess": "arn:aws:iam::aws:policy/AmazonS3FullAccess",
        "AmazonSQSFullAccess": "arn:aws:iam::aws:policy/AmazonSQSFullAccess",
        "AmazonSNSFullAccess": "arn:aws:iam::aws:policy/AmazonSNSFullAccess",
        "AmazonDynamoDBFullAccess": "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess",
        "CloudWatchLogsFullAccess": "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess",
    ]

    /// Reads `{"template": text, "parameters": {...}, "policies": {...}}` lines on stdin; writes
    /// `{"template": processed}` or `{"error": message}` lines; exits 3 when the translator is missing.
    static let script = #"""
        import json, sys
        try:
            from samtranslator.translator.transform import transform
            from samtranslator.yaml_helper import yaml_parse
            from samtranslator.model.exceptions import InvalidDocumentException
        except ImportError:
            sys.exit(3)
        for line in sys.stdin:
            request = json.loads(line)
            class Policies:
                def load(self):
                    return request["policies"]
            try:
                template = yaml_parse(request["template"])
                out = {"template": transform(template, request["parameters"], Policies())}
            except InvalidDocumentException as error:
                out = {"error": "Invalid Serverless Application Specification document. Number of errors found: %d. %s" % (
                    len(error.causes), " ".join(cause.message for cause in error.causes))}
            except Exception as error:
                out = {"error": str(error) or type(error).__name__}
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()
        """#

    func run(_ template: String, parameters: [String: String]) async throws(AWSError) -> Document {
        let input = JSONValue.object([
            "template": .string(template), "parameters": .object(parameters.mapValues { .string($0) }),
            "policies": .object(Self.managedPolicies.mapValues { .string($0) }),
        ])
        let line = ((try? JSONEncoder().encode(input)) ?? Data("{}".utf8)) + Data("\n".utf8)
        // A worker left over from earlier may have died since: one more try with a new one.
        for attempt in 0..<2 {
            let worker: Worker
            do {
                worker = try self.worker ?? Worker.start(python: python, script: Self.script, region: region)
            } catch {
                throw .cfnValidation(Self.missingTranslator)
            }
            self.worker = worker
            guard let answerLine = await worker.exchange(line, timeout: timeout) else {
                self.worker = nil
                let status = worker.stop()
                if status == 3 { throw .cfnValidation(Self.missingTranslator) }
                if attempt == 0 { continue }
                throw .cfnValidation("The SAM translator stopped without an answer (exit status \(status)).")
            }
            guard let answer = Document.parseJSON(Array(answerLine)) else {
                throw .cfnValidation("The SAM translator answered with something other than JSON.")
            }
            if let message = answer["error"]?.string { throw .cfnValidation(message) }
            guard let processed = answer["template"] else { throw .cfnValidation("The SAM translator answered without a template.") }
            return processed
        }
        throw .cfnValidation("The SAM translator could not be started.")
    }

    /// The translator's process and its pipes. Used by one exchange at a time (the actor's).
    final class Worker: @unchecked Sendable {
        let process: Process
        let input: FileHandle
        let output: FileHandle
        private var buffered = Data()

        private init(process: Process, input: FileHandle, output: FileHandle) {
            self.process = process
            self.input = input
            self.output = output
        }

        static func start(python: String, script: String, region: String) throws -> Worker {
            // A translator that exits before reading its input must not take ecsd with it: a
            // write to the closed pipe fails with EPIPE instead of raising SIGPIPE.
            signal(SIGPIPE, SIG_IGN)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [python, "-c", script]
            process.environment = ProcessInfo.processInfo.environment.merging(["AWS_DEFAULT_REGION": region]) { _, new in new }
            let stdin = Pipe()
            let stdout = Pipe()
            process.standardInput = stdin
            process.standardOutput = stdout
            process.standardError = FileHandle.nullDevice
            try process.run()
            return Worker(process: process, input: stdin.fileHandleForWriting, output: stdout.fileHandleForReading)
        }

        /// Writes a request line and reads the answer line; nil when the process ends or runs past `timeout`.
        func exchange(_ line: Data, timeout: Duration) async -> Data? {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    let process = self.process
                    let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
                    DispatchQueue.global().asyncAfter(deadline: .now() + Double(timeout.components.seconds), execute: killer)
                    defer { killer.cancel() }
                    do {
                        try self.input.write(contentsOf: line)
                    } catch {
                        continuation.resume(returning: nil)
                        return
                    }
                    while true {
                        if let newline = self.buffered.firstIndex(of: 0x0A) {
                            let answer = self.buffered[self.buffered.startIndex..<newline]
                            self.buffered = Data(self.buffered[self.buffered.index(after: newline)...])
                            continuation.resume(returning: Data(answer))
                            return
                        }
                        let more = self.output.availableData
                        if more.isEmpty {
                            continuation.resume(returning: nil)
                            return
                        }
                        self.buffered += more
                    }
                }
            }
        }

        /// Ends the process; its exit status.
        func stop() -> Int32 {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            return process.terminationStatus
        }
    }
}
