#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import AWSProtocols
import LambdaShapes
import StevedoreCore

/// One invocation as the router takes it (from Invoke or from the asynchronous queue).
public struct InvocationRequest: Sendable {
    public var reference: String
    public var qualifier: String?
    public var payload: Data
    public var requestId: String
    public var traceId: String
    public var clientContext: String?
    public var tailLogs = false

    public init(
        reference: String, qualifier: String?, payload: Data, requestId: String, traceId: String, clientContext: String? = nil,
        tailLogs: Bool = false
    ) {
        self.reference = reference
        self.qualifier = qualifier
        self.payload = payload
        self.requestId = requestId
        self.traceId = traceId
        self.clientContext = clientContext
        self.tailLogs = tailLogs
    }
}

/// How an invocation ended, for the caller.
public struct InvocationOutcome: Sendable, Equatable {
    public var status: InvocationResult.Status
    public var payload: Data
    public var errorType: String?
    public var log: Data?
    public var executedVersion: String
    public var functionName: String

    public init(
        status: InvocationResult.Status, payload: Data, errorType: String?, log: Data?, executedVersion: String, functionName: String
    ) {
        self.status = status
        self.payload = payload
        self.errorType = errorType
        self.log = log
        self.executedVersion = executedVersion
        self.functionName = functionName
    }
}

/// A function version resolved for invoking: what to run and the limits that apply.
public struct InvokeTarget: Sendable, Equatable {
    public var spec: FunctionEnvironmentSpec
    public var invokedArn: String
    public var executedVersion: String
    public var reserved: Int?
    public var totalReserved: Int
    public var state: LambdaState
    public var stateReason: String?
}

/// A function as invocations see it: one version, or an alias's two with the weight of the second.
public struct ResolvedFunction: Sendable, Equatable {
    public var primary: InvokeTarget
    public var secondary: InvokeTarget?
    /// The share of invocations the secondary version takes (an alias's routing weight).
    public var secondaryWeight: Double = 0

    /// The version one invocation runs, given a uniform draw in 0..<1 (seeded by the caller).
    public func target(draw: Double) -> InvokeTarget {
        if let secondary, draw < secondaryWeight { return secondary }
        return primary
    }
}

extension FunctionsState {
    /// Resolves a reference (name, `name:qualifier`, ARN) and qualifier to what invocations run.
    public func resolve(_ reference: String, qualifier: String?) throws(AWSError) -> ResolvedFunction {
        let (name, embedded) = try FunctionNames.parse(reference)
        if let qualifier, let embedded, qualifier != embedded {
            throw AWSError.lambdaInvalidParameter("The derived qualifier from the function name does not match the specified qualifier.")
        }
        let qualifier = qualifier ?? embedded
        guard let record = functions[name] else {
            throw AWSError.lambdaNotFound("Function not found: \(names.function(name))")
        }
        let totalReserved = functions.values.reduce(0) { $0 + ($1.reservedConcurrency ?? 0) }
        let invokedArn = qualifier.map { names.function(name, qualifier: $0) } ?? names.function(name)
        func target(_ version: FunctionVersionRecord) -> InvokeTarget {
            InvokeTarget(
                spec: environmentSpec(record, version), invokedArn: invokedArn, executedVersion: version.version,
                reserved: record.reservedConcurrency, totalReserved: totalReserved,
                state: version.configuration.State ?? .active, stateReason: version.configuration.StateReason)
        }
        let q = qualifier ?? FunctionNames.latest
        if let version = record.version(q) { return ResolvedFunction(primary: target(version)) }
        guard let alias = record.aliases[q], let primary = record.version(alias.FunctionVersion ?? FunctionNames.latest) else {
            throw AWSError.lambdaNotFound("Function not found: \(names.function(name, qualifier: q))")
        }
        var resolved = ResolvedFunction(primary: target(primary))
        if let (extra, weight) = alias.RoutingConfig?.AdditionalVersionWeights?.first, let version = record.version(extra) {
            resolved.secondary = target(version)
            resolved.secondaryWeight = weight
        }
        return resolved
    }

    /// The pool keys of every version that may still have environments (configuration changes of
    /// `$LATEST` make new ones; the old ones are reaped).
    public var currentPoolKeys: Set<String> {
        var keys: Set<String> = []
        for record in functions.values {
            for version in [record.latest] + record.versions {
                keys.insert("\(record.name):\(version.version):\(version.revisionId)")
            }
        }
        return keys
    }
}

/// What the Lambda API does besides reading and writing the committed state: it runs
/// invocations, queues asynchronous events, stores code and forgets logs. The control plane
/// provides it (the function router, the asynchronous invoker, the code and log stores).
public protocol FunctionRuntime: Sendable {
    /// Runs an invocation to its end. Refusals (unknown function, not ready, throttled) throw.
    func invoke(_ request: InvocationRequest) async throws(AWSError) -> InvocationOutcome
    /// Resolves and checks a function for invoking without running it (DryRun, Event).
    func check(_ reference: String, qualifier: String?) async throws(AWSError) -> InvokeTarget
    /// Queues an `Event` invocation durably (answered once it is on disk).
    func enqueue(requestId: String, function: String, qualifier: String?, payload: Data) async throws(AWSError)
    /// Stores a code or layer zip by its content address, after checking it.
    func storeCode(_ zip: [UInt8], settings: FunctionSettings) throws(AWSError) -> CodeBundle
    /// The bytes of an object in the object store (`Code.S3Bucket`/`S3Key`), or Lambda's refusal
    /// naming S3's error.
    func objectBytes(bucket: String, key: String) async throws(AWSError) -> [UInt8]

    /// The control plane's time (the committer's clock).
    func now() -> Date
}
