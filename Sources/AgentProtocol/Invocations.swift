#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import StevedoreCore

/// What an agent needs to start an execution environment: a special short-lived task whose
/// container runs a function version's runtime against the agent's Runtime API.
public struct FunctionEnvironmentSpec: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// `provided*` runtimes: the code's `bootstrap` (or a layer's `/opt/bootstrap`) is the runtime.
        case provided
        /// `python3.x`: awslambdaric runs the handler.
        case python
        /// PackageType Image: the image's own entry point is the runtime.
        case image
    }

    public var functionName: String
    /// `$LATEST` or a version number.
    public var version: String
    public var revisionId: String
    public var kind: Kind
    public var runtime: String?
    public var handler: String?
    public var image: String
    public var entryPoint: [String]?
    public var command: [String]?
    public var workingDirectory: String?
    /// MB; also the container's hard memory limit.
    public var memory: Int
    /// Seconds.
    public var timeout: Int
    /// MB of `/tmp`.
    public var ephemeralStorage: Int
    /// The user's variables and the reserved ones (the agent adds `AWS_LAMBDA_RUNTIME_API` and the log stream).
    public var environment: [String: String]
    /// Hex content address of the code zip (nil for images).
    public var codeHash: String?
    /// Hex content addresses of the layer zips, unpacked into `/opt` in this order.
    public var layerHashes: [String]
    /// The function's execution role (`Role`): its credentials go into the environment.
    public var role: String?

    public init(
        functionName: String, version: String, revisionId: String, kind: Kind, runtime: String?, handler: String?, image: String,
        entryPoint: [String]?, command: [String]?, workingDirectory: String?, memory: Int, timeout: Int, ephemeralStorage: Int,
        environment: [String: String], codeHash: String?, layerHashes: [String], role: String? = nil
    ) {
        self.functionName = functionName
        self.version = version
        self.revisionId = revisionId
        self.kind = kind
        self.runtime = runtime
        self.handler = handler
        self.image = image
        self.entryPoint = entryPoint
        self.command = command
        self.workingDirectory = workingDirectory
        self.memory = memory
        self.timeout = timeout
        self.ephemeralStorage = ephemeralStorage
        self.environment = environment
        self.codeHash = codeHash
        self.layerHashes = layerHashes
        self.role = role
    }

    /// The one container of every execution environment.
    public static let containerName = "function"

    /// CPU units (1024 = one core) for a memory size: proportional, as Lambda gives 1 vCPU at 1,769 MB.
    public static func cpuUnits(memory: Int) -> Int {
        max(64, memory * 1024 / 1769)
    }

    /// Identifies the environments that may serve a version: configuration changes of `$LATEST`
    /// make new environments (the old ones drain and are reaped).
    public var poolKey: String { "\(functionName):\(version):\(revisionId)" }
}

/// One invocation handed to the agent that runs its environment.
public struct AgentInvocation: Codable, Sendable, Equatable {
    /// The request id (`Lambda-Runtime-Aws-Request-Id`).
    public var id: String
    /// The environment's task ARN.
    public var environment: String
    public var payload: Data
    /// Epoch milliseconds (`Lambda-Runtime-Deadline-Ms`).
    public var deadline: Int64
    public var invokedFunctionArn: String
    public var traceId: String
    public var clientContext: String?
    public var cognitoIdentity: String?
    /// Whether the caller asked for the log tail (the agent then waits briefly for late output).
    public var tailLogs: Bool

    public init(
        id: String, environment: String, payload: Data, deadline: Int64, invokedFunctionArn: String, traceId: String,
        clientContext: String? = nil, cognitoIdentity: String? = nil, tailLogs: Bool = false
    ) {
        self.id = id
        self.environment = environment
        self.payload = payload
        self.deadline = deadline
        self.invokedFunctionArn = invokedFunctionArn
        self.traceId = traceId
        self.clientContext = clientContext
        self.cognitoIdentity = cognitoIdentity
        self.tailLogs = tailLogs
    }
}

/// How an invocation ended, as the agent saw it.
public struct InvocationResult: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// The runtime posted a response.
        case success
        /// The runtime posted an error (or init failed, timed out or crashed): `X-Amz-Function-Error: Unhandled`.
        case functionError
        /// The environment never got to run the invocation (it could not start, or was lost): retryable.
        case environmentFailure
    }

    public var id: String
    public var environment: String
    public var status: Status
    /// The response body, or the error JSON for function errors.
    public var payload: Data
    /// For errors: `Sandbox.Timedout`, `Runtime.ExitError`, the handler's `errorType`, …
    public var errorType: String?
    /// The environment's output during the invocation, with the START/END/REPORT lines.
    public var log: Data?
    public var durationMs: Double
    public var initDurationMs: Double?
    public var maxMemoryUsedMB: Int?
    /// The environment is gone (timed out, crashed, failed to init): never send it more work.
    public var retired: Bool
    /// The invocation never started: the control plane may place it on another environment.
    public var retryable: Bool?
    /// Only the log of an invocation already answered (its output came after its answer).
    public var lateLog: Bool?
    /// For a late log: the function version that ran (its log stream's).
    public var version: String?

    public init(
        id: String, environment: String, status: Status, payload: Data, errorType: String? = nil, log: Data? = nil,
        durationMs: Double = 0, initDurationMs: Double? = nil, maxMemoryUsedMB: Int? = nil, retired: Bool = false
    ) {
        self.id = id
        self.environment = environment
        self.status = status
        self.payload = payload
        self.errorType = errorType
        self.log = log
        self.durationMs = durationMs
        self.initDurationMs = initDurationMs
        self.maxMemoryUsedMB = maxMemoryUsedMB
        self.retired = retired
    }
}

/// `POST /v1/agent/invocations/poll`: held until invocations are queued for this agent.
public struct InvocationPollRequest: Codable, Sendable, Equatable {
    public var containerInstanceArn: String
    public var waitMilliseconds: Int

    public init(containerInstanceArn: String, waitMilliseconds: Int) {
        self.containerInstanceArn = containerInstanceArn
        self.waitMilliseconds = waitMilliseconds
    }
}

/// `POST /v1/agent/invocations/results`: answered at once, with whatever is queued meanwhile.
public struct InvocationResultsRequest: Codable, Sendable, Equatable {
    public var containerInstanceArn: String
    public var results: [InvocationResult]
    /// Environments the agent no longer runs (stopped, crashed) with no invocation to report.
    public var retiredEnvironments: [String]?

    public init(containerInstanceArn: String, results: [InvocationResult], retiredEnvironments: [String]? = nil) {
        self.containerInstanceArn = containerInstanceArn
        self.results = results
        self.retiredEnvironments = retiredEnvironments
    }
}

public struct InvocationBatch: Codable, Sendable, Equatable {
    public var invocations: [AgentInvocation]

    public init(invocations: [AgentInvocation]) {
        self.invocations = invocations
    }
}

extension WorkChannel {
    public static let invocationPollPath = "/v1/agent/invocations/poll"
    public static let invocationResultsPath = "/v1/agent/invocations/results"
    /// `GET <codePath>/<hex sha-256>`: a code or layer zip from the content-addressed store.
    public static let codePath = "/v1/functions/code"
}

/// The runtime images Stevedore knows how to get without a registry.
public enum RuntimeImages {
    /// Built by the agent itself for `provided` runtimes (busybox; the code brings its bootstrap).
    public static let provided = "stevedore/lambda-provided:latest"
    /// Built offline by `scripts/build-python-runtime.sh`.
    public static let python = "stevedore/lambda-python:3.11"
}
