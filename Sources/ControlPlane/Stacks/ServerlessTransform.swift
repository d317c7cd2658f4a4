import CloudFormation
import Foundation
import StevedoreCore

/// The SAM transform, run by AWS's own translator (the aws-sam-translator Python package) in a
/// child process: the template's text and parameter values in, the processed template out.
struct ServerlessTransform: Sendable {
    var python = "python3"
    var region: String
    var timeout: Duration = .seconds(120)

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

    /// Reads `{"template": text, "parameters": {...}, "policies": {...}}` on stdin; writes
    /// `{"template": processed}` or `{"error": message}`; exits 3 when the translator is missing.
    static let script = #"""
        import json, sys
        try:
            from samtranslator.translator.transform import transform
            from samtranslator.yaml_helper import yaml_parse
            from samtranslator.model.exceptions import InvalidDocumentException
        except ImportError:
            sys.exit(3)
        request = json.load(sys.stdin)
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
            out = {"error": str(error)}
        json.dump(out, sys.stdout)
        """#

    func run(_ template: String, parameters: [String: String]) async throws(AWSError) -> Document {
        let input = JSONValue.object([
            "template": .string(template), "parameters": .object(parameters.mapValues { .string($0) }),
            "policies": .object(Self.managedPolicies.mapValues { .string($0) }),
        ])
        let stdin = (try? JSONEncoder().encode(input)) ?? Data()
        let result: (status: Int32, output: Data)
        do {
            result = try await Self.execute(python, ["-c", Self.script], input: stdin, environment: ["AWS_DEFAULT_REGION": region], timeout: timeout)
        } catch {
            throw .cfnValidation(Self.missingTranslator)
        }
        if result.status == 3 { throw .cfnValidation(Self.missingTranslator) }
        guard result.status == 0, let answer = Document.parseJSON(Array(result.output)) else {
            throw .cfnValidation("The SAM translator stopped without an answer (exit status \(result.status)).")
        }
        if let message = answer["error"]?.string { throw .cfnValidation(message) }
        guard let processed = answer["template"] else { throw .cfnValidation("The SAM translator answered without a template.") }
        return processed
    }

    /// Runs a program with `input` on its stdin; its stdout and exit status, or an error when it cannot start or runs past `timeout`.
    static func execute(_ program: String, _ arguments: [String], input: Data, environment: [String: String], timeout: Duration) async throws -> (Int32, Data) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = [program] + arguments
                process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
                let stdinPipe = Pipe()
                let stdoutPipe = Pipe()
                process.standardInput = stdinPipe
                process.standardOutput = stdoutPipe
                process.standardError = FileHandle.nullDevice
                do {
                    try process.run()
                } catch {
                    continuation.resume(throwing: error)
                    return
                }
                let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
                let seconds = Double(timeout.components.seconds)
                DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: killer)
                stdinPipe.fileHandleForWriting.write(input)
                try? stdinPipe.fileHandleForWriting.close()
                let output = stdoutPipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                killer.cancel()
                continuation.resume(returning: (process.terminationStatus, output))
            }
        }
    }
}
